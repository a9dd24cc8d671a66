"""The public API: ``Model`` (one pair of networks with a thin public face) and the module-level functions over shared
models. Each call checks its options once (``Options``) and hands them to the pipeline."""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence

import torch
from PIL import Image

from . import measure, pipeline
from .checks import parse_count, parse_flag, parse_levels, parse_model
from .defaults import DEFAULT_MODEL, DEFAULT_SIZE, DEFAULT_STYLE_SIZE, MODELS, Levels, Weights
from .encoder import parse_level
from .errors import InputError
from .image import ImageInput
from .levels import Progress
from .measure import StyleInput
from .networks import Networks, resolve_device
from .options import Options
from .style import Style

__all__ = ["Model", "available_models", "load", "stylize", "stylize_batch", "blend", "reconstruct", "compute_style", "texture",
           "shared_model"]


class Model:
    """A pair of networks (an encoder and its per-level decoders) on one device, with the engine's methods; the
    module-level functions use a shared one per model and device.

    Args:
        model: "vgg16" (the default: VGG-16 and its decoders) or "light" (a distilled VGG-16 of a quarter of the width
            with its own decoders: several times faster, see README "Light model"). Styles are measured per model.
        device: "cpu", "cuda", "cuda:1" ...; None picks CUDA when available.
        encoder_weights: an explicit encoder weights file (checked like the shipped or cached one).
        decoders: a folder with MANIFEST.json, or {level: Decoder}; None uses the shipped decoders.
        compile: run the networks through ``torch.compile`` (each new image size costs a compilation of tens of
            seconds; it pays for long runs at fixed sizes on a GPU; on a CPU the eager path is faster).
        half: run the networks in half precision (float16 on CUDA, bfloat16 elsewhere; statistics and the transform
            stay float32/float64, and an image whose activations overflow is redone in float32). ``"auto"``: only where
            it is fast (CUDA; CPUs with AMX). Off by default: results then match float32 to rounding.
    """

    def __init__(self, *, model: str = DEFAULT_MODEL, device: str | torch.device | None = None, encoder_weights=None,
                 decoders=None, compile: bool = False, half: bool | str = False) -> None:  # fmt: skip
        self.networks = Networks(model=model, device=device, encoder_weights=encoder_weights, decoders=decoders,
                                 compile=compile, half=half)  # fmt: skip

    @property
    def name(self) -> str:
        """Which pair of networks: "vgg16" or "light"."""
        return self.networks.name

    @property
    def device(self) -> torch.device:
        return self.networks.device

    @property
    def precision(self) -> str:
        """The networks' precision: "float32", or with ``half`` "float16" (CUDA) or "bfloat16"."""
        return self.networks.precision

    @property
    def half(self) -> bool:
        return self.networks.half

    def available_levels(self) -> tuple[str, ...]:
        """Levels that have a decoder."""
        return self.networks.available_levels()

    def __repr__(self) -> str:
        return f"Model(model={self.name!r}, device={str(self.device)!r}, precision={self.precision!r})"

    # ----- styles -------------------------------------------------------------------------
    @torch.inference_mode()
    def compute_style(self, image: StyleInput, *, levels: Levels | None = None, style_size: int | None = DEFAULT_STYLE_SIZE,
                      downscale: bool = False) -> Style:  # fmt: skip
        """Style statistics of an image at ``levels`` (all five by default; one encoder pass); a Style is returned as is."""
        opts = Options(style_size=style_size, downscale=downscale)
        return measure.measure_style(self.networks, image, parse_levels(levels), opts.style_size, downscale=opts.downscale)

    @torch.inference_mode()
    def blend(self, styles: Sequence[StyleInput], weights: Weights | None = None, *, method: str = "linear",
              levels: Levels | None = None, style_size: int | None = DEFAULT_STYLE_SIZE, downscale: bool = False) -> Style:
        """One Style from several (Styles, paths, PIL images or arrays).

        Args:
            weights: one weight per style (normalised to sum 1; None = equal), or per level:
                ``{"relu5_1": [1, 0], "relu4_1": [1, 0], "default": [0, 1]}`` (levels not named take
                "default", else equal weights).
            method: "linear" (the paper's interpolation) or "wasserstein" (W2 barycenter); see Style.blend.
        """
        opts = Options(style_size=style_size, downscale=downscale, blend_method=method)
        if isinstance(styles, (str, os.PathLike, Style)) or not isinstance(styles, Sequence):
            raise InputError(f"blend expects a list of styles, got {type(styles).__name__}; use compute_style for one")
        return measure.blend_styles(self.networks, list(styles), weights, parse_levels(levels), opts.style_size,
                                    method=method, downscale=opts.downscale)  # fmt: skip

    @torch.inference_mode()
    def style_for(self, style: StyleInput | Sequence[StyleInput], options: Options | None = None, /,
                  **changes) -> tuple[StyleInput | list, Options]:  # fmt: skip
        """``(style, options)`` for many runs that measure the style images once: ``style`` measured (and blended) as a
        run with these options would, and the options to run it with (see ``wct.measure.style_for``)."""
        return measure.style_for(self.networks, style, Options.make(options, **changes))

    # ----- stylization --------------------------------------------------------------------
    @torch.inference_mode()
    def stylize(self, content: ImageInput, style: StyleInput | Sequence[StyleInput], options: Options | None = None, /, *,
                progress: Progress | None = None, **changes):  # fmt: skip
        """Restyle ``content`` after ``style`` (or a weighted blend of several, or one per mask region), coarse to fine.

        Args:
            content: path, PIL image, HxWx3 uint8 array, or float tensor (3,H,W)/(1,3,H,W) in [0, 1].
            style: a Style, an image, or a list of them (blended by ``weights``, or one per entry of ``masks``).
            options: a ``wct.Options``; keywords (``alpha=0.8``, ``refine=True``, ...: every field of ``Options``)
                change it, or make one from the defaults.
            progress: called as progress(done, total, what) after each level (``what``: its name), each refinement
                step ("refine") and the smoothing ("smooth"); an exception it raises stops the run and propagates
                unchanged (use it to cancel, or to enforce a time limit).
        Returns:
            A PIL image, or a tensor shaped like a tensor input.
        Raises:
            InputError, ImageError, WeightsError.
        """
        return pipeline.stylize(self.networks, content, style, Options.make(options, **changes), progress)

    @torch.inference_mode()
    def stylize_batch(self, contents: Sequence[ImageInput], style: StyleInput | Sequence[StyleInput],
                      options: Options | None = None, /, *, batch_size: int = 4, progress: Progress | None = None,
                      **changes) -> list:  # fmt: skip
        """``stylize`` for many contents and one style (or blend): the style is measured once, and contents of the
        same working size go through the networks ``batch_size`` at a time (on a CPU, fewer when a batch would pass
        CPU_BATCH_PIXELS: there large batches are slower than a loop). Each result equals ``stylize`` on that image
        alone (up to float rounding).

        Args: as ``stylize``. ``progress(done, total, what)`` counts, per image, its refinement steps ("refine"),
            its smoothing ("smooth") and the image itself, reported ("") when it is finished.
        Returns: one result per content, in order (PIL images, or tensors for tensor inputs).
        """
        parse_count(batch_size, "batch_size", 1)
        if isinstance(contents, (str, os.PathLike)) or not isinstance(contents, Sequence):
            raise InputError(f"contents must be a list of images, got {type(contents).__name__}; use stylize for one image")
        opts = Options.make(options, **changes)
        return pipeline.stylize_many(self.networks, list(contents), style, opts, batch_size, progress)

    @torch.inference_mode()
    def texture(self, style: StyleInput | Sequence[StyleInput], *, size: int | tuple[int, int] = (DEFAULT_SIZE, DEFAULT_SIZE),
                seed: int = 0, weights: Weights | None = None, levels: Levels | None = None, iterations: int = 1,
                style_size: int | None = DEFAULT_STYLE_SIZE, blend_method: str = "linear", tile_size: int | None = None,
                progress: Progress | None = None, downscale: bool = False) -> Image.Image:  # fmt: skip
        """Synthesise a texture after ``style`` from seeded noise (Li et al., section 4: texture synthesis): the
        multi-level transform at alpha 1 on uniform noise, coarse to fine, ``iterations`` times (1..10).

        Args:
            size: (width, height) of the result in pixels, exactly; an int for a square.
            seed: the noise seed: the same seed (and inputs) give the same image.
            levels: layer names or 1..5, run deepest first. Default: all five.
            weights, style_size, blend_method, tile_size, downscale: as in ``wct.Options``.
        """
        return pipeline.texture(self.networks, style, size=size, seed=seed, weights=weights, texture_levels=levels,
                                iterations=iterations, style_size=style_size, blend_method=blend_method,
                                tile_size=tile_size, progress=progress, downscale=parse_flag(downscale, "downscale"))  # fmt: skip

    @torch.inference_mode()
    def reconstruct(self, content: ImageInput, level: str | int = "relu4_1", *, max_size: int | None = DEFAULT_SIZE,
                    downscale: bool = False):  # fmt: skip
        """Encode to ``level`` and decode back (what the decoder alone does to an image)."""
        opts = Options(max_size=max_size, downscale=downscale)
        return pipeline.reconstruct(self.networks, content, parse_level(level), opts)


