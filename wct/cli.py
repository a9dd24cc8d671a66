"""The ``wct`` command line: a thin layer over the public API. main(argv) returns the exit code.

The options the sub-commands share are one table (``wct.cli_args.OPTIONS``) whose values make one ``wct.Options``;
the engine checks them (its refusals reworded with the command line's option names) and measures the styles once
(``Model.style_for``); folders are run by one resumable driver (``wct.folders``). Every output is checked before the
work starts.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path

import wct

from . import __version__
from .cli_args import (
    Parser,
    StyleSpec,
    add_options,
    engine_kwargs,
    in_cli_words,
    parse_level_values,
    parse_style_arg,
    parse_texture_size,
    parse_weights,
    style_specs,
)
from .errors import InputError, OutputError, WCTError
from .folders import FolderSummary, check_output_folder, list_images, render_locally, run_folder
from .image import check_output, save_image

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
def _load(args: argparse.Namespace) -> wct.Model:
    """The model for this command line (--model, --device, --precision/--half)."""
    return in_cli_words(args, lambda: wct.load(**engine_kwargs(args, "load")))


def _options(args: argparse.Namespace, **extra) -> wct.Options:
    """The run's wct.Options from the command line, checked by the engine (before any work)."""
    return in_cli_words(args, lambda: wct.Options(**engine_kwargs(args), **extra))


def _weights(specs: Sequence[StyleSpec], level_weights: Sequence[str] | None = None):
    """The engine's ``weights`` for ``-s`` specs: None (equal) unless a :WEIGHT is given, with --level-weights per level."""
    weights = [1.0 if s.weight is None else s.weight for s in specs] if any(s.weight is not None for s in specs) else None
    per_level = parse_level_values(level_weights, "--level-weights")
    if not per_level:
        return weights
    return {**per_level, "default": weights} if weights is not None else per_level


def _styles(specs: Sequence[StyleSpec]):
    """The ``-s`` sources as the engine's ``style``: one path, or a list of them (images or .safetensors files)."""
    sources = [s.source for s in specs]
    return sources[0] if len(sources) == 1 else sources


def _single_output(args: argparse.Namespace, output: str | Path, inputs: Sequence) -> Path:
    """A one-file output, checked before any work (known extension, existing folder, not an input, --overwrite)."""
    check_output(output, overwrite=args.overwrite, inputs=tuple(inputs))
    return Path(output)


def _save(image, out: Path, args: argparse.Namespace, inputs: Sequence) -> int:
    """Write ``image`` to ``out`` (checked again as it is written) and print its path."""
    save_image(image, out, overwrite=args.overwrite, inputs=tuple(inputs))
    print(out)
    return 0


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
    if args.mask and (args.level_weights or any(s.weight not in (None, 1.0) for s in specs)) and None not in args.mask:
        raise InputError("with --mask each style takes its own region; drop the :WEIGHT suffixes and --level-weights")
    opts = _options(args, weights=_weights(specs, args.level_weights))
    in_cli_words(args, lambda: opts.check_styles(len(specs)))
    paths = list_images(contents)
    inputs = (*paths, *(s.source for s in specs), *(m for m in args.mask or [] if m))
    many = len(paths) > 1 or any(Path(c).is_dir() for c in contents)
    if many:
        out = check_output_folder(args.output, args.format)
    else:
        target = Path(args.output) / f"{paths[0].stem}_stylized.png" if Path(args.output).is_dir() else args.output
        out = _single_output(args, target, inputs)
    model = _load(args)
    style, opts = in_cli_words(args, lambda: model.style_for(_styles(specs), opts))
    if many:
        return _folder_job(args, paths, out, render_locally(model, style, opts), inputs)
    return _save(in_cli_words(args, lambda: model.stylize(paths[0], style, opts)), out, args, inputs)


def _cmd_batch(args) -> int:
    specs = style_specs(args.style)
    paths = list_images(args.content)
    out = check_output_folder(args.output, args.format)
    opts = _options(args, weights=_weights(specs))  # checked before the model loads
    model = _load(args)  # measures the style once, here; Ray's workers load their own
    style, opts = in_cli_words(args, lambda: model.style_for(_styles(specs), opts))
    inputs = (*paths, *(s.source for s in specs))
    if not args.ray:
        return _folder_job(args, paths, out, render_locally(model, style, opts), inputs)
    from .distributed import connect, stylize_on_ray

    load = engine_kwargs(args, "load")
    ray_kw = {**engine_kwargs(args, "ray"), "half": load["half"], "model": load["model"]}
    started = connect(args.ray, num_cpus=args.ray_cpus)
    try:
        return _folder_job(args, paths, out, lambda todo: stylize_on_ray(todo, style, opts, **ray_kw), inputs)
    finally:
        if started:
            __import__("ray").shutdown()


