"""The out-of-kernel grader: scores come from measured files, never from the learner's kernel.

nbgrader runs a lab's test cells inside the learner's own kernel, where a few
lines of monkeypatching can make every assertion pass. The kit therefore
recomputes every auto-graded cell's score in processes the learner's code does
not share:

1. the submission folder is copied into a private work folder (regular files
   only: symlinks, device files and oversized files are left out);
2. the learner's notebook code (every code cell except the grade cells) runs
   in a fresh process of its own, forked from a warm isolated interpreter
   (:mod:`layerlab.grading.zygote`), with a time and memory limit; for a mix lab it
   exports the deliverable folder, for an answers lab the grader also collects
   the answer variables it names (plain JSON data);
3. another fresh process measures the deliverable (``layerlab.checks``), or the
   grader compares the answers with the truth (the scene's cue sheet and the
   rubric), and each result becomes points from ``autograder/rubric.json``;
4. ``layerlab grade`` writes those points into the nbgrader gradebook (they
   replace whatever the autograde kernel reported), replaces each grade cell's
   output in the autograded notebook with the grader's verdict, advice and
   figure, and writes a class summary.

Nothing the learner's code could have written is read as a result: not cell
outputs, not files named like reports, not the gradebook scores from the
autograde run. The learner's code can only change its own deliverable and its
own answers.

Inside a lab, :func:`self_check` runs the same checks on the learner's current
deliverable and shows the same report, instantly and without an instructor.

Taught in ``labs/lab2_hybrid_mix/lab2_hybrid_mix.ipynb`` (the self-check and the grader's
report; every lab uses them) and documented for instructors in ``autograder/README.md``.
"""

from __future__ import annotations

import base64
import contextlib
import csv
import hashlib
import html
import io
import json
import math
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

from layerlab.errors import GradingError, LayerLabError
from layerlab.paths import REPO_ROOT, scenes_dir

RUBRIC_FILE = "rubric.json"
KIT_RUBRIC = REPO_ROOT / "autograder" / RUBRIC_FILE
DEFAULT_TIMEOUT_S = 240.0
DEFAULT_MEMORY_MB = 4096
MAX_SUBMISSION_MB = 400
MAX_FILE_MB = 200
_IGNORED_DIRS = {".ipynb_checkpoints", "__pycache__", ".git"}



# --------------------------------------------------------------------------------------
# results
# --------------------------------------------------------------------------------------


@dataclass
class ItemGrade:
    """The grader's verdict on one auto-graded cell.

    Attributes
    ----------
    grade_id : str
        The nbgrader grade cell this item scores.
    name : str
        The check or finding it measures (``"sync"``, ``"dialogue_offset_ms"``...).
    points, max_points : float
        Points earned and available.
    passed : bool
    value, unit, target : measured value, its unit and the target it is compared with.
    message : str
        Plain-language advice: what was measured and what to fix.
    figure_png : str
        A base64 PNG figure (sync timeline, loudness curve, masking map) or "".
    """

    grade_id: str
    name: str
    points: float
    max_points: float
    passed: bool
    value: object = None
    unit: str = ""
    target: object = None
    message: str = ""
    figure_png: str = ""

    def to_text(self) -> str:
        mark = "PASS" if self.passed else "FAIL"
        value = _fmt(self.value)
        unit = f" {self.unit}" if self.unit and value != "-" else ""
        target = f" (target {_fmt(self.target)})" if self.target not in (None, "") else ""
        return f"[{mark}] {self.name}: {value}{unit}{target} -> {_fmt(self.points)}/{_fmt(self.max_points)} points\n       {self.message}"


@dataclass
class SubmissionGrade:
    """Every item of one learner's submission, as scored by the grader."""

    assignment: str
    student: str
    items: list[ItemGrade] = field(default_factory=list)
    error: str = ""
    log: str = ""
    elapsed_s: float = 0.0
    submission_sha256: str = ""
    incomplete: bool = False
    """True when the grader itself failed (not the submission): nothing is recorded, a re-run grades it."""

    @property
    def score(self) -> float:
        return round(sum(i.points for i in self.items), 4)

    @property
    def max_score(self) -> float:
        return round(sum(i.max_points for i in self.items), 4)

    def item(self, name_or_grade_id: str) -> ItemGrade:
        for it in self.items:
            if name_or_grade_id in (it.name, it.grade_id):
                return it
        raise KeyError(name_or_grade_id)

    def points_by_name(self) -> dict[str, float]:
        return {it.name: it.points for it in self.items}

    def to_dict(self) -> dict:
        d = asdict(self)
        d["score"] = self.score
        d["max_score"] = self.max_score
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "SubmissionGrade":
        items = [ItemGrade(**{k: v for k, v in it.items() if k in ItemGrade.__dataclass_fields__}) for it in d.get("items", [])]
        names = ("assignment", "student", "error", "log", "elapsed_s", "submission_sha256", "incomplete")
        keep = {k: d[k] for k in names if k in d}
        return cls(items=items, **keep)

    def to_text(self) -> str:
        lines = [f"{self.assignment} - {self.student}: {_fmt(self.score)}/{_fmt(self.max_score)} points"]
        if self.error:
            lines.append(f"  note: {self.error}")
        lines += [it.to_text() for it in self.items]
        return "\n".join(lines)

    def to_markdown(self, *, figure_dir=None) -> str:
        """A Markdown report; with ``figure_dir``, each item's figure is saved there as PNG and linked."""
        out = [f"# {self.assignment}: {self.student}", "", f"**Score: {_fmt(self.score)} / {_fmt(self.max_score)}**", ""]
        if self.error:
            out += [f"> {self.error}", ""]
        out += ["| check | result | measured | target | points |", "|---|---|---|---|---|"]
        for it in self.items:
            out.append(f"| {it.name} | {'passed' if it.passed else 'failed'} | {_fmt(it.value)} {it.unit} | {_fmt(it.target)} | "
                       f"{_fmt(it.points)}/{_fmt(it.max_points)} |")
        out.append("")
        for it in self.items:
            out += [f"## {it.name}", "", it.message, ""]
            if figure_dir is not None and it.figure_png:
                fdir = Path(figure_dir)
                fdir.mkdir(parents=True, exist_ok=True)
                png = fdir / f"{it.name}.png"
                png.write_bytes(base64.b64decode(it.figure_png))
                out += [f"![{it.name}]({fdir.name}/{png.name})", ""]
        return "\n".join(out)

    def to_html(self) -> str:
        rows = "".join(
            f"<tr class='{'pass' if it.passed else 'fail'}'><td>{html.escape(it.name)}</td><td>{'passed' if it.passed else 'failed'}</td>"
            f"<td>{html.escape(_fmt(it.value))} {html.escape(it.unit)}</td><td>{html.escape(_fmt(it.target))}</td>"
            f"<td>{_fmt(it.points)}/{_fmt(it.max_points)}</td></tr>" for it in self.items)
        sections = "".join(_item_html(it) for it in self.items)
        err = f"<p class='note'>{html.escape(self.error)}</p>" if self.error else ""
        return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(self.assignment)} - {html.escape(self.student)}</title>"
                "<style>body{font-family:sans-serif;max-width:960px;margin:2em auto}table{border-collapse:collapse}"
                "td,th{border:1px solid #ccc;padding:4px 8px}tr.pass td:nth-child(2){color:#176d2b}tr.fail td:nth-child(2){color:#b3261e}"
                ".note{background:#fff4e5;padding:6px}</style></head><body>"
                f"<h1>{html.escape(self.assignment)}: {html.escape(self.student)}</h1>"
                f"<p><b>Score: {_fmt(self.score)} / {_fmt(self.max_score)}</b></p>{err}"
                f"<table><tr><th>check</th><th>result</th><th>measured</th><th>target</th><th>points</th></tr>{rows}</table>"
                f"{sections}</body></html>")


