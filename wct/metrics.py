"""Image measures on (B, 3, H, W) tensors in [0, 1]: PSNR and SSIM (Wang et al. 2004); colour statistics in CIE Lab.

Lab is CIE 1976 L*a*b* of sRGB (IEC 61966-2-1) under D65, white normalised to the sRGB matrix's own white, so RGB
white is exactly (100, 0, 0). ``lab_statistics_distance`` is the Wasserstein-2 distance between the Gaussians with
the two images' Lab means and covariances; ``color_transfer_fraction`` says how far an output's colour statistics
moved from the content's toward the style's.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .transform import mean_and_covariance, psd_power

__all__ = ["psnr", "ssim", "rgb_to_lab", "lab_statistics_distance", "color_transfer_fraction"]

SRGB_TO_XYZ = torch.tensor(
    [[0.4124564, 0.3575761, 0.1804375], [0.2126729, 0.7151522, 0.0721750], [0.0193339, 0.1191920, 0.9503041]],
    dtype=torch.float64,
)  # linear sRGB -> CIE XYZ (D65)


def psnr(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Peak signal-to-noise ratio in dB per image, for data range 1."""
    mse = (x.float() - y.float()).pow(2).flatten(1).mean(1)
    return -10.0 * torch.log10(mse.clamp_min(1e-12))


def _gaussian_window(size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    g = torch.exp(-((torch.arange(size, dtype=torch.float64) - size // 2) ** 2) / (2 * sigma**2))
    g = g / g.sum()
    return (g[:, None] * g[None, :]).float()


def ssim(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean SSIM per image (Gaussian window 11, sigma 1.5, data range 1, channels averaged)."""
    c = x.shape[1]
    w = _gaussian_window().to(x.device).expand(c, 1, 11, 11)
    x, y = x.float(), y.float()

    def blur(t: torch.Tensor) -> torch.Tensor:
        return F.conv2d(t, w, groups=c)  # valid region only, as scikit-image crops it

    mx, my = blur(x), blur(y)
    sxx, syy, sxy = blur(x * x) - mx * mx, blur(y * y) - my * my, blur(x * y) - mx * my
    c1, c2 = 0.01**2, 0.03**2
    s = ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx * mx + my * my + c1) * (sxx + syy + c2))
    return s.flatten(1).mean(1)


def rgb_to_lab(x: torch.Tensor) -> torch.Tensor:
    """sRGB (..., 3, H, W) in [0, 1] -> CIE Lab (..., 3, H, W), float64: L in [0, 100], a and b about [-128, 128]."""
    x = x.double().clamp(0, 1)
    linear = torch.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4)
    m = SRGB_TO_XYZ.to(x.device)
    xyz = torch.einsum("ij,...jhw->...ihw", m / m.sum(1, keepdim=True), linear)  # relative to the white (1, 1, 1)
    d = 6.0 / 29.0
    f = torch.where(xyz > d**3, xyz.clamp_min(d**3) ** (1.0 / 3.0), xyz / (3 * d * d) + 4.0 / 29.0)
    fx, fy, fz = f.unbind(-3)
    return torch.stack([116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz)], -3)


def lab_statistics_distance(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Wasserstein-2 distance between the Gaussian Lab colour statistics of images a and b, in Lab units, float64.

    a, b: (..., 3, H, W) RGB in [0, 1] (sizes may differ; leading dims broadcast). With means m and covariances C:
    ``W2^2 = |m_a - m_b|^2 + tr(C_a + C_b - 2 (C_a^1/2 C_b C_a^1/2)^1/2)``; 0 for the same statistics, symmetric,
    and for flat images the distance of their Lab colours. Returns shape (...).
    """
    ma, ca = mean_and_covariance(rgb_to_lab(a).flatten(-2))  # (..., 3, 1), (..., 3, 3)
    mb, cb = mean_and_covariance(rgb_to_lab(b).flatten(-2))
    root = psd_power(ca, 0.5, 1e-12)
    cross = psd_power(root @ cb @ root, 0.5, 1e-12)
    trace = torch.diagonal(ca + cb - 2 * cross, dim1=-2, dim2=-1).sum(-1)
    return ((ma - mb).square().sum((-2, -1)) + trace).clamp_min(0).sqrt()


def color_transfer_fraction(output: torch.Tensor, content: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
    """How far the output's Lab statistics moved toward the style's: ``1 - d(output, style) / d(content, style)``.

    0: still the content's colours; 1: the style's mean and covariance; negative: further from the style than the
    content was. ``d`` is ``lab_statistics_distance``; a content already at the style's statistics gives 1.
    """
    before = lab_statistics_distance(content, style)
    after = lab_statistics_distance(output, style)
    return torch.where(before > 1e-9, 1.0 - after / before.clamp_min(1e-9), torch.ones_like(before))
