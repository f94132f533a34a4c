"""End to end: a whole course through the real nbgrader CLI and the kit's out-of-kernel grader.

One module-scoped run builds a course in a temporary folder, releases the three labs
through a local exchange directory, fetches and submits learner copies (reference
solutions, untouched release copies, flawed mixes, wrong answers, and a submission
that monkeypatches numpy, pyloudnorm and layerlab in its own kernel), collects them,
runs ``nbgrader autograde``, ``layerlab grade``, ``nbgrader generate_feedback`` and
``nbgrader export``, and the tests below assert exact points per check from the rubric.

The flawed mixes are made with the engine from the scene's post-generated clips by
editing the reference solution: music +10 dB with no ducking, one SFX 120 ms late,
loudness at -20 LUFS instead of -14, a 2 s gap in the ambience.
"""

from __future__ import annotations

import csv
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from layerlab.grading import load_rubric

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
RUBRIC = load_rubric(REPO / "autograder" / "rubric.json")
LAB1, LAB2, LAB3 = "lab1_audit", "lab2_hybrid_mix", "lab3_choose_approach"

AMBIENCE_LINE = 'start_s=0.0, gain_db=AMBIENCE_GAIN_DB + AMBIENCE_TRIM_DB, name="room")'
AMBIENCE_GAP = (
    'start_s=0.0, trim_end_s=8.0, gain_db=AMBIENCE_GAIN_DB + AMBIENCE_TRIM_DB, name="room")\n'
    'stack.add("ambience", scene.clip_path(cues.ambience["clip"]), start_s=10.0, trim_start_s=10.0,\n'
    '          gain_db=AMBIENCE_GAIN_DB + AMBIENCE_TRIM_DB, name="room_after_gap")'
)

MONKEYPATCH = '''
# An attempt to pass every test from inside the kernel.
import numpy as np
import pyloudnorm
import layerlab.checks
import layerlab.grading
import layerlab.measure.loudness
np.allclose = lambda *a, **k: True
np.isclose = lambda *a, **k: True
pyloudnorm.Meter.integrated_loudness = lambda self, data: -14.0
layerlab.measure.loudness.integrated_loudness = lambda *a, **k: -14.0
class _Always:
    passed = True
    message = "passed"
    def __getattr__(self, name):
        return self
_fake = lambda *a, **k: type("R", (), {"items": [_Always()], "passed": True})()
layerlab.grading.self_check = _fake
layerlab.checks.run_checks = _fake
self_check = _fake
'''

# student id -> (lab, edits to the reference solution as (old, new) pairs, or None for an untouched copy)
LAB2_STUDENTS = {
    "ref2": [],
    "untouched2": None,
    "music_loud": [("MUSIC_TRIM_DB = 0.0", "MUSIC_TRIM_DB = 10.0"), ("DUCK = True", "DUCK = False")],
    "sfx_late": [("SFX_NUDGE_S = {}", 'SFX_NUDGE_S = {"cup_a": 0.120}')],
    "quiet_mix": [("TARGET_LUFS = -14.0", "TARGET_LUFS = -20.0")],
    "ambience_gap": [(AMBIENCE_LINE, AMBIENCE_GAP)],
    # the music-loud mix, plus a cell after the export that patches everything the tests call
    "patcher": [("MUSIC_TRIM_DB = 0.0", "MUSIC_TRIM_DB = 10.0"), ("DUCK = True", "DUCK = False"), ("after:lab2_export", MONKEYPATCH)],
}
LAB1_STUDENTS = {
    "ref1": [],
    "untouched1": None,
    # a learner who misread the SFX (all zero), and left the loudness unmeasured
    "sloppy1": [('"sfx_offsets_ms": sfx_offsets_ms,', '"sfx_offsets_ms": {e.id: 0.0 for e in cues.events},'),
                ('"integrated_lufs": integrated_lufs,', '"integrated_lufs": -23.0,')],
}
LAB3_STUDENTS = {
    "ref3": [],
    "untouched3": None,
    # keeps the native music in the news explainer (1 of 5 answers wrong) and calls the surf reel hybrid
    "partial3": [('"news_explainer": {"approach": "hybrid", "dialogue": "post", "sfx": "native", "ambience": "native", "music": "post"}',
                  '"news_explainer": {"approach": "hybrid", "dialogue": "post", "sfx": "native", "ambience": "native", "music": "native"}'),
                 ('"surf_reel": {"approach": "native"', '"surf_reel": {"approach": "hybrid"')],
}


