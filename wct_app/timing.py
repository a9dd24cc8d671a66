"""How long the two qualities take on this machine, measured rather than assumed: "fast" is the transfer alone, "best"
adds wct.REFINE_STEPS refinement steps. A small run of the examples (CALIBRATION_SIZE px, a few refinement steps) gives
the first figures, once per model when a page first asks for them; every real run then replaces them with its own."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, fields, replace

import wct

from .form import QUALITY
from .limits import ASSETS

__all__ = ["CALIBRATION_SIZE", "CALIBRATION_STEPS", "Clock", "Rates", "Timings", "about"]

log = logging.getLogger("wct.app")

CALIBRATION_SIZE = 256  # long side of the measuring run, px (the estimates scale with the pixels)
CALIBRATION_STEPS = 3  # refinement steps it runs: the first one's start-up cost, then two steps alone
ASPECT = 3 / 4  # the estimates are for a 4:3 photo


@dataclass(frozen=True)
class Rates:
    """Seconds per megapixel of the output: the default levels, refinement's start-up, one refinement step."""

    levels: float | None = None
    start: float | None = None
    step: float | None = None


class Clock:
    """A stylization's progress reports, timed: tells the levels' time from the refinement steps'."""

    def __init__(self) -> None:
        self.t0, self.marks = time.perf_counter(), []

    def __call__(self, what: str) -> None:
        self.marks.append((what, time.perf_counter()))

    def rates(self, megapixels: float, levels: int) -> Rates:
        """What this run measured, per megapixel (None where it did not run that part)."""
        if len(self.marks) < levels or megapixels <= 0:
            return Rates()
        done = self.marks[levels - 1][1]
        steps = [t for what, t in self.marks if what == "refine"]
        if len(steps) < 2:
            return Rates(levels=(done - self.t0) / megapixels)
        step = (steps[-1] - steps[0]) / (len(steps) - 1)
        start = max(0.0, steps[0] - done - step)
        return Rates((done - self.t0) / megapixels, start / megapixels, step / megapixels)


def _newer(new: float | None, old: float | None) -> float | None:
    """The new measurement where there is one."""
    return old if new is None else new


def about(seconds: float) -> str:
    """'under a second', 'about 4 s', 'about 2 min'."""
    if seconds < 1:
        return "under a second"
    return f"about {seconds:.0f} s" if seconds < 90 else f"about {seconds / 60:.0f} min"


class Timings:
    """The measured rates per model name, and the quality choice's labels from them."""

    def __init__(self) -> None:
        self._rates: dict[str, Rates] = {}
        self._lock, self._calibrating = threading.Lock(), threading.Lock()

    def record(self, name: str, clock: Clock, megapixels: float, levels: int, *, default_levels: bool) -> None:
        """A run's measurements replace the older ones (its levels' time only if it ran the default levels)."""
        new = clock.rates(megapixels, levels)
        if not default_levels:
            new = replace(new, levels=None)
        with self._lock:
            old = self._rates.get(name, Rates())
            self._rates[name] = Rates(**{f.name: _newer(getattr(new, f.name), getattr(old, f.name)) for f in fields(Rates)})

    def measured(self, name: str) -> bool:
        """Whether both qualities have figures for ``name``."""
        r = self._rates.get(name, Rates())
        return None not in (r.levels, r.start, r.step)

    def calibrate(self, model: wct.Model, levels: list[str]) -> None:
        """Time a small stylization of the first example at ``levels`` and a few refinement steps, unless ``model`` has
        figures (a cached style is not part of a run's time: the style is measured first)."""
        with self._calibrating:  # pages opened at once: one measuring run
            if not self.measured(model.name):
                self._calibrate(model, levels)

    def _calibrate(self, model: wct.Model, levels: list[str]) -> None:
        """The measuring run itself."""
        try:
            style = model.compute_style(str(ASSETS / "style.jpg"), levels=model.available_levels(), style_size=CALIBRATION_SIZE)
            clock = Clock()
            image = model.stylize(str(ASSETS / "content.jpg"), style, levels=levels, max_size=CALIBRATION_SIZE,
                                  refine=CALIBRATION_STEPS, progress=lambda done, total, what: clock(what))  # fmt: skip
        except Exception as exc:  # no examples, out of memory...: the choice just shows no times, the page still opens
            log.warning("could not time a stylization: %s", exc)
            return
        self.record(model.name, clock, image.width * image.height / 1e6, len(levels), default_levels=True)

    def estimate(self, name: str, size: int) -> dict[str, float] | None:
        """{quality: seconds} for a 4:3 photo of long side ``size`` px, or None before anything was measured."""
        if not self.measured(name):
            return None
        r, mp = self._rates[name], size * size * ASPECT / 1e6
        return {q: mp * (r.levels + (r.start + steps * r.step if steps else 0)) for q, steps in QUALITY.items()}

    def choices(self, name: str, size: int) -> list[tuple[str, int]]:
        """The quality choice's (label, refinement steps): 'fast · about 2 s', 'best · about 1 min'."""
        times = self.estimate(name, size)
        return [(q if times is None else f"{q} · {about(times[q])}", steps) for q, steps in QUALITY.items()]
