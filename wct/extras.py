"""The optional dependencies: each imported on first use, or an InputError that names the extra to install."""

from __future__ import annotations

import importlib
from types import ModuleType

from .errors import InputError

__all__ = ["require"]

# module -> (what needs it, the extra and package that bring it)
EXTRAS = {
    "av": ("video needs PyAV", "pip install 'wct[video]' (or av)"),
    "cv2": ("temporal coherence needs OpenCV", "pip install 'wct[video]' (or opencv-python-headless)"),
    "ray.data": ("--ray needs Ray with Ray Data", "pip install 'wct[ray]' (on the driver and every node)"),
}


def require(module: str) -> ModuleType:
    """The module (``"av"``, ``"cv2"``, ``"ray.data"``: then ``ray`` itself), or an InputError saying how to install it."""
    what, fix = EXTRAS[module]
    try:
        importlib.import_module(module)
        return importlib.import_module(module.split(".")[0])
    except ImportError:
        raise InputError(f"{what}; fix: {fix}") from None
