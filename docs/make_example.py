"""Make the README's headline pictures from assets/ with the shipped decoders.

    python docs/make_example.py     # writes docs/example.jpg and docs/gallery.jpg
"""

from __future__ import annotations

import sys
from pathlib import Path

from make_creative_figures import ASSETS, HARVEST, NIGHT_CAFE, TERRACE, save, strip

import wct

HERE = Path(__file__).resolve().parent


def main() -> int:
    model = wct.load()
    levels = wct.DEFAULT_LEVELS
    cat = model.stylize(ASSETS / "content.jpg", TERRACE)
    save(strip([("content", wct.image.read_image(ASSETS / "content.jpg")), ("style", wct.image.read_image(TERRACE)),
                (f"alpha {wct.DEFAULT_ALPHA}, {len(levels)} levels", cat)], 300), HERE / "example.jpg")
    rows = []
    for content, style in (
        ("content_astronaut.jpg", NIGHT_CAFE),
        ("content_rocket.jpg", HARVEST),
        ("content_coffee.jpg", TERRACE),
    ):
        out = model.stylize(ASSETS / content, style, alpha=0.8)
        rows.append((f"{Path(content).stem[8:]} after {style.stem}", out))
    save(strip(rows, 300), HERE / "gallery.jpg")
    return 0


if __name__ == "__main__":
    sys.exit(main())
