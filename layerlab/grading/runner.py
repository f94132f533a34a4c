"""Running the learner's notebook code in a process of its own.

The code cells run in a process forked from the warm zygote
(:mod:`layerlab.grading.zygote`) or inside the operating-system sandbox
(:mod:`layerlab.grading.sandbox`); this module holds what runs in that process
(:func:`exec_task`) and the grader's side of it (:func:`run_learner_code`).
Taught in ``labs/lab2_hybrid_mix/lab2_hybrid_mix.ipynb``; documented in ``autograder/README.md``.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

from layerlab.errors import SandboxError
from layerlab.grading.results import jsonable, one_line
from layerlab.grading.submission import MAX_FILE_MB, learner_code_cells
from layerlab.paths import REPO_ROOT

DEFAULT_TIMEOUT_S = 240.0
"""Seconds the learner's code may run, unless the rubric or the instructor says otherwise."""
DEFAULT_MEMORY_MB = 4096
"""Address space of the learner's process, in megabytes."""


def apply_limits(memory_mb: float, *, cpu_s: float | None = None, max_processes: int | None = None,
                 max_file_mb: float = MAX_FILE_MB, max_open_files: int | None = None) -> None:
    """In a learner's or measuring process: cap its address space, CPU time, processes and file size; no core dumps.

    Soft and hard limits are set alike, so the process cannot raise them again; the CPU time's hard limit is 5 s
    above its soft one, so SIGXCPU comes first and SIGKILL only to a process that ignores it.

    Parameters
    ----------
    memory_mb : float
        Address space (RLIMIT_AS), megabytes.
    cpu_s : float, optional
        CPU seconds (RLIMIT_CPU; SIGXCPU at ``cpu_s``, SIGKILL 5 s later).
    max_processes : int, optional
        Processes and threads of this uid (RLIMIT_NPROC; in the sandbox, the sandbox's own uid).
    max_file_mb : float
        Largest file it may write (RLIMIT_FSIZE; SIGXFSZ or EFBIG).
    max_open_files : int, optional
        Descriptors each process may hold (RLIMIT_NOFILE; EMFILE past it), at most the current hard limit.
    """
    with contextlib.suppress(ImportError, ValueError, OSError):
        import resource

        lim = int(memory_mb * 1024 * 1024)
        resource.setrlimit(resource.RLIMIT_AS, (lim, lim))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        fsize = int(max_file_mb * 1e6)  # no single file larger than the grader would read
        resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
        if cpu_s is not None:
            resource.setrlimit(resource.RLIMIT_CPU, (math.ceil(cpu_s), math.ceil(cpu_s) + 5))
        if max_processes is not None:
            resource.setrlimit(resource.RLIMIT_NPROC, (int(max_processes), int(max_processes)))
        if max_open_files is not None:  # last: never above the hard limit, which an unprivileged grader cannot raise
            hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
            n = int(max_open_files) if hard == resource.RLIM_INFINITY else min(int(max_open_files), hard)
            resource.setrlimit(resource.RLIMIT_NOFILE, (n, n))


