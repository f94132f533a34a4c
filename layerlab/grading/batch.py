"""The class: grading one submission, a whole assignment, the gradebook and the feedback notebooks.

Documented for instructors in ``autograder/README.md``.
"""

from __future__ import annotations

import collections
import hashlib
import hmac
import json
import os
import re
import secrets
import shutil
import sys
import tempfile
import threading
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from layerlab.errors import GraderError, GraderSetupError, GradingError, LayerLabError, ZygoteError
from layerlab.grading.gradebook import GradeWrite, course_db_url, gradebook_exists, write_grades
from layerlab.grading.measuring import measure_in_child
from layerlab.grading.preprocessors import strip_hidden_tests
from layerlab.grading.reports import write_histograms, write_summary_csv
from layerlab.grading.results import NOT_MEASURED_SEE_NOTE_ABOVE, ItemGrade, SubmissionGrade, one_line
from layerlab.grading.rubric import assignment_spec, load_rubric, manual_points, no_answers_note, score_answers
from layerlab.grading.sandbox import needs_numba, warm_numba_cache
from layerlab.grading.runner import DEFAULT_MEMORY_MB, DEFAULT_TIMEOUT_S, describe_cell_errors, protected_roots, run_learner_code
from layerlab.grading.submission import (LEFT_OUT_DIRS, check_notebook, copy_submission, course_of, refuse_links, remove_tree, resolve_inside,
                                         restore_locked_cells, stub_cells, submission_hash)
from layerlab.paths import PACKAGE_DIR


