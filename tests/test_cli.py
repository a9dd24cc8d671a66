"""The command line as a user meets it: exit codes, files written atomically, one-line errors."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

import wct
from wct import cli
from wct.cli import main, parse_style_arg


@pytest.fixture(autouse=True)
def shipped_or_random_decoders(monkeypatch, random_model):
    """CLI tests check plumbing, not decoder quality: run them on the seeded untrained decoders."""
    monkeypatch.setattr("wct.load", lambda device=None, **kw: random_model)


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_stylize_one_image_with_a_blend(capsys, tmp_path, content_path, style_arrays):
    styles = []
    for i, arr in enumerate(style_arrays[:2]):
        p = tmp_path / f"s{i}.png"
        Image.fromarray(arr).save(p)
        styles += ["-s", f"{p}:{i + 1}"]
    out = tmp_path / "out.jpg"
    code, stdout, err = run(capsys, "stylize", str(content_path), *styles, "--levels", "relu2_1,relu1_1", "-o", str(out))
    assert code == 0, err
    assert Image.open(out).size == (88, 72) and Image.open(out).format == "JPEG"
    assert str(out) in stdout


def test_stylize_without_images_runs_the_built_in_example(capsys, tmp_path):
    out = tmp_path / "example.png"
    code, _, err = run(capsys, "stylize", "--levels", "1", "--size", "64", "-o", str(out))
    assert code == 0, err
    content, _ = cli.example_paths()
    w, h = Image.open(content).size
    assert max(Image.open(out).size) == 64 and Image.open(out).size[0] == round(64 * w / max(w, h))


def test_existing_output_is_kept_unless_overwrite(capsys, tmp_path, content_path, style_path):
    out = tmp_path / "out.png"
    out.write_bytes(b"precious")
    code, _, err = run(capsys, "stylize", str(content_path), "-s", str(style_path), "--levels", "1", "-o", str(out))
    assert code == 1 and "already exists" in err and "--overwrite" in err
    assert out.read_bytes() == b"precious"
    code, _, err = run(
        capsys, "stylize", str(content_path), "-s", str(style_path), "--levels", "1", "-o", str(out), "--overwrite"
    )
    assert code == 0 and Image.open(out).size == (88, 72)


def test_never_writes_over_the_input(capsys, content_path, style_path):
    before = content_path.read_bytes()
    code, _, err = run(
        capsys, "stylize", str(content_path), "-s", str(style_path), "--levels", "1", "-o", str(content_path), "--overwrite"
    )
    assert code == 1 and "input" in err
    assert content_path.read_bytes() == before


def test_a_folder_of_contents_continues_past_bad_files_and_resumes(capsys, tmp_path, content_array, style_path):
    src = tmp_path / "in"
    src.mkdir()
    for i in range(3):
        Image.fromarray(np.roll(content_array, 7 * i, axis=1)).save(src / f"img{i}.png")
    (src / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    dst = tmp_path / "out"
    code, _, err = run(capsys, "stylize", str(src), "-s", str(style_path), "--levels", "1", "-o", str(dst))
    assert code == 1 and "1 of 4 image(s) failed" in err and "broken.jpg" in err
    assert sorted(p.name for p in dst.iterdir()) == ["img0.png", "img1.png", "img2.png"]
    stamp = (dst / "img0.png").stat().st_mtime_ns
    (src / "broken.jpg").unlink()
    code, _, err = run(capsys, "stylize", str(src), "-s", str(style_path), "--levels", "1", "-o", str(dst))
    assert code == 0, err
    assert (dst / "img0.png").stat().st_mtime_ns == stamp  # finished outputs are not redone


def test_style_file_is_written_and_used(capsys, tmp_path, content_path, style_arrays):
    paths = []
    for i, arr in enumerate(style_arrays[:2]):
        p = tmp_path / f"s{i}.png"
        Image.fromarray(arr).save(p)
        paths.append(str(p))
    sfile = tmp_path / "mix.safetensors"
    code, _, err = run(capsys, "style", *paths, "--weights", "1,3", "-o", str(sfile))
    assert code == 0, err
    style = wct.Style.load(sfile)
    assert style.levels == wct.LEVELS
    out = tmp_path / "o.png"
    code, _, err = run(capsys, "stylize", str(content_path), "-s", str(sfile), "--levels", "2", "-o", str(out))
    assert code == 0, err


def test_reconstruct(capsys, tmp_path, content_path):
    out = tmp_path / "r.webp"
    code, _, err = run(capsys, "reconstruct", str(content_path), "--level", "relu2_1", "-o", str(out))
    assert code == 0, err
    assert Image.open(out).size == (88, 72)


@pytest.mark.parametrize(
    "argv,match",
    [
        (["stylize", "{content}", "-o", "{tmp}/o.png"], "no style given"),
        (["stylize", "{content}", "-s", "{style}", "--alpha", "2", "-o", "{tmp}/o.png"], r"alpha must be in \[0, 1\]"),
        (["stylize", "{content}", "-s", "{style}", "--levels", "relu7_1", "-o", "{tmp}/o.png"], "unknown level"),
        (["stylize", "{content}", "-s", "{style}", "-o", "{tmp}/o.xyz"], "cannot tell the image format"),
        (["stylize", "{tmp}/missing.png", "-s", "{style}", "-o", "{tmp}/o.png"], "no such file"),
        (["stylize", "{content}", "-s", "{tmp}/notes.txt", "-o", "{tmp}/o.png"], "not a readable image"),
        (["stylize", "{content}", "-s", "{style}:0", "-o", "{tmp}/o.png"], "all zero"),
        (["style", "{style}", "-o", "{tmp}/s.bin"], "end in .safetensors"),
        (["style", "{style}", "--weights", "1,x", "-o", "{tmp}/s.safetensors"], r"expected --weights W1,W2,\.\.\. \(numbers"),
        (["stylize", "{tmp}", "-s", "{style}", "-o", "{tmp}/out", "--format", "xyz"], "--format xyz: not an image type"),
    ],
)
def test_errors_are_one_clear_line_and_exit_1(capsys, tmp_path, content_path, style_path, argv, match):
    (tmp_path / "notes.txt").write_text("hello")
    argv = [a.format(content=content_path, style=style_path, tmp=tmp_path) for a in argv]
    code, _, err = run(capsys, *argv)
    assert code == 1
    assert err.startswith("wct: error: ") and err.count("\n") == 1
    assert __import__("re").search(match, err), err
    assert "Traceback" not in err
    assert not (tmp_path / "o.png").exists()


def test_style_argument_weights():
    assert parse_style_arg("a.jpg:0.5") == ("a.jpg", 0.5)
    assert parse_style_arg("a.jpg") == ("a.jpg", 1.0)
    assert parse_style_arg(r"C:\art\b.png") == (r"C:\art\b.png", 1.0)
    assert parse_style_arg("dir:with:colons/c.png:2") == ("dir:with:colons/c.png", 2.0)


def test_python_dash_m_and_usage_errors():
    r = subprocess.run([sys.executable, "-m", "wct", "--version"], capture_output=True, text=True, check=False)
    assert r.returncode == 0 and r.stdout.startswith("wct ")
    r = subprocess.run([sys.executable, "-m", "wct", "stylize"], capture_output=True, text=True, check=False)
    assert r.returncode == 2 and "-o/--output" in r.stderr and "Traceback" not in r.stderr


def test_folder_inputs_sharing_a_name_get_distinct_outputs(capsys, tmp_path, content_array, style_path):
    src = tmp_path / "in"
    src.mkdir()
    Image.fromarray(content_array).save(src / "a.png")
    Image.fromarray(content_array[:, ::-1].copy()).save(src / "a.jpg")
    dst = tmp_path / "out"
    code, _, err = run(capsys, "stylize", str(src), "-s", str(style_path), "--levels", "1", "-o", str(dst))
    assert code == 0, err
    assert sorted(p.name for p in dst.iterdir()) == ["a_jpg.png", "a_png.png"]


def test_tile_size_is_checked_and_used(capsys, tmp_path, style_path, monkeypatch):
    big = tmp_path / "big.png"
    Image.fromarray(np.full((320, 272, 3), 120, np.uint8)).save(big)
    with pytest.raises(SystemExit):
        run(capsys, "stylize", str(big), "-s", str(style_path), "-o", str(tmp_path / "x.png"), "--tile-size", "100")
    assert "multiple of 16 >= 256" in capsys.readouterr().err
    seen = []
    monkeypatch.setattr("wct.levels.run_level_tiled", lambda x, lv, core, **kw: seen.append(core) or x)
    out = tmp_path / "out.png"
    code, _, err = run(capsys, "stylize", str(big), "-s", str(style_path), "-o", str(out), "--tile-size", "256",
                       "--levels", "1", "--size", "full")  # fmt: skip
    assert code == 0, err
    assert seen == [256] and Image.open(out).size == (272, 320)


def test_half_asks_for_a_half_precision_model(capsys, tmp_path, content_path, style_path, monkeypatch, random_model):
    asked = []
    monkeypatch.setattr("wct.load", lambda device=None, **kw: asked.append(kw) or random_model)
    out = tmp_path / "out.png"
    code, _, err = run(capsys, "stylize", str(content_path), "-s", str(style_path), "-o", str(out), "--levels", "1", "--half")
    assert code == 0, err
    assert asked == [{"model": "vgg16", "half": True}] and out.is_file()


@pytest.mark.parametrize(("flags", "half"), [([], False), (["--precision", "float32"], False), (["--precision", "half"], True),
                                             (["--precision", "auto"], "auto"), (["--half", "--precision", "half"], True)])
def test_precision_picks_the_networks_precision(
    capsys, tmp_path, content_path, style_path, monkeypatch, random_model, flags, half
):
    asked = []
    monkeypatch.setattr("wct.load", lambda device=None, **kw: asked.append(kw) or random_model)
    out = tmp_path / "out.png"
    code, _, err = run(capsys, "stylize", str(content_path), "-s", str(style_path), "-o", str(out), "--levels", "1", *flags)
    assert code == 0, err
    assert asked == [{"model": "vgg16", "half": half}]


def test_info_names_versions_devices_half_precision_and_the_shipped_decoders(capsys, monkeypatch):
    for amx in (True, False):
        monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda amx=amx: amx, raising=False)
        code, out, _ = run(capsys, "info")
        assert code == 0
        assert out.startswith(f"wct {wct.__version__}, torch {torch.__version__}\n")
        assert "devices:  CPU (" in out and "CUDA: " in out
        if not torch.cuda.is_available():  # (with CUDA, half precision is fast whatever the CPU)
            fast = "half:     bfloat16 (--precision half), fast here: --precision auto uses it"
            assert (fast in out) is amx and ("not faster here" in out) is not amx
        for level in wct.LEVELS:
            assert f"  {level}: " in out and " dB PSNR" in out


def test_half_and_another_precision_are_refused_in_one_line(capsys, tmp_path, content_path, style_path):
    code, _, err = run(capsys, "stylize", str(content_path), "-s", str(style_path), "-o", str(tmp_path / "o.png"),
                       "--half", "--precision", "auto")  # fmt: skip
    assert code != 0 and "--half contradicts --precision auto" in err and "Traceback" not in err
    assert not (tmp_path / "o.png").exists()


def test_a_misspelled_option_shows_the_sub_commands_usage_and_the_closest_option(capsys, content_path, style_path):
    for spelling in (["--alpah", "0.8"], ["--alpah=0.8"]):
        with pytest.raises(SystemExit) as stop:
            main(["stylize", str(content_path), "-s", str(style_path), *spelling, "-o", "o.png"])
        err = capsys.readouterr().err
        assert stop.value.code == 2
        assert err.startswith("usage: wct stylize ") and "did you mean --alpha?" in err
    with pytest.raises(SystemExit):
        main(["video", "clip.mp4", "-s", str(style_path), "-o", "o.mp4", "--flow-blnd", "0.5"])
    assert "usage: wct video " in (err := capsys.readouterr().err) and "did you mean --flow-blend?" in err


def test_an_unknown_command_or_choice_gets_the_closest_one(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["stylze", "photo.jpg"])
    assert stop.value.code == 2 and "did you mean stylize?" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["stylize", "photo.jpg", "-s", "a.jpg", "-o", "o.png", "--precision", "hlaf"])
    assert "did you mean half?" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        ("{style}:abc", r"-s {style}:abc: the weight 'abc' is not a number; expected -s {style}:WEIGHT"),
        ("{style}:-1", r"-s {style}:-1: the weight of {style} must be a finite number >= 0, got -1"),
        ("{style}:nan", r"the weight of {style} must be a finite number >= 0, got nan"),
    ],
)
def test_a_bad_style_weight_names_the_style_it_belongs_to(capsys, tmp_path, content_path, style_path, spec, match):
    code, _, err = run(capsys, "stylize", str(content_path), "-s", str(style_path), "-s", spec.format(style=style_path),
                       "-o", str(tmp_path / "o.png"))  # fmt: skip
    assert code == 1 and err.count("\n") == 1
    assert __import__("re").search(match.format(style=__import__("re").escape(str(style_path))), err), err


def test_an_image_name_as_the_output_of_a_folder_is_refused(capsys, tmp_path, content_array, style_path):
    src = tmp_path / "photos"
    src.mkdir()
    Image.fromarray(content_array).save(src / "a.png")
    for command in ("stylize", "batch"):
        code, _, err = run(capsys, command, str(src), "-s", str(style_path), "-o", str(tmp_path / "one.png"))
        assert code == 1 and err.startswith("wct: error: ") and err.count("\n") == 1
        assert "names an image file" in err and "give an output folder" in err
        assert not (tmp_path / "one.png").exists()


@pytest.mark.parametrize("command", ["stylize", "batch"])
def test_a_folder_run_says_what_it_wrote_and_skipped_and_a_finished_one_does_no_work(capsys, tmp_path, content_array, style_path,
                                                                                     command):
    src = tmp_path / "in"
    src.mkdir()
    for i in range(3):
        Image.fromarray(np.roll(content_array, 5 * i, axis=0)).save(src / f"img{i}.png")
    dst = tmp_path / "out"
    code, out, err = run(capsys, command, str(src), "-s", str(style_path), "--levels", "1", "-o", str(dst))
    assert code == 0, err
    assert out == f"{dst}: 3 written, 0 skipped (already done), 0 failed\n"
    (dst / "img1.png").unlink()
    code, out, err = run(capsys, command, str(src), "-s", str(style_path), "--levels", "1", "-o", str(dst))
    assert out == f"{dst}: 1 written, 2 skipped (already done), 0 failed\n"
    assert "1/1" in err  # the progress bar counts only the work to do
    code, out, err = run(capsys, command, str(src), "-s", str(style_path), "--levels", "1", "-o", str(dst))
    assert code == 0 and out == f"{dst}: 0 written, 3 skipped (already done), 0 failed\n"
    assert "img/s" not in err  # no progress bar when nothing is left to do


def test_without_options_the_engine_gets_its_own_defaults():
    """Every option of the table sets a keyword the engine call takes, and by default to the engine's default."""
    import inspect

    from wct import Model
    from wct.cli import build_parser
    from wct.cli_args import engine_kwargs
    from wct.distributed import stylize_on_ray

    runs = {"stylize": wct.Options, "batch": wct.Options, "video": wct.Options, "texture": Model.texture,
            "reconstruct": Model.reconstruct}  # fmt: skip
    argv = {"stylize": ["x.png"], "batch": ["in/", "-s", "s.png"], "video": ["v.mp4", "-s", "s.png"], "texture": ["s.png"],
            "reconstruct": ["x.png"], "style": ["s.png"]}  # fmt: skip
    for command, args in argv.items():
        parsed = build_parser().parse_args([command, *args, "-o", "out"])
        video = wct.stylize_video if command == "video" else None
        for stage, func in (("run", runs.get(command)), ("load", Model), ("video", video), ("ray", stylize_on_ray)):
            kw = engine_kwargs(parsed, stage)
            if func is None:
                continue
            params = inspect.signature(func).parameters
            kw.pop("downscale", None)  # (every Model method takes it; for a video it applies to the style images)
            assert set(kw) <= set(params), (command, stage, set(kw) - set(params))
            for name, value in kw.items():
                default = params[name].default
                assert value == default or (name == "size" and value == tuple(default)), (command, name, value, default)