def _points(lab: str) -> dict[str, float]:
    spec = RUBRIC["assignments"][lab]
    return {it["grade_id"]: float(it["points"]) for it in spec["items"]}


def _env(tmp: Path) -> dict:
    env = dict(os.environ)
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    env["LAYERLAB_EXCHANGE"] = str(tmp / "exchange")
    env["NUMBA_CACHE_DIR"] = env.get("NUMBA_CACHE_DIR") or str(tmp / "numba")
    env["MPLBACKEND"] = "Agg"
    env.pop("JUPYTER_CONFIG_DIR", None)
    return env


def _run(args, *, cwd, env, timeout=900):
    cp = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    if cp.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, args))} failed ({cp.returncode}):\n{cp.stdout[-3000:]}\n{cp.stderr[-3000:]}")
    return cp


def _nbgrader(*args, cwd, env, timeout=900):
    return _run([str(VENV_BIN / "nbgrader"), *args], cwd=cwd, env=env, timeout=timeout)


def _solution_sources(lab: str) -> dict[str, str]:
    nb = nbformat.read(str(REPO / "labs" / lab / f"{lab}.ipynb"), as_version=4)
    return {c.metadata["nbgrader"]["grade_id"]: c.source for c in nb.cells
            if c.metadata.get("nbgrader", {}).get("solution") and c.cell_type == "code"}


def _fill(nb_path: Path, lab: str, edits) -> None:
    """Put the reference solution, edited, into a learner's released copy."""
    if edits is None:
        return
    nb = nbformat.read(str(nb_path), as_version=4)
    sols = _solution_sources(lab)
    inserts = {old.split(":", 1)[1]: new for old, new in edits if old.startswith("after:")}
    cells = []
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if gid in sols:
            src = sols[gid]
            for old, new in edits:
                if old in src:
                    src = src.replace(old, new, 1)
            cell.source = src
        elif cell.cell_type == "markdown" and cell.metadata.get("nbgrader", {}).get("solution"):
            cell.source = "The native dialogue is late and band-limited, so I replace it; the SFX that measure in sync stay."
        cells.append(cell)
        if gid in inserts:
            cells.append(nbformat.v4.new_code_cell(inserts[gid]))
    nb.cells = cells
    text = "\n".join(c.source for c in nb.cells)
    for old, new in edits:
        assert new.strip().split("\n")[0] in text, f"edit not applied: {old!r}"
    nbformat.write(nb, str(nb_path))


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("course_e2e")
    env = _env(tmp)
    root = tmp / "course"
    (root / "source").mkdir(parents=True)
    (tmp / "exchange").mkdir()
    shutil.copy(REPO / "autograder" / "nbgrader_config.py", root / "nbgrader_config.py")
    shutil.copy(REPO / "autograder" / "rubric.json", root / "rubric.json")
    for lab in (LAB1, LAB2, LAB3):
        shutil.copytree(REPO / "labs" / lab, root / "source" / lab)

    cohorts = {LAB1: LAB1_STUDENTS, LAB2: LAB2_STUDENTS, LAB3: LAB3_STUDENTS}
    for lab, students in cohorts.items():
        _nbgrader("generate_assignment", lab, "--force", cwd=root, env=env)
        _nbgrader("release_assignment", lab, "--force", cwd=root, env=env)
        fetched = tmp / "fetched" / lab
        fetched.mkdir(parents=True)
        _nbgrader("fetch_assignment", lab, "--course=layerlab", f"--Exchange.root={tmp / 'exchange'}", cwd=fetched, env=env)
        for sid, edits in students.items():
            home = tmp / "students" / sid
            home.mkdir(parents=True, exist_ok=True)
            shutil.copytree(fetched / lab, home / lab)  # every learner starts from the same released copy
            _fill(home / lab / f"{lab}.ipynb", lab, edits)
            _nbgrader("submit", lab, "--course=layerlab", f"--Exchange.root={tmp / 'exchange'}", f"--student={sid}",
                      f"--Exchange.cache={home / '.nbgrader_cache'}", cwd=home, env=env)
        _nbgrader("collect", lab, cwd=root, env=env)
        _nbgrader("autograde", lab, "--create", "--force", cwd=root, env=env, timeout=1800)

    kernel_scores = _scores_from_gradebook(root)
    grade_out = {}
    for lab in (LAB1, LAB2, LAB3):
        cp = _run([str(VENV_BIN / "layerlab"), "grade", lab, "--course", str(root), "--jobs", "2"], cwd=root, env=env, timeout=1800)
        grade_out[lab] = cp
    final_scores = _scores_from_gradebook(root)
    for lab in (LAB1, LAB2, LAB3):
        _nbgrader("generate_feedback", lab, "--force", cwd=root, env=env)
        _nbgrader("release_feedback", lab, cwd=root, env=env)
    learner = tmp / "students" / "sfx_late"
    _nbgrader("fetch_feedback", LAB2, "--course=layerlab", f"--Exchange.root={tmp / 'exchange'}", "--student=sfx_late",
              f"--Exchange.cache={learner / '.nbgrader_cache'}", cwd=learner, env=env)
    _nbgrader("export", "--to", str(root / "grades.csv"), cwd=root, env=env)
    return {"root": root, "kernel": kernel_scores, "final": final_scores, "grade_out": grade_out}


