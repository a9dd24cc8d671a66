"""The shipped decoders: each file loads, matches its manifest, and reconstructs a test image well."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import wct
from wct.decoder import Decoder, decoder_layers, deepened, extra_from_metadata, reflect_pad1
from wct.image import fit_multiple, to_tensor
from wct.metrics import psnr
from wct.weights import ENCODER_ID, decoders_dir, safetensors_metadata

ASSETS = Path(__file__).resolve().parent.parent / "assets"
MANIFEST = json.loads((decoders_dir() / "MANIFEST.json").read_text())["decoders"]
BY_LEVEL = {e["level"]: e for e in MANIFEST}
# floors a few dB under what the shipped decoders reach on these images at 128 px (35.7, 32.8, 29.2, 23.0, 18.4)
PSNR_FLOOR = {"relu1_1": 33.0, "relu2_1": 30.5, "relu3_1": 27.0, "relu4_1": 20.5, "relu5_1": 15.5}


def test_all_five_levels_are_shipped():
    assert sorted(BY_LEVEL) == list(wct.LEVELS)


@pytest.mark.parametrize("entry", MANIFEST, ids=lambda e: e["level"])
def test_file_matches_its_manifest(entry):
    path = decoders_dir() / entry["file"]
    assert hashlib.sha256(path.read_bytes()).hexdigest() == entry["sha256"]
    assert entry["encoder"] == ENCODER_ID
    state = load_file(str(path))
    assert all(t.dtype == torch.float16 for t in state.values())
    dec = Decoder(entry["level"], extra_from_metadata(safetensors_metadata(path)))
    dec.load_state_dict({k: v.float() for k, v in state.items()}, strict=True)
    assert sum(p.numel() for p in dec.parameters()) == entry["parameters"]
    assert entry["images_seen"] > 0 and entry["steps"] > 0
    assert 0 < entry["heldout_ssim"] <= 1 and entry["heldout_psnr"] > 10


@pytest.mark.parametrize("level", list(BY_LEVEL))
def test_reconstructs_a_test_image_above_a_floor(model, level):
    scores = []
    for name in ("content_rocket.jpg", "content_coffee.jpg"):
        x = fit_multiple(to_tensor(ASSETS / name)[0], 128)
        y = torch.round(model.reconstruct(x, level, max_size=None) * 255) / 255
        scores.append(float(psnr(y, x)))
    assert sum(scores) / len(scores) > PSNR_FLOOR[level]


def test_extra_convs_follow_the_mirror_convs_they_name():
    convs = [(i, o) for op, i, o in decoder_layers("relu3_1", (0, 1)) if op == "conv"]
    assert convs == [(256, 128), (128, 128), (128, 128), (128, 128), (128, 64), (64, 64), (64, 3)]
    ops = [op for op, _, _ in decoder_layers("relu3_1", (0, 1))]
    assert ops.index("up") == 2  # the first extra conv works at the tap's resolution, before the upsampling
    with pytest.raises(ValueError, match=r"after the mirror's convs 0\.\.3"):
        decoder_layers("relu3_1", (4,))  # nothing may follow the RGB output layer


@pytest.mark.parametrize(("level", "extra"), [("relu1_1", (0,)), ("relu3_1", (0, 1))])
def test_a_deepened_decoder_computes_the_same_image(level, extra):
    torch.manual_seed(0)
    dec = Decoder(level)
    dec.scale.uniform_(0.5, 2.0)
    for m in dec.modules():
        if isinstance(m, torch.nn.Conv2d):
            m.bias.data.uniform_(-0.1, 0.1)
    deep = deepened(dec, extra)
    assert deep.extra == extra
    assert sum(p.numel() for p in deep.parameters()) > sum(p.numel() for p in dec.parameters())
    x = torch.rand(1, dec.in_channels, 6, 5) * 3
    with torch.no_grad():
        assert torch.allclose(deep(x), dec(x), atol=1e-5)  # the training graph
    with torch.inference_mode():
        assert torch.allclose(deep(x), dec(x), atol=1e-5)  # the fast inference path
    assert deepened(deep, (0,)).extra == extra


def test_a_damaged_decoder_is_refused(tmp_path):
    folder = tmp_path / "decoders"
    shutil.copytree(decoders_dir(), folder)
    entry = MANIFEST[0]
    data = bytearray((folder / entry["file"]).read_bytes())
    data[-10] ^= 0xFF
    (folder / entry["file"]).write_bytes(bytes(data))
    model = wct.load(device="cpu", decoders=folder)
    with pytest.raises(wct.WeightsError, match="SHA-256"):
        model.networks.decoder(entry["level"])
    (folder / entry["file"]).write_text("version https://git-lfs.github.com/spec/v1\noid sha256:0\nsize 9\n")
    with pytest.raises(wct.WeightsError, match="git-lfs"):
        wct.load(device="cpu", decoders=folder).networks.decoder(entry["level"])
    (folder / entry["file"]).unlink()
    with pytest.raises(wct.WeightsError, match="does not exist"):
        wct.load(device="cpu", decoders=folder).networks.decoder(entry["level"])


def test_the_fast_inference_path_computes_the_same_function():
    """Decoder inference (NHWC, upsampling fused into the padding) equals the plain modules used in training."""
    torch.manual_seed(0)
    for level in ("relu1_1", "relu3_1"):
        dec = Decoder(level)
        f = torch.rand(2, dec.in_channels, 5, 7) * 3
        with torch.no_grad():
            fast = dec(f)
            plain = dec.layers(f / dec.scale.view(1, -1, 1, 1))
        assert fast.shape == plain.shape == (2, 3, 5 * 2 ** (int(level[4]) - 1), 7 * 2 ** (int(level[4]) - 1))
        assert torch.allclose(fast, plain, atol=1e-5)
    x = torch.rand(1, 4, 3, 5)
    up = torch.nn.functional.interpolate(x, scale_factor=2)
    assert torch.equal(reflect_pad1(x, upsample=True), torch.nn.functional.pad(up, (1, 1, 1, 1), mode="reflect"))
    assert torch.equal(reflect_pad1(x), torch.nn.functional.pad(x, (1, 1, 1, 1), mode="reflect"))
    for layout in (torch.contiguous_format, torch.channels_last):  # either layout out, from either layout in
        for src in (x, x.contiguous(memory_format=torch.channels_last)):
            padded = reflect_pad1(src, upsample=True, memory_format=layout)
            assert padded.is_contiguous(memory_format=layout)
            assert torch.equal(padded, torch.nn.functional.pad(up, (1, 1, 1, 1), mode="reflect"))


def test_the_input_scale_folded_into_the_first_convolution_follows_the_scale():
    """Inference divides by the stored per-channel scale through the first convolution's weights, and notices a new scale."""
    torch.manual_seed(1)
    dec = Decoder("relu2_1")
    f = torch.rand(1, dec.in_channels, 6, 6) * 50
    for scale in (torch.rand(dec.in_channels) * 40 + 1, torch.rand(dec.in_channels) * 5 + 1):
        dec.scale.copy_(scale)
        with torch.no_grad():
            fast = dec(f)
            plain = dec.layers(f / scale.view(1, -1, 1, 1))
        assert torch.allclose(fast, plain, atol=1e-4)


