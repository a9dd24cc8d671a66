"""Folder jobs (``wct stylize DIR``, ``wct batch``, on Ray or not): list the images, name the outputs, skip the
outputs that exist (so an interrupted run resumes), write each result atomically as it arrives, and count.

A job is driven by ``run_folder(sources, folder, render)``: ``render`` turns the sources still to do into a stream
of ``Outcome`` (index into that list, image or error), in any order: ``render_locally`` runs them one by one in
this process, ``wct.distributed.stylize_on_ray`` on Ray actors.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .distributed import Outcome
from .errors import InputError, OutputError, WCTError
from .image import output_format, save_image
from .options import Options

__all__ = [
    "IMAGE_SUFFIXES",
    "FolderSummary",
    "check_output_folder",
    "list_images",
    "output_names",
    "render_locally",
    "run_folder",
]

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".gif"}
Render = Callable[[Sequence[Path]], Iterable[Outcome]]


@dataclass
class FolderSummary:
    """What a folder job did: outputs written, outputs that existed (skipped), and the inputs that failed."""

    total: int
    skipped: int
    written: int = 0
    failed: list[tuple[Path, str]] = field(default_factory=list)
    interrupted: bool = False

    def line(self) -> str:
        return f"{self.written} written, {self.skipped} skipped (already done), {len(self.failed)} failed"


def list_images(items: Sequence[str | os.PathLike]) -> list[Path]:
    """Files as given, folders as the images in them (by suffix, sorted); a folder without images is refused."""
    out: list[Path] = []
    for item in items:
        p = Path(item)
        if p.is_dir():
            found = sorted(q for q in p.iterdir() if q.suffix.lower() in IMAGE_SUFFIXES and q.is_file())
            if not found:
                raise InputError(f"the folder {p} holds no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
            out += found
        else:
            out.append(p)
    return out


def output_names(paths: Sequence[Path], folder: Path, fmt: str) -> list[Path]:
    """FOLDER/stem.fmt for each input; inputs sharing a stem (a.jpg, a.png) keep their suffix in the name."""
    stems = [p.stem for p in paths]
    return [folder / (f"{p.stem}_{p.suffix[1:]}.{fmt}" if stems.count(p.stem) > 1 else f"{p.stem}.{fmt}") for p in paths]


def check_output_folder(folder: str | os.PathLike, fmt: str) -> Path:
    """The output folder of a job with several outputs, checked before any work (it is created when the job runs).

    Refused: a name with an image extension that is not a folder (``-o one.png`` would silently become a folder
    named one.png), an existing file, and a ``fmt`` Pillow cannot write.
    """
    out = Path(folder)
    if out.suffix.lower() in IMAGE_SUFFIXES and not out.is_dir():
        raise OutputError(
            f"-o {out} names an image file, but a folder (or several images) in gives several images out; "
            f"give an output folder, e.g. -o {out.with_suffix('')}/ (--format sets their file type)"
        )
    if out.exists() and not out.is_dir():
        raise OutputError(f"-o {out} is a file; several outputs need a folder; give a folder name")
    try:
        output_format(f"out.{fmt}")
    except OutputError:
        raise OutputError(f"--format {fmt}: not an image type wct can write; use png, jpg, webp, bmp or tif") from None
    return out


def render_locally(model, style, options) -> Render:
    """``render`` for ``run_folder``: ``model.stylize(src, style, options)`` for each source, here, in order
    (``options``: a ``wct.Options``, or the keywords of one)."""
    options = Options.make(options)

    def render(sources: Sequence[Path]) -> Iterator[Outcome]:
        for i, src in enumerate(sources):
            try:
                yield Outcome(i, model.stylize(src, style, options), "")
            except WCTError as exc:
                yield Outcome(i, None, str(exc) or "refused")

    return render


def run_folder(
    sources: Sequence[Path],
    folder: Path,
    render: Render,
    *,
    fmt: str = "png",
    overwrite: bool = False,
    inputs: Sequence[str | os.PathLike] = (),
    progress: bool = True,
) -> FolderSummary:
    """Stylize ``sources`` into ``folder`` (created if needed): outputs that exist are skipped unless ``overwrite``,
    the others rendered by ``render`` and each written atomically as it arrives (never over one of ``inputs``).

    An input that fails (unreadable, refused) is recorded in the summary and the job goes on; an interruption
    (KeyboardInterrupt) stops it with ``interrupted`` set, and running the job again resumes it. ``progress`` shows
    a bar on stderr over the outputs still to do.
    """
    targets = list(zip(sources, output_names(sources, folder, fmt)))
    todo = [(src, dst) for src, dst in targets if overwrite or not dst.exists()]
    summary = FolderSummary(total=len(targets), skipped=len(targets) - len(todo))
    if not todo:
        return summary
    folder.mkdir(parents=True, exist_ok=True)
    from tqdm import tqdm

    bar = tqdm(total=len(todo), desc="stylizing", unit="img", file=sys.stderr, disable=not progress)
    try:
        for outcome in render([src for src, _ in todo]):
            src, dst = todo[outcome.index]
            if outcome.error:
                summary.failed.append((src, outcome.error))
            else:
                try:
                    save_image(outcome.image, dst, overwrite=overwrite, inputs=tuple(inputs))
                    summary.written += 1
                except WCTError as exc:
                    summary.failed.append((src, str(exc)))
            bar.update(1)
    except KeyboardInterrupt:
        summary.interrupted = True
    finally:
        bar.close()
    return summary
