"""Edge-aware smoothing guided by the content photo: the photorealistic step of FastPhotoStyle.

After a transfer that keeps the photo's structure (WCT at the shallow levels), Li et al. 2018 ("A Closed-form
Solution to Photorealistic Image Stylization", ECCV) smooth the stylized image ``Y`` so that pixels whose content
colours are alike within a neighbourhood take alike output colours. Two ways, both pure functions on tensors:

* ``smooth_exact``: the closed form. With ``W`` the matting affinity of the content (Levin et al. 2008, 3x3 windows,
  ``MATTING_EPS``), ``D`` its row sums and ``L = D - W`` the matting Laplacian, the output minimises
  ``R^T L R + lam * (R - Y)^T D (R - Y)``, i.e. solves ``((1 + lam) D - W) R = lam D Y`` per channel. Where ``D`` is
  uniform this is the paper's ``R = (1 - a) (I - a S)^-1 Y`` with ``S = D^-1/2 W D^-1/2``, ``a = 1 / (1 + lam)``;
  scaling by ``D`` instead of ``D^1/2`` on both sides keeps a constant image exactly constant (the system's matrix
  maps constants to ``lam D``). The images are edge-padded by 2 pixels first (as FastPhotoStyle does), so every real
  pixel lies in nine windows. The symmetric positive definite system (eigenvalues of ``D^-1 A`` in [lam, 1 + lam]) is
  solved by conjugate gradients with a Jacobi preconditioner, all three channels at once, started from ``Y``, in
  float64 on the CPU (tensors on another device go there and back). Deterministic: the same input gives the same bits.
* ``guided_filter``: the fast path FastPhotoStyle offers (He et al. 2010, colour guide): per window of radius ``r``
  the output is the least-squares affine function of the content colour, ``q = a^T I + b``, with ``a`` from the
  window's 3x3 colour covariance plus ``eps`` solved in closed form per pixel; window means are box filters by
  cumulative sums (O(1) per pixel in the radius), windows clipped at the image border. Torch on the tensors' own
  device. Image and guide are first centred on their means (the filter commutes with adding constants), which keeps
  the cumulative sums and the variances' cancellation small; float32 inputs are then filtered in float32 when
  ``eps >= FLOAT32_EPS`` (1e-4: 0.001/255 from float64 on a photo, 0.05/255 at worst beside a hard black-white edge
  whose flat sides carry 1e-3 noise, at 1.5-1.9x the speed; measured at 512 and 1024 px), anything else in float64:
  below that eps float32 variances can make the 3x3 solve blow up (values of 1e28 at eps 1e-5 beside that edge; at
  FastPhotoStyle's 1.5e-8 on photos too). Big images go in tiles with ``2 r`` pixels of margin, which gives the
  whole-image result to rounding.

``smooth`` picks one (``method="auto"``); ``benchmarks/smoothing.py`` measures both. Parameters from FastPhotoStyle
(NVIDIA/FastPhotoStyle, CC BY-NC-SA 4.0; this module is an independent implementation from the papers):
``photo_smooth.py`` beta = 0.9999 (``a``, so lam = 1e-4), matting eps 1e-7 with window radius 1 and ``eps / 9`` added
to the window covariance, 2-pixel replication padding; ``demo.py`` ``GIFSmoothing(r=35, eps=0.001)`` on 0..255 images
(OpenCV does not rescale 8-bit images, so that eps is 1.5e-8 on [0, 1]). The guided filter's defaults here are our
own measurement instead: on two photo pairs stylized by shallow WCT, at 512 and 1024 px, radius 16 with eps 1e-4 came
closest to the exact solve (mean difference 2.8-3.8/255, 99th percentile 13-17/255, against 3.7-5.4 and 22-25 for
FastPhotoStyle's radius 35 and 1.5e-8), and an eps of 1e-8 passes the content's sensor noise on as texture.
"""

from __future__ import annotations

import numpy as np
import torch

from .errors import InputError
from .tiling import tiles

__all__ = [
    "LAMBDA",
    "MATTING_EPS",
    "GUIDED_RADIUS",
    "GUIDED_EPS",
    "CG_TOL",
    "EXACT_MAX_PIXELS",
    "AUTO_EXACT_PIXELS",
    "TILE",
    "FLOAT32_EPS",
    "matting_affinity",
    "smooth_exact",
    "box_mean",
    "guided_filter",
    "smooth",
]

