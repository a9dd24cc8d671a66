"""The Gradio app (app.py), driven as a user or client would: a real server on loopback, real uploads, real decoders.
(The app under load, over its time limit and its file clean-up: test_app_load.py.)

The app runs in-process on 127.0.0.1 at a free port with the shipped decoders (every level the manifest has;
the /stylize endpoint runs them all), and is reached through gradio_client and, when Debian's chromium is
installed, through Playwright. Images are small and the output size is small, so the whole file stays fast.
"""

from __future__ import annotations

import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # no telemetry, no version check: starts offline

import base64
import re
import socket
import struct
import sys
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import wct

gr = pytest.importorskip("gradio", reason="the app needs gradio: pip install -e '.[app]'")
gradio_client = pytest.importorskip("gradio_client")
from conftest import smooth_image
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
import app
from wct_app import limits
from wct_app.levels import level_presets
from wct_app.masks import PAINT, combined, painted_masks
from wct_app.status import shares_text

pytestmark = [  # gradio's queue uses pandas options that pandas 3 deprecates; nothing to act on here
    pytest.mark.filterwarnings("ignore:.*no_silent_downcasting"),
    pytest.mark.filterwarnings("ignore:The copy keyword is deprecated"),
]

CHROMIUM = Path("/usr/bin/chromium")
BROWSER_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
SIZE = 96  # output long side for the API tests
TIMEOUT = 120  # seconds any single request may take on a busy CPU
PATH_REFUSED = "content: only images uploaded to this app are accepted, not server file paths"
META = {"_type": "gradio.FileData"}  # the tag Gradio's FileData payloads carry
NO_MASKS = (None, None, None, None)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(model, tmp_path_factory):
    """(demo, url): the app over the shipped model, listening on loopback."""
    if not model.available_levels():
        pytest.fail("no shipped decoders: decoders/MANIFEST.json lists none (or WCT_DECODERS_DIR points nowhere)")
    old_tmp = os.environ.get("GRADIO_TEMP_DIR")
    os.environ["GRADIO_TEMP_DIR"] = str(tmp_path_factory.mktemp("gradio"))
    demo = app.build_demo(model)
    try:
        _, url, _ = demo.launch(
            server_name="127.0.0.1", server_port=free_port(), prevent_thread_lock=True, quiet=True, **app.launch_kwargs()
        )
        yield demo, url
    finally:
        demo.close()
        if old_tmp is None:
            os.environ.pop("GRADIO_TEMP_DIR", None)
        else:
            os.environ["GRADIO_TEMP_DIR"] = old_tmp


@pytest.fixture(scope="module")
def client(server, tmp_path_factory):
    return Client(server[1], verbose=False, download_files=str(tmp_path_factory.mktemp("downloads")))


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> dict[str, Path]:
    """A content image and three style images as PNG files (the same bytes across tests, so styles are cached)."""
    d = tmp_path_factory.mktemp("images")
    out = {"content": d / "content.png"}
    Image.fromarray(smooth_image(72, 88, seed=1)).save(out["content"])
    for i, seed in enumerate((3, 4, 5)):
        out[f"style{i}"] = d / f"style{i}.png"
        Image.fromarray(smooth_image(64, 80, seed=seed)).save(out[f"style{i}"])
    return out


def file_arg(value):
    """A path as an upload (handle_file); None and raw dicts (hand-made payloads) as they are."""
    return value if value is None or isinstance(value, dict) else handle_file(str(value))


def stylize(client, content, styles, weights=(1, 1, 1, 1), alpha=0.6, size=SIZE) -> np.ndarray:
    """Call /stylize exactly as documented: content, styles 1..4 (None when unused), 4 weights, alpha, size."""
    slots = [file_arg(s) for s in styles] + [None] * (4 - len(styles))
    job = client.submit(file_arg(content), *slots, *weights, alpha, size, api_name="/stylize")
    path = job.result(timeout=TIMEOUT)
    assert Path(path).suffix == ".png"
    return np.asarray(Image.open(path).convert("RGB"), dtype=np.int16)


def engine_message(fn) -> str:
    with pytest.raises(wct.WCTError) as info:
        fn()
    return str(info.value)


def bomb_png(path: Path, side: int = 8_000) -> Path:
    """A valid PNG of side x side bilevel pixels (64 MP, a few kB): decoded to RGB floats it would take 770 MB."""
    Image.new("1", (side, side)).save(path)
    return path


def upload(url: str, path: Path) -> str:
    """Upload a file as the browser does; returns where Gradio stored it (in its cache folder)."""
    import httpx

    with open(path, "rb") as f:
        r = httpx.post(f"{url}gradio_api/upload", files={"files": (path.name, f, "image/png")}, timeout=TIMEOUT)
    r.raise_for_status()
    return r.json()[0]


def raw_call(url: str, *data) -> str:
    """POST a hand-made payload to /stylize (no gradio_client processing) and return the event stream's text."""
    import httpx

    r = httpx.post(f"{url}gradio_api/call/stylize", json={"data": list(data)}, timeout=TIMEOUT)
    r.raise_for_status()
    return httpx.get(f"{url}gradio_api/call/stylize/{r.json()['event_id']}", timeout=TIMEOUT).text


def huge_png(path: Path, width: int = 10_000, height: int = 6_000) -> Path:
    """A tiny file whose header claims width x height pixels (over wct.image.MAX_PIXELS)."""
    Image.new("RGB", (8, 8), "white").save(path)
    data = bytearray(path.read_bytes())
    ihdr = data[12:29]  # b"IHDR" + 13 bytes
    ihdr[4:12] = struct.pack(">II", width, height)
    data[12:29] = ihdr
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(ihdr)))
    path.write_bytes(bytes(data))
    return path


