"""Video files through PyAV: what a video holds, its frames in order, and the finished frames encoded back with the
input's timestamps and audio (copied, or re-encoded when the container cannot hold it)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
from PIL import Image

from .errors import InputError, OutputError
from .extras import require

__all__ = ["VIDEO_SUFFIXES", "VideoInfo", "open_input", "probe", "iter_frames", "mux", "check_output"]

VIDEO_SUFFIXES = {".mp4": "libx264", ".mov": "libx264", ".mkv": "libx264", ".webm": "libvpx-vp9"}
AUDIO_COPYABLE = {".mp4": {"aac", "mp3", "ac3", "alac", "opus"}, ".mov": {"aac", "mp3", "ac3", "alac", "pcm_s16le"},
                  ".mkv": None, ".webm": {"opus", "vorbis"}}  # fmt: skip  (None: any codec)
AUDIO_ENCODER = {".mp4": "aac", ".mov": "aac", ".mkv": "aac", ".webm": "libopus"}


@dataclass(frozen=True)
class VideoInfo:
    """What the encoder needs to know about an input video."""

    width: int
    height: int
    frames: int  # from the container, else estimated from duration x rate (0 if unknown)
    rate: Fraction
    audio: str | None  # the audio codec's name, None without audio


def open_input(path: Path):
    av = require("av")
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
    with open_input(Path(path)) as c:
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
    av = require("av")
    with open_input(Path(path)) as c:
        try:
            for frame in c.decode(video=0):
                yield frame.to_ndarray(format="rgb24")
        except av.error.FFmpegError as exc:
            raise InputError(f"{Path(path).name} is damaged: decoding failed ({exc}); fix: re-encode or re-download it") from None


def check_output(source: Path, output: Path, overwrite: bool) -> None:
    if output.suffix.lower() not in VIDEO_SUFFIXES:
        raise OutputError(f"cannot tell the video format of '{output}'; use one of {', '.join(VIDEO_SUFFIXES)}")
    if output.exists() and source.exists() and os.path.samefile(source, output):
        raise OutputError(f"refusing to write the output over its input {output}; choose another output path")
    if output.exists() and not overwrite:
        raise OutputError(f"{output} already exists; pass --overwrite (overwrite=True) to replace it")
    if not output.parent.is_dir():
        raise OutputError(f"the folder {output.parent} does not exist; create it first")


def mux(source: Path, finished: Callable[[int], np.ndarray], count: int, output: Path, info: VideoInfo) -> None:
    """Encode ``count`` frames (``finished(i)``: HxWx3 uint8, any size) at the input's size with the input's timestamps
    into ``output``; copy or re-encode the audio."""
    av = require("av")
    ext = output.suffix.lower()
    with open_input(source) as inp, av.open(str(output), "w") as out:
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
                    img = finished(i)
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