def grade_submission(submission_dir, *, assignment: str, rubric: dict | None = None, student: str = "",
                     timeout_s: float | None = None, memory_mb: float = DEFAULT_MEMORY_MB,
                     figures: bool = True, source_notebook=None, zygote=None, sandbox: bool = True,
                     variant: "LearnerVariant | GradingError | None" = None) -> SubmissionGrade:
    """Grade one submission folder from scratch, out of the learner's kernel.

    The folder is copied, its notebook's solution cells run in a fresh process
    inside the bubblewrap sandbox (:func:`run_learner_code`, :mod:`layerlab.grading.sandbox`),
    and once the sandbox is gone a snapshot of the deliverable (regular files,
    size-capped) is measured in a process forked from the zygote
    (:func:`measure_in_child`), or the answers compared here.
    A broken submission scores zero with an explanation; it never raises. When
    the grader itself fails (its warm interpreter cannot fork, bwrap cannot build
    the sandbox), the result is marked ``incomplete`` instead, and nothing should be
    recorded from it.

    Parameters
    ----------
    submission_dir : str or Path
        ``submitted/<student>/<assignment>/`` (or any folder holding the notebook).
    assignment : str
        Rubric entry to grade against.
    timeout_s : float, optional
        Seconds the learner's code may run (default: the rubric's ``timeout_s``, else
        240). The rubric's ``cpu_s``, if any, caps the CPU seconds of each of its
        processes, so a spinning loop ends sooner (without it: ``timeout_s`` + 10 in the
        sandbox, no CPU limit with ``sandbox=False``).
    source_notebook : str or Path, optional
        The instructor's source notebook; its locked cells replace the learner's versions
        (see :func:`restore_locked_cells`).
    zygote : layerlab.grading.zygote.Zygote, optional
        The warm interpreter the measuring process is forked from (default: the
        process-wide one); without the sandbox, the learner's process too.
    sandbox : bool
        Run the learner's code in bubblewrap (default). ``False`` forks it from the
        zygote with only the audit hook as a guard: for trusted work (``--no-sandbox``).
    variant : LearnerVariant or GradingError, optional
        The learner's own variant as the course folder holds it (:func:`learner_variant`), or the
        error its look-up raised there: given by a Dask worker, which has no course folder.
        Default: looked up in the course of ``submission_dir``.

    Returns
    -------
    SubmissionGrade
    """
    t0 = time.monotonic()
    rubric = rubric or load_rubric()
    spec = assignment_spec(assignment, rubric)
    timeout_s = float(timeout_s or spec.get("timeout_s") or DEFAULT_TIMEOUT_S)
    cpu_s = float(spec["cpu_s"]) if spec.get("cpu_s") is not None else None  # None: the default (see run_learner_code)
    sub = Path(submission_dir)
    result = SubmissionGrade(assignment=assignment, student=student or sub.parent.name,
                             sandbox="bwrap" if sandbox else "none")
    work = Path(tempfile.mkdtemp(prefix="layerlab-grade-"))
    snapshot = None
    try:
        if not sub.is_dir() or sub.is_symlink():
            raise GradingError(f"{sub}: no submission folder here.")
        result.submission_sha256 = submission_hash(sub)
        skipped = copy_submission(sub, work, leave_out=LEFT_OUT_DIRS)
        nb_path = resolve_inside(work, spec["notebook"] + ".ipynb")
        if not nb_path.is_file():
            raise GradingError(f"{spec['notebook']}.ipynb is missing from the submission"
                               + (f" (skipped: {', '.join(skipped)})" if skipped else "") + ".")
        check_notebook(nb_path, spec["notebook"] + ".ipynb")
        if source_notebook is not None and Path(source_notebook).is_file():
            restore_locked_cells(nb_path, source_notebook)
        # read before the learner's code runs (without the sandbox it could rewrite its own notebook)
        stubs = stub_cells(json.loads(nb_path.read_text(encoding="utf-8")))
        if sandbox and needs_numba(nb_path):
            warm_numba_cache()  # once per grader process: each sandbox then copies it instead of compiling (~40 CPU s)
        course = course_of(sub, source_notebook)
        if isinstance(variant, GradingError):
            raise variant
        if variant is None:
            variant = learner_variant(course, assignment, result.student)
        if variant is not None:
            place_variant(variant, work)
            spec = dict(spec, scene=str(variant.scene_dir))  # measured against the learner's own variant
        protect = protected_roots(course=course, workdir=work)
        if spec["kind"] == "mix":
            out_name = spec.get("deliverable", "deliverable")
            stale = resolve_inside(work, out_name)
            if stale.exists():
                remove_tree(stale)  # measure what the submitted code exports, not a leftover (the learner's: any depth)
            notes: list[str] = []
            _, log = run_learner_code(nb_path, work, timeout_s=timeout_s, cpu_s=cpu_s, memory_mb=memory_mb, protect=protect,
                                      zygote=zygote, sandbox=sandbox, notes=notes, collect=[out_name])
            result.log = log
            result.error = " ".join(notes)
            deliverable = resolve_inside(work, out_name)
            if not deliverable.is_dir():
                unfinished, printed = describe_cell_errors(log, stubs)
                # a learner who never started is told which cell to fill in, not to run the export cell
                first = (f"{unfinished} Nothing was measured: the notebook did not export a deliverable folder '{out_name}/'."
                         if unfinished else
                         f"The notebook did not export a deliverable folder '{out_name}/'. Run the export cell "
                         "(export_deliverable(stack, 'deliverable')) and make sure it runs without errors.")
                raise GradingError(" ".join(x for x in (first, printed, result.error) if x))
            refuse_links(deliverable)
            # measured on the grader's own snapshot: regular files only, size-capped, in a folder no learner process saw;
            # from the sandbox, hard links to the files the grader received once the sandbox was gone (nothing of the
            # learner's can write to them), else copies
            snapshot = Path(tempfile.mkdtemp(prefix="layerlab-snapshot-", dir=work.parent))
            copy_submission(deliverable, snapshot / out_name, link=sandbox)
            result.items = measure_in_child(snapshot / out_name, spec, figures=figures, memory_mb=memory_mb, zygote=zygote)
        else:
            notes = []
            values, log = run_learner_code(nb_path, work, exports=spec.get("exports", []), timeout_s=timeout_s, cpu_s=cpu_s,
                                           memory_mb=memory_mb, protect=protect, partial=True, zygote=zygote,
                                           sandbox=sandbox, notes=notes, collect=[])
            result.log = log
            result.items = score_answers(values, spec, cues=variant.truth if variant is not None else None)
            unfinished, printed = describe_cell_errors(log, stubs)
            missing = no_answers_note(values, spec)  # nothing answered at all: said once, with the errors printed
            result.error = " ".join(x for x in (unfinished, missing, printed if missing else "", *notes) if x)
    except Exception as exc:  # noqa: BLE001 - a broken submission scores zero, the batch goes on
        if isinstance(exc, GraderError):
            result.incomplete = True
            result.error = grader_fault_note(exc)
        else:
            result.error = str(exc) if isinstance(exc, LayerLabError) else f"{type(exc).__name__}: {exc}"
        result.items = [ItemGrade(it["grade_id"], it.get("check") or it.get("label") or it.get("answer", it["grade_id"]), 0.0,
                                  float(it["points"]), False, message=result.error) for it in spec["items"]]
    finally:
        remove_tree(work)
        if snapshot is not None:
            remove_tree(snapshot)
        result.elapsed_s = round(time.monotonic() - t0, 3)
    return result


