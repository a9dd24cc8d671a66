"""The ``wct`` command line: a thin layer over the public API. main(argv) returns the exit code.

The options the sub-commands share are one table (``wct.cli_args.OPTIONS``); styles given as ``-s STYLE[:WEIGHT]``
are resolved in one place (``resolve_style``); folders are run by one resumable driver (``wct.folders``).
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from . import __version__
from .cli_args import (
    Parser,
    StyleSpec,
    add_options,
    engine_kwargs,
    parse_level_values,
    parse_style_arg,
    parse_texture_size,
    parse_weights,
    style_specs,
)
from .errors import InputError, OutputError, WCTError
from .folders import FolderSummary, check_output_folder, list_images, render_locally, run_folder

__all__ = ["main", "parse_style_arg", "parse_level_values", "parse_texture_size", "example_paths"]


def example_paths() -> tuple[Path, Path]:
    """The built-in example (content, style) from assets/."""
    here = Path(__file__).resolve().parent
    for folder in (here / "assets", here.parent / "assets"):
        content, style = folder / "content.jpg", folder / "style.jpg"
        if content.is_file() and style.is_file():
            return content, style
    raise InputError("the built-in example images are not installed; give a content image and -s STYLE")


# ----- shared steps -------------------------------------------------------------------------------------------
def _load(args: argparse.Namespace):
    """The model for this command line (--device, --precision/--half)."""
    from . import api

    return api.load(**engine_kwargs(args, "load"))


def _weights(specs: Sequence[StyleSpec], level_weights: Sequence[str] | None = None):
    """The engine's ``weights`` for ``-s`` specs: None (equal) unless a :WEIGHT is given, with --level-weights per level."""
    weights = [1.0 if s.weight is None else s.weight for s in specs] if any(s.weight is not None for s in specs) else None
    per_level = parse_level_values(level_weights, "--level-weights")
    if not per_level:
        return weights
    return {**per_level, "default": weights} if weights is not None else per_level


def resolve_style(model, sources: Sequence[str], weights, kw: Mapping[str, Any], *, apart: bool = False) -> tuple[Any, dict]:
    """The style for the engine call, and the keywords to call it with (``kw`` less what measuring the style used).

    Each source is an image path or a .safetensors file. They are measured here once (at ``kw``'s levels,
    style_size, downscale) and blended with ``weights`` (kw's blend_method) into one Style; a single source without
    weights stays as it is. With ``apart`` the engine gets them apart instead: measured ones for masks (region i,
    style i), or for preserve_color="histogram", which recolours the style images after each content, the images
    themselves with the weights and the blend method.
    """
    from .api import PREVIEW_SIZE
    from .refine import REFINE_LEVELS
    from .style import Style

    run = dict(kw)
    styles = [Style.load(s) if Path(s).suffix == ".safetensors" else Path(s) for s in sources]
    if run.get("preserve_color") == "histogram":
        return styles, {**run, "weights": weights}
    style_size = run.pop("style_size", None)
    if run.get("preview"):  # as stylize(preview=True) measures style images: at PREVIEW_SIZE at most
        style_size = PREVIEW_SIZE if style_size is None else min(style_size, PREVIEW_SIZE)
    method = run.pop("blend_method", "linear")
    levels = REFINE_LEVELS if run.get("refine") else run.get("levels")  # refinement matches them all, as stylize measures
    measure = {"levels": levels, "style_size": style_size, "downscale": run.get("downscale", False)}
    if apart or (len(styles) == 1 and weights is None):
        measured = [model.compute_style(s, **measure) for s in styles]
        return (measured if apart else measured[0]), run
    return model.blend(styles, weights, method=method, **measure), run


def _single_output(output: str, overwrite: bool) -> Path:
    """A one-file output, checked before any work: a format from its extension, not an existing file (unless overwrite)."""
    from .image import output_format

    out = Path(output)
    output_format(out)
    if out.exists() and not overwrite:
        raise OutputError(f"{out} already exists; pass --overwrite to replace it")
    return out


def _folder_job(args, paths: Sequence[Path], folder: Path, render, inputs: Sequence) -> int:
    """Run a folder job (--format, --overwrite), then report it."""
    return _report(run_folder(paths, folder, render, fmt=args.format, overwrite=args.overwrite, inputs=inputs), folder)


