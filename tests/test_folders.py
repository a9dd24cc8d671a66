"""The folder driver: outputs that exist are skipped, the rest written as results arrive (in any order), failures
counted and listed, an interruption leaves a job that resumes, and the progress bar counts only the work to do."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import smooth_image
from PIL import Image

import wct
from wct.distributed import Outcome
from wct.folders import check_output_folder, list_images, output_names, render_locally, run_folder


@pytest.fixture()
def photos(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(4):
        Image.fromarray(smooth_image(24, 32, seed=i)).save(folder / f"p{i}.png")
    (folder / "notes.txt").write_text("not an image: not listed")
    return folder


def tinted(sources, shade=None):
    """Results as a stylizer would give them: one image per source, here a flat tint of its own index."""
    return [Outcome(i, Image.new("RGB", (8, 6), (shade if shade is not None else 40 * i, 0, 0)), "") for i in range(len(sources))]


def test_a_folder_lists_its_images_sorted_and_outputs_keep_names_apart(photos):
    (photos / "p0.jpg").write_bytes((photos / "p0.png").read_bytes())
    paths = list_images([photos])
    assert [p.name for p in paths] == ["p0.jpg", "p0.png", "p1.png", "p2.png", "p3.png"]
    names = [p.name for p in output_names(paths, photos / "out", "webp")]
    assert names == ["p0_jpg.webp", "p0_png.webp", "p1.webp", "p2.webp", "p3.webp"]
    (photos / "empty").mkdir()
    with pytest.raises(wct.InputError, match="holds no images"):
        list_images([photos / "empty"])


def test_existing_outputs_are_skipped_and_only_the_rest_is_rendered(photos, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    Image.new("RGB", (2, 2)).save(out / "p1.png")
    asked = []

    def render(sources):
        asked.extend(p.name for p in sources)
        return tinted(sources)

    summary = run_folder(list_images([photos]), out, render)
    assert asked == ["p0.png", "p2.png", "p3.png"]
    assert (summary.written, summary.skipped, summary.failed, summary.total) == (3, 1, [], 4)
    assert summary.line() == "3 written, 1 skipped (already done), 0 failed"
    assert Image.open(out / "p1.png").size == (2, 2)  # kept
    assert "3/3" in capsys.readouterr().err  # the bar counts the work to do, not the skipped outputs
    again = run_folder(list_images([photos]), out, render)
    assert (again.written, again.skipped) == (0, 4) and len(asked) == 3  # nothing left to render
    assert capsys.readouterr().err == ""  # and no progress bar for nothing


def test_results_arriving_in_any_order_land_in_their_own_files(photos, tmp_path):
    def render(sources):
        return reversed(tinted(sources))

    run_folder(list_images([photos]), tmp_path / "out", render, progress=False)
    reds = [np.asarray(Image.open(tmp_path / "out" / f"p{i}.png"))[0, 0, 0] for i in range(4)]
    assert reds == [0, 40, 80, 120]


def test_failures_are_counted_and_listed_and_the_rest_written(photos, tmp_path):
    def render(sources):
        for o in tinted(sources):
            yield Outcome(o.index, None, "p2.png is corrupt") if sources[o.index].name == "p2.png" else o

    summary = run_folder(list_images([photos]), tmp_path / "out", render, progress=False)
    assert summary.written == 3 and summary.failed == [(photos / "p2.png", "p2.png is corrupt")]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["p0.png", "p1.png", "p3.png"]


def test_an_interrupted_job_keeps_what_it_wrote_and_resumes(photos, tmp_path):
    def interrupted(sources):
        yield from tinted(sources)[:2]
        raise KeyboardInterrupt

    out = tmp_path / "out"
    first = run_folder(list_images([photos]), out, interrupted, progress=False)
    assert first.interrupted and first.written == 2
    assert sorted(p.name for p in out.iterdir()) == ["p0.png", "p1.png"]  # whole files only, no temporary ones
    second = run_folder(list_images([photos]), out, lambda s: tinted(s), progress=False)
    assert (second.written, second.skipped, second.interrupted) == (2, 2, False)


def test_an_output_over_an_input_fails_that_image_only(photos):
    sources = list_images([photos])
    summary = run_folder(sources, photos, lambda s: tinted(s), overwrite=True, inputs=sources, progress=False)
    assert summary.written == 0 and len(summary.failed) == 4 and "over its input" in summary.failed[0][1]


def test_a_local_render_stylizes_each_source_and_reports_unreadable_ones(photos, tmp_path, random_model, style_array):
    (photos / "broken.png").write_bytes(b"\x89PNG not really")
    style = random_model.compute_style(style_array, levels=[1])
    render = render_locally(random_model, style, {"levels": [1]})
    summary = run_folder(list_images([photos]), tmp_path / "out", render, progress=False)
    assert summary.written == 4 and [p.name for p, _ in summary.failed] == ["broken.png"]
    assert "not a readable image" in summary.failed[0][1]
    assert Image.open(tmp_path / "out" / "p0.png").size == (32, 24)


@pytest.mark.parametrize(("name", "fmt", "match"), [("one.png", "png", "names an image file"), ("file", "png", "is a file"),
                                                    ("out", "xyz", "--format xyz")])  # fmt: skip
def test_an_output_folder_is_checked_before_any_work(tmp_path, name, fmt, match):
    (tmp_path / "file").write_text("a file")
    with pytest.raises(wct.OutputError, match=match):
        check_output_folder(tmp_path / name, fmt)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]  # nothing created
    (tmp_path / "dir.png").mkdir()
    assert check_output_folder(tmp_path / "dir.png", "png") == tmp_path / "dir.png"  # an existing folder of that name is fine