def sandbox_env(home: str) -> dict:
    """The learner's environment inside the sandbox: an allow-list, nothing of the grader's."""
    env = {
        "PATH": os.pathsep.join([os.path.dirname(sys.executable), "/usr/local/bin", "/usr/bin", "/bin"]),
        "LANG": "C.UTF-8",
        "HOME": home,
        "TMPDIR": "/tmp",
        "MPLBACKEND": "Agg",
        "MPLCONFIGDIR": "/tmp/matplotlib",
        "NUMBA_CACHE_DIR": "/tmp/numba",
        "PYTHONWARNINGS": "ignore",
        "PYTHONDONTWRITEBYTECODE": "1",
        "LAYERLAB_GRADING": "1",
        "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
    }
    if os.environ.get("LAYERLAB_ASSETS"):
        from layerlab.paths import assets_dir

        env["LAYERLAB_ASSETS"] = str(assets_dir())
    return env


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
                     cpu_s: float | None = None, memory_mb: float = DEFAULT_MEMORY_MB, protect=None, partial: bool = False,
                     zygote=None, sandbox: bool = False, notes: list | None = None,
                     collect=None) -> tuple[dict, str]:
    """Run a notebook's solution cells in a fresh process: in the bwrap sandbox, or forked from the zygote.

    With ``sandbox=True`` (what ``layerlab grade`` does), a fresh interpreter runs
    inside bubblewrap (:mod:`layerlab.grading.sandbox`): its own namespaces, a file
    system holding only the interpreter, the kit's package, the scenes and this
    submission, an allow-listed environment, and limits on time, memory, processes
    and disk. Without it, the process is forked from the grader's warm isolated
    interpreter (:mod:`layerlab.grading.zygote`) with a Python audit hook as its only
    guard: for trusted work (``--no-sandbox``) and the tests of the zygote.

    Parameters
    ----------
    notebook : str or Path
        The learner's ``.ipynb`` (inside ``workdir``).
    workdir : str or Path
        The private copy of the submission; it is the child's working folder.
    exports : sequence of str
        Variable names to collect after the cells ran (JSON data only).
    timeout_s, memory_mb : float
        Limits for the child process (it is killed with every process it started).
    cpu_s : float, optional
        CPU seconds each of its processes may use (RLIMIT_CPU; the rubric's ``cpu_s``): a
        spinning loop then ends when it has used them, before the wall-clock ``timeout_s``.
        Default: ``timeout_s`` + 10 in the sandbox, none without it.
    protect : list of str, optional
        Without the sandbox: folders the code may not touch (default: :func:`protected_roots`).
    partial : bool
        When the code is stopped or ends early, return the exports as they were after
        the last cell that finished (so a runaway last cell does not cost earlier answers).
    zygote : layerlab.grading.zygote.Zygote, optional
        Without the sandbox: the warm interpreter to fork from (default: the process-wide one).
    sandbox : bool
        Run inside bubblewrap (raises :class:`layerlab.errors.SandboxError` where it cannot run, or
        when the sandbox ended before the first cell ran: a fault of the grader's set-up).
    notes : list, optional
        Receives the grader's own notes on the run (stopped, crashed, exited early, answers
        taken from the last finished cell), one plain sentence each. They travel out of
        band: a line the learner's code prints, even one starting ``[grader]``, is never
        one of them. The returned log shows them too, after the learner's output.
    collect : sequence of str, optional
        In the sandbox: the paths (relative to ``workdir``) the grader needs back besides
        the exported answers, e.g. ``["deliverable"]``; default: everything the code left.
        Afterwards ``workdir`` holds only those.

    Returns
    -------
    (dict, str)
        The exported values (missing names are absent) and a log of cell errors.
    """
    workdir = Path(workdir)
    if sandbox:
        from layerlab.grading import sandbox as _sandbox

        nb_rel = os.path.relpath(Path(notebook).resolve(), workdir.resolve())
        limits = _sandbox.SandboxLimits(timeout_s=float(timeout_s), memory_mb=float(memory_mb),
                                        cpu_s=None if cpu_s is None else float(cpu_s))
        run = _sandbox.run_sandboxed(nb_rel, workdir, exports=exports, collect=collect, limits=limits)
        if not run.ready:  # nothing of the learner's ran: the grader's own set-up failed (issue #12), never a zero
            last = next((line for line in reversed(run.log.splitlines()) if line.strip()), "no message")
            raise SandboxError("the sandbox ended before the notebook's first cell ran "
                               f"(status {_sandbox.exit_status(run.returncode)}: {one_line(last)[:200]})")
        own = ("\n[grader] " + run.note if run.note else "") + describe_end(
            _sandbox.exit_status(run.returncode), timed_out=run.timed_out, timeout_s=timeout_s, quiet=run.disk_exceeded,
            cpu_s=limits.cpu_limit_s)
        values, note = read_exports(run.exports_file, partial=partial)
        for f in (run.exports_file, Path(str(run.exports_file) + ".partial"), Path(str(run.exports_file) + ".tmp")):
            with contextlib.suppress(OSError):
                f.unlink()
        _add_notes(notes, own + note)
        return values, run.log + own + note
    from layerlab.grading import zygote as _zygote

    out_dir = Path(tempfile.mkdtemp(prefix="layerlab-answers-"))
    out_file = out_dir / "exports.json"
    args = {"notebook": str(notebook), "out": str(out_file), "exports": list(exports), "workdir": str(workdir),
            "protect": [str(r) for r in (protected_roots(workdir=workdir) if protect is None else protect)],
            "memory_mb": float(memory_mb), "env": _child_env(workdir), "cpu_s": None if cpu_s is None else float(cpu_s)}
    r, w = os.pipe()
    try:
        task = (zygote or _zygote.shared()).spawn("exec", args, output_fd=w, new_session=True)
    except BaseException:
        os.close(r)
        shutil.rmtree(out_dir, ignore_errors=True)
        raise
    finally:
        os.close(w)
    reader = BoundedReader(os.fdopen(r, "rb", buffering=0))
    try:
        returncode = task.wait(timeout=timeout_s)
        timed_out = False
    except subprocess.TimeoutExpired:
        task.kill()
        returncode = task.wait()
        timed_out = True
    task.kill()  # the child is gone; kill any process it left behind in its group (it may hold the pipe open)
    own = describe_end(returncode, timed_out=timed_out, timeout_s=timeout_s, cpu_s=cpu_s)
    try:
        values, note = read_exports(out_file, partial=partial)
    finally:
        shutil.rmtree(out_dir, ignore_errors=True)
    _add_notes(notes, own + note)
    return values, reader.text() + own + note


