"""wct in the browser: a Gradio 6 app over the public API (also the Hugging Face Space's entry point).

    pip install -e ".[app]" && python app.py          # then open http://127.0.0.1:7860

This file only lays out the widgets and wires them to the handlers of the ``wct_app`` package beside it (see its
``__init__``). The model is loaded once (``wct.load(half="auto")``: shipped decoders, CUDA when present,
half-precision networks where they are fast: CUDA, CPUs with AMX) and only the levels the decoder manifest provides
are offered. Style statistics are computed once per uploaded style image and cached, so moving a mix or strength
slider only re-runs the content pass. ``build_demo(model)`` builds the app without launching it (the tests pass
their own model and limits); ``launch_kwargs()`` gives the server limits (a fresh dict per launch). Gradio's own
environment variables (GRADIO_SERVER_NAME, GRADIO_SERVER_PORT, GRADIO_TEMP_DIR, ...) apply as usual;
WCT_APP_CONCURRENCY and WCT_APP_TIMEOUT set the stylizations at once and the time limit per request,
WCT_APP_PRECISION the networks' precision (float32, half or auto, the default).

The first screen holds a photo, a style, the quality (fast, or best: wct.REFINE_STEPS refinement steps, each with the
time measured on this machine), the Stylize button, the examples and the result; everything else folds away in
accordions. With more than one model installed (``wct.available_models()``) a model choice shows as well; the others
load on first use. The form's inputs are the fields of ``wct_app.form.Job``, in order; the widgets below are keyed by
those names (the form's ``refine`` is the quality choice, the API's a step count).
Limits (``wct_app.limits``): request bodies up to MAX_BODY_BYTES (refused with HTTP 413 before Gradio parses them),
uploads up to 25 MB, images up to wct.MAX_PIXELS (checked from the header, before decoding), a queue of
QUEUE_SIZE waiting requests (beyond it Gradio answers "Queue is full"), a time limit per request (checked between
steps, so an overlong run stops at the next level and frees its worker), and only files Gradio stored (uploads, in
its cache folder) or the examples are opened: a path sent by a client is refused.
"""

from __future__ import annotations

import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # no telemetry or version check: starts offline
os.environ.setdefault("THP_MEM_ALLOC_ENABLE", "1")  # huge pages for big feature maps, set before torch loads

import logging
from pathlib import Path

import gradio as gr

import wct
from wct_app import form, limits
from wct_app.form import SLOTS
from wct_app.handlers import App
from wct_app.levels import COARSE, FINE, photo_settings
from wct_app.limits import ASSETS, MAX_REFINE_STEPS, OUTPUT_TTL, QUEUE_SIZE, launch_kwargs, model_name
from wct_app.masks import PAINT
from wct_app.status import TITLE, header, shares_line

__all__ = ["EXAMPLES", "build_demo", "launch_kwargs"]

EXAMPLES = [  # content, style 1..4
    ["content.jpg", "style.jpg", None, None, None],
    ["content_astronaut.jpg", "style_night_cafe.jpg", None, None, None],
    ["content_rocket.jpg", "style_harvest.jpg", None, None, None],
    ["content_coffee.jpg", "style_night_cafe.jpg", "style_harvest.jpg", None, None],
]

REGIONS_HELP = (
    "Give parts of the photo their own style. **Paint** over the photo: "
    + ", ".join(f"{name} marks style {i + 1}" for i, (name, _) in enumerate(PAINT))
    + ". Or **upload** a mask per style below: white is that style's region, any size with the photo's aspect ratio "
    "(a style's strokes and its mask add up). Styles without a mask share the rest of the picture by their mix; if "
    "every style has one, unmarked parts keep the photo."
)


def first_screen() -> dict:
    """The photo and the first style side by side: {"content", "style"}."""
    with gr.Row():
        content = gr.Image(
            label="Photo", type="filepath", sources=["upload", "webcam", "clipboard"], height=250, elem_id="content"
        )
        style = gr.Image(label="Style 1", type="filepath", sources=["upload", "clipboard"], height=250, elem_id="style-1")
    return {"content": content, "style": style}


