"""Shared fixtures: small generated images and models. Tests never read ../shared."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

import wct
from wct.decoder import Decoder
from wct.encoder import LEVELS


def smooth_image(h: int, w: int, seed: int) -> np.ndarray:
    """A colourful HxWx3 uint8 image: random blobs and stripes, smooth enough to look like a photo."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    img = np.zeros((h, w, 3))
    for c in range(3):
        for _ in range(4):
            fy, fx, ph = [*rng.uniform(0.5, 6, 2).tolist(), rng.uniform(0, 6.28)]
            img[..., c] += np.sin(2 * np.pi * (fy * y / h + fx * x / w) + ph)
    img = (img - img.min()) / (np.ptp(img) + 1e-9)
    return (img * 255).astype(np.uint8)


@pytest.fixture(scope="session")
def content_array() -> np.ndarray:
    return smooth_image(72, 88, seed=1)


@pytest.fixture(scope="session")
def style_array() -> np.ndarray:
    return smooth_image(64, 64, seed=2)


@pytest.fixture(scope="session")
def style_arrays() -> list[np.ndarray]:
    return [smooth_image(64, 80, seed=s) for s in (3, 4, 5)]


@pytest.fixture()
def content_path(tmp_path, content_array):
    p = tmp_path / "content.png"
    Image.fromarray(content_array).save(p)
    return p


@pytest.fixture()
def style_path(tmp_path, style_array):
    p = tmp_path / "style.png"
    Image.fromarray(style_array).save(p)
    return p


@pytest.fixture(scope="session")
def model() -> wct.Model:
    """The shipped model: real encoder, shipped decoders, on the CPU."""
    return wct.load(device="cpu")


@pytest.fixture(scope="session")
def random_model() -> wct.Model:
    """Real encoder with untrained (seeded) decoders, for properties that do not depend on training."""
    torch.manual_seed(0)
    return wct.load(device="cpu", decoders={lv: Decoder(lv) for lv in LEVELS})


@pytest.fixture(scope="module")
def one_torch_thread():
    """One torch thread for a module: tiny frames run many times faster so on a busy two-core machine, and a Ray
    worker with one CPU uses one (float sums then come in the same order on both sides of a comparison)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def write_light_model(folder, seed: int = 0):
    """A light model's folder as export ships it (float16 student encoder with its embeddings, decoders, MANIFEST.json),
    with seeded untrained weights: the real loading path, for properties that do not depend on training."""
    import hashlib
    import json

    from safetensors.torch import save_file

    from wct.encoder import LIGHT_DIVISOR, LIGHT_ID, VGG16_CFG, Encoder, TapEmbedding, tap_channels, vgg16_cfg

    torch.manual_seed(seed)
    folder.mkdir(parents=True, exist_ok=True)
    student = Encoder(load=False, cfg=vgg16_cfg(LIGHT_DIVISOR))
    embed = TapEmbedding(student.channels, tap_channels(VGG16_CFG))
    state = {f"convs.{k}": v for k, v in student.convs.state_dict().items()}
    state |= {f"embed.{k}": v for k, v in embed.state_dict().items()}
    save_file({k: v.half().contiguous() for k, v in state.items()}, str(folder / "encoder.safetensors"))
    digest = hashlib.sha256((folder / "encoder.safetensors").read_bytes()).hexdigest()
    ident = f"{LIGHT_ID}@{digest[:12]}"
    entries = []
    for lv in LEVELS:
        dec = Decoder(lv, stage_widths=tuple(student.channels.values()))
        dec.scale.fill_(20.0)  # the student's activations are of this order at any tap
        meta = {"level": lv, "encoder": ident, "stage_widths": ",".join(map(str, dec.stage_widths))}
        save_file({k: v.half().contiguous() for k, v in dec.state_dict().items()}, str(folder / f"{lv}.safetensors"), meta)
        sha = hashlib.sha256((folder / f"{lv}.safetensors").read_bytes()).hexdigest()
        entries.append({"level": lv, "file": f"{lv}.safetensors", "encoder": ident, "sha256": sha})
    manifest = {"encoder": {"file": "encoder.safetensors", "id": ident, "sha256": digest}, "decoders": entries}
    (folder / "MANIFEST.json").write_text(json.dumps(manifest))
    return folder


@pytest.fixture(scope="session")
def light_folder(tmp_path_factory):
    return write_light_model(tmp_path_factory.mktemp("light"))


@pytest.fixture(scope="session")
def random_light_model(light_folder) -> wct.Model:
    """The light model's architecture with seeded untrained weights, loaded as the shipped one is (checksums and all)."""
    return wct.load(model="light", device="cpu", decoders=light_folder)
