"""The class: grading one submission, a whole assignment, the gradebook and the feedback notebooks.

Documented for instructors in ``autograder/README.md``.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from layerlab.errors import GradingError, LayerLabError, ZygoteError
from layerlab.grading.gradebook import GradeWrite, course_db_url, gradebook_exists, write_grades
from layerlab.grading.measuring import measure_in_child
from layerlab.grading.preprocessors import strip_hidden_tests
from layerlab.grading.reports import write_histograms, write_summary_csv
from layerlab.grading.results import ItemGrade, SubmissionGrade
from layerlab.grading.rubric import assignment_spec, load_rubric, score_answers
from layerlab.grading.runner import DEFAULT_MEMORY_MB, DEFAULT_TIMEOUT_S, protected_roots, run_learner_code
from layerlab.grading.submission import (check_notebook, copy_submission, course_of, refuse_links, resolve_inside,
                                         restore_locked_cells, submission_hash)


def grade_submission(submission_dir, *, assignment: str, rubric: dict | None = None, student: str = "",
                     timeout_s: float | None = None, memory_mb: float = DEFAULT_MEMORY_MB,
                     figures: bool = True, source_notebook=None, zygote=None) -> SubmissionGrade:
    """Grade one submission folder from scratch, out of the learner's kernel.

    The folder is copied, its notebook's solution cells run in a fresh isolated
    process (:func:`run_learner_code`), and the resulting deliverable is measured in
    another one (:func:`measure_in_child`), or the answers compared here.
    A broken submission scores zero with an explanation; it never raises. When
    the grader itself fails (its warm interpreter cannot fork), the result is
    marked ``incomplete`` instead, and nothing should be recorded from it.

    Parameters
    ----------
    submission_dir : str or Path
        ``submitted/<student>/<assignment>/`` (or any folder holding the notebook).
    assignment : str
        Rubric entry to grade against.
    timeout_s : float, optional
        Seconds the learner's code may run (default: the rubric's ``timeout_s``, else
        240).
    source_notebook : str or Path, optional
        The instructor's source notebook; its locked cells replace the learner's versions
        (see :func:`restore_locked_cells`).
    zygote : layerlab.grading.zygote.Zygote, optional
        The warm interpreter the submission's processes are forked from (default:
        the process-wide one).

    Returns
    -------
    SubmissionGrade
    """
    t0 = time.monotonic()
    rubric = rubric or load_rubric()
    spec = assignment_spec(assignment, rubric)
    timeout_s = float(timeout_s or spec.get("timeout_s") or DEFAULT_TIMEOUT_S)
    sub = Path(submission_dir)
    result = SubmissionGrade(assignment=assignment, student=student or sub.parent.name)
    work = Path(tempfile.mkdtemp(prefix="layerlab-grade-"))
    try:
        if not sub.is_dir() or sub.is_symlink():
            raise GradingError(f"{sub}: no submission folder here.")
        result.submission_sha256 = submission_hash(sub)
        skipped = copy_submission(sub, work)
        nb_path = resolve_inside(work, spec["notebook"] + ".ipynb")
        if not nb_path.is_file():
            raise GradingError(f"{spec['notebook']}.ipynb is missing from the submission"
                               + (f" (skipped: {', '.join(skipped)})" if skipped else "") + ".")
        check_notebook(nb_path, spec["notebook"] + ".ipynb")
        if source_notebook is not None and Path(source_notebook).is_file():
            restore_locked_cells(nb_path, source_notebook)
        course = course_of(sub, source_notebook)
        protect = protected_roots(course=course, workdir=work)
        if spec["kind"] == "mix":
            out_name = spec.get("deliverable", "deliverable")
            stale = resolve_inside(work, out_name)
            if stale.exists():
                shutil.rmtree(stale, ignore_errors=True)  # measure what the submitted code exports, not a leftover
            _, log = run_learner_code(nb_path, work, timeout_s=timeout_s, memory_mb=memory_mb, protect=protect,
                                      zygote=zygote)
            result.log = log
            result.error = run_notes(log)
            deliverable = resolve_inside(work, out_name)
            if not deliverable.is_dir():
                errors = [line for line in log.splitlines() if line.startswith("[cell ")][:3]
                raise GradingError(f"The notebook did not export a deliverable folder '{out_name}/'. "
                                   "Run the export cell (export_deliverable(stack, 'deliverable')) and make sure it runs without errors."
                                   + (" Errors while running it: " + "; ".join(errors) if errors else "")
                                   + (" " + result.error if result.error else ""))
            refuse_links(deliverable)
            result.items = measure_in_child(deliverable, spec, figures=figures, memory_mb=memory_mb, zygote=zygote)
        else:
            values, log = run_learner_code(nb_path, work, exports=spec.get("exports", []), timeout_s=timeout_s,
                                           memory_mb=memory_mb, protect=protect, partial=True, zygote=zygote)
            result.log = log
            result.error = run_notes(log)
            result.items = score_answers(values, spec)
    except Exception as exc:  # noqa: BLE001 - a broken submission scores zero, the batch goes on
        if isinstance(exc, ZygoteError):
            result.incomplete = True
            result.error = f"The grader could not run this submission ({exc}); it was not scored. Grade it again."
        else:
            result.error = str(exc) if isinstance(exc, LayerLabError) else f"{type(exc).__name__}: {exc}"
        result.items = [ItemGrade(it["grade_id"], it.get("check") or it.get("label") or it.get("answer", it["grade_id"]), 0.0,
                                  float(it["points"]), False, message=result.error) for it in spec["items"]]
    finally:
        shutil.rmtree(work, ignore_errors=True)
        result.elapsed_s = round(time.monotonic() - t0, 3)
    return result


def run_notes(log: str) -> str:
    """The grader's own notes on a run (stopped, crashed, exited early), in plain words."""
    return " ".join(line[len("[grader] "):] for line in log.splitlines() if line.startswith("[grader] "))