@dataclass
class LearnerVariant:
    """The graded learner's own variant: its public scene folder and its complete (true) cue sheet."""

    student: str
    scene_dir: Path
    truth: dict
    public_dir: Path
    """The learner's public variant folder (holding ``scenes/<scene>/``), as released to them."""


def place_variant(variant: LearnerVariant, work: Path) -> None:
    """Copy the learner's own public variant to ``work/variants/<student>/`` (the only one there), where the lab's
    set-up cell finds it in the re-run."""
    shutil.copytree(variant.public_dir, Path(work) / "variants" / variant.student)


def learner_variant(course, assignment: str, student: str, work: Path | None = None) -> LearnerVariant | None:
    """Find the variant of ``student`` in the course (by the gradebook's id, never the submission's files).

    When ``work`` is given, the variant is also placed there (:func:`place_variant`).

    Returns
    -------
    LearnerVariant or None
        None when the course has no variants of this assignment.

    Raises
    ------
    GradingError
        The course has variants of this assignment but none for this student.
    """
    from layerlab.course import variants as _variants

    if course is None or not (Path(course) / "variants" / assignment).is_dir():
        return None
    try:
        truth_file = _variants.truth_path(course, assignment, student)
        public = _variants.public_dir(course, assignment, student)
    except LayerLabError as exc:
        raise GradingError(str(exc)) from None
    if not truth_file.is_file() or not (public / "scenes").is_dir():
        raise GradingError(f"no variant of {assignment} for student {student!r} in {course}; build it with "
                           f"`layerlab variants build {assignment} --course {course} --students {student}` and grade again.")
    doc = json.loads(truth_file.read_text(encoding="utf-8"))
    variant = LearnerVariant(student, public / "scenes" / doc["params"]["scene"], doc["cues"], public)
    if work is not None:
        place_variant(variant, work)
    return variant


@dataclass
class ClassSummary:
    """What ``layerlab grade`` produced for one assignment."""

    assignment: str
    grades: list[SubmissionGrade]
    report_dir: Path
    summary_csv: Path
    histograms_png: Path
    gradebook_writes: int = 0
    kept: int = 0
    """With ``resume``: submissions whose stored result was kept instead of grading them (see :func:`stale_reason`)."""
    regraded: dict[str, int] = field(default_factory=dict)
    """With ``resume``: why the others were graded now, each reason (:func:`stale_reason`) with its count."""
    manual_points: float | None = None
    """Points graded by hand in formgrader, not in these scores (:func:`manual_points`); None: no source notebook to tell."""


