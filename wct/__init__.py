"""wct: arbitrary-style transfer by the Whitening and Coloring Transform (Li et al., NeurIPS 2017)."""

import os as _os

# Big feature maps (64 MB at 512 px) are allocated and freed layer after layer; backed by transparent huge pages
# they cost far fewer page faults (about 15% of a stylization on a CPU). PyTorch reads this when it first
# allocates, so it takes effect when wct is imported before torch (the CLI, the app); set it to 0 to opt out.
_os.environ.setdefault("THP_MEM_ALLOC_ENABLE", "1")

from .api import DEFAULT_SIZE, DEFAULT_STYLE_SIZE, Model, blend, compute_style, load, reconstruct, stylize, stylize_batch, texture
from .encoder import LEVELS
from .errors import ImageError, InputError, OutputError, StyleFileError, WCTError, WeightsError
from .style import Style
from .video import stylize_video

__version__ = "0.2.0.dev0"  # CHANGELOG.md says what changed since 0.1.0

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