def run_controls(app: App) -> dict:
    """The quality choice (fast or best, with the times measured here), the model choice (only with several models
    installed) and the Stylize button: {"refine", "model", "run"}."""
    device = "GPU" if app.model.device.type == "cuda" else "CPU"
    with gr.Row(equal_height=True):
        quality = gr.Radio(
            app.timings.choices(app.model.name, app.default_size),
            value=form.QUALITY["fast"],
            label="Quality",
            info=f"best refines the result in {wct.REFINE_STEPS} steps toward the style's statistics; times measured on "
            f"this {device} for a {app.default_size} px photo",
            scale=3,
            elem_id="quality",
        )
        model = gr.Radio(
            app.models.choices(),
            value=app.models.default,
            label="Model",
            info="light: a smaller network, several times faster",
            visible=len(app.models.names) > 1,
            scale=2,
            elem_id="model",
        )
        run = gr.Button("Stylize", variant="primary", size="lg", scale=1, min_width=120, elem_id="run")
    return {"refine": quality, "model": model, "run": run}


def extra_styles() -> tuple[list, list]:
    """Style slots 2..SLOTS and the mix sliders of every slot, made now and laid out later (``more_styles``), so the
    examples above them can fill them: (styles, weights)."""
    styles = [
        gr.Image(
            label=f"Style {i}", type="filepath", sources=["upload", "clipboard"], height=150, render=False, elem_id=f"style-{i}"
        )
        for i in range(2, SLOTS + 1)
    ]
    weights = [
        gr.Slider(0, 1, value=1.0, step=0.05, label=f"Mix {i}", render=False, elem_id=f"mix-{i}") for i in range(1, SLOTS + 1)
    ]
    return styles, weights


def more_styles(styles: list, weights: list) -> gr.Markdown:
    """The 'More styles' accordion: style slots 2..SLOTS, every slot's mix slider and the mix as percentages."""
    with gr.Accordion("More styles and their mix", open=False, elem_id="more-styles"):
        gr.Markdown("Up to four styles mix into one; each slider sets its style's share.")
        weights[0].render()
        with gr.Row():
            for style, weight in zip(styles, weights[1:]):
                with gr.Column(min_width=140):
                    style.render()
                    weight.render()
        return gr.Markdown(shares_line([], []), elem_id="wct-shares")


def region_controls() -> dict:
    """The 'Regions' accordion: a painter over the content and one mask slot per style: {"painting", "masks"}."""
    with gr.Accordion("Regions: a style per part of the picture", open=False, elem_id="regions"):
        gr.Markdown(REGIONS_HELP)
        painter = gr.ImageEditor(
            label="Paint regions over the photo",
            type="numpy",
            image_mode="RGBA",
            sources=[],
            transforms=[],
            layers=False,
            brush=gr.Brush(colors=[f"rgb{rgb}" for _, rgb in PAINT], color_mode="fixed"),
            height=360,
            elem_id="painter",
        )
        with gr.Row():
            masks = [
                gr.Image(
                    label=f"Mask {i}",
                    type="filepath",
                    image_mode="L",
                    format="png",
                    sources=["upload", "clipboard"],
                    height=120,
                    min_width=100,
                    elem_id=f"mask-{i}",
                )
                for i in range(1, SLOTS + 1)
            ]
    return {"painting": painter, "masks": masks}


