"""The public surface is exactly wct.__all__, and every error is a WCTError and its built-in."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import wct


def test_exported_members_are_exactly_all():
    public = {name for name in dir(wct) if not name.startswith("_")}
    modules = {p.stem for p in Path(wct.__file__).parent.glob("*.py")} - {"__init__", "__main__"}  # the package's own files
    assert public - modules == set(wct.__all__) - {"__version__"}
    for name in wct.__all__:
        assert getattr(wct, name) is not None


def test_error_hierarchy():
    assert issubclass(wct.InputError, (wct.WCTError, ValueError))
    assert issubclass(wct.ImageError, wct.InputError) and issubclass(wct.StyleFileError, wct.InputError)
    assert issubclass(wct.WeightsError, (wct.WCTError, RuntimeError))
    assert issubclass(wct.OutputError, (wct.WCTError, OSError))


def test_the_version_is_newer_than_every_release_in_the_changelog():
    """A valid PEP 440 version that moves: above every release CHANGELOG.md lists, and a development version
    only while the changelog has an Unreleased section."""
    import re

    from packaging.version import Version

    version = Version(wct.__version__)
    changelog = (Path(__file__).resolve().parent.parent / "CHANGELOG.md").read_text()
    releases = [Version(v) for v in re.findall(r"^## \[(\d[^\]]*)\]", changelog, flags=re.M)]
    assert releases
    if version.is_devrelease or version.is_prerelease:  # on the way to the next release
        assert version > max(releases) and "## [Unreleased]" in changelog
    else:  # a release: the newest entry is its own
        assert version == max(releases)


def test_importing_wct_first_turns_on_huge_pages_unless_told_otherwise():
    probe = "import os, wct; print(os.environ['THP_MEM_ALLOC_ENABLE'])"
    env = {k: v for k, v in os.environ.items() if k != "THP_MEM_ALLOC_ENABLE"}
    assert (
        subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True).stdout.strip() == "1"
    )
    env["THP_MEM_ALLOC_ENABLE"] = "0"
    assert (
        subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True).stdout.strip() == "0"
    )
