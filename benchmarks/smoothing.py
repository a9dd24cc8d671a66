"""Time and memory of the photorealistic smoothing (wct.smoothing): the guided filter vs the exact solve.

A photo from ``/work/shared/data/train`` (or ``--content``) is resized to a long side of 512 and 1024 px and
stylized after another photo by WCT at the shallow levels (relu2_1, relu1_1, alpha 1; the input the smoothing gets in
the photorealistic mode, computed once per size and kept in a temporary file); then each path smooths it. Each
measurement runs in a fresh subprocess, so its peak resident memory (ru_maxrss) is its own; "base" is that process
before smoothing (torch and the images loaded).
Prints the median wall time and CPU time of ``--repeats`` runs, the peak memory, the conjugate-gradient iterations of
the exact solve, how far the fast result is from the exact one, the whole photorealistic mode (``--paths mode``:
shallow WCT by a loaded model, then the fast path), and the colour-statistics transfer in CIE Lab
(``wct.metrics.color_transfer_fraction``: 0 = the content's colours, 1 = the style photo's) before and after smoothing.

    python benchmarks/smoothing.py [--sizes 512,1024] [--paths fast,affinity,exact,mode] [--repeats 3]
                                   [--exact-repeats 1] [--threads N] [--big 7071] [--solvers 512]

``--big N`` also runs the fast path on an N x N synthetic image (7071 x 7071 = 50 MP) once, for its peak memory.
``--solvers SIZES`` also compares, at those sizes, ways to solve the exact system (how its solver was chosen):
SuperLU's factorization (``scipy.sparse.linalg.factorized``), our Jacobi-preconditioned block CG, and CG
preconditioned by a pyamg smoothed-aggregation V-cycle when pyamg is importable (it is not a dependency).
Run from the repository's root with it on the path (``PYTHONPATH=. python benchmarks/smoothing.py``) or installed.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

import wct  # first: it sets PyTorch's allocator option for the whole process
from wct import smoothing
from wct.metrics import color_transfer_fraction

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "train"  # ../shared/data/train beside the checkout
CONTENT, STYLE = DATA / "imagenet_n01924916_flatworm.jpg", DATA / "bsds500_test_100007.jpg"


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def load(path: Path, side: int) -> torch.Tensor:
    t, _ = wct.image.to_tensor(path)  # (1, 3, H, W) in [0, 1]
    h, w = t.shape[-2:]
    s = side / max(h, w)
    return wct.image.resize_to(t, (round(h * s), round(w * s)))


def timed(fn, repeats: int) -> tuple[float, float, object]:
    walls, cpus = [], []
    for _ in range(repeats):
        w0, c0 = time.perf_counter(), time.process_time()
        out = fn()
        walls.append(time.perf_counter() - w0)
        cpus.append(time.process_time() - c0)
    return statistics.median(walls), statistics.median(cpus), out


def prepare(side: int, content: Path, style: Path, cache: Path) -> None:
    """The stylized input at this size, by WCT at the shallow levels, saved with its content and style."""
    c, st = load(content, side), load(style, 512)
    y = wct.stylize(c, st, levels=["relu2_1", "relu1_1"], alpha=1.0, max_size=None)
    torch.save({"content": c, "style": st, "image": y}, cache / f"{side}.pt")


def solvers(c: torch.Tensor, y: torch.Tensor) -> dict:
    """Seconds (wall, CPU), iterations and the largest difference to SuperLU of each way to solve the exact system."""
    import scipy.sparse as sp
    import scipy.sparse.linalg as spl

    pad = ((2, 2), (2, 2), (0, 0))
    cp = np.pad(c[0].permute(1, 2, 0).double().numpy(), pad, mode="edge")
    yp = np.pad(y[0].permute(1, 2, 0).double().numpy(), pad, mode="edge").reshape(-1, 3)
    aff = smoothing._affinity(cp, smoothing.MATTING_EPS)
    d = np.asarray(aff.sum(axis=1)).ravel()
    system = (sp.diags_array((1 + smoothing.LAMBDA) * d) - aff).tocsr()
    rhs = yp * (smoothing.LAMBDA * d)[:, None]
    def cg():
        return smoothing._block_cg(system, rhs, yp, system.diagonal(), smoothing.CG_TOL, smoothing.CG_MAX_ITER)
    rows = {}
    wall, cpu, (x_cg, it) = timed(cg, 1)
    rows["cg_jacobi"] = {"wall": wall, "cpu": cpu, "iterations": it}
    try:
        import pyamg

        def amg():
            m = pyamg.smoothed_aggregation_solver(system, symmetry="symmetric", max_coarse=1000).aspreconditioner(cycle="V")
            def solve(r):
                return np.stack([m @ r[:, i] for i in range(3)], 1)
            return _pcg(system, rhs, yp, solve, smoothing.CG_TOL)

        wall, cpu, (x_amg, it) = timed(amg, 1)
        rows["cg_pyamg"] = {"wall": wall, "cpu": cpu, "iterations": it, "vs_cg_max_255": float(np.abs(x_amg - x_cg).max() * 255)}
    except ImportError:
        rows["cg_pyamg"] = "pyamg not importable"
    wall, cpu, solve = timed(lambda: spl.factorized(system.tocsc()), 1)
    w2, c2, x_lu = timed(lambda: np.stack([solve(rhs[:, i]) for i in range(3)], 1), 1)
    rows["superlu"] = {"wall": wall + w2, "cpu": cpu + c2, "vs_cg_max_255": float(np.abs(x_lu - x_cg).max() * 255)}
    return rows


def _pcg(a, b, x0, precondition, tol, max_iter=3000):
    """Block CG as in wct.smoothing, with any preconditioner (for the comparison only)."""
    def dot(u, v):
        return np.einsum("nk,nk->k", u, v)
    x = x0.copy()
    r = b - a @ x
    z = precondition(r)
    p, rz, target = z.copy(), dot(r, z), tol * tol * dot(b, b)
    for it in range(max_iter):
        if (dot(r, r) <= target).all():
            return x, it
        ap = a @ p
        step = rz / dot(p, ap)
        x += step * p
        r -= step * ap
        z = precondition(r)
        rz_new = dot(r, z)
        p = z + (rz_new / rz) * p
        rz = rz_new
    return x, max_iter


def child(path: str, side: int, repeats: int, cache: Path) -> dict:
    torch.manual_seed(0)
    if path == "big":
        c = torch.rand(1, 3, side, side)
        y = c.clone()
        base = peak_mb()
        wall, cpu, _ = timed(lambda: smoothing.guided_filter(y, c), 1)
        return {"path": path, "size": f"{side}x{side}", "wall": wall, "cpu": cpu, "base_mb": base, "peak_mb": peak_mb()}
    saved = torch.load(cache / f"{side}.pt")
    c, s, y = saved["content"], saved["style"], saved["image"]
    base = peak_mb()
    h, w = c.shape[-2:]
    row = {"path": path, "size": f"{w}x{h}", "base_mb": base}
    if path == "solvers":
        row.update(solvers(c, y))
    elif path == "mode":  # the whole photorealistic mode: shallow WCT by a loaded model, then the fast path
        model = wct.load()
        levels = ["relu2_1", "relu1_1"]
        def run():
            return smoothing.smooth(model.stylize(c, s, levels=levels, alpha=1.0, max_size=None), c, method="fast")
        row["wall"], row["cpu"], out = timed(run, repeats)
        row["wct_only_wall"] = timed(lambda: model.stylize(c, s, levels=levels, alpha=1.0, max_size=None), repeats)[0]
    elif path == "affinity":
        row["wall"], row["cpu"], aff = timed(lambda: smoothing.matting_affinity(c), repeats)
        row["nnz"] = int(aff.nnz)
    elif path == "fast":
        row["wall"], row["cpu"], out = timed(lambda: smoothing.smooth(y, c, method="fast"), repeats)
    else:
        iterations = []
        original = smoothing._block_cg

        def counting(*args, **kwargs):
            x, it = original(*args, **kwargs)
            iterations.append(it)
            return x, it

        smoothing._block_cg = counting
        row["wall"], row["cpu"], out = timed(lambda: smoothing.smooth(y, c, method="exact"), repeats)
        row["cg_iterations"] = iterations[-1]
        fast = smoothing.smooth(y, c, method="fast")
        row["fast_vs_exact_mean_abs_255"] = float((fast - out).abs().mean() * 255)
        row["fast_vs_exact_p99_abs_255"] = float((fast - out).abs().flatten().quantile(0.99) * 255)
    row["peak_mb"] = peak_mb()
    if path in ("fast", "exact", "mode"):
        row["lab_transfer_wct"] = float(color_transfer_fraction(y, c, s))
        row["lab_transfer_smoothed"] = float(color_transfer_fraction(out, c, s))
    return row


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="512,1024")
    p.add_argument(
        "--paths", default="fast,affinity,exact,mode", help="which of fast, affinity, exact, mode (WCT + fast) to measure"
    )
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--exact-repeats", type=int, default=1)
    p.add_argument("--big", type=int, default=0, help="also the fast path on an N x N image (peak memory)")
    p.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's choice)")
    p.add_argument("--content", type=Path, default=CONTENT)
    p.add_argument("--style", type=Path, default=STYLE)
    p.add_argument("--solvers", default="", help="sizes (e.g. 512) at which to also compare solvers of the exact system")
    p.add_argument("--child", nargs=3, metavar=("PATH", "SIDE", "CACHE"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.child:
        path, side, cache = args.child[0], int(args.child[1]), Path(args.child[2])
        if path == "prepare":
            prepare(side, args.content, args.style, cache)
            return 0
        repeats = args.exact_repeats if path == "exact" else args.repeats
        print(json.dumps(child(path, side, repeats, cache)))
        return 0
    sizes = [int(s) for s in args.sizes.split(",")]
    solver_sizes = {int(s) for s in args.solvers.split(",") if s}
    jobs = [(path, side) for side in sizes for path in ["prepare", *args.paths.split(",")]]
    jobs += [(path, side) for side in sorted(solver_sizes) for path in ("prepare", "solvers")]
    jobs += [("big", args.big)] if args.big else []
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads; wall and CPU seconds are medians; "
        "the machine may be shared"
    )
    cache = Path(tempfile.mkdtemp(prefix="wct-smoothing-"))
    for path, side in jobs:
        cmd = [sys.executable, __file__, "--child", path, str(side), str(cache), "--repeats", str(args.repeats),
               "--exact-repeats", str(args.exact_repeats), "--threads", str(args.threads),
               "--content", str(args.content), "--style", str(args.style)]  # fmt: skip
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if path == "prepare" and not done.returncode:
            continue
        if done.returncode:
            print(f"{path} {side}: failed\n{done.stderr[-2000:]}")
            continue
        row = json.loads(done.stdout.strip().splitlines()[-1])
        if path == "solvers":
            print(
                f"{'solvers':>8} {row['size']:>10}: {json.dumps({k: v for k, v in row.items() if k not in ('path', 'size')})}",
                flush=True,
            )
            continue
        extra = {
            k: round(v, 3) if isinstance(v, float) else v
            for k, v in row.items()
            if k not in ("path", "size", "wall", "cpu", "base_mb", "peak_mb")
        }
        print(f"{row['path']:>8} {row['size']:>10}: {row['wall']:7.2f} s wall {row['cpu']:7.2f} s CPU, "
              f"peak {row['peak_mb']:6.0f} MB (base {row['base_mb']:.0f}) {extra or ''}", flush=True)  # fmt: skip
    for f in cache.iterdir():
        f.unlink()
    cache.rmdir()
    return 0


if __name__ == "__main__":
    sys.exit(main())
