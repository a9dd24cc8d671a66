"""Decoder training: a held-out split by name, exact resumption, seeded runs, and export to a verified manifest."""

from __future__ import annotations

import json

import pytest
import torch
from conftest import smooth_image
from PIL import Image
from safetensors.torch import load_file, save_file

import wct
from wct.decoder import Decoder, extra_metadata
from wct.errors import InputError
from wct.train import TrainConfig, export_decoder, split_images, train_decoder, transferred
from wct.train.data import crop_side, random_batch
from wct.transform import mean_and_covariance


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    folder = tmp_path_factory.mktemp("photos")
    for i in range(40):
        Image.fromarray(smooth_image(48, 56, seed=100 + i)).save(folder / f"photo_{i:03d}.png")
    return folder


def config(photos, out, steps):
    return TrainConfig(level="relu1_1", images=str(photos), out=str(out), crop=32, batch=2, steps=steps, warmup=2,
                       eval_every=1e-9, val_count=2, eval_size=64, seed=7, channels_last=False)  # fmt: skip


def test_held_out_split_is_by_name_and_disjoint(photos):
    train, held = split_images(photos)
    assert held and len(train) + len(held) == 40
    assert not set(train) & set(held)
    assert split_images(photos) == (train, held)


def test_resuming_gives_exactly_the_uninterrupted_run(photos, tmp_path):
    straight = train_decoder(config(photos, tmp_path / "a", 4))
    train_decoder(config(photos, tmp_path / "b", 2))
    resumed = train_decoder(config(photos, tmp_path / "b", 4))
    a, b = load_file(str(straight / "last.safetensors")), load_file(str(resumed / "last.safetensors"))
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    log = [json.loads(line) for line in (resumed / "log.jsonl").read_text().splitlines()]
    assert log[-1]["step"] == 4 and log[-1]["images"] == 8 and "val_psnr" in log[-1] and "val_ssim" in log[-1]


def test_bfloat16_training_keeps_float32_weights_and_follows_the_float32_run(photos, tmp_path):
    plain = train_decoder(config(photos, tmp_path / "f32", 4))
    fast = train_decoder(TrainConfig(**dict(config(photos, tmp_path / "bf16", 4).__dict__, bf16=True)))
    a, b = load_file(str(plain / "last.safetensors")), load_file(str(fast / "last.safetensors"))
    assert {k: t.dtype for k, t in b.items()} == {k: t.dtype for k, t in a.items()}  # float32 weights and optimiser state
    assert not all(torch.equal(a[k], b[k]) for k in a)  # the autocast really ran
    log = [json.loads((f / "log.jsonl").read_text().splitlines()[-1]) for f in (plain, fast)]
    assert abs(log[0]["val_psnr"] - log[1]["val_psnr"]) < 0.5


def test_crops_are_shrunk_from_larger_regions_or_with_enlarge_enlarged_from_smaller_ones(photos):
    def sides(enlarge: float) -> list[int]:
        cfg = dict(config(photos, "", 1).__dict__, crop=40, enlarge=enlarge)
        gen = torch.Generator().manual_seed(3)
        return [crop_side(400, cfg["crop"], cfg["enlarge"], gen) for _ in range(200)]

    assert all(40 <= s <= 80 for s in sides(0.0))
    assert all(25 <= s <= 40 for s in sides(1.0)) and min(sides(1.0)) < 30
    mixed = sides(0.5)
    assert 60 < sum(s < 40 for s in mixed) < 140
    assert mixed == sides(0.5)  # seeded
    flat = torch.full((3, 64, 64), 200, dtype=torch.uint8)
    batch = random_batch([flat], 32, 2, torch.Generator(), enlarge=1.0)
    assert batch.shape == (2, 3, 32, 32) and torch.allclose(batch, torch.full_like(batch, 200 / 255))


def test_a_weight_average_resumes_exactly_and_is_what_gets_saved(photos, tmp_path):
    def cfg(out: str, steps: int) -> dict:
        return dict(config(photos, tmp_path / out, steps).__dict__, ema=0.5)

    straight = train_decoder(TrainConfig(**cfg("a", 4)))
    train_decoder(TrainConfig(**cfg("b", 2)))
    resumed = train_decoder(TrainConfig(**cfg("b", 4)))
    a, b = load_file(str(straight / "last.safetensors")), load_file(str(resumed / "last.safetensors"))
    assert any(k.startswith("ema.") for k in a) and a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    one = train_decoder(TrainConfig(**cfg("c", 1)))  # one step: the first evaluation is the best one
    best, last = load_file(str(one / "best.safetensors")), load_file(str(one / "last.safetensors"))
    assert all(torch.equal(best[k], last[f"ema.module.{k}"]) for k in best)
    assert not all(torch.equal(best[k], last[f"model.{k}"]) for k in best)


def test_export_writes_float16_weights_the_engine_verifies_and_loads(photos, tmp_path, content_array):
    folder = train_decoder(config(photos, tmp_path / "c", 3))
    entry = export_decoder(folder, "relu1_1", tmp_path / "decoders", str(photos), eval_count=2, eval_size=64)
    manifest = json.loads((tmp_path / "decoders" / "MANIFEST.json").read_text())["decoders"]
    assert manifest == [entry]
    assert 1 <= entry["steps"] <= 3 and entry["images_seen"] == 2 * entry["steps"]  # the best checkpoint's counts
    assert all(t.dtype == torch.float16 for t in load_file(str(tmp_path / "decoders" / "relu1_1.safetensors")).values())
    model = wct.load(device="cpu", decoders=tmp_path / "decoders")
    assert model.available_levels() == ("relu1_1",)
    assert model.reconstruct(content_array, "relu1_1").size == (88, 72)


