"""The command line's arguments: one table of the options the sub-commands share, the parser that shows a
sub-command's own usage with "did you mean" hints, and the small text syntaxes (``STYLE:WEIGHT``, ``LEVEL=V,...``).

Each option is one ``Option`` row of ``OPTIONS``: its flags, its argparse keywords, the sub-commands that take it, and
the engine keyword it sets (``engine_kwargs`` collects those for a parsed command line: for stylize, video and batch
the fields of one ``wct.Options``). Defaults are the engine's own public constants (or its functions' defaults), and
every value is checked by the engine, whose refusals ``in_cli_words`` rewords with the command line's option names. A
new engine option is one row, e.g. the optional step count of ``Options(refine=N)``::

    _option("--refine", ["stylize", "batch"], "refine", nargs="?", type=_count_arg, const=wct.REFINE_STEPS, default=0,
            metavar="N", help="...")
"""

from __future__ import annotations

import argparse
import difflib
import inspect
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import wct  # the engine's public defaults: wct.DEFAULT_SIZE, ...

from .api import Model
from .distributed import stylize_on_ray
from .errors import InputError, WCTError
from .video import FLOW_BLEND, STATS_MOMENTUM, stylize_video

__all__ = [
    "OPTIONS",
    "Option",
    "Parser",
    "StyleSpec",
    "add_options",
    "engine_kwargs",
    "in_cli_words",
    "parse_level_values",
    "parse_style_arg",
    "parse_texture_size",
    "style_specs",
]

STYLE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".gif", ".safetensors"}


# ----- text syntaxes ------------------------------------------------------------------------------------------
def parse_style_arg(text: str) -> tuple[str, float]:
    """'path.jpg:0.3' -> ('path.jpg', 0.3); a colon not followed by a number stays in the path."""
    head, sep, tail = text.rpartition(":")
    if sep and head:
        try:
            return head, float(tail)
        except ValueError:
            pass
    return text, 1.0


@dataclass(frozen=True)
class StyleSpec:
    """One ``-s STYLE[:WEIGHT]``: an image or .safetensors path, and its weight (None: not given)."""

    source: str
    weight: float | None = None


def style_specs(texts: Sequence[str]) -> list[StyleSpec]:
    """``-s`` values as StyleSpecs; a weight that is not a number, or negative, is refused naming its ``-s``."""
    specs = []
    for text in texts:
        path, weight = parse_style_arg(text)
        head, _, tail = text.rpartition(":")
        if path == text:  # no number after the last colon: the colon may belong to the path
            if head and not Path(text).exists() and (Path(head).exists() or Path(head).suffix.lower() in STYLE_SUFFIXES):
                raise InputError(f"-s {text}: the weight {tail!r} is not a number; expected -s {head}:WEIGHT, e.g. {head}:0.5")
            specs.append(StyleSpec(text))
            continue
        if not (math.isfinite(weight) and weight >= 0):
            raise InputError(f"-s {text}: the weight of {path} must be a finite number >= 0, got {tail}")
        specs.append(StyleSpec(path, weight))
    return specs


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


def parse_weights(text: str | None) -> list[float] | None:
    """'1,3' -> [1.0, 3.0] (checked by the engine); None stays None (equal weights)."""
    if text is None:
        return None
    try:
        return [float(w) for w in text.split(",")]
    except ValueError:
        raise InputError(f"expected --weights W1,W2,... (numbers, one per image, e.g. 1,3), got {text!r}") from None


def _size_arg(text: str) -> int | None:
    """A number of pixels (checked by the engine), or 'full' (no limit)."""
    if text.lower() in ("full", "none"):
        return None
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of pixels or 'full', got {text!r}") from None


def _count_arg(text: str) -> int | str:
    """A whole number, or the text as given (for the engine to refuse with its own message, before any work)."""
    try:
        return int(text)
    except ValueError:
        return text


