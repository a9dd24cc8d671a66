"""The app's request handling, bound to one model: plan, measure (cached styles), stylize within the time limit,
write the outputs; every failure becomes a one-sentence ``gr.Error``."""

from __future__ import annotations

import html
import logging
import re
import time
from collections.abc import Callable
from typing import Any

import gradio as gr
import torch
from PIL import Image

import wct

from . import form
from .files import Files
from .form import Job
from .levels import level_presets
from .limits import DEFAULT_SIZE, LIVE_SECONDS, MAX_SIZE, OUTPUT_TTL, TIME_LIMIT
from .models import Engine, Models
from .plan import Plan, make_plan
from .status import status_line
from .timing import Clock, Timings

__all__ = ["App", "TimeLimitExceeded"]

log = logging.getLogger("wct.app")


class TimeLimitExceeded(Exception):
    """A request ran past the app's time limit; raised between steps, so the worker is freed at the next one."""


def _step_text(done: int, what: str, plan: Plan) -> str:
    """The progress bar's words after one step of the engine: a level, a refinement step, the smoothing."""
    levels = len(plan.levels)
    if what == "refine":
        return f"refining {done - levels}/{plan.refine}"
    if what == "smooth":
        return "smoothed"
    return f"{what} done ({done}/{levels})"


def _default_levels(engine: Engine) -> list[str]:
    """The levels of the default preset for ``engine``'s model."""
    return next(iter(level_presets(engine.available).values()))


def _engine_error(exc: wct.WCTError, slots: list[int]) -> wct.WCTError:
    """The engine's refusal in the form's words: its "mask i" and "style i" (the i-th style it was given) are the
    slot's number, and any other image it cannot read is the content."""
    found = re.match(r"(mask|style) (\d+)\b", str(exc))
    if found and int(found[2]) <= len(slots):
        return type(exc)(f"{found[1]} {slots[int(found[2]) - 1]}{str(exc)[found.end():]}")
    return wct.ImageError(f"content: {exc}") if isinstance(exc, wct.ImageError) else exc


def _error(exc: BaseException) -> gr.Error:
    """A modal message (escaped: Gradio renders it as HTML) without a stack trace."""
    return gr.Error(html.escape(str(exc), quote=False), print_exception=False)