def _item_html(it: ItemGrade) -> str:
    img = f"<img alt='{html.escape(it.name)} figure' src='data:image/png;base64,{it.figure_png}' style='max-width:100%'>" if it.figure_png else ""
    return f"<h2>{html.escape(it.name)}</h2><p>{html.escape(it.message)}</p>{img}"


def _fmt(v) -> str:
    if v is None or v == "":
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        if not math.isfinite(v):
            return str(v)
        if abs(v) < 0.005:
            v = 0.0
        return f"{v:.2f}".rstrip("0").rstrip(".") if abs(v) < 1e6 else f"{v:.3g}"
    if isinstance(v, (list, tuple)):
        return ", ".join(_fmt(x) for x in v)
    if isinstance(v, dict):
        return ", ".join(f"{k}: {_fmt(x)}" for k, x in v.items())
    return str(v)


# --------------------------------------------------------------------------------------
# rubric
# --------------------------------------------------------------------------------------


def load_rubric(path=None, *, course=None) -> dict:
    """Load the grading rubric (points per check, as data).

    Parameters
    ----------
    path : str or Path, optional
        A ``rubric.json``. Default: ``<course>/rubric.json`` if ``course`` is given and holds
        one, else the kit's ``autograder/rubric.json``.
    course : str or Path, optional
        An nbgrader course root.

    Returns
    -------
    dict
        ``{"assignments": {name: {...}}}``; see ``autograder/README.md`` for the schema.
    """
    if path is None:
        candidates = [Path(course) / RUBRIC_FILE] if course else []
        candidates.append(KIT_RUBRIC)
        path = next((p for p in candidates if p.is_file()), None)
        if path is None:
            raise GradingError(f"No rubric found (looked for {', '.join(map(str, candidates))}). "
                               "Copy autograder/rubric.json into the course folder.")
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise GradingError(f"rubric {path}: cannot read it as JSON ({exc}).") from None
    if not isinstance(data, dict) or not isinstance(data.get("assignments"), dict):
        raise GradingError(f"rubric {path}: expected an object with an 'assignments' mapping.")
    for name, spec in data["assignments"].items():
        if spec.get("kind") not in ("mix", "answers"):
            raise GradingError(f"rubric {path}: assignment {name!r} needs kind 'mix' or 'answers'.")
        if not spec.get("notebook") or not isinstance(spec.get("items"), list) or not spec["items"]:
            raise GradingError(f"rubric {path}: assignment {name!r} needs a 'notebook' and a non-empty 'items' list.")
        t = spec.get("timeout_s")
        if t is not None and (isinstance(t, bool) or not isinstance(t, (int, float)) or not 0 < t <= 24 * 3600):
            raise GradingError(f"rubric {path}: 'timeout_s' of {name!r} must be a number of seconds above 0 ({t!r}).")
        for it in spec["items"]:
            if "grade_id" not in it or "points" not in it:
                raise GradingError(f"rubric {path}: every item of {name!r} needs 'grade_id' and 'points' ({it}).")
    data["_path"] = str(path)
    return data


def assignment_spec(assignment: str, rubric: dict | None = None) -> dict:
    """The rubric entry of one assignment (raises GradingError naming the known ones)."""
    rubric = rubric or load_rubric()
    try:
        return rubric["assignments"][assignment]
    except KeyError:
        known = ", ".join(sorted(rubric["assignments"]))
        raise GradingError(f"assignment {assignment!r} is not in the rubric {rubric.get('_path', '')} (known: {known}).") from None


# --------------------------------------------------------------------------------------
# submission folders: strict paths, private copies
# --------------------------------------------------------------------------------------


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


def copy_submission(src, dst, *, max_total_mb: float = MAX_SUBMISSION_MB, max_file_mb: float = MAX_FILE_MB) -> list[str]:
    """Copy the regular files of a submission folder into ``dst``.

    Symlinks, sockets, device files, checkpoint folders and files over ``max_file_mb``
    are left out; the names of what was skipped are returned.
    """
    src, dst = Path(src), Path(dst)
    skipped: list[str] = []
    total = 0
    dst.mkdir(parents=True, exist_ok=True)
    for dirpath, dirnames, filenames in os.walk(src, followlinks=False):
        rel_dir = Path(dirpath).relative_to(src)
        keep = []
        for d in dirnames:
            p = Path(dirpath) / d
            if d in _IGNORED_DIRS or os.path.islink(p):
                skipped.append(str(rel_dir / d))
            else:
                keep.append(d)
        dirnames[:] = keep
        (dst / rel_dir).mkdir(parents=True, exist_ok=True)
        for f in filenames:
            p = Path(dirpath) / f
            st = os.lstat(p)
            if not stat.S_ISREG(st.st_mode) or st.st_size > max_file_mb * 1e6 or total + st.st_size > max_total_mb * 1e6:
                skipped.append(str(rel_dir / f))
                continue
            total += st.st_size
            shutil.copyfile(p, dst / rel_dir / f)
    return skipped


def submission_hash(folder) -> str:
    """SHA-256 over the names and bytes of a submission's regular files (for resumable batches)."""
    h = hashlib.sha256()
    folder = Path(folder)
    for dirpath, dirnames, filenames in sorted(os.walk(folder, followlinks=False)):
        dirnames[:] = sorted(d for d in dirnames if d not in _IGNORED_DIRS)
        for f in sorted(filenames):
            p = Path(dirpath) / f
            if not os.path.isfile(p) or os.path.islink(p):
                continue
            h.update(str(p.relative_to(folder)).encode())
            with open(p, "rb") as fh:
                for chunk in iter(lambda: fh.read(1 << 20), b""):
                    h.update(chunk)
    return h.hexdigest()


# --------------------------------------------------------------------------------------
# running the learner's code in a fresh interpreter
# --------------------------------------------------------------------------------------


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
        meta = (cell.get("metadata") or {}).get("nbgrader") or {}
        if meta.get("grade") and not meta.get("solution"):
            continue
        src = cell.get("source", "")
        out.append("".join(src) if isinstance(src, list) else str(src))
    return out


def _apply_limits(memory_mb: float) -> None:
    """In a forked task: cap its address space and the size of any file it writes; no core dumps."""
    with contextlib.suppress(ImportError, ValueError, OSError):
        import resource

        lim = int(memory_mb * 1024 * 1024)
        resource.setrlimit(resource.RLIMIT_AS, (lim, lim))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        fsize = int(MAX_FILE_MB * 1e6)  # no single file larger than the grader would read
        resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))


def _child_env(workdir: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "LC_ALL", "LAYERLAB_ASSETS", "TZ")}
    env.update({
        "HOME": str(workdir),
        "MPLBACKEND": "Agg",
        "MPLCONFIGDIR": str(workdir / ".mpl"),
        "NUMBA_CACHE_DIR": os.environ.get("NUMBA_CACHE_DIR") or str(Path(tempfile.gettempdir()) / "layerlab-numba"),
        "PYTHONWARNINGS": "ignore",
        "PYTHONDONTWRITEBYTECODE": "1",
        "LAYERLAB_GRADING": "1",
    })
    return env


