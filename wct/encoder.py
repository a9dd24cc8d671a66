"""VGG-16 (ImageNet, Caffe preprocessing) cut at relu1_1..relu5_1: one pass returns every tap."""

from __future__ import annotations

import os

import torch
import torch.nn.functional as F
from torch import nn

from . import convolution
from .errors import InputError
from .weights import ENCODER_ID, encoder_state

__all__ = [
    "LEVELS",
    "Encoder",
    "TapEmbedding",
    "parse_level",
    "CAFFE_MEAN_BGR",
    "VGG16_CFG",
    "LIGHT_DIVISOR",
    "LIGHT_ID",
    "vgg16_cfg",
    "tap_channels",
    "model_of",
    "channels_of",
]

LEVELS: tuple[str, ...] = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)

# VGG-16 up to conv5_1: (name, in_channels, out_channels); "pool" = 2x2 max pooling
VGG16_CFG: tuple[tuple[str, int, int] | str, ...] = (
    ("conv1_1", 3, 64), ("conv1_2", 64, 64), "pool",
    ("conv2_1", 64, 128), ("conv2_2", 128, 128), "pool",
    ("conv3_1", 128, 256), ("conv3_2", 256, 256), ("conv3_3", 256, 256), "pool",
    ("conv4_1", 256, 512), ("conv4_2", 512, 512), ("conv4_3", 512, 512), "pool",
    ("conv5_1", 512, 512),
)  # fmt: skip

Cfg = tuple[tuple[str, int, int] | str, ...]
LIGHT_DIVISOR = 4  # the light engine's student: VGG-16 at a quarter of the width
LIGHT_ID = "vgg16-light"  # its encoder ids start so (then "@" and the first 12 hex digits of the weights' SHA-256)


def vgg16_cfg(divisor: int = 1) -> Cfg:
    """VGG-16's table with every conv ``divisor`` times narrower (the input's 3 channels kept): 4 gives the light
    engine's student, 16/32/64/128/128 channels at relu1_1..relu5_1."""
    return tuple(item if item == "pool" else (item[0], item[1] if item[1] == 3 else item[1] // divisor, item[2] // divisor)
                 for item in VGG16_CFG)  # fmt: skip


def tap_channels(cfg: Cfg) -> dict[str, int]:
    """{relu1_1: channels, ...} of an encoder table."""
    return {"relu" + c[0][4:]: c[2] for c in cfg if c != "pool" and c[0].endswith("_1")}


def parse_level(level: str | int) -> str:
    """Normalise a level given as ``"relu4_1"``, ``"4"`` or ``4`` to its layer name."""
    if isinstance(level, bool):
        raise InputError(f"unknown level {level!r}: expected one of {', '.join(LEVELS)} or 1..5")
    if isinstance(level, int) and 1 <= level <= 5:
        return LEVELS[level - 1]
    if isinstance(level, str):
        name = level.strip().lower()
        if name in LEVELS:
            return name
        if name.isdigit() and 1 <= int(name) <= 5:
            return LEVELS[int(name) - 1]
        close = [lv for lv in LEVELS if lv[4] in name]
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise InputError(f"unknown level {level!r}{hint}: expected one of {', '.join(LEVELS)} or 1..5")
    raise InputError(f"unknown level {level!r}: expected one of {', '.join(LEVELS)} or 1..5")


def model_of(encoder_id: str) -> str:
    """The model name ("vgg16", "light") of an encoder id, or the id itself for one this engine does not know."""
    if encoder_id == ENCODER_ID:
        return "vgg16"
    return "light" if encoder_id.split("@")[0] == LIGHT_ID else encoder_id


def channels_of(encoder_id: str) -> dict[str, int] | None:
    """{tap: channels} of the encoder an id names (None for one this engine does not know)."""
    model = model_of(encoder_id)
    if model == "vgg16":
        return tap_channels(VGG16_CFG)
    return tap_channels(vgg16_cfg(LIGHT_DIVISOR)) if model == "light" else None


class Encoder(nn.Module):
    """Frozen VGG-16 conv base; input RGB in [0, 1], shape (B, 3, H, W).

    ``cfg`` (default VGG-16's) sets the widths: ``vgg16_cfg(4)`` is the light engine's student, same layout, taps,
    pooling and preprocessing; ``load`` reads the pinned VGG-16 weights (the student's come from its own file)."""

    def __init__(
        self, weights: str | os.PathLike | None = None, *, load: bool = True, cfg: Cfg = VGG16_CFG, id: str = ENCODER_ID
    ) -> None:
        super().__init__()
        self.cfg, self.id = cfg, id
        self.channels = tap_channels(cfg)
        self.convs = nn.ModuleDict({c[0]: nn.Conv2d(c[1], c[2], 3, padding=1) for c in cfg if c != "pool"})
        mean = torch.tensor(CAFFE_MEAN_BGR).view(1, 3, 1, 1)
        self.register_buffer("mean_bgr", mean, persistent=False)
        if load:
            self.convs.load_state_dict(encoder_state(weights), strict=True)
        self.requires_grad_(False)
        self.to(memory_format=torch.channels_last)  # NHWC: ~15% faster VGG convolutions on CPU (oneDNN) and on GPUs
        self.eval()

    def preprocess(self, rgb: torch.Tensor) -> torch.Tensor:
        """RGB [0, 1] -> Caffe input: BGR, 0-255, mean subtracted."""
        return rgb.flip(1) * 255.0 - self.mean_bgr.to(rgb.dtype)

    def forward(self, rgb: torch.Tensor, upto: str = "relu5_1", *, only_last: bool = False) -> dict[str, torch.Tensor]:
        """Every tap relu1_1..``upto`` in one pass, as {name: (B, C, H/2^k, W/2^k)}; just ``upto`` with ``only_last``
        (the shallow, large taps are then freed as the pass goes: less peak memory on big images)."""
        upto = parse_level(upto)
        x = self.preprocess(rgb)
        grad = torch.is_grad_enabled()
        if grad:
            x = x.contiguous(memory_format=torch.channels_last)
        taps: dict[str, torch.Tensor] = {}
        for item in self.cfg:
            if item == "pool":
                x = convolution.max_pool2(x)
                continue
            name = item[0]
            if grad:
                x = F.relu(self.convs[name](x))
            else:  # in place, by the fastest kernel for the layer (the layout may change from layer to layer)
                x = convolution.conv_same(x, self.convs[name], relu=True)
            if name.endswith("_1"):
                tap = "relu" + name[4:]
                if tap == upto or not only_last:
                    taps[tap] = x
                if tap == upto:
                    break
        return taps


class TapEmbedding(nn.Module):
    """1x1 linear maps from a student's taps onto a teacher's (FitNets): {tap: (B, c, h, w) -> (B, C, h, w)}."""

    def __init__(self, student: dict[str, int], teacher: dict[str, int]) -> None:
        super().__init__()
        self.maps = nn.ModuleDict({tap: nn.Conv2d(c, teacher[tap], 1) for tap, c in student.items()})

    def forward(self, taps: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {tap: self.maps[tap](f) for tap, f in taps.items() if tap in self.maps}
