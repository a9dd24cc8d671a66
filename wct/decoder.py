"""Decoders that invert the encoder from one tap back to an RGB image, built from a per-level table."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch
from torch import nn

from . import convolution, winograd
from .encoder import LEVELS, parse_level

__all__ = [
    "Decoder",
    "decoder_layers",
    "conv_roles",
    "deepened",
    "extra_from_metadata",
    "decoder_from_metadata",
    "extra_metadata",
    "parse_extra",
    "reflect_pad1",
    "STAGE_WIDTHS",
]

STAGE_WIDTHS = (64, 128, 256, 512, 512)  # VGG-16 channels per stage
STAGE_CONVS = (2, 2, 3, 3, 3)  # convs per stage

Layer = tuple[str, int, int]  # ("conv", in, out) or ("up", 0, 0)


def decoder_layers(level: str, extra: Iterable[int] = (), stage_widths: Sequence[int] = STAGE_WIDTHS) -> list[Layer]:
    """The mirror of VGG-16 (of ``stage_widths`` channels per stage) from ``level`` down to RGB (relu1_1 gets one
    extra same-width conv), with one more same-width conv after each of the mirror's convs numbered in ``extra``."""
    k = LEVELS.index(parse_level(level)) + 1  # stage of the tap
    widths = (3, *stage_widths)
    layers: list[Layer] = []
    if k == 1:
        layers.append(("conv", widths[1], widths[1]))
    layers.append(("conv", widths[k], widths[k - 1]))  # inverse of conv{k}_1
    for stage in range(k - 1, 0, -1):
        layers.append(("up", 0, 0))
        layers += [("conv", widths[stage], widths[stage])] * (STAGE_CONVS[stage - 1] - 1)
        layers.append(("conv", widths[stage], widths[stage - 1]))  # inverse of conv{stage}_1
    return _with_extra(layers, extra)


def _with_extra(layers: list[Layer], extra: Iterable[int]) -> list[Layer]:
    extra = set(extra)
    convs = [i for i, (op, _, _) in enumerate(layers) if op == "conv"]
    if bad := sorted(j for j in extra if not 0 <= j < len(convs) - 1):
        raise ValueError(f"extra convs go after the mirror's convs 0..{len(convs) - 2}, not after {bad}")
    out: list[Layer] = []
    for i, layer in enumerate(layers):
        out.append(layer)
        if layer[0] == "conv" and convs.index(i) in extra:
            out.append(("conv", layer[2], layer[2]))
    return out


def conv_roles(level: str, extra: Iterable[int] = ()) -> list[tuple[int, bool]]:
    """For each conv of ``decoder_layers(level, extra)``: (the mirror conv it belongs to, whether it is the extra one)."""
    n = sum(op == "conv" for op, _, _ in decoder_layers(level))  # the same at every width
    extra = set(extra)
    return [role for j in range(n) for role in [(j, False)] + ([(j, True)] if j in extra else [])]


class Decoder(nn.Module):
    """Maps features at ``level`` (B, C, h, w) to RGB (B, 3, h*2^(k-1), w*2^(k-1)), roughly in [0, 1].

    Inputs are divided by a fixed per-channel ``scale`` (stored with the weights) so the
    network sees features of order one; reflection padding, ReLU, nearest upsampling.
    """

    def __init__(self, level: str | int, extra: Iterable[int] = (), stage_widths: Sequence[int] = STAGE_WIDTHS) -> None:
        super().__init__()
        self.level = parse_level(level)
        self.extra = tuple(sorted(set(extra)))  # mirror convs followed by one more conv of the same width
        self.stage_widths = tuple(stage_widths)  # channels per VGG stage: VGG-16's, or the light student's
        spec = decoder_layers(self.level, self.extra, self.stage_widths)
        modules: list[nn.Module] = []
        n_convs = sum(1 for op, _, _ in spec if op == "conv")
        seen = 0
        for op, cin, cout in spec:
            if op == "up":
                modules.append(nn.Upsample(scale_factor=2, mode="nearest"))
                continue
            seen += 1
            modules += [nn.ReflectionPad2d(1), nn.Conv2d(cin, cout, 3)]
            if seen < n_convs:
                modules.append(nn.ReLU(inplace=True))
        self.layers = nn.Sequential(*modules)
        in_channels = spec[0][1]
        self.register_buffer("scale", torch.ones(in_channels))

    @property
    def in_channels(self) -> int:
        return int(self.scale.numel())

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        if torch.is_grad_enabled() or torch.compiler.is_compiling():  # training, or torch.compile (which fuses the
            return self.layers(features / self.scale.view(1, -1, 1, 1).to(features.dtype))  # padding): plain modules
        return self._infer(features)

    def _first_conv(self) -> nn.Conv2d:
        """The first convolution with the input scale folded into its weights (conv(x / s) = conv'(x)), cached."""
        conv = self.layers[1]
        key = (winograd.stamp(conv.weight), winograd.stamp(self.scale))
        cached = getattr(self, "_folded", None)
        if cached is None or cached[0] != key:
            folded = nn.Conv2d(conv.in_channels, conv.out_channels, 3).to(conv.weight.device, conv.weight.dtype)
            folded.weight.data = conv.weight.detach() / self.scale.view(1, -1, 1, 1).to(conv.weight.dtype)
            folded.bias.data = conv.bias.detach().clone()
            folded.requires_grad_(False)
            cached = (key, folded.to(memory_format=torch.channels_last))
            object.__setattr__(self, "_folded", cached)
        return cached[1]

    def _infer(self, x: torch.Tensor) -> torch.Tensor:
        """The same function, faster: each convolution by the fastest kernel for its size (``convolution``), each
        upsampling written straight into the padded buffer, in the memory layout that kernel wants."""
        upsample = False
        mods = list(self.layers)
        mods[1] = self._first_conv()  # the input scale lives in its weights: no pass over the features
        for i, mod in enumerate(mods):
            if isinstance(mod, nn.Upsample):
                upsample = True  # done by the padding that follows
            elif isinstance(mod, nn.ReflectionPad2d):
                f = 2 if upsample else 1
                nchw = convolution.nchw_here(x, f * f * x.shape[-1] * x.shape[-2])
                layout = torch.contiguous_format if nchw else torch.channels_last
                x, upsample = reflect_pad1(x, upsample=upsample, memory_format=layout), False
            elif isinstance(mod, nn.Conv2d):  # with the ReLU that follows it, if any
                x = convolution.conv_padded(x, mod, relu=i + 1 < len(mods) and isinstance(mods[i + 1], nn.ReLU))
        return x.contiguous()


