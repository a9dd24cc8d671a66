"""Which kernel runs each 3x3 convolution at inference, and in which memory layout.

Large maps (the full- and half-resolution stages, where most of the arithmetic is) run NCHW through NNPACK's
Winograd convolutions, which PyTorch ships on x86-64 and ARM; smaller maps run NHWC through our F(4x4, 3x3)
(``winograd``) or the library's direct convolutions. Measured on 2 cores (benchmarks/speed.py): on an AVX2 CPU
NNPACK is 1.35x oneDNN on 64 -> 64 channels at 512x512 and beats our Winograd on maps of 128x128 and up; ours wins
on the deep, small maps. NNPACK has no AVX-512 kernels: on a CPU with AVX-512 the library's convolutions and ours
(over AVX-512 matrix products) beat it at every size (whole stylizations 1.2-1.4x faster without it on a Xeon
with AMX), so there it is not used. Everything here computes the same function as ``conv(x)`` (to float32 rounding);
training, autograd, autocast, ``torch.compile`` and other devices get the plain modules.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import nn

from . import winograd

__all__ = [
    "NNPACK_MIN_PIXELS",
    "nnpack_min_pixels",
    "conv_padded",
    "conv_same",
    "direct_only",
    "max_pool2",
    "nchw_here",
    "nnpack_available",
]


@functools.cache
def _avx512() -> bool:
    """Whether PyTorch runs AVX-512 kernels on this CPU (NNPACK, with AVX2 kernels only, then loses everywhere); the
    CPU is asked at the first convolution, not at import."""
    return torch.backends.cpu.get_cpu_capability().startswith("AVX512")


AUTO = -1
# output maps this large or larger run NCHW through NNPACK; None: never; AUTO: decided at the first convolution
# (128x128 on a CPU without AVX-512, never on one with it)
NNPACK_MIN_PIXELS: int | None = AUTO


def nnpack_min_pixels() -> int | None:
    """NNPACK_MIN_PIXELS, with AUTO resolved for this CPU."""
    if NNPACK_MIN_PIXELS == AUTO:
        return None if _avx512() else 128 * 128
    return NNPACK_MIN_PIXELS
_BAND_ROWS = 64  # output rows per product in ``_to_few_channels`` (bounds its temporary buffer)
_NNPACK_BAND = 1 << 26  # input or output elements per NNPACK call at most (256 MB in float32: 2048x2048 maps go in bands)
_enabled = True
_nnpack_threads: int | None = None  # PyTorch sizes NNPACK's thread pool once, at its first convolution


@contextlib.contextmanager
def direct_only() -> Iterator[None]:
    """Within this block the networks use the library's direct convolutions only (for comparisons)."""
    global _enabled
    before, _enabled = _enabled, False
    try:
        yield
    finally:
        _enabled = before


@functools.cache
def nnpack_available() -> bool:
    """Whether this PyTorch build has NNPACK on this machine (asking also initialises it: its calls fail before)."""
    try:
        return bool(torch._nnpack_available())
    except (AttributeError, RuntimeError):
        return False


def fast_path(x: torch.Tensor) -> bool:
    """Whether the fast kernels may run: float32 CPU inference outside autograd, autocast and torch.compile."""
    return (
        _enabled
        and x.device.type == "cpu"
        and x.dtype == torch.float32
        and not torch.is_grad_enabled()
        and not torch.is_autocast_enabled(x.device.type)
        and not torch.compiler.is_compiling()
    )


def nchw_here(x: torch.Tensor, out_pixels: int) -> bool:
    """Whether a convolution producing ``out_pixels`` per map from ``x`` runs NCHW through NNPACK."""
    least = nnpack_min_pixels()
    big = least is not None and out_pixels >= least
    return big and fast_path(x) and nnpack_available() and _nnpack_pool_fits()


def _nnpack_pool_fits() -> bool:
    """Whether NNPACK's thread pool has as many threads as PyTorch may use now. PyTorch sizes it at the first call and
    never again: after ``torch.set_num_threads`` (a worker limited to one thread, say) the other kernels run instead."""
    return _nnpack_threads is None or _nnpack_threads == torch.get_num_threads()


def conv_same(x: torch.Tensor, conv: nn.Conv2d, *, relu: bool) -> torch.Tensor:
    """``conv`` with its own zero padding of 1 (VGG's), then the ReLU when asked, by the fastest kernel here."""
    return _conv(x, conv, relu=relu, out_pixels=x.shape[-1] * x.shape[-2])


def conv_padded(padded: torch.Tensor, conv: nn.Conv2d, *, relu: bool) -> torch.Tensor:
    """``conv`` (without padding of its own) on an already padded input, then the ReLU when asked, by the fastest
    kernel here."""
    return _conv(padded, conv, relu=relu, out_pixels=(padded.shape[-1] - 2) * (padded.shape[-2] - 2))


