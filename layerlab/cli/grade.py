"""``layerlab grade ASSIGNMENT``: grade every collected submission of a lab out of the learner's kernel.

Documented for instructors in ``autograder/README.md``.
"""

from __future__ import annotations

import os
import sys
import warnings

from layerlab.grading import DEFAULT_MEMORY_MB, DEFAULT_TIMEOUT_S, grade_assignment
from layerlab.grading.results import fmt, one_line


def configure(parser) -> None:
    parser.add_argument("assignment", help="assignment name (a folder under source/ and an entry in rubric.json)")
    parser.add_argument("--course", default=".", help="nbgrader course root (default: current folder)")
    parser.add_argument("--rubric", default=None, help="rubric.json (default: <course>/rubric.json, else the kit's)")
    parser.add_argument("--student", action="append", default=None, help="grade only this student (repeatable)")
    parser.add_argument("--jobs", type=int, default=None,
                        help=f"submissions graded in parallel, each in its own process (default: the cores, {os.cpu_count()})")
    parser.add_argument("--timeout", type=float, default=None,
                        help=f"seconds the learner's code may run (default: the rubric's timeout_s, else {DEFAULT_TIMEOUT_S:.0f})")
    parser.add_argument("--memory-mb", type=float, default=DEFAULT_MEMORY_MB, help="memory limit of the learner's code")
    parser.add_argument("--resume", action="store_true", help="reuse results of unchanged submissions")
    parser.add_argument("--no-gradebook", action="store_true", help="do not write scores into gradebook.db")
    parser.add_argument("--no-feedback", action="store_true", help="do not annotate autograded notebooks")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--no-sandbox", action="store_true",
                        help="run learner code without the bubblewrap sandbox (trusted work only; recorded in the summary)")
    parser.add_argument("--scheduler", default=None, metavar="tcp://HOST:PORT",
                        help="grade on the workers of this Dask cluster (default: Dask's scheduler-address setting or "
                             "DASK_SCHEDULER_ADDRESS if set, else here); "
                             "--jobs is then the submissions in flight")
    parser.add_argument("--db-url", default=None,
                        help="gradebook database URL (default: nbgrader's CourseDirectory.db_url, else <course>/gradebook.db)")


def run(args) -> int:
    if args.no_sandbox:
        print("layerlab grade: warning: --no-sandbox: learner code runs with your rights, guarded only by a Python "
              "audit hook; the summary records it", file=sys.stderr)
    grader = None
    if args.scheduler or "DASK_SCHEDULER_ADDRESS" in os.environ or _configured_scheduler():
        from layerlab.grading.cluster import DaskGrader

        grader = DaskGrader(args.scheduler, jobs=args.jobs)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # said once above
            s = grade_assignment(args.assignment, course=args.course, rubric=args.rubric, students=args.student,
                                 jobs=args.jobs, timeout_s=args.timeout, memory_mb=args.memory_mb,
                                 gradebook=not args.no_gradebook, feedback=not args.no_feedback, resume=args.resume,
                                 progress=not args.quiet, sandbox=not args.no_sandbox, grader=grader, db_url=args.db_url)
    finally:
        if grader is not None:
            grader.close()
    return _report(args, s)


def _report(args, s) -> int:
    for g in sorted(s.grades, key=lambda g: g.student):
        note = f"  ({one_line(g.error, limit=2000)})" if g.error else ""
        # the id is the learner's folder name: one line, control characters (terminal escapes) and bytes that are not
        # UTF-8 shown as escapes
        student = one_line(g.student, limit=255)
        if g.incomplete:  # the grader's own failure: no score to show (issue #12)
            print(f"{student:24s} {'-':>6s} / {fmt(g.max_score)}{note}")
            continue
        print(f"{student:24s} {fmt(g.score):>6s} / {fmt(g.max_score)}{note}")
    if s.manual_points:  # written answers: the scores above are the auto-graded part only
        print(f"{args.assignment} also has {fmt(s.manual_points)} points graded by hand in formgrader (not in these scores)")
    print(f"summary: {s.summary_csv}\nhistograms: {s.histograms_png}\nreports: {s.report_dir}")
    if args.resume:  # a stored result is kept only for the same files, variant, rubric and sandbox mode
        why = ", ".join(f"{n} {reason}" for reason, n in s.regraded.items())
        print(f"resume: kept the stored result of {s.kept} of {len(s.grades)} submissions; graded now: "
              f"{len(s.grades) - s.kept}" + (f" ({why})" if why else ""))
    retry = [one_line(g.student, limit=255) for g in s.grades if g.incomplete]
    if retry:
        print(f"not graded (grader fault), nothing recorded: {', '.join(retry)} - run again with --resume")
    if not args.no_gradebook:
        if s.gradebook_writes:
            print(f"gradebook: {s.gradebook_writes} grades written")
        else:
            print(f"gradebook: nothing written - run `nbgrader autograde {args.assignment} --create` first, then grade again")
    return 0


def _configured_scheduler() -> str | None:
    """Dask's own ``scheduler-address`` setting (``~/.config/dask/*.yaml``, ``DASK_SCHEDULER_ADDRESS``), if any."""
    try:
        import dask
    except ImportError:  # pragma: no cover - distributed is a dependency
        return None
    return dask.config.get("scheduler-address", None)
