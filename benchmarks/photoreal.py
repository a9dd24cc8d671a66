"""The photorealistic mode (``stylize(photorealistic=True)``) on photo -> photo pairs: structure, colour, time.

Held-out photos (the decoders' own held-out split: ``wct.train.split_images``) are shuffled with a fixed seed and
paired with each other (photo 2i after photo 2i + 1). Each pair is stylized in several modes at a working size of at
most ``--size`` px on the long side (smaller photos keep theirs), and per mode the script prints:

* **structure**: SSIM (``wct.metrics.ssim``) between the luminances (BT.601) of the output and of the content, at full
  resolution, unblurred (target: >= 0.80);
* **colour**: ``wct.metrics.color_transfer_fraction``: how far the output's Lab mean and covariance moved from the
  content's toward the style photo's, as a fraction of the content-to-style distance (target: >= 0.70);
* how many pairs meet both targets, and the median seconds per pair.

Then **time**: the mode end to end (style measured from its image, WCT at the photo levels, smoothing) on
``--timing-pairs`` pairs resized to exactly 512 and 1024 px on the long side, fast and exact smoothing, in a fresh
process per thread count (``--threads 1,2``; PyTorch sizes its NNPACK pool once per process), ``--repeats`` runs
each, the median; the load average is printed beside each row (the machine may be shared). A contact sheet
(content | style | each mode) and, with ``--json``, every number are written.

    PYTHONPATH=. python benchmarks/photoreal.py [--photos DIR] [--pairs 16] [--seed 0] [--size 512]
        [--mode 'name={"photorealistic": true, "levels": ["relu2_1", "relu1_1"]}' ...] [--no-defaults]
        [--timing 512,1024] [--timing-pairs 3] [--repeats 3] [--threads 1,2] [--sheet photoreal.jpg] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

import wct  # first: it sets PyTorch's allocator option for the whole process  # isort: skip
import torch
from PIL import Image, ImageDraw

from wct.image import Source, from_tensor, resize_to, to_tensor, working_size
from wct.metrics import color_transfer_fraction, ssim

PHOTOS = Path(__file__).resolve().parents[2] / "shared" / "data" / "train"  # ../shared/data/train beside the checkout
LUMA = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
STRUCTURE, COLOUR = 0.80, 0.70  # the targets
THUMB = 200


def default_modes() -> dict[str, dict]:
    return {
        "photo, fast": {"photorealistic": True, "smoothing": "fast"},
        "photo, exact": {"photorealistic": True, "smoothing": "exact"},
        "relu1_1 a1, unsmoothed": {"levels": list(wct.PHOTO_LEVELS), "alpha": wct.PHOTO_ALPHA},
        "photo relu2_1+relu1_1, fast": {"photorealistic": True, "smoothing": "fast", "levels": ["relu2_1", "relu1_1"]},
        "artistic defaults": {},
    }


def parse_mode(text: str) -> tuple[str, dict]:
    name, sep, spec = text.partition("=")
    if not sep or not name.strip():
        sys.exit(f"--mode expects NAME=JSON, got {text!r}")
    try:
        return name.strip(), json.loads(spec)
    except json.JSONDecodeError as exc:
        sys.exit(f"--mode {name}: not JSON ({exc})")


def pairs(photos: Path, count: int, seed: int) -> list[tuple[Path, Path]]:
    """``count`` (content, style) pairs of distinct held-out photos: shuffled with ``seed``, taken two by two."""
    from wct.train import split_images

    _, held = split_images(photos)
    if len(held) < 2 * count:
        sys.exit(f"{photos} has {len(held)} held-out photos; {count} pairs need {2 * count}")
    rng = random.Random(seed)
    rng.shuffle(held)
    return [(held[2 * i], held[2 * i + 1]) for i in range(count)]


def load(path: Path, side: int, *, exact: bool = False) -> torch.Tensor:
    """(1, 3, h, w) in [0, 1]: the long side at most ``side`` (exactly ``side`` with ``exact``: enlarged if needed)."""
    t, _ = to_tensor(path)
    h, w = t.shape[-2:]
    size = (round(h * side / max(h, w)), round(w * side / max(h, w))) if exact else working_size(h, w, side)
    return resize_to(t, size)


def structure(out: torch.Tensor, content: torch.Tensor) -> float:
    """SSIM of the luminances, full resolution, unblurred."""
    return float(ssim((out * LUMA).sum(1, keepdim=True), (content * LUMA).sum(1, keepdim=True)))


# ----- quality ------------------------------------------------------------------------------------------
def quality(args: argparse.Namespace, modes: dict[str, dict]) -> tuple[list[dict], list[list[torch.Tensor]]]:
    model = wct.load(device=args.device)
    rows, sheet = [], []
    for i, (cpath, spath) in enumerate(pairs(args.photos, args.pairs, args.seed)):
        content, style = load(cpath, args.size), load(spath, args.size)
        row, images = {"content": cpath.name, "style": spath.name, "modes": {}}, [content, style]
        for name, kw in modes.items():
            t0 = time.perf_counter()
            out = model.stylize(content, style, max_size=None, **kw)
            seconds = time.perf_counter() - t0
            row["modes"][name] = {"structure": structure(out, content),
                                  "colour": float(color_transfer_fraction(out, content, style)), "seconds": seconds}  # fmt: skip
            images.append(out)
        rows.append(row)
        sheet.append(images)
        line = "  ".join(f"{n}: {m['structure']:.2f}/{m['colour']:.2f}" for n, m in row["modes"].items())
        print(f"[{i + 1}/{args.pairs}] {cpath.name[:26]:26} <- {spath.name[:26]:26} {line}", flush=True)
    return rows, sheet


def summary(rows: list[dict]) -> dict[str, dict]:
    out = {}
    for name in rows[0]["modes"]:
        s = [r["modes"][name]["structure"] for r in rows]
        c = [r["modes"][name]["colour"] for r in rows]
        both = sum(a >= STRUCTURE and b >= COLOUR for a, b in zip(s, c))
        seconds = statistics.median(r["modes"][name]["seconds"] for r in rows)
        out[name] = {"structure_mean": statistics.fmean(s), "structure_median": statistics.median(s),
                     "structure_min": min(s), "colour_mean": statistics.fmean(c), "colour_median": statistics.median(c),
                     "colour_min": min(c), "both_targets": both, "seconds_median": seconds}  # fmt: skip
    return out


def print_quality(summ: dict[str, dict], count: int, size: int) -> None:
    print(f"\n{count} held-out photo pairs, working size {size} px long side at most; targets: structure >= {STRUCTURE}, "
          f"colour >= {COLOUR}")  # fmt: skip
    print("| mode | structure: mean / median / min | colour: mean / median / min | pairs meeting both | s/pair |")
    print("|---|---|---|---|---|")
    for name, m in summ.items():
        print(f"| {name} | {m['structure_mean']:.3f} / {m['structure_median']:.3f} / {m['structure_min']:.3f} | "
              f"{m['colour_mean']:.3f} / {m['colour_median']:.3f} / {m['colour_min']:.3f} | {m['both_targets']}/{count} | "
              f"{m['seconds_median']:.2f} |")  # fmt: skip


def contact_sheet(rows: list[list[torch.Tensor]], names: list[str]) -> Image.Image:
    pad, label = 4, 14
    sheet = Image.new("RGB", (len(names) * (THUMB + pad) + pad, label + len(rows) * (THUMB + pad) + pad), "white")
    draw = ImageDraw.Draw(sheet)
    for j, name in enumerate(names):
        draw.text((pad + j * (THUMB + pad) + 2, 1), name[:32], fill="black")
    for i, row in enumerate(rows):
        for j, t in enumerate(row):
            img = from_tensor(t.float(), Source("pil"))
            img.thumbnail((THUMB, THUMB), Image.LANCZOS)
            x, y = pad + j * (THUMB + pad) + (THUMB - img.width) // 2, label + pad + i * (THUMB + pad) + (THUMB - img.height) // 2
            sheet.paste(img, (x, y))
    return sheet


# ----- time -----------------------------------------------------------------------------------------------
def _timed(fn) -> tuple[float, float]:
    """(wall, CPU) seconds of one call."""
    w0, c0 = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - w0, time.process_time() - c0


def timing_child(args: argparse.Namespace) -> dict:
    """In a fresh process with ``args.threads`` torch threads: per size, the median wall and CPU seconds of the whole
    mode with fast smoothing, of its WCT part alone (interleaved with it, ``--repeats`` rounds), and of the mode with
    the exact solve (once per pair)."""
    torch.set_num_threads(int(args.threads))
    model = wct.load(device=args.device)
    chosen = pairs(args.photos, args.timing_pairs, args.seed)
    out = {}
    for side in (int(s) for s in args.timing.split(",")):
        contents = [(load(c, side, exact=True), s) for c, s in chosen]
        runs = {
            "fast": lambda c, s: model.stylize(c, s, photorealistic=True, smoothing="fast", max_size=None),
            "WCT alone": lambda c, s: model.stylize(c, s, levels=wct.PHOTO_LEVELS, alpha=wct.PHOTO_ALPHA, max_size=None),
            "exact": lambda c, s: model.stylize(c, s, photorealistic=True, smoothing="exact", max_size=None),
        }
        runs["fast"](*contents[0])  # warm-up (kernels, caches) outside the timing
        times: dict[str, list] = {name: [] for name in runs}
        loads = [os.getloadavg()[0]]
        for round_ in range(args.repeats):
            for c, s in contents:
                for name, run in runs.items():
                    if name != "exact" or round_ == 0:
                        times[name].append(_timed(lambda run=run, c=c, s=s: run(c, s)))
        loads.append(os.getloadavg()[0])
        for name, rows in times.items():
            out[f"{side} {name}"] = {"wall": statistics.median(w for w, _ in rows), "cpu": statistics.median(c for _, c in rows),
                                     "runs": len(rows), "load": loads}  # fmt: skip
    return out


def timing(args: argparse.Namespace) -> dict[str, dict]:
    results = {}
    for threads in args.threads.split(","):
        cmd = [sys.executable, __file__, "--timing-child", "--threads", threads, "--photos", str(args.photos), "--seed",
               str(args.seed), "--timing", args.timing, "--timing-pairs", str(args.timing_pairs), "--repeats",
               str(args.repeats), "--device", args.device]  # fmt: skip
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if done.returncode:
            print(f"timing with {threads} thread(s) failed:\n{done.stderr[-2000:]}")
            continue
        results[threads] = json.loads(done.stdout.strip().splitlines()[-1])
    return results


def print_timing(results: dict[str, dict], count: int) -> None:
    levels = ", ".join(wct.PHOTO_LEVELS)
    print(f"\nseconds per image: the whole mode (style measured from its image, WCT at {levels}, smoothing) and its WCT "
          f"part alone; medians over {count} pair(s), wall (CPU); load average (1 min) before / after")  # fmt: skip
    print("| long side | run | " + " | ".join(f"{t} thread(s)" for t in results) + " |")
    print("|---|---|" + "---|" * len(results))
    keys = next(iter(results.values())).keys() if results else []
    for key in keys:
        side, name = key.split(" ", 1)
        cells = [f"{r[key]['wall']:.2f} s ({r[key]['cpu']:.2f} s CPU; load {r[key]['load'][0]:.1f} / {r[key]['load'][1]:.1f})"
                 for r in results.values()]  # fmt: skip
        print(f"| {side} px | {'mode, ' + name + ' smoothing' if name != 'WCT alone' else name} | " + " | ".join(cells) + " |")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--photos", type=Path, default=PHOTOS, help="a folder of photos (its held-out split is used)")
    ap.add_argument("--pairs", type=int, default=16)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--size", type=int, default=512, help="working long side of the quality run, at most")
    ap.add_argument("--mode", action="append", default=[], help='NAME=JSON of stylize keywords')
    ap.add_argument("--no-defaults", action="store_true", help="run only the --mode modes")
    ap.add_argument("--timing", default="512,1024", help="long sides to time the mode at ('' for none)")
    ap.add_argument("--timing-pairs", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=5, help="rounds of the fast path per pair (the exact path: one)")
    ap.add_argument("--threads", default="1,2", help="torch thread counts to time with, each in its own process")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--sheet", type=Path, default=Path("photoreal.jpg"))
    ap.add_argument("--sheet-rows", type=int, default=8)
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--timing-child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.timing_child:
        print(json.dumps(timing_child(args)))
        return 0
    print(f"wct {wct.__version__}, torch {torch.__version__}, load average {os.getloadavg()[0]:.1f} (the machine may be shared)")
    modes = {} if args.no_defaults else default_modes()
    modes.update(dict(parse_mode(m) for m in args.mode))
    result: dict = {"modes": modes}
    if args.pairs and modes:
        rows, sheet = quality(args, modes)
        result["pairs"], result["summary"] = rows, summary(rows)
        print_quality(result["summary"], args.pairs, args.size)
        if args.sheet:
            contact_sheet(sheet[: args.sheet_rows], ["content", "style", *modes]).save(args.sheet, quality=90)
            print(f"contact sheet: {args.sheet}")
    if args.timing:
        result["timing"] = timing(args)
        print_timing(result["timing"], args.timing_pairs)
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
