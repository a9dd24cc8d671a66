"""Decoder losses: reconstruction (pixels, plus features at the tap) and the stylization term.

The stylization term teaches a decoder to decode *transferred* features, as it must in use: each crop's features
given a style's statistics (OST at a random alpha), decoded, should encode back to those features, with the style's
statistics at every level up to the tap (the decoder objective of Huang & Belongie's AdaIN, on the transform the
engine runs). The style is the next crop of the batch, or a crop of a painting.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..decoder import Decoder
from ..encoder import LEVELS, Encoder
from ..refine import statistics_loss
from ..transform import coloring_matrix, flat_features, mean_and_covariance, wct

__all__ = ["STYLIZE_ALPHA", "stylize_alpha", "transferred", "stylized_loss", "reconstruction_loss"]

STYLIZE_ALPHA = (0.5, 1.0)  # the range the stylization term's alpha is drawn from (the engine's default is 0.65)


def stylize_alpha(gen: torch.Generator) -> float:
    lo, hi = STYLIZE_ALPHA
    return lo + (hi - lo) * float(torch.rand((), generator=gen))


def transferred(taps: dict[str, torch.Tensor], level: str, alpha: float, styles: dict[str, torch.Tensor] | None = None
                ) -> torch.Tensor:  # fmt: skip
    """Each crop's features at ``level`` given the mean and covariance of the same crop of ``styles`` (default: the
    next crop of ``taps``), by OST mixed by ``alpha``, float32."""
    f = taps[level].float()
    s = f.roll(1, dims=0) if styles is None else styles[level].float()
    with torch.autocast(f.device.type, enabled=False):
        flat = flat_features(f)
        mean, cov = mean_and_covariance(flat_features(s))
        return wct(flat, mean[..., 0], coloring_matrix(cov), alpha, kind="ost").float().view(f.shape)


def stylized_loss(encoder: Encoder, decoder: Decoder, taps: dict[str, torch.Tensor], alpha: float,
                  styles: dict[str, torch.Tensor] | None = None) -> torch.Tensor:  # fmt: skip
    """Decode ``transferred`` features: their relative feature error plus the mean statistics distance of the
    output from the style's at each level up to the tap (``refine.statistics_loss``)."""
    level = decoder.level
    source = {lv: t.roll(1, dims=0) for lv, t in taps.items()} if styles is None else styles
    with torch.no_grad():
        target = transferred(taps, level, alpha, source)
        stats = {lv: mean_and_covariance(flat_features(source[lv].float())) for lv in LEVELS[: LEVELS.index(level) + 1]}
    out = encoder(decoder(target), upto=level)
    s = decoder.scale.view(1, -1, 1, 1)
    loss = F.mse_loss((out[level] / s).float(), target / s)
    for lv, (mean, cov) in stats.items():
        f = flat_features(out[lv].float())
        per = [statistics_loss(f[b], mean[b, :, 0].float(), cov[b].float()) for b in range(f.shape[0])]
        loss = loss + torch.stack(per).mean() / len(stats)
    return loss


def reconstruction_loss(encoder: Encoder, decoder: Decoder, x: torch.Tensor, feats: torch.Tensor,
                        feature_weight: float) -> torch.Tensor:  # fmt: skip
    """Pixel MSE of decode(features of ``x``) against ``x``, plus ``feature_weight`` times the MSE of its features at
    the tap (in units of the decoder's input scale)."""
    y = decoder(feats)
    loss = F.mse_loss(y.float(), x)
    if feature_weight > 0:
        s = decoder.scale.view(1, -1, 1, 1)
        again = encoder(y, upto=decoder.level)[decoder.level]
        loss = loss + feature_weight * F.mse_loss((again / s).float(), (feats / s).float())
    return loss