LAMBDA = 1e-4  # fitting weight; a = 1 / (1 + lam) = 0.9999 as FastPhotoStyle's beta
MATTING_EPS = 1e-7  # Levin et al.'s regulariser, as FastPhotoStyle
GUIDED_RADIUS = 16  # pixels; FastPhotoStyle uses 35 (see above)
GUIDED_EPS = 1e-4  # on [0, 1] colours; FastPhotoStyle's is 1.5e-8 in effect
CG_TOL = 1e-3  # relative residual: the output then differs from a 1e-7 solve by < 0.1/255 (measured)
CG_MAX_ITER = 3000
EXACT_MAX_PIXELS = 1 << 21  # 2.1 MP (1448 x 1448): about 2.6 GB and 4 minutes (measured at 1 MP: 1.3 GB, 107 s)
AUTO_EXACT_PIXELS = 1 << 14  # "auto" solves exactly up to 128 x 128 (under about a second), filters above
TILE = 1024  # guided-filter tile core side, pixels
FLOAT32_EPS = 1e-4  # float32 inputs are guided-filtered in float32 from this eps up (float64 below: see above)
_PAD = 2
_WINDOW = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)]  # the 3x3 window's pixels around its centre


def _as_batch(x: torch.Tensor, name: str) -> torch.Tensor:
    """(3, H, W) or (B, 3, H, W) floating tensor -> (B, 3, H, W), checked."""
    if not isinstance(x, torch.Tensor) or not x.is_floating_point() or x.dim() not in (3, 4):
        got = f"{x.dtype} tensor of shape {tuple(x.shape)}" if isinstance(x, torch.Tensor) else type(x).__name__
        raise InputError(f"{name}: expected a float tensor (3, H, W) or (B, 3, H, W) in [0, 1], got {got}")
    x = x if x.dim() == 4 else x.unsqueeze(0)
    if x.shape[1] != 3 or x.shape[-1] == 0 or x.shape[-2] == 0:
        raise InputError(f"{name}: expected 3 channels and a non-empty image, got shape {tuple(x.shape)}")
    if not bool(torch.isfinite(x).all()):
        raise InputError(f"{name}: expected finite values, got NaN or infinity")
    return x


