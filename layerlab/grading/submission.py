"""Submission folders: strict paths, private copies, hashes, locked cells.

Documented for instructors in ``autograder/README.md``.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import shutil
import stat
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from layerlab.errors import GradingError
from layerlab.grading.preprocessors import strip_hidden_tests

MAX_SUBMISSION_MB = 400
"""Megabytes of a submission the grader copies (the rest is skipped)."""
MAX_FILE_MB = 200
"""Largest single file the grader copies or the learner's code may write."""
MAX_SUBMISSION_ENTRIES = 1000
"""Most files, folders and links the grader takes from a submission or back out of a sandbox (a deliverable holds
about a dozen): each costs the grader an inode and a copy, so countless empty files would slow the batch and fill the
grader's disk; the rest is left out and named as skipped."""
IGNORED_DIRS = {".ipynb_checkpoints", "__pycache__", ".git"}
MAX_NOTEBOOK_MB = 100
"""Largest submitted notebook the grader parses (its own process has no memory limit); larger ones are refused."""
MAX_NOTEBOOK_OBJECTS = 2_000_000
"""Most JSON objects and arrays (``{`` and ``[`` bytes) a submitted notebook may hold: a small file of countless
``{}`` would otherwise cost the grader some 60 bytes of memory per byte."""


def remove_tree(path) -> None:
    """Remove a work folder whatever a learner left in it (folders nested deeper than Python's recursion, odd modes).

    ``shutil.rmtree`` recurses (Python 3.11) and raises RecursionError on a tree some thousand folders deep,
    even with ``ignore_errors``; ``rm -rf`` then removes what is left.
    """
    try:
        shutil.rmtree(path, ignore_errors=True)
    except RecursionError:
        pass
    if os.path.lexists(path):
        subprocess.run(["rm", "-rf", "--", str(path)], check=False, capture_output=True)


def walk(top) -> Iterator[tuple[str, list[str], list[str]]]:
    """``os.walk(top, followlinks=False)``, top-down, in the same order, without recursion.

    A submission is the learner's folder: it may nest folders deeper than Python's recursion limit, and Python
    3.11's ``os.walk`` recurses once per level (1500 nested folders raised RecursionError in the grader; under
    ``--resume``, out of the batch itself). As with ``os.walk``, ``dirnames`` may be pruned in place, links to
    folders are listed among them but not entered, and a folder that cannot be listed is passed over.
    """
    stack = [os.fspath(top)]
    while stack:
        here = stack.pop()
        try:
            with os.scandir(here) as it:
                entries = list(it)
        except OSError:
            continue
        dirs, nondirs = [], []
        for entry in entries:
            try:
                is_dir = entry.is_dir()
            except OSError:
                is_dir = False
            (dirs if is_dir else nondirs).append(entry.name)
        yield here, dirs, nondirs
        for d in reversed(dirs):  # depth first, in listing order, as os.walk goes
            path = os.path.join(here, d)
            if not os.path.islink(path):
                stack.append(path)


def resolve_inside(root, relative) -> Path:
    """Resolve ``relative`` inside ``root``, refusing anything that leaves it.

    Every component is checked with ``lstat``: a symlink anywhere on the way, an
    absolute path or ``..`` that climbs out raises :class:`GradingError`.
    """
    root = Path(root).resolve()
    rel = Path(relative)
    if rel.is_absolute() or ".." in rel.parts:
        raise GradingError(f"{relative}: paths in a submission must stay inside the submission folder.")
    cur = root
    for part in rel.parts:
        cur = cur / part
        try:
            st = os.lstat(cur)
        except FileNotFoundError:
            return cur
        if stat.S_ISLNK(st.st_mode):
            raise GradingError(f"{cur.relative_to(root)} is a symbolic link; the grader only reads real files inside the submission.")
    return cur


LEFT_OUT_DIRS = ("variants",)
"""Top-level folders the grader never takes from a submission: the released ``variants/`` (the grader gives the
re-run the learner's own variant, from the course folder)."""


