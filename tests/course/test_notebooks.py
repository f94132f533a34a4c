"""Every lesson notebook runs top to bottom in a fresh kernel, with no error and nothing on stderr."""

import shutil
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[2]
LESSONS = ROOT / "lessons"
NOTEBOOKS = sorted(LESSONS.glob("*.ipynb"))
EXPECTED = {"00_start_here", "06_native_vs_postgen", "07_four_layers", "08_measuring_the_mix"}


def test_the_four_lessons_exist():
    assert EXPECTED <= {p.stem for p in NOTEBOOKS}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_stored_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{path.name}: a code cell has stored outputs"
            assert cell.execution_count is None, f"{path.name}: a code cell has an execution count"


def test_notebooks_are_built_from_their_source(tmp_path):
    """lessons/build_notebooks.py reproduces the committed notebooks exactly."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("build_notebooks", LESSONS / "build_notebooks.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    mod.HERE = tmp_path
    mod.main()
    for path in NOTEBOOKS:
        assert (tmp_path / path.name).read_text() == path.read_text(), f"{path.name} differs from its source"


def _kernel_name():
    """The ``python3`` kernel: jupyter_client starts it with the interpreter running the tests (the .venv's)."""
    return "python3"


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_executes_cleanly(path, tmp_path):
    from nbclient import NotebookClient

    work = tmp_path / "lessons"
    shutil.copytree(LESSONS, work, ignore=shutil.ignore_patterns("_layerlab_audio", "session.json", "deliverable"))
    nb = nbformat.read(work / path.name, as_version=4)
    client = NotebookClient(nb, timeout=600, kernel_name=_kernel_name(), resources={"metadata": {"path": str(work)}},
                            allow_errors=False)
    before = sorted(p.name for p in LESSONS.iterdir())
    client.execute()
    problems = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        for out in cell.outputs:
            if out.output_type == "error":
                problems.append(f"cell {i}: {out.ename}: {out.evalue}")
            if out.output_type == "stream" and out.name == "stderr":
                problems.append(f"cell {i} wrote to stderr: {out.text[:300]}")
    assert not problems, "\n".join(problems)
    # the run wrote only into the copy
    assert sorted(p.name for p in LESSONS.iterdir()) == before
    if path.stem == "07_four_layers":
        assert (work / "session.json").exists()
        assert (work / "deliverable" / "mix.wav").exists()
