"""The nbgrader gradebook wherever it lives: SQLite next to the course, or a PostgreSQL server.

nbgrader keeps its gradebook behind SQLAlchemy and takes any database URL through
``CourseDirectory.db_url`` (default ``sqlite:///<course>/gradebook.db``). On a
JupyterHub course with several graders the usual choice is PostgreSQL, reached with
psycopg 3: ``postgresql+psycopg://user:password@host:5432/gradebook``.

This module finds the URL a course uses (the same configuration nbgrader reads),
writes the grader's points so that graders running at the same time can neither
lose nor double a grade, and copies an existing SQLite gradebook into an empty
PostgreSQL database (``layerlab gradebook copy``).

Documented for instructors in ``docs/deploying.md``.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from layerlab.errors import GraderError, InputError

#: SQLSTATE codes after which a whole gradebook transaction is simply run again
#: (PostgreSQL: deadlock detected, serialization failure).
_RETRY_SQLSTATES = {"40P01", "40001"}
_RETRIES = 8


def normalise_db_url(url: str) -> str:
    """Return ``url`` with PostgreSQL's driver set to psycopg 3.

    SQLAlchemy reads a bare ``postgresql://`` (or Heroku-style ``postgres://``) URL
    as psycopg2, which the kit does not install; ``postgresql+psycopg://`` is the
    same server through psycopg 3. Other URLs are returned unchanged.

    Parameters
    ----------
    url : str
        A SQLAlchemy database URL.

    Raises
    ------
    InputError
        When ``url`` is empty or has no scheme.
    """
    url = (url or "").strip()
    if "://" not in url:
        raise InputError(f"{url!r} is not a database URL: write sqlite:////abs/path/gradebook.db or "
                         "postgresql+psycopg://user@host:5432/dbname")
    scheme, rest = url.split("://", 1)
    if scheme in ("postgresql", "postgres", "postgresql+psycopg2"):
        return "postgresql+psycopg://" + rest
    return url


def _nbgrader_config(course: Path):
    """The nbgrader configuration for ``course``: Jupyter's config folders, then the course's own file."""
    from jupyter_core.paths import jupyter_config_path
    from traitlets.config import Config
    from traitlets.config.loader import ConfigFileNotFound, PyFileConfigLoader

    cfg = Config()
    folders = [*reversed(jupyter_config_path()), str(course)]
    for folder in folders:
        if not os.path.isfile(os.path.join(folder, "nbgrader_config.py")):
            continue
        with contextlib.suppress(ConfigFileNotFound):
            cfg.merge(PyFileConfigLoader("nbgrader_config.py", path=folder).load_config())
    return cfg


def course_db_url(course=".", db_url: str | None = None) -> str:
    """The gradebook URL of a course, as nbgrader itself resolves it.

    Parameters
    ----------
    course : str or Path
        nbgrader course root.
    db_url : str, optional
        Use this URL instead of the configuration.

    Returns
    -------
    str
        ``db_url`` when given, else ``CourseDirectory.db_url`` from the course's
        ``nbgrader_config.py`` (or Jupyter's config folders), else
        ``sqlite:///<course>/gradebook.db``; PostgreSQL URLs use psycopg 3
        (:func:`normalise_db_url`).
    """
    course = Path(course).resolve()
    if db_url:
        return normalise_db_url(db_url)
    from nbgrader.coursedir import CourseDirectory

    cfg = _nbgrader_config(course)
    cd = CourseDirectory(config=cfg)
    if not cfg.get("CourseDirectory", {}).get("root"):
        cd.root = str(course)
    return normalise_db_url(cd.db_url)


def gradebook_exists(db_url: str) -> bool:
    """True when ``db_url`` holds an nbgrader gradebook (``nbgrader autograde --create`` has run)."""
    from sqlalchemy import create_engine, inspect
    from sqlalchemy.engine import make_url

    url = make_url(normalise_db_url(db_url))
    if url.get_backend_name() == "sqlite":
        return bool(url.database) and Path(url.database).is_file()
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return "grade" in inspect(conn).get_table_names()
    except Exception as exc:  # noqa: BLE001 - said in one line: which server, what went wrong
        raise GraderError(f"cannot reach the gradebook at {redact(db_url)}: {_first_line(exc)}") from None
    finally:
        engine.dispose()


def redact(db_url: str) -> str:
    """``db_url`` with its password replaced by ``***`` (for messages and logs)."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(db_url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001
        return "<database URL>"


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _is_text(student: str) -> bool:
    try:
        student.encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False


def _sqlstate(exc: BaseException) -> str | None:
    orig = getattr(exc, "orig", None)
    return getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)


