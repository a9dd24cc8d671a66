"""The pipeline, in one direction: prepare the inputs -> measure the styles -> run the levels -> after-steps -> finish.

Each step lives in its own module and is called once per image, in this order (``ARCHITECTURE.md`` maps them):
``prepare`` (content and masks at the working size), ``measure`` (the Styles), ``levels`` (encode, transform, decode,
coarse to fine), ``after`` (refinement, smoothing, colour preservation), ``finish`` (crop, convert). The networks are
one swappable ``Networks`` object; nothing here depends on which pair it holds.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import torch
from PIL import Image

from . import after, levels, measure, prepare
from .checks import is_many, parse_count, parse_levels, parse_texture_size, parse_tile_size
from .defaults import Levels, Weights
from .finish import finish
from .image import ImageInput, Source, from_tensor, pad_to_multiple
from .levels import PlainStep, Progress
from .networks import Networks
from .options import Options

__all__ = ["stylize", "stylize_many", "texture", "reconstruct", "counter"]


def stylize(networks: Networks, content: ImageInput, style, options: Options, progress: Progress | None = None):
    """One content through every step (see ``wct.stylize``)."""
    options.check_styles(len(style) if is_many(style) else 1)
    canvas = prepare.canvas(content, options, networks.device)
    styles = measure.run_styles(networks, style, options, canvas.base)
    step = levels.make_step(styles, canvas.masks, options)
    total = len(options.run_levels) + options.refine + options.photorealistic
    report = None if progress is None else lambda done, _, lv: progress(done, total, lv)
    y = levels.run_levels(networks, canvas.x, options.run_levels, step, progress=report, tile_size=options.tile_size)
    h, w = canvas.size
    tick = counter(progress, len(options.run_levels), total)
    y = after.after_levels(networks, y[..., :h, :w], canvas.base, step, options, tick)
    return finish(y, canvas)


def stylize_many(networks: Networks, contents: Sequence[ImageInput], style, options: Options, batch_size: int,
                 progress: Progress | None = None) -> list:
    """Many contents, one style measured once (except in histogram mode, where each content recolours the style
    images); contents of one working size go through the networks ``batch_size`` at a time (see ``wct.stylize_batch``)."""
    options.check_styles(len(style) if is_many(style) else 1)
    shared = None if options.preserve_color == "histogram" else measure.run_styles(networks, style, options)
    results: list = [None] * len(contents)
    pending: dict[tuple, list] = {}  # padded shape -> [(index, canvas)], flushed batch_size at a time
    tick = counter(progress, 0, len(contents) * (1 + options.refine + options.photorealistic))

    def flush(items: list[tuple[int, prepare.Canvas]]) -> None:
        x = torch.cat([c.x for _, c in items])
        picks = [shared or measure.run_styles(networks, style, options, c.base) for _, c in items]
        steps = [levels.make_step(p, c.masks, options) for p, (_, c) in zip(picks, items)]
        if shared is not None and items[0][1].masks is None:
            y = levels.run_levels(networks, x, options.run_levels, steps[0], tile_size=options.tile_size)
        else:  # masks (each content its own) or histogram mode (each its own styles): one at a time
            y = torch.cat([levels.run_levels(networks, x[j : j + 1], options.run_levels, st, tile_size=options.tile_size)
                           for j, st in enumerate(steps)])  # fmt: skip
        for j, (i, c) in enumerate(items):
            h, w = c.size
            out = after.after_levels(networks, y[j : j + 1, :, :h, :w], c.base, steps[j], options, tick)
            results[i] = finish(out, c)
            if tick is not None:
                tick("")

    for i, content in enumerate(contents):
        c = prepare.canvas(content, options, networks.device)
        group = pending.setdefault(tuple(c.x.shape), [])
        group.append((i, c))
        if len(group) >= networks.batch_limit(*c.x.shape[-2:], batch_size):
            flush(pending.pop(tuple(c.x.shape)))
    for group in pending.values():
        flush(group)
    return results


def texture(networks: Networks, style, *, size: int | tuple[int, int], seed: int, weights: Weights | None,
            texture_levels: Levels | None, iterations: int, style_size: int | None, blend_method: str, tile_size: int | None,
            progress: Progress | None, downscale: bool) -> Image.Image:
    """A texture of ``size`` (w, h) after ``style`` from seeded noise (see ``wct.texture``)."""
    w, h = parse_texture_size(size)
    parse_count(seed, "seed")
    parse_count(iterations, "iterations", 1, 10)
    lvls = parse_levels(texture_levels)
    tile_size = parse_tile_size(tile_size)
    opts = Options(levels=lvls, weights=weights, style_size=style_size, blend_method=blend_method, downscale=downscale)
    st = measure.run_styles(networks, style, opts)[0]
    gen = torch.Generator().manual_seed(seed)  # CPU noise: the same on every device
    noise = torch.rand(1, 3, max(h, 32), max(w, 32), generator=gen)
    x, _ = pad_to_multiple(noise.to(networks.device), 16)
    step = PlainStep(st, dict.fromkeys(lvls, 1.0))
    y = levels.run_levels(networks, x, lvls, step, progress=progress, rounds=iterations, tile_size=tile_size)
    return from_tensor(y[..., :h, :w].float(), Source("pil"))


def reconstruct(networks: Networks, content: ImageInput, level: str, options: Options):
    """Encode to ``level`` and decode back (what the decoder alone does to an image)."""
    canvas = prepare.canvas(content, options, networks.device)
    return finish(networks.decode(networks.encode_level(canvas.x, level), level).clamp(0, 1), canvas)


def counter(progress: Progress | None, start: int, total: int):
    """``tick(what)`` calling progress(start + 1, total, what), then start + 2, ...; None without ``progress``."""
    if progress is None:
        return None
    count = itertools.count(start + 1)
    return lambda what: progress(next(count), total, what)
