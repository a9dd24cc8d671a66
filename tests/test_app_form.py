"""The app's form and page without a server: the API's parameters come from one table of fields, the header says what
runs, the mix line counts the slots in use, and the app reaches the engine through public names only."""

from __future__ import annotations

import ast
import importlib
import types

import pytest

import wct

gr = pytest.importorskip("gradio", reason="the app needs gradio: pip install -e '.[app]'")
from test_app import ROOT, pytestmark  # noqa: F401 (ROOT is on sys.path now; pytestmark: the same warning filters)

import app
from wct_app import form
from wct_app.levels import level_presets
from wct_app.status import header, shares_line

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
    assert form.params(form.FORM) == [*ADVANCED, "painting"]


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
    assert "Running on the CPU, in float32." in text  # float32 is named too, not only half precision
    assert "Levels by default: standard (relu4_1..relu1_1), of relu5_1, relu4_1, relu3_1, relu2_1, relu1_1." in text
    few = ["relu2_1", "relu1_1"]
    assert "Levels by default: standard (relu2_1, relu1_1), of relu2_1, relu1_1." in header(random_model, few, level_presets(few))


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


def engine_names(path) -> set[tuple[str, str]]:
    """(module, name) for every ``wct.NAME``, ``wct.MODULE.NAME`` and ``from wct... import NAME`` in a file
    (``wct.Style.blend`` counts as ``wct.Style``: a method of a public class)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "wct":
            out |= {(node.module, alias.name) for alias in node.names}
        parts = dotted(node).split(".") if isinstance(node, ast.Attribute) else []
        if parts[:1] == ["wct"]:
            in_module = len(parts) > 2 and isinstance(getattr(wct, parts[1], None), types.ModuleType)
            out.add((f"wct.{parts[1]}", parts[2]) if in_module else ("wct", parts[1]))
    return out


def test_the_app_uses_only_public_names_of_the_engine():
    """app.py and wct_app/ reach wct through names in wct.__all__ or in the __all__ of a wct module."""
    files = [ROOT / "app.py", *sorted((ROOT / "wct_app").glob("*.py"))]
    used = set().union(*(engine_names(f) for f in files))
    assert ("wct.spatial", "aspect_matches") in used and ("wct", "load") in used  # the scan sees them
    private = []
    for module, name in sorted(used):
        mod = importlib.import_module(module)
        if isinstance(getattr(mod, name, None), types.ModuleType) or name.startswith("__"):
            continue  # wct.api itself (its names are checked one by one), wct.__file__
        if name not in mod.__all__:
            private.append(f"{module}.{name}")
    assert not private, private
