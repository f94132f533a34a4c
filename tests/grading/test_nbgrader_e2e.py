"""End to end: a whole course through the real nbgrader CLI and the kit's out-of-kernel grader.

One module-scoped run builds a course in a temporary folder with the README's own command
sequences, read from README.md ("For instructors" and the class commands of "For learners")
so they cannot drift, run as written by bash for each of the three labs, with the
placeholders filled in: the kit's path for ``/path/to/layerlab``, a temporary exchange for
``/srv/nbgrader/exchange``, the lab for ``lab2_hybrid_mix``, a temporary ``$HOME``. Each
learner runs the learners' commands in a folder of their own holding the kit's
``nbgrader_config.py`` (their copy of the kit); since every learner here is the same Unix
user, ``--student=<id>`` is added to ``submit`` and ``fetch_feedback`` (on a JupyterHub the
login is the id). Learners hand in reference solutions, untouched release copies, flawed
mixes, wrong answers, and a submission that monkeypatches numpy, pyloudnorm and layerlab in
its own kernel; the tests below assert exact points per check from the rubric, that every
nbgrader command runs without configuration or checksum warnings, and that a learner's
``deliverable/`` reaches neither the exchange nor the course folders.

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


def _env(tmp: Path, home: Path | None = None) -> dict:
    """The environment of the course's commands: the kit's venv first, ``HOME`` at ``home`` (default ``tmp``)."""
    env = dict(os.environ)
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    env["HOME"] = str(home if home is not None else tmp)
    env["NUMBA_CACHE_DIR"] = env.get("NUMBA_CACHE_DIR") or str(tmp / "numba")
    env["MPLBACKEND"] = "Agg"
    for var in ("JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "LAYERLAB_EXCHANGE", "LAYERLAB_ASSIGNMENT_DIR", "LAYERLAB_COURSE_ID"):
        env.pop(var, None)
    return env


def _run(args, *, cwd, env, timeout=900):
    cp = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    if cp.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, args))} failed ({cp.returncode}):\n{cp.stdout[-3000:]}\n{cp.stderr[-3000:]}")
    return cp


def _nbgrader(*args, cwd, env, timeout=900):
    """One nbgrader command (used by the PostgreSQL and variants courses, which drive nbgrader directly)."""
    return _run([str(VENV_BIN / "nbgrader"), *args], cwd=cwd, env=env, timeout=timeout)


# ---------------------------------------------------------------------------------------------- the README's commands

README = (REPO / "README.md").read_text(encoding="utf-8")


def _section(title: str) -> str:
    return README.split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]


def _fenced(text: str, containing: str) -> list[str]:
    """The lines of the first fenced block of ``text`` that contains ``containing``."""
    blocks = re.findall(r"^```[a-z]*\n(.*?)^```", text, flags=re.S | re.M)
    block = next(b for b in blocks if containing in b)
    return [line for line in block.splitlines() if line.strip()]


INSTRUCTOR = _fenced(_section("For instructors"), "nbgrader generate_assignment")
LEARNER = _fenced(_section("For learners"), "nbgrader fetch_assignment")


def _instructor_phase(first: str, last: str | None = None, *, setup: bool = False) -> list[str]:
    """The instructor's commands from the line starting with ``first`` to the one starting with ``last``."""
    commands = [ln for ln in INSTRUCTOR if not ln.startswith("#")]
    begin = next(i for i, ln in enumerate(commands) if ln.startswith(first))
    end = next(i for i, ln in enumerate(commands) if ln.startswith(last)) if last else begin
    prelude = commands[:next(i for i, ln in enumerate(commands) if ln.startswith("nbgrader"))]
    if not setup:  # later phases only re-enter the course: the exports and the cd, not the copies
        prelude = [ln for ln in prelude if ln.startswith("export ") or " cd " in f" {ln}"]
    return prelude + commands[begin:end + 1]


def _learner_phase(command: str, student: str | None = None) -> list[str]:
    lines = [ln for ln in LEARNER if ln.startswith("export ")]
    line = next(ln for ln in LEARNER if ln.startswith(command))
    return lines + [line + (f" --student={student}" if student else "")]


