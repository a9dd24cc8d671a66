"""Colour preservation as pure functions on RGB image tensors (..., 3, H, W) in [0, 1].

Two ways to keep a photo's colours through style transfer (Gatys et al. 2016, "Preserving
color in neural artistic style transfer"):

* ``keep_luminance`` (``preserve_color="luminance"``): stylize as usual, then keep only the
  result's luminance Y and put back the content's chroma (Cb, Cr). The style's brushwork and
  light/dark pattern stay; every colour is the photo's own.
* ``match_color`` (``preserve_color="histogram"``): before the transfer, recolour the style image
  so that its RGB mean and covariance are the content's (an affine map, Gatys et al.'s linear
  method, here with symmetric matrix square roots as in WCT). The style then carries the
  photo's palette, and the transfer moves those colours around as the painting does.

YCbCr is ITU-R BT.601 full range (as in JPEG), with Cb and Cr centred at 0.
"""

from __future__ import annotations

import torch

from .transform import RTOL, coloring_matrix, mean_and_covariance, wct

__all__ = ["RGB_TO_YCBCR", "rgb_to_ycbcr", "ycbcr_to_rgb", "keep_luminance", "match_color", "match_spread"]

RGB_TO_YCBCR = torch.tensor(
    [
        [0.299, 0.587, 0.114],
        [-0.168735892, -0.331264108, 0.5],
        [0.5, -0.418687589, -0.081312411],
    ],
    dtype=torch.float64,
)


def _apply(matrix: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """matrix (3, 3) applied to the channel axis of (..., 3, H, W)."""
    return torch.einsum("ij,...jhw->...ihw", matrix.to(x.dtype).to(x.device), x)


def rgb_to_ycbcr(x: torch.Tensor) -> torch.Tensor:
    """RGB (..., 3, H, W) -> Y in [0, 1], Cb and Cr in [-0.5, 0.5]."""
    return _apply(RGB_TO_YCBCR, x)


def ycbcr_to_rgb(x: torch.Tensor) -> torch.Tensor:
    """The inverse of ``rgb_to_ycbcr`` (not clamped)."""
    return _apply(torch.linalg.inv(RGB_TO_YCBCR), x)


def keep_luminance(stylized: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    """RGB with the luminance of ``stylized`` and the chroma (Cb, Cr) of ``content`` (same shape).

    Where the stylized luminance cannot carry the content's chroma inside the RGB cube, the
    luminance is clamped to the range that can, so the chroma is kept exactly and the result
    lies in [0, 1] (the content's own luminance is always in that range).
    """
    if stylized.shape != content.shape:
        raise ValueError(f"expected images of the same shape, got {tuple(stylized.shape)} and {tuple(content.shape)}")
    y = rgb_to_ycbcr(stylized.double())[..., :1, :, :]  # (..., 1, H, W)
    chroma = rgb_to_ycbcr(content.double())
    chroma[..., 0, :, :] = 0
    offset = ycbcr_to_rgb(chroma)  # (..., 3, H, W): RGB = Y + offset, per channel
    lo = (-offset).amax(dim=-3, keepdim=True)
    hi = (1 - offset).amin(dim=-3, keepdim=True)
    y = torch.minimum(torch.maximum(y, lo), hi)
    return (y + offset).clamp(0, 1).to(stylized.dtype)


def match_color(source: torch.Tensor, target: torch.Tensor, rtol: float = RTOL) -> torch.Tensor:
    """``source`` (..., 3, H, W) recoloured so its RGB mean and covariance are those of ``target`` (..., 3, H', W').

    The affine map ``x -> Σ_t^(1/2) Σ_s^(-1/2) (x - μ_s) + μ_t``: the WCT on pixels. Not clamped
    (the statistics are exact only without clamping); clamp before display or encoding.
    A flat-colour source becomes the target's mean colour.
    """
    src = source.flatten(-2)  # (..., 3, N)
    t_mean, t_cov = mean_and_covariance(target.flatten(-2).double())
    out = wct(src.double(), t_mean[..., 0], coloring_matrix(t_cov, rtol), 1.0, rtol)
    return out.view_as(source).to(source.dtype)


def match_spread(source: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``source`` (..., 3, H, W) given the RGB mean and the overall colour spread (the trace of the covariance) of
    ``target`` (..., 3, H', W'): one shift and one scalar gain per image, so shapes, edges and hue directions are
    untouched and a flat region stays flat. A flat source only takes the target's mean. Not clamped."""
    src, tgt = source.flatten(-2).double(), target.flatten(-2).double()
    s_mean, t_mean = src.mean(-1, keepdim=True), tgt.mean(-1, keepdim=True)
    s_var, t_var = (src - s_mean).pow(2).mean((-2, -1), keepdim=True), (tgt - t_mean).pow(2).mean((-2, -1), keepdim=True)
    gain = torch.where(s_var > 1e-12, (t_var / s_var.clamp_min(1e-12)).sqrt(), torch.zeros_like(s_var))
    return ((src - s_mean) * gain + t_mean).view_as(source).to(source.dtype)
