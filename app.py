"""wct in the browser: a Gradio 6 app over the public API (also the Hugging Face Space's entry point).

    pip install -e ".[app]" && python app.py          # then open http://127.0.0.1:7860

The model is loaded once (``wct.load()``: shipped decoders, CUDA when present) and only the levels the
decoder manifest provides are offered. Style statistics are computed once per uploaded style image and
cached, so moving a mix or strength slider only re-runs the content pass. ``build_demo(model)`` builds
the app without launching it (the tests pass their own model and limits); ``LAUNCH_KWARGS`` are the server
limits. Gradio's own environment variables (GRADIO_SERVER_NAME, GRADIO_SERVER_PORT, GRADIO_TEMP_DIR, ...) apply
as usual; WCT_APP_CONCURRENCY and WCT_APP_TIMEOUT set the stylizations at once and the time limit per request.

Limits: uploads up to 25 MB, images up to wct.image.MAX_PIXELS (checked from the header, before decoding), a
queue of QUEUE_SIZE waiting requests (beyond it Gradio answers "Queue is full"), a time limit per request (checked
between steps, so an overlong run stops at the next level and frees its worker), and only files Gradio stored
(uploads, in its cache folder) or the examples are opened: a path sent by a client is refused.
"""

from __future__ import annotations

import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # no telemetry or version check: starts offline

import base64
import hashlib
import html
import json
import logging
import math
import shutil
import threading
import time
import uuid
from collections import OrderedDict
from pathlib import Path

import gradio as gr
import gradio.utils
import torch

import wct

log = logging.getLogger("wct.app")

HERE = Path(__file__).resolve().parent
ASSETS = HERE / "assets" if (HERE / "assets" / "content.jpg").is_file() else Path(wct.__file__).resolve().parent / "assets"

SLOTS = 4  # style image slots
STYLE_SIZE = wct.DEFAULT_STYLE_SIZE  # long side the style images are measured at
MIN_SIZE = 64  # output long side, px
MAX_SIZE = {"cpu": 1024, "cuda": 2048}  # output long side cap per device type (others: the CPU's)
DEFAULT_SIZE = {"cpu": wct.DEFAULT_SIZE, "cuda": 1024}
LIVE_SECONDS = 2.0  # slider releases re-render by themselves when the last run took less than this
STYLE_CACHE_ENTRIES = 32  # one entry is ~2.4 MB for all five levels
OUTPUT_TTL = 3600  # seconds uploads and results are kept (Gradio's delete_cache, plus our own folders)
QUEUE_SIZE = 16  # waiting requests beyond this get Gradio's "queue is full" answer
CONCURRENCY = 1  # stylizations at once (one CPU or GPU's worth); WCT_APP_CONCURRENCY overrides
TIME_LIMIT = 120.0  # seconds one request may compute; WCT_APP_TIMEOUT overrides
MAX_UPLOAD_BYTES = 25 * 1024 * 1024  # also the cap on an image sent inline as a data: URL

LAUNCH_KWARGS = {
    "max_file_size": MAX_UPLOAD_BYTES,  # upload cap; image dimensions are capped by wct.image.MAX_PIXELS
    "allowed_paths": [str(ASSETS)],  # the examples
    "footer_links": ["api", "gradio"],
}

EXAMPLES = [  # content, style 1..4
    ["content.jpg", "style.jpg", None, None, None],
    ["content_astronaut.jpg", "style_night_cafe.jpg", None, None, None],
    ["content_rocket.jpg", "style_harvest.jpg", None, None, None],
    ["content_coffee.jpg", "style_night_cafe.jpg", "style_harvest.jpg", None, None],
]

PRESETS = [  # (name, levels it runs when they all have decoders); labels show the levels actually present
    ("standard", wct.api.DEFAULT_LEVELS),
    ("full", wct.LEVELS),
    ("fast", ("relu5_1", "relu4_1", "relu3_1")),
    ("fine detail only", ("relu2_1", "relu1_1")),
]