def _cmd_video(args) -> int:
    from .video import stylize_video

    specs = style_specs(args.style)
    opts = _options(args, weights=_weights(specs))
    video_kw = engine_kwargs(args, "video")
    from .media import check_output as check_video

    check_video(Path(args.input), Path(args.output), args.overwrite)
    model = _load(args)
    style, opts = in_cli_words(args, lambda: model.style_for(_styles(specs), opts))
    bar = None

    def progress(done: int, total: int, _: str) -> None:
        nonlocal bar
        if bar is None:  # frames finished by an earlier run count as done, not towards the rate (ETA)
            from tqdm import tqdm

            bar = tqdm(total=total, initial=done, desc="stylizing", unit="frame", file=sys.stderr)
        bar.total = total
        bar.update(done - bar.n)

    try:
        out = in_cli_words(args, lambda: stylize_video(args.input, style, args.output, opts.replace(downscale=False),
                                                       model=model, overwrite=args.overwrite, progress=progress,
                                                       **video_kw))  # fmt: skip
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
    if not out.parent.is_dir():
        raise OutputError(f"the folder {out.parent} does not exist; create it first")
    weights = parse_weights(args.weights)
    per_level = parse_level_values(args.level_weights, "--level-weights")
    if per_level:
        weights = {**per_level, "default": weights}
    kw = engine_kwargs(args)
    model = _load(args)
    if len(args.images) == 1 and weights is None:
        kw.pop("blend_method")
        style = in_cli_words(args, lambda: model.compute_style(args.images[0], **kw))
    else:
        method = kw.pop("blend_method")
        style = in_cli_words(args, lambda: model.blend(args.images, weights, method=method, **kw))
    style.save(out, overwrite=args.overwrite)
    print(out)
    return 0


def _cmd_texture(args) -> int:
    specs = style_specs(args.style)
    out = _single_output(args, args.output, [s.source for s in specs])
    kw = engine_kwargs(args)
    model = _load(args)
    img = in_cli_words(args, lambda: model.texture(_styles(specs), weights=_weights(specs, args.level_weights), **kw))
    return _save(img, out, args, [s.source for s in specs])


def _cmd_reconstruct(args) -> int:
    out = _single_output(args, args.output, [args.image])
    kw = engine_kwargs(args)
    model = _load(args)
    return _save(in_cli_words(args, lambda: model.reconstruct(args.image, **kw)), out, args, [args.image])


def _cmd_train(args) -> int:
    from .train import config_from_args, export_decoder, train_decoder

    cfg = config_from_args(args)
    folder = train_decoder(cfg)
    if args.export_to:
        print(export_decoder(folder, cfg.level, Path(args.export_to), cfg.images))
    return 0


def _cmd_export(args) -> int:
    from .train import TrainConfig, export_decoder

    cfg = TrainConfig(level=args.level, images=args.images, model=args.model)
    folder = Path(args.checkpoint) if args.checkpoint else cfg.folder()
    to = Path(args.to) if args.to else Path("decoders") / ("light" if args.model == "light" else "")
    print(export_decoder(folder, args.level, to, args.images))
    return 0


def _cmd_export_encoder(args) -> int:
    from .train import DistillConfig, export_student

    folder = Path(args.checkpoint) if args.checkpoint else DistillConfig(images=args.images).folder()
    print(export_student(folder, Path(args.to), args.images))
    return 0


def _cmd_distill(args) -> int:
    from .train.distill import DistillConfig, distill_encoder
    from .train.options import config_from_namespace

    print(distill_encoder(config_from_namespace(DistillConfig, args)))
    return 0


def _cmd_info(args) -> int:
    from .info import report

    print(report())
    return 0


def build_parser() -> argparse.ArgumentParser:
    from .train import add_arguments
    from .train.distill import DISTILL_HELPS, DistillConfig
    from .train.options import add_config_arguments

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
    e.add_argument("--model", choices=wct.MODELS, default=wct.DEFAULT_MODEL, help="whose decoder (default vgg16)")
    e.add_argument("--images", required=True, help="the training folder (its held-out split is measured)")
    e.add_argument("--checkpoint", default="", help="checkpoint folder (default: the cache)")
    e.add_argument("--to", default="", help="decoders folder (default: decoders, or decoders/light for --model light)")
    x = command("export-encoder", _cmd_export_encoder, "ship the light model's distilled encoder (+ manifest entry)")
    x.add_argument("--images", required=True, help="the training folder (its held-out split is measured)")
    x.add_argument("--checkpoint", default="", help="distillation checkpoint folder (default: the cache)")
    x.add_argument("--to", default="decoders/light", help="the light model's folder (default: decoders/light)")
    d = command("distill-encoder", _cmd_distill, "distil VGG-16 into the light model's student encoder (resumable)")
    add_config_arguments(d, DistillConfig, DISTILL_HELPS, ("images",))
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
    with warnings.catch_warnings():  # the command's own warning format, for this call only
        warnings.showwarning = _show_warning
        return _run(args)


def _run(args: argparse.Namespace) -> int:
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
        print(f"wct: internal error ({exc}); please report it (WCT_DEBUG=1 shows details)", file=sys.stderr)
        return 1