LIGHT = decoders_dir() / "light"
LIGHT_MANIFEST = json.loads((LIGHT / "MANIFEST.json").read_text()) if (LIGHT / "MANIFEST.json").is_file() else None


@pytest.mark.skipif(LIGHT_MANIFEST is None, reason="the light model is not shipped in this checkout")
def test_the_light_model_is_shipped_whole_verified_and_small():
    """Encoder, embeddings and five decoders, each matching its manifest and trained for that encoder, under 10 MB in
    all (a Space carries it without LFS)."""
    encoder = LIGHT_MANIFEST["encoder"]
    files = [encoder["file"]] + [e["file"] for e in LIGHT_MANIFEST["decoders"]]
    assert sorted(e["level"] for e in LIGHT_MANIFEST["decoders"]) == list(wct.LEVELS)
    for entry in [encoder, *LIGHT_MANIFEST["decoders"]]:
        assert hashlib.sha256((LIGHT / entry["file"]).read_bytes()).hexdigest() == entry["sha256"]
    assert all(e["encoder"] == encoder["id"] == f"vgg16-light@{encoder['sha256'][:12]}" for e in LIGHT_MANIFEST["decoders"])
    assert sum((LIGHT / f).stat().st_size for f in files) < 10 * 2**20
    assert all(0 < v <= 1 for v in encoder["heldout_r2"].values())
    model = wct.load(model="light", device="cpu")
    x = fit_multiple(to_tensor(ASSETS / "content_coffee.jpg")[0], 128)
    for level in wct.LEVELS:
        y = torch.round(model.reconstruct(x, level, max_size=None) * 255) / 255
        assert float(psnr(y, x)) > LIGHT_PSNR_FLOOR[level], level


# floors a few dB under what the shipped light decoders reach on this image at 128 px
LIGHT_PSNR_FLOOR = {"relu1_1": 26.0, "relu2_1": 22.0, "relu3_1": 18.0, "relu4_1": 15.0, "relu5_1": 12.0}