def test_a_run_continuing_shipped_weights_exports_the_total_training(photos, tmp_path):
    dest = tmp_path / "decoders"
    first = export_decoder(
        train_decoder(config(photos, tmp_path / "d", 3)), "relu1_1", dest, str(photos), eval_count=2, eval_size=64
    )
    cfg = config(photos, tmp_path / "e", 2)
    cfg.init_from = str(dest / "relu1_1.safetensors")
    second = export_decoder(train_decoder(cfg), "relu1_1", dest, str(photos), eval_count=2, eval_size=64)
    assert second["sha256"] != first["sha256"]
    assert second["steps"] > first["steps"] and second["images_seen"] == first["images_seen"] + 2 * (
        second["steps"] - first["steps"]
    )
    fresh = export_decoder(
        train_decoder(config(photos, tmp_path / "f", 2)), "relu1_1", dest, str(photos), eval_count=2, eval_size=64
    )
    assert fresh["steps"] <= 2  # a run from scratch does not inherit the counts of what it replaces


def test_a_deepened_run_resumes_exports_and_loads_with_its_extra_convs(photos, tmp_path, content_array):
    dest = tmp_path / "decoders"
    export_decoder(train_decoder(config(photos, tmp_path / "g", 2)), "relu1_1", dest, str(photos), eval_count=2, eval_size=64)

    def deep(out: str, steps: int) -> TrainConfig:
        return TrainConfig(
            **dict(config(photos, tmp_path / out, steps).__dict__, init_from=str(dest / "relu1_1.safetensors"), deepen="0")
        )

    straight = train_decoder(deep("h", 3))
    train_decoder(deep("i", 1))
    resumed = train_decoder(deep("i", 3))
    a, b = load_file(str(straight / "last.safetensors")), load_file(str(resumed / "last.safetensors"))
    assert "model.layers.7.weight" in a and a.keys() == b.keys()  # one (pad, conv, relu) more than relu1_1's 0..4
    assert all(torch.equal(a[k], b[k]) for k in a)
    entry = export_decoder(straight, "relu1_1", dest, str(photos), eval_count=2, eval_size=64)
    assert entry["parameters"] == 38_659 + 64 * 64 * 9 + 64
    model = wct.load(device="cpu", decoders=dest)
    assert model.networks.decoder("relu1_1").extra == (0,)
    assert model.reconstruct(content_array, "relu1_1").size == (88, 72)


def test_a_bad_deepen_names_the_problem(photos, tmp_path):
    for bad in ("one", "1"):  # relu1_1's mirror convs are 0 and 1: nothing may follow the last
        with pytest.raises(wct.InputError, match="--deepen"):
            train_decoder(TrainConfig(**dict(config(photos, tmp_path / "j", 1).__dict__, deepen=bad)))


def test_grafting_onto_a_deepened_decoder_is_refused(photos, tmp_path):
    lower = Decoder("relu1_1", (0,))
    save_file(lower.state_dict(), str(tmp_path / "relu1_1.safetensors"), metadata=extra_metadata(lower))
    cfg = TrainConfig(
        **dict(config(photos, tmp_path / "k", 1).__dict__, level="relu2_1", lower=str(tmp_path / "relu1_1.safetensors"))
    )
    with pytest.raises(wct.InputError, match="grafting needs plain mirror decoders"):
        train_decoder(cfg)


def test_the_stylization_term_transfers_each_crops_features_the_next_crops_statistics():
    f = torch.randn(3, 4, 6, 5) * torch.tensor([1.0, 2.0, 0.5, 3.0]).view(1, 4, 1, 1) + torch.arange(3.0).view(3, 1, 1, 1)
    out = transferred({"relu1_1": f}, "relu1_1", 1.0)
    mean, cov = mean_and_covariance(out.flatten(2))
    want_mean, want_cov = mean_and_covariance(f.roll(1, dims=0).flatten(2))
    assert out.shape == f.shape and out.dtype == torch.float32
    assert torch.allclose(mean, want_mean, atol=1e-4) and torch.allclose(cov, want_cov, atol=1e-3)
    assert torch.allclose(transferred({"relu1_1": f}, "relu1_1", 0.0), f)  # alpha 0: the content itself


def test_a_stylizing_run_trains_on_the_term_and_saves_its_latest_weights(photos, tmp_path):
    plain = train_decoder(config(photos, tmp_path / "p", 3))
    styl = train_decoder(TrainConfig(**dict(config(photos, tmp_path / "s", 3).__dict__, stylize=1.0)))
    a, b = load_file(str(plain / "last.safetensors")), load_file(str(styl / "last.safetensors"))
    assert not all(torch.equal(a[k], b[k]) for k in a)  # the term changed the training
    log = [json.loads(line) for line in (styl / "log.jsonl").read_text().splitlines()]
    assert all(torch.isfinite(torch.tensor(r["loss"])) for r in log) and log[-1]["step"] == 3
    best = load_file(str(styl / "best.safetensors"))
    assert all(torch.equal(best[k], b[f"model.{k}"]) for k in best)  # the latest, whatever its PSNR


def test_a_negative_loss_weight_is_refused_with_the_fix(photos, tmp_path):
    for name in ("stylize", "feature_weight"):
        with pytest.raises(InputError, match="must be 0 or more"):
            train_decoder(TrainConfig(**dict(config(photos, tmp_path / name, 1).__dict__, **{name: -1.0})))
