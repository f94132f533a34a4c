"""Grading a large class on a Dask cluster (``layerlab grade LAB --scheduler tcp://HOST:PORT``).

Scheduling, placement and recovery from lost workers are Dask's (the ``distributed``
package); this module only decides what travels and what comes back:

* the client (the instructor's ``layerlab grade``) packs each submission folder into
  bytes (:func:`pack_submission`: the same regular files the local grader copies,
  and the names of what it would skip), so workers need no shared filesystem;
* a worker unpacks it into a private folder of its own and grades it with the very
  function a local run uses (:func:`layerlab.grading.batch.grade_here`: the learner's
  code in its own sandboxed process, the measurement in another), then returns the
  :class:`~layerlab.grading.results.SubmissionGrade` as plain data;
* the client alone writes the cached results, the reports, the gradebook and the
  class summary (:func:`layerlab.grading.batch.grade_assignment` with
  ``grader=DaskGrader(...)``), so ``--resume``, the progress bar and every file it
  writes are the same as with ``--jobs``.

When a worker dies, Dask runs its tasks again on another worker (up to the
scheduler's ``distributed.scheduler.allowed-failures``); a submission that keeps
killing workers, or a lost scheduler, is reported as the grader's failure
(``incomplete``: nothing recorded, ``--resume`` grades it again), never blamed on
the learner.

Documented for instructors in ``docs/deploying.md`` and ``docs/scaling.md``.
"""

from __future__ import annotations

import os
import tempfile
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from layerlab.errors import GraderError, GradingError, InputError
from layerlab.grading.results import ItemGrade, SubmissionGrade
from layerlab.grading.submission import (LEFT_OUT_DIRS, MAX_FILE_MB, MAX_SUBMISSION_MB, course_of, remove_tree,
                                         submission_entries, submission_hash)

#: Where a skipped entry (symlink, device, oversized file) points on the worker: nowhere.
_SKIPPED_TARGET = "/nonexistent/layerlab-skipped-by-the-client"


@dataclass
class SubmissionPayload:
    """A submission folder as bytes: what travels from the client to a worker.

    Attributes
    ----------
    files : dict of str to bytes
        Relative path -> content of every regular file the local grader would copy.
    dirs : list of str
        Relative paths of the folders (kept even when empty).
    skipped : list of str
        Relative paths the local grader would skip (symlinks, devices, checkpoint
        folders, files over ``MAX_FILE_MB`` or past ``MAX_SUBMISSION_MB``); the worker
        recreates them as dangling links, so its grader skips the same names.
    sha256 : str
        :func:`~layerlab.grading.submission.submission_hash` of the folder on the client.
    over : int
        Files and folders past ``MAX_SUBMISSION_ENTRIES`` that were not looked at (not sent).
    """

    files: dict[str, bytes] = field(default_factory=dict)
    dirs: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    sha256: str = ""
    over: int = 0

    @property
    def nbytes(self) -> int:
        return sum(len(b) for b in self.files.values())


def pack_submission(folder, *, max_total_mb: float = MAX_SUBMISSION_MB, max_file_mb: float = MAX_FILE_MB) -> SubmissionPayload:
    """Read a submission folder into a :class:`SubmissionPayload`, by the local grader's rules.

    The walk is :func:`~layerlab.grading.submission.submission_entries`, the one the local grader's
    ``copy_submission`` makes, with the same folders left out
    (:data:`~layerlab.grading.submission.LEFT_OUT_DIRS`) and the same cap on entries, so a worker receives
    no more than a local run would copy.

    Parameters
    ----------
    folder : str or Path
        ``submitted/<student>/<assignment>/``.
    max_total_mb, max_file_mb : float
        The local grader's limits (:data:`~layerlab.grading.submission.MAX_SUBMISSION_MB`,
        :data:`~layerlab.grading.submission.MAX_FILE_MB`).

    Returns
    -------
    SubmissionPayload
    """
    src = Path(folder)
    out = SubmissionPayload(sha256=submission_hash(src))
    for e in submission_entries(src, max_total_mb=max_total_mb, max_file_mb=max_file_mb, leave_out=LEFT_OUT_DIRS):
        if isinstance(e, int):
            out.over = e
        elif e.kind == "dir":
            out.dirs.append(e.rel)
        elif e.kind == "file":
            out.files[e.rel] = e.path.read_bytes()
        else:
            out.skipped.append(e.rel)
    return out


