"""Every kind of image a user may hold: modes, orientation, animation, damage, bombs; API and CLI alike."""

from __future__ import annotations

import io
import warnings

import numpy as np
import pytest
import torch
from PIL import Image

import wct
from wct.cli import main
from wct.image import to_tensor


def _gradient(w=48, h=40) -> Image.Image:
    y, x = np.mgrid[0:h, 0:w]
    return Image.fromarray(np.stack([x * 255 // w, y * 255 // h, (x + y) * 127 // (w + h)], -1).astype(np.uint8))


def make_corpus(folder):
    """Write one file per case; return {case: path}."""
    rgb = _gradient()
    cases = {}

    def save(name, im, **kw):
        p = folder / name
        im.save(p, **kw)
        cases[name] = p

    save("L.png", rgb.convert("L"))
    save("LA.png", rgb.convert("LA"))
    save("P.png", rgb.convert("P"))
    rgba = rgb.convert("RGBA")
    rgba.putalpha(Image.new("L", rgb.size, 0))  # fully transparent: composited onto white
    save("RGBA.png", rgba)
    save("CMYK.jpg", rgb.convert("CMYK"))
    save("I16.png", Image.fromarray(np.asarray(rgb.convert("L"), dtype=np.uint16) * 257))
    save("F.tif", Image.fromarray(np.asarray(rgb.convert("L"), dtype=np.float32) / 255.0))
    save("1bit.png", rgb.convert("1"))
    frames = [_gradient(), Image.new("RGB", (48, 40), (255, 0, 0))]
    frames[0].save(folder / "anim.gif", save_all=True, append_images=frames[1:], duration=50, loop=0)
    cases["anim.gif"] = folder / "anim.gif"
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise on display
    save("exif.jpg", rgb, exif=exif)
    return cases


@pytest.fixture()
def corpus(tmp_path):
    folder = tmp_path / "corpus"
    folder.mkdir()
    return make_corpus(folder)


@pytest.mark.parametrize("name", ["L.png", "LA.png", "P.png", "RGBA.png", "CMYK.jpg", "I16.png", "F.tif", "1bit.png", "exif.jpg"])
def test_every_mode_becomes_finite_rgb(corpus, name):
    t, _ = to_tensor(corpus[name])
    assert t.shape[:2] == (1, 3) and torch.isfinite(t).all()
    assert 0 <= float(t.min()) and float(t.max()) <= 1


def test_modes_keep_their_content(corpus):
    grey, _ = to_tensor(corpus["L.png"])
    i16, _ = to_tensor(corpus["I16.png"])
    f, _ = to_tensor(corpus["F.tif"])
    assert torch.allclose(grey, i16, atol=1 / 255) and torch.allclose(grey, f, atol=1 / 255)
    white, _ = to_tensor(corpus["RGBA.png"])
    assert torch.allclose(white, torch.ones_like(white))


def test_exif_orientation_is_honoured(corpus):
    t, _ = to_tensor(corpus["exif.jpg"])
    assert tuple(t.shape[-2:]) == (48, 40)  # a 48x40 (WxH) photo shown rotated


def test_animated_images_use_the_first_frame_and_say_so(corpus):
    with pytest.warns(UserWarning, match="animated"):
        t, _ = to_tensor(corpus["anim.gif"])
    assert float(t[0, 0].std()) > 0.05  # the gradient, not the flat red second frame


def test_damaged_and_fake_files_are_refused(tmp_path):
    good = io.BytesIO()
    _gradient(200, 160).save(good, format="JPEG")
    (tmp_path / "truncated.jpg").write_bytes(good.getvalue()[: len(good.getvalue()) // 3])
    (tmp_path / "text.png").write_text("this is not an image")
    (tmp_path / "empty.png").write_bytes(b"")
    for name, match in [
        ("truncated.jpg", "truncated or corrupt"),
        ("text.png", "not a readable image"),
        ("empty.png", "not a readable image"),
    ]:
        with pytest.raises(wct.ImageError, match=match):
            to_tensor(tmp_path / name)
    with pytest.raises(wct.ImageError, match="is a folder"):
        to_tensor(tmp_path)


def test_decompression_bombs_are_refused_before_decoding(tmp_path):
    bomb = tmp_path / "bomb.png"
    Image.new("L", (12000, 10000)).save(bomb, optimize=True)  # 120 MP of zeros, a tiny file
    assert bomb.stat().st_size < 2_000_000
    with pytest.raises(wct.ImageError, match="over the limit of 50 MP"):
        to_tensor(bomb)
    t, _ = to_tensor(bomb, max_pixels=200_000_000)  # the documented way to allow it
    assert t.shape[-2:] == (10000, 12000)


def test_greyscale_content_with_a_colour_style(random_model, corpus, style_array):
    out = random_model.stylize(corpus["L.png"], style_array, levels=[2, 1])
    a = np.asarray(out).astype(int)
    assert np.isfinite(a).all() and a.shape == (40, 48, 3)


@pytest.mark.parametrize("alpha", [0.0, 1e-9, 0.999999, 1.0])
def test_extreme_alphas_and_tiny_weights_stay_finite(random_model, content_array, style_arrays, alpha):
    t = torch.from_numpy(content_array).permute(2, 0, 1).float() / 255
    y = random_model.stylize(t, style_arrays, weights=[1e-12, 1e-9, 1.0], alpha=alpha, levels=[5, 1])
    assert torch.isfinite(y).all()


def test_cli_handles_the_corpus(tmp_path, corpus, style_path, capsys, monkeypatch, random_model):
    monkeypatch.setattr("wct.load", lambda device=None, **kw: random_model)
    src = next(iter(corpus.values())).parent
    (src / "truncated.jpg").write_bytes(b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01")
    out = tmp_path / "out"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        code = main(["stylize", str(src), "-s", str(style_path), "--levels", "1", "-o", str(out)])
    err = capsys.readouterr().err
    assert code == 1
    assert "truncated.jpg" in err and "Traceback" not in err
    done = sorted(p.name for p in out.iterdir())
    assert len(done) == len(corpus)  # every good image, in every mode, was written
    assert not [p for p in out.iterdir() if p.name.endswith(".part")]


def _halves_jpeg(path, width: int = 9000, height: int = 6000):
    """A JPEG over the 50 MP limit: red on the left half, blue on the right."""
    im = Image.new("RGB", (width, height), (220, 30, 30))
    im.paste((30, 30, 220), (width // 2, 0, width, height))
    im.save(path, quality=60)
    return path


def test_huge_images_are_refused_or_downscaled_on_request(tmp_path):
    big = _halves_jpeg(tmp_path / "big.jpg")
    with pytest.raises(wct.ImageError, match=r"54\.0 MP, over the limit of 50 MP; fix: pass downscale=True"):
        to_tensor(big)
    t, _ = to_tensor(big, downscale=True)
    h, w = t.shape[-2:]
    assert h * w <= wct.image.MAX_PIXELS and abs(w / h - 1.5) < 0.01  # shrunk to the limit, aspect ratio kept
    assert t[0, 0, :, : w // 3].mean() > 0.8 and t[0, 2, :, -w // 3 :].mean() > 0.8  # red stays left, blue right
    small, _ = to_tensor(Image.new("RGB", (300, 200)), max_pixels=6_000, downscale=True)  # PIL images and arrays too
    assert small.shape[-2] * small.shape[-1] <= 6_000 and small.shape[-1] > small.shape[-2]
    arr, _ = to_tensor(np.zeros((200, 300, 3), np.uint8), max_pixels=6_000, downscale=True)
    assert arr.shape[-2] * arr.shape[-1] <= 6_000


def test_downscaling_still_refuses_absurd_headers(tmp_path):
    from test_app import huge_png

    bomb = huge_png(tmp_path / "bomb.png", 40_000, 30_000)  # 1,200 MP claimed by a tiny file
    with pytest.raises(wct.ImageError, match="even for downscaling"):
        to_tensor(bomb, downscale=True)


def test_stylize_and_the_cli_downscale_huge_content_on_request(tmp_path, random_model, style_path, capsys, monkeypatch):
    big = _halves_jpeg(tmp_path / "big.jpg")
    with pytest.raises(wct.ImageError, match="downscale=True"):
        random_model.stylize(big, style_path, levels=[1])
    out = random_model.stylize(big, style_path, levels=[1], max_size=96, downscale=True)
    assert out.size == (96, 64)
    monkeypatch.setattr("wct.load", lambda device=None, **kw: random_model)
    assert main(["stylize", str(big), "-s", str(style_path), "--levels", "1", "--size", "96", "-o", str(tmp_path / "o.png")]) == 1
    err = capsys.readouterr().err
    assert "--downscale" in err and "Traceback" not in err and not (tmp_path / "o.png").exists()
    args = ["stylize", str(big), "-s", str(style_path), "--levels", "1", "--size", "96", "--downscale"]
    assert main([*args, "-o", str(tmp_path / "o.png")]) == 0
    assert Image.open(tmp_path / "o.png").size == (96, 64)
    with pytest.raises(wct.InputError, match="downscale must be True or False"):
        random_model.stylize(big, style_path, downscale="yes")
