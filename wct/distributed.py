"""Scale-out: the folder job on a Ray cluster (Ray Data ``map_batches`` over actors that each load the model once).

Install with ``pip install 'wct[ray]'`` on the driver and on every node. The nodes read the input images
by path (a shared file system, or a single machine), stylize them with ``Model.stylize`` exactly as the
single-process path does, and send back lossless PNG bytes; the driver writes every output atomically,
so the result is the same file as the single-process run's, and an interrupted job resumes like one.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from .errors import InputError, WCTError
from .extras import require
from .options import Options

__all__ = ["connect", "stylize_on_ray", "Outcome"]


def connect(address: str, *, num_cpus: int | None = None, num_gpus: int | None = None) -> bool:
    """Join the cluster at ``address`` ("auto", "ray://host:10001", "host:6379"), or start one on this machine
    for "local" (limited to ``num_cpus``/``num_gpus``). Returns True when this call started Ray (shut it down after)."""
    ray = require("ray.data")
    if ray.is_initialized():
        return False
    kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "configure_logging": False}
    try:
        if address == "local":
            ray.init(address="local", num_cpus=num_cpus, num_gpus=num_gpus, **kwargs)
        else:
            ray.init(address=address, **kwargs)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else "no answer"
        raise InputError(
            f"cannot reach a Ray cluster at {address!r} ({first}); fix: start one with `ray start --head`, "
            "pass its address (host:6379 or ray://host:10001), or use --ray local"
        ) from None
    return True


class _Stylizer:
    """A Ray actor: loads the model once, then stylizes the batches of paths it is given."""

    def __init__(self, style, options, device: str | None, threads: int, half: bool | str = False,
                 model: str = "vgg16") -> None:  # fmt: skip
        import torch

        from .api import load

        torch.set_num_threads(threads)  # float reductions depend on it: the same count gives the same pixels
        self.model = load(model=model, device=device, half=half)
        self.style = _on(style, self.model.device)
        self.options = Options.make(options)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        pngs, errors = [], []
        for src in batch["src"]:
            try:
                img = self.model.stylize(str(src), self.style, self.options)
                buf = io.BytesIO()
                img.save(buf, format="PNG")
                pngs.append(buf.getvalue())
                errors.append("")
            except WCTError as exc:
                pngs.append(b"")
                errors.append(str(exc) or "refused")
        return {"index": batch["index"], "png": np.array(pngs, dtype=object), "error": np.array(errors, dtype=object)}


@dataclass(frozen=True)
class Outcome:
    """One input's result: the stylized image, or why it failed."""

    index: int
    image: Image.Image | None
    error: str


def _on(style, device):
    """A Style (or each of a list) on ``device``; images as they are."""
    if isinstance(style, (list, tuple)):
        return [_on(s, device) for s in style]
    return style.to(device) if hasattr(style, "to") else style


def stylize_on_ray(
    sources: Sequence[str | Path],
    style,
    options,
    *,
    model: str = "vgg16",
    workers: int = 1,
    cpus_per_worker: float = 1.0,
    gpus_per_worker: float = 0.0,
    batch_size: int = 8,
    threads: int | None = None,
    half: bool | str = False,
) -> Iterator[Outcome]:
    """Stylize ``sources`` on the connected Ray cluster with ``Model.stylize(src, style, options)`` (``options``: a
    ``wct.Options``; ``model``: "vgg16" or "light").

    ``workers`` actors each load the model once (on a GPU when ``gpus_per_worker`` > 0) and take
    ``batch_size`` paths at a time, with ``threads`` torch threads (default: ``cpus_per_worker``; a run with
    as many threads as the single-process one gives the same pixels; ``half`` as in ``wct.load``). Yields one
    Outcome per source as results stream in (any order).
    """
    from .checks import parse_half, parse_model

    ray = require("ray.data")
    for name, value, low in (("workers", workers, 1), ("batch_size", batch_size, 1)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise InputError(f"{name} must be a whole number >= {low}, got {value!r}")
    if not ray.is_initialized():
        raise InputError("Ray is not connected; call wct.distributed.connect(address) first")
    if not sources:
        return
    device = "cuda" if gpus_per_worker > 0 else "cpu"
    threads = max(1, round(cpus_per_worker)) if threads is None else threads
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False  # the caller shows its own
    logging.getLogger("ray.data").setLevel(logging.ERROR)  # not Ray Data's plan and timing lines between the bar's
    ds = ray.data.from_items([{"index": i, "src": str(s)} for i, s in enumerate(sources)])
    ds = ds.map_batches(
        _Stylizer,
        fn_constructor_kwargs={"style": _on(style, "cpu"), "options": options, "device": device, "threads": threads,
                               "half": parse_half(half), "model": parse_model(model)},
        batch_size=batch_size,
        batch_format="numpy",
        compute=ray.data.ActorPoolStrategy(size=workers),
        num_cpus=cpus_per_worker,
        num_gpus=gpus_per_worker,
    )
    for row in ds.iter_rows():
        png, error = row["png"], str(row["error"])
        image = None
        if not error:
            with Image.open(io.BytesIO(png)) as im:
                image = im.convert("RGB")
        yield Outcome(int(row["index"]), image, error)