def pixels(path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"), dtype=np.int16)


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        ([], dict(refine=0, transform=wct.DEFAULT_TRANSFORM, photorealistic=False, smoothing="auto", alpha=None)),
        (["--refine"], dict(refine=wct.REFINE_STEPS)),
        (["--refine", "7", "--transform", "ost"], dict(refine=7, transform="ost")),
        (["--transform", "wct"], dict(transform="wct")),
        (["--photo"], dict(photorealistic=True, levels=None, alpha=None)),
        (["--photo", "--smoothing", "exact", "--alpha", "0.5", "--levels", "2,1"],
         dict(smoothing="exact", alpha=0.5, levels="2,1")),
    ],
)
def test_refine_transform_and_photo_flags_set_the_engine_keywords(flags, expected):
    """Each flag sets its field of wct.Options for stylize, batch and video; a bare --refine runs REFINE_STEPS; --photo
    leaves the levels and alpha to the engine, whose defaults then are PHOTO_LEVELS and PHOTO_ALPHA."""
    from wct.cli import build_parser
    from wct.cli_args import engine_kwargs

    for command, args in (("stylize", ["x.png"]), ("batch", ["in/", "-s", "s.png"]), ("video", ["v.mp4", "-s", "s.png"])):
        kw = engine_kwargs(build_parser().parse_args([command, *args, *flags, "-o", "out"]))
        assert {k: kw[k] for k in expected} == expected, (command, kw)
        if "--photo" in flags and "--levels" not in flags:
            assert wct.Options(**kw).run_levels == wct.PHOTO_LEVELS and wct.Options(**kw).alphas["relu1_1"] == wct.PHOTO_ALPHA


