"""The Whitening and Coloring Transform as pure functions on feature tensors.

Features are (..., C, N): C channels, N positions, any leading batch dims. Statistics and
eigendecompositions are computed in float64 on the features' own device; the big (C, N)
products run in the features' dtype.

Eigenvalue rule (scale-aware): an eigenvalue counts only if it exceeds ``RTOL`` times the
largest eigenvalue of the same covariance (and is positive). Components below that carry
no signal a float32 covariance can resolve; whitening them would amplify rounding noise.
Dropped components are zeroed by whitening and never added by coloring, so a flat-colour
style or content yields its mean, never NaN. The decomposition is deterministic, and the
matrix functions used (C^{-1/2}, C^{1/2}) do not depend on eigenvector signs, so the same
input gives the same output.

Creative controls (Li et al. 2017, section 4; Gatys et al. 2016 for colour):
* spatial control: statistics of each content region (a soft mask) are whitened separately
  and colored by that region's style (``weighted_mean_and_covariance``, ``masked_wct``);
* Wasserstein blending: the W2 barycenter of the styles' Gaussian statistics, next to the
  paper's linear interpolation (``wasserstein_barycenter``, ``blend_wasserstein``).
"""

from __future__ import annotations

import torch

__all__ = [
    "RTOL",
    "flat_features",
    "mean_and_covariance",
    "centered_statistics",
    "psd_power",
    "whitening_matrix",
    "coloring_matrix",
    "whiten",
    "color",
    "wct_matrix",
    "ost_matrix",
    "transform_matrix",
    "TRANSFORMS",
    "wct",
    "wct_with_statistics",
    "blend_linear",
    "weighted_mean_and_covariance",
    "masked_wct",
    "wasserstein_barycenter",
    "blend_wasserstein",
]

RTOL = 1e-5
TRANSFORMS = ("wct", "ost")  # the feature transforms: whitening and coloring (Li et al.), optimal transport (Lu et al.)


def flat_features(f: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) -> (B, C, H*W), a view without copying for contiguous and channels_last (NHWC) maps alike.

    The transforms below keep the layout they are given, so NHWC features go through WCT and on to the
    decoder with no transposing copies; ``result.view(f.shape)`` restores the map.
    """
    if f.dim() == 4 and not f.is_contiguous() and f.is_contiguous(memory_format=torch.channels_last):
        return f.permute(0, 2, 3, 1).flatten(1, 2).transpose(1, 2)
    return f.flatten(2)


def mean_and_covariance(f: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean (..., C, 1) and unbiased covariance (..., C, C) of features (..., C, N), both float64."""
    mean, cov, _ = centered_statistics(f)
    return mean, cov


def centered_statistics(f: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Mean and covariance (float64, as ``mean_and_covariance``) plus the centred features (..., C, N) in f's dtype.

    The mean is summed in at least float32 by the library's cascade summation (error about log2(N) ulps, with no
    float64 copy of ``f``) and returned in float64; the Gram product runs in f's dtype.
    """
    n = f.shape[-1]
    acc = f.dtype if f.dtype == torch.float64 else torch.float32
    mean = f.mean(dim=-1, keepdim=True, dtype=acc).double()
    centered = f - mean.to(f.dtype)  # (..., C, N) in the features' dtype
    cov = (centered @ centered.transpose(-1, -2)).double() / max(n - 1, 1)
    return mean, 0.5 * (cov + cov.transpose(-1, -2)), centered


def psd_power(cov: torch.Tensor, power: float, rtol: float = RTOL) -> torch.Tensor:
    """cov^power on the subspace of significant eigenvalues (zero elsewhere), float64, (..., C, C)."""
    cov = cov.double()
    vals, vecs = torch.linalg.eigh(cov)  # ascending eigenvalues
    top = vals[..., -1:].clamp_min(0)
    keep = (vals > rtol * top) & (vals > 0)
    scaled = torch.where(keep, vals.clamp_min(torch.finfo(torch.float64).tiny).pow(power), torch.zeros_like(vals))
    return (vecs * scaled.unsqueeze(-2)) @ vecs.transpose(-1, -2)


def whitening_matrix(cov: torch.Tensor, rtol: float = RTOL) -> torch.Tensor:
    """W = cov^(-1/2) on the significant subspace."""
    return psd_power(cov, -0.5, rtol)


def coloring_matrix(cov: torch.Tensor, rtol: float = RTOL) -> torch.Tensor:
    """S = cov^(1/2) on the significant subspace, so S @ S = cov (up to dropped components)."""
    return psd_power(cov, 0.5, rtol)


def whiten(f: torch.Tensor, rtol: float = RTOL) -> torch.Tensor:
    """Centred, decorrelated features with identity covariance (where the rank allows)."""
    mean, cov = mean_and_covariance(f)
    w = whitening_matrix(cov, rtol).to(f.dtype)
    return w @ (f - mean.to(f.dtype))


def color(white: torch.Tensor, style_mean: torch.Tensor, style_color: torch.Tensor) -> torch.Tensor:
    """Give whitened features the style's covariance (style_color @ style_color) and mean."""
    return style_color.to(white.dtype) @ white + style_mean.reshape(*style_mean.shape[:-1], -1, 1).to(white.dtype)


