"""The pipeline's last step: the result cropped to the working size (and brought back to the input's size if that was
upscaled for the networks), converted to what the content was given as."""

from __future__ import annotations

import torch

from .image import from_tensor, resize_to
from .prepare import Canvas

__all__ = ["finish"]


def finish(y: torch.Tensor, canvas: Canvas):
    """(1, 3, H, W) in [0, 1] -> a PIL image, or a tensor shaped like a tensor content."""
    h, w = canvas.size
    y = y[..., :h, :w]
    if min(canvas.source.size) < min(canvas.size):  # upscaled only to survive the poolings: restore the input size
        y = resize_to(y, canvas.source.size)
    return from_tensor(y.float(), canvas.source)
