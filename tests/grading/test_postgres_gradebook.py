"""The nbgrader gradebook on a real PostgreSQL server (started by the ``postgres`` fixture, conftest.py).

- the gradebook URL is found where nbgrader finds it (``CourseDirectory.db_url``);
- graders writing at the same time lose no grade and double none;
- ``layerlab gradebook copy`` moves a SQLite gradebook into PostgreSQL row for row;
- the whole instructor flow (generate, release, fetch, submit, collect, autograde,
  ``layerlab grade`` run by two graders at once, feedback, export) runs against PostgreSQL
  through the kit's ``nbgrader_config.py`` and ``LAYERLAB_DB_URL``.
"""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from layerlab.grading.gradebook import GradeWrite, course_db_url, normalise_db_url, write_grades
from test_nbgrader_e2e import LAB3, LAB3_STUDENTS, _env, _fill, _nbgrader, _points, _run

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent


@pytest.fixture(autouse=True)
def _venv_on_path(monkeypatch):
    # nbgrader runs `alembic` from PATH when it creates a gradebook
    monkeypatch.setenv("PATH", f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}")


# ---------------------------------------------------------------------------------------------- the URL


def test_course_url_defaults_to_sqlite_in_the_course(tmp_path):
    assert course_db_url(tmp_path) == f"sqlite:///{tmp_path.resolve() / 'gradebook.db'}"


def test_course_url_comes_from_the_courses_nbgrader_config(tmp_path, monkeypatch):
    shutil.copy(REPO / "autograder" / "nbgrader_config.py", tmp_path / "nbgrader_config.py")
    monkeypatch.delenv("LAYERLAB_DB_URL", raising=False)
    assert course_db_url(tmp_path) == f"sqlite:///{tmp_path.resolve() / 'gradebook.db'}"
    monkeypatch.setenv("LAYERLAB_DB_URL", "postgresql://grader@db.example:5432/gradebook")
    # a bare postgresql:// URL means psycopg2 to SQLAlchemy; the kit speaks psycopg 3
    assert course_db_url(tmp_path) == "postgresql+psycopg://grader@db.example:5432/gradebook"
    assert course_db_url(tmp_path, "sqlite:////x/gb.db") == "sqlite:////x/gb.db"


def test_a_url_without_scheme_is_one_plain_line():
    from layerlab.errors import InputError

    with pytest.raises(InputError, match="is not a database URL"):
        normalise_db_url("db.example:5432/gradebook")


# ---------------------------------------------------------------------------------------------- concurrent graders

CELLS = ["c1", "c2", "c3", "c4", "c5"]
STUDENTS = [f"s{i:02d}" for i in range(30)]


def _small_gradebook(url: str, students=STUDENTS) -> None:
    from nbgrader.api import Gradebook

    with Gradebook(url) as gb:
        gb.add_assignment("lab")
        gb.add_notebook("lab", "lab")
        for c in CELLS:
            gb.add_grade_cell(c, "lab", "lab", max_score=4.0, cell_type="code")
        for s in students:
            gb.add_student(s)
            gb.add_submission("lab", s)
        # what the autograde kernel reported (to be replaced), and a stray manual score
        g = gb.find_grade("c1", "lab", "lab", students[0])
        g.auto_score, g.manual_score = 4.0, 3.0
        gb.db.commit()


def _points_of(student: str, cell: str) -> float:
    return float((int(student[1:]) + CELLS.index(cell)) % 5)


def _grades(url: str) -> list[tuple[str, str, float | None, float | None]]:
    from nbgrader.api import Gradebook

    with Gradebook(url) as gb:
        return sorted((sub.student.id, g.name, g.auto_score, g.manual_score)
                      for sub in gb.find_assignment("lab").submissions for nb in sub.notebooks for g in nb.grades)


def test_concurrent_graders_lose_and_double_no_grade(postgres):
    url = postgres.new_database()
    _small_gradebook(url)
    # six graders at once, overlapping classes (every student is written by two or three of them), each in its own order
    groups = [STUDENTS[i:i + 12] for i in range(0, 30, 6)] + [STUDENTS[::-1]]
    errors, counts = [], []
    start = threading.Barrier(len(groups))

    def grader(group):
        try:
            start.wait()
            for _ in range(3):
                counts.append(write_grades(url, assignment="lab", notebook="lab",
                                           writes=[GradeWrite(s, {c: _points_of(s, c) for c in CELLS}) for s in group]))
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=grader, args=(g,)) for g in groups]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(counts) == sorted(len(g) * len(CELLS) for g in groups for _ in range(3))
    rows = _grades(url)
    assert len(rows) == len(STUDENTS) * len(CELLS)  # nothing doubled
    assert rows == sorted((s, c, _points_of(s, c), None) for s in STUDENTS for c in CELLS)  # nothing lost, no manual left


