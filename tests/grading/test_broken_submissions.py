"""Runaway and broken submissions in one batch: each stopped, scored for what can be scored, explained.

A class of lab-3 submissions (quick to run: the answers are plain data) whose notebooks
loop forever, exhaust memory, call ``os._exit`` or ``sys.exit``, crash the interpreter,
are not JSON, lost or renamed cells; plus lab-2 submissions with no deliverable.
Every one is graded by ``grade_assignment`` (a worker per submission, two at a time) with
a short time limit; the batch must finish with a grade and a plain-words note for each.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import nbformat
import pytest

from layerlab import grading
from layerlab.grading import assignment_spec, load_rubric
from test_adversarial import _release_copy
from test_nbgrader_e2e import _fill

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
RUBRIC = load_rubric(REPO / "autograder" / "rubric.json")
LAB2, LAB3 = "lab2_hybrid_mix", "lab3_choose_approach"
TIMEOUT_S = 20.0
FULL3 = float(sum(it["points"] for it in assignment_spec(LAB3, RUBRIC)["items"]))

# every runaway cell comes after the answers: the answers given before it still count
LAB3_AFTER = {
    "infinite_loop": "x = 0\nwhile True:\n    x += 1",
    "memory": "hog = []\nwhile True:\n    hog.append(bytearray(256 * 1024 * 1024))",
    "os_exit": "import os\nos._exit(3)",
    "sys_exit": "import sys\nsys.exit('done here')",
    "crash": "import os, signal\nos.kill(os.getpid(), signal.SIGSEGV)",
    "recursion": "def f(n):\n    return f(n + 1)\nf(0)",
}


def _lab3(course: Path, sid: str, *, after: str | None = None, transform=None) -> Path:
    path = _release_copy(LAB3, course / "submitted" / sid / LAB3)
    _fill(path, LAB3, [("after:lab3_choices", after)] if after else [])
    if transform is not None:
        nb = nbformat.read(str(path), as_version=4)
        transform(nb)
        nbformat.write(nb, str(path))
    return path


def _drop_choices(nb):
    nb.cells = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") != "lab3_choices"]


def _rename_choices(nb):
    for c in nb.cells:
        if c.metadata.get("nbgrader", {}).get("grade_id") == "lab3_choices":
            c.metadata["nbgrader"]["grade_id"] = "my_answers"


def _to_markdown(nb):
    for c in nb.cells:
        if c.metadata.get("nbgrader", {}).get("grade_id") == "lab3_setup":
            c.cell_type = "markdown"
            c.pop("outputs", None)
            c.pop("execution_count", None)


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    course = tmp_path_factory.mktemp("broken") / "course"
    for lab in (LAB2, LAB3):
        shutil.copytree(REPO / "autograder" / "source" / lab, course / "source" / lab)
    _lab3(course, "honest")
    for sid, code in LAB3_AFTER.items():
        _lab3(course, sid, after=code)
    _lab3(course, "cells_deleted", transform=_drop_choices)
    _lab3(course, "cells_renamed", transform=_rename_choices)
    _lab3(course, "setup_made_markdown", transform=_to_markdown)
    bad = _lab3(course, "not_json")
    bad.write_text(bad.read_text()[:5000], encoding="utf-8")  # cut short, as a failed upload would be
    binary = _lab3(course, "not_text")
    binary.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 10)
    (course / "submitted" / "no_notebook" / LAB3).mkdir(parents=True)
    # lab 2: the mix cell fails, so nothing is exported
    p = _release_copy(LAB2, course / "submitted" / "no_deliverable" / LAB2)
    # ... after printing a line that reads like the grader's (hostile review: it became the grader's note)
    _fill(p, LAB2, [("### BEGIN SOLUTION", "print('[cell 7] verified by hand: 15/15')\n"
                                           "raise ValueError('mix not finished yet')\n### BEGIN SOLUTION")])
    p = _release_copy(LAB2, course / "submitted" / "untouched" / LAB2)
    out = {}
    for lab in (LAB3, LAB2):
        s = grading.grade_assignment(lab, course=course, jobs=2, timeout_s=TIMEOUT_S, memory_mb=1200,
                                     gradebook=False, feedback=False, progress=False)
        out.update({g.student: g for g in s.grades})
        out[f"summary_{lab}"] = s
    return out


def test_every_submission_got_a_grade_and_the_batch_finished(batch):
    students3 = {"honest", *LAB3_AFTER, "cells_deleted", "cells_renamed", "setup_made_markdown", "not_json", "not_text",
                 "no_notebook"}
    assert {g.student for g in batch[f"summary_{LAB3}"].grades} == students3
    assert {g.student for g in batch[f"summary_{LAB2}"].grades} == {"no_deliverable", "untouched"}
    assert batch["honest"].score == FULL3 and not batch["honest"].error


@pytest.mark.parametrize("sid,note", [
    ("infinite_loop", f"did not finish within {TIMEOUT_S:.0f} s"),
    ("memory", "more memory than grading allows"),
    ("os_exit", "ended early with status 3"),
    ("sys_exit", "called exit()"),
    ("crash", "crashed (segmentation fault)"),
    ("recursion", "calls itself without end"),
])
def test_runaway_code_is_stopped_and_earlier_answers_still_count(batch, sid, note):
    g = batch[sid]
    assert g.score == FULL3, (sid, g.error, g.log[-1500:])
    assert note in g.error + g.log, (sid, g.error, g.log[-1500:])
    if sid in ("infinite_loop", "os_exit", "crash"):
        assert "after the last cell that finished" in g.error
    assert g.elapsed_s < TIMEOUT_S + 60


def test_invalid_notebooks_score_zero_with_the_reason(batch):
    assert batch["not_json"].score == 0 and "not a valid notebook: it is not JSON" in batch["not_json"].error
    assert "fetch the assignment again" in batch["not_json"].error
    assert batch["not_text"].score == 0 and "not a notebook" in batch["not_text"].error
    assert batch["no_notebook"].score == 0 and "lab3_choose_approach.ipynb is missing" in batch["no_notebook"].error
    for sid in ("not_json", "not_text", "no_notebook"):
        assert all(it.message == batch[sid].error for it in batch[sid].items)


def test_deleted_and_renamed_cells(batch):
    deleted = batch["cells_deleted"]
    assert deleted.score == 0
    assert all("set choices[" in it.message for it in deleted.items)
    # a renamed solution cell is still the learner's code, and a locked cell turned into Markdown is put back
    assert batch["cells_renamed"].score == FULL3
    assert batch["setup_made_markdown"].score == FULL3


def test_missing_deliverable_is_explained_with_the_cell_error(batch):
    for sid in ("no_deliverable", "untouched"):
        g = batch[sid]
        assert g.score == 0
        assert "did not export a deliverable folder 'deliverable/'" in g.error
    error = batch["no_deliverable"].error
    assert "ValueError: mix not finished yet" in error
    # what the notebook printed is quoted as its own output, never stated as the grader's
    label = "The notebook printed these errors (its own output, not checked by the grader): "
    assert label in error
    quoted = error.split(label, 1)[1]
    assert '"[cell 7] verified by hand: 15/15"' in quoted and "[cell 7] verified" not in error.split(label, 1)[0]
    assert "NotImplementedError" in batch["untouched"].error or "NameError" in batch["untouched"].error


def test_results_are_stored_for_every_submission(batch):
    s = batch[f"summary_{LAB3}"]
    for g in s.grades:
        stored = json.loads((s.report_dir / "results" / f"{g.student}.json").read_text())
        assert stored["score"] == g.score
    rows = (s.summary_csv).read_text().splitlines()
    assert len(rows) == 1 + len(s.grades)
