"""Video: frame count, size, timestamps and audio survive; coherent mode flickers less than plain; runs resume."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

av = pytest.importorskip("av", reason="video needs the 'video' extra")
pytest.importorskip("cv2", reason="video needs the 'video' extra")

from conftest import smooth_image

import wct
from wct.cli import main
from wct.framestore import FrameStore
from wct.media import iter_frames, probe
from wct.temporal import flicker

FRAMES, W, H, FPS, RATE, TONE = 12, 64, 48, 24, 22050, 440.0


def make_clip(path: Path, *, audio_codec: str | None = "aac", frames: int = FRAMES, size: tuple[int, int] = (W, H)) -> Path:
    """A camera pan over a smooth colourful scene (2 px per frame), with a 440 Hz tone as its audio."""
    w, h = size
    canvas = smooth_image(h + 16, w + 2 * frames, seed=7)
    with av.open(str(path), "w") as c:
        v = c.add_stream("libx264", rate=FPS)
        v.width, v.height, v.pix_fmt = w, h, "yuv420p"
        a = c.add_stream(audio_codec, rate=RATE) if audio_codec else None
        for i in range(frames):
            img = np.ascontiguousarray(canvas[8 : 8 + h, 2 * i : 2 * i + w])
            c.mux(v.encode(av.VideoFrame.from_ndarray(img, format="rgb24")))
        c.mux(v.encode(None))
        if a is not None:
            t = np.arange(RATE * frames // FPS) / RATE
            wave = (0.3 * np.sin(2 * np.pi * TONE * t) * 32767).astype(np.int16)
            for s in range(0, len(wave), 1024):
                f = av.AudioFrame.from_ndarray(wave[None, s : s + 1024], format="s16", layout="mono")
                f.sample_rate, f.pts = RATE, s
                c.mux(a.encode(f))
            c.mux(a.encode(None))
    return path


def audio_of(path: Path) -> tuple[str, np.ndarray, int]:
    """(codec name, mono samples as float, sample rate) of a file's first audio stream."""
    with av.open(str(path)) as c:
        stream = c.streams.audio[0]
        chunks = [f.to_ndarray().astype(np.float64).reshape(f.to_ndarray().shape[0], -1).mean(0) for f in c.decode(stream)]
        return stream.codec_context.name, np.concatenate(chunks), stream.codec_context.sample_rate