def mixing_controls(available: list[str]) -> dict:
    """The 'Per-level mix' accordion: a second mix and strength for the fine levels, and the blend method. The
    per-level part shows only when the model has both coarse and fine levels."""
    coarse, fine = [lv for lv in COARSE if lv in available], [lv for lv in FINE if lv in available]
    both = bool(coarse and fine)
    with gr.Accordion("Per-level mix and blend", open=False, elem_id="mixing"):
        gr.Markdown(
            f"The deep levels ({', '.join(coarse) or 'none here'}) carry a painting's large shapes and colours, the "
            f"shallow ones ({', '.join(fine) or 'none here'}) its brushwork. Switched on, the Mix sliders and the "
            "strength set the deep levels and these set the shallow ones: e.g. one painting's shapes with "
            "another's strokes.",
            visible=both,
        )
        per_level = gr.Checkbox(
            False, label="A separate mix and strength for the shallow levels", visible=both, elem_id="per-level"
        )
        with gr.Row(visible=both):
            fine_weights = [
                gr.Slider(0, 1, value=1.0, step=0.05, label=f"Fine mix {i}", min_width=100, elem_id=f"fine-mix-{i}")
                for i in range(1, SLOTS + 1)
            ]
        fine_alpha = gr.Slider(
            0, 1, value=wct.DEFAULT_ALPHA, step=0.05, label="Strength at the shallow levels", visible=both,
            elem_id="fine-alpha",
        )
        blend = gr.Radio(
            list(form.BLENDS),
            value="linear",
            label="Blend",
            info="how several styles mix: linear (the paper's) or wasserstein (keeps each style's structure)",
            elem_id="blend",
        )
    return {"per_level": per_level, "fine_weights": fine_weights, "fine_alpha": fine_alpha, "blend": blend}


def result_outputs() -> list:
    """The result column's outputs: [image, downloads, status line]."""
    result = gr.Image(
        label="Stylized (PNG)",
        type="filepath",
        format="png",
        interactive=False,
        height=400,
        buttons=["download", "fullscreen"],
        elem_id="result",
    )
    status = gr.Markdown("", elem_id="status")
    downloads = gr.File(
        label="Downloads: the image (PNG) and the blended style (.safetensors, for wct.Style.load or `wct stylize -s FILE`)",
        file_count="multiple",
        interactive=False,
        height=140,
        elem_id="downloads",
    )
    return [result, downloads, status]


def look_controls(app: App) -> dict:
    """The 'Strength, colours and size' accordion: {"alpha", "preserve", "size"}."""
    with gr.Accordion("Strength, colours and size", open=False, elem_id="look"):
        alpha = gr.Slider(
            0, 1, value=wct.DEFAULT_ALPHA, step=0.05, label="Strength (alpha)",
            info="0 keeps the photo, 1 takes the style fully", elem_id="alpha",
        )
        preserve = gr.Radio(
            list(form.PRESERVE),
            value="off",
            label="Keep the photo's colours",
            info="luminance: the style's light and strokes in the photo's hues; histogram: each style image "
            "first takes the photo's palette (slower: styles are measured again for each photo)",
            elem_id="preserve",
        )
        size = gr.Slider(
            limits.MIN_SIZE, app.max_size, value=app.default_size, step=16, label="Output size (long side, px)",
            elem_id="size",
        )
    return {"alpha": alpha, "preserve": preserve, "size": size}


def engine_controls(app: App) -> dict:
    """The 'Levels, transform, photo-realistic' accordion: {"photo", "levels", "transform"} (a preset sets the levels)."""
    with gr.Accordion("Levels, transform and photo-realistic", open=False, elem_id="engine"):
        photo = gr.Checkbox(
            False,
            label="Photo-realistic",
            info="a photo out, for a photo after another photo: the transform at "
            f"{', '.join(wct.PHOTO_LEVELS)} at full strength, then edge-aware smoothing guided by the photo "
            "(sets the levels and the strength)",
            elem_id="photo",
        )
        first = next(iter(app.presets))
        preset = gr.Radio(list(app.presets), value=first, label="Levels", info="deepest first; fewer is faster", elem_id="preset")
        levels = gr.CheckboxGroup(app.available, value=app.presets[first], label="Levels to run", elem_id="levels")
        transform = gr.Radio(
            list(form.TRANSFORMS),
            value=wct.DEFAULT_TRANSFORM,
            label="Transform",
            info="wct: whitening and coloring; ost: optimal transport (the same statistics, the least change to the photo)",
            elem_id="transform",
        )
    preset.change(lambda label: app.presets.get(label, []), preset, levels, api_visibility="private", queue=False)
    return {"photo": photo, "levels": levels, "transform": transform}


