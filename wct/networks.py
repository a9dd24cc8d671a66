"""One pair of networks on one device: an encoder and its per-level decoders, their precision and compilation.

``Networks(model="vgg16")`` is VGG-16 with its decoders; ``Networks(model="light")`` the distilled quarter-width
VGG-16 with its own. The pipeline only asks a ``Networks`` for taps and decodings, so either plugs in unchanged.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping
from pathlib import Path

import torch

from .checks import parse_half, parse_model
from .decoder import Decoder, decoder_from_metadata
from .defaults import DEFAULT_MODEL
from .encoder import LEVELS, LIGHT_DIVISOR, VGG16_CFG, Encoder, TapEmbedding, parse_level, tap_channels, vgg16_cfg
from .errors import InputError, WeightsError
from .style import Style
from .transform import coloring_matrix
from .weights import decoders_dir, light_dir, light_encoder_state, load_verified, read_manifest, safetensors_metadata

__all__ = ["Networks", "resolve_device", "half_dtype", "half_is_fast", "resolve_half", "CPU_BATCH_PIXELS"]

CPU_BATCH_PIXELS = 1 << 20  # on a CPU, batches stop at this many pixels (bigger ones measured slower than a loop)


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


def half_dtype(device: torch.device) -> torch.dtype:
    """What ``half=True`` runs the networks in on ``device``: float16 on CUDA (tensor cores), bfloat16 elsewhere."""
    return torch.float16 if device.type == "cuda" else torch.bfloat16


def half_is_fast(device: torch.device) -> bool:
    """Whether half-precision networks run much faster than float32 here: CUDA GPUs, and CPUs with AMX tiles."""
    if device.type == "cuda":
        return True
    probe = getattr(torch.cpu, "_is_amx_tile_supported", None)  # private, present since PyTorch 2.3
    try:
        return device.type == "cpu" and probe is not None and bool(probe())
    except RuntimeError:
        return False


def resolve_half(half: bool | str, device: torch.device) -> bool:
    """``half`` as given (True/False), or for ``"auto"`` whether half precision is fast on ``device``."""
    return half_is_fast(device) if parse_half(half) == "auto" else bool(half)


def light_encoder(folder: Path, weights: str | os.PathLike | None = None) -> tuple[Encoder, TapEmbedding]:
    """The light model's verified student encoder and its embeddings onto VGG-16's taps, from ``folder``."""
    state, ident = light_encoder_state(folder, weights)
    encoder = Encoder(load=False, cfg=vgg16_cfg(LIGHT_DIVISOR), id=ident)
    embedding = TapEmbedding(encoder.channels, tap_channels(VGG16_CFG))
    try:
        encoder.convs.load_state_dict({k[6:]: v for k, v in state.items() if k.startswith("convs.")}, strict=True)
        embedding.load_state_dict({k[6:]: v for k, v in state.items() if k.startswith("embed.")}, strict=True)
    except RuntimeError as exc:
        raise WeightsError(f"the light encoder file does not fit its architecture: {str(exc).splitlines()[0]}") from None
    return encoder, embedding.requires_grad_(False).eval()


def embedded_style(style: Style, embedding: TapEmbedding) -> Style:
    """The statistics of the embedded features of the features ``style`` describes, at the levels both have."""
    stats = {}
    for lv in style.levels:
        conv = embedding.maps[lv]
        w = conv.weight[:, :, 0, 0].double()  # (C_teacher, C_student)
        mean = w @ style.mean(lv).double() + conv.bias.double()
        stats[lv] = (mean.float(), coloring_matrix(w @ style.covariance(lv) @ w.T).float())
    return Style(stats, description=style.description, encoder=style.encoder)


class Networks:
    """An encoder and lazily loaded, verified decoders on one device, run in float32 or half precision.

    Args: as ``wct.Model`` (model, device, encoder_weights, decoders, compile, half).
    """

    def __init__(
        self,
        *,
        model: str = DEFAULT_MODEL,
        device: str | torch.device | None = None,
        encoder_weights: str | os.PathLike | None = None,
        decoders: str | os.PathLike | Mapping[str, Decoder] | None = None,
        compile: bool = False,
        half: bool | str = False,
    ) -> None:
        self.name = parse_model(model)
        self.device = resolve_device(device)
        self.compile = bool(compile)
        self.half = resolve_half(half, self.device)
        self.half_dtype = half_dtype(self.device)
        self._compiled: dict[int, Callable] = {}
        self._lock = threading.Lock()
        self._decoders: dict[str, Decoder] = {}
        self._folder: Path | None = None
        if not isinstance(decoders, Mapping):
            self._folder = Path(decoders) if decoders is not None else decoders_dir()
            if self.name == "light" and decoders is None:
                self._folder = light_dir(self._folder)
        self.embedding: TapEmbedding | None = None  # the light student's maps onto VGG-16's taps
        self.refine_embedded = False  # the light model's refinement on the embedded taps (see benchmarks/README.md)
        if self.name == "light":
            self.encoder, self.embedding = light_encoder(self._folder or light_dir(), encoder_weights)
            self.embedding = self.embedding.to(self.device)
        else:
            self.encoder = Encoder(encoder_weights)
        self.encoder = self.encoder.to(self.device)
        if isinstance(decoders, Mapping):
            for level, dec in decoders.items():
                self._decoders[parse_level(level)] = dec.to(self.device).eval()

    @property
    def precision(self) -> str:
        """The networks' precision: "float32", or with ``half`` "float16" (CUDA) or "bfloat16"."""
        return str(self.half_dtype).removeprefix("torch.") if self.half else "float32"

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
        if entry.get("encoder") != self.encoder.id:
            raise WeightsError(f"the {level} decoder was trained for encoder {entry.get('encoder')!r}, not {self.encoder.id!r}")
        path = self._folder / entry["file"]
        state = load_verified(path, entry["sha256"], f"{level} decoder")
        dec = decoder_from_metadata(level, safetensors_metadata(path))
        try:
            dec.load_state_dict({k: v.float() for k, v in state.items()}, strict=True)
        except RuntimeError as exc:
            raise WeightsError(f"the {level} decoder file does not fit the architecture: {str(exc).splitlines()[0]}") from None
        return dec.to(self.device).eval()

    def encode(self, rgb: torch.Tensor, upto: str, *, only_last: bool = False) -> dict[str, torch.Tensor]:
        """The encoder's taps relu1_1..``upto`` (just ``upto`` with ``only_last``) of (B, 3, H, W) RGB in [0, 1]
        (compiled, in half precision when asked; the taps are float32 either way)."""
        return self._precise(self.encoder, rgb, upto=upto, only_last=only_last)

    def encode_level(self, rgb: torch.Tensor, level: str) -> torch.Tensor:
        """The encoder's tap at ``level`` alone (the shallower ones are freed as the pass goes)."""
        return self.encode(rgb, level, only_last=True)[level]

    def decode(self, features: torch.Tensor, level: str) -> torch.Tensor:
        """RGB (B, 3, H, W) from features at ``level`` (compiled, in half precision when asked; float32 out)."""
        return self._precise(self.decoder(level), features)

    def features(self, rgb: torch.Tensor, upto: str) -> dict[str, torch.Tensor]:
        """The taps relu1_1..``upto`` as float32, differentiable with respect to ``rgb`` (for refinement); in half
        precision when asked; with ``refine_embedded`` (the light model), mapped by the embeddings onto VGG-16's
        taps. Call it with gradients enabled and outside inference mode."""
        with torch.autocast(self.device.type, dtype=self.half_dtype, enabled=self.half):
            taps = self.encoder(rgb, upto=upto)
            if self.refine_embedded and self.embedding is not None:
                taps = self.embedding(taps)
            return {k: v.float() for k, v in taps.items()}

    def refine_style(self, style: Style) -> Style:
        """``style`` in the space ``features`` gives: as it is, or with ``refine_embedded`` mapped by the embeddings
        (a 1x1 map f -> W f + b moves a mean to W m + b and a covariance to W C W^T)."""
        if not (self.refine_embedded and self.embedding is not None):
            return style
        return embedded_style(style, self.embedding)

    def batch_limit(self, height: int, width: int, batch_size: int) -> int:
        """How many working images of this size go through the networks at once (on a CPU, CPU_BATCH_PIXELS at most)."""
        if self.device.type != "cpu":
            return batch_size
        return max(1, min(batch_size, CPU_BATCH_PIXELS // (height * width)))

    def _precise(self, net: torch.nn.Module, *args, **kwargs):
        """``net`` in half precision when asked, results back in float32; non-finite results are redone in float32."""
        if not self.half:
            return self._call(net, *args, **kwargs)
        with torch.autocast(self.device.type, dtype=self.half_dtype):
            out = self._call(net, *args, **kwargs)
        items = out.values() if isinstance(out, dict) else [out]
        if all(bool(torch.isfinite(t).all()) for t in items):
            return {k: v.float() for k, v in out.items()} if isinstance(out, dict) else out.float()
        return self._call(net, *args, **kwargs)  # overflowed in half precision: this one in float32

    def _call(self, net: torch.nn.Module, *args, **kwargs):
        if not self.compile:
            return net(*args, **kwargs)
        import torch._dynamo
        from torch._inductor import config as inductor_config

        fn = self._compiled.get(id(net))
        if fn is None:
            fn = self._compiled[id(net)] = torch.compile(net, dynamic=False)
        # one graph per (network, level, image size): allow many before dynamo falls back to eager (for these calls
        # only: the host's settings stay as they are); the weights are constants: fold and prepack them
        limit = max(torch._dynamo.config.recompile_limit, 64)
        with torch._dynamo.config.patch(recompile_limit=limit), inductor_config.patch(freezing=True):
            return fn(*args, **kwargs)
