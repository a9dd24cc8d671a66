"""The public pipeline: validate inputs, then encode -> whiten/color -> decode, coarse to fine."""

from __future__ import annotations

import contextvars
import functools
import math
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import torch
from PIL import Image

from .color import keep_luminance, match_color
from .decoder import Decoder, extra_from_metadata
from .encoder import LEVELS, Encoder, parse_level
from .errors import InputError, WeightsError
from .image import MAX_PIXELS, ImageInput, Source, from_tensor, pad_to_multiple, resize_to, to_tensor, working_size
from .spatial import MaskInput, masks_at, prepare_masks
from .style import BLEND_METHODS, Style, level_weights, per_level
from .tiling import run_level_tiled
from .transform import flat_features, masked_wct, wct, wct_with_statistics
from .weights import ENCODER_ID, decoders_dir, load_verified, read_manifest, safetensors_metadata

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
    "PREVIEW_LEVELS",
    "PREVIEW_SIZE",
    "PRESERVE_COLOR",
    "TILE_ABOVE",
    "DEFAULT_TILE_SIZE",
]

StyleInput = Style | ImageInput
Levels = str | int | Sequence[str | int]
Progress = Callable[[int, int, str], None]
Weights = Sequence[float] | Mapping[str | int, Sequence[float]]  # one list, or {level: list, "default": list}
Alpha = float | Mapping[str | int, float]  # one strength, or {level: strength, "default": strength}

DEFAULT_SIZE = 512  # long side of the output, in pixels, unless max_size says otherwise
DEFAULT_STYLE_SIZE = 512  # long side the style image is measured at
DEFAULT_ALPHA = 0.6  # style strength, for every level not given its own
# stylize's default levels: relu5_1 is left out until its decoder reaches its quality target (decoders/README.md);
# pass levels=wct.LEVELS for all five
DEFAULT_LEVELS = ("relu4_1", "relu3_1", "relu2_1", "relu1_1")
PREVIEW_LEVELS = ("relu5_1", "relu4_1", "relu3_1")  # preview=True runs these (the coarse ones, the cheap decoders)...
PREVIEW_SIZE = 256  # ...at this long side at most
PRESERVE_COLOR = ("luminance", "histogram")
TILE_ABOVE = 2048 * 2048  # working images with more pixels go through the networks in tiles (bounded memory)...
DEFAULT_TILE_SIZE = 1024  # ...of this side (the cores; each tile adds 16-128 px of context per side)
CPU_BATCH_PIXELS = 1 << 20  # stylize_batch on a CPU: batches stop at this many pixels (bigger ones measured slower)


_DOWNSCALE = contextvars.ContextVar("wct_downscale", default=False)  # set per call by the public methods


def _downscaling(fn):
    """Give ``fn`` a ``downscale=False`` keyword: images over MAX_PIXELS are then shrunk to fit, not refused."""

    @functools.wraps(fn)
    def wrapper(*args, downscale: bool = False, **kwargs):
        if not isinstance(downscale, bool):
            raise InputError(f"downscale must be True or False, got {downscale!r}")
        token = _DOWNSCALE.set(downscale)
        try:
            return fn(*args, **kwargs)
        finally:
            _DOWNSCALE.reset(token)

    return wrapper


def parse_levels(levels: Levels | None) -> tuple[str, ...]:
    """Levels as layer names, deepest first (the order WCT runs them); all five when None."""
    if levels is None:
        return tuple(reversed(LEVELS))
    if isinstance(levels, (str, int)) and not (isinstance(levels, str) and "," in levels):
        items: Sequence = [levels]
    elif isinstance(levels, str):
        items = [s for s in levels.split(",") if s.strip()]
    else:
        items = list(levels)
    if not items:
        raise InputError(f"expected at least one level of {', '.join(LEVELS)}, got none")
    names = {parse_level(x) for x in items}
    return tuple(lv for lv in reversed(LEVELS) if lv in names)


def parse_alpha(alpha: float) -> float:
    try:
        a = float(alpha)
    except (TypeError, ValueError):
        raise InputError(f"alpha must be a number in [0, 1], got {alpha!r}") from None
    if not (0.0 <= a <= 1.0):  # NaN fails too
        raise InputError(f"alpha must be in [0, 1], got {alpha}")
    return a


def parse_alphas(alpha: Alpha, levels: Sequence[str]) -> dict[str, float]:
    """Style strength per level: one number for all, or {level: number, "default": number} (others: DEFAULT_ALPHA)."""
    return per_level(alpha, levels, parse_alpha, DEFAULT_ALPHA)