def _bash(lines: list[str], *, tmp: Path, lab: str, cwd: Path, env: dict, log: list, timeout=1800):
    script = "\n".join(lines)
    script = (script.replace("/path/to/layerlab", str(REPO)).replace("/srv/nbgrader/exchange", str(tmp / "exchange"))
              .replace("lab2_hybrid_mix", lab))
    cp = _run(["bash", "-euo", "pipefail", "-c", script], cwd=cwd, env=env, timeout=timeout)
    log.append((script, cp.stdout + cp.stderr))
    return cp


def _apparent_size(folder: Path) -> int:
    return sum(p.lstat().st_size for p in folder.rglob("*") if p.is_file())


def _solution_sources(lab: str) -> dict[str, str]:
    nb = nbformat.read(str(REPO / "autograder" / "source" / lab / f"{lab}.ipynb"), as_version=4)
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


DELIVERABLE_MB = 36  # what lab 2's export writes: it must reach neither the exchange nor the course folders


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("course_e2e")
    (tmp / "exchange").mkdir()
    env = _env(tmp, home=tmp)
    root = tmp / "course"  # ~/course in the README
    log = []
    _bash(_instructor_phase("nbgrader generate_assignment", setup=True)[:-1], tmp=tmp, lab=LAB2, cwd=tmp, env=env, log=log)

    cohorts = {LAB1: LAB1_STUDENTS, LAB2: LAB2_STUDENTS, LAB3: LAB3_STUDENTS}
    sizes = {}
    for lab, students in cohorts.items():
        _bash(_instructor_phase("nbgrader generate_assignment", "nbgrader release_assignment"),
              tmp=tmp, lab=lab, cwd=tmp, env=env, log=log)
        for sid, edits in students.items():
            home = tmp / "students" / sid  # this learner's copy of the kit: its nbgrader_config.py is what matters
            home.mkdir(parents=True, exist_ok=True)
            shutil.copy(REPO / "nbgrader_config.py", home / "nbgrader_config.py")
            if not (home / ".git").exists():  # a clone of the kit, as far as git can tell: its .gitignore committed
                shutil.copy(REPO / ".gitignore", home / ".gitignore")
                _git(home, "init", "-q")
                _git(home, "add", ".gitignore", "nbgrader_config.py")
                _git(home, "commit", "-q", "-m", "kit")
                # here the folder is also the learner's $HOME (nbgrader's cache, ~/.local): not the kit's business
                (home / ".git" / "info" / "exclude").write_text("/.local/\n")
            learner_env = _env(tmp, home=home)
            work = home / "class" / lab
            if sid == next(iter(students)):
                _bash(_learner_phase("nbgrader fetch_assignment"), tmp=tmp, lab=lab, cwd=home, env=learner_env, log=log)
                fetched = tmp / "fetched" / lab
                shutil.copytree(work, fetched)
            else:  # what fetch gives every learner is the same release: copied, to keep the test lean
                shutil.copytree(fetched, work)
            assert (work / f"{lab}.ipynb").read_bytes() == (REPO / "labs" / lab / f"{lab}.ipynb").read_bytes()
            _fill(work / f"{lab}.ipynb", lab, edits)
            if sid == "ref2":  # a learner who ran the lab has a deliverable and the players' audio
                for name, mb in (("deliverable/mix.wav", DELIVERABLE_MB), ("_layerlab_audio/mix.wav", 4)):
                    (work / name).parent.mkdir(parents=True, exist_ok=True)
                    with open(work / name, "wb") as fh:
                        fh.write(os.urandom(mb * 1_000_000))
            _bash(_learner_phase("nbgrader submit", sid), tmp=tmp, lab=lab, cwd=home, env=learner_env, log=log)
        inbound = tmp / "exchange" / "layerlab" / "inbound"
        sizes[("inbound", lab)] = {d.name.split("+")[0]: _apparent_size(d) for d in inbound.iterdir() if f"+{lab}+" in d.name}
        _bash(_instructor_phase("nbgrader collect", "nbgrader autograde"), tmp=tmp, lab=lab, cwd=tmp, env=env, log=log)

    kernel_scores = _scores_from_gradebook(root)
    grade_out = {}
    for lab in (LAB1, LAB2, LAB3):
        grade_out[lab] = _bash(_instructor_phase("layerlab grade"), tmp=tmp, lab=lab, cwd=tmp, env=env, log=log)
    final_scores = _scores_from_gradebook(root)
    for lab in (LAB1, LAB2, LAB3):
        _bash(_instructor_phase("nbgrader generate_feedback", "nbgrader release_feedback"), tmp=tmp, lab=lab, cwd=tmp, env=env, log=log)
    learner = tmp / "students" / "sfx_late"
    _bash(_learner_phase("nbgrader fetch_feedback", "sfx_late"), tmp=tmp, lab=LAB2, cwd=learner, env=_env(tmp, home=learner), log=log)
    _bash(_instructor_phase("nbgrader export"), tmp=tmp, lab=LAB2, cwd=tmp, env=env, log=log)
    untracked = {home.name: _git(home, "status", "--porcelain", "--untracked-files=all").stdout
                 for home in sorted((tmp / "students").iterdir())}
    return {"root": root, "tmp": tmp, "kernel": kernel_scores, "final": final_scores, "grade_out": grade_out,
            "log": log, "sizes": sizes, "untracked": untracked}