@dataclass
class GradeWrite:
    """The points of one submission's auto-graded cells, ready for the gradebook."""

    student: str
    points: dict[str, float]  # grade_id -> points


def write_grades(db_url: str, *, assignment: str, notebook: str, writes: list[GradeWrite]) -> int:
    """Write auto scores into an nbgrader gradebook in one transaction.

    Each listed cell's ``auto_score`` becomes the grader's points, its manual score
    is cleared and it no longer awaits manual grading. Cells without a gradebook
    entry (the submission was not autograded) are left out.

    Safe with several graders at once: rows are only ever updated (never inserted,
    so nothing is doubled), always locked in the same order (student, then cell) so
    two graders cannot deadlock, and a transaction PostgreSQL aborts anyway
    (deadlock or serialization failure) is run again from the start, so no grade is
    lost. SQLite serialises writers itself (a busy database is waited for).

    Parameters
    ----------
    db_url : str
        SQLAlchemy URL of the gradebook (see :func:`course_db_url`).
    assignment, notebook : str
        nbgrader assignment and notebook names.
    writes : list of GradeWrite

    Returns
    -------
    int
        Grades written.

    Raises
    ------
    GraderError
        When the database cannot be reached or keeps refusing the transaction.
    """
    from nbgrader.api import Assignment, Grade, GradeCell, Notebook, Student, SubmittedAssignment, SubmittedNotebook
    from sqlalchemy import create_engine, select
    from sqlalchemy.exc import DBAPIError
    from sqlalchemy.orm import Session

    url = normalise_db_url(db_url)
    # an id that is not text (a submitted folder's name with bytes that are not UTF-8) cannot be in nbgrader's
    # gradebook, and the database refuses it as a parameter: it is left out, not the class with it
    wanted = {(w.student, gid): float(p) for w in writes if _is_text(w.student) for gid, p in w.points.items()}
    if not wanted:
        return 0
    kw = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {}
    engine = create_engine(url, **kw)
    try:
        for attempt in range(_RETRIES):
            try:
                with Session(engine) as session, session.begin():
                    rows = session.execute(
                        select(Grade, Student.id, GradeCell.name)
                        .join(SubmittedNotebook, Grade.notebook_id == SubmittedNotebook.id)
                        .join(Notebook, SubmittedNotebook.notebook_id == Notebook.id)
                        .join(SubmittedAssignment, SubmittedNotebook.assignment_id == SubmittedAssignment.id)
                        .join(Assignment, SubmittedAssignment.assignment_id == Assignment.id)
                        .join(Student, SubmittedAssignment.student_id == Student.id)
                        .join(GradeCell, Grade.cell_id == GradeCell.id)
                        .where(Assignment.name == assignment, Notebook.name == notebook,
                               Student.id.in_(sorted({s for s, _ in wanted})))
                        .order_by(Student.id, GradeCell.name)
                        .with_for_update(of=Grade)
                    ).all()
                    n = 0
                    for grade, student, cell in rows:
                        points = wanted.get((student, cell))
                        if points is None:
                            continue
                        grade.auto_score = points
                        grade.manual_score = None
                        grade.needs_manual_grade = False
                        n += 1
                return n
            except DBAPIError as exc:
                if _sqlstate(exc) in _RETRY_SQLSTATES or "database is locked" in str(exc):
                    time.sleep(0.05 * (attempt + 1))
                    continue
                raise GraderError(f"gradebook {redact(url)}: {_first_line(exc)}") from None
        raise GraderError(f"gradebook {redact(url)}: the database refused the grades {_RETRIES} times "
                          "(other graders kept it busy); run `layerlab grade --resume` again")
    finally:
        engine.dispose()