def _tile_size_arg(text: str) -> int:
    """--tile-size, checked by the engine's own rule as the command line is parsed."""
    from .checks import parse_tile_size

    try:
        return parse_tile_size(int(text))  # type: ignore[return-value]
    except (ValueError, InputError):
        raise argparse.ArgumentTypeError(f"expected 0 (never tile) or a multiple of 16 >= 256, got {text!r}") from None


def _mask_arg(text: str) -> str | None:
    """A mask file, or 'rest': that style takes the rest of the picture (``None`` in ``Options.masks``)."""
    return None if text.lower() == "rest" else text


# ----- the table ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Option:
    """A command-line option: ``flags`` and argparse ``kwargs``, the sub-commands that take it, and the engine keyword
    it sets (None: the command reads it itself). ``stage`` says which call gets the keyword: "run" (wct.Options for
    stylize, video and batch; the texture and reconstruct methods' keywords), "load" (wct.load), "video"
    (stylize_video's own), "ray" (stylize_on_ray). ``value(args)`` computes the keyword's value when it is not simply
    the parsed one."""

    flags: tuple[str, ...]
    kwargs: Mapping[str, Any]
    commands: frozenset[str]
    keyword: str | None = None
    stage: str = "run"
    value: Callable[[argparse.Namespace], Any] | None = field(default=None, compare=False)

    @property
    def dest(self) -> str:
        return self.kwargs.get("dest") or self.flags[-1].lstrip("-").replace("-", "_")


def _default(func: Callable, keyword: str) -> Any:
    """The default of ``func``'s ``keyword``: the engine's, not a copy of it."""
    return inspect.signature(func).parameters[keyword].default


def _half(args: argparse.Namespace) -> bool | str:
    """``load(half=...)`` for --precision / --half."""
    if args.half and args.precision not in (None, "half"):
        raise InputError(f"--half contradicts --precision {args.precision}; give one of them")
    return True if args.half else wct.PRECISIONS[args.precision or "float32"]


def _alpha(args: argparse.Namespace) -> float | dict | None:
    """--alpha (None: the engine's default for the mode), with the --level-alpha overrides as a per-level mapping."""
    per_level = parse_level_values(getattr(args, "level_alpha", None), "--level-alpha")
    if not per_level:
        return args.alpha
    levels = {k: v[0] if len(v) == 1 else v for k, v in per_level.items()}
    return levels if args.alpha is None else {**levels, "default": args.alpha}


def _option(flags: str | tuple[str, ...], commands: Iterable[str], keyword: str | None = None, *, stage: str = "run",
            value: Callable[[argparse.Namespace], Any] | None = None, **kwargs: Any) -> Option:  # fmt: skip
    """An Option row: ``kwargs`` are add_argument's."""
    return Option((flags,) if isinstance(flags, str) else flags, kwargs, frozenset(commands), keyword, stage, value)


STYLE = ("-s", "--style")
STYLE_HELP = "style image or .safetensors; repeat to blend"
IMAGES = ("stylize", "video", "batch", "style", "texture", "reconstruct")
STYLED = ("stylize", "video", "batch", "style", "texture")
RUNS = ("stylize", "video", "batch")
_levels = f"{wct.DEFAULT_LEVELS[0]}..{wct.DEFAULT_LEVELS[-1]}"
_video_batch = _default(stylize_video, "batch_size")
_ray = {k: _default(stylize_on_ray, k) for k in ("workers", "cpus_per_worker", "gpus_per_worker", "batch_size")}
_seed, _iterations = _default(Model.texture, "seed"), _default(Model.texture, "iterations")
_level = _default(Model.reconstruct, "level")

