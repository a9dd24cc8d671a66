"""Which levels the app offers: the presets (limited to the levels that have decoders) and the per-level split."""

from __future__ import annotations

from collections.abc import Iterable

import wct

__all__ = ["COARSE", "FINE", "PRESETS", "deepest_first", "level_presets", "photo_settings"]

PRESETS = [  # (name, levels it runs when they all have decoders); labels show the levels actually present
    ("standard", wct.DEFAULT_LEVELS),
    ("full", wct.LEVELS),
    ("fast", ("relu5_1", "relu4_1", "relu3_1")),
    ("fine detail only", ("relu2_1", "relu1_1")),
]
COARSE = ("relu5_1", "relu4_1")  # the per-level mix: these levels take the main mix and strength...
FINE = ("relu3_1", "relu2_1", "relu1_1")  # ...and these the fine-level ones


def deepest_first(levels: Iterable[str]) -> list[str]:
    """``levels`` in the order WCT runs them (relu5_1 first), without repeats."""
    wanted = set(levels)
    return [lv for lv in reversed(wct.LEVELS) if lv in wanted]


def level_presets(available: Iterable[str]) -> dict[str, list[str]]:
    """{label: levels} for the presets that have decoders, without duplicates; the first is the default."""
    available = set(available)
    out: dict[str, list[str]] = {}
    for name, levels in PRESETS:
        have = deepest_first(lv for lv in levels if lv in available)
        if not have or have in out.values():
            continue
        span = f"{len(have)} level{'s' * (len(have) > 1)}" if name == "full" else ", ".join(have)
        if name != "full" and len(have) > 2:
            span = f"{have[0]}..{have[-1]}"
        out[f"{name} ({span})"] = have
    return out


def photo_settings(on: bool, available: Iterable[str], presets: dict[str, list[str]]) -> tuple[list[str], float]:
    """(levels, strength) the photo-realistic switch sets: the engine's photo levels that have decoders at full strength
    (wct.PHOTO_LEVELS, PHOTO_ALPHA) when switched on, the default preset at the default strength when off."""
    if not on:
        return next(iter(presets.values())), wct.DEFAULT_ALPHA
    have = deepest_first(lv for lv in wct.PHOTO_LEVELS if lv in set(available))
    return have or deepest_first(available)[-1:], wct.PHOTO_ALPHA
