"""Refinement: a few steps of optimisation on the stylized image itself (Gatys et al. 2016), started from the WCT result.

The loss matches, at relu1_1..relu4_1 of the encoder (relu5_1 is weighed 0: ``REFINE_WEIGHTS``), the output's feature
mean and covariance to the style's (exactly what a ``Style`` stores, so saved, blended and per-level styles work
unchanged), plus two content terms: the content's own features at one level, and the content's layout of light (its
luminance blurred at a scale of a few pixels, compared after removing the mean and spread, so the style keeps its own
tones while the photo's shapes, shading and faces stay where they are). With masks, each region's statistics are
weighted by its mask and matched to its own style. The decoders lose detail and fine texture; the optimisation puts
both back where the statistics say they belong, starting from the transfer's result, most steps at half size. The
image is optimised as four octaves of detail rather than as pixels (``octaves``, ``compose``), so the loss falls
faster. benchmarks/README.md, "quality.py", has the measurements and a race against a Gatys loop from the photo.

The losses are pure functions of feature tensors; ``Refiner`` holds the targets and runs the optimiser.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .encoder import LEVELS
from .masks import LUMA, masks_at
from .style import Style

__all__ = [
    "REFINE_LEVELS",
    "CONTENT_LEVEL",
    "CONTENT_WEIGHT",
    "statistics_loss",
    "content_loss",
    "layout",
    "layout_loss",
    "layout_sigma",
    "range_loss",
    "total_loss",
    "Targets",
    "content_targets",
    "octaves",
    "compose",
    "Refiner",
    "schedule",
    "refine_image",
]

# The statistics matched, and their weights (levels a Style lacks are skipped). relu5_1 is weighed 0: matching its
# statistics too cost both style distance and structure on the quality benchmark (benchmarks/README.md, "quality").
REFINE_WEIGHTS = {"relu1_1": 1.0, "relu2_1": 1.0, "relu3_1": 1.0, "relu4_1": 1.0, "relu5_1": 0.0}
REFINE_LEVELS = tuple(lv for lv in LEVELS if REFINE_WEIGHTS[lv] > 0)
CONTENT_LEVEL = "relu4_1"  # the content term's level
CONTENT_WEIGHT = 0.1  # its weight against the sum of the per-level statistics terms (measured, with the layout term)
LAYOUT_WEIGHT = 0.5  # the layout term's weight (measured: benchmarks/README.md, "quality.py")
LAYOUT_SIGMA = 2.0  # its blur, in pixels of a 512 px long side (scaled with the refined size; the same at each stage)
RANGE_WEIGHT = 100.0  # keeps the pixels in [0, 1]: the weight of the mean squared excursion outside it
COARSE_SHARE = 0.6  # of the steps run at half the resolution first (each costs a quarter of a full-size one)
MIN_SIDE = 64  # ...when that leaves at least this many pixels on the short side
MAX_SIDE = 1024  # the long side refinement runs at, at most (bounded memory; larger images get the change enlarged)
HISTORY = 10  # L-BFGS memory
PYRAMID = 4  # the image is optimised as this many octaves of detail (1 = the pixels alone): ``compose``

Encode = Callable[[torch.Tensor], dict[str, torch.Tensor]]  # (1, 3, H, W) -> {level: (1, C, h, w)}, differentiable


def _weighted_statistics(f: torch.Tensor, w: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean (C,) and covariance (C, C) of features (C, N), optionally weighted by ``w`` (N,) >= 0; float32, differentiable."""
    if w is None:
        mean = f.mean(dim=1)
        centered = f - mean[:, None]
        return mean, centered @ centered.T / max(f.shape[1] - 1, 1)
    total = w.sum().clamp_min(1e-8)
    mean = (f * w).sum(dim=1) / total
    centered = f - mean[:, None]
    return mean, (centered * w) @ centered.T / total