def wct_matrix(content_cov: torch.Tensor, style_color: torch.Tensor, rtol: float = RTOL) -> torch.Tensor:
    """The single (C, C) map S_style @ W_content, composed in float64."""
    return style_color.double() @ whitening_matrix(content_cov, rtol)


def ost_matrix(content_cov: torch.Tensor, style_color: torch.Tensor, rtol: float = RTOL) -> torch.Tensor:
    """The optimal-transport map between the Gaussians N(0, C) and N(0, S S) (Lu et al., ICCV 2019), float64 (..., C, C).

    ``T = C^-1/2 (C^1/2 S S C^1/2)^1/2 C^-1/2``: symmetric, ``T C T = S S`` on the content's significant subspace,
    and of all linear maps that give the content the style's covariance the one that moves the features least
    (in mean squared distance). WCT's ``S W`` matches the same covariance with a rotation OST does not make.
    """
    root, inv_root = _roots(content_cov.double(), rtol)
    cs = style_color.double() @ style_color.double().transpose(-1, -2)
    middle = root @ cs @ root
    return inv_root @ psd_power(0.5 * (middle + middle.transpose(-1, -2)), 0.5, rtol * rtol) @ inv_root


def transform_matrix(content_cov: torch.Tensor, style_color: torch.Tensor, kind: str = "wct", rtol: float = RTOL) -> torch.Tensor:
    """The (C, C) map that gives centred content features the style's covariance: ``kind`` "wct" or "ost"."""
    if kind == "wct":
        return wct_matrix(content_cov, style_color, rtol)
    if kind == "ost":
        return ost_matrix(content_cov, style_color, rtol)
    raise ValueError(f"unknown transform {kind!r}; expected one of {', '.join(map(repr, TRANSFORMS))}")


def wct(
    f: torch.Tensor,
    style_mean: torch.Tensor,
    style_color: torch.Tensor,
    alpha: float = 1.0,
    rtol: float = RTOL,
    kind: str = "wct",
) -> torch.Tensor:
    """Whiten content features (..., C, N), color them with the style, mix: alpha * f_cs + (1 - alpha) * f.

    Computed as one product on the centred features: ``A @ (f - m) + b`` with the small float64 pieces
    ``A = alpha * S W + (1 - alpha) I`` and ``b = alpha * mu_s + (1 - alpha) * m`` folded beforehand.
    ``kind="ost"`` uses the optimal-transport map (``ost_matrix``) in place of ``S W``.
    """
    if alpha == 0.0:
        return f.clone()  # exactly the content, with no work
    mean, cov, centered = centered_statistics(f)
    return _apply(centered, mean, transform_matrix(cov, style_color, kind, rtol), style_mean, alpha)


def wct_with_statistics(f: torch.Tensor, content_mean: torch.Tensor, content_cov: torch.Tensor, style_mean: torch.Tensor,
                        style_color: torch.Tensor, alpha: float = 1.0, rtol: float = RTOL, kind: str = "wct") -> torch.Tensor:
    """``wct`` with given content statistics (e.g. smoothed over time) instead of the features' own.

    f: (..., C, N); content_mean (..., C, 1) and content_cov (..., C, C); the output is
    ``alpha * (T(cov) (f - mean) + mu_style) + (1 - alpha) * f``. With the features' own
    statistics this equals ``wct``; others may be smoothed over time, or a whole image's for one of its tiles.
    """
    centered = f - content_mean.to(f.dtype)
    return _apply(centered, content_mean, transform_matrix(content_cov, style_color, kind, rtol), style_mean, alpha)