def run_learner_code(notebook, workdir, *, exports=(), timeout_s: float = DEFAULT_TIMEOUT_S,
                     memory_mb: float = DEFAULT_MEMORY_MB, protect=None, partial: bool = False,
                     zygote=None) -> tuple[dict, str]:
    """Run a notebook's solution cells in a fresh isolated process.

    The process is forked from the grader's warm isolated interpreter
    (:mod:`layerlab.grading.zygote`), so the libraries are already imported, but nothing
    else is shared: it has its own memory, a new session and process group, the
    limits below, a clean environment and the work folder as its home.

    Parameters
    ----------
    notebook : str or Path
        The learner's ``.ipynb`` (inside ``workdir``).
    workdir : str or Path
        The private copy of the submission; it is the child's working folder.
    exports : sequence of str
        Variable names to collect after the cells ran (JSON data only).
    timeout_s, memory_mb : float
        Limits for the child process (it is killed with its whole process group).
    protect : list of str, optional
        Folders the code may not touch (default: :func:`protected_roots` of the kit).
    partial : bool
        When the code is stopped or ends early, return the exports as they were after
        the last cell that finished (so a runaway last cell does not cost earlier answers).
    zygote : layerlab.grading.zygote.Zygote, optional
        The warm interpreter to fork from (default: the process-wide one).

    Returns
    -------
    (dict, str)
        The exported values (missing names are absent) and a log of cell errors.
    """
    from layerlab.grading import zygote as _zygote

    workdir = Path(workdir)
    out_dir = Path(tempfile.mkdtemp(prefix="layerlab-answers-"))
    out_file = out_dir / "exports.json"
    args = {"notebook": str(notebook), "out": str(out_file), "exports": list(exports), "workdir": str(workdir),
            "protect": [str(r) for r in (protected_roots(workdir=workdir) if protect is None else protect)],
            "memory_mb": float(memory_mb), "env": _child_env(workdir)}
    r, w = os.pipe()
    try:
        task = (zygote or _zygote.shared()).spawn("exec", args, output_fd=w, new_session=True)
    except BaseException:
        os.close(r)
        shutil.rmtree(out_dir, ignore_errors=True)
        raise
    finally:
        os.close(w)
    reader = _BoundedReader(os.fdopen(r, "rb", buffering=0))
    try:
        returncode = task.wait(timeout=timeout_s)
        timed_out = False
    except subprocess.TimeoutExpired:
        task.kill()
        returncode = task.wait()
        timed_out = True
    task.kill()  # the child is gone; kill any process it left behind in its group (it may hold the pipe open)
    text = reader.text()
    if timed_out:
        text += f"\n[grader] the notebook code did not finish within {timeout_s:.0f} s and was stopped."
    elif returncode < 0:
        sig = -returncode
        name = signal.Signals(sig).name if sig in signal.Signals._value2member_map_ else str(sig)
        why = {"SIGKILL": "it was killed (often: out of memory)", "SIGSEGV": "it crashed (segmentation fault)",
               "SIGXFSZ": f"it wrote a file over {MAX_FILE_MB} MB", "SIGABRT": "it aborted"}.get(name, f"signal {name}")
        text += f"\n[grader] the notebook process stopped early: {why}; the cells after that point did not run."
    elif returncode:
        text += (f"\n[grader] the notebook process ended early with status {returncode} (os._exit or a crash); "
                 "the cells after that point did not run.")
    values = {}
    partial_file = Path(str(out_file) + ".partial")
    if partial and not out_file.is_file() and partial_file.is_file():
        out_file = partial_file
        text += "\n[grader] answers were taken as they stood after the last cell that finished."
    try:
        raw = json.loads(out_file.read_text(encoding="utf-8")) if out_file.is_file() else {}
        values = raw if isinstance(raw, dict) else {}
    except (OSError, json.JSONDecodeError):
        text += "\n[grader] the exported answers could not be read."
    finally:
        shutil.rmtree(out_dir, ignore_errors=True)
    return values, text


class _BoundedReader:
    """Drain a child's output in a thread, keeping its first and last few kilobytes only.

    However much the learner's code prints, the grader holds at most ``keep`` bytes.
    """

    def __init__(self, stream, *, keep: int = 20000):
        import threading

        self.head = bytearray()
        self.tail = bytearray()
        self.total = 0
        self.keep = keep
        self._stream = stream
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        half = self.keep // 2
        with contextlib.suppress(OSError, ValueError):
            for chunk in iter(lambda: self._stream.read(1 << 16), b""):
                self.total += len(chunk)
                if len(self.head) < half:
                    take = half - len(self.head)
                    self.head += chunk[:take]
                    chunk = chunk[take:]
                self.tail += chunk
                if len(self.tail) > half:
                    del self.tail[:-half]

    def text(self) -> str:
        self._thread.join(timeout=10)
        with contextlib.suppress(OSError):
            self._stream.close()
        kept = len(self.head) + len(self.tail)
        out = self.head.decode("utf-8", "replace")
        if self.total > kept:
            out += f"\n[grader] ... {self.total - kept} bytes of printed output left out ...\n"
        return out + self.tail.decode("utf-8", "replace")


class _NoShell:
    """Stands in for ``get_ipython()`` when notebook code runs outside IPython: magics do nothing."""

    def run_line_magic(self, *a, **k):
        return None

    def run_cell_magic(self, *a, **k):
        return None

    def system(self, *a, **k):
        return None

    getoutput = system

    def __getattr__(self, name):
        return lambda *a, **k: None


def _to_python(src: str) -> str:
    if not any(line.lstrip().startswith(("%", "!")) or line.rstrip().endswith("?") for line in src.splitlines()):
        try:
            compile(src, "<cell>", "exec")
            return src  # plain Python: no need for IPython's transformer
        except SyntaxError:
            pass
    try:
        from IPython.core.inputtransformer2 import TransformerManager

        return TransformerManager().transform_cell(src)
    except Exception:  # noqa: BLE001 - fall back to dropping magic lines
        return "\n".join(line for line in src.splitlines() if not line.lstrip().startswith(("%", "!")))


def _jsonable(v, depth=0):
    if depth > 6:
        return None
    if v is None or isinstance(v, (bool, str)):
        return v
    try:
        import numpy as np

        if isinstance(v, np.generic):
            v = v.item()
        elif isinstance(v, np.ndarray) and v.size <= 1000:
            v = v.tolist()
    except ImportError:  # pragma: no cover
        pass
    if isinstance(v, bool):
        return v
    if isinstance(v, (int, float)):
        f = float(v)
        return f if math.isfinite(f) else None
    if isinstance(v, dict):
        return {str(k): _jsonable(x, depth + 1) for k, x in list(v.items())[:200]}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x, depth + 1) for x in list(v)[:1000]]
    return str(v)[:200]


def protected_roots(*, course=None, workdir=None) -> list[str]:
    """Folders the learner's code may not read or write while it is graded.

    The kit's instructor folders (``labs/`` with the solutions and hidden tests,
    ``autograder/`` with the rubric, ``tests/``) and the course root (source
    notebooks, other learners' submissions, the gradebook, reports). A folder that
    holds the private work copy, the Python installation or the kit's package and
    assets is never listed (the learner's code needs those).
    """
    from layerlab.paths import PACKAGE_DIR, assets_dir

    candidates = [REPO_ROOT / "labs", REPO_ROOT / "autograder", REPO_ROOT / "tests"]
    if course is not None:
        candidates.append(Path(course))
    needed = [Path(sys.prefix), Path(sys.base_prefix), PACKAGE_DIR, assets_dir(), Path(tempfile.gettempdir())]
    if workdir is not None:
        needed.append(Path(workdir))
    needed = [os.path.realpath(n) for n in needed]
    out = []
    for c in candidates:
        r = os.path.realpath(c)
        if not os.path.isdir(r):
            continue
        if any(n == r or n.startswith(r.rstrip(os.sep) + os.sep) for n in needed):
            continue
        out.append(r)
    return out


