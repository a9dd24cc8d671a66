"""The public pipeline: validate inputs, then encode -> whiten/color -> decode, coarse to fine."""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Union

import torch

from .decoder import Decoder
from .encoder import LEVELS, Encoder, parse_level
from .errors import InputError, WeightsError
from .image import ImageInput, from_tensor, pad_to_multiple, resize_to, to_tensor, working_size
from .style import Style, normalize_weights
from .transform import wct
from .weights import ENCODER_ID, decoders_dir, load_verified, read_manifest

__all__ = ["Model", "load", "stylize", "blend", "reconstruct", "compute_style", "DEFAULT_SIZE", "DEFAULT_STYLE_SIZE"]

StyleInput = Union[Style, ImageInput]
Levels = Union[str, int, Sequence[Union[str, int]]]
Progress = Callable[[int, int, str], None]

DEFAULT_SIZE = 512  # long side of the output, in pixels, unless max_size says otherwise
DEFAULT_STYLE_SIZE = 512  # long side the style image is measured at


def parse_levels(levels: Levels | None) -> tuple[str, ...]:
    """Levels as layer names, deepest first (the order WCT runs them); all five when None."""
    if levels is None:
        return tuple(reversed(LEVELS))
    if isinstance(levels, (str, int)) and not (isinstance(levels, str) and "," in levels):
        items: Sequence = [levels]
    elif isinstance(levels, str):
        items = [s for s in levels.split(",") if s.strip()]
    else:
        items = list(levels)
    if not items:
        raise InputError(f"expected at least one level of {', '.join(LEVELS)}, got none")
    names = {parse_level(x) for x in items}
    return tuple(lv for lv in reversed(LEVELS) if lv in names)


def parse_alpha(alpha: float) -> float:
    try:
        a = float(alpha)
    except (TypeError, ValueError):
        raise InputError(f"alpha must be a number in [0, 1], got {alpha!r}") from None
    if not (0.0 <= a <= 1.0):  # NaN fails too
        raise InputError(f"alpha must be in [0, 1], got {alpha}")
    return a


def parse_size(size: int | None, name: str = "max_size") -> int | None:
    if size is None:
        return None
    if isinstance(size, bool) or not isinstance(size, (int, float)) or not math.isfinite(size) or int(size) != size:
        raise InputError(f"{name} must be a whole number of pixels or None, got {size!r}")
    if size < 16:
        raise InputError(f"{name} must be at least 16 pixels, got {size}")
    return int(size)


def resolve_device(device: str | torch.device | None) -> torch.device:
    """``None`` picks CUDA when present, else the CPU; an unavailable device is refused with the alternatives."""
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise InputError(f"unknown device {device!r}; expected 'cpu', 'cuda' or 'cuda:N'") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise InputError(f"device {device!r} is not available on this machine (no CUDA GPU found); use device='cpu'")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise InputError(f"device {device!r} does not exist; this machine has {torch.cuda.device_count()} GPU(s)")
    if dev.type not in ("cpu", "cuda", "mps"):
        raise InputError(f"device {device!r} is not supported; expected 'cpu' or 'cuda'")
    return dev


