"""What the grader says about a submission nobody started: the released notebooks, submitted untouched.

A new user's pass: lab 2's note ended in an empty error text ("[cell 2] NotImplementedError: ") after advice to
"run the export cell", repeated in every graded cell of the feedback notebook; lab 1's line read ``bob 0 / 11``
with no reason at all; and neither said that the written answers are still to be graded by hand.
"""

from __future__ import annotations

import csv
import shutil
from pathlib import Path
from types import SimpleNamespace

import nbformat
import pytest

from layerlab import grading
from layerlab.cli import grade as grade_cli
from test_adversarial import _release_copy

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
LAB1, LAB2 = "lab1_audit", "lab2_hybrid_mix"


@pytest.fixture(scope="module")
def untouched(tmp_path_factory):
    course = tmp_path_factory.mktemp("untouched") / "course"
    out = {}
    for lab in (LAB1, LAB2):
        shutil.copytree(REPO / "autograder" / "source" / lab, course / "source" / lab)
        released = _release_copy(lab, course / "submitted" / "bob" / lab)
        (course / "autograded" / "bob" / lab).mkdir(parents=True)  # what `nbgrader autograde` leaves for feedback
        shutil.copy(released, course / "autograded" / "bob" / lab / released.name)
    shutil.copy(REPO / "autograder" / "rubric.json", course / "rubric.json")
    for lab in (LAB1, LAB2):
        out[lab] = grading.grade_assignment(lab, course=course, jobs=2, gradebook=False, progress=False)
    out["course"] = course
    return out


def _cli_lines(summary, capsys) -> list[str]:
    grade_cli._report(SimpleNamespace(resume=False, no_gradebook=True, assignment=summary.assignment), summary)
    return capsys.readouterr().out.splitlines()


def test_an_untouched_lab2_says_which_cell_is_not_filled_in_first(untouched, capsys):
    g = untouched[LAB2].grades[0]
    assert g.score == 0
    # led by the cell still holding the released stub, in plain words; no empty error text after a colon
    assert g.error.startswith("[cell 2] not filled in yet (it still raises NotImplementedError): write your answer there"), g.error
    assert "NotImplementedError: \"" not in g.error and "NotImplementedError: ;" not in g.error, g.error
    assert g.error.index("not filled in yet") < g.error.index("deliverable/"), g.error
    assert "Run the export cell" not in g.error, g.error  # the export cell is not what a learner who never started must do
    assert "NameError" in g.error  # the error that followed it, summarised after
    line = next(x for x in _cli_lines(untouched[LAB2], capsys) if x.startswith("bob "))
    assert "(not filled in yet" not in line and "([cell 2] not filled in yet" in line, line


def test_the_feedback_notebook_gives_a_shared_note_once(untouched):
    from layerlab.grading.results import NOT_MEASURED_SEE_NOTE_ABOVE

    course = untouched["course"]
    nb = nbformat.read(str(course / "autograded" / "bob" / LAB2 / f"{LAB2}.ipynb"), as_version=4)
    text = "\n".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
    assert text.count("not filled in yet") == 1, text
    graded = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")]
    assert all(c.outputs for c in graded)
    assert text.count(NOT_MEASURED_SEE_NOTE_ABOVE) == len(graded), text


def test_an_untouched_lab1_gives_its_reason_in_the_line_and_the_summary(untouched, capsys):
    s = untouched[LAB1]
    g = s.grades[0]
    assert g.score == 0 and g.error, g.to_text()
    assert g.error.startswith("[cells 3, 4, 5, 6, 7, 8] not filled in yet (they still raise NotImplementedError): "
                              "write your answers there"), g.error
    assert "No answers found: findings was never set" in g.error, g.error
    line = next(x for x in _cli_lines(s, capsys) if x.startswith("bob "))
    assert "0 / 11  ([cells 3, 4, 5, 6, 7, 8] not filled in yet" in line, line
    with open(s.summary_csv, encoding="utf-8", newline="") as fh:
        row = next(r for r in csv.DictReader(fh) if r["student"] == "bob")
    assert row["error"] == g.error


def test_a_lab_with_written_answers_says_once_they_are_graded_by_hand(untouched, capsys):
    lines = _cli_lines(untouched[LAB1], capsys)
    hand = [x for x in lines if "graded by hand" in x]
    assert hand == ["lab1_audit also has 4 points graded by hand in formgrader (not in these scores)"], lines
    assert lines.index(hand[0]) == 1  # after the learners' lines
    assert not [x for x in _cli_lines(untouched[LAB2], capsys) if "graded by hand" in x]  # lab 2 has none


def test_manual_points_come_from_the_source_notebooks_manually_graded_cells():
    from layerlab.grading.rubric import manual_points

    rubric = grading.load_rubric(REPO / "autograder" / "rubric.json")
    src = REPO / "autograder" / "source"
    assert manual_points(src / LAB1 / f"{LAB1}.ipynb", grading.assignment_spec(LAB1, rubric)) == 4.0
    lab3 = "lab3_choose_approach"
    assert manual_points(src / lab3 / f"{lab3}.ipynb", grading.assignment_spec(lab3, rubric)) == 12.0
    assert manual_points(src / LAB2 / f"{LAB2}.ipynb", grading.assignment_spec(LAB2, rubric)) == 0.0
    assert manual_points(src / "no_such.ipynb", grading.assignment_spec(LAB2, rubric)) is None  # unknown: nothing said


def test_manual_points_of_a_source_notebook_nested_too_deep_are_unknown(tmp_path):
    # an instructor's broken source notebook ended `layerlab grade` with RecursionError after every report was written
    from layerlab.grading.rubric import manual_points

    source = tmp_path / "lab.ipynb"
    source.write_text("[" * 100_000 + "]" * 100_000, encoding="utf-8")
    assert manual_points(source, {"items": []}) is None
