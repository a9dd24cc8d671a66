"""Video: decode with PyAV, stylize frames in batches with temporal coherence, resume from a frame store, mux with audio.

A run keeps its finished frames in a work folder next to the output (``.OUT.wct-frames/``: one PNG per
frame at the working size, the temporal state after the last finished batch, and the job's settings).
An interrupted run started again with the same settings continues after the last finished batch; with
other settings it starts over. When every frame is done the video is encoded (frame timestamps kept,
at the input's size), the audio copied (or re-encoded when the container cannot hold it), the file
written to a temporary name and renamed, and the work folder removed.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from . import pipeline
from .api import Model, _default
from .errors import InputError, OutputError
from .files import atomic_write
from .image import pad_to_multiple, resize_to, working_size
from .options import DEFAULT_SIZE, DEFAULT_STYLE_SIZE, DEFAULT_TRANSFORM, parse_run, parse_size
from .temporal import (
    blend_warped,
    consistency_mask,
    optical_flow,
    smooth_statistics,
    smoothed_statistics,
    warp,
)
from .transform import flat_features, wct, wct_with_statistics

__all__ = ["stylize_video", "probe", "VideoInfo", "FrameStore", "VIDEO_SUFFIXES", "FLOW_BLEND", "STATS_MOMENTUM"]

VIDEO_SUFFIXES = {".mp4": "libx264", ".mov": "libx264", ".mkv": "libx264", ".webm": "libvpx-vp9"}
AUDIO_COPYABLE = {".mp4": {"aac", "mp3", "ac3", "alac", "opus"}, ".mov": {"aac", "mp3", "ac3", "alac", "pcm_s16le"},
                  ".mkv": None, ".webm": {"opus", "vorbis"}}  # fmt: skip  (None: any codec)
AUDIO_ENCODER = {".mp4": "aac", ".mov": "aac", ".mkv": "aac", ".webm": "libopus"}
FLOW_BLEND = 0.7  # share of the warped previous output blended into each tracked pixel
# weight of the running content statistics against the current frame's: off by default, since smoothing them
# raised the flicker on the measured clips (README, "Video"); the option stays for lighting changes and experiments
STATS_MOMENTUM = 0.0
Progress = Callable[[int, int, str], None]


def require_av():
    """The av module, or an InputError that says how to install it."""
    try:
        import av
    except ImportError:
        raise InputError("video needs PyAV; fix: pip install 'wct[video]' (or av)") from None
    return av


@dataclass(frozen=True)
class VideoInfo:
    """What the encoder needs to know about an input video."""

    width: int
    height: int
    frames: int  # from the container, else estimated from duration x rate (0 if unknown)
    rate: Fraction
    audio: str | None  # the audio codec's name, None without audio


def _open_input(path: Path):
    av = require_av()
    if not path.is_file():
        raise InputError(f"no such video file: {path}")
    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path.name} is not a readable video ({exc}); expected MP4, MOV, MKV, WebM or AVI") from None
    if not container.streams.video:
        container.close()
        raise InputError(f"{path.name} holds no video stream; expected a video file")
    return container


def probe(path: str | os.PathLike) -> VideoInfo:
    """Size, frame count, frame rate and audio codec of a video file."""
    with _open_input(Path(path)) as c:
        v = c.streams.video[0]
        rate = Fraction(v.average_rate or v.guessed_rate or 25)
        frames = v.frames
        if not frames and v.duration and v.time_base:
            frames = round(float(v.duration * v.time_base) * rate)
        elif not frames and c.duration:
            frames = round(c.duration / 1_000_000 * rate)
        audio = c.streams.audio[0].codec_context.name if c.streams.audio else None
        return VideoInfo(v.codec_context.width, v.codec_context.height, int(frames or 0), rate, audio)


def iter_frames(path: str | os.PathLike) -> Iterator[np.ndarray]:
    """The video's frames in order as HxWx3 uint8 RGB arrays."""
    av = require_av()
    with _open_input(Path(path)) as c:
        try:
            for frame in c.decode(video=0):
                yield frame.to_ndarray(format="rgb24")
        except av.error.FFmpegError as exc:
            raise InputError(f"{Path(path).name} is damaged: decoding failed ({exc}); fix: re-encode or re-download it") from None