def parse_preserve_color(mode: str | None) -> str | None:
    if mode is None or mode is False:
        return None
    if mode not in PRESERVE_COLOR:
        raise InputError(f"preserve_color must be None, 'luminance' or 'histogram', got {mode!r}")
    return mode


def parse_texture_size(size) -> tuple[int, int]:
    """(width, height) in pixels from an int (square) or a pair."""
    pair = (size, size) if isinstance(size, (int, float)) and not isinstance(size, bool) else size
    try:
        w, h = pair
        ok = all(not isinstance(v, bool) and float(v) == int(v) and int(v) >= 1 for v in (w, h))
    except (TypeError, ValueError, OverflowError):
        ok = False
    if not ok:
        raise InputError(f"size must be (width, height) in whole pixels >= 1, got {size!r}")
    w, h = int(w), int(h)
    if w * h > MAX_PIXELS:
        raise InputError(f"size {w}x{h} is over the limit of {MAX_PIXELS / 1e6:.0f} MP")
    return w, h


def parse_size(size: int | None, name: str = "max_size") -> int | None:
    if size is None:
        return None
    if isinstance(size, bool) or not isinstance(size, (int, float)) or not math.isfinite(size) or int(size) != size:
        raise InputError(f"{name} must be a whole number of pixels or None, got {size!r}")
    if size < 16:
        raise InputError(f"{name} must be at least 16 pixels, got {size}")
    return int(size)


def parse_tile_size(tile_size: int | None) -> int | None:
    """None (automatic), 0 (never tile) or a tile side: a multiple of 16, at least 256."""
    if tile_size is None:
        return None
    ok = isinstance(tile_size, int) and not isinstance(tile_size, bool) and (tile_size == 0 or (tile_size >= 256 and tile_size % 16 == 0))
    if not ok:
        raise InputError(f"tile_size must be None (automatic), 0 (never tile) or a multiple of 16 >= 256, got {tile_size!r}")
    return tile_size


def resolve_device(device: str | torch.device | None) -> torch.device:
    """``None`` picks CUDA when present, else the CPU; an unavailable device is refused with the alternatives."""
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise InputError(f"unknown device {device!r}; expected 'cpu', 'cuda' or 'cuda:N'") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise InputError(f"device {device!r} is not available on this machine (no CUDA GPU found); use device='cpu'")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise InputError(f"device {device!r} does not exist; this machine has {torch.cuda.device_count()} GPU(s)")
    if dev.type not in ("cpu", "cuda", "mps"):
        raise InputError(f"device {device!r} is not supported; expected 'cpu' or 'cuda'")
    return dev


def half_dtype(device: torch.device) -> torch.dtype:
    """What ``half=True`` runs the networks in on ``device``: float16 on CUDA (tensor cores), bfloat16 elsewhere."""
    return torch.float16 if device.type == "cuda" else torch.bfloat16


def half_is_fast(device: torch.device) -> bool:
    """Whether half-precision networks run much faster than float32 here: CUDA GPUs, and CPUs with AMX tiles."""
    if device.type == "cuda":
        return True
    probe = getattr(torch.cpu, "_is_amx_tile_supported", None)  # private, present since PyTorch 2.3
    try:
        return device.type == "cpu" and probe is not None and bool(probe())
    except RuntimeError:
        return False


PRECISIONS = {"float32": False, "half": True, "auto": "auto"}  # precision names -> load(half=...)


def parse_half(half: bool | str) -> bool | str:
    """True, False or ``"auto"``."""
    if not (isinstance(half, bool) or half == "auto"):
        raise InputError(f"half must be True, False or 'auto', got {half!r}")
    return half


