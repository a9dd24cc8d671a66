"""What every training run is configured with (``RunConfig``), and command-line options from a config dataclass: one
``--option`` per field, its default the field's."""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

__all__ = ["RunConfig", "add_config_arguments", "config_from_namespace"]


@dataclass(kw_only=True)
class RunConfig:
    """The settings every resumable training run has: data, schedule, checkpoints, evaluation, device."""

    images: str  # folder of training photos (its held-out split is measured, never trained on)
    out: str = ""  # checkpoint folder ("" = the user cache)
    crop: int = 128
    batch: int = 8
    lr: float = 1e-3
    lr_min: float = 5e-5
    warmup: int = 200
    steps: int = 4000
    eval_every: float = 5.0  # minutes
    ckpt_every: float = 4.0  # minutes
    max_minutes: float = 0.0  # 0 = no limit for this run
    seed: int = 0
    threads: int = 0
    val_count: int = 16
    eval_size: int = 384
    bf16: bool = False  # forward and backward under bfloat16 autocast; weights, optimiser and evaluation stay float32
    device: str = "cpu"

    def start(self, folder: Path) -> tuple[list, list]:
        """Set the threads and the seed, make ``folder``, and load the photos: (training images, held-out ones used)."""
        import torch

        from .data import load_rgb, split_images

        if self.threads:
            torch.set_num_threads(self.threads)
        torch.manual_seed(self.seed)
        folder.mkdir(parents=True, exist_ok=True)
        train_paths, held_paths = split_images(self.images)
        t0 = time.time()
        train, held = [load_rgb(p) for p in train_paths], [load_rgb(p) for p in held_paths[: self.val_count]]
        print(f"{len(train)} training images, {len(held_paths)} held out ({len(held)} used), loaded in "
              f"{time.time() - t0:.0f}s", flush=True)  # fmt: skip
        return train, held


def _flag_value(text: str) -> bool:
    return text.lower() in ("1", "true", "yes")


def add_config_arguments(parser: argparse.ArgumentParser, config: type, helps: dict[str, str], required: tuple[str, ...]) -> None:
    """Add one --option per field of the dataclass ``config`` (``required`` ones without a default)."""
    for f in fields(config):
        if f.name == "extra":
            continue
        flag = "--" + f.name.replace("_", "-")
        kind = {"int": int, "float": float, "str": str, "bool": _flag_value}.get(str(f.type), str)
        need = f.name in required
        parser.add_argument(flag, type=kind, required=need, default=None if need else f.default, help=helps.get(f.name))


def config_from_namespace(config: type, args: argparse.Namespace) -> Any:
    """The dataclass ``config`` from parsed arguments."""
    return config(**{f.name: getattr(args, f.name) for f in fields(config) if f.name != "extra"})
