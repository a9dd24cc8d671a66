"""The public API: ``Model`` and the module-level functions over a shared one. Validate, then run the pipeline."""

from __future__ import annotations

import itertools
import os
import threading
from collections.abc import Sequence

import torch
from PIL import Image

from . import pipeline
from .color import keep_luminance
from .encoder import parse_level
from .errors import InputError
from .image import ImageInput, Source, from_tensor, pad_to_multiple
from .networks import CPU_BATCH_PIXELS, Networks, resolve_device
from .options import (
    DEFAULT_ALPHA,
    DEFAULT_LEVELS,
    DEFAULT_SIZE,
    DEFAULT_STYLE_SIZE,
    DEFAULT_TRANSFORM,
    MAX_REFINE_STEPS,
    PHOTO_ALPHA,
    PHOTO_LEVELS,
    PRECISIONS,
    PRESERVE_COLOR,
    PREVIEW_LEVELS,
    PREVIEW_SIZE,
    REFINE_STEPS,
    SMOOTHING,
    Alpha,
    Levels,
    RunOptions,
    Weights,
    is_many,
    parse_count,
    parse_flag,
    parse_levels,
    parse_run,
    parse_size,
    parse_texture_size,
    parse_tile_size,
)
from .pipeline import DEFAULT_TILE_SIZE, TILE_ABOVE, MaskedStep, PlainStep, Progress, Step, StyleInput
from .refine import REFINE_LEVELS, refine_image
from .spatial import MaskInput, prepare_masks
from .style import Style

__all__ = [
    "Model",
    "load",
    "stylize",
    "stylize_batch",
    "blend",
    "reconstruct",
    "compute_style",
    "texture",
    "DEFAULT_SIZE",
    "DEFAULT_STYLE_SIZE",
    "DEFAULT_ALPHA",
    "DEFAULT_LEVELS",
    "DEFAULT_TRANSFORM",
    "REFINE_STEPS",
    "MAX_REFINE_STEPS",
    "PHOTO_LEVELS",
    "PHOTO_ALPHA",
    "SMOOTHING",
    "PREVIEW_LEVELS",
    "PREVIEW_SIZE",
    "PRESERVE_COLOR",
    "PRECISIONS",
    "TILE_ABOVE",
    "DEFAULT_TILE_SIZE",
    "CPU_BATCH_PIXELS",
]