def test_grades_without_a_gradebook_entry_are_left_out(postgres):
    url = postgres.new_database()
    _small_gradebook(url, students=["s01"])
    n = write_grades(url, assignment="lab", notebook="lab",
                     writes=[GradeWrite("s01", {"c1": 2.0, "not_a_cell": 1.0}), GradeWrite("nobody", {"c1": 1.0})])
    assert n == 1
    assert ("s01", "c1", 2.0, None) in _grades(url)


# ---------------------------------------------------------------------------------------------- SQLite -> PostgreSQL


def _layerlab(*args, env=None):
    return subprocess.run([str(VENV_BIN / "layerlab"), *args], capture_output=True, text=True, timeout=300,
                          env=env or dict(os.environ))


def test_copy_moves_a_sqlite_gradebook_row_for_row(postgres, tmp_path):
    from nbgrader.api import Base
    from sqlalchemy import create_engine, select

    sqlite_url = f"sqlite:///{tmp_path / 'gradebook.db'}"
    _small_gradebook(sqlite_url)
    write_grades(sqlite_url, assignment="lab", notebook="lab",
                 writes=[GradeWrite(s, {c: _points_of(s, c) for c in CELLS}) for s in STUDENTS[:20]])
    target = postgres.new_database()

    cp = _layerlab("gradebook", "copy", str(tmp_path / "gradebook.db"), target)
    assert cp.returncode == 0, cp.stderr
    assert f"copied " in cp.stdout and "grade 150" in cp.stdout

    src, dst = create_engine(sqlite_url), create_engine(target)
    with src.connect() as a, dst.connect() as b:
        for t in Base.metadata.sorted_tables:
            key = list(t.primary_key.columns)
            rows_a = [tuple(r) for r in a.execute(select(t).order_by(*key))]
            rows_b = [tuple(r) for r in b.execute(select(t).order_by(*key))]
            assert rows_a == rows_b, t.name
    assert _grades(target) == _grades(sqlite_url)
    assert sum(1 for *_, auto, _m in _grades(target) if auto is None) == 10 * len(CELLS)  # not graded yet stays so

    again = _layerlab("gradebook", "copy", str(tmp_path / "gradebook.db"), target)
    assert again.returncode == 1
    assert again.stderr.count("\n") == 1 and "already holds a gradebook" in again.stderr and "Traceback" not in again.stderr


def test_copy_into_an_unreachable_server_is_one_plain_line(tmp_path):
    from conftest import free_port

    _small_gradebook(f"sqlite:///{tmp_path / 'gradebook.db'}", students=["s01"])
    cp = _layerlab("gradebook", "copy", str(tmp_path), f"postgresql://grader@127.0.0.1:{free_port()}/gradebook")
    assert cp.returncode == 1 and cp.stderr.count("\n") == 1, cp.stderr
    assert "cannot reach the target gradebook postgresql+psycopg://grader@127.0.0.1" in cp.stderr


# ---------------------------------------------------------------------------------------------- the instructor flow

# lab 3 (answers, graded in seconds) keeps the suite's time down; lab 2's mixes go through the same gradebook code
PG_COHORTS = {LAB3: LAB3_STUDENTS}
GRADERS = [["ref3"], ["partial3", "untouched3"]]  # two `layerlab grade` processes at once, on one gradebook


def _scores(url: str) -> dict:
    from nbgrader.api import Gradebook

    out = {}
    with Gradebook(url) as gb:
        for assignment in gb.assignments:
            for sub in assignment.submissions:
                for nb in sub.notebooks:
                    for g in nb.grades:
                        out[(sub.student.id, assignment.name, g.name)] = float(g.score)
    return out


