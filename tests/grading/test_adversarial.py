"""Hostile submissions through the real grader: none earns more than the honest work in it.

One module-scoped class is graded with ``layerlab.grading.grade_assignment`` (a worker
process per submission, two at a time, as ``layerlab grade --jobs 2`` does). Every
lab-2 submission starts from the lab's notebook with the hidden tests stripped (what
the learner receives) and the same honest but flawed work in its solution cell: the
reference mix mastered to -20 LUFS instead of -14, so the loudness item fails. Each
attack is added to that work. The honest submission's grade is the ceiling: an attack
that worked would lift the loudness item (or any other) above it.

Lab 3 (answers) adds the attacks that target answer comparison: objects whose
``__eq__`` is always true and reading the expected answers from the rubric.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import nbformat
import pytest

from layerlab import grading
from layerlab.grading import assignment_spec, load_rubric, strip_hidden_tests
from test_nbgrader_e2e import MONKEYPATCH, _fill

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
RUBRIC = load_rubric(REPO / "autograder" / "rubric.json")
LAB2, LAB3 = "lab2_hybrid_mix", "lab3_choose_approach"
QUIET = [("TARGET_LUFS = -14.0", "TARGET_LUFS = -20.0")]

# Filled in by the fixture: where the instructor's files of the test course live.
COURSE_MARK = "@@COURSE@@"

ALWAYS_EQUAL = '''
class _Yes(float):
    def __eq__(self, other): return True
    def __ne__(self, other): return False
    def __bool__(self): return True
    __hash__ = float.__hash__
import layerlab.checks
layerlab.checks.CheckResult.__eq__ = lambda self, other: True
report = _Yes(15.0)
TARGET_LUFS = _Yes(-14.0)
'''

CUSTOM_EXC = '''
ip = get_ipython()
ip.set_custom_exc((BaseException,), lambda *a, **k: None)
import sys
sys.excepthook = lambda *a: None
assert False, "this failure would be swallowed in the kernel"
'''

SHOWTRACEBACK = '''
try:
    from IPython.core.interactiveshell import InteractiveShell
    InteractiveShell.showtraceback = lambda *a, **k: None
    InteractiveShell.showsyntaxerror = lambda *a, **k: None
except ImportError:
    pass
import unittest
unittest.TestCase.assertTrue = lambda *a, **k: None
import builtins
builtins.AssertionError = type("AssertionError", (Exception,), {})
'''

SNIFF = '''
import os, json
if os.environ.get("NBGRADER_EXECUTION") or os.environ.get("LAYERLAB_GRADING"):
    # under grading: claim full marks everywhere a grader might look
    fake = {"score": 15, "max_score": 15, "items": [{"grade_id": "check_loudness", "points": 2, "passed": True}]}
    for name in ("results.json", "report.json", "grade.json", "deliverable/report.json", "deliverable/checks.json"):
        with open(name, "w") as fh:
            json.dump(fake, fh)
    print("[PASS] loudness: -14 LUFS -> 2/2 points")
'''

FAKE_FILES_IN_COURSE = '''
import json, os
course = "@@COURSE@@"
fake = {"assignment": "lab2_hybrid_mix", "student": "fake_files", "submission_sha256": "",
        "items": [{"grade_id": "check_loudness", "name": "loudness", "points": 2.0, "max_points": 2.0, "passed": True}]}
wrote = []
for rel in ("reports/lab2_hybrid_mix/results/fake_files.json", "reports/lab2_hybrid_mix/results/honest.json"):
    try:
        os.makedirs(os.path.dirname(os.path.join(course, rel)), exist_ok=True)
        with open(os.path.join(course, rel), "w") as fh:
            json.dump(fake, fh)
        wrote.append(rel)
    except OSError as exc:
        print("refused:", exc)
'''

READ_SOLUTION = '''
import json
src = None
for path in ("@@COURSE@@/source/lab2_hybrid_mix/lab2_hybrid_mix.ipynb", "@@REPO@@/labs/lab2_hybrid_mix/lab2_hybrid_mix.ipynb"):
    try:
        nb = json.load(open(path))
    except OSError as exc:
        print("refused:", exc)
        continue
    src = "".join(next(c["source"] for c in nb["cells"] if c["metadata"].get("nbgrader", {}).get("grade_id") == "lab2_mix"))
    break
if src:
    exec(src)  # the instructor's reference mix, at -14 LUFS
    render = stack.render()
    export_deliverable(stack, DELIVERABLE, render=render)
'''

READ_SOLUTION_PATHLIB_AND_SHELL = '''
import pathlib, subprocess, os, glob
try:
    found = glob.glob("@@REPO@@/labs/*/*.ipynb") + glob.glob("@@COURSE@@/source/*/*.ipynb")
except OSError as exc:
    print("refused:", exc)
for cmd in (["cat", "@@REPO@@/labs/lab2_hybrid_mix/lab2_hybrid_mix.ipynb"],):
    try:
        text = subprocess.run(cmd, capture_output=True, text=True).stdout
    except OSError as exc:
        text = ""
        print("refused:", exc)
try:
    os.system("cp -r @@COURSE@@/source/lab2_hybrid_mix/reference_deliverable/* deliverable/")
except OSError as exc:
    print("refused:", exc)
try:
    text = pathlib.Path("@@REPO@@/labs/lab2_hybrid_mix/lab2_hybrid_mix.ipynb").read_text()
except OSError as exc:
    print("refused:", exc)
'''

COPY_REFERENCE = '''
import os, shutil
try:
    shutil.copytree("@@COURSE@@/source/lab2_hybrid_mix/reference_deliverable", "stolen")
    shutil.rmtree(DELIVERABLE)
    os.rename("stolen", DELIVERABLE)
except OSError as exc:
    print("refused:", exc)
'''

HARDLINK_REFERENCE = '''
import os
ref = "@@COURSE@@/source/lab2_hybrid_mix/reference_deliverable"
for name in ("mix.wav",):
    try:
        os.link(os.path.join(ref, name), os.path.join(DELIVERABLE, "linked.wav"))
        os.replace(os.path.join(DELIVERABLE, "linked.wav"), os.path.join(DELIVERABLE, name))
    except OSError as exc:
        print("refused:", exc)
'''

SYMLINK_REFERENCE = '''
import os, shutil
shutil.rmtree(DELIVERABLE)
os.symlink("@@OUTSIDE@@", DELIVERABLE)
'''

SYMLINK_STEM = '''
import os
os.remove("deliverable/mix.wav")
os.symlink("@@OUTSIDE@@/mix.wav", "deliverable/mix.wav")
'''

HUGE_OUTPUT = '''
import sys
line = "x" * 1023 + "\\n"
for _ in range(60 * 1024):   # 60 MB of printed output
    sys.stdout.write(line)
'''

ZYGOTE_ESCAPE = '''
import glob, json, os, socket, tempfile
ref = "@@COURSE@@/source/lab2_hybrid_mix/reference_deliverable"
cell = f"import shutil\\nshutil.rmtree('deliverable', ignore_errors=True)\\nshutil.copytree({ref!r}, 'deliverable')"
with open("steal.ipynb", "w") as fh:  # for a task without the guard: put the reference in place of the deliverable
    json.dump({"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [
        {"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None, "source": cell}]}, fh)
for path in glob.glob(os.path.join(tempfile.gettempdir(), "layerlab-zygote-*", "z.sock")):
    try:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(path)
        args = {"notebook": os.path.abspath("steal.ipynb"), "out": os.path.abspath("x.json"), "exports": [],
                "workdir": os.getcwd(), "protect": [], "memory_mb": 4096, "env": {}}
        s.sendall((json.dumps({"task": "exec", "args": args, "new_session": True}) + "\\n").encode())
        print("the zygote answered:", s.recv(100), s.recv(100))
    except OSError as exc:
        print("refused:", exc)
'''

KILL_THE_GRADER = '''
import os, signal
for pid in (os.getppid(),):  # the grader's process that forked this one
    try:
        os.kill(pid, signal.SIGKILL)
    except OSError as exc:
        print("refused:", exc)
'''


def _locked_edit(nb):
    """Rewrite the locked export cell to skip the export and the setup cell to raise."""
    for c in nb.cells:
        gid = c.metadata.get("nbgrader", {}).get("grade_id")
        if gid == "lab2_export":
            c.source = "print('export skipped')"
        if gid == "lab2_setup":
            c.source = "raise SystemExit('setup disabled')\n" + c.source
    return nb


def _delete_grade_cells(nb):
    nb.cells = [c for c in nb.cells if not c.metadata.get("nbgrader", {}).get("grade")]
    return nb


def _duplicate_grade_cells(nb):
    out = []
    for c in nb.cells:
        out.append(c)
        meta = c.metadata.get("nbgrader", {})
        if meta.get("grade") or meta.get("grade_id") == "lab2_export":
            dup = nbformat.from_dict(json.loads(json.dumps(c)))
            dup.source = c.source + "\nTARGET_LUFS = -14.0\nprint('[PASS] all checks')"
            out.append(dup)
    nb.cells = out
    return nb


def _change_cell_types(nb):
    for c in nb.cells:
        meta = c.metadata.get("nbgrader", {})
        if meta.get("grade_id") == "lab2_export":
            c.cell_type = "markdown"
            c.pop("outputs", None)
            c.pop("execution_count", None)
        elif meta.get("grade"):
            c.cell_type = "raw"
            c.pop("outputs", None)
            c.pop("execution_count", None)
    return nb


# case -> (extra cell after the export, or None; notebook transform, or None)
LAB2_CASES = {
    "monkeypatch": (MONKEYPATCH, None),
    "always_equal": (ALWAYS_EQUAL, None),
    "custom_exc": (CUSTOM_EXC, None),
    "showtraceback": (SHOWTRACEBACK, None),
    "sniff_grading": (SNIFF, None),
    "fake_files": (FAKE_FILES_IN_COURSE, None),
    "read_solution": (READ_SOLUTION, None),
    "read_by_shell": (READ_SOLUTION_PATHLIB_AND_SHELL, None),
    "copy_reference": (COPY_REFERENCE, None),
    "hardlink_reference": (HARDLINK_REFERENCE, None),
    "symlink_deliverable": (SYMLINK_REFERENCE, None),
    "symlink_stem": (SYMLINK_STEM, None),
    "edit_locked": (None, _locked_edit),
    "delete_grade_cells": (None, _delete_grade_cells),
    "duplicate_grade_cells": (None, _duplicate_grade_cells),
    "change_cell_types": (None, _change_cell_types),
    "huge_output": (HUGE_OUTPUT, None),
    "zygote_escape": (ZYGOTE_ESCAPE, None),
    "kill_the_grader": (KILL_THE_GRADER, None),
}
# attacks that leave no deliverable to measure: zero, with the reason
ZERO_CASES = {"symlink_deliverable", "symlink_stem"}


def _release_copy(lab: str, dest: Path) -> Path:
    """The learner's copy: the source notebook without hidden tests and solutions (as nbgrader releases it)."""
    nb = nbformat.read(str(REPO / "labs" / lab / f"{lab}.ipynb"), as_version=4)
    for c in nb.cells:
        c.source = strip_hidden_tests(c.source)
        if "### BEGIN SOLUTION" in c.source:
            head, rest = c.source.split("### BEGIN SOLUTION", 1)
            tail = rest.split("### END SOLUTION", 1)[1] if "### END SOLUTION" in rest else ""
            c.source = head + "# YOUR CODE HERE\nraise NotImplementedError()" + tail
    dest.mkdir(parents=True)
    for extra in (REPO / "labs" / lab).iterdir():
        if extra.suffix != ".ipynb" and extra.is_file():
            shutil.copy(extra, dest / extra.name)
    path = dest / f"{lab}.ipynb"
    nbformat.write(nb, str(path))
    return path


