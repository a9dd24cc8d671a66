"""Shipping trained networks: float16 safetensors with their SHA-256 and measured quality in a MANIFEST.json.

``export_decoder`` ships a decoder (VGG-16's into ``decoders/``, the light model's into ``decoders/light/``, each
measured with its own encoder); ``export_student`` ships the light model's distilled encoder and its embeddings into
``decoders/light/``, whose id (LIGHT_ID@ the file's hash) its decoders then record.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from ..atomic import atomic_write
from ..encoder import LEVELS, LIGHT_DIVISOR, LIGHT_ID, Encoder, TapEmbedding, parse_level, tap_channels, vgg16_cfg
from ..weights import ENCODER_ID, safetensors_metadata
from .checkpoint import save_weights
from .data import load_rgb, split_images
from .decoder import evaluate
from .distill import explained
from .encoders import student_encoder

__all__ = ["export_decoder", "export_student"]


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _read(manifest_path: Path) -> dict:
    return json.loads(manifest_path.read_text()) if manifest_path.is_file() else {"decoders": []}


def _write(manifest_path: Path, manifest: dict) -> None:
    atomic_write(manifest_path, lambda tmp: tmp.write_text(json.dumps(manifest, indent=2) + "\n"))


def _init_sha256(folder: Path, info: dict[str, str]) -> str:
    """SHA-256 of the weights a run in ``folder`` started from ('' if it started from scratch or is unknown)."""
    if info.get("init_sha256"):
        return info["init_sha256"]
    last = folder / "last.safetensors"  # checkpoints from before init_sha256 was recorded: ask the run's config
    if not last.is_file():
        return ""
    meta = json.loads(safetensors_metadata(last).get("meta", "{}"))
    init = meta.get("init_sha256") or meta.get("config", {}).get("init_from", "")
    if init and len(init) != 64:
        init = _sha256(Path(init)) if Path(init).is_file() else ""
    return init


def _prior_training(init_sha: str, shipped: dict | None) -> tuple[int, int]:
    """(images, steps) already in the weights a run started from, when those are ``shipped`` (a manifest entry)."""
    if not shipped or not init_sha or init_sha != shipped.get("sha256"):
        return 0, 0
    return int(shipped.get("images_seen", 0)), int(shipped.get("steps", 0))


def _encoder_for(dest: Path, manifest: dict, trained_for: str) -> Encoder:
    """The encoder a decoder shipped into ``dest`` is measured with: VGG-16, or the light student the manifest ships
    (which must be the one the decoder was trained on)."""
    if trained_for == ENCODER_ID:
        return Encoder()
    entry = manifest.get("encoder")
    if entry is None or entry["id"] != trained_for:
        have = entry["id"] if entry else "none"
        raise ValueError(f"the decoder was trained for encoder {trained_for!r}, but {dest} ships {have!r}; export that "
                         "encoder first (export_student), or train on the shipped one")  # fmt: skip
    return student_encoder(dest / entry["file"])


def export_decoder(folder: Path, level: str, dest: Path, images: str, *, eval_count: int = 32, eval_size: int = 512) -> dict:
    """Write ``folder``/best.safetensors as float16 ``dest``/LEVEL.safetensors and record it in the manifest.

    The held-out PSNR/SSIM in the manifest are measured on the float16 weights as shipped, with the encoder the
    decoder was trained for.
    """
    from ..decoder import decoder_from_metadata

    level = parse_level(level)
    src = folder / "best.safetensors"
    info = safetensors_metadata(src)
    decoder = decoder_from_metadata(level, info)
    decoder.load_state_dict({k: v.half().float() for k, v in load_file(str(src)).items()}, strict=True)
    dest.mkdir(parents=True, exist_ok=True)
    manifest_path = dest / "MANIFEST.json"
    manifest = _read(manifest_path)
    encoder_id = info.get("encoder", ENCODER_ID)
    encoder = _encoder_for(dest, manifest, encoder_id)
    _, held = split_images(images)
    p, s = evaluate(encoder, decoder, [load_rgb(x) for x in held[:eval_count]], eval_size, "cpu")
    shipped = next((e for e in manifest["decoders"] if e["level"] == level), None)
    prior_images, prior_steps = _prior_training(_init_sha256(folder, info), shipped)
    out = dest / f"{level}.safetensors"
    save_weights(decoder, out, {"level": level, "encoder": encoder_id, "format": "wct-decoder-1",
                                **{k: v for k, v in info.items() if k in ("extra_convs", "stage_widths")}}, torch.float16)
    entry = {
        "level": level,
        "file": out.name,
        "encoder": encoder_id,
        "sha256": _sha256(out),
        "parameters": sum(p.numel() for p in decoder.parameters()),
        "images_seen": prior_images + int(info.get("images_seen", 0)),
        "steps": prior_steps + int(info.get("step", 0)),
        "heldout_psnr": round(p, 2),
        "heldout_ssim": round(s, 4),
        "heldout_protocol": f"{min(eval_count, len(held))} held-out photos, {eval_size} px long side, 8-bit output",
    }
    others = [e for e in manifest["decoders"] if e["level"] != level]
    manifest["decoders"] = sorted([*others, entry], key=lambda e: LEVELS.index(e["level"]))
    _write(manifest_path, manifest)
    return entry


def export_student(folder: Path, dest: Path, images: str, *, eval_count: int = 32, eval_size: int = 512) -> dict:
    """Ship the distillation checkpoint in ``folder`` as float16 ``dest``/encoder.safetensors (the student's ``convs.*``
    and the embeddings' ``embed.maps.*``) and record it as the manifest's "encoder", with the share of VGG-16's
    feature variance it explains per tap on held-out photos (measured on the float16 weights as shipped). The
    light model's decoders are trained for this id; shipping a new encoder leaves the manifest without decoders."""
    tensors = load_file(str(folder / "last.safetensors"))
    meta = json.loads(safetensors_metadata(folder / "last.safetensors")["meta"])
    state = {k[len("student.") :]: v for k, v in tensors.items() if k.startswith("student.convs.")}
    state |= {k: v for k, v in tensors.items() if k.startswith("embed.maps.")}
    dest.mkdir(parents=True, exist_ok=True)
    out = dest / "encoder.safetensors"
    half = {k: v.detach().to(torch.float16).contiguous() for k, v in state.items()}
    atomic_write(out, lambda tmp: save_file(half, str(tmp), metadata={"format": "wct-light-encoder-1", "divisor": "4"}))
    digest = _sha256(out)
    student = student_encoder(out)
    embed = TapEmbedding(student.channels, tap_channels(vgg16_cfg(1)))
    embed.load_state_dict({k[len("embed.") :]: v.float() for k, v in half.items() if k.startswith("embed.")}, strict=True)
    _, held = split_images(images)
    r2 = explained(student, embed, Encoder(), [load_rgb(x) for x in held[:eval_count]], eval_size, "cpu")
    manifest_path = dest / "MANIFEST.json"
    manifest = _read(manifest_path)
    entry = {"file": out.name, "id": f"{LIGHT_ID}@{digest[:12]}", "sha256": digest, "divisor": LIGHT_DIVISOR,
             "parameters": sum(v.numel() for k, v in half.items() if k.startswith("convs.")),
             "embedding_parameters": sum(v.numel() for k, v in half.items() if k.startswith("embed.")),
             "steps": meta["step"], "images_seen": meta["images_seen"], "heldout_r2": r2,
             "heldout_protocol": f"{min(eval_count, len(held))} held-out photos, {eval_size} px long side: the share of "
                                 "VGG-16's per-tap feature variance the embedded student explains"}  # fmt: skip
    keep = [e for e in manifest.get("decoders", []) if e.get("encoder") == entry["id"]]
    manifest = {"encoder": entry, "decoders": keep}
    _write(manifest_path, manifest)
    return entry
