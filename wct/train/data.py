"""Training data: photos split into training and held-out sets, random crops with scale jitter and flips."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import torch
from PIL import Image

from ..image import fit_multiple, resize_to

__all__ = ["IMAGE_SUFFIXES", "split_images", "split_styles", "is_held_out_style", "image_files", "load_rgb", "sized", "crop_side",
           "random_batch"]

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}


def image_files(folder: str | os.PathLike) -> list[Path]:
    """The images of ``folder``, sorted by name."""
    return sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


def split_images(folder: str | os.PathLike) -> tuple[list[Path], list[Path]]:
    """(train, held-out) image paths; about 1 in 20 files is held out, decided by a hash of its name."""
    files = image_files(folder)
    held = [p for p in files if int(hashlib.sha1(p.name.encode()).hexdigest()[:8], 16) % 20 == 0]
    held_set = set(held)
    return [p for p in files if p not in held_set], held


def load_rgb(path: Path) -> torch.Tensor:
    """An image file as (3, H, W) uint8 RGB."""
    with Image.open(path) as im:
        arr = torch.frombuffer(bytearray(im.convert("RGB").tobytes()), dtype=torch.uint8)
        return arr.view(im.height, im.width, 3).permute(2, 0, 1).contiguous()


def sized(img: torch.Tensor, long_side: int) -> torch.Tensor:
    """(3,H,W) uint8 -> (1,3,h,w) float in [0,1], long side ``long_side``, sides multiples of 16."""
    return fit_multiple(img[None].float() / 255.0, long_side)


def crop_side(short: int, crop: int, enlarge: float, gen: torch.Generator) -> int:
    """Side of the photo region a crop is cut from: 1-2x the crop (shrunk), or with probability ``enlarge``
    1/1.6-1x the crop (enlarged bicubically, as small photos are at a larger working size)."""
    if enlarge and bool(torch.rand((), generator=gen) < enlarge):
        return min(short, max(16, round(crop / (1 + 0.6 * float(torch.rand((), generator=gen))))))
    hi = max(crop, min(short, 2 * crop))
    return min(short, crop + int(torch.randint(hi - crop + 1, (1,), generator=gen)))


def random_batch(images: list[torch.Tensor], crop: int, batch: int, gen: torch.Generator, *, enlarge: float = 0.0,
                 max_scale: float = 2.0) -> torch.Tensor:
    """``batch`` random crops (B, 3, crop, crop) in [0, 1] with scale jitter and horizontal flips; ``max_scale`` > 2
    lets a crop come from a region up to that many times its side (paintings: their marks at several scales)."""
    out = []
    for _ in range(batch):
        img = images[int(torch.randint(len(images), (1,), generator=gen))]
        h, w = img.shape[1:]
        short = min(h, w)
        if max_scale > 2 and bool(torch.rand((), generator=gen) < 0.5):
            side = min(short, crop + int(torch.randint(max(1, int(crop * (max_scale - 1))), (1,), generator=gen)))
        else:
            side = crop_side(short, crop, enlarge, gen)
        y = int(torch.randint(h - side + 1, (1,), generator=gen))
        x = int(torch.randint(w - side + 1, (1,), generator=gen))
        patch = img[None, :, y : y + side, x : x + side].float() / 255.0
        patch = resize_to(patch, (crop, crop))  # as the engine resizes: antialiased shrinking, bicubic enlarging
        if bool(torch.rand((), generator=gen) < 0.5):
            patch = patch.flip(-1)
        out.append(patch)
    return torch.cat(out).clamp(0, 1)


def split_styles(folder: str | os.PathLike) -> tuple[list[Path], list[Path]]:
    """(trained on, held out) paintings for the stylization term: about 1 in 3, by a hash of the name, is never
    trained on, so the quality benchmark can tell paintings seen in training from unseen ones."""
    files = image_files(folder)
    held = [p for p in files if is_held_out_style(p.name)]
    return [p for p in files if p not in held], held


def is_held_out_style(name: str) -> bool:
    """Whether the painting ``name`` is one the stylization term never trains on."""
    return int(hashlib.sha1(name.encode()).hexdigest()[:8], 16) % 3 == 0