def dominant_frequency(samples: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    return float(np.fft.rfftfreq(len(samples), 1 / rate)[spectrum.argmax()])


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    return make_clip(tmp_path_factory.mktemp("clip") / "pan.mp4")


@pytest.fixture(scope="module")
def style() -> np.ndarray:
    return smooth_image(64, 64, seed=2)


@pytest.fixture(scope="module")
def rendered(clip, style, model, tmp_path_factory) -> dict[str, Path]:
    """The clip stylized plainly and coherently with the shipped model."""
    folder = tmp_path_factory.mktemp("rendered")
    return {mode: wct.stylize_video(clip, style, folder / f"{mode}.mp4", model=model, coherent=mode == "coherent")
            for mode in ("plain", "coherent")}  # fmt: skip


def test_frame_count_size_rate_and_audio_are_preserved(clip, rendered):
    src = probe(clip)
    for out in rendered.values():
        info = probe(out)
        assert (info.width, info.height, info.frames, info.rate) == (W, H, FRAMES, src.rate)
        assert len(list(iter_frames(out))) == FRAMES
        codec, samples, rate = audio_of(out)
        _, original, _ = audio_of(clip)
        assert codec == "aac" and rate == RATE
        assert abs(len(samples) - len(original)) <= 1024  # the same duration, to a codec frame
        assert dominant_frequency(samples, rate) == pytest.approx(TONE, abs=5)
        assert not any(p.name.endswith(".wct-frames") for p in out.parent.iterdir())  # the work folder is cleaned up


def test_output_is_stylized_not_a_copy(clip, rendered):
    ins = np.stack(list(iter_frames(clip))).astype(float)
    outs = np.stack(list(iter_frames(rendered["coherent"]))).astype(float)
    assert np.abs(outs - ins).mean() > 10


def test_coherent_mode_flickers_less_than_plain(clip, rendered):
    ins = list(iter_frames(clip))
    plain = flicker(list(iter_frames(rendered["plain"])), ins)
    coherent = flicker(list(iter_frames(rendered["coherent"])), ins)
    assert plain.input == coherent.input > 0
    assert coherent.output < 0.75 * plain.output, (plain, coherent)


def test_photorealistic_frames_are_the_modes_frames(clip, style, model, tmp_path):
    """photorealistic=True (wct video --photo): each frame is the photorealistic mode's picture of it (WCT at the
    photo levels, smoothed guided by the frame itself), after the codecs."""
    out = wct.stylize_video(clip, style, tmp_path / "photo.mp4", model=model, photorealistic=True, coherent=False)
    plain = wct.stylize_video(clip, style, tmp_path / "plain.mp4", model=model, coherent=False)
    for frame, got, other in list(zip(iter_frames(clip), iter_frames(out), iter_frames(plain)))[::4]:
        want = np.asarray(model.stylize(frame, style, photorealistic=True)).astype(float)
        near, far = np.abs(got - want).mean(), np.abs(other - want).mean()
        assert near < 5 and far > 4 * near  # (two x264 passes at crf 18, 4:2:0 chroma on 64 x 48: about 3 on their own)


def test_video_takes_every_option_of_stylize(clip, style, random_model, tmp_path):
    """Refinement, colour preservation and masks (the styles without a mask sharing the rest) reach every frame: each
    frame is what stylize makes of it with the same options, after the codecs."""
    left = np.zeros((H, W), dtype=np.float32)
    left[:, : W // 2] = 1
    other = smooth_image(64, 64, seed=9)
    opts = wct.Options(levels=[2, 1], refine=1, preserve_color="luminance", masks=[left, None])
    out = wct.stylize_video(clip, [style, other], tmp_path / "all.mp4", opts, model=random_model, coherent=False)
    plain = wct.stylize_video(clip, style, tmp_path / "plain.mp4", model=random_model, coherent=False, levels=[2, 1])
    for frame, got, base in list(zip(iter_frames(clip), iter_frames(out), iter_frames(plain)))[::5]:
        want = np.asarray(random_model.stylize(frame, [style, other], opts)).astype(float)
        near, far = np.abs(got - want).mean(), np.abs(base - want).mean()
        assert near < 12 and far > 4 * near, (near, far)  # (untrained decoders: noisy frames, which x264 blurs)


def test_the_cli_gives_video_the_same_options(cli_model, capsys, clip, style_path, tmp_path):
    out = tmp_path / "o.mp4"
    argv = ["video", str(clip), "-s", str(style_path), "--levels", "1", "--refine", "1", "--preserve-color", "luminance",
            "--plain", "-o", str(out)]  # fmt: skip
    assert main(argv) == 0, capsys.readouterr().err
    assert probe(out).frames == FRAMES


class Interrupt(Exception):
    pass


def stop_at(frames: int):
    """A progress callback that interrupts the run once ``frames`` frames are finished."""

    def progress(done: int, total: int, _: str) -> None:
        if done >= frames:
            raise Interrupt

    return progress


def encoded_frames(monkeypatch) -> list[list[np.ndarray]]:
    """Records, for each video written from now on, the finished frames handed to the encoder."""
    runs: list[list[np.ndarray]] = []
    mux = wct.video.mux

    def spy(source, frame, count, output, info):
        runs.append([frame(i) for i in range(count)])
        return mux(source, frame, count, output, info)

    monkeypatch.setattr(wct.video, "mux", spy)
    return runs


def test_an_interrupted_run_resumes_without_redoing_finished_frames(clip, style, model, tmp_path, monkeypatch):
    runs = encoded_frames(monkeypatch)
    wct.stylize_video(clip, style, tmp_path / "whole.mp4", model=model, batch_size=4)
    out = tmp_path / "resumed.mp4"
    with pytest.raises(Interrupt):
        wct.stylize_video(clip, style, out, model=model, batch_size=4, progress=stop_at(4))
    assert not out.exists()
    store = tmp_path / ".resumed.mp4.wct-frames"
    finished = sorted(p.name for p in store.glob("*.png"))
    assert finished == ["0000000.png", "0000001.png", "0000002.png", "0000003.png"]
    stamps = {p.name: p.stat().st_mtime_ns for p in store.glob("*.png")}

    calls: list[int] = []
    seen: dict[str, int] = {}

    def watch(done, total, _):
        calls.append(done)
        if done == 8:  # mid-run: the first frames are still the ones written before the interruption
            seen.update({name: (store / name).stat().st_mtime_ns for name in stamps})

    wct.stylize_video(clip, style, out, model=model, batch_size=4, progress=watch)
    assert calls == [4, 8, 12] and seen == stamps
    # the encoder gets exactly the frames of a run that was never interrupted
    whole, resumed = runs
    assert len(resumed) == len(whole) == FRAMES
    assert all(np.array_equal(r, w) for r, w in zip(resumed, whole))
    # and the file holds them, in order: the decoded frames are compared to within the lossy encoding (~5.5 levels
    # on average on this 64x48 clip), far below what one frame differs from the next (~16). Not bitwise to the
    # uninterrupted run's file: libx264 (PyAV's bundled FFmpeg) does not always encode the same frames to the same
    # bytes (on an AMX Xeon, 60-80 encodes of one clip in one process gave 2-4 different files, threads=1 and asm=0 too)
    decoded = np.stack(list(iter_frames(out))).astype(int)
    assert decoded.shape[0] == FRAMES
    assert np.abs(decoded - np.stack(resumed).astype(int)).mean(axis=(1, 2, 3)).max() < 9


def test_changed_settings_start_over(clip, style, random_model, tmp_path):
    out = tmp_path / "o.mp4"
    with pytest.raises(Interrupt):
        wct.stylize_video(clip, style, out, model=random_model, levels=1, progress=stop_at(1))
    calls: list[int] = []
    with pytest.warns(UserWarning, match="other settings"):
        wct.stylize_video(clip, style, out, model=random_model, levels=1, alpha=0.3, progress=lambda d, t, _: calls.append(d))
    assert calls[0] == 0 and calls[-1] == FRAMES


def test_big_frames_go_through_the_networks_in_tiles_like_whole_frames(style, model, tmp_path, monkeypatch):
    """Tiles bound the memory of big frames; each frame is still whitened with its whole statistics, smoothed once."""
    src = make_clip(tmp_path / "big.mp4", audio_codec=None, frames=4, size=(512, 320))  # two tiles of 256
    kw = {"model": model, "levels": ["relu3_1", "relu2_1", "relu1_1"], "max_size": None, "stats_momentum": 0.5, "batch_size": 2}
    whole = wct.stylize_video(src, style, tmp_path / "whole.mp4", tile_size=0, **kw)
    tiled_levels: list[str] = []
    real = wct.levels.run_level_tiled
    monkeypatch.setattr(wct.levels, "run_level_tiled", lambda x, lv, *a, **k: tiled_levels.append(lv) or real(x, lv, *a, **k))
    tiled = wct.stylize_video(src, style, tmp_path / "tiled.mp4", tile_size=256, **kw)
    assert tiled_levels == ["relu3_1", "relu2_1", "relu1_1"] * 2  # two passes of two frames
    a = np.stack(list(iter_frames(whole))).astype(float)
    b = np.stack(list(iter_frames(tiled))).astype(float)
    assert a.shape == b.shape == (4, 320, 512, 3)
    assert np.abs(a - b).mean() < 4.0  # out of 255, after the codec (x264 at crf 18 differs by ~2 on its own here)


def test_in_tiles_frames_and_their_time_averaged_statistics_match_whole_frames(style, model):
    from wct.frames import FrameStylizer, TemporalStep

    levels = ("relu2_1", "relu1_1")
    st = model.compute_style(style, levels=list(levels))
    frames = [smooth_image(320, 512, seed=s) for s in (30, 31, 32)]  # unlike frames: any double smoothing shows

    def stylizer(tile: int) -> FrameStylizer:
        opts = wct.Options(levels=levels, alpha=0.6, tile_size=tile)
        step = TemporalStep(st, opts.alphas, 0.5, opts.transform)
        return FrameStylizer(model.networks, step, opts, (320, 512), 0.0)

    runs = {tile: stylizer(tile) for tile in (0, 256)}
    outs = {tile: np.stack(run(frames[:2]) + run(frames[2:])).astype(float) for tile, run in runs.items()}
    assert np.abs(outs[0] - outs[256]).mean() < 0.5  # out of 255
    for lv in levels:
        (m0, c0), (m1, c1) = runs[0].stats[lv], runs[256].stats[lv]
        assert torch.allclose(m0, m1, rtol=1e-3, atol=1e-3 * float(m0.abs().max()))
        assert torch.allclose(c0, c1, rtol=1e-3, atol=1e-3 * float(c0.abs().max()))


def test_on_a_cpu_passes_hold_at_most_cpu_batch_pixels(clip, style, random_model, tmp_path, monkeypatch):
    passes: list[int] = []
    run = wct.levels.run_levels
    monkeypatch.setattr(wct.levels, "run_levels", lambda nets, x, *a, **k: passes.append(x.shape[0]) or run(nets, x, *a, **k))
    monkeypatch.setattr(wct.networks, "CPU_BATCH_PIXELS", 2 * W * H)
    wct.stylize_video(clip, style, tmp_path / "o.mp4", model=random_model, levels=1, batch_size=4)
    assert passes == [2] * (FRAMES // 2)


@pytest.mark.parametrize(
    "source,codec,output,expected", [("in.mov", "pcm_s16le", "out.mp4", "aac"), ("in.mp4", "aac", "out.webm", "opus")]
)
def test_audio_the_container_cannot_hold_is_reencoded(style, random_model, tmp_path, source, codec, output, expected):
    src = make_clip(tmp_path / source, audio_codec=codec, frames=6)
    out = wct.stylize_video(src, style, tmp_path / output, model=random_model, levels=1)
    got, samples, rate = audio_of(out)
    assert got == expected and dominant_frequency(samples, rate) == pytest.approx(TONE, abs=5)
    assert len(list(iter_frames(out))) == 6


def test_a_video_without_audio(style, random_model, tmp_path):
    src = make_clip(tmp_path / "silent.mp4", audio_codec=None, frames=5)
    out = wct.stylize_video(src, style, tmp_path / "out.mkv", model=random_model, levels=1, coherent=False)
    assert probe(out).audio is None and probe(out).frames == 5


@pytest.fixture()
def cli_model(monkeypatch, random_model):
    """CLI tests check plumbing, not decoder quality: run them on the seeded untrained decoders."""
    monkeypatch.setattr("wct.load", lambda device=None, **kw: random_model)


def test_cli_video(cli_model, capsys, clip, tmp_path):
    style = tmp_path / "style.png"
    from PIL import Image

    Image.fromarray(smooth_image(64, 64, seed=3)).save(style)
    out = tmp_path / "out.mp4"
    code = main(
        ["video", str(clip), "-s", f"{style}:1", "-s", f"{style}:2", "--levels", "1", "--batch-size", "5", "-o", str(out)]
    )
    _, err = capsys.readouterr()
    assert code == 0, err
    assert "frame" in err  # the progress bar
    assert probe(out).frames == FRAMES


@pytest.mark.parametrize(
    "make_input,output,match",
    [
        (lambda d: d / "missing.mp4", "o.mp4", "no such video file"),
        (lambda d: (d / "notes.mp4").write_text("hello") and d / "notes.mp4", "o.mp4", "not a readable video"),
        (None, "o.gif", "cannot tell the video format"),
        (None, "exists.mp4", "already exists"),
        (None, "o.mp4 --flow-blend 2", r"--flow-blend must be in \[0, 1\]"),
    ],
)
def test_cli_video_errors_are_one_line(cli_model, capsys, clip, tmp_path, make_input, output, match):
    from PIL import Image

    Image.fromarray(smooth_image(32, 32, seed=3)).save(tmp_path / "s.png")
    (tmp_path / "exists.mp4").write_bytes(b"precious")
    src = make_input(tmp_path) if make_input else clip
    name, *extra = output.split()
    code = main(["video", str(src), "-s", str(tmp_path / "s.png"), "-o", str(tmp_path / name), *extra])
    _, err = capsys.readouterr()
    assert code == 1 and err.startswith("wct: error: ") and err.count("\n") == 1, err
    assert __import__("re").search(match, err), err
    assert (tmp_path / "exists.mp4").read_bytes() == b"precious"
    assert not (tmp_path / "o.mp4").exists()


def test_frame_store_keeps_finished_frames_and_state(tmp_path):
    import torch

    store = FrameStore(tmp_path / "v.mp4", {"job": 1})
    assert store.open() == 0
    frames = [np.full((4, 6, 3), i, np.uint8) for i in range(3)]
    state = {"relu1_1": (torch.ones(64, 1, dtype=torch.float64), torch.eye(64, dtype=torch.float64))}
    store.commit(0, frames, state)
    again = FrameStore(tmp_path / "v.mp4", {"job": 1})
    assert again.open() == 3
    assert np.array_equal(again.frame(2), frames[2])
    assert torch.equal(again.state()["relu1_1"][1], torch.eye(64, dtype=torch.float64))