@pytest.mark.usefixtures("one_torch_thread")  # (refinement: on a busy two-core machine two threads wait on each other)
def test_refine_transform_and_photo_give_the_api_s_pictures(capsys, tmp_path, content_path, style_path, random_model):
    """The flags reach the engine: the command line's image and a folder run's images are the Python API's."""
    flags = ["--refine", "1", "--transform", "ost", "--photo", "--levels", "2,1"]
    want = np.asarray(random_model.stylize(content_path, style_path, refine=1, transform="ost", photorealistic=True,
                                           levels=[2, 1]), dtype=np.int16)  # fmt: skip
    plain = np.asarray(random_model.stylize(content_path, style_path, levels=[2, 1]), dtype=np.int16)
    code, _, err = run(capsys, "stylize", str(content_path), "-s", str(style_path), *flags, "-o", str(tmp_path / "one.png"))
    assert code == 0, err
    assert np.abs(pixels(tmp_path / "one.png") - want).max() <= 1 and np.abs(plain - want).mean() > 2
    folder = tmp_path / "in"
    folder.mkdir()
    Image.open(content_path).save(folder / "a.png")
    for command in ("stylize", "batch"):
        code, _, err = run(capsys, command, str(folder), "-s", str(style_path), *flags, "-o", str(tmp_path / command))
        assert code == 0, err
        assert np.abs(pixels(tmp_path / command / "a.png") - want).max() <= 1, command