@pytest.fixture(scope="module")
def pg_course(postgres, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("course_pg")
    url = postgres.new_database()
    env = _env(tmp)
    env["LAYERLAB_EXCHANGE"] = str(tmp / "exchange")  # the course config's exchange: this course's own
    env["LAYERLAB_DB_URL"] = url
    root = tmp / "course"
    (root / "source").mkdir(parents=True)
    (tmp / "exchange").mkdir()
    shutil.copy(REPO / "autograder" / "nbgrader_config.py", root / "nbgrader_config.py")
    shutil.copy(REPO / "autograder" / "rubric.json", root / "rubric.json")
    for lab, students in PG_COHORTS.items():
        shutil.copytree(REPO / "autograder" / "source" / lab, root / "source" / lab)
        _nbgrader("generate_assignment", lab, "--force", cwd=root, env=env)
        _nbgrader("release_assignment", lab, "--force", cwd=root, env=env)
        fetched = tmp / "fetched" / lab
        fetched.mkdir(parents=True)
        _nbgrader("fetch_assignment", lab, "--course=layerlab", f"--Exchange.root={tmp / 'exchange'}", cwd=fetched, env=env)
        for sid, edits in students.items():
            home = tmp / "students" / sid
            home.mkdir(parents=True, exist_ok=True)
            shutil.copytree(fetched / lab, home / lab)
            _fill(home / lab / f"{lab}.ipynb", lab, edits)
            _nbgrader("submit", lab, "--course=layerlab", f"--Exchange.root={tmp / 'exchange'}", f"--student={sid}",
                      f"--Exchange.cache={home / '.nbgrader_cache'}", cwd=home, env=env)
        _nbgrader("collect", lab, cwd=root, env=env)
        _nbgrader("autograde", lab, "--create", "--force", cwd=root, env=env, timeout=1800)
    kernel = _scores(url)
    # two graders at once on the same gradebook server
    procs = [subprocess.Popen([str(VENV_BIN / "layerlab"), "grade", LAB3, "--course", str(root), "--jobs", "1",
                               *[f"--student={s}" for s in group]], cwd=root, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for group in GRADERS]
    grade_out = [p.communicate(timeout=1800) for p in procs]
    for p, (_, err) in zip(procs, grade_out):
        assert p.returncode == 0, err[-3000:]
    final = _scores(url)
    for lab in PG_COHORTS:
        _nbgrader("generate_feedback", lab, "--force", cwd=root, env=env)
    _nbgrader("export", "--to", str(root / "grades.csv"), cwd=root, env=env)
    url_out = _run([str(VENV_BIN / "layerlab"), "gradebook", "url", "--course", str(root)], cwd=root, env=env).stdout
    return {"root": root, "url": url, "kernel": kernel, "final": final, "grade_out": grade_out, "url_out": url_out}


def _student_points(scores, sid, lab):
    return {gid: s for (s_id, l, gid), s in scores.items() if s_id == sid and l == lab and gid in _points(lab)}


@pytest.mark.slow
def test_the_course_used_postgres_and_no_sqlite_file(pg_course):
    assert not (pg_course["root"] / "gradebook.db").exists()
    assert pg_course["url_out"].strip() == pg_course["url"]
    for out, _ in pg_course["grade_out"]:
        assert "grades written" in out, out


@pytest.mark.slow
def test_grader_scores_reach_the_postgres_gradebook(pg_course):
    final = pg_course["final"]
    assert _student_points(final, "ref3", LAB3) == _points(LAB3)
    assert sum(_student_points(final, "untouched3", LAB3).values()) == 0.0
    partial = _student_points(final, "partial3", LAB3)
    assert partial["choice_news_explainer"] == pytest.approx(_points(LAB3)["choice_news_explainer"] * 4 / 5)


@pytest.mark.slow
def test_feedback_and_export_come_from_postgres(pg_course):
    root = pg_course["root"]
    html = (root / "feedback" / "partial3" / LAB3 / f"{LAB3}.html").read_text(encoding="utf-8")
    assert ("Grader&#39;s verdict" in html or "Grader's verdict" in html) and "HIDDEN TESTS" not in html
    with open(root / "grades.csv", newline="", encoding="utf-8") as fh:
        rows = {(r["student_id"], r["assignment"]): float(r["score"]) for r in csv.DictReader(fh)}
    for lab, students in PG_COHORTS.items():
        for sid in students:
            assert rows[(sid, lab)] == pytest.approx(sum(_student_points(pg_course["final"], sid, lab).values()))
    assert rows[("ref3", LAB3)] == sum(_points(LAB3).values())
    assert rows[("untouched3", LAB3)] == 0.0
