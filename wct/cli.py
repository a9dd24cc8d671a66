"""The ``wct`` command line: a thin layer over the public API. main(argv) returns the exit code."""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path

from . import __version__
from .encoder import LEVELS
from .errors import InputError, OutputError, WCTError
from .style import level_weights as resolve_level_weights
from .style import normalize_weights

__all__ = ["main", "parse_style_arg", "parse_level_values", "parse_texture_size", "example_paths"]

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".gif"}


def example_paths() -> tuple[Path, Path]:
    """The built-in example (content, style) from assets/."""
    here = Path(__file__).resolve().parent
    for folder in (here / "assets", here.parent / "assets"):
        content, style = folder / "content.jpg", folder / "style.jpg"
        if content.is_file() and style.is_file():
            return content, style
    raise InputError("the built-in example images are not installed; give a content image and -s STYLE")


def parse_style_arg(text: str) -> tuple[str, float]:
    """'path.jpg:0.3' -> ('path.jpg', 0.3); a colon not followed by a number stays in the path."""
    head, sep, tail = text.rpartition(":")
    if sep and head:
        try:
            return head, float(tail)
        except ValueError:
            pass
    return text, 1.0


def parse_level_values(items: Sequence[str] | None, flag: str) -> dict[str, list[float]]:
    """['relu5_1=1,0', '3=0,1'] -> {'relu5_1': [1.0, 0.0], '3': [0.0, 1.0]} (levels are checked by the API)."""
    out: dict[str, list[float]] = {}
    for item in items or []:
        level, sep, values = item.partition("=")
        try:
            if not sep or not level.strip():
                raise ValueError
            out[level.strip()] = [float(v) for v in values.split(",")]
        except ValueError:
            example = "relu5_1=1,0" if flag == "--level-weights" else "relu1_1=0.3"
            raise InputError(f"expected {flag} LEVEL=VALUE[,VALUE...] (e.g. {example}), got {item!r}") from None
    return out


def parse_texture_size(text: str) -> tuple[int, int]:
    """'640x480' -> (640, 480); '256' -> (256, 256)."""
    w, sep, h = text.lower().partition("x")
    try:
        return (int(w), int(h)) if sep else (int(w), int(w))
    except ValueError:
        raise InputError(f"expected --size WIDTHxHEIGHT (e.g. 640x480) or N, got {text!r}") from None


def _load_style_arg(model, spec: str, levels, style_size, downscale: bool = False):
    from .style import Style

    path = Path(spec)
    if path.suffix == ".safetensors":
        return Style.load(path)
    return model.compute_style(path, levels=levels, style_size=style_size, downscale=downscale)


