"""Video's temporal step: a pass's frames through the pipeline in one batch (``levels``, then the after-steps frame by
frame), each whitened with its own statistics or with statistics averaged over time, then the previous output warped
along the optical flow blended into the pixels the flow tracks."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch

from . import after, levels
from .levels import PlainStep, Stats, Step
from .networks import Networks
from .options import Options
from .prepare import frames_at
from .style import Style
from .temporal import blend_warped, consistency_mask, optical_flow, smooth_statistics, smoothed_statistics, warp
from .transform import flat_features

__all__ = ["TemporalStep", "FrameStylizer", "to_uint8"]


class TemporalStep:
    """``PlainStep`` over a pass's frames (B, C, h, w), with the content statistics averaged over time when
    ``momentum`` > 0 (the running state in ``stats``); in tiles, ``stats`` given to a call are the whole frames'."""

    tileable = True

    def __init__(self, style: Style, alphas: Mapping[str, float], momentum: float, transform: str) -> None:
        self.plain = PlainStep(style, alphas, transform)
        self.momentum = momentum
        self.stats: dict[str, Stats] = {}
        self._smoothed: dict[str, tuple] = {}  # level -> (whole frames' statistics from the tiles, smoothed)

    @property
    def style(self) -> Style:
        return self.plain.style

    def __call__(self, f: torch.Tensor, lv: str, stats: Stats | None = None) -> torch.Tensor:
        if self.momentum == 0.0:
            return self.plain(f, lv, stats)
        return self.plain(f, lv, self._statistics(flat_features(f), lv, stats))

    def _statistics(self, flat: torch.Tensor, lv: str, stats: Stats | None) -> Stats:
        """Each frame's statistics averaged over time; the tiles of one pass share them."""
        if stats is None:
            means, covs, self.stats[lv] = smoothed_statistics(flat, self.stats.get(lv), self.momentum)
            return means, covs
        cached = self._smoothed.get(lv)
        if cached is None or cached[0] is not stats:  # a new pass: smooth its statistics into the state once
            means, covs, self.stats[lv] = smooth_statistics(*stats, self.stats.get(lv), self.momentum)
            cached = self._smoothed[lv] = (stats, (means, covs))
        return cached[1]


def to_uint8(x: torch.Tensor) -> np.ndarray:
    """(3, h, w) in [0, 1] -> HxWx3 uint8."""
    return (x.clamp(0, 1).permute(1, 2, 0).float().cpu().numpy() * 255.0 + 0.5).astype(np.uint8)


class FrameStylizer:
    """Frames -> stylized frames (uint8, at the working ``size``), in order, carrying the temporal state (``step``'s
    statistics, the previous input and output) from call to call."""

    def __init__(self, networks: Networks, step: Step, options: Options, size: tuple[int, int], blend: float) -> None:
        self.networks, self.step, self.options, self.size, self.blend = networks, step, options, size, blend
        self.prev_in: np.ndarray | None = None  # the previous input and output frames at the working size
        self.prev_out: np.ndarray | None = None

    @property
    def stats(self) -> dict[str, Stats]:
        """The content statistics averaged over time so far, per level (none without momentum or with masks)."""
        return getattr(self.step, "stats", {})

    @stats.setter
    def stats(self, value: dict[str, Stats]) -> None:
        if isinstance(self.step, TemporalStep):
            self.step.stats = value

    def inputs(self, frames: Sequence[np.ndarray]) -> list[np.ndarray]:
        """The frames at the working size, as uint8 (what the optical flow compares)."""
        return [to_uint8(b) for b in frames_at(frames, self.size, torch.device("cpu"))[1]]

    def __call__(self, frames: Sequence[np.ndarray]) -> list[np.ndarray]:
        x, base = frames_at(frames, self.size, self.networks.device)
        h, w = self.size
        opts = self.options
        with torch.inference_mode():
            y = levels.run_levels(self.networks, x, opts.run_levels, self.step, tile_size=opts.tile_size)[..., :h, :w]
            y = torch.cat([after.after_levels(self.networks, y[j : j + 1], base[j : j + 1], self.step, opts)
                           for j in range(y.shape[0])])  # fmt: skip
        return [self._coherent(to_uint8(inp), to_uint8(styl)) for inp, styl in zip(base, y)]

    def _coherent(self, inp: np.ndarray, out: np.ndarray) -> np.ndarray:
        """``out`` with the previous output, warped along the flow from the previous input, blended in."""
        if self.blend > 0 and self.prev_out is not None:
            back, fwd = optical_flow(inp, self.prev_in), optical_flow(self.prev_in, inp)
            mixed = blend_warped(out, warp(self.prev_out, back), consistency_mask(back, fwd), self.blend)
            out = (mixed * 255.0 + 0.5).astype(np.uint8)
        self.prev_in, self.prev_out = inp, out
        return out
