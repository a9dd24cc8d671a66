"""The Hugging Face Space bundle (wct/space.py, `wct space OUT_DIR`): what it holds, its Git LFS rules, its card,
its refusals, and the bundle built and served the way the Space builds it.

The last test does what the Space's build does, inside the bundle: a new virtual environment, `pip install -r
requirements.txt` (which reuses this interpreter's packages through a .pth file, so it installs nothing and takes
seconds instead of a 5 GB download of torch), then `python app.py` from the bundle, reached through gradio_client.
The checkout's own `wct` cannot be imported there: the bundle's copy is the one that runs.
"""

from __future__ import annotations

import hashlib
import json
import modulefinder
import os
import shutil
import subprocess
import sys
import sysconfig
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

gradio = pytest.importorskip("gradio", reason="the Space needs gradio: pip install -e '.[app]'")
from conftest import smooth_image
from gradio_client import Client, handle_file
from huggingface_hub import SpaceCard
from test_app import ROOT, free_port, pytestmark  # noqa: F401 (pytestmark: the same warning filters)

import wct.cli
from wct.space import build_space

MB = 1024 * 1024
START_TIMEOUT = 150  # seconds for `python app.py` to import torch and gradio, load the model and listen (busy CPU)
GIT = shutil.which("git")


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    return build_space(tmp_path_factory.mktemp("space") / "bundle")


def files_under(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}


def lfs_filter(folder: Path, paths: list[str]) -> dict[str, str]:
    """{path: the `filter` attribute git gives it from folder's .gitattributes} ("lfs" when Git LFS stores it)."""
    if GIT is None:
        pytest.skip("git is not installed: cannot read .gitattributes the way git does")
    git_dir = folder.parent / f"{folder.name}-attributes.git"
    if not git_dir.exists():
        subprocess.run([GIT, "init", "-q", "--bare", str(git_dir)], check=True)
    out = subprocess.run([GIT, f"--git-dir={git_dir}", f"--work-tree={folder}", "check-attr", "-z", "filter", "--", *paths],
                         cwd=folder, capture_output=True, check=True).stdout.decode().split("\0")  # fmt: skip
    return {out[i]: out[i + 2] for i in range(0, len(out) - 2, 3)}


def refused_without_lfs(path: Path) -> bool:
    """What the Hub refuses as a plain git blob: any file over 10 MB, a binary file (a NUL byte) over 1 MB."""
    size = path.stat().st_size
    return size > 10 * MB or (size > MB and b"\0" in path.read_bytes()[:8000])


# ----- what the bundle holds ---------------------------------------------------------------------------------
def test_the_bundle_holds_the_app_its_local_imports_decoders_assets_and_nothing_else(bundle):
    finder = modulefinder.ModuleFinder(path=[str(ROOT)])  # the standard library's own reading of app.py's imports
    finder.run_script(str(ROOT / "app.py"))
    local = {
        Path(m.__file__).relative_to(ROOT).parts[0]
        for m in finder.modules.values()
        if m.__file__ and Path(m.__file__).is_relative_to(ROOT)
    }
    local.discard("app.py")
    assert "wct" in local
    top = {p.name for p in bundle.iterdir()}
    assert top == {"app.py", "requirements.txt", "README.md", ".gitattributes", "decoders", "assets"} | local, top

    have = files_under(bundle)
    assert (bundle / "app.py").read_bytes() == (ROOT / "app.py").read_bytes()
    for name in local:  # the packages and modules, source files only (no caches)
        source = ROOT / name
        expected = {p.relative_to(ROOT).as_posix() for p in ([source] if source.is_file() else source.rglob("*.py"))}
        assert {f for f in have if f.split("/")[0] == name} == expected
    wanted = set()
    for folder in ("decoders", "decoders/light"):  # VGG-16's decoders, and the light model's networks when shipped
        path = ROOT / folder / "MANIFEST.json"
        if not path.is_file():
            continue
        data = json.loads(path.read_text())
        entries = data["decoders"] + ([data["encoder"]] if "encoder" in data else [])
        wanted |= {f"{folder}/MANIFEST.json"} | {f"{folder}/{e['file']}" for e in entries}
        for entry in entries:
            assert hashlib.sha256((bundle / folder / entry["file"]).read_bytes()).hexdigest() == entry["sha256"]
    assert {f for f in have if f.startswith("decoders/")} == wanted
    assert {f for f in have if f.startswith("assets/")} == {f"assets/{p.name}" for p in (ROOT / "assets").iterdir()}
    assert (bundle / "requirements.txt").read_bytes() == (ROOT / "requirements.txt").read_bytes()
    assert not {"tests", "benchmarks", "training", "docs", "pyproject.toml"} & top


def test_every_file_the_hub_would_refuse_as_a_plain_blob_is_in_git_lfs(bundle):
    paths = sorted(files_under(bundle))
    big = [p for p in paths if refused_without_lfs(bundle / p)]
    assert "decoders/relu5_1.safetensors" in big  # 29 MB: the file that made pushes of the repository fail
    weights = [p for p in paths if p.endswith(".safetensors")]
    attributes = lfs_filter(bundle, paths)
    assert {p: attributes[p] for p in big + weights} == dict.fromkeys(big + weights, "lfs")
    assert attributes["app.py"] == attributes["assets/content.jpg"] == "unspecified"  # the rest stays plain text/blobs


