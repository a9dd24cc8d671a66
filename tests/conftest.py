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