def statistics_loss(
    f: torch.Tensor, style_mean: torch.Tensor, style_cov: torch.Tensor, weight: torch.Tensor | None = None
) -> torch.Tensor:
    """How far the statistics of features (C, N) are from a style's: ``||Cov - Cov_s||_F^2 / ||Cov_s||_F^2 +
    ||mu - mu_s||^2 / tr(Cov_s)``, a scale-free number (0 = matched); ``weight`` (N,) weights the positions (a mask)."""
    mean, cov = _weighted_statistics(f, weight)
    scale = style_cov.pow(2).sum().clamp_min(1e-12)
    spread = torch.diagonal(style_cov).sum().clamp_min(1e-12)
    return (cov - style_cov).pow(2).sum() / scale + (mean - style_mean).pow(2).sum() / spread


def range_loss(x: torch.Tensor) -> torch.Tensor:
    """Mean squared distance of the pixels of ``x`` from [0, 1] (0 inside)."""
    return (x - x.clamp(0, 1)).pow(2).mean()


def content_loss(f: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Relative squared distance of features to the content's: ``||f - f_c||^2 / ||f_c||^2``."""
    return (f - target).pow(2).sum() / target.pow(2).sum().clamp_min(1e-12)


def _blur(y: torch.Tensor, sigma: float) -> torch.Tensor:
    """(1, 1, H, W) blurred by a separable Gaussian of ``sigma`` px, reflect padding (radius capped by the size)."""
    radius = min(int(3 * sigma + 0.5), y.shape[-1] - 1, y.shape[-2] - 1)
    if sigma <= 0 or radius < 1:
        return y
    taps = torch.arange(-radius, radius + 1, dtype=y.dtype, device=y.device)
    g = torch.exp(-(taps**2) / (2 * sigma**2))
    g = g / g.sum()
    y = F.conv2d(F.pad(y, (radius, radius, 0, 0), mode="reflect"), g.view(1, 1, 1, -1))
    return F.conv2d(F.pad(y, (0, 0, radius, radius), mode="reflect"), g.view(1, 1, -1, 1))


def layout(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """The layout of light of an image (1, 3, H, W): its luminance blurred by ``sigma`` px, standardised to mean 0 and
    standard deviation 1 over the image (a flat image gives about zero)."""
    y = _blur((x.float() * x.new_tensor(LUMA, dtype=torch.float32).view(1, 3, 1, 1)).sum(1, keepdim=True), sigma)
    y = y - y.mean()
    return y / y.pow(2).mean().sqrt().clamp_min(1e-4)


def layout_sigma(size: tuple[int, int]) -> float:
    """The layout blur for a refinement whose full-size stage is ``size`` (h, w): LAYOUT_SIGMA per 512 px of long side."""
    return LAYOUT_SIGMA * max(size) / 512


def layout_loss(x: torch.Tensor, target: torch.Tensor, sigma: float) -> torch.Tensor:
    """Mean squared difference of the layout of ``x`` from a ``layout`` target: 2 (1 - correlation) of the two
    blurred luminances, so 0 when they agree up to brightness and contrast, whatever the tones."""
    return (layout(x, sigma) - target).pow(2).mean()


@dataclass
class Targets:
    """What the optimisation aims at: per region a Style (and a mask (H, W) at the working size, or None for the whole
    image), the levels to match, the content's features at ``CONTENT_LEVEL`` and (optionally) its ``layout``."""

    styles: Sequence[Style]
    masks: torch.Tensor | None  # (K, H, W) or None (one style, the whole image)
    levels: Sequence[str]
    content: torch.Tensor  # (1, C, h, w) at CONTENT_LEVEL
    content_weight: float = CONTENT_WEIGHT
    layout: torch.Tensor | None = None  # (1, 1, H, W): layout(content, sigma) at the working size
    layout_weight: float = LAYOUT_WEIGHT
    sigma: float = LAYOUT_SIGMA


def content_targets(
    features: Encode, content: torch.Tensor, styles: Sequence[Style], levels: Sequence[str], *,
    masks: torch.Tensor | None = None, content_weight: float = CONTENT_WEIGHT, layout_weight: float = LAYOUT_WEIGHT,
    sigma: float = LAYOUT_SIGMA,
) -> Targets:
    """The Targets for an image of ``content``'s size (1, 3, H, W): its features and layout measured here."""
    with torch.no_grad():
        feats = features(content, CONTENT_LEVEL)[CONTENT_LEVEL].float()
        light = layout(content, sigma) if layout_weight > 0 else None
    return Targets(styles, masks, levels, feats, content_weight, light, layout_weight, sigma)


def total_loss(taps: Mapping[str, torch.Tensor], targets: Targets) -> torch.Tensor:
    """The refinement loss of encoder taps (float32 maps (1, C, h, w)): statistics per level and region, plus content."""
    loss = targets.content_weight * content_loss(taps[CONTENT_LEVEL].float(), targets.content)
    for lv in targets.levels:
        f = taps[lv].float().flatten(2)[0]  # (C, N)
        if targets.masks is None:
            st = targets.styles[0]
            loss = loss + REFINE_WEIGHTS[lv] * statistics_loss(f, st.mean(lv), st.covariance(lv))
            continue
        share = masks_at(targets.masks, tuple(taps[lv].shape[-2:]))  # (K, N)
        share = share / share.sum(dim=0, keepdim=True).clamp_min(1.0)
        for k, st in enumerate(targets.styles):
            area = float(share[k].mean())
            if area > 0:
                loss = loss + REFINE_WEIGHTS[lv] * area * statistics_loss(f, st.mean(lv), st.covariance(lv), share[k])
    return loss


def octaves(x: torch.Tensor, count: int) -> list[torch.Tensor]:
    """The parameters of an image (1, 3, H, W) as ``count`` octaves: ``x`` itself, then zeros at 1/2, 1/4, ... of its
    size (while a side stays at least 2 px), each a leaf that requires grad; ``compose`` gives the image back."""
    h, w = x.shape[-2:]
    parts = [x.detach().clone(memory_format=torch.contiguous_format)]
    for k in range(1, count):
        if min(h >> k, w >> k) < 2:
            break
        parts.append(x.new_zeros(1, x.shape[1], h >> k, w >> k))
    return [p.requires_grad_(True) for p in parts]


def compose(parts: Sequence[torch.Tensor]) -> torch.Tensor:
    """The image of ``octaves``: the first part plus each coarser one enlarged to its size (bilinear). Optimising the
    octaves rather than the pixels moves broad areas as easily as single pixels (a Laplacian-pyramid
    parameterisation, as in Kolkin et al., STROTSS, 2019): the same loss falls faster per step."""
    size = tuple(parts[0].shape[-2:])
    y = parts[0]
    for p in parts[1:]:
        y = y + resized(p, size)
    return y


class Refiner:
    """L-BFGS iterations on an image (1, 3, H, W) against ``targets``, optimised as ``pyramid`` octaves (1 = the
    pixels, the plain Gatys loop); ``encode(x, upto)`` must be differentiable."""

    def __init__(self, encode: Encode, targets: Targets, *, history: int = HISTORY, pyramid: int = PYRAMID) -> None:
        self.encode, self.targets, self.history, self.pyramid = encode, targets, history, pyramid
        self.deepest = max((*targets.levels, CONTENT_LEVEL), key=LEVELS.index)
        self.losses: list[float] = []

    def loss(self, x: torch.Tensor) -> torch.Tensor:
        """The total refinement loss of ``x`` (1, 3, H, W): ``total_loss`` of its taps, its layout and range terms."""
        loss = total_loss(self.encode(x, self.deepest), self.targets) + RANGE_WEIGHT * range_loss(x)
        t = self.targets
        if t.layout is not None and t.layout_weight > 0:
            loss = loss + t.layout_weight * layout_loss(x, t.layout, t.sigma)
        return loss

    def run(self, x0: torch.Tensor, steps: int, after_step: Callable[[], None] | None = None) -> torch.Tensor:
        """``steps`` iterations from ``x0`` (one loss evaluation each); ``after_step()`` after each, and what it raises
        stops the run. Returns the image clamped to [0, 1]."""
        parts = octaves(x0, self.pyramid)
        opt = torch.optim.LBFGS(parts, lr=1.0, max_iter=1, history_size=self.history)

        def closure() -> torch.Tensor:
            opt.zero_grad(set_to_none=True)
            loss = self.loss(compose(parts))
            loss.backward()
            return loss

        for _ in range(steps):
            with torch.enable_grad():
                self.losses.append(float(opt.step(closure).detach()))
            if after_step is not None:
                after_step()
        with torch.no_grad():
            return compose(parts).detach().clamp(0, 1)


def resized(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(B, C, H, W) resampled to ``size``: area-antialiased bilinear when shrinking, bilinear when enlarging."""
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    shrink = size[0] < x.shape[-2] or size[1] < x.shape[-1]
    return F.interpolate(x, size=size, mode="bilinear", antialias=shrink, align_corners=False)


def schedule(steps: int, size: tuple[int, int], max_side: int = MAX_SIDE) -> list[tuple[tuple[int, int], int]]:
    """The (size, steps) stages of a refinement of ``steps`` at ``size`` (h, w): COARSE_SHARE of the steps at half the
    resolution first (a quarter of the cost each), when that is at least MIN_SIDE px; the rest at ``size``, or at
    ``max_side`` on the long side when ``size`` is larger (bounded memory)."""
    h, w = size
    scale = min(1.0, max_side / max(h, w))
    top = (max(1, round(h * scale)), max(1, round(w * scale)))
    half = (top[0] // 2, top[1] // 2)
    coarse = round(steps * COARSE_SHARE) if min(half) >= MIN_SIDE and steps > 1 else 0
    return [(s, n) for s, n in ((half, coarse), (top, steps - coarse)) if n > 0]


def refine_image(
    features: Encode,
    x: torch.Tensor,
    content: torch.Tensor,
    styles: Sequence[Style],
    steps: int,
    *,
    masks: torch.Tensor | None = None,
    content_weight: float = CONTENT_WEIGHT,
    layout_weight: float = LAYOUT_WEIGHT,
    after_step: Callable[[], None] | None = None,
) -> torch.Tensor:
    """Refine a stylized image ``x`` (1, 3, H, W) of ``content`` (same shape) after ``styles`` (one, or one per mask of
    ``masks`` (K, H, W)) in ``steps`` L-BFGS iterations, coarse to fine (``schedule``). Each stage optimises the
    image at its size; the change it makes is brought to the next size and added, so detail of ``x`` above the
    working resolution is kept. ``features(x, upto)`` gives differentiable encoder taps. The layout term's blur is
    LAYOUT_SIGMA px per 512 px of the refined long side, at every stage."""
    levels = [lv for lv in REFINE_LEVELS if all(s.has(lv) for s in styles)]
    with torch.inference_mode(False), torch.enable_grad():  # callers may run under inference mode: leave it, copy in
        x, content = x.clone(), content.clone()
        styles = [Style({lv: (s.mean(lv).clone(), s.color(lv).clone()) for lv in levels}, encoder=s.encoder) for s in styles]
        masks = None if masks is None else masks.clone()
        weights = {"content_weight": content_weight, "layout_weight": layout_weight}
        return _stages(features, x, content, styles, steps, masks, levels, weights, after_step)


def _stages(features, x, content, styles, steps, masks, levels, weights, after_step) -> torch.Tensor:
    """refine_image's coarse-to-fine stages."""
    y = x
    stages = schedule(steps, tuple(x.shape[-2:]))
    sigma = layout_sigma(stages[-1][0]) if stages else LAYOUT_SIGMA
    for size, n in stages:
        stage_masks = None if masks is None else resized(masks[None], size)[0].clamp(0, 1)
        targets = content_targets(features, resized(content, size), styles, levels, masks=stage_masks, sigma=sigma,
                                  **weights)
        start = resized(y, size)
        out = Refiner(features, targets).run(start, n, after_step)
        y = (y + resized(out - start, tuple(x.shape[-2:]))).clamp(0, 1)
    return y
