"""The files a request may open (Gradio's uploads and the examples, nothing else) and the folders its results go to."""

from __future__ import annotations

import base64
import os
import shutil
import time
import uuid
from pathlib import Path
from typing import Any

import gradio.utils

import wct

from . import limits

__all__ = ["Files"]


class Files:
    """Uploads in, results out. Gradio keeps uploads in its cache folder (GRADIO_TEMP_DIR, default <tmp>/gradio): the
    only files a request may name, besides the examples. Results go there too, so Gradio serves them without a copy
    and its delete_cache removes them after ``ttl`` seconds; our own folders are swept on the same schedule."""

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self.cache_dir = Path(os.path.realpath(gradio.utils.get_upload_folder()))
        self.readable = (self.cache_dir, Path(os.path.realpath(limits.ASSETS)))
        self.out_root = self.cache_dir / "wct-outputs"
        self._swept = 0.0

    def local(self, path: Any, what: str) -> str:
        """``path`` resolved, if it lies in Gradio's cache (an upload) or the examples; any other file is refused
        before it is touched, so a client cannot make the app open (or probe) server files."""
        try:
            real = Path(os.path.realpath(path))
        except (ValueError, OSError):  # a NUL byte, a loop of links
            real = None
        if real is None or not any(real.is_relative_to(root) for root in self.readable):
            raise wct.InputError(f"{what}: only images uploaded to this app are accepted, not server file paths")
        return str(real)

    def image(self, value: Any, what: str) -> str | None:
        """The local file behind an image input (None when empty). Events run with preprocess=False, so this is
        Gradio's FileData dict of an uploaded (cached) file and the engine itself opens it: its messages reach the
        user. Gradio refuses most foreign paths before the handler, but not a dict without its "meta" tag, hence
        ``local``. A data: URL (API clients may send one) is written to a file first."""
        if value is None or value == "":
            return None
        if isinstance(value, dict):
            if value.get("path"):
                return self.local(value["path"], what)
            head, _, body = str(value.get("url") or "").partition(",")
            if head.startswith("data:") and body:
                return self._inline(head, body, what)
            raise wct.InputError(f"{what}: the image arrived without a file; upload it again")
        if isinstance(value, (str, os.PathLike)):
            return self.local(value, what)
        raise wct.InputError(f"{what}: expected an image file, got {type(value).__name__}")

    def _inline(self, head: str, body: str, what: str) -> str:
        """A data: URL's image, written into a new folder of ours; capped like an upload."""
        if len(body) > limits.MAX_UPLOAD_BYTES * 4 // 3 + 4:
            raise wct.ImageError(f"{what}: the image is over the upload limit of {limits.MAX_UPLOAD_BYTES >> 20} MB")
        try:
            data = base64.b64decode(body) if head.endswith(";base64") else body.encode()
        except ValueError:
            raise wct.ImageError(f"{what}: the image data URL is not valid base64") from None
        path = self.outdir() / "pasted-image"
        path.write_bytes(data)
        return str(path)

    def outdir(self) -> Path:
        """A new folder for one request's files; folders older than ``ttl`` go (at most every ttl/4 s; Gradio's
        delete_cache removes the files it served on the same schedule)."""
        now = time.time()
        if now - self._swept > self.ttl / 4 and self.out_root.is_dir():
            self._swept = now
            for old in self.out_root.iterdir():
                try:
                    if now - old.stat().st_mtime > self.ttl:
                        shutil.rmtree(old, ignore_errors=True)
                except OSError:
                    pass
        out = self.out_root / uuid.uuid4().hex
        out.mkdir(parents=True)
        return out
