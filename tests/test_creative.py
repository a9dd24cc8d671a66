"""Creative controls: spatial masks, colour preservation, per-level mixing and strength,
Wasserstein blending, texture synthesis, preview, and their CLI flags."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from PIL import Image

import wct
from wct.checks import level_weights
from wct.cli import main, parse_level_values
from wct.color import keep_luminance, match_color, rgb_to_ycbcr, ycbcr_to_rgb
from wct.masks import mask_to_tensor, masks_at, prepare_masks
from wct.style import Style
from wct.transform import (
    blend_linear,
    blend_wasserstein,
    coloring_matrix,
    masked_wct,
    mean_and_covariance,
    psd_power,
    wasserstein_barycenter,
    weighted_mean_and_covariance,
)
from wct.transform import wct as wct_transform

F64 = torch.float64


def correlated(c: int, n: int, seed: int, scale: float = 1.0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    mix = torch.randn(c, c, generator=g, dtype=F64)
    return (mix @ torch.randn(c, n, generator=g, dtype=F64) + torch.randn(c, 1, generator=g, dtype=F64) * 3) * scale


def sqrtm(c: torch.Tensor) -> torch.Tensor:
    """The symmetric square root without the RTOL cut (the products below are ill-conditioned)."""
    return psd_power(c, 0.5, 1e-12)


def spd(c: int, seed: int) -> torch.Tensor:
    return mean_and_covariance(correlated(c, 4 * c, seed))[1]


def to_t(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(a).permute(2, 0, 1).float()[None] / 255


# ----- weighted statistics and spatial control (transform level) ---------------------------------------------


def test_weighted_statistics_reduce_to_the_plain_ones_and_to_the_selected_positions():
    f = correlated(6, 500, seed=1)
    mean, cov = mean_and_covariance(f)
    w_mean, w_cov = weighted_mean_and_covariance(f, torch.ones(500, dtype=F64))
    assert torch.allclose(w_mean, mean, atol=1e-12) and torch.allclose(w_cov, cov, atol=1e-10)
    hard = (torch.arange(500) % 3 == 0).double()
    sub_mean, sub_cov = mean_and_covariance(f[:, hard.bool()])
    w_mean, w_cov = weighted_mean_and_covariance(f, hard)
    assert torch.allclose(w_mean, sub_mean, atol=1e-12) and torch.allclose(w_cov, sub_cov, atol=1e-10)
    for empty in (torch.zeros(500, dtype=F64), torch.eye(500, dtype=F64)[7]):  # nothing; a single position
        m, c = weighted_mean_and_covariance(f, empty)
        assert torch.isfinite(m).all() and torch.isfinite(c).all() and not c.any()


def test_each_masked_region_takes_its_own_style_statistics():
    c, n = 8, 4000
    content = correlated(c, n, seed=2)
    left = torch.zeros(n, dtype=F64)
    left[: n // 2] = 1
    masks = torch.stack([left, 1 - left])  # hard half/half
    styles = [mean_and_covariance(correlated(c, 3000, seed=s, scale=k)) for s, k in ((3, 1.0), (4, 5.0))]
    means, colors = [m[:, 0] for m, _ in styles], [coloring_matrix(cv) for _, cv in styles]
    out = masked_wct(content, masks, means, colors)
    for region, (s_mean, s_cov) in zip(masks.bool(), styles):
        o_mean, o_cov = mean_and_covariance(out[:, region])
        assert torch.allclose(o_mean, s_mean, atol=1e-8)
        assert torch.allclose(o_cov, s_cov, atol=1e-8 * float(s_cov.abs().max()))


def test_one_all_ones_mask_is_plain_wct_and_alpha_mixes_as_usual():
    content = correlated(8, 600, seed=5).float()
    s_mean, s_cov = mean_and_covariance(correlated(8, 700, seed=6))
    s_color = coloring_matrix(s_cov)
    ones = torch.ones(1, 600)
    for alpha in (1.0, 0.4):
        plain = wct_transform(content, s_mean[:, 0], s_color, alpha)
        masked = masked_wct(content, ones, [s_mean[:, 0]], [s_color], alpha)
        assert torch.allclose(masked, plain, atol=1e-4 * float(plain.abs().max()))


def test_empty_regions_stay_finite_and_uncovered_positions_keep_the_content():
    content = correlated(5, 200, seed=7).float()
    s = [mean_and_covariance(correlated(5, 300, seed=k)) for k in (8, 9)]
    means, colors = [m[:, 0] for m, _ in s], [coloring_matrix(c) for _, c in s]
    empty = torch.zeros(2, 200)
    assert torch.equal(masked_wct(content, empty, means, colors), content)
    one_pixel = torch.zeros(2, 200)
    one_pixel[0, 3] = 1.0  # region 1: a single position; region 2: nothing
    out = masked_wct(content, one_pixel, means, colors)
    assert torch.isfinite(out).all()
    assert torch.allclose(out[:, 3], means[0].float(), atol=1e-4)  # no covariance: the style's mean
    assert torch.equal(out[:, 4:], content[:, 4:])


def test_masks_are_resized_per_level_and_soft_values_kept():
    m = torch.zeros(2, 32, 48)
    m[0, :, :24] = 1
    m[1, :, 24:] = 0.5
    at = masks_at(m, (4, 6))
    assert at.shape == (2, 24)
    assert torch.allclose(at[0].view(4, 6)[:, :3], torch.ones(4, 3)) and torch.allclose(
        at[1].view(4, 6)[:, 3:], torch.full((4, 3), 0.5)
    )


def test_mask_inputs_in_every_form(tmp_path):
    a = np.zeros((20, 30), dtype=np.uint8)
    a[:, :15] = 255
    Image.fromarray(a).save(tmp_path / "m.png")
    expected = torch.from_numpy(a.astype(np.float32) / 255)
    forms = (tmp_path / "m.png", str(tmp_path / "m.png"), Image.fromarray(a), Image.fromarray(a).convert("RGB"), a, a[..., None],
             a > 0, a.astype(np.float32) / 255, torch.from_numpy(a > 0), expected[None])  # fmt: skip
    for form in forms:
        assert torch.allclose(mask_to_tensor(form), expected, atol=1 / 255), type(form)


@pytest.mark.parametrize(
    "masks,match",
    [
        ([np.ones((72, 88))], r"expected one mask per style: 2 mask\(s\), got 1"),
        ([np.ones((72, 88)), np.ones((88, 72))], r"mask 2 is 72x88 .* expected masks with the content's aspect ratio"),
        ([np.ones((72, 88)), np.full((72, 88), 1.5)], r"mask 2 has values in \[1.5, 1.5\]; expected values in \[0, 1\]"),
        ([np.ones((72, 88)), np.ones((72, 88, 3))], "expected an HxW mask array"),
        ([np.ones((72, 88)), "nope"], "no such file"),
        ([np.ones((72, 88)), 3], "expected a mask path"),
    ],
)
def test_bad_masks_are_refused_clearly(masks, match):
    with pytest.raises(wct.InputError, match=match):
        prepare_masks(masks, 2, (72, 88), (72, 88), (80, 96))


# ----- spatial control through the API ------------------------------------------------------------------------


def test_one_all_ones_mask_reproduces_plain_stylization(random_model, content_array, style_array):
    kw = dict(alpha=1.0, levels=[3, 1], max_size=None)
    plain = random_model.stylize(content_array, style_array, **kw)
    masked = random_model.stylize(content_array, [style_array], masks=[np.ones((72, 88))], **kw)
    diff = np.abs(np.asarray(plain).astype(int) - np.asarray(masked).astype(int))
    assert diff.max() <= 2 and diff.mean() < 0.05  # equal but for rounding (one pixel off by 2 on an AMX Xeon)


def test_styles_without_a_mask_share_the_rest_of_the_picture(random_model, content_array, style_arrays):
    """masks=[left, None, None]: the left takes style 0; the rest is the blend of styles 1 and 2 by their weights,
    which equals giving that blend the complementary mask."""
    left = np.zeros((72, 88), dtype=np.float32)
    left[:, :44] = 1
    kw = dict(alpha=1.0, levels=[2, 1], max_size=None)
    rest = random_model.stylize(content_array, style_arrays, masks=[left, None, None], weights=[5, 1, 3], **kw)
    blend = random_model.blend(style_arrays[1:], [1, 3], levels=[2, 1])
    explicit = random_model.stylize(content_array, [style_arrays[0], blend], masks=[left, 1 - left], **kw)
    assert np.abs(np.asarray(rest).astype(int) - np.asarray(explicit).astype(int)).max() <= 1
    kept = random_model.stylize(content_array, style_arrays[:2], masks=[left, left], **kw)  # the right: no style
    right = slice(52, 88)
    assert np.abs(np.asarray(kept)[:, right].astype(int) - np.asarray(rest)[:, right].astype(int)).mean() > 2
    with pytest.raises(wct.InputError, match="mask 2 is empty"):
        random_model.stylize(content_array, style_arrays[:2], masks=[left, np.zeros((72, 88))], **kw)
    with pytest.raises(wct.InputError, match="needs at least one mask"):
        random_model.stylize(content_array, style_arrays[:2], masks=[None, None], **kw)


def test_the_cli_gives_the_rest_of_the_picture_to_the_rest_styles(capsys, tmp_path, cli_files, monkeypatch, random_model):
    from wct.cli import main

    monkeypatch.setattr("wct.load", lambda **kw: random_model)
    out = tmp_path / "o.png"
    argv = ["stylize", cli_files["content"], "-s", cli_files["a"], "-s", cli_files["b"], "--mask", cli_files["mask"],
            "--mask", "rest", "--levels", "1", "-o", str(out)]  # fmt: skip
    assert main(argv) == 0, capsys.readouterr().err
    want = random_model.stylize(cli_files["content"], [cli_files["a"], cli_files["b"]], masks=[cli_files["mask"], None],
                                levels=[1])  # fmt: skip
    assert np.abs(np.asarray(Image.open(out)).astype(int) - np.asarray(want).astype(int)).max() <= 1


def test_half_masks_style_each_half_and_tiny_regions_do_not_break(random_model, content_array, style_arrays):
    left = np.zeros((72, 88), dtype=np.float32)
    left[:, :44] = 1
    kw = dict(alpha=1.0, levels=[2], max_size=None)
    halves = np.asarray(random_model.stylize(content_array, style_arrays[:2], masks=[left, 1 - left], **kw)).astype(int)
    only_a = np.asarray(random_model.stylize(content_array, style_arrays[0], **kw)).astype(int)
    only_b = np.asarray(random_model.stylize(content_array, style_arrays[1], **kw)).astype(int)
    inner = slice(8, 36)  # away from the seam (the decoder's receptive field)
    assert np.abs(halves[:, inner] - only_a[:, inner]).mean() < np.abs(halves[:, inner] - only_b[:, inner]).mean()
    assert np.abs(halves[:, 52:80] - only_b[:, 52:80]).mean() < np.abs(halves[:, 52:80] - only_a[:, 52:80]).mean()
    speck = np.zeros((72, 88), dtype=np.float32)
    speck[0, 0] = 1  # vanishes at deep levels
    t = torch.from_numpy(content_array).permute(2, 0, 1).float() / 255
    out = random_model.stylize(t, style_arrays[:2], masks=[speck, 1 - speck], alpha=1.0, levels=[5, 1], max_size=None)
    assert torch.isfinite(out).all()


def test_masks_and_weights_together_are_refused(random_model, content_array, style_arrays):
    with pytest.raises(wct.InputError, match="weights must be None when masks are given"):
        random_model.stylize(content_array, style_arrays[:2], masks=[np.ones((72, 88))] * 2, weights=[1, 1])


# ----- colour preservation ---------------------------------------------------------------------------------


def test_ycbcr_round_trip():
    x = torch.rand(1, 3, 8, 9, dtype=F64)
    assert torch.allclose(ycbcr_to_rgb(rgb_to_ycbcr(x)), x, atol=1e-12)


def test_keep_luminance_keeps_the_content_chroma_exactly_and_stays_in_gamut():
    g = torch.Generator().manual_seed(0)
    stylized, content = torch.rand(1, 3, 16, 16, generator=g), torch.rand(1, 3, 16, 16, generator=g)
    out = keep_luminance(stylized, content)
    assert float(out.min()) >= 0 and float(out.max()) <= 1
    assert torch.allclose(rgb_to_ycbcr(out)[:, 1:], rgb_to_ycbcr(content)[:, 1:], atol=1e-5)
    gray = content.mean(1, keepdim=True).expand(-1, 3, -1, -1)  # no chroma: any luminance fits
    assert torch.allclose(rgb_to_ycbcr(keep_luminance(stylized, gray))[:, 0], rgb_to_ycbcr(stylized)[:, 0], atol=1e-5)


def test_match_color_gives_the_source_the_target_rgb_mean_and_covariance(style_array, content_array):
    src, tgt = to_t(style_array).double(), to_t(content_array).double()
    out = match_color(src, tgt)
    o_mean, o_cov = mean_and_covariance(out.flatten(2)[0])
    t_mean, t_cov = mean_and_covariance(tgt.flatten(2)[0])
    assert torch.allclose(o_mean, t_mean, atol=1e-9) and torch.allclose(o_cov, t_cov, atol=1e-9)
    flat = torch.full((1, 3, 4, 4), 0.3, dtype=F64)
    assert torch.allclose(match_color(flat, tgt), t_mean.view(1, 3, 1, 1).expand(1, 3, 4, 4))


def test_preserve_color_luminance_outputs_the_content_chroma(random_model, content_array, style_array):
    t = to_t(content_array)
    plain = random_model.stylize(t, style_array, alpha=1.0, levels=[2, 1], max_size=None)
    out = random_model.stylize(t, style_array, alpha=1.0, levels=[2, 1], max_size=None, preserve_color="luminance")
    assert torch.allclose(rgb_to_ycbcr(out)[:, 1:], rgb_to_ycbcr(t)[:, 1:], atol=1e-5)
    assert not torch.allclose(rgb_to_ycbcr(plain)[:, 1:], rgb_to_ycbcr(t)[:, 1:], atol=1e-2)


def test_preserve_color_histogram_stylizes_with_the_recoloured_style(random_model, content_array, style_array):
    kw = dict(alpha=1.0, levels=[2, 1], max_size=None)
    out = random_model.stylize(content_array, style_array, preserve_color="histogram", **kw)
    recoloured = match_color(to_t(style_array), to_t(content_array)).clamp(0, 1)
    assert np.array_equal(np.asarray(out), np.asarray(random_model.stylize(content_array, recoloured[0], **kw)))
    with pytest.raises(wct.InputError, match="needs images, got a precomputed Style"):
        random_model.stylize(content_array, random_model.compute_style(style_array), preserve_color="histogram")
    with pytest.raises(wct.InputError, match="preserve_color must be None, 'luminance' or 'histogram', got 'hue'"):
        random_model.stylize(content_array, style_array, preserve_color="hue")


# ----- per-level mixing and strength ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def two_styles(random_model, style_arrays) -> list[Style]:
    return [random_model.compute_style(a) for a in style_arrays[:2]]


def test_per_level_weights_change_only_the_levels_named(two_styles):
    a, b = two_styles
    plain = Style.blend([a, b], [0.3, 0.7])
    mixed = Style.blend([a, b], {"relu5_1": [1, 0], 4: [1, 0], "default": [0.3, 0.7]})
    for lv in ("relu5_1", "relu4_1"):
        assert torch.equal(mixed.color(lv), a.color(lv)) and torch.equal(mixed.mean(lv), a.mean(lv))
    for lv in ("relu3_1", "relu2_1", "relu1_1"):
        assert torch.equal(mixed.color(lv), plain.color(lv)) and torch.equal(mixed.mean(lv), plain.mean(lv))
    equal = Style.blend([a, b], {"relu1_1": [0, 1]})  # levels not named: equal weights
    assert torch.allclose(equal.color(3), Style.blend([a, b]).color(3)) and torch.equal(equal.color(1), b.color(1))


def test_per_level_weights_are_validated_with_the_level_named():
    assert level_weights({"relu2_1": [1, 3]}, 2, ("relu2_1", "relu1_1")) == {"relu2_1": [0.25, 0.75], "relu1_1": [0.5, 0.5]}
    with pytest.raises(wct.InputError, match="relu2_1: expected 2 weight"):
        level_weights({"relu2_1": [1]}, 2, ("relu2_1",))
    with pytest.raises(wct.InputError, match="unknown level 'relu8_1'"):
        level_weights({"relu8_1": [1, 1]}, 2, ("relu2_1",))


def test_compose_picks_each_level_from_its_style(two_styles):
    a, b = two_styles
    c = Style.compose({"relu5_1": a, "relu4_1": a}, default=b)
    assert c.levels == wct.LEVELS
    assert torch.equal(c.color(5), a.color(5)) and torch.equal(c.color(4), a.color(4)) and torch.equal(c.color(3), b.color(3))
    assert Style.compose({"relu2_1": b}).levels == ("relu2_1",)
    with pytest.raises(wct.InputError, match="the style picked for relu3_1 has no statistics for it; it has relu2_1"):
        Style.compose({"relu3_1": Style.compose({"relu2_1": b})})


def test_api_per_level_weights_match_composed_style(random_model, content_array, style_arrays, two_styles):
    kw = dict(alpha=1.0, levels=[3, 2, 1], max_size=None)
    picks = {"relu3_1": [1, 0], "default": [0, 1]}
    via_weights = random_model.stylize(content_array, style_arrays[:2], weights=picks, **kw)
    composed = Style.compose({"relu3_1": two_styles[0]}, default=two_styles[1])
    assert np.array_equal(np.asarray(via_weights), np.asarray(random_model.stylize(content_array, composed, **kw)))
    assert random_model.blend(style_arrays[:2], picks, levels=[3, 2]).levels == ("relu2_1", "relu3_1")


def test_alpha_per_level(random_model, content_array, style_array):
    kw = dict(levels=[3, 1], max_size=None)
    same = random_model.stylize(content_array, style_array, alpha={"default": 0.7}, **kw)
    assert np.array_equal(np.asarray(same), np.asarray(random_model.stylize(content_array, style_array, alpha=0.7, **kw)))
    per = random_model.stylize(content_array, style_array, alpha={"relu1_1": 0.0, "relu3_1": 1.0}, **kw)
    assert not np.array_equal(np.asarray(per), np.asarray(same))
    recon = random_model.stylize(content_array, style_array, alpha={"relu1_1": 0.0}, levels=[1], max_size=None)
    assert np.array_equal(np.asarray(recon), np.asarray(random_model.reconstruct(content_array, 1, max_size=None)))
    with pytest.raises(wct.InputError, match=r"relu3_1: alpha must be in \[0, 1\], got 2"):
        random_model.stylize(content_array, style_array, alpha={"relu3_1": 2}, **kw)


# ----- Wasserstein blending ---------------------------------------------------------------------------------


def test_wasserstein_equals_linear_for_commuting_covariances():
    q, _ = torch.linalg.qr(torch.randn(6, 6, generator=torch.Generator().manual_seed(0), dtype=F64))
    covs = [
        q @ torch.diag(torch.tensor(d, dtype=F64)) @ q.T for d in ([1, 2, 3, 4, 5, 6], [9, 1, 0.5, 2, 7, 3], [0.1, 4, 4, 1, 2, 8])
    ]
    colors, means = [coloring_matrix(c) for c in covs], [torch.randn(6, dtype=F64) for _ in covs]
    w = [0.2, 0.5, 0.3]
    lin_mean, lin_color = blend_linear(means, colors, w)
    w2_mean, w2_color = blend_wasserstein(means, colors, w)
    assert torch.allclose(w2_mean, lin_mean) and torch.allclose(w2_color, lin_color, atol=1e-9)


def test_wasserstein_of_one_style_and_of_identical_styles_is_that_style():
    c = coloring_matrix(spd(7, 1))
    m = torch.randn(7, dtype=F64)
    for means, colors, w in (([m], [c], [1.0]), ([m, m, m], [c, c, c], [0.2, 0.3, 0.5]), ([m, 2 * m], [c, 3 * c], [1.0, 0.0])):
        b_mean, b_color = blend_wasserstein(means, colors, w)
        assert torch.allclose(b_mean, m) and torch.allclose(b_color, c, atol=1e-9)


def test_wasserstein_barycenter_satisfies_the_fixed_point_and_mccann_for_two():
    covs, w = [spd(8, s) for s in (2, 3, 4)], [0.2, 0.3, 0.5]
    s = wasserstein_barycenter(covs, w)
    root = sqrtm(s)
    assert torch.allclose(sum(wi * sqrtm(root @ c @ root) for wi, c in zip(w, covs)), s, atol=1e-6 * float(s.norm()))
    # two Gaussians: the barycenter is McCann's interpolant ((1-t) I + t T) C0 ((1-t) I + t T), T the optimal map C0 -> C1
    c0, c1, t = covs[0], covs[1], 0.3
    r0, i0 = sqrtm(c0), psd_power(c0, -0.5, 1e-12)
    m = (1 - t) * torch.eye(8, dtype=F64) + t * (i0 @ sqrtm(r0 @ c1 @ r0) @ i0)
    assert torch.allclose(wasserstein_barycenter([c0, c1], [1 - t, t]), m @ c0 @ m, atol=1e-7 * float(c0.norm()))
    lin = blend_linear([torch.zeros(8)] * 3, [coloring_matrix(c) for c in covs], w)[1]
    assert not torch.allclose(coloring_matrix(s), lin, atol=1e-3)  # non-commuting: a different answer


def test_wasserstein_is_finite_for_rank_deficient_covariances():
    g = torch.Generator().manual_seed(5)
    covs = []
    for rank in (2, 3):
        a = torch.randn(6, rank, generator=g, dtype=F64)
        covs.append(a @ a.T)
    s = wasserstein_barycenter(covs, [0.5, 0.5])
    assert torch.isfinite(s).all() and torch.allclose(s, s.T)
    assert float(torch.linalg.eigvalsh(s)[0]) > -1e-9
    root = sqrtm(s)
    fixed = sum(0.5 * sqrtm(root @ c @ root) for c in covs)
    assert torch.allclose(fixed, s, atol=1e-5 * float(s.norm()))


def test_blend_method_through_the_api(random_model, style_arrays, two_styles):
    w2 = random_model.blend(style_arrays[:2], [1, 3], method="wasserstein", levels=[2, 1])
    lin = random_model.blend(style_arrays[:2], [1, 3], levels=[2, 1])
    assert w2.levels == ("relu1_1", "relu2_1") and not torch.allclose(w2.color(2), lin.color(2))
    assert torch.allclose(w2.mean(2), lin.mean(2))
    one_hot = Style.blend(two_styles, {"relu1_1": [0, 1], "default": [1, 0]}, method="wasserstein")
    assert torch.equal(one_hot.color(1), two_styles[1].color(1)) and torch.equal(one_hot.color(4), two_styles[0].color(4))
    with pytest.raises(wct.InputError, match="unknown blend method 'cubic'; expected one of 'linear', 'wasserstein'"):
        random_model.blend(style_arrays[:2], method="cubic")


# ----- texture synthesis and preview -------------------------------------------------------------------------


def test_texture_is_seeded_and_of_the_requested_size(random_model, style_array):
    kw = dict(levels=[3, 1])
    a = random_model.texture(style_array, size=(40, 24), seed=3, **kw)
    assert isinstance(a, Image.Image) and a.size == (40, 24)
    assert np.array_equal(np.asarray(a), np.asarray(random_model.texture(style_array, size=(40, 24), seed=3, **kw)))
    assert not np.array_equal(np.asarray(a), np.asarray(random_model.texture(style_array, size=(40, 24), seed=4, **kw)))
    assert random_model.texture(style_array, size=(70, 50), seed=0, iterations=2, **kw).size == (70, 50)
    assert random_model.texture(style_array, size=9, levels=[1]).size == (9, 9)
    for bad, match in (
        ({"size": (0, 5)}, "size must be"),
        ({"seed": -1}, "seed must be"),
        ({"iterations": 0}, "iterations must be"),
    ):
        with pytest.raises(wct.InputError, match=match):
            random_model.texture(style_array, **{"levels": [1], **bad})


def test_preview_runs_the_coarse_levels_at_a_small_size(random_model, style_array):
    seen = []
    big = np.zeros((300, 400, 3), dtype=np.uint8)
    out = random_model.stylize(big, style_array, preview=True, progress=lambda i, n, lv: seen.append(lv))
    assert out.size == (256, 192) and seen == ["relu5_1", "relu4_1", "relu3_1"]
    assert random_model.stylize(big, style_array, preview=True, max_size=128, levels=[1]).size == (128, 96)


# ----- command line -------------------------------------------------------------------------------------------


@pytest.fixture()
def cli_files(tmp_path, content_array, style_arrays, monkeypatch, random_model):
    monkeypatch.setattr("wct.load", lambda device=None, **kw: random_model)
    paths = {"content": tmp_path / "c.png", "a": tmp_path / "a.png", "b": tmp_path / "b.png", "mask": tmp_path / "m.png"}
    Image.fromarray(content_array).save(paths["content"])
    Image.fromarray(style_arrays[0]).save(paths["a"])
    Image.fromarray(style_arrays[1]).save(paths["b"])
    left = np.zeros((72, 88), dtype=np.uint8)
    left[:, :44] = 255
    Image.fromarray(left).save(paths["mask"])
    Image.fromarray(255 - left).save(tmp_path / "m2.png")
    paths["mask2"] = tmp_path / "m2.png"
    return {k: str(v) for k, v in paths.items()}


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_creative_flags_end_to_end(capsys, tmp_path, cli_files, random_model):
    f = cli_files
    cases = {
        "mask": ["-s", f["a"], "-s", f["b"], "--mask", f["mask"], "--mask", f["mask2"]],
        "luminance": ["-s", f["a"], "--preserve-color", "luminance"],
        "histogram": ["-s", f["a"], "-s", f["b"], "--preserve-color", "histogram", "--blend", "wasserstein"],
        "levels": ["-s", f["a"], "-s", f["b"], "--level-weights", "relu2_1=1,0", "--level-weights", "1=0,1",
                   "--level-alpha", "relu1_1=0.3"],
        "preview": ["-s", f["a"], "--preview"],
    }
    for name, extra in cases.items():
        out = tmp_path / f"{name}.png"
        levels = [] if name == "preview" else ["--levels", "relu2_1,relu1_1"]
        code, _, err = run(capsys, "stylize", f["content"], *extra, *levels, "-o", out)
        assert code == 0, (name, err)
        assert Image.open(out).size == (88, 72)
    # --level-weights is the same as the API's per-level weights
    api = random_model.stylize(f["content"], [f["a"], f["b"]], weights={"relu2_1": [1, 0], "relu1_1": [0, 1]},
                               alpha={"relu1_1": 0.3}, levels=[2, 1])  # fmt: skip
    assert np.array_equal(np.asarray(Image.open(tmp_path / "levels.png")), np.asarray(api))
    api = random_model.stylize(f["content"], [f["a"], f["b"]], masks=[f["mask"], f["mask2"]], levels=[2, 1])
    assert np.array_equal(np.asarray(Image.open(tmp_path / "mask.png")), np.asarray(api))


def test_cli_texture(capsys, tmp_path, cli_files):
    out = tmp_path / "t.png"
    code, stdout, err = run(capsys, "texture", cli_files["a"], "-o", out, "--size", "40x24", "--seed", "7", "--levels", "2,1")
    assert code == 0, err
    assert str(out) in stdout
    assert Image.open(out).size == (40, 24)
    again = tmp_path / "t2.png"
    assert run(capsys, "texture", cli_files["a"], "-o", again, "--size", "40x24", "--seed", "7", "--levels", "2,1")[0] == 0
    assert np.array_equal(np.asarray(Image.open(out)), np.asarray(Image.open(again)))
    mix = tmp_path / "mix.png"
    code, _, err = run(capsys, "texture", f"{cli_files['a']}:1", f"{cli_files['b']}:2", "--blend", "wasserstein", "--size", "32",
                       "--levels", "1", "-o", mix)  # fmt: skip
    assert code == 0, err
    assert Image.open(mix).size == (32, 32)


def test_cli_style_file_with_level_weights(capsys, tmp_path, cli_files, random_model):
    out = tmp_path / "s.safetensors"
    code, _, err = run(
        capsys, "style", cli_files["a"], cli_files["b"], "--level-weights", "relu5_1=1,0", "--levels", "5,1", "-o", out
    )
    assert code == 0, err
    s = wct.Style.load(out)
    a, b = (random_model.compute_style(cli_files[k], levels=[5, 1]) for k in "ab")
    assert s.levels == ("relu1_1", "relu5_1")
    assert torch.equal(s.color(5), a.color(5)) and torch.allclose(s.color(1), Style.blend([a, b]).color(1))


@pytest.mark.parametrize(
    "argv,match",
    [
        (["-s", "{a}", "-s", "{b}", "--level-weights", "relu5_1"], r"expected --level-weights LEVEL=VALUE\[,VALUE...\]"),
        (["-s", "{a}", "-s", "{b}", "--level-weights", "relu5_1=1"], "relu5_1: expected 2 weight"),
        (["-s", "{a}", "-s", "{b}", "--mask", "{mask}"], r"expected one --mask per -s style: 2 mask\(s\), got 1"),
        (["-s", "{a}:2", "-s", "{b}", "--mask", "{mask}", "--mask", "{mask2}"], "drop the :WEIGHT"),
        (["-s", "{a}", "--level-alpha", "relu1_1=3"], r"relu1_1: alpha must be in \[0, 1\]"),
    ],
)
def test_cli_creative_errors_are_one_line(capsys, tmp_path, cli_files, argv, match):
    argv = [a.format(**cli_files) for a in argv]
    code, _, err = run(capsys, "stylize", cli_files["content"], *argv, "--levels", "1", "-o", tmp_path / "o.png")
    assert code == 1 and err.startswith("wct: error: ") and err.count("\n") == 1
    assert re.search(match, err), err
    assert not (tmp_path / "o.png").exists()


def test_level_value_syntax():
    assert parse_level_values(["relu5_1=1,0", "3=0.5,0.5"], "--level-weights") == {"relu5_1": [1.0, 0.0], "3": [0.5, 0.5]}
    with pytest.raises(wct.InputError, match="got 'relu5_1=a,b'"):
        parse_level_values(["relu5_1=a,b"], "--level-weights")
