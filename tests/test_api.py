"""The Python API as a user sees it: inputs in every form, sizes, alpha, levels, blends, and clear refusals."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

import wct
from wct.checks import parse_levels


def test_every_input_type_round_trips(random_model, content_array, content_path, style_array):
    style = random_model.compute_style(style_array)
    kw = dict(levels=["relu2_1"], max_size=None)
    from_array = random_model.stylize(content_array, style, **kw)
    assert isinstance(from_array, Image.Image) and from_array.size == (88, 72)
    from_path = random_model.stylize(content_path, style, **kw)
    from_pil = random_model.stylize(Image.fromarray(content_array), style, **kw)
    assert np.array_equal(np.asarray(from_path), np.asarray(from_array))
    assert np.array_equal(np.asarray(from_pil), np.asarray(from_array))
    t3 = torch.from_numpy(content_array).permute(2, 0, 1).float() / 255
    out3 = random_model.stylize(t3, style, **kw)
    out4 = random_model.stylize(t3[None], style, **kw)
    assert out3.shape == (3, 72, 88) and out4.shape == (1, 3, 72, 88)
    assert torch.equal(out3, out4[0])
    assert float(out3.min()) >= 0 and float(out3.max()) <= 1
    assert np.abs(np.asarray(from_array).astype(int) - (out3.permute(1, 2, 0).numpy() * 255).round().astype(int)).max() <= 1


@pytest.mark.parametrize("h,w", [(17, 33), (50, 71), (16, 16), (100, 31)])
def test_sizes_not_divisible_by_16_come_back_at_the_input_size(random_model, style_array, h, w):
    img = np.random.default_rng(0).integers(0, 255, (h, w, 3), dtype=np.uint8)
    out = random_model.stylize(img, style_array, levels=[3, 2, 1], max_size=None)
    assert out.size == (w, h)


def test_tiny_and_flat_images_give_finite_sensible_output(random_model, style_array):
    tiny = np.full((3, 5, 3), 200, dtype=np.uint8)
    out = random_model.stylize(tiny, style_array, levels=[5, 4, 3, 2, 1])
    assert out.size == (5, 3)
    flat_style = np.full((40, 40, 3), (30, 120, 200), dtype=np.uint8)
    t = torch.rand(3, 40, 56)
    y = random_model.stylize(t, flat_style, alpha=1.0)
    assert torch.isfinite(y).all()


def test_max_size_bounds_the_long_side(random_model, style_array):
    img = np.zeros((100, 200, 3), dtype=np.uint8)
    assert random_model.stylize(img, style_array, levels=[1], max_size=64).size == (64, 32)
    assert random_model.reconstruct(img, 1, max_size=None).size == (200, 100)


def test_alpha_zero_returns_the_decoder_reconstruction(random_model, content_array, style_array):
    for level in ("relu1_1", "relu3_1"):
        styl = random_model.stylize(content_array, style_array, alpha=0.0, levels=[level], max_size=None)
        recon = random_model.reconstruct(content_array, level, max_size=None)
        assert np.array_equal(np.asarray(styl), np.asarray(recon))


def test_style_changes_the_result_and_same_input_gives_same_output(random_model, content_array, style_arrays):
    a = random_model.stylize(content_array, style_arrays[0], alpha=1.0, levels=[2, 1])
    b = random_model.stylize(content_array, style_arrays[1], alpha=1.0, levels=[2, 1])
    again = random_model.stylize(content_array, style_arrays[0], alpha=1.0, levels=[2, 1])
    assert not np.array_equal(np.asarray(a), np.asarray(b))
    assert np.array_equal(np.asarray(a), np.asarray(again))


def test_a_list_of_styles_is_blended_with_weights(random_model, content_array, style_arrays):
    kw = dict(alpha=1.0, levels=[2, 1])
    blended = random_model.stylize(content_array, style_arrays, weights=[0.2, 0.3, 0.5], **kw)
    via_blend = random_model.stylize(content_array, random_model.blend(style_arrays, [2, 3, 5]), **kw)
    assert np.array_equal(np.asarray(blended), np.asarray(via_blend))
    other = random_model.stylize(content_array, style_arrays, weights=[0.8, 0.1, 0.1], **kw)
    assert not np.array_equal(np.asarray(blended), np.asarray(other))
    only_first = random_model.stylize(content_array, style_arrays, weights=[1, 0, 0], **kw)
    first = random_model.stylize(content_array, style_arrays[0], **kw)
    assert np.abs(np.asarray(only_first).astype(int) - np.asarray(first).astype(int)).max() <= 1


def test_a_precomputed_style_is_reused_without_its_image(random_model, content_array, style_array, tmp_path):
    style = random_model.compute_style(style_array)
    path = style.save(tmp_path / "s.safetensors")
    a = random_model.stylize(content_array, style_array, levels=[3])
    b = random_model.stylize(content_array, wct.Style.load(path), levels=[3])
    assert np.array_equal(np.asarray(a), np.asarray(b))


def test_progress_reports_each_level_coarse_to_fine(random_model, content_array, style_array):
    seen = []
    random_model.stylize(content_array, style_array, levels="relu1_1,relu4_1", progress=lambda i, n, lv: seen.append((i, n, lv)))
    assert seen == [(1, 2, "relu4_1"), (2, 2, "relu1_1")]


def test_levels_are_run_deepest_first():
    assert parse_levels(None) == ("relu5_1", "relu4_1", "relu3_1", "relu2_1", "relu1_1")
    assert parse_levels([1, "relu3_1", 1]) == ("relu3_1", "relu1_1")
    assert parse_levels("2,5") == ("relu5_1", "relu2_1")


@pytest.mark.parametrize(
    "kwargs,error,match",
    [
        (dict(alpha=1.5), wct.InputError, r"alpha must be in \[0, 1\], got 1.5"),
        (dict(alpha=float("nan")), wct.InputError, "alpha"),
        (dict(alpha="strong"), wct.InputError, "alpha must be a number"),
        (dict(levels=["relu9_1"]), wct.InputError, "unknown level"),
        (dict(levels=[]), wct.InputError, "at least one level"),
        (dict(max_size=8), wct.InputError, "at least 16"),
        (dict(weights=[1, 2]), wct.InputError, "expected 1 weight"),
    ],
)
def test_bad_arguments_are_refused_with_the_allowed_range(random_model, content_array, style_array, kwargs, error, match):
    with pytest.raises(error, match=match):
        random_model.stylize(content_array, style_array, **kwargs)


@pytest.mark.parametrize(
    "content,match",
    [
        (np.zeros((10, 10, 5), dtype=np.uint8), "HxWx3"),
        (np.full((10, 10, 3), np.nan, dtype=np.float32), "NaN"),
        (np.full((10, 10, 3), 7.0, dtype=np.float32), r"\[0, 1\]"),
        (torch.rand(2, 3, 16, 16), r"\(3, H, W\)"),
        (torch.rand(3, 16, 16) * 255, r"\[0, 1\]"),
        (12345, "expected an image path"),
        ("/no/such/file.png", "no such file"),
    ],
)
def test_bad_images_are_refused_clearly(random_model, style_array, content, match):
    with pytest.raises(wct.ImageError if not isinstance(content, int) else wct.InputError, match=match):
        random_model.stylize(content, style_array)


def test_unavailable_device_is_refused():
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(wct.InputError, match="not available"):
        wct.load(device="cuda")
    with pytest.raises(wct.InputError, match="unknown device"):
        wct.load(device="gpu-please")


def test_missing_decoder_is_a_weights_error(tmp_path, content_array):
    (tmp_path / "MANIFEST.json").write_text('{"decoders": []}')
    model = wct.load(device="cpu", decoders=tmp_path)
    with pytest.raises(wct.WeightsError, match="no trained decoder for relu4_1"):
        model.reconstruct(content_array, "relu4_1")


def test_default_levels_are_relu4_1_to_relu1_1_and_all_five_on_request(random_model, content_array, style_array):
    seen = []
    random_model.stylize(content_array, style_array, max_size=64, progress=lambda i, n, lv: seen.append(lv))
    assert tuple(seen) == wct.DEFAULT_LEVELS == ("relu4_1", "relu3_1", "relu2_1", "relu1_1")
    seen.clear()
    random_model.stylize(content_array, style_array, max_size=64, levels=wct.LEVELS, progress=lambda i, n, lv: seen.append(lv))
    assert seen == list(reversed(wct.LEVELS))


def test_stylize_batch_equals_stylize_and_keeps_cpu_batches_small(random_model, style_array, monkeypatch):
    """Same-size contents share network passes, at most CPU_BATCH_PIXELS at once on a CPU; results as one by one."""
    rng = np.random.default_rng(3)
    contents = [rng.integers(0, 255, shape, dtype=np.uint8) for shape in [(64, 64, 3)] * 3 + [(48, 80, 3)]]
    style = random_model.compute_style(style_array, levels=[2, 1])
    passes = []
    run = wct.levels.run_levels
    monkeypatch.setattr(wct.levels, "run_levels", lambda nets, x, *a, **k: passes.append(x.shape[0]) or run(nets, x, *a, **k))
    monkeypatch.setattr(wct.networks, "CPU_BATCH_PIXELS", 2 * 64 * 64)
    outs = random_model.stylize_batch(contents, style, batch_size=4, levels=[2, 1], max_size=None)
    assert passes == [2, 1, 1]  # two 64x64 together (the pixel cap, not batch_size=4), then what is left per shape
    for content, out in zip(contents, outs):
        alone = random_model.stylize(content, style, levels=[2, 1], max_size=None)
        assert out.size == alone.size and np.abs(np.asarray(out, dtype=int) - np.asarray(alone, dtype=int)).max() <= 1


def test_a_compiled_model_gives_the_eager_result(random_model, content_array, style_array):
    """Model(compile=True) runs the same networks through torch.compile: same pictures, up to float rounding."""
    compiled = wct.load(decoders={"relu1_1": random_model.networks.decoder("relu1_1")}, compile=True)
    style = random_model.compute_style(style_array, levels=["relu1_1"])
    eager = random_model.stylize(content_array, style, levels=["relu1_1"], max_size=64)
    fast = compiled.stylize(content_array, style, levels=["relu1_1"], max_size=64)
    assert np.abs(np.asarray(eager, dtype=int) - np.asarray(fast, dtype=int)).max() <= 1


def test_half_precision_stays_close_to_float32(model, content_array, style_array):
    """half=True (autocast; bfloat16 on a CPU, float16 on CUDA) gives nearly the float32 picture, never NaN."""
    half = wct.load(device="cpu", half=True)
    kw = dict(levels=["relu3_1", "relu2_1", "relu1_1"], alpha=0.8)
    full = np.asarray(model.stylize(content_array, style_array, **kw)).astype(float)
    approx = np.asarray(half.stylize(content_array, style_array, **kw)).astype(float)
    assert np.abs(full - approx).mean() < 2.0  # of 255 (0.4 measured)
    taps = half.networks.encode(torch.rand(1, 3, 32, 32), "relu2_1")
    assert all(t.dtype == torch.float32 for t in taps.values())


def test_half_auto_is_half_precision_where_it_is_fast(monkeypatch):
    """half="auto": bfloat16 networks on a CPU with AMX, float32 on one without; anything else is refused."""
    for amx, precision in ((True, "bfloat16"), (False, "float32")):
        monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda amx=amx: amx, raising=False)
        model = wct.load(device="cpu", half="auto")
        assert model.half is amx and model.precision == precision
    assert wct.load(device="cpu").precision == "float32" and wct.load(device="cpu", half=True).precision == "bfloat16"
    for bad in ("yes", 1, None):
        with pytest.raises(wct.InputError, match="half must be True, False or 'auto'"):
            wct.load(device="cpu", half=bad)


def test_half_precision_redoes_an_overflowing_image_in_float32(content_array, style_array, monkeypatch):
    half = wct.load(device="cpu", half=True)
    full = wct.load(device="cpu")
    forward = half.networks.encoder.forward

    def overflowing(rgb, upto="relu5_1", *, only_last=False):
        taps = forward(rgb, upto, only_last=only_last)
        if torch.is_autocast_enabled("cpu"):  # what float16 does to activations past 65504
            taps = {k: v * float("inf") for k, v in taps.items()}
        return taps

    monkeypatch.setattr(half.networks.encoder, "forward", overflowing)
    kw = dict(levels=["relu2_1", "relu1_1"])
    got = np.asarray(half.stylize(content_array, style_array, **kw)).astype(float)
    want = np.asarray(full.stylize(content_array, style_array, **kw)).astype(float)
    assert np.isfinite(got).all() and np.abs(got - want).mean() < 6.0