def _report(summary: FolderSummary, folder: Path) -> int:
    """Print a folder job's failures (stderr) and its summary line (stdout); the exit code."""
    if summary.failed:
        print(f"wct: {len(summary.failed)} of {summary.total} image(s) failed:", file=sys.stderr)
        for src, msg in sorted(summary.failed):
            print(f"  {src}: {msg}", file=sys.stderr)
    print(f"{folder}: {summary.line()}")
    if summary.interrupted:
        print("wct: interrupted; run the same command again to resume", file=sys.stderr)
        return 130
    return 1 if summary.failed else 0


# ----- commands -----------------------------------------------------------------------------------------------
def _cmd_stylize(args) -> int:
    contents, styles = list(args.content), list(args.style or [])
    if not contents and not styles:
        content, style = example_paths()
        contents, styles = [str(content)], [str(style)]
    if not contents:
        raise InputError("no content image given; usage: wct stylize CONTENT -s STYLE -o OUT")
    if not styles:
        raise InputError("no style given; add -s STYLE_IMAGE (or -s STYLE.safetensors), several with :WEIGHT")
    specs = style_specs(styles)
    kw = engine_kwargs(args)
    masks = kw["masks"]
    if masks and len(masks) != len(specs):
        raise InputError(f"expected one --mask per -s style: {len(specs)} mask(s), got {len(masks)}")
    if masks and (args.level_weights or any(s.weight not in (None, 1.0) for s in specs)):
        raise InputError("with --mask each style takes its own region; drop the :WEIGHT suffixes and --level-weights")
    weights = None if masks else _weights(specs, args.level_weights)
    paths = list_images(contents)
    many = len(paths) > 1 or any(Path(c).is_dir() for c in contents)
    if many:
        out = check_output_folder(args.output, args.format)
    else:
        out = Path(args.output)
        out = _single_output(str(out / f"{paths[0].stem}_stylized.png") if out.is_dir() else args.output, args.overwrite)
    model = _load(args)
    style, kw = resolve_style(model, [s.source for s in specs], weights, kw, apart=bool(masks))
    inputs = (*paths, *(s.source for s in specs), *(masks or []))
    if many:
        return _folder_job(args, paths, out, render_locally(model, style, kw), inputs)
    from .image import save_image

    save_image(model.stylize(paths[0], style, **kw), out, overwrite=args.overwrite, inputs=inputs)
    print(out)
    return 0


def _cmd_batch(args) -> int:
    specs = style_specs(args.style)
    paths = list_images(args.content)
    out = check_output_folder(args.output, args.format)
    kw = engine_kwargs(args)  # checked before the model loads
    model = _load(args)  # measures the style once, here; Ray's workers load their own
    style, kw = resolve_style(model, [s.source for s in specs], _weights(specs), kw)
    inputs = (*paths, *(s.source for s in specs))
    if not args.ray:
        return _folder_job(args, paths, out, render_locally(model, style, kw), inputs)
    from .distributed import connect, stylize_on_ray

    ray_kw = {**engine_kwargs(args, "ray"), "half": engine_kwargs(args, "load")["half"]}
    started = connect(args.ray, num_cpus=args.ray_cpus)
    try:
        return _folder_job(args, paths, out, lambda todo: stylize_on_ray(todo, style, kw, **ray_kw), inputs)
    finally:
        if started:
            __import__("ray").shutdown()


def _cmd_video(args) -> int:
    from .video import stylize_video

    specs = style_specs(args.style)
    kw = engine_kwargs(args)
    model = _load(args)
    style, kw = resolve_style(model, [s.source for s in specs], _weights(specs), kw)
    kw.pop("downscale")  # it applied to the style images; stylize_video decodes the frames at their own size
    bar = None

    def progress(done: int, total: int, _: str) -> None:
        nonlocal bar
        if bar is None:  # frames finished by an earlier run count as done, not towards the rate (ETA)
            from tqdm import tqdm

            bar = tqdm(total=total, initial=done, desc="stylizing", unit="frame", file=sys.stderr)
        bar.total = total
        bar.update(done - bar.n)

    try:
        out = stylize_video(args.input, style, args.output, model=model, overwrite=args.overwrite, progress=progress, **kw)
    finally:
        if bar is not None:
            bar.close()
    print(out)
    return 0