def _atomic_write(path: Path, write: Callable[[Path], object]) -> None:
    """Write through a temporary file in the same folder, then rename; the temporary name keeps the suffix,
    which PyAV picks the container by."""
    atomic_write(path, write, keep_suffix=True)


class FrameStore:
    """The work folder of one output video: finished frames (PNG), temporal state, the job's settings."""

    def __init__(self, output: Path, job: dict) -> None:
        self.folder = output.parent / f".{output.name}.wct-frames"
        self.job = job

    def open(self) -> int:
        """Prepare the folder; returns how many frames are finished (0 for a new job or changed settings)."""
        jobfile = self.folder / "job.json"
        if self.folder.is_dir() and jobfile.is_file():
            try:
                same = json.loads(jobfile.read_text()) == self.job
            except (OSError, ValueError):
                same = False
            if same:
                done = self.done()
                if all(self.frame_path(i).is_file() for i in range(done)):
                    return done
            warnings.warn(f"{self.folder} holds frames of a run with other settings (or damaged): starting over", stacklevel=3)
        if self.folder.exists():
            shutil.rmtree(self.folder)
        self.folder.mkdir(parents=True)
        _atomic_write(jobfile, lambda tmp: Path(tmp).write_text(json.dumps(self.job, indent=1)))
        return 0

    def frame_path(self, index: int) -> Path:
        return self.folder / f"{index:07d}.png"

    def frame(self, index: int) -> np.ndarray:
        """A finished frame, HxWx3 uint8."""
        with Image.open(self.frame_path(index)) as im:
            return np.asarray(im.convert("RGB"))

    def done(self) -> int:
        """Frames finished, as recorded with the state."""
        return int(self._load_meta().get("done", 0))

    def _load_meta(self) -> dict:
        p = self.folder / "state.json"
        return json.loads(p.read_text()) if p.is_file() else {}

    def state(self) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        """The smoothed content statistics per level after the last finished frame."""
        from safetensors.torch import load_file

        p = self.folder / "state.safetensors"
        if not p.is_file():
            return {}
        t = load_file(p)
        return {k[5:]: (t[k], t["cov." + k[5:]]) for k in t if k.startswith("mean.")}

    def commit(self, start: int, frames: Sequence[np.ndarray], state: dict[str, tuple[torch.Tensor, torch.Tensor]]) -> None:
        """Write frames start.. (each atomically), then the state that says they are done."""
        from safetensors.torch import save_file

        for i, f in enumerate(frames):
            _atomic_write(self.frame_path(start + i), lambda tmp, f=f: Image.fromarray(f).save(tmp, format="PNG"))
        tensors = {}
        for lv, (m, c) in state.items():
            tensors[f"mean.{lv}"], tensors[f"cov.{lv}"] = m.detach().cpu().contiguous(), c.detach().cpu().contiguous()
        _atomic_write(self.folder / "state.safetensors", lambda tmp: save_file(tensors, tmp))
        _atomic_write(self.folder / "state.json", lambda tmp: Path(tmp).write_text(json.dumps({"done": start + len(frames)})))

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def _fingerprint(style, levels: Sequence[str]) -> str:
    """A hash of the style statistics the run uses (so a changed style restarts the job)."""
    h = hashlib.sha256()
    for lv in levels:
        for t in (style.mean(lv), style.color(lv)):
            h.update(t.detach().double().cpu().numpy().tobytes())
    return h.hexdigest()


def _check_output(source: Path, output: Path, overwrite: bool) -> None:
    if output.suffix.lower() not in VIDEO_SUFFIXES:
        raise OutputError(f"cannot tell the video format of '{output}'; use one of {', '.join(VIDEO_SUFFIXES)}")
    if output.exists() and source.exists() and os.path.samefile(source, output):
        raise OutputError(f"refusing to write the output over its input {output}; choose another output path")
    if output.exists() and not overwrite:
        raise OutputError(f"{output} already exists; pass --overwrite (overwrite=True) to replace it")
    if not output.parent.is_dir():
        raise OutputError(f"the folder {output.parent} does not exist; create it first")


def _fraction(value: float, name: str, top_open: bool = False) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a number in [0, 1], got {value!r}") from None
    if not (0.0 <= v < 1.0 if top_open else 0.0 <= v <= 1.0):
        raise InputError(f"{name} must be in [0, 1{')' if top_open else ']'}, got {value}")
    return v


