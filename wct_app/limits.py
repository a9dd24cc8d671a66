"""The bounds on every request, the environment variables that set some of them, and the server's launch options.

The README's "Limits and security" section describes them; the tests check each.
"""

from __future__ import annotations

import math
import os
from importlib.resources import files
from pathlib import Path
from typing import Any

from starlette.middleware import Middleware

import wct

from .middleware import BodyLimit

__all__ = [
    "ASSETS",
    "CONCURRENCY",
    "DEFAULT_MODEL",
    "DEFAULT_SIZE",
    "LIVE_SECONDS",
    "MAX_BODY_BYTES",
    "MAX_REFINE_STEPS",
    "MAX_SIZE",
    "MAX_UPLOAD_BYTES",
    "MIN_SIZE",
    "OUTPUT_TTL",
    "QUEUE_SIZE",
    "STYLE_CACHE_ENTRIES",
    "STYLE_SIZE",
    "TIME_LIMIT",
    "concurrency",
    "env_number",
    "launch_kwargs",
    "model_name",
    "precision",
    "time_limit",
]

_ROOT = Path(__file__).resolve().parent.parent  # the folder holding app.py
# the examples, the only files besides uploads that a request may name: the repository's, else the installed package's
ASSETS = _ROOT / "assets" if (_ROOT / "assets" / "content.jpg").is_file() else Path(str(files("wct") / "assets"))

DEFAULT_MODEL = "vgg16"  # the model the app starts with (when its weights are installed); the others load on first use
STYLE_SIZE = wct.DEFAULT_STYLE_SIZE  # long side the style images are measured at
MIN_SIZE = 64  # output long side, px
MAX_SIZE = {"cpu": 1024, "cuda": 2048}  # output long side cap per device type (others: the CPU's)
DEFAULT_SIZE = {"cpu": wct.DEFAULT_SIZE, "cuda": 1024}
MAX_REFINE_STEPS = 80  # the refine slider's top: REFINE_STEPS (60) take 50-75 s at 512 px on 2 CPU cores, within TIME_LIMIT
LIVE_SECONDS = 2.0  # slider releases re-render by themselves when the last run took less than this
STYLE_CACHE_ENTRIES = 32  # one entry is ~2.4 MB for all five levels
OUTPUT_TTL = 3600  # seconds uploads and results are kept (Gradio's delete_cache, plus our own folders)
QUEUE_SIZE = 16  # waiting requests beyond this get Gradio's "queue is full" answer
CONCURRENCY = 1  # stylizations at once (one CPU or GPU's worth); WCT_APP_CONCURRENCY overrides
TIME_LIMIT = 120.0  # seconds one request may compute; WCT_APP_TIMEOUT overrides
MAX_UPLOAD_BYTES = 25 * 1024 * 1024  # also the cap on an image sent inline as a data: URL
# any request body: one upload's worth as base64 (a data: URL in JSON) plus 1 MiB for the rest of the request
MAX_BODY_BYTES = MAX_UPLOAD_BYTES * 4 // 3 + 1024 * 1024


def env_number(name: str, default: float, kind=float) -> float:
    """A positive number from the environment variable ``name`` (``default`` when unset); refuses anything else."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = kind(raw)
    except ValueError:
        value = 0
    if not (math.isfinite(value) and value > 0):
        raise wct.InputError(f"{name} must be a positive {'whole ' * (kind is int)}number, got {raw!r}")
    return value


def concurrency() -> int:
    """Stylizations at once: WCT_APP_CONCURRENCY, else CONCURRENCY."""
    return env_number("WCT_APP_CONCURRENCY", CONCURRENCY, int)


def time_limit() -> float:
    """Seconds one request may compute: WCT_APP_TIMEOUT, else TIME_LIMIT."""
    return env_number("WCT_APP_TIMEOUT", TIME_LIMIT)


def precision() -> bool | str:
    """``wct.load(half=...)`` for WCT_APP_PRECISION: float32, half or auto (the default: half where it is fast)."""
    raw = os.environ.get("WCT_APP_PRECISION", "").strip() or "auto"
    if raw not in wct.PRECISIONS:
        raise wct.InputError(f"WCT_APP_PRECISION must be one of {', '.join(wct.PRECISIONS)}, got {raw!r}")
    return wct.PRECISIONS[raw]


def model_name() -> str:
    """The model to start with: DEFAULT_MODEL when its weights are installed, else the first that is."""
    installed = wct.available_models()
    return DEFAULT_MODEL if DEFAULT_MODEL in installed or not installed else installed[0]


def launch_kwargs() -> dict[str, Any]:
    """demo.launch's server limits, as a new dict each time (Gradio stores into app_kwargs)."""
    too_big = f"the request body is over the limit of {MAX_BODY_BYTES / 2**20:.0f} MB (images: {MAX_UPLOAD_BYTES >> 20} MB)"
    return {
        "max_file_size": MAX_UPLOAD_BYTES,  # upload cap; image dimensions are capped by wct.MAX_PIXELS
        "allowed_paths": [str(ASSETS)],  # the examples
        "footer_links": ["api", "gradio"],
        "app_kwargs": {"middleware": [Middleware(BodyLimit, limit=MAX_BODY_BYTES, message=too_big)]},
    }
