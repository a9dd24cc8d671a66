"""Speed of the project's stylize against the textbook WCT pipeline, measured side by side in one run.

The textbook pipeline (as in the reference ports) re-encodes the style at every level and decomposes
covariances by SVD in float64 on the CPU, whitening and coloring the full feature maps in float64. Both
use the same encoder and decoder weights (the baseline in plain NCHW PyTorch modules, as the ports run
them) and all five levels. Prints times, ratios, a per-stage breakdown, achieved convolution
GFLOP/s against a large matrix multiply measured in the same run, and peak memory (each size in a fresh
subprocess); writes everything to a JSON file.

The two models side by side, in the same process: VGG-16 and the light model (when installed) with the default levels
(the fast path), a re-render with a computed Style, and refinement (``refine=wct.REFINE_STEPS``; VGG-16's only with
``--refine``, about 70 s at 512 px on 2 CPU cores), with the light model's speed-ups.

    python benchmarks/speed.py [--sizes 256,512,1024] [--repeats 3] [--refine] [--json benchmarks/speed.json]
        [--memory-sizes 2048] [--light-memory-sizes 4096]
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import wct  # first: it sets PyTorch's allocator option (huge pages) for the whole process, textbook included

# isort: split
import torch
import torch.nn.functional as F

from wct import convolution
from wct.encoder import CAFFE_MEAN_BGR, VGG16_CFG
from wct.transform import centered_statistics, flat_features, wct_matrix

ROOT = Path(__file__).resolve().parent.parent
CONTENT, STYLES = (
    ROOT / "assets" / "content_astronaut.jpg",
    [ROOT / "assets" / n for n in ("style.jpg", "style_night_cafe.jpg", "style_harvest.jpg")],
)


def image(path: Path, side: int) -> torch.Tensor:
    """(1, 3, side, side) in [0, 1] from an asset (squashed to a square: sizes are what is measured)."""
    t, _ = wct.image.to_tensor(path)
    return wct.image.resize_to(t, (side, side))


# ----- the textbook pipeline ----------------------------------------------------------------
def _svd_whiten_color(fc: torch.Tensor, fs: torch.Tensor, alpha: float) -> torch.Tensor:
    """Reference-port WCT: float64 on the CPU, SVD, eigenvalues cut at an absolute 1e-5."""
    c = fc.flatten(2)[0].double().cpu()
    s = fs.flatten(2)[0].double().cpu()
    c_mean, s_mean = c.mean(1, keepdim=True), s.mean(1, keepdim=True)
    c, s = c - c_mean, s - s_mean
    c_cov = c @ c.t() / (c.shape[1] - 1) + torch.eye(c.shape[0], dtype=torch.float64)
    s_cov = s @ s.t() / (s.shape[1] - 1)
    _, c_e, c_v = torch.svd(c_cov)
    _, s_e, s_v = torch.svd(s_cov)
    kc, ks = int((c_e > 1e-5).sum()), int((s_e > 1e-5).sum())
    white = (c_v[:, :kc] @ torch.diag(c_e[:kc].pow(-0.5)) @ c_v[:, :kc].t()) @ c
    colored = (s_v[:, :ks] @ torch.diag(s_e[:ks].pow(0.5)) @ s_v[:, :ks].t()) @ white + s_mean
    out = alpha * colored + (1 - alpha) * (c + c_mean)
    return out.float().view_as(fc).to(fc.device)


def textbook_encode(model: wct.Model, rgb: torch.Tensor, upto: str) -> torch.Tensor:
    """A reference port's VGG encoder: the same weights, default (NCHW) memory format, one tap."""
    x = rgb.flip(1) * 255.0 - torch.tensor(CAFFE_MEAN_BGR).view(1, 3, 1, 1)
    for item in VGG16_CFG:
        if item == "pool":
            x = F.max_pool2d(x, 2)
            continue
        conv = model.encoder.convs[item[0]]
        x = F.relu(F.conv2d(x, conv.weight.contiguous(), conv.bias, padding=1))
        if item[0] == "conv" + upto[4:]:
            return x
    raise ValueError(upto)


