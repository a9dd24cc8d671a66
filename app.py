"""wct in the browser: a Gradio 6 app over the public API (also the Hugging Face Space's entry point).

    pip install -e ".[app]" && python app.py          # then open http://127.0.0.1:7860

The model is loaded once (``wct.load(half="auto")``: shipped decoders, CUDA when present, half-precision networks
where they are fast: CUDA, CPUs with AMX) and only the levels the decoder manifest provides are offered. Style
statistics are computed once per uploaded style image and cached, so moving a mix or strength slider only re-runs
the content pass. ``build_demo(model)`` builds
the app without launching it (the tests pass their own model and limits); ``launch_kwargs()`` gives the server
limits (a fresh dict per launch). Gradio's own environment variables (GRADIO_SERVER_NAME, GRADIO_SERVER_PORT, GRADIO_TEMP_DIR, ...) apply
as usual; WCT_APP_CONCURRENCY and WCT_APP_TIMEOUT set the stylizations at once and the time limit per request,
WCT_APP_PRECISION the networks' precision (float32, half or auto, the default).

Limits: request bodies up to MAX_BODY_BYTES (refused with HTTP 413 before Gradio parses them), uploads up to 25 MB,
images up to wct.image.MAX_PIXELS (checked from the header, before decoding), a
queue of QUEUE_SIZE waiting requests (beyond it Gradio answers "Queue is full"), a time limit per request (checked
between steps, so an overlong run stops at the next level and frees its worker), and only files Gradio stored
(uploads, in its cache folder) or the examples are opened: a path sent by a client is refused.
"""

from __future__ import annotations

import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # no telemetry or version check: starts offline
os.environ.setdefault("THP_MEM_ALLOC_ENABLE", "1")  # huge pages for the big feature maps, before torch loads (see wct/__init__.py)

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
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr
import gradio.utils
import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from starlette.middleware import Middleware

import wct
import wct.image
import wct.spatial

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
# any request body: one upload's worth as base64 (a data: URL in JSON) plus 1 MiB for the rest of the request
MAX_BODY_BYTES = MAX_UPLOAD_BYTES * 4 // 3 + 1024 * 1024
COARSE = ("relu5_1", "relu4_1")  # the per-level mix: these levels take the main mix and strength...
FINE = ("relu3_1", "relu2_1", "relu1_1")  # ...and these the fine-level ones
PRESERVE = {"off": None, "luminance": "luminance", "histogram": "histogram"}  # radio choice -> preserve_color
BLENDS = ("linear", "wasserstein")
# brush colour per style slot for painting regions (name, RGB); the mask of slot i is where colour i was painted
PAINT = [("red", (220, 40, 40)), ("green", (40, 170, 60)), ("blue", (40, 90, 230)), ("yellow", (235, 200, 20))]
PAINTED_ALPHA = 0.1  # canvas pixels more opaque than this count as painted


def launch_kwargs() -> dict[str, Any]:
    """demo.launch's server limits, as a new dict each time (Gradio stores into app_kwargs)."""
    return {
        "max_file_size": MAX_UPLOAD_BYTES,  # upload cap; image dimensions are capped by wct.image.MAX_PIXELS
        "allowed_paths": [str(ASSETS)],  # the examples
        "footer_links": ["api", "gradio"],
        "app_kwargs": {"middleware": [Middleware(BodyLimit, limit=MAX_BODY_BYTES)]},
    }


Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[dict]]
Send = Callable[[dict], Awaitable[None]]


class BodyTooLarge(Exception):
    """Raised into the app when a request body without a Content-Length grows past the limit."""


class BodyLimit:
    """ASGI middleware: HTTP request bodies over ``limit`` bytes get 413 before the app parses them. A declared
    Content-Length is checked before anything is read; a body without one (chunked) is counted as the app reads it,
    and past the limit the read fails and the app's answer is replaced by the 413."""

    def __init__(self, app, limit: int) -> None:
        self.app, self.limit = app, limit

    async def refuse(self, send: Send, status: int = 413, message: str | None = None) -> None:
        if message is None:
            message = f"the request body is over the limit of {self.limit / 2**20:.0f} MB (images: {MAX_UPLOAD_BYTES >> 20} MB)"
        body = json.dumps({"detail": message}).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
        ]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None:
            if not declared.strip().isdigit():
                return await self.refuse(send, 400, "the Content-Length header is not a number")
            if int(declared) > self.limit:
                return await self.refuse(send)
        state = {"received": 0, "over": False, "started": False}

        async def counted() -> dict:
            message = await receive()
            if message["type"] == "http.request":
                state["received"] += len(message.get("body", b""))
                if state["received"] > self.limit:
                    state["over"] = True
                    raise BodyTooLarge
            return message

        async def guarded(message: dict) -> None:
            if state["over"]:
                return  # the app's answer to a body cut short: ours goes instead
            state["started"] = state["started"] or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, guarded)
        except Exception:
            if not state["over"]:
                raise
        if state["over"] and not state["started"]:
            await self.refuse(send)


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