def examples(fields: dict) -> gr.Examples:
    """The examples, one click each: they fill the photo and the style slots (and stylize: see ``wire``)."""
    return gr.Examples(
        [[None if f is None else str(ASSETS / f) for f in row] for row in EXAMPLES],
        inputs=[fields["content"], *fields["styles"]],
        label="Examples: click one to try it",
        cache_examples=False,
    )


def wire(demo: gr.Blocks, app: App, fields: dict, outputs: list, shares: gr.Markdown, run: gr.Button, shown: gr.Examples,
         concurrency: int) -> None:  # fmt: skip
    """The events: the Stylize button, examples, live re-renders, the mix line, the quality's times, the two API
    endpoints (whose ``refine`` is a step count: a hidden slider of their own)."""
    ui_inputs = form.inputs(fields, form.FORM)
    last_seconds = gr.State(None)
    quality = fields["refine"]
    ui_outputs = [*outputs, last_seconds, quality]
    heavy = {"concurrency_id": "stylize", "concurrency_limit": concurrency, "preprocess": False}
    (  # one click: fill the inputs, empty the slots the examples leave out, stylize
        shown.load_input_event.then(None, None, fields["styles"][2:], js="() => [null, null]").then(
            app.ui_stylize, ui_inputs, ui_outputs, api_visibility="private", **heavy
        )
    )
    mix = [*fields["styles"], *fields["weights"]]
    gr.on(
        [w.change for w in mix],
        lambda *v: shares_line(v[:SLOTS], v[SLOTS:]),
        mix,
        shares,
        api_visibility="private",
        queue=False,
        preprocess=False,
        trigger_mode="always_last",
    )
    # the painter shows the photo to paint on (its strokes are read when a stylization runs)
    fields["content"].change(lambda c: c, fields["content"], fields["painting"], api_visibility="private", queue=False)
    run.click(app.ui_stylize, ui_inputs, ui_outputs, api_visibility="undocumented", api_name="stylize_ui", **heavy)
    sliders = [*fields["weights"], *fields["fine_weights"], *(fields[k] for k in ("alpha", "fine_alpha", "size"))]
    choices = [fields["preserve"], fields["per_level"], fields["blend"], fields["transform"]]
    live = dict(trigger_mode="always_last", show_progress="minimal", api_visibility="private", **heavy)
    gr.on([*(s.release for s in sliders), *(c.input for c in choices)], app.live_stylize, [*ui_inputs, last_seconds],
          ui_outputs, **live)  # fmt: skip
    fields["photo"].input(  # the switch sets the photo levels and full strength first (or the defaults back)
        lambda on: photo_settings(on, app.available, app.presets), fields["photo"], [fields["levels"], fields["alpha"]],
        api_visibility="private", queue=False,
    ).then(app.live_stylize, [*ui_inputs, last_seconds], ui_outputs, **live)
    # the quality's times (measured by a small run on a page's first visit): outside the queue, so opening the page never
    # waits for a stylization or takes a place in the queue
    gr.on([demo.load, fields["model"].input], app.quality, fields["model"], quality, api_visibility="private",
          show_progress="hidden", queue=False)  # fmt: skip
    wire_api(app, fields, outputs[0], heavy)