@dataclass(frozen=True)
class SubmissionEntry:
    """One decision of :func:`submission_entries`: ``kind`` is ``"dir"`` (take the folder), ``"file"`` (take the
    regular file at ``path``) or ``"skip"`` (leave it out and name it); ``rel`` is the path inside the submission."""

    kind: str
    rel: str
    path: Path


def submission_entries(src, *, max_total_mb: float = MAX_SUBMISSION_MB, max_file_mb: float = MAX_FILE_MB,
                       max_entries: int = MAX_SUBMISSION_ENTRIES, leave_out=()) -> Iterator[SubmissionEntry | int]:
    """Walk a submission folder by the grader's rules, top level first; the one place those rules live.

    Symlinks, sockets, device files, checkpoint folders, files over ``max_file_mb`` and past ``max_total_mb`` are
    ``"skip"`` entries; after the first ``max_entries`` entries nothing more is looked at, and the walk ends by
    yielding the number of files and folders it passed over (an ``int``, 0 when none). Top-level folders named in
    ``leave_out`` are neither taken nor reported. Used by :func:`copy_submission` and by the cluster's
    ``pack_submission``, so a worker receives exactly what a local run would copy.
    """
    src = Path(src)
    total = entries = over = 0
    for dirpath, dirnames, filenames in walk(src):
        rel_dir = Path(dirpath).relative_to(src)
        if entries >= max_entries:
            over += len(filenames) + len(dirnames)
            continue
        keep = []
        for d in dirnames:
            p = Path(dirpath) / d
            if rel_dir == Path(".") and d in leave_out:
                continue
            if d in IGNORED_DIRS or os.path.islink(p):
                yield SubmissionEntry("skip", str(rel_dir / d), p)
            else:
                keep.append(d)
                yield SubmissionEntry("dir", str(rel_dir / d), p)
        dirnames[:] = keep
        entries += len(keep)
        for f in filenames:
            if entries >= max_entries:
                over += 1
                continue
            entries += 1
            p = Path(dirpath) / f
            st = os.lstat(p)
            if not stat.S_ISREG(st.st_mode) or st.st_size > max_file_mb * 1e6 or total + st.st_size > max_total_mb * 1e6:
                yield SubmissionEntry("skip", str(rel_dir / f), p)
                continue
            total += st.st_size
            yield SubmissionEntry("file", str(rel_dir / f), p)
    yield over


def over_line(over: int, max_entries: int = MAX_SUBMISSION_ENTRIES) -> str:
    """The skipped-list line for ``over`` files and folders past the grader's ``max_entries``."""
    return f"{over} more files and folders (the grader takes the first {max_entries})"


def copy_submission(src, dst, *, max_total_mb: float = MAX_SUBMISSION_MB, max_file_mb: float = MAX_FILE_MB,
                    max_entries: int = MAX_SUBMISSION_ENTRIES, leave_out=(), link: bool = False) -> list[str]:
    """Copy the regular files of a submission folder into ``dst``, by the rules of :func:`submission_entries`.

    Returns the names of what was skipped (past ``max_entries``, one line says how many more). Top-level folders
    named in ``leave_out`` (e.g. :data:`LEFT_OUT_DIRS`) are not copied and not reported. ``link=True`` hard-links
    each file instead of copying its bytes (a copy where ``dst`` is on another file system): only for files no
    learner process can write any more, such as what the sandbox handed over
    (:func:`layerlab.grading.sandbox.run_sandboxed`: new files of the grader's, made once every process of the
    sandbox was gone).
    """
    dst = Path(dst)
    skipped: list[str] = []
    dst.mkdir(parents=True, exist_ok=True)
    for e in submission_entries(src, max_total_mb=max_total_mb, max_file_mb=max_file_mb, max_entries=max_entries,
                                leave_out=leave_out):
        if isinstance(e, int):
            if e:
                skipped.append(over_line(e, max_entries))
        elif e.kind == "dir":
            (dst / e.rel).mkdir(parents=True, exist_ok=True)
        elif e.kind == "file":
            if link:
                try:
                    os.link(e.path, dst / e.rel, follow_symlinks=False)
                    continue
                except OSError as exc:
                    if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP):
                        raise
            shutil.copyfile(e.path, dst / e.rel)
        else:
            skipped.append(e.rel)
    return skipped


