"""The set-up files agree with each other, and notebooks are stored clean."""

import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
# conda-forge names that differ from PyPI names
CONDA_NAMES = {"soundfile": "pysoundfile"}
# test extras that environment.yml also lists (jupytext rebuilds the notebooks from their sources)
ENV_TEST_EXTRAS = {"jupytext"}
# dependencies on PyPI only, which environment.yml lists in its pip section
PIP_ONLY = {"pyseccomp"}


def _split(req: str):
    m = re.match(r"^\s*([A-Za-z0-9_.\-]+)(?:\[[^\]]*\])?\s*(.*)$", req)  # extras: psycopg[binary] is conda's psycopg
    return m.group(1).lower(), m.group(2).replace(" ", "")


def test_environment_yml_lists_the_same_dependencies_as_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pyproject = {CONDA_NAMES.get(n, n): spec for n, spec in map(_split, project["dependencies"]) if n not in PIP_ONLY}
    pip_only = {n: spec for n, spec in map(_split, project["dependencies"]) if n in PIP_ONLY}
    pyproject |= {n: spec for n, spec in map(_split, project["optional-dependencies"]["test"]) if n in ENV_TEST_EXTRAS}
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert env["channels"] == ["conda-forge"]
    conda, pip_section = {}, None
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            pip_section = dep["pip"]
            continue
        name, spec = _split(dep)
        if name not in ("python", "pip"):
            conda[name] = spec
    assert "python=3.11" in env["dependencies"]
    assert conda == pyproject, "environment.yml and pyproject.toml disagree"
    assert pip_section[-1] == "-e ." and dict(map(_split, pip_section[:-1])) == pip_only


def test_console_command_is_declared_and_runs():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["scripts"]["layerlab"] == "layerlab.cli:main"
    exe = Path(sys.executable).with_name("layerlab")
    proc = subprocess.run([str(exe), "--help"], capture_output=True, text=True)
    assert proc.returncode == 0 and "usage: layerlab" in proc.stdout


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    commands = re.findall(r"^(make \w+)$", readme, flags=re.M)
    assert "make lab" in commands and "make test" in commands
    ci_cmds = [line.strip() for line in ci.splitlines() if line.strip() and not line.lstrip().startswith(("#", "set ", "cd "))]
    assert ci_cmds == ["make test"]


def test_notebooks_are_committed_without_outputs():
    notebooks = sorted(p for d in ("lessons", "labs", "autograder") for p in (ROOT / d).rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
    assert notebooks, "no notebooks found"
    dirty = []
    for nb_path in notebooks:
        nb = json.loads(nb_path.read_text())
        for cell in nb["cells"]:
            if cell["cell_type"] == "code" and (cell.get("outputs") or cell.get("execution_count") is not None):
                dirty.append(nb_path.relative_to(ROOT).as_posix())
                break
    assert not dirty, f"strip outputs from: {dirty}"


def test_readme_engine_example_runs_and_exports_a_deliverable(tmp_path, monkeypatch):
    readme = (ROOT / "README.md").read_text()
    code = re.search(r"```python\n(import layerlab.*?)```", readme, re.S).group(1)
    monkeypatch.chdir(ROOT)
    code = code.replace('"my_mix"', repr(str(tmp_path / "my_mix")))
    exec(compile(code, "README.md", "exec"), {})
    out = tmp_path / "my_mix"
    assert (out / "mix.wav").exists() and (out / "session.json").exists()
    assert sorted(p.name for p in (out / "stems").iterdir()) == ["ambience.wav", "dialogue.wav", "music.wav", "sfx.wav"]
    data = json.loads((out / "session.json").read_text())
    assert data["layers"]["music"]["gain_db"] == -8 and data["master"]["target_lufs"] == -14
    # the one line sits on its cue: a reader who checks the example's mix sees it in sync
    cue = next(c for c in json.loads((ROOT / "assets/scenes/cafe_dialogue/cues.json").read_text())["dialogue"]
               if c["id"] == "l1")
    assert [c["start_s"] for c in data["layers"]["dialogue"]["clips"]] == [cue["start_s"]]


def test_make_lab_serves_the_lessons_with_widget_plot_and_nbgrader_extensions():
    import os
    import signal
    import socket
    import time
    import urllib.request

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    token = "layerlab-test-token"
    args = f"--no-browser --ServerApp.ip=127.0.0.1 --IdentityProvider.token={token}"
    proc = subprocess.Popen(["make", "-s", "lab", f"PORT={port}", f"LAB_ARGS={args}"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        base = f"http://127.0.0.1:{port}"
        page = None
        for _ in range(120):
            try:
                page = urllib.request.urlopen(f"{base}/lab?token={token}", timeout=5).read().decode()
                break
            except OSError:
                assert proc.poll() is None, proc.stdout.read().decode()[-2000:]
                time.sleep(0.5)
        assert page is not None, "JupyterLab did not answer"
        for ext in ("@jupyter-widgets/jupyterlab-manager", "jupyter-matplotlib", "@jupyter/nbgrader"):
            assert ext in page, f"lab extension {ext} is not enabled"
        listing = json.loads(urllib.request.urlopen(f"{base}/api/contents/lessons?token={token}", timeout=10).read())
        names = {item["name"] for item in listing["content"]}
        assert {"00_start_here.ipynb", "07_four_layers.ipynb"} <= names
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)


def test_make_help_lists_the_targets_and_settings():
    out = subprocess.run(["make", "-s", "help"], cwd=ROOT, capture_output=True, text=True, timeout=60).stdout
    for word in ("make lab", "make test", "make bench", "make assets", "PORT=", "LAB_ARGS="):
        assert word in out, f"`make help` does not mention {word}"


@pytest.mark.parametrize("args, port", [("", "8888"), ("PORT=7001", "7001"), ("LAB_ARGS=--port=7002 --no-browser", "7002")])
def test_make_lab_passes_exactly_one_port(args, port):
    cmd = ["make", "-n", "lab", "VENV=.venv"] + ([args] if args else [])
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=60).stdout
    line = next(l for l in out.splitlines() if "jupyter lab" in l)
    assert line.count("--port") == 1 and f"--port={port}" in line, line