def deepened(decoder: Decoder, extra: Iterable[int]) -> Decoder:
    """The same function with more layers: ``decoder`` plus an identity-initialised conv after each mirror conv in
    ``extra`` (exact, because it follows a ReLU: its inputs are never negative)."""
    new = Decoder(decoder.level, set(decoder.extra) | set(extra), decoder.stage_widths).to(decoder.scale.device)
    old_convs = dict(zip(conv_roles(decoder.level, decoder.extra), _convs(decoder), strict=True))
    with torch.no_grad():
        new.scale.copy_(decoder.scale)
        for role, conv in zip(conv_roles(new.level, new.extra), _convs(new), strict=True):
            if role in old_convs:
                conv.load_state_dict(old_convs[role].state_dict())
            else:
                conv.weight.zero_()
                conv.bias.zero_()
                conv.weight[:, :, 1, 1].copy_(torch.eye(conv.out_channels))
    return new


def _convs(decoder: Decoder) -> list[nn.Conv2d]:
    return [m for m in decoder.layers if isinstance(m, nn.Conv2d)]


def parse_extra(text: str) -> tuple[int, ...]:
    """Mirror conv numbers written as "0,1" (empty: none); ValueError for anything else."""
    return tuple(int(j) for j in text.split(",") if j.strip())


def extra_metadata(decoder: Decoder) -> dict[str, str]:
    """The metadata entries a weights file keeps so that ``decoder_from_metadata`` rebuilds the same architecture."""
    meta = {"extra_convs": ",".join(map(str, decoder.extra))}
    if decoder.stage_widths != STAGE_WIDTHS:
        meta["stage_widths"] = ",".join(map(str, decoder.stage_widths))
    return meta


def extra_from_metadata(metadata: dict[str, str] | None) -> tuple[int, ...]:
    """The ``extra_convs`` a weights file records in its metadata ("0,1"; none when absent)."""
    return parse_extra((metadata or {}).get("extra_convs", ""))


def decoder_from_metadata(level: str, metadata: dict[str, str] | None) -> Decoder:
    """An untrained decoder of the architecture a weights file records (extra convs, stage widths; VGG-16's when absent)."""
    widths = (metadata or {}).get("stage_widths", "")
    return Decoder(level, extra_from_metadata(metadata), parse_extra(widths) if widths else STAGE_WIDTHS)


def reflect_pad1(
    x: torch.Tensor, *, upsample: bool = False, memory_format: torch.memory_format = torch.channels_last
) -> torch.Tensor:
    """ReflectionPad2d(1) of (B, C, H, W), after a 2x nearest upsampling when asked, in one buffer (NHWC unless asked).

    Equals ``F.pad(F.interpolate(x, scale_factor=2), (1, 1, 1, 1), mode="reflect")`` (or without the
    interpolation) without materialising the upsampled tensor.
    """
    b, c, h, w = x.shape
    f = 2 if upsample else 1
    out = torch.empty((b, c, f * h + 2, f * w + 2), dtype=x.dtype, device=x.device, memory_format=memory_format)
    inner = out[:, :, 1:-1, 1:-1]
    if not upsample:
        inner.copy_(x)
    elif memory_format == torch.channels_last:
        inner.unflatten(3, (w, 2)).unflatten(2, (h, 2)).copy_(x[:, :, :, None, :, None].expand(b, c, h, 2, w, 2))
    else:  # NCHW: even rows with each pixel twice, then each odd row copied from the row above (twice as fast)
        rows = inner.unflatten(2, (h, 2))
        rows[:, :, :, 0].unflatten(3, (w, 2)).copy_(x[..., None].expand(b, c, h, w, 2))
        rows[:, :, :, 1].copy_(rows[:, :, :, 0])
    out[:, :, 0, 1:-1] = out[:, :, 2, 1:-1]
    out[:, :, -1, 1:-1] = out[:, :, -3, 1:-1]
    out[:, :, :, 0] = out[:, :, :, 2]
    out[:, :, :, -1] = out[:, :, :, -3]
    return out