def grade_assignment(assignment: str, *, course=".", rubric=None, students=None, jobs: int | None = None,
                     timeout_s: float | None = None, memory_mb: float = DEFAULT_MEMORY_MB,
                     gradebook: bool = True, feedback: bool = True, resume: bool = False,
                     progress: bool = True, sandbox: bool = True, grader=None, db_url: str | None = None) -> ClassSummary:
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
        Reuse a previous result when the submission's files and the assignment's rubric entry have
        not changed and the stored result carries the grader's seal (:func:`seal_result`).
    sandbox : bool
        Run learner code in the bubblewrap sandbox (default). Where bwrap cannot run,
        :class:`layerlab.errors.SandboxError` is raised before anything is graded.
        ``False`` grades without it (trusted work only); a warning is issued and every
        result and the summary's ``sandbox`` column say ``none``.
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
        A submission the grader itself failed on is ``incomplete``, marked "not graded (grader
        fault)" (:func:`grader_fault_note`), never scored zero nor stored: ``--resume`` grades it again.

    Raises
    ------
    GraderSetupError
        The grader's set-up cannot run an empty notebook the way it runs submissions
        (:func:`probe_grader`); nobody is graded.
    SandboxError
        bwrap cannot run here (and ``sandbox`` is True).
    """
    from concurrent.futures import ThreadPoolExecutor, as_completed

    from layerlab.grading import zygote

    course = Path(course).resolve()
    rubric_data = load_rubric(rubric, course=course)
    spec = assignment_spec(assignment, rubric_data)
    sub_root = course / "submitted"
    if not sub_root.is_dir():
        raise GradingError(f"{course}: no submitted/ folder. Name the course folder (the one holding nbgrader_config.py: "
                           f"`--course PATH`, or run from it); in it, run `nbgrader collect {assignment}` (or "
                           f"`nbgrader zip_collect`) first.")
    subs = [(s, a) for s, a in _all_submissions(sub_root, assignment) if not students or s in students]
    if students:
        missing = sorted(set(students) - {s for s, _ in subs})
        if missing:
            raise GradingError(f"no collected submission of {assignment} for {', '.join(missing)} in {sub_root}.")
    report_dir = course / "reports" / assignment
    source_nb = course / "source" / assignment / f"{spec['notebook']}.ipynb"

    if sandbox:
        from layerlab.grading.sandbox import require_sandbox

        require_sandbox()  # refuse before grading anything, in one line that says how to enable it
    else:
        warnings.warn("grading without the OS sandbox (--no-sandbox): learner code runs with the grader's rights, "
                      "guarded only by a Python audit hook; use it for trusted work only", stacklevel=2)
    probe_grader(sandbox=sandbox)  # a broken set-up is refused here, in one line, before anybody is graded
    (report_dir / "results").mkdir(parents=True, exist_ok=True)
    key = grader_key(course / "reports")
    rubric_sha = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()
    kept: list[str] = []
    regraded: collections.Counter = collections.Counter()

    def one(args):
        student, adir = args
        cache = report_dir / "results" / f"{report_stem(student)}.json"
        if resume:
            old = load_sealed_result(cache, key) if cache.is_file() else None
            try:
                why = stale_reason(old, cache, adir, sandbox=sandbox, rubric_sha256=rubric_sha,
                                   variant_rebuilt=variant_rebuilt_since(cache, course, assignment, student))
            except OSError:  # a learner's file the grader cannot read (collect copies its mode bits): graded again,
                why = "whose files could not be read"  # where it scores zero with the reason; the batch goes on
            if why is None:
                kept.append(student)
                return old
            regraded[why] += 1
        kw = dict(assignment=assignment, rubric=rubric_data, student=student, timeout_s=timeout_s, memory_mb=memory_mb,
                  source_notebook=source_nb if source_nb.is_file() else None, sandbox=sandbox)
        try:
            g = (grader or grade_here)(adir, **kw)
        except Exception as exc:  # noqa: BLE001 - the grader itself failed on this one: the batch goes on without it
            g = SubmissionGrade(assignment=assignment, student=student, incomplete=True,
                                error=grader_fault_note(f"{type(exc).__name__}: {exc}"))
        g.student = student
        g.rubric_sha256 = rubric_sha
        if g.incomplete:
            return g  # not stored: a resumed run grades it again
        part = cache.with_name(cache.name + f".{os.getpid()}.{threading.get_ident()}.part")
        part.write_text(json.dumps(seal_result(g.to_dict(), key)), encoding="utf-8")
        os.replace(part, cache)  # a batch killed here leaves the old result or the new one, never half of one
        return g

    bar = _progress(len(subs), f"grading {assignment}", progress)
    jobs = int(jobs) if jobs else (getattr(grader, "jobs", None) or os.cpu_count() or 1)
    if grader is None:
        zygote.shared()  # started here, before any submission: if it cannot start, that is the grader's error, said once
    try:  # closed before an interrupt reaches the command's message, so the bar is not drawn again below it
        with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            futures = [pool.submit(one, s) for s in subs]
            for _ in as_completed(futures):  # the bar moves as each submission finishes, in whatever order
                bar.update(1)
            grades = [f.result() for f in futures]
    finally:
        bar.close()

    for g in grades:
        stem = report_stem(g.student)
        (report_dir / f"{stem}.html").write_text(g.to_html(), encoding="utf-8", errors="backslashreplace")
        (report_dir / f"{stem}.md").write_text(g.to_markdown(figure_dir=report_dir / f"{stem}_figures"),
                                               encoding="utf-8", errors="backslashreplace")
    writes = 0
    scored = [g for g in grades if not g.incomplete]  # the grader's own failures record nothing
    if gradebook:
        url = course_db_url(course, db_url)
        if gradebook_exists(url):
            writes = write_gradebook(course, assignment, spec, scored, db_url=url)
    if feedback:
        for g in scored:
            try:
                annotate_autograded(course, assignment, spec, g)
            except Exception as exc:  # noqa: BLE001 - one notebook (autograde ran its code unsandboxed) costs only its own feedback
                warnings.warn(f"the feedback notebook of {one_line(g.student)} could not be annotated "
                              f"({type(exc).__name__}: {one_line(str(exc))[:200]}); the rest of the class was", stacklevel=2)
    # the class summary covers every collected submission, also those graded in an earlier run
    klass = {g.student: g for g in grades}
    for student, _ in ([] if students is None else _all_submissions(sub_root, assignment)):
        cache = report_dir / "results" / f"{report_stem(student)}.json"
        if student not in klass and cache.is_file():
            old = load_sealed_result(cache, key)
            if old is not None:
                klass[student] = old
    everyone = sorted(klass.values(), key=lambda g: g.student)
    csv_path = write_summary_csv(report_dir / "summary.csv", spec, everyone)
    png_path = write_histograms(report_dir / "histograms.png", spec, everyone, assignment=assignment)
    return ClassSummary(assignment, grades, report_dir, csv_path, png_path, writes, kept=len(kept),
                        regraded=dict(regraded.most_common()),
                        manual_points=manual_points(source_nb, spec) if source_nb.is_file() else None)


def stale_reason(old, cache, submission_dir, *, sandbox: bool, rubric_sha256: str, variant_rebuilt: bool) -> str | None:
    """Why ``--resume`` cannot reuse a stored result, in words for the instructor; None when it can.

    A stored result is reused only when it carries the grader's seal (:func:`seal_result`), the submission's files
    are the ones it was scored from (:func:`submission_hash`), it was scored under the same rubric entry and in the
    same sandbox mode, and the learner's variant was not rebuilt since (:func:`variant_rebuilt_since`).

    Parameters
    ----------
    old : SubmissionGrade or None
        The stored result as :func:`load_sealed_result` read it (None: missing, or its seal does not hold).
    cache : Path
        Where it is stored.
    submission_dir : Path
        The learner's collected submission.
    """
    if old is None:
        return "whose stored result the grader cannot prove it wrote" if Path(cache).is_file() else "with no stored result"
    if not old.submission_sha256 or old.submission_sha256 != submission_hash(submission_dir):
        return "changed since"
    if old.rubric_sha256 != rubric_sha256:
        return "scored under another rubric"
    if old.sandbox != ("bwrap" if sandbox else "none"):
        return "stored without the sandbox" if sandbox else "stored in the sandbox"
    if variant_rebuilt:
        return "whose variant was rebuilt since"
    return None


MAX_STEM_BYTES = 100
"""Longest student id (in bytes) that names its reports and stored result as it is; a file name holds 255 bytes."""


_HASHED_STEM = re.compile(r"[A-Za-z0-9_-]*-[0-9a-f]{16}")


def report_stem(student: str) -> str:
    """The file-name stem of a student's reports and stored result (``reports/<assignment>/<stem>.html``...).

    The student id is the name of the learner's folder in ``submitted/``, which a learner may choose (nbgrader's
    ``submit`` names its inbound folder): the id itself when it is UTF-8 text of at most :data:`MAX_STEM_BYTES`
    bytes, else its first letters and digits and 16 hex digits of its SHA-256 (one id too long for a file name,
    or not text, cost the whole class its reports before); an id that reads like such a stem is hashed too.
    """
    raw = os.fsencode(student)
    try:
        raw.decode("utf-8")
        if len(raw) <= MAX_STEM_BYTES and not _HASHED_STEM.fullmatch(student):  # (no id names another's files)
            return student
    except UnicodeDecodeError:
        pass
    head = "".join(c for c in student[:40] if c.isascii() and (c.isalnum() or c in "-_"))
    return f"{head}-{hashlib.sha256(raw).hexdigest()[:16]}"


NOT_GRADED = "not graded (grader fault)"
"""How a submission the grader itself failed on is marked: in reports, the summary and the command's output."""