def _git(cwd: Path, *args) -> subprocess.CompletedProcess:
    return _run(["git", "-c", "user.name=learner", "-c", "user.email=learner@example.org", *args], cwd=cwd,
                env=dict(os.environ, GIT_CONFIG_NOSYSTEM="1", HOME=str(cwd)))


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
    # all SFX offsets zero: right for the 3 events on their frames, wrong for cup_a (80 ms late); the SFX
    # item pays only when every event is right (rubric "all_keys", so a classmate's dict earns nothing)
    assert sloppy["audit_sfx_offsets"] == 0.0
    assert sloppy["audit_loudness"] == 0.0
    for gid in ("audit_dialogue_offsets", "audit_music_level", "audit_issues", "audit_replace"):
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
    fetched = list(home.glob(f"class/{LAB2}/feedback/*/{LAB2}.html"))
    assert len(fetched) == 1
    html = fetched[0].read_text(encoding="utf-8")
    assert "[FAIL] sync" in html and "HIDDEN TESTS" not in html


# ---------------------------------------------------------------------------------------------- issue #17: commands as written


def test_the_readme_sequences_ran_for_every_lab(course):
    scripts = "\n".join(script for script, _ in course["log"])
    for lab in (LAB1, LAB2, LAB3):
        for cmd in ("nbgrader generate_assignment", "nbgrader release_assignment", "nbgrader fetch_assignment",
                    "nbgrader submit", "nbgrader collect", "nbgrader autograde", "layerlab grade", "nbgrader generate_feedback"):
            assert f"{cmd} {lab}" in scripts, (cmd, lab)
    assert "--Exchange.root" not in scripts  # learners find the exchange through the kit's nbgrader_config.py


def test_the_release_is_the_kits_learner_copy(course):
    for lab in (LAB1, LAB2, LAB3):
        release = course["root"] / "release" / lab
        released = {p.relative_to(release).as_posix(): p.read_bytes() for p in release.rglob("*") if p.is_file()}
        kit = REPO / "labs" / lab
        assert released == {rel: (kit / rel).read_bytes() for rel in released}
        assert set(released) == {p.relative_to(kit).as_posix() for p in kit.rglob("*") if p.is_file()
                                 and not {"deliverable", "_layerlab_audio", ".ipynb_checkpoints"} & set(p.relative_to(kit).parts)}


def test_nbgrader_prints_no_config_or_checksum_warnings(course):
    for script, output in course["log"]:
        assert "not recognized" not in output, (script, output[-2000:])
        assert "has changed" not in output, (script, [ln for ln in output.splitlines() if "has changed" in ln][:3])
        assert "Unwritable directory" not in output
        # issue #17: nbgrader's own SQLAlchemy warning (filtered narrowly in the course config), kernels over TCP
        # without CurveZMQ, and feedback figures without alternative text
        assert "SAWarning" not in output, (script, [ln for ln in output.splitlines() if "SAWarning" in ln][:3])
        assert "without encryption" not in output, (script, output[-2000:])
        assert "Alternative text is missing" not in output, (script, output[-2000:])
    # the patcher's locked cells are untouched too; a learner who edits one still gets nbgrader's warning
    # (that path is nbgrader's own OverwriteCells, unchanged)


