"""wct: arbitrary-style transfer by the Whitening and Coloring Transform (Li et al., NeurIPS 2017)."""

from .api import DEFAULT_SIZE, DEFAULT_STYLE_SIZE, Model, blend, compute_style, load, reconstruct, stylize, stylize_batch, texture
from .encoder import LEVELS
from .errors import ImageError, InputError, OutputError, StyleFileError, WCTError, WeightsError
from .style import Style
from .video import stylize_video

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "LEVELS",
    "DEFAULT_SIZE",
    "DEFAULT_STYLE_SIZE",
    "Model",
    "Style",
    "load",
    "stylize",
    "stylize_batch",
    "stylize_video",
    "blend",
    "reconstruct",
    "compute_style",
    "texture",
    "WCTError",
    "InputError",
    "ImageError",
    "StyleFileError",
    "WeightsError",
    "OutputError",
]
