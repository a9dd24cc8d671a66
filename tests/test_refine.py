"""Refinement: optimisation steps on the stylized image that match the style's feature statistics and keep the content."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import smooth_image

import wct
from wct.encoder import LEVELS
from wct.refine import (
    CONTENT_LEVEL,
    MAX_SIDE,
    Refiner,
    Targets,
    compose,
    layout,
    layout_loss,
    layout_sigma,
    octaves,
    refine_image,
    schedule,
    statistics_loss,
)
from wct.transform import flat_features

CONTENT = smooth_image(72, 96, seed=11)
STYLES = [smooth_image(64, 64, seed=s) for s in (12, 13)]


def as_tensor(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.array(a)).permute(2, 0, 1)[None].float() / 255


def stats_loss(model: wct.Model, x: torch.Tensor, style: wct.Style, weight: torch.Tensor | None = None) -> float:
    """The sum over levels of ``statistics_loss`` of ``x``'s features against ``style`` (optionally over a region)."""
    taps = model.networks.encode(x, "relu5_1")
    total = 0.0
    for lv in LEVELS:
        f = flat_features(taps[lv])[0]
        w = None
        if weight is not None:
            w = torch.nn.functional.interpolate(weight[None, None], size=taps[lv].shape[-2:], mode="area").flatten()
        total += float(statistics_loss(f, style.mean(lv), style.covariance(lv), w))
    return total


def test_statistics_loss_is_zero_at_the_style_statistics_and_scale_free():
    g = torch.Generator().manual_seed(0)
    f = torch.randn(8, 8, generator=g) @ torch.randn(8, 500, generator=g) + 2
    mean, cov = f.mean(1), torch.cov(f)
    assert float(statistics_loss(f, mean, cov)) < 1e-10
    other = torch.randn(8, 500, generator=g)
    a = statistics_loss(other, mean, cov)
    assert float(a) > 0.1 and torch.isclose(statistics_loss(10 * other, 10 * mean, 100 * cov), a, rtol=1e-4)


def test_refinement_lowers_the_statistics_loss_it_minimises(random_model):
    style = random_model.compute_style(STYLES[0], levels=LEVELS)
    start = random_model.stylize(CONTENT, style, levels=[2, 1], max_size=None, alpha=0.6)
    refined = random_model.stylize(CONTENT, style, levels=[2, 1], max_size=None, alpha=0.6, refine=8)
    before = stats_loss(random_model, as_tensor(np.asarray(start)), style)
    after = stats_loss(random_model, as_tensor(np.asarray(refined)), style)
    assert after < 0.8 * before


def test_every_step_lowers_the_total_loss_on_average(random_model):
    style = random_model.compute_style(STYLES[0], levels=LEVELS)
    x = as_tensor(CONTENT)
    content = random_model.networks.features(x, CONTENT_LEVEL)[CONTENT_LEVEL]
    refiner = Refiner(random_model.networks.features, Targets([style], None, LEVELS, content.detach()))
    refiner.run(x, 6)
    assert refiner.losses[-1] < refiner.losses[0] and np.isfinite(refiner.losses).all()


def test_refined_output_keeps_size_range_and_kind(random_model):
    pil = random_model.stylize(CONTENT, STYLES[0], levels=[1], max_size=None, refine=2)
    assert pil.size == (96, 72)
    t = random_model.stylize(as_tensor(CONTENT)[0], STYLES[0], levels=[1], max_size=None, refine=2)
    assert t.shape == (3, 72, 96) and float(t.min()) >= 0 and float(t.max()) <= 1 and torch.isfinite(t).all()
    big = random_model.stylize(smooth_image(40, 200, seed=3), STYLES[0], levels=[1], max_size=100, refine=2)  # a wide strip
    assert big.size == random_model.stylize(smooth_image(40, 200, seed=3), STYLES[0], levels=[1], max_size=100).size


def test_refinement_is_deterministic(random_model):
    a = random_model.stylize(CONTENT, STYLES[0], levels=[1], max_size=None, refine=3)
    b = random_model.stylize(CONTENT, STYLES[0], levels=[1], max_size=None, refine=3)
    assert np.array_equal(np.asarray(a), np.asarray(b))


def test_refinement_of_a_blend_aims_at_the_blended_statistics(random_model):
    """A list of styles with weights refines toward the same statistics as the blended Style: the same picture."""
    blend = random_model.blend(STYLES, [1, 3], levels=LEVELS)
    by_list = random_model.stylize(CONTENT, STYLES, weights=[1, 3], levels=[1], max_size=None, refine=3)
    by_style = random_model.stylize(CONTENT, blend, levels=[1], max_size=None, refine=3)
    assert np.abs(np.asarray(by_list, dtype=int) - np.asarray(by_style, dtype=int)).max() <= 1


def test_refinement_honours_masks(random_model):
    """Each region moves toward its own style's statistics (and away from nothing else's)."""
    styles = [random_model.compute_style(s, levels=LEVELS) for s in STYLES]
    left = np.zeros((72, 96), dtype=np.float32)
    left[:, :48] = 1
    kw = dict(masks=[left, 1 - left], levels=[1], max_size=None)
    start = as_tensor(np.asarray(random_model.stylize(CONTENT, styles, **kw)))
    refined = as_tensor(np.asarray(random_model.stylize(CONTENT, styles, refine=6, **kw)))
    for k, region in enumerate((torch.from_numpy(left), torch.from_numpy(1 - left))):
        assert stats_loss(random_model, refined, styles[k], region) < stats_loss(random_model, start, styles[k], region)


