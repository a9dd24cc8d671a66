"""The app under load and over time: a burst of concurrent clients, an overlong request, the clean-up of old files.

A real server on loopback (127.0.0.1) with a small queue, reached by 20 gradio_client clients at once. The model
is the real encoder with untrained decoders for all five levels (the results' looks do not matter here, the number
of level boundaries does), wrapped in `Rigged`: two test hooks chosen by the content file's name hold the worker
("gate*") or make every level slow ("slow*"), so the busy answer and the time limit are exercised deterministically
rather than by racing a busy CPU. Images are tiny and the output is 64 px, so the file runs in well under a minute.
"""

from __future__ import annotations

import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gc
import threading
import time
from pathlib import Path

import pytest
from PIL import Image

gr = pytest.importorskip("gradio", reason="the app needs gradio: pip install -e '.[app]'")
from conftest import smooth_image
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from gradio_client.utils import QueueError
from test_app import free_port, pytestmark, stylize  # noqa: F401 (pytestmark: the same warning filters)

import app
import wct
from wct_app import limits

SIZE = 64
QUEUE = 8  # waiting requests the load server accepts; the rest of a burst is told the app is busy
LIMIT = 5.0  # the load server's time limit per request, s (tiny requests take well under a second)
SLOW = LIMIT + 1.0  # seconds a "slow*" content sleeps after each level: the first level boundary is past the limit
BURST = 20
# Measured here: the first burst after the warm-up adds 90-110 MB of RSS (glibc arenas for ~20 new threads, HTTP
# clients and pools), three more bursts add nothing (within +-20 MB): no per-request leak. 300 MB is ~3x the one-off
# growth, and what QUEUE runs would add if each kept ~25 MB (a copy of the decoders, a large decoded image) alive.
MEMORY_SLACK_MB = 300


class Rigged:
    """A wct.Model with hooks keyed on the content file's name (the upload keeps it): "gate*" waits in stylize until
    ``gate`` is set, "slow*" sleeps SLOW seconds before reporting each level, "slowref*" only before reporting each
    refinement step (and counts them in ``refined``). Everything else is the model's."""

    def __init__(self, model) -> None:
        self._model, self.gate, self.refined = model, threading.Event(), 0

    def __getattr__(self, name):
        return getattr(self._model, name)

    def stylize(self, content, style, *, progress=None, **kwargs):
        name = Path(content).name
        if name.startswith("gate"):
            self.gate.wait(60)
        if name.startswith("slow") and progress is not None:
            report, refining_only = progress, name.startswith("slowref")

            def progress(done, total, level):
                if level == "refine":
                    self.refined += 1
                if level == "refine" or not refining_only:
                    time.sleep(SLOW)
                report(done, total, level)

        return self._model.stylize(content, style, progress=progress, **kwargs)


