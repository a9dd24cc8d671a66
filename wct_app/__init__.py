"""The web app's parts beside app.py (which only lays out the widgets and wires these):

    limits.py      the bounds on every request, the WCT_APP_* environment variables, demo.launch's options
    middleware.py  the ASGI body limit (HTTP 413 before Gradio parses a body)
    form.py        the form's fields (the Job dataclass), which the layout, the handlers and the API endpoints share
    files.py       the files a request may open (uploads, examples) and the folders results go to
    masks.py       region masks: brush strokes -> one mask per style slot; a slot's upload and strokes -> one mask
    levels.py      the level presets and the per-level split
    plan.py        a request's values -> a Plan for the engine (only what the app itself knows is checked)
    styles.py      the style statistics cache
    models.py      the models a request may choose (others than the first load on first use), each with its styles
    timing.py      how long "fast" and "best" take here: a small measuring run, then every real run
    status.py      the header, the mix as percentages, the status line
    handlers.py    App: the event functions over the models, failures as one-sentence errors

A plain package: importable from the folder that holds app.py, no install needed (the Space runs it so).
"""