def unpack_submission(payload: SubmissionPayload, dst) -> Path:
    """Write a payload into the empty folder ``dst``; return ``dst``.

    Raises
    ------
    InputError
        When a path in the payload would leave ``dst`` (absolute, or with ``..``).
    """
    dst = Path(dst)
    dst.mkdir(parents=True, exist_ok=True)

    def inside(rel: str) -> Path:
        r = Path(rel)
        if r.is_absolute() or ".." in r.parts:
            raise InputError(f"{rel}: a packed submission path must stay inside the submission folder")
        return dst / r

    for d in sorted(payload.dirs, key=lambda s: len(Path(s).parts)):
        inside(d).mkdir(parents=True, exist_ok=True)
    for rel, data in payload.files.items():
        p = inside(rel)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    for rel in payload.skipped:
        p = inside(rel)
        p.parent.mkdir(parents=True, exist_ok=True)
        if not os.path.lexists(p):
            os.symlink(_SKIPPED_TARGET, p)
    return dst


@dataclass
class VariantPayload:
    """The graded learner's own variant as bytes: what a worker, which has no course folder, grades against.

    Attributes
    ----------
    student : str
        The gradebook's id.
    files : SubmissionPayload
        The learner's public variant folder (``scenes/<scene>/`` and the rest), as released to them.
    scene : str
        The scene id inside it.
    truth : dict
        The complete (true) cue sheet of the variant, from the course folder.
    """

    student: str
    files: SubmissionPayload
    scene: str
    truth: dict


def pack_variant(variant) -> VariantPayload:
    """Read a :class:`~layerlab.grading.batch.LearnerVariant` of the course folder into bytes."""
    return VariantPayload(variant.student, pack_submission(variant.public_dir), variant.scene_dir.name, variant.truth)


def unpack_variant(payload: VariantPayload, dst):
    """Write a :class:`VariantPayload` into the empty folder ``dst``; return the worker's
    :class:`~layerlab.grading.batch.LearnerVariant` (its scene folder inside ``dst``)."""
    from layerlab.grading.batch import LearnerVariant

    public = unpack_submission(payload.files, dst)
    return LearnerVariant(payload.student, public / "scenes" / payload.scene, payload.truth, public)


_worker_root: Path | None = None
_worker_lock = threading.Lock()


def _root() -> Path:
    """This worker process's private course folder: every submission it grades lives under it.

    The folder is the course root the local grader would protect: the learner's code
    can read neither the source notebook nor another submission graded at the same time.
    """
    global _worker_root
    with _worker_lock:
        if _worker_root is None or not _worker_root.is_dir():
            _worker_root = Path(tempfile.mkdtemp(prefix="layerlab-worker-"))
        return _worker_root


def grade_payload(payload: SubmissionPayload, *, assignment: str, rubric: dict, student: str,
                  timeout_s: float | None, memory_mb: float, source_notebook: bytes | None,
                  notebook_name: str, variant: "VariantPayload | GradingError | None" = None) -> dict:
    """Grade one packed submission on this machine (runs on a Dask worker).

    Parameters
    ----------
    payload : SubmissionPayload
    assignment, student : str
    rubric : dict
        The loaded rubric (the client's, so every worker grades by the same one).
    timeout_s, memory_mb : float
        As for :func:`~layerlab.grading.batch.grade_submission`.
    source_notebook : bytes, optional
        The instructor's source notebook (its locked cells replace the learner's).
    notebook_name : str
        The notebook's file name (``lab2_hybrid_mix.ipynb``).
    variant : VariantPayload or GradingError, optional
        The learner's own variant from the client's course folder, or the error its look-up raised
        there (the course has variants but none for this learner); None when the course has none.

    Returns
    -------
    dict
        :meth:`SubmissionGrade.to_dict` of the result (its ``submission_sha256`` is the
        client's hash of the original folder).
    """
    from layerlab.grading.batch import grade_here

    root = _root()
    task = uuid.uuid4().hex
    adir = root / "submitted" / task / assignment  # course_of(adir) is the worker's root: protected like a course
    src_dir = root / "source" / task
    variant_dir = root / "variants" / task
    try:
        unpack_submission(payload, adir)
        if isinstance(variant, VariantPayload):
            variant = unpack_variant(variant, variant_dir)
        src = None
        if source_notebook is not None:
            src_dir.mkdir(parents=True)
            src = src_dir / notebook_name
            src.write_bytes(source_notebook)
        g = grade_here(adir, assignment=assignment, rubric=rubric, student=student, timeout_s=timeout_s,
                       memory_mb=memory_mb, source_notebook=src, variant=variant)
        g.student = student
        g.submission_sha256 = payload.sha256
        return g.to_dict()
    finally:  # remove_tree: the learner's folders may nest deeper than shutil.rmtree recurses (RecursionError here
        # replaced the result with the grader's fault and left the copy on the worker)
        remove_tree(adir.parent)
        remove_tree(src_dir)
        remove_tree(variant_dir)


