"""3x3 convolutions by Winograd's minimal filtering F(4x4, 3x3) (Lavin & Gray, 2016), for CPU inference.

Each 4x4 block of outputs is computed from a 6x6 block of inputs with 36 channel-mixing matrix products
instead of 144: a quarter of the direct convolution's multiplications, traded for two small linear
transforms that cost little when the layers are wide. It computes the same function as ``F.conv2d``
(relative error about 1e-5 in float32). Pure functions on tensors; the networks decide where to use it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["cached_on", "conv3x3", "filter_transform", "filters_of", "stamp", "worth_it", "zero_pad1"]

# F(4x4, 3x3): input transform B^T, filter transform G, output transform A^T (Lavin & Gray, table 2)
_BT = (
    (4, 0, -5, 0, 1, 0),
    (0, -4, -4, 1, 1, 0),
    (0, 4, -4, -1, 1, 0),
    (0, -2, -1, 2, 1, 0),
    (0, 2, -1, -2, 1, 0),
    (0, 4, 0, -5, 0, 1),
)
_G = (
    (1 / 4, 0, 0),
    (-1 / 6, -1 / 6, -1 / 6),
    (-1 / 6, 1 / 6, -1 / 6),
    (1 / 24, 1 / 12, 1 / 6),
    (1 / 24, -1 / 12, 1 / 6),
    (0, 0, 1),
)
_AT = ((1, 1, 1, 1, 1, 0), (0, 1, -1, 2, -2, 0), (0, 1, 1, 4, 4, 0), (0, 1, -1, 8, -8, 1))

_CHUNK = 1 << 19  # elements of transformed input per pass (2 MB in float32): stays in cache, bounds the extra memory
_MIN_TILES = 128  # tiles per pass at least, so the products stay efficient


def _kron(m: tuple, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    t = torch.tensor(m, dtype=torch.float64)
    return torch.kron(t, t).to(device=device, dtype=dtype)


def filter_transform(weight: torch.Tensor) -> torch.Tensor:
    """(K, C, 3, 3) kernels -> (36, C, K): G g G^T per kernel, computed in float64."""
    g = torch.tensor(_G, dtype=torch.float64, device=weight.device)
    u = torch.einsum("ai,kcij,bj->abck", g, weight.double(), g)
    return u.reshape(36, weight.shape[1], weight.shape[0]).to(weight.dtype).contiguous()


def stamp(t: torch.Tensor) -> tuple:
    """Tells a tensor's current contents apart from earlier ones, for caches derived from weights (inference tensors
    keep no version counter: their sum, a millisecond, tells a reloaded state apart)."""
    return (t.data_ptr(), float(t.sum()) if t.is_inference() else t._version, t.device, t.dtype)


def cached_on(conv: torch.nn.Conv2d, name: str, make) -> torch.Tensor:
    """``make(weight)`` of a convolution's weights, cached on the module under ``name`` until they change."""
    key = stamp(conv.weight)
    attr = "_wct_" + name
    cached = getattr(conv, attr, None)
    if cached is None or cached[0] != key:
        cached = (key, make(conv.weight.detach()))
        object.__setattr__(conv, attr, cached)
    return cached[1]


def filters_of(conv: torch.nn.Conv2d) -> torch.Tensor:
    """``filter_transform`` of a convolution's weights, cached on the module until they change."""
    return cached_on(conv, "winograd_filters", filter_transform)


def worth_it(x: torch.Tensor, conv: torch.nn.Conv2d) -> bool:
    """Whether Winograd beats the library's convolution for this layer and map (measured on a CPU with
    benchmarks/speed.py): 3x3 kernels, not the narrowest layers (64 -> 64 channels breaks even; 3 -> 64 loses) nor
    the smallest maps. Whether the fast kernels may run at all (CPU float32 inference) is ``convolution.fast_path``."""
    c, k = conv.in_channels, conv.out_channels
    return (
        conv.kernel_size == (3, 3)
        and conv.groups == 1
        and min(c, k) >= 64
        and max(c, k) >= 128
        and x.shape[-1] * x.shape[-2] >= 256
    )


def zero_pad1(x: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) -> (N, C, H+2, W+2) with a border of zeros, channels_last."""
    n, c, h, w = x.shape
    out = torch.empty((n, c, h + 2, w + 2), dtype=x.dtype, device=x.device, memory_format=torch.channels_last)
    out[:, :, 1:-1, 1:-1] = x
    out[:, :, 0] = 0
    out[:, :, -1] = 0
    out[:, :, :, 0] = 0
    out[:, :, :, -1] = 0
    return out


def conv3x3(padded: torch.Tensor, u: torch.Tensor, bias: torch.Tensor | None, *, relu: bool = False) -> torch.Tensor:
    """Valid 3x3 convolution of an already padded (N, C, H+2, W+2) input with filters from ``filter_transform``,
    then the ReLU when asked.

    Returns (N, K, H, W) in channels_last memory format; equals ``F.conv2d(padded, weight, bias)`` (and its ReLU).
    """
    n, c, hp, wp = padded.shape
    h, w = hp - 2, wp - 2
    k = u.shape[2]
    th, tw = -(-h // 4), -(-w // 4)
    extra_h, extra_w = 4 * th - h, 4 * tw - w
    if extra_h or extra_w:  # whole tiles only: the extra outputs depend on the zeros alone and are cut off below
        padded = F.pad(padded, (0, extra_w, 0, extra_h))
    xh = padded.permute(0, 2, 3, 1)  # (N, H', W', C): a view when the input is channels_last
    kb = _kron(_BT, u.dtype, u.device)
    ka = _kron(_AT, u.dtype, u.device)
    out = torch.empty((n, 4 * th, 4 * tw, k), dtype=u.dtype, device=u.device)
    rows = max(-(-_MIN_TILES // (n * tw)), _CHUNK // (36 * n * tw * max(c, k)))  # tile rows per pass
    bias_row = None if bias is None else bias.to(u.dtype).repeat(min(rows, th) * n * tw)  # (tiles * K,)
    for r0 in range(0, th, rows):
        r1 = min(th, r0 + rows)
        band = xh[:, 4 * r0 : 4 * r1 + 2]
        d = band.unfold(1, 6, 4).unfold(2, 6, 4).permute(4, 5, 0, 1, 2, 3).reshape(36, -1)  # (36, tiles*C)
        v = (kb @ d).view(36, -1, c)  # B^T d B per tile and channel
        m = torch.bmm(v, u).view(36, -1)  # (36, tiles*K): the channel mixing, one product per tile position
        y = ka @ m if bias_row is None else torch.addmm(bias_row[: m.shape[1]], ka, m)  # A^T m A (+ bias)
        if relu:
            y = y.relu_()
        out[:, 4 * r0 : 4 * r1].view(n, r1 - r0, 4, tw, 4, k).copy_(y.view(4, 4, n, r1 - r0, tw, k).permute(2, 3, 0, 4, 1, 5))
    if extra_h or extra_w:
        out = out[:, :h, :w].contiguous()
    return out.permute(0, 3, 1, 2)
