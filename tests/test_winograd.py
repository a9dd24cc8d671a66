"""Winograd F(4x4, 3x3) convolutions compute what the library's direct convolutions compute."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from wct import convolution, winograd
from wct.decoder import Decoder
from wct.encoder import Encoder


def _relative_error(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max() / b.abs().max())


@pytest.mark.parametrize(
    ("n", "c", "k", "h", "w"),
    [(1, 128, 64, 16, 16), (2, 64, 128, 17, 30), (1, 256, 256, 33, 9), (1, 8, 5, 3, 2)],
)
def test_equals_the_direct_convolution(n, c, k, h, w):
    """Any batch and size (whole tiles or not): the same outputs as F.conv2d to float32 rounding."""
    torch.manual_seed(0)
    x = torch.randn(n, c, h + 2, w + 2) * 50
    conv = torch.nn.Conv2d(c, k, 3)
    with torch.no_grad():
        want = F.conv2d(x, conv.weight, conv.bias)
        got = winograd.conv3x3(x.contiguous(memory_format=torch.channels_last), winograd.filters_of(conv), conv.bias)
        got_relu = winograd.conv3x3(x, winograd.filters_of(conv), conv.bias, relu=True)
        no_bias = winograd.conv3x3(x, winograd.filters_of(conv), None)
        unbiased = want - conv.bias.view(1, -1, 1, 1)
    assert got.shape == want.shape == (n, k, h, w)
    assert got.is_contiguous(memory_format=torch.channels_last)
    assert _relative_error(got, want) < 1e-4
    assert _relative_error(got_relu, want.relu()) < 1e-4
    assert _relative_error(no_bias, unbiased) < 1e-4


def test_big_maps_are_done_in_bands_with_the_same_result(monkeypatch):
    """Bands of tile rows (bounded extra memory) give what one pass gives."""
    torch.manual_seed(1)
    x = torch.randn(1, 64, 42, 38)
    conv = torch.nn.Conv2d(64, 96, 3)
    with torch.no_grad():
        one = winograd.conv3x3(x, winograd.filters_of(conv), conv.bias)
        monkeypatch.setattr(winograd, "_CHUNK", 1)
        monkeypatch.setattr(winograd, "_MIN_TILES", 1)
        banded = winograd.conv3x3(x, winograd.filters_of(conv), conv.bias)
    assert _relative_error(banded, one) < 1e-6


def test_the_filter_cache_follows_weight_changes():
    conv = torch.nn.Conv2d(64, 128, 3)
    first = winograd.filters_of(conv)
    assert winograd.filters_of(conv) is first  # cached
    with torch.no_grad():
        conv.weight.mul_(2)
    assert torch.allclose(winograd.filters_of(conv), 2 * first, rtol=1e-5)
    with torch.inference_mode():  # inference tensors keep no version counter: a reload must still be seen
        dec = Decoder("relu2_1")
        before = winograd.filters_of(dec.layers[1]).clone()
        dec.load_state_dict({k: v * 3 for k, v in dec.state_dict().items()})
        assert torch.allclose(winograd.filters_of(dec.layers[1]), 3 * before, rtol=1e-5)


def test_networks_compute_the_same_with_and_without_it():
    """Encoder taps and decoder outputs agree with the direct-convolution path."""
    torch.manual_seed(2)
    enc = Encoder(load=False)
    dec = Decoder("relu4_1")
    rgb = torch.rand(1, 3, 96, 80)
    f = torch.rand(1, 512, 20, 24) * 2
    with torch.inference_mode():
        taps = enc(rgb, "relu5_1")
        image = dec(f)
        with convolution.direct_only():
            taps_direct = enc(rgb, "relu5_1")
            image_direct = dec(f)
    for lv in taps:
        assert _relative_error(taps[lv], taps_direct[lv]) < 1e-4, lv
    assert _relative_error(image, image_direct) < 1e-4