# --------------------------------------------------------------------------------------
# SQLite -> PostgreSQL
# --------------------------------------------------------------------------------------


@dataclass
class CopyReport:
    """What :func:`copy_gradebook` copied: rows per nbgrader table."""

    source: str
    target: str
    rows: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.rows.values())


def _as_url(source) -> str:
    text = str(source)
    if "://" in text:
        return normalise_db_url(text)
    path = Path(text).resolve()
    if path.is_dir():
        path = path / "gradebook.db"
    if not path.is_file():
        raise InputError(f"{source}: no gradebook here; give the course's gradebook.db or a database URL")
    return f"sqlite:///{path}"


@contextlib.contextmanager
def _venv_on_path():
    """nbgrader runs the ``alembic`` command when it creates a gradebook: find it next to this Python."""
    old = os.environ.get("PATH", "")
    os.environ["PATH"] = os.path.dirname(sys.executable) + os.pathsep + old
    try:
        yield
    finally:
        os.environ["PATH"] = old


def copy_gradebook(source, target: str) -> CopyReport:
    """Copy a whole nbgrader gradebook (every table, every row) into an empty database.

    The target's tables are created by nbgrader itself (same schema, same alembic
    version), then every table is copied in dependency order in one transaction: a
    failure leaves the target as empty as it was.

    Parameters
    ----------
    source : str or Path
        The course's ``gradebook.db`` (or the course folder), or any database URL.
    target : str
        Database URL of an empty database, e.g. ``postgresql+psycopg://grader@db:5432/gradebook``.

    Returns
    -------
    CopyReport

    Raises
    ------
    InputError
        When the source holds no gradebook, or the target already holds grades, or
        their nbgrader schema versions differ.
    GraderError
        When a database cannot be reached.
    """
    from nbgrader.api import Base, Gradebook
    from sqlalchemy import create_engine, func, insert, inspect, select, text
    from sqlalchemy.exc import DBAPIError

    src_url, dst_url = _as_url(source), normalise_db_url(target)
    if src_url == dst_url:
        raise InputError("the source and target gradebooks are the same database")
    if not gradebook_exists(src_url):
        raise InputError(f"{redact(src_url)}: no nbgrader gradebook in it (run `nbgrader autograde --create` first)")
    tables = list(Base.metadata.sorted_tables)
    src, dst = create_engine(src_url), create_engine(dst_url)
    try:
        with dst.connect() as d:
            present = set(inspect(d).get_table_names())
            busy = {t.name: d.execute(select(func.count()).select_from(t)).scalar_one() for t in tables if t.name in present}
        busy = {k: v for k, v in busy.items() if v}
        if busy:
            raise InputError(f"{redact(dst_url)} already holds a gradebook ({', '.join(f'{k}: {v} rows' for k, v in busy.items())}); "
                             "copy into an empty database")
        with _venv_on_path(), Gradebook(dst_url):
            pass  # nbgrader creates its tables, stamps its alembic version (and adds its default course row)
    except DBAPIError as exc:
        src.dispose()
        dst.dispose()
        raise GraderError(f"cannot reach the target gradebook {redact(dst_url)}: {_first_line(exc)}") from None
    try:
        with src.connect() as s, dst.begin() as d:
            version = s.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
            target_version = d.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
            if version != target_version:
                raise InputError(f"{redact(src_url)} is at nbgrader schema {version}, the target at {target_version}: "
                                 "run `nbgrader db upgrade` on the source first")
            for t in reversed(tables):  # only what nbgrader just created (the target was empty)
                d.execute(t.delete())
            rows = {}
            for t in tables:
                data = [dict(r) for r in s.execute(select(t)).mappings()]
                if data:
                    d.execute(insert(t), data)
                rows[t.name] = len(data)
    except DBAPIError as exc:
        raise GraderError(f"copying {redact(src_url)} to {redact(dst_url)}: {_first_line(exc)}") from None
    finally:
        src.dispose()
        dst.dispose()
    return CopyReport(redact(src_url), redact(dst_url), rows)
