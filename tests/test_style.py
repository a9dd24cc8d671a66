"""Style statistics: computed once, saved and loaded safely, blended with validated weights."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

import wct
from wct.checks import normalize_weights
from wct.style import Style


@pytest.fixture(scope="module")
def style(random_model, style_array) -> Style:
    return random_model.compute_style(style_array, levels=[1, 2, 3, 4, 5])


def test_style_holds_mean_and_coloring_matrix_per_level(style, random_model, style_array):
    assert style.levels == wct.LEVELS
    taps = random_model.networks.encoder(torch.from_numpy(style_array).permute(2, 0, 1)[None].float() / 255)
    f = taps["relu3_1"].flatten(2)[0].double()
    assert torch.allclose(style.mean("relu3_1").double(), f.mean(1), rtol=1e-4, atol=1e-3)
    cov = torch.cov(f)
    assert torch.allclose(style.covariance("relu3_1"), cov, rtol=1e-3, atol=1e-3 * float(cov.abs().max()))


def test_save_and_load_round_trip(tmp_path, style):
    path = style.save(tmp_path / "s.safetensors")
    back = Style.load(path)
    assert back.levels == style.levels
    for lv in style.levels:
        assert torch.equal(back.mean(lv), style.mean(lv)) and torch.equal(back.color(lv), style.color(lv))


def test_loaded_style_files_are_validated(tmp_path, style):
    def write(tensors, meta, name):
        p = tmp_path / name
        save_file(tensors, str(p), metadata=meta)
        return p

    meta = {"format": "wct-style-1", "encoder": "vgg16-imagenet-keras", "levels": json.dumps(["relu1_1"])}
    ok = {"relu1_1.mean": style.mean(1), "relu1_1.color": style.color(1)}
    assert Style.load(write(ok, meta, "ok.safetensors")).levels == ("relu1_1",)
    cases = {
        "shapes": ({"relu1_1.mean": torch.zeros(3), "relu1_1.color": torch.zeros(3, 3)}, meta),
        "NaN": ({"relu1_1.mean": style.mean(1), "relu1_1.color": style.color(1) * float("nan")}, meta),
        "format": (ok, {**meta, "format": "other"}),
        "encoder": (ok, {**meta, "encoder": "vgg19"}),
        "unexpected tensor": ({**ok, "evil": torch.zeros(1)}, meta),
        "dtype": (
            {"relu1_1.mean": torch.zeros(64, dtype=torch.int32), "relu1_1.color": torch.zeros(64, 64, dtype=torch.int32)},
            meta,
        ),
    }
    for match, (tensors, m) in cases.items():
        with pytest.raises(wct.StyleFileError, match=match):
            Style.load(write(tensors, m, f"{match.replace(' ', '_')}.safetensors"))
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"\x00" * 100)
    with pytest.raises(wct.StyleFileError, match="not a valid"):
        Style.load(junk)
    pickle_like = tmp_path / "pickle.safetensors"
    pickle_like.write_bytes(b"\x80\x04\x95" + b"x" * 50)
    with pytest.raises(wct.StyleFileError):
        Style.load(pickle_like)


def test_blend_of_one_style_equals_that_style(style):
    one = Style.blend([style], [3.0])
    for lv in style.levels:
        assert torch.allclose(one.mean(lv), style.mean(lv)) and torch.allclose(one.color(lv), style.color(lv))


def test_api_blend_accepts_styles_paths_pil_and_arrays(random_model, style_arrays, tmp_path):
    from PIL import Image

    path = tmp_path / "a.png"
    Image.fromarray(style_arrays[0]).save(path)
    s1 = random_model.compute_style(style_arrays[1])
    mixed = random_model.blend([path, s1, Image.fromarray(style_arrays[2])], [1, 2, 1])
    a = random_model.compute_style(path)
    c = random_model.compute_style(style_arrays[2])
    expected = 0.25 * a.color(3) + 0.5 * s1.color(3) + 0.25 * c.color(3)
    assert torch.allclose(mixed.color(3), expected, atol=1e-5)


@pytest.mark.parametrize(
    "weights,count,match",
    [([1, -1], 2, ">= 0"), ([float("nan"), 1], 2, ">= 0"), ([0, 0], 2, "all zero"), ([1], 2, "expected 2 weight"),
     ([float("inf"), 1], 2, ">= 0"), (["x", 1], 2, "numbers")],
)  # fmt: skip
def test_weights_are_validated(weights, count, match):
    with pytest.raises(wct.InputError, match=match):
        normalize_weights(weights, count)


def test_weights_are_normalised():
    assert normalize_weights([1, 3], 2) == [0.25, 0.75]
    assert normalize_weights(None, 4) == [0.25] * 4
    assert np.isclose(sum(normalize_weights([1e-9, 2e-9, 5], 3)), 1.0)