def _scores_from_gradebook(root: Path) -> dict:
    """{(student, assignment, grade_id): score} from gradebook.db (score = manual if set, else auto)."""
    from nbgrader.api import Gradebook

    out = {}
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
        for assignment in gb.assignments:
            for sub in assignment.submissions:
                for nb in sub.notebooks:
                    for g in nb.grades:
                        out[(sub.student.id, assignment.name, g.name)] = float(g.score)
    return out


def _student_points(scores, sid, lab):
    return {gid: s for (s_id, l, gid), s in scores.items() if s_id == sid and l == lab and gid in _points(lab)}


# ---------------------------------------------------------------------------------------------- lab 2


def test_reference_mix_earns_full_marks(course):
    assert _student_points(course["final"], "ref2", LAB2) == _points(LAB2)


def test_untouched_release_copy_earns_zero(course):
    for sid, lab in (("untouched1", LAB1), ("untouched2", LAB2), ("untouched3", LAB3)):
        pts = _student_points(course["final"], sid, lab)
        assert set(pts) == set(_points(lab))
        assert sum(pts.values()) == 0.0, (sid, pts)


@pytest.mark.parametrize("sid, lost", [
    ("music_loud", {"check_masking", "check_ducking"}),
    ("sfx_late", {"check_sync"}),
    ("quiet_mix", {"check_loudness"}),
    ("ambience_gap", {"check_ambience_continuity"}),
])
def test_each_flaw_loses_exactly_its_points(course, sid, lost):
    full = _points(LAB2)
    expected = {gid: (0.0 if gid in lost else p) for gid, p in full.items()}
    assert _student_points(course["final"], sid, LAB2) == expected


def test_monkeypatching_the_kernel_earns_no_more_than_the_honest_deliverable(course):
    kernel = _student_points(course["kernel"], "patcher", LAB2)
    final = _student_points(course["final"], "patcher", LAB2)
    honest = _student_points(course["final"], "music_loud", LAB2)
    # inside its own kernel the patch fooled nbgrader's tests ...
    assert sum(kernel.values()) == sum(_points(LAB2).values())
    # ... but the grader recomputed every cell from the exported files
    assert final == honest
    assert sum(final.values()) < sum(kernel.values())


def test_audio_library_warnings_cost_nothing_in_the_kernel(course):
    # the reference passes every in-kernel test cell too: no stderr from librosa/pyloudnorm zeroed a cell
    assert _student_points(course["kernel"], "ref2", LAB2) == _points(LAB2)
    assert _student_points(course["kernel"], "ref1", LAB1) == _points(LAB1)


# ---------------------------------------------------------------------------------------------- labs 1 and 3


def test_audit_lab_reference_and_partial_credit(course):
    assert _student_points(course["final"], "ref1", LAB1) == _points(LAB1)
    sloppy = _student_points(course["final"], "sloppy1", LAB1)
    full = _points(LAB1)
    # all SFX offsets zero: right for the 3 events on their frames, wrong for cup_a (80 ms late)
    assert sloppy["audit_sfx_offsets"] == pytest.approx(full["audit_sfx_offsets"] * 3 / 4)
    assert sloppy["audit_loudness"] == 0.0
    for gid in ("audit_dialogue_offset", "audit_music_level", "audit_issues", "audit_replace"):
        assert sloppy[gid] == full[gid]


def test_choose_approach_lab_scores_choices_per_answer(course):
    assert _student_points(course["final"], "ref3", LAB3) == _points(LAB3)
    partial = _student_points(course["final"], "partial3", LAB3)
    full = _points(LAB3)
    assert partial["choice_news_explainer"] == pytest.approx(full["choice_news_explainer"] * 4 / 5)
    assert partial["choice_surf_reel"] == pytest.approx(full["choice_surf_reel"] * 4 / 5)
    for gid in set(full) - {"choice_news_explainer", "choice_surf_reel"}:
        assert partial[gid] == full[gid]