class Model:
    """An encoder plus per-level decoders on one device; the module-level functions use a shared one.

    Args:
        device: "cpu", "cuda", "cuda:1" ...; None picks CUDA when available.
        encoder_weights: an explicit converted VGG-16 safetensors file (checked like the cached one).
        decoders: a folder with MANIFEST.json, or {level: Decoder}; None uses the shipped decoders.
    """

    def __init__(
        self,
        *,
        device: str | torch.device | None = None,
        encoder_weights: str | os.PathLike | None = None,
        decoders: str | os.PathLike | Mapping[str, Decoder] | None = None,
    ) -> None:
        self.device = resolve_device(device)
        self.encoder = Encoder(encoder_weights).to(self.device)
        self._lock = threading.Lock()
        self._decoders: dict[str, Decoder] = {}
        self._folder: Path | None = None
        if isinstance(decoders, Mapping):
            for level, dec in decoders.items():
                self._decoders[parse_level(level)] = dec.to(self.device).eval()
        else:
            self._folder = Path(decoders) if decoders is not None else decoders_dir()

    def available_levels(self) -> tuple[str, ...]:
        """Levels that have a decoder (shipped or given)."""
        if self._folder is None:
            return tuple(lv for lv in LEVELS if lv in self._decoders)
        return tuple(lv for lv in LEVELS if lv in read_manifest(self._folder) or lv in self._decoders)

    def decoder(self, level: str | int) -> Decoder:
        """The verified decoder for ``level``, loaded on first use."""
        level = parse_level(level)
        with self._lock:
            if level not in self._decoders:
                self._decoders[level] = self._load_decoder(level)
        return self._decoders[level]

    def _load_decoder(self, level: str) -> Decoder:
        if self._folder is None:
            raise WeightsError(f"no decoder for {level} was given; available: {', '.join(self._decoders) or 'none'}")
        entry = read_manifest(self._folder).get(level)
        if entry is None:
            have = ", ".join(read_manifest(self._folder)) or "none"
            raise WeightsError(f"no trained decoder for {level} in {self._folder} (available: {have}); choose other levels")
        if entry.get("encoder") != ENCODER_ID:
            raise WeightsError(f"the {level} decoder was trained for encoder {entry.get('encoder')!r}, not {ENCODER_ID!r}")
        state = load_verified(self._folder / entry["file"], entry["sha256"], f"{level} decoder")
        dec = Decoder(level)
        try:
            dec.load_state_dict({k: v.float() for k, v in state.items()}, strict=True)
        except RuntimeError as exc:
            raise WeightsError(f"the {level} decoder file does not fit the architecture: {str(exc).splitlines()[0]}") from None
        return dec.to(self.device).eval()

    # ----- styles -------------------------------------------------------------------------
    @torch.inference_mode()
    def compute_style(self, image: StyleInput, *, levels: Levels | None = None, style_size: int | None = DEFAULT_STYLE_SIZE) -> Style:
        """Style statistics of an image at ``levels`` (one encoder pass); a Style is returned as is."""
        if isinstance(image, Style):
            return image
        lvls = parse_levels(levels)
        t, _ = to_tensor(image)
        t = resize_to(t, working_size(*t.shape[-2:], parse_size(style_size, "style_size"))).to(self.device)
        taps = self.encoder(t, upto=lvls[0])
        desc = Path(image).stem if isinstance(image, (str, os.PathLike)) else ""
        return Style.from_features({lv: taps[lv] for lv in lvls}, description=desc)

    def blend(
        self,
        styles: Sequence[StyleInput],
        weights: Sequence[float] | None = None,
        *,
        levels: Levels | None = None,
        style_size: int | None = DEFAULT_STYLE_SIZE,
    ) -> Style:
        """One Style from several (Styles, paths, PIL images or arrays), mixed with ``weights``."""
        if isinstance(styles, (Style, str, os.PathLike)) or not isinstance(styles, Sequence):
            styles = [styles]  # type: ignore[list-item]
        normalize_weights(weights, len(styles))  # validate before any encoding work
        computed = [self.compute_style(s, levels=levels, style_size=style_size) for s in styles]
        return Style.blend([s.to(self.device) for s in computed], weights)

    def _style_for(self, style, weights, levels, style_size) -> Style:
        if isinstance(style, Sequence) and not isinstance(style, (str, bytes)) and not hasattr(style, "shape"):
            st = self.blend(style, weights, levels=levels, style_size=style_size)
        else:
            if weights is not None:
                normalize_weights(weights, 1)
            st = self.compute_style(style, levels=levels, style_size=style_size)
        missing = [lv for lv in levels if not st.has(lv)]
        if missing:
            raise InputError(f"the style has no statistics for {', '.join(missing)}; it has {', '.join(st.levels)}")
        return st.to(self.device)

    # ----- pipeline -----------------------------------------------------------------------
    def _prepare(self, content: ImageInput, max_size: int | None):
        x, src = to_tensor(content)
        h, w = working_size(*x.shape[-2:], parse_size(max_size))
        x = resize_to(x, (h, w)).to(self.device)
        x, size = pad_to_multiple(x, 16)
        return x, size, src

    def _finish(self, y: torch.Tensor, size: tuple[int, int], src):
        y = y[..., : size[0], : size[1]]
        if min(src.size) < min(size):  # upscaled only to survive the poolings: restore the input size
            y = resize_to(y, src.size)
        return from_tensor(y.float(), src)

    @torch.inference_mode()
    def stylize(
        self,
        content: ImageInput,
        style: StyleInput | Sequence[StyleInput],
        *,
        weights: Sequence[float] | None = None,
        alpha: float = 0.6,
        levels: Levels | None = None,
        max_size: int | None = DEFAULT_SIZE,
        style_size: int | None = DEFAULT_STYLE_SIZE,
        progress: Progress | None = None,
    ):
        """Restyle ``content`` after ``style`` (or a weighted blend of several), coarse to fine.

        Args:
            content: path, PIL image, HxWx3 uint8 array, or float tensor (3,H,W)/(1,3,H,W) in [0, 1].
            style: a Style, an image, or a list of them (blended with ``weights``).
            alpha: 0 keeps the content's features, 1 takes the style's fully.
            levels: layer names or 1..5; run deepest first. Default: all five.
            max_size: long side to work at (None = full size).
            progress: called as progress(done, total, level) after each level.
        Returns:
            A PIL image, or a tensor shaped like a tensor input.
        Raises:
            InputError, ImageError, WeightsError.
        """
        a = parse_alpha(alpha)
        lvls = parse_levels(levels)
        x, size, src = self._prepare(content, max_size)
        st = self._style_for(style, weights, lvls, style_size)
        for i, lv in enumerate(lvls):
            dec = self.decoder(lv)
            f = self.encoder(x, upto=lv)[lv]  # (1, C, h, w)
            g = wct(f.flatten(2), st.mean(lv), st.color(lv), a).view_as(f)
            x = dec(g).clamp(0, 1)
            if progress is not None:
                progress(i + 1, len(lvls), lv)
        return self._finish(x, size, src)

    @torch.inference_mode()
    def reconstruct(self, content: ImageInput, level: str | int = "relu4_1", *, max_size: int | None = DEFAULT_SIZE):
        """Encode to ``level`` and decode back (what the decoder alone does to an image)."""
        lv = parse_level(level)
        x, size, src = self._prepare(content, max_size)
        y = self.decoder(lv)(self.encoder(x, upto=lv)[lv]).clamp(0, 1)
        return self._finish(y, size, src)