@torch.inference_mode()
def textbook(
    model: wct.Model, content: torch.Tensor, styles: list[torch.Tensor], weights: list[float], alpha: float
) -> torch.Tensor:
    x = content
    for lv in reversed(wct.LEVELS):
        fc = textbook_encode(model, x, lv)
        outs = [_svd_whiten_color(fc, textbook_encode(model, s, lv), alpha) for s in styles]  # style re-encoded per level
        dec = model.decoder(lv)  # its plain modules (NCHW), as a reference port runs them
        x = dec.layers(sum(w * o for w, o in zip(weights, outs)) / dec.scale.view(1, -1, 1, 1)).clamp(0, 1)
    return x


# ----- our pipeline, stage by stage (mirrors Model.stylize) -----------------------------------
@torch.inference_mode()
def staged(model: wct.Model, content: torch.Tensor, style: wct.Style, alpha: float) -> dict[str, float]:
    """Seconds spent per stage: encode, decompose (statistics + eigh), transform (the big products), decode."""
    t = dict.fromkeys(("encode", "decompose", "transform", "decode"), 0.0)
    x = content
    for lv in reversed(wct.LEVELS):
        t0 = time.perf_counter()
        fmap = model.networks.encode(x, lv, only_last=True)[lv]  # (1, C, h, w), NHWC in memory
        f = flat_features(fmap)  # (1, C, h*w), a view
        t1 = time.perf_counter()
        mean, cov, centered = centered_statistics(f)
        a = alpha * wct_matrix(cov, style.color(lv)) + (1 - alpha) * torch.eye(f.shape[1], dtype=torch.float64)
        b = alpha * style.mean(lv).double().view(-1, 1) + (1 - alpha) * mean
        t2 = time.perf_counter()
        g = (centered.mT @ a.float().mT).mT.add_(b.float())  # as transform.wct does for NHWC maps
        t3 = time.perf_counter()
        x = model.decode(g.view(fmap.shape), lv).clamp(0, 1)
        t4 = time.perf_counter()
        t["encode"] += t1 - t0
        t["decompose"] += t2 - t1
        t["transform"] += t3 - t2
        t["decode"] += t4 - t3
    return t


def conv_flops(model: wct.Model, content: torch.Tensor, style: wct.Style) -> float:
    """Convolution FLOPs (2 x MACs) of one stylization as direct convolutions, counted with forward hooks (so with
    the fast kernels off: Winograd does fewer multiplications, and the throughput printed is the direct-equivalent one)."""
    total = [0.0]

    def hook(mod, inp, out):
        k = mod.kernel_size[0] * mod.kernel_size[1]
        total[0] += 2.0 * mod.in_channels * mod.out_channels * k * out.shape[-1] * out.shape[-2] * out.shape[0]

    decoders = [model.decoder(lv) for lv in wct.LEVELS]
    mods = list(model.encoder.modules()) + [m for d in decoders for m in d.modules()] + [d._first_conv() for d in decoders]
    handles = [m.register_forward_hook(hook) for m in mods if isinstance(m, torch.nn.Conv2d)]
    with convolution.direct_only():
        model.stylize(content, style, levels=wct.LEVELS, max_size=None)
    for h in handles:
        h.remove()
    return total[0]


def matmul_gflops(n: int = 2048, repeats: int = 5) -> float:
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    best = min(_timed(lambda: a @ b) for _ in range(repeats))
    return 2 * n**3 / best / 1e9


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def stats(times: list[float]) -> dict[str, float]:
    return {"min": round(min(times), 3), "median": round(statistics.median(times), 3)}


def measure_ours(model: wct.Model, content, style_imgs, one: wct.Style, three_w, repeats: int) -> dict:
    """The project's stylize (all five levels, like the baseline): one style, a three-style blend, a re-render."""
    run = functools.partial(model.stylize, levels=wct.LEVELS, max_size=None)
    res = {
        "one_style": stats([_timed(lambda: run(content, style_imgs[0])) for _ in range(repeats)]),
        "three_styles": stats([_timed(lambda: run(content, style_imgs, weights=three_w)) for _ in range(repeats)]),
        "rerender": stats([_timed(lambda: run(content, one)) for _ in range(repeats)]),
    }
    if not model.half:  # (half precision runs the library's convolutions anyway)
        with convolution.direct_only():  # what the fast kernels (NNPACK, our Winograd) bring
            res["one_style_direct_convs"] = stats([_timed(lambda: run(content, style_imgs[0])) for _ in range(repeats)])
    stages = [staged(model, content, one, 0.6) for _ in range(repeats)]
    res["stages"] = {k: round(min(s[k] for s in stages), 3) for k in stages[0]}
    return res


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    """PSNR in dB between two images in [0, 1], as 8-bit."""
    mse = ((a * 255).round() - (b * 255).round()).pow(2).mean().item()
    return round(10 * math.log10(255**2 / max(mse, 1e-12)), 2)


