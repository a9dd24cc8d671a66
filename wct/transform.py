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
"""

from __future__ import annotations

import torch

__all__ = [
    "RTOL",
    "mean_and_covariance",
    "psd_power",
    "whitening_matrix",
    "coloring_matrix",
    "whiten",
    "color",
    "wct_matrix",
    "wct",
    "blend_linear",
]

RTOL = 1e-5


def mean_and_covariance(f: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean (..., C, 1) and unbiased covariance (..., C, C) of features (..., C, N), both float64."""
    n = f.shape[-1]
    mean = f.double().mean(dim=-1, keepdim=True)
    centered = f - mean.to(f.dtype)  # (..., C, N) in the features' dtype
    cov = (centered @ centered.transpose(-1, -2)).double() / max(n - 1, 1)
    return mean, 0.5 * (cov + cov.transpose(-1, -2))


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


def wct(
    f: torch.Tensor,
    style_mean: torch.Tensor,
    style_color: torch.Tensor,
    alpha: float = 1.0,
    rtol: float = RTOL,
) -> torch.Tensor:
    """Whiten content features (..., C, N), color them with the style, mix: alpha * f_cs + (1 - alpha) * f."""
    mean, cov = mean_and_covariance(f)
    t = wct_matrix(cov, style_color, rtol).to(f.dtype)  # (..., C, C)
    mu = style_mean.reshape(*style_mean.shape[:-1], -1, 1).to(f.dtype)
    out = t @ (f - mean.to(f.dtype)) + mu
    if alpha == 1.0:
        return out
    return torch.lerp(f, out, alpha)


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