def _pair(image: torch.Tensor, content: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    y, c = _as_batch(image, "image"), _as_batch(content, "content")
    if y.shape[-2:] != c.shape[-2:] or c.shape[0] not in (1, y.shape[0]):
        raise InputError(
            f"expected the image and its content of the same size, got {tuple(image.shape)} and {tuple(content.shape)}"
        )
    if y.device != c.device:
        raise InputError(f"expected the image and its content on one device, got {y.device} and {c.device}")
    return y, c.expand(y.shape[0], -1, -1, -1)


# ---------------------------------------------------------------- the closed form (scipy.sparse, CPU, float64)


def _affinity(img: np.ndarray, eps: float):
    """Matting affinity (N, N) CSR of an (H, W, 3) float64 array, pixel index y * W + x.

    Over every 3x3 window k that fits in the image, with mean mu_k and covariance Sigma_k of its nine colours,
    ``W_ij += (1 + (I_i - mu_k)^T (Sigma_k + eps / 9 I)^-1 (I_j - mu_k)) / 9`` for the pairs i, j in k. Row sums are
    the number of windows holding the pixel; W is positive semidefinite and below diag(row sums).
    """
    import scipy.sparse as sp

    h, w, _ = img.shape
    n, ch, cw = h * w, h - 2, w - 2
    if ch <= 0 or cw <= 0:
        return sp.csr_array((n, n))
    views = [img[1 + dy : 1 + dy + ch, 1 + dx : 1 + dx + cw] for dy, dx in _WINDOW]  # 9 x (ch, cw, 3)
    mu = sum(views) / 9.0
    dev = [v - mu for v in views]
    cov = sum(d[..., :, None] * d[..., None, :] for d in dev) / 9.0 + (eps / 9.0) * np.eye(3)  # (ch, cw, 3, 3)
    solved = [np.linalg.solve(cov, d[..., None])[..., 0] for d in dev]  # Sigma^-1 (I_k - mu), 9 x (ch, cw, 3)
    bands: dict[tuple[int, int], np.ndarray] = {}  # offset (dy, dx) >= (0, 0) -> W[p, p + offset] stored at p
    for k in range(9):
        for j in range(k, 9):
            value = (1.0 + np.einsum("...c,...c->...", solved[k], dev[j])) / 9.0  # (ch, cw)
            (ky, kx), (jy, jx) = _WINDOW[k], _WINDOW[j]
            off, (py, px) = (jy - ky, jx - kx), (ky, kx)
            if off < (0, 0):  # store the mirror entry: W is symmetric
                off, (py, px) = (ky - jy, kx - jx), (jy, jx)
            band = bands.setdefault(off, np.zeros((h, w)))
            band[1 + py : 1 + py + ch, 1 + px : 1 + px + cw] += value
    diagonals, offsets = [], []
    for (dy, dx), band in bands.items():
        o = dy * w + dx  # entries that wrap across a row end are zero
        if o >= n:
            continue
        diagonals += [band.ravel()[: n - o]] * (2 if o else 1)
        offsets += [o, -o] if o else [0]
    return sp.diags_array(diagonals, offsets=offsets, shape=(n, n), format="csr")


def matting_affinity(content: torch.Tensor, *, eps: float = MATTING_EPS):
    """The matting affinity of a photo: a scipy.sparse CSR array (H*W, H*W), float64, pixel index y * W + x.

    Args:
        content: (3, H, W) or (1, 3, H, W) float tensor in [0, 1], any device.
        eps: Levin et al.'s regulariser; ``eps / 9`` is added to each 3x3 window's colour covariance.
    Returns:
        W, symmetric, at most 25 entries a row (pixels up to 2 apart), rows summing to the number of windows that
        hold the pixel (9 inside, fewer near the border; images under 3 pixels a side have no window: W = 0).
        Vectorised over pixels: at 1024 x 1024, 6.5 s and a peak of 1.2 GB above the inputs (the result: 0.3 GB).
    """
    c = _as_batch(content, "content")
    if c.shape[0] != 1:
        raise InputError(f"content: expected one image, got a batch of {c.shape[0]}")
    return _affinity(c[0].detach().permute(1, 2, 0).double().cpu().numpy(), eps)


def _dot(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Column-wise dot products of (N, K) arrays, (K,)."""
    return np.einsum("nk,nk->k", u, v)


def _block_cg(a, b: np.ndarray, x0: np.ndarray, diag: np.ndarray, tol: float, max_iter: int) -> tuple[np.ndarray, int]:
    """Jacobi-preconditioned conjugate gradients for SPD ``a`` (N, N) and K right-hand sides ``b`` (N, K) at once.

    Each column stops when its residual is at most ``tol`` times its right-hand side's norm (a zero right-hand
    side gives zero). Returns the solution (N, K) and the number of iterations run.
    """
    inv_diag = (1.0 / diag)[:, None]
    x = x0.copy()
    r = b - a @ x
    target = tol * tol * _dot(b, b)
    live = _dot(r, r) > target
    z = r * inv_diag
    p = z.copy()
    rz = _dot(r, z)
    for it in range(max_iter):
        if not live.any():
            return x, it
        ap = a @ p
        step = np.where(live, rz / np.where(live, _dot(p, ap), 1.0), 0.0)
        x += step * p
        r -= step * ap
        live &= _dot(r, r) > target
        z = r * inv_diag
        rz_new = _dot(r, z)
        p *= np.where(live, rz_new / np.where(live, rz, 1.0), 0.0)
        p += z
        rz = rz_new
    return x, max_iter


def _solve_one(y: np.ndarray, c: np.ndarray, lam: float, eps: float, tol: float, max_iter: int) -> np.ndarray:
    """The closed-form smoothing of one (H, W, K) array ``y`` guided by (H, W, 3) ``c``, both float64."""
    import scipy.sparse as sp

    pad = ((_PAD, _PAD), (_PAD, _PAD), (0, 0))
    yp, cp = np.pad(y, pad, mode="edge"), np.pad(c, pad, mode="edge")
    h, w, k = yp.shape
    aff = _affinity(cp, eps)
    d = np.asarray(aff.sum(axis=1)).ravel()  # window counts, >= 1 thanks to the padding
    system = (sp.diags_array((1.0 + lam) * d) - aff).tocsr()  # lam D + L, symmetric positive definite
    rhs = yp.reshape(-1, k) * (lam * d)[:, None]
    x, _ = _block_cg(system, rhs, yp.reshape(-1, k), system.diagonal(), tol, max_iter)
    return x.reshape(h, w, k)[_PAD:-_PAD, _PAD:-_PAD]


def smooth_exact(
    image: torch.Tensor,
    content: torch.Tensor,
    *,
    lam: float = LAMBDA,
    eps: float = MATTING_EPS,
    tol: float = CG_TOL,
    max_iter: int = CG_MAX_ITER,
    max_pixels: int = EXACT_MAX_PIXELS,
) -> torch.Tensor:
    """FastPhotoStyle's closed-form smoothing of ``image`` on the matting affinity of ``content``.

    Args:
        image: the stylized image, (3, H, W) or (B, 3, H, W) float in [0, 1].
        content: the photo, same size (a batch of one serves every image).
        lam: weight of staying close to ``image``; smaller smooths more, further (1e-4 reaches about 100 pixels).
        eps: matting regulariser (``matting_affinity``).
        tol: conjugate gradients stop at this relative residual; 1e-3 differs from a 1e-7 solve by under 0.1/255.
        max_pixels: refuse bigger images (time and memory grow with the pixel count).
    Returns:
        Same shape, dtype and device as ``image``, clamped to [0, 1]. Constant colours stay constant exactly.
    Raises:
        InputError: bad shapes or values, or an image over ``max_pixels``.
    """
    y, c = _pair(image, content)
    h, w = y.shape[-2:]
    if h * w > max_pixels:
        raise InputError(
            f"the exact smoothing is limited to {max_pixels:,} pixels (time and memory), got {h}x{w} = {h * w:,}; "
            "use method='fast' (the guided filter, any size) or a smaller image"
        )
    if not lam > 0 or not eps > 0:
        raise InputError(f"expected lam > 0 and eps > 0, got lam={lam}, eps={eps}")
    ys = y.detach().permute(0, 2, 3, 1).double().cpu().numpy()
    cs = c.detach().permute(0, 2, 3, 1).double().cpu().numpy()
    out = np.stack([_solve_one(ys[i], cs[i], lam, eps, tol, max_iter) for i in range(ys.shape[0])])
    result = torch.from_numpy(out).permute(0, 3, 1, 2).clamp_(0, 1).to(device=image.device, dtype=image.dtype)
    return result.reshape(image.shape)


# ---------------------------------------------------------------- the guided filter (torch, any device, float64)


def _box_sum_last(x: torch.Tensor, r: int) -> torch.Tensor:
    """Sums of x (..., n) over [i - r, i + r] clipped to [0, n), as differences of one cumulative sum along the last
    axis (the fast one: a cumulative sum along another axis is several times slower on a CPU)."""
    n = x.shape[-1]
    c = x.cumsum(-1)
    out = torch.empty_like(c)
    keep = max(n - r, 0)
    out[..., :keep] = c[..., r:]  # sum up to min(i + r, n - 1) ...
    out[..., keep:] = c[..., n - 1 :]
    start = min(r + 1, n)
    out[..., start:] -= c[..., : n - start]  # ... minus the sum up to i - r - 1
    return out


def _inverse_counts(h: int, w: int, r: int, like: torch.Tensor) -> torch.Tensor:
    """(h, w): one over the number of pixels in each clipped window."""
    i, j = (torch.arange(n, device=like.device, dtype=like.dtype) for n in (h, w))
    ny, nx = (i + r + 1).clamp(max=h) - (i - r).clamp(min=0), (j + r + 1).clamp(max=w) - (j - r).clamp(min=0)
    return 1.0 / (ny[:, None] * nx[None, :])


def _box_sums(x: torch.Tensor, r: int) -> torch.Tensor:
    return _box_sum_last(_box_sum_last(x, r).transpose(-1, -2).contiguous(), r).transpose(-1, -2)


def box_mean(x: torch.Tensor, radius: int) -> torch.Tensor:
    """Mean of x (..., H, W) over each (2 radius + 1)^2 window, clipped at the image border; O(1) per pixel."""
    return _box_sums(x, radius) * _inverse_counts(*x.shape[-2:], radius, x)


_UPPER = [(0, 0), (0, 1), (0, 2), (1, 1), (1, 2), (2, 2)]  # the entries of a symmetric 3x3 matrix, stored in this order


def _inverse_sym3(s: torch.Tensor) -> torch.Tensor:
    """Inverses (B, 3, 3, H, W) of symmetric positive definite 3x3 matrices given as their ``_UPPER`` entries
    (B, 6, H, W), by cofactors."""
    a, b, c, d, e, f = s.unbind(1)
    c00, c01, c02 = d * f - e * e, c * e - b * f, b * e - c * d
    c11, c12, c22 = a * f - c * c, b * c - a * e, a * d - b * b
    det = (a * c00 + b * c01 + c * c02).clamp_min(torch.finfo(s.dtype).tiny)
    return torch.stack([c00, c01, c02, c01, c11, c12, c02, c12, c22], 1).unflatten(1, (3, 3)) / det[:, None, None]


def _box_means(parts, count: int, r: int, like: torch.Tensor) -> torch.Tensor:
    """``box_mean`` of each (B, k_i, h, w) tensor the iterable ``parts`` yields, side by side in (B, count, h, w).

    Parts are made one at a time (pass a generator), which bounds the work memory; a few big parts rather than many
    small ones keep the number of operations down (each costs a synchronisation of the threads)."""
    out = like.new_empty((like.shape[0], count, *like.shape[-2:]))
    norm = _inverse_counts(*like.shape[-2:], r, like)
    i = 0
    for x in parts:
        torch.mul(_box_sums(x, r), norm, out=out[:, i : i + x.shape[1]])
        i += x.shape[1]
    return out


def _guided_whole(p: torch.Tensor, g: torch.Tensor, r: int, eps: float) -> torch.Tensor:
    """The guided filter of p (B, C, h, w) by the colour guide g (B, 3, h, w), in one piece, in float32 for float32
    inputs when ``eps >= FLOAT32_EPS``, else in float64; both centred first (the result is shifted back)."""
    dtype = torch.float32 if p.dtype == g.dtype == torch.float32 and eps >= FLOAT32_EPS else torch.float64
    shift = p.mean((-2, -1), keepdim=True)
    p, g = (p - shift).to(dtype), (g - g.mean((-2, -1), keepdim=True)).to(dtype)
    return (_guided_centred(p, g, r, eps) + shift).to(shift.dtype)


def _guided_centred(p: torch.Tensor, g: torch.Tensor, r: int, eps: float) -> torch.Tensor:
    """``_guided_whole``'s filter of centred p (B, C, h, w) by g (B, 3, h, w), in their dtype."""
    k = p.shape[1]
    groups = (
        lambda: torch.cat([g, p], 1),
        lambda: torch.stack([g[:, i] * g[:, j] for i, j in _UPPER], 1),  # 6 planes of I_i I_j
        lambda: (p[:, :, None] * g[:, None, :]).flatten(1, 2),  # C x 3 planes of p_c I_j
    )
    means = _box_means((make() for make in groups), 9 + 4 * k, r, g)  # one group in memory at a time
    mg, mp = means[:, :3], means[:, 3 : 3 + k]  # (B, 3, h, w), (B, C, h, w)
    ridge = torch.tensor([eps if i == j else 0.0 for i, j in _UPPER], dtype=g.dtype, device=g.device)[:, None, None]
    sigma = means[:, 3 + k : 9 + k] - torch.stack([mg[:, i] * mg[:, j] for i, j in _UPPER], 1) + ridge
    cov = means[:, 9 + k :].unflatten(1, (k, 3)) - mp[:, :, None] * mg[:, None, :]  # (B, C, 3, h, w)
    del means
    a = torch.einsum("bijhw,bcjhw->bcihw", _inverse_sym3(sigma), cov).flatten(1, 2)  # (B, C*3, h, w)
    beta = mp - (a.unflatten(1, (k, 3)) * mg[:, None]).sum(2)  # (B, C, h, w)
    del sigma, cov, mg, mp
    smoothed = _box_means(iter([torch.cat([a, beta], 1)]), 4 * k, r, g)  # mean a and b over the windows
    return (smoothed[:, : 3 * k].unflatten(1, (k, 3)) * g[:, None]).sum(2) + smoothed[:, 3 * k :]


def guided_filter(image: torch.Tensor, guide: torch.Tensor, *, radius: int = GUIDED_RADIUS, eps: float = GUIDED_EPS,
                  tile: int = TILE) -> torch.Tensor:
    """He et al.'s guided filter of ``image`` by the colour ``guide`` (FastPhotoStyle's fast smoothing).

    Args:
        image: (3, H, W) or (B, 3, H, W) float.
        guide: the content photo, (3, H, W) or (B|1, 3, H, W) float in [0, 1], same size and device.
        radius: window radius in pixels (windows of (2 radius + 1)^2, clipped at the border).
        eps: added to each window's colour covariance; larger smooths across weaker edges.
        tile: images with a side over ``tile`` go in tiles of about ``tile`` x ``tile`` with 2 radius pixels of
            margin: the same result as in one piece to float64 rounding, with about 570 bytes of work memory per
            tile pixel (0.65 GB for the default tile and radius, measured) besides the output, at any image size.
    Returns:
        Same shape, dtype and device as ``image``; not clamped (a pure filter).
    """
    y, g = _pair(image, guide)
    if not (isinstance(radius, int) and radius >= 0) or not eps > 0 or tile < 1:
        raise InputError(f"expected radius >= 0 (int), eps > 0 and tile >= 1, got radius={radius!r}, eps={eps}, tile={tile}")
    h, w = y.shape[-2:]
    out = torch.empty_like(y)
    for t in tiles(h, w, tile, 2 * radius):
        q = _guided_whole(t.crop(y), t.crop(g), radius, eps)
        out[..., t.cy0 : t.cy1, t.cx0 : t.cx1] = q[..., t.cy0 - t.y0 : t.cy1 - t.y0, t.cx0 - t.x0 : t.cx1 - t.x0]
    return out.reshape(image.shape)


# ---------------------------------------------------------------- the entry


def smooth(
    image: torch.Tensor,
    content: torch.Tensor,
    *,
    method: str = "auto",
    lam: float = LAMBDA,
    radius: int = GUIDED_RADIUS,
    eps: float = GUIDED_EPS,
) -> torch.Tensor:
    """Edge-aware smoothing of a stylized ``image`` guided by its ``content`` photo; [0, 1] in, [0, 1] out.

    Args:
        image, content: (3, H, W) or (B, 3, H, W) float tensors in [0, 1] of the same size.
        method: ``"exact"`` (``smooth_exact``: the closed form on the matting affinity, with ``lam``; refused over
            ``EXACT_MAX_PIXELS``), ``"fast"`` (``guided_filter`` by the content with ``radius`` and ``eps``, any
            size, tiled) or ``"auto"``: exact up to ``AUTO_EXACT_PIXELS`` (128 x 128), fast above.

    Why "auto" (``benchmarks/smoothing.py`` measures both; ``benchmarks/README.md`` has the figures): the fast path takes
    a fraction of a second at 512 px, the exact solve many seconds (the same ~425 conjugate-gradient steps at every
    size), so "auto" solves exactly only where that costs under a second. On stylized photos the two differ by
    3-4/255 on average.

    Returns:
        Same shape, dtype and device as ``image``, clamped to [0, 1].
    Raises:
        InputError: unknown method, bad inputs, or "exact" over its size limit.
    """
    if method not in ("auto", "exact", "fast"):
        raise InputError(f"expected method 'auto', 'exact' or 'fast', got {method!r}")
    h, w = _as_batch(image, "image").shape[-2:]
    if method == "exact" or (method == "auto" and h * w <= AUTO_EXACT_PIXELS):
        return smooth_exact(image, content, lam=lam)
    return guided_filter(image, content, radius=radius, eps=eps).clamp_(0, 1)