def env_precision() -> bool | str:
    """``wct.load(half=...)`` for WCT_APP_PRECISION: float32, half or auto (the default: half where it is fast)."""
    raw = os.environ.get("WCT_APP_PRECISION", "").strip() or "auto"
    if raw not in wct.api.PRECISIONS:
        raise wct.InputError(f"WCT_APP_PRECISION must be one of {', '.join(wct.api.PRECISIONS)}, got {raw!r}")
    return wct.api.PRECISIONS[raw]


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
    total = sum(weights) or 1.0
    return " · ".join(f"style {i} {int(100 * w / total + 0.5)} %" for i, w in zip(slots, weights))


def slot_masks(masks: dict[int, list], content_size: tuple[int, int], long_side: int) -> dict[int, torch.Tensor]:
    """{slot: [mask file or image, ...]} -> {slot: (h, w) tensor in [0, 1]} on one grid: the content's aspect, long
    side at most ``long_side``; a slot's masks (an upload, its painted strokes) add up. Refuses masks of another
    aspect ratio (any size is fine) and empty (all black) ones."""
    cw, ch = content_size
    scale = min(1.0, long_side / max(cw, ch))
    grid = (max(1, round(ch * scale)), max(1, round(cw * scale)))
    out = {}
    for slot, sources in masks.items():
        for source in sources:
            name = f"mask {slot}" if isinstance(source, (str, os.PathLike)) else f"the {PAINT[slot - 1][0]} strokes"
            try:
                t = wct.spatial.mask_to_tensor(source, name).float().cpu()
            except wct.ImageError as exc:
                raise wct.ImageError(f"{name}: {exc}") from None
            mh, mw = t.shape
            if abs((mw / mh) / (cw / ch) - 1) > wct.spatial.ASPECT_TOLERANCE:
                raise wct.InputError(
                    f"{name} is {mw}x{mh} but the content is {cw}x{ch}: a mask needs the content's aspect ratio "
                    "(any size); crop or pad it to match"
                )
            if float(t.max()) < 0.5 / 255:
                raise wct.InputError(f"{name} is empty (all black); white marks where style {slot} goes")
            shrink = grid[0] < mh or grid[1] < mw
            t = F.interpolate(t[None, None], size=grid, mode="bilinear", antialias=shrink, align_corners=False)[0, 0]
            out[slot] = torch.maximum(out[slot], t) if slot in out else t
    return {slot: t.clamp(0, 1) for slot, t in out.items()}


def rest_mask(masks: list[torch.Tensor]) -> torch.Tensor | None:
    """Where the masks leave room (1 - their sum, clamped); None when they cover everything."""
    rest = (1 - torch.stack(masks).sum(0)).clamp(0, 1)
    return rest if float(rest.max()) >= 0.5 / 255 else None


def painted_masks(layers: list[np.ndarray]) -> list[Image.Image | None]:
    """Brush strokes (RGBA layers of the region painter, in order) -> one grayscale mask per slot (None where that
    slot's colour is absent): each painted pixel goes to the nearest PAINT colour, later layers over earlier ones."""
    if not layers:
        return [None] * len(PAINT)
    h, w = layers[0].shape[:2]
    label = np.full((h, w), -1, dtype=np.int8)
    palette = np.array([rgb for _, rgb in PAINT], dtype=np.float32)  # (K, 3)
    for layer in layers:
        if layer.ndim != 3 or layer.shape[2] != 4 or layer.shape[:2] != (h, w):
            continue  # not a paint layer (no alpha, or another size)
        painted = layer[..., 3] > PAINTED_ALPHA * 255
        rgb = layer[..., :3][painted].astype(np.float32)  # (N, 3)
        nearest = np.empty(len(rgb), dtype=np.int8)
        for i in range(0, len(rgb), 1 << 20):  # in chunks: a large canvas stays within a few MB
            chunk = rgb[i : i + (1 << 20)]
            nearest[i : i + len(chunk)] = np.argmin(((chunk[:, None, :] - palette[None]) ** 2).sum(-1), axis=1)
        label[painted] = nearest
    return [Image.fromarray((label == k).astype(np.uint8) * 255) if (label == k).any() else None for k in range(len(PAINT))]


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


