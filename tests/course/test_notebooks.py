"""Every lesson notebook runs top to bottom in a fresh kernel, with no error and nothing on stderr."""

import json
import re
import shutil
import sys
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


def _builder():
    import importlib.util

    spec = importlib.util.spec_from_file_location("build_notebooks", LESSONS / "build_notebooks.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # its dataclasses look their module up there
    spec.loader.exec_module(mod)
    return mod


def _copy_kit(tmp_path):
    """The parts of the repository the builder reads and writes, in a scratch folder."""
    root = tmp_path / "kit"
    shutil.copytree(LESSONS, root / "lessons", ignore=shutil.ignore_patterns("_layerlab_audio", "session.json", "deliverable"))
    shutil.copytree(ROOT / "labs", root / "labs", ignore=shutil.ignore_patterns("deliverable"))
    shutil.copytree(ROOT / "autograder", root / "autograder", ignore=shutil.ignore_patterns("deliverable", "__pycache__"))
    return root


def test_every_notebook_is_built_from_its_jupytext_source():
    """`make notebooks` reproduces every committed lesson and instructor lab notebook byte for byte.

    (The learner copies in ``labs/`` are checked in ``tests/project/test_learner_copies.py``.)
    """
    build = _builder()
    built = {t.notebook for t in build.targets()}
    committed = set(NOTEBOOKS) | set((ROOT / "autograder" / "source").glob("*/*.ipynb"))
    assert committed == built, f"notebooks without a source in lessons/src or autograder/src: {sorted(committed - built)}"
    assert build.stale(learner_copies=False) == [], "run `make notebooks` and commit the result"


def test_a_notebook_edited_apart_from_its_source_is_caught(tmp_path):
    build = _builder()
    root = _copy_kit(tmp_path)
    src = root / "lessons" / "src" / "08_measuring_the_mix.py"
    src.write_text(src.read_text().replace("# # Lesson 08 - Measuring the mix", "# # Lesson 08 - Measuring a mix", 1))
    assert build.stale(root, learner_copies=False) == [root / "lessons" / "08_measuring_the_mix.ipynb"]
    assert build.write_all(root, learner_copies=False) == [root / "lessons" / "08_measuring_the_mix.ipynb"]
    assert build.stale(root, learner_copies=False) == [] and build.write_all(root, learner_copies=False) == []
    nb = nbformat.read(root / "lessons" / "08_measuring_the_mix.ipynb", as_version=4)
    assert nb.cells[0].source.startswith("# Lesson 08 - Measuring a mix")
    # hand-edits to the .ipynb are caught too
    lab = root / "autograder" / "source" / "lab1_audit" / "lab1_audit.ipynb"
    lab.write_text(lab.read_text().replace('"points": 2', '"points": 3', 1))
    assert build.stale(root, learner_copies=False) == [lab]


def test_sources_are_plain_python():
    """Editors and linters read the sources as Python: magics are commented out, nothing else is special."""
    build = _builder()
    for t in build.targets():
        compile(t.source.read_text(encoding="utf-8"), str(t.source), "exec")


def test_blank_lines_between_cells_are_spacing_not_content(tmp_path):
    build = _builder()
    root = _copy_kit(tmp_path)
    src = root / "lessons" / "src" / "08_measuring_the_mix.py"
    src.write_text(src.read_text().replace("\n\n# %%", "\n\n\n\n# %%"))
    assert src.read_text().count("\n\n\n\n# %%") > 10
    assert build.stale(root, learner_copies=False) == []


def test_cell_ids_are_stable_and_unique():
    build = _builder()
    for t in build.targets():
        ids = [c["id"] for c in build.build(t).cells]
        assert ids == [f"{t.id_prefix}-{i:02d}" for i in range(len(ids))]
        assert len(set(ids)) == len(ids)
        assert [c["id"] for c in nbformat.read(t.notebook, as_version=4).cells] == ids


def test_magics_and_markdown_survive_the_round_trip():
    build = _builder()
    lesson = next(t for t in build.targets() if t.notebook.stem == "07_four_layers")
    nb = build.build(lesson)
    assert nb.cells[1].cell_type == "code" and nb.cells[1].source.startswith("%matplotlib widget\n")
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# Lesson 07 - The four layers")


def test_a_lesson_cell_with_a_grading_header_is_refused(tmp_path):
    build = _builder()
    root = _copy_kit(tmp_path)
    src = root / "lessons" / "src" / "00_start_here.py"
    src.write_text(src.read_text().replace("# %%\n", '# %% role="test" grade_id="x"\n', 1))
    with pytest.raises(build.SourceError, match=r"00_start_here.py, cell \d+: lesson cells carry no grading header"):
        build.stale(root)


# Widest figure a lesson may draw, in CSS pixels. In a 1400 px browser window with JupyterLab 4's file
# browser open, a cell's output area measures 968 px (Chromium); ipympl's toolbar takes ~40 px of it, so
# 800 px leaves room for a scroll bar and a zoom step. Issue #17: lesson 06's three-panel figure was
# 1000 px wide and lost its third panel.
MAX_FIGURE_PX = 800
FIGURE_PROBE = """
import json as _json, matplotlib.pyplot as _plt
print("FIGURE_WIDTHS_PX", _json.dumps({int(n): float(_plt.figure(n).get_size_inches()[0] * _plt.figure(n).dpi)
                                         for n in _plt.get_fignums()}))
"""
# an expression statement at the end of a cell that echoes an object, e.g. <matplotlib.legend.Legend at 0x7f...>
STRAY_REPR = re.compile(r"^<[\w.]+( object)? at 0x[0-9a-f]+>$")


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
    nb.cells.append(nbformat.v4.new_code_cell(FIGURE_PROBE))
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
            text = out.get("data", {}).get("text/plain", "") if out.output_type == "execute_result" else ""
            if STRAY_REPR.match(text.strip()):
                problems.append(f"cell {i} echoes {text.strip()}: end its last line with ';' or assign it")
    probe = "".join(o.get("text", "") for o in nb.cells[-1].outputs)
    widths = json.loads(probe.split("FIGURE_WIDTHS_PX", 1)[1])
    problems += [f"figure {n} is {w:.0f} px wide, wider than {MAX_FIGURE_PX} px" for n, w in widths.items() if w > MAX_FIGURE_PX]
    assert not problems, "\n".join(problems)
    # the run wrote only into the copy
    assert sorted(p.name for p in LESSONS.iterdir()) == before
    if path.stem == "07_four_layers":
        assert (work / "session.json").exists()
        assert (work / "deliverable" / "mix.wav").exists()


def test_bad_input_in_a_notebook_shows_one_line_not_a_traceback(tmp_path):
    """A kit InputError raised in a cell (here: a course lab with no variant for this learner) is shown by IPython as
    its one-line message, through IPython's ``_render_traceback_`` hook; a kit fault (GraderError) keeps its traceback."""
    from nbclient import NotebookClient

    lab = tmp_path / "kit" / "lab1_audit"
    (tmp_path / "exchange" / "layerlab" / "layerlab-variants" / "lab1_audit" / "ann" / "scenes").mkdir(parents=True)
    lab.mkdir(parents=True)
    (lab / "nbgrader_config.py").write_text(f"c = get_config()\nc.CourseDirectory.course_id = 'layerlab'\n"
                                            f"c.Exchange.root = {str(tmp_path / 'exchange')!r}\n")
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("import os\nos.environ['LAYERLAB_STUDENT'] = 'dan'\n"
                                  "from layerlab.course.variants import use_learner_variant\nuse_learner_variant()"),
        nbformat.v4.new_code_cell("from layerlab.errors import GraderError\nraise GraderError('the sandbox stopped')"),
    ])
    client = NotebookClient(nb, timeout=300, kernel_name=_kernel_name(), resources={"metadata": {"path": str(lab)}},
                            allow_errors=True)
    client.execute()
    err = next(o for o in nb.cells[0].outputs if o.output_type == "error")
    assert err.ename == "VariantError" and "no variant of lab1_audit for student 'dan'" in err.evalue
    assert len(err.traceback) == 1 and err.traceback[0].startswith("VariantError: no variant of lab1_audit for student 'dan'")
    assert "--course" in err.traceback[0]  # the instructor's command as it must be typed
    fault = next(o for o in nb.cells[1].outputs if o.output_type == "error")
    assert fault.ename == "GraderError" and len(fault.traceback) > 1
