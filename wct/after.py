"""The pipeline's fourth step: what follows the levels on a stylized image: refinement, the photorealistic
smoothing, the kept luminance (in that order), each image on its own."""

from __future__ import annotations

from collections.abc import Callable

import torch

from .color import keep_luminance, match_spread
from .levels import MaskedStep, Step
from .networks import Networks
from .options import Options
from .refine import refine_image
from .smoothing import smooth

__all__ = ["after_levels", "photo_finish", "Tick"]

Tick = Callable[[str], None]  # called with "refine" after each refinement step, "smooth" after the smoothing


def after_levels(networks: Networks, y: torch.Tensor, base: torch.Tensor, step: Step, options: Options,
                 tick: Tick | None = None) -> torch.Tensor:
    """The after-steps on a stylized (1, 3, h, w) of ``base`` (the content at the same size), as ``options`` ask."""
    if options.refine:
        masks = step.masks[..., : base.shape[-2], : base.shape[-1]] if isinstance(step, MaskedStep) else None
        styles = [networks.refine_style(s) for s in (step.styles if isinstance(step, MaskedStep) else [step.style])]
        after = None if tick is None else lambda: tick("refine")
        y = refine_image(networks.features, y, base, styles, options.refine, masks=masks, after_step=after)
    if options.photorealistic:
        y = photo_finish(y, base, options.smoothing)
        if tick is not None:
            tick("smooth")
    if options.preserve_color == "luminance":
        y = keep_luminance(y, base)
    return y


def photo_finish(y: torch.Tensor, content: torch.Tensor, smoothing: str = "auto") -> torch.Tensor:
    """The photorealistic mode's last step on stylized images y (B, 3, h, w) of ``content`` (B|1, 3, h, w), after the
    levels (after tiling too, so no tile seams can show): edge-aware smoothing guided by the content
    (``wct.smoothing.smooth`` by ``smoothing``, "auto", "exact" or "fast"), then each smoothed image is given the
    RGB mean and overall colour spread of its unsmoothed self (``match_spread``: one shift, one gain): smoothing
    removes the transfer's pixel noise and with it part of the colour contrast it moved toward the style, and the
    gain puts that back without touching shapes or edges; [0, 1] out."""
    return match_spread(smooth(y, content, method=smoothing), y).clamp(0, 1)
