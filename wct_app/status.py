"""What the app tells the user in words: the header, the mix as percentages, the status line after a run."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from PIL import Image

import wct

from .levels import COARSE
from .plan import Plan

__all__ = ["describe", "header", "shares_line", "shares_text", "status_line"]

TITLE = "wct: style transfer by whitening and coloring"


def header(model: wct.Model, available: Sequence[str], presets: Mapping[str, Sequence[str]]) -> str:
    """The page's header (Markdown): what the app does, where and in which precision the networks run, which levels."""
    device = "GPU" if model.device.type == "cuda" else "CPU"
    where = f"the {device}, in float32" if model.precision == "float32" else f"the {device} in {model.precision}"
    return (
        f"# {TITLE}\n"
        "Restyle a photo after a painting, or after a mix of up to four. Click an example, or add your own photo and "
        f"style and press **Stylize**. The networks run on {where}. The default level preset is {next(iter(presets))}. "
        f"Decoders are installed for {_listed(available)}."
    )


def _listed(items: Sequence[str]) -> str:
    """'a', 'a and b', 'a, b and c'."""
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def shares_text(slots: list[int], weights: list[float]) -> str:
    """'style 1 75 % · style 3 25 %': the slots in use and their weights as percentages."""
    total = sum(weights) or 1.0
    return " · ".join(f"style {i} {int(100 * w / total + 0.5)} %" for i, w in zip(slots, weights))


def shares_line(styles: Sequence[Any], weights: Sequence[Any]) -> str:
    """The line under the style images: the mix of the slots that have an image, as the sliders set it."""
    used = [i for i, s in enumerate(styles, 1) if s]
    if not used:
        return "Mix: add at least one style image."
    shares = [max(0.0, float(weights[i - 1] or 0)) for i in used]
    if sum(shares) <= 0:
        return "Mix: all weights are zero; give one style a positive weight."
    return "Mix: " + shares_text(used, shares)


def describe(plan: Plan) -> str:
    """The status line's account of what was mixed where, and how."""
    parts = []
    free = [(slot, w) for slot, _, w in plan.used if slot not in plan.masks]
    if plan.masks:
        parts.append("regions: " + ", ".join(f"style {slot}" for slot in plan.masks))
        if free:
            parts.append("rest: " + shares_text([s for s, _ in free], [float(w) for _, w in free]))
    else:
        weights = plan.mix[COARSE[0]] if isinstance(plan.mix, dict) else plan.mix
        parts.append(shares_text([s for s, _, _ in plan.used], [float(w) for w in weights]))
    if isinstance(plan.mix, dict):
        index = [i for i, (slot, _, _) in enumerate(plan.used) if slot not in plan.masks]
        fine = shares_text([plan.used[i][0] for i in index], [float(plan.mix["default"][i]) for i in index])
        parts.append(f"shallow levels: α {float(plan.alpha['default']):.2f}" + (f", {fine}" if index else ""))
    if plan.preserve:
        parts.append(f"colours kept: {plan.preserve}")
    if plan.blend != "linear" and len(plan.used) > 1:
        parts.append(f"{plan.blend} blend")
    if plan.transform != wct.DEFAULT_TRANSFORM:
        parts.append(f"{plan.transform} transform")
    if plan.refine:
        parts.append(f"refined in {plan.refine} step{'s' * (plan.refine > 1)}")
    if plan.photo:
        parts.append("photo-realistic")
    return " · ".join(parts)


def status_line(image: Image.Image, plan: Plan, seconds: float) -> str:
    """'Done in 1.2 s · 512×384 px · α 0.60 · relu4_1, ... · style 1 25 % · style 2 75 %'."""
    alpha = plan.alpha[COARSE[0]] if isinstance(plan.alpha, dict) else plan.alpha
    return (
        f"Done in {seconds:.1f} s · {image.width}×{image.height} px · α {float(alpha):.2f} · "
        f"{', '.join(plan.levels)} · {describe(plan)}"
    )