class App:
    """The handlers, bound to one model (kept apart from the widgets so they are easy to follow and test).

    Its event functions take the form's fields (``form.Job``) as parameters, in the endpoints' order:
    ``api_stylize`` (/stylize), ``api_stylize_advanced`` (/stylize_advanced), ``ui_stylize`` (the Stylize button)
    and ``live_stylize`` (a slider released; also the seconds the last run took).
    """

    def __init__(self, model: wct.Model, *, time_limit: float = TIME_LIMIT, output_ttl: float = OUTPUT_TTL) -> None:
        self.model, self.time_limit, self.output_ttl = model, time_limit, output_ttl
        self.models = Models(model)
        main = self.models.get()
        self.available, self.styles = main.available, main.styles  # the default model's levels and style cache
        if not self.available:
            raise wct.WeightsError("no trained decoders were found; see decoders/README.md (or set WCT_DECODERS_DIR)")
        self.presets = level_presets(self.available)
        kind = model.device.type
        self.max_size = MAX_SIZE.get(kind, MAX_SIZE["cpu"])
        self.default_size = DEFAULT_SIZE.get(kind, DEFAULT_SIZE["cpu"])
        self.files = Files(output_ttl)
        self.cache_dir = self.files.cache_dir
        self.timings = Timings()
        default_levels = next(iter(self.presets.values()))
        self.api_stylize = self._event(self._png, form.STYLIZE, "api_stylize", levels=default_levels)
        self.api_stylize_advanced = self._event(self._png, form.ADVANCED, "api_stylize_advanced")
        self.ui_stylize = self._event(self._ui, form.FORM, "ui_stylize")
        self.live_stylize = self._event(self._live, form.FORM, "live_stylize", extra=("last_seconds",))

    def quality(self, name: Any = None) -> gr.Radio:
        """The quality choice with the times measured for model ``name`` (timed by a small run first, if it has none)."""
        def work() -> gr.Radio:
            engine = self.models.get(name)
            if not self.timings.measured(engine.model.name):
                self.timings.calibrate(engine.model, _default_levels(engine))
            return self._quality_choices(engine)

        return self._guard(work)

    def _quality_choices(self, engine: Engine) -> gr.Radio:
        """The quality choice's labels from the times measured so far for ``engine``'s model."""
        return gr.Radio(choices=self.timings.choices(engine.model.name, self.default_size))

    def _event(self, work: Callable, endpoint: str, name: str, *, extra: tuple[str, ...] = (), **fixed) -> Callable:
        """``work(job, progress, *extra)`` as the event function of ``endpoint``, failures turned into gr.Error."""

        def run(values: list, progress, *rest):
            return self._guard(lambda: work(Job.from_values(values, endpoint, **fixed), progress, *rest))

        return form.handler(run, endpoint, extra=extra, name=name)

    # ----- the work -----------------------------------------------------------------------
    def _styles(self, plan: Plan, engine: Engine, check_time) -> list[wct.Style | str]:
        """The used slots' styles: cached statistics, or (for preserve_color="histogram", which recolours each style image
        after the photo) the image files themselves, for the engine to measure."""
        if plan.preserve == "histogram":
            return [path for _, path, _ in plan.used]
        out = []
        for slot, path, _ in plan.used:
            check_time()
            try:
                out.append(engine.styles.get(path))
            except wct.WCTError as exc:
                raise type(exc)(f"style {slot}: {exc}") from None
        return out

    def _engine_inputs(self, plan: Plan, engine: Engine, check_time) -> tuple[Any, Any, list | None]:
        """(style, weights, masks) for the engine. Without masks, one blended Style (the download offers it); with masks,
        the used slots' styles, one mask or None each, and the mix (the engine gives it to the styles without a mask:
        none when every style has one); in histogram mode the style images, which the engine recolours and blends."""
        styles = self._styles(plan, engine, check_time)
        if plan.masks:
            masks = [plan.masks.get(slot) for slot, _, _ in plan.used]
            return styles, None if None not in masks else plan.mix, masks
        if plan.preserve == "histogram":
            return styles, plan.mix, None
        check_time()
        return engine.model.blend(styles, plan.mix, method=plan.blend), None, None

    def _run(self, job: Job, progress) -> tuple[Image.Image, wct.Style | None, Plan, float]:
        """Plan, measure (cached styles), stylize; returns (image, blended style or None, plan, seconds).
        Past the time limit it raises TimeLimitExceeded at the next step (a style image, a level)."""
        t0 = time.perf_counter()
        deadline = time.monotonic() + self.time_limit

        def check_time() -> None:
            if time.monotonic() > deadline:
                raise TimeLimitExceeded

        engine = self.models.get(job.model)
        plan = make_plan(job, self.files, available=engine.available, max_size=self.max_size)
        progress(0, desc="measuring styles")
        style, weights, masks = self._engine_inputs(plan, engine, check_time)

        def step(done: int, total: int, what: str) -> None:  # an exception here stops wct's run at its next step
            clock(what)
            progress(done / total, desc=_step_text(done, what, plan))
            if done < total:
                check_time()

        check_time()
        progress(0, desc=f"stylizing: {plan.levels[0]}")
        clock = Clock()
        try:
            image = engine.model.stylize(plan.content, style, weights=weights, masks=masks, alpha=plan.alpha,
                                         levels=plan.levels, max_size=plan.size, preserve_color=plan.preserve,
                                         blend_method=plan.blend, transform=plan.transform, refine=plan.refine,
                                         photorealistic=plan.photo, progress=step)  # fmt: skip
        except (wct.InputError, wct.ImageError) as exc:
            raise _engine_error(exc, [slot for slot, _, _ in plan.used]) from None
        default = plan.levels == _default_levels(engine) and plan.preserve != "histogram"
        self.timings.record(engine.model.name, clock, image.width * image.height / 1e6, len(plan.levels),
                            default_levels=default)  # fmt: skip
        blended = style if isinstance(style, wct.Style) else None
        return image, blended, plan, time.perf_counter() - t0

    def _guard(self, work: Callable[[], Any]) -> Any:
        """``work()``, with every failure as a one-sentence gr.Error (the log keeps unexpected traces)."""
        try:
            return work()
        except gr.Error:
            raise
        except wct.WCTError as exc:
            raise _error(exc) from None
        except TimeLimitExceeded:
            log.warning("a request was stopped after the time limit of %g s", self.time_limit)
            msg = f"stopped: the request took longer than the time limit of {self.time_limit:g} s"
            hint = "choose a smaller output size, fewer levels or fewer refinement steps"
            raise gr.Error(f"{msg}; {hint}", print_exception=False) from None
        except (torch.cuda.OutOfMemoryError, MemoryError):
            raise gr.Error("out of memory: choose a smaller output size or fewer levels", print_exception=False) from None
        except Exception as exc:  # keep serving; the log has the trace, the user a sentence
            log.exception("stylization failed")
            msg = f"stylization failed unexpectedly ({exc.__class__.__name__}); try another image"
            raise gr.Error(msg, print_exception=False) from None

    # ----- the outputs --------------------------------------------------------------------
    def _png(self, job: Job, progress) -> str:
        """The API endpoints: the stylized image (PNG)."""
        image, _, _, _ = self._run(job, progress)
        png = self.files.outdir() / "stylized.png"
        image.save(png)
        return str(png)

    def _ui(self, job: Job, progress) -> tuple[str, list[str], str, float, gr.Radio]:
        """The Stylize button: image, downloads (PNG, and the blended .safetensors when there is one), status, seconds,
        and the quality choice with the times measured so far."""
        image, style, plan, seconds = self._run(job, progress)
        out = self.files.outdir()
        png = out / "stylized.png"
        image.save(png)
        files = [str(png)] + ([str(style.save(out / "wct-style.safetensors"))] if style is not None else [])
        quality = self._quality_choices(self.models.get(job.model))
        return str(png), files, status_line(image, plan, seconds), seconds, quality

    def _live(self, job: Job, progress, last_seconds) -> Any:
        """A slider released: re-render only when the last run was quick and the inputs are complete."""
        if last_seconds is None or last_seconds > LIVE_SECONDS or job.content is None or not any(job.styles):
            return gr.skip()
        return self._ui(job, progress)