def test_the_space_card_says_how_the_hub_runs_it(bundle):
    card = SpaceCard.load(bundle / "README.md")  # the Hub's own parser of the front matter
    data = card.data
    assert data.sdk == "gradio" and data.sdk_version == gradio.__version__  # the Gradio the app is tested with here
    assert data.app_file == "app.py" and (bundle / data.app_file).is_file()
    assert data.license == "mit" and data.title and 0 < len(data.short_description) <= 60
    assert data.python_version == "3.11"
    assert "wct space" in card.text and "/stylize" in card.text


def test_modules_the_app_imports_are_found_through_the_imports(tmp_path):
    """A checkout whose app.py imports a package beside it (as after app.py is split into layout + wct_app/), which
    imports a module inside a function: both are shipped; a module nobody imports and the tests are not. Files the
    Hub refuses as plain blobs get an LFS rule by name; a small text file does not."""
    src = tmp_path / "checkout"
    (src / "wct").mkdir(parents=True)
    (src / "wct" / "__init__.py").write_text("import os\n")
    (src / "wct_app").mkdir()
    (src / "wct_app" / "__init__.py").write_text("from wct_app.handlers import run\n")
    (src / "wct_app" / "handlers.py").write_text("def run():\n    import helpers\n    return helpers\n")
    (src / "wct_app" / "__pycache__").mkdir()
    (src / "wct_app" / "__pycache__" / "handlers.cpython-311.pyc").write_bytes(b"\0")
    (src / "helpers.py").write_text("import numpy\n")
    (src / "unused.py").write_text("import wct\n")
    (src / "tests").mkdir()
    (src / "tests" / "test_x.py").write_text("import wct\n")
    (src / "app.py").write_text("import gradio as gr\nimport wct\nfrom wct_app import run\n")
    shutil.copy(ROOT / "requirements.txt", src / "requirements.txt")
    (src / "decoders").mkdir()
    weights = b"weights" * 10
    (src / "decoders" / "relu1_1.safetensors").write_bytes(weights)
    entry = {"level": "relu1_1", "file": "relu1_1.safetensors", "sha256": hashlib.sha256(weights).hexdigest()}
    (src / "decoders" / "MANIFEST.json").write_text(json.dumps({"decoders": [entry]}))
    (src / "assets").mkdir()
    (src / "assets" / "poster big.png").write_bytes(b"\x89PNG\0" + os.urandom(2 * MB))  # binary, over 1 MB
    (src / "assets" / "notes.md").write_text("x" * (11 * MB))  # text, over 10 MB
    (src / "assets" / "CREDITS.md").write_text("y" * (2 * MB))  # text, under 10 MB: a plain blob is fine

    out = build_space(tmp_path / "space", source=src, project_url="https://example.org/wct")
    assert files_under(out) == {
        "app.py", "helpers.py", "wct/__init__.py", "wct_app/__init__.py", "wct_app/handlers.py",
        "decoders/MANIFEST.json", "decoders/relu1_1.safetensors", "assets/poster big.png", "assets/notes.md",
        "assets/CREDITS.md", "requirements.txt", "README.md", ".gitattributes",
    }  # fmt: skip
    attributes = lfs_filter(out, sorted(files_under(out)))
    assert [p for p, value in attributes.items() if value == "lfs"] == [
        "assets/notes.md", "assets/poster big.png", "decoders/relu1_1.safetensors"]  # fmt: skip
    assert "[https://example.org/wct](https://example.org/wct)" in (out / "README.md").read_text()


# ----- refusals ------------------------------------------------------------------------------------------------
def space_cli(capsys, *args) -> tuple[int, str]:
    code = wct.cli.main(["space", *map(str, args)])
    return code, capsys.readouterr().err


def test_bad_out_dirs_get_one_line_errors_and_nothing_is_touched(tmp_path, capsys):
    a_file = tmp_path / "a_file"
    a_file.write_text("keep")
    full = tmp_path / "full"
    full.mkdir()
    (full / "mine.txt").write_text("keep")
    cases = [
        (a_file, f"wct: error: {a_file} is a file; fix: give the path of a new or empty folder"),
        (a_file / "sub", f"wct: error: {a_file} is a file, so {a_file / 'sub'} cannot be made; fix: give a folder path"),
        (full, f"wct: error: {full} exists and is not empty; fix: pass --overwrite to replace it, or give a new folder"),
        (
            ROOT / "wct" / "space_out",
            f"wct: error: {ROOT / 'wct' / 'space_out'} would replace or sit inside the project's own {ROOT / 'wct'}",
        ),
        (ROOT, f"wct: error: {ROOT} would replace or sit inside the project's own {ROOT}"),
    ]
    if Path("/sys").is_dir():  # a folder even root cannot write in
        cases.append((Path("/sys/wct-space"), "wct: error: cannot write the Space folder /sys/wct-space ("))
    for out, message in cases:
        code, err = space_cli(capsys, out)
        assert code == 1 and err.startswith(message) and err.count("\n") == 1, (out, err)
    assert a_file.read_text() == "keep" and [p.name for p in full.iterdir()] == ["mine.txt"]
    assert not (ROOT / "wct" / "space_out").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file", "full"]  # no temporary folder left behind