def tinted(h: int, w: int, seed: int, rgb: tuple[float, float, float]) -> np.ndarray:
    """A textured image whose colours lean strongly towards ``rgb`` (floats in [0, 1])."""
    base = smooth_image(h, w, seed).astype(np.float64) / 255
    return (255 * (0.25 * base + 0.75 * np.asarray(rgb))).clip(0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def regions(tmp_path_factory, images) -> dict[str, Path]:
    """A red and a blue style image, and masks over the content (72x88): its left and right halves, the left half at
    twice the size, one of the wrong aspect (square) and an empty one."""
    d = tmp_path_factory.mktemp("regions")
    out = {"red": d / "red.png", "blue": d / "blue.png"}
    Image.fromarray(tinted(64, 80, 6, (0.9, 0.15, 0.1))).save(out["red"])
    Image.fromarray(tinted(64, 80, 7, (0.1, 0.2, 0.9))).save(out["blue"])
    left = np.zeros((72, 88), np.uint8)
    left[:, :44] = 255
    for name, mask in {
        "left": left,
        "right": 255 - left,
        "left_big": np.kron(left, np.ones((2, 2), np.uint8)),
        "square": np.full((80, 80), 255, np.uint8),
        "empty": np.zeros((72, 88), np.uint8),
    }.items():
        out[name] = d / f"{name}.png"
        Image.fromarray(mask).save(out[name])
    return out


def advanced(client, content, styles, *, levels, weights=(1, 1, 1, 1), alpha=0.6, size=SIZE, masks=(), preserve="off",
             per_level=False, fine_weights=(1, 1, 1, 1), fine_alpha=0.6, blend="linear", engine=()) -> np.ndarray:  # fmt: skip
    """Call /stylize_advanced as documented: /stylize's values, levels, masks 1..4, preserve_color, per_level, fine
    weights 1..4, fine alpha, blend, then (``engine``, when given) refine, transform and photorealistic."""
    slots = [file_arg(s) for s in styles] + [None] * (4 - len(styles))
    mask_slots = [file_arg(m) for m in masks] + [None] * (4 - len(masks))
    job = client.submit(file_arg(content), *slots, *weights, alpha, size, levels, *mask_slots, preserve, per_level,
                        *fine_weights, fine_alpha, blend, *engine, api_name="/stylize_advanced")  # fmt: skip
    path = job.result(timeout=TIMEOUT)
    assert Path(path).suffix == ".png"
    return np.asarray(Image.open(path).convert("RGB"), dtype=np.int16)


def as_array(image) -> np.ndarray:
    return np.asarray(image.convert("RGB"), dtype=np.int16)


def chroma(rgb: np.ndarray) -> np.ndarray:
    """Cb and Cr (BT.601, as in JPEG) of an HxWx3 array in 0..255: HxWx2."""
    m = np.array([[-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]])
    return rgb.astype(np.float64) @ m.T


def distance_to(rgb: np.ndarray, colour: np.ndarray) -> float:
    """Mean distance of the pixels of ``rgb`` (HxWx3) to one colour."""
    return float(np.linalg.norm(rgb.astype(np.float64) - colour, axis=-1).mean())


# ----- helpers that need no server ---------------------------------------------------------------
def test_presets_offer_only_levels_with_decoders():
    assert level_presets(("relu1_1",)) == {"standard (relu1_1)": ["relu1_1"]}
    everything = level_presets(wct.LEVELS)
    assert everything == {
        "standard (relu4_1..relu1_1)": ["relu4_1", "relu3_1", "relu2_1", "relu1_1"],
        "full (5 levels)": ["relu5_1", "relu4_1", "relu3_1", "relu2_1", "relu1_1"],
        "fast (relu5_1..relu3_1)": ["relu5_1", "relu4_1", "relu3_1"],
        "fine detail only (relu2_1, relu1_1)": ["relu2_1", "relu1_1"],
    }
    assert shares_text([1, 3], [1.0, 3.0]) == "style 1 25 % · style 3 75 %"


def test_space_requirements_match_pyproject():
    """requirements.txt (what a Hugging Face Space installs) = the project's dependencies + its "app" extra."""
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = {d.replace(" ", "") for d in project["dependencies"] + project["optional-dependencies"]["app"]}
    lines = (ROOT / "requirements.txt").read_text().splitlines()
    have = {line.split("#")[0].strip().replace(" ", "") for line in lines} - {""}
    options = {line for line in have if line.startswith("-")}  # pip's options: the CPU build's index
    assert have - options == wanted and options == {"--extra-index-url https://download.pytorch.org/whl/cpu".replace(" ", "")}


def test_queue_and_limits(server):
    demo, _ = server
    assert demo._queue.max_size == limits.QUEUE_SIZE == 16
    assert demo._queue.default_concurrency_limit == limits.CONCURRENCY == 1  # WCT_APP_CONCURRENCY unset
    assert demo.wct.time_limit == limits.TIME_LIMIT == 120  # WCT_APP_TIMEOUT unset
    assert app.launch_kwargs()["max_file_size"] == 25 * 1024 * 1024
    assert demo.delete_cache == (600, 3600)  # uploads and results live at most 70 minutes
    assert demo.wct.max_size == (2048 if demo.wct.model.device.type == "cuda" else 1024)


def test_painted_strokes_become_one_mask_per_brush_colour():
    """Each painted pixel goes to the style of the nearest brush colour; transparent pixels are not painted; a later
    layer paints over an earlier one; a colour nobody used gives no mask."""
    (_, red), (_, green), (_, blue), (_, yellow) = PAINT
    first = np.zeros((40, 60, 4), np.uint8)
    first[:, :20] = (*red, 255)  # style 1: the left third
    first[:, 40:] = (*green, 128)  # style 2: the right third, half transparent (still painted)
    first[:, 20:40, :3] = blue  # colour without alpha: not painted
    second = np.zeros_like(first)
    second[:10, :10] = (*yellow, 255)  # style 4, over style 1's top-left corner
    masks = painted_masks([first, second])
    assert masks[2] is None
    m1, m2, m4 = (np.asarray(masks[i]) > 0 for i in (0, 1, 3))
    assert m1.shape == (40, 60) and m1.sum() == 40 * 20 - 100 and not m1[:10, :10].any()
    assert m2.sum() == 40 * 20 and m2[:, 40:].all()
    assert m4.sum() == 100 and m4[:10, :10].all()
    assert painted_masks([]) == [None] * 4


def test_a_slots_upload_and_strokes_add_up_at_the_uploads_size():
    """One slot's mask for the engine: the upload alone, the strokes alone, or where either is white, the strokes
    resized to the upload (whose aspect ratio the engine then checks); transparency counts as white, as in the engine."""
    upload = np.zeros((36, 44), np.uint8)
    upload[:, :11] = 255  # the left quarter
    strokes = np.zeros((72, 88), np.uint8)
    strokes[:, 66:] = 255  # the right quarter, at twice the size
    up, painted = Image.fromarray(upload), Image.fromarray(strokes)
    assert combined(up, None) is up and combined(None, painted) is painted and combined(None, None) is None
    both = combined(up, painted)
    assert both.shape == (36, 44) and both.dtype == np.float32
    assert both[:, :11].min() == 1 and both[:, 34:].min() == 1 and both[:, 12:31].max() == 0  # (the seam resampled)
    clear = Image.fromarray(np.zeros((36, 44, 4), np.uint8))  # fully transparent: white
    assert combined(clear, painted).min() == 1


# ----- through gradio_client ---------------------------------------------------------------------
def test_one_style_matches_the_python_api(client, server, images, model):
    out = stylize(client, images["content"], [images["style0"]])
    assert out.shape == (72, 88, 3)  # long side 88 <= SIZE: kept
    content = np.asarray(Image.open(images["content"]).convert("RGB"), dtype=np.int16)
    assert np.abs(out - content).mean() > 1  # it did restyle
    ref = model.stylize(images["content"], images["style0"], alpha=0.6, max_size=SIZE)
    diff = np.abs(out - np.asarray(ref, dtype=np.int16))
    assert diff.max() <= 2 and diff.mean() < 0.05  # the app is a thin layer over wct


def test_three_style_blend_follows_the_weights(client, server, images):
    demo, _ = server
    styles = [images["style0"], images["style1"], images["style2"]]
    even = stylize(client, images["content"], styles, weights=(1, 1, 1, 1))
    misses = demo.wct.styles.misses
    skewed = stylize(client, images["content"], styles, weights=(0.1, 0.2, 1, 1))
    first_only = stylize(client, images["content"], styles, weights=(1, 0, 0, 1))
    assert demo.wct.styles.misses == misses  # a mix change re-uses the cached style statistics
    assert np.abs(even - skewed).mean() > 1
    assert np.abs(even - first_only).mean() > 1
    alone = stylize(client, images["content"], [images["style0"]])
    assert np.abs(first_only - alone).max() <= 2  # weight 0 really drops a style


def test_bad_requests_get_readable_errors_and_the_app_keeps_serving(client, images, model, tmp_path):
    text = tmp_path / "notes.png"
    text.write_text("this is not an image\n")
    broken = tmp_path / "broken.png"
    broken.write_bytes(images["content"].read_bytes()[:300])
    huge = huge_png(tmp_path / "huge.png")
    bomb = bomb_png(tmp_path / "bomb.png")
    style = images["style0"]
    cases = [  # (content, styles, weights, size, expected message)
        (images["content"], [style, text], (1, 1, 1, 1), SIZE, "style 2: " + engine_message(lambda: model.compute_style(text))),
        (broken, [style], (1, 1, 1, 1), SIZE, "content: " + engine_message(lambda: model.stylize(broken, style))),
        (huge, [style], (1, 1, 1, 1), SIZE, "content: " + engine_message(lambda: model.stylize(huge, style))),
        (bomb, [style], (1, 1, 1, 1), SIZE, "content: bomb.png is 8000x8000 = 64.0 MP, over the limit"),
        (
            images["content"],
            [style],
            (0, 1, 1, 1),
            SIZE,
            engine_message(lambda: wct.Style.blend([model.compute_style(style)], [0])),
        ),
        (images["content"], [], (1, 1, 1, 1), SIZE, "add at least one style image"),
        (None, [style], (1, 1, 1, 1), SIZE, "add a content image (upload, webcam or paste)"),
        (images["content"], [style], (1, 1, 1, 1), 99_999, "the output size must be a whole number of pixels from 64 to"),
        ({"path": "/etc/passwd"}, [style], (1, 1, 1, 1), SIZE, PATH_REFUSED),  # a server path, not an upload
        (images["content"], [style, {"path": str(ROOT / "app.py")}], (1, 1, 1, 1), SIZE, "style 2: only images uploaded"),
    ]
    for content, styles, weights, size, expected in cases:
        with pytest.raises(AppError) as info:
            stylize(client, content, styles, weights=weights, size=size)
        message = str(info.value)
        assert message.startswith(expected), (message, expected)
        assert "Traceback" not in message and 'File "' not in message
    assert "over the limit" in cases[2][-1] and "not a readable image" in cases[0][-1]
    assert stylize(client, images["content"], [style]).shape == (72, 88, 3)  # still serving


def test_gradio_refuses_foreign_file_payloads_before_the_handler(server, images):
    """Gradio 6 checks FileData payloads (with their "meta" tag) against its upload folder and refuses plain strings
    for image inputs, even with preprocess=False: the handler never runs and the answer carries no message. A dict
    without the tag passes Gradio and reaches the handler, which refuses it itself (PATH_REFUSED)."""
    demo, url = server
    style = {"path": str(ROOT / "README.md"), "meta": META}
    uploaded = upload(url, images["style0"])
    refused_by_gradio = [
        {"path": "/etc/passwd", "meta": META},
        {"path": f"{demo.wct.cache_dir}/../../../etc/passwd", "meta": META},
        {"path": str(limits.ASSETS / "content.jpg"), "meta": META},  # allowed_paths does not widen inputs
        "/etc/passwd",
        uploaded,  # a plain string is refused even for a real upload
    ]
    for content in refused_by_gradio:
        text = raw_call(url, content, {"path": uploaded, "meta": META}, None, None, None, 1, 1, 1, 1, 0.6, SIZE)
        assert "event: error" in text and '"error": null' in text, (content, text)
    text = raw_call(url, {"path": uploaded, "meta": META}, style, None, None, None, 1, 1, 1, 1, 0.6, SIZE)
    assert '"error": null' in text, text
    text = raw_call(url, {"path": "/etc/passwd"}, {"path": uploaded, "meta": META}, None, None, None, 1, 1, 1, 1, 0.6, SIZE)
    assert PATH_REFUSED in text and "Traceback" not in text and "root:" not in text, text
    inline = {"url": "data:image/png;base64," + base64.b64encode(images["content"].read_bytes()).decode(), "meta": META}
    text = raw_call(url, inline, {"path": uploaded, "meta": META}, None, None, None, 1, 1, 1, 1, 0.6, SIZE)
    assert "event: complete" in text and "stylized.png" in text, text  # no path: Gradio passes it, we decode it


def test_the_handler_opens_only_uploads_and_examples(server, images, monkeypatch):
    """Our own guard, called directly: a path resolves inside Gradio's cache folder or the examples, or is refused
    before anything reads it (no "no such file" oracle either)."""
    demo, url = server
    handlers = demo.wct
    uploaded = Path(upload(url, images["style0"]))
    link = Path(handlers.cache_dir) / "escape.png"
    link.symlink_to("/etc/passwd")
    ok = str(images["style0"])  # outside the cache: the style slot is refused too

    def run(content, style=uploaded):
        return handlers.api_stylize(content, style, None, None, None, 1, 1, 1, 1, 0.6, SIZE, progress=lambda *a, **k: None)

    for content in [
        "/etc/passwd",
        "/no/such/file.png",
        {"path": "/etc/shadow"},
        {"path": str(link), "meta": META},  # a link in the cache that leads out of it
        f"{handlers.cache_dir}/../../../../etc/passwd",
        "app.py",  # relative: resolved against the working directory
        "/etc/passwd\x00.png",
        str(images["content"]),  # a real image, but not an upload
    ]:
        with pytest.raises(gr.Error) as info:
            run(content)
        assert info.value.message == PATH_REFUSED, (content, info.value.message)
    link.unlink()
    with pytest.raises(gr.Error, match="style 1: only images uploaded"):
        run(str(uploaded), ok)
    assert Path(run({"path": str(uploaded), "meta": META})).suffix == ".png"  # an upload
    assert Path(run(str(limits.ASSETS / "content.jpg"))).suffix == ".png"  # an example
    data_url = {"url": "data:image/png;base64," + base64.b64encode(uploaded.read_bytes()).decode(), "meta": META}
    assert Path(run(data_url)).suffix == ".png"  # an inline image is written into the app's own folder first
    monkeypatch.setattr(limits, "MAX_UPLOAD_BYTES", 100)
    with pytest.raises(gr.Error, match="content: the image is over the upload limit"):
        run(data_url)


def test_ui_run_offers_the_png_and_a_loadable_style_file(client, images, model, tmp_path):
    levels = list(model.available_levels())
    job = client.submit(
        handle_file(str(images["content"])),
        handle_file(str(images["style0"])),
        handle_file(str(images["style1"])),
        None,
        None,
        1,
        3,
        1,
        1,
        0.6,
        SIZE,
        levels,
        *NO_MASKS,
        "off",
        False,
        *(1, 1, 1, 1),
        0.6,
        "linear",
        0,  # refine
        wct.DEFAULT_TRANSFORM,  # transform
        False,  # photorealistic
        None,  # the region painter (unused)
        None,  # the model choice: the app's default
        api_name="/stylize_ui",
    )
    image, files, status = job.result(timeout=TIMEOUT)[:3]
    assert "style 1 25 % · style 2 75 %" in status
    png = next(Path(f) for f in files if f.endswith(".png"))
    saved = next(Path(f) for f in files if f.endswith(".safetensors"))
    assert Image.open(png).format == "PNG" and Image.open(image).size == (88, 72)
    style = wct.Style.load(saved)
    assert set(style.levels) == set(levels)
    out = tmp_path / "cli.png"
    from wct.cli import main

    assert (
        main(
            [
                "stylize",
                str(images["content"]),
                "-s",
                str(saved),
                "-o",
                str(out),
                "--levels",
                ",".join(levels),
                "--alpha",
                "0.6",
                "--size",
                str(SIZE),
                "--device",
                "cpu",
            ]
        )
        == 0
    )
    cli = np.asarray(Image.open(out).convert("RGB"), dtype=np.int16)
    assert np.abs(cli - np.asarray(Image.open(png).convert("RGB"), dtype=np.int16)).max() <= 2  # same style, same result


def test_ui_status_describes_regions_colours_and_levels(client, images, regions, model):
    """A run with masks says which styles went where, and offers only the PNG (there is no single blended style)."""
    levels = list(model.available_levels())
    job = client.submit(handle_file(str(images["content"])), handle_file(str(regions["red"])),
                        handle_file(str(regions["blue"])), handle_file(str(images["style0"])), None, 1, 1, 3, 1, 0.6, SIZE,
                        levels, None, handle_file(str(regions["right"])), None, None, "luminance", True, 1, 1, 1, 1, 0.8,
                        "linear", 0, wct.DEFAULT_TRANSFORM, False, None, None, api_name="/stylize_ui")  # fmt: skip
    _, files, status = job.result(timeout=TIMEOUT)[:3]
    assert [Path(f).suffix for f in files] == [".png"]
    assert "regions: style 2 · rest: style 1 25 % · style 3 75 % · shallow levels: α 0.80, style 1 50 % · style 3 50 %" in status
    assert status.endswith("colours kept: luminance"), status


def test_painted_strokes_mark_regions_like_masks(client, server, images, regions, tmp_path):
    """The form sends the painter's layers with the run: red strokes over the left half give style 1 that half and
    style 2 the rest, as masks do; strokes in the colour of an empty slot get a clear message."""
    levels = server[0].wct.available
    layer = np.zeros((72, 88, 4), np.uint8)
    layer[:, :44] = (*PAINT[0][1], 255)
    Image.fromarray(layer).save(tmp_path / "red.png")
    layer[:, :44] = (*PAINT[1][1], 255)
    Image.fromarray(layer).save(tmp_path / "green.png")

    def ui(styles, strokes):
        painting = {"background": None, "layers": [handle_file(str(strokes))], "composite": None}
        slots = [handle_file(str(s)) for s in styles] + [None] * (4 - len(styles))
        job = client.submit(handle_file(str(images["content"])), *slots, 1, 1, 1, 1, 1.0, SIZE, levels, *NO_MASKS, "off",
                            False, 1, 1, 1, 1, 0.6, "linear", 0, wct.DEFAULT_TRANSFORM, False, painting, None,
                            api_name="/stylize_ui")  # fmt: skip
        return job.result(timeout=TIMEOUT)

    image, _, status = ui([regions["red"], regions["blue"]], tmp_path / "red.png")[:3]
    assert "regions: style 1 · rest: style 2 100 %" in status
    masked = advanced(client, images["content"], [regions["red"], regions["blue"]], levels=levels, alpha=1.0,
                      masks=[regions["left"], regions["right"]])  # fmt: skip
    assert np.abs(as_array(Image.open(image)) - masked).max() <= 2
    with pytest.raises(AppError, match="the green strokes mark style 2, which has no image: add style 2, or erase them"):
        ui([regions["red"]], tmp_path / "green.png")


def test_uploads_over_the_size_cap_are_refused(server, client, images):
    import httpx

    _, url = server
    big = httpx.post(
        f"{url}gradio_api/upload", files={"files": ("big.png", bytes(26 * 1024 * 1024), "image/png")}, timeout=TIMEOUT
    )
    assert big.status_code == 413 and "maximum allowed size" in big.text
    assert stylize(client, images["content"], [images["style0"]]).shape == (72, 88, 3)  # still serving


def test_masks_give_each_region_its_own_style(client, server, images, regions, model):
    """Two styles, mask 1 over the left half and mask 2 over the right: the left half takes the red style's colours,
    the right half the blue one's; the result is the Python API's with the same masks."""
    levels = server[0].wct.available
    styles, masks = [regions["red"], regions["blue"]], [regions["left"], regions["right"]]
    out = advanced(client, images["content"], styles, levels=levels, alpha=1.0, masks=masks)
    red, blue = (np.asarray(Image.open(regions[c]).convert("RGB"), np.float64).reshape(-1, 3).mean(0) for c in ("red", "blue"))
    left, right = out[:, :36], out[:, 52:]  # away from the seam
    assert distance_to(left, red) < distance_to(left, blue) and distance_to(left, red) < distance_to(right, red)
    assert distance_to(right, blue) < distance_to(right, red) and distance_to(right, blue) < distance_to(left, blue)
    ref = model.stylize(images["content"], styles, masks=masks, alpha=1.0, levels=levels, max_size=SIZE)
    assert np.abs(out - as_array(ref)).max() <= 2  # the app is a thin layer over wct


def test_styles_without_a_mask_share_the_rest(client, server, images, regions):
    """A mask for style 2 only: style 1 takes the rest (the same picture as masking both halves). With every style
    masked, the unmasked part keeps the photo."""
    levels = server[0].wct.available
    styles = [regions["red"], regions["blue"]]
    both = advanced(client, images["content"], styles, levels=levels, alpha=1.0, masks=[regions["left"], regions["right"]])
    one = advanced(client, images["content"], styles, levels=levels, alpha=1.0, masks=[None, regions["right"]])
    assert np.abs(one - both).max() <= 2
    photo = as_array(Image.open(images["content"]))
    left_only = advanced(client, images["content"], [regions["red"]], levels=levels, alpha=1.0, masks=[regions["left"]])
    everywhere = advanced(client, images["content"], [regions["red"]], levels=levels, alpha=1.0)
    changed, restyled = np.abs(left_only - photo).mean(-1), np.abs(everywhere - photo).mean(-1)
    # the right half stays far nearer the photo than when the whole picture takes the style (what remains is the
    # decoders' reconstruction error and the seam's reach, large on a picture this small)
    assert changed[:, 52:].mean() < 0.65 * restyled[:, 52:].mean()  # 0.602 with the tenth session's relu5_1
    assert changed[:, :36].mean() > 0.8 * restyled[:, :36].mean()  # while the left half is restyled


def test_mask_problems_get_clear_messages(client, server, images, regions, model):
    """The engine checks the masks; its message reaches the client, numbered by the form's slots (slots 1 and 3 in use:
    the engine's second mask is mask 3)."""
    levels = server[0].wct.available
    red, blue = regions["red"], regions["blue"]
    small = advanced(client, images["content"], [red, blue], levels=levels, masks=[regions["left"], regions["right"]])
    big = advanced(client, images["content"], [red, blue], levels=levels, masks=[regions["left_big"], regions["right"]])
    assert np.abs(big - small).mean() < 0.5  # any size with the content's aspect ratio (the seam may shift a little)
    square = engine_message(lambda: model.stylize(images["content"], [red], masks=[regions["square"]], levels=levels))
    empty = engine_message(lambda: model.stylize(images["content"], [red, blue], masks=[None, regions["empty"]]))
    assert square.startswith("mask 1 is 80x80") and "content's aspect ratio" in square, square
    assert empty.startswith("mask 2 is empty (all black)"), empty
    cases = [  # (styles, options, expected start of the message)
        ([red], {"masks": [regions["square"]]}, square),
        ([red, blue], {"masks": [None, regions["empty"]]}, empty),
        ([red, None, blue], {"masks": [None, None, regions["empty"]]}, empty.replace("mask 2", "mask 3")),
        ([red, blue], {"masks": [None, None, regions["left"]]}, "mask 3 has no style image: add style 3, or remove mask 3"),
        ([red], {"preserve": "sepia"}, "colour preservation must be one of off, luminance, histogram, got 'sepia'"),
        ([red, blue], {"blend": "median"}, "the blend must be one of linear, wasserstein, got 'median'"),
        ([red], {"per_level": True, "fine_alpha": 1.5}, "alpha must be in [0, 1], got 1.5"),
    ]
    for styles, options, expected in cases:
        with pytest.raises(AppError) as info:
            advanced(client, images["content"], styles, levels=levels, **options)
        assert str(info.value).startswith(expected), (str(info.value), expected)
        assert "Traceback" not in str(info.value)


def test_histogram_mode_shares_the_rest_by_the_mix(client, server, images, regions, model):
    """With colour preservation 'histogram' the styles without a mask share the rest of the picture by their weights,
    as in the Python API (the engine recolours and blends the style images itself)."""
    levels = server[0].wct.available
    styles = [regions["red"], regions["blue"], images["style0"]]
    out = advanced(client, images["content"], styles, levels=levels, masks=[regions["left"]], preserve="histogram",
                   weights=(1, 2, 1, 1))  # fmt: skip
    even = advanced(client, images["content"], styles, levels=levels, masks=[regions["left"]], preserve="histogram")
    ref = model.stylize(images["content"], styles, masks=[regions["left"], None, None], weights=[1, 2, 1], alpha=0.6,
                        levels=levels, max_size=SIZE, preserve_color="histogram")  # fmt: skip
    assert np.abs(out - as_array(ref)).max() <= 2
    assert np.abs(out - even)[:, 52:].mean() > 0.5  # the weights reach the rest of the picture


def test_preserve_color_keeps_the_photos_colours(client, server, images, regions):
    """luminance: the output's chroma (Cb, Cr) is the photo's; histogram: the style takes the photo's palette, so the
    output's mean colour stays near the photo's, unlike a plain run after a red painting."""
    levels = server[0].wct.available
    photo = as_array(Image.open(images["content"]))
    plain = advanced(client, images["content"], [regions["red"]], levels=levels, alpha=1.0)
    kept = advanced(client, images["content"], [regions["red"]], levels=levels, alpha=1.0, preserve="luminance")
    assert kept.shape == plain.shape == photo.shape
    kept_error, plain_error = (np.abs(chroma(x) - chroma(photo)).mean() for x in (kept, plain))
    assert kept_error < 1.5 and plain_error > 10 * kept_error, (kept_error, plain_error)
    recoloured = advanced(client, images["content"], [regions["red"]], levels=levels, alpha=1.0, preserve="histogram")
    shift = {name: np.abs(x.mean((0, 1)) - photo.mean((0, 1))).max() for name, x in [("plain", plain), ("hist", recoloured)]}
    assert shift["hist"] < shift["plain"] / 2, shift


def test_per_level_mix_sets_the_coarse_and_the_fine_levels_apart(client, server, images, regions, model):
    """Per-level on: the Mix sliders and alpha set relu5_1 and relu4_1, the fine mix and strength the other levels,
    as wct.stylize(weights={level: ...}, alpha={level: ...}) does; off, the fine controls change nothing."""
    levels = server[0].wct.available
    styles = [regions["red"], regions["blue"]]
    plain = advanced(client, images["content"], styles, levels=levels)
    off = advanced(client, images["content"], styles, levels=levels, fine_weights=(0, 1, 1, 1), fine_alpha=1.0)
    assert np.abs(off - plain).max() <= 2
    mixed = advanced(client, images["content"], styles, levels=levels, weights=(1, 0, 1, 1), per_level=True,
                     fine_weights=(0, 1, 1, 1), fine_alpha=0.9)  # fmt: skip
    assert np.abs(mixed - plain).mean() > 2
    weights = {"relu5_1": [1, 0], "relu4_1": [1, 0], "default": [0, 1]}
    alpha = {"relu5_1": 0.6, "relu4_1": 0.6, "default": 0.9}
    ref = model.stylize(images["content"], styles, weights=weights, alpha=alpha, levels=levels, max_size=SIZE)
    assert np.abs(mixed - as_array(ref)).max() <= 2


def test_refine_transform_and_photorealistic_reach_the_engine(client, server, images, regions, model):
    """/stylize_advanced's last three inputs are Model.stylize's refine, transform and photorealistic: the app's picture
    is the Python API's. A client that stops after the blend method (as clients did before these existed) gets them
    off, exactly."""
    levels = server[0].wct.available
    content, style = images["content"], regions["red"]
    before = advanced(client, content, [style], levels=levels)
    default = wct.DEFAULT_TRANSFORM
    other = next(t for t in ("wct", "ost") if t != default)
    off = advanced(client, content, [style], levels=levels, engine=(0, default, False))
    assert np.array_equal(before, off)
    for (refine, transform, photo), lvls in [((2, default, False), levels), ((0, other, False), levels),
                                             ((0, default, True), ["relu1_1"])]:  # fmt: skip
        out = advanced(client, content, [style], levels=lvls, alpha=0.8, engine=(refine, transform, photo))
        ref = model.stylize(content, style, levels=lvls, alpha=0.8, max_size=SIZE, refine=refine, transform=transform,
                            photorealistic=photo)  # fmt: skip
        assert np.abs(out - as_array(ref)).max() <= 2, (refine, transform, photo)
        assert np.abs(out - advanced(client, content, [style], levels=lvls, alpha=0.8)).mean() > 0.5, (refine, transform, photo)


def test_bad_engine_controls_get_clear_messages(client, server, images):
    levels = server[0].wct.available
    top = limits.MAX_REFINE_STEPS
    cases = [
        ((2.5, "wct", False), f"the refinement steps must be a whole number from 0 to {top}, got 2.5"),
        ((top + 1, "wct", False), f"the refinement steps must be a whole number from 0 to {top}, got {top + 1}"),
        (("many", "wct", False), "the refinement steps must be a number, got 'many'"),
        ((0, "median", False), "the transform must be one of wct, ost, got 'median'"),
        ((0, "wct", "yes"), "photorealistic must be True or False, got 'yes'"),
    ]
    for engine, expected in cases:
        with pytest.raises(AppError) as info:
            advanced(client, images["content"], [images["style0"]], levels=levels, engine=engine)
        assert str(info.value).startswith(expected) and "Traceback" not in str(info.value), (str(info.value), expected)


def test_the_progress_bar_counts_the_refinement_steps_and_the_smoothing(server, images):
    """While refining, the progress bar says "refining i/N"; the photo-realistic smoothing is a step of its own."""
    demo, url = server
    content, style = upload(url, images["content"]), upload(url, images["style0"])
    said = []
    demo.wct.api_stylize_advanced(content, style, None, None, None, 1, 1, 1, 1, 0.6, SIZE, ["relu2_1", "relu1_1"], *NO_MASKS,
                                  "off", False, 1, 1, 1, 1, 0.6, "linear", 3, "wct", True,
                                  progress=lambda *a, desc="", **k: said.append(desc))  # fmt: skip
    assert said == ["measuring styles", "stylizing: relu2_1", "relu2_1 done (1/2)", "relu1_1 done (2/2)", "refining 1/3",
                    "refining 2/3", "refining 3/3", "smoothed"]  # fmt: skip


def test_request_bodies_over_the_limit_are_refused_before_parsing(server, client, images):
    """Any request body over MAX_BODY_BYTES (a data: URL of a full 25 MB image, plus 1 MiB) gets HTTP 413 with a
    message, whether it declares its length or is sent in chunks without one; a body just under it reaches Gradio."""
    import httpx

    _, url = server
    limit = limits.MAX_BODY_BYTES
    assert limit == limits.MAX_UPLOAD_BYTES * 4 // 3 + 2**20
    over, json_type = b" " * (limit + 1), {"content-type": "application/json"}
    message = "the request body is over the limit of 34 MB (images: 25 MB)"
    for path in ("gradio_api/call/stylize", "gradio_api/queue/join", "gradio_api/upload"):
        r = httpx.post(f"{url}{path}", content=over, headers=json_type, timeout=TIMEOUT)
        assert r.status_code == 413 and r.json() == {"detail": message}, (path, r.status_code, r.text[:200])

    def chunks():  # no Content-Length: httpx sends it chunked, and the limit counts the bytes as they arrive
        for i in range(0, len(over), 2**20):
            yield over[i : i + 2**20]

    r = httpx.post(f"{url}gradio_api/call/stylize", content=chunks(), headers=json_type, timeout=TIMEOUT)
    assert r.status_code == 413 and r.json() == {"detail": message}
    r = httpx.post(f"{url}gradio_api/call/stylize", content=over[:-2], headers=json_type, timeout=TIMEOUT)
    assert r.status_code == 422  # under the limit: Gradio parses it (and finds no JSON)
    assert stylize(client, images["content"], [images["style0"]]).shape == (72, 88, 3)  # normal requests still work


# ----- in a browser ------------------------------------------------------------------------------
def playwright_api():
    try:
        from playwright import sync_api
    except ImportError:
        pytest.fail("chromium is installed but the playwright package is not: pip install playwright (no browser download)")
    return sync_api


def open_section(page, elem_id: str, title: str) -> None:
    """Unfold one of the form's accordions (they start folded)."""
    page.locator(f"#{elem_id}").get_by_text(title).first.click()


def in_view(page, locator, viewport: dict) -> bool:
    """Whether ``locator``'s first element lies wholly inside the window as the page opens (nothing scrolled)."""
    box = locator.first.bounding_box()
    if box is None or page.evaluate("() => [window.scrollX, window.scrollY]") != [0, 0]:
        return False
    right, bottom = box["x"] + box["width"], box["y"] + box["height"]
    return box["x"] >= 0 and box["y"] >= 0 and right <= viewport["width"] and bottom <= viewport["height"]


@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed (run tests/setup_browser.sh)")
def test_browser_upload_mix_run_and_screenshot(server, tmp_path):
    """On a laptop's window the first screen holds the photo, a style, the result, the quality, the Stylize button and
    the examples; the quality choice shows the times measured here. Then: two styles mixed, a run, a live re-render and
    an example. (The README's picture, docs/app.png, is made by docs/make_app_screenshot.py; this one stays in tmp.)"""
    sync_api = playwright_api()
    _, url = server
    assets = limits.ASSETS
    shot = tmp_path / "app.png"
    laptop = {"width": 1400, "height": 1000}
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=BROWSER_ARGS)
        try:
            page = browser.new_page(viewport=laptop)
            page.set_default_timeout(TIMEOUT * 1000)
            page.goto(url)
            page.locator("#run").wait_for()
            example = page.locator("tr", has=page.locator("img[src*='content']"))
            example.first.wait_for()
            for what in ("#content", "#style-1", "#result", "#quality", "#run"):
                assert in_view(page, page.locator(what), laptop), what
            assert in_view(page, example, laptop), "the first example is below the first screen"
            page.wait_for_function(  # the page's first visit times a small run: each quality says what it takes here
                "() => /fast · (under a second|about \\d+ (s|min))/.test(document.querySelector('#quality').innerText)"
                " && /best · (under a second|about \\d+ (s|min))/.test(document.querySelector('#quality').innerText)"
            )
            page.locator("#content input[type=file]").set_input_files(str(assets / "content.jpg"))
            page.locator("#style-1 input[type=file]").set_input_files(str(assets / "style.jpg"))
            open_section(page, "more-styles", "More styles")
            page.locator("#style-2 input[type=file]").set_input_files(str(assets / "style_night_cafe.jpg"))
            for sel in ("#content img", "#style-1 img", "#style-2 img"):
                page.locator(sel).first.wait_for()
            open_section(page, "look", "Strength, colours and size")
            size = page.locator("#size input[type=number]")
            size.fill("320")
            size.press("Tab")
            # move mix 2 with the mouse to about a third of its track
            page.locator("#mix-2 input[type=range]").scroll_into_view_if_needed()
            track = page.locator("#mix-2 input[type=range]").bounding_box()
            page.mouse.click(track["x"] + track["width"] * 0.33, track["y"] + track["height"] / 2)
            shares = page.locator("#wct-shares")
            page.wait_for_function("() => /style 2 2\\d %/.test(document.querySelector('#wct-shares').innerText)")
            mix2 = float(page.locator("#mix-2 input[type=number]").input_value())
            assert 0.2 <= mix2 <= 0.45, mix2
            expected = f"style 1 {round(100 / (1 + mix2))} % · style 2 {round(100 * mix2 / (1 + mix2))} %"
            assert expected in shares.inner_text()
            page.locator("#run").click()
            page.locator("#status").get_by_text("Done in").wait_for()
            result = page.locator("#result img").first
            page.wait_for_function(
                "() => { const i = document.querySelector('#result img'); return i && i.complete && i.naturalWidth > 0 }"
            )
            assert "Stylized" in page.content() and "Traceback" not in page.content()
            assert page.locator("#downloads").get_by_text(".safetensors").count() >= 1
            status = page.locator("#status").inner_text()
            assert expected in status and re.search(r"320×\d+ px|\d+×320 px", status), status
            page.screenshot(path=str(shot), full_page=True)
            Image.open(shot).convert("RGB").quantize(256).save(
                shot, optimize=True
            )  # 256 colours: the README's picture stays small
            seconds = float(re.search(r"Done in ([\d.]+) s", status).group(1))
            if seconds < 1.9:  # the last run was quick (< LIVE_SECONDS): releasing a slider re-renders by itself
                before = result.get_attribute("src")
                page.locator("#alpha input[type=range]").scroll_into_view_if_needed()
                track = page.locator("#alpha input[type=range]").bounding_box()
                page.mouse.click(track["x"] + track["width"] * 0.9, track["y"] + track["height"] / 2)
                deadline = time.time() + TIMEOUT
                while result.get_attribute("src") == before and time.time() < deadline:
                    time.sleep(0.2)
                assert result.get_attribute("src") != before
            # one click on an example fills the inputs and stylizes them
            status_before = page.locator("#status").inner_text()
            page.locator("tr", has=page.locator("img[src*='content_rocket']")).first.click()
            page.wait_for_function(
                "(before) => { const s = document.querySelector('#status').innerText; return s !== before && /Done in/.test(s) }",
                arg=status_before,
            )
            assert "rocket" in page.locator("#content img").first.get_attribute("src")
            assert page.locator("#style-2 img").count() == 0  # the example has one style: slot 2 was emptied
        finally:
            browser.close()
    assert 10_000 < shot.stat().st_size < 300_000


