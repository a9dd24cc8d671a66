"""Big images in tiles: the cores partition the picture, the feathering sums to one, statistics merge exactly,
and a tiled stylization matches the whole-image one without seams."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import smooth_image

import wct
from wct.errors import InputError
from wct.tiling import Moments, feather, tiles
from wct.transform import mean_and_covariance


@pytest.mark.parametrize(("h", "w", "core"), [(512, 512, 256), (1040, 784, 256), (480, 2000, 512), (208, 144, 256)])
def test_cores_partition_the_image_and_weights_sum_to_one(h, w, core):
    margin = 64
    cover = torch.zeros(h, w)
    total = torch.zeros(h, w)
    for t in tiles(h, w, core, margin):
        assert t.y0 % 16 == t.x0 % 16 == t.cy0 % 16 == t.cx0 % 16 == 0
        assert 0 <= t.y0 <= t.cy0 < t.cy1 <= t.y1 <= h and 0 <= t.x0 <= t.cx0 < t.cx1 <= t.x1 <= w
        assert t.cy0 - t.y0 <= margin and t.y1 - t.cy1 <= margin
        cover[t.cy0 : t.cy1, t.cx0 : t.cx1] += 1
        total[t.y0 : t.y1, t.x0 : t.x1] += feather(t, margin)[0, 0]
    assert torch.equal(cover, torch.ones(h, w))  # every pixel in exactly one core
    assert torch.allclose(total, torch.ones(h, w), atol=1e-5)


def test_statistics_merged_from_parts_equal_the_whole():
    torch.manual_seed(0)
    f = torch.randn(2, 8, 1000) * 5 + 30  # an offset mean, as ReLU features have
    moments = Moments()
    for part in torch.split(f, [1, 300, 99, 600], dim=-1):
        moments.add(part)
    mean, cov = moments.result()
    want_mean, want_cov = mean_and_covariance(f)
    assert torch.allclose(mean, want_mean, atol=1e-5)
    assert torch.allclose(cov, want_cov, rtol=1e-5, atol=1e-5)


def test_a_tiled_stylization_matches_the_whole_image_without_seams(model):
    content = smooth_image(512, 768, seed=7)
    style = model.compute_style(smooth_image(128, 128, seed=8), levels=["relu3_1", "relu2_1", "relu1_1"])
    kw = dict(levels=["relu3_1", "relu2_1", "relu1_1"], max_size=None, alpha=0.8)
    whole = np.asarray(model.stylize(content, style, **kw)).astype(float)
    tiled = np.asarray(model.stylize(content, style, tile_size=256, **kw)).astype(float)
    diff = np.abs(whole - tiled).mean(axis=-1)
    assert diff.mean() < 1.0  # out of 255
    # no seams: along the tile borders (every 256 px) the difference is no worse than elsewhere
    borders = np.concatenate([diff[:, 250:262].ravel(), diff[:, 506:518].ravel(), diff[250:262].ravel()])
    assert borders.mean() < 2.0 * diff.mean() + 0.5


def test_tiles_are_automatic_only_above_the_threshold(model, monkeypatch):
    seen = []
    monkeypatch.setattr(wct.levels, "run_level_tiled", lambda x, lv, core, **kw: seen.append(core) or x)
    monkeypatch.setattr(wct.levels, "TILE_ABOVE", 300 * 300)
    monkeypatch.setattr(wct.levels, "DEFAULT_TILE_SIZE", 256)
    content = smooth_image(320, 320, seed=9)
    model.stylize(content, content, levels=[1], max_size=None)
    assert seen == [256]
    seen.clear()
    model.stylize(content, content, levels=[1], max_size=160)
    assert seen == []  # small: the whole image at once
    model.stylize(content, content, levels=[1], max_size=None, tile_size=0)
    assert seen == []  # 0: never
    model.stylize(content, [content], masks=[np.ones((320, 320))], levels=[1], max_size=None)
    assert seen == []  # masks need the whole image's regions: no tiles


@pytest.mark.parametrize("bad", [100, 250, 1000, -16, 2.5, True, "big"])
def test_bad_tile_sizes_are_refused(model, content_array, bad):
    with pytest.raises(InputError, match="tile_size"):
        model.stylize(content_array, content_array, tile_size=bad)


def test_explicit_tiles_with_masks_are_refused(model):
    content = smooth_image(320, 320, seed=9)
    with pytest.raises(InputError, match="masks"):
        model.stylize(content, [content], masks=[np.ones((320, 320))], levels=[1], max_size=None, tile_size=256)


def test_a_batch_in_tiles_equals_each_image_in_tiles(model):
    """Each image of a batch is whitened with its own statistics, gathered over its own tiles."""
    contents = [smooth_image(320, 288, seed=s) for s in (10, 11)]
    style = model.compute_style(smooth_image(96, 96, seed=12), levels=["relu2_1", "relu1_1"])
    kw = dict(levels=["relu2_1", "relu1_1"], max_size=None, tile_size=256)
    batch = model.stylize_batch(contents, style, batch_size=2, **kw)
    for content, got in zip(contents, batch):
        alone = model.stylize(content, style, **kw)
        assert np.abs(np.asarray(got).astype(int) - np.asarray(alone).astype(int)).max() <= 1