PRINTED_ERRORS = "The notebook printed these errors (its own output, not checked by the grader): "


def describe_cell_errors(log: str, stubs=()) -> tuple[str, str]:
    """The grader's words on the cell errors in a run's log: (cells not filled in yet, the other errors printed).

    ``stubs`` are the cells that held the released stub before the run (:func:`layerlab.grading.submission.stub_cells`).
    Such a cell whose line in the log is a NotImplementedError is named in plain words, first: "[cell 2] not filled
    in yet (it still raises NotImplementedError): write your answer there ..." (nothing else to say: the stub's
    exception has no text). Every other ``[cell N] ...`` line (at most 3), e.g. the NameErrors that follow, is quoted
    as the notebook's own output: the learner's process prints these lines and could print anything.
    """
    lines = [line for line in log.splitlines() if line.startswith("[cell ")]
    stub_lines = {n: f"[cell {n}] NotImplementedError:" for n in stubs}
    unfinished = sorted(n for n, head in stub_lines.items() if any(line.startswith(head) for line in lines))
    said = tuple(stub_lines[n] for n in unfinished)
    others = [f'"{one_line(line)}"' for line in lines if not (said and line.startswith(said))][:3]
    lead = ""
    if len(unfinished) == 1:
        lead = (f"[cell {unfinished[0]}] not filled in yet (it still raises NotImplementedError): "
                "write your answer there and run the notebook.")
    elif unfinished:
        lead = (f"[cells {', '.join(map(str, unfinished))}] not filled in yet (they still raise NotImplementedError): "
                "write your answers there and run the notebook.")
    return lead, (PRINTED_ERRORS + "; ".join(others) if others else "")


def flush_and_exit(code: int):
    """End a forked task process: flush what it printed, then ``os._exit(code)`` (no atexit, no inherited cleanup).

    The one tail of the grader's forked processes: the zygote's tasks
    (:mod:`layerlab.grading.zygote`) and the sandbox's learner worker (:mod:`layerlab.grading.sandbox`).
    A forked child must never run the parent's atexit handlers or return into its
    caller's code; ``os._exit`` alone would lose output still buffered in ``sys.stdout``.
    """
    with contextlib.suppress(Exception):
        sys.stdout.flush()
        sys.stderr.flush()
    os._exit(code)


def _add_notes(notes: list | None, own: str) -> None:
    """The grader's own ``[grader] ...`` lines (made here, never read from the learner's output) into ``notes``."""
    if notes is not None:
        notes += [line[len("[grader] "):] for line in own.splitlines() if line.startswith("[grader] ")]


MAX_EXPORTS_BYTES = 4_000_000
"""Largest exported-answers file the grader reads."""


