"""Every default and every set of choices the engine offers, in one place (the API, the CLI and the app read them here).

Figures that change with the weights or the machine (decoder quality, timings) are not written here: the decoders'
manifest and the benchmarks' files hold them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from .transform import TRANSFORMS  # the feature transforms: the math's own list

__all__ = [
    "Levels",
    "Weights",
    "Alpha",
    "DEFAULT_SIZE",
    "DEFAULT_STYLE_SIZE",
    "DEFAULT_ALPHA",
    "DEFAULT_LEVELS",
    "DEFAULT_TRANSFORM",
    "DEFAULT_MODEL",
    "MODELS",
    "PREVIEW_LEVELS",
    "PREVIEW_SIZE",
    "PRESERVE_COLOR",
    "BLEND_METHODS",
    "TRANSFORMS",
    "DEFAULT_KEY",
    "PRECISIONS",
    "PHOTO_LEVELS",
    "PHOTO_ALPHA",
    "SMOOTHING",
    "REFINE_STEPS",
    "MAX_REFINE_STEPS",
    "MIN_SIZE",
    "TILE_ABOVE",
    "DEFAULT_TILE_SIZE",
]

Levels = str | int | Sequence[str | int]
Weights = Sequence[float] | Mapping[str | int, Sequence[float]]  # one list, or {level: list, "default": list}
Alpha = float | Mapping[str | int, float]  # one strength, or {level: strength, "default": strength}

DEFAULT_SIZE = 512  # long side of the output, in pixels, unless max_size says otherwise (smaller images keep their size)
DEFAULT_STYLE_SIZE = 512  # long side the style image is measured at
MIN_SIZE = 16  # the smallest max_size / style_size
DEFAULT_ALPHA = 0.65  # style strength, for every level not given its own (with OST: benchmarks/quality.py chose both)
# stylize's default levels: relu5_1 is left out until its decoder reaches its quality target (decoders/README.md);
# pass levels=wct.LEVELS for all five
DEFAULT_LEVELS = ("relu4_1", "relu3_1", "relu2_1", "relu1_1")
DEFAULT_TRANSFORM = "ost"  # the optimal-transport map: WCT's covariance, more of the photo kept
# the pairs of networks: "vgg16" (the VGG-16 encoder and its decoders) or "light" (a distilled VGG-16 of a quarter of
# the width with its own decoders: README, "Light model")
MODELS = ("vgg16", "light")
DEFAULT_MODEL = "vgg16"
PREVIEW_LEVELS = ("relu5_1", "relu4_1", "relu3_1")  # preview=True runs these (the coarse ones, the cheap decoders)...
PREVIEW_SIZE = 256  # ...at this long side at most
PRESERVE_COLOR = ("luminance", "histogram")
BLEND_METHODS = ("linear", "wasserstein")
DEFAULT_KEY = "default"  # in a per-level mapping, the value for every level not named
PRECISIONS = {"float32": False, "half": True, "auto": "auto"}  # precision names -> load(half=...)
# photorealistic=True: the transform at the shallowest level only, whose decoder reconstructs nearly losslessly (its
# held-out PSNR is in decoders/MANIFEST.json), at full strength, then edge-aware smoothing (benchmarks/photoreal.py)
PHOTO_LEVELS = ("relu1_1",)
PHOTO_ALPHA = 1.0
SMOOTHING = ("auto", "exact", "fast")  # photorealistic smoothing: see wct.smoothing.smooth
REFINE_STEPS = 60  # what refine=True and the CLI's bare --refine run: the documented default step count
MAX_REFINE_STEPS = 1000
TILE_ABOVE = 2048 * 2048  # working images with more pixels go through the networks in tiles (bounded memory)...
DEFAULT_TILE_SIZE = 1024  # ...of this side (the cores; each tile adds 16-128 px of context per side)