@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed (run tests/setup_browser.sh)")
def test_browser_level_presets(random_model):
    """With decoders for every level, the presets offer standard / full / fast / fine detail and set the levels to run."""
    sync_api = playwright_api()
    demo = app.build_demo(random_model)
    _, url, _ = demo.launch(server_name="127.0.0.1", server_port=free_port(), prevent_thread_lock=True, quiet=True)
    try:
        with sync_api.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), args=BROWSER_ARGS)
            try:
                page = browser.new_page()
                page.set_default_timeout(TIMEOUT * 1000)
                page.goto(url)
                checked = "#levels input[type=checkbox]:checked"
                page.locator("#run").wait_for()
                open_section(page, "engine", "Levels, transform")
                page.locator("#levels input[type=checkbox]").first.wait_for()  # the section's widgets are drawn
                assert page.locator(checked).count() == 4  # the default preset: standard (relu4_1..relu1_1)
                page.locator("#preset").get_by_text("fast (relu5_1..relu3_1)").click()
                page.wait_for_function(f"() => document.querySelectorAll('{checked}').length === 3")
                page.locator("#preset").get_by_text("fine detail only (relu2_1, relu1_1)").click()
                page.wait_for_function(f"() => document.querySelectorAll('{checked}').length === 2")
            finally:
                browser.close()
    finally:
        demo.close()