def available_models() -> tuple[str, ...]:
    """The models (of MODELS) whose weights are installed: "vgg16", and "light" once its networks are shipped."""
    from .weights import decoders_dir, light_dir, read_manifest

    return tuple(m for m in MODELS if read_manifest(light_dir() if m == "light" else decoders_dir()))


def load(*, model: str = DEFAULT_MODEL, device: str | torch.device | None = None, encoder_weights=None, decoders=None,
         compile: bool = False, half: bool | str = False) -> Model:  # fmt: skip
    """A new Model (see Model for the arguments)."""
    return Model(model=model, device=device, encoder_weights=encoder_weights, decoders=decoders, compile=compile, half=half)


_models: dict[tuple[str, str], Model] = {}
_models_lock = threading.Lock()


def shared_model(model: str | Model = DEFAULT_MODEL, device: str | torch.device | None = None) -> Model:
    """The Model the module-level functions use for ``model`` and ``device`` (loaded once per process); a Model
    given is returned as is."""
    if isinstance(model, Model):
        return model
    name, dev = parse_model(DEFAULT_MODEL if model is None else model), resolve_device(device)
    with _models_lock:
        if (name, str(dev)) not in _models:
            _models[name, str(dev)] = Model(model=name, device=dev)
        return _models[name, str(dev)]


