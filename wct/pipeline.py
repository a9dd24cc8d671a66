"""The public pipeline: image -> encoder tap -> transform step -> decoder -> image, coarse to fine.

``run_levels(networks, x, levels, step)`` is the loop every front end calls (``Model.stylize`` and
``stylize_batch``, ``texture``, video, tiling, Ray workers through ``stylize``). What happens to the features
at each level is a *step*: a callable ``step(features (B, C, h, w), level, stats=None) -> features`` with a
``tileable`` attribute saying whether it can be given a whole image's statistics for one of its tiles
(``PlainStep`` can; ``MaskedStep``, whose regions need the whole map at once, cannot). Styles are measured
here too, once per call, from images, ``Style`` objects or blends of them.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Protocol

import torch

from .color import match_color, match_spread
from .encoder import LEVELS
from .errors import InputError
from .image import ImageInput, Source, from_tensor, pad_to_multiple, resize_to, to_tensor, working_size
from .networks import Networks
from .options import DEFAULT_TRANSFORM, is_many, level_weights, parse_blend_method, parse_size
from .smoothing import EXACT_MAX_PIXELS, smooth
from .spatial import masks_at
from .style import Style
from .tiling import run_level_tiled
from .transform import flat_features, masked_wct, wct, wct_with_statistics

__all__ = [
    "Step",
    "PlainStep",
    "MaskedStep",
    "Progress",
    "run_levels",
    "tile_core",
    "photo_finish",
    "check_smoothing",
    "prepare",
    "finish",
    "measure_style",
    "blend_styles",
    "resolve_style",
    "TILE_ABOVE",
    "DEFAULT_TILE_SIZE",
]

Progress = Callable[[int, int, str], None]
Stats = tuple[torch.Tensor, torch.Tensor]  # mean (B, C, 1), covariance (B, C, C), float64
StyleInput = Style | ImageInput

TILE_ABOVE = 2048 * 2048  # working images with more pixels go through the networks in tiles (bounded memory)...
DEFAULT_TILE_SIZE = 1024  # ...of this side (the cores; each tile adds 16-128 px of context per side)


class Step(Protocol):
    """What one level does to the encoder's features: (B, C, h, w) -> (B, C, h, w)."""

    tileable: bool

    def __call__(self, f: torch.Tensor, level: str, stats: Stats | None = None) -> torch.Tensor: ...


@dataclass(frozen=True)
class PlainStep:
    """The transform of whole maps after one style (or blend): each image whitened with its own statistics or, in
    tiles, with ``stats`` (the whole image's mean and covariance)."""

    style: Style
    alphas: Mapping[str, float]
    transform: str = DEFAULT_TRANSFORM
    tileable: ClassVar[bool] = True

    def __call__(self, f: torch.Tensor, level: str, stats: Stats | None = None) -> torch.Tensor:
        flat = flat_features(f)  # NHWC encoder maps stay NHWC through the transform, for the decoder
        mean, color, alpha = self.style.mean(level), self.style.color(level), self.alphas[level]
        if stats is None:
            return wct(flat, mean, color, alpha, kind=self.transform).view(f.shape)
        return wct_with_statistics(flat, *stats, mean, color, alpha, kind=self.transform).view(f.shape)


@dataclass(frozen=True)
class MaskedStep:
    """Spatial control: region k of ``masks`` (K, H, W) at the working size takes ``styles[k]``."""

    styles: Sequence[Style]
    masks: torch.Tensor
    alphas: Mapping[str, float]
    transform: str = DEFAULT_TRANSFORM
    tileable: ClassVar[bool] = False

    def __call__(self, f: torch.Tensor, level: str, stats: Stats | None = None) -> torch.Tensor:
        if stats is not None:
            raise ValueError("masked steps are not tileable")
        mk = masks_at(self.masks, tuple(f.shape[-2:]))  # (K, h*w)
        means, colors = [s.mean(level) for s in self.styles], [s.color(level) for s in self.styles]
        return masked_wct(f.flatten(2), mk, means, colors, self.alphas[level], kind=self.transform).view(f.shape)


def tile_core(x: torch.Tensor, step: Step, tile_size: int | None) -> int:
    """The tiles' core side for this run, or 0 for the whole image at once (``tile_size``: see ``stylize``)."""
    h, w = x.shape[-2:]
    auto = tile_size is None
    if auto:
        tile_size = DEFAULT_TILE_SIZE if h * w > TILE_ABOVE else 0
    if not tile_size or (h <= tile_size and w <= tile_size):
        return 0
    if not step.tileable:  # masks: each region's statistics come from the whole image at once
        if auto:
            return 0
        raise InputError("tiles are not available with masks; drop tile_size (the image is then processed whole)")
    return tile_size


def run_levels(
    networks: Networks,
    x: torch.Tensor,
    levels: Sequence[str],
    step: Step,
    *,
    progress: Progress | None = None,
    rounds: int = 1,
    tile_size: int | None = None,
) -> torch.Tensor:
    """Coarse to fine, ``rounds`` times: at each level encode (B, 3, H, W), transform the tap with ``step``, decode;
    in tiles when the image is big. ``progress(done, total, level)`` after each level; what it raises propagates."""
    core = tile_core(x, step, tile_size)
    total = rounds * len(levels)
    for r in range(rounds):
        for i, lv in enumerate(levels):
            if core:
                x = run_level_tiled(x, lv, core, encode=functools.partial(networks.encode_level, level=lv),
                                    transform=lambda f, stats, lv=lv: step(f, lv, stats),
                                    decode=functools.partial(networks.decode, level=lv))  # fmt: skip
            else:  # one expression, so the encoder's features are freed before the decoder runs
                x = networks.decode(step(networks.encode_level(x, lv), lv), lv).clamp_(0, 1)
            if progress is not None:
                progress(r * len(levels) + i + 1, total, lv)
    return x