def submission_hash(folder) -> str:
    """SHA-256 over the names and bytes of a submission's regular files (for resumable batches)."""
    h = hashlib.sha256()
    folder = Path(folder)
    for dirpath, dirnames, filenames in sorted(walk(folder)):
        dirnames[:] = sorted(d for d in dirnames if d not in IGNORED_DIRS)
        for f in sorted(filenames):
            p = Path(dirpath) / f
            if not os.path.isfile(p) or os.path.islink(p):
                continue
            h.update(os.fsencode(p.relative_to(folder)))  # a name's own bytes (UTF-8 or not): the same hash as before for UTF-8
            with open(p, "rb") as fh:
                for chunk in iter(lambda: fh.read(1 << 20), b""):
                    h.update(chunk)
    return h.hexdigest()


def learner_code_cells(nb: dict) -> list[str]:
    """Sources of the code cells the learner's solution consists of.

    Grade (test) cells are left out: their verdict is the grader's job. A cell
    counts as a test cell if its nbgrader metadata marks it ``grade`` and not
    ``solution``.
    """
    out = []
    for cell in nb.get("cells", []):
        if cell.get("cell_type") != "code":
            continue
        meta = cell.get("metadata")
        meta = meta.get("nbgrader") if isinstance(meta, dict) else None  # the learner's JSON: any type at all
        if isinstance(meta, dict) and meta.get("grade") and not meta.get("solution"):
            continue
        src = cell.get("source", "")
        out.append("".join(src) if isinstance(src, list) else str(src))
    return out


_STUB = re.compile(r"^raise NotImplementedError(\(\))?[ \t]*(#.*)?$", re.MULTILINE)


def stub_cells(nb: dict) -> set[int]:
    """Numbers (from 1, as the grader's run counts them: ``[cell 2]``) of the code cells that still hold the released
    stub, a top-level ``raise NotImplementedError()`` (nbgrader's ``# YOUR CODE HERE`` placeholder)."""
    return {i + 1 for i, src in enumerate(learner_code_cells(nb)) if _STUB.search(src)}


def restore_locked_cells(nb_path, source_notebook) -> list[str]:
    """Put back the instructor's version of every locked (read-only) cell, as nbgrader does.

    Cells are matched by grade id; a locked cell the learner deleted is inserted again
    after the cell that precedes it in the source, one whose type or source changed is
    replaced, and a duplicated one is kept once (in its first place). Each is put back as
    nbgrader releases it, without its hidden tests and outputs: the learner's code runs beside this copy
    and can read it. Returns the grade ids restored. Works on the notebook JSON directly
    (no nbformat import in the worker).
    """
    src = json.loads(Path(source_notebook).read_text(encoding="utf-8"))
    nb = json.loads(Path(nb_path).read_text(encoding="utf-8"))

    def meta(cell):
        m = cell.get("metadata") if isinstance(cell, dict) else None
        m = m.get("nbgrader") if isinstance(m, dict) else None
        return m if isinstance(m, dict) else {}

    def gid(cell):
        g = meta(cell).get("grade_id")
        return g if isinstance(g, str) else None

    def text(cell):
        v = cell.get("source", "") if isinstance(cell, dict) else ""
        return "".join(v) if isinstance(v, list) else str(v)

    def released(cell):  # the cell as nbgrader releases it: no hidden tests (the grader never runs a test cell, and
        # the learner's code, which can read the notebook it runs from, must not see them), and no outputs (nbgrader's
        # ClearOutput): a source notebook the instructor ran and saved holds them, and a traceback quotes hidden tests
        cell = json.loads(json.dumps(cell))
        cell["source"] = strip_hidden_tests(text(cell))
        if cell.get("cell_type") == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
        return cell

    locked = {gid(c): released(c) for c in src.get("cells", [])
              if meta(c).get("locked") and not meta(c).get("solution") and gid(c)}
    restored = []
    present = {gid(c) for c in nb.get("cells", [])}
    seen: set = set()
    cells = []
    for cell in nb.get("cells", []):
        if not isinstance(cell, dict):
            continue
        g = gid(cell)
        if g in locked and g in seen:  # a duplicated locked cell runs once, in its first place
            restored.append(g)
            continue
        seen.add(g)
        if g in locked and (text(cell) != text(locked[g]) or cell.get("cell_type") != locked[g].get("cell_type")):
            cell = json.loads(json.dumps(locked[g]))
            restored.append(g)
        cells.append(cell)
    nb["cells"] = cells
    prev = None
    for c in src.get("cells", []):
        g = gid(c)
        if g in locked and g not in present:
            ids = [gid(x) for x in nb["cells"]]
            at = ids.index(prev) + 1 if prev in ids else len(nb["cells"])
            nb["cells"].insert(at, json.loads(json.dumps(locked[g])))
            restored.append(g)
        prev = g if g else prev
    if restored:
        Path(nb_path).write_text(json.dumps(nb, indent=1, ensure_ascii=False), encoding="utf-8")
    return restored


