"""Resumable checkpoints as safetensors + JSON (nothing is ever pickled): modules, optimiser, data RNG, progress."""

from __future__ import annotations

import json
import math
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from ..atomic import atomic_write
from ..weights import safetensors_metadata

__all__ = ["save_checkpoint", "load_checkpoint", "save_weights", "log_record", "lr_at"]

CHECKPOINT = "last.safetensors"


def save_checkpoint(folder: Path, modules: dict[str, nn.Module], opt: torch.optim.Optimizer, gen: torch.Generator,
                    meta: dict, metadata: dict[str, str] | None = None) -> None:
    """``folder``/last.safetensors: each module's state under its prefix, the optimiser's state, the RNG and ``meta``."""
    tensors = {f"{prefix}.{k}": v.detach().cpu().contiguous() for prefix, m in modules.items() for k, v in m.state_dict().items()}
    state = opt.state_dict()
    for idx, st in state["state"].items():
        for k, v in st.items():
            tensors[f"opt.{idx}.{k}"] = torch.as_tensor(v).detach().cpu().contiguous()
    tensors["rng"] = gen.get_state()
    meta = dict(meta, param_groups=state["param_groups"])
    info = {"meta": json.dumps(meta), **(metadata or {})}
    atomic_write(folder / CHECKPOINT, lambda tmp: save_file(tensors, str(tmp), metadata=info))


def load_checkpoint(folder: Path, modules: dict[str, nn.Module], opt: torch.optim.Optimizer, gen: torch.Generator,
                    optional: tuple[str, ...] = ()) -> dict:
    """Restore what ``save_checkpoint`` wrote into ``modules``, ``opt`` and ``gen``; returns the saved ``meta``.
    A prefix in ``optional`` that the file lacks leaves its module as it is."""
    path = folder / CHECKPOINT
    tensors = load_file(str(path))
    meta = json.loads(safetensors_metadata(path)["meta"])
    for prefix, module in modules.items():
        state = {k[len(prefix) + 1 :]: v for k, v in tensors.items() if k.startswith(prefix + ".")}
        if state or prefix not in optional:
            module.load_state_dict(state, strict=True)
    opt_state: dict = {"state": {}, "param_groups": meta.pop("param_groups")}
    for k, v in tensors.items():
        if k.startswith("opt."):
            _, idx, name = k.split(".", 2)
            opt_state["state"].setdefault(int(idx), {})[name] = v
    opt.load_state_dict(opt_state)
    gen.set_state(tensors["rng"])
    return meta


def save_weights(module: nn.Module, path: Path, metadata: dict, dtype: torch.dtype = torch.float32) -> None:
    """A module's state as a safetensors file with string ``metadata`` (float16 for shipping)."""
    tensors = {k: v.detach().cpu().to(dtype).contiguous() for k, v in module.state_dict().items()}
    atomic_write(path, lambda tmp: save_file(tensors, str(tmp), metadata={k: str(v) for k, v in metadata.items()}))


def log_record(folder: Path, record: dict) -> None:
    """Append ``record`` to ``folder``/log.jsonl and print it."""
    with open(folder / "log.jsonl", "a") as f:
        f.write(json.dumps(record) + "\n")
    print(json.dumps(record), flush=True)


def lr_at(step: int, lr: float, lr_min: float, warmup: int, steps: int) -> float:
    """Linear warm-up over ``warmup`` steps, then a cosine from ``lr`` to ``lr_min`` at ``steps``."""
    if step < warmup:
        return lr * (step + 1) / warmup
    t = min(1.0, (step - warmup) / max(1, steps - warmup))
    return lr_min + 0.5 * (lr - lr_min) * (1 + math.cos(math.pi * t))
