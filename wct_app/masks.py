"""Region masks from the form: brush strokes painted over the photo and uploaded masks -> one mask per style slot.

The engine (``wct.spatial``) takes one mask per region; here a slot's sources (an upload, its painted strokes) are
read, checked against the content's aspect ratio with ``wct.masks.aspect_matches``, brought to one grid and added.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

import wct
import wct.image
import wct.masks

__all__ = ["PAINT", "PAINTED_ALPHA", "painted_masks", "rest_mask", "slot_masks", "strokes"]

# brush colour per style slot for painting regions (name, RGB); the mask of slot i is where colour i was painted
PAINT = [("red", (220, 40, 40)), ("green", (40, 170, 60)), ("blue", (40, 90, 230)), ("yellow", (235, 200, 20))]
PAINTED_ALPHA = 0.1  # canvas pixels more opaque than this count as painted
EMPTY = 0.5 / 255  # a mask whose largest value is under this is all black


def painted_masks(layers: list[np.ndarray]) -> list[Image.Image | None]:
    """Brush strokes (RGBA layers of the region painter, in order) -> one grayscale mask per slot (None where that
    slot's colour is absent): each painted pixel goes to the nearest PAINT colour, later layers over earlier ones."""
    if not layers:
        return [None] * len(PAINT)
    h, w = layers[0].shape[:2]
    label = np.full((h, w), -1, dtype=np.int8)
    palette = np.array([rgb for _, rgb in PAINT], dtype=np.float32)  # (K, 3)
    for layer in layers:
        if layer.ndim != 3 or layer.shape[2] != 4 or layer.shape[:2] != (h, w):
            continue  # not a paint layer (no alpha, or another size)
        painted = layer[..., 3] > PAINTED_ALPHA * 255
        rgb = layer[..., :3][painted].astype(np.float32)  # (N, 3)
        nearest = np.empty(len(rgb), dtype=np.int8)
        for i in range(0, len(rgb), 1 << 20):  # in chunks: a large canvas stays within a few MB
            chunk = rgb[i : i + (1 << 20)]
            nearest[i : i + len(chunk)] = np.argmin(((chunk[:, None, :] - palette[None]) ** 2).sum(-1), axis=1)
        label[painted] = nearest
    return [Image.fromarray((label == k).astype(np.uint8) * 255) if (label == k).any() else None for k in range(len(PAINT))]


def strokes(painting: Any, open_file: Callable[[Any, str], str | None]) -> list[Image.Image | None]:
    """The region painter's value -> one mask per slot (None: that colour was not used). The form sends the painter's
    layers as uploaded files; ``open_file(value, what)`` gives the local file of one, as for any upload."""
    if not isinstance(painting, dict):
        return [None] * len(PAINT)
    layers = []
    for layer in painting.get("layers") or []:
        path = open_file(layer, "the painting")
        if path is not None:
            try:
                layers.append(np.asarray(wct.read_image(path).convert("RGBA")))
            except wct.ImageError as exc:
                raise wct.ImageError(f"the painting: {exc}") from None
    return painted_masks(layers)


def slot_masks(masks: dict[int, list], content_size: tuple[int, int], long_side: int) -> dict[int, torch.Tensor]:
    """{slot: [mask file or image, ...]} -> {slot: (h, w) tensor in [0, 1]} on one grid: the content's aspect, long
    side at most ``long_side``; a slot's masks (an upload, its painted strokes) add up. Refuses masks of another
    aspect ratio (any size is fine) and empty (all black) ones. ``content_size`` is (width, height), as PIL gives it."""
    cw, ch = content_size
    scale = min(1.0, long_side / max(cw, ch))
    grid = (max(1, round(ch * scale)), max(1, round(cw * scale)))
    out = {}
    for slot, sources in masks.items():
        for source in sources:
            name = f"mask {slot}" if isinstance(source, (str, os.PathLike)) else f"the {PAINT[slot - 1][0]} strokes"
            try:
                t = wct.masks.mask_to_tensor(source, name).float().cpu()
            except wct.ImageError as exc:
                raise wct.ImageError(f"{name}: {exc}") from None
            mh, mw = t.shape
            if not wct.masks.aspect_matches((mh, mw), (ch, cw)):
                raise wct.InputError(
                    f"{name} is {mw}x{mh} but the content is {cw}x{ch}: a mask needs the content's aspect ratio "
                    "(any size); crop or pad it to match"
                )
            if float(t.max()) < EMPTY:
                raise wct.InputError(f"{name} is empty (all black); white marks where style {slot} goes")
            shrink = grid[0] < mh or grid[1] < mw
            t = F.interpolate(t[None, None], size=grid, mode="bilinear", antialias=shrink, align_corners=False)[0, 0]
            out[slot] = torch.maximum(out[slot], t) if slot in out else t
    return {slot: t.clamp(0, 1) for slot, t in out.items()}


def rest_mask(masks: list[torch.Tensor]) -> torch.Tensor | None:
    """Where the masks leave room (1 - their sum, clamped); None when they cover everything."""
    rest = (1 - torch.stack(masks).sum(0)).clamp(0, 1)
    return rest if float(rest.max()) >= EMPTY else None