@dataclass(frozen=True)
class Job:
    """One request's raw values, in the order of the form and of /stylize_advanced (see JOB_FIELDS)."""

    content: Any
    styles: list
    weights: list
    alpha: Any
    size: Any
    levels: Any
    masks: list = (None,) * SLOTS
    preserve: Any = "off"
    per_level: bool = False
    fine_weights: list | None = None  # None: the same as weights
    fine_alpha: Any = wct.api.DEFAULT_ALPHA
    blend: Any = "linear"
    painting: Any = None  # the region painter's value (the form only): {"background", "layers", "composite"}

    @classmethod
    def from_values(cls, values) -> Job:
        """From the flat list the form sends: content, styles, weights, alpha, size, levels, masks, preserve,
        per_level, fine weights, fine alpha, blend (SLOTS values for each plural)."""
        v, n = list(values), SLOTS
        if len(v) not in (5 * n + 4, 5 * n + 5):
            raise wct.InputError(f"expected {5 * n + 4} values (or one more, the painting), got {len(v)}")
        it = iter(v)

        def take(k: int) -> list:
            return [next(it) for _ in range(k)]

        content, styles, weights, (alpha, size, levels) = next(it), take(n), take(n), take(3)
        masks, (preserve, per_level), fine_weights, (fine_alpha, blend) = take(n), take(2), take(n), take(2)
        painting = next(it, None)
        return cls(
            content,
            styles,
            weights,
            alpha,
            size,
            levels,
            masks,
            preserve,
            bool(per_level),
            fine_weights,
            fine_alpha,
            blend,
            painting,
        )


@dataclass(frozen=True)
class Plan:
    """A validated request: files resolved, levels deepest first, the mix and strength per level where asked."""

    content: str
    used: list[tuple[int, str, Any]]  # (slot, style image file, mix weight), slots with a style image
    masks: dict[int, list]  # slot -> its mask sources: an uploaded file, painted strokes (a PIL image)
    alpha: Any  # a number, or {level: number, "default": number}
    size: int
    levels: list[str]
    preserve: str | None
    mix: Any  # weights of the used slots, or {level: weights, "default": weights}
    blend: str


