"""``Options``: every option of a stylization, checked once when made, then passed along the pipeline unchanged.

``stylize``, ``stylize_batch``, ``stylize_video``, folder runs, Ray, the CLI and the app all build one ``Options`` (or
take keywords that make one) and hand it on; no option list is written anywhere else.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields, replace
from typing import Any

from .checks import (
    is_many,
    level_weights,
    parse_alphas,
    parse_blend_method,
    parse_flag,
    parse_levels,
    parse_preserve_color,
    parse_refine,
    parse_size,
    parse_smoothing,
    parse_tile_size,
    parse_transform,
)
from .defaults import (
    DEFAULT_ALPHA,
    DEFAULT_LEVELS,
    DEFAULT_SIZE,
    DEFAULT_STYLE_SIZE,
    DEFAULT_TRANSFORM,
    PHOTO_ALPHA,
    PHOTO_LEVELS,
    PREVIEW_LEVELS,
    PREVIEW_SIZE,
    Alpha,
    Levels,
    Weights,
)
from .errors import InputError

__all__ = ["Options", "OPTION_NAMES"]


@dataclass(frozen=True, eq=False)
class Options:
    """The options of a stylization (``wct.stylize``, ``stylize_batch``, ``stylize_video``, folder runs), checked when
    made: a bad value raises ``InputError`` naming the option, before any work. Keywords given to those functions make
    one (``wct.stylize(photo, art, alpha=0.8)`` is ``wct.stylize(photo, art, wct.Options(alpha=0.8))``), and
    ``options.replace(alpha=0.5)`` gives a checked copy with changes.

    Attributes:
        weights: one weight per style (normalised to sum 1), or per level ``{"relu5_1": [1, 0], "default": [0, 1]}``
            (levels not named take "default", else equal weights). With ``masks``: the weights of the styles without
            a mask, which share the rest of the picture (the masked styles' entries are not used).
        masks: spatial control, one entry per style: a mask (path, PIL image, HxW array or tensor in [0, 1], the
            content's aspect ratio) gives that style its region; ``None`` marks a style without a region, and the
            styles without one share the rest of the picture (where the masks sum below 1), blended by ``weights``.
            Where the masks leave room and every style has a mask, the content's own features stay.
        alpha: style strength in [0, 1] (0 = the decoder's reconstruction of the content), or per level
            ``{"relu1_1": 0.3, "default": 0.8}``; None: DEFAULT_ALPHA (0.65), PHOTO_ALPHA (1.0) when photorealistic.
        levels: layer names or 1..5, run deepest first; None: DEFAULT_LEVELS (PHOTO_LEVELS when photorealistic,
            PREVIEW_LEVELS with preview).
        max_size: long side to work at (None = full size); smaller images keep their size. The result has it.
        style_size: long side the style images are measured at (None = full size).
        preserve_color: None; "luminance" (the result's luminance with the content's chroma, in YCbCr); or "histogram"
            (each style image first takes the content's RGB mean and covariance; needs style images, not Styles).
        blend_method: how several styles mix: "linear" (the paper's) or "wasserstein" (W2 barycenter).
        transform: "ost" (the default: optimal transport, Lu et al. 2019) or "wct" (whitening and coloring, Li et al.).
        refine: optimisation steps on the stylized image afterwards (0 = none; True = REFINE_STEPS); see README.
        photorealistic: a photo out: the transform at PHOTO_LEVELS at PHOTO_ALPHA, then edge-aware smoothing.
        smoothing: that smoothing: "exact", "fast" or "auto" (``wct.smoothing.smooth``).
        preview: a quick look: PREVIEW_LEVELS, content and style images capped at PREVIEW_SIZE (256 px).
        tile_size: None (images over TILE_ABOVE pixels go through the networks in tiles), 0 (never), or a tile side.
        downscale: images over wct.image.MAX_PIXELS (50 MP) are shrunk to fit instead of refused.
    """

    weights: Weights | None = None
    masks: Sequence[Any] | None = None
    alpha: Alpha | None = None
    levels: Levels | None = None
    max_size: int | None = DEFAULT_SIZE
    style_size: int | None = DEFAULT_STYLE_SIZE
    preserve_color: str | None = None
    blend_method: str = "linear"
    transform: str = DEFAULT_TRANSFORM
    refine: int | bool = 0
    photorealistic: bool = False
    smoothing: str = "auto"
    preview: bool = False
    tile_size: int | None = None
    downscale: bool = False

    def __post_init__(self) -> None:
        checked = {
            "photorealistic": parse_flag(self.photorealistic, "photorealistic"),
            "preview": parse_flag(self.preview, "preview"),
            "downscale": parse_flag(self.downscale, "downscale"),
            "levels": None if self.levels is None else parse_levels(self.levels),
            "max_size": parse_size(self.max_size),
            "style_size": parse_size(self.style_size, "style_size"),
            "preserve_color": parse_preserve_color(self.preserve_color),
            "blend_method": parse_blend_method(self.blend_method),
            "transform": parse_transform(self.transform),
            "refine": parse_refine(self.refine),
            "smoothing": parse_smoothing(self.smoothing),
            "tile_size": parse_tile_size(self.tile_size),
            "masks": _masks(self.masks),
        }
        for name, value in checked.items():
            object.__setattr__(self, name, value)
        if self.masks is not None and self.weights is not None and all(m is not None for m in self.masks):
            raise InputError(
                "masks give region i style i, so weights must be None when masks are given to every style, got both; "
                "to mix styles inside a region, pass a blended Style (wct.blend) for it, or give the styles that share "
                "the rest of the picture the mask None"
            )
        parse_alphas(self.alpha, self.run_levels, self.default_alpha)  # a bad alpha is refused now, not mid-run

    # ----- what the run does, defaults resolved ------------------------------------------------------------------
    @property
    def run_levels(self) -> tuple[str, ...]:
        """The levels the run goes through, deepest first: ``levels``, else the mode's default."""
        if self.levels is not None:
            return self.levels  # type: ignore[return-value]
        return PHOTO_LEVELS if self.photorealistic else PREVIEW_LEVELS if self.preview else DEFAULT_LEVELS

    @property
    def default_alpha(self) -> float:
        return PHOTO_ALPHA if self.photorealistic else DEFAULT_ALPHA

    @property
    def alphas(self) -> dict[str, float]:
        """The style strength at each of ``run_levels``."""
        return parse_alphas(self.alpha, self.run_levels, self.default_alpha)

    @property
    def content_size(self) -> int | None:
        """The long side the content is worked at (``max_size``, capped at PREVIEW_SIZE with ``preview``)."""
        return _capped(self.max_size) if self.preview else self.max_size

    @property
    def measure_size(self) -> int | None:
        """The long side style images are measured at (``style_size``, capped at PREVIEW_SIZE with ``preview``)."""
        return _capped(self.style_size) if self.preview else self.style_size

    @property
    def regions(self) -> bool:
        """Whether the run has masks."""
        return self.masks is not None

    def check_styles(self, count: int) -> None:
        """Refuse ``masks`` or ``weights`` that do not fit ``count`` styles (before any work)."""
        if self.masks is not None and len(self.masks) != count:
            raise InputError(f"expected one mask per style: {count} mask(s), got {len(self.masks)}")
        if self.weights is not None:
            level_weights(self.weights, count, self.run_levels)

    def replace(self, **changes: Any) -> Options:
        """A checked copy with ``changes``."""
        _check_names(changes)
        return replace(self, **changes)

    @classmethod
    def make(cls, options: Options | Mapping[str, Any] | None = None, /, **changes: Any) -> Options:
        """``options`` (an Options, or a mapping of its fields; default: all defaults) with ``changes``: what every
        stylization function does with its keywords."""
        if isinstance(options, Mapping):
            _check_names(options)
            options = cls(**options)
        if options is not None and not isinstance(options, Options):
            raise InputError(f"options must be a wct.Options (or a dict of its fields), got {type(options).__name__}")
        base = options if options is not None else cls()
        return base.replace(**changes) if changes else base

    def as_dict(self) -> dict[str, Any]:
        """The options as keywords (``Options(**o.as_dict())`` equals ``o``)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


OPTION_NAMES: tuple[str, ...] = tuple(f.name for f in fields(Options))


def _capped(size: int | None) -> int:
    return PREVIEW_SIZE if size is None else min(size, PREVIEW_SIZE)


def _masks(masks: Sequence[Any] | None) -> tuple | None:
    """Masks as a tuple (one mask, not in a list, is one entry); an empty list or one of only None is refused."""
    if masks is None:
        return None
    entries = tuple(masks) if is_many(masks) else (masks,)
    if not entries or all(m is None for m in entries):
        raise InputError("masks needs at least one mask (None marks a style without a region), got none")
    return entries


def _check_names(changes: Mapping[str, Any]) -> None:
    for name in changes:
        if name not in OPTION_NAMES:
            close = difflib.get_close_matches(name, OPTION_NAMES, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f"; the options are {', '.join(OPTION_NAMES)}"
            raise InputError(f"unknown option {name!r}{hint}")