def _submit(course: Path, lab: str, sid: str, edits, transform=None, subs=None) -> None:
    path = _release_copy(lab, course / "submitted" / sid / lab)
    if subs:
        edits = [(o, n.replace(COURSE_MARK, str(course)).replace("@@REPO@@", str(REPO))
                  .replace("@@OUTSIDE@@", str(course.parent / "outside_reference"))) for o, n in edits]
    _fill(path, lab, edits)
    if transform is not None:
        nbformat.write(transform(nbformat.read(str(path), as_version=4)), str(path))


def _reference_deliverable(dest: Path) -> None:
    from layerlab.mix.ducking import Ducking
    from layerlab.mix.master import Master
    from layerlab.mix.scenes import load_scene
    from layerlab.mix.session import export_deliverable
    from layerlab.mix.stack import LayerStack

    sol = grading.learner_code_cells(nbformat.read(str(REPO / "labs" / LAB2 / f"{LAB2}.ipynb"), as_version=4))
    scene = load_scene("cafe_dialogue")
    ns = dict(LayerStack=LayerStack, Ducking=Ducking, Master=Master, scene=scene, cues=scene.cues)
    exec(next(s for s in sol if "TARGET_LUFS" in s), ns)
    export_deliverable(ns["stack"], dest)


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    course = tmp_path_factory.mktemp("adversarial") / "course"
    for lab in (LAB2, LAB3):
        shutil.copytree(REPO / "labs" / lab, course / "source" / lab)
    shutil.copy(REPO / "autograder" / "rubric.json", course / "rubric.json")
    _reference_deliverable(course / "source" / LAB2 / "reference_deliverable")
    # the same files outside the course (no guard there: the grader's own refusal of links is what is tested)
    shutil.copytree(course / "source" / LAB2 / "reference_deliverable", course.parent / "outside_reference")
    _submit(course, LAB2, "honest", QUIET)
    for sid, (extra, transform) in LAB2_CASES.items():
        edits = QUIET + ([("after:lab2_export", extra)] if extra else [])
        _submit(course, LAB2, sid, edits, transform, subs=True)
    for sid, edits in LAB3_CASES.items():
        _submit(course, LAB3, sid, edits, subs=True)
    out = {}
    for lab in (LAB2, LAB3):
        s = grading.grade_assignment(lab, course=course, jobs=2, gradebook=False, feedback=False, progress=False)
        out[lab] = {g.student: g for g in s.grades}
    # a second, resumed run must not pick up anything the learners' code wrote
    again = grading.grade_assignment(LAB2, course=course, jobs=2, gradebook=False, feedback=False, progress=False,
                                     resume=True)
    out["resumed"] = {g.student: g for g in again.grades}
    out["course"] = course
    return out


