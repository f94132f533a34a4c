"""``layerlab gradebook``: where a course's gradebook lives, and moving it to PostgreSQL.

Examples::

    layerlab gradebook url --course /srv/course
    layerlab gradebook copy /srv/course/gradebook.db postgresql+psycopg://grader@db:5432/gradebook

``copy`` copies every table of an nbgrader gradebook (assignments, students,
submissions, grades, comments) into an empty database, in one transaction; then set
``CourseDirectory.db_url`` (or ``LAYERLAB_DB_URL`` with the kit's
``nbgrader_config.py``) to the new URL. Documented in ``docs/deploying.md``.
"""

from __future__ import annotations

import argparse

from layerlab.grading.gradebook import copy_gradebook, course_db_url, redact


def configure(parser: argparse.ArgumentParser) -> None:
    """Attach the ``gradebook`` subcommands to a parser."""
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    url = sub.add_parser("url", help="print the gradebook URL nbgrader uses for a course (password hidden)")
    url.add_argument("--course", default=".", help="nbgrader course root (default: current folder)")
    copy = sub.add_parser("copy", help="copy a gradebook (e.g. gradebook.db) into an empty database (e.g. PostgreSQL)")
    copy.add_argument("source", help="the course's gradebook.db, the course folder, or a database URL")
    copy.add_argument("target", help="URL of an empty database, e.g. postgresql+psycopg://user@host:5432/gradebook")


def run(args) -> int:
    if args.action == "url":
        print(redact(course_db_url(args.course)))
        return 0
    report = copy_gradebook(args.source, args.target)
    counts = ", ".join(f"{name} {n}" for name, n in report.rows.items() if n)
    print(f"copied {report.total} rows from {report.source} to {report.target} ({counts})")
    return 0