@dataclass
class ClassSummary:
    """What ``layerlab grade`` produced for one assignment."""

    assignment: str
    grades: list[SubmissionGrade]
    report_dir: Path
    summary_csv: Path
    histograms_png: Path
    gradebook_writes: int = 0


def grade_assignment(assignment: str, *, course=".", rubric=None, students=None, jobs: int | None = None,
                     timeout_s: float | None = None, memory_mb: float = DEFAULT_MEMORY_MB,
                     gradebook: bool = True, feedback: bool = True, resume: bool = False,
                     progress: bool = True, grader=None, db_url: str | None = None) -> ClassSummary:
    """Grade every collected submission of an assignment and write the class summary.

    Parameters
    ----------
    assignment : str
    course : str or Path
        nbgrader course root (holds ``submitted/`` and ``gradebook.db``).
    rubric : str or Path, optional
        Default: ``<course>/rubric.json`` or the kit's.
    students : list of str, optional
        Only these students.
    jobs : int, optional
        Submissions graded at the same time (each in its own processes); default: the
        number of CPU cores.
    timeout_s : float, optional
        Seconds each learner's code may run (default: the rubric's ``timeout_s``, else 240).
    gradebook : bool
        Write the points into ``gradebook.db`` (replacing what autograde recorded).
    feedback : bool
        Replace each grade cell's output in ``autograded/`` with the grader's verdict and
        strip hidden tests, so ``nbgrader generate_feedback`` shows the real result.
    resume : bool
        Reuse a previous result when the submission's files have not changed.
    grader : callable, optional
        ``grader(submission_dir, **grade_submission_kwargs) -> SubmissionGrade`` grades one
        submission somewhere else, e.g. :class:`layerlab.grading.cluster.DaskGrader` on a
        Dask cluster (its ``jobs`` attribute is the default ``jobs``). Default: here, in
        ``jobs`` threads, each submission in its own processes.
    db_url : str, optional
        Gradebook URL (default: nbgrader's ``CourseDirectory.db_url`` for the course, see
        :func:`layerlab.grading.gradebook.course_db_url`).

    Returns
    -------
    ClassSummary
    """
    from concurrent.futures import ThreadPoolExecutor, as_completed

    from layerlab.grading import zygote

    course = Path(course).resolve()
    rubric_data = load_rubric(rubric, course=course)
    spec = assignment_spec(assignment, rubric_data)
    sub_root = course / "submitted"
    if not sub_root.is_dir():
        raise GradingError(f"{course}: no submitted/ folder. Run `nbgrader collect {assignment}` (or `nbgrader zip_collect`) first.")
    subs = [(s, a) for s, a in _all_submissions(sub_root, assignment) if not students or s in students]
    if students:
        missing = sorted(set(students) - {s for s, _ in subs})
        if missing:
            raise GradingError(f"no collected submission of {assignment} for {', '.join(missing)} in {sub_root}.")
    report_dir = course / "reports" / assignment
    (report_dir / "results").mkdir(parents=True, exist_ok=True)
    source_nb = course / "source" / assignment / f"{spec['notebook']}.ipynb"

    def one(args):
        student, adir = args
        cache = report_dir / "results" / f"{student}.json"
        if resume and cache.is_file():
            try:
                old = SubmissionGrade.from_dict(json.loads(cache.read_text(encoding="utf-8")))
                if old.submission_sha256 and old.submission_sha256 == submission_hash(adir):
                    return old
            except (OSError, json.JSONDecodeError, TypeError, KeyError):
                pass
        kw = dict(assignment=assignment, rubric=rubric_data, student=student, timeout_s=timeout_s, memory_mb=memory_mb,
                  source_notebook=source_nb if source_nb.is_file() else None)
        g = (grader or grade_here)(adir, **kw)
        g.student = student
        if g.incomplete:
            return g  # not stored: a resumed run grades it again
        part = cache.with_name(cache.name + f".{os.getpid()}.{threading.get_ident()}.part")
        part.write_text(json.dumps(g.to_dict()), encoding="utf-8")
        os.replace(part, cache)  # a batch killed here leaves the old result or the new one, never half of one
        return g

    bar = _progress(len(subs), f"grading {assignment}", progress)
    jobs = int(jobs) if jobs else (getattr(grader, "jobs", None) or os.cpu_count() or 1)
    if grader is None:
        zygote.shared()  # started here, before any submission: if it cannot start, that is the grader's error, said once
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        futures = [pool.submit(one, s) for s in subs]
        for _ in as_completed(futures):  # the bar moves as each submission finishes, in whatever order
            bar.update(1)
        grades = [f.result() for f in futures]
    bar.close()

    for g in grades:
        (report_dir / f"{g.student}.html").write_text(g.to_html(), encoding="utf-8")
        (report_dir / f"{g.student}.md").write_text(g.to_markdown(figure_dir=report_dir / f"{g.student}_figures"),
                                                    encoding="utf-8")
    writes = 0
    scored = [g for g in grades if not g.incomplete]  # the grader's own failures record nothing
    if gradebook:
        url = course_db_url(course, db_url)
        if gradebook_exists(url):
            writes = write_gradebook(course, assignment, spec, scored, db_url=url)
    if feedback:
        for g in scored:
            annotate_autograded(course, assignment, spec, g)
    # the class summary covers every collected submission, also those graded in an earlier run
    klass = {g.student: g for g in grades}
    for student, _ in ([] if students is None else _all_submissions(sub_root, assignment)):
        cache = report_dir / "results" / f"{student}.json"
        if student not in klass and cache.is_file():
            with contextlib.suppress(OSError, json.JSONDecodeError, TypeError, KeyError):
                klass[student] = SubmissionGrade.from_dict(json.loads(cache.read_text(encoding="utf-8")))
    everyone = sorted(klass.values(), key=lambda g: g.student)
    csv_path = write_summary_csv(report_dir / "summary.csv", spec, everyone)
    png_path = write_histograms(report_dir / "histograms.png", spec, everyone, assignment=assignment)
    return ClassSummary(assignment, grades, report_dir, csv_path, png_path, writes)


