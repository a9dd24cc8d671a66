"""The form's inputs, declared once: the fields of ``Job``, in order, are the inputs of the browser form and the
parameters of the API endpoints.

Each field says which endpoint first takes it: ``/stylize`` takes the first five fields, ``/stylize_advanced`` those
and the next ten, the browser form everything (it adds the region painter and the model choice). New fields go after the last of
their endpoint, so older clients' calls keep their meaning (an input left out takes its widget's initial value).
A field of one widget per style slot (``slot="style"``) is SLOTS API parameters, ``style_1`` .. ``style_4``. Adding
a control is one field here and its widget in app.py (under the same name); ``inputs`` refuses a layout that misses
one.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import gradio as gr

import wct

__all__ = ["ADVANCED", "BLENDS", "FORM", "MODEL_LABELS", "PRESERVE", "QUALITY", "SLOTS", "STYLIZE", "TRANSFORMS", "Job",
           "choice", "handler", "inputs", "params"]  # fmt: skip

SLOTS = 4  # style image slots
STYLIZE, ADVANCED, FORM = "stylize", "stylize_advanced", "form"  # each takes its own fields and those of the ones before
ENDPOINTS = (STYLIZE, ADVANCED, FORM)
PRESERVE = {"off": None, **{mode: mode for mode in wct.PRESERVE_COLOR}}  # radio choice -> preserve_color
BLENDS = wct.BLEND_METHODS
TRANSFORMS = wct.TRANSFORMS
QUALITY = {"fast": 0, "best": wct.REFINE_STEPS}  # the form's quality choice -> refinement steps (the API takes a count)
MODEL_LABELS = {"vgg16": "VGG-16", "light": "light"}  # the model choice's words for wct.MODELS


def _meta(since: str = ADVANCED, *, slot: str | None = None, param: str | None = None) -> dict:
    """A Job field's place in the form: the first endpoint that takes it, and its API parameter name (default: the
    field's name; a ``slot`` field is one widget per style slot, parameters ``{slot}_1`` .. ``{slot}_4``). Its default
    is its value when an endpoint leaves it out."""
    return {"since": since, "slot": slot, "param": param}


@dataclass(frozen=True)
class Job:
    """One request's raw values, by name, as the widgets (or an API client) sent them; nothing is checked yet."""

    content: Any = field(default=None, metadata=_meta(STYLIZE))
    styles: tuple = field(default=(None,) * SLOTS, metadata=_meta(STYLIZE, slot="style"))
    weights: tuple = field(default=(1.0,) * SLOTS, metadata=_meta(STYLIZE, slot="weight"))
    alpha: Any = field(default=wct.DEFAULT_ALPHA, metadata=_meta(STYLIZE))
    size: Any = field(default=wct.DEFAULT_SIZE, metadata=_meta(STYLIZE))
    levels: Any = field(default=None, metadata=_meta())  # /stylize runs the app's default preset
    masks: tuple = field(default=(None,) * SLOTS, metadata=_meta(slot="mask"))
    preserve: Any = field(default="off", metadata=_meta(param="preserve_color"))
    per_level: Any = field(default=False, metadata=_meta())
    fine_weights: tuple = field(default=(1.0,) * SLOTS, metadata=_meta(slot="fine_weight"))
    fine_alpha: Any = field(default=wct.DEFAULT_ALPHA, metadata=_meta())
    blend: Any = field(default="linear", metadata=_meta())
    refine: Any = field(default=0, metadata=_meta())  # optimisation steps after the transfer
    transform: Any = field(default=wct.DEFAULT_TRANSFORM, metadata=_meta())
    photo: Any = field(default=False, metadata=_meta(param="photorealistic"))
    painting: Any = field(default=None, metadata=_meta(FORM))  # the region painter: {"background", "layers", "composite"}
    model: Any = field(default=None, metadata=_meta(FORM))  # a name of wct.MODELS; None: the app's default model

    @classmethod
    def from_values(cls, values: Sequence, endpoint: str, **fixed) -> Job:
        """From the flat list of values ``endpoint`` receives (a slot field takes SLOTS of them); ``fixed`` sets
        fields the endpoint does not take."""
        fields, values = _fields(endpoint), list(values)
        wanted = sum(SLOTS if f.metadata["slot"] else 1 for f in fields)
        if len(values) != wanted:
            raise wct.InputError(f"expected {wanted} values, got {len(values)}")
        named, it = {}, iter(values)
        for f in fields:
            named[f.name] = tuple(next(it) for _ in range(SLOTS)) if f.metadata["slot"] else next(it)
        return cls(**named, **fixed)


def _fields(endpoint: str) -> list[dataclasses.Field]:
    """The Job fields ``endpoint`` takes, in order."""
    upto = ENDPOINTS.index(endpoint)
    return [f for f in dataclasses.fields(Job) if ENDPOINTS.index(f.metadata["since"]) <= upto]


def params(endpoint: str) -> list[str]:
    """The API parameter names of ``endpoint``, in order: ``content``, ``style_1`` .. ``style_4``, ...."""
    out = []
    for f in _fields(endpoint):
        slot = f.metadata["slot"]
        out += [f"{slot}_{i}" for i in range(1, SLOTS + 1)] if slot else [f.metadata["param"] or f.name]
    return out


def inputs(widgets: Mapping[str, Any], endpoint: str) -> list:
    """The widgets of ``endpoint``'s fields in order, from {field name: widget, or SLOTS widgets for a slot field}."""
    out = []
    for f in _fields(endpoint):
        if f.name not in widgets:
            raise KeyError(f"the layout has no widget for the form field {f.name!r}")
        ws = widgets[f.name]
        if f.metadata["slot"] and len(ws) != SLOTS:
            raise ValueError(f"the form field {f.name!r} needs {SLOTS} widgets, got {len(ws)}")
        out += list(ws) if f.metadata["slot"] else [ws]
    return out


def handler(fn: Callable[..., Any], endpoint: str, *, extra: Sequence[str] = (), name: str | None = None) -> Callable:
    """``fn(values, progress, *extra_values)`` as a Gradio event function whose parameters are ``endpoint``'s
    (Gradio names the API's parameters after them), then ``extra`` ones, then ``progress`` (Gradio passes its
    tracker there; a direct call may pass any callable as ``progress=``)."""
    names = [*params(endpoint), *extra]
    signature = inspect.Signature(
        [inspect.Parameter(n, inspect.Parameter.POSITIONAL_OR_KEYWORD) for n in names]
        + [inspect.Parameter("progress", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=gr.Progress())]
    )

    def run(*args, **kwargs):
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        values = [bound.arguments[n] for n in names]
        cut = len(values) - len(extra)
        return fn(values[:cut], bound.arguments["progress"], *values[cut:])

    run.__signature__ = signature
    run.__name__ = run.__qualname__ = name or getattr(fn, "__name__", endpoint)
    return run


def choice(value: Any, choices: Sequence[str], what: str) -> Any:
    """``value`` if it is one of a radio's ``choices`` (an API client may send anything), else a clear refusal."""
    if value not in choices:
        raise wct.InputError(f"{what} must be one of {', '.join(choices)}, got {value!r}")
    return value
