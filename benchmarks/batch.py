"""Batches against a loop on this device: why ``stylize_batch`` caps CPU batches at CPU_BATCH_PIXELS.

Eight images of one size, one precomputed style (so only the network work differs), default levels:
a ``stylize`` loop, ``stylize_batch(batch_size=4)`` as shipped, and the same with the pixel cap lifted.
Prints times and ratios measured in one run.

    python benchmarks/batch.py [--sizes 512,768,1024] [--repeats 2]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import wct  # first: it sets PyTorch's allocator option (huge pages) for the whole process

ROOT = Path(__file__).resolve().parent.parent


def best_of(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="512,768,1024", help="square sides to measure at")
    ap.add_argument("--repeats", type=int, default=2, help="runs per variant (the best is kept)")
    args = ap.parse_args()
    model = wct.load()
    style = model.compute_style(ROOT / "assets" / "style.jpg")
    photo, _ = wct.image.to_tensor(ROOT / "assets" / "content_astronaut.jpg")
    cap = wct.networks.CPU_BATCH_PIXELS
    print(f"device {model.device}, {len(wct.DEFAULT_LEVELS)} levels, eight images, batch_size=4, cap {cap} px")
    for side in (int(s) for s in args.sizes.split(",")):
        img = wct.image.resize_to(photo, (side, side))
        eight = [img.flip(-1) if i % 2 else img for i in range(8)]
        model.stylize(img, style, max_size=None)  # warm-up at this size
        loop = best_of(lambda eight=eight: [model.stylize(x, style, max_size=None) for x in eight], args.repeats)
        capped = best_of(lambda eight=eight: model.stylize_batch(eight, style, batch_size=4, max_size=None), args.repeats)
        wct.networks.CPU_BATCH_PIXELS = 1 << 62
        try:
            uncapped = best_of(lambda eight=eight: model.stylize_batch(eight, style, batch_size=4, max_size=None), args.repeats)
        finally:
            wct.networks.CPU_BATCH_PIXELS = cap
        per = model.batch_limit(side, side, 4)
        print(f"{side}px: loop {loop:.2f} s | stylize_batch ({per} per pass) {capped:.2f} s = {loop / capped:.2f}x | "
              f"4 per pass {uncapped:.2f} s = {loop / uncapped:.2f}x")


if __name__ == "__main__":
    main()