_PATH_EVENTS = {
    "open", "os.remove", "os.rename", "os.link", "os.symlink", "os.chmod", "os.chown", "os.mkdir", "os.rmdir",
    "os.truncate", "os.utime", "os.listdir", "os.scandir", "os.chdir", "os.chflags", "os.setxattr", "os.removexattr",
    "os.listxattr", "os.getxattr", "shutil.copyfile", "shutil.copymode", "shutil.copystat", "shutil.copytree",
    "shutil.rmtree", "shutil.move", "shutil.make_archive", "shutil.unpack_archive", "glob.glob", "pathlib.Path.glob",
    "pathlib.Path.rglob", "tempfile.mkstemp", "tempfile.mkdtemp", "os.startfile", "fcntl.ioctl",
}
_SPAWN_EVENTS = {"subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork", "os.forkpty", "pty.spawn"}
_DENIED_EVENTS = {"ctypes.dlopen", "ctypes.dlsym", "ctypes.cdata", "ctypes.addressof", "ctypes.string_at", "ctypes.wstring_at",
                  "gc.get_objects", "gc.get_referrers", "gc.get_referents", "sys._current_frames", "sys.setprofile",
                  "sys.settrace", "sys.addaudithook", "code.__new__", "function.__new__", "os.add_dll_directory"}


def _install_guard(roots: list[str], allowed_exe: list[str]) -> None:
    """Refuse, in this (learner) process, file access under ``roots`` and foreign programs.

    A Python audit hook (defence in depth, see ``autograder/README.md``): opening,
    listing, copying or removing anything under the protected folders raises
    PermissionError, as do starting any program but the kit's ffmpeg, loading
    native libraries with ctypes, walking the garbage collector or frames to
    reach this hook, connecting to local sockets (the grader's zygote listens on
    one) and signalling any process but its own. It cannot be removed once installed.
    """
    roots_t = tuple(r.rstrip(os.sep) for r in roots)
    allowed_t = tuple(os.path.realpath(e) for e in allowed_exe)
    realpath, fspath, sep = os.path.realpath, os.fspath, os.sep

    def inside(arg) -> bool:
        if isinstance(arg, int) or arg is None:
            return False
        try:
            p = fspath(arg)
        except TypeError:
            return False
        if isinstance(p, bytes):
            p = p.decode("utf-8", "surrogateescape")
        if not isinstance(p, str) or not p:
            return False
        r = realpath(p)
        return any(r == root or r.startswith(root + sep) for root in roots_t)

    me, my_group = os.getpid(), os.getpgid(0)

    def own(event, pid) -> bool:  # the learner's own process or process group
        if not isinstance(pid, int):
            return False
        if event == "os.killpg":
            return pid in (0, my_group)
        return pid in (0, me, -my_group)

    def hook(event, args):
        if event in _PATH_EVENTS:
            for arg in args:
                if inside(arg):
                    raise PermissionError(f"grading: {fspath(arg)} is outside what your notebook may read or write")
        elif event in _SPAWN_EVENTS:
            if event == "subprocess.Popen":
                exe, cmd = args[0], args[1]
                first = exe if exe is not None else (cmd[0] if isinstance(cmd, (list, tuple)) and cmd else cmd)
                try:
                    ok = realpath(fspath(first)) in allowed_t
                except TypeError:
                    ok = False
                if ok and isinstance(cmd, (list, tuple)) and not any(inside(c) for c in cmd):
                    return
            raise PermissionError(f"grading: your notebook may not start other programs ({event})")
        elif event in _DENIED_EVENTS:
            raise PermissionError(f"grading: {event} is not available while your notebook is graded")
        elif event == "socket.connect" and len(args) > 1 and isinstance(args[1], (str, bytes)):
            raise PermissionError("grading: local (Unix) sockets are not available while your notebook is graded")
        elif event in ("os.kill", "os.killpg") and args and not own(event, args[0]):
            raise PermissionError("grading: your notebook may not signal other processes")
        elif event == "object.__setattr__" and len(args) > 1 and args[1] in ("__code__", "__defaults__", "__kwdefaults__",
                                                                          "__closure__", "cell_contents"):
            raise PermissionError("grading: replacing a function's code is not available while your notebook is graded")
        elif event == "object.__getattr__" and len(args) > 1 and args[1] in ("tb_frame", "f_back", "gi_frame", "cr_frame",
                                                                          "ag_frame", "f_locals", "f_globals"):
            raise PermissionError("grading: frame inspection is not available while your notebook is graded")

    sys.addaudithook(hook)


def _preload() -> None:
    """Import what the labs use before the guard is installed (libraries load native code)."""
    for mod in ("numpy", "scipy.signal", "scipy.fft", "soundfile", "pyloudnorm", "layerlab.mix.scenes", "layerlab.mix.stack",
                "layerlab.mix.ducking", "layerlab.mix.master", "layerlab.mix.session"):
        with contextlib.suppress(Exception):
            __import__(mod)


def _exec_task(args: dict) -> int:
    """Zygote task (in the learner's forked process): apply the limits, run the solution cells, dump the exports."""
    _apply_limits(float(args["memory_mb"]))
    os.chdir(args["workdir"])
    os.environ.clear()
    os.environ.update(args["env"])
    warnings.simplefilter("ignore")
    sys.path.insert(0, os.getcwd())  # the learner may ship helper modules beside the notebook
    nb = json.loads(Path(args["notebook"]).read_text(encoding="utf-8"))
    out_path = Path(args["out"])
    exports = list(args.get("exports") or [])
    _preload()
    exe = []
    with contextlib.suppress(Exception):
        from layerlab.io.audio import ffmpeg_exe

        exe.append(ffmpeg_exe())
    _install_guard(list(args.get("protect") or []), exe)  # also with no folder to protect: sockets, signals, programs

    def display(*objs, **kwargs):  # IPython's, imported on first use
        try:
            from IPython.display import display as ipy_display
        except ImportError:  # pragma: no cover
            return print(*objs)
        return ipy_display(*objs, **kwargs)

    ns = {"__name__": "__main__", "get_ipython": lambda: _NoShell(), "display": display}
    write_json, replace, dumps = _write_private, os.replace, json.dumps

    def snapshot():  # after every cell: a later crash, exit or timeout keeps what was answered so far
        if not exports:
            return
        try:
            result = {name: _jsonable(ns[name]) for name in exports if name in ns}
            text = dumps(result)
        except Exception:  # noqa: BLE001 - an answer that cannot be read is left out
            return
        write_json(str(out_path) + ".tmp", text)
        replace(str(out_path) + ".tmp", str(out_path) + ".partial")

    for i, src in enumerate(learner_code_cells(nb)):
        try:
            exec(compile(_to_python(src), f"<cell {i + 1}>", "exec"), ns)  # noqa: S102 - the learner's own code, sandboxed by process
        except BaseException as exc:  # noqa: BLE001 - report and go on, like nbgrader with allow_errors
            if isinstance(exc, (KeyboardInterrupt,)):
                raise
            print(f"[cell {i + 1}] {type(exc).__name__}: {str(exc)[:300]}" + _plain_words(exc))
        sys.stdout.flush()
        snapshot()
    write_json(str(out_path), dumps({name: _jsonable(ns[name]) for name in exports if name in ns}))
    return 0


def _write_private(path: str, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)


def _plain_words(exc: BaseException) -> str:
    if isinstance(exc, MemoryError):
        return " (the cell needed more memory than grading allows; work on shorter pieces or free big arrays)"
    if isinstance(exc, SystemExit):
        return " (the cell called exit(); the grader went on with the next cell)"
    if isinstance(exc, RecursionError):
        return " (a function calls itself without end)"
    return ""


# --------------------------------------------------------------------------------------
# scoring
# --------------------------------------------------------------------------------------