def _apply(centered: torch.Tensor, mean: torch.Tensor, t: torch.Tensor, style_mean: torch.Tensor, alpha: float) -> torch.Tensor:
    """``A @ centered + b`` with ``A = alpha * t + (1 - alpha) I`` and ``b = alpha * mu_s + (1 - alpha) * mean`` folded in
    float64 beforehand (``t``: the (..., C, C) transform); NHWC maps (channels fastest) keep their layout."""
    mu = style_mean.reshape(*style_mean.shape[:-1], -1, 1).double()
    if alpha != 1.0:
        eye = torch.eye(t.shape[-1], dtype=t.dtype, device=t.device)
        t = alpha * t + (1.0 - alpha) * eye
        mu = alpha * mu + (1.0 - alpha) * mean.double()
    if centered.shape[-2] > 1 and centered.stride(-2) == 1:  # channels fastest (NHWC maps): keep that layout
        out = (centered.transpose(-1, -2) @ t.to(centered.dtype).transpose(-1, -2)).transpose(-1, -2)
    else:
        out = t.to(centered.dtype) @ centered
    return out.add_(mu.to(centered.dtype))


def blend_linear(
    means: list[torch.Tensor], colors: list[torch.Tensor], weights: list[float]
) -> tuple[torch.Tensor, torch.Tensor]:
    """The paper's style interpolation: weighted sums of means and coloring matrices (weights sum to 1).

    Since whitening is shared, coloring with the blend equals the weighted sum of the
    features colored by each style.
    """
    mean = sum(w * m.double() for w, m in zip(weights, means))
    col = sum(w * c.double() for w, c in zip(weights, colors))
    return mean, col


