"""A fault of the grader's own set-up is never scored as the learners' zero (issue #12).

- Before a batch, ``layerlab grade`` runs an empty notebook exactly as it runs submissions. A
  stray ``PYTHONPATH`` (pointing at another copy of the kit, which the sandbox's ``python -I``
  cannot import) used to give every learner 0 with "the notebook process ended early"; now
  the command refuses in one line and grades nobody.
- When the sandbox breaks mid-batch (after the probe passed), each submission it broke on is
  "not graded (grader fault)": no score, nothing stored, ``--resume`` grades it again.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from layerlab.grading import batch, sandbox
from test_batch_resume import LAB2, _env, build_class

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def course(tmp_path_factory) -> Path:
    """One untouched release copy of lab 2, collected (no gradebook)."""
    root = tmp_path_factory.mktemp("setup-course")
    build_class(root, {"s1_untouched": None}, gradebook=False)
    return root


def _fresh(course: Path, tmp_path: Path) -> Path:
    out = tmp_path / "course"
    shutil.copytree(course, out)
    return out


def test_a_stray_pythonpath_is_refused_in_one_line_before_anybody_is_graded(course, tmp_path):
    course = _fresh(course, tmp_path)
    other = tmp_path / "another-copy"  # another copy of the kit's package, as a stray PYTHONPATH finds it
    shutil.copytree(REPO / "layerlab", other / "layerlab", ignore=shutil.ignore_patterns("__pycache__"))
    env = dict(_env(), PYTHONPATH=str(other), LAYERLAB_ASSETS=str(REPO / "assets"))
    done = subprocess.run([sys.executable, "-m", "layerlab.cli", "grade", LAB2, "--course", str(course),
                           "--rubric", str(REPO / "autograder" / "rubric.json"), "--quiet", "--no-feedback",
                           "--jobs", "1", "--timeout", "30"],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600)
    assert done.returncode != 0, done.stdout
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "grader's set-up is broken, nobody was graded" in lines[0]
    assert "No module named 'layerlab" in lines[0] and "PYTHONPATH" in lines[0], lines[0]
    assert "s1_untouched" not in done.stdout and "0 / 15" not in done.stdout
    reports = course / "reports" / LAB2
    assert not (reports / "summary.csv").exists() and not list(reports.glob("results/*.json"))


@pytest.fixture
def broken_sandbox(monkeypatch):
    """The sandbox cannot start the grader's worker (as with a broken environment): nothing of the learner's runs."""
    real = sandbox.sandbox_argv

    def argv(*a, **kw):
        out = real(*a, **kw)
        out[out.index("layerlab.grading.sandbox")] = "layerlab.grading.no_such_worker"
        return out

    monkeypatch.setattr(sandbox, "sandbox_argv", argv)


def test_the_probe_fails_through_the_same_sandbox_path(broken_sandbox):
    with pytest.raises(batch.GraderSetupError, match=r"nobody was graded: .*no_such_worker"):
        batch.probe_grader(sandbox=True)


def test_the_probe_passes_on_a_sound_set_up():
    batch.probe_grader(sandbox=True)  # raises if the grader cannot run an empty notebook


def test_a_sandbox_that_breaks_mid_batch_marks_the_submission_not_graded(course, tmp_path, broken_sandbox, monkeypatch):
    course = _fresh(course, tmp_path)
    monkeypatch.setattr(batch, "probe_grader", lambda **kw: None)  # the probe passed; the sandbox broke afterwards
    s = batch.grade_assignment(LAB2, course=course, jobs=1, timeout_s=30, gradebook=False, feedback=False, progress=False)
    (g,) = s.grades
    assert g.incomplete and g.error.startswith("not graded (grader fault)") and "--resume" in g.error, g.error
    assert "ended early" not in g.error and "did not export" not in g.error
    assert not (s.report_dir / "results" / "s1_untouched.json").exists()  # nothing stored: --resume grades it again
    md = (s.report_dir / "s1_untouched.md").read_text(encoding="utf-8")
    assert "**Score: not graded (grader fault)**" in md and "Score: 0" not in md
    assert "Score: not graded (grader fault)" in (s.report_dir / "s1_untouched.html").read_text(encoding="utf-8")
    row = s.summary_csv.read_text(encoding="utf-8").splitlines()[1]
    assert row.startswith("s1_untouched,") and ",0," not in row and "not graded (grader fault)" in row