def _conv(x: torch.Tensor, conv: nn.Conv2d, *, relu: bool, out_pixels: int) -> torch.Tensor:
    if nchw_here(x, out_pixels):
        y = _conv_nchw(x.contiguous(), conv)
    else:
        x = x.contiguous(memory_format=torch.channels_last)
        if fast_path(x) and winograd.worth_it(x, conv):
            padded = winograd.zero_pad1(x) if conv.padding == (1, 1) else x
            return winograd.conv3x3(padded, winograd.filters_of(conv), conv.bias, relu=relu)
        y = conv(x)
    return y.relu_() if relu else y


def _conv_nchw(x: torch.Tensor, conv: nn.Conv2d) -> torch.Tensor:
    """(N, C, H, W) contiguous -> (N, K, H', W') contiguous: NNPACK for the layers with many outputs (one image at a
    time: its batched path is slower), one product for those with few (to RGB), the library's for the rest."""
    c, k, pad = conv.in_channels, conv.out_channels, conv.padding[0]
    if conv.kernel_size != (3, 3) or conv.stride != (1, 1) or conv.groups != 1 or conv.padding[0] != conv.padding[1]:
        return conv(x)
    if k >= 64:  # (also from RGB: oneDNN's NCHW kernel needs a second output-sized buffer there)
        w = winograd.cached_on(conv, "nchw", torch.Tensor.contiguous)
        outs = [_nnpack(xi[None], w, conv.bias, pad) for xi in x]
        return outs[0] if len(outs) == 1 else torch.cat(outs)
    if k <= 4 and c >= 16 and pad == 0:
        return _to_few_channels(x, conv)
    return F.conv2d(x, winograd.cached_on(conv, "nchw", torch.Tensor.contiguous), conv.bias, padding=pad)


def _nnpack(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, pad: int) -> torch.Tensor:
    """NNPACK's convolution of one image (1, C, H, W) with zero padding ``pad`` (0 or 1), in bands of rows when the
    image is large: NNPACK transforms all of its input and output at once (a workspace of about 3.6 times the larger)."""
    global _nnpack_threads
    if _nnpack_threads is None:
        _nnpack_threads = torch.get_num_threads()
    c, h, w = x.shape[1:]
    rows = max(16, _NNPACK_BAND // (max(c, weight.shape[0]) * w))
    if h <= rows:
        return torch._nnpack_spatial_convolution(x, weight, bias, [pad, pad], [1, 1])
    h_out, w_out = h + 2 * pad - 2, w + 2 * pad - 2
    out = torch.empty((1, weight.shape[0], h_out, w_out), dtype=x.dtype, device=x.device)
    for r0 in range(0, h_out, rows):
        r1 = min(h_out, r0 + rows)
        a, b = max(0, r0 - pad), min(h, r1 + 2 - pad)  # the input rows these outputs see (plus one to discard)
        y = torch._nnpack_spatial_convolution(x[:, :, a:b], weight, bias, [pad, pad], [1, 1])
        out[:, :, r0:r1] = y[:, :, r0 - a : r1 - a]  # the rows whose neighbourhood lay inside the band
    return out


def _to_few_channels(x: torch.Tensor, conv: nn.Conv2d) -> torch.Tensor:
    """A valid 3x3 convolution to a few channels as one product (all nine taps' outputs at every pixel) and nine
    shifted sums: oneDNN and NNPACK both run such narrow layers far below their speed on wide ones."""
    n, c, hp, wp = x.shape
    h, w, k = hp - 2, wp - 2, conv.out_channels
    taps = winograd.cached_on(conv, "taps", lambda t: t.permute(2, 3, 0, 1).reshape(9 * k, c).contiguous())  # (ky, kx, k) x c
    out = torch.empty((n, k, h, w), dtype=x.dtype, device=x.device)
    if conv.bias is None:
        out.zero_()
    else:
        out.copy_(conv.bias.view(1, k, 1, 1).expand_as(out))
    for i in range(n):
        for r0 in range(0, h, _BAND_ROWS):
            r1 = min(h, r0 + _BAND_ROWS)
            band = x[i, :, r0 : r1 + 2].reshape(c, -1)  # a view: rows of one channel are adjacent
            y = (taps @ band).view(3, 3, k, r1 - r0 + 2, wp)
            o = out[i, :, r0:r1]
            for ky in range(3):
                for kx in range(3):
                    o += y[ky, kx, :, ky : ky + r1 - r0, kx : kx + w]
    return out


def max_pool2(x: torch.Tensor) -> torch.Tensor:
    """2x2 max pooling with stride 2 (VGG's). On contiguous NCHW maps of even size, as two elementwise maxima: the
    library's NCHW pooling is ten times slower than its NHWC one."""
    n, c, h, w = x.shape
    if not (fast_path(x) and x.is_contiguous() and h % 2 == 0 and w % 2 == 0):
        return F.max_pool2d(x, 2)
    rows = x.view(n, c, h // 2, 2 * w)
    pairs = torch.maximum(rows[..., :w], rows[..., w:]).view(n, c, h // 2, w // 2, 2)
    return torch.maximum(pairs[..., 0], pairs[..., 1])
