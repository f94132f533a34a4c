"""Ninth hostile review (issue #12): new attacks, each a real submission graded by ``grade_assignment``.

One module-scoped class of lab-2 and lab-3 submissions is graded in bwrap as ``layerlab grade --jobs 2`` grades it,
and lab 3 once more with ``--no-sandbox`` (an instructor's run of trusted work). Each attack starts from the same
honest work as ``test_adversarial.py`` (lab 2 mastered to -20 LUFS, lab 3 with one wrong key); each must earn exactly
its honest grade, classmates keep theirs, and the batch completes: reports, summary and gradebook.

The attacks: the student id (the folder's name in ``submitted/``, which nbgrader's ``submit`` lets a learner choose)
too long for a file name, not UTF-8, or holding quotes and HTML; the instructor's hidden tests read from the notebook
in the sandbox's home and sent back base64-encoded in a cell error the grader quotes; a code cell whose nbgrader
metadata is not a mapping; an answers file holding NaN, Infinity and 1e999; a module shipped beside the notebook that
shadows IPython, imported by the grader's ``display`` and magic handling in the learner's process (``--no-sandbox``);
a deliverable file name holding HTML.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from layerlab import grading
from layerlab.grading import assignment_spec, score_answers
from test_adversarial import LAB2, LAB3, PARTIAL3, QUIET, RUBRIC, _course, _submit

pytestmark = pytest.mark.slow

MARK = "LLMARK9"
LONG_ID = "L" * 240  # a valid folder name; with ".json.<pid>.<thread>.part" past the 255 bytes a file name holds
BYTES_ID = b"stu\xff\xfe"  # not UTF-8: Python names the folder "stu\udcff\udcfe"
HTML_ID = "q'\"<img src=x onerror=alert(1)>;DROP TABLE student;--"
ESC_ID = "esc\x1b]0;pwned\x07\x1b[2J\nhonest3 12 of 12"  # terminal escapes and a line of its own in `layerlab grade`

# lab 2: the notebook the grader runs (its own copy in the sandbox's home) and the read-only submission beside it;
# any hidden-test region in them is sent back base64-encoded in a cell error, which the grader quotes to the learner
HIDDEN_TESTS = f'''
import base64, glob
_found = []
for _p in ["lab2_hybrid_mix.ipynb"] + glob.glob("/home/.submission/*.ipynb"):
    _text = open(_p, encoding="utf-8").read()
    _found += [_part.split("END", 1)[0] for _part in _text.split("BEGIN " + "HIDDEN TESTS")[1:]]  # not this cell
print("{MARK}-HIDDEN", len(_found), flush=True)
import shutil; shutil.rmtree("deliverable", ignore_errors=True)
raise RuntimeError(base64.b64encode("".join(_found).encode()).decode()[:250] or "none")
'''

# lab 2: a file of the deliverable whose name is HTML (a name may hold anything but "/")
HTML_FILE_NAME = '''
open("deliverable/<img src=x onerror=alert(1)>.wav", "wb").write(b"RIFF")
'''

# lab 3: the last cell writes the answers file itself, with JSON's non-finite literals (json.loads reads them) and a
# number past any float, and ends the process
NAN_EXPORTS = '''
import json, os
_text = json.dumps({"choices": choices})
_text = _text[:-1] + ', "pad": [NaN, Infinity, -Infinity, -0.0, 1e308, 1e999]}'
open("/home/learner/.layerlab-exports.json", "w").write(_text)
os._exit(0)
'''

# lab 3 under --no-sandbox: an IPython package shipped beside the notebook; the learner process imports it after the
# learner's folder is on sys.path (display(), a line magic). It must run under the audit hook, like a cell.
SHADOW_IPYTHON = {
    "IPython/__init__.py": f'''
import os
_got = []
for _try in (lambda: open("@@COURSE@@/source/lab3_choose_approach/lab3_choose_approach.ipynb").read(),
             lambda: os.system("true"), lambda: os.listdir("@@COURSE@@/submitted")):
    try:
        _try(); _got.append("yes")
    except Exception:
        _got.append("no")
print("{MARK}-SHADOW", _got, flush=True)
''',
    "IPython/display.py": "def display(*a, **k):\n    print('shadow display')\n",
    "IPython/core/__init__.py": "",
    "IPython/core/inputtransformer2.py": "class TransformerManager:\n    def transform_cell(self, src):\n        return 'pass'\n",
    # what the exports' jsonable and one_line import: loaded before the learner's folder is on sys.path, never these
    "numpy.py": f"print('{MARK}-NUMPY-SHADOW')\n",
    "unicodedata.py": f"print('{MARK}-UNICODEDATA-SHADOW')\n",
}
SHADOW_CELL = '''
display(1)
%time _x = 1
'''


def _bad_metadata(nb):
    cell = nbformat.v4.new_code_cell("_note = 'a cell whose nbgrader metadata is text'")
    cell.metadata["nbgrader"] = "not a mapping"
    nb.cells.insert(1, cell)
    return nb


LAB2_CASES = {"hidden_tests": HIDDEN_TESTS, "html_file_name": HTML_FILE_NAME}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    course = _course(tmp_path_factory.mktemp("adversarial_s9") / "course")
    _submit(course, LAB2, "honest", QUIET)
    _submit(course, LAB2, "classmate", [])
    for sid, extra in LAB2_CASES.items():
        _submit(course, LAB2, sid, QUIET + [("after:lab2_export", extra)])
    _submit(course, LAB3, "honest3", PARTIAL3)
    _submit(course, LAB3, "classmate3", [])
    _submit(course, LAB3, LONG_ID, PARTIAL3)
    _submit(course, LAB3, HTML_ID, PARTIAL3)
    _submit(course, LAB3, ESC_ID, PARTIAL3)
    _submit(course, LAB3, "bytes_id", PARTIAL3)
    os.rename(course / "submitted" / "bytes_id", os.fsdecode(os.fsencode(course / "submitted") + b"/" + BYTES_ID))
    _submit(course, LAB3, "bad_metadata", PARTIAL3, _bad_metadata)
    _submit(course, LAB3, "nan_exports", PARTIAL3 + [("after:lab3_choices", NAN_EXPORTS)])
    _submit(course, LAB3, "shadow_ipython", PARTIAL3 + [("after:lab3_choices", SHADOW_CELL)])
    for rel, text in SHADOW_IPYTHON.items():
        path = course / "submitted" / "shadow_ipython" / LAB3 / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text.replace("@@COURSE@@", str(course)), encoding="utf-8")
    _make_gradebook(course)
    for sid in ("honest3", "bad_metadata"):  # what nbgrader autograde left: the feedback is made from these
        shutil.copytree(course / "submitted" / sid, course / "autograded" / sid)
    (course / "autograded" / "broken_json" / LAB3).mkdir(parents=True)  # one the grader cannot read as a notebook
    (course / "autograded" / "broken_json" / LAB3 / f"{LAB3}.ipynb").write_text("{", encoding="utf-8")
    _submit(course, LAB3, "broken_json", PARTIAL3)
    out = {"course": course, "errors": {}}
    for lab, sandbox in ((LAB2, True), (LAB3, True), (LAB3, False)):
        key = lab + ("" if sandbox else " --no-sandbox")
        try:  # the batch must complete: a failure here is a finding, reported by the tests below
            s = grading.grade_assignment(lab, course=course, jobs=2, gradebook=True, feedback=True, progress=False,
                                         sandbox=sandbox)
            out[key] = {g.student: g for g in s.grades}
            out[key + " writes"] = s.gradebook_writes
        except Exception as exc:  # noqa: BLE001
            out["errors"][key] = f"{type(exc).__name__}: {exc}"
    # what the instructor's terminal shows: `layerlab grade` itself, every result resumed
    out["cli"] = subprocess.run([sys.executable, "-m", "layerlab.cli", "grade", LAB3, "--course", str(course),
                                 "--resume", "--no-gradebook", "--no-feedback", "--quiet"],
                                capture_output=True, timeout=600, env={**os.environ, "LC_ALL": "C.UTF-8"})
    return out


def _make_gradebook(course):
    """An nbgrader gradebook knowing the honest learners (as ``nbgrader db student add`` makes it)."""
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        for sid in ("honest", "honest3"):
            gb.add_student(sid)


def _lab(graded, lab):
    assert lab not in graded["errors"], f"the batch of {lab} did not complete: {graded['errors'][lab]}"
    return graded[lab]


def _points(g):
    return {i.grade_id: i.points for i in g.items}


@pytest.mark.parametrize("lab", [LAB2, LAB3, LAB3 + " --no-sandbox"])
def test_the_batch_completes_with_every_report_and_the_summary(graded, lab):
    grades = _lab(graded, lab)
    reports = graded["course"] / "reports" / lab.split()[0]
    for student in grades:
        stem = grading.batch.report_stem(student)
        assert (reports / f"{stem}.html").is_file() and (reports / f"{stem}.md").is_file(), student
        assert (reports / "results" / f"{stem}.json").is_file(), student
    # a data file: an id holding a line break is one quoted cell (csv), as the gradebook holds it
    with open(reports / "summary.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    assert len(rows) == len(grades) + 1
    assert {g for g in grades if g.isprintable() or g == ESC_ID} <= {row[0] for row in rows}


@pytest.mark.parametrize("student", [LONG_ID, os.fsdecode(BYTES_ID), HTML_ID, ESC_ID, "bad_metadata", "nan_exports",
                                     "broken_json"])
@pytest.mark.parametrize("lab", [LAB3, LAB3 + " --no-sandbox"])
def test_lab3_attack_earns_exactly_the_honest_grade(graded, lab, student):
    grades = _lab(graded, lab)
    assert 0 < grades["honest3"].score < grades["classmate3"].score
    assert _points(grades[student]) == _points(grades["honest3"]), grades[student].error


@pytest.mark.parametrize("lab", [LAB2, LAB3, LAB3 + " --no-sandbox"])
def test_classmates_keep_full_marks(graded, lab):
    grades = _lab(graded, lab)
    spec = assignment_spec(lab.split()[0], RUBRIC)
    assert grades["classmate" if lab == LAB2 else "classmate3"].score == sum(it["points"] for it in spec["items"])


def test_a_long_or_odd_student_id_gets_reports_under_a_file_name_that_fits():
    stems = {grading.batch.report_stem(s) for s in (LONG_ID, os.fsdecode(BYTES_ID), LONG_ID + "x")}
    assert len(stems) == 3 and all(len(os.fsencode(s)) <= 100 for s in stems)
    assert all(s.encode("utf-8") for s in stems)
    assert grading.batch.report_stem("honest3") == "honest3"  # an ordinary id names its files as before
    for stem in stems:  # a learner who names their folder as a classmate's stem gets files of their own
        assert grading.batch.report_stem(stem) not in stems


@pytest.mark.parametrize("lab", [LAB2, LAB3])
def test_the_gradebook_is_written_whatever_a_classmates_id(graded, lab):
    _lab(graded, lab)
    assert lab + " writes" in graded  # write_gradebook ran to its end (no error for an id that is not text)


def test_reports_show_the_ids_as_text(graded):
    _lab(graded, LAB3)
    reports = graded["course"] / "reports" / LAB3
    html = (reports / f"{grading.batch.report_stem(HTML_ID)}.html").read_text(encoding="utf-8")
    assert "<img src=x" not in html and "&lt;img src=x" in html
    odd = (reports / f"{grading.batch.report_stem(os.fsdecode(BYTES_ID))}.html").read_text(encoding="utf-8")
    assert "stu\\udcff\\udcfe" in odd


def test_hidden_tests_never_reach_the_learners_process(graded):
    g = _lab(graded, LAB2)["hidden_tests"]
    assert f"{MARK}-HIDDEN 0" in g.log, g.log[-800:]
    assert g.score == 0 and "RuntimeError: none" in g.error, g.error  # what the cell could send back: nothing


def test_a_deliverable_file_named_in_html_is_text_in_the_reports(graded):
    grades = _lab(graded, LAB2)
    assert _points(grades["html_file_name"]) == _points(grades["honest"])
    html = (graded["course"] / "reports" / LAB2 / "html_file_name.html").read_text(encoding="utf-8")
    assert "<img src=x" not in html


def test_a_shadowing_ipython_runs_under_the_guard_and_is_what_the_learner_graded(graded):
    sandboxed, trusted = _lab(graded, LAB3)["shadow_ipython"], _lab(graded, LAB3 + " --no-sandbox")["shadow_ipython"]
    assert f"{MARK}-SHADOW ['no', 'no', 'no']" in trusted.log, trusted.log[-800:]  # refused by the audit hook
    # in bwrap: no course to read, and programs may run (the namespaces are the boundary, not a hook)
    assert f"{MARK}-SHADOW ['no', 'yes', 'no']" in sandboxed.log, sandboxed.log[-800:]
    honest = _points(_lab(graded, LAB3)["honest3"])
    assert _points(sandboxed) == honest and _points(trusted) == honest
    for g in (sandboxed, trusted):
        assert f"{MARK}-NUMPY-SHADOW" not in g.log and f"{MARK}-UNICODEDATA-SHADOW" not in g.log


@pytest.mark.parametrize("lab", [LAB3, "lab1_audit"])
def test_non_finite_and_huge_numbers_in_an_answers_file_score_nothing_and_stay_json(lab):
    spec = assignment_spec(lab, RUBRIC)
    for literal in ("NaN", "Infinity", "-Infinity", "1e999", "1e308", "-0.0", "[NaN]", '{"x": NaN}'):
        # every answer the rubric reads, and every key of the truth's dicts, set to the literal, as json.loads reads it
        text = json.dumps({"findings": {}, "choices": {}})
        answers = json.loads(text)
        for it in spec["items"]:
            head, *rest = it["answer"].split(".")
            node = answers.setdefault(head, {})
            for part in rest[:-1]:
                node = node.setdefault(part, {})
            node[rest[-1]] = json.loads(f'{{"v": {literal}}}')["v"] if rest else None
        items = score_answers(answers, spec)
        assert len(items) == len(spec["items"])
        json.dumps([(i.value, i.target, i.message) for i in items], allow_nan=False)  # the report's values are JSON
        assert all(i.points == 0 for i in items), (literal, [(i.name, i.points) for i in items])


def test_feedback_is_written_for_the_class_whatever_one_autograded_notebook_holds(graded):
    _lab(graded, LAB3 + " --no-sandbox")  # the last batch: its verdicts are in the feedback notebooks
    nb = json.loads((graded["course"] / "autograded" / "honest3" / LAB3 / f"{LAB3}.ipynb").read_text(encoding="utf-8"))
    verdicts = [o for c in nb["cells"] for o in c.get("outputs", []) if "Grader's verdict" in "".join(o.get("text", ""))]
    assert len(verdicts) == len(assignment_spec(LAB3, RUBRIC)["items"])
    bad = json.loads((graded["course"] / "autograded" / "bad_metadata" / LAB3 / f"{LAB3}.ipynb").read_text(encoding="utf-8"))
    assert any("Grader's verdict" in "".join(o.get("text", "")) for c in bad["cells"] for o in c.get("outputs", []))


def test_resume_grades_again_under_a_changed_rubric(tmp_path):
    # the instructor finds a wrong expected answer in the rubric, fixes it and resumes: no result scored under the old
    # rubric may be reused (the honest learner's "native" for the news explainer's music becomes the right answer)
    course = _course(tmp_path / "course", [LAB3])
    _submit(course, LAB3, "honest3", PARTIAL3)
    _submit(course, LAB3, "classmate3", [])
    first = grading.grade_assignment(LAB3, course=course, jobs=2, gradebook=False, feedback=False, progress=False)
    before = {g.student: g.score for g in first.grades}
    rubric = json.loads((course / "rubric.json").read_text(encoding="utf-8"))
    item = next(it for it in rubric["assignments"][LAB3]["items"] if it["grade_id"] == "choice_news_explainer")
    item["expected"]["music"] = "native"
    (course / "rubric.json").write_text(json.dumps(rubric), encoding="utf-8")
    again = grading.grade_assignment(LAB3, course=course, jobs=2, gradebook=False, feedback=False, progress=False,
                                     resume=True)
    after = {g.student: g.score for g in again.grades}
    assert before["honest3"] < before["classmate3"]
    assert after == {"honest3": before["classmate3"], "classmate3": before["honest3"]}
    stored = json.loads((course / "reports" / LAB3 / "results" / "honest3.json").read_text(encoding="utf-8"))
    assert stored["score"] == after["honest3"]


def test_layerlab_grade_prints_one_line_per_learner_and_no_terminal_escapes(graded):
    grades = _lab(graded, LAB3 + " --no-sandbox")
    run = graded["cli"]
    assert run.returncode == 0, run.stderr.decode("utf-8", "replace")[-800:]
    out = run.stdout.decode("utf-8")  # valid UTF-8: an id that is not text is shown with escapes
    assert "\x1b" not in out and "\x07" not in out
    lines = [line for line in out.splitlines() if " / " in line]
    assert len(lines) == len(grades)
    assert sum(line.startswith("honest3 ") for line in lines) == 1
    assert any(line.startswith("stu\\udcff\\udcfe ") for line in lines), out