class Model(Networks):
    """An encoder plus per-level decoders on one device; the module-level functions use a shared one.

    Args:
        device: "cpu", "cuda", "cuda:1" ...; None picks CUDA when available.
        encoder_weights: an explicit converted VGG-16 safetensors file (checked like the cached one).
        decoders: a folder with MANIFEST.json, or {level: Decoder}; None uses the shipped decoders.
        compile: run the networks through ``torch.compile`` (inductor, weights frozen, direct convolutions).
            Each new image size costs a compilation (tens of seconds on a CPU), so it pays only for long
            runs at fixed sizes on a GPU; on a CPU the eager path, with Winograd convolutions, is
            faster (benchmarks/README.md).
        half: run the encoder and decoders in half precision (autocast: float16 on CUDA, for tensor cores;
            bfloat16 elsewhere, which CPUs without native support run slowly). Statistics and the transform
            stay in float32/float64, and an image whose activations overflow is redone in float32, so the
            result is never NaN. ``"auto"``: only where half precision is fast (CUDA; CPUs with AMX, where
            bfloat16 runs 2.3-2.6x faster than float32), else float32. Off by default: results then match
            float32 to rounding, which half precision does not (invisible at relu4_1..relu1_1, about 46 dB
            apart; all five levels, 33-40 dB apart, texture detail).
    """

    # ----- styles -------------------------------------------------------------------------
    @torch.inference_mode()
    def compute_style(
        self,
        image: StyleInput,
        *,
        levels: Levels | None = None,
        style_size: int | None = DEFAULT_STYLE_SIZE,
        downscale: bool = False,
    ) -> Style:
        """Style statistics of an image at ``levels`` (one encoder pass); a Style is returned as is."""
        down = parse_flag(downscale, "downscale")
        return pipeline.measure_style(self, image, parse_levels(levels), style_size, downscale=down)

    @torch.inference_mode()
    def blend(
        self,
        styles: Sequence[StyleInput],
        weights: Weights | None = None,
        *,
        method: str = "linear",
        levels: Levels | None = None,
        style_size: int | None = DEFAULT_STYLE_SIZE,
        downscale: bool = False,
    ) -> Style:
        """One Style from several (Styles, paths, PIL images or arrays).

        Args:
            weights: one weight per style (normalised to sum 1; None = equal), or per level:
                ``{"relu5_1": [1, 0], "relu4_1": [1, 0], "default": [0, 1]}`` (levels not named take
                "default", else equal weights).
            method: "linear" (the paper's interpolation) or "wasserstein" (W2 barycenter); see Style.blend.
        """
        down = parse_flag(downscale, "downscale")
        levels = parse_levels(levels)
        return pipeline.blend_styles(self, styles, weights, levels, style_size, method=method, downscale=down)

    # ----- stylization --------------------------------------------------------------------
    @torch.inference_mode()
    def stylize(
        self,
        content: ImageInput,
        style: StyleInput | Sequence[StyleInput],
        *,
        weights: Weights | None = None,
        masks: Sequence[MaskInput] | None = None,
        alpha: Alpha | None = None,
        levels: Levels | None = None,
        max_size: int | None = DEFAULT_SIZE,
        style_size: int | None = DEFAULT_STYLE_SIZE,
        preserve_color: str | None = None,
        blend_method: str = "linear",
        transform: str = DEFAULT_TRANSFORM,
        refine: int | bool = 0,
        photorealistic: bool = False,
        smoothing: str = "auto",
        preview: bool = False,
        tile_size: int | None = None,
        progress: Progress | None = None,
        downscale: bool = False,
    ):
        """Restyle ``content`` after ``style`` (or a weighted blend of several), coarse to fine.

        Args:
            content: path, PIL image, HxWx3 uint8 array, or float tensor (3,H,W)/(1,3,H,W) in [0, 1].
            style: a Style, an image, or a list of them (blended with ``weights``, or one per mask).
            weights: one weight per style, or per level ``{"relu5_1": [1, 0], "default": [0, 1]}``
                (levels not named take "default", else equal weights). Must be None with ``masks``.
            masks: spatial control, one mask per style (paths, PIL images, HxW arrays or tensors in
                [0, 1], the content's aspect ratio): region i takes style i. Each region's features are
                whitened with their own (mask-weighted) statistics and colored by its style; soft masks
                blend the results; where the masks sum below 1 the content's features stay.
            alpha: style strength in [0, 1] (0 = the decoder's reconstruction of the content), or per
                level ``{"relu1_1": 0.3, "default": 0.8}``; None (and levels a mapping does not name): DEFAULT_ALPHA
                (0.65), or PHOTO_ALPHA (1.0) with ``photorealistic``.
            levels: layer names or 1..5; run deepest first. Default: DEFAULT_LEVELS (PHOTO_LEVELS with
                ``photorealistic``, PREVIEW_LEVELS with ``preview``).
            max_size: long side to work at (None = full size); smaller images keep their size.
            style_size: long side the style images are measured at (None = full size).
            preserve_color: None; "luminance" (keep the result's luminance and the content's chroma,
                in YCbCr); or "histogram" (first give each style image the content's RGB mean and
                covariance, so the style's palette becomes the photo's; needs style images, not Styles).
            blend_method: how a list of styles is mixed: "linear" or "wasserstein" (see ``blend``).
            transform: the feature transform at each level: "ost" (the default, DEFAULT_TRANSFORM: the
                optimal-transport map of Lu et al. 2019, WCT's output covariance with the least displacement of the
                content features) or "wct" (whitening and coloring, Li et al. 2017).
            refine: optimisation steps on the stylized image afterwards (0 = none; True = REFINE_STEPS): L-BFGS on the
                image (as four octaves of detail), matching the output's feature mean and covariance at
                relu1_1..relu4_1 to the style's (per mask region with masks) while keeping the content's relu4_1
                features and its layout of light (the blurred luminance, up to brightness and contrast), coarse to
                fine (most steps at half the resolution). It puts back detail and texture the decoders lose; each
                step costs about an encoder pass forward and back (REFINE_STEPS at 512 px: README, Python API).
                Images over 1024 px on the long side are refined at 1024 px and the change is enlarged. With
                ``photorealistic`` it runs before the smoothing.
            photorealistic: a photo out (FastPhotoStyle's recipe): the transform at PHOTO_LEVELS (relu1_1, whose decoder is
                nearly lossless) at PHOTO_ALPHA, then edge-aware smoothing of the whole result guided by the content
                (pixels of alike content colours in a neighbourhood take alike output colours; after tiles and masks).
            smoothing: that smoothing (``wct.smoothing.smooth``): "exact" (the closed form on the content's matting
                Laplacian; up to 2.1 MP, about 12 s at 512 px), "fast" (the guided filter; any size, about 0.1 s at
                512 px) or "auto" (exact up to 128 x 128 px, fast above).
            preview: a quick look: levels default to PREVIEW_LEVELS (relu5_1..relu3_1), and the long sides
                of the content and of style images are capped at PREVIEW_SIZE (256 px). About a second on a
                CPU with a precomputed Style.
            tile_size: None: working images over TILE_ABOVE (2048x2048) pixels go through the networks in tiles
                of DEFAULT_TILE_SIZE (1024 px) with overlapping margins, feathered together, each level whitened
                with the whole image's statistics (bounded memory, no seams; about 1.7x the time per pixel). A number
                (multiple of 16, >= 256) sets the tile side for any size; 0 never tiles. Masks never tile.
            progress: called as progress(done, total, what) after each level (``what``: its name), each refinement
                step ("refine") and the smoothing ("smooth"); an exception it raises stops the run and propagates
                unchanged (use it to cancel, or to enforce a time limit).
            downscale: images over wct.image.MAX_PIXELS (50 MP) are shrunk to fit instead of refused (a JPEG
                is decoded at a reduced scale directly). Every public Model method takes it.
        Returns:
            A PIL image, or a tensor shaped like a tensor input.
        Raises:
            InputError, ImageError, WeightsError.
        """
        run = parse_run(levels=levels, alpha=alpha, transform=transform, tile_size=tile_size, downscale=downscale, refine=refine,
                        photorealistic=photorealistic, smoothing=smoothing, preserve_color=preserve_color,
                        preview=preview)  # fmt: skip
        if run.preview:  # content and style images shrink alike, so strokes keep their size relative to the picture
            max_size = PREVIEW_SIZE if max_size is None else min(parse_size(max_size), PREVIEW_SIZE)
            style_size = PREVIEW_SIZE if style_size is None else min(parse_size(style_size, "style_size"), PREVIEW_SIZE)
        if masks is not None and weights is not None:
            raise InputError(
                "masks give region i style i, so weights must be None when masks are given, got both; "
                "to mix styles inside a region, pass a blended Style (wct.blend) for it"
            )
        x, size, src = pipeline.prepare(content, max_size, self.device, downscale=run.downscale)
        pipeline.check_smoothing(run.smoothing if run.photorealistic else "", size)
        base = x[..., : size[0], : size[1]]  # (1, 3, h, w): the content at the working size
        measure = self._measure(run, style_size, blend_method, base)
        if masks is None:
            step = PlainStep(self._style(style, weights, run, measure), run.alphas, run.transform)
        else:
            regions = [self._style(s, None, run, measure) for s in (style if is_many(style) else [style])]
            m = prepare_masks(masks, len(regions), src.size, size, tuple(x.shape[-2:])).to(self.device)  # (K, H, W)
            step = MaskedStep(regions, m, run.alphas, run.transform)
        total = len(run.levels) + run.refine + run.photorealistic
        report = None if progress is None else lambda done, _, lv: progress(done, total, lv)
        y = pipeline.run_levels(self, x, run.levels, step, progress=report, tile_size=run.tile_size)
        y = self._after_levels(y[..., : size[0], : size[1]], base, step, run, _counter(progress, len(run.levels), total))
        return pipeline.finish(y, size, src)

    def _style(self, style, weights, run: RunOptions, measure: dict) -> Style:
        return pipeline.resolve_style(self, style, weights, run.levels, **measure)

    def _measure(self, run: RunOptions, style_size: int | None, method: str, base: torch.Tensor) -> dict:
        """How ``resolve_style`` measures a run's style images (``base``: the content, for preserve_color="histogram";
        the refinement's levels too when refining)."""
        recolor = base if run.preserve_color == "histogram" else None
        also = REFINE_LEVELS if run.refine else ()
        return dict(style_size=style_size, method=method, recolor=recolor, downscale=run.downscale, also=also)

    def _after_levels(self, y: torch.Tensor, base: torch.Tensor, step: Step, run: RunOptions, tick) -> torch.Tensor:
        """What follows the levels on a stylized (1, 3, h, w) of ``base``: the refinement (``tick("refine")`` after each
        step), the photorealistic smoothing (``tick("smooth")``), the kept luminance."""
        if run.refine:
            masks = step.masks[..., : base.shape[-2], : base.shape[-1]] if isinstance(step, MaskedStep) else None
            styles = list(step.styles) if isinstance(step, MaskedStep) else [step.style]
            after = None if tick is None else lambda: tick("refine")
            y = refine_image(self.features, y, base, styles, run.refine, masks=masks, after_step=after)
        if run.photorealistic:
            y = pipeline.photo_finish(y, base, run.smoothing)
            if tick is not None:
                tick("smooth")
        if run.preserve_color == "luminance":
            y = keep_luminance(y, base)
        return y

    @torch.inference_mode()
    def stylize_batch(
        self,
        contents: Sequence[ImageInput],
        style: StyleInput | Sequence[StyleInput],
        *,
        batch_size: int = 4,
        # as in stylize:
        weights: Weights | None = None, alpha: Alpha | None = None, levels: Levels | None = None,
        max_size: int | None = DEFAULT_SIZE, style_size: int | None = DEFAULT_STYLE_SIZE,
        preserve_color: str | None = None, blend_method: str = "linear", transform: str = DEFAULT_TRANSFORM,
        refine: int | bool = 0, photorealistic: bool = False, smoothing: str = "auto",
        tile_size: int | None = None, progress: Progress | None = None, downscale: bool = False,
    ) -> list:
        """``stylize`` for many contents and one style (or blend): the style is measured once, and contents of the
        same working size go through the networks ``batch_size`` at a time (on a CPU, fewer when a batch would pass
        CPU_BATCH_PIXELS: there large batches are slower than a loop). Each image is whitened with its own
        statistics, then refined and smoothed on its own, so every result equals ``stylize`` on that image alone (up
        to float rounding).

        Args: as ``stylize``. ``progress(done, total, what)`` counts, per image, its refinement steps ("refine"),
            its smoothing ("smooth") and the image itself, reported ("") when it is finished: without ``refine`` and
            ``photorealistic``, ``done`` is the number of images finished. What it raises stops the run.
        Returns: one result per content, in order (PIL images, or tensors for tensor inputs).
        """
        parse_count(batch_size, "batch_size", 1)
        if isinstance(contents, (str, os.PathLike)) or not isinstance(contents, Sequence):
            raise InputError(f"contents must be a list of images, got {type(contents).__name__}; use stylize for one image")
        run = parse_run(levels=levels, alpha=alpha, transform=transform, tile_size=tile_size, downscale=downscale, refine=refine,
                        photorealistic=photorealistic, smoothing=smoothing, preserve_color=preserve_color)  # fmt: skip
        measure = self._measure(run, style_size, blend_method, None)
        shared = None if run.preserve_color == "histogram" else self._style(style, weights, run, measure)
        results: list = [None] * len(contents)
        pending: dict[tuple, list] = {}  # working shape -> [(index, x, size, src)], flushed batch_size at a time
        tick = _counter(progress, 0, len(contents) * (1 + run.refine + run.photorealistic))

        def flush(items: list) -> None:  # items share their padded shape; each keeps its own working size
            x = torch.cat([it[1] for it in items])
            bases = [x[j : j + 1, :, : size[0], : size[1]] for j, (_, _, size, _) in enumerate(items)]  # (1, 3, h, w)
            if shared is not None:
                steps = [PlainStep(shared, run.alphas, run.transform)] * len(items)
                y = pipeline.run_levels(self, x, run.levels, steps[0], tile_size=run.tile_size)
            else:  # histogram mode: each content recolours the style images itself
                steps = [PlainStep(self._style(style, weights, run, {**measure, "recolor": b}), run.alphas, run.transform)
                         for b in bases]  # fmt: skip
                y = torch.cat([pipeline.run_levels(self, x[j : j + 1], run.levels, st, tile_size=run.tile_size)
                               for j, st in enumerate(steps)])  # fmt: skip
            for j, (i, _, size, src) in enumerate(items):
                out = self._after_levels(y[j : j + 1, :, : size[0], : size[1]], bases[j], steps[j], run, tick)
                results[i] = pipeline.finish(out, size, src)
                if tick is not None:
                    tick("")

        for i, content in enumerate(contents):
            x, size, src = pipeline.prepare(content, max_size, self.device, downscale=run.downscale)
            pipeline.check_smoothing(run.smoothing if run.photorealistic else "", size)
            group = pending.setdefault(tuple(x.shape), [])
            group.append((i, x, size, src))
            if len(group) >= self.batch_limit(*x.shape[-2:], batch_size):
                flush(pending.pop(tuple(x.shape)))
        for group in pending.values():
            flush(group)
        return results

    @torch.inference_mode()
    def texture(
        self,
        style: StyleInput | Sequence[StyleInput],
        *,
        size: int | tuple[int, int] = (DEFAULT_SIZE, DEFAULT_SIZE),
        seed: int = 0,
        weights: Weights | None = None,
        levels: Levels | None = None,
        iterations: int = 1,
        style_size: int | None = DEFAULT_STYLE_SIZE,
        blend_method: str = "linear",
        tile_size: int | None = None,
        progress: Progress | None = None,
        downscale: bool = False,
    ) -> Image.Image:
        """Synthesise a texture after ``style`` from seeded noise (Li et al., section 4: texture synthesis).

        Starts from uniform noise and runs the multi-level WCT with alpha = 1, coarse to fine,
        ``iterations`` times (each pass refines the last).

        Args:
            style: a Style, an image, or a list of them (blended with ``weights``, per level too).
            size: (width, height) of the result in pixels, exactly; an int for a square.
            seed: the noise seed: the same seed (and inputs) give the same image.
            levels: layer names or 1..5, run deepest first. Default: all five.
            iterations: how many coarse-to-fine passes (1..10).
            tile_size: as in ``stylize`` (big textures go through the networks in tiles).
        Returns:
            A PIL image of ``size``.
        Raises:
            InputError, ImageError, WeightsError.
        """
        w, h = parse_texture_size(size)
        parse_count(seed, "seed")
        parse_count(iterations, "iterations", 1, 10)
        lvls = parse_levels(levels)
        tile_size = parse_tile_size(tile_size)
        down = parse_flag(downscale, "downscale")
        st = pipeline.resolve_style(self, style, weights, lvls, style_size, method=blend_method, downscale=down)
        gen = torch.Generator().manual_seed(seed)  # CPU noise: the same on every device
        noise = torch.rand(1, 3, max(h, 32), max(w, 32), generator=gen)
        x, _ = pad_to_multiple(noise.to(self.device), 16)
        step = PlainStep(st, dict.fromkeys(lvls, 1.0))
        y = pipeline.run_levels(self, x, lvls, step, progress=progress, rounds=iterations, tile_size=tile_size)
        return from_tensor(y[..., :h, :w].float(), Source("pil"))

    @torch.inference_mode()
    def reconstruct(
        self, content: ImageInput, level: str | int = "relu4_1", *, max_size: int | None = DEFAULT_SIZE, downscale: bool = False
    ):
        """Encode to ``level`` and decode back (what the decoder alone does to an image)."""
        lv = parse_level(level)
        x, size, src = pipeline.prepare(content, max_size, self.device, downscale=parse_flag(downscale, "downscale"))
        y = self.decode(self.encode_level(x, lv), lv).clamp(0, 1)
        return pipeline.finish(y, size, src)


