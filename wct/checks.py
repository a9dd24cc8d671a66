"""The checks that turn a user's value of one option into a valid one or a clear error.

Every function here is pure: it validates one option (raising ``InputError`` that names the option, the value and
what was expected) and returns it normalised. ``wct.Options`` validates every option through these.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

from .defaults import (
    BLEND_METHODS,
    DEFAULT_ALPHA,
    DEFAULT_KEY,
    MAX_REFINE_STEPS,
    MIN_SIZE,
    MODELS,
    PRESERVE_COLOR,
    REFINE_STEPS,
    SMOOTHING,
    TRANSFORMS,
    Alpha,
    Levels,
    Weights,
)
from .encoder import LEVELS, parse_level
from .errors import InputError
from .image import MAX_PIXELS

__all__ = [
    "parse_levels",
    "parse_alpha",
    "parse_alphas",
    "parse_preserve_color",
    "parse_blend_method",
    "parse_transform",
    "parse_size",
    "parse_texture_size",
    "parse_tile_size",
    "parse_half",
    "parse_flag",
    "parse_count",
    "parse_fraction",
    "parse_refine",
    "parse_smoothing",
    "parse_model",
    "normalize_weights",
    "per_level",
    "level_weights",
    "is_many",
]

def is_many(style) -> bool:
    """Whether ``style`` is a list of styles (not one path, string, array or tensor)."""
    return isinstance(style, Sequence) and not isinstance(style, (str, bytes)) and not hasattr(style, "shape")


def parse_levels(levels: Levels | None) -> tuple[str, ...]:
    """Levels as layer names, deepest first (the order WCT runs them); all five when None."""
    if levels is None:
        return tuple(reversed(LEVELS))
    if isinstance(levels, str):
        items: Sequence = [s for s in levels.split(",") if s.strip()]
    elif isinstance(levels, int):
        items = [levels]
    else:
        items = list(levels)
    if not items:
        raise InputError(f"levels must name at least one level ({', '.join(LEVELS)}), got none")
    names = {parse_level(x) for x in items}
    return tuple(lv for lv in reversed(LEVELS) if lv in names)


def parse_fraction(value: float, name: str, *, top_open: bool = False) -> float:
    """A number in [0, 1] (or [0, 1) with ``top_open``)."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a number in [0, 1], got {value!r}") from None
    if not (0.0 <= v < 1.0 if top_open else 0.0 <= v <= 1.0):  # NaN fails too
        raise InputError(f"{name} must be in [0, 1{')' if top_open else ']'}, got {value}")
    return v


def parse_alpha(alpha: float) -> float:
    return parse_fraction(alpha, "alpha")


def parse_alphas(alpha: Alpha | None, levels: Sequence[str], fallback: float = DEFAULT_ALPHA) -> dict[str, float]:
    """Style strength per level: one number for all, or {level: number, "default": number} (others: ``fallback``);
    None: ``fallback`` everywhere."""
    return per_level(fallback if alpha is None else alpha, levels, parse_alpha, fallback)


def parse_preserve_color(mode: str | None) -> str | None:
    if mode is None or mode is False:
        return None
    if mode not in PRESERVE_COLOR:
        raise InputError(f"preserve_color must be None, 'luminance' or 'histogram', got {mode!r}")
    return mode


def _one_of(value: str, choices: Sequence[str], what: str) -> str:
    """``value`` if it is one of ``choices``, else "unknown WHAT 'value'; expected one of 'a', 'b'"."""
    if value not in choices:
        raise InputError(f"unknown {what} {value!r}; expected one of {', '.join(map(repr, choices))}")
    return value


def parse_blend_method(method: str) -> str:
    return _one_of(method, BLEND_METHODS, "blend method")


def parse_transform(transform: str) -> str:
    return _one_of(transform, TRANSFORMS, "transform")


def parse_size(size: int | None, name: str = "max_size") -> int | None:
    if size is None:
        return None
    if isinstance(size, bool) or not isinstance(size, (int, float)) or not math.isfinite(size) or int(size) != size:
        raise InputError(f"{name} must be a whole number of pixels or None, got {size!r}")
    if size < MIN_SIZE:
        raise InputError(f"{name} must be at least {MIN_SIZE} pixels, got {size}")
    return int(size)


def parse_texture_size(size) -> tuple[int, int]:
    """(width, height) in pixels from an int (square) or a pair."""
    pair = (size, size) if isinstance(size, (int, float)) and not isinstance(size, bool) else size
    try:
        w, h = pair
        ok = all(not isinstance(v, bool) and float(v) == int(v) and int(v) >= 1 for v in (w, h))
    except (TypeError, ValueError, OverflowError):
        ok = False
    if not ok:
        raise InputError(f"size must be (width, height) in whole pixels >= 1, got {size!r}")
    w, h = int(w), int(h)
    if w * h > MAX_PIXELS:
        raise InputError(f"size {w}x{h} is over the limit of {MAX_PIXELS / 1e6:.0f} MP")
    return w, h