def deepest_first(levels) -> list[str]:
    wanted = set(levels)
    return [lv for lv in reversed(wct.LEVELS) if lv in wanted]


def level_presets(available) -> dict[str, list[str]]:
    """{label: levels} for the presets that have decoders, without duplicates; the first is the default."""
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


class StyleCache:
    """Style statistics per style image, keyed by the SHA-256 of its bytes and the style size (LRU)."""

    def __init__(self, model: wct.Model, levels, capacity: int = STYLE_CACHE_ENTRIES) -> None:
        self.model, self.levels, self.capacity = model, tuple(levels), capacity
        self._items: OrderedDict[tuple[str, int], wct.Style] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def get(self, path: str, style_size: int = STYLE_SIZE) -> wct.Style:
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            raise wct.ImageError(f"{Path(path).name} cannot be read ({exc.strerror or exc})") from None
        key = (hashlib.sha256(data).hexdigest(), style_size)
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                self.hits += 1
                return self._items[key]
        style = self.model.compute_style(path, levels=self.levels, style_size=style_size)  # all offered levels, once
        with self._lock:
            self.misses += 1
            self._items[key] = style
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)
        return style


def env_number(name: str, default: float, kind=float) -> float:
    """A positive number from the environment variable ``name`` (``default`` when unset); refuses anything else."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = kind(raw)
    except ValueError:
        value = 0
    if not (math.isfinite(value) and value > 0):
        raise wct.InputError(f"{name} must be a positive {'whole ' * (kind is int)}number, got {raw!r}")
    return value


class TimeLimitExceeded(Exception):
    """A request ran past the app's time limit; raised between steps, so the worker is freed at the next one."""