def _check_results(report) -> dict:
    """Map check name -> CheckResult for a ``layerlab.checks.CheckReport``."""
    for attr in ("results", "checks"):
        seq = getattr(report, attr, None)
        if seq is not None:
            break
    else:
        seq = list(report)
    if isinstance(seq, dict):
        return dict(seq)
    return {r.name: r for r in seq}


def _figures(report) -> dict:
    try:
        figs = report.figures()
    except Exception:  # noqa: BLE001 - a figure must never cost points
        return {}
    if isinstance(figs, dict):
        return figs
    out = {}
    for f in figs or []:
        if isinstance(f, tuple) and len(f) == 2:
            out[f[0]] = f[1]
    return out


def _png(fig) -> str:
    if fig is None:
        return ""
    try:
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=80)  # the kit's figures lay themselves out; no second "tight" pass
        plt = sys.modules.get("matplotlib.pyplot")  # the kit's figures are not pyplot's; close only if it made them
        if plt is not None:
            plt.close(fig)
        return base64.b64encode(buf.getvalue()).decode("ascii")
    except Exception:  # noqa: BLE001
        return ""


def _quiet():
    """Silence warnings and stderr (nbgrader zeroes a test cell that writes to stderr)."""
    stack = contextlib.ExitStack()
    stack.enter_context(warnings.catch_warnings())
    warnings.simplefilter("ignore")
    stack.enter_context(contextlib.redirect_stderr(io.StringIO()))
    return stack


def measure_deliverable(deliverable, *, scene: str, target: str = "streaming", figures: bool = True):
    """Run the kit's checks on a deliverable folder (in this process).

    Returns
    -------
    (dict, dict)
        check name -> CheckResult, and check name -> base64 PNG figure.
    """
    from layerlab.checks import run_checks

    with _quiet():
        report = run_checks(deliverable, scene=scene, target=target)
        results = _check_results(report)
        figs = {}
        if figures:
            for name, fig in _figures(report).items():
                figs[name] = _png(fig)
    return results, figs


FIGURE_FOR_CHECK = {
    "loudness": "loudness", "true_peak": "true_peak", "sync": "sync", "dialogue_sync": "dialogue_sync",
    "masking": "masking", "band_audibility": "band_audibility", "ducking": "ducking",
}
"""Which of ``CheckReport.figures()`` illustrates each check."""


def score_mix(results: dict, figs: dict, spec: dict) -> list[ItemGrade]:
    """Turn check results into points: full points for a passed check, none for a failed one.

    A failed gate check (``spec["gates"]``, e.g. ``format``, ``stems_sum``) means the
    stems cannot be trusted, so every item scores zero.
    """
    gates_failed = [g for g in spec.get("gates", []) if g in results and not results[g].passed]
    gates_missing = [g for g in spec.get("gates", []) if g not in results]
    items = []
    for it in spec["items"]:
        name = it["check"]
        r = results.get(name)
        pts = float(it["points"])
        if r is None:
            items.append(ItemGrade(it["grade_id"], name, 0.0, pts, False, message=f"The check {name!r} did not run on this deliverable."))
            continue
        passed = bool(r.passed) and not gates_failed and not gates_missing
        msg = str(getattr(r, "message", ""))
        if gates_failed and r.passed:
            msg = (f"Not scored: the deliverable failed {', '.join(gates_failed)} ("
                   + "; ".join(str(results[g].message) for g in gates_failed) + "). " + msg)
        items.append(ItemGrade(it["grade_id"], name, pts if passed else 0.0, pts, passed, _jsonable(getattr(r, "value", None)),
                               str(getattr(r, "unit", "") or ""), _jsonable(getattr(r, "target", None)), msg,
                               figs.get(name) or figs.get(FIGURE_FOR_CHECK.get(name, ""), "")))
    return items


MEASURE_TIMEOUT_S = 300.0
"""Seconds the grader allows itself to measure one deliverable."""


def _measure_task(args: dict) -> int:
    """Zygote task (in a forked measuring process): measure a deliverable and score it against the rubric items."""
    _apply_limits(float(args["memory_mb"]))
    os.environ.update(args.get("env") or {})
    try:
        results, figs = measure_deliverable(args["deliverable"], scene=args["scene"], target=args["target"],
                                            figures=bool(args["figures"]))
        payload = {"items": [asdict(it) for it in score_mix(results, figs, args["spec"])]}
    except LayerLabError as exc:
        payload = {"error": str(exc)}
    _write_private(args["out"], json.dumps(payload))
    return 0


def measure_in_child(deliverable, spec: dict, *, figures: bool = True, memory_mb: float = DEFAULT_MEMORY_MB,
                     timeout_s: float = MEASURE_TIMEOUT_S, zygote=None) -> list[ItemGrade]:
    """Measure and score a deliverable in a separate process (a crash or a hang there costs only this submission).

    Parameters
    ----------
    deliverable : str or Path
        The exported folder (``mix.wav``, ``stems/``, ``session.json``).
    spec : dict
        The assignment's rubric entry (:func:`assignment_spec`).
    zygote : layerlab.grading.zygote.Zygote, optional
        The warm interpreter to fork from (default: the process-wide one).

    Returns
    -------
    list of ItemGrade
        As :func:`score_mix` returns them.

    Raises
    ------
    GradingError
        When the deliverable cannot be measured at all, in words for the learner.
    """
    from layerlab.grading import zygote as _zygote

    out_dir = Path(tempfile.mkdtemp(prefix="layerlab-measure-"))
    out, log = out_dir / "items.json", out_dir / "log.txt"
    args = {"deliverable": str(deliverable), "scene": spec["scene"], "target": spec.get("target", "streaming"),
            "figures": bool(figures), "spec": {k: spec[k] for k in ("items", "gates") if k in spec}, "out": str(out),
            "memory_mb": float(memory_mb), "env": {k: v for k, v in os.environ.items() if k.startswith("LAYERLAB_")}}
    try:
        fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            task = (zygote or _zygote.shared()).spawn("measure", args, output_fd=fd)
        finally:
            os.close(fd)
        try:
            returncode = task.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            task.kill()
            task.wait()
            raise GradingError(f"Measuring the deliverable took over {timeout_s:.0f} s and was stopped. Export a mix "
                               "as long as the scene (mix.wav and each stem), then submit again.") from None
        if returncode != 0 or not out.is_file():
            tail = log.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-1:] if log.is_file() else []
            why = "it ran out of memory or was killed" if returncode == -int(signal.SIGKILL) else f"status {returncode}"
            raise GradingError(f"The grader could not measure the deliverable: its measuring process stopped ({why}"
                               + (f"; {tail[0][:200]}" if tail else "") + "). Check that mix.wav and the stems "
                               "open in an audio player, export them again and submit again.")
        payload = json.loads(out.read_text(encoding="utf-8"))
    finally:
        shutil.rmtree(out_dir, ignore_errors=True)
    if "error" in payload:
        raise GradingError(payload["error"])
    return [ItemGrade(**it) for it in payload["items"]]


def _dig(data, dotted: str):
    """Follow ``a.b.c`` into nested dicts; ``flaws[kind=sfx_late]`` picks the list item with that field."""
    cur = data
    for part in dotted.split("."):
        select = None
        if part.endswith("]") and "[" in part:
            part, sel = part[:-1].split("[", 1)
            select = sel.split("=", 1) if "=" in sel else None
        if isinstance(cur, dict) and part in cur:
            cur = cur[part]
        else:
            raise KeyError(dotted)
        if select is not None:
            key, want = select
            hits = [x for x in cur if isinstance(x, dict) and str(x.get(key)) == want] if isinstance(cur, list) else []
            if not hits:
                raise KeyError(dotted)
            cur = hits[0]
    return cur