def _expand_contents(items: Sequence[str]) -> list[Path]:
    out: list[Path] = []
    for item in items:
        p = Path(item)
        if p.is_dir():
            found = sorted(q for q in p.iterdir() if q.suffix.lower() in IMAGE_SUFFIXES and q.is_file())
            if not found:
                raise InputError(f"the folder {p} holds no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
            out += found
        else:
            out.append(p)
    return out


def _half(args) -> bool | str:
    """``load(half=...)`` for --precision / --half."""
    from .api import PRECISIONS

    if args.half and args.precision not in (None, "half"):
        raise InputError(f"--half contradicts --precision {args.precision}; give one of them")
    return True if args.half else PRECISIONS[args.precision or "float32"]


def _size_arg(text: str) -> int | None:
    if text.lower() in ("full", "none", "0"):
        return None
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of pixels or 'full', got {text!r}") from None


def _tile_size_arg(text: str) -> int:
    from .api import parse_tile_size

    try:
        return parse_tile_size(int(text))  # type: ignore[return-value]
    except (ValueError, InputError):
        raise argparse.ArgumentTypeError(f"expected 0 (never tile) or a multiple of 16 >= 256, got {text!r}") from None


def _cmd_stylize(args) -> int:
    from .api import load

    contents = list(args.content)
    styles = list(args.style or [])
    if not contents and not styles:
        content, style = example_paths()
        contents, styles = [str(content)], [str(style)]
    if not contents:
        raise InputError("no content image given; usage: wct stylize CONTENT -s STYLE -o OUT")
    if not styles:
        raise InputError("no style given; add -s STYLE_IMAGE (or -s STYLE.safetensors), several with :WEIGHT")
    specs = [parse_style_arg(s) for s in styles]
    normalize_weights([w for _, w in specs], len(specs))
    level_weights = parse_level_values(args.level_weights, "--level-weights")
    level_alpha = {k: v[0] if len(v) == 1 else v for k, v in parse_level_values(args.level_alpha, "--level-alpha").items()}
    if args.mask and len(args.mask) != len(specs):
        raise InputError(f"expected one --mask per -s style: {len(specs)} mask(s), got {len(args.mask)}")
    if args.mask and (level_weights or any(w != 1.0 for _, w in specs)):
        raise InputError("with --mask each style takes its own region; drop the :WEIGHT suffixes and --level-weights")
    resolve_level_weights({**level_weights, "default": [w for _, w in specs]}, len(specs), LEVELS)  # check before any work
    paths = _expand_contents(contents)
    out = Path(args.output)
    many = len(paths) > 1 or Path(contents[0]).is_dir()
    if many:
        out.mkdir(parents=True, exist_ok=True)
    elif out.is_dir():
        out = out / f"{paths[0].stem}_stylized.png"
    from .image import output_format, save_image

    if not many:
        output_format(out)
        if out.exists() and not args.overwrite:
            raise OutputError(f"{out} already exists; pass --overwrite to replace it")
    model = load(device=args.device, half=_half(args))
    from .api import DEFAULT_LEVELS, PREVIEW_LEVELS, parse_levels
    from .style import Style

    levels = parse_levels(args.levels or ",".join(PREVIEW_LEVELS if args.preview else DEFAULT_LEVELS))
    weights = {**level_weights, "default": [w for _, w in specs]} if level_weights else [w for _, w in specs]
    histogram = args.preserve_color == "histogram"
    if histogram:  # the style images are recoloured after each content: keep them as images, measured per content
        style_objs = [Style.load(p) if Path(p).suffix == ".safetensors" else Path(p) for p, _ in specs]
    else:  # measured once for all contents
        style_objs = [_load_style_arg(model, p, levels, args.style_size, args.downscale) for p, _ in specs]
    kw = dict(alpha={**level_alpha, "default": args.alpha} if level_alpha else args.alpha, levels=levels, max_size=args.size,
              style_size=args.style_size, preserve_color=args.preserve_color, preview=args.preview,
              downscale=args.downscale, tile_size=args.tile_size)  # fmt: skip
    if args.mask:
        style, kw["masks"] = style_objs, list(args.mask)
    elif len(style_objs) == 1:
        style = style_objs[0]
    elif histogram:
        style, kw["weights"], kw["blend_method"] = style_objs, weights, args.blend
    else:
        style = Style.blend(style_objs, weights, method=args.blend)
    failed: list[tuple[Path, str]] = []
    targets = list(zip(paths, _output_names(paths, out, args.format))) if many else [(paths[0], out)]
    bar = _progress(targets, many)
    for src, dst in bar:
        if many and dst.exists() and not args.overwrite:
            continue  # finished earlier: resume without redoing
        try:
            img = model.stylize(src, style, **kw)
            save_image(img, dst, overwrite=args.overwrite, inputs=(*paths, *(p for p, _ in specs), *(args.mask or [])))
        except WCTError as exc:
            if not many:
                raise
            failed.append((src, str(exc)))
    if failed:
        return _report_failures(failed, len(paths))
    if not many:
        print(out)
    return 0


def _output_names(paths: list[Path], folder: Path, fmt: str) -> list[Path]:
    """OUT/stem.fmt for each input; inputs sharing a stem (a.jpg, a.png) keep their suffix in the name."""
    stems = [p.stem for p in paths]
    return [folder / (f"{p.stem}_{p.suffix[1:]}.{fmt}" if stems.count(p.stem) > 1 else f"{p.stem}.{fmt}") for p in paths]


def _progress(items, enabled: bool):
    if not enabled:
        return items
    from tqdm import tqdm

    return tqdm(items, desc="stylizing", unit="img", file=sys.stderr)


def _cmd_video(args) -> int:
    from .api import DEFAULT_LEVELS, load, parse_levels
    from .style import Style
    from .video import stylize_video

    specs = [parse_style_arg(s) for s in args.style]
    weights = normalize_weights([w for _, w in specs], len(specs))
    model = load(device=args.device, half=_half(args))
    levels = parse_levels(args.levels or ",".join(DEFAULT_LEVELS))
    styles = [_load_style_arg(model, p, levels, args.style_size, args.downscale) for p, _ in specs]
    style = Style.blend(styles, weights, method=args.blend) if len(styles) > 1 else styles[0]
    bar = None

    def progress(done: int, total: int, _: str) -> None:
        nonlocal bar
        if bar is None:  # frames finished by an earlier run count as done, not towards the rate (ETA)
            from tqdm import tqdm

            bar = tqdm(total=total, initial=done, desc="stylizing", unit="frame", file=sys.stderr)
        bar.total = total
        bar.update(done - bar.n)

    try:
        out = stylize_video(args.input, style, args.output, model=model, alpha=args.alpha, levels=levels, max_size=args.size,
                            coherent=not args.plain, flow_blend=args.flow_blend, stats_momentum=args.stats_momentum,
                            batch_size=args.batch_size, tile_size=args.tile_size, overwrite=args.overwrite,
                            progress=progress)  # fmt: skip
    finally:
        if bar is not None:
            bar.close()
    print(out)
    return 0


def _cmd_batch(args) -> int:
    from .api import DEFAULT_LEVELS, load, parse_levels
    from .image import save_image
    from .style import Style

    specs = [parse_style_arg(s) for s in args.style]
    weights = normalize_weights([w for _, w in specs], len(specs))
    paths = _expand_contents(args.content)
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    targets = list(zip(paths, _output_names(paths, out, args.format)))
    todo = [(src, dst) for src, dst in targets if args.overwrite or not dst.exists()]  # finished earlier: not redone
    levels = parse_levels(args.levels or ",".join(DEFAULT_LEVELS))
    model = load(device=args.device, half=_half(args))  # measures the style once, here; Ray's workers load their own
    styles = [_load_style_arg(model, p, levels, args.style_size, args.downscale) for p, _ in specs]
    style = Style.blend(styles, weights, method=args.blend) if len(styles) > 1 else styles[0]
    options = dict(alpha=args.alpha, levels=levels, max_size=args.size, downscale=args.downscale, tile_size=args.tile_size)
    inputs = (*paths, *(p for p, _ in specs))
    failed: list[tuple[Path, str]] = []
    from tqdm import tqdm

    bar = tqdm(total=len(targets), initial=len(targets) - len(todo), desc="stylizing", unit="img", file=sys.stderr)

    def save(src: Path, dst: Path, image) -> None:
        try:
            save_image(image, dst, overwrite=args.overwrite, inputs=inputs)
        except WCTError as exc:
            failed.append((src, str(exc)))

    try:
        if args.ray:
            from .distributed import connect, stylize_on_ray

            started = connect(args.ray, num_cpus=args.ray_cpus)
            try:
                results = stylize_on_ray([src for src, _ in todo], style, options, workers=args.workers, batch_size=args.batch_size,
                                         cpus_per_worker=args.cpus_per_worker, gpus_per_worker=args.gpus_per_worker,
                                         half=_half(args))  # fmt: skip
                for r in results:
                    src, dst = todo[r.index]
                    if r.error:
                        failed.append((src, r.error))
                    else:
                        save(src, dst, r.image)
                    bar.update(1)
            finally:
                if started:
                    __import__("ray").shutdown()
        else:
            for src, dst in todo:
                try:
                    save(src, dst, model.stylize(src, style, **options))
                except WCTError as exc:
                    failed.append((src, str(exc)))
                bar.update(1)
    finally:
        bar.close()
    return _report_failures(failed, len(paths))


def _report_failures(failed: list[tuple[Path, str]], total: int) -> int:
    """List the inputs that failed (exit code 1), or return 0."""
    if not failed:
        return 0
    print(f"wct: {len(failed)} of {total} image(s) failed:", file=sys.stderr)
    for src, msg in sorted(failed):
        print(f"  {src}: {msg}", file=sys.stderr)
    return 1


def _cmd_style(args) -> int:
    from .api import load, parse_levels
    from .style import Style

    out = Path(args.output)
    if out.suffix != ".safetensors":
        raise OutputError(f"style files end in .safetensors, got '{out.name}'")
    if out.exists() and not args.overwrite:
        raise OutputError(f"{out} already exists; pass --overwrite to replace it")
    weights = [float(w) for w in args.weights.split(",")] if args.weights else None
    level_weights = parse_level_values(args.level_weights, "--level-weights")
    if level_weights:
        weights = {**level_weights, "default": weights}
    model = load(device=args.device, half=_half(args))
    levels = parse_levels(args.levels)
    styles = [_load_style_arg(model, s, levels, args.style_size, args.downscale) for s in args.images]
    style = Style.blend(styles, weights, method=args.blend) if (len(styles) > 1 or weights) else styles[0]
    style.save(out)
    print(out)
    return 0


def _cmd_texture(args) -> int:
    from .api import load, parse_levels
    from .image import output_format, save_image
    from .style import Style

    out = Path(args.output)
    output_format(out)
    if out.exists() and not args.overwrite:
        raise OutputError(f"{out} already exists; pass --overwrite to replace it")
    size = parse_texture_size(args.size)
    specs = [parse_style_arg(s) for s in args.style]
    normalize_weights([w for _, w in specs], len(specs))
    weights = {**parse_level_values(args.level_weights, "--level-weights"), "default": [w for _, w in specs]}
    resolve_level_weights(weights, len(specs), LEVELS)  # check before any work
    model = load(device=args.device, half=_half(args))
    levels = parse_levels(args.levels)
    styles = [_load_style_arg(model, p, levels, args.style_size, args.downscale) for p, _ in specs]
    style = Style.blend(styles, weights, method=args.blend) if len(styles) > 1 else styles[0]
    img = model.texture(style, size=size, seed=args.seed, levels=levels, iterations=args.iterations, tile_size=args.tile_size)
    save_image(img, out, overwrite=args.overwrite, inputs=tuple(p for p, _ in specs))
    print(out)
    return 0


def _cmd_reconstruct(args) -> int:
    from .api import load
    from .image import output_format, save_image

    out = Path(args.output)
    output_format(out)
    if out.exists() and not args.overwrite:
        raise OutputError(f"{out} already exists; pass --overwrite to replace it")
    img = load(device=args.device, half=_half(args)).reconstruct(args.image, args.level, max_size=args.size, downscale=args.downscale)
    save_image(img, out, overwrite=args.overwrite, inputs=(args.image,))
    print(out)
    return 0


def _cmd_train(args) -> int:
    from .train import config_from_args, export_decoder, train_decoder

    cfg = config_from_args(args)
    folder = train_decoder(cfg)
    if args.export_to:
        print(export_decoder(folder, cfg.level, Path(args.export_to), cfg.images))
    return 0


def _cmd_export(args) -> int:
    from .train import TrainConfig, export_decoder

    folder = Path(args.checkpoint) if args.checkpoint else TrainConfig(level=args.level, images=args.images).folder()
    print(export_decoder(folder, args.level, Path(args.to), args.images))
    return 0


def _cmd_info(args) -> int:
    import torch

    from .api import half_dtype, half_is_fast, resolve_device
    from .weights import cache_dir, decoders_dir, read_manifest

    device = resolve_device(None)
    cuda = torch.cuda.get_device_name(device) if device.type == "cuda" else "none"
    print(f"wct {__version__}, torch {torch.__version__}")
    print(f"devices:  CPU ({torch.backends.cpu.get_cpu_capability()} kernels, {torch.get_num_threads()} threads), CUDA: {cuda}")
    half = str(half_dtype(device)).removeprefix("torch.")
    fast = "fast here: --precision auto uses it" if half_is_fast(device) else "not faster here: --precision auto keeps float32"
    print(f"half:     {half} (--precision half), {fast}")
    print(f"cache:    {cache_dir()}")
    folder = decoders_dir()
    print(f"decoders: {folder}")
    for level, entry in read_manifest(folder).items():
        print(f"  {level}: {entry.get('heldout_psnr', '?')} dB PSNR, {entry.get('images_seen', '?')} images seen")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from .train import add_arguments

    p = argparse.ArgumentParser(prog="wct", description="Universal style transfer by whitening and coloring transforms.")
    p.add_argument("--version", action="version", version=f"wct {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def tiles(sp):
        sp.add_argument("--tile-size", type=_tile_size_arg, default=None, metavar="PX",
                        help="process in tiles of PX (multiple of 16, >= 256; 0 = never); default: tiles of 1024 px "
                             "only for images over 2048x2048")  # fmt: skip

    def common(sp, size=True):
        sp.add_argument("--device", default=None, help="cpu, cuda, cuda:N (default: CUDA when present)")
        sp.add_argument("--overwrite", action="store_true", help="replace existing output files")
        sp.add_argument("--downscale", action="store_true", help="shrink images over the 50 MP limit to fit instead of refusing them")
        sp.add_argument("--precision", choices=("float32", "half", "auto"), default=None,
                        help="the networks' precision: float32 (default), half (float16 on CUDA, bfloat16 on a CPU; "
                             "statistics stay float32) or auto (half where it is fast: CUDA, CPUs with AMX)")  # fmt: skip
        sp.add_argument("--half", action="store_true", help="same as --precision half")
        if size:
            sp.add_argument("--size", type=_size_arg, default=512, help="long side to work at in px, or 'full' (default 512)")

    s = sub.add_parser("stylize", help="restyle images after one or more style images")
    s.add_argument("content", nargs="*", help="content image(s) or folder(s); none = the built-in example")
    s.add_argument("-s", "--style", action="append", metavar="STYLE[:WEIGHT]", help="style image or .safetensors; repeat to blend")
    s.add_argument("-o", "--output", required=True, help="output file (one content) or folder (several)")
    s.add_argument("--alpha", type=float, default=0.6, help="style strength in [0, 1] (default 0.6)")
    s.add_argument("--levels", default=None, help="comma-separated levels, e.g. relu5_1,relu4_1 (default: relu4_1..relu1_1)")
    s.add_argument("--style-size", type=_size_arg, default=512, help="long side the style is measured at (default 512)")
    s.add_argument("--format", default="png", help="file type for folder outputs (default png)")
    s.add_argument("--level-weights", action="append", metavar="LEVEL=W1,W2,...",
                   help="blend weights for one level, one per -s (repeat per level; other levels use the -s weights)")
    s.add_argument("--level-alpha", action="append", metavar="LEVEL=A", help="style strength for one level (repeat; others use --alpha)")
    s.add_argument("--blend", choices=("linear", "wasserstein"), default="linear", help="how several styles are mixed (default linear)")
    s.add_argument("--mask", action="append", metavar="MASK", help="spatial control: one grayscale mask per -s, in order (white = that style)")
    s.add_argument("--preserve-color", choices=("luminance", "histogram"), default=None,
                   help="keep the content's colours: luminance-only transfer, or recolour the style to the content first")
    s.add_argument("--preview", action="store_true", help="quick look: relu5_1..relu3_1 at 256 px at most")
    common(s)
    tiles(s)
    s.set_defaults(func=_cmd_stylize)

    v = sub.add_parser("video", help="restyle a video (audio kept) with temporal coherence; resumes if interrupted")
    v.add_argument("input", help="input video (MP4, MOV, MKV, WebM, ...)")
    v.add_argument("-s", "--style", action="append", required=True, metavar="STYLE[:WEIGHT]", help="style image or .safetensors; repeat to blend")
    v.add_argument("-o", "--output", required=True, help="output video: .mp4, .mov, .mkv or .webm")
    v.add_argument("--alpha", type=float, default=0.6, help="style strength in [0, 1] (default 0.6)")
    v.add_argument("--levels", default=None, help="comma-separated levels (default: relu4_1..relu1_1)")
    v.add_argument("--style-size", type=_size_arg, default=512, help="long side the style is measured at (default 512)")
    v.add_argument("--blend", choices=("linear", "wasserstein"), default="linear", help="how several styles are mixed (default linear)")
    v.add_argument("--plain", action="store_true", help="plain per-frame WCT, no temporal coherence (flickers)")
    v.add_argument("--flow-blend", type=float, default=0.7, help="share of the motion-warped previous frame blended in (default 0.7)")
    v.add_argument("--stats-momentum", type=float, default=0.0, help="time smoothing of content statistics in [0, 1) (default 0: off)")
    v.add_argument("--batch-size", type=int, default=4, help="frames per network pass (default 4)")
    common(v)
    tiles(v)
    v.set_defaults(func=_cmd_video)

    b = sub.add_parser("batch", help="restyle folders of images, resumably; on a Ray cluster with --ray")
    b.add_argument("content", nargs="+", help="content folder(s) or image(s)")
    b.add_argument("-s", "--style", action="append", required=True, metavar="STYLE[:WEIGHT]", help="style image or .safetensors; repeat to blend")
    b.add_argument("-o", "--output", required=True, help="output folder (finished outputs are skipped)")
    b.add_argument("--alpha", type=float, default=0.6, help="style strength in [0, 1] (default 0.6)")
    b.add_argument("--levels", default=None, help="comma-separated levels (default: relu4_1..relu1_1)")
    b.add_argument("--style-size", type=_size_arg, default=512, help="long side the style is measured at (default 512)")
    b.add_argument("--blend", choices=("linear", "wasserstein"), default="linear", help="how several styles are mixed (default linear)")
    b.add_argument("--format", default="png", help="output file type (default png)")
    b.add_argument("--ray", nargs="?", const="auto", default=None, metavar="ADDRESS",
                   help="run on Ray: 'auto' (the running cluster), host:6379, ray://host:10001, or 'local' (start one here)")
    b.add_argument("--workers", type=int, default=1, help="Ray actors, each loading the model once (default 1)")
    b.add_argument("--cpus-per-worker", type=float, default=1.0, help="CPUs reserved per Ray actor (default 1)")
    b.add_argument("--gpus-per-worker", type=float, default=0.0, help="GPUs per Ray actor; > 0 runs them on CUDA (default 0)")
    b.add_argument("--ray-cpus", type=int, default=None, help="with --ray local: CPUs the local Ray may use (default: all)")
    b.add_argument("--batch-size", type=int, default=8, help="images per Ray batch (default 8)")
    common(b)
    tiles(b)
    b.set_defaults(func=_cmd_batch)

    st = sub.add_parser("style", help="precompute (and blend) style statistics into a .safetensors file")
    st.add_argument("images", nargs="+", help="style image(s) or .safetensors file(s)")
    st.add_argument("--weights", default=None, help="comma-separated blend weights, one per image")
    st.add_argument("--levels", default=None, help="levels to store (default: all five)")
    st.add_argument("--style-size", type=_size_arg, default=512, help="long side the style is measured at (default 512)")
    st.add_argument("--level-weights", action="append", metavar="LEVEL=W1,W2,...", help="blend weights for one level (repeat)")
    st.add_argument("--blend", choices=("linear", "wasserstein"), default="linear", help="how several styles are mixed (default linear)")
    st.add_argument("-o", "--output", required=True, help="STYLE.safetensors")
    common(st, size=False)
    st.set_defaults(func=_cmd_style)

    tx = sub.add_parser("texture", help="synthesise a texture of any size from a style image (seeded noise)")
    tx.add_argument("style", nargs="+", metavar="STYLE[:WEIGHT]", help="style image(s) or .safetensors; several are blended")
    tx.add_argument("-o", "--output", required=True, help="output image file")
    tx.add_argument("--size", default="512x512", help="WIDTHxHEIGHT in pixels, or N for a square (default 512x512)")
    tx.add_argument("--seed", type=int, default=0, help="noise seed: the same seed gives the same texture (default 0)")
    tx.add_argument("--iterations", type=int, default=1, help="coarse-to-fine passes, 1..10 (default 1)")
    tx.add_argument("--levels", default=None, help="comma-separated levels (default: all five)")
    tx.add_argument("--style-size", type=_size_arg, default=512, help="long side the style is measured at (default 512)")
    tx.add_argument("--level-weights", action="append", metavar="LEVEL=W1,W2,...", help="blend weights for one level (repeat)")
    tx.add_argument("--blend", choices=("linear", "wasserstein"), default="linear", help="how several styles are mixed (default linear)")
    common(tx, size=False)
    tiles(tx)
    tx.set_defaults(func=_cmd_texture)

    r = sub.add_parser("reconstruct", help="encode and decode an image at one level (checks a decoder)")
    r.add_argument("image")
    r.add_argument("--level", default="relu4_1")
    r.add_argument("-o", "--output", required=True)
    common(r)
    r.set_defaults(func=_cmd_reconstruct)

    t = sub.add_parser("train-decoder", help="train (or resume training) one level's decoder")
    add_arguments(t)
    t.add_argument("--export-to", default="", help="afterwards, export the best weights to this decoders folder")
    t.set_defaults(func=_cmd_train)

    e = sub.add_parser("export-decoder", help="ship a trained decoder as float16 safetensors + manifest entry")
    e.add_argument("--level", required=True)
    e.add_argument("--images", required=True, help="the training folder (its held-out split is measured)")
    e.add_argument("--checkpoint", default="", help="checkpoint folder (default: the cache)")
    e.add_argument("--to", default="decoders", help="decoders folder (default: decoders)")
    e.set_defaults(func=_cmd_export)

    i = sub.add_parser("info", help="show versions, cache and shipped decoders")
    i.set_defaults(func=_cmd_info)

    from . import space  # the Hugging Face Space bundle: all of it lives in wct/space.py

    sp = sub.add_parser("space", help="assemble the Hugging Face Space as a folder to upload (app, package, decoders, LFS rules)")
    space.add_arguments(sp)
    sp.set_defaults(func=space.run)
    return p


def _show_warning(message, category, filename, lineno, file=None, line=None):
    print(f"wct: warning: {message}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    warnings.showwarning = _show_warning
    try:
        return args.func(args)
    except WCTError as exc:
        print(f"wct: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("wct: interrupted", file=sys.stderr)
        return 130
    except MemoryError:
        print("wct: error: out of memory; fix: use a smaller --size", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"wct: error: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # last resort: one line, not a traceback (WCT_DEBUG=1 shows it)
        if os.environ.get("WCT_DEBUG"):
            raise
        print(f"wct: internal error ({type(exc).__name__}: {exc}); please report it (WCT_DEBUG=1 shows details)", file=sys.stderr)
        return 1
