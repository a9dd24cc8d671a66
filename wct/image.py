"""Images in and out: paths, PIL images, arrays and tensors <-> (1, 3, H, W) float tensors in [0, 1]."""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps, UnidentifiedImageError

from .atomic import atomic_write
from .errors import ImageError, InputError, OutputError

__all__ = [
    "ImageInput",
    "MAX_PIXELS",
    "HARD_MAX_PIXELS",
    "MIN_SIDE",
    "to_tensor",
    "from_tensor",
    "read_image",
    "resize_to",
    "fit_multiple",
    "pad_to_multiple",
    "save_image",
    "check_output",
    "output_format",
    "output_size",
    "working_size",
]

ImageInput = str | os.PathLike | Image.Image | np.ndarray | torch.Tensor

MAX_PIXELS = 50_000_000  # larger images are refused before decoding (decompression bombs), or shrunk with downscale=True
# with downscale=True, images up to Pillow's own decompression-bomb limit (about 179 MP) are accepted and shrunk
# (JPEGs while decoding; other formats after decoding in full)
HARD_MAX_PIXELS = 2 * (Image.MAX_IMAGE_PIXELS or 500_000_000)
MIN_SIDE = 32  # four 2x poolings leave 2x2 maps (reflection padding needs 2); smaller images are upscaled, then restored


@dataclass(frozen=True)
class Source:
    """How an input arrived, so the output can be returned in the same form."""

    kind: str  # "pil" or "tensor"
    ndim: int = 4
    size: tuple[int, int] = (0, 0)  # (H, W) as given


def _flatten_alpha(im: Image.Image) -> Image.Image:
    """Composite any transparency onto white."""
    if im.mode == "P" and "transparency" in im.info:
        im = im.convert("RGBA")
    if im.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        im = im.convert("RGBA")
        white = Image.new("RGBA", im.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, im).convert("RGB")
    return im


def _pil_to_array(im: Image.Image) -> np.ndarray:
    """Any Pillow mode -> HxWx3 float32 in [0, 1]."""
    if im.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        a = np.asarray(im, dtype=np.float64)
        top = 65535.0 if a.max(initial=0) > 255 or im.mode.startswith("I;16") else 255.0
        a = np.clip(a / top, 0, 1)
        return np.repeat(a[..., None], 3, axis=2).astype(np.float32)
    if im.mode == "F":
        a = np.asarray(im, dtype=np.float64)
        if not np.isfinite(a).all():
            raise ImageError("the image holds NaN or infinite values; expected finite pixel values")
        a = np.clip(a / (255.0 if a.max(initial=0) > 1 else 1.0), 0, 1)
        return np.repeat(a[..., None], 3, axis=2).astype(np.float32)
    im = _flatten_alpha(im)
    return np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0


def _over_limit(name: str, w: int, h: int, max_pixels: int) -> ImageError:
    return ImageError(
        f"{name} is {w}x{h} = {w * h / 1e6:.1f} MP, over the limit of {max_pixels / 1e6:.0f} MP; "
        "fix: pass downscale=True (CLI: --downscale) to shrink it to the limit, or downscale it first"
    )


