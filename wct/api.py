"""The public API: ``Model`` and the module-level functions over a shared one. Validate, then run the pipeline."""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping, Sequence

import torch
from PIL import Image

from . import pipeline
from .color import keep_luminance
from .decoder import Decoder
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
    PRECISIONS,
    PRESERVE_COLOR,
    PREVIEW_LEVELS,
    PREVIEW_SIZE,
    Alpha,
    Levels,
    Weights,
    is_many,
    parse_alphas,
    parse_count,
    parse_flag,
    parse_levels,
    parse_preserve_color,
    parse_size,
    parse_texture_size,
    parse_tile_size,
    parse_transform,
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
    "PREVIEW_LEVELS",
    "PREVIEW_SIZE",
    "PRESERVE_COLOR",
    "PRECISIONS",
    "TILE_ABOVE",
    "DEFAULT_TILE_SIZE",
    "CPU_BATCH_PIXELS",
]


REFINE_STEPS = 30  # what refine=True and the CLI's bare --refine run: the documented default step count
MAX_REFINE_STEPS = 1000


def parse_refine(refine: int | bool) -> int:
    """A refinement step count: 0 (off), a whole number up to MAX_REFINE_STEPS, or True for REFINE_STEPS."""
    if refine is True:
        return REFINE_STEPS
    if refine is False:
        return 0
    return parse_count(refine, "refine", 0, MAX_REFINE_STEPS)


