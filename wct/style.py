"""Style: what coloring needs per level (mean and coloring matrix), computed once, saved, loaded and blended."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from .atomic import atomic_write
from .checks import level_weights, parse_blend_method
from .encoder import LEVELS, channels_of, model_of, parse_level
from .errors import InputError, OutputError, StyleFileError
from .transform import blend_linear, blend_wasserstein, coloring_matrix, flat_features, mean_and_covariance
from .weights import ENCODER_ID

__all__ = ["Style"]

FORMAT = "wct-style-1"


class Style:
    """Per-level style statistics: ``mean`` (C,) and symmetric ``color`` = cov^(1/2) (C, C), float32, of the features
    of one encoder (``encoder``: its id; a Style colours only that encoder's features)."""

    def __init__(self, stats: Mapping[str, tuple[torch.Tensor, torch.Tensor]], *, description: str = "",
                 encoder: str = ENCODER_ID) -> None:  # fmt: skip
        if not stats:
            raise InputError("a Style needs statistics for at least one level")
        self._stats = {parse_level(k): (m.float(), c.float()) for k, (m, c) in stats.items()}
        self.description = description
        self.encoder = encoder

    @classmethod
    def from_features(cls, taps: Mapping[str, torch.Tensor], *, description: str = "", encoder: str = ENCODER_ID) -> Style:
        """Statistics of the taps {level: (1, C, h, w)} of the encoder ``encoder`` names."""
        stats = {}
        for level, f in taps.items():
            mean, cov = mean_and_covariance(flat_features(f)[0])  # (C, 1), (C, C)
            stats[level] = (mean[:, 0], coloring_matrix(cov))
        return cls(stats, description=description, encoder=encoder)

    @property
    def model(self) -> str:
        """The model ("vgg16" or "light") whose encoder measured this style."""
        return model_of(self.encoder)

    def check_encoder(self, encoder: str, model: str = "") -> None:
        """Refuse to colour the features of another encoder than the one that measured this style."""
        if encoder != self.encoder:
            here = model or model_of(encoder)
            raise InputError(
                f"this style was measured by the {self.model} model's encoder, not the {here} model's: statistics of one "
                f"encoder cannot colour another's features; measure the style image again with model={here!r} "
                f"(or run with model={self.model!r})"
            )

    @classmethod
    def compose(cls, picks: Mapping[str | int, Style], *, default: Style | None = None, description: str = "") -> Style:
        """A Style built level by level: ``picks[level]``'s statistics at each level named, ``default``'s elsewhere.

        E.g. one painting's large shapes with another's brushwork:
        ``Style.compose({"relu5_1": a, "relu4_1": a}, default=b)``. Levels neither names nor
        ``default`` has are left out.
        """
        chosen = {parse_level(k): s for k, s in picks.items()}
        for lv, s in chosen.items():
            if not isinstance(s, Style):
                raise InputError(
                    f"Style.compose expects Style objects, got {type(s).__name__} for {lv}; use wct.compute_style first"
                )
            if not s.has(lv):
                raise InputError(f"the style picked for {lv} has no statistics for it; it has {', '.join(s.levels)}")
        if default is not None and not isinstance(default, Style):
            raise InputError(f"default must be a Style, got {type(default).__name__}")
        picked = [*chosen.values(), *([default] if default is not None else [])]
        for s in picked[1:]:
            s.check_encoder(picked[0].encoder)
        stats = {}
        device = None
        for lv in LEVELS:
            src = chosen.get(lv, default)
            if src is None or not src.has(lv):
                continue
            device = device or src.device
            stats[lv] = (src.mean(lv).to(device), src.color(lv).to(device))
        if not stats:
            raise InputError("Style.compose got no levels to take; name at least one level")
        if not description:
            description = ", ".join(f"{lv}: {chosen[lv].description or 'style'}" for lv in LEVELS if lv in chosen)
            if default is not None:
                description += f"; else {default.description or 'style'}"
        return cls(stats, description=description, encoder=picked[0].encoder)

    @property
    def levels(self) -> tuple[str, ...]:
        return tuple(lv for lv in LEVELS if lv in self._stats)

    @property
    def device(self) -> torch.device:
        return next(iter(self._stats.values()))[0].device

    def mean(self, level: str | int) -> torch.Tensor:
        return self._stats[parse_level(level)][0]

    def color(self, level: str | int) -> torch.Tensor:
        return self._stats[parse_level(level)][1]

    def covariance(self, level: str | int) -> torch.Tensor:
        """The style's feature covariance at ``level`` (color @ color)."""
        c = self.color(level).double()
        return c @ c

    def to(self, device: str | torch.device) -> Style:
        moved = {k: (m.to(device), c.to(device)) for k, (m, c) in self._stats.items()}
        return Style(moved, description=self.description, encoder=self.encoder)

    def has(self, level: str) -> bool:
        return parse_level(level) in self._stats

    def __repr__(self) -> str:
        desc = f", {self.description!r}" if self.description else ""
        model = f", model={self.model!r}" if self.encoder != ENCODER_ID else ""
        return f"Style(levels={list(self.levels)}{desc}{model})"

    def save(self, path: str | os.PathLike, *, overwrite: bool = True) -> Path:
        """Write the statistics as a .safetensors file (atomically), with format and encoder in its metadata."""
        out = Path(path)
        if out.suffix != ".safetensors":
            raise OutputError(f"style files end in .safetensors, got '{out.name}'")
        if out.exists() and not overwrite:
            raise OutputError(f"{out} already exists; pass --overwrite to replace it")
        tensors = {}
        for level, (m, c) in self._stats.items():
            tensors[f"{level}.mean"] = m.detach().cpu().contiguous()
            tensors[f"{level}.color"] = c.detach().cpu().contiguous()
        levels = json.dumps(list(self.levels))
        meta = {"format": FORMAT, "encoder": self.encoder, "levels": levels, "description": self.description}
        out.parent.mkdir(parents=True, exist_ok=True)
        return atomic_write(out, lambda tmp: save_file(tensors, tmp, metadata=meta), overwrite=overwrite)

    @classmethod
    def load(cls, path: str | os.PathLike) -> Style:
        """Read and validate a style file (format, encoder, keys, shapes, dtypes, finiteness)."""
        p = Path(path)
        if not p.is_file():
            raise StyleFileError(f"no such style file: {p}")
        try:
            with safe_open(str(p), "pt") as f:
                meta = f.metadata() or {}
                keys = list(f.keys())
                tensors = {k: f.get_tensor(k) for k in keys}
        except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
            raise StyleFileError(f"{p.name} is not a valid .safetensors style file ({exc})") from None
        if meta.get("format") != FORMAT:
            raise StyleFileError(f"{p.name} is not a wct style file: format is {meta.get('format')!r}, expected {FORMAT!r}")
        encoder = meta.get("encoder") or ""
        channels = channels_of(encoder)
        if channels is None:
            raise StyleFileError(f"{p.name} was made with encoder {encoder!r}, which this engine does not have")
        stats = _checked_statistics(p.name, tensors, channels)
        if not stats:
            raise StyleFileError(f"{p.name} holds no style statistics")
        return cls(stats, description=meta.get("description", ""), encoder=encoder)

    @staticmethod
    def blend(
        styles: Sequence[Style],
        weights: Sequence[float] | Mapping[str | int, Sequence[float]] | None = None,
        *,
        method: str = "linear",
    ) -> Style:
        """One Style from several, per shared level.

        Args:
            styles: Style objects.
            weights: one weight per style (normalised to sum 1; None = equal), or a mapping
                {level: weights} with an optional "default" entry to mix differently per level,
                e.g. ``{"relu5_1": [1, 0], "relu4_1": [1, 0], "default": [0, 1]}``.
            method: "linear" (Li et al.'s interpolation: weighted sums of means and coloring
                matrices; equals mixing the features colored by each style) or "wasserstein"
                (the Wasserstein-2 barycenter of the styles' Gaussian statistics: weighted mean,
                barycentric covariance; see ``wct.transform.wasserstein_barycenter``).
        Raises:
            InputError: bad weights or method, or no level shared by all styles.
        """
        parse_blend_method(method)
        if not styles:
            raise InputError("expected at least one style, got none")
        for s in styles[1:]:
            s.check_encoder(styles[0].encoder)
        common = [lv for lv in LEVELS if all(s.has(lv) for s in styles)]
        if not common:
            raise InputError("the styles share no level; compute them for the same levels")
        per = level_weights(weights, len(styles), common)
        mix = blend_linear if method == "linear" else blend_wasserstein
        device = styles[0].device
        stats = {}
        for lv in common:
            m, c = mix([s.mean(lv).to(device) for s in styles], [s.color(lv).to(device) for s in styles], per[lv])
            stats[lv] = (m, c)
        names = [s.description or "style" for s in styles]
        if isinstance(weights, Mapping):
            desc = "per-level mix of " + ", ".join(names)
        else:
            desc = " + ".join(f"{w:.3g}*{n}" for n, w in zip(names, per[common[0]]))
        desc += " (wasserstein)" if method == "wasserstein" else ""
        return Style(stats, description=desc, encoder=styles[0].encoder)


def _checked_statistics(name: str, tensors: dict[str, torch.Tensor], channels: dict[str, int]) -> dict:
    """{level: (mean, color)} from a style file's tensors, each checked (names, shapes, dtypes, finiteness)."""
    stats = {}
    for key in tensors:
        level, _, kind = key.partition(".")
        if level not in LEVELS or kind not in ("mean", "color"):
            raise StyleFileError(f"{name}: unexpected tensor {key!r}; expected LEVEL.mean and LEVEL.color")
    for level in LEVELS:
        if f"{level}.mean" not in tensors and f"{level}.color" not in tensors:
            continue
        m, c = tensors.get(f"{level}.mean"), tensors.get(f"{level}.color")
        ch = channels[level]
        if m is None or c is None:
            raise StyleFileError(f"{name}: {level} needs both mean and color tensors")
        if tuple(m.shape) != (ch,) or tuple(c.shape) != (ch, ch):
            shapes = f"{tuple(m.shape)}, {tuple(c.shape)}"
            raise StyleFileError(f"{name}: {level} shapes {shapes}; expected ({ch},), ({ch}, {ch})")
        if m.dtype not in (torch.float16, torch.float32, torch.float64) or c.dtype != m.dtype:
            raise StyleFileError(f"{name}: {level} has dtype {m.dtype}/{c.dtype}; expected float32")
        if not (torch.isfinite(m).all() and torch.isfinite(c).all()):
            raise StyleFileError(f"{name}: {level} holds NaN or infinite values")
        stats[level] = (m.float(), c.float())
    return stats