OPTIONS: tuple[Option, ...] = (
    # what to stylize with, and how strongly
    _option(STYLE, ["stylize"], action="append", metavar="STYLE[:WEIGHT]", help=STYLE_HELP),
    _option(STYLE, ["video", "batch"], action="append", required=True, metavar="STYLE[:WEIGHT]", help=STYLE_HELP),
    _option("--alpha", RUNS, "alpha", value=_alpha, type=float, default=None,
            help=f"style strength in [0, 1] (default {wct.DEFAULT_ALPHA}; with --photo {wct.PHOTO_ALPHA})"),
    _option("--levels", RUNS, "levels", default=None,
            help=f"comma-separated levels, e.g. relu5_1,relu4_1 (default: {_levels})"),
    _option("--levels", ["style", "texture"], "levels", default=None, help="comma-separated levels (default: all five)"),
    _option("--style-size", STYLED, "style_size", type=_size_arg, default=wct.DEFAULT_STYLE_SIZE,
            help=f"long side the style is measured at (default {wct.DEFAULT_STYLE_SIZE})"),
    _option("--weights", ["style"], default=None, help="comma-separated blend weights, one per image (default: equal)"),
    _option("--level-weights", ["stylize", "style", "texture"], action="append", metavar="LEVEL=W1,W2,...",
            help="blend weights for one level, one per style (repeat per level; other levels use the -s weights)"),
    _option("--level-alpha", ["stylize"], action="append", metavar="LEVEL=A",
            help="style strength for one level (repeat; others use --alpha)"),
    _option("--blend", STYLED, "blend_method", choices=wct.BLEND_METHODS, default=wct.BLEND_METHODS[0],
            help=f"how several styles are mixed (default {wct.BLEND_METHODS[0]})"),
    _option("--transform", RUNS, "transform", choices=wct.TRANSFORMS, default=wct.DEFAULT_TRANSFORM,
            help="the feature transform: wct (whitening and coloring) or ost (optimal transport) "
                 f"(default {wct.DEFAULT_TRANSFORM})"),
    # photorealistic mode, refinement
    _option("--photo", RUNS, "photorealistic", action="store_true",
            help=f"photorealistic: a photo out (the transform at {', '.join(wct.PHOTO_LEVELS)}, then edge-aware "
                 "smoothing by the content)"),
    _option("--smoothing", RUNS, "smoothing", choices=wct.SMOOTHING, default=wct.SMOOTHING[0],
            help="--photo's smoothing: exact (closed form, up to 2 MP; seconds), fast (guided filter, any size) "
                 f"or auto (exact up to 128x128 px) (default {wct.SMOOTHING[0]})"),
    _option("--refine", RUNS, "refine", nargs="?", type=_count_arg,
            const=wct.REFINE_STEPS, default=0, metavar="N",
            help=f"then N steps of optimisation on the image toward the style's feature statistics (bare --refine: "
                 f"{wct.REFINE_STEPS}; default 0: none)"),
    # creative controls
    _option("--mask", ["stylize", "video"], "masks", action="append", metavar="MASK", type=_mask_arg,
            help="spatial control: one grayscale mask per -s, in order (white = that style), or 'rest': that style "
                 "shares the rest of the picture with the other 'rest' styles"),
    _option("--preserve-color", RUNS, "preserve_color", choices=wct.PRESERVE_COLOR, default=None,
            help="keep the content's colours: luminance-only transfer, or recolour the style to the content first"),
    _option("--preview", ["stylize"], "preview", action="store_true",
            help=f"quick look: {wct.PREVIEW_LEVELS[0]}..{wct.PREVIEW_LEVELS[-1]} at {wct.PREVIEW_SIZE} px at most"),
    _option("--format", ["stylize", "batch"], default="png", help="file type of the outputs of a folder run (default png)"),
    # video
    _option("--plain", ["video"], "coherent", stage="video", value=lambda a: not a.plain, action="store_true",
            help="plain per-frame WCT, no temporal coherence (flickers)"),
    _option("--flow-blend", ["video"], "flow_blend", stage="video", type=float, default=FLOW_BLEND,
            help=f"share of the motion-warped previous frame blended in (default {FLOW_BLEND})"),
    _option("--stats-momentum", ["video"], "stats_momentum", stage="video", type=float, default=STATS_MOMENTUM,
            help=f"time smoothing of content statistics in [0, 1) (default {STATS_MOMENTUM}: off)"),
    _option("--batch-size", ["video"], "batch_size", stage="video", type=int, default=_video_batch,
            help=f"frames per network pass (default {_video_batch})"),
    # Ray
    _option("--ray", ["batch"], nargs="?", const="auto", default=None, metavar="ADDRESS",
            help="run on Ray: 'auto' (the running cluster), host:6379, ray://host:10001, or 'local' (start one here)"),
    _option("--workers", ["batch"], "workers", stage="ray", type=int, default=_ray["workers"],
            help=f"Ray actors, each loading the model once (default {_ray['workers']})"),
    _option("--cpus-per-worker", ["batch"], "cpus_per_worker", stage="ray", type=float, default=_ray["cpus_per_worker"],
            help=f"CPUs reserved per Ray actor (default {_ray['cpus_per_worker']:g})"),
    _option("--gpus-per-worker", ["batch"], "gpus_per_worker", stage="ray", type=float, default=_ray["gpus_per_worker"],
            help=f"GPUs per Ray actor; > 0 runs them on CUDA (default {_ray['gpus_per_worker']:g})"),
    _option("--ray-cpus", ["batch"], type=int, default=None, help="with --ray local: CPUs the local Ray may use (default: all)"),
    _option("--batch-size", ["batch"], "batch_size", stage="ray", type=int, default=_ray["batch_size"],
            help=f"images per Ray batch (default {_ray['batch_size']})"),
    # texture, reconstruct
    _option("--size", ["texture"], "size", value=lambda a: parse_texture_size(a.size),
            default=f"{wct.DEFAULT_SIZE}x{wct.DEFAULT_SIZE}",
            help=f"WIDTHxHEIGHT in pixels, or N for a square (default {wct.DEFAULT_SIZE}x{wct.DEFAULT_SIZE})"),
    _option("--seed", ["texture"], "seed", type=int, default=_seed,
            help=f"noise seed: the same seed gives the same texture (default {_seed})"),
    _option("--iterations", ["texture"], "iterations", type=int, default=_iterations,
            help=f"coarse-to-fine passes, 1..10 (default {_iterations})"),
    _option("--level", ["reconstruct"], "level", default=_level, help=f"the level (default {_level})"),
    # every command that reads or writes images
    _option("--model", IMAGES, "model", stage="load", choices=wct.MODELS, default=wct.DEFAULT_MODEL,
            help="the networks: vgg16 (VGG-16 and its decoders) or light (a distilled quarter-width VGG-16 with its own "
                 f"decoders: several times faster) (default {wct.DEFAULT_MODEL})"),
    _option("--device", IMAGES, "device", stage="load", default=None, help="cpu, cuda, cuda:N (default: CUDA when present)"),
    _option("--overwrite", IMAGES, action="store_true", help="replace existing output files"),
    _option("--downscale", IMAGES, "downscale", action="store_true",
            help="shrink images over the 50 MP limit to fit instead of refusing them"),
    _option("--precision", IMAGES, "half", stage="load", value=_half, choices=tuple(wct.PRECISIONS), default=None,
            help="the networks' precision: float32 (default), half (float16 on CUDA, bfloat16 on a CPU; statistics stay float32) "
                 "or auto (half where it is fast: CUDA, CPUs with AMX)"),
    _option("--half", IMAGES, action="store_true", help="same as --precision half"),
    _option("--size", ["stylize", "video", "batch", "reconstruct"], "max_size", type=_size_arg, default=wct.DEFAULT_SIZE,
            help=f"long side to work at in px, or 'full' (default {wct.DEFAULT_SIZE}; smaller images keep their size)"),
    _option("--tile-size", ["stylize", "video", "batch", "texture"], "tile_size", type=_tile_size_arg, default=None, metavar="PX",
            help=f"process in tiles of PX (multiple of 16, >= 256; 0 = never); default: tiles of {wct.DEFAULT_TILE_SIZE} px "
                 "only for images over 2048x2048"),
)