def test_deliverables_never_reach_the_exchange_or_the_course_folders(course):
    root = course["root"]
    inbound = course["sizes"][("inbound", LAB2)]
    assert inbound and max(inbound.values()) < 1_000_000, inbound  # the 36 MB deliverable stayed home
    for sid in LAB2_STUDENTS:
        for step in ("submitted", "autograded"):
            folder = root / step / sid / LAB2
            assert folder.is_dir(), folder
            assert not (folder / "deliverable").exists() and not (folder / "_layerlab_audio").exists(), folder
            assert _apparent_size(folder) < 5_000_000, (folder, _apparent_size(folder))  # the notebook and its figures
    # the learner's own deliverable is still there, in their folder
    assert (root.parent / "students" / "ref2" / "class" / LAB2 / "deliverable" / "mix.wav").stat().st_size == DELIVERABLE_MB * 1_000_000


def test_the_learners_commands_leave_their_copy_of_the_kit_clean(course):
    # each learner's folder is a git repository holding the kit's .gitignore: fetch, work (ref2 exported a
    # deliverable and the players' audio), submit and fetch_feedback leave nothing git would list
    assert course["untracked"] and all(out == "" for out in course["untracked"].values()), course["untracked"]


# What the README's learner commands were seen to leave in a scratch clone of the kit (issue #17): `make lab`'s
# lessons (players' audio, the mixer's session and export), the labs' exports, self_check() in a terminal,
# `layerlab solution`, `layerlab variants practice`, nbgrader's fetch.
LEARNER_LEFTOVERS = [
    "lessons/_layerlab_audio/mix_0001.wav", "lessons/session.json", "lessons/deliverable/mix.wav",
    "lessons/deliverable/stems/music.wav", "labs/lab2_hybrid_mix/deliverable/mix.wav",
    "labs/lab2_hybrid_mix/deliverable/session.json", "labs/lab2_hybrid_mix/deliverable/stems/sfx.wav",
    "labs/lab2_hybrid_mix/_layerlab_audio/a.wav", "labs/lab2_hybrid_mix/self_check_figures/masking.png",
    "labs/lab2_hybrid_mix/lab2_hybrid_mix_solution.ipynb", "labs/lab1_audit/lab1_audit_solution.ipynb",
    "labs/lab1_audit/lab1_audit_solution_2.ipynb", "class/lab2_hybrid_mix/lab2_hybrid_mix.ipynb",
    "self_check_figures/sync.png", ".nbgrader.log",
    "labs/lab1_audit/variants/practice/scenes/cafe_dialogue/native.wav", "labs/lab1_audit/variants/practice.truth.json",
    "my_mix/mix.wav", "my_mix/stems/music.wav", "out/mix.wav",
]


def test_gitignore_covers_what_the_learners_commands_leave_and_no_tracked_file():
    ignored = subprocess.run(["git", "check-ignore", "--no-index", "--verbose", "--non-matching", *LEARNER_LEFTOVERS],
                             cwd=REPO, capture_output=True, text=True)
    not_ignored = [ln.split("\t", 1)[1] for ln in ignored.stdout.splitlines() if ln.startswith("::")]
    assert ignored.returncode in (0, 1) and not not_ignored, (not_ignored, ignored.stderr)
    tracked = subprocess.run(["git", "ls-files", "--cached", "--ignored", "--exclude-standard"], cwd=REPO,
                             capture_output=True, text=True, check=True).stdout.split()
    assert tracked == [], f"tracked files that .gitignore would hide: {tracked}"
    # the kit's own sources under the same folders stay visible
    sources = ["labs/lab2_hybrid_mix/lab2_hybrid_mix.ipynb", "lessons/07_four_layers.ipynb", "layerlab/io/deliverable.py"]
    kept = subprocess.run(["git", "check-ignore", "--no-index", *sources], cwd=REPO, capture_output=True, text=True)
    assert kept.returncode == 1 and kept.stdout == "", kept  # none of them is ignored