@pytest.mark.parametrize("value", ["x", "2.5", "-1", "5000"])
@pytest.mark.parametrize("command", ["stylize", "batch"])
def test_a_bad_refine_count_is_one_line_before_any_work(capsys, tmp_path, content_path, style_path, value, command, monkeypatch):
    monkeypatch.setattr("wct.load", lambda **kw: pytest.fail("the model was loaded before the options were checked"))
    src = str(content_path) if command == "stylize" else str(content_path.parent)
    out = tmp_path / ("o.png" if command == "stylize" else "out")
    code, stdout, err = run(capsys, command, src, "-s", str(style_path), "--refine", value, "-o", str(out))
    assert code == 1 and err.count("\n") == 1 and stdout == "", err
    assert err.startswith(f"wct: error: --refine must be a whole number in 0..{wct.MAX_REFINE_STEPS}, got "), err
    assert not out.exists()


def test_bad_choices_and_preview_on_a_video_get_the_usage_and_a_hint(capsys, style_path):
    for argv, hint in [
        (["stylize", "x.png", "-s", str(style_path), "--transform", "osst", "-o", "o.png"], "did you mean ost?"),
        (["stylize", "x.png", "-s", str(style_path), "--photo", "--smoothing", "exactly", "-o", "o.png"], "did you mean exact?"),
        (["video", "v.mp4", "-s", str(style_path), "--preview", "-o", "o.mp4"], "unrecognized arguments: --preview"),
    ]:
        with pytest.raises(SystemExit) as stop:
            main(argv)
        err = capsys.readouterr().err
        assert stop.value.code == 2 and err.startswith(f"usage: wct {argv[0]} ") and hint in err, err
