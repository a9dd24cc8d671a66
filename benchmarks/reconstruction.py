"""Reconstruction quality of the shipped decoders: per level, mean and median PSNR / SSIM of
wct.reconstruct at 512 px on the long side (sides rounded down to multiples of 16, output as 8-bit RGB).
Photos smaller than that are enlarged bicubically; their mean and the others' are shown apart too.

    python benchmarks/reconstruction.py IMAGES_DIR [--levels relu1_1,relu3_1] [--limit N] [--size 512] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

import wct
from wct.image import fit_multiple, to_tensor
from wct.metrics import psnr, ssim
from wct.options import parse_levels

SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("images", type=Path)
    ap.add_argument("--levels", default=None)
    ap.add_argument("--limit", type=int, default=0, help="use only the first N images (sorted by name)")
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--device", default=None)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    files = sorted(p for p in args.images.iterdir() if p.suffix.lower() in SUFFIXES)
    if args.limit:
        files = files[: args.limit]
    if not files:
        print(f"no images in {args.images}", file=sys.stderr)
        return 1
    model = wct.load(device=args.device)
    levels = list(reversed(parse_levels(args.levels)))
    originals = [to_tensor(p)[0] for p in files]
    inputs = [fit_multiple(t, args.size) for t in originals]
    enlarged = [all(a >= b for a, b in zip(x.shape[-2:], t.shape[-2:])) and x.shape != t.shape for x, t in zip(inputs, originals)]
    results = {}
    print(f"{len(files)} images from {args.images}, {args.size} px long side ({sum(enlarged)} of them enlarged, bicubically)")
    print(
        f"{'level':8} {'PSNR mean':>10} {'median':>8} {'SSIM mean':>10} {'median':>8} {'s/img':>6} {'enlarged':>9} {'others':>7}"
    )
    for lv in levels:
        ps, ss = [], []
        t0 = time.perf_counter()
        for x in inputs:
            y = model.reconstruct(x, lv, max_size=None)
            y = torch.round(y * 255) / 255  # 8-bit RGB, as a saved image
            ps.append(float(psnr(y, x)))
            ss.append(float(ssim(y, x)))
        dt = (time.perf_counter() - t0) / len(inputs)
        results[lv] = {
            "psnr_mean": round(float(np.mean(ps)), 2), "psnr_median": round(statistics.median(ps), 2),
            "ssim_mean": round(float(np.mean(ss)), 4), "ssim_median": round(statistics.median(ss), 4),
            "seconds_per_image": round(dt, 3), "images": len(inputs),
            "psnr_mean_enlarged": _mean(p for p, e in zip(ps, enlarged) if e),
            "psnr_mean_others": _mean(p for p, e in zip(ps, enlarged) if not e),
        }  # fmt: skip
        r = results[lv]
        print(f"{lv:8} {r['psnr_mean']:10.2f} {r['psnr_median']:8.2f} {r['ssim_mean']:10.4f} {r['ssim_median']:8.4f} {dt:6.2f}"
              f" {_shown(r['psnr_mean_enlarged']):>9} {_shown(r['psnr_mean_others']):>7}", flush=True)  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


def _mean(values) -> float | None:
    values = list(values)
    return round(float(np.mean(values)), 2) if values else None


def _shown(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


if __name__ == "__main__":
    sys.exit(main())
