"""The public surface is exactly wct.__all__, and every error is a WCTError and its built-in."""

from __future__ import annotations

import os
import subprocess
import sys

import wct


def test_exported_members_are_exactly_all():
    public = {name for name in dir(wct) if not name.startswith("_")}
    modules = {"api", "cli", "color", "decoder", "distributed", "encoder", "errors", "image", "metrics", "spatial", "style", "temporal", "tiling", "train", "transform", "video", "weights", "winograd", "convolution", "space"}
    assert public - modules == set(wct.__all__) - {"__version__"}
    for name in wct.__all__:
        assert getattr(wct, name) is not None


def test_error_hierarchy():
    assert issubclass(wct.InputError, (wct.WCTError, ValueError))
    assert issubclass(wct.ImageError, wct.InputError) and issubclass(wct.StyleFileError, wct.InputError)
    assert issubclass(wct.WeightsError, (wct.WCTError, RuntimeError))
    assert issubclass(wct.OutputError, (wct.WCTError, OSError))


def test_version():
    assert wct.__version__.count(".") == 2


def test_importing_wct_first_turns_on_huge_pages_unless_told_otherwise():
    probe = "import os, wct; print(os.environ['THP_MEM_ALLOC_ENABLE'])"
    env = {k: v for k, v in os.environ.items() if k != "THP_MEM_ALLOC_ENABLE"}
    assert subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True).stdout.strip() == "1"
    env["THP_MEM_ALLOC_ENABLE"] = "0"
    assert subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True).stdout.strip() == "0"