def describe_end(returncode: int, *, timed_out: bool, timeout_s: float, quiet: bool = False,
                 cpu_s: float | None = None) -> str:
    """The grader's note on how the learner's process ended ("" for a normal end), in plain words."""
    if quiet:
        return ""
    if timed_out:
        return f"\n[grader] the notebook code did not finish within {timeout_s:.0f} s and was stopped."
    if returncode < 0:
        sig = -returncode
        name = signal.Signals(sig).name if sig in signal.Signals._value2member_map_ else str(sig)
        killed = ("it was killed: it used up its {} CPU seconds (the grading limit for this lab) or ran out of "
                  "memory".format(math.ceil(cpu_s)) if cpu_s else "it was killed (often: out of memory)")
        why = {"SIGKILL": killed, "SIGSEGV": "it crashed (segmentation fault)",
               "SIGXFSZ": f"it wrote a file over {MAX_FILE_MB} MB", "SIGABRT": "it aborted",
               "SIGXCPU": f"it used up its {math.ceil(cpu_s)} CPU seconds (the grading limit for this lab)" if cpu_s
               else "it used up its CPU time"}.get(name, f"signal {name}")
        return f"\n[grader] the notebook process stopped early: {why}; the cells after that point did not run."
    if returncode:
        return (f"\n[grader] the notebook process ended early with status {returncode} (os._exit or a crash); "
                "the cells after that point did not run.")
    return ""


def read_exports(out_file: Path, *, partial: bool) -> tuple[dict, str]:
    """The exported answers (a regular file, size-capped, JSON object, valid Unicode), and a note on where they came from."""
    note = ""
    out_file = Path(out_file)
    partial_file = Path(str(out_file) + ".partial")
    if partial and not _regular(out_file) and _regular(partial_file):
        out_file = partial_file
        note += "\n[grader] answers were taken as they stood after the last cell that finished."
    if not _regular(out_file):
        return {}, note
    try:
        if os.lstat(out_file).st_size > MAX_EXPORTS_BYTES:
            raise ValueError("too large")
        raw = json.loads(out_file.read_text(encoding="utf-8"))
        # the learner's JSON may escape a lone surrogate ("\udcff"): text no UTF-8 report can hold; U+FFFD instead
        raw = json.loads(json.dumps(raw, ensure_ascii=False).encode("utf-8", "surrogatepass").decode("utf-8", "replace"))
        return (raw if isinstance(raw, dict) else {}), note
    except (OSError, ValueError, RecursionError):  # RecursionError: nested deeper than the parser goes
        return {}, note + "\n[grader] the exported answers could not be read."


def _regular(path: Path) -> bool:
    try:
        import stat

        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False


class BoundedReader:
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


LEARNER_PRELOAD = ("numpy", "soundfile", "layerlab.mix.scenes", "layerlab.mix.stack", "layerlab.mix.ducking",
                   "layerlab.mix.master", "layerlab.mix.session")
"""What every learner process imports before the first cell: the lab's own modules and the libraries they load
at import time (a module the learner ships beside the notebook cannot stand in for them)."""
GUARDED_PRELOAD = ("scipy.signal", "scipy.fft", "pyloudnorm")
"""Imported too when the audit hook guards the process (``--no-sandbox``): a library that loads native code
cannot once the hook is in. Inside bubblewrap there is no hook, and the lab-2 code path needs none of them, so
a sandboxed run loads them only if the learner's own code imports them (``import scipy.signal`` alone costs
some 1.6 CPU seconds)."""


def _preload(*, guarded: bool = True) -> None:
    """Import what the labs use before the learner's folder is on ``sys.path`` (and before the guard, if any)."""
    for mod in LEARNER_PRELOAD + (GUARDED_PRELOAD if guarded else ()):
        with contextlib.suppress(Exception):
            __import__(mod)