@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed (run tests/setup_browser.sh)")
def test_browser_paint_a_region_keep_the_colours_and_mix_per_level(server):
    """Red strokes painted over the photo give style 1 that region and style 2 the rest; the colour and per-level
    controls are there and reach the engine."""
    sync_api = playwright_api()
    _, url = server
    assets = limits.ASSETS
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=BROWSER_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1400})
            page.set_default_timeout(TIMEOUT * 1000)
            page.goto(url)
            page.locator("#run").wait_for()
            page.locator("#content input[type=file]").set_input_files(str(assets / "content.jpg"))
            page.locator("#style-1 input[type=file]").set_input_files(str(assets / "style.jpg"))
            open_section(page, "more-styles", "More styles")
            page.locator("#style-2 input[type=file]").set_input_files(str(assets / "style_harvest.jpg"))
            for sel in ("#content img", "#style-1 img", "#style-2 img"):
                page.locator(sel).first.wait_for()
            open_section(page, "look", "Strength, colours and size")
            size = page.locator("#size input[type=number]")
            size.fill("128")
            size.press("Tab")
            page.locator("#regions").get_by_text("Regions").first.click()
            canvas = page.locator("#painter canvas").last
            canvas.wait_for()
            page.locator("#painter button[aria-label='Brush']").click()  # its first colour is red: style 1
            time.sleep(0.5)
            box = canvas.bounding_box()
            page.mouse.move(box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.3)
            page.mouse.down()
            for k in range(1, 11):
                page.mouse.move(box["x"] + box["width"] * (0.3 + 0.02 * k), box["y"] + box["height"] * (0.3 + 0.04 * k), steps=3)
            page.mouse.up()
            page.locator("#preserve").get_by_test_id("luminance-radio-label").click()
            page.locator("#mixing").get_by_text("Per-level mix").first.click()
            page.locator("#per-level input[type=checkbox]").check()
            fine = page.locator("#fine-alpha input[type=number]")
            fine.fill("0.9")
            fine.press("Tab")  # the slider takes the typed value on blur: wait until its track shows it
            page.wait_for_function(
                "() => Math.abs(document.querySelector('#fine-alpha input[type=range]').valueAsNumber - 0.9) < 1e-6"
            )
            page.locator("#run").click()
            page.locator("#status").get_by_text("Done in").wait_for()
            status = page.locator("#status").inner_text()
            assert "regions: style 1 · rest: style 2 100 %" in status, status
            assert "shallow levels: α 0.90" in status and "colours kept: luminance" in status, status
            assert "Traceback" not in page.content()
        finally:
            browser.close()