def resolve_half(half: bool | str, device: torch.device) -> bool:
    """``half`` as given (True/False), or for ``"auto"`` whether half precision is fast on ``device``."""
    return half_is_fast(device) if parse_half(half) == "auto" else bool(half)


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
        self.device = resolve_device(device)
        self.compile = bool(compile)
        self.half = resolve_half(half, self.device)
        self._half_dtype = half_dtype(self.device)
        self._compiled: dict[int, Callable] = {}
        self.encoder = Encoder(encoder_weights).to(self.device)
        self._lock = threading.Lock()
        self._decoders: dict[str, Decoder] = {}
        self._folder: Path | None = None
        if isinstance(decoders, Mapping):
            for level, dec in decoders.items():
                self._decoders[parse_level(level)] = dec.to(self.device).eval()
        else:
            self._folder = Path(decoders) if decoders is not None else decoders_dir()

    @property
    def precision(self) -> str:
        """The networks' precision: "float32", or with ``half`` "float16" (CUDA) or "bfloat16"."""
        return str(self._half_dtype).removeprefix("torch.") if self.half else "float32"

    def available_levels(self) -> tuple[str, ...]:
        """Levels that have a decoder (shipped or given)."""
        if self._folder is None:
            return tuple(lv for lv in LEVELS if lv in self._decoders)
        return tuple(lv for lv in LEVELS if lv in read_manifest(self._folder) or lv in self._decoders)

    def decoder(self, level: str | int) -> Decoder:
        """The verified decoder for ``level``, loaded on first use."""
        level = parse_level(level)
        with self._lock:
            if level not in self._decoders:
                self._decoders[level] = self._load_decoder(level)
        return self._decoders[level]

    def _load_decoder(self, level: str) -> Decoder:
        if self._folder is None:
            raise WeightsError(f"no decoder for {level} was given; available: {', '.join(self._decoders) or 'none'}")
        entry = read_manifest(self._folder).get(level)
        if entry is None:
            have = ", ".join(read_manifest(self._folder)) or "none"
            raise WeightsError(f"no trained decoder for {level} in {self._folder} (available: {have}); choose other levels")
        if entry.get("encoder") != ENCODER_ID:
            raise WeightsError(f"the {level} decoder was trained for encoder {entry.get('encoder')!r}, not {ENCODER_ID!r}")
        path = self._folder / entry["file"]
        state = load_verified(path, entry["sha256"], f"{level} decoder")
        dec = Decoder(level, extra_from_metadata(safetensors_metadata(path)))
        try:
            dec.load_state_dict({k: v.float() for k, v in state.items()}, strict=True)
        except RuntimeError as exc:
            raise WeightsError(f"the {level} decoder file does not fit the architecture: {str(exc).splitlines()[0]}") from None
        return dec.to(self.device).eval()

    def encode(self, rgb: torch.Tensor, upto: str, *, only_last: bool = False) -> dict[str, torch.Tensor]:
        """The encoder's taps relu1_1..``upto`` (just ``upto`` with ``only_last``) of (B, 3, H, W) RGB in [0, 1]
        (compiled, in half precision when asked; the taps are float32 either way)."""
        return self._precise(self.encoder, rgb, upto=upto, only_last=only_last)

    def decode(self, features: torch.Tensor, level: str) -> torch.Tensor:
        """RGB (B, 3, H, W) from features at ``level`` (compiled, in half precision when asked; float32 out)."""
        return self._precise(self.decoder(level), features)

    def _precise(self, net: torch.nn.Module, *args, **kwargs):
        """``net`` in half precision when asked, results back in float32; non-finite results are redone in float32."""
        if not self.half:
            return self._call(net, *args, **kwargs)
        with torch.autocast(self.device.type, dtype=self._half_dtype):
            out = self._call(net, *args, **kwargs)
        items = out.values() if isinstance(out, dict) else [out]
        if all(bool(torch.isfinite(t).all()) for t in items):
            return {k: v.float() for k, v in out.items()} if isinstance(out, dict) else out.float()
        return self._call(net, *args, **kwargs)  # overflowed in half precision: this one in float32

    def _call(self, net: torch.nn.Module, *args, **kwargs):
        if not self.compile:
            return net(*args, **kwargs)
        fn = self._compiled.get(id(net))
        if fn is None:
            import torch._dynamo
            import torch._inductor.config

            # one graph per (network, level, image size): allow many before dynamo falls back to eager
            torch._dynamo.config.recompile_limit = max(torch._dynamo.config.recompile_limit, 64)
            fn = self._compiled[id(net)] = torch.compile(net, dynamic=False)
        from torch._inductor import config as inductor_config

        with inductor_config.patch(freezing=True):  # weights are constants: fold and prepack them
            return fn(*args, **kwargs)

    # ----- styles -------------------------------------------------------------------------
    @_downscaling
    @torch.inference_mode()
    def compute_style(self, image: StyleInput, *, levels: Levels | None = None, style_size: int | None = DEFAULT_STYLE_SIZE) -> Style:
        """Style statistics of an image at ``levels`` (one encoder pass); a Style is returned as is."""
        return self._compute_style(image, parse_levels(levels), style_size)

    def _compute_style(self, image: StyleInput, lvls: Sequence[str], style_size, recolor: torch.Tensor | None = None) -> Style:
        """compute_style; with ``recolor`` (1, 3, h, w), the image is first given its RGB mean and covariance."""
        if isinstance(image, Style):
            if recolor is not None:
                raise InputError(
                    "preserve_color='histogram' recolours the style images before measuring them, so it needs images, "
                    "got a precomputed Style; pass the style image, or use preserve_color='luminance'"
                )
            return image
        t, _ = to_tensor(image, downscale=_DOWNSCALE.get())
        t = resize_to(t, working_size(*t.shape[-2:], parse_size(style_size, "style_size"))).to(self.device)
        if recolor is not None:
            t = match_color(t, recolor.to(self.device)).clamp(0, 1)
        taps = self.encode(t, lvls[0])
        desc = Path(image).stem if isinstance(image, (str, os.PathLike)) else ""
        return Style.from_features({lv: taps[lv] for lv in lvls}, description=desc)

    @_downscaling
    @torch.inference_mode()
    def blend(
        self,
        styles: Sequence[StyleInput],
        weights: Weights | None = None,
        *,
        method: str = "linear",
        levels: Levels | None = None,
        style_size: int | None = DEFAULT_STYLE_SIZE,
    ) -> Style:
        """One Style from several (Styles, paths, PIL images or arrays).

        Args:
            weights: one weight per style (normalised to sum 1; None = equal), or per level:
                ``{"relu5_1": [1, 0], "relu4_1": [1, 0], "default": [0, 1]}`` (levels not named take
                "default", else equal weights).
            method: "linear" (the paper's interpolation) or "wasserstein" (W2 barycenter); see Style.blend.
        """
        return self._blend(styles, weights, method, parse_levels(levels), style_size)

    def _blend(self, styles, weights, method, lvls, style_size, recolor=None) -> Style:
        if isinstance(styles, (Style, str, os.PathLike)) or not isinstance(styles, Sequence):
            styles = [styles]  # type: ignore[list-item]
        if method not in BLEND_METHODS:
            raise InputError(f"unknown blend method {method!r}; expected one of {', '.join(map(repr, BLEND_METHODS))}")
        level_weights(weights, len(styles), lvls)  # validate before any encoding work
        computed = [self._compute_style(s, lvls, style_size, recolor) for s in styles]
        return Style.blend([s.to(self.device) for s in computed], weights, method=method)

    def _style_for(self, style, weights, levels, style_size, recolor=None, method="linear") -> Style:
        if isinstance(style, Sequence) and not isinstance(style, (str, bytes)) and not hasattr(style, "shape"):
            st = self._blend(style, weights, method, levels, style_size, recolor)
        else:
            if weights is not None:
                level_weights(weights, 1, levels)
            st = self._compute_style(style, levels, style_size, recolor)
        missing = [lv for lv in levels if not st.has(lv)]
        if missing:
            raise InputError(f"the style has no statistics for {', '.join(missing)}; it has {', '.join(st.levels)}")
        return st.to(self.device)

    # ----- pipeline -----------------------------------------------------------------------
    def _prepare(self, content: ImageInput, max_size: int | None):
        x, src = to_tensor(content, downscale=_DOWNSCALE.get())
        h, w = working_size(*x.shape[-2:], parse_size(max_size))
        x = resize_to(x, (h, w)).to(self.device)
        x, size = pad_to_multiple(x, 16)
        return x, size, src

    def _finish(self, y: torch.Tensor, size: tuple[int, int], src):
        y = y[..., : size[0], : size[1]]
        if min(src.size) < min(size):  # upscaled only to survive the poolings: restore the input size
            y = resize_to(y, src.size)
        return from_tensor(y.float(), src)

    @_downscaling
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
        preview: bool = False,
        tile_size: int | None = None,
        progress: Progress | None = None,
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
                level ``{"relu1_1": 0.3, "default": 0.8}`` (levels not named: "default", else 0.6).
            levels: layer names or 1..5; run deepest first. Default: DEFAULT_LEVELS (relu4_1..relu1_1).
            max_size: long side to work at (None = full size).
            style_size: long side the style images are measured at (None = full size).
            preserve_color: None; "luminance" (keep the result's luminance and the content's chroma,
                in YCbCr); or "histogram" (first give each style image the content's RGB mean and
                covariance, so the style's palette becomes the photo's; needs style images, not Styles).
            blend_method: how a list of styles is mixed: "linear" or "wasserstein" (see ``blend``).
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
        lvls = parse_levels((PREVIEW_LEVELS if preview else DEFAULT_LEVELS) if levels is None else levels)
        alphas = parse_alphas(alpha, lvls)
        mode = parse_preserve_color(preserve_color)
        tile_size = parse_tile_size(tile_size)
        if preview:  # content and style images shrink alike, so strokes keep their size relative to the picture
            max_size = PREVIEW_SIZE if max_size is None else min(parse_size(max_size), PREVIEW_SIZE)
            style_size = PREVIEW_SIZE if style_size is None else min(parse_size(style_size, "style_size"), PREVIEW_SIZE)
        if masks is not None and weights is not None:
            raise InputError(
                "masks give region i style i, so weights must be None when masks are given, got both; "
                "to mix styles inside a region, pass a blended Style (wct.blend) for it"
            )
        x, size, src = self._prepare(content, max_size)
        base = x[..., : size[0], : size[1]]  # (1, 3, h, w): the content at the working size
        recolor = base if mode == "histogram" else None
        if masks is None:
            step = self._plain_step(self._style_for(style, weights, lvls, style_size, recolor, blend_method), alphas)
        else:
            many = isinstance(style, Sequence) and not isinstance(style, (str, bytes)) and not hasattr(style, "shape")
            regions = [self._style_for(s, None, lvls, style_size, recolor, blend_method) for s in (style if many else [style])]
            m = prepare_masks(masks, len(regions), src.size, size, tuple(x.shape[-2:])).to(self.device)  # (K, H, W)

            def step(f: torch.Tensor, lv: str) -> torch.Tensor:  # f: (1, C, h, w)
                mk = masks_at(m, tuple(f.shape[-2:]))  # (K, h*w)
                means, colors = [r.mean(lv) for r in regions], [r.color(lv) for r in regions]
                return masked_wct(f.flatten(2)[0], mk, means, colors, alphas[lv]).view_as(f)

        y = self._run(x, lvls, step, progress, tile_size=tile_size)
        if mode == "luminance":
            y = keep_luminance(y[..., : size[0], : size[1]], base)
        return self._finish(y, size, src)

    def _batch_limit(self, height: int, width: int, batch_size: int) -> int:
        """How many working images of this size go through the networks at once."""
        if self.device.type != "cpu":
            return batch_size
        return max(1, min(batch_size, CPU_BATCH_PIXELS // (height * width)))

    @_downscaling
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
        tile_size: int | None = None,
        progress: Progress | None = None,
    ) -> list:
        """``stylize`` for many contents and one style (or blend): the style is measured once, and contents of the
        same working size go through the networks ``batch_size`` at a time (on a CPU, fewer when a batch would pass
        CPU_BATCH_PIXELS: there large batches are slower than a loop). Each image is whitened with its own
        statistics, so every result equals ``stylize`` on that image alone (up to float rounding).

        Args: as ``stylize``; ``progress(done, total, "")`` is called after each image.
        Returns: one result per content, in order (PIL images, or tensors for tensor inputs).
        """
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise InputError(f"batch_size must be a whole number >= 1, got {batch_size!r}")
        if isinstance(contents, (str, os.PathLike)) or not isinstance(contents, Sequence):
            raise InputError(f"contents must be a list of images, got {type(contents).__name__}; use stylize for one image")
        lvls = parse_levels(DEFAULT_LEVELS if levels is None else levels)
        alphas = parse_alphas(alpha, lvls)
        mode = parse_preserve_color(preserve_color)
        tile_size = parse_tile_size(tile_size)
        shared = None if mode == "histogram" else self._style_for(style, weights, lvls, style_size, None, blend_method)
        results: list = [None] * len(contents)
        pending: dict[tuple, list] = {}  # working shape -> [(index, x, size, src)], flushed batch_size at a time

        def flush(items: list) -> None:
            x = torch.cat([it[1] for it in items])
            size = items[0][2]
            base = x[..., : size[0], : size[1]]
            if shared is not None:
                y = self._run(x, lvls, self._plain_step(shared, alphas), None, tile_size=tile_size)
            else:  # histogram mode: each content recolours the style images itself
                y = torch.cat([self._run(x[j : j + 1], lvls, self._plain_step(
                    self._style_for(style, weights, lvls, style_size, base[j : j + 1], blend_method), alphas), None,
                    tile_size=tile_size) for j in range(len(items))])
            if mode == "luminance":
                y = keep_luminance(y[..., : size[0], : size[1]], base)
            for j, (i, _, _, src) in enumerate(items):
                results[i] = self._finish(y[j : j + 1], size, src)
                if progress is not None:
                    progress(sum(r is not None for r in results), len(results), "")

        for i, content in enumerate(contents):
            x, size, src = self._prepare(content, max_size)
            group = pending.setdefault(tuple(x.shape), [])
            group.append((i, x, size, src))
            if len(group) >= self._batch_limit(*x.shape[-2:], batch_size):
                flush(pending.pop(tuple(x.shape)))
        for group in pending.values():
            flush(group)
        return results

    @staticmethod
    def _plain_step(st: Style, alphas: Mapping[str, float]):
        """The per-level transform of plain (unmasked) stylization: features (B, C, h, w) -> same, whitened with their
        own statistics or, in tiles, with ``stats`` (the whole image's mean and covariance)."""

        def step(f: torch.Tensor, lv: str, stats=None) -> torch.Tensor:
            flat = flat_features(f)  # NHWC encoder maps stay NHWC through the transform, for the decoder
            if stats is None:
                return wct(flat, st.mean(lv), st.color(lv), alphas[lv]).view(f.shape)
            return wct_with_statistics(flat, *stats, st.mean(lv), st.color(lv), alphas[lv]).view(f.shape)

        step.tileable = True  # type: ignore[attr-defined]
        return step

    def _run(
        self, x: torch.Tensor, lvls: Sequence[str], step, progress: Progress | None, rounds: int = 1, tile_size: int | None = None
    ) -> torch.Tensor:
        """Coarse to fine, ``rounds`` times: at each level encode, transform the tap with ``step(f, level)``, decode;
        in tiles when the image is big (see ``tile_size`` in ``stylize``)."""
        core = self._tile_core(x, step, tile_size)
        total = rounds * len(lvls)
        for r in range(rounds):
            for i, lv in enumerate(lvls):
                if core:
                    x = run_level_tiled(x, lv, core, encode=functools.partial(self._encode_one, level=lv),
                                        transform=lambda f, stats, lv=lv: step(f, lv, stats),
                                        decode=functools.partial(self.decode, level=lv))  # fmt: skip
                else:  # one expression, so the encoder's features are freed before the decoder runs
                    x = self.decode(step(self.encode(x, lv, only_last=True)[lv], lv), lv).clamp_(0, 1)
                if progress is not None:
                    progress(r * len(lvls) + i + 1, total, lv)
        return x

    def _encode_one(self, x: torch.Tensor, level: str) -> torch.Tensor:
        return self.encode(x, level, only_last=True)[level]

    @staticmethod
    def _tile_core(x: torch.Tensor, step, tile_size: int | None) -> int:
        """The tiles' core side for this run, or 0 for the whole image at once."""
        h, w = x.shape[-2:]
        auto = tile_size is None
        if auto:
            tile_size = DEFAULT_TILE_SIZE if h * w > TILE_ABOVE else 0
        if not tile_size or (h <= tile_size and w <= tile_size):
            return 0
        if not getattr(step, "tileable", False):  # masks: each region's statistics come from the whole image at once
            if auto:
                return 0
            raise InputError("tiles are not available with masks; drop tile_size (the image is then processed whole)")
        return tile_size

    @_downscaling
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
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise InputError(f"seed must be a whole number >= 0, got {seed!r}")
        if isinstance(iterations, bool) or not isinstance(iterations, int) or not 1 <= iterations <= 10:
            raise InputError(f"iterations must be a whole number in 1..10, got {iterations!r}")
        lvls = parse_levels(levels)
        tile_size = parse_tile_size(tile_size)
        st = self._style_for(style, weights, lvls, style_size, None, blend_method)
        gen = torch.Generator().manual_seed(seed)  # CPU noise: the same on every device
        noise = torch.rand(1, 3, max(h, 32), max(w, 32), generator=gen)
        x, _ = pad_to_multiple(noise.to(self.device), 16)
        step = self._plain_step(st, dict.fromkeys(lvls, 1.0))
        y = self._run(x, lvls, step, progress, rounds=iterations, tile_size=tile_size)
        return from_tensor(y[..., :h, :w].float(), Source("pil"))

    @_downscaling
    @torch.inference_mode()
    def reconstruct(self, content: ImageInput, level: str | int = "relu4_1", *, max_size: int | None = DEFAULT_SIZE):
        """Encode to ``level`` and decode back (what the decoder alone does to an image)."""
        lv = parse_level(level)
        x, size, src = self._prepare(content, max_size)
        y = self.decode(self.encode(x, lv, only_last=True)[lv], lv).clamp(0, 1)
        return self._finish(y, size, src)


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