def grader_fault_note(cause) -> str:
    """The note on a submission the grader failed on (``cause``: the failure): never a score, always a re-run."""
    return f"{NOT_GRADED}: {one_line(str(cause))[:400]}; nothing was recorded, run again with --resume."


PROBE_NOTEBOOK = {"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
"""The probe: a notebook with no cells (issue #12)."""


def probe_grader(*, sandbox: bool = True, zygote=None) -> None:
    """Run an empty notebook exactly the way every submission will run, once, before a batch.

    A grader whose set-up is broken (a stray ``PYTHONPATH`` pointing at another copy of
    the kit, a broken virtual environment: the sandbox then cannot import ``layerlab``)
    used to give every learner 0 with "the notebook process ended early". The probe finds
    that before anybody is graded.

    Parameters
    ----------
    sandbox : bool
        Through bubblewrap (:func:`run_learner_code` with ``sandbox=True``), as ``layerlab
        grade`` does; ``False``: forked from the zygote (``--no-sandbox``).
    zygote : layerlab.grading.zygote.Zygote, optional
        Without the sandbox: the warm interpreter (default: the process-wide one).

    Raises
    ------
    GraderSetupError
        One line: what failed, and what to check in the grader's set-up. Nobody was graded.
    """
    work = Path(tempfile.mkdtemp(prefix="layerlab-probe-"))
    try:
        nb = work / "probe.ipynb"
        nb.write_text(json.dumps(PROBE_NOTEBOOK), encoding="utf-8")
        for attempt in (1, 2):
            notes: list[str] = []
            try:
                run_learner_code(nb, work, timeout_s=60.0, sandbox=sandbox, zygote=zygote, notes=notes, collect=[])
                why = " ".join(notes)
            except ZygoteError as exc:  # the warm interpreter itself stopped (an OOM kill): once more, with a new one
                why = str(exc)
                if attempt == 1 and zygote is None:
                    continue
            except GraderError as exc:
                why = str(exc)
            break
        if why:
            hint = (f" PYTHONPATH is set ({os.environ['PYTHONPATH']}): unset it, or install that copy of the kit in this "
                    "environment." if os.environ.get("PYTHONPATH") else "")
            where = (f"in the sandbox ({one_line(why)[:300]}). The sandbox runs `{sys.executable} -I`, which ignores "
                     f"PYTHONPATH and sees only that environment and {PACKAGE_DIR}: that environment must import this "
                     "copy of the kit." if sandbox else f"in the grader ({one_line(why)[:300]}).")
            raise GraderSetupError("the grader's set-up is broken, nobody was graded: a notebook with no code could not "
                                   f"run {where}{hint}")
    finally:
        remove_tree(work)


def grade_here(submission_dir, **kw) -> SubmissionGrade:
    """Grade one submission in this process's grader (:func:`grade_submission`), once more if the grader itself failed."""
    g = grade_submission(submission_dir, **kw)
    if g.incomplete:  # the grader's own interpreter stopped (not the learner's doing): once more, with a new one
        g = grade_submission(submission_dir, **kw)
    return g


KEY_FILE = ".layerlab-grader.key"
"""The grader's sealing key, in ``<course>/reports/`` (0600; learner code never sees the course folder)."""


def grader_key(reports_dir) -> bytes:
    """The course's result-sealing key (32 random bytes), created on first use with mode 0600."""
    reports_dir = Path(reports_dir)
    reports_dir.mkdir(parents=True, exist_ok=True)
    path = reports_dir / KEY_FILE
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        data = path.read_bytes()
        if len(data) >= 32 and not path.is_symlink():
            return data
        raise GradingError(f"{path}: the grader's key is damaged; delete it and grade again without --resume.") from None
    with os.fdopen(fd, "wb") as fh:
        fh.write(secrets.token_bytes(32))
    return path.read_bytes()


def _seal_text(d: dict) -> bytes:
    return json.dumps({k: v for k, v in d.items() if k != "grader_hmac"}, sort_keys=True, separators=(",", ":")).encode()


def variant_rebuilt_since(result_path, course, assignment: str, student: str) -> bool:
    """Whether the learner's variant truth is newer than a stored result (the instructor rebuilt the variants).

    ``--resume`` then grades the submission again: a result scored against an old truth is not reused.
    False when the course has no variant for this learner.
    """
    from layerlab.course import variants as _variants

    try:
        truth = _variants.truth_path(course, assignment, student)
        return truth.is_file() and truth.stat().st_mtime > Path(result_path).stat().st_mtime
    except (LayerLabError, OSError):
        return False


def seal_result(d: dict, key: bytes) -> dict:
    """A stored result with ``grader_hmac``: HMAC-SHA256 of its canonical JSON under the grader's key."""
    out = dict(d)
    out["grader_hmac"] = hmac.new(key, _seal_text(out), hashlib.sha256).hexdigest()
    return out


def load_sealed_result(path, key: bytes) -> SubmissionGrade | None:
    """The stored result at ``path`` if the grader wrote it (its seal checks out), else None."""
    try:
        d = json.loads(Path(path).read_text(encoding="utf-8"))
        if not isinstance(d, dict) or not hmac.compare_digest(str(d.get("grader_hmac", "")),
                                                              seal_result(d, key)["grader_hmac"]):
            return None
        return SubmissionGrade.from_dict(d)
    except (OSError, ValueError, TypeError, KeyError):
        return None


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
    note = grade.error  # said once, in the first graded cell; a check whose message only repeats it points there
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader")
        meta = meta if isinstance(meta, dict) else {}  # the learner's JSON: any type at all
        if cell.cell_type == "code" or cell.cell_type == "markdown":
            cell.source = strip_hidden_tests(cell.source)
        it = by_id.get(meta.get("grade_id"))
        if it is None or cell.cell_type != "code":
            continue
        head = f"Grader's note (for every check in this notebook): {one_line(note, limit=2000)}\n" if note else ""
        note = ""
        verdict = it.to_text(message=NOT_MEASURED_SEE_NOTE_ABOVE if grade.shares_note(it) else None)
        outputs = [nbformat.v4.new_output("stream", name="stdout",
                                          text=head + "Grader's verdict (measured outside your kernel):\n" + verdict + "\n")]
        if it.figure_png:
            alt = f"The grader's figure for {it.name}: {it.to_text().splitlines()[0] if it.to_text() else ''}"
            outputs.append(nbformat.v4.new_output("display_data", data={"image/png": it.figure_png, "text/plain": f"<{it.name} figure>"},
                                                  metadata={"layerlab": {"alt": alt}}))
        cell.outputs = outputs
    nbformat.write(nb, str(path))
    return True
