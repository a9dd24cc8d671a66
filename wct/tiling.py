"""Big images in overlapping tiles: bounded memory, the whole image's statistics, no seams.

At each level the content's mean and covariance are first accumulated over the tiles' cores (Chan et al.'s
pairwise update, in float64), so every tile is whitened with the statistics of the whole picture, exactly
as the whole-image pipeline does. Then each tile is encoded again with a margin of context, transformed,
decoded, and feathered into the result with linear ramps across the overlaps (weights that sum to one).
Margins grow with the level's receptive field; tile edges sit on multiples of 16 pixels, so every
feature map is cut at whole positions.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch

from .encoder import LEVELS
from .transform import centered_statistics, flat_features

__all__ = ["Tile", "tiles", "feather", "Moments", "margin_for", "run_level_tiled"]

Stats = tuple[torch.Tensor, torch.Tensor]  # mean (B, C, 1), covariance (B, C, C), float64


@dataclass(frozen=True)
class Tile:
    """A crop of the image (pixels ``y0:y1, x0:x1``) around its core (``cy0:cy1, cx0:cx1``); the cores partition the image."""

    y0: int
    y1: int
    x0: int
    x1: int
    cy0: int
    cy1: int
    cx0: int
    cx1: int

    def crop(self, x: torch.Tensor) -> torch.Tensor:
        return x[..., self.y0 : self.y1, self.x0 : self.x1]


def margin_for(level: str) -> int:
    """Context around each tile at ``level``, in pixels: 16, 32, 64, 128, 128 from relu1_1 to relu5_1."""
    return min(128, 16 * 2 ** LEVELS.index(level))


def _spans(n: int, core: int, margin: int) -> Iterator[tuple[int, int, int, int]]:
    """(crop start, crop end, core start, core end) along one axis of length ``n``."""
    starts = list(range(0, n, core))
    if len(starts) > 1 and n - starts[-1] < core // 2:  # no thin last strip: fold it into the one before
        starts.pop()
    for i, c0 in enumerate(starts):
        c1 = starts[i + 1] if i + 1 < len(starts) else n
        yield max(0, c0 - margin), min(n, c1 + margin), c0, c1


def tiles(h: int, w: int, core: int, margin: int) -> list[Tile]:
    """The tiles covering an (h, w) image with cores of about ``core`` pixels and ``margin`` pixels of context."""
    return [Tile(y0, y1, x0, x1, cy0, cy1, cx0, cx1)
            for y0, y1, cy0, cy1 in _spans(h, core, margin)
            for x0, x1, cx0, cx1 in _spans(w, core, margin)]  # fmt: skip


def _ramp(a0: int, a1: int, c0: int, c1: int, margin: int) -> torch.Tensor:
    """1D weights over a crop: 1 in the middle, linear ramps across each overlap with a neighbour (none at image edges)."""
    p = torch.arange(a0, a1, dtype=torch.float32) + 0.5
    w = torch.ones(a1 - a0)
    if a0 < c0:  # a neighbour before: ramp up across [c0 - margin, c0 + margin)
        w = w * ((p - (c0 - margin)) / (2 * margin)).clamp(0, 1)
    if a1 > c1:  # a neighbour after: ramp down across [c1 - margin, c1 + margin)
        w = w * (((c1 + margin) - p) / (2 * margin)).clamp(0, 1)
    return w


def feather(t: Tile, margin: int) -> torch.Tensor:
    """(1, 1, crop height, crop width) blending weights of a tile: over all tiles they sum to one wherever cores are
    at least two margins long (the result is divided by the sum anyway)."""
    wy = _ramp(t.y0, t.y1, t.cy0, t.cy1, margin)
    wx = _ramp(t.x0, t.x1, t.cx0, t.cx1, margin)
    return (wy[:, None] * wx[None, :])[None, None]


class Moments:
    """Mean and covariance of features seen in parts (B, C, N_i), merged pairwise in float64 (Chan et al.)."""

    def __init__(self) -> None:
        self.n = 0
        self.mean: torch.Tensor | None = None  # (B, C, 1)
        self.m2: torch.Tensor | None = None  # (B, C, C): sum of outer products of deviations

    def add(self, f: torch.Tensor) -> None:
        k = f.shape[-1]
        if k == 0:
            return
        mean, cov, _ = centered_statistics(f)
        m2 = cov * max(k - 1, 1)
        if self.mean is None:
            self.n, self.mean, self.m2 = k, mean, m2
            return
        n = self.n + k
        delta = mean - self.mean
        self.m2 = self.m2 + m2 + (delta @ delta.transpose(-1, -2)) * (self.n * k / n)
        self.mean = self.mean + delta * (k / n)
        self.n = n

    def result(self) -> Stats:
        """(mean, unbiased covariance), as ``transform.mean_and_covariance`` of all the parts together."""
        if self.mean is None or self.m2 is None:
            raise ValueError("no features were added")
        cov = self.m2 / max(self.n - 1, 1)
        return self.mean, 0.5 * (cov + cov.transpose(-1, -2))


def run_level_tiled(
    x: torch.Tensor,
    level: str,
    core: int,
    encode: Callable[[torch.Tensor], torch.Tensor],
    transform: Callable[[torch.Tensor, Stats], torch.Tensor],
    decode: Callable[[torch.Tensor], torch.Tensor],
) -> torch.Tensor:
    """One level of the pipeline on (B, 3, H, W) in tiles: ``encode`` crops to (B, C, h, w) features,
    ``transform(features (B, C, N), (mean, cov))`` with the whole image's statistics, ``decode`` back to RGB."""
    _, _, h, w = x.shape
    margin = margin_for(level)
    parts = tiles(h, w, core, margin)
    stride = 2 ** LEVELS.index(level)
    moments = Moments()
    for t in parts:  # pass 1: the whole image's statistics, from the cores
        f = encode(t.crop(x))
        core_f = f[..., (t.cy0 - t.y0) // stride : (t.cy1 - t.y0) // stride, (t.cx0 - t.x0) // stride : (t.cx1 - t.x0) // stride]
        moments.add(flat_features(core_f))
        del f, core_f
    stats = moments.result()
    out = torch.zeros_like(x)
    total = torch.zeros((1, 1, h, w), dtype=x.dtype, device=x.device)
    for t in parts:  # pass 2: transform with those statistics, decode, feather in
        f = encode(t.crop(x))
        y = decode(transform(flat_features(f), stats).view(f.shape)).clamp_(0, 1)
        del f
        wt = feather(t, margin).to(y)
        t.crop(out).add_(y * wt)
        t.crop(total).add_(wt)
    return out.div_(total)
