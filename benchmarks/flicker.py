"""Flicker of stylized video: plain per-frame WCT against the temporal-coherence options, on a generated clip.

The clip is a slow camera move over a photo from assets/ (a pan with a gentle zoom and rotation, so the
motion is not a whole-pixel shift), encoded with H.264 like a real video. Each mode stylizes it with
wct.stylize_video; flicker is the mean warped difference between consecutive output frames along the
input's optical flow, over the pixels the flow tracks, relative to the same measure of the input
(wct.temporal.flicker). Each model (VGG-16, and the light model when installed) runs every mode; the table
gives frames per second too. Prints a Markdown table and writes a JSON file.

    python benchmarks/flicker.py [--frames 24] [--size 256] [--models vgg16,light] [--modes plain,default]
        [--json benchmarks/flicker.json]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import av
import cv2
import numpy as np
import torch
from PIL import Image

import wct
from wct.media import iter_frames
from wct.temporal import flicker

ROOT = Path(__file__).resolve().parent.parent
CONTENT, STYLE = ROOT / "assets" / "content_astronaut.jpg", ROOT / "assets" / "style.jpg"
MODES = {  # name -> stylize_video options
    "plain (per-frame WCT)": dict(coherent=False),
    "statistics EMA 0.7 only": dict(flow_blend=0.0, stats_momentum=0.7),
    "flow blend 0.5": dict(flow_blend=0.5),
    "flow blend 0.7 (default)": dict(flow_blend=0.7),
    "flow blend 0.7 + statistics EMA 0.7": dict(flow_blend=0.7, stats_momentum=0.7),
}


def make_clip(path: Path, frames: int, width: int, fps: int = 24) -> None:
    """A camera move over the content photo: pan right, zoom in 10 %, rotate 3 degrees over the clip."""
    photo = np.asarray(Image.open(CONTENT).convert("RGB"))
    h0, w0 = photo.shape[:2]
    height = width * 3 // 4 // 2 * 2
    with av.open(str(path), "w") as c:
        v = c.add_stream("libx264", rate=fps)
        v.width, v.height, v.pix_fmt = width, height, "yuv420p"
        for i in range(frames):
            s = i / max(frames - 1, 1)
            m = cv2.getRotationMatrix2D((w0 / 2 + 0.15 * w0 * s, h0 / 2), 3.0 * s, 1.0 + 0.1 * s)
            frame = cv2.warpAffine(photo, m, (w0, h0), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
            crop = frame[h0 // 2 - h0 * 3 // 8 : h0 // 2 + h0 * 3 // 8, w0 // 8 : w0 * 7 // 8]
            small = cv2.resize(crop, (width, height), interpolation=cv2.INTER_AREA)
            c.mux(v.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(small), format="rgb24")))
        c.mux(v.encode(None))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=24)
    ap.add_argument("--size", type=int, default=256, help="frame width in px")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    ap.add_argument("--models", default=",".join(wct.available_models()), help="vgg16, light or both (default: installed)")
    ap.add_argument("--modes", default="", help="keys of MODES to run, by their first word (default: all)")
    ap.add_argument("--json", default="benchmarks/flicker.json")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    wanted = [w for w in args.modes.split(",") if w]
    modes = {k: v for k, v in MODES.items() if not wanted or k.split()[0] in wanted or ("default" in wanted and "default" in k)}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        clip = Path(tmp) / "clip.mp4"
        make_clip(clip, args.frames, args.size)
        inputs = list(iter_frames(clip))
        for model_name in args.models.split(","):
            model = wct.load(model=model_name, device="cpu")
            style = model.compute_style(STYLE)
            for name, opts in modes.items():
                t0 = time.perf_counter()
                out = wct.stylize_video(clip, style, Path(tmp) / "out.mp4", model=model, overwrite=True, **opts)
                seconds = time.perf_counter() - t0
                f = flicker(list(iter_frames(out)), inputs)
                rows.append({"model": model_name, "mode": name, **opts, "flicker": f.output, "input_flicker": f.input,
                             "relative": f.relative, "seconds_per_frame": seconds / len(inputs)})  # fmt: skip
    print(f"{args.frames} frames, {args.size} px wide, style {STYLE.name}, torch {args.threads} thread(s)\n")
    print("| model | mode | flicker (mean warped difference) | relative to the input's | s / frame | frames / s |")
    print("| --- | --- | --- | --- | --- | --- |")
    for r in rows:
        print(f"| {r['model']} | {r['mode']} | {r['flicker']:.4f} | {r['relative']:.2f}× | {r['seconds_per_frame']:.2f} | "
              f"{1 / r['seconds_per_frame']:.1f} |")
    Path(args.json).write_text(json.dumps({"frames": args.frames, "width": args.size, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
