"""The app's form and page without a server: the API's parameters come from one table of fields, the header says what
runs, the mix line counts the slots in use, and the app reaches the engine through public names only."""

from __future__ import annotations

import ast
import re

import pytest
from PIL import Image

import wct

gr = pytest.importorskip("gradio", reason="the app needs gradio: pip install -e '.[app]'")
from conftest import smooth_image
from test_app import ROOT, pytestmark  # noqa: F401 (ROOT is on sys.path now; pytestmark: the same warning filters)

import app
from wct_app import form, limits, timing
from wct_app.levels import level_presets
from wct_app.status import header, shares_line
from wct_app.timing import Clock, Rates, Timings, about

STYLIZE = ["content", "style_1", "style_2", "style_3", "style_4", "weight_1", "weight_2", "weight_3", "weight_4", "alpha",
           "size"]  # fmt: skip
ADVANCED = [*STYLIZE, "levels", "mask_1", "mask_2", "mask_3", "mask_4", "preserve_color", "per_level", "fine_weight_1",
            "fine_weight_2", "fine_weight_3", "fine_weight_4", "fine_alpha", "blend", "refine", "transform",
            "photorealistic"]  # fmt: skip


@pytest.fixture()
def demo(random_model, tmp_path, monkeypatch):
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path))
    return app.build_demo(random_model)


def page_header(demo) -> str:
    return next(b.value for b in demo.blocks.values() if isinstance(b, gr.Markdown))


def test_the_api_parameters_are_the_form_fields_in_the_documented_order(demo):
    """/stylize and /stylize_advanced take the README's parameters, in its order; the form sends the same values and
    then the region painter's."""
    endpoints = demo.get_api_info()["named_endpoints"]
    assert [p["parameter_name"] for p in endpoints["/stylize"]["parameters"]] == STYLIZE
    assert [p["parameter_name"] for p in endpoints["/stylize_advanced"]["parameters"]] == ADVANCED
    assert form.params(form.FORM) == [*ADVANCED, "painting", "model"]


def test_a_job_takes_its_values_by_name(tmp_path):
    values = ["photo", "a", None, "c", None, 1, 0, 3, 1, 0.8, 256, ["relu1_1"], None, "m", None, None, "luminance", True,
              0, 1, 1, 1, 0.5, "wasserstein", 12, "ost", True]  # fmt: skip
    job = form.Job.from_values(values, form.ADVANCED)
    assert (job.content, job.styles, job.weights) == ("photo", ("a", None, "c", None), (1, 0, 3, 1))
    assert (job.alpha, job.size) == (0.8, 256)
    assert (job.levels, job.masks, job.preserve, job.per_level) == (["relu1_1"], (None, "m", None, None), "luminance", True)
    assert (job.fine_weights, job.fine_alpha, job.blend, job.painting) == ((0, 1, 1, 1), 0.5, "wasserstein", None)
    assert (job.refine, job.transform, job.photo) == (12, "ost", True)
    short = form.Job.from_values(values[:11], form.STYLIZE, levels=["relu2_1"])
    assert short.levels == ["relu2_1"] and short.masks == (None,) * 4 and short.preserve == "off"
    assert (short.refine, short.transform, short.photo) == (0, wct.DEFAULT_TRANSFORM, False)  # /stylize leaves out: defaults
    with pytest.raises(wct.InputError, match="expected 11 values, got 12"):
        form.Job.from_values(values[:12], form.STYLIZE)
    with pytest.raises(KeyError, match="no widget for the form field 'blend'"):
        form.inputs({name: [None] * 4 for name in ("styles", "weights", "masks", "fine_weights")} | dict.fromkeys(
            ["content", "alpha", "size", "levels", "preserve", "per_level", "fine_alpha"]), form.ADVANCED)  # fmt: skip