def wire_api(app: App, fields: dict, image: gr.Image, heavy: dict) -> None:
    """The two API endpoints (their ``refine`` is a step count: a hidden slider of their own)."""
    api_trigger = gr.Button(visible=False)  # carries the API endpoints
    steps = gr.Slider(0, MAX_REFINE_STEPS, value=0, step=1, label="Refine (optimisation steps)", visible=False)
    api_fields = fields | {"refine": steps}  # the API's refine: a step count, where the form has the quality choice
    api_trigger.click(
        app.api_stylize,
        form.inputs(api_fields, form.STYLIZE),
        image,
        api_name="stylize",
        api_description="Stylize a content image after up to four style images (unused ones None) mixed by their "
        "weights, with strength alpha (0..1) at an output long side in pixels; returns the stylized PNG.",
        **heavy,
    )
    api_trigger.click(
        app.api_stylize_advanced,
        form.inputs(api_fields, form.ADVANCED),  # the form without the painter: API clients send masks
        image,
        api_name="stylize_advanced",
        api_description="/stylize plus: the levels to run; a mask image per style (None for none; region i takes "
        "style i, styles without one share the rest); preserve_color off|luminance|histogram; per_level (then the "
        "weights and alpha apply to relu5_1, relu4_1 and fine_weight_1..4, fine_alpha to the finer levels); blend "
        f"linear|wasserstein; refine (optimisation steps, 0..{MAX_REFINE_STEPS}); transform wct|ost; photorealistic "
        "(edge-aware smoothing by the content after the levels given). Returns the stylized PNG.",
        **heavy,
    )


def build_demo(
    model: wct.Model | None = None,
    *,
    concurrency: int | None = None,
    queue_size: int = QUEUE_SIZE,
    time_limit: float | None = None,
    output_ttl: int = OUTPUT_TTL,
) -> gr.Blocks:
    """The app for ``model`` (default: ``wct.load`` of limits.model_name(), in the precision WCT_APP_PRECISION asks),
    queued; ``demo.wct`` is its App (handlers, style caches, timings).

    Args:
        concurrency: stylizations at once (default: WCT_APP_CONCURRENCY, else limits.CONCURRENCY).
        queue_size: requests that may wait; more get Gradio's "Queue is full" answer.
        time_limit: seconds one request may compute (default: WCT_APP_TIMEOUT, else limits.TIME_LIMIT).
        output_ttl: seconds uploads and results are kept.
    """
    concurrency = limits.concurrency() if concurrency is None else concurrency
    time_limit = limits.time_limit() if time_limit is None else time_limit
    model = model if model is not None else wct.load(model=model_name(), half=limits.precision())
    app = App(model, time_limit=time_limit, output_ttl=output_ttl)
    sweep = (min(600, max(1, output_ttl // 4)), output_ttl)  # (every, age) in s: files live at most age + every
    with gr.Blocks(title=TITLE, delete_cache=sweep) as demo:
        gr.Markdown(header(app.model, app.available, app.presets))
        styles, weights = extra_styles()
        with gr.Row():
            with gr.Column(scale=6):
                first = first_screen()
                fields = {"content": first["content"], "styles": [first["style"], *styles], "weights": weights}
                controls = run_controls(app)
                shown = examples(fields)
                shares = more_styles(styles, weights)
                fields |= region_controls()
            with gr.Column(scale=5):
                outputs = result_outputs()
                fields |= look_controls(app) | engine_controls(app) | mixing_controls(app.available)
        fields |= {"refine": controls["refine"], "model": controls["model"]}
        wire(demo, app, fields, outputs, shares, controls["run"], shown, concurrency)
    demo.queue(default_concurrency_limit=concurrency, max_size=queue_size)
    if Path(os.path.realpath(demo.GRADIO_CACHE)) != app.cache_dir:  # uploads would be refused: fail now, not per request
        raise RuntimeError(f"Gradio's cache moved from {app.cache_dir} to {demo.GRADIO_CACHE} while the app was built")
    demo.wct = app
    return demo


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    try:
        demo = build_demo()
    except wct.WCTError as exc:  # no decoders, damaged weights, a bad WCT_APP_* value: one line, not a trace
        raise SystemExit(f"wct app: {exc}") from None
    demo.launch(**launch_kwargs())
