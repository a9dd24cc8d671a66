"""Folder jobs: resumable, past corrupt files, and on Ray (local mode) with the same outputs as one process."""

from __future__ import annotations

from io import BytesIO

import numpy as np
import pytest
from conftest import smooth_image
from PIL import Image

from wct import load
from wct.cli import main
from wct.distributed import _Stylizer

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # both paths with one thread, as a one-CPU Ray worker


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """24 small images (48 px long side, two shapes), one corrupt file, and a style image."""
    root = tmp_path_factory.mktemp("batch")
    src = root / "in"
    src.mkdir()
    for i in range(24):
        h, w = (48, 40) if i % 3 else (36, 48)
        Image.fromarray(smooth_image(h, w, seed=100 + i)).save(src / f"img{i:02d}.png")
    (src / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    Image.fromarray(smooth_image(48, 48, seed=2)).save(root / "style.png")
    return root


def batch(capsys, folder, out, *extra):
    code = main(["batch", str(folder / "in"), "-s", str(folder / "style.png"), "-o", str(out), "--levels", "3,2,1", *extra])
    return code, capsys.readouterr().err


def pixels(folder):
    return {p.name: np.asarray(Image.open(p)) for p in sorted(folder.iterdir())}


@pytest.fixture(scope="module")
def single(folder):
    """The single-process run (the reference the Ray run must match)."""
    out = folder / "single"
    code = main(["batch", str(folder / "in"), "-s", str(folder / "style.png"), "-o", str(out), "--levels", "3,2,1"])
    return code, out


def test_a_folder_run_lists_the_corrupt_file_and_writes_the_rest(single):
    code, out = single
    assert code == 1
    names = sorted(p.name for p in out.iterdir())
    assert names == [f"img{i:02d}.png" for i in range(24)]
    assert Image.open(out / "img01.png").size == (40, 48) and Image.open(out / "img00.png").size == (48, 36)


def test_the_failure_list_names_the_corrupt_file(capsys, folder, single, tmp_path):
    code, err = batch(capsys, folder, tmp_path / "again")
    assert code == 1 and "1 of 25 image(s) failed" in err and "broken.jpg" in err and "corrupt" in err
    assert "Traceback" not in err


def test_resumption_redoes_only_missing_outputs(capsys, folder, single):
    _, out = single
    stamps = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    before = pixels(out)
    (out / "img05.png").unlink()
    code, err = batch(capsys, folder, out)
    assert code == 1 and "1 of 25" in err
    after = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    assert {n for n in after if after[n] != stamps.get(n)} == {"img05.png"}
    assert all(np.array_equal(a, before[n]) for n, a in pixels(out).items())


def test_ray_local_mode_gives_the_single_process_outputs(capsys, folder, single):
    ray = pytest.importorskip("ray", reason="the Ray path needs the 'ray' extra")
    _, reference = single
    out = folder / "ray"
    try:
        ray_options = ["--ray", "local", "--ray-cpus", "2", "--workers", "1", "--cpus-per-worker", "1", "--batch-size", "6"]
        code, err = batch(capsys, folder, out, *ray_options)
    finally:
        if ray.is_initialized():
            ray.shutdown()
    assert code == 1 and "1 of 25 image(s) failed" in err and "broken.jpg" in err
    assert not ray.is_initialized()  # the local cluster the command started is shut down
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in reference.iterdir())
    for name in (p.name for p in reference.iterdir()):
        assert (out / name).read_bytes() == (reference / name).read_bytes(), name


def test_a_ray_worker_runs_in_half_precision_when_asked(folder):
    """`wct batch --ray --half`: each worker loads the half-precision model and gives its pixels."""
    options = {"levels": ["relu2_1", "relu1_1"], "max_size": None}
    src = folder / "in" / "img01.png"
    worker = _Stylizer(str(folder / "style.png"), options, "cpu", 1, half=True)
    assert worker.model.half
    got = worker({"index": np.array([0]), "src": np.array([str(src)], dtype=object)})
    assert got["error"][0] == ""
    expected = load(device="cpu", half=True).stylize(str(src), str(folder / "style.png"), **options)
    assert np.array_equal(np.asarray(Image.open(BytesIO(got["png"][0])).convert("RGB")), np.asarray(expected))