def derived_truth(name: str, cues: dict):
    """Truths computed from a cue sheet's ``native.flaws`` (true values of the native render).

    ``dialogue_offset_ms``  the dialogue_late offset, else 0.
    ``sfx_offsets_ms``      per event: its sfx_late offset, ``"missing"`` for sfx_missing, else 0.
    ``issues``              per flaw kind: whether the native render has it.
    """
    flaws = (cues.get("native") or {}).get("flaws") or []
    if name == "dialogue_offset_ms":
        return next((float(f["offset_ms"]) for f in flaws if f.get("kind") == "dialogue_late"), 0.0)
    if name == "sfx_offsets_ms":
        out = {e["id"]: 0.0 for e in cues.get("events", [])}
        for f in flaws:
            if f.get("kind") == "sfx_late":
                out[f["event"]] = float(f["offset_ms"])
            elif f.get("kind") == "sfx_missing":
                out[f["event"]] = "missing"
        return out
    if name == "issues":
        from layerlab.mix.scenes import FLAW_KINDS

        kinds = {f.get("kind") for f in flaws}
        return {k: k in kinds for k in FLAW_KINDS}
    raise KeyError(f"derived:{name}")


def _number(v):
    if isinstance(v, bool) or v is None:
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def scene_cues(scene: str) -> dict:
    """The scene's cue sheet as its JSON document, read and validated by :func:`layerlab.io.cuesheet.load_cues`."""
    from layerlab.io.cuesheet import load_cues

    path = scenes_dir() / scene / "cues.json"
    if not path.is_file():
        raise GradingError(f"scene {scene!r}: cannot read its cue sheet {path} (no such file). Build the scenes with `make assets`.")
    try:
        return load_cues(path).raw
    except LayerLabError as exc:
        raise GradingError(f"scene {scene!r}: cannot read its cue sheet {path} ({exc}). Build the scenes with `make assets`.") from None


def _truth(it: dict, spec: dict, cues_cache: dict):
    if "expected" in it:
        return it["expected"]
    scene = it.get("scene") or spec.get("scene")
    if scene not in cues_cache:
        cues_cache[scene] = scene_cues(scene)
    if it["truth"].startswith("derived:"):
        return derived_truth(it["truth"].split(":", 1)[1], cues_cache[scene])
    return _dig(cues_cache[scene], it["truth"])


def score_answers(answers: dict, spec: dict) -> list[ItemGrade]:
    """Compare a learner's answers with the truth (cue sheet or rubric) and award points.

    Item types (``item["type"]``):

    ``number``   one value within ``tolerance`` of the truth: all points or none.
    ``numbers``  a mapping (e.g. offset per SFX event): points shared equally by the keys
                 of the truth, each earned within ``tolerance``.
    ``choices``  a mapping of categorical answers (e.g. per-layer native/post): points shared
                 equally by the expected keys; comparison ignores case and spaces.

    Taught in ``labs/lab1_audit/lab1_audit.ipynb`` and ``labs/lab3_choose_approach/lab3_choose_approach.ipynb``.
    """
    cues_cache: dict = {}
    items = []
    for it in spec["items"]:
        pts = float(it["points"])
        name = it.get("label") or it["answer"]
        try:
            truth = _truth(it, spec, cues_cache)
        except (KeyError, GradingError) as exc:
            items.append(ItemGrade(it["grade_id"], name, 0.0, pts, False, message=f"The grader has no true value for this item ({exc})."))
            continue
        try:
            answer = _dig(answers, it["answer"])
        except KeyError:
            items.append(ItemGrade(it["grade_id"], name, 0.0, pts, False, target=None,
                                   message=f"No answer found: set {_answer_ref(it['answer'])} in the answer cell and run the notebook."))
            continue
        kind = it.get("type", "number")
        tol = float(it.get("tolerance", 0.0))
        unit = it.get("unit", "")
        if kind == "number":
            a, t = _number(answer), _number(truth)
            ok = a is not None and t is not None and abs(a - t) <= tol
            msg = (f"Within {_fmt(tol)} {unit} of the true value." if ok else
                   f"Your value {_fmt(answer)} {unit} is more than {_fmt(tol)} {unit} from the true value; re-measure it.")
            items.append(ItemGrade(it["grade_id"], name, pts if ok else 0.0, pts, ok, _jsonable(answer), unit, f"±{_fmt(tol)}", msg))
        elif kind in ("numbers", "choices"):
            if not isinstance(truth, dict) or not truth:
                items.append(ItemGrade(it["grade_id"], name, 0.0, pts, False, message="The grader's truth for this item is empty."))
                continue
            given = answer if isinstance(answer, dict) else {}
            good, bad = [], []
            for key, t in truth.items():
                a = given.get(key)
                if kind == "numbers" and (t is None or t == "missing"):
                    ok = a is None or _norm_choice(a) in ("missing", "none", "nan")
                elif kind == "numbers":
                    av, tv = _number(a), _number(t)
                    ok = av is not None and tv is not None and abs(av - tv) <= tol
                else:
                    ok = a is not None and _norm_choice(a) == _norm_choice(t)
                (good if ok else bad).append(str(key))
            share = pts * len(good) / len(truth)
            share = round(share, 4)
            if not bad:
                msg = "All correct." if kind == "choices" else f"Every value within {_fmt(tol)} {unit}."
            elif kind == "choices":
                msg = f"Reconsider: {', '.join(bad)}." + ("" if isinstance(answer, dict) else " (the answer must be a dict)")
            else:
                msg = f"Off by more than {_fmt(tol)} {unit} (or missing): {', '.join(bad)}. Re-measure those."
            items.append(ItemGrade(it["grade_id"], name, share, pts, not bad, _jsonable(answer), unit,
                                   f"±{_fmt(tol)}" if kind == "numbers" else "", msg))
        else:
            raise GradingError(f"rubric item {it['grade_id']}: unknown type {kind!r}.")
    return items


def _answer_ref(path: str) -> str:
    head, *rest = path.split(".")
    return head + "".join(f"[{k!r}]" for k in rest)


def _norm_choice(v) -> str:
    s = str(v).strip().lower().replace("-", "").replace("_", "").replace(" ", "")
    aliases = {"postgenerated": "post", "postgen": "post", "replace": "post", "keep": "native", "yes": "true", "no": "false",
               "1": "true", "0": "false", "1.0": "true", "0.0": "false"}
    return aliases.get(s, s)


# --------------------------------------------------------------------------------------
# grading one submission
# --------------------------------------------------------------------------------------