def _number(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise wct.InputError(f"{name} must be a number, got {value!r}")
    return float(value)


def _error(exc: BaseException) -> gr.Error:
    """A modal message (escaped: Gradio renders it as HTML) without a stack trace."""
    return gr.Error(html.escape(str(exc), quote=False), print_exception=False)


def shares_text(slots: list[int], weights: list[float]) -> str:
    """'style 1 75 % · style 3 25 %': the slots in use and their weights as percentages (same as SHARES_JS)."""
    total = sum(weights)
    return " · ".join(f"style {i} {int(100 * w / total + 0.5)} %" for i, w in zip(slots, weights))


SHARES_JS = """
(s1, s2, s3, s4, w1, w2, w3, w4) => {
  const s = [s1, s2, s3, s4], w = [w1, w2, w3, w4].map((x) => Math.max(0, Number(x) || 0));
  const used = [0, 1, 2, 3].filter((i) => s[i]);
  if (!used.length) return "Mix: add at least one style image.";
  const total = used.reduce((a, i) => a + w[i], 0);
  if (total <= 0) return "Mix: all weights are zero; give one style a positive weight.";
  return "Mix: " + used.map((i) => `style ${i + 1} ${Math.round(100 * w[i] / total)} %`).join(" · ");
}
"""


class App:
    """The handlers, bound to one model (kept apart from the widgets so they are easy to follow and test)."""

    def __init__(self, model: wct.Model, *, time_limit: float = TIME_LIMIT, output_ttl: float = OUTPUT_TTL) -> None:
        self.model, self.time_limit, self.output_ttl = model, time_limit, output_ttl
        self.available = deepest_first(model.available_levels())
        if not self.available:
            raise wct.WeightsError("no trained decoders were found; see decoders/README.md (or set WCT_DECODERS_DIR)")
        self.presets = level_presets(self.available)
        kind = model.device.type
        self.max_size = MAX_SIZE.get(kind, MAX_SIZE["cpu"])
        self.default_size = DEFAULT_SIZE.get(kind, DEFAULT_SIZE["cpu"])
        self.styles = StyleCache(model, self.available)
        # Gradio keeps uploads in its cache folder (GRADIO_TEMP_DIR, default <tmp>/gradio): the only files a request
        # may name, besides the examples. Results go there too, so Gradio serves them without a copy and its
        # delete_cache removes them after output_ttl.
        self.cache_dir = Path(os.path.realpath(gradio.utils.get_upload_folder()))
        self.readable = (self.cache_dir, Path(os.path.realpath(ASSETS)))
        self.out_root = self.cache_dir / "wct-outputs"
        self._swept = 0.0

    # ----- the work -----------------------------------------------------------------------
    def _local(self, path, what: str) -> str:
        """``path`` resolved, if it lies in Gradio's cache (an upload) or the examples; any other file is refused
        before it is touched, so a client cannot make the app open (or probe) server files."""
        try:
            real = Path(os.path.realpath(path))
        except (ValueError, OSError):  # a NUL byte, a loop of links
            real = None
        if real is None or not any(real.is_relative_to(root) for root in self.readable):
            raise wct.InputError(f"{what}: only images uploaded to this app are accepted, not server file paths")
        return str(real)

    def _file(self, value, what: str) -> str | None:
        """The local file behind an image input. Events run with preprocess=False, so this is Gradio's FileData
        dict of an uploaded (cached) file and the engine itself opens it: its messages reach the user. Gradio
        refuses most foreign paths before the handler, but not a dict without its "meta" tag, hence _local. A
        data: URL (API clients may send one) is written to a file first."""
        if value is None or value == "":
            return None
        if isinstance(value, dict):
            if value.get("path"):
                return self._local(value["path"], what)
            head, _, body = str(value.get("url") or "").partition(",")
            if head.startswith("data:") and body:
                if len(body) > MAX_UPLOAD_BYTES * 4 // 3 + 4:
                    raise wct.ImageError(f"{what}: the image is over the upload limit of {MAX_UPLOAD_BYTES >> 20} MB")
                try:
                    data = base64.b64decode(body) if head.endswith(";base64") else body.encode()
                except ValueError:
                    raise wct.ImageError(f"{what}: the image data URL is not valid base64") from None
                path = self._outdir() / "pasted-image"
                path.write_bytes(data)
                return str(path)
            raise wct.InputError(f"{what}: the image arrived without a file; upload it again")
        if isinstance(value, (str, os.PathLike)):
            return self._local(value, what)
        raise wct.InputError(f"{what}: expected an image file, got {type(value).__name__}")

    def _check(self, content, styles, weights, alpha, size, levels):
        content_path = self._file(content, "content")
        if content_path is None:
            raise wct.InputError("add a content image (upload, webcam or paste)")
        used = [
            (i + 1, self._file(s, f"style {i + 1}"), w) for i, (s, w) in enumerate(zip(styles, weights)) if s not in (None, "")
        ]
        if not used:
            raise wct.InputError("add at least one style image")
        size = _number(size, "the output size")
        if not (MIN_SIZE <= size <= self.max_size) or size != int(size):
            raise wct.InputError(
                f"the output size must be a whole number of pixels from {MIN_SIZE} to {self.max_size}, got {size:g}"
            )
        if not levels:
            raise wct.InputError(f"choose at least one level; this app has {', '.join(self.available)}")
        levels = [levels] if isinstance(levels, str) else list(levels)
        missing = [str(lv) for lv in levels if lv not in self.available]
        if missing:
            raise wct.InputError(f"no decoder for {', '.join(missing)}; this app has {', '.join(self.available)}")
        return content_path, used, alpha, int(size), deepest_first(levels)

    def _run(self, content, styles, weights, alpha, size, levels, progress):
        """Validate, blend (cached styles), stylize; returns (image, blended style, shares text, seconds).
        Past the time limit it raises TimeLimitExceeded at the next step (a style image, a level)."""
        t0 = time.perf_counter()
        deadline = time.monotonic() + self.time_limit

        def check_time() -> None:
            if time.monotonic() > deadline:
                raise TimeLimitExceeded

        content_path, used, alpha, size, levels = self._check(content, styles, weights, alpha, size, levels)
        progress(0, desc="measuring styles")
        computed = []
        for slot, path, _ in used:
            check_time()
            try:
                computed.append(self.styles.get(path))
            except wct.WCTError as exc:
                raise type(exc)(f"style {slot}: {exc}") from None
        style = wct.Style.blend(computed, [w for _, _, w in used])  # validates and normalises the weights

        def step(done: int, total: int, level: str) -> None:  # an exception here stops wct's loop over the levels
            progress(done / total, desc=f"{level} done ({done}/{total})")
            if done < total:
                check_time()

        check_time()
        progress(0, desc=f"stylizing: {levels[0]}")
        try:
            image = self.model.stylize(content_path, style, alpha=alpha, levels=levels, max_size=size, progress=step)
        except wct.ImageError as exc:
            raise wct.ImageError(f"content: {exc}") from None
        present = [slot for slot, _, _ in used]
        shares = shares_text(present, [float(w) for _, _, w in used])
        return image, style, shares, time.perf_counter() - t0

    def _outdir(self) -> Path:
        """A new folder for one request's files; folders older than output_ttl go (at most every ttl/4 s; Gradio's
        delete_cache removes the files it served on the same schedule)."""
        now = time.time()
        if now - self._swept > self.output_ttl / 4 and self.out_root.is_dir():
            self._swept = now
            for old in self.out_root.iterdir():
                try:
                    if now - old.stat().st_mtime > self.output_ttl:
                        shutil.rmtree(old, ignore_errors=True)
                except OSError:
                    pass
        out = self.out_root / uuid.uuid4().hex
        out.mkdir(parents=True)
        return out

    def _guard(self, fn, *args):
        try:
            return fn(*args)
        except gr.Error:
            raise
        except wct.WCTError as exc:
            raise _error(exc) from None
        except TimeLimitExceeded:
            log.warning("a request was stopped after the time limit of %g s", self.time_limit)
            msg = f"stopped: the request took longer than the time limit of {self.time_limit:g} s"
            raise gr.Error(f"{msg}; choose a smaller output size or fewer levels", print_exception=False) from None
        except (torch.cuda.OutOfMemoryError, MemoryError):
            raise gr.Error("out of memory: choose a smaller output size or fewer levels", print_exception=False) from None
        except Exception as exc:  # keep serving; the log has the trace, the user a sentence
            log.exception("stylization failed")
            msg = f"stylization failed unexpectedly ({exc.__class__.__name__}); try another image"
            raise gr.Error(msg, print_exception=False) from None

    # ----- the endpoints ------------------------------------------------------------------
    def api_stylize(
        self,
        content,
        style_1,
        style_2,
        style_3,
        style_4,
        weight_1,
        weight_2,
        weight_3,
        weight_4,
        alpha,
        size,
        progress=gr.Progress(),  # noqa: B008 (Gradio's idiom: a Progress default makes Gradio pass a tracker)
    ):
        """Stylize `content` after up to four style images mixed by their weights; returns the image (PNG)."""

        def work():
            styles, weights = [style_1, style_2, style_3, style_4], [weight_1, weight_2, weight_3, weight_4]
            image, _, _, _ = self._run(content, styles, weights, alpha, size, next(iter(self.presets.values())), progress)
            png = self._outdir() / "stylized.png"
            image.save(png)
            return str(png)

        return self._guard(work)

    def ui_stylize(
        self,
        content,
        s1,
        s2,
        s3,
        s4,
        w1,
        w2,
        w3,
        w4,
        alpha,
        size,
        levels,
        progress=gr.Progress(),  # noqa: B008
    ):
        """The Run button: image, downloads (PNG + blended .safetensors), status line, seconds taken."""

        def work():
            styles, weights = [s1, s2, s3, s4], [w1, w2, w3, w4]
            image, style, shares, seconds = self._run(content, styles, weights, alpha, size, levels, progress)
            out = self._outdir()
            png = out / "stylized.png"
            image.save(png)
            saved = style.save(out / "wct-style.safetensors")
            status = (
                f"Done in {seconds:.1f} s · {image.width}×{image.height} px · α {float(alpha):.2f} · "
                f"{', '.join(deepest_first(levels))} · {shares}"
            )
            return str(png), [str(png), str(saved)], status, seconds

        return self._guard(work)

    def live_stylize(
        self,
        content,
        s1,
        s2,
        s3,
        s4,
        w1,
        w2,
        w3,
        w4,
        alpha,
        size,
        levels,
        last_seconds,
        progress=gr.Progress(),  # noqa: B008
    ):
        """Slider released: re-render only when the last run was quick and the inputs are complete."""
        if last_seconds is None or last_seconds > LIVE_SECONDS or content is None or not any((s1, s2, s3, s4)):
            return gr.skip()
        return self.ui_stylize(content, s1, s2, s3, s4, w1, w2, w3, w4, alpha, size, levels, progress)


def build_demo(
    model: wct.Model | None = None,
    *,
    concurrency: int | None = None,
    queue_size: int = QUEUE_SIZE,
    time_limit: float | None = None,
    output_ttl: int = OUTPUT_TTL,
) -> gr.Blocks:
    """The app for ``model`` (default: ``wct.load()``), queued; ``demo.wct`` is its App (handlers, style cache).

    Args:
        concurrency: stylizations at once (default: WCT_APP_CONCURRENCY, else CONCURRENCY).
        queue_size: requests that may wait; more get Gradio's "Queue is full" answer.
        time_limit: seconds one request may compute (default: WCT_APP_TIMEOUT, else TIME_LIMIT).
        output_ttl: seconds uploads and results are kept.
    """
    if concurrency is None:
        concurrency = env_number("WCT_APP_CONCURRENCY", CONCURRENCY, int)
    if time_limit is None:
        time_limit = env_number("WCT_APP_TIMEOUT", TIME_LIMIT)
    app = App(model if model is not None else wct.load(), time_limit=time_limit, output_ttl=output_ttl)
    presets = app.presets
    first = next(iter(presets))
    device = "GPU" if app.model.device.type == "cuda" else "CPU"

    sweep = (min(600, max(1, output_ttl // 4)), output_ttl)  # (every, age) in s: files live at most age + every
    with gr.Blocks(title="wct: style transfer by whitening and coloring", delete_cache=sweep) as demo:
        gr.Markdown(
            "# wct: style transfer by whitening and coloring\n"
            "Restyle a photo after one painting, or a mix of up to four. Style statistics are measured once per "
            f"image, so moving a slider only re-renders the photo. Running on the {device}, levels "
            f"{', '.join(app.available)}."
        )
        with gr.Row():
            with gr.Column(scale=5):
                content = gr.Image(
                    label="Content image",
                    type="filepath",
                    sources=["upload", "webcam", "clipboard"],
                    height=280,
                    elem_id="content",
                )
                gr.Markdown("**Style images** (at least one) and their mix")
                styles, weights = [], []
                for row in range(SLOTS // 2):
                    with gr.Row():
                        for col in range(2):
                            i = row * 2 + col + 1
                            with gr.Column(min_width=160):
                                styles.append(
                                    gr.Image(
                                        label=f"Style {i}",
                                        type="filepath",
                                        sources=["upload", "clipboard"],
                                        height=170,
                                        elem_id=f"style-{i}",
                                    )
                                )
                                weights.append(gr.Slider(0, 1, value=1.0, step=0.05, label=f"Mix {i}", elem_id=f"mix-{i}"))
                shares = gr.Markdown("Mix: add at least one style image.", elem_id="wct-shares")
            with gr.Column(scale=5):
                result = gr.Image(
                    label="Stylized (PNG)",
                    type="filepath",
                    format="png",
                    interactive=False,
                    height=440,
                    buttons=["download", "fullscreen"],
                    elem_id="result",
                )
                status = gr.Markdown("", elem_id="status")
                downloads = gr.File(
                    label="Downloads: the image (PNG) and the blended style (.safetensors, for wct.Style.load or "
                    "`wct stylize -s FILE`)",
                    file_count="multiple",
                    interactive=False,
                    elem_id="downloads",
                )
                alpha = gr.Slider(
                    0,
                    1,
                    value=0.6,
                    step=0.05,
                    label="Strength (alpha)",
                    info="0 keeps the photo, 1 takes the style fully",
                    elem_id="alpha",
                )
                preset = gr.Radio(
                    list(presets), value=first, label="Levels", info="deepest first; fewer is faster", elem_id="preset"
                )
                levels = gr.CheckboxGroup(app.available, value=presets[first], label="Levels to run", elem_id="levels")
                size = gr.Slider(
                    MIN_SIZE, app.max_size, value=app.default_size, step=16, label="Output size (long side, px)", elem_id="size"
                )
                run = gr.Button("Stylize", variant="primary", elem_id="run")
        last_seconds = gr.State(None)
        api_trigger = gr.Button(visible=False)  # carries the /stylize API endpoint

        ui_inputs = [content, *styles, *weights, alpha, size, levels]
        ui_outputs = [result, downloads, status, last_seconds]
        heavy = {"concurrency_id": "stylize", "concurrency_limit": concurrency, "preprocess": False}

        examples = gr.Examples(
            [[None if f is None else str(ASSETS / f) for f in row] for row in EXAMPLES],
            inputs=[content, *styles],
            label="Examples: click one to try it",
            cache_examples=False,
        )
        (  # one click: fill the inputs, empty the slots the examples leave out, stylize
            examples.load_input_event.then(None, None, styles[2:], js="() => [null, null]").then(
                app.ui_stylize, ui_inputs, ui_outputs, api_visibility="private", **heavy
            )
        )

        # instant, client-side: shares as percentages, preset -> levels
        gr.on([*(s.change for s in styles), *(w.change for w in weights)], None, [*styles, *weights], shares, js=SHARES_JS)
        preset.change(None, preset, levels, js=f"(p) => [({json.dumps(presets)})[p] ?? []]")  # one output: wrap the list

        run.click(app.ui_stylize, ui_inputs, ui_outputs, api_visibility="undocumented", api_name="stylize_ui", **heavy)
        gr.on(
            [*(w.release for w in weights), alpha.release, size.release],
            app.live_stylize,
            [*ui_inputs, last_seconds],
            ui_outputs,
            trigger_mode="always_last",
            show_progress="minimal",
            api_visibility="private",
            **heavy,
        )
        api_trigger.click(
            app.api_stylize,
            [content, *styles, *weights, alpha, size],
            result,
            api_name="stylize",
            api_description="Stylize a content image after up to four style images (unused ones None) mixed by their "
            "weights, with strength alpha (0..1) at an output long side in pixels; returns the stylized PNG.",
            **heavy,
        )

    demo.queue(default_concurrency_limit=concurrency, max_size=queue_size)
    if Path(os.path.realpath(demo.GRADIO_CACHE)) != app.cache_dir:  # uploads would be refused: fail now, not per request
        raise RuntimeError(f"Gradio's cache moved from {app.cache_dir} to {demo.GRADIO_CACHE} while the app was built")
    demo.wct = app
    return demo


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    try:
        demo = build_demo()
    except wct.WCTError as exc:  # no decoders, damaged weights, a bad WCT_APP_* value: one line, not a trace
        raise SystemExit(f"wct app: {exc}") from None
    demo.launch(**LAUNCH_KWARGS)