def models_side_by_side(content: torch.Tensor, style_img: torch.Tensor, repeats: int, refine: bool) -> dict:
    """VGG-16 and the light model on the same content and style: the fast path (default levels, the style measured
    each time), a re-render with a computed Style, and refinement (VGG-16's only when ``refine``)."""
    out: dict = {}
    for name in wct.available_models():
        model = wct.load(model=name)
        style = model.compute_style(style_img)
        model.stylize(content, style, max_size=None)  # warm-up (loads the decoders)
        r = {"fast": stats([_timed(lambda m=model: m.stylize(content, style_img, max_size=None)) for _ in range(repeats)]),
             "rerender": stats([_timed(lambda m=model, s=style: m.stylize(content, s, max_size=None)) for _ in range(repeats)])}
        if refine or name == "light":
            r["refined"] = stats([_timed(lambda m=model: m.stylize(content, style_img, max_size=None, refine=wct.REFINE_STEPS))
                                  for _ in range(1 if name == "vgg16" else repeats)])  # fmt: skip
        out[name] = r
    return out


def run_size(side: int, repeats: int, compiled: bool, half: bool = False, refine: bool = False) -> dict:
    """Everything measured at one size (run in its own process for a clean peak-memory reading)."""
    model = wct.load()
    content = image(CONTENT, side)
    style_imgs = [image(p, min(side, wct.DEFAULT_STYLE_SIZE)) for p in STYLES]
    one = model.compute_style(style_imgs[0])
    three_w = [0.5, 0.3, 0.2]
    model.stylize(content, one, levels=wct.LEVELS, max_size=None)  # warm-up (also loads every decoder)
    res: dict = {"size": side, "ours": measure_ours(model, content, style_imgs, one, three_w, repeats)}
    res["models"] = models_side_by_side(content, style_imgs[0], repeats, refine)
    model.stylize(content, one, preview=True)
    eight = [content.flip(-1) if i % 2 else content for i in range(8)]
    loop = lambda: [model.stylize(c, style_imgs[0], max_size=None) for c in eight]  # noqa: E731 - style measured each time
    batch = lambda: model.stylize_batch(eight, style_imgs[0], batch_size=4, max_size=None)  # noqa: E731
    res["eight_images"] = {"loop": stats([_timed(loop) for _ in range(max(1, repeats - 1))]),
                           "stylize_batch": stats([_timed(batch) for _ in range(max(1, repeats - 1))])}
    # preview: 256 px, 3 levels
    res["preview"] = stats([_timed(lambda: model.stylize(content, one, preview=True)) for _ in range(repeats)])
    res["textbook_one_style"] = stats(
        [_timed(lambda: textbook(model, content, style_imgs[:1], [1.0], 0.6)) for _ in range(repeats)]
    )
    res["textbook_three_styles"] = stats(
        [_timed(lambda: textbook(model, content, style_imgs, three_w, 0.6)) for _ in range(max(1, repeats - 1))]
    )
    flops = conv_flops(model, content, one)
    res["conv_gflop"] = round(flops / 1e9, 1)
    res["matmul_gflops_per_s"] = round(matmul_gflops(), 1)
    runs = [("ours", res["ours"])]
    if compiled:
        cmodel = wct.load(compile=True)
        t0 = time.perf_counter()
        cmodel.compute_style(style_imgs[0])
        cmodel.stylize(content, one, levels=wct.LEVELS, max_size=None)  # compiles every network at this size
        res["compile_seconds"] = round(time.perf_counter() - t0, 1)
        res["ours_compiled"] = measure_ours(cmodel, content, style_imgs, one, three_w, repeats)
        runs.append(("ours_compiled", res["ours_compiled"]))
    if half:
        hmodel = wct.load(half=True)
        hmodel.stylize(content, one, levels=wct.LEVELS, max_size=None)  # warm-up
        res["ours_half"] = measure_ours(hmodel, content, style_imgs, one, three_w, repeats)
        runs.append(("ours_half", res["ours_half"]))
        res["half_precision"] = hmodel.precision
        variants = (("default_levels", {}), ("all_five", {"levels": wct.LEVELS}))
        res["half_vs_float32_psnr"] = {
            name: psnr(hmodel.stylize(content, one, max_size=None, **kw), model.stylize(content, one, max_size=None, **kw))
            for name, kw in variants
        }
    for _name, r in runs:
        r["conv_gflops_per_s"] = round(flops / (r["stages"]["encode"] + r["stages"]["decode"]) / 1e9, 1)
    res["peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    return res


def textbook_only(side: int, repeats: int) -> dict:
    """The textbook pipeline alone (run in a fresh process with PyTorch's default allocator, as a port runs)."""
    model = wct.load()
    content = image(CONTENT, side)
    style = [image(STYLES[0], min(side, wct.DEFAULT_STYLE_SIZE))]
    textbook(model, content, style, [1.0], 0.6)  # warm-up
    return stats([_timed(lambda: textbook(model, content, style, [1.0], 0.6)) for _ in range(repeats)])


def peak_only(side: int, name: str = "vgg16") -> dict:
    """Peak memory of one re-render at ``side`` (fresh process): all five levels with VGG-16, the default levels with
    the light model (its fast path)."""
    model = wct.load(model=name)
    style = model.compute_style(image(STYLES[0], wct.DEFAULT_STYLE_SIZE))
    levels = wct.LEVELS if name == "vgg16" else None
    t = _timed(lambda: model.stylize(image(CONTENT, side), style, levels=levels, max_size=None))
    return {
        "size": side,
        "model": name,
        "seconds": round(t, 2),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def report(r: dict) -> None:
    """Print one size's results as ratios against the textbook pipeline of the same run."""
    tb1, tb3 = r["textbook_one_style"]["min"], r["textbook_three_styles"]["min"]
    print(
        f"\n{r['size']}x{r['size']} (all five levels): textbook {tb1:.2f} s one style, {tb3:.2f} s three styles; "
        f"matmul {r['matmul_gflops_per_s']} GFLOP/s; {r['conv_gflop']} GFLOP of convolutions; "
        f"peak RSS {r['peak_rss_mib']:.0f} MiB"
    )
    tbd = r["textbook_one_style_default_allocator"]["min"]
    print(f"  (the textbook in a process of its own without huge pages, PyTorch's default allocator: {tbd:.2f} s one style; "
          f"huge pages, which wct turns on, speed it up {tbd / tb1:.2f}x; every ratio below is against the same-process "
          f"run, with huge pages)")
    e = r["eight_images"]
    print(f"  eight images, one style image (default levels): a stylize loop {e['loop']['min']:.2f} s, "
          f"stylize_batch {e['stylize_batch']['min']:.2f} s = {e['loop']['min'] / e['stylize_batch']['min']:.2f}x")
    print(f"  preview (preview=True: relu5_1..relu3_1 at 256 px, a precomputed Style): {r['preview']['min']:.2f} s")
    if "compile_seconds" in r:
        print(f"  (compiling every network at this size took {r['compile_seconds']} s, once per process and size)")
    if "half_precision" in r:
        q = r["half_vs_float32_psnr"]
        print(f"  (ours_half: the networks in {r['half_precision']}; its images against float32's: {q['default_levels']} dB "
              f"with the default levels, {q['all_five']} dB with all five)")
    report_models(r)
    for name in ("ours", "ours_compiled", "ours_half"):
        if name not in r:
            continue
        o = r[name]
        total = sum(o["stages"].values())
        direct = o.get("one_style_direct_convs")
        print(
            f"  {name}: one style {o['one_style']['min']:.2f} s = {tb1 / o['one_style']['min']:.2f}x faster; "
            f"three styles {o['three_styles']['min']:.2f} s = {tb3 / o['three_styles']['min']:.2f}x; "
            f"re-render with a Style {o['rerender']['min']:.2f} s = {tb1 / o['rerender']['min']:.2f}x"
            + (f"; one style with direct convolutions only {direct['min']:.2f} s = {tb1 / direct['min']:.2f}x" if direct else "")
        )
        print("    stages: " + ", ".join(f"{k} {v:.2f} s ({100 * v / total:.0f}%)" for k, v in o["stages"].items())
              + f"; convolutions at {o['conv_gflops_per_s']} direct-equivalent GFLOP/s = "
              f"{100 * o['conv_gflops_per_s'] / r['matmul_gflops_per_s']:.0f}% of matmul")


def report_models(r: dict) -> None:
    """The two models side by side at one size, with the light model's speed-ups."""
    m = r.get("models", {})
    print(f"  models, default levels ({', '.join(wct.DEFAULT_LEVELS)}), {r['size']} px: seconds (min of repeats)")
    for name, t in m.items():
        refined = f", refine={wct.REFINE_STEPS} {t['refined']['min']:.2f} s" if "refined" in t else ""
        print(f"    {name}: fast path {t['fast']['min']:.3f} s, re-render {t['rerender']['min']:.3f} s{refined}")
    if "vgg16" in m and "light" in m:
        v, li = m["vgg16"], m["light"]
        line = f"    light vs vgg16: fast path {v['fast']['min'] / li['fast']['min']:.1f}x faster"
        if "refined" in v:
            line += f", refinement {v['refined']['min'] / li['refined']['min']:.1f}x faster"
        print(line)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="256,512,1024")
    ap.add_argument("--memory-sizes", default="2048", help="sizes measured for peak memory only ('' to skip)")
    ap.add_argument("--light-memory-sizes", default="4096", help="the light model's peak memory at these sizes ('' to skip)")
    ap.add_argument("--refine", action="store_true", help="also time VGG-16's refinement (about 70 s at 512 px on 2 cores)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "speed.json")
    ap.add_argument("--no-compile", action="store_true", help="skip the torch.compile variant")
    ap.add_argument("--half", action="store_true", help="also time half-precision networks (wct.load(half=True): "
                    "bfloat16 on a CPU, fast with AMX) and compare their images with float32's")  # fmt: skip
    ap.add_argument("--_one", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--_compile", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--_half", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--_peak", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--_model", default="vgg16", help=argparse.SUPPRESS)
    ap.add_argument("--_refine", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--_textbook", type=int, default=0, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args._one:
        print(json.dumps(run_size(args._one, args.repeats, args._compile, args._half, args._refine)))
        return 0
    if args._peak:
        print(json.dumps(peak_only(args._peak, args._model)))
        return 0
    if args._textbook:
        print(json.dumps(textbook_only(args._textbook, args.repeats)))
        return 0
    results = {"torch": torch.__version__, "threads": torch.get_num_threads(), "sizes": [], "memory": []}
    for side in [int(s) for s in args.sizes.split(",") if s]:
        cmd = [sys.executable, __file__, "--_one", str(side), "--repeats", str(args.repeats)] + (
            [] if args.no_compile else ["--_compile"]
        )
        cmd += (["--_half"] if args.half else []) + (["--_refine"] if args.refine else [])
        out = subprocess.run(cmd, capture_output=True, text=True, check=True)
        r = json.loads(out.stdout.strip().splitlines()[-1])
        env = {**os.environ, "THP_MEM_ALLOC_ENABLE": "0"}  # no huge pages: PyTorch's default, as a reference port runs
        out = subprocess.run([sys.executable, __file__, "--_textbook", str(side), "--repeats", str(args.repeats)],
                             capture_output=True, text=True, check=True, env=env)  # fmt: skip
        r["textbook_one_style_default_allocator"] = json.loads(out.stdout.strip().splitlines()[-1])
        results["sizes"].append(r)
        report(r)
    light = "light" in wct.available_models()
    peaks = [(int(s), "vgg16") for s in args.memory_sizes.split(",") if s]
    peaks += [(int(s), "light") for s in args.light_memory_sizes.split(",") if s and light]
    for side, name in peaks:
        cmd = [sys.executable, __file__, "--_peak", str(side), "--_model", name]
        r = json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1])
        results["memory"].append(r)
        print(f"\n{side}x{side} re-render, {name}: {r['seconds']:.1f} s, peak RSS {r['peak_rss_mib'] / 1024:.2f} GiB")
    args.json.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