def pick(weights, index: list[int]):
    """``weights`` (a list, or {level: list}) restricted to the positions in ``index``."""
    if isinstance(weights, dict):
        return {lv: [w[i] for i in index] for lv, w in weights.items()}
    return [weights[i] for i in index]


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
    return " · ".join(parts)


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

    def _check(self, job: Job) -> Plan:
        """The request's values, validated (clear messages, nothing computed yet)."""
        content_path = self._file(job.content, "content")
        if content_path is None:
            raise wct.InputError("add a content image (upload, webcam or paste)")
        used = [
            (i + 1, self._file(s, f"style {i + 1}"), w)
            for i, (s, w) in enumerate(zip(job.styles, job.weights))
            if s not in (None, "")
        ]
        if not used:
            raise wct.InputError("add at least one style image")
        have = {slot for slot, _, _ in used}
        masks: dict[int, list] = {}
        for i, m in enumerate(job.masks):
            if m not in (None, ""):
                masks[i + 1] = [self._file(m, f"mask {i + 1}")]
                if i + 1 not in have:
                    raise wct.InputError(f"mask {i + 1} has no style image: add style {i + 1}, or remove mask {i + 1}")
        for i, strokes in enumerate(self._painted(job.painting)):
            if strokes is not None:
                masks.setdefault(i + 1, []).append(strokes)
                if i + 1 not in have:
                    raise wct.InputError(
                        f"the {PAINT[i][0]} strokes mark style {i + 1}, which has no image: add style {i + 1}, or erase them"
                    )
        size = _number(job.size, "the output size")
        if not (MIN_SIZE <= size <= self.max_size) or size != int(size):
            raise wct.InputError(
                f"the output size must be a whole number of pixels from {MIN_SIZE} to {self.max_size}, got {size:g}"
            )
        levels = job.levels
        if not levels:
            raise wct.InputError(f"choose at least one level; this app has {', '.join(self.available)}")
        levels = [levels] if isinstance(levels, str) else list(levels)
        missing = [str(lv) for lv in levels if lv not in self.available]
        if missing:
            raise wct.InputError(f"no decoder for {', '.join(missing)}; this app has {', '.join(self.available)}")
        if job.preserve not in PRESERVE and job.preserve is not None:
            raise wct.InputError(f"colour preservation must be one of {', '.join(PRESERVE)}, got {job.preserve!r}")
        if job.blend not in BLENDS:
            raise wct.InputError(f"the blend must be one of {', '.join(BLENDS)}, got {job.blend!r}")
        mix, alpha = [w for _, _, w in used], job.alpha
        if job.per_level:  # coarse levels: the main mix and strength; the others: the fine ones
            fine = [fw for (i, fw) in enumerate(job.fine_weights or job.weights) if i + 1 in have]
            mix = {**{lv: mix for lv in COARSE}, "default": fine}
            alpha = {**{lv: job.alpha for lv in COARSE}, "default": job.fine_alpha}
        return Plan(
            content_path, used, masks, alpha, int(size), deepest_first(levels), PRESERVE.get(job.preserve), mix, job.blend
        )

    def _painted(self, painting) -> list[Image.Image | None]:
        """The region painter's strokes as one mask per slot (None: that colour was not used). The form sends the
        painter's layers as uploaded files, which are opened like any upload."""
        if not isinstance(painting, dict):
            return [None] * SLOTS
        layers = []
        for layer in painting.get("layers") or []:
            path = self._file(layer, "the painting")
            if path is not None:
                try:
                    layers.append(np.asarray(wct.image.read_image(path).convert("RGBA")))
                except wct.ImageError as exc:
                    raise wct.ImageError(f"the painting: {exc}") from None
        return painted_masks(layers)

    def _styles(self, plan: Plan, check_time) -> dict[int, wct.Style | str]:
        """{slot: style}: cached statistics, or (for preserve_color="histogram", which recolours each style image
        after the photo) the image file itself, for the engine to measure."""
        out: dict[int, wct.Style | str] = {}
        for slot, path, _ in plan.used:
            check_time()
            if plan.preserve == "histogram":
                out[slot] = path
                continue
            try:
                out[slot] = self.styles.get(path)
            except wct.WCTError as exc:
                raise type(exc)(f"style {slot}: {exc}") from None
        return out

    def _mix(self, styles: list, weights, plan: Plan):
        """The blend of ``styles``: a Style, or (histogram mode) image files the engine blends itself."""
        if plan.preserve != "histogram":
            return wct.Style.blend(styles, weights, method=plan.blend)  # validates and normalises the weights
        if len(styles) == 1:
            return styles[0]
        if isinstance(weights, dict) or len({float(w) for w in weights}) > 1:
            raise wct.InputError(
                "with colour preservation 'histogram', styles without a mask share the rest of the picture only "
                "equally: give them equal mix weights and no per-level mix, or use 'luminance'"
            )
        return list(styles)

    def _regions(self, plan: Plan, styles: dict) -> tuple[list, list[torch.Tensor]]:
        """(region styles, masks) for the engine: each masked slot its own style; the rest of the picture, if the
        masks leave any, the mix of the slots without a mask (none: the photo's own features stay there)."""
        try:
            content_size = wct.image.read_image(plan.content).size
        except wct.ImageError as exc:
            raise wct.ImageError(f"content: {exc}") from None
        grid = slot_masks(plan.masks, content_size, plan.size)
        regions, masks = [styles[slot] for slot in grid], list(grid.values())
        free = [i for i, (slot, _, _) in enumerate(plan.used) if slot not in grid]
        rest = rest_mask(masks) if free else None
        if rest is not None:
            regions.append(self._mix([styles[plan.used[i][0]] for i in free], pick(plan.mix, free), plan))
            masks.append(rest)
        return regions, masks

    def _run(self, job: Job, progress) -> tuple[Image.Image, wct.Style | None, Plan, float]:
        """Validate, measure (cached styles), stylize; returns (image, blended style or None, plan, seconds).
        Past the time limit it raises TimeLimitExceeded at the next step (a style image, a level)."""
        t0 = time.perf_counter()
        deadline = time.monotonic() + self.time_limit

        def check_time() -> None:
            if time.monotonic() > deadline:
                raise TimeLimitExceeded

        plan = self._check(job)
        progress(0, desc="measuring styles")
        styles = self._styles(plan, check_time)
        masks = weights = None
        if plan.masks:
            style, masks = self._regions(plan, styles)
        else:
            style = self._mix(list(styles.values()), plan.mix, plan)
            weights = plan.mix if isinstance(style, list) else None  # histogram mode: the engine blends the images

        def step(done: int, total: int, level: str) -> None:  # an exception here stops wct's loop over the levels
            progress(done / total, desc=f"{level} done ({done}/{total})")
            if done < total:
                check_time()

        check_time()
        progress(0, desc=f"stylizing: {plan.levels[0]}")
        try:
            image = self.model.stylize(
                plan.content,
                style,
                weights=weights,
                masks=masks,
                alpha=plan.alpha,
                levels=plan.levels,
                max_size=plan.size,
                preserve_color=plan.preserve,
                blend_method=plan.blend,
                progress=step,
            )
        except wct.ImageError as exc:
            raise wct.ImageError(f"content: {exc}") from None
        blended = style if isinstance(style, wct.Style) else None
        return image, blended, plan, time.perf_counter() - t0

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
    def _png(self, job: Job, progress) -> str:
        image, _, _, _ = self._run(job, progress)
        png = self._outdir() / "stylized.png"
        image.save(png)
        return str(png)

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
        styles, weights = [style_1, style_2, style_3, style_4], [weight_1, weight_2, weight_3, weight_4]
        job = Job(content, styles, weights, alpha, size, next(iter(self.presets.values())))
        return self._guard(self._png, job, progress)

    def api_stylize_advanced(
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
        levels,
        mask_1,
        mask_2,
        mask_3,
        mask_4,
        preserve_color,
        per_level,
        fine_weight_1,
        fine_weight_2,
        fine_weight_3,
        fine_weight_4,
        fine_alpha,
        blend,
        progress=gr.Progress(),  # noqa: B008
    ):
        """/stylize plus the levels, a mask per style, colour preservation, a separate mix and strength for the
        fine levels, and the blend method; returns the image (PNG)."""
        values = [content, style_1, style_2, style_3, style_4, weight_1, weight_2, weight_3, weight_4, alpha, size, levels,
                  mask_1, mask_2, mask_3, mask_4, preserve_color, per_level,
                  fine_weight_1, fine_weight_2, fine_weight_3, fine_weight_4, fine_alpha, blend]  # fmt: skip
        return self._guard(lambda: self._png(Job.from_values(values), progress))

    def ui_stylize(self, progress=gr.Progress(), *values):  # noqa: B008 (first, so Gradio passes it; then the form)
        """The Run button: image, downloads (PNG, and the blended .safetensors when there is one), status, seconds."""

        def work():
            image, style, plan, seconds = self._run(Job.from_values(values), progress)
            out = self._outdir()
            png = out / "stylized.png"
            image.save(png)
            files = [str(png)] + ([str(style.save(out / "wct-style.safetensors"))] if style is not None else [])
            alpha = plan.alpha[COARSE[0]] if isinstance(plan.alpha, dict) else plan.alpha
            status = (
                f"Done in {seconds:.1f} s · {image.width}×{image.height} px · α {float(alpha):.2f} · "
                f"{', '.join(plan.levels)} · {describe(plan)}"
            )
            return str(png), files, status, seconds

        return self._guard(work)

    def live_stylize(self, progress=gr.Progress(), *values):  # noqa: B008
        """Slider released: re-render only when the last run was quick and the inputs are complete (the last value
        is the seconds the last run took)."""
        *form, last_seconds = values
        content, styles = form[0], form[1 : 1 + SLOTS]
        if last_seconds is None or last_seconds > LIVE_SECONDS or content is None or not any(styles):
            return gr.skip()
        return self.ui_stylize(progress, *form)


