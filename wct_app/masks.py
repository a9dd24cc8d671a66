"""Region masks from the form: brush strokes painted over the photo -> one mask per style slot, and a slot's uploaded
mask and its strokes -> one mask.

Everything else about regions is the engine's (``masks=`` of ``wct.Options``): it resizes masks of the content's aspect
ratio, refuses empty ones, and gives the styles without a mask the rest of the picture.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from PIL import Image

import wct

__all__ = ["PAINT", "PAINTED_ALPHA", "combined", "painted_masks", "strokes"]

# brush colour per style slot for painting regions (name, RGB); the mask of slot i is where colour i was painted
PAINT = [("red", (220, 40, 40)), ("green", (40, 170, 60)), ("blue", (40, 90, 230)), ("yellow", (235, 200, 20))]
PAINTED_ALPHA = 0.1  # canvas pixels more opaque than this count as painted


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


def combined(upload: Image.Image | None, painted: Image.Image | None) -> Image.Image | np.ndarray | None:
    """One slot's mask for the engine: its uploaded mask, its painted strokes, or where either is white (the strokes
    resized to the upload, so the engine checks the upload's aspect ratio against the content's)."""
    if upload is None or painted is None:
        return painted if upload is None else upload
    strokes_there = np.asarray(painted.convert("L").resize(upload.size, Image.Resampling.BILINEAR), np.float32) / 255
    return np.maximum(_grey(upload), strokes_there)


def _grey(image: Image.Image) -> np.ndarray:
    """A mask image as an HxW float32 array in [0, 1]: white is 1, transparency counts as white (as in the engine)."""
    if image.mode == "F" or image.mode.startswith("I"):  # float or 16-bit grey levels, scaled as the engine does
        a = np.asarray(image, np.float64)
        if image.mode == "F":
            top = 255.0 if a.max(initial=0) > 1 else 1.0
        else:
            top = 65535.0 if a.max(initial=0) > 255 or image.mode.startswith("I;16") else 255.0
        return np.clip(a / top, 0, 1).astype(np.float32)
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        image = Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba)
    return np.asarray(image.convert("L"), np.float32) / 255
