"""The math of the transform: whitening gives identity covariance, coloring gives the style's statistics."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from wct.transform import (
    RTOL,
    blend_linear,
    color,
    coloring_matrix,
    flat_features,
    mean_and_covariance,
    wct,
    wct_with_statistics,
    whiten,
    whitening_matrix,
)


def correlated(c: int, n: int, seed: int, dtype=torch.float64, scale: float = 1.0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    mix = torch.randn(c, c, generator=g, dtype=torch.float64)
    f = mix @ torch.randn(c, n, generator=g, dtype=torch.float64) + torch.randn(c, 1, generator=g, dtype=torch.float64) * 3
    return (f * scale).to(dtype)


@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-8), (torch.float32, 2e-4)])
def test_whitened_features_have_identity_covariance(dtype, tol):
    f = correlated(16, 4000, seed=0, dtype=dtype)
    w = whiten(f)
    mean, cov = mean_and_covariance(w)
    assert torch.allclose(mean, torch.zeros_like(mean), atol=tol * 10)
    assert torch.allclose(cov, torch.eye(16, dtype=torch.float64), atol=tol)


@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-8), (torch.float32, 1e-3)])
def test_colored_features_take_the_style_mean_and_covariance(dtype, tol):
    content, style = correlated(12, 3000, seed=1, dtype=dtype), correlated(12, 2000, seed=2, dtype=dtype)
    s_mean, s_cov = mean_and_covariance(style)
    out = wct(content, s_mean[:, 0], coloring_matrix(s_cov), alpha=1.0)
    o_mean, o_cov = mean_and_covariance(out)
    assert torch.allclose(o_mean, s_mean, rtol=tol, atol=tol)
    assert torch.allclose(o_cov, s_cov, rtol=tol, atol=tol * float(s_cov.abs().max()))


def test_coloring_matrix_is_the_symmetric_square_root():
    f = correlated(10, 500, seed=3)
    _, cov = mean_and_covariance(f)
    ref = scipy.linalg.sqrtm(cov.numpy()).real
    assert np.allclose(coloring_matrix(cov).numpy(), ref, atol=1e-8)
    assert np.allclose(whitening_matrix(cov).numpy(), np.linalg.inv(ref), atol=1e-6)


def test_whiten_then_color_equals_wct():
    content, style = correlated(8, 600, seed=4), correlated(8, 700, seed=5)
    s_mean, s_cov = mean_and_covariance(style)
    s_color = coloring_matrix(s_cov)
    assert torch.allclose(color(whiten(content), s_mean[:, 0], s_color), wct(content, s_mean[:, 0], s_color), atol=1e-9)


def test_alpha_mixes_transformed_and_original_features():
    content, style = correlated(8, 300, seed=6), correlated(8, 300, seed=7)
    s_mean, s_cov = mean_and_covariance(style)
    s_color = coloring_matrix(s_cov)
    full = wct(content, s_mean[:, 0], s_color, 1.0)
    assert torch.equal(wct(content, s_mean[:, 0], s_color, 0.0), content)
    assert torch.allclose(wct(content, s_mean[:, 0], s_color, 0.3), 0.3 * full + 0.7 * content, atol=1e-10)


def test_flat_style_gives_its_mean_everywhere():
    content = correlated(6, 200, seed=8, dtype=torch.float32)
    flat = torch.full((6, 50), 2.5)
    s_mean, s_cov = mean_and_covariance(flat)
    out = wct(content, s_mean[:, 0], coloring_matrix(s_cov))
    assert torch.isfinite(out).all()
    assert torch.allclose(out, torch.full_like(out, 2.5), atol=1e-5)


def test_flat_and_tiny_content_stay_finite():
    style = correlated(6, 200, seed=9, dtype=torch.float32)
    s_mean, s_cov = mean_and_covariance(style)
    s_color = coloring_matrix(s_cov)
    for content in (torch.zeros(6, 100), torch.ones(6, 1) * 7, correlated(6, 2, seed=10, dtype=torch.float32)):
        out = wct(content, s_mean[:, 0], s_color)
        assert torch.isfinite(out).all()


def test_rank_deficient_content_is_white_on_its_support():
    g = torch.Generator().manual_seed(11)
    f = torch.randn(10, 3, generator=g, dtype=torch.float64) @ torch.randn(3, 1000, generator=g, dtype=torch.float64)
    _, cov = mean_and_covariance(whiten(f))
    vals = torch.linalg.eigvalsh(cov)
    assert torch.allclose(vals[-3:], torch.ones(3, dtype=torch.float64), atol=1e-8)
    assert torch.allclose(vals[:-3], torch.zeros(7, dtype=torch.float64), atol=1e-8)


def test_eigenvalue_cut_is_relative_to_the_scale_of_the_features():
    f = correlated(8, 500, seed=12)
    for scale in (1e-6, 1.0, 1e6):
        w = whiten(f * scale)
        assert torch.allclose(w, whiten(f), atol=1e-6)


def test_same_input_same_output():
    f, s = correlated(32, 2000, seed=13, dtype=torch.float32), correlated(32, 1500, seed=14, dtype=torch.float32)
    s_mean, s_cov = mean_and_covariance(s)
    a = wct(f, s_mean[:, 0], coloring_matrix(s_cov), 0.6)
    b = wct(f.clone(), s_mean[:, 0].clone(), coloring_matrix(s_cov.clone()), 0.6)
    assert torch.equal(a, b)


def test_linear_blend_of_one_style_is_that_style_and_weights_mix_colored_features():
    content = correlated(6, 400, seed=15)
    styles = [mean_and_covariance(correlated(6, 300, seed=s)) for s in (16, 17)]
    means, colors = [m[:, 0] for m, _ in styles], [coloring_matrix(c) for _, c in styles]
    m, c = blend_linear(means[:1], colors[:1], [1.0])
    assert torch.equal(m, means[0]) and torch.equal(c, colors[0])
    m, c = blend_linear(means, colors, [0.25, 0.75])
    mixed = 0.25 * wct(content, means[0], colors[0]) + 0.75 * wct(content, means[1], colors[1])
    assert torch.allclose(wct(content, m, c), mixed, atol=1e-9)


def test_batched_features_match_one_by_one():
    fs = torch.stack([correlated(5, 300, seed=s) for s in (20, 21)])
    s_mean, s_cov = mean_and_covariance(correlated(5, 300, seed=22))
    s_color = coloring_matrix(s_cov)
    batched = wct(fs, s_mean[:, 0], s_color)
    assert torch.allclose(batched[1], wct(fs[1], s_mean[:, 0], s_color), atol=1e-10)


@settings(max_examples=40, deadline=None)
@given(
    c=st.integers(2, 24),
    n=st.integers(1, 400),
    rank=st.integers(1, 24),
    log_scale=st.floats(-4, 4),
    seed=st.integers(0, 10_000),
)
def test_property_finite_white_and_colored(c, n, rank, log_scale, seed):
    g = torch.Generator().manual_seed(seed)
    r = min(rank, c)
    scale = 10.0**log_scale
    f = (torch.randn(c, r, generator=g, dtype=torch.float64) @ torch.randn(r, n, generator=g, dtype=torch.float64)) * scale
    s = torch.randn(c, c, generator=g, dtype=torch.float64) @ torch.randn(c, 3 * c, generator=g, dtype=torch.float64) * scale
    s_mean, s_cov = mean_and_covariance(s)
    out = wct(f.float(), s_mean[:, 0].float(), coloring_matrix(s_cov).float())
    assert torch.isfinite(out).all()
    w = whiten(f)
    assert torch.isfinite(w).all()
    _, w_cov = mean_and_covariance(w)
    vals = torch.linalg.eigvalsh(w_cov)
    # every direction is either white (variance 1) or dropped (variance 0)
    assert bool(((vals - 1).abs() < 1e-6).logical_or(vals.abs() < 1e-6).all())
    f_vals = torch.linalg.eigvalsh(mean_and_covariance(f)[1])
    if n > c and f_vals[0] > 100 * RTOL * f_vals[-1]:  # full rank and resolvable: whitened covariance is the identity
        assert torch.allclose(w_cov, torch.eye(c, dtype=torch.float64), atol=1e-6)
        o_mean, o_cov = mean_and_covariance(wct(f, s_mean[:, 0], coloring_matrix(s_cov)))
        # coloring reproduces the style covariance up to the components below the eigenvalue cut
        assert torch.allclose(o_cov, s_cov, atol=2 * RTOL * float(torch.linalg.eigvalsh(s_cov)[-1]))
        assert torch.allclose(o_mean, s_mean, atol=1e-6 * (1 + float(s_mean.abs().max())))


def test_nhwc_maps_go_through_wct_without_copies_and_come_out_nhwc():
    """Features from the channels-last encoder: a flat view, the same result, and the layout kept for the decoder."""
    fmap = correlated(16, 12 * 10, seed=5, dtype=torch.float32).view(1, 16, 12, 10).contiguous(memory_format=torch.channels_last)
    flat = flat_features(fmap)
    assert flat.shape == (1, 16, 120) and flat.data_ptr() == fmap.data_ptr()
    s_mean, s_color = torch.randn(16), coloring_matrix(mean_and_covariance(correlated(16, 500, seed=6))[1])
    out = wct(flat, s_mean, s_color, 0.7)
    plain = wct(fmap.contiguous().flatten(2), s_mean, s_color, 0.7)
    assert torch.allclose(out, plain, rtol=1e-4, atol=1e-4)
    assert out.view(fmap.shape).is_contiguous(memory_format=torch.channels_last)
    assert flat_features(fmap.contiguous()).is_contiguous()  # NCHW maps: the plain flatten


def test_wct_with_the_features_own_statistics_is_wct():
    f = correlated(8, 400, seed=7, dtype=torch.float32)
    s_mean, s_color = torch.randn(8), coloring_matrix(mean_and_covariance(correlated(8, 300, seed=8))[1])
    mean, cov = mean_and_covariance(f)
    assert torch.allclose(wct_with_statistics(f, mean, cov, s_mean, s_color, 0.6), wct(f, s_mean, s_color, 0.6), atol=1e-4)