def test_the_header_names_the_precision_and_the_default_levels(demo, random_model):
    text = page_header(demo)
    assert "The networks run on the CPU, in float32." in text  # float32 is named too, not only half precision
    assert "The default level preset is standard (relu4_1..relu1_1)." in text
    assert "Decoders are installed for relu5_1, relu4_1, relu3_1, relu2_1 and relu1_1." in text
    for sentence in re.split(r"(?<=\.) ", text.splitlines()[1]):  # short, complete sentences
        assert sentence[0].isupper() and sentence.endswith(".") and len(sentence) < 110, sentence
    few = ["relu2_1", "relu1_1"]
    assert "standard (relu2_1, relu1_1). Decoders are installed for relu2_1 and relu1_1." in header(
        random_model, few, level_presets(few)
    )


def test_the_mix_line_counts_only_slots_with_an_image():
    assert shares_line([None] * 4, [1, 1, 1, 1]) == "Mix: add at least one style image."
    assert shares_line(["a", None, "c", None], [1, 1, 3, 1]) == "Mix: style 1 25 % · style 3 75 %"
    assert shares_line(["a", None, None, None], [0, 1, 1, 1]) == "Mix: all weights are zero; give one style a positive weight."


def dotted(node: ast.AST) -> str:
    """'wct.DEFAULT_LEVELS' for that attribute chain ('' for anything else)."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    return ".".join([node.id, *reversed(parts)]) if isinstance(node, ast.Name) else ""


def engine_names(source: str) -> set[str]:
    """Every way a source reaches the engine, as a dotted name: ``wct.NAME`` for ``wct.NAME...`` (``wct.Style.blend``
    is ``wct.Style``: a method of a public class) and ``from wct import NAME``; ``wct.MODULE`` for ``import wct.MODULE``;
    ``wct.MODULE.NAME`` for ``from wct.MODULE import NAME``."""
    out = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            out |= {alias.name for alias in node.names if alias.name.startswith("wct.")}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "wct":
            out |= {f"{node.module}.{alias.name}" for alias in node.names}
        elif isinstance(node, ast.Attribute) and dotted(node).startswith("wct."):
            out.add(".".join(dotted(node).split(".")[:2]))
    return out


def test_the_app_uses_only_public_names_of_the_engine():
    """app.py and wct_app/ reach wct only through the names in wct.__all__: no submodule, no private name."""
    files = [ROOT / "app.py", *sorted((ROOT / "wct_app").glob("*.py"))]
    used = set().union(*(engine_names(f.read_text()) for f in files))
    assert {"wct.load", "wct.available_models", "wct.Style", "wct.InputError"} <= used  # the scan sees them
    outside = sorted(name for name in used if name.count(".") != 1 or name.split(".")[1] not in wct.__all__)
    assert not outside, f"the app reaches past wct.__all__: {outside}"
    probe = "import wct.masks\nfrom wct.image import read_image\nfrom wct import api\nwct.masks.aspect_matches(1, 2)\n"
    assert engine_names(probe) == {"wct.masks", "wct.image.read_image", "wct.api"}  # each would fail the test above
    assert "masks" not in wct.__all__ and "api" not in wct.__all__


class Renamed:
    """A model under another name (the "light" model before its networks ship): everything else is ``model``'s."""

    def __init__(self, model, name: str) -> None:
        self._model, self.name = model, name

    def __getattr__(self, attr):
        return getattr(self._model, attr)


