"""The pipeline's second step: measure the styles. Images, ``Style`` objects or lists of them become the Styles a run
colours with (one, or one per mask region), each image encoded once for every level the run needs."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import torch

from .checks import is_many, level_weights, parse_blend_method
from .color import match_color
from .encoder import LEVELS
from .errors import InputError, WCTError
from .image import ImageInput, resize_to, to_tensor, working_size
from .networks import Networks
from .options import Options
from .refine import REFINE_LEVELS
from .style import Style

__all__ = ["StyleInput", "measure_style", "blend_styles", "resolve_style", "run_styles", "style_for"]

StyleInput = Style | ImageInput


def measure_style(networks: Networks, image: StyleInput, levels: Sequence[str], style_size: int | None, *,
                  recolor: torch.Tensor | None = None, downscale: bool = False) -> Style:
    """The Style of an image at ``levels`` (one encoder pass); a Style is returned as is, if ``networks`` can use it.
    With ``recolor`` (1, 3, h, w), the image first takes that image's RGB mean and covariance (histogram mode). A path
    ending in .safetensors is a saved Style (``Style.load``)."""
    if isinstance(image, (str, os.PathLike)) and Path(image).suffix.lower() == ".safetensors":
        image = Style.load(image)
    if isinstance(image, Style):
        if recolor is not None:
            raise InputError(
                "preserve_color='histogram' recolours the style images before measuring them, so it needs images, "
                "got a precomputed Style; pass the style image, or use preserve_color='luminance'"
            )
        image.check_encoder(networks.encoder.id, networks.name)
        return image
    t, _ = to_tensor(image, downscale=downscale)
    t = resize_to(t, working_size(*t.shape[-2:], style_size)).to(networks.device)
    if recolor is not None:
        t = match_color(t, recolor.to(networks.device)).clamp(0, 1)
    taps = networks.encode(t, levels[0])
    desc = Path(image).stem if isinstance(image, (str, os.PathLike)) else ""
    return Style.from_features({lv: taps[lv] for lv in levels}, description=desc, encoder=networks.encoder.id)


def blend_styles(networks: Networks, styles: Sequence[StyleInput], weights, levels: Sequence[str], style_size: int | None,
                 *, method: str = "linear", recolor: torch.Tensor | None = None, downscale: bool = False) -> Style:
    """One Style from several images or Styles (see ``Style.blend``), each measured once."""
    parse_blend_method(method)
    level_weights(weights, len(styles), levels)  # validate before any encoding work
    measured = []
    for i, s in enumerate(styles, 1):
        try:
            measured.append(measure_style(networks, s, levels, style_size, recolor=recolor, downscale=downscale))
        except WCTError as exc:  # which of the styles: say it
            raise type(exc)(f"style {i}: {exc}") from None
    return Style.blend([s.to(networks.device) for s in measured], weights, method=method)


def resolve_style(networks: Networks, style: StyleInput | Sequence[StyleInput], weights, levels: Sequence[str],
                  style_size: int | None, *, method: str = "linear", also: Sequence[str] = (),
                  recolor: torch.Tensor | None = None, downscale: bool = False) -> Style:
    """One style, or the blend of a list, on the networks' device; it must hold ``levels``. Images are measured at the
    ``also`` levels too (refinement matches them when the style has them)."""
    measured = tuple(lv for lv in reversed(LEVELS) if lv in {*levels, *also})  # deepest first
    kw = dict(recolor=recolor, downscale=downscale)
    if is_many(style):
        st = blend_styles(networks, list(style), weights, measured, style_size, method=method, **kw)
    else:
        if weights is not None:
            level_weights(weights, 1, measured)
        parse_blend_method(method)
        st = measure_style(networks, style, measured, style_size, **kw)
    missing = [lv for lv in levels if not st.has(lv)]
    if missing:
        raise InputError(f"the style has no statistics for {', '.join(missing)}; it has {', '.join(st.levels)}")
    return st.to(networks.device)


def _measure(networks: Networks, style, weights, options: Options, recolor: torch.Tensor | None) -> Style:
    also = REFINE_LEVELS if options.refine else ()
    return resolve_style(networks, style, weights, options.run_levels, options.measure_size, method=options.blend_method,
                         also=also, recolor=recolor, downscale=options.downscale)  # fmt: skip


def _split(style, options: Options) -> tuple[list, list]:
    """(the styles with a mask, in order; the styles without one) for a run with masks."""
    styles = list(style) if is_many(style) else [style]
    options.check_styles(len(styles))
    masked = [s for s, m in zip(styles, options.masks) if m is not None]
    free = [s for s, m in zip(styles, options.masks) if m is None]
    return masked, free


def _free_weights(options: Options):
    """The weights of the styles without a mask (per level too), or None."""
    if options.weights is None:
        return None
    keep = [i for i, m in enumerate(options.masks) if m is None]
    if isinstance(options.weights, dict):
        return {k: [v[i] for i in keep] for k, v in options.weights.items()}
    return [options.weights[i] for i in keep]


def run_styles(networks: Networks, style, options: Options, base: torch.Tensor | None = None) -> list[Style]:
    """The Styles a run colours with: one (a style, or the blend of a list by ``options.weights``) without masks; with
    masks one per masked style, then the blend of the styles without a mask (the rest of the picture), if any.
    ``base`` (1, 3, h, w): the content, which recolours the style images in histogram mode."""
    recolor = base if options.preserve_color == "histogram" else None
    if not options.regions:
        if is_many(style):
            options.check_styles(len(style))
        return [_measure(networks, style, options.weights, options, recolor)]
    masked, free = _split(style, options)
    regions = [_measure(networks, s, None, options, recolor) for s in masked]
    if free:
        regions.append(_measure(networks, free if len(free) > 1 else free[0], _free_weights(options), options, recolor))
    return regions


def style_for(networks: Networks, style, options: Options) -> tuple[StyleInput | list, Options]:
    """The style and options for many runs that measure the style images once: a Style (the blend of a list) with
    ``weights`` dropped, or with masks one Style per region (the styles without a mask blended into the last) and the
    masks to match; in histogram mode, which recolours the style images after each content, both as they are."""
    if options.preserve_color == "histogram":
        return style, options
    if not options.regions:
        return _measure(networks, style, options.weights, options, None), options.replace(weights=None)
    regions = run_styles(networks, style, options)
    masks = [m for m in options.masks if m is not None]
    if len(regions) > len(masks):
        masks.append(None)
    return regions, options.replace(masks=masks, weights=None)