def test_overwrite_replaces_a_folder_and_an_empty_folder_needs_no_flag(tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert space_cli(capsys, empty)[0] == 0 and (empty / "app.py").is_file()
    (empty / "stale.txt").write_text("old")
    code, err = space_cli(capsys, empty, "--overwrite")
    assert code == 0 and (empty / "app.py").is_file() and not (empty / "stale.txt").exists(), err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty"]


def test_a_damaged_decoder_stops_the_build_and_leaves_no_folder(tmp_path):
    src = tmp_path / "checkout"
    src.mkdir()
    for name in ("app.py", "requirements.txt", "wct", "assets", "decoders"):
        (shutil.copytree if (ROOT / name).is_dir() else shutil.copy)(ROOT / name, src / name)
    (src / "decoders" / "relu2_1.safetensors").write_bytes(b"version https://git-lfs.github.com/spec/v1\noid sha256:0\nsize 9\n")
    with pytest.raises(wct.WeightsError, match=r"relu2_1.safetensors is a git-lfs pointer, not the weights; fix: git lfs pull"):
        build_space(tmp_path / "space", source=src)
    (src / "decoders" / "relu2_1.safetensors").write_bytes(b"not the weights")
    with pytest.raises(wct.WeightsError, match=r"relu2_1.safetensors has SHA-256 .*, MANIFEST.json expects"):
        build_space(tmp_path / "space", source=src)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkout"]


# ----- built and served as the Space builds it -----------------------------------------------------------------
def run(args: list, cwd: Path, env: dict, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False)


def space_env(tmp_path: Path, port: int) -> dict[str, str]:
    """The environment of the Space's container: no override of where wct looks, the app on one port."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WCT_APP_", "WCT_DECODERS", "PYTHON", "VIRTUAL_ENV"))}
    env.update(GRADIO_SERVER_NAME="127.0.0.1", GRADIO_SERVER_PORT=str(port), GRADIO_TEMP_DIR=str(tmp_path / "gradio"),
               GRADIO_ANALYTICS_ENABLED="False", HF_HUB_OFFLINE="1")  # fmt: skip
    return env


def wait_until_up(url: str, server: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"python app.py exited with {server.returncode}:\n{log.read_text()[-4000:]}")
        try:
            with urllib.request.urlopen(url, timeout=5) as answer:
                if answer.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.5)
    pytest.fail(f"python app.py did not answer at {url} within {START_TIMEOUT} s:\n{log.read_text()[-4000:]}")


def test_the_bundle_installs_and_serves_as_a_space(tmp_path):
    space = build_space(tmp_path / "space")
    env = space_env(tmp_path, free_port())
    venv = space / ".venv"
    made = run([sys.executable, "-m", "venv", "--without-pip", venv], tmp_path, env)
    assert made.returncode == 0, made.stderr
    python = venv / "bin" / "python"
    site = Path(run([python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], tmp_path, env).stdout.strip())
    ours = dict.fromkeys(sysconfig.get_path(k) for k in ("purelib", "platlib"))  # this interpreter's packages
    (site / "reuse-installed-packages.pth").write_text("".join(f"{p}\n" for p in ours))  # paths only: their .pth stay unread

    pip = run([python, "-m", "pip", "install", "--no-index", "--disable-pip-version-check", "-r", "requirements.txt"], space, env)
    assert pip.returncode == 0, pip.stdout + pip.stderr
    assert "Successfully installed" not in pip.stdout, pip.stdout  # everything was already there
    where = run([python, "-c", "import wct; print(wct.__file__)"], space, env)
    assert where.stdout.strip() == str(space / "wct" / "__init__.py"), where.stdout + where.stderr
    elsewhere = run([python, "-c", "import importlib.util; print(importlib.util.find_spec('wct'))"], tmp_path, env)
    assert elsewhere.stdout.strip() == "None", elsewhere.stdout  # the checkout's wct (an editable install) is out of reach

    content, style = tmp_path / "content.png", tmp_path / "style.png"
    Image.fromarray(smooth_image(72, 88, seed=1)).save(content)
    Image.fromarray(smooth_image(64, 64, seed=2)).save(style)
    log = tmp_path / "server.log"
    with log.open("w") as sink:
        server = subprocess.Popen([str(python), "app.py"], cwd=space, env=env, stdout=sink, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{env['GRADIO_SERVER_PORT']}/"
        wait_until_up(url, server, log)
        client = Client(url, verbose=False)
        try:
            png = client.predict(handle_file(str(content)), handle_file(str(style)), None, None, None,
                                 1, 1, 1, 1, 0.6, 64, api_name="/stylize")  # fmt: skip
        finally:
            client.close()
        out = np.asarray(Image.open(png).convert("RGB"))
        assert out.shape == (52, 64, 3) and out.std() > 5, (out.shape, out.std())
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