def grade_here(submission_dir, **kw) -> SubmissionGrade:
    """Grade one submission in this process's grader (:func:`grade_submission`), once more if the grader itself failed."""
    g = grade_submission(submission_dir, **kw)
    if g.incomplete:  # the grader's own interpreter stopped (not the learner's doing): once more, with a new one
        g = grade_submission(submission_dir, **kw)
    return g


def _all_submissions(sub_root: Path, assignment: str) -> list[tuple[str, Path]]:
    out = []
    for sdir in sorted(sub_root.iterdir()):
        adir = sdir / assignment
        if sdir.is_dir() and not sdir.is_symlink() and adir.is_dir() and not adir.is_symlink():
            out.append((sdir.name, adir))
    return out


def _progress(total: int, desc: str, enabled: bool):
    try:
        from tqdm.auto import tqdm

        return tqdm(total=total, desc=desc, unit="submission", disable=not enabled, file=sys.stderr)
    except ImportError:  # pragma: no cover
        class _Bar:
            def update(self, n):
                pass

            def close(self):
                pass
        return _Bar()


def write_gradebook(course, assignment: str, spec: dict, grades: list[SubmissionGrade], *,
                    db_url: str | None = None) -> int:
    """Write each item's points into the nbgrader gradebook as the auto score.

    A manual score found on an auto-graded cell is cleared (a code cell's score can
    only come from the grader). The gradebook is the course's (``db_url``, default
    nbgrader's ``CourseDirectory.db_url``: SQLite or PostgreSQL), written in one
    transaction that concurrent graders cannot lose or double
    (:func:`layerlab.grading.gradebook.write_grades`). Returns the number of grades written.
    """
    writes = [GradeWrite(g.student, {it.grade_id: float(it.points) for it in g.items}) for g in grades]
    return write_grades(course_db_url(course, db_url), assignment=assignment, notebook=spec["notebook"], writes=writes)


def annotate_autograded(course, assignment: str, spec: dict, grade: SubmissionGrade) -> bool:
    """Put the grader's verdict into the autograded notebook that feedback is made from.

    Each grade cell's outputs are replaced by the grader's text (measured value,
    target, advice) and figure, and hidden tests are removed from every cell.
    """
    import nbformat

    path = Path(course) / "autograded" / grade.student / assignment / f"{spec['notebook']}.ipynb"
    if not path.is_file() or path.is_symlink():
        return False
    nb = nbformat.read(str(path), as_version=4)
    by_id = {it.grade_id: it for it in grade.items}
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type == "code" or cell.cell_type == "markdown":
            cell.source = strip_hidden_tests(cell.source)
        it = by_id.get(meta.get("grade_id"))
        if it is None or cell.cell_type != "code":
            continue
        outputs = [nbformat.v4.new_output("stream", name="stdout", text="Grader's verdict (measured outside your kernel):\n" + it.to_text() + "\n")]
        if it.figure_png:
            outputs.append(nbformat.v4.new_output("display_data", data={"image/png": it.figure_png, "text/plain": f"<{it.name} figure>"}))
        cell.outputs = outputs
    nbformat.write(nb, str(path))
    return True