REGIONS_HELP = (
    "Give parts of the photo their own style. **Paint** over the photo: "
    + ", ".join(f"{name} marks style {i + 1}" for i, (name, _) in enumerate(PAINT))
    + ". Or **upload** a mask per style below: white is that style's region, any size with the photo's aspect ratio "
    "(a style's strokes and its mask add up). Styles without a mask share the rest of the picture by their mix; if "
    "every style has one, unmarked parts keep the photo."
)


def region_controls() -> tuple[list[gr.Image], gr.ImageEditor]:
    """The 'Regions' accordion: a painter over the content and one mask slot per style."""
    with gr.Accordion("Regions: a style per part of the picture", open=False, elem_id="regions"):
        gr.Markdown(REGIONS_HELP)
        painter = gr.ImageEditor(
            label="Paint regions over the photo",
            type="numpy",
            image_mode="RGBA",
            sources=[],
            transforms=[],
            layers=False,
            brush=gr.Brush(colors=[f"rgb{rgb}" for _, rgb in PAINT], color_mode="fixed"),
            height=360,
            elem_id="painter",
        )
        masks = []
        with gr.Row():
            for i in range(1, SLOTS + 1):
                masks.append(
                    gr.Image(
                        label=f"Mask {i}",
                        type="filepath",
                        image_mode="L",
                        format="png",
                        sources=["upload", "clipboard"],
                        height=120,
                        min_width=100,
                        elem_id=f"mask-{i}",
                    )
                )
    return masks, painter


