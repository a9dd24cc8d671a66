"""Atomic writes: a file appears whole under its name or not at all, and nothing is left behind."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

import wct
from wct.atomic import atomic_write


def test_the_content_appears_under_the_name_and_nothing_else_is_left(tmp_path):
    seen: list[Path] = []

    def write(tmp: Path) -> None:
        seen.append(tmp)
        assert not (tmp_path / "out.txt").exists()  # nothing under the final name while writing
        tmp.write_text("hello")

    assert atomic_write(tmp_path / "out.txt", write) == tmp_path / "out.txt"
    assert (tmp_path / "out.txt").read_text() == "hello"
    assert seen[0].parent == tmp_path and seen[0].name.endswith(".part")  # the same folder: the rename is atomic
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]
    assert stat.S_IMODE((tmp_path / "out.txt").stat().st_mode) == 0o644


@pytest.mark.parametrize("failure", [OSError("disk full"), ValueError("bad data"), KeyboardInterrupt()])
def test_a_failing_writer_leaves_no_file_and_no_temporary_file(tmp_path, failure):
    def write(tmp: Path) -> None:
        tmp.write_text("half of it")
        raise failure

    with pytest.raises(type(failure)):
        atomic_write(tmp_path / "out.txt", write)
    assert list(tmp_path.iterdir()) == []


def test_a_failing_writer_keeps_the_previous_file(tmp_path):
    (tmp_path / "out.txt").write_text("previous")

    def write(tmp: Path) -> None:
        tmp.write_text("new but incomplete")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write(tmp_path / "out.txt", write)
    assert (tmp_path / "out.txt").read_text() == "previous"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_an_existing_file_is_kept_without_overwrite_and_replaced_with_it(tmp_path):
    out = tmp_path / "out.txt"
    out.write_text("precious")
    calls: list[Path] = []
    with pytest.raises(wct.OutputError, match="already exists"):
        atomic_write(out, lambda tmp: calls.append(tmp) or tmp.write_text("new"), overwrite=False)
    assert out.read_text() == "precious" and calls == []  # refused before any work
    atomic_write(out, lambda tmp: tmp.write_text("new"))
    assert out.read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_a_file_that_appears_while_writing_is_not_replaced_without_overwrite(tmp_path):
    out = tmp_path / "out.txt"

    def write(tmp: Path) -> None:
        out.write_text("written meanwhile by another run")
        tmp.write_text("ours")

    with pytest.raises(wct.OutputError, match="already exists"):
        atomic_write(out, write, overwrite=False)
    assert out.read_text() == "written meanwhile by another run"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_the_temporary_name_keeps_the_suffix_when_the_writer_picks_the_format_by_it(tmp_path):
    names: list[str] = []

    def write(tmp: Path) -> None:
        names.append(tmp.name)
        tmp.write_bytes(b"x")

    atomic_write(tmp_path / "clip.mp4", write, keep_suffix=True)
    atomic_write(tmp_path / "plain.mp4", write)
    assert names[0].startswith(".clip.mp4.") and names[0].endswith(".part.mp4")
    assert names[1].endswith(".part")


def test_a_missing_folder_is_an_os_error_and_creates_nothing(tmp_path):
    with pytest.raises(OSError):
        atomic_write(tmp_path / "missing" / "out.txt", lambda tmp: tmp.write_text("x"))
    assert list(tmp_path.iterdir()) == []


def test_an_image_the_format_cannot_hold_is_refused_without_leaving_a_file(tmp_path):
    """save_image goes through atomic_write: Pillow's failure half-way becomes an OutputError and leaves nothing."""
    from PIL import Image

    from wct.image import save_image

    with pytest.raises(wct.OutputError, match="could not write"):
        save_image(Image.new("F", (8, 8)), tmp_path / "float.png")  # PNG has no 32-bit float mode
    assert list(tmp_path.iterdir()) == []
