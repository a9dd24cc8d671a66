"""The pipeline's first step: prepare the inputs. The content (or a video's frames) at its working size, padded for the
networks, with the region masks at the same size; every check that can be made before the work is made here."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from .errors import InputError
from .image import ImageInput, Source, output_size, pad_to_multiple, resize_to, to_tensor, working_size
from .masks import prepare_masks
from .options import Options
from .smoothing import EXACT_MAX_PIXELS

__all__ = ["Canvas", "canvas", "frames_at", "check_smoothing"]

MULTIPLE = 16  # the networks pool four times: sides are padded to multiples of 16


@dataclass(frozen=True)
class Canvas:
    """A content image ready for the networks: ``x`` (1, 3, H, W) reflect-padded to multiples of 16, its working size
    ``size`` (h, w) before padding, where it came from (``source``), the region masks (K, H, W) or None, and the size
    of the result (``out_size``: the working size, except for images under MIN_SIDE or thinner than it)."""

    x: torch.Tensor
    size: tuple[int, int]
    source: Source
    masks: torch.Tensor | None = None
    out_size: tuple[int, int] | None = None

    @property
    def base(self) -> torch.Tensor:
        """The content at its working size, unpadded: (1, 3, h, w)."""
        return self.x[..., : self.size[0], : self.size[1]]


def canvas(content: ImageInput, options: Options, device: torch.device) -> Canvas:
    """The content at ``options``' working size on ``device``, with its masks (one per entry of ``options.masks``)."""
    x, src = to_tensor(content, downscale=options.downscale)
    out = output_size(*x.shape[-2:], options.content_size)
    h, w = working_size(*x.shape[-2:], options.content_size)
    x, size = pad_to_multiple(resize_to(x, (h, w)).to(device), MULTIPLE)
    check_smoothing(options, size)
    masks = None
    if options.masks is not None:
        masks = prepare_masks(options.masks, len(options.masks), src.size, size, tuple(x.shape[-2:])).to(device)
    return Canvas(x, size, src, masks, out)


def frames_at(frames: Sequence[np.ndarray], size: tuple[int, int], device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """HxWx3 uint8 frames -> ((B, 3, H, W) padded for the networks, (B, 3, h, w) at the working size ``size``); each
    frame is resized alone, so a frame's pixels do not depend on its batch."""
    small = torch.cat([resize_to(torch.from_numpy(np.ascontiguousarray(f)).permute(2, 0, 1)[None].float() / 255.0, size)
                       for f in frames])  # fmt: skip
    x, (h, w) = pad_to_multiple(small.to(device), MULTIPLE)
    return x, x[..., :h, :w]


def check_smoothing(options: Options, size: tuple[int, int]) -> None:
    """Refuse ``smoothing="exact"`` for a photorealistic run at a working ``size`` (h, w) over EXACT_MAX_PIXELS."""
    h, w = size
    if options.photorealistic and options.smoothing == "exact" and h * w > EXACT_MAX_PIXELS:
        raise InputError(
            f"smoothing='exact' is limited to {EXACT_MAX_PIXELS:,} pixels (about 1448x1448: time and memory), got {w}x{h}; "
            "use smoothing='fast' or 'auto' (the guided filter, any size), or a smaller max_size"
        )