def parse_tile_size(tile_size: int | None) -> int | None:
    """None (automatic), 0 (never tile) or a tile side: a multiple of 16, at least 256."""
    if tile_size is None:
        return None
    whole = isinstance(tile_size, int) and not isinstance(tile_size, bool)
    ok = whole and (tile_size == 0 or (tile_size >= 256 and tile_size % 16 == 0))
    if not ok:
        raise InputError(f"tile_size must be None (automatic), 0 (never tile) or a multiple of 16 >= 256, got {tile_size!r}")
    return tile_size


def parse_half(half: bool | str) -> bool | str:
    """True, False or ``"auto"``."""
    if not (isinstance(half, bool) or half == "auto"):
        raise InputError(f"half must be True, False or 'auto', got {half!r}")
    return half


def parse_flag(value: bool, name: str) -> bool:
    if not isinstance(value, bool):
        raise InputError(f"{name} must be True or False, got {value!r}")
    return value


def parse_count(value: int, name: str, low: int = 0, high: int | None = None) -> int:
    """A whole number in ``low..high`` (no upper bound when ``high`` is None)."""
    ok = isinstance(value, int) and not isinstance(value, bool) and value >= low and (high is None or value <= high)
    if not ok:
        span = f">= {low}" if high is None else f"in {low}..{high}"
        raise InputError(f"{name} must be a whole number {span}, got {value!r}")
    return value


def parse_refine(refine: int | bool) -> int:
    """A refinement step count: 0 (off), a whole number up to MAX_REFINE_STEPS, or True for REFINE_STEPS."""
    if refine is True:
        return REFINE_STEPS
    if refine is False:
        return 0
    return parse_count(refine, "refine", 0, MAX_REFINE_STEPS)


def parse_smoothing(method: str) -> str:
    if method not in SMOOTHING:
        raise InputError(f"smoothing must be one of {', '.join(map(repr, SMOOTHING))}, got {method!r}")
    return method


def parse_model(model: str) -> str:
    """One of MODELS: "vgg16" or "light"."""
    return _one_of(model, MODELS, "model")


def normalize_weights(weights: Sequence[float] | None, count: int) -> list[float]:
    """Validate blend weights (one per style, finite, non-negative, not all zero) and scale them to sum 1."""
    if count == 0:
        raise InputError("expected at least one style, got none")
    if weights is None:
        return [1.0 / count] * count
    try:
        ws = [float(w) for w in weights]
    except (TypeError, ValueError):
        raise InputError(f"weights must be numbers, got {weights!r}") from None
    if len(ws) != count:
        raise InputError(f"expected {count} weight(s), one per style, got {len(ws)}")
    for w in ws:
        if not (w >= 0 and w != float("inf")):  # also catches NaN
            raise InputError(f"weights must be finite and >= 0, got {w}")
    total = sum(ws)
    if total <= 0:
        raise InputError("the weights are all zero; give at least one style a positive weight")
    return [w / total for w in ws]


def per_level(value, levels: Sequence[str], parse: Callable, fallback):
    """Resolve a setting that may be given per level: {level: parse(v)} for each of ``levels``.

    ``value`` is either one value for every level, or a mapping whose keys are levels (``"relu4_1"``
    or 1..5) and optionally ``"default"``; levels it does not name take ``mapping["default"]``,
    else ``fallback``. Keys for levels outside ``levels`` are validated but unused.
    ``parse(v)`` validates one value (and raises InputError); messages name the level.
    """
    if not isinstance(value, Mapping):
        v = parse(value)
        return dict.fromkeys(levels, v)
    default = parse(value[DEFAULT_KEY]) if DEFAULT_KEY in value else fallback
    given = {}
    for key, v in value.items():
        if key == DEFAULT_KEY:
            continue
        lv = parse_level(key)
        try:
            given[lv] = parse(v)
        except InputError as exc:
            raise InputError(f"{lv}: {exc}") from None
    return {lv: given.get(lv, default) for lv in levels}


def level_weights(weights: Weights | None, count: int, levels: Sequence[str]) -> dict[str, list[float]]:
    """Normalised blend weights per level: a list applies to every level; a mapping
    {level: list, "default": list} sets levels one by one (levels not named: "default", else equal)."""
    if count == 0:
        raise InputError("expected at least one style, got none")
    return per_level(weights, levels, lambda w: normalize_weights(w, count), normalize_weights(None, count))