def rss_mb() -> float:
    """This process's resident memory (the server runs in it), MB, from /proc/self/status."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    pytest.skip("no /proc/self/status: cannot measure memory here")


def launch(demo) -> str:
    _, url, _ = demo.launch(
        server_name="127.0.0.1", server_port=free_port(), prevent_thread_lock=True, quiet=True, **app.launch_kwargs()
    )
    return url


@pytest.fixture(scope="module")
def gradio_tmp(tmp_path_factory):
    old = os.environ.get("GRADIO_TEMP_DIR")
    os.environ["GRADIO_TEMP_DIR"] = str(tmp_path_factory.mktemp("gradio"))
    yield Path(os.environ["GRADIO_TEMP_DIR"])
    if old is None:
        os.environ.pop("GRADIO_TEMP_DIR", None)
    else:
        os.environ["GRADIO_TEMP_DIR"] = old


@pytest.fixture(scope="module")
def load_server(random_model, gradio_tmp):
    """(demo, url, rigged model): one worker, QUEUE waiting places, a LIMIT s time limit."""
    rigged = Rigged(random_model)
    demo = app.build_demo(rigged, concurrency=1, queue_size=QUEUE, time_limit=LIMIT)
    try:
        yield demo, launch(demo), rigged
    finally:
        rigged.gate.set()
        demo.close()


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> dict[str, Path]:
    """A 88x72 content image (also as gate.png and slow.png, for the hooks), three style images, a broken file."""
    d = tmp_path_factory.mktemp("load")
    out = {name: d / f"{name}.png" for name in ("content", "gate", "slow", "slowref", "style0", "style1", "style2")}
    for name in ("content", "gate", "slow", "slowref"):
        Image.fromarray(smooth_image(72, 88, seed=1)).save(out[name])
    for i in range(3):
        Image.fromarray(smooth_image(64, 80, seed=3 + i)).save(out[f"style{i}"])
    out["broken"] = d / "broken.png"
    out["broken"].write_bytes(out["content"].read_bytes()[:300])
    return out


def test_limits_come_from_the_environment(random_model, gradio_tmp, monkeypatch):
    monkeypatch.setenv("WCT_APP_TIMEOUT", "7.5")
    monkeypatch.setenv("WCT_APP_CONCURRENCY", "2")
    demo = app.build_demo(random_model)
    assert demo.wct.time_limit == 7.5 and demo._queue.default_concurrency_limit == 2
    assert demo.wct.cache_dir == Path(os.path.realpath(demo.GRADIO_CACHE))
    for bad in ("0", "-3", "soon", "nan"):
        monkeypatch.setenv("WCT_APP_TIMEOUT", bad)
        with pytest.raises(wct.InputError, match="WCT_APP_TIMEOUT must be a positive number"):
            app.build_demo(random_model)
    monkeypatch.setenv("WCT_APP_TIMEOUT", "7.5")
    monkeypatch.setenv("WCT_APP_CONCURRENCY", "1.5")
    with pytest.raises(wct.InputError, match="WCT_APP_CONCURRENCY must be a positive whole number"):
        app.build_demo(random_model)


def test_the_networks_precision_comes_from_the_environment(random_model, gradio_tmp, monkeypatch):
    """The app loads its model (limits.DEFAULT_MODEL) with half="auto" (half precision where it is fast) unless
    WCT_APP_PRECISION says otherwise, and its header names a half precision."""
    asked = []
    monkeypatch.setattr(wct, "load", lambda **kw: asked.append(kw) or random_model)
    for value, half in (("", "auto"), ("float32", False), ("half", True), ("auto", "auto")):
        monkeypatch.setenv("WCT_APP_PRECISION", value)
        app.build_demo()
        assert asked.pop() == {"model": limits.DEFAULT_MODEL, "half": half}
    monkeypatch.setenv("WCT_APP_PRECISION", "fp8")
    with pytest.raises(wct.InputError, match="WCT_APP_PRECISION must be one of float32, half, auto"):
        app.build_demo()
    header = lambda demo: next(b.value for b in demo.blocks.values() if isinstance(b, gr.Markdown))  # noqa: E731
    assert "CPU in bfloat16" in header(app.build_demo(wct.Model(device="cpu", half=True)))
    assert "CPU," in header(app.build_demo(random_model))


def test_an_overlong_request_is_stopped_and_frees_the_queue(load_server, inputs):
    _, url, _ = load_server
    slow_client, next_client = Client(url, verbose=False), Client(url, verbose=False)
    try:
        t0 = time.monotonic()
        slow = slow_client.submit(handle_file(str(inputs["slow"])), handle_file(str(inputs["style0"])), None, None, None,
                                  1, 1, 1, 1, 0.6, SIZE, api_name="/stylize")  # fmt: skip
        time.sleep(0.5)  # the next request queues behind the slow one (one worker)
        after = next_client.submit(handle_file(str(inputs["content"])), handle_file(str(inputs["style0"])), None, None,
                                   None, 1, 1, 1, 1, 0.6, SIZE, api_name="/stylize")  # fmt: skip
        with pytest.raises(AppError) as info:
            slow.result(timeout=60)
        stopped = time.monotonic() - t0
        message = str(info.value)
        assert message.startswith(f"stopped: the request took longer than the time limit of {LIMIT:g} s"), message
        assert "Traceback" not in message
        assert stopped < 2 * SLOW, stopped  # stopped at the first level boundary past the limit, not after five levels
        assert Path(after.result(timeout=60)).suffix == ".png"  # the queue moved on
    finally:
        slow_client.close()
        next_client.close()


def test_the_time_limit_stops_a_refinement_between_its_steps(load_server, inputs):
    """The limit is checked after each refinement step too: a request asking for many slow steps is stopped after the
    first one past the limit, with the same readable error, and the queue moves on."""
    _, url, rigged = load_server
    client = Client(url, verbose=False)
    try:
        rigged.refined = 0
        t0 = time.monotonic()
        slow = client.submit(handle_file(str(inputs["slowref"])), handle_file(str(inputs["style0"])), None, None, None,
                             1, 1, 1, 1, 0.6, SIZE, ["relu1_1"], None, None, None, None, "off", False, 1, 1, 1, 1, 0.6,
                             "linear", 40, "wct", False, api_name="/stylize_advanced")  # fmt: skip
        with pytest.raises(AppError) as info:
            slow.result(timeout=60)
        message, stopped = str(info.value), time.monotonic() - t0
        assert message.startswith(f"stopped: the request took longer than the time limit of {LIMIT:g} s"), message
        assert "fewer refinement steps" in message and "Traceback" not in message
        assert rigged.refined == 1 and stopped < 2 * SLOW, (rigged.refined, stopped)  # one step past the limit, not 40
        assert stylize(client, inputs["content"], [inputs["style0"]], size=SIZE).shape == (52, 64, 3)  # still serving
    finally:
        client.close()


def burst(url: str, demo, rigged: Rigged, inputs: dict[str, Path]) -> tuple[list[str], list[tuple[str, str]], float]:
    """BURST clients in threads, each with its own Client, all sending while the only worker is held by a "gate"
    request: the first QUEUE take the queue's places, then the others arrive together. Returns (the kind each sent,
    its answer as (result|error|busy|unexpected, text), seconds until all were answered)."""
    plan = [list(KINDS)[i % len(KINDS)] for i in range(BURST)]  # the first QUEUE hold every kind
    answers: list[tuple[str, str]] = [("none", "")] * BURST
    ready, queue_taken = threading.Barrier(BURST + 1), threading.Event()

    def one(i: int) -> None:
        client = Client(url, verbose=False)
        content, styles, weights, _ = KINDS[plan[i]]
        content = inputs[content] if isinstance(content, str) else content  # a name, or a hand-made payload
        styles = [inputs[s] for s in styles]
        ready.wait(timeout=60)
        if i >= QUEUE:
            queue_taken.wait(timeout=60)
        try:
            out = stylize(client, content, styles, weights=weights, size=SIZE)
            answers[i] = ("result", str(out.shape))
        except QueueError as exc:
            answers[i] = ("busy", str(exc))
        except AppError as exc:
            answers[i] = ("error", str(exc))
        except Exception as exc:  # anything else is a failure, reported by the test
            answers[i] = ("unexpected", f"{type(exc).__name__}: {exc}")
        finally:
            client.close()  # up to 1 s (it joins its heartbeat thread): in each thread, so in parallel

    def wait_for(condition) -> None:
        deadline = time.monotonic() + 30
        while not condition() and time.monotonic() < deadline:
            time.sleep(0.05)

    rigged.gate.clear()
    holder = Client(url, verbose=False)
    gate = holder.submit(handle_file(str(inputs["gate"])), handle_file(str(inputs["style0"])), None, None, None,
                         1, 1, 1, 1, 0.6, SIZE, api_name="/stylize")  # fmt: skip
    threads = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(BURST)]
    for t in threads:
        t.start()
    ready.wait(timeout=60)
    t0 = time.monotonic()
    wait_for(lambda: len(demo._queue) >= QUEUE)
    queue_taken.set()
    wait_for(lambda: sum(a[0] == "busy" for a in answers) >= BURST - QUEUE)
    rigged.gate.set()
    for t in threads:
        t.join(timeout=90)
    try:
        gate.result(timeout=60)  # its run ends either way: the gate may have held it past the time limit
    except AppError as exc:
        assert str(exc).startswith("stopped: the request took longer than the time limit"), exc
    elapsed = time.monotonic() - t0
    holder.close()
    return plan, answers, elapsed


KINDS = {  # kind: (content, styles, weights, start of the expected error, or None for a result); names are inputs'
    "valid": ("content", ["style0"], (1, 1, 1, 1), None),
    "two styles": ("content", ["style0", "style1"], (1, 3, 1, 1), None),
    "zero weights": ("content", ["style0"], (0, 1, 1, 1), "the weights are all zero"),
    "no style": ("content", [], (1, 1, 1, 1), "add at least one style image"),
    "broken": ("broken", ["style0"], (1, 1, 1, 1), "content: broken.png is truncated or corrupt"),
    "server path": ({"path": "/etc/passwd"}, ["style0"], (1, 1, 1, 1), "content: only images uploaded"),
}


def test_a_burst_of_clients_is_answered_and_memory_returns(load_server, inputs):
    """20 clients at once while the only worker is held: QUEUE of them wait and get their answer (a result or a
    clean error), the others are told at once that the app is busy; afterwards the app still serves and the process's
    memory is back near its level after a warm-up."""
    demo, url, rigged = load_server
    client = Client(url, verbose=False)
    try:
        for _ in range(2):  # warm-up: the first requests fill caches and allocator pools
            stylize(client, inputs["content"], [inputs["style0"], inputs["style1"]], size=SIZE)
        gc.collect()
        base = rss_mb()
        plan, answers, elapsed = burst(url, demo, rigged, inputs)
        counts = {k: sum(a[0] == k for a in answers) for k in ("result", "error", "busy", "unexpected", "none")}
        print(f"burst answered in {elapsed:.1f} s: {counts}")
        assert counts["unexpected"] == counts["none"] == 0, answers
        assert counts["busy"] == BURST - QUEUE, counts  # exactly the queue's places were taken, the rest refused
        for i, (kind, (answer, text)) in enumerate(zip(plan, answers)):
            expected = KINDS[kind][3]
            assert "Traceback" not in text
            if i >= QUEUE:
                assert answer == "busy" and text == "Queue is full! Please try again.", (kind, answer, text)
            elif expected is None:
                assert answer == "result" and text == "(52, 64, 3)", (kind, answer, text)
            else:
                assert answer == "error" and text.startswith(expected), (kind, text)
        assert elapsed < 60, elapsed
        assert stylize(client, inputs["content"], [inputs["style0"]], size=SIZE).shape == (52, 64, 3)  # still serving
        gc.collect()
        grown = rss_mb() - base
        print(f"RSS after warm-up {base:.0f} MB, after the burst {base + grown:.0f} MB ({grown:+.0f} MB)")
        assert grown < MEMORY_SLACK_MB, f"RSS grew by {grown:.0f} MB over a burst of {BURST} requests"
    finally:
        client.close()


def test_old_uploads_and_results_are_deleted(random_model, gradio_tmp, inputs):
    """Gradio's delete_cache, as build_demo configures it, removes uploads and results older than output_ttl."""
    demo = app.build_demo(random_model, output_ttl=2)
    assert demo.delete_cache == (1, 2)
    url = launch(demo)
    client = Client(url, verbose=False)
    try:
        job = client.submit(handle_file(str(inputs["content"])), handle_file(str(inputs["style2"])), None, None, None,
                            1, 1, 1, 1, 0.6, SIZE, api_name="/stylize")  # fmt: skip
        job.result(timeout=60)
        made = [Path(f) for s in demo.temp_file_sets for f in s]
        result = [p for p in made if p.name == "stylized.png"]
        uploads = [p for p in made if p.name in ("content.png", "style2.png")]
        assert result and uploads and all(p.is_relative_to(demo.wct.cache_dir) for p in result + uploads)
        deadline = time.monotonic() + 20
        while any(p.exists() for p in result + uploads) and time.monotonic() < deadline:
            time.sleep(0.25)
        assert not any(p.exists() for p in result + uploads)
    finally:
        client.close()
        demo.close()