def exec_task(args: dict) -> int:
    """Zygote task (in the learner's forked process): apply the limits, run the solution cells, dump the exports."""
    apply_limits(float(args["memory_mb"]), cpu_s=args.get("cpu_s"), max_processes=args.get("max_processes"),
                 max_file_mb=float(args.get("max_file_mb") or MAX_FILE_MB), max_open_files=args.get("max_open_files"))
    uid = args.get("run_as_uid")
    if uid is not None:  # in the sandbox run as root: become the sandbox's own uid, with no capability left
        os.setgroups([])
        os.setgid(int(uid))
        os.setuid(int(uid))
    if args.get("copy_from"):  # in the sandbox: the home is an empty tmpfs; the submission is bound read-only
        from layerlab.grading.sandbox import copy_into

        copy_into(args["copy_from"], args["workdir"])
        if args.get("numba_from") and args["env"].get("NUMBA_CACHE_DIR"):  # the grader's warm cache: a private copy
            with contextlib.suppress(OSError):
                os.makedirs(args["env"]["NUMBA_CACHE_DIR"], exist_ok=True)
                copy_into(args["numba_from"], args["env"]["NUMBA_CACHE_DIR"])
    os.chdir(args["workdir"])
    os.environ.clear()
    os.environ.update(args["env"])
    warnings.simplefilter("ignore")
    nb = json.loads(Path(args["notebook"]).read_text(encoding="utf-8"))
    out_path = Path(args["out"])
    exports = list(args.get("exports") or [])
    guarded = bool(args.get("guard", True))
    # before the learner's folder is on sys.path, so a module shipped there cannot stand in for these; inside bwrap a
    # shipped scipy/ can stand in for the unpreloaded libraries, in the learner's own process only (measured outside)
    _preload(guarded=guarded)
    exe = []
    if guarded:  # the one program the audit hook lets the cells start: looked up before the learner's folder is on
        # sys.path (a shipped imageio_ffmpeg.py cannot name it), and only for the hook (a sandboxed run skips its imports)
        with contextlib.suppress(Exception):
            from layerlab.io.audio import ffmpeg_exe

            exe.append(ffmpeg_exe())
    sys.path.insert(0, os.getcwd())  # the learner may ship helper modules beside the notebook
    if guarded:
        # Without the OS sandbox (--no-sandbox, self-check) the audit hook is the only guard; inside bubblewrap the
        # namespaces are the boundary and the hook would only break libraries that compile code (numba, used by
        # librosa's onset detection in lab 1's audit).
        _install_guard(list(args.get("protect") or []), exe)  # also with no folder to protect: sockets, signals, programs

    def display(*objs, **kwargs):  # IPython's, imported on first use
        try:
            from IPython.display import display as ipy_display
        except ImportError:  # pragma: no cover
            return print(*objs)
        return ipy_display(*objs, **kwargs)

    ns = {"__name__": "__main__", "get_ipython": lambda: _NoShell(), "display": display}
    write_json, replace, dumps = write_private, os.replace, json.dumps

    def snapshot():  # after every cell: a later crash, exit or timeout keeps what was answered so far
        if not exports:
            return
        try:
            result = {name: jsonable(ns[name]) for name in exports if name in ns}
            text = dumps(result)
        except Exception:  # noqa: BLE001 - an answer that cannot be read is left out
            return
        try:
            write_json(str(out_path) + ".tmp", text)
            replace(str(out_path) + ".tmp", str(out_path) + ".partial")
        except OSError:  # a full home (the learner's own doing): the next cell's snapshot may fit again
            pass

    ready_fd = args.get("ready_fd")
    if ready_fd is not None:  # in the sandbox: tell the grader the learner's time starts now
        with contextlib.suppress(OSError):
            os.write(int(ready_fd), b"1")
            os.close(int(ready_fd))
    for i, src in enumerate(learner_code_cells(nb)):
        try:
            exec(compile(_to_python(src), f"<cell {i + 1}>", "exec"), ns)  # noqa: S102 - the learner's own code, sandboxed by process
        except BaseException as exc:  # noqa: BLE001 - report and go on, like nbgrader with allow_errors
            if isinstance(exc, (KeyboardInterrupt,)):
                raise
            print(f"[cell {i + 1}] {type(exc).__name__}: {str(exc)[:300]}" + _plain_words(exc))
        sys.stdout.flush()
        snapshot()
    write_json(str(out_path), dumps({name: jsonable(ns[name]) for name in exports if name in ns}))
    return 0


def write_private(path: str, text: str) -> None:
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