def test_progress_reports_refine_steps_and_a_raise_stops_the_run(random_model):
    seen = []
    random_model.stylize(
        CONTENT, STYLES[0], levels=[2, 1], max_size=None, refine=3, progress=lambda d, n, lv: seen.append((d, n, lv))
    )
    assert seen == [(1, 5, "relu2_1"), (2, 5, "relu1_1"), (3, 5, "refine"), (4, 5, "refine"), (5, 5, "refine")]

    class Stop(Exception):
        pass

    def stop_at_refine(done, total, level):
        if level == "refine":
            raise Stop

    with pytest.raises(Stop):
        random_model.stylize(CONTENT, STYLES[0], levels=[1], max_size=None, refine=50, progress=stop_at_refine)


@pytest.mark.parametrize("bad", [-1, "x", 2.5, 10**6])
def test_bad_step_counts_are_refused_in_one_line(random_model, bad):
    with pytest.raises(wct.InputError, match=r"^refine must be a whole number in 0\.\.\d+, got") as info:
        random_model.stylize(CONTENT, STYLES[0], levels=[1], refine=bad)
    assert "\n" not in str(info.value)


def test_a_style_without_some_levels_refines_on_those_it_has(random_model):
    style = random_model.compute_style(STYLES[0], levels=[2, 1])
    out = random_model.stylize(CONTENT, style, levels=[2, 1], max_size=None, refine=2)
    assert np.isfinite(np.asarray(out, dtype=float)).all()


def test_schedule_runs_most_steps_at_half_size_and_caps_big_images():
    (coarse, n_coarse), (full, n_full) = schedule(20, (384, 512))
    assert coarse == (192, 256) and full == (384, 512) and n_coarse > n_full and n_coarse + n_full == 20
    assert schedule(20, (100, 60)) == [((100, 60), 20)]  # half would be too small to be worth a stage
    stages = schedule(10, (3000, 4000))
    assert max(stages[-1][0]) == MAX_SIDE and sum(n for _, n in stages) == 10


def test_refine_image_leaves_a_flat_matching_image_alone(random_model):
    """An image whose statistics already are the style's gains nothing to optimise: it stays put."""
    x = as_tensor(CONTENT)
    style = random_model.compute_style(CONTENT, levels=LEVELS, style_size=None)
    y = refine_image(random_model.networks.features, x, x, [style], 3)
    assert float((y - x).abs().mean()) < 2e-3


def test_layout_ignores_brightness_and_contrast_but_not_shapes():
    x = as_tensor(CONTENT)
    assert torch.allclose(layout(0.5 * x + 0.3, 2.0), layout(x, 2.0), atol=1e-4)
    assert float(layout_loss(0.5 * x + 0.3, layout(x, 2.0), 2.0)) < 1e-6
    flipped = torch.flip(x, dims=[-1])
    assert float(layout_loss(flipped, layout(x, 2.0), 2.0)) > 0.1
    flat = torch.full_like(x, 0.4)
    assert torch.isfinite(layout(flat, 2.0)).all() and float(layout(flat, 2.0).abs().max()) < 1e-2


def test_the_layout_term_keeps_more_of_the_photos_light(random_model):
    """With the layout term the refined picture's blurred luminance follows the photo's more closely than without."""
    style = random_model.compute_style(STYLES[1], levels=LEVELS)
    c = as_tensor(CONTENT)
    x = random_model.stylize(c[0], style, levels=[2, 1], max_size=None, alpha=1.0)[None]
    kept = refine_image(random_model.networks.features, x, c, [style], 8)
    free = refine_image(random_model.networks.features, x, c, [style], 8, layout_weight=0.0)
    sigma = layout_sigma(tuple(c.shape[-2:]))
    target = layout(c, sigma)
    assert float(layout_loss(kept, target, sigma)) < float(layout_loss(free, target, sigma))


def test_octaves_halve_in_size_start_at_the_image_and_compose_back_to_it():
    x = as_tensor(CONTENT)
    parts = octaves(x, 4)
    assert [tuple(p.shape[-2:]) for p in parts] == [(72, 96), (36, 48), (18, 24), (9, 12)]
    assert all(p.requires_grad and p.is_leaf for p in parts) and all(not p.detach().any() for p in parts[1:])
    assert torch.equal(compose(parts), x)
    assert len(octaves(x[..., :5, :], 4)) == 2  # no octave narrower than 2 px
    assert len(octaves(x, 1)) == 1  # the pixels alone: a plain Gatys loop


def test_a_coarse_octave_moves_a_broad_area_and_the_pixels_stay_put():
    parts = octaves(torch.zeros(1, 3, 16, 16), 3)
    with torch.no_grad():
        parts[2][..., 1, 1] = 1.0  # one pixel of the quarter-size octave
    y = compose(parts)
    assert int((y[0, 0] > 0).sum()) >= 16 and not parts[0].detach().any()


def test_octaves_reach_a_lower_loss_than_the_pixels_in_the_same_steps(random_model):
    style = random_model.compute_style(STYLES[0], levels=LEVELS)
    x = as_tensor(CONTENT)
    content = random_model.networks.features(x, CONTENT_LEVEL)[CONTENT_LEVEL].detach()
    ends = {}
    for count in (1, 4):
        refiner = Refiner(random_model.networks.features, Targets([style], None, LEVELS, content), pyramid=count)
        refiner.run(x, 8)
        ends[count] = refiner.losses[-1]
    assert ends[4] < ends[1]