def test_reference_deliverable_is_worth_more_than_the_honest_work(graded):
    # the stolen goods are real: measured directly, the reference deliverable earns more
    course = graded["course"]
    spec = assignment_spec(LAB2, RUBRIC)
    results, _ = grading.measure_deliverable(course / "source" / LAB2 / "reference_deliverable", scene=spec["scene"],
                                             target=spec["target"], figures=False)
    items = {i.name: i.points for i in grading.score_mix(results, {}, spec)}
    honest = graded[LAB2]["honest"].points_by_name()
    assert items["loudness"] > honest["loudness"]


def test_honest_flawed_mix_loses_the_loudness_points(graded):
    honest = graded[LAB2]["honest"]
    assert not honest.error
    assert honest.item("loudness").points == 0 and "-20" in honest.item("loudness").message
    assert 0 < honest.score < honest.max_score


@pytest.mark.parametrize("case", sorted(LAB2_CASES))
def test_attack_earns_no_more_than_the_honest_work(graded, case):
    honest, g = graded[LAB2]["honest"], graded[LAB2][case]
    for it in g.items:
        assert it.points <= honest.item(it.grade_id).points, (case, it.name, it.points, it.message)
    if case in ZERO_CASES:
        assert g.score == 0 and "symbolic link" in g.error
    else:
        # the attack changed nothing the grader measures: exactly the honest grade
        assert g.points_by_name() == honest.points_by_name(), (case, g.error, g.log[-1500:])
    # resumed from the stored results: the same points, nothing planted by the learner's code
    assert graded["resumed"][case].points_by_name() == g.points_by_name()
    assert graded["resumed"]["honest"].points_by_name() == honest.points_by_name()


