"""The app's models: the one it starts with, and the others of ``wct.available_models()``, loaded on first use. Each has
its own style cache: a Style is measured by one model's encoder, and only that model takes it."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import wct

from .form import MODEL_LABELS, choice
from .levels import deepest_first
from .styles import StyleCache

__all__ = ["Engine", "Models"]


@dataclass(frozen=True)
class Engine:
    """One model with what the app keeps beside it: its levels that have decoders (deepest first) and its styles."""

    model: wct.Model
    available: list[str]
    styles: StyleCache

    @classmethod
    def of(cls, model: wct.Model) -> Engine:
        """``model`` with an empty style cache over all its levels."""
        available = deepest_first(model.available_levels())
        return cls(model, available, StyleCache(model, available))


class Models:
    """The models a request may choose by name (``model`` of the form); None or "" is the one the app started with."""

    def __init__(self, model: wct.Model, names: tuple[str, ...] | None = None) -> None:
        installed = wct.available_models() if names is None else names
        self.default = model.name
        self.names = [m for m in wct.MODELS if m in installed or m == model.name]
        self._engines = {model.name: Engine.of(model)}
        self._lock = threading.Lock()

    def choices(self) -> list[tuple[str, str]]:
        """(label, name) for the model choice, the default first."""
        ordered = [self.default, *(m for m in self.names if m != self.default)]
        return [(MODEL_LABELS.get(m, m), m) for m in ordered]

    def get(self, name: Any = None) -> Engine:
        """The engine for ``name``, loaded on its first use (same device and precision as the default)."""
        name = self.default if name in (None, "") else choice(name, self.names, "the model")
        with self._lock:
            if name not in self._engines:
                base = self._engines[self.default].model
                self._engines[name] = Engine.of(wct.load(model=name, device=base.device, half=base.half))
            return self._engines[name]

    def loaded(self, name: str) -> bool:
        """Whether ``name`` is loaded already."""
        return name in self._engines