class Model:
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

    def __init__(
        self,
        *,
        device: str | torch.device | None = None,
        encoder_weights: str | os.PathLike | None = None,
        decoders: str | os.PathLike | Mapping[str, Decoder] | None = None,
        compile: bool = False,
        half: bool | str = False,
    ) -> None:
        self.networks = Networks(device=device, encoder_weights=encoder_weights, decoders=decoders, compile=compile, half=half)

    # ----- the networks -------------------------------------------------------------------
    @property
    def device(self) -> torch.device:
        return self.networks.device

    @property
    def half(self) -> bool:
        """Whether the networks run in half precision."""
        return self.networks.half

    @property
    def compile(self) -> bool:
        return self.networks.compile

    @property
    def precision(self) -> str:
        """The networks' precision: "float32", or with ``half`` "float16" (CUDA) or "bfloat16"."""
        return self.networks.precision

    @property
    def encoder(self) -> torch.nn.Module:
        return self.networks.encoder

    def available_levels(self) -> tuple[str, ...]:
        """Levels that have a decoder (shipped or given)."""
        return self.networks.available_levels()

    def decoder(self, level: str | int) -> Decoder:
        """The verified decoder for ``level``, loaded on first use."""
        return self.networks.decoder(level)

    def encode(self, rgb: torch.Tensor, upto: str, *, only_last: bool = False) -> dict[str, torch.Tensor]:
        """The encoder's taps relu1_1..``upto`` (just ``upto`` with ``only_last``) of (B, 3, H, W) RGB in [0, 1]."""
        return self.networks.encode(rgb, upto, only_last=only_last)

    def decode(self, features: torch.Tensor, level: str) -> torch.Tensor:
        """RGB (B, 3, H, W) from features at ``level``."""
        return self.networks.decode(features, level)

    # ----- styles -------------------------------------------------------------------------
    @torch.inference_mode()
    def compute_style(
        self, image: StyleInput, *, levels: Levels | None = None, style_size: int | None = DEFAULT_STYLE_SIZE, downscale: bool = False
    ) -> Style:
        """Style statistics of an image at ``levels`` (one encoder pass); a Style is returned as is."""
        down = parse_flag(downscale, "downscale")
        return pipeline.measure_style(self.networks, image, parse_levels(levels), style_size, downscale=down)

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
        return pipeline.blend_styles(self.networks, styles, weights, parse_levels(levels), style_size, method=method, downscale=down)

    # ----- stylization --------------------------------------------------------------------
    @torch.inference_mode()
    def stylize(
        self,
        content: ImageInput,
        style: StyleInput | Sequence[StyleInput],
        *,
        weights: Weights | None = None,
        masks: Sequence[MaskInput] | None = None,
        alpha: Alpha = DEFAULT_ALPHA,
        levels: Levels | None = None,
        max_size: int | None = DEFAULT_SIZE,
        style_size: int | None = DEFAULT_STYLE_SIZE,
        preserve_color: str | None = None,
        blend_method: str = "linear",
        transform: str = DEFAULT_TRANSFORM,
        refine: int = 0,
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
                level ``{"relu1_1": 0.3, "default": 0.8}`` (levels not named: "default", else DEFAULT_ALPHA).
            levels: layer names or 1..5; run deepest first. Default: DEFAULT_LEVELS.
            max_size: long side to work at (None = full size); smaller images keep their size.
            style_size: long side the style images are measured at (None = full size).
            preserve_color: None; "luminance" (keep the result's luminance and the content's chroma,
                in YCbCr); or "histogram" (first give each style image the content's RGB mean and
                covariance, so the style's palette becomes the photo's; needs style images, not Styles).
            blend_method: how a list of styles is mixed: "linear" or "wasserstein" (see ``blend``).
            transform: the feature transform at each level: "wct" (whitening and coloring, Li et al. 2017) or
                "ost" (the optimal-transport map of Lu et al. 2019: the same covariance, the least displacement).
            refine: optimisation steps on the stylized image afterwards (0 = none; True = REFINE_STEPS): L-BFGS on the
                pixels, matching the output's feature mean and covariance at relu1_1..relu5_1 to the style's (per mask
                region with masks) while keeping the content's relu4_1 features, coarse to fine (most steps at half
                the resolution). It puts back detail and texture the decoders lose; each step costs about an encoder
                pass forward and back (20 steps at 512 px: about N s on 2 CPU cores). Images over 1024 px on the long
                side are refined at 1024 px and the change is enlarged.
            preview: a quick look: levels default to PREVIEW_LEVELS (relu5_1..relu3_1), and the long sides
                of the content and of style images are capped at PREVIEW_SIZE (256 px). About a second on a
                CPU with a precomputed Style.
            tile_size: None: working images over TILE_ABOVE (2048x2048) pixels go through the networks in tiles
                of DEFAULT_TILE_SIZE (1024 px) with overlapping margins, feathered together, each level whitened
                with the whole image's statistics (bounded memory, no seams; about 1.7x the time per pixel). A number
                (multiple of 16, >= 256) sets the tile side for any size; 0 never tiles. Masks never tile.
            progress: called as progress(done, total, level) after each level; an exception it raises stops
                the run and propagates unchanged (use it to cancel, or to enforce a time limit).
            downscale: images over wct.image.MAX_PIXELS (50 MP) are shrunk to fit instead of refused (a JPEG
                is decoded at a reduced scale directly). Every public Model method takes it.
        Returns:
            A PIL image, or a tensor shaped like a tensor input.
        Raises:
            InputError, ImageError, WeightsError.
        """
        lvls = parse_levels((PREVIEW_LEVELS if parse_flag(preview, "preview") else DEFAULT_LEVELS) if levels is None else levels)
        alphas = parse_alphas(alpha, lvls)
        mode = parse_preserve_color(preserve_color)
        kind = parse_transform(transform)
        steps = parse_refine(refine)
        tile_size = parse_tile_size(tile_size)
        down = parse_flag(downscale, "downscale")
        if preview:  # content and style images shrink alike, so strokes keep their size relative to the picture
            max_size = PREVIEW_SIZE if max_size is None else min(parse_size(max_size), PREVIEW_SIZE)
            style_size = PREVIEW_SIZE if style_size is None else min(parse_size(style_size, "style_size"), PREVIEW_SIZE)
        if masks is not None and weights is not None:
            raise InputError(
                "masks give region i style i, so weights must be None when masks are given, got both; "
                "to mix styles inside a region, pass a blended Style (wct.blend) for it"
            )
        x, size, src = pipeline.prepare(content, max_size, self.device, downscale=down)
        base = x[..., : size[0], : size[1]]  # (1, 3, h, w): the content at the working size
        recolor = base if mode == "histogram" else None
        measure = dict(style_size=style_size, method=blend_method, recolor=recolor, downscale=down, also=REFINE_LEVELS if steps else ())
        if masks is None:
            step = PlainStep(pipeline.resolve_style(self.networks, style, weights, lvls, **measure), alphas, kind)
        else:
            regions = [pipeline.resolve_style(self.networks, s, None, lvls, **measure) for s in (style if is_many(style) else [style])]
            m = prepare_masks(masks, len(regions), src.size, size, tuple(x.shape[-2:])).to(self.device)  # (K, H, W)
            step = MaskedStep(regions, m, alphas, kind)
        report = None if progress is None else lambda done, total, lv: progress(done, total + steps, lv)
        y = pipeline.run_levels(self.networks, x, lvls, step, progress=report, tile_size=tile_size)
        if steps:
            y = self._refine(y[..., : size[0], : size[1]], base, step, steps, progress, len(lvls))
        if mode == "luminance":
            y = keep_luminance(y[..., : size[0], : size[1]], base)
        return pipeline.finish(y, size, src)

    def _refine(self, y: torch.Tensor, base: torch.Tensor, step: Step, steps: int, progress: Progress | None, done: int):
        """``refine_image`` of a stylized (1, 3, h, w) after the step's style(s), reporting each step as "refine"."""
        masks = step.masks[..., : base.shape[-2], : base.shape[-1]] if isinstance(step, MaskedStep) else None
        styles = list(step.styles) if isinstance(step, MaskedStep) else [step.style]
        count = iter(range(done + 1, done + steps + 1))
        after = None if progress is None else lambda: progress(next(count), done + steps, "refine")
        return refine_image(self.networks.features, y, base, styles, steps, masks=masks, after_step=after)

    @torch.inference_mode()
    def stylize_batch(
        self,
        contents: Sequence[ImageInput],
        style: StyleInput | Sequence[StyleInput],
        *,
        batch_size: int = 4,
        weights: Weights | None = None,
        alpha: Alpha = DEFAULT_ALPHA,
        levels: Levels | None = None,
        max_size: int | None = DEFAULT_SIZE,
        style_size: int | None = DEFAULT_STYLE_SIZE,
        preserve_color: str | None = None,
        blend_method: str = "linear",
        transform: str = DEFAULT_TRANSFORM,
        tile_size: int | None = None,
        progress: Progress | None = None,
        downscale: bool = False,
    ) -> list:
        """``stylize`` for many contents and one style (or blend): the style is measured once, and contents of the
        same working size go through the networks ``batch_size`` at a time (on a CPU, fewer when a batch would pass
        CPU_BATCH_PIXELS: there large batches are slower than a loop). Each image is whitened with its own
        statistics, so every result equals ``stylize`` on that image alone (up to float rounding).

        Args: as ``stylize``; ``progress(done, total, "")`` is called after each image.
        Returns: one result per content, in order (PIL images, or tensors for tensor inputs).
        """
        parse_count(batch_size, "batch_size", 1)
        if isinstance(contents, (str, os.PathLike)) or not isinstance(contents, Sequence):
            raise InputError(f"contents must be a list of images, got {type(contents).__name__}; use stylize for one image")
        lvls = parse_levels(DEFAULT_LEVELS if levels is None else levels)
        alphas = parse_alphas(alpha, lvls)
        mode = parse_preserve_color(preserve_color)
        kind = parse_transform(transform)
        tile_size = parse_tile_size(tile_size)
        down = parse_flag(downscale, "downscale")
        measure = dict(style_size=style_size, method=blend_method, downscale=down)
        shared = None if mode == "histogram" else pipeline.resolve_style(self.networks, style, weights, lvls, **measure)
        results: list = [None] * len(contents)
        pending: dict[tuple, list] = {}  # working shape -> [(index, x, size, src)], flushed batch_size at a time

        def flush(items: list) -> None:
            x = torch.cat([it[1] for it in items])
            size = items[0][2]
            base = x[..., : size[0], : size[1]]
            if shared is not None:
                y = pipeline.run_levels(self.networks, x, lvls, PlainStep(shared, alphas, kind), tile_size=tile_size)
            else:  # histogram mode: each content recolours the style images itself
                y = torch.cat([self._one_recolored(x[j : j + 1], base[j : j + 1], style, weights, lvls, alphas, kind, tile_size, measure)
                               for j in range(len(items))])  # fmt: skip
            if mode == "luminance":
                y = keep_luminance(y[..., : size[0], : size[1]], base)
            for j, (i, _, _, src) in enumerate(items):
                results[i] = pipeline.finish(y[j : j + 1], size, src)
                if progress is not None:
                    progress(sum(r is not None for r in results), len(results), "")

        for i, content in enumerate(contents):
            x, size, src = pipeline.prepare(content, max_size, self.device, downscale=down)
            group = pending.setdefault(tuple(x.shape), [])
            group.append((i, x, size, src))
            if len(group) >= self.networks.batch_limit(*x.shape[-2:], batch_size):
                flush(pending.pop(tuple(x.shape)))
        for group in pending.values():
            flush(group)
        return results

    def _one_recolored(self, x, base, style, weights, lvls, alphas, kind, tile_size, measure) -> torch.Tensor:
        """One image of a batch in histogram mode: its own recoloured style."""
        st = pipeline.resolve_style(self.networks, style, weights, lvls, recolor=base, **measure)
        return pipeline.run_levels(self.networks, x, lvls, PlainStep(st, alphas, kind), tile_size=tile_size)

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
        st = pipeline.resolve_style(self.networks, style, weights, lvls, style_size, method=blend_method, downscale=down)
        gen = torch.Generator().manual_seed(seed)  # CPU noise: the same on every device
        noise = torch.rand(1, 3, max(h, 32), max(w, 32), generator=gen)
        x, _ = pad_to_multiple(noise.to(self.device), 16)
        step = PlainStep(st, dict.fromkeys(lvls, 1.0))
        y = pipeline.run_levels(self.networks, x, lvls, step, progress=progress, rounds=iterations, tile_size=tile_size)
        return from_tensor(y[..., :h, :w].float(), Source("pil"))

    @torch.inference_mode()
    def reconstruct(self, content: ImageInput, level: str | int = "relu4_1", *, max_size: int | None = DEFAULT_SIZE, downscale: bool = False):
        """Encode to ``level`` and decode back (what the decoder alone does to an image)."""
        lv = parse_level(level)
        x, size, src = pipeline.prepare(content, max_size, self.device, downscale=parse_flag(downscale, "downscale"))
        y = self.decode(self.networks.encode_level(x, lv), lv).clamp(0, 1)
        return pipeline.finish(y, size, src)


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