@pytest.mark.parametrize("case", ["read_solution", "read_by_shell", "copy_reference", "hardlink_reference", "fake_files"])
def test_instructor_files_are_refused_to_learner_code(graded, case):
    g = graded[LAB2][case]
    assert "PermissionError" in g.log or "refused:" in g.log, g.log[-2000:]
    assert "outside what your notebook may read or write" in g.log or "may not start other programs" in g.log


@pytest.mark.parametrize("case, words", [("zygote_escape", "local (Unix) sockets are not available"),
                                         ("kill_the_grader", "may not signal other processes")])
def test_the_graders_own_processes_are_out_of_reach(graded, case, words):
    g = graded[LAB2][case]
    assert "refused:" in g.log and words in g.log, g.log[-2000:]
    assert not g.incomplete and "zygote answered" not in g.log


def test_fake_result_files_never_reach_the_course(graded):
    results = graded["course"] / "reports" / LAB2 / "results"
    for sid in ("honest", "fake_files"):
        stored = grading.SubmissionGrade.from_dict(json.loads((results / f"{sid}.json").read_text()))
        assert stored.submission_sha256 and stored.points_by_name() == graded[LAB2][sid].points_by_name()
    assert graded[LAB2]["fake_files"].item("loudness").points == 0


def test_huge_printed_output_is_bounded(graded):
    g = graded[LAB2]["huge_output"]
    assert len(g.log) < 40000
    assert "bytes of printed output left out" in g.log


