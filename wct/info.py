"""``wct info``: versions, devices, the cache, and each model's shipped networks as their manifests record them."""

from __future__ import annotations

import torch

from . import __version__
from .networks import half_dtype, half_is_fast, resolve_device
from .weights import cache_dir, decoders_dir, light_dir, read_manifest

__all__ = ["report"]


def report() -> str:
    """The lines ``wct info`` prints."""
    device = resolve_device(None)
    cuda = torch.cuda.get_device_name(device) if device.type == "cuda" else "none"
    half = str(half_dtype(device)).removeprefix("torch.")
    fast = "fast here: --precision auto uses it" if half_is_fast(device) else "not faster here: --precision auto keeps float32"
    lines = [
        f"wct {__version__}, torch {torch.__version__}",
        f"devices:  CPU ({torch.backends.cpu.get_cpu_capability()} kernels, {torch.get_num_threads()} threads), CUDA: {cuda}",
        f"half:     {half} (--precision half), {fast}",
        f"cache:    {cache_dir()}",
    ]
    for name, folder in (("vgg16", decoders_dir()), ("light", light_dir())):
        entries = read_manifest(folder)
        lines.append(f"{name + ':':9} {folder}" + ("" if entries else " (no decoders)"))
        lines += [f"  {lv}: {e.get('heldout_psnr', '?')} dB PSNR (held out), {e.get('images_seen', '?')} images seen"
                  for lv, e in entries.items()]  # fmt: skip
    return "\n".join(lines)
