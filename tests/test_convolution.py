"""The inference kernels (NNPACK on large maps, our Winograd or the library's on small ones) compute what the
library's direct convolutions compute, in whichever layout they choose."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from wct import convolution
from wct.decoder import Decoder
from wct.encoder import Encoder

needs_nnpack = pytest.mark.skipif(not convolution.nnpack_available(), reason="this PyTorch build has no NNPACK here")


def _relative_error(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max() / b.abs().max())


@pytest.fixture
def large_from_16_pixels(monkeypatch):
    """Small test maps count as large: they take the NNPACK path (whatever thread count an earlier test left)."""
    monkeypatch.setattr(convolution, "NNPACK_MIN_PIXELS", 16)
    monkeypatch.setattr(convolution, "_nnpack_threads", None)


@needs_nnpack
@pytest.mark.parametrize(
    ("n", "c", "k", "h", "w"), [(1, 3, 64, 20, 18), (2, 64, 64, 17, 30), (1, 128, 256, 12, 9), (2, 64, 3, 21, 10)]
)
def test_large_maps_run_nchw_with_the_same_result(large_from_16_pixels, n, c, k, h, w):
    torch.manual_seed(0)
    x = torch.randn(n, c, h, w).contiguous(memory_format=torch.channels_last) * 20  # arrives NHWC: converted
    same, valid = torch.nn.Conv2d(c, k, 3, padding=1), torch.nn.Conv2d(c, k, 3)
    with torch.no_grad():
        got_same = convolution.conv_same(x, same, relu=False)
        got_valid = convolution.conv_padded(x, valid, relu=True)
        want_same = F.conv2d(x, same.weight, same.bias, padding=1)
        want_valid = F.conv2d(x, valid.weight, valid.bias).relu()
    assert got_same.is_contiguous() and got_valid.is_contiguous()  # NCHW
    assert got_same.shape == want_same.shape and got_valid.shape == want_valid.shape
    assert _relative_error(got_same, want_same) < 1e-4
    assert _relative_error(got_valid, want_valid) < 1e-4


@needs_nnpack
def test_nnpack_on_large_maps_goes_in_bands_with_the_same_result(monkeypatch):
    """Bands of rows (bounding NNPACK's workspace) give the whole-map result, with and without zero padding."""
    torch.manual_seed(4)
    x = torch.randn(1, 64, 53, 20)
    for pad in (0, 1):
        conv = torch.nn.Conv2d(64, 64, 3, padding=pad)
        w = conv.weight.detach()
        with torch.no_grad():
            whole = convolution._nnpack(x, w, conv.bias, pad)
            monkeypatch.setattr(convolution, "_NNPACK_BAND", 1)  # 16 rows per band: four bands, the last short
            banded = convolution._nnpack(x, w, conv.bias, pad)
            monkeypatch.undo()
            want = F.conv2d(x, w, conv.bias, padding=pad)
        assert banded.shape == whole.shape == want.shape
        assert _relative_error(whole, want) < 1e-4
        assert _relative_error(banded, want) < 1e-4  # (Winograd tiles fall elsewhere in a band: other rounding)


def test_few_output_channels_in_bands_equal_the_direct_convolution(monkeypatch):
    """The to-RGB product (nine taps at every pixel, then shifted sums) in bands of rows, with and without bias."""
    monkeypatch.setattr(convolution, "_BAND_ROWS", 4)
    torch.manual_seed(1)
    x = torch.randn(2, 64, 13, 11)
    for conv in (torch.nn.Conv2d(64, 3, 3), torch.nn.Conv2d(64, 2, 3, bias=False)):
        with torch.no_grad():
            got = convolution._to_few_channels(x, conv)
            want = F.conv2d(x, conv.weight, conv.bias)
        assert _relative_error(got, want) < 1e-5


def test_small_maps_stay_nhwc_and_plain_modules_run_under_autograd(monkeypatch):
    monkeypatch.setattr(convolution, "NNPACK_MIN_PIXELS", 128 * 128)  # as on a CPU without AVX-512
    x = torch.randn(1, 64, 16, 16)
    conv = torch.nn.Conv2d(64, 128, 3, padding=1)
    with torch.no_grad():
        assert not convolution.nchw_here(x, 16 * 16)  # below the NNPACK size
        assert convolution.conv_same(x, conv, relu=False).is_contiguous(memory_format=torch.channels_last)
        assert convolution.nchw_here(x, 1 << 20) == convolution.nnpack_available()
        assert not convolution.nchw_here(x.double(), 1 << 20)
        with convolution.direct_only():
            assert not convolution.nchw_here(x, 1 << 20)
    assert not convolution.nchw_here(x, 1 << 20)  # autograd on: training uses the plain modules
    y = convolution.conv_same(x.requires_grad_(), conv, relu=True)
    y.sum().backward()
    assert x.grad is not None


def test_nnpack_is_left_alone_when_its_thread_pool_no_longer_fits(monkeypatch):
    """PyTorch sizes NNPACK's pool once; with another thread count now (a one-thread worker) the NHWC kernels run."""
    monkeypatch.setattr(convolution, "NNPACK_MIN_PIXELS", 128 * 128)
    x = torch.zeros(1, 64, 8, 8)
    with torch.no_grad():
        monkeypatch.setattr(convolution, "_nnpack_threads", torch.get_num_threads() + 1)
        assert not convolution.nchw_here(x, 1 << 20)
        monkeypatch.setattr(convolution, "_nnpack_threads", torch.get_num_threads())
        assert convolution.nchw_here(x, 1 << 20) == convolution.nnpack_available()


@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
def test_max_pooling_equals_the_library(layout):
    torch.manual_seed(2)
    for h, w in ((8, 6), (7, 9)):  # even sizes take the fast path on NCHW maps; odd ones the library's
        x = torch.randn(2, 5, h, w).contiguous(memory_format=layout)
        with torch.no_grad():
            assert torch.equal(convolution.max_pool2(x), F.max_pool2d(x, 2))


@needs_nnpack
def test_networks_compute_the_same_with_nnpack_as_with_direct_convolutions(large_from_16_pixels):
    """Encoder taps and decoder outputs agree however the layers are split between NCHW and NHWC kernels."""
    torch.manual_seed(3)
    enc, dec = Encoder(load=False), Decoder("relu3_1")
    rgb, f = torch.rand(2, 3, 48, 40), torch.rand(1, 256, 6, 5) * 2
    with torch.inference_mode():
        taps, image = enc(rgb, "relu4_1"), dec(f)
        with convolution.direct_only():
            taps_direct, image_direct = enc(rgb, "relu4_1"), dec(f)
    for lv in taps:
        assert _relative_error(taps[lv], taps_direct[lv]) < 1e-4, lv
    assert image.is_contiguous()
    assert _relative_error(image, image_direct) < 1e-4