def check_notebook(nb_path: Path, name: str) -> None:
    """Raise GradingError in plain words when the submitted notebook cannot be read.

    The grader's own process parses it, so it first refuses, in one line, a notebook
    over :data:`MAX_NOTEBOOK_MB` or holding more than :data:`MAX_NOTEBOOK_OBJECTS` JSON
    objects and arrays (what bounds the memory ``json.loads`` needs), before reading it as JSON.
    """
    try:
        size = os.lstat(nb_path).st_size
    except OSError as exc:
        raise GradingError(f"{name}: cannot read it ({exc.strerror}).") from None
    clear = ("Clear its outputs in Jupyter (Edit > Clear Outputs of All Cells), save, and submit again.")
    if size > MAX_NOTEBOOK_MB * 1e6:
        raise GradingError(f"{name} is {size / 1e6:.0f} MB; the grader reads notebooks up to {MAX_NOTEBOOK_MB:.0f} MB. {clear}")
    with open(nb_path, "rb") as fh:
        data = fh.read(int(MAX_NOTEBOOK_MB * 1e6) + 1)
    objects = data.count(b"{") + data.count(b"[")
    if objects > MAX_NOTEBOOK_OBJECTS:
        raise GradingError(f"{name} holds {objects} JSON objects and arrays; the grader reads notebooks of up to "
                           f"{MAX_NOTEBOOK_OBJECTS} (a notebook saved by Jupyter holds far fewer). {clear}")
    try:
        raw = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise GradingError(f"{name} is not a notebook (its bytes are not text). Submit the .ipynb file saved by Jupyter.") from None
    except json.JSONDecodeError as exc:
        raise GradingError(f"{name} is not a valid notebook: it is not JSON (line {exc.lineno}: {exc.msg}). It was probably "
                           "edited outside Jupyter or cut short; open it in Jupyter, or fetch the assignment again and "
                           "copy your work into the fresh copy, then submit again.") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("cells"), list):
        raise GradingError(f"{name} is not a valid notebook: it has no list of cells. Submit the .ipynb file saved by Jupyter.")
    if raw.get("nbformat") != 4 or not all(isinstance(c, dict) and c.get("cell_type") in ("code", "markdown", "raw")
                                           for c in raw["cells"]):
        raise GradingError(f"{name} is not a valid notebook (format {raw.get('nbformat')!r}, or cells without a type). "
                           "Open it in Jupyter and save it again, then submit again.")


def course_of(sub: Path, source_notebook=None):
    """The nbgrader course root of ``submitted/<student>/<assignment>/`` (or of the source notebook), else None."""
    sub = Path(sub).resolve()
    if sub.parent.parent.name == "submitted":
        return sub.parent.parent.parent
    if source_notebook is not None:
        src = Path(source_notebook).resolve()
        if src.parent.parent.name == "source":
            return src.parent.parent.parent
    return None


def refuse_links(folder: Path) -> None:
    for dirpath, dirnames, filenames in walk(folder):
        for n in dirnames + filenames:
            p = Path(dirpath) / n
            if p.is_symlink():
                raise GradingError(f"{p.relative_to(folder.parent)} is a symbolic link; export real files into the deliverable.")