def test_a_quality_choice_with_the_times_measured_here(demo, random_model, monkeypatch):
    """The form offers fast (no refinement) and best (wct.REFINE_STEPS steps) and labels them with the seconds a small
    run measured on this machine, which real runs then replace with their own."""
    monkeypatch.setattr(timing, "CALIBRATION_SIZE", 64)  # the measuring run, smaller: this test only checks the wiring
    quality = next(b for b in demo.blocks.values() if getattr(b, "elem_id", None) == "quality")
    assert [value for _, value in quality.choices] == [0, wct.REFINE_STEPS] and quality.value == 0
    assert [label for label, _ in quality.choices] == ["fast", "best"]  # nothing measured while the app was built
    labels = [label for label, _ in demo.wct.quality().choices]  # what a page gets when it opens
    assert all(re.fullmatch(r"(fast|best) · (under a second|about \d+ (s|min))", label) for label in labels), labels
    times = demo.wct.timings.estimate(random_model.name, demo.wct.default_size)
    assert 0 < times["fast"] < times["best"], times

    clock = Clock()  # a run's progress reports, timed: two levels (1 s each), then three refinement steps
    clock.t0, clock.marks = 0.0, [("relu2_1", 1.0), ("relu1_1", 2.0), ("refine", 3.0), ("refine", 3.5), ("refine", 4.0)]
    assert clock.rates(2.0, 2) == Rates(levels=1.0, start=0.25, step=0.25)  # per megapixel
    timings = Timings()
    timings.record("vgg16", clock, 2.0, 2, default_levels=True)
    best = 3.0 * (1.0 + 0.25 + wct.REFINE_STEPS * 0.25)  # a 4:3 photo of 2000 px: 3 megapixels
    assert timings.estimate("vgg16", 2000) == pytest.approx({"fast": 3.0, "best": best})
    assert timings.choices("vgg16", 2000) == [("fast · about 3 s", 0), (f"best · {about(best)}", wct.REFINE_STEPS)]
    clock.marks = clock.marks[:2]  # a run without refinement on other levels: only what it measured changes
    timings.record("vgg16", clock, 1.0, 2, default_levels=False)
    assert timings.estimate("vgg16", 2000) == pytest.approx({"fast": 3.0, "best": best})
    assert about(0.4) == "under a second" and about(89) == "about 89 s" and about(150) == "about 2 min"


def test_the_model_choice_shows_with_several_models_and_loads_them_on_first_use(random_model, tmp_path, monkeypatch):
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path))

    def model_choice(demo) -> gr.Radio:
        return next(b for b in demo.blocks.values() if getattr(b, "elem_id", None) == "model")

    assert limits.DEFAULT_MODEL == "vgg16" and limits.model_name() == "vgg16"
    monkeypatch.setattr(wct, "available_models", lambda: ("vgg16",))
    assert model_choice(app.build_demo(random_model)).visible is False  # one model: no choice to make
    loads = []
    monkeypatch.setattr(wct, "available_models", lambda: ("vgg16", "light"))
    monkeypatch.setattr(wct, "load", lambda **kw: loads.append(kw) or Renamed(random_model, kw["model"]))
    demo = app.build_demo(random_model)
    choice = model_choice(demo)
    assert choice.visible is True and choice.value == "vgg16" and choice.choices == [("VGG-16", "vgg16"), ("light", "light")]
    handlers = demo.wct
    assert not handlers.models.loaded("light") and loads == []  # not loaded until someone picks it

    for name, seed in (("content", 1), ("style", 2)):  # small images where uploads go
        Image.fromarray(smooth_image(48, 64, seed=seed)).save(handlers.cache_dir / f"{name}.png")

    def run(model_name):
        values = [str(handlers.cache_dir / "content.png"), str(handlers.cache_dir / "style.png"), None, None, None, 1, 1, 1,
                  1, 0.6, 64, ["relu1_1"], None, None, None, None, "off", False, 1, 1, 1, 1, 0.6, "linear", 0, "wct", False,
                  None, model_name]  # fmt: skip
        return handlers.ui_stylize(*values, progress=lambda *a, **k: None)

    assert run("light")[2].startswith("Done in")
    assert run("light")[2].startswith("Done in")
    assert loads == [{"model": "light", "device": random_model.device, "half": random_model.half}]  # once
    light = handlers.models.get("light")
    assert light.styles is not handlers.styles and (light.styles.misses, handlers.styles.misses) == (1, 0)
    with pytest.raises(gr.Error, match="the model must be one of vgg16, light, got 'big'"):
        run("big")
