"""Make the README's photo -> photo figure (docs/photo.jpg) from the photos in assets/ with the shipped decoders.

    python docs/make_photo_figure.py              # writes docs/photo.jpg
    python docs/make_photo_figure.py --size 256   # quicker, smaller

One row per pair of example photos: the content, the style photo, the artistic default (``wct.stylize``) and the
photorealistic mode (``photorealistic=True``), each result captioned with its structure (SSIM of the luminance against
the content, unblurred) and how far its Lab colour statistics moved toward the style photo's (``wct.metrics``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from make_creative_figures import strip  # (run as a script: docs/ is on the path)
from PIL import Image

import wct
from wct.image import Source, from_tensor, resize_to, to_tensor, working_size
from wct.metrics import color_transfer_fraction, ssim

HERE = Path(__file__).resolve().parent
ASSETS = HERE.parent / "assets"
PAIRS = [  # (content, style photo): the example photos restyled after each other
    ("content_coffee.jpg", "content_rocket.jpg"),
    ("content.jpg", "content_astronaut.jpg"),
    ("content_rocket.jpg", "content_coffee.jpg"),
]
LUMA = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)


def scores(out: torch.Tensor, content: torch.Tensor, style: torch.Tensor) -> str:
    structure = float(ssim((out * LUMA).sum(1, keepdim=True), (content * LUMA).sum(1, keepdim=True)))
    return f"structure {structure:.2f}, colour {float(color_transfer_fraction(out, content, style)):.2f}"


def row(cells: list[tuple[str, torch.Tensor]], height: int) -> Image.Image:
    """The images side by side, each captioned (the creative figures' strip)."""
    return strip([(label, from_tensor(t.float(), Source("pil"))) for label, t in cells], height)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=HERE / "photo.jpg")
    p.add_argument("--size", type=int, default=384, help="working long side, px (default 384)")
    p.add_argument("--height", type=int, default=200, help="height of each tile, px")
    p.add_argument("--device", default=None)
    args = p.parse_args(argv)
    model = wct.load(device=args.device)
    rows = []
    for content_name, style_name in PAIRS:
        content, style = (to_tensor(ASSETS / name)[0] for name in (content_name, style_name))
        content = resize_to(content, working_size(*content.shape[-2:], args.size))
        artistic = model.stylize(content, style, max_size=None)
        photo = model.stylize(content, style, photorealistic=True, max_size=None)
        art, real = scores(artistic, content, style), scores(photo, content, style)
        print(f"{content_name} after {style_name}: artistic {art}; photorealistic {real}")
        cells = [(content_name, content), (f"style: {style_name}", style), (f"artistic: {art}", artistic),
                 (f"photorealistic: {real}", photo)]  # fmt: skip
        rows.append(row(cells, args.height))
    sheet = Image.new("RGB", (max(r.width for r in rows), sum(r.height for r in rows) + 8 * (len(rows) - 1)), "white")
    y = 0
    for r in rows:
        sheet.paste(r, (0, y))
        y += r.height + 8
    sheet.save(args.out, quality=88)
    print(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
