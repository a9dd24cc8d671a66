"""Edge-aware smoothing (wct.smoothing) as a specification: small generated images, both paths."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from wct.errors import InputError
from wct.smoothing import box_mean, guided_filter, matting_affinity, smooth, smooth_exact

PATHS = {
    "exact": lambda y, c: smooth(y, c, method="exact"),
    "fast": lambda y, c: smooth(y, c, method="fast"),
}
LEFT, RIGHT = (0.8, 0.3, 0.2), (0.1, 0.4, 0.7)


def two_regions(h: int = 24, w: int = 32) -> torch.Tensor:
    """A content photo of two flat colours meeting at a vertical edge at w // 2."""
    c = torch.empty(3, h, w)
    c[:, :, : w // 2] = torch.tensor(LEFT)[:, None, None]
    c[:, :, w // 2 :] = torch.tensor(RIGHT)[:, None, None]
    return c


def noise(shape: tuple[int, ...], seed: int, scale: float = 1.0) -> torch.Tensor:
    return scale * torch.randn(shape, generator=torch.Generator().manual_seed(seed))


def smooth_content(h: int, w: int, seed: int) -> torch.Tensor:
    """A photo-like smooth colourful image (3, h, w) in [0, 1]."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w] / max(h, w)
    def waves():
        return sum(
            np.sin(2 * np.pi * (rng.uniform(0.3, 2) * y + rng.uniform(0.3, 2) * x) + rng.uniform(0, 6)) for _ in range(3)
        )
    img = np.stack([waves() for _ in range(3)])
    return torch.from_numpy((img - img.min()) / np.ptp(img)).float()


def test_matting_affinity_is_levins_window_sum():
    c = torch.rand(3, 5, 6, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    img, eps = c.permute(1, 2, 0).numpy(), 1e-3
    expected = np.zeros((30, 30))
    for cy in range(1, 4):
        for cx in range(1, 5):  # every 3x3 window, one at a time
            idx = [(cy + dy) * 6 + cx + dx for dy in (-1, 0, 1) for dx in (-1, 0, 1)]
            colours = img.reshape(30, 3)[idx]
            dev = colours - colours.mean(0)
            inv = np.linalg.inv(dev.T @ dev / 9 + eps / 9 * np.eye(3))
            expected[np.ix_(idx, idx)] += (1 + dev @ inv @ dev.T) / 9
    got = matting_affinity(c, eps=eps).toarray()
    np.testing.assert_allclose(got, expected, atol=1e-10)
    counts = np.outer([1, 2, 3, 2, 1], [1, 2, 3, 3, 2, 1]).ravel()  # windows holding each pixel
    np.testing.assert_allclose(got.sum(1), counts, atol=1e-9)
    assert np.linalg.eigvalsh(got).min() > -1e-9  # positive semidefinite


@pytest.mark.parametrize("path", PATHS)
def test_a_constant_image_stays_constant(path):
    content = smooth_content(20, 28, seed=1)
    out = PATHS[path](torch.full((3, 20, 28), 0.4), content)
    assert (out - 0.4).abs().max() < 1e-5


@pytest.mark.parametrize("path", PATHS)
def test_a_flat_content_region_with_a_constant_input_stays_constant(path):
    content = two_regions()
    image = noise((3, 24, 32), seed=2).sigmoid()  # anything on the right ...
    image[:, :, :16] = torch.tensor([0.5, 0.6, 0.2])[:, None, None]  # ... constant on the left
    out = PATHS[path](image, content)
    assert (out[:, :, :16] - image[:, :, :16]).abs().max() < 1e-3  # however noisy its neighbour


@pytest.mark.parametrize("path", PATHS)
def test_strong_content_edges_survive(path):
    content = two_regions()
    image = (0.5 * content + 0.2 + noise((3, 24, 32), seed=3, scale=0.05)).clamp(0, 1)
    step = image[:, :, 16:].mean((1, 2)) - image[:, :, :16].mean((1, 2))  # (3,)
    out = PATHS[path](image, content)
    jump = (out[:, :, 16] - out[:, :, 15]).mean(1)  # across one pixel at the content's edge
    assert ((jump / step) > 0.9).all()
    blurred = box_mean(image, 3)  # what an edge-blind smoothing of a similar reach does
    assert (((blurred[:, :, 16] - blurred[:, :, 15]).mean(1) / step) < 0.3).all()


@pytest.mark.parametrize("path", PATHS)
def test_noise_inside_one_flat_content_region_is_smoothed(path):
    content = torch.full((3, 24, 32), 0.5)
    image = (0.5 + noise((3, 24, 32), seed=4, scale=0.1)).clamp(0, 1)
    out = PATHS[path](image, content)
    assert out.var() < 0.01 * image.var()
    assert (out.mean((1, 2)) - image.mean((1, 2))).abs().max() < 0.02  # smoothing keeps the colour


@pytest.mark.parametrize("path", PATHS)
def test_deterministic(path):
    content, image = smooth_content(30, 26, seed=5), smooth_content(30, 26, seed=6)
    assert torch.equal(PATHS[path](image, content), PATHS[path](image, content))


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("batched", [False, True])
def test_shape_dtype_and_range(path, dtype, batched):
    content, image = smooth_content(17, 23, seed=7), (1.4 * smooth_content(17, 23, seed=8) - 0.2).clamp(0, 1)
    if batched:
        content, image = content[None], image[None]
    out = PATHS[path](image.to(dtype), content.to(dtype))
    assert out.shape == image.shape and out.dtype == dtype
    assert out.min() >= 0 and out.max() <= 1


@pytest.mark.parametrize("path", [*PATHS, "auto"])
@pytest.mark.parametrize("size", [(1, 1), (2, 2), (1, 7), (3, 2)])
def test_tiny_and_flat_images_give_finite_results(path, size):
    rand = torch.rand(3, *size, generator=torch.Generator().manual_seed(9))
    for image, content in [(rand, rand), (rand, torch.zeros(3, *size)), (torch.ones(3, *size), torch.ones(3, *size))]:
        out = smooth(image, content, method=path)
        assert out.shape == image.shape and torch.isfinite(out).all()
    assert torch.allclose(smooth(torch.ones(3, *size), rand, method=path), torch.ones(3, *size))


def test_a_batch_is_smoothed_image_by_image():
    content, images = smooth_content(16, 20, seed=10), torch.stack([smooth_content(16, 20, seed=s) for s in (11, 12)])
    for run in PATHS.values():
        both = run(images, content[None])
        assert torch.allclose(both[1], run(images[1], content), atol=1e-6)


def test_box_mean_is_the_mean_over_clipped_windows():
    x = torch.rand(2, 9, 11, dtype=torch.float64, generator=torch.Generator().manual_seed(13))
    got = box_mean(x, 2)
    for i, j in [(0, 0), (4, 5), (8, 10), (1, 9)]:
        assert torch.allclose(got[:, i, j], x[:, max(0, i - 2) : i + 3, max(0, j - 2) : j + 3].mean((1, 2)))


def test_guided_filter_in_tiles_equals_the_whole_image():
    content, image = smooth_content(70, 90, seed=14), (smooth_content(70, 90, seed=15) + noise((3, 70, 90), 16, 0.1))
    whole = guided_filter(image.double(), content.double(), radius=4, eps=1e-4)
    tiled = guided_filter(image.double(), content.double(), radius=4, eps=1e-4, tile=16)  # 5 x 4 tiles, margins of 8
    assert torch.allclose(tiled, whole, rtol=0, atol=1e-10)


@pytest.mark.parametrize("guide", ["photo", "noisy black and white"])
def test_float32_inputs_are_filtered_in_float32_to_the_float64_result(guide):
    """float32 images (the stylized ones) are filtered in float32 at the default eps, within 0.1/255 of float64, also
    beside a hard black-white edge whose flat sides carry faint noise (where float32 variances cancel worst); below
    FLOAT32_EPS, where float32 would blow up there, float64 is used."""
    from wct.smoothing import FLOAT32_EPS

    g = torch.Generator().manual_seed(21)
    if guide == "photo":
        content = smooth_content(96, 128, seed=22)
    else:
        content = torch.cat([torch.zeros(3, 96, 64), torch.ones(3, 96, 64)], -1) + 1e-3 * torch.rand(3, 96, 128, generator=g)
    image = torch.rand(3, 96, 128, generator=g)
    for eps in (FLOAT32_EPS, FLOAT32_EPS / 10, 1.5e-8):
        want = guided_filter(image.double(), content.double(), eps=eps)
        got = guided_filter(image, content, eps=eps)
        assert got.dtype == torch.float32 and (got.double() - want).abs().max() < 0.1 / 255, eps


def test_exact_and_fast_agree_roughly_on_a_photo_like_image():
    content = smooth_content(48, 64, seed=17)
    image = (content.flip(0) * 0.8 + 0.1 + noise((3, 48, 64), 18, 0.05)).clamp(0, 1)  # a colour grade, with noise
    exact, fast = smooth(image, content, method="exact"), smooth(image, content, method="fast")
    assert (exact - fast).abs().mean() < 0.3 * (image - exact).abs().mean()


def test_refusals_say_what_was_expected():
    img = torch.rand(3, 8, 8)
    with pytest.raises(InputError, match="expected method 'auto', 'exact' or 'fast', got 'slow'"):
        smooth(img, img, method="slow")
    with pytest.raises(InputError, match=r"limited to 32 pixels.*got 8x8 = 64.*method='fast'"):
        smooth_exact(img, img, max_pixels=32)
    with pytest.raises(InputError, match="same size"):
        smooth(img, torch.rand(3, 8, 9))
    with pytest.raises(InputError, match="3 channels"):
        guided_filter(torch.rand(2, 8, 8), img)
    with pytest.raises(InputError, match="finite"):
        smooth(img, torch.full((3, 8, 8), float("nan")), method="fast")
    with pytest.raises(InputError, match="float tensor"):
        smooth((img * 255).to(torch.uint8), img)
    with pytest.raises(InputError, match="eps > 0"):
        guided_filter(img, img, eps=0.0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_tensors_give_the_cpu_result_on_cuda():
    content, image = smooth_content(40, 50, seed=19), smooth_content(40, 50, seed=20)
    for run in PATHS.values():
        out = run(image.cuda(), content.cuda())
        assert out.device.type == "cuda"
        assert torch.allclose(out.cpu(), run(image, content), atol=1e-5)
