"""PSNR and SSIM, checked against scikit-image's reference implementations with the same settings."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import smooth_image

from wct.metrics import psnr, ssim

skimage_metrics = pytest.importorskip("skimage.metrics", reason="the reference metrics come with the 'test' extra")


def as_tensor(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(a).permute(2, 0, 1)[None].float()


def pairs() -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(name, x, y) HxWx3 float64 pairs in [0, 1]: noisy, another picture, the same, a contrast change; odd sizes too."""
    rng = np.random.default_rng(0)
    out = []
    for h, w, seed in ((40, 56, 1), (33, 47, 3)):
        x = smooth_image(h, w, seed) / 255.0
        out += [
            (f"noisy {h}x{w}", x, np.clip(x + rng.normal(0, 0.05, x.shape), 0, 1)),
            (f"other {h}x{w}", x, smooth_image(h, w, seed + 10) / 255.0),
            (f"same {h}x{w}", x, x),
            (f"contrast {h}x{w}", x, np.clip(0.7 * x + 0.1, 0, 1)),
        ]
    return out


@pytest.mark.parametrize(("name", "x", "y"), pairs(), ids=[p[0] for p in pairs()])
def test_ssim_equals_scikit_images_gaussian_ssim(name, x, y):
    """Wang et al.'s settings, as scikit-image spells them: Gaussian window (sigma 1.5, 11 taps), population
    covariance, data range 1, the mean over the window's valid region and the channels."""
    want = skimage_metrics.structural_similarity(
        x, y, channel_axis=-1, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=1.0
    )
    assert float(ssim(as_tensor(x), as_tensor(y))[0]) == pytest.approx(want, abs=2e-5)


DIFFERENT = [p for p in pairs() if not p[0].startswith("same")]  # (PSNR of identical images: infinite, clamped here)


@pytest.mark.parametrize(("name", "x", "y"), DIFFERENT, ids=[p[0] for p in DIFFERENT])
def test_psnr_equals_scikit_images(name, x, y):
    want = skimage_metrics.peak_signal_noise_ratio(x, y, data_range=1.0)
    assert float(psnr(as_tensor(x), as_tensor(y))[0]) == pytest.approx(want, abs=1e-3)


def test_both_measure_each_image_of_a_batch_on_its_own():
    _, x1, y1 = pairs()[0]
    _, x2, y2 = pairs()[1]
    x, y = torch.cat([as_tensor(x1), as_tensor(x2)]), torch.cat([as_tensor(y1), as_tensor(y2)])
    assert torch.allclose(ssim(x, y), torch.cat([ssim(as_tensor(x1), as_tensor(y1)), ssim(as_tensor(x2), as_tensor(y2))]))
    assert torch.allclose(psnr(x, y), torch.cat([psnr(as_tensor(x1), as_tensor(y1)), psnr(as_tensor(x2), as_tensor(y2))]))
