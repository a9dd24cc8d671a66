"""Make the pictures of the README's "Creative controls" section from assets/ with the shipped decoders.

    python docs/make_creative_figures.py              # writes docs/creative_*.jpg
    python docs/make_creative_figures.py --size 256   # quicker, smaller

Every figure is a captioned strip of equally tall tiles. Stylizations use stylize's default levels
(``wct.DEFAULT_LEVELS``) that have a trained decoder.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

import wct

HERE = Path(__file__).resolve().parent
ASSETS = HERE.parent / "assets"
CONTENT = ASSETS / "content.jpg"  # a cat
PORTRAIT = ASSETS / "content_astronaut.jpg"
TERRACE, NIGHT_CAFE, HARVEST = ASSETS / "style.jpg", ASSETS / "style_night_cafe.jpg", ASSETS / "style_harvest.jpg"
CAPTION = 22  # px of caption band under each tile


def tile(image: Image.Image, height: int) -> Image.Image:
    w, h = image.size
    return image.convert("RGB").resize((max(1, round(w * height / h)), height), Image.LANCZOS)


def strip(items: list[tuple[str, Image.Image]], height: int) -> Image.Image:
    """Tiles side by side, each with its caption underneath."""
    try:
        font = ImageFont.load_default(size=14)
    except TypeError:  # Pillow < 10.1
        font = ImageFont.load_default()
    tiles = []
    for label, im in items:
        t = tile(im, height)
        cell = Image.new("RGB", (t.width, height + CAPTION), "white")
        cell.paste(t, (0, 0))
        ImageDraw.Draw(cell).text((4, height + 3), label, fill=(20, 20, 20), font=font)  # clipped to the tile
        tiles.append(cell)
    gap = 6
    sheet = Image.new("RGB", (sum(t.width for t in tiles) + gap * (len(tiles) - 1), height + CAPTION), "white")
    x = 0
    for t in tiles:
        sheet.paste(t, (x, 0))
        x += t.width + gap
    return sheet


def soft_split(path: Path, feather: float = 0.08) -> tuple[np.ndarray, np.ndarray]:
    """Left/right masks for an image, with a soft seam ``feather`` of the width wide."""
    w, h = Image.open(path).size
    x = np.linspace(0, 1, w, dtype=np.float32)
    left = np.clip((0.5 + feather / 2 - x) / feather, 0, 1)
    left = np.broadcast_to(left, (h, w)).copy()
    return left, 1 - left


def save(image: Image.Image, out: Path) -> None:
    image.save(out, quality=90)
    print(out)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=HERE, help="folder for the figures (default docs/)")
    p.add_argument("--size", type=int, default=384, help="long side of each result, px (default 384)")
    p.add_argument("--device", default=None)
    args = p.parse_args(argv)

    model = wct.load(device=args.device)
    levels = [lv for lv in wct.DEFAULT_LEVELS if lv in model.available_levels()]  # stylize's default levels
    if not levels:
        print("no trained decoders found (decoders/MANIFEST.json); train them first", file=sys.stderr)
        return 1
    print(f"levels: {', '.join(levels)}")
    args.out.mkdir(parents=True, exist_ok=True)
    kw = dict(levels=levels, max_size=args.size)
    h = args.size * 2 // 3  # tile height
    content = Image.open(CONTENT)
    start = time.time()

    # spatial control: the left half after Café Terrace, the right after The Harvest, a soft seam between
    left, right = soft_split(CONTENT)
    regions = model.stylize(CONTENT, [TERRACE, HARVEST], masks=[left, right], alpha=0.8, **kw)
    save(strip([("content", content), ("mask 1 (mask 2 = 1 - it)", Image.fromarray((left * 255).astype(np.uint8))),
                ("Cafe Terrace | The Harvest", regions)], h), args.out / "creative_regions.jpg")  # fmt: skip

    # colour preservation
    plain = model.stylize(CONTENT, NIGHT_CAFE, alpha=0.8, **kw)
    lum = model.stylize(CONTENT, NIGHT_CAFE, alpha=0.8, preserve_color="luminance", **kw)
    hist = model.stylize(CONTENT, NIGHT_CAFE, alpha=0.8, preserve_color="histogram", **kw)
    save(strip([("content", content), ("style: The Night Cafe", Image.open(NIGHT_CAFE)), ("plain", plain),
                ("luminance", lum), ("histogram", hist)], h), args.out / "creative_color.jpg")  # fmt: skip

    # per-level mixing: The Harvest's large shapes (relu5_1, relu4_1) with The Night Cafe's brushwork
    shapes_a = {"relu5_1": [1, 0], "relu4_1": [1, 0], "relu3_1": [1, 0], "default": [0, 1]}
    a_alone = model.stylize(PORTRAIT, HARVEST, alpha=0.8, **kw)
    b_alone = model.stylize(PORTRAIT, NIGHT_CAFE, alpha=0.8, **kw)
    mixed = model.stylize(PORTRAIT, [HARVEST, NIGHT_CAFE], weights=shapes_a, alpha=0.8, **kw)
    save(strip([("The Harvest", a_alone), ("The Night Cafe", b_alone),
                ("Harvest 4-3, Night Cafe 2-1", mixed)], h), args.out / "creative_levels.jpg")  # fmt: skip

    # linear vs Wasserstein blending, 50/50
    lin = model.stylize(CONTENT, model.blend([TERRACE, HARVEST], [1, 1], levels=levels), alpha=0.8, **kw)
    w2 = model.stylize(CONTENT, model.blend([TERRACE, HARVEST], [1, 1], method="wasserstein", levels=levels), alpha=0.8, **kw)
    save(strip([("Cafe Terrace", model.stylize(CONTENT, TERRACE, alpha=0.8, **kw)), ("linear 50/50", lin),
                ("wasserstein 50/50", w2), ("The Harvest", model.stylize(CONTENT, HARVEST, alpha=0.8, **kw))], h),
         args.out / "creative_blend.jpg")  # fmt: skip

    # texture synthesis: any size, seeded
    tw, th = args.size * 3 // 2, args.size * 3 // 4
    tex = [
        (f"texture {tw}x{th}, seed {s}", model.texture(NIGHT_CAFE, size=(tw, th), seed=s, levels=levels, iterations=2))
        for s in (0, 1)
    ]
    save(strip([("style: The Night Cafe", Image.open(NIGHT_CAFE)), *tex], h), args.out / "creative_texture.jpg")

    # preview: relu5_1..relu3_1 at 256 px
    style = model.compute_style(TERRACE, levels=levels)
    preview_levels = [lv for lv in levels if lv in ("relu5_1", "relu4_1", "relu3_1")] or levels
    t0 = time.time()
    quick = model.stylize(CONTENT, style, preview=True, levels=preview_levels)
    took = time.time() - t0
    full = model.stylize(CONTENT, style, alpha=0.6, **kw)
    save(strip([(f"preview=True ({took:.1f} s)", quick), ("full run", full)], h), args.out / "creative_preview.jpg")
    print(f"done in {time.time() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