def photo_finish(y: torch.Tensor, content: torch.Tensor, smoothing: str = "auto") -> torch.Tensor:
    """The photorealistic mode's last step on stylized images y (B, 3, h, w) of ``content`` (B|1, 3, h, w), after the
    levels (after tiling too, so no tile seams can show): edge-aware smoothing guided by the content
    (``wct.smoothing.smooth`` by ``smoothing``, "auto", "exact" or "fast"), then each smoothed image is given the
    RGB mean and overall colour spread of its unsmoothed self (``match_spread``: one shift, one gain): smoothing
    removes the transfer's pixel noise and with it part of the colour contrast it moved toward the style, and the
    gain puts that back without touching shapes or edges; [0, 1] out."""
    return match_spread(smooth(y, content, method=smoothing), y).clamp(0, 1)


def check_smoothing(smoothing: str, size: tuple[int, int]) -> None:
    """Refuse ``smoothing="exact"`` for a working image of ``size`` (h, w) over EXACT_MAX_PIXELS, before any work."""
    h, w = size
    if smoothing == "exact" and h * w > EXACT_MAX_PIXELS:
        raise InputError(
            f"smoothing='exact' is limited to {EXACT_MAX_PIXELS:,} pixels (about 1448x1448: time and memory), got {w}x{h}; "
            "use smoothing='fast' or 'auto' (--smoothing fast: the guided filter, any size), or a smaller max_size (--size)"
        )


def prepare(
    content: ImageInput, max_size: int | None, device: torch.device, *, downscale: bool = False
) -> tuple[torch.Tensor, tuple[int, int], Source]:
    """The content at its working size, reflect-padded to multiples of 16: ((1, 3, H, W), (h, w) unpadded, source)."""
    x, src = to_tensor(content, downscale=downscale)
    h, w = working_size(*x.shape[-2:], parse_size(max_size))
    x = resize_to(x, (h, w)).to(device)
    x, size = pad_to_multiple(x, 16)
    return x, size, src


def finish(y: torch.Tensor, size: tuple[int, int], src: Source):
    """The result cropped to the working size (and brought back to the input's, if that was upscaled), as the input."""
    y = y[..., : size[0], : size[1]]
    if min(src.size) < min(size):  # upscaled only to survive the poolings: restore the input size
        y = resize_to(y, src.size)
    return from_tensor(y.float(), src)


def measure_style(
    networks: Networks,
    image: StyleInput,
    levels: Sequence[str],
    style_size: int | None,
    *,
    recolor: torch.Tensor | None = None,
    downscale: bool = False,
) -> Style:
    """The Style of an image at ``levels`` (one encoder pass); a Style is returned as is. With ``recolor``
    (1, 3, h, w), the image is first given that image's RGB mean and covariance (``preserve_color="histogram"``)."""
    if isinstance(image, Style):
        if recolor is not None:
            raise InputError(
                "preserve_color='histogram' recolours the style images before measuring them, so it needs images, "
                "got a precomputed Style; pass the style image, or use preserve_color='luminance'"
            )
        return image
    t, _ = to_tensor(image, downscale=downscale)
    t = resize_to(t, working_size(*t.shape[-2:], parse_size(style_size, "style_size"))).to(networks.device)
    if recolor is not None:
        t = match_color(t, recolor.to(networks.device)).clamp(0, 1)
    taps = networks.encode(t, levels[0])
    desc = Path(image).stem if isinstance(image, (str, os.PathLike)) else ""
    return Style.from_features({lv: taps[lv] for lv in levels}, description=desc)


def blend_styles(
    networks: Networks,
    styles: StyleInput | Sequence[StyleInput],
    weights,
    levels: Sequence[str],
    style_size: int | None,
    *,
    method: str = "linear",
    recolor: torch.Tensor | None = None,
    downscale: bool = False,
) -> Style:
    """One Style from several images or Styles (see ``Style.blend``), each measured once."""
    styles = list(styles) if is_many(styles) else [styles]
    parse_blend_method(method)
    level_weights(weights, len(styles), levels)  # validate before any encoding work
    measured = [measure_style(networks, s, levels, style_size, recolor=recolor, downscale=downscale) for s in styles]
    return Style.blend([s.to(networks.device) for s in measured], weights, method=method)


def resolve_style(networks: Networks, style: StyleInput | Sequence[StyleInput], weights, levels: Sequence[str],
                  style_size: int | None, *, method: str = "linear", also: Sequence[str] = (), **measure) -> Style:
    """The Style a run colors with, on the networks' device: one style, or a blend of a list; it must hold ``levels``.
    Images are measured at the ``also`` levels too (refinement matches them when the style has them); ``measure``:
    ``recolor`` and ``downscale``, as ``measure_style`` takes them."""
    measured = tuple(lv for lv in reversed(LEVELS) if lv in {*levels, *also})  # deepest first
    if is_many(style):
        st = blend_styles(networks, style, weights, measured, style_size, method=method, **measure)
    else:
        if weights is not None:
            level_weights(weights, 1, measured)
        parse_blend_method(method)
        st = measure_style(networks, style, measured, style_size, **measure)
    missing = [lv for lv in levels if not st.has(lv)]
    if missing:
        raise InputError(f"the style has no statistics for {', '.join(missing)}; it has {', '.join(st.levels)}")
    return st.to(networks.device)

