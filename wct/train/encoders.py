"""The encoder a decoder trains on: VGG-16 (the teacher), or the light model's distilled student."""

from __future__ import annotations

import hashlib
from pathlib import Path

from safetensors.torch import load_file

from ..encoder import LIGHT_DIVISOR, LIGHT_ID, Encoder, vgg16_cfg
from ..errors import InputError
from ..networks import light_encoder
from ..weights import light_dir

__all__ = ["training_encoder", "student_encoder"]


def training_encoder(model: str, weights: str = "") -> Encoder:
    """VGG-16 for ``model="vgg16"``; for "light" the student in ``weights`` (an exported file, or a distillation
    checkpoint folder), or the shipped one."""
    if model == "vgg16":
        if weights:
            raise InputError("--encoder is for --model light (the VGG-16 encoder's weights are pinned)")
        return Encoder()
    if not weights:
        return light_encoder(light_dir())[0]
    return student_encoder(Path(weights))


def student_encoder(path: Path) -> Encoder:
    """The student of an exported encoder file (``convs.*``) or of a distillation checkpoint folder (``student.convs.*``),
    with the id the engine gives it: LIGHT_ID@ the first 12 hex digits of the file's SHA-256."""
    file = path / "last.safetensors" if path.is_dir() else path
    if not file.is_file():
        raise InputError(f"--encoder {path}: no such file or distillation checkpoint folder")
    prefix = "student.convs." if path.is_dir() else "convs."
    state = {k[len(prefix) :]: v.float() for k, v in load_file(str(file)).items() if k.startswith(prefix)}
    digest = hashlib.sha256(file.read_bytes()).hexdigest()
    encoder = Encoder(load=False, cfg=vgg16_cfg(LIGHT_DIVISOR), id=f"{LIGHT_ID}@{digest[:12]}")
    encoder.convs.load_state_dict(state, strict=True)
    return encoder
