"""The optimal-transport transform (Lu et al. 2019): the style's covariance with the least displacement, wherever WCT runs."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import smooth_image

import wct
from wct.transform import coloring_matrix, masked_wct, mean_and_covariance, ost_matrix, wct_matrix
from wct.transform import wct as wct_transform


def correlated(c: int, n: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    mix = torch.randn(c, c, generator=g, dtype=torch.float64)
    return mix @ torch.randn(c, n, generator=g, dtype=torch.float64) + torch.randn(c, 1, generator=g, dtype=torch.float64) * 3


def test_ost_output_takes_the_style_mean_and_covariance():
    content, style = correlated(12, 4000, seed=1), correlated(12, 3000, seed=2)
    s_mean, s_cov = mean_and_covariance(style)
    out = wct_transform(content, s_mean[:, 0], coloring_matrix(s_cov), 1.0, kind="ost")
    o_mean, o_cov = mean_and_covariance(out)
    assert torch.allclose(o_mean, s_mean, atol=1e-8)
    assert torch.allclose(o_cov, s_cov, atol=1e-8 * float(s_cov.abs().max()))


def test_ost_map_is_symmetric_and_moves_the_features_least():
    content, style = correlated(10, 3000, seed=3), correlated(10, 3000, seed=4)
    _, c_cov = mean_and_covariance(content)
    s_color = coloring_matrix(mean_and_covariance(style)[1])
    t = ost_matrix(c_cov, s_color)
    assert torch.allclose(t, t.T, atol=1e-10)
    assert torch.linalg.eigvalsh(t).min() > 0  # positive definite: the Brenier map of Gaussians
    centred = content - content.mean(dim=1, keepdim=True)
    moved = {name: (m @ centred - centred).pow(2).sum() for name, m in {"ost": t, "wct": wct_matrix(c_cov, s_color)}.items()}
    assert moved["ost"] < moved["wct"]


def test_ost_between_equal_statistics_is_the_identity():
    f = correlated(8, 2000, seed=5)
    _, cov = mean_and_covariance(f)
    assert torch.allclose(ost_matrix(cov, coloring_matrix(cov)), torch.eye(8, dtype=torch.float64), atol=1e-8)


def test_ost_of_flat_or_rank_deficient_content_stays_finite():
    s_mean, s_cov = mean_and_covariance(correlated(6, 500, seed=6))
    flat = torch.full((6, 300), 2.0, dtype=torch.float64)
    low_rank = torch.randn(6, 2, dtype=torch.float64) @ torch.randn(2, 300, dtype=torch.float64)
    for f in (flat, low_rank):
        out = wct_transform(f, s_mean[:, 0], coloring_matrix(s_cov), 1.0, kind="ost")
        assert torch.isfinite(out).all()
    assert torch.allclose(wct_transform(flat, s_mean[:, 0], coloring_matrix(s_cov), 1.0, kind="ost"), s_mean.expand(6, 300))


def test_masked_regions_take_their_style_covariance_with_ost():
    f = correlated(6, 4000, seed=7)
    masks = torch.zeros(2, 4000, dtype=torch.float64)
    masks[0, :2000], masks[1, 2000:] = 1, 1
    styles = [mean_and_covariance(correlated(6, 3000, seed=s)) for s in (8, 9)]
    out = masked_wct(f, masks, [m[:, 0] for m, _ in styles], [coloring_matrix(c) for _, c in styles], kind="ost")
    for k, (mean, cov) in enumerate(styles):
        o_mean, o_cov = mean_and_covariance(out[:, masks[k] > 0])
        assert torch.allclose(o_mean, mean, atol=1e-8) and torch.allclose(o_cov, cov, atol=1e-7 * float(cov.abs().max()))


def test_unknown_transforms_are_refused_in_one_line(random_model, content_array, style_array):
    with pytest.raises(wct.InputError, match=r"unknown transform 'wtc'; expected one of 'wct', 'ost'"):
        random_model.stylize(content_array, style_array, transform="wtc", levels=[1])


def test_ost_through_the_api_with_blends_masks_and_tiles(model, random_model, content_array, style_arrays):
    """transform="ost" runs wherever WCT does: a blend, masks, and tiles that match the whole image."""
    kw = dict(levels=[2, 1], transform="ost")
    two = style_arrays[:2]
    blended = np.asarray(random_model.stylize(content_array, two, weights=[1, 2], **kw))
    plain = np.asarray(random_model.stylize(content_array, two, weights=[1, 2], levels=[2, 1], transform="wct"))
    assert blended.shape == plain.shape and np.abs(blended.astype(int) - plain).mean() > 0.5  # not WCT's picture
    h, w = content_array.shape[:2]
    left = np.zeros((h, w), dtype=np.float32)
    left[:, : w // 2] = 1
    masked = random_model.stylize(content_array, two, masks=[left, 1 - left], **kw)
    assert np.isfinite(np.asarray(masked, dtype=float)).all()
    content = smooth_image(320, 320, seed=9)
    whole = model.stylize(content, style_arrays[0], max_size=None, tile_size=0, **kw)
    tiled = model.stylize(content, style_arrays[0], max_size=None, tile_size=256, **kw)
    assert np.abs(np.asarray(whole, dtype=float) - np.asarray(tiled, dtype=float)).mean() < 1.0
