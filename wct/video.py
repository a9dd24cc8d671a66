"""``stylize_video``: a video restyled frame by frame in batches, with temporal coherence, resumable.

The frames go through the same pipeline as images (``prepare`` -> ``measure`` once -> ``levels`` -> ``after``) in
``frames.FrameStylizer``; finished batches are kept in a ``framestore.FrameStore`` next to the output, so an
interrupted run started again with the same settings continues after the last finished batch (with other settings it
starts over); when every frame is done ``media.mux`` encodes them at the input's size with its timestamps and audio,
to a temporary name that is then renamed, and the work folder is removed.
"""

from __future__ import annotations

import hashlib
import itertools
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import torch

from . import levels, measure
from .atomic import atomic_write
from .checks import is_many, parse_count, parse_flag, parse_fraction
from .defaults import DEFAULT_MODEL
from .errors import InputError
from .frames import FrameStylizer, TemporalStep
from .framestore import FrameStore
from .image import working_size
from .masks import prepare_masks
from .media import VIDEO_SUFFIXES, check_output, iter_frames, mux, probe
from .options import Options
from .prepare import check_smoothing, frames_at

__all__ = ["stylize_video", "VIDEO_SUFFIXES", "FLOW_BLEND", "STATS_MOMENTUM"]

FLOW_BLEND = 0.7  # share of the warped previous output blended into each tracked pixel
# weight of the running content statistics against the current frame's: off by default, since smoothing them
# raised the flicker on the measured clips (README, "Video"); the option stays for lighting changes and experiments
STATS_MOMENTUM = 0.0
Progress = Callable[[int, int, str], None]


def stylize_video(source: str | os.PathLike, style, output: str | os.PathLike, options: Options | None = None, /, *,
                  model=DEFAULT_MODEL, device: str | torch.device | None = None, coherent: bool = True,
                  flow_blend: float = FLOW_BLEND, stats_momentum: float = STATS_MOMENTUM, batch_size: int = 4,
                  overwrite: bool = False, progress: Progress | None = None, **changes) -> Path:  # fmt: skip
    """Restyle a video after ``style`` (or a blend, or one style per mask region), frame by frame in batches, with
    temporal coherence.

    Args:
        source, output: video files (output: .mp4, .mov, .mkv or .webm); the output has the input's frame
            count, size and timestamps, and its audio (copied, or re-encoded when the container needs it).
        style: as ``stylize``; measured once (histogram colour preservation recolours it after the first frame).
        options: a ``wct.Options`` (every option of ``stylize``: refinement, colour preservation, masks in the video's
            aspect ratio, the photorealistic mode, ...), changed by keywords; ``max_size`` is the long side the frames
            are stylized at (the result is scaled back to the input's size).
        model: "vgg16", "light", or a loaded ``wct.Model``; device: for a model given by name.
        coherent: False gives plain per-frame stylization (it flickers); True blends the previous output, warped along
            the input's optical flow, into the pixels the flow tracks (``flow_blend`` of it), and, when
            ``stats_momentum`` > 0, whitens each frame with content statistics averaged over time (not with masks).
        batch_size: frames per pass through the networks (on a CPU, fewer when a pass would hold more than
            CPU_BATCH_PIXELS, as in ``stylize_batch``).
        progress: called as progress(done, total, "") once at the start (done: frames finished by an earlier run)
            and after each batch (total: the container's frame count, or at least done); an exception it raises
            stops the run, and a later run resumes after the last finished batch.
    Returns:
        The output path. Raises InputError, OutputError, WeightsError.
    """
    from .api import shared_model

    src, out = Path(source), Path(output)
    parse_count(batch_size, "batch_size", 1)
    coherent = parse_flag(coherent, "coherent")
    blend = parse_fraction(flow_blend, "flow_blend") if coherent else 0.0
    momentum = parse_fraction(stats_momentum, "stats_momentum", top_open=True) if coherent else 0.0
    opts = Options.make(options, **changes)
    opts.check_styles(len(style) if is_many(style) else 1)
    check_output(src, out, overwrite)
    info = probe(src)
    networks = shared_model(model, device).networks
    size = working_size(info.height, info.width, opts.content_size)
    check_smoothing(opts, size)
    first = next(iter_frames(src), None)
    if first is None:
        raise InputError(f"{src.name} holds no decodable frames")
    step, fingerprint = _step(networks, style, opts, size, (info.height, info.width), first, momentum)
    per_pass = networks.batch_limit(-(-size[0] // 16) * 16, -(-size[1] // 16) * 16, batch_size)
    store = FrameStore(out, _job(src, opts, size, fingerprint, blend, momentum, per_pass))
    done = store.open()
    frames = FrameStylizer(networks, step, opts, size, blend)
    if done:
        frames.stats = {lv: (m.to(networks.device), c.to(networks.device)) for lv, (m, c) in store.state().items()}
        frames.prev_out = store.frame(done - 1)
    index = _render(frames, store, iter_frames(src), per_pass, done, info.frames, progress)
    atomic_write(out, lambda tmp: mux(src, store.frame, index, Path(tmp), info), keep_suffix=True)
    store.remove()
    return out


def _step(networks, style, opts: Options, size: tuple[int, int], video_size: tuple[int, int], first: np.ndarray,
          momentum: float):  # fmt: skip
    """The run's step (a TemporalStep, or with masks a MaskedStep over the whole video) and a fingerprint of what it
    colours with (so a changed style or mask restarts an interrupted job)."""
    x, base = frames_at([first], size, networks.device)
    with torch.inference_mode():
        styles = measure.run_styles(networks, style, opts, base)
    digest = hashlib.sha256()
    for st in styles:
        for lv in opts.run_levels:
            for t in (st.mean(lv), st.color(lv)):
                digest.update(t.detach().double().cpu().numpy().tobytes())
    if opts.masks is None:
        return TemporalStep(styles[0], opts.alphas, momentum, opts.transform), digest.hexdigest()
    masks = prepare_masks(opts.masks, len(opts.masks), video_size, size, tuple(x.shape[-2:])).to(networks.device)
    digest.update(masks.double().cpu().numpy().tobytes())
    return levels.make_step(styles, masks, opts), digest.hexdigest()


def _job(src: Path, opts: Options, size: tuple[int, int], fingerprint: str, blend: float, momentum: float,
         per_pass: int) -> dict:  # fmt: skip
    """The settings that decide the frames: an interrupted run resumes only when they are the same."""
    from . import __version__

    stat = src.stat()
    return {"wct": __version__, "source": str(src.resolve()), "bytes": stat.st_size, "mtime_ns": stat.st_mtime_ns,
            "style": fingerprint, "alphas": opts.alphas, "levels": list(opts.run_levels), "size": list(size),
            "transform": opts.transform, "smoothing": opts.smoothing if opts.photorealistic else None,
            "refine": opts.refine, "preserve_color": opts.preserve_color, "flow_blend": blend,
            "stats_momentum": momentum, "batch_size": per_pass, "tile_size": opts.tile_size}  # fmt: skip


def _batches(frames: Iterator[np.ndarray], size: int) -> Iterator[list[np.ndarray]]:
    while batch := list(itertools.islice(frames, size)):
        yield batch


def _render(frames: FrameStylizer, store: FrameStore, source: Iterator[np.ndarray], per_pass: int, done: int, count: int,
            progress: Progress | None) -> int:  # fmt: skip
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
