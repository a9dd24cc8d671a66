"""Masks for spatial control: paths, PIL images, arrays or tensors -> (K, H, W) float tensors in [0, 1].

A mask says how much of each pixel belongs to a region (1 = all of it; soft values allowed); styles given no mask
(None) share the rest of the picture, one more region: where the masks sum below 1.
Image masks are read as grayscale (white = 1; transparency is flattened onto white, as for
images). Masks must have the content's aspect ratio; they are resized with the content to the
working size, padded like it, and averaged down to each level's feature size.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from .errors import ImageError, InputError
from .image import _pil_to_array, read_image

__all__ = ["MaskInput", "ASPECT_TOLERANCE", "LUMA", "aspect_matches", "mask_to_tensor", "prepare_masks", "rest_of", "masks_at"]

MaskInput = str | os.PathLike | Image.Image | np.ndarray | torch.Tensor

ASPECT_TOLERANCE = 0.02  # relative difference of width/height ratios allowed between a mask and the content
LUMA = (0.299, 0.587, 0.114)
EMPTY = 0.5 / 255  # a mask whose largest value is under this is all black: refused


def _check_range(a: np.ndarray | torch.Tensor, name: str) -> None:
    lo, hi = float(a.min()), float(a.max())
    if not (lo >= -1e-3 and hi <= 1 + 1e-3):  # NaN fails too
        raise InputError(f"{name} has values in [{lo:.3g}, {hi:.3g}]; expected values in [0, 1] (fix: divide by 255)")


def aspect_matches(size: tuple[int, int], content_size: tuple[int, int]) -> bool:
    """Whether a mask of ``size`` (H, W) has the aspect ratio of a content of ``content_size`` (H, W), within
    ASPECT_TOLERANCE (masks of any size with that ratio are resized to the content)."""
    (mh, mw), (ch, cw) = size, content_size
    return abs((mw / mh) / (cw / ch) - 1) <= ASPECT_TOLERANCE


def mask_to_tensor(mask: MaskInput, name: str = "mask") -> torch.Tensor:
    """One mask -> (H, W) float32 in [0, 1] on the CPU (or its own device for tensors).

    Accepts an image path or PIL image (grayscale, white = 1), an HxW (or HxWx1) array of bool,
    uint8 (/255), uint16 (/65535) or floats in [0, 1], or a float/bool tensor (H, W), (1, H, W)
    or (1, 1, H, W) in [0, 1].
    """
    if isinstance(mask, (str, os.PathLike)):
        mask = read_image(mask)
    if isinstance(mask, Image.Image):
        rgb = _pil_to_array(mask)  # HxWx3 float32 in [0, 1]
        return torch.from_numpy(rgb @ np.asarray(LUMA, dtype=np.float32)).clamp(0, 1)
    if isinstance(mask, np.ndarray):
        a = mask[..., 0] if mask.ndim == 3 and mask.shape[2] == 1 else mask
        if a.ndim != 2:
            raise ImageError(
                f"{name}: expected an HxW mask array, got shape {mask.shape} (fix: pass one channel, e.g. a[..., 0])"
            )
        if a.dtype == bool:
            return torch.from_numpy(a.astype(np.float32))
        if a.dtype == np.uint8:
            return torch.from_numpy(a.astype(np.float32) / 255.0)
        if a.dtype == np.uint16:
            return torch.from_numpy(a.astype(np.float32) / 65535.0)
        if not np.issubdtype(a.dtype, np.floating):
            raise ImageError(f"{name}: expected a bool, uint8, uint16 or float mask array, got dtype {a.dtype}")
        _check_range(a, name)
        return torch.from_numpy(np.clip(a.astype(np.float32), 0, 1))
    if isinstance(mask, torch.Tensor):
        t = mask
        while t.ndim > 2 and t.shape[0] == 1:
            t = t[0]
        if t.ndim != 2:
            raise ImageError(f"{name}: expected a mask tensor of shape (H, W) or (1, H, W), got {tuple(mask.shape)}")
        if t.dtype == torch.bool:
            return t.float()
        if not t.is_floating_point():
            raise ImageError(f"{name}: expected a float or bool mask tensor, got dtype {t.dtype}")
        _check_range(t, name)
        return t.float().clamp(0, 1)
    raise InputError(f"{name}: expected a mask path, PIL image, HxW array or (H, W) tensor, got {type(mask).__name__}")


def prepare_masks(
    masks: Sequence[MaskInput | None],
    count: int,
    content_size: tuple[int, int],
    working: tuple[int, int],
    padded: tuple[int, int],
) -> torch.Tensor:
    """Validate ``count`` masks and bring them to the content's working size, padded: (K, H', W'): the masks given, in
    order, then, when some entries are None (styles that share the rest), the rest of the picture (``rest_of``).

    Args:
        masks: one mask (or None) per style, in order.
        content_size: (H, W) of the content as given (for the aspect-ratio check).
        working: (h, w) the content is processed at; padded: (H', W') after reflect padding.
    Raises:
        InputError: wrong count, wrong aspect ratio, values outside [0, 1].
    """
    if isinstance(masks, (str, os.PathLike, Image.Image, np.ndarray, torch.Tensor)):
        masks = [masks]
    masks = list(masks)
    if len(masks) != count:
        raise InputError(f"expected one mask per style: {count} mask(s), got {len(masks)}")
    out = [_prepared(m, i, content_size, working, padded) for i, m in enumerate(masks, 1) if m is not None]
    if any(m is None for m in masks):
        out.append(rest_of(out))
    return torch.stack(out)  # (K, H', W')


def rest_of(masks: Sequence[torch.Tensor]) -> torch.Tensor:
    """The part of the picture that ``masks`` (each (H, W)) leave: 1 - their sum, clamped to [0, 1]."""
    return (1 - torch.stack(list(masks)).sum(0)).clamp(0, 1)


def _prepared(m: MaskInput, i: int, content_size: tuple[int, int], working: tuple[int, int],
              padded: tuple[int, int]) -> torch.Tensor:
    """Mask ``i`` checked and brought to the working size, padded: (H', W')."""
    ch, cw = content_size
    t = mask_to_tensor(m, f"mask {i}").cpu()
    mh, mw = t.shape
    if min(mh, mw) < 1:
        raise ImageError(f"mask {i} is empty ({mw}x{mh})")
    if float(t.max()) < EMPTY:
        raise InputError(f"mask {i} is empty (all black); white marks where its style goes (None: no region of its own)")
    if not aspect_matches((mh, mw), content_size):
        raise InputError(
            f"mask {i} is {mw}x{mh} (aspect {mw / mh:.3g}) but the content is {cw}x{ch} (aspect {cw / ch:.3g}); "
            "expected masks with the content's aspect ratio"
        )
    t = t[None, None]  # (1, 1, mh, mw)
    if (mh, mw) != tuple(working):
        shrink = working[0] < mh or working[1] < mw
        t = F.interpolate(t, size=working, mode="bilinear", antialias=shrink, align_corners=False).clamp(0, 1)
    ph, pw = padded[0] - working[0], padded[1] - working[1]
    if ph or pw:
        t = F.pad(t, (0, pw, 0, ph), mode="reflect" if min(working) > max(ph, pw) else "replicate")
    return t[0, 0]


def masks_at(masks: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Masks (K, H, W) averaged down to a feature map of ``size`` (h, w): (K, h * w)."""
    if tuple(masks.shape[-2:]) != tuple(size):
        masks = F.interpolate(masks[None], size=size, mode="area")[0]
    return masks.flatten(1)
