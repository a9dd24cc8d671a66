"""Atomic file writes: a file appears complete under its name, or not at all."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from .errors import OutputError

__all__ = ["atomic_write"]


def atomic_write(
    path: str | os.PathLike,
    write: Callable[[Path], object],
    *,
    overwrite: bool = True,
    keep_suffix: bool = False,
    mode: int = 0o644,
) -> Path:
    """Write ``path`` through a temporary file in its folder, renamed to ``path`` once ``write`` returns.

    Args:
        path: the file to write; its folder must exist.
        write: called once with the temporary file's path, writes the whole content there.
        overwrite: replace an existing ``path``; when False, an existing file is kept and OutputError raised
            (before ``write`` runs, and again at the rename, which never replaces a file that appeared meanwhile
            where the file system has hard links).
        keep_suffix: end the temporary name with ``path``'s suffix (``.NAME.XXXX.part.mp4``), for writers that
            choose the format from the extension; else it ends in ``.part``.
        mode: the permission bits of the written file.
    Returns:
        ``path`` as a Path.
    Raises:
        OutputError when ``path`` exists and ``overwrite`` is False; whatever ``write`` or the file system raises.
        On any failure, KeyboardInterrupt included, the temporary file is removed and ``path`` is left as it was.
    """
    out = Path(path)
    if not overwrite and out.exists():
        raise OutputError(f"{out} already exists; pass --overwrite (overwrite=True) to replace it")
    fd, name = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".part" + (out.suffix if keep_suffix else ""))
    os.close(fd)
    tmp = Path(name)
    try:
        write(tmp)
        os.chmod(tmp, mode)
        if overwrite:
            os.replace(tmp, out)
        else:
            _link_new(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return out


def _link_new(tmp: Path, out: Path) -> None:
    """Give ``tmp``'s content the name ``out`` unless ``out`` exists (a hard link fails on an existing name)."""
    try:
        os.link(tmp, out)
    except FileExistsError:
        raise OutputError(f"{out} already exists; pass --overwrite (overwrite=True) to replace it") from None
    except OSError:  # no hard links here (some network and FAT file systems): check, then rename
        if out.exists():
            raise OutputError(f"{out} already exists; pass --overwrite (overwrite=True) to replace it") from None
        os.replace(tmp, out)