_models: dict[str, Model] = {}
_models_lock = threading.Lock()


def load(*, device: str | torch.device | None = None, encoder_weights=None, decoders=None) -> Model:
    """A new Model (see Model for the arguments)."""
    return Model(device=device, encoder_weights=encoder_weights, decoders=decoders)


def _default(device: str | torch.device | None) -> Model:
    dev = resolve_device(device)
    with _models_lock:
        if str(dev) not in _models:
            _models[str(dev)] = Model(device=dev)
        return _models[str(dev)]


def stylize(content: ImageInput, style, *, device: str | torch.device | None = None, **kwargs):
    """Module-level Model.stylize on a shared model for ``device``."""
    return _default(device).stylize(content, style, **kwargs)


def reconstruct(content: ImageInput, level: str | int = "relu4_1", *, device=None, **kwargs):
    """Module-level Model.reconstruct on a shared model for ``device``."""
    return _default(device).reconstruct(content, level, **kwargs)


def compute_style(image: StyleInput, *, device=None, **kwargs) -> Style:
    """Module-level Model.compute_style on a shared model for ``device``."""
    return _default(device).compute_style(image, **kwargs)


def blend(styles: Sequence[StyleInput], weights: Sequence[float] | None = None, *, device=None, **kwargs) -> Style:
    """Module-level Model.blend: one Style from several, mixed with ``weights`` normalised to sum 1."""
    return _default(device).blend(styles, weights, **kwargs)
