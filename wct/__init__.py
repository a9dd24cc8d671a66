"""wct: arbitrary-style transfer by the Whitening and Coloring Transform (Li et al., NeurIPS 2017).

Importing the package changes nothing outside it, and loads its modules (and PyTorch) on first use of a name.
"""

import importlib as _importlib
import typing as _typing

__version__ = "0.2.0.dev0"  # CHANGELOG.md says what changed since 0.1.0

# public name -> the module that holds it
_HOME = {
    "Model": "api", "available_models": "api", "load": "api", "stylize": "api", "stylize_batch": "api", "blend": "api",
    "reconstruct": "api", "compute_style": "api", "texture": "api",
    "stylize_video": "video",
    "Options": "options",
    "Style": "style",
    "LEVELS": "encoder",
    "read_image": "image", "MAX_PIXELS": "image",
    "DEFAULT_SIZE": "defaults", "DEFAULT_STYLE_SIZE": "defaults", "DEFAULT_ALPHA": "defaults",
    "DEFAULT_LEVELS": "defaults", "DEFAULT_TRANSFORM": "defaults", "DEFAULT_MODEL": "defaults", "MODELS": "defaults",
    "PHOTO_LEVELS": "defaults", "PHOTO_ALPHA": "defaults", "PREVIEW_LEVELS": "defaults", "PREVIEW_SIZE": "defaults",
    "PRESERVE_COLOR": "defaults", "BLEND_METHODS": "defaults", "TRANSFORMS": "defaults", "SMOOTHING": "defaults",
    "PRECISIONS": "defaults", "REFINE_STEPS": "defaults", "MAX_REFINE_STEPS": "defaults",
    "DEFAULT_TILE_SIZE": "defaults", "TILE_ABOVE": "defaults",
    "WCTError": "errors", "InputError": "errors", "ImageError": "errors", "StyleFileError": "errors",
    "WeightsError": "errors", "OutputError": "errors",
}  # fmt: skip

__all__ = ["__version__", *_HOME]

if _typing.TYPE_CHECKING:  # what type checkers and editors see; at run time each name loads on first use
    from .api import Model, available_models, blend, compute_style, load, reconstruct, stylize, stylize_batch, texture
    from .defaults import (
        BLEND_METHODS,
        DEFAULT_ALPHA,
        DEFAULT_LEVELS,
        DEFAULT_MODEL,
        DEFAULT_SIZE,
        DEFAULT_STYLE_SIZE,
        DEFAULT_TILE_SIZE,
        DEFAULT_TRANSFORM,
        MAX_REFINE_STEPS,
        MODELS,
        PHOTO_ALPHA,
        PHOTO_LEVELS,
        PRECISIONS,
        PRESERVE_COLOR,
        PREVIEW_LEVELS,
        PREVIEW_SIZE,
        REFINE_STEPS,
        SMOOTHING,
        TILE_ABOVE,
        TRANSFORMS,
    )
    from .encoder import LEVELS
    from .errors import ImageError, InputError, OutputError, StyleFileError, WCTError, WeightsError
    from .image import MAX_PIXELS, read_image
    from .options import Options
    from .style import Style
    from .video import stylize_video


def __getattr__(name: str) -> object:
    if name not in _HOME:
        raise AttributeError(f"module 'wct' has no attribute {name!r}")
    value = getattr(_importlib.import_module(f".{_HOME[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*(k for k in globals() if not k.startswith("_")), *__all__})