def mixing_controls(available: list[str]) -> tuple[gr.Checkbox, list[gr.Slider], gr.Slider, gr.Radio]:
    """The 'Per-level mix' accordion: a second mix and strength for the fine levels, and the blend method. The
    per-level part shows only when the model has both coarse and fine levels."""
    coarse, fine = [lv for lv in COARSE if lv in available], [lv for lv in FINE if lv in available]
    with gr.Accordion("Per-level mix", open=False, elem_id="mixing"):
        gr.Markdown(
            f"The deep levels ({', '.join(coarse) or 'none here'}) carry a painting's large shapes and colours, the "
            f"shallow ones ({', '.join(fine) or 'none here'}) its brushwork. Switched on, the Mix sliders and the "
            "strength above set the deep levels and these set the shallow ones: e.g. one painting's shapes with "
            "another's strokes.",
            visible=bool(coarse and fine),
        )
        per_level = gr.Checkbox(
            False, label="A separate mix and strength for the shallow levels", visible=bool(coarse and fine), elem_id="per-level"
        )
        with gr.Row(visible=bool(coarse and fine)):
            fine_weights = [
                gr.Slider(0, 1, value=1.0, step=0.05, label=f"Fine mix {i}", min_width=100, elem_id=f"fine-mix-{i}")
                for i in range(1, SLOTS + 1)
            ]
        fine_alpha = gr.Slider(
            0,
            1,
            value=0.6,
            step=0.05,
            label="Strength at the shallow levels",
            visible=bool(coarse and fine),
            elem_id="fine-alpha",
        )
        blend = gr.Radio(
            list(BLENDS),
            value="linear",
            label="Blend",
            info="how several styles mix: linear (the paper's) or wasserstein (keeps each style's structure)",
            elem_id="blend",
        )
    return per_level, fine_weights, fine_alpha, blend


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
    app = App(model if model is not None else wct.load(half=env_precision()), time_limit=time_limit, output_ttl=output_ttl)
    presets = app.presets
    first = next(iter(presets))
    device = "GPU" if app.model.device.type == "cuda" else "CPU"
    if app.model.precision != "float32":
        device += f" in {app.model.precision}"

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
                masks, painter = region_controls()
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
                preserve = gr.Radio(
                    list(PRESERVE),
                    value="off",
                    label="Keep the photo's colours",
                    info="luminance: the style's light and strokes in the photo's hues; histogram: each style image "
                    "first takes the photo's palette (slower: styles are measured again for each photo)",
                    elem_id="preserve",
                )
                per_level, fine_weights, fine_alpha, blend = mixing_controls(app.available)
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

        ui_inputs = [
            content,
            *styles,
            *weights,
            alpha,
            size,
            levels,
            *masks,
            preserve,
            per_level,
            *fine_weights,
            fine_alpha,
            blend,
            painter,
        ]
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
        # the painter shows the photo to paint on (its strokes are read when a stylization runs)
        content.change(lambda c: c, content, painter, api_visibility="private", queue=False)

        run.click(app.ui_stylize, ui_inputs, ui_outputs, api_visibility="undocumented", api_name="stylize_ui", **heavy)
        gr.on(
            [
                *(w.release for w in [*weights, *fine_weights]),
                alpha.release,
                fine_alpha.release,
                size.release,
                preserve.input,
                per_level.input,
                blend.input,
            ],
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
        api_trigger.click(
            app.api_stylize_advanced,
            ui_inputs[:-1],  # the form without the painter: API clients send masks
            result,
            api_name="stylize_advanced",
            api_description="/stylize plus: the levels to run; a mask image per style (None for none; region i takes "
            "style i, styles without one share the rest); preserve_color off|luminance|histogram; per_level (then the "
            "weights and alpha apply to relu5_1, relu4_1 and fine_weight_1..4, fine_alpha to the finer levels); blend "
            "linear|wasserstein. Returns the stylized PNG.",
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
    demo.launch(**launch_kwargs())