def restore_locked_cells(nb_path, source_notebook) -> list[str]:
    """Put back the instructor's version of every locked (read-only) cell, as nbgrader does.

    Cells are matched by grade id; a locked cell the learner deleted is inserted again
    after the cell that precedes it in the source, one whose type or source changed is
    replaced, and a duplicated one is kept once (in its first place). Returns the grade
    ids restored. Works on the notebook JSON directly (no nbformat import in the worker).
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

    locked = {gid(c): c for c in src.get("cells", []) if meta(c).get("locked") and not meta(c).get("solution") and gid(c)}
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
            nb["cells"].insert(at, json.loads(json.dumps(c)))
            restored.append(g)
        prev = g if g else prev
    if restored:
        Path(nb_path).write_text(json.dumps(nb, indent=1, ensure_ascii=False), encoding="utf-8")
    return restored


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
    from layerlab.grading.zygote import ZygoteError

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
        _check_notebook(nb_path, spec["notebook"] + ".ipynb")
        if source_notebook is not None and Path(source_notebook).is_file():
            restore_locked_cells(nb_path, source_notebook)
        course = _course_of(sub, source_notebook)
        protect = protected_roots(course=course, workdir=work)
        if spec["kind"] == "mix":
            out_name = spec.get("deliverable", "deliverable")
            stale = resolve_inside(work, out_name)
            if stale.exists():
                shutil.rmtree(stale, ignore_errors=True)  # measure what the submitted code exports, not a leftover
            _, log = run_learner_code(nb_path, work, timeout_s=timeout_s, memory_mb=memory_mb, protect=protect,
                                      zygote=zygote)
            result.log = log
            result.error = _run_notes(log)
            deliverable = resolve_inside(work, out_name)
            if not deliverable.is_dir():
                errors = [line for line in log.splitlines() if line.startswith("[cell ")][:3]
                raise GradingError(f"The notebook did not export a deliverable folder '{out_name}/'. "
                                   "Run the export cell (export_deliverable(stack, 'deliverable')) and make sure it runs without errors."
                                   + (" Errors while running it: " + "; ".join(errors) if errors else "")
                                   + (" " + result.error if result.error else ""))
            _refuse_links(deliverable)
            result.items = measure_in_child(deliverable, spec, figures=figures, memory_mb=memory_mb, zygote=zygote)
        else:
            values, log = run_learner_code(nb_path, work, exports=spec.get("exports", []), timeout_s=timeout_s,
                                           memory_mb=memory_mb, protect=protect, partial=True, zygote=zygote)
            result.log = log
            result.error = _run_notes(log)
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


def _check_notebook(nb_path: Path, name: str) -> None:
    """Raise GradingError in plain words when the submitted notebook cannot be read."""
    try:
        raw = json.loads(nb_path.read_text(encoding="utf-8"))
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


def _run_notes(log: str) -> str:
    """The grader's own notes on a run (stopped, crashed, exited early), in plain words."""
    return " ".join(line[len("[grader] "):] for line in log.splitlines() if line.startswith("[grader] "))


def _course_of(sub: Path, source_notebook=None):
    """The nbgrader course root of ``submitted/<student>/<assignment>/`` (or of the source notebook), else None."""
    sub = Path(sub).resolve()
    if sub.parent.parent.name == "submitted":
        return sub.parent.parent.parent
    if source_notebook is not None:
        src = Path(source_notebook).resolve()
        if src.parent.parent.name == "source":
            return src.parent.parent.parent
    return None


def _refuse_links(folder: Path) -> None:
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
        for n in dirnames + filenames:
            p = Path(dirpath) / n
            if p.is_symlink():
                raise GradingError(f"{p.relative_to(folder.parent)} is a symbolic link; export real files into the deliverable.")


# --------------------------------------------------------------------------------------
# the course: batch grading, gradebook, feedback, class summary
# --------------------------------------------------------------------------------------


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
                     progress: bool = True) -> ClassSummary:
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
        g = grade_submission(adir, **kw)
        if g.incomplete:  # the grader's own interpreter stopped (not the learner's doing): once more, with a new one
            g = grade_submission(adir, **kw)
        g.student = student
        if g.incomplete:
            return g  # not stored: a resumed run grades it again
        part = cache.with_name(cache.name + f".{os.getpid()}.{threading.get_ident()}.part")
        part.write_text(json.dumps(g.to_dict()), encoding="utf-8")
        os.replace(part, cache)  # a batch killed here leaves the old result or the new one, never half of one
        return g

    bar = _progress(len(subs), f"grading {assignment}", progress)
    jobs = int(jobs) if jobs else (os.cpu_count() or 1)
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
        if (course / "gradebook.db").is_file():
            writes = write_gradebook(course, assignment, spec, scored)
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


def write_gradebook(course, assignment: str, spec: dict, grades: list[SubmissionGrade]) -> int:
    """Write each item's points into the nbgrader gradebook as the auto score.

    A manual score found on an auto-graded cell is cleared (a code cell's score can
    only come from the grader). Returns the number of grades written.
    """
    from nbgrader.api import Gradebook, MissingEntry

    db_url = f"sqlite:///{Path(course).resolve() / 'gradebook.db'}"
    n = 0
    with Gradebook(db_url) as gb:
        for g in grades:
            for it in g.items:
                try:
                    grade = gb.find_grade(it.grade_id, spec["notebook"], assignment, g.student)
                except MissingEntry:
                    continue
                grade.auto_score = float(it.points)
                grade.manual_score = None
                grade.needs_manual_grade = False
                n += 1
        gb.db.commit()
    return n


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


def strip_hidden_tests(source: str, *, begin: str = "BEGIN HIDDEN TESTS", end: str = "END HIDDEN TESTS") -> str:
    """Remove every hidden-test region (delimiter lines included) from a cell's source."""
    if begin not in source:
        return source
    out, hiding = [], False
    for line in source.splitlines(keepends=True):
        if begin in line:
            hiding = True
            continue
        if end in line:
            hiding = False
            continue
        if not hiding:
            out.append(line)
    return "".join(out)


def _hidden_lines(source: str) -> list[str]:
    lines, hiding = [], False
    for line in source.splitlines():
        if "BEGIN HIDDEN TESTS" in line:
            hiding = True
            continue
        if "END HIDDEN TESTS" in line:
            hiding = False
            continue
        if hiding and len(line.strip()) > 6:
            lines.append(line.strip())
    return lines


def _make_scrubber():
    from nbconvert.preprocessors import Preprocessor

    class ScrubHiddenTests(Preprocessor):
        """nbconvert preprocessor for feedback: remove hidden tests from sources and outputs.

        Cell sources lose their hidden-test regions; any output (traceback or text)
        quoting a hidden-test line is replaced by a short note.
        """

        def preprocess_cell(self, cell, resources, index):
            hidden = _hidden_lines(cell.source) if isinstance(cell.source, str) else []
            cell.source = strip_hidden_tests(cell.source)
            if hidden and cell.cell_type == "code":
                for out in cell.get("outputs", []):
                    blob = json.dumps(out)
                    if any(h in blob or json.dumps(h)[1:-1] in blob for h in hidden):
                        out.clear()
                        out.update({"output_type": "stream", "name": "stdout",
                                    "text": "(output hidden: it quoted a hidden test)\n"})
            return cell, resources

    return ScrubHiddenTests


def __getattr__(name):  # lazy: importing nbconvert costs time the learner's self-check does not need
    if name == "ScrubHiddenTests":
        cls = _make_scrubber()
        globals()[name] = cls
        return cls
    raise AttributeError(name)


def write_summary_csv(path, spec: dict, grades: list[SubmissionGrade]) -> Path:
    """Score table: one row per student, one column per rubric item, plus total."""
    path = Path(path)
    names = [it.get("check") or it.get("label") or it["answer"] for it in spec["items"]]
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["student", *names, "score", "max_score", "error"])
        for g in sorted(grades, key=lambda g: g.student):
            pts = {it.grade_id: it.points for it in g.items}
            w.writerow([g.student, *[_fmt(float(pts.get(it["grade_id"], 0.0))) for it in spec["items"]],
                        _fmt(g.score), _fmt(g.max_score), g.error])
    return path


