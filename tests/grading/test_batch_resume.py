"""A whole-class batch killed part way and resumed ends with the same gradebook as an uninterrupted run.

A class of 10 lab-2 submissions (good, flawed and broken ones, as in the benchmark) is
graded twice from the same start:

- course A: ``layerlab grade`` once, to the end;
- course B: ``layerlab grade`` killed (SIGKILL to its whole process group) once a few
  results are stored, then ``layerlab grade --resume``.

The gradebooks (every auto-graded cell's score), the class summaries and the stored
results must be identical, and the resumed run must grade only what was left.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from layerlab.grading import assignment_spec, load_rubric
from test_adversarial import _release_copy
from test_nbgrader_e2e import MONKEYPATCH, _fill

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
RUBRIC = load_rubric(REPO / "autograder" / "rubric.json")
LAB2 = "lab2_hybrid_mix"
SPEC = assignment_spec(LAB2, RUBRIC)

# student -> edits to the reference solution (None: the untouched release copy); "!json": not a notebook
CLASS = {
    "s01_ref": [],
    "s02_ref": [],
    "s03_quiet": [("TARGET_LUFS = -14.0", "TARGET_LUFS = -20.0")],
    "s04_sfx_late": [("SFX_NUDGE_S = {}", 'SFX_NUDGE_S = {"cup_a": 0.120}')],
    "s05_music_loud": [("MUSIC_TRIM_DB = 0.0", "MUSIC_TRIM_DB = 10.0"), ("DUCK = True", "DUCK = False")],
    "s06_untouched": None,
    "s07_patcher": [("MUSIC_TRIM_DB = 0.0", "MUSIC_TRIM_DB = 10.0"), ("DUCK = True", "DUCK = False"),
                    ("after:lab2_export", MONKEYPATCH)],
    "s08_not_json": "!json",
    "s09_loop": [("after:lab2_export", "while True:\n    pass")],
    "s10_crash": [("### BEGIN SOLUTION", "import os\nos._exit(1)\n### BEGIN SOLUTION")],
}


VENV_BIN = str(Path(sys.executable).parent)


def _venv_path() -> str:
    """PATH with the kit's venv first (nbgrader's gradebook runs ``alembic`` from PATH)."""
    return VENV_BIN + os.pathsep + os.environ.get("PATH", "")


def build_class(course: Path, students: dict = CLASS, *, gradebook: bool = True) -> None:
    """An nbgrader-shaped course with ``source/``, ``submitted/`` and (``gradebook``) a gradebook holding every submission."""
    from nbgrader.api import Gradebook

    shutil.copytree(REPO / "autograder" / "source" / LAB2, course / "source" / LAB2)
    for sid, edits in students.items():
        path = _release_copy(LAB2, course / "submitted" / sid / LAB2)
        if edits == "!json":
            path.write_text(path.read_text()[:3000], encoding="utf-8")
        elif edits is not None:
            _fill(path, LAB2, edits)
    if not gradebook:
        return
    old_path, os.environ["PATH"] = os.environ.get("PATH", ""), _venv_path()
    try:
        _gradebook(course, students)
    finally:
        os.environ["PATH"] = old_path


def _gradebook(course: Path, students: dict) -> None:
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        gb.update_or_create_assignment(LAB2)
        gb.update_or_create_notebook(SPEC["notebook"], LAB2)
        for it in SPEC["items"]:
            gb.update_or_create_grade_cell(it["grade_id"], SPEC["notebook"], LAB2, max_score=float(it["points"]),
                                           cell_type="code")
        for sid in students:
            gb.update_or_create_student(sid)
            gb.add_submission(LAB2, sid)


def gradebook_scores(course: Path) -> dict:
    from nbgrader.api import Gradebook

    out = {}
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        for sub in gb.find_assignment(LAB2).submissions:
            for nb in sub.notebooks:
                for g in nb.grades:
                    out[(sub.student.id, g.name)] = (g.auto_score, g.manual_score)
    return out


def _cmd(course: Path, *extra) -> list[str]:
    return [sys.executable, "-m", "layerlab.cli", "grade", LAB2, "--course", str(course), "--jobs", "2", "--timeout", "15",
            "--no-feedback", *extra]


def _env() -> dict:
    env = dict(os.environ, PATH=_venv_path())
    env.setdefault("NUMBA_CACHE_DIR", "/tmp/layerlab-numba")
    env["MPLBACKEND"] = "Agg"
    return env


def _stored(course: Path) -> dict:
    results = course / "reports" / LAB2 / "results"
    out = {}
    for p in sorted(results.glob("*.json")):
        d = json.loads(p.read_text())
        out[p.stem] = {"items": [(i["grade_id"], i["points"], i["message"]) for i in d["items"]], "error": d["error"],
                       "sha": d["submission_sha256"]}
    return out


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("resume")
    a, b = root / "A", root / "B"
    build_class(a)
    shutil.copytree(a, b)
    full = subprocess.run(_cmd(a), capture_output=True, text=True, env=_env(), timeout=600)
    assert full.returncode == 0, full.stderr[-3000:]

    proc = subprocess.Popen(_cmd(b), stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_env(), start_new_session=True)
    results = b / "reports" / LAB2 / "results"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and len(list(results.glob("*.json"))) < 3 and proc.poll() is None:
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    killed_with = sorted(p.stem for p in results.glob("*.json"))
    before = {s: (results / f"{s}.json").stat().st_mtime_ns for s in killed_with}
    time.sleep(1.0)
    # nothing the killed batch started is still running
    leftovers = subprocess.run(["pgrep", "-f", f"layerlab.cli grade.*{b}"], capture_output=True, text=True).stdout.split()
    resumed = subprocess.run(_cmd(b, "--resume"), capture_output=True, text=True, env=_env(), timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    after = {s: (results / f"{s}.json").stat().st_mtime_ns for s in killed_with}
    return {"a": a, "b": b, "killed_with": killed_with, "before": before, "after": after, "full": full,
            "resumed": resumed, "leftovers": leftovers}


def test_the_batch_was_really_interrupted(runs):
    assert 3 <= len(runs["killed_with"]) < len(CLASS)
    assert runs["leftovers"] == []


def test_resume_grades_only_what_was_left(runs):
    # results stored before the kill were reused, not recomputed
    assert runs["after"] == runs["before"]


def test_resume_says_what_it_reused(runs):
    kept, total = len(runs["killed_with"]), len(CLASS)
    assert (f"resume: kept the stored result of {kept} of {total} submissions; graded now: {total - kept} "
            f"({total - kept} with no stored result)") in runs["resumed"].stdout, runs["resumed"].stdout
    assert "resume:" not in runs["full"].stdout


def _one_result_grader(adir, *, student, sandbox, **kw):
    """A stand-in for the real grader: full marks, instantly (what is tested is the batch's reuse of stored results)."""
    from layerlab.grading.submission import submission_hash
    from layerlab.grading.results import SubmissionGrade

    return SubmissionGrade(assignment=LAB2, student=student, submission_sha256=submission_hash(adir),
                           sandbox="bwrap" if sandbox else "none")


@pytest.mark.parametrize("change, why", [
    (None, None),
    ("files", "1 changed since"),
    ("rubric", "1 scored under another rubric"),
    ("sandbox", "1 stored without the sandbox"),
    ("seal", "1 whose stored result the grader cannot prove it wrote"),
])
def test_resume_says_why_it_graded_again(tmp_path, change, why):
    from layerlab.grading import grade_assignment

    course = tmp_path / "course"
    build_class(course, {"s01_ref": [], "s02_ref": []}, gradebook=False)
    kw = dict(course=course, gradebook=False, feedback=False, progress=False, grader=_one_result_grader, jobs=1)
    grade_assignment(LAB2, sandbox=change != "sandbox", **kw)
    if change == "files":
        (course / "submitted" / "s02_ref" / LAB2 / "notes.txt").write_text("a file added after grading")
    elif change == "rubric":
        rubric = json.loads((REPO / "autograder" / "rubric.json").read_text(encoding="utf-8"))
        rubric["assignments"][LAB2]["items"][0]["points"] += 1
        (course / "rubric.json").write_text(json.dumps(rubric), encoding="utf-8")
    elif change == "seal":
        stored = course / "reports" / LAB2 / "results" / "s02_ref.json"
        forged = json.loads(stored.read_text(encoding="utf-8"))
        forged["elapsed_s"] = 1.5
        stored.write_text(json.dumps(forged), encoding="utf-8")
    again = grade_assignment(LAB2, sandbox=True, resume=True, **kw)
    expected = {None: 2, "files": 1, "seal": 1, "rubric": 0, "sandbox": 0}[change]
    assert again.kept == expected
    regraded = ", ".join(f"{n} {reason}" for reason, n in again.regraded.items())
    assert regraded == ("" if why is None else why.replace("1", str(2 - expected), 1)), regraded


def test_gradebook_identical_to_an_uninterrupted_run(runs):
    a, b = gradebook_scores(runs["a"]), gradebook_scores(runs["b"])
    assert len(a) == len(CLASS) * len(SPEC["items"])
    assert all(auto is not None for auto, _ in a.values())
    assert a == b
    # the class is a real mix: full marks, partial marks and zeros
    totals = {}
    for (sid, _), (auto, _) in a.items():
        totals[sid] = totals.get(sid, 0.0) + auto
    full = sum(float(it["points"]) for it in SPEC["items"])
    assert totals["s06_untouched"] == 0 and totals["s08_not_json"] == 0
    assert 0 < totals["s03_quiet"] < full and totals["s07_patcher"] == totals["s05_music_loud"] < full
    assert max(totals.values()) >= full - 2


def test_summary_and_stored_results_identical(runs):
    assert _stored(runs["a"]) == _stored(runs["b"])
    csv_a = (runs["a"] / "reports" / LAB2 / "summary.csv").read_text()
    assert csv_a == (runs["b"] / "reports" / LAB2 / "summary.csv").read_text()
    assert "s09_loop" in csv_a and "did not finish within 15 s" in csv_a


def test_progress_is_shown(runs):
    assert "grading lab2_hybrid_mix" in runs["full"].stderr and f"{len(CLASS)}/{len(CLASS)}" in runs["full"].stderr


def test_an_interrupted_batch_closes_its_progress_bar_before_it_says_so(tmp_path, monkeypatch):
    # Ctrl-C: the bar was left open, and tqdm drew it once more at exit, below the command's "interrupted" line
    from layerlab.grading import batch, grade_assignment

    bars = []
    real = batch._progress

    def kept(*a, **kw):
        bars.append(real(*a, **kw))
        return bars[-1]

    def interrupted(adir, **kw):
        raise KeyboardInterrupt

    monkeypatch.setattr(batch, "_progress", kept)
    course = tmp_path / "course"
    build_class(course, {"s01_ref": []}, gradebook=False)
    with pytest.raises(KeyboardInterrupt):
        grade_assignment(LAB2, course=course, gradebook=False, feedback=False, progress=True, grader=interrupted, jobs=1)
    assert len(bars) == 1 and bars[0].disable  # tqdm marks a closed bar disabled: nothing is drawn after this


def test_resume_survives_a_submission_it_cannot_read(tmp_path, monkeypatch):
    """A learner's file of mode 0o004 (others may read it) is copied by ``nbgrader collect`` with that mode: the
    instructor who owns the copy cannot read it. ``--resume`` hashed it outside the batch's guard and the whole
    batch ended in a PermissionError; it is graded again instead."""
    from layerlab.grading import batch, grade_assignment
    from layerlab.grading import submission as _submission

    course = tmp_path / "course"
    build_class(course, {"s01_ref": [], "s02_ref": []}, gradebook=False)
    kw = dict(course=course, gradebook=False, feedback=False, progress=False, grader=_one_result_grader, jobs=1)
    grade_assignment(LAB2, sandbox=True, **kw)
    real = _submission.submission_hash

    def unreadable(folder):
        if "s02_ref" in str(folder):
            raise PermissionError(13, "Permission denied", str(folder))
        return real(folder)

    monkeypatch.setattr(batch, "submission_hash", unreadable)
    again = grade_assignment(LAB2, sandbox=True, resume=True, **dict(kw, grader=lambda adir, **k: (
        _one_result_grader(adir, **k) if "s02_ref" not in str(adir) else
        __import__("layerlab.grading.results", fromlist=["x"]).SubmissionGrade(assignment=LAB2, student=k["student"],
                                                                                 error="PermissionError"))))
    assert again.kept == 1
    assert again.regraded == {"whose files could not be read": 1}
