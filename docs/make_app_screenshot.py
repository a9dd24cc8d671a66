"""Make the README's picture of the web app: its first screen on a laptop's window (1400x1000) after one run, a photo,
a style, the quality choice with the times measured here, the result, the examples, and the settings folded below.

    bash tests/setup_browser.sh                 # Debian's chromium, once (Playwright drives it; no browser download)
    python docs/make_app_screenshot.py          # writes docs/app.png (or: --out PATH)

The app runs in this process on loopback with the shipped decoders on the CPU in float32, as the tests run it.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # app.py and wct_app/ live in the repository's root

from PIL import Image  # noqa: E402 (after the path)

import app  # noqa: E402
import wct  # noqa: E402
from wct_app.limits import ASSETS  # noqa: E402

CHROMIUM = Path("/usr/bin/chromium")
BROWSER_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]
TIMEOUT_MS = 300_000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def capture(url: str, out: Path) -> None:
    """Open the page as a first-time visitor, wait for the quality's measured times, add a photo and a style, stylize
    (fast), screenshot the whole page."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=BROWSER_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(TIMEOUT_MS)
            page.goto(url)
            page.locator("#run").wait_for()
            page.wait_for_function("() => /best · /.test(document.querySelector('#quality').innerText)")
            for slot, name in (("content", "content.jpg"), ("style-1", "style.jpg")):
                page.locator(f"#{slot} input[type=file]").set_input_files(str(ASSETS / name))
                page.locator(f"#{slot} img").first.wait_for()
            page.locator("#run").click()
            page.locator("#status").get_by_text("Done in").wait_for()
            page.wait_for_function(
                "() => { const i = document.querySelector('#result img'); return i && i.complete && i.naturalWidth > 0 }"
            )
            page.screenshot(path=str(out), full_page=True)
        finally:
            browser.close()
    Image.open(out).convert("RGB").quantize(256).save(out, optimize=True)  # 256 colours: the README's picture stays small


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE / "app.png", help="where to write the PNG (default: docs/app.png)")
    args = parser.parse_args(argv)
    if not CHROMIUM.exists():
        print(f"make_app_screenshot: {CHROMIUM} is missing; run tests/setup_browser.sh first", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["GRADIO_TEMP_DIR"] = tmp
        demo = app.build_demo(wct.load(device="cpu"))
        try:
            _, url, _ = demo.launch(server_name="127.0.0.1", server_port=free_port(), prevent_thread_lock=True, quiet=True,
                                    **app.launch_kwargs())  # fmt: skip
            capture(url, args.out)
        finally:
            demo.close()
    print(f"wrote {args.out} ({args.out.stat().st_size // 1024} KB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