def add_options(parser: argparse.ArgumentParser, command: str) -> None:
    """Add every option of the table that ``command`` takes, in the table's order."""
    for option in OPTIONS:
        if command in option.commands:
            parser.add_argument(*option.flags, **option.kwargs)


def engine_kwargs(args: argparse.Namespace, stage: str = "run") -> dict[str, Any]:
    """The engine keywords the parsed options of ``args.command`` set for one ``stage`` ("run", "load", "video" or
    "ray"), each checked by the engine (its refusals in the command line's words, ``in_cli_words``)."""
    return in_cli_words(args, lambda: {
        option.keyword: option.value(args) if option.value else getattr(args, option.dest)
        for option in OPTIONS
        if args.command in option.commands and option.keyword and option.stage == stage
    })  # fmt: skip


def in_cli_words(args: argparse.Namespace, work: Callable[[], Any]) -> Any:
    """``work()``, with an engine refusal reworded for the command line: the API's keywords become the options of
    ``args.command`` (``max_size must ...`` -> ``--size must ...``; ``use device='cpu'`` -> ``use --device cpu``)."""
    try:
        return work()
    except WCTError as exc:
        raise type(exc)(cli_words(str(exc), args.command)) from None


PHRASES = {"one mask per style": "one --mask per -s style", "the mask None": "--mask rest"}  # engine -> CLI wording