def shrink_to_limit(im: Image.Image, max_pixels: int) -> Image.Image:
    """``im`` shrunk (same aspect ratio, antialiased) to at most ``max_pixels`` pixels; unchanged if it fits."""
    w, h = im.size
    if w * h <= max_pixels:
        return im
    s = (max_pixels / (w * h)) ** 0.5
    size = (max(1, int(w * s)), max(1, int(h * s)))
    factor = min(w // size[0], h // size[1])
    if factor >= 2:  # box-reduce by a whole factor first: fast, and exact averaging
        im = im.reduce(factor)
    return im.resize(size, Image.Resampling.LANCZOS) if im.size != size else im


def read_image(path: str | os.PathLike, *, max_pixels: int = MAX_PIXELS, downscale: bool = False) -> Image.Image:
    """Open an image file fully decoded, EXIF orientation applied; first frame of an animation.

    An image over ``max_pixels`` is refused from its header, before decoding; with ``downscale`` it is
    shrunk to fit instead (a JPEG is decoded at a reduced scale directly; other formats up to
    HARD_MAX_PIXELS are decoded, then shrunk).
    """
    p = Path(path)
    if not p.exists():
        raise ImageError(f"no such file: {p}")
    if p.is_dir():
        raise ImageError(f"{p} is a folder; expected an image file")
    if p.stat().st_size == 0:
        raise ImageError(f"{p.name} is an empty file (0 bytes), not a readable image; expected PNG, JPEG, WebP, BMP, TIFF or GIF")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # our own limit applies below
            im = Image.open(p)
            w, h = im.size
            if w * h > max_pixels:
                if not downscale:
                    raise _over_limit(p.name, w, h, max_pixels)
                if w * h > HARD_MAX_PIXELS:
                    raise ImageError(
                        f"{p.name} is {w}x{h} = {w * h / 1e6:.0f} MP, over the limit of {HARD_MAX_PIXELS / 1e6:.0f} MP even "
                        "for downscaling (a decompression bomb?); fix: shrink it with an image tool first"
                    )
                s = (max_pixels / (w * h)) ** 0.5
                im.draft("RGB", (int(w * s), int(h * s)))  # JPEG: DCT-domain scaling to >= that size; others: no-op
            if getattr(im, "is_animated", False):
                warnings.warn(f"{p.name} is animated: using its first frame", stacklevel=2)
                im.seek(0)
            im.load()
            im = ImageOps.exif_transpose(im)
            if downscale:
                im = shrink_to_limit(im, max_pixels)
    except ImageError:
        raise
    except Image.DecompressionBombError:
        if downscale:
            raise ImageError(
                f"{p.name} is over the limit of {HARD_MAX_PIXELS / 1e6:.0f} MP even for downscaling (a decompression bomb?); "
                "fix: shrink it with an image tool first"
            ) from None
        raise ImageError(
            f"{p.name} is far over the limit of {max_pixels / 1e6:.0f} MP (a decompression bomb?); fix: downscale it first"
        ) from None
    except UnidentifiedImageError:
        raise ImageError(
            f"{p.name} is not a readable image: its contents are no image format (another kind of file under an image's "
            "name?); expected PNG, JPEG, WebP, BMP, TIFF or GIF"
        ) from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageError(f"{p.name} is truncated or corrupt ({exc}); fix: re-export or re-download it") from None
    return im


def _array_to_tensor(a: np.ndarray) -> torch.Tensor:
    if a.ndim == 2:
        a = a[..., None]
    if a.ndim != 3 or a.shape[2] not in (1, 3, 4):
        raise ImageError(f"expected an HxWx3 (or HxW, HxWx4) image array, got shape {a.shape}")
    if a.dtype == np.uint8:
        x = a.astype(np.float32) / 255.0
    elif a.dtype == np.uint16:
        x = a.astype(np.float32) / 65535.0
    elif np.issubdtype(a.dtype, np.floating):
        x = a.astype(np.float32)
        if not np.isfinite(x).all():
            raise ImageError("the image array holds NaN or infinite values; expected finite values in [0, 1]")
        if x.min() < -1e-3 or x.max() > 1 + 1e-3:
            raise ImageError(
                f"float image arrays must lie in [0, 1], got values in [{x.min():.3g}, {x.max():.3g}]; fix: divide by 255"
            )
        x = np.clip(x, 0, 1)
    else:
        raise ImageError(f"expected a uint8, uint16 or float image array, got dtype {a.dtype}")
    if x.shape[2] == 1:
        x = np.repeat(x, 3, axis=2)
    elif x.shape[2] == 4:
        alpha = x[..., 3:]
        x = x[..., :3] * alpha + (1 - alpha)
    return torch.from_numpy(np.ascontiguousarray(x)).permute(2, 0, 1)[None]


def _tensor_in(t: torch.Tensor) -> torch.Tensor:
    if t.ndim == 3:
        t = t[None]
    if t.ndim != 4 or t.shape[0] != 1 or t.shape[1] != 3:
        raise ImageError(f"expected an image tensor of shape (3, H, W) or (1, 3, H, W), got {tuple(t.shape)}")
    if not t.is_floating_point():
        raise ImageError(f"expected a float image tensor in [0, 1], got dtype {t.dtype}")
    if not torch.isfinite(t).all():
        raise ImageError("the image tensor holds NaN or infinite values; expected finite values in [0, 1]")
    lo, hi = float(t.min()), float(t.max())
    if lo < -1e-3 or hi > 1 + 1e-3:
        raise ImageError(f"image tensors must lie in [0, 1], got values in [{lo:.3g}, {hi:.3g}]")
    return t.float().clamp(0, 1)


def to_tensor(image: ImageInput, *, max_pixels: int = MAX_PIXELS, downscale: bool = False) -> tuple[torch.Tensor, Source]:
    """Any supported image -> ((1, 3, H, W) float32 in [0, 1] on the CPU or its own device, Source).

    Images over ``max_pixels`` are refused, or with ``downscale`` shrunk to fit (the result then
    comes back at the shrunk size).
    """
    if isinstance(image, torch.Tensor):
        t = _tensor_in(image)
        t = _fit_tensor(t, max_pixels, downscale)
        return t, Source("tensor", image.ndim, tuple(t.shape[-2:]))
    if isinstance(image, (str, os.PathLike)):
        image = read_image(image, max_pixels=max_pixels, downscale=downscale)
    if isinstance(image, Image.Image):
        if image.width * image.height > max_pixels:
            if not downscale:
                raise _over_limit("the image", image.width, image.height, max_pixels)
            image = shrink_to_limit(image, max_pixels)
        t = torch.from_numpy(_pil_to_array(image)).permute(2, 0, 1)[None].contiguous()
    elif isinstance(image, np.ndarray):
        t = _fit_tensor(_array_to_tensor(image), max_pixels, downscale)
    else:
        raise InputError(f"expected an image path, PIL image, HxWx3 array or (3, H, W) tensor, got {type(image).__name__}")
    if min(t.shape[-2:]) < 1:
        raise ImageError(f"the image is empty ({t.shape[-1]}x{t.shape[-2]})")
    return t, Source("pil", 4, tuple(t.shape[-2:]))


def _fit_tensor(t: torch.Tensor, max_pixels: int, downscale: bool) -> torch.Tensor:
    h, w = t.shape[-2:]
    if h * w <= max_pixels:
        return t
    if not downscale:
        raise _over_limit("the image", w, h, max_pixels)
    s = (max_pixels / (h * w)) ** 0.5
    return resize_to(t, (max(1, int(h * s)), max(1, int(w * s))))


def from_tensor(t: torch.Tensor, source: Source) -> torch.Tensor | Image.Image:
    """(1, 3, H, W) in [0, 1] -> the form the input came in (tensor of the same rank, or PIL RGB)."""
    t = t.clamp(0, 1)
    if source.kind == "tensor":
        return t if source.ndim == 4 else t[0]
    a = (t[0].permute(1, 2, 0).float().cpu().numpy() * 255.0 + 0.5).astype(np.uint8)
    return Image.fromarray(a, "RGB")


def resize_to(t: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Resize (B, 3, H, W) to (h, w), antialiased when shrinking."""
    if tuple(t.shape[-2:]) == tuple(size):
        return t
    shrink = size[0] < t.shape[-2] or size[1] < t.shape[-1]
    mode = "bilinear" if shrink else "bicubic"
    return F.interpolate(t, size=size, mode=mode, antialias=shrink, align_corners=False).clamp(0, 1)


def fit_multiple(t: torch.Tensor, long_side: int, m: int = 16) -> torch.Tensor:
    """Resize (B, 3, H, W) so the long side is ``long_side``, sides rounded down to multiples of ``m``."""
    h, w = t.shape[-2:]
    s = long_side / max(h, w)
    return resize_to(t, (max(m, int(h * s) // m * m), max(m, int(w * s) // m * m)))


def output_size(h: int, w: int, max_size: int | None) -> tuple[int, int]:
    """The size a result has: the image's, shrunk so the long side is at most ``max_size`` (at least 1 px a side)."""
    s = 1.0 if max_size is None or max(h, w) <= max_size else max_size / max(h, w)
    return max(1, round(h * s)), max(1, round(w * s))


def working_size(h: int, w: int, max_size: int | None) -> tuple[int, int]:
    """Size to process at: long side at most ``max_size``, short side at least MIN_SIDE (images thinner than that are
    worked at MIN_SIDE, the long side then beyond ``max_size``, and the result shrunk to ``output_size``)."""
    s = 1.0
    if max_size is not None and max(h, w) > max_size:
        s = max_size / max(h, w)
    if min(h, w) * s < MIN_SIDE:
        s = MIN_SIDE / min(h, w)
    return max(MIN_SIDE, round(h * s)), max(MIN_SIDE, round(w * s))


def pad_to_multiple(t: torch.Tensor, m: int = 16) -> tuple[torch.Tensor, tuple[int, int]]:
    """Reflect-pad (B, C, H, W) on the bottom/right to multiples of ``m``; returns the original (H, W)."""
    h, w = t.shape[-2:]
    ph, pw = (-h) % m, (-w) % m
    if ph or pw:
        t = F.pad(t, (0, pw, 0, ph), mode="reflect")
    return t, (h, w)


def output_format(path: str | os.PathLike) -> str:
    """Pillow format name for an output path's extension."""
    ext = Path(path).suffix.lower()
    fmt = Image.registered_extensions().get(ext)
    if not ext or fmt is None or fmt not in Image.SAVE:
        known = ".png, .jpg, .webp, .bmp, .tif"
        raise OutputError(f"cannot tell the image format of '{path}' from its extension {ext or '(none)'}; use one of {known}")
    return fmt


def _same_file(a: str | os.PathLike, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def check_output(path: str | os.PathLike, *, overwrite: bool = False, inputs: tuple[str | os.PathLike, ...] = ()) -> str:
    """What ``save_image`` checks, for checking before the work: a known extension (its Pillow format is returned), not
    one of ``inputs``, not an existing file unless ``overwrite``, an existing folder."""
    out = Path(path)
    fmt = output_format(out)
    if out.exists() and any(_same_file(src, out) for src in inputs):
        raise OutputError(f"refusing to write the output over its input {out}; choose another output path")
    if out.exists() and not overwrite:
        raise OutputError(f"{out} already exists; pass --overwrite (overwrite=True) to replace it")
    if out.parent and not out.parent.exists():
        raise OutputError(f"the folder {out.parent} does not exist; create it first")
    return fmt


def save_image(
    image: Image.Image,
    path: str | os.PathLike,
    *,
    overwrite: bool = False,
    inputs: tuple[str | os.PathLike, ...] = (),
    quality: int = 95,
) -> Path:
    """Write atomically (temporary file, then rename); never over an input, never over a file unless ``overwrite``."""
    out = Path(path)
    fmt = check_output(out, overwrite=overwrite, inputs=inputs)
    if fmt == "JPEG" and image.mode != "RGB":
        image = image.convert("RGB")
    opts = {"quality": quality} if fmt in ("JPEG", "WEBP") else {}
    try:
        return atomic_write(out, lambda tmp: image.save(tmp, format=fmt, **opts), overwrite=overwrite)
    except OutputError:
        raise
    except OSError as exc:
        raise OutputError(f"could not write {out}: {exc}") from None