def test_manual_cells_await_an_instructor(course):
    root = course["root"]
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
        waiting = [g.name for sub in gb.find_assignment(LAB3).submissions for nb in sub.notebooks for g in nb.grades
                   if g.needs_manual_grade]
    # six written justifications from each learner who wrote them (an untouched answer scores 0 unseen)
    assert len(waiting) == 6 * len([e for e in LAB3_STUDENTS.values() if e is not None])
    assert all(name.startswith("justify_") for name in waiting)


# ---------------------------------------------------------------------------------------------- feedback, export, summary


def _feedback_html(root: Path, sid: str, lab: str) -> str:
    return (root / "feedback" / sid / lab / f"{lab}.html").read_text(encoding="utf-8")


def test_feedback_shows_verdict_value_target_advice_and_figure(course):
    html = _feedback_html(course["root"], "sfx_late", LAB2)
    assert "Grader&#39;s verdict" in html or "Grader's verdict" in html
    assert re.search(r"\[FAIL\] sync: 120(\.0\d*)? ms", html), "measured sync offset missing from feedback"
    assert "EBU R37" in html  # the target
    assert "move it" in html  # the plain-language advice
    assert "data:image/png;base64" in html  # a figure


def test_feedback_never_contains_hidden_tests(course):
    root = course["root"]
    for sid, lab in (("ref2", LAB2), ("patcher", LAB2), ("untouched2", LAB2), ("ref1", LAB1), ("sloppy1", LAB1),
                     ("untouched1", LAB1), ("ref3", LAB3), ("partial3", LAB3), ("untouched3", LAB3)):
        html = _feedback_html(root, sid, lab)
        assert "HIDDEN TESTS" not in html
        assert "score_answers as _score" not in html
        assert "show=False).items[0].passed" not in html


def test_export_csv_matches_the_grader(course):
    root = course["root"]
    with open(root / "grades.csv", newline="", encoding="utf-8") as fh:
        rows = {(r["student_id"], r["assignment"]): float(r["score"]) for r in csv.DictReader(fh)}
    for sid in LAB2_STUDENTS:
        assert rows[(sid, LAB2)] == pytest.approx(sum(_student_points(course["final"], sid, LAB2).values()))
    assert rows[("ref2", LAB2)] == sum(_points(LAB2).values())
    assert rows[("untouched2", LAB2)] == 0.0


def test_class_summary_and_reports(course):
    root = course["root"]
    rep = root / "reports" / LAB2
    with open(rep / "summary.csv", newline="", encoding="utf-8") as fh:
        rows = {r["student"]: r for r in csv.DictReader(fh)}
    assert set(rows) == set(LAB2_STUDENTS)
    assert float(rows["sfx_late"]["sync"]) == 0.0
    assert float(rows["ref2"]["score"]) == sum(_points(LAB2).values())
    assert (rep / "histograms.png").stat().st_size > 10_000
    html = (rep / "music_loud.html").read_text(encoding="utf-8")
    assert "masking" in html and "data:image/png;base64" in html
    md = (rep / "music_loud.md").read_text(encoding="utf-8")
    for fig in ("sync", "loudness", "masking", "ducking"):
        assert (rep / "music_loud_figures" / f"{fig}.png").stat().st_size > 5_000
        assert f"(music_loud_figures/{fig}.png)" in md
    assert "grading lab2_hybrid_mix" in course["grade_out"][LAB2].stderr  # the progress bar


def test_released_notebooks_hold_no_solutions_hidden_tests_or_mark_schemes(course):
    root = course["root"]
    for lab, telltale in ((LAB1, "dialogue_offsets(native"), (LAB2, "Ducking(depth_db=10.0"), (LAB3, '"approach": "hybrid"')):
        text = (root / "release" / lab / f"{lab}.ipynb").read_text(encoding="utf-8")
        for marker in ("BEGIN SOLUTION", "HIDDEN TESTS", "MARK SCHEME", "score_answers", telltale):
            assert marker not in text, (lab, marker)
        assert "raise NotImplementedError()" in text


def test_learner_fetches_the_released_feedback(course):
    home = course["root"].parent / "students" / "sfx_late"
    fetched = list(home.glob(f"{LAB2}/feedback/*/{LAB2}.html"))
    assert len(fetched) == 1
    html = fetched[0].read_text(encoding="utf-8")
    assert "[FAIL] sync" in html and "HIDDEN TESTS" not in html
