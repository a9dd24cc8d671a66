"""A video run's work folder (``.OUT.wct-frames/``): finished frames as PNG at the working size, the temporal state
after the last finished batch, and the job's settings; a run started again with the same settings resumes after the
last finished batch, with other settings it starts over."""

from __future__ import annotations

import json
import shutil
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from .atomic import atomic_write

__all__ = ["FrameStore"]


class FrameStore:
    """The work folder of one output video: finished frames (PNG), temporal state, the job's settings."""

    def __init__(self, output: Path, job: dict) -> None:
        self.folder = output.parent / f".{output.name}.wct-frames"
        self.job = job

    def open(self) -> int:
        """Prepare the folder; returns how many frames are finished (0 for a new job or changed settings)."""
        jobfile = self.folder / "job.json"
        if self.folder.is_dir() and jobfile.is_file():
            try:
                same = json.loads(jobfile.read_text()) == self.job
            except (OSError, ValueError):
                same = False
            if same:
                done = self.done()
                if all(self.frame_path(i).is_file() for i in range(done)):
                    return done
            warnings.warn(f"{self.folder} holds frames of a run with other settings (or damaged): starting over", stacklevel=3)
        if self.folder.exists():
            shutil.rmtree(self.folder)
        self.folder.mkdir(parents=True)
        atomic_write(jobfile, lambda tmp: Path(tmp).write_text(json.dumps(self.job, indent=1)), keep_suffix=True)
        return 0

    def frame_path(self, index: int) -> Path:
        return self.folder / f"{index:07d}.png"

    def frame(self, index: int) -> np.ndarray:
        """A finished frame, HxWx3 uint8."""
        with Image.open(self.frame_path(index)) as im:
            return np.asarray(im.convert("RGB"))

    def done(self) -> int:
        """Frames finished, as recorded with the state."""
        return int(self._load_meta().get("done", 0))

    def _load_meta(self) -> dict:
        p = self.folder / "state.json"
        return json.loads(p.read_text()) if p.is_file() else {}

    def state(self) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        """The smoothed content statistics per level after the last finished frame."""
        from safetensors.torch import load_file

        p = self.folder / "state.safetensors"
        if not p.is_file():
            return {}
        t = load_file(p)
        return {k[5:]: (t[k], t["cov." + k[5:]]) for k in t if k.startswith("mean.")}

    def commit(self, start: int, frames: Sequence[np.ndarray], state: dict[str, tuple[torch.Tensor, torch.Tensor]]) -> None:
        """Write frames start.. (each atomically), then the state that says they are done."""
        from safetensors.torch import save_file

        for i, f in enumerate(frames):
            png = self.frame_path(start + i)
            atomic_write(png, lambda tmp, f=f: Image.fromarray(f).save(tmp, format="PNG"), keep_suffix=True)
        tensors = {}
        for lv, (m, c) in state.items():
            tensors[f"mean.{lv}"], tensors[f"cov.{lv}"] = m.detach().cpu().contiguous(), c.detach().cpu().contiguous()
        atomic_write(self.folder / "state.safetensors", lambda tmp: save_file(tensors, tmp), keep_suffix=True)
        done = json.dumps({"done": start + len(frames)})
        atomic_write(self.folder / "state.json", lambda tmp: Path(tmp).write_text(done), keep_suffix=True)

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)