def test_duplicated_locked_cells_run_once(graded):
    # restoring the source's locked cells drops the duplicate of the export cell
    g = graded[LAB2]["duplicate_grade_cells"]
    assert g.log.count("exported deliverable") == 1


# ------------------------------------------------------------------------------------ lab 3 (answers)

PARTIAL3 = [('"news_explainer": {"approach": "hybrid", "dialogue": "post", "sfx": "native", "ambience": "native", "music": "post"}',
             '"news_explainer": {"approach": "hybrid", "dialogue": "post", "sfx": "native", "ambience": "native", "music": "native"}')]

EQ_ANSWERS = '''
class _Any(str):
    def __eq__(self, other): return True
    def __ne__(self, other): return False
    __hash__ = str.__hash__
    def lower(self): return self
    def strip(self): return self
    def replace(self, *a): return self
class _AnyDict(dict):
    def get(self, key, default=None): return _Any("post")
    def __getitem__(self, key): return _Any("post")
    def __contains__(self, key): return True
choices = _AnyDict({k: _AnyDict({kk: _Any(vv) for kk, vv in v.items()}) for k, v in choices.items()})
'''

READ_RUBRIC = '''
import json
for path in ("@@REPO@@/autograder/rubric.json", "@@COURSE@@/rubric.json"):
    try:
        rubric = json.load(open(path))
    except OSError as exc:
        print("refused:", exc)
        continue
    for it in rubric["assignments"]["lab3_choose_approach"]["items"]:
        choices[it["label"]] = dict(it["expected"])
'''

LAB3_CASES = {
    "honest3": PARTIAL3,
    "eq_answers": PARTIAL3 + [("after:lab3_choices", EQ_ANSWERS)],
    "read_rubric": PARTIAL3 + [("after:lab3_choices", READ_RUBRIC)],
}


@pytest.mark.parametrize("case", ["eq_answers", "read_rubric"])
def test_answer_attacks_earn_no_more_than_the_honest_answers(graded, case):
    honest, g = graded[LAB3]["honest3"], graded[LAB3][case]
    full = sum(it["points"] for it in assignment_spec(LAB3, RUBRIC)["items"])
    assert 0 < honest.score < full
    for it in g.items:
        assert it.points <= honest.item(it.grade_id).points, (case, it.name, it.message)
    if case == "read_rubric":
        assert g.points_by_name() == honest.points_by_name()
        assert "refused:" in g.log


def test_guard_is_not_in_the_graders_own_process():
    # the grader itself still reads the rubric and the labs (the hook lives only in the learner's process)
    assert load_rubric(REPO / "autograder" / "rubric.json")["assignments"]
    assert (REPO / "labs" / LAB2 / f"{LAB2}.ipynb").read_text(encoding="utf-8")
    assert sys.version_info >= (3, 8)  # audit hooks