def weighted_mean_and_covariance(f: torch.Tensor, w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Weighted mean (..., C, 1) and covariance (..., C, C) of features (..., C, N), float64.

    ``w`` (..., N) holds non-negative weights (a soft mask). The covariance is the unbiased
    reliability-weighted estimate ``sum w (f - mu)(f - mu)^T / (V1 - V2 / V1)`` (V1 = sum w,
    V2 = sum w^2), so all-ones weights give exactly ``mean_and_covariance``, and a hard 0/1 mask
    gives the statistics of the selected positions. An empty region (all weights zero) or a
    single position gives a zero mean or a zero covariance, never NaN.
    """
    w64 = w.double().unsqueeze(-2)  # (..., 1, N)
    v1 = w64.sum(dim=-1, keepdim=True)  # (..., 1, 1)
    v2 = (w64 * w64).sum(dim=-1, keepdim=True)
    tiny = torch.finfo(torch.float64).tiny
    mean = (f.double() * w64).sum(dim=-1, keepdim=True) / v1.clamp_min(tiny)  # (..., C, 1)
    centered = f - mean.to(f.dtype)  # (..., C, N) in the features' dtype
    cov = ((centered * w64.to(f.dtype)) @ centered.transpose(-1, -2)).double()  # (..., C, C)
    denom = v1 - v2 / v1.clamp_min(tiny)
    cov = torch.where(denom > 1e-12 * v1, cov / denom.clamp_min(tiny), torch.zeros_like(cov))
    return mean, 0.5 * (cov + cov.transpose(-1, -2))


def masked_wct(
    f: torch.Tensor,
    masks: torch.Tensor,
    style_means: list[torch.Tensor],
    style_colors: list[torch.Tensor],
    alpha: float = 1.0,
    rtol: float = RTOL,
    kind: str = "wct",
) -> torch.Tensor:
    """Spatial control: region k of the content takes style k.

    Args:
        f: content features (..., C, N).
        masks: (K, N) soft masks in [0, 1], one per style, at the features' resolution.
        style_means, style_colors: K means (C,) and coloring matrices (C, C).
        alpha: mix with the original features, as in ``wct``.
        kind: "wct" or "ost" (``transform_matrix``), per region.
    Returns:
        Features (..., C, N). Each position's share of region k is ``m_k / max(1, sum_j m_j)``
        (overlapping masks are normalised); region k is whitened with its own weighted
        statistics and colored by style k; the share no mask covers keeps the content's features.
        A region that is empty at this level is skipped. One all-ones mask equals ``wct``.
    """
    if masks.shape[0] != len(style_means) or len(style_means) != len(style_colors):
        raise ValueError(f"expected one mask per style, got {masks.shape[0]} mask(s) for {len(style_means)} style(s)")
    share = masks.double() / masks.double().sum(dim=0, keepdim=True).clamp_min(1.0)  # (K, N)
    out = f * (1.0 - share.sum(dim=0)).to(f.dtype)  # the uncovered share keeps the content
    for k in range(share.shape[0]):
        if not bool((share[k] > 0).any()):
            continue  # empty at this level
        mean, cov = weighted_mean_and_covariance(f, share[k])
        t = transform_matrix(cov, style_colors[k], kind, rtol).to(f.dtype)  # (..., C, C)
        mu = style_means[k].reshape(-1, 1).to(f.dtype)
        out = out + share[k].to(f.dtype) * (t @ (f - mean.to(f.dtype)) + mu)
    if alpha == 1.0:
        return out
    return torch.lerp(f, out, alpha)


def _roots(s: torch.Tensor, rtol: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(s^(1/2), s^(-1/2)) from one eigendecomposition, on the significant subspace, float64."""
    vals, vecs = torch.linalg.eigh(s)
    keep = (vals > rtol * vals[..., -1:].clamp_min(0)) & (vals > 0)
    safe = vals.clamp_min(torch.finfo(torch.float64).tiny)
    root = torch.where(keep, safe.sqrt(), torch.zeros_like(vals))
    inv = torch.where(keep, safe.rsqrt(), torch.zeros_like(vals))
    vt = vecs.transpose(-1, -2)
    return (vecs * root.unsqueeze(-2)) @ vt, (vecs * inv.unsqueeze(-2)) @ vt


def wasserstein_barycenter(
    covs: list[torch.Tensor],
    weights: list[float],
    *,
    max_iter: int = 30,
    tol: float = 1e-7,
    rtol: float = 1e-12,
) -> torch.Tensor:
    """Covariance (C, C) of the Wasserstein-2 barycenter of Gaussians N(0, C_i) with weights w_i (sum 1), float64.

    Fixed-point iteration of Alvarez-Esteban et al. (2016):
    ``S <- S^(-1/2) (sum_i w_i (S^(1/2) C_i S^(1/2))^(1/2))^2 S^(-1/2)``, started from the linear
    blend ``(sum_i w_i C_i^(1/2))^2`` (the exact answer when the C_i commute), and stopped after
    ``max_iter`` steps or when the relative Frobenius change is below ``tol``. Rank-deficient
    covariances are handled on the support: inverse roots are taken on eigenvalues above
    ``rtol`` x the largest (the start's support is the union of the C_i's supports).
    Styles with zero weight are ignored; one style is returned as given. Each step costs K + 1
    eigendecompositions; on VGG style statistics the change falls below 1e-7 in 5-15 steps
    (relu5_1 is the slowest). ``rtol`` is kept tiny: cutting at ``RTOL`` inside the iteration
    would bias the barycenter.
    """
    pairs = [(float(w), c.double()) for w, c in zip(weights, covs) if w > 0]
    if not pairs:
        raise ValueError("expected at least one positive weight")
    if len(pairs) == 1:
        return pairs[0][1]
    total = sum(w for w, _ in pairs)
    pairs = [(w / total, c) for w, c in pairs]
    s = sum(w * psd_power(c, 0.5, rtol) for w, c in pairs)
    s = s @ s
    for _ in range(max_iter):
        root, inv_root = _roots(s, rtol)
        t = sum(w * psd_power(root @ c @ root, 0.5, rtol) for w, c in pairs)  # (C, C)
        new = inv_root @ (t @ t) @ inv_root
        new = 0.5 * (new + new.transpose(-1, -2))
        change = torch.linalg.matrix_norm(new - s) / torch.linalg.matrix_norm(s).clamp_min(torch.finfo(torch.float64).tiny)
        s = new
        if float(change) <= tol:
            break
    return s


def blend_wasserstein(
    means: list[torch.Tensor], colors: list[torch.Tensor], weights: list[float], **kwargs
) -> tuple[torch.Tensor, torch.Tensor]:
    """Wasserstein-2 barycenter of the styles' Gaussian statistics (weights sum to 1), float64.

    The mean is the weighted mean; the coloring matrix is the square root of the barycenter of the
    covariances ``C_i = S_i @ S_i`` (``wasserstein_barycenter``; keyword arguments go there). For
    commuting covariances this equals ``blend_linear``; one style (or identical styles) give that style.
    """
    mean = sum(w * m.double() for w, m in zip(weights, means))
    live = [(w, c) for w, c in zip(weights, colors) if w > 0]
    if len(live) == 1:
        return mean, live[0][1].double()
    covs = [c.double() @ c.double() for _, c in live]
    bar = wasserstein_barycenter(covs, [w for w, _ in live], **kwargs)
    return mean, coloring_matrix(bar)
