"""The exceptions the engine raises.

    WCTError                       base of everything below
    ├── InputError (ValueError)    an argument or an image the caller gave is unusable
    │   ├── ImageError             a file is not a readable image, or its size is out of bounds
    │   └── StyleFileError         a style .safetensors file is malformed or unsafe
    ├── WeightsError (RuntimeError) model weights are missing, damaged or do not match
    └── OutputError (OSError)      an output file cannot be written as asked

Every child also derives from the matching built-in, so ``except ValueError`` keeps working.
"""

from __future__ import annotations

__all__ = ["WCTError", "InputError", "ImageError", "StyleFileError", "WeightsError", "OutputError"]


class WCTError(Exception):
    """Base class of every error the engine raises on purpose."""


class InputError(WCTError, ValueError):
    """An argument or input image is unusable; the message says what was expected."""


class ImageError(InputError):
    """A file or array is not a usable image."""


class StyleFileError(InputError):
    """A saved style file is malformed, from another encoder, or holds non-finite values."""


class WeightsError(WCTError, RuntimeError):
    """Model weights are missing, truncated, or fail their checksum."""


class OutputError(WCTError, OSError):
    """An output cannot be written (exists, unknown format, would overwrite an input)."""