def _not_graded(spec_items: list[dict], assignment: str, student: str, why: str) -> SubmissionGrade:
    from layerlab.grading.batch import grader_fault_note

    msg = grader_fault_note(why)
    items = [ItemGrade(it["grade_id"], it.get("check") or it.get("label") or it.get("answer", it["grade_id"]), 0.0,
                       float(it["points"]), False, message=msg) for it in spec_items]
    return SubmissionGrade(assignment=assignment, student=student, items=items, error=msg, incomplete=True)


class DaskGrader:
    """Grade each submission on a Dask cluster: pass as ``grader=`` to ``grade_assignment``.

    Parameters
    ----------
    scheduler : str or distributed.Client, optional
        The scheduler's address (``tcp://HOST:8786``), or a connected client. Default:
        Dask's own ``scheduler-address`` setting (``DASK_SCHEDULER_ADDRESS``, or
        ``~/.config/dask/*.yaml``).
    jobs : int, optional
        Submissions in flight at once (packed in memory on the client). Default: twice
        the cluster's worker threads, at least 4; every worker thread stays busy while
        the client packs the next submissions.
    timeout_s : float
        Seconds to wait for the scheduler and the first worker.

    Raises
    ------
    InputError
        When no scheduler address is given or configured.
    GraderError
        When the scheduler cannot be reached or has no worker.

    Notes
    -----
    Workers must run the same Layer Lab version as the client (``pip install`` the
    same kit into the worker image), with one thread per core they may use: each
    thread grades one submission, in processes of its own.
    """

    def __init__(self, scheduler=None, *, jobs: int | None = None, timeout_s: float = 60.0):
        import dask
        from distributed import Client

        self._own = not isinstance(scheduler, Client)
        if isinstance(scheduler, Client):
            self.client = scheduler
        else:
            address = scheduler or dask.config.get("scheduler-address", None)
            if not address:
                raise InputError("no Dask scheduler: give --scheduler tcp://HOST:PORT (or set DASK_SCHEDULER_ADDRESS)")
            try:
                self.client = Client(address, timeout=timeout_s, set_as_default=False)
            except (OSError, TimeoutError) as exc:
                raise GraderError(f"cannot reach the Dask scheduler at {address}: {exc}") from None
        try:
            self.client.wait_for_workers(1, timeout=timeout_s)
        except (OSError, TimeoutError):
            self.close()
            raise GraderError(f"the Dask scheduler at {self.address} has no worker after {timeout_s:.0f} s: "
                              "start `dask worker` processes (or scale the cluster)") from None
        threads = sum(self.client.nthreads().values())
        self.jobs = int(jobs) if jobs else max(4, 2 * threads)
        self._source_cache: dict[str, bytes] = {}

    @property
    def address(self) -> str:
        return self.client.scheduler.address

    def __call__(self, submission_dir, *, assignment: str, rubric: dict, student: str, timeout_s=None,
                 memory_mb: float, source_notebook=None, **_ignored) -> SubmissionGrade:
        """Pack one submission, grade it on the cluster, return its grade (same signature as ``grade_here``)."""
        from distributed import KilledWorker

        from layerlab.grading.batch import learner_variant
        from layerlab.grading.rubric import assignment_spec

        spec = assignment_spec(assignment, rubric)
        payload = pack_submission(submission_dir)
        try:  # the worker has no course folder: the learner's own variant travels with the submission
            found = learner_variant(course_of(Path(submission_dir), source_notebook), assignment, student)
            variant = pack_variant(found) if found is not None else None
        except GradingError as exc:
            variant = exc
        src = None
        if source_notebook is not None:
            key = str(source_notebook)
            if key not in self._source_cache:
                self._source_cache[key] = Path(source_notebook).read_bytes()
            src = self._source_cache[key]
        future = self.client.submit(grade_payload, payload, assignment=assignment, rubric=rubric, student=student,
                                    timeout_s=timeout_s, memory_mb=memory_mb, source_notebook=src,
                                    notebook_name=f"{spec['notebook']}.ipynb", variant=variant, pure=False,
                                    key=f"grade-{assignment}-{student}-{uuid.uuid4().hex[:8]}")
        try:
            return SubmissionGrade.from_dict(future.result())
        except KilledWorker:
            return _not_graded(spec["items"], assignment, student, "every Dask worker that tried it died")
        except Exception as exc:  # noqa: BLE001 - the scheduler or the connection failed, not the learner
            return _not_graded(spec["items"], assignment, student, f"the Dask cluster failed: {type(exc).__name__}: {exc}")
        finally:
            future.release()

    def close(self) -> None:
        if self._own:
            self.client.close()

    def __enter__(self) -> "DaskGrader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