def _at_working_size(frame: np.ndarray, size: tuple[int, int]) -> torch.Tensor:
    """One HxWx3 uint8 frame -> (1, 3, h, w) float at the working size (each frame alone: batch-independent)."""
    x = torch.from_numpy(np.ascontiguousarray(frame)).permute(2, 0, 1)[None].float() / 255.0
    return resize_to(x, size)


def _to_uint8(x: torch.Tensor) -> np.ndarray:
    """(3, h, w) in [0, 1] -> HxWx3 uint8."""
    return (x.clamp(0, 1).permute(1, 2, 0).float().cpu().numpy() * 255.0 + 0.5).astype(np.uint8)


class TemporalStep:
    """The pipeline step of video: WCT of a pass's frames (B, C, h, w), each whitened with its own statistics or, with
    ``momentum`` > 0, with content statistics averaged over time (kept in ``stats``); in tiles, ``stats`` given to a
    call are the whole frames' mean and covariance."""

    tileable = True

    def __init__(self, style, alphas, momentum: float, transform: str = DEFAULT_TRANSFORM) -> None:
        self.style, self.alphas, self.momentum, self.transform = style, alphas, momentum, transform
        self.stats: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        self._smoothed: dict[str, tuple] = {}  # level -> (whole frames' statistics from the tiles, smoothed)

    def __call__(self, f: torch.Tensor, lv: str, stats=None) -> torch.Tensor:
        flat = flat_features(f)  # (B, C, N)
        mean, color, alpha = self.style.mean(lv), self.style.color(lv), self.alphas[lv]
        if self.momentum == 0.0 and stats is None:
            return wct(flat, mean, color, alpha, kind=self.transform).view(f.shape)
        means, covs = self._statistics(flat, lv, stats)
        return wct_with_statistics(flat, means, covs, mean, color, alpha, kind=self.transform).view(f.shape)

    def _statistics(self, flat: torch.Tensor, lv: str, stats) -> tuple[torch.Tensor, torch.Tensor]:
        """Each frame's statistics, averaged over time when ``momentum`` > 0; the tiles of one pass share them."""
        if self.momentum == 0.0:
            return stats
        if stats is None:
            means, covs, self.stats[lv] = smoothed_statistics(flat, self.stats.get(lv), self.momentum)
            return means, covs
        cached = self._smoothed.get(lv)
        if cached is None or cached[0] is not stats:  # a new pass: smooth its statistics into the state once
            means, covs, self.stats[lv] = smooth_statistics(*stats, self.stats.get(lv), self.momentum)
            cached = self._smoothed[lv] = (stats, (means, covs))
        return cached[1]


