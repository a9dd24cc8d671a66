"""Style statistics per uploaded style image, computed once and reused: moving a mix slider only re-runs the photo."""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Iterable
from pathlib import Path

import wct

from .limits import STYLE_CACHE_ENTRIES, STYLE_SIZE

__all__ = ["StyleCache"]


class StyleCache:
    """Style statistics per style image, keyed by the SHA-256 of its bytes and the style size (LRU)."""

    def __init__(self, model: wct.Model, levels: Iterable[str], capacity: int = STYLE_CACHE_ENTRIES) -> None:
        self.model, self.levels, self.capacity = model, tuple(levels), capacity
        self._items: OrderedDict[tuple[str, int], wct.Style] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def get(self, path: str, style_size: int = STYLE_SIZE) -> wct.Style:
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            raise wct.ImageError(f"{Path(path).name} cannot be read ({exc.strerror or exc})") from None
        key = (hashlib.sha256(data).hexdigest(), style_size)
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                self.hits += 1
                return self._items[key]
        style = self.model.compute_style(path, levels=self.levels, style_size=style_size)  # all offered levels, once
        with self._lock:
            self.misses += 1
            self._items[key] = style
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)
        return style
