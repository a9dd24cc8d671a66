"""The public surface is exactly wct.__all__, and every error is a WCTError and its built-in."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import wct


def test_exported_members_are_exactly_all():
    public = {name for name in dir(wct) if not name.startswith("_")}
    here = Path(wct.__file__).parent
    modules = {p.stem for p in here.glob("*.py")} - {"__init__", "__main__"}  # the package's own files and packages
    modules |= {p.name for p in here.iterdir() if (p / "__init__.py").is_file()}
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


def test_importing_wct_changes_nothing_outside_it():
    """No environment variable, warning printer or PyTorch setting changes when wct and all its modules are imported
    and its names used; PyTorch itself is loaded only when a name needs it."""
    probe = """
import os, sys, warnings
import wct
assert "torch" not in sys.modules, "importing wct loaded torch"
import torch, torch._dynamo  # (the host's own use of torch may set torch's variables: taken before wct's names)
env, show = dict(os.environ), warnings.showwarning
limit, threads, grad = torch._dynamo.config.recompile_limit, torch.get_num_threads(), torch.is_grad_enabled()
for name in wct.__all__:
    getattr(wct, name)
import wct.cli, wct.video, wct.train, wct.convolution, wct.networks
assert dict(os.environ) == env, set(os.environ.items()) ^ set(env.items())
assert warnings.showwarning is show
assert (torch._dynamo.config.recompile_limit, torch.get_num_threads(), torch.is_grad_enabled()) == (limit, threads, grad)
print("ok")
"""
    env = {k: v for k, v in os.environ.items() if k != "THP_MEM_ALLOC_ENABLE"}
    run = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True)
    assert run.stdout.strip() == "ok", run.stderr


def test_the_wct_command_turns_on_huge_pages_for_its_own_process_unless_told_otherwise():
    probe = "import os\nfrom wct.__main__ import main\ntry:\n    main(['--version'])\nexcept SystemExit:\n    pass\n" \
            "print(os.environ['THP_MEM_ALLOC_ENABLE'])"  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k != "THP_MEM_ALLOC_ENABLE"}
    out = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "1"
    env["THP_MEM_ALLOC_ENABLE"] = "0"
    out = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "0"


def test_the_cli_restores_the_warning_printer():
    import warnings

    from wct.cli import main

    before = warnings.showwarning
    assert main(["info"]) == 0
    assert warnings.showwarning is before
