"""What a new user tripped on: the CLI refuses what the API refuses, in the CLI's words, before any work; outputs are
checked before the work; thin images honour max_size; messages say what is wrong; figures come from one place."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import numpy as np
import pytest

import wct
from wct.cli import main

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture()
def no_model(monkeypatch):
    """The model must not load: every refusal here comes before any work."""
    monkeypatch.setattr("wct.load", lambda **kw: pytest.fail("the model was loaded before the refusal"))


def cli_error(capsys, *argv) -> str:
    code = main([str(a) for a in argv])
    err = capsys.readouterr().err
    assert code == 1 and err.startswith("wct: error: ") and err.count("\n") == 1, err
    return err


@pytest.mark.parametrize(
    ("flags", "said", "api"),
    [
        (["--size", "-5"], "--size must be at least 16 pixels, got -5", {"max_size": -5}),
        (["--style-size", "0"], "--style-size must be at least 16 pixels, got 0", {"style_size": 0}),
        (["--levels", ""], "--levels must name at least one level", {"levels": ""}),
        (["--alpha", "2"], "--alpha must be in [0, 1], got 2.0", {"alpha": 2.0}),
    ],
)
def test_the_cli_refuses_what_the_api_refuses_in_cli_words(capsys, tmp_path, content_path, style_path, no_model, flags,
                                                           said, api):  # fmt: skip
    err = cli_error(capsys, "stylize", content_path, "-s", style_path, "-o", tmp_path / "o.png", *flags)
    assert said in err and "max_size" not in err and "style_size" not in err, err
    with pytest.raises(wct.InputError, match=re.escape(said.split(" ", 1)[1])):  # the API refuses the same value
        wct.Options(**api)


def test_an_unavailable_device_is_named_as_the_cli_option(capsys, tmp_path, content_path, style_path, monkeypatch):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    monkeypatch.setattr("wct.load", wct.api.load)  # the real loader: it refuses the device
    err = cli_error(capsys, "stylize", content_path, "-s", style_path, "-o", tmp_path / "o.png", "--device", "cuda")
    assert "--device cuda is not available" in err and "use --device cpu" in err and "device=" not in err, err


@pytest.mark.parametrize("case", ["over its input", "existing", "missing folder", "unknown extension"])
def test_outputs_are_checked_before_any_work(capsys, tmp_path, content_path, style_path, no_model, case):
    existing = tmp_path / "done.png"
    existing.write_bytes(b"x")
    out, extra, said = {
        "over its input": (content_path, ["--overwrite"], "refusing to write the output over its input"),
        "existing": (existing, [], "already exists; pass --overwrite"),
        "missing folder": (tmp_path / "nope" / "o.png", [], "does not exist; create it first"),
        "unknown extension": (tmp_path / "o.xyz", [], "cannot tell the image format"),
    }[case]
    for command, args in (("stylize", [content_path, "-s", style_path]), ("texture", [style_path]),
                          ("reconstruct", [content_path])):  # fmt: skip
        if case == "over its input" and command == "texture":
            continue
        target = style_path if case == "over its input" and command == "texture" else out
        assert said in cli_error(capsys, command, *args, "-o", target, *extra)


@pytest.mark.parametrize(("size", "expected"), [((10, 3000), (512, 2)), ((100, 3000), (512, 17)), ((20, 40), (40, 20))])
def test_the_long_side_is_at_most_max_size_even_for_thin_images(random_model, size, expected):
    h, w = size
    strip = np.random.default_rng(0).integers(0, 255, (h, w, 3), dtype=np.uint8)
    out = random_model.stylize(strip, np.full((64, 64, 3), 90, np.uint8), levels=[1])
    assert out.size == expected and max(out.size) <= 512


def test_an_empty_file_is_called_empty_and_messages_name_no_exception_classes(tmp_path):
    (tmp_path / "empty.jpg").write_bytes(b"")
    (tmp_path / "notes.jpg").write_text("hello")
    with pytest.raises(wct.ImageError, match="empty file") as empty:
        wct.read_image(tmp_path / "empty.jpg")
    with pytest.raises(wct.ImageError) as text:
        wct.read_image(tmp_path / "notes.jpg")
    for err in (empty, text):
        assert not re.search(r"[A-Z][a-z]+(Error|Exception)", str(err.value)), err.value


def test_figures_that_change_with_the_weights_come_from_the_manifest():
    """The README states no decoder PSNR of its own (``wct info`` prints the manifest's), the CLI's help states no
    timings, and pyproject.toml gives the project's addresses for the Space's card."""
    readme = (ROOT / "README.md").read_text()
    assert not re.search(r"\d\d\.\d+ ?(/ ?\d\d\.\d+ ?)+dB", readme), "decoder PSNR figures belong to decoders/MANIFEST.json"
    from wct.cli import build_parser

    helps = " ".join(a.help or "" for sub in build_parser()._subparsers._group_actions[0].choices.values()
                     for a in sub._actions)  # fmt: skip
    assert not re.search(r"~?\d+ s at \d+ px", helps), "timings belong to the benchmarks' files"
    urls = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"].get("urls", {})
    assert urls, "pyproject.toml has [project.urls]"


def test_the_readme_gives_a_cpu_only_install_beside_the_first_command_and_the_space_takes_the_cpu_build():
    readme = (ROOT / "README.md").read_text()
    head = readme[: readme.index("![")]
    first = head.index("pip install -e . && wct stylize -o stylized.png")
    cpu = head.index("--index-url https://download.pytorch.org/whl/cpu && pip install -e . && wct stylize")
    assert first < cpu
    requirements = (ROOT / "requirements.txt").read_text().splitlines()
    assert "--extra-index-url https://download.pytorch.org/whl/cpu" in requirements