def cli_words(message: str, command: str) -> str:
    """``message`` with the engine's keywords of ``command``'s options as their flags."""
    for engine, cli in PHRASES.items():
        message = message.replace(engine, cli)
    for option in OPTIONS:
        if command not in option.commands or not option.keyword:
            continue
        flag = next(f for f in reversed(option.flags) if f.startswith("--"))
        key = re.escape(option.keyword)
        value = r"('([^']*)'|(\S+?))(?=[\s,;)]|$)"  # 'quoted' or bare
        message = re.sub(rf"\b{key}={value}", lambda m, flag=flag: f"{flag} {m.group(2) or m.group(3)}", message)
        message = re.sub(rf"^{key} {value}", lambda m, flag=flag: f"{flag} {m.group(2) or m.group(3)}", message)
        message = re.sub(rf"^{key}\b", flag, message)
        if "_" in option.keyword:
            message = re.sub(rf"\b{key}\b", flag, message)
    return message


# ----- the parser ---------------------------------------------------------------------------------------------
def _did_you_mean(word: str, candidates: Sequence[str]) -> str:
    close = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return f"; did you mean {close[0]}?" if close else ""


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose sub-commands report unknown options themselves (with their own usage) and which
    suggests the closest option, command or choice."""

    def parse_known_args(self, args=None, namespace=None):
        """As argparse's, but unknown arguments are an error here, so a sub-command reports them with its own usage."""
        parsed, extras = super().parse_known_args(args, namespace)
        if extras:
            flag = next((a for a in extras if a.startswith("-")), "")
            known = [s for action in self._actions for s in action.option_strings]
            hint = _did_you_mean(flag.split("=", 1)[0], known) if flag else ""
            self.error(f"unrecognized arguments: {' '.join(extras)}{hint or f'; see {self.prog} --help'}")
        return parsed, extras

    def _check_value(self, action, value):
        if action.choices is not None and value not in action.choices:
            names = [str(c) for c in action.choices]
            hint = _did_you_mean(str(value), names)
            if hint:
                raise argparse.ArgumentError(action, f"invalid choice: {value!r}{hint} (choose from {', '.join(names)})")
        super()._check_value(action, value)