def write_histograms(path, spec: dict, grades: list[SubmissionGrade], *, assignment: str = "") -> Path:
    """One histogram per rubric item (points earned across the class) plus the total."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    import numpy as np

    items = spec["items"]
    n = len(items) + 1
    cols = min(4, n)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.4 * rows), squeeze=False)
    for ax in axes.flat[n:]:
        ax.axis("off")
    for ax, it in zip(axes.flat, items):
        vals = [next((x.points for x in g.items if x.grade_id == it["grade_id"]), 0.0) for g in grades]
        mx = float(it["points"])
        ax.hist(vals, bins=np.linspace(0, mx, 6) if mx > 0 else 5, color="#4c72b0", edgecolor="white")
        ax.set_title(f"{it.get('check') or it.get('label') or it['answer']} (/{_fmt(mx)})", fontsize=9)
        ax.set_xlim(-0.05 * mx, mx * 1.05 + 1e-9)
    ax = axes.flat[len(items)]
    totals = [g.score for g in grades]
    mx = float(sum(float(it["points"]) for it in items))
    ax.hist(totals, bins=np.linspace(0, mx, 11) if mx > 0 else 5, color="#dd8452", edgecolor="white")
    ax.set_title(f"total (/{_fmt(mx)})", fontsize=9)
    fig.suptitle(f"{assignment}: {len(grades)} submissions", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return Path(path)


# --------------------------------------------------------------------------------------
# self-check inside a lab
# --------------------------------------------------------------------------------------

_SELF_CACHE: dict = {}


def self_check(check: str | None = None, *, deliverable="deliverable", assignment: str = "lab2_hybrid_mix",
               scene: str | None = None, target: str | None = None, show: bool = True, figures: bool = True,
               strict: bool = True) -> SubmissionGrade:
    """Run the grader's checks on your current deliverable and show the same report.

    Parameters
    ----------
    check : str, optional
        One check (``"sync"``, ``"loudness"``...) to report on; by default all of them.
    deliverable : str or Path
        Your exported folder (``export_deliverable(stack, "deliverable")``).
    assignment : str
        The lab whose rubric gives the points.
    scene, target : str, optional
        Override the lab's scene and delivery target.
    show : bool
        Display the report (text and figures) in the notebook.
    strict : bool
        With ``check`` given, raise AssertionError when it fails (what a grade cell does).

    Returns
    -------
    SubmissionGrade
        Points as the grader would give them (the grader recomputes them itself).

    Notes
    -----
    Warnings and stderr are silenced (nbgrader zeroes a test cell that writes to stderr).
    While the out-of-kernel grader re-runs a notebook (``LAYERLAB_GRADING=1``) it does
    nothing and returns None: the grader measures the deliverable itself.
    Taught in ``labs/lab2_hybrid_mix/lab2_hybrid_mix.ipynb``.
    """
    if os.environ.get("LAYERLAB_GRADING") == "1":
        return None
    with _quiet():
        try:
            spec = dict(assignment_spec(assignment))
        except GradingError:
            spec = {"kind": "mix", "notebook": assignment, "scene": scene, "target": target or "streaming",
                    "gates": ["format", "stems_sum"], "items": []}
        scene = scene or spec.get("scene")
        target = target or spec.get("target", "streaming")
        folder = Path(deliverable)
        if not folder.is_dir():
            raise GradingError(f"{folder}: no deliverable folder yet. Export one with export_deliverable(stack, {str(deliverable)!r}).")
        key = (str(folder.resolve()), scene, target, _tree_stamp(folder))
        if key not in _SELF_CACHE:
            _SELF_CACHE.clear()
            _SELF_CACHE[key] = measure_deliverable(folder, scene=scene, target=target, figures=figures)
        results, figs = _SELF_CACHE[key]
        if not spec["items"]:
            spec["items"] = [{"check": n, "grade_id": n, "points": 1} for n in results]
        items = score_mix(results, figs, spec)
        if check is not None:
            items = [it for it in items if it.name == check] or [
                ItemGrade(check, check, 0.0, 0.0, False, message=f"No check named {check!r} (known: {', '.join(results)}).")]
        grade = SubmissionGrade(assignment, "self-check", items)
    if show:
        _show(grade)
    if check is not None and strict and not all(it.passed for it in items):
        raise AssertionError(f"{check}: " + items[0].message)
    return grade


def _tree_stamp(folder: Path) -> tuple:
    out = []
    for p in sorted(folder.rglob("*")):
        with contextlib.suppress(OSError):
            st = p.stat()
            out.append((str(p), st.st_size, st.st_mtime_ns))
    return tuple(out)


def _show(grade: SubmissionGrade) -> None:
    print(grade.to_text())
    try:
        from IPython.display import Image, display

        for it in grade.items:
            if it.figure_png:
                display(Image(data=base64.b64decode(it.figure_png)))
    except ImportError:  # pragma: no cover
        pass


def check_answers(answers: dict, *, assignment: str, show: bool = True, grade: bool = False) -> list[str]:
    """Check that a lab's answers have the shape the grader reads; optionally, grade them.

    Parameters
    ----------
    answers : dict
        The lab's answer variables by name, e.g. ``{"findings": findings}``.
    assignment : str
    show : bool
        Print the result.
    grade : bool
        Also show the grader's verdict per item (points and advice; true values are
        never shown). For self-paced learners; a course may leave it off.

    Returns
    -------
    list of str
        The problems found (empty when the answers are complete).

    Notes
    -----
    While the out-of-kernel grader re-runs a notebook (``LAYERLAB_GRADING=1``) it does
    nothing and returns an empty list: the grader compares the answers itself, and the
    learner's code may not read the rubric.

    Taught in ``labs/lab1_audit/lab1_audit.ipynb`` and ``labs/lab3_choose_approach/lab3_choose_approach.ipynb``.
    """
    if os.environ.get("LAYERLAB_GRADING") == "1":
        return []
    spec = assignment_spec(assignment)
    problems = []
    for it in spec["items"]:
        path = it["answer"].split(".", 1)
        var, rest = path[0], (path[1] if len(path) > 1 else "")
        holder = answers.get(var) if var in answers else None
        if holder is None:
            problems.append(f"{var} is not defined")
            continue
        try:
            a = _dig(holder, rest) if rest else holder
        except KeyError:
            problems.append(f"{it['answer']} is missing")
            continue
        kind = it.get("type", "number")
        if kind == "number" and _number(a) is None:
            problems.append(f"{it['answer']} should be a number, got {a!r}")
        elif kind in ("numbers", "choices") and not isinstance(a, dict):
            problems.append(f"{it['answer']} should be a dict, got {type(a).__name__}")
        elif kind == "choices":
            allowed = it.get("allowed")
            if allowed:
                for k, v in a.items():
                    if _norm_choice(v) not in {_norm_choice(x) for x in allowed}:
                        problems.append(f"{it['answer']}[{k!r}] = {v!r}: choose one of {allowed}")
            for k in it.get("keys", []):
                if k not in a:
                    problems.append(f"{it['answer']} has no entry for {k!r}")
    if show:
        print("Answers are complete: the grader can read them." if not problems else
              "Fix before submitting:\n  - " + "\n  - ".join(problems))
    if grade:
        with _quiet():
            items = score_answers(answers, spec)
        result = SubmissionGrade(assignment, "self-check", items)
        if show:
            print(result.to_text())
    return problems


# --------------------------------------------------------------------------------------
# command line: layerlab grade ASSIGNMENT
# --------------------------------------------------------------------------------------


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


def run(args) -> int:
    s = grade_assignment(args.assignment, course=args.course, rubric=args.rubric, students=args.student, jobs=args.jobs,
                         timeout_s=args.timeout, memory_mb=args.memory_mb, gradebook=not args.no_gradebook,
                         feedback=not args.no_feedback, resume=args.resume, progress=not args.quiet)
    for g in sorted(s.grades, key=lambda g: g.student):
        note = f"  ({g.error})" if g.error else ""
        print(f"{g.student:24s} {_fmt(g.score):>6s} / {_fmt(g.max_score)}{note}")
    print(f"summary: {s.summary_csv}\nhistograms: {s.histograms_png}\nreports: {s.report_dir}")
    retry = [g.student for g in s.grades if g.incomplete]
    if retry:
        print(f"not graded (the grader failed, nothing recorded): {', '.join(retry)} - run again with --resume")
    if not args.no_gradebook:
        if s.gradebook_writes:
            print(f"gradebook: {s.gradebook_writes} grades written")
        else:
            print(f"gradebook: nothing written - run `nbgrader autograde {args.assignment} --create` first, then grade again")
    return 0
