"""A request's form values -> a Plan for the engine: files resolved, slots matched, the mix and strength per level.

What only the app knows is checked here: a content and at least one style image, masks and strokes for slots that
have a style, the output size and the refinement steps within the app's limits, levels it offers, radio values among
the radio's choices.
Everything the engine knows (alpha, weights, images, masks) is the engine's to refuse, with its own message.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import wct

from .files import Files
from .form import BLENDS, PRESERVE, TRANSFORMS, Job, choice
from .levels import COARSE, deepest_first
from .limits import MAX_REFINE_STEPS, MIN_SIZE
from .masks import PAINT, combined, strokes

__all__ = ["Plan", "make_plan"]


@dataclass(frozen=True)
class Plan:
    """A request ready for the engine: files resolved, levels deepest first, the mix and strength per level where asked."""

    content: str
    used: list[tuple[int, str, Any]]  # (slot, style image file, mix weight), slots with a style image
    masks: dict[int, Any]  # slot -> its mask for the engine (an uploaded mask, painted strokes, or both in one)
    alpha: Any  # a number, or {level: number, "default": number}
    size: int
    levels: list[str]
    preserve: str | None
    mix: Any  # weights of the used slots, or {level: weights, "default": weights}
    blend: str
    refine: int = 0
    transform: str = "wct"
    photo: Any = False  # the engine checks it (photorealistic=)


def make_plan(job: Job, files: Files, *, available: list[str], max_size: int) -> Plan:
    """The plan for ``job``, or the first problem as a one-sentence InputError (nothing is computed yet)."""
    content = files.image(job.content, "content")
    if content is None:
        raise wct.InputError("add a content image (upload, webcam or paste)")
    used = [
        (i, files.image(s, f"style {i}"), w) for i, (s, w) in enumerate(zip(job.styles, job.weights), 1) if s not in (None, "")
    ]
    if not used:
        raise wct.InputError("add at least one style image")
    masks = _slot_masks(job, files, {slot for slot, _, _ in used})
    size = _size(job.size, max_size)
    levels = _levels(job.levels, available)
    preserve = None if job.preserve is None else PRESERVE[choice(job.preserve, list(PRESERVE), "colour preservation")]
    blend = choice(job.blend, BLENDS, "the blend")
    transform = choice(job.transform, TRANSFORMS, "the transform")
    refine = _whole(job.refine, 0, MAX_REFINE_STEPS, "the refinement steps")
    mix, alpha = [w for _, _, w in used], job.alpha
    if job.per_level:  # coarse levels: the main mix and strength; the others: the fine ones
        fine = [fw for slot, fw in enumerate(job.fine_weights, 1) if slot in {s for s, _, _ in used}]
        mix = {**dict.fromkeys(COARSE, mix), "default": fine}
        alpha = {**dict.fromkeys(COARSE, job.alpha), "default": job.fine_alpha}
    return Plan(content, used, masks, alpha, size, levels, preserve, mix, blend, refine, transform, job.photo)


def _slot_masks(job: Job, files: Files, have: set[int]) -> dict[int, Any]:
    """{slot: its uploaded mask and painted strokes as one mask} for the slots that have either; refuses them for empty
    slots. Uploads are opened here, so a broken one is named by its slot."""
    uploads: dict[int, Any] = {}
    for slot, m in enumerate(job.masks, 1):
        if m not in (None, ""):
            path = files.image(m, f"mask {slot}")
            if slot not in have:
                raise wct.InputError(f"mask {slot} has no style image: add style {slot}, or remove mask {slot}")
            try:
                uploads[slot] = wct.read_image(path)
            except wct.ImageError as exc:
                raise wct.ImageError(f"mask {slot}: {exc}") from None
    painted = dict(enumerate(strokes(job.painting, files.image), 1))
    for slot, image in painted.items():
        if image is not None and slot not in have:
            colour = PAINT[slot - 1][0]
            raise wct.InputError(f"the {colour} strokes mark style {slot}, which has no image: add style {slot}, or erase them")
    slots = sorted({*uploads, *(slot for slot, image in painted.items() if image is not None)})
    return {slot: combined(uploads.get(slot), painted.get(slot)) for slot in slots}


def _size(value: Any, max_size: int) -> int:
    """The output long side: a whole number of pixels within the app's limits."""
    return _whole(value, MIN_SIZE, max_size, "the output size", " of pixels")


def _whole(value: Any, low: int, high: int, what: str, unit: str = "") -> int:
    """A whole number in low..high (a slider may send 20.0), or a one-sentence refusal naming ``what``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise wct.InputError(f"{what} must be a number, got {value!r}")
    if not (low <= value <= high) or value != int(value):
        raise wct.InputError(f"{what} must be a whole number{unit} from {low} to {high}, got {value:g}")
    return int(value)


def _levels(value: Any, available: list[str]) -> list[str]:
    """The levels to run, deepest first: some of those the app offers (the ones with decoders)."""
    if not value:
        raise wct.InputError(f"choose at least one level; this app has {', '.join(available)}")
    levels = [value] if isinstance(value, str) else list(value)
    missing = [str(lv) for lv in levels if lv not in available]
    if missing:
        raise wct.InputError(f"no decoder for {', '.join(missing)}; this app has {', '.join(available)}")
    return deepest_first(levels)
