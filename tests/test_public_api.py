"""The public surface is exactly wct.__all__, and every error is a WCTError and its built-in."""

from __future__ import annotations

import wct


def test_exported_members_are_exactly_all():
    public = {name for name in dir(wct) if not name.startswith("_")}
    modules = {"api", "cli", "color", "decoder", "distributed", "encoder", "errors", "image", "metrics", "spatial", "style", "temporal", "tiling", "train", "transform", "video", "weights", "winograd"}
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