def stylize(content: ImageInput, style, options: Options | None = None, /, *, model: str = DEFAULT_MODEL,
            device: str | torch.device | None = None, **kwargs):  # fmt: skip
    """Module-level Model.stylize on a shared model (``model``: "vgg16" or "light") for ``device``."""
    return shared_model(model, device).stylize(content, style, options, **kwargs)


def stylize_batch(contents: Sequence[ImageInput], style, options: Options | None = None, /, *, model: str = DEFAULT_MODEL,
                  device: str | torch.device | None = None, **kwargs) -> list:  # fmt: skip
    """Module-level Model.stylize_batch: many contents, one style measured once, networks run in batches."""
    return shared_model(model, device).stylize_batch(contents, style, options, **kwargs)


def reconstruct(content: ImageInput, level: str | int = "relu4_1", *, model: str = DEFAULT_MODEL, device=None, **kwargs):
    """Module-level Model.reconstruct on a shared model for ``device``."""
    return shared_model(model, device).reconstruct(content, level, **kwargs)


def compute_style(image: StyleInput, *, model: str = DEFAULT_MODEL, device=None, **kwargs) -> Style:
    """Module-level Model.compute_style on a shared model for ``device``."""
    return shared_model(model, device).compute_style(image, **kwargs)


def blend(styles: Sequence[StyleInput], weights: Weights | None = None, *, model: str = DEFAULT_MODEL, device=None,
          **kwargs) -> Style:  # fmt: skip
    """Module-level Model.blend: one Style from several, mixed with ``weights`` (per level too; method="linear"|"wasserstein")."""
    return shared_model(model, device).blend(styles, weights, **kwargs)


def texture(style, *, model: str = DEFAULT_MODEL, device: str | torch.device | None = None, **kwargs) -> Image.Image:
    """Module-level Model.texture: a texture of ``size=(w, h)`` after ``style``, from noise seeded by ``seed``."""
    return shared_model(model, device).texture(style, **kwargs)
