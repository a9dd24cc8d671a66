"""Temporal coherence math: flow, warping, the consistency check, blending, statistics over time, flicker."""

from __future__ import annotations

import numpy as np
import pytest
import torch

pytest.importorskip("cv2", reason="temporal coherence needs the 'video' extra (OpenCV)")

import wct
from wct.temporal import (
    blend_warped,
    consistency_mask,
    ema,
    flicker,
    optical_flow,
    smoothed_statistics,
    warp,
    warped_difference,
)
from wct.transform import mean_and_covariance

H, W = 96, 128


def textured(seed: int = 0, margin: int = 16) -> np.ndarray:
    """A (H + 2 margin) x (W + 2 margin) x 3 float32 canvas of blurred noise: texture the flow can lock on to."""
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(seed)
    noise = rng.random((H + 2 * margin, W + 2 * margin, 3))
    img = gaussian_filter(noise, sigma=(2, 2, 0))
    return ((img - img.min()) / np.ptp(img)).astype(np.float32)


def pair(dx: int, dy: int, margin: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """(current, previous): the camera moved so that current[y, x] = previous[y - dy, x - dx]."""
    canvas = textured(margin=margin)
    previous = canvas[margin : margin + H, margin : margin + W]
    current = canvas[margin - dy : margin - dy + H, margin - dx : margin - dx + W]
    return current, previous


def test_warping_by_zero_flow_is_the_identity():
    img = textured()[:H, :W]
    assert np.allclose(warp(img, np.zeros((H, W, 2), np.float32)), img, atol=1e-6)
    as_uint8 = (img * 255).astype(np.uint8)
    assert np.allclose(warp(as_uint8, np.zeros((H, W, 2), np.float32)), as_uint8 / 255.0, atol=1e-6)  # uint8 in: [0, 1] out


def test_warping_by_a_whole_pixel_shift_moves_the_image():
    current, previous = pair(3, 2)
    flow = np.tile(np.array([-3.0, -2.0], np.float32), (H, W, 1))  # each current pixel came from 3 px left, 2 px up
    assert np.allclose(warp(previous, flow)[2:, 3:], current[2:, 3:], atol=1e-5)


@pytest.mark.parametrize(("dx", "dy"), [(3, 2), (-4, 1), (0, 0)])
def test_optical_flow_recovers_a_known_shift_within_a_pixel(dx, dy):
    current, previous = pair(dx, dy)
    flow = optical_flow(current, previous)
    assert flow.shape == (H, W, 2) and flow.dtype == np.float32
    inner = flow[16:-16, 16:-16]
    assert np.abs(inner[..., 0] + dx).mean() < 1.0 and np.abs(inner[..., 1] + dy).mean() < 1.0
    assert np.abs(warp(previous, flow) - current)[16:-16, 16:-16].mean() < 0.02  # the flow aligns the frames


def test_the_consistency_mask_accepts_flows_that_cancel_and_rejects_the_rest():
    back = np.tile(np.array([-3.0, -2.0], np.float32), (H, W, 1))
    fwd = -back
    mask = consistency_mask(back, fwd)
    assert mask.dtype == np.float32 and set(np.unique(mask)) <= {0.0, 1.0}
    assert mask[2:, 3:].all()  # consistent and inside the previous frame
    assert not mask[:2].any() and not mask[:, :3].any()  # pointing out of the previous frame: rejected
    assert not consistency_mask(back, back).any()  # forward and backward in the same direction: never consistent


def test_the_consistency_mask_rejects_occluded_pixels():
    """Where the previous frame's pixels moved elsewhere (the forward flow there does not come back), the current
    pixels tracked to them are disoccluded: rejected; the rest of the frame is kept."""
    back = np.tile(np.array([-3.0, 0.0], np.float32), (H, W, 1))
    fwd = -back
    fwd[40:60, 50:70] = (12.0, 5.0)  # this patch of the previous frame went somewhere else
    mask = consistency_mask(back, fwd)
    assert not mask[42:58, 55:72].any()  # the current pixels that map into the patch (x - 3 in 50..69)
    assert mask[10:30, 10:100].all() and mask[70:, 10:100].all()


def test_blending_with_strength_zero_or_mask_zero_returns_the_fresh_frame():
    fresh, warped = textured(1)[:H, :W], textured(2)[:H, :W]
    ones, zeros = np.ones((H, W), np.float32), np.zeros((H, W), np.float32)
    assert np.allclose(blend_warped(fresh, warped, ones, 0.0), fresh)
    assert np.allclose(blend_warped(fresh, warped, zeros, 1.0), fresh)
    assert np.allclose(blend_warped(fresh, warped, ones, 1.0), warped)
    assert np.allclose(blend_warped(fresh, warped, ones, 0.7), 0.3 * fresh + 0.7 * warped, atol=1e-6)
    for bad in (-0.1, 1.5):
        with pytest.raises(wct.InputError, match=r"blend strength must be in \[0, 1\]"):
            blend_warped(fresh, warped, ones, bad)


def test_the_moving_average_starts_at_the_first_value_and_mixes_by_momentum():
    a, b = torch.tensor([1.0, 2.0]), torch.tensor([3.0, 6.0])
    assert torch.equal(ema(None, b, 0.9), b)
    assert torch.equal(ema(a, b, 0.0), b)
    assert torch.allclose(ema(a, b, 0.25), 0.25 * a + 0.75 * b)


def test_smoothed_statistics_are_each_frames_own_without_momentum_and_carry_over_batches_with_it():
    torch.manual_seed(0)
    f = torch.randn(4, 5, 200, dtype=torch.float64) * torch.arange(1, 5, dtype=torch.float64).view(4, 1, 1)
    means, covs, _ = smoothed_statistics(f, None, 0.0)
    own_m, own_c = mean_and_covariance(f)
    assert torch.allclose(means, own_m) and torch.allclose(covs, own_c)
    whole_m, whole_c, whole_state = smoothed_statistics(f, None, 0.6)
    first_m, first_c, state = smoothed_statistics(f[:1], None, 0.6)
    rest_m, rest_c, end_state = smoothed_statistics(f[1:], state, 0.6)
    assert torch.allclose(torch.cat([first_m, rest_m]), whole_m) and torch.allclose(torch.cat([first_c, rest_c]), whole_c)
    assert torch.allclose(end_state[1], whole_state[1])
    assert torch.allclose(whole_m[1], 0.6 * own_m[0] + 0.4 * own_m[1])


def test_a_static_clip_does_not_flicker_and_a_changing_output_does():
    frame = (textured()[:H, :W] * 255).astype(np.uint8)
    still = [frame] * 4
    measured = flicker(still, still)
    assert measured.output == 0.0 and measured.input == 0.0 and measured.relative == 0.0
    blinking = [frame if t % 2 else 255 - frame for t in range(4)]  # the input is still: every pixel is tracked
    expected = np.abs(2 * frame.astype(np.float64) - 255).mean() / 255  # |frame - (255 - frame)| in [0, 1]
    assert flicker(blinking, still).output == pytest.approx(expected, rel=1e-4)


def test_flicker_follows_the_motion_of_the_input():
    """Frames that only move with the camera do not count as flicker; the same frames left in place do."""
    current, previous = pair(3, 2)
    inputs = [(previous * 255).astype(np.uint8), (current * 255).astype(np.uint8)]
    along = flicker(inputs, inputs)
    assert along.output < 0.03 and along.relative == pytest.approx(1.0)
    frozen = flicker([inputs[0], inputs[0]], inputs)
    assert frozen.output > 3 * along.output


def test_clips_of_unequal_length_or_size_are_refused():
    frame = np.zeros((H, W, 3), np.uint8)
    with pytest.raises(wct.InputError, match="as many output frames as input frames"):
        flicker([frame] * 3, [frame] * 2)
    with pytest.raises(wct.InputError, match="same size"):
        flicker([frame[:50]] * 2, [frame] * 2)
    with pytest.raises(wct.InputError, match="T >= 2 frames"):
        warped_difference([frame], [], [])
