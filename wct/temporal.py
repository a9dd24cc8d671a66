"""Temporal coherence for video as pure functions: optical flow, warping, occlusion masks, blending, flicker.

Per-frame WCT flickers: each frame is whitened with its own statistics, so small changes in the
content move the whole palette, and the decoders' textures do not follow the motion. Two remedies,
both in the spirit of Ruder et al., *Artistic style transfer for videos* (2016):

* the content statistics (mean, covariance) of each level are smoothed over time with an
  exponential moving average before whitening (``ema``, ``wct_with_statistics``);
* the previous output is warped to the current frame along the optical flow of the *input*
  (OpenCV's DIS flow) and blended in where the flow is reliable; disoccluded or wrongly tracked
  pixels, found by the forward-backward consistency check, keep the fresh result
  (``consistency_mask``, ``blend_warped``).

Flicker is measured as the mean warped difference between consecutive frames over the pixels the
flow tracks (``warped_difference``), and reported relative to the input's (``flicker``).

Images here are HxWx3 float32 arrays in [0, 1] (or uint8, converted); flows are HxWx2 float32
(dx, dy) in pixels, backward: ``flow[y, x]`` points from a pixel of the current frame to where it
was in the previous one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from .errors import InputError
from .extras import require
from .transform import mean_and_covariance, wct_with_statistics

__all__ = [
    "Flicker",
    "optical_flow",
    "warp",
    "consistency_mask",
    "blend_warped",
    "ema",
    "wct_with_statistics",
    "smooth_statistics",
    "smoothed_statistics",
    "motion",
    "warped_difference",
    "flicker",
]


def _float(img: np.ndarray) -> np.ndarray:
    """HxWx3 float32 in [0, 1] from uint8 or float."""
    return img.astype(np.float32) / 255.0 if img.dtype == np.uint8 else img.astype(np.float32)


def _gray8(img: np.ndarray) -> np.ndarray:
    """HxW uint8 luma, what the flow is computed on."""
    f = _float(img)
    return np.clip((0.299 * f[..., 0] + 0.587 * f[..., 1] + 0.114 * f[..., 2]) * 255.0 + 0.5, 0, 255).astype(np.uint8)


def optical_flow(current: np.ndarray, previous: np.ndarray) -> np.ndarray:
    """Backward flow HxWx2 from ``current`` to ``previous`` (OpenCV DIS, medium preset, variational refinement)."""
    cv2 = require("cv2")
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    h, w = current.shape[:2]
    dis.setPatchSize(max(4, min(8, h // 4, w // 4)))
    dis.setPatchStride(max(2, dis.getPatchSize() // 2))
    return dis.calc(_gray8(current), _gray8(previous), None)


def warp(image: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """``image`` (the previous frame) sampled at x + flow(x): aligned to the current frame; float32, edges replicated."""
    cv2 = require("cv2")
    h, w = flow.shape[:2]
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    src = _float(image)
    return cv2.remap(src, gx + flow[..., 0], gy + flow[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def consistency_mask(backward: np.ndarray, forward: np.ndarray) -> np.ndarray:
    """HxW float32 in {0, 1}: 1 where the backward flow (current -> previous) and the forward flow
    (previous -> current), followed there, cancel out (Sundaram et al. 2010; Ruder et al. 2016):
    ``|b + f(x + b)|² <= 0.01 (|b|² + |f(x + b)|²) + 0.5``; also 0 where x + b leaves the frame."""
    h, w = backward.shape[:2]
    f_at = warp(forward, backward)
    total = backward + f_at
    ok = (total**2).sum(-1) <= 0.01 * ((backward**2).sum(-1) + (f_at**2).sum(-1)) + 0.5
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    x, y = gx + backward[..., 0], gy + backward[..., 1]
    inside = (x >= 0) & (x <= w - 1) & (y >= 0) & (y <= h - 1)
    return (ok & inside).astype(np.float32)


def blend_warped(current: np.ndarray, warped: np.ndarray, mask: np.ndarray, strength: float) -> np.ndarray:
    """``current`` with ``strength`` x ``mask`` of the warped previous output blended in; float32 in [0, 1]."""
    if not 0.0 <= strength <= 1.0:
        raise InputError(f"the blend strength must be in [0, 1], got {strength}")
    m = (strength * mask)[..., None].astype(np.float32)
    return np.clip((1.0 - m) * _float(current) + m * _float(warped), 0.0, 1.0)


def ema(previous: torch.Tensor | None, value: torch.Tensor, momentum: float) -> torch.Tensor:
    """Exponential moving average: ``momentum * previous + (1 - momentum) * value``; the first value as is."""
    if previous is None or momentum == 0.0:
        return value
    return momentum * previous + (1.0 - momentum) * value


def smoothed_statistics(f: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None, momentum: float):
    """Per-frame statistics of features (B, C, N), smoothed in frame order from ``state``.

    Returns (means (B, C, 1), covs (B, C, C), new state): frame b uses the average of its own
    statistics and those of the frames before it, ``state`` carrying the average up to the frame
    before the batch (None at the start of a video).
    """
    return smooth_statistics(*mean_and_covariance(f), state, momentum)


def smooth_statistics(means: torch.Tensor, covs: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None, momentum: float):
    """``smoothed_statistics`` from per-frame means (B, C, 1) and covariances (B, C, C) already measured."""
    out_m, out_c = [], []
    for b in range(means.shape[0]):
        m = ema(None if state is None else state[0], means[b], momentum)
        c = ema(None if state is None else state[1], covs[b], momentum)
        state = (m, c)
        out_m.append(m)
        out_c.append(c)
    return torch.stack(out_m), torch.stack(out_c), state


@dataclass(frozen=True)
class Flicker:
    """Mean warped difference between consecutive frames: of the output, of the input, and their ratio."""

    output: float
    input: float

    @property
    def relative(self) -> float:
        """Output flicker over input flicker: 1 means the output changes along the motion as much as the input."""
        return self.output / max(self.input, 1e-12)


def warped_difference(frames: Sequence[np.ndarray], flows: Sequence[np.ndarray], masks: Sequence[np.ndarray]) -> float:
    """Mean over t of the mean |frame_t - warp(frame_t-1)| (RGB in [0, 1]) over the tracked pixels (mask 1)."""
    if len(frames) < 2 or len(flows) != len(frames) - 1 or len(masks) != len(flows):
        raise InputError(f"expected T >= 2 frames with T - 1 flows and masks, got {len(frames)}, {len(flows)}, {len(masks)}")
    errs = []
    for t in range(1, len(frames)):
        m = masks[t - 1]
        diff = np.abs(_float(frames[t]) - warp(frames[t - 1], flows[t - 1])).mean(-1)
        errs.append(float((diff * m).sum() / max(m.sum(), 1.0)))
    return float(np.mean(errs))


def motion(inputs: Sequence[np.ndarray]) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Backward flows and consistency masks between consecutive input frames (T - 1 of each)."""
    flows, masks = [], []
    for t in range(1, len(inputs)):
        back = optical_flow(inputs[t], inputs[t - 1])
        fwd = optical_flow(inputs[t - 1], inputs[t])
        flows.append(back)
        masks.append(consistency_mask(back, fwd))
    return flows, masks


def flicker(outputs: Sequence[np.ndarray], inputs: Sequence[np.ndarray]) -> Flicker:
    """Flicker of a stylized clip: its warped difference along the input's motion, next to the input's own."""
    if len(outputs) != len(inputs):
        raise InputError(f"expected as many output frames as input frames, got {len(outputs)} and {len(inputs)}")
    if any(o.shape[:2] != i.shape[:2] for o, i in zip(outputs, inputs)):
        raise InputError("output and input frames must have the same size; resize one to the other first")
    flows, masks = motion(inputs)
    return Flicker(warped_difference(outputs, flows, masks), warped_difference(inputs, flows, masks))
