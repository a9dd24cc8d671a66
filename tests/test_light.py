"""The light model: a distilled VGG-16 of a quarter of the width with its own decoders, one engine for both models.

Every feature runs on it here; the same features on VGG-16 are specified in the other test files."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from conftest import smooth_image, write_light_model
from PIL import Image
from safetensors.torch import load_file

import wct
from wct.encoder import LEVELS, VGG16_CFG, Encoder, TapEmbedding, tap_channels, vgg16_cfg
from wct.train.distill import DistillConfig, distill_encoder, distill_loss, explained, pruned_student
from wct.train.export import export_student

CONTENT, STYLE = smooth_image(72, 88, seed=11), smooth_image(64, 80, seed=12)


@pytest.fixture(scope="module")
def teacher() -> Encoder:
    return Encoder()


def test_the_student_has_vgg16s_layout_taps_and_preprocessing_at_a_quarter_of_the_width(teacher):
    student, _ = pruned_student(teacher, 4)
    x = torch.rand(1, 3, 64, 96)
    with torch.no_grad():
        s, t = student(x), teacher(x)
    assert list(s) == list(t) == list(LEVELS)
    for tap in LEVELS:
        assert s[tap].shape[-2:] == t[tap].shape[-2:]  # the same poolings
        assert s[tap].shape[1] * 4 == t[tap].shape[1]
    assert student.channels == {"relu1_1": 16, "relu2_1": 32, "relu3_1": 64, "relu4_1": 128, "relu5_1": 128}
    assert sum(p.numel() for p in student.parameters()) < sum(p.numel() for p in teacher.parameters()) / 14


def test_a_pruned_student_starts_as_the_teachers_strongest_filters(teacher):
    student, kept = pruned_student(teacher, 4)
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():  # relu1_1 sees all three input channels: its kept filters are the teacher's exactly
        assert torch.allclose(student(x, "relu1_1")["relu1_1"], teacher(x, "relu1_1")["relu1_1"][:, kept["relu1_1"]])
    norms = teacher.convs["conv1_1"].weight.flatten(1).norm(dim=1)
    assert set(kept["relu1_1"].tolist()) == set(norms.topk(16).indices.tolist())


def test_a_student_as_wide_as_the_teacher_explains_all_of_it_and_has_no_loss(teacher):
    twin, kept = pruned_student(teacher, 1)  # every filter kept: the teacher itself
    embed = TapEmbedding(twin.channels, teacher.channels)
    with torch.no_grad():
        for tap, conv in embed.maps.items():
            conv.weight.zero_()
            conv.bias.zero_()
            conv.weight[kept[tap], torch.arange(len(kept[tap])), 0, 0] = 1.0
    images = [torch.from_numpy(smooth_image(48, 64, seed=s)).permute(2, 0, 1).contiguous() for s in (1, 2)]
    r2 = explained(twin, embed, teacher, images, 64, "cpu")
    assert all(v > 0.9999 for v in r2.values()), r2
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        loss, terms = distill_loss(twin(x), teacher(x), embed, {k: torch.ones(c) for k, c in teacher.channels.items()})
    assert float(loss) < 1e-6 and set(terms) == set(LEVELS)


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    folder = tmp_path_factory.mktemp("photos")
    for i in range(24):
        Image.fromarray(smooth_image(64, 72, seed=300 + i)).save(folder / f"p{i:02d}.png")
    return folder


def distill_config(photos, out, steps) -> DistillConfig:
    return DistillConfig(images=str(photos), out=str(out), crop=32, batch=2, steps=steps, warmup=1, eval_every=1e-9,
                         val_count=1, eval_size=64, seed=3)  # fmt: skip


def test_distillation_resumes_exactly_and_ships_a_verified_encoder(photos, tmp_path, content_array):
    straight = distill_encoder(distill_config(photos, tmp_path / "a", 4))
    distill_encoder(distill_config(photos, tmp_path / "b", 2))
    resumed = distill_encoder(distill_config(photos, tmp_path / "b", 4))
    a, b = load_file(str(straight / "last.safetensors")), load_file(str(resumed / "last.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    log = [json.loads(line) for line in (resumed / "log.jsonl").read_text().splitlines()]
    assert log[-1]["step"] == 4 and set(log[-1]["r2"]) == set(LEVELS)
    entry = export_student(resumed, tmp_path / "light", str(photos), eval_count=1, eval_size=64)
    assert entry["id"].startswith("vgg16-light@") and entry["steps"] == 4 and set(entry["heldout_r2"]) == set(LEVELS)
    shipped = load_file(str(tmp_path / "light" / "encoder.safetensors"))
    assert all(t.dtype == torch.float16 for t in shipped.values())
    assert {k.split(".")[0] for k in shipped} == {"convs", "embed"}


def test_the_light_model_loads_verified_files_and_refuses_damaged_ones(tmp_path):
    folder = write_light_model(tmp_path / "light")
    model = wct.load(model="light", decoders=folder)
    assert model.name == "light" and model.available_levels() == LEVELS
    assert model.networks.encoder.id.startswith("vgg16-light@")
    with open(folder / "encoder.safetensors", "r+b") as f:
        f.seek(-8, 2)
        f.write(b"\x00" * 8)
    with pytest.raises(wct.WeightsError, match="SHA-256"):
        wct.load(model="light", decoders=folder)


def test_an_unknown_model_is_refused_with_the_choices():
    with pytest.raises(wct.InputError, match="unknown model 'heavy'; expected one of 'vgg16', 'light'"):
        wct.load(model="heavy")


def test_a_style_is_refused_by_the_other_models_encoder_in_one_line(random_model, random_light_model, tmp_path):
    light = random_light_model.compute_style(STYLE)
    heavy = random_model.compute_style(STYLE)
    assert light.model == "light" and heavy.model == "vgg16"
    for model, style in ((random_model, light), (random_light_model, heavy)):
        with pytest.raises(wct.InputError, match="cannot colour another's features") as err:
            model.stylize(CONTENT, style, levels=[1])
        assert "\n" not in str(err.value) and f"model={style.model!r}" in str(err.value)
    light.save(tmp_path / "light.safetensors")
    again = wct.Style.load(tmp_path / "light.safetensors")
    assert again.model == "light" and again.encoder == light.encoder
    with pytest.raises(wct.InputError, match="cannot colour"):
        random_model.stylize(CONTENT, tmp_path / "light.safetensors", levels=[1])
    with pytest.raises(wct.InputError, match="cannot colour"):
        wct.Style.blend([light, heavy])


def test_the_light_model_is_deterministic(random_light_model):
    a = random_light_model.stylize(CONTENT, STYLE, levels=wct.LEVELS, refine=2)
    b = random_light_model.stylize(CONTENT, STYLE, levels=wct.LEVELS, refine=2)
    assert np.array_equal(np.asarray(a), np.asarray(b))


def _differs(out, content=CONTENT) -> bool:
    a = np.asarray(out).astype(int)
    return a.shape == content.shape and np.abs(a - content.astype(int)).mean() > 1


@pytest.mark.parametrize(
    "options",
    [
        dict(),
        dict(levels=wct.LEVELS, alpha={"relu1_1": 0.3, "default": 0.9}),
        dict(weights={"relu4_1": [1, 0], "default": [0, 1]}),
        dict(blend_method="wasserstein"),
        dict(transform="wct"),
        dict(preserve_color="luminance"),
        dict(preserve_color="histogram"),
        dict(tile_size=256, max_size=None),
        dict(refine=2),
        dict(photorealistic=True),
        dict(preview=True),
    ],
    ids=lambda o: ",".join(o) or "defaults",
)
def test_every_feature_runs_on_the_light_model(random_light_model, options):
    styles = [STYLE, smooth_image(48, 64, seed=13)] if "weights" in options or "blend_method" in options else STYLE
    big = smooth_image(300, 272, seed=14) if "tile_size" in options else CONTENT
    out = random_light_model.stylize(big, styles, **options)
    assert _differs(out, big) if "preview" not in options else out.size == (88, 72)


def test_masks_batches_and_textures_run_on_the_light_model(random_light_model):
    left = np.zeros((72, 88), dtype=np.float32)
    left[:, :44] = 1
    styles = [STYLE, smooth_image(48, 64, seed=15), smooth_image(48, 64, seed=16)]
    assert _differs(random_light_model.stylize(CONTENT, styles, masks=[left, None, None], weights=[0, 1, 3]))
    outs = random_light_model.stylize_batch([CONTENT, CONTENT[:, ::-1].copy()], STYLE, batch_size=2)
    assert len(outs) == 2 and all(_differs(o) for o in outs[:1])
    assert random_light_model.texture(STYLE, size=(64, 48)).size == (64, 48)
    assert random_light_model.reconstruct(CONTENT, "relu2_1").size == (88, 72)


def test_half_precision_runs_on_the_light_model(light_folder):
    half = wct.load(model="light", decoders=light_folder, half=True)
    full = wct.load(model="light", decoders=light_folder)
    a = np.asarray(half.stylize(CONTENT, STYLE)).astype(float)
    b = np.asarray(full.stylize(CONTENT, STYLE)).astype(float)
    assert half.precision == "bfloat16" and np.abs(a - b).mean() < 8


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_the_light_model_runs_on_cuda(light_folder):
    gpu = wct.load(model="light", decoders=light_folder, device="cuda")
    cpu = wct.load(model="light", decoders=light_folder, device="cpu")
    a, b = np.asarray(gpu.stylize(CONTENT, STYLE)).astype(int), np.asarray(cpu.stylize(CONTENT, STYLE)).astype(int)
    assert np.abs(a - b).mean() < 2


def test_the_cli_runs_the_light_model(tmp_path, monkeypatch, capsys, random_light_model, content_path, style_path):
    from wct.cli import main

    asked = []
    monkeypatch.setattr("wct.load", lambda **kw: asked.append(kw) or random_light_model)
    out = tmp_path / "o.png"
    assert main(["stylize", str(content_path), "-s", str(style_path), "--model", "light", "-o", str(out)]) == 0
    assert asked[0]["model"] == "light" and Image.open(out).size == (88, 72)
    with pytest.raises(SystemExit):
        main(["stylize", str(content_path), "-s", str(style_path), "--model", "heavy", "-o", str(tmp_path / "x.png")])
    assert "invalid choice: 'heavy'" in capsys.readouterr().err


def test_tap_channels_of_the_tables():
    assert tap_channels(VGG16_CFG) == {"relu1_1": 64, "relu2_1": 128, "relu3_1": 256, "relu4_1": 512, "relu5_1": 512}
    assert tap_channels(vgg16_cfg(4))["relu4_1"] == 128


def test_light_decoders_train_on_paintings_resume_exactly_and_ship_for_their_encoder(photos, light_folder, tmp_path):
    from wct.train import TrainConfig, export_decoder, train_decoder

    styles = tmp_path / "paintings"
    styles.mkdir()
    for i in range(6):
        Image.fromarray(smooth_image(80, 96, seed=400 + i)).save(styles / f"art{i}.png")

    def cfg(out, steps) -> TrainConfig:
        return TrainConfig(level="relu2_1", model="light", encoder=str(light_folder / "encoder.safetensors"),
                           images=str(photos), styles=str(styles), out=str(tmp_path / out), crop=32, batch=2,
                           steps=steps, warmup=1, eval_every=1e-9, val_count=1, eval_size=64, stylize=0.02,
                           feature_weight=0.01, seed=5, channels_last=False)  # fmt: skip

    straight = train_decoder(cfg("a", 3))
    train_decoder(cfg("b", 1))
    resumed = train_decoder(cfg("b", 3))
    a, b = load_file(str(straight / "last.safetensors")), load_file(str(resumed / "last.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    dest = tmp_path / "light"
    import shutil

    shutil.copytree(light_folder, dest)
    entry = export_decoder(straight, "relu2_1", dest, str(photos), eval_count=1, eval_size=64)
    assert entry["encoder"] == json.loads((dest / "MANIFEST.json").read_text())["encoder"]["id"]
    model = wct.load(model="light", decoders=dest)
    assert model.networks.decoder("relu2_1").stage_widths == (16, 32, 64, 128, 128)
    with pytest.raises(ValueError, match="trained for encoder"):  # a decoder for another encoder is not shipped
        export_decoder(straight, "relu2_1", tmp_path / "elsewhere", str(photos), eval_count=1, eval_size=64)