class _Stylizer:
    """Frames through the networks in batches (the pipeline with a TemporalStep), the photorealistic smoothing when
    ``smoothing`` names its method, then the flow blend."""

    def __init__(self, model: Model, style, alphas, levels, size, momentum: float, blend: float, tile_size: int | None = None,
                 transform: str = DEFAULT_TRANSFORM, smoothing: str | None = None) -> None:  # fmt: skip
        self.networks, self.levels, self.size = model, levels, size
        self.step = TemporalStep(style, alphas, momentum, transform)
        self.blend, self.tile_size, self.smoothing = blend, tile_size, smoothing
        self.prev_in: np.ndarray | None = None  # the previous input and output frames at the working size
        self.prev_out: np.ndarray | None = None

    @property
    def stats(self) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        """The content statistics averaged over time so far, per level."""
        return self.step.stats

    @stats.setter
    def stats(self, value: dict[str, tuple[torch.Tensor, torch.Tensor]]) -> None:
        self.step.stats = value

    def inputs(self, frames: Sequence[np.ndarray]) -> list[np.ndarray]:
        return [_to_uint8(_at_working_size(f, self.size)[0]) for f in frames]

    def __call__(self, frames: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Stylized frames (uint8, working size), in order; carries the temporal state to the next call."""
        small = [_at_working_size(f, self.size) for f in frames]
        x, (h, w) = pad_to_multiple(torch.cat(small).to(self.networks.device), 16)
        with torch.inference_mode():
            y = pipeline.run_levels(self.networks, x, self.levels, self.step, tile_size=self.tile_size)[..., :h, :w]
            if self.smoothing is not None:  # each frame guided by itself, before the flow blend
                y = pipeline.photo_finish(y, x[..., :h, :w], self.smoothing)
        outs = []
        for inp, styl in zip(self.inputs(frames), y):
            out = _to_uint8(styl)
            if self.blend > 0 and self.prev_out is not None:
                back, fwd = optical_flow(inp, self.prev_in), optical_flow(self.prev_in, inp)
                mixed = blend_warped(out, warp(self.prev_out, back), consistency_mask(back, fwd), self.blend)
                out = (mixed * 255.0 + 0.5).astype(np.uint8)
            self.prev_in, self.prev_out = inp, out
            outs.append(out)
        return outs


def _batches(frames: Iterator[np.ndarray], size: int) -> Iterator[list[np.ndarray]]:
    batch: list[np.ndarray] = []
    for f in frames:
        batch.append(f)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _mux(source: Path, store: FrameStore, count: int, output: Path, info: VideoInfo) -> None:
    """Encode the finished frames at the input's size with the input's timestamps; copy or re-encode the audio."""
    av = require_av()
    ext = output.suffix.lower()
    with _open_input(source) as inp, av.open(str(output), "w") as out:
        vin = inp.streams.video[0]
        vout = out.add_stream(VIDEO_SUFFIXES[ext], rate=info.rate)
        vout.width, vout.height = info.width, info.height
        vout.pix_fmt = "yuv420p" if info.width % 2 == 0 and info.height % 2 == 0 else "yuv444p"
        vout.options = {"crf": "18"} if VIDEO_SUFFIXES[ext] == "libx264" else {}
        ain = inp.streams.audio[0] if inp.streams.audio else None
        aout, copy = None, False
        if ain is not None:
            allowed = AUDIO_COPYABLE[ext]
            copy = allowed is None or ain.codec_context.name in allowed
            if copy:
                aout = out.add_stream_from_template(ain)
            else:
                rate = 48000 if AUDIO_ENCODER[ext] == "libopus" else (ain.codec_context.sample_rate or 48000)  # Opus: 48 kHz
                aout = out.add_stream(AUDIO_ENCODER[ext], rate=rate)
        i = 0
        for packet in inp.demux([s for s in (vin, ain) if s is not None]):
            if packet.stream is vin:
                for frame in packet.decode():
                    if i >= count:
                        break
                    img = store.frame(i)
                    if img.shape[:2] != (info.height, info.width):
                        img = np.asarray(Image.fromarray(img).resize((info.width, info.height), Image.Resampling.BICUBIC))
                    vf = av.VideoFrame.from_ndarray(img, format="rgb24")
                    if frame.pts is not None:
                        vf.pts, vf.time_base = frame.pts, frame.time_base
                    out.mux(vout.encode(vf))
                    i += 1
            elif aout is not None and packet.stream is ain:
                if copy:
                    if packet.dts is not None:
                        packet.stream = aout
                        out.mux(packet)
                else:
                    for af in packet.decode():
                        af.pts = None
                        out.mux(aout.encode(af))
        out.mux(vout.encode(None))
        if aout is not None and not copy:
            out.mux(aout.encode(None))


def stylize_video(
    source: str | os.PathLike,
    style,
    output: str | os.PathLike,
    *,
    model: Model | None = None,
    device: str | torch.device | None = None,
    weights=None,
    alpha=None,
    levels=None,
    max_size: int | None = DEFAULT_SIZE,
    style_size: int | None = DEFAULT_STYLE_SIZE,
    blend_method: str = "linear",
    transform: str = DEFAULT_TRANSFORM,
    photorealistic: bool = False,
    smoothing: str = "auto",
    coherent: bool = True,
    flow_blend: float = FLOW_BLEND,
    stats_momentum: float = STATS_MOMENTUM,
    batch_size: int = 4,
    tile_size: int | None = None,
    overwrite: bool = False,
    progress: Progress | None = None,
) -> Path:
    """Restyle a video after ``style`` (or a blend), frame by frame in batches, with temporal coherence.

    Args:
        source, output: video files (output: .mp4, .mov, .mkv or .webm); the output has the input's frame
            count, size and timestamps, and its audio (copied, or re-encoded when the container needs it).
        style, weights, alpha, levels, style_size, blend_method, transform: as ``stylize``; the style is measured once.
        photorealistic, smoothing: as ``stylize``: each frame is smoothed guided by itself (before the flow blend).
        max_size: long side the frames are stylized at (the result is scaled back to the input's size).
        coherent: False gives plain per-frame WCT (it flickers); True blends the previous output, warped along
            the input's optical flow, into the pixels the flow tracks (``flow_blend`` of it), and, when
            ``stats_momentum`` > 0, whitens each frame with content statistics averaged over time.
        batch_size: frames per pass through the networks (on a CPU, fewer when a pass would hold more than
            CPU_BATCH_PIXELS, as in ``stylize_batch``).
        tile_size: as ``stylize``: by default frames over 2048x2048 pixels go through the networks in tiles.
        progress: called as progress(done, total, "") once at the start (done: frames finished by an earlier run)
            and after each batch (total: the container's frame count, or at least done); an exception it raises
            stops the run, and a later run resumes after the last finished batch.
    Returns:
        The output path. Raises InputError, OutputError, WeightsError.
    """
    src, out = Path(source), Path(output)
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise InputError(f"batch_size must be a whole number >= 1, got {batch_size!r}")
    blend = _fraction(flow_blend, "flow_blend") if coherent else 0.0
    momentum = _fraction(stats_momentum, "stats_momentum", top_open=True) if coherent else 0.0
    _check_output(src, out, overwrite)
    info = probe(src)
    model = model if model is not None else _default(device)
    run = parse_run(levels=levels, alpha=alpha, transform=transform, tile_size=tile_size, downscale=False,
                    photorealistic=photorealistic, smoothing=smoothing)  # fmt: skip
    lvls, alphas, tile_size, kind = run.levels, run.alphas, run.tile_size, run.transform
    size = working_size(info.height, info.width, parse_size(max_size))
    pipeline.check_smoothing(run.smoothing if run.photorealistic else "", size)
    smoothing_method = run.smoothing if run.photorealistic else None
    with torch.inference_mode():
        st = pipeline.resolve_style(model, style, weights, lvls, style_size, method=blend_method)
    per_pass = model.batch_limit(-(-size[0] // 16) * 16, -(-size[1] // 16) * 16, batch_size)
    from . import __version__

    stat = src.stat()
    job = {"wct": __version__, "source": str(src.resolve()), "bytes": stat.st_size, "mtime_ns": stat.st_mtime_ns,
           "style": _fingerprint(st, lvls), "alphas": alphas, "levels": list(lvls), "size": list(size),
           "transform": kind, "smoothing": smoothing_method, "flow_blend": blend, "stats_momentum": momentum,
           "batch_size": per_pass, "tile_size": tile_size}  # fmt: skip
    store = FrameStore(out, job)
    done = store.open()
    frames = _Stylizer(model, st, alphas, lvls, size, momentum, blend, tile_size, kind, smoothing_method)
    if done:
        frames.stats = {lv: (m.to(model.device), c.to(model.device)) for lv, (m, c) in store.state().items()}
        frames.prev_out = store.frame(done - 1)
    index = _render(frames, store, iter_frames(src), per_pass, done, info.frames, progress)
    if index == 0:
        raise InputError(f"{src.name} holds no decodable frames")
    _atomic_write(out, lambda tmp: _mux(src, store, index, Path(tmp), info))
    store.remove()
    return out


def _render(frames: _Stylizer, store: FrameStore, source, per_pass: int, done: int, count: int,
            progress: Progress | None) -> int:
    """Stylize the frames of ``source`` in batches of ``per_pass`` into ``store``, skipping the ``done`` finished by
    an earlier run (the last of them still primes the flow); progress as ``stylize_video`` says. Returns the frames
    seen."""
    if progress is not None:
        progress(done, max(count, done), "")
    index = 0
    for batch in _batches(source, per_pass):
        if index + len(batch) <= done:  # finished earlier
            index += len(batch)
            if index == done:
                frames.prev_in = frames.inputs(batch[-1:])[0]
            continue
        store.commit(index, frames(batch), frames.stats)
        index += len(batch)
        if progress is not None:
            progress(index, max(count, index), "")
    return index