def _counter(progress: Progress | None, start: int, total: int):
    """``tick(what)`` calling progress(start + 1, total, what), then start + 2, ...; None without ``progress``."""
    if progress is None:
        return None
    count = itertools.count(start + 1)
    return lambda what: progress(next(count), total, what)


_models: dict[str, Model] = {}
_models_lock = threading.Lock()


def load(
    *, device: str | torch.device | None = None, encoder_weights=None, decoders=None, compile: bool = False,
    half: bool | str = False,
) -> Model:
    """A new Model (see Model for the arguments)."""
    return Model(device=device, encoder_weights=encoder_weights, decoders=decoders, compile=compile, half=half)


def _default(device: str | torch.device | None) -> Model:
    dev = resolve_device(device)
    with _models_lock:
        if str(dev) not in _models:
            _models[str(dev)] = Model(device=dev)
        return _models[str(dev)]


def stylize(content: ImageInput, style, *, device: str | torch.device | None = None, **kwargs):
    """Module-level Model.stylize on a shared model for ``device``."""
    return _default(device).stylize(content, style, **kwargs)


def stylize_batch(contents: Sequence[ImageInput], style, *, device: str | torch.device | None = None, **kwargs) -> list:
    """Module-level Model.stylize_batch: many contents, one style measured once, networks run in batches."""
    return _default(device).stylize_batch(contents, style, **kwargs)


def reconstruct(content: ImageInput, level: str | int = "relu4_1", *, device=None, **kwargs):
    """Module-level Model.reconstruct on a shared model for ``device``."""
    return _default(device).reconstruct(content, level, **kwargs)


def compute_style(image: StyleInput, *, device=None, **kwargs) -> Style:
    """Module-level Model.compute_style on a shared model for ``device``."""
    return _default(device).compute_style(image, **kwargs)


def blend(styles: Sequence[StyleInput], weights: Weights | None = None, *, device=None, **kwargs) -> Style:
    """Module-level Model.blend: one Style from several, mixed with ``weights`` (per level too; method="linear"|"wasserstein")."""
    return _default(device).blend(styles, weights, **kwargs)


def texture(style, *, device: str | torch.device | None = None, **kwargs) -> Image.Image:
    """Module-level Model.texture: a texture of ``size=(w, h)`` after ``style``, from noise seeded by ``seed``."""
    return _default(device).texture(style, **kwargs)
