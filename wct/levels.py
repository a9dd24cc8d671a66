"""The pipeline's third step: run the levels, coarse to fine: encoder tap -> transform step -> decoder, at each level.

``run_levels(networks, x, levels, step)`` is the loop of every run (``stylize``, ``stylize_batch``, ``texture``,
video). What happens to the features at each level is a *step*: a callable ``step(features (B, C, h, w), level,
stats=None) -> features`` with a ``tileable`` attribute saying whether it can be given a whole image's statistics for
one of its tiles (``PlainStep`` can; ``MaskedStep``, whose regions need the whole map at once, cannot).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar, Protocol

import torch

from .defaults import DEFAULT_TILE_SIZE, DEFAULT_TRANSFORM, TILE_ABOVE
from .errors import InputError
from .masks import masks_at
from .networks import Networks
from .options import Options
from .style import Style
from .tiling import run_level_tiled
from .transform import flat_features, masked_wct, wct, wct_with_statistics

__all__ = ["Step", "PlainStep", "MaskedStep", "Progress", "Stats", "make_step", "run_levels", "tile_core"]

Progress = Callable[[int, int, str], None]
Stats = tuple[torch.Tensor, torch.Tensor]  # mean (B, C, 1), covariance (B, C, C), float64


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


def make_step(styles: Sequence[Style], masks: torch.Tensor | None, options: Options) -> PlainStep | MaskedStep:
    """The step of a run: one style over the whole picture, or with ``masks`` (K, H, W) style k in region k."""
    if masks is None:
        return PlainStep(styles[0], options.alphas, options.transform)
    return MaskedStep(list(styles), masks, options.alphas, options.transform)


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