def _cmd_style(args) -> int:
    out = Path(args.output)
    if out.suffix != ".safetensors":
        raise OutputError(f"style files end in .safetensors, got '{out.name}'")
    if out.exists() and not args.overwrite:
        raise OutputError(f"{out} already exists; pass --overwrite to replace it")
    weights = parse_weights(args.weights)
    per_level = parse_level_values(args.level_weights, "--level-weights")
    if per_level:
        weights = {**per_level, "default": weights}
    model = _load(args)
    style, _ = resolve_style(model, args.images, weights, engine_kwargs(args))
    style.save(out, overwrite=args.overwrite)
    print(out)
    return 0


def _cmd_texture(args) -> int:
    out = _single_output(args.output, args.overwrite)
    specs = style_specs(args.style)
    kw = engine_kwargs(args)
    model = _load(args)
    style, kw = resolve_style(model, [s.source for s in specs], _weights(specs, args.level_weights), kw)
    img = model.texture(style, **kw)
    from .image import save_image

    save_image(img, out, overwrite=args.overwrite, inputs=tuple(s.source for s in specs))
    print(out)
    return 0


def _cmd_reconstruct(args) -> int:
    from .image import save_image

    out = _single_output(args.output, args.overwrite)
    img = _load(args).reconstruct(args.image, **engine_kwargs(args))
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

    from .networks import half_dtype, half_is_fast, resolve_device
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

    p = Parser(prog="wct", description="Universal style transfer by whitening and coloring transforms.")
    p.add_argument("--version", action="version", version=f"wct {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=Parser)

    def command(name: str, func, help: str, *positionals: tuple[str, dict], output: str | None = None) -> argparse.ArgumentParser:
        sp = sub.add_parser(name, help=help, description=help)
        for dest, kwargs in positionals:
            sp.add_argument(dest, **kwargs)
        if output is not None:
            sp.add_argument("-o", "--output", required=True, help=output)
        add_options(sp, name)
        sp.set_defaults(func=func)
        return sp

    command("stylize", _cmd_stylize, "restyle images after one or more style images",
            ("content", dict(nargs="*", help="content image(s) or folder(s); none = the built-in example")),
            output="output file (one content) or folder (a folder or several contents)")
    command("video", _cmd_video, "restyle a video (audio kept) with temporal coherence; resumes if interrupted",
            ("input", dict(help="input video (MP4, MOV, MKV, WebM, ...)")), output="output video: .mp4, .mov, .mkv or .webm")
    command("batch", _cmd_batch, "restyle folders of images, resumably; on a Ray cluster with --ray",
            ("content", dict(nargs="+", help="content folder(s) or image(s)")),
            output="output folder (finished outputs are skipped)")
    command("style", _cmd_style, "precompute (and blend) style statistics into a .safetensors file",
            ("images", dict(nargs="+", help="style image(s) or .safetensors file(s)")), output="STYLE.safetensors")
    command("texture", _cmd_texture, "synthesise a texture of any size from a style image (seeded noise)",
            ("style", dict(nargs="+", metavar="STYLE[:WEIGHT]", help="style image(s) or .safetensors; several are blended")),
            output="output image file")
    command("reconstruct", _cmd_reconstruct, "encode and decode an image at one level (checks a decoder)",
            ("image", dict(help="the image")), output="output image file")
    t = command("train-decoder", _cmd_train, "train (or resume training) one level's decoder")
    add_arguments(t)
    t.add_argument("--export-to", default="", help="afterwards, export the best weights to this decoders folder")
    e = command("export-decoder", _cmd_export, "ship a trained decoder as float16 safetensors + manifest entry")
    e.add_argument("--level", required=True)
    e.add_argument("--images", required=True, help="the training folder (its held-out split is measured)")
    e.add_argument("--checkpoint", default="", help="checkpoint folder (default: the cache)")
    e.add_argument("--to", default="decoders", help="decoders folder (default: decoders)")
    command("info", _cmd_info, "show versions, cache and shipped decoders")
    from . import space  # the Hugging Face Space bundle: all of it lives in wct/space.py

    summary = "assemble the Hugging Face Space as a folder to upload (app, package, decoders, LFS rules)"
    space.add_arguments(command("space", space.run, summary))
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
