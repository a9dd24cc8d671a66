"""The pipeline's last step: the result cropped to the working size (and brought to the result's size where that
differs: images under the network's minimum side, or thinner than it), converted to what the content was given as."""

from __future__ import annotations

import torch

from .image import from_tensor, resize_to
from .prepare import Canvas

__all__ = ["finish"]


def finish(y: torch.Tensor, canvas: Canvas):
    """(1, 3, H, W) in [0, 1] -> a PIL image, or a tensor shaped like a tensor content."""
    h, w = canvas.size
    y = y[..., :h, :w]
    if canvas.out_size is not None and canvas.out_size != (h, w):  # worked larger only to survive the poolings
        y = resize_to(y, canvas.out_size)
    return from_tensor(y.float(), canvas.source)
