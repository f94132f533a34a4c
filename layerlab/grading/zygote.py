"""A warm Python that forks a fresh process per grading task.

Starting Python and importing numpy, scipy, soundfile, matplotlib and the kit
costs more than grading a lab-2 submission does. The grader therefore starts one
*zygote* per batch: an isolated interpreter (``python -I``) that imports those
libraries once, then waits on a private Unix socket. Each task (running one
learner's notebook code, measuring one deliverable) is a new process forked from
it, so every task still gets its own address space, limits and process group,
and nothing one task does reaches another or the grader. The zygote itself never
runs a task, never reads a rubric, a notebook or a solution, and holds nothing a
forked learner process could find in its inherited memory.

Protocol (one connection per task): the client sends one JSON line
``{"task": NAME, "args": {...}}`` with up to one file descriptor attached (the
child's stdout and stderr); the zygote answers ``{"pid": N}`` once the child is
forked and ``{"returncode": R}`` when it has ended (negative: killed by that
signal, as in :mod:`subprocess`). Task names are looked up in :data:`TASKS`; the
socket lives in a 0700 folder, and the zygote exits when its stdin (a pipe from
the grader) closes, killing any task still running.

Taught in ``labs/lab2_hybrid_mix/lab2_hybrid_mix.ipynb`` (how the grader runs a
submission) and documented for instructors in ``autograder/README.md``.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib
import json
import os
import select
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path

from layerlab.errors import ZygoteError
from layerlab.grading.runner import flush_and_exit

PRELOAD = ("numpy", "scipy.signal", "scipy.fft", "scipy.ndimage", "soundfile", "pyloudnorm", "matplotlib",
           "matplotlib.figure", "matplotlib.backends.backend_agg", "threadpoolctl", "layerlab.io.audio", "layerlab.mix.stack",
           "layerlab.mix.ducking", "layerlab.mix.master", "layerlab.mix.session", "layerlab.mix.scenes", "layerlab.measure.loudness",
           "layerlab.checks", "layerlab.checks.plots", "layerlab.grading")
"""Modules imported once by the zygote (every task starts with them loaded)."""

TASKS = {
    "exec": "layerlab.grading.runner:exec_task",
    "measure": "layerlab.grading.measuring:measure_task",
    "probe": "layerlab.grading.zygote:_probe_task",
}
"""Task name -> ``module:function(args: dict) -> int`` run in the forked child."""

_SINGLE_THREAD_ENV = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def _clean_env() -> dict:
    """The zygote's environment: only what the libraries need, nothing of the grader's (tokens, paths, settings).

    A forked task inherits it as its initial environment (``/proc/self/environ``), so
    it must hold nothing a learner's code should not see.
    """
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "LC_ALL", "TZ", "LAYERLAB_ASSETS", "NUMBA_CACHE_DIR")}
    env.setdefault("NUMBA_CACHE_DIR", str(Path(tempfile.gettempdir()) / "layerlab-numba"))
    # matplotlib keeps its font list in its config/cache folder: point it at the grader's, so it is not rebuilt
    env["MPLCONFIGDIR"] = os.environ.get("MPLCONFIGDIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "matplotlib")
    env.update(_SINGLE_THREAD_ENV, MPLBACKEND="Agg", PYTHONWARNINGS="ignore", PYTHONDONTWRITEBYTECODE="1")
    return env



def _probe_task(args: dict) -> int:
    """A task that reports on itself (used by the tests): pid, parent, modules loaded, exit code asked for."""
    sys.stdout.write(json.dumps({"pid": os.getpid(), "ppid": os.getppid(), "pgid": os.getpgid(0),
                                 "numpy_loaded": "numpy" in sys.modules, "argv": sys.argv,
                                 "isolated": bool(sys.flags.isolated)}) + "\n")
    sys.stdout.flush()
    if args.get("sleep_s"):
        time.sleep(float(args["sleep_s"]))
    return int(args.get("exit", 0))


# ------------------------------------------------------------------------------ the client side


def _read_line(conn: socket.socket, buf: bytearray, timeout: float | None) -> bytes | None:
    """One line from ``conn`` (``buf`` keeps what came after it); None on timeout, b"" when the peer is gone."""
    deadline = None if timeout is None else time.monotonic() + timeout
    poller = select.poll()
    poller.register(conn, select.POLLIN)
    while b"\n" not in buf:
        left = None if deadline is None else max(0.0, deadline - time.monotonic())
        if not poller.poll(None if left is None else left * 1000.0):
            return None
        try:
            chunk = conn.recv(4096)
        except OSError:
            chunk = b""
        if not chunk:
            return b""
        buf += chunk
    line, _, rest = bytes(buf).partition(b"\n")
    buf[:] = rest
    return line


class Task:
    """A process forked by the zygote: its pid, and its return code once it has ended."""

    def __init__(self, conn: socket.socket, buf: bytearray, pid: int, new_session: bool, owner: "Zygote"):
        self._conn = conn
        self._buf = buf
        self._owner = owner
        self.pid = pid
        self.returncode: int | None = None
        self._new_session = new_session

    def wait(self, timeout: float | None = None) -> int:
        """Wait for the task to end and return its exit code (negative: the signal that ended it).

        Raises ``subprocess.TimeoutExpired`` after ``timeout`` seconds, and
        :class:`ZygoteError` when the zygote stopped first (the task ended with it:
        not the task's doing).
        """
        if self.returncode is not None:
            return self.returncode
        line = _read_line(self._conn, self._buf, timeout)
        if line is None:
            raise subprocess.TimeoutExpired(f"task {self.pid}", timeout)
        self.close()
        try:
            self.returncode = int(json.loads(line)["returncode"])
        except (ValueError, KeyError, TypeError):  # the zygote went away, and the task was killed with it
            self.kill()
            self._owner._fail()
            raise ZygoteError("the grader's worker interpreter stopped while the task ran") from None
        return self.returncode

    def kill(self) -> None:
        """SIGKILL the task (and, for a task in its own session, every process it started)."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if self._new_session:
                os.killpg(self.pid, signal.SIGKILL)
            else:
                os.kill(self.pid, signal.SIGKILL)

    def close(self) -> None:
        """Drop the connection to the zygote (the task itself is not affected)."""
        with contextlib.suppress(OSError):
            self._conn.close()


class Zygote:
    """A warm, isolated interpreter that forks one process per task.

    Parameters
    ----------
    preload : sequence of str
        Modules the zygote imports before it serves (default :data:`PRELOAD`).

    Examples
    --------
    >>> with Zygote() as z:                                  # doctest: +SKIP
    ...     t = z.spawn("probe", {"exit": 3})
    ...     t.wait(timeout=10)
    3
    """

    def __init__(self, *, preload=PRELOAD):
        self._failed = False
        self._dir = Path(tempfile.mkdtemp(prefix="layerlab-zygote-"))
        os.chmod(self._dir, 0o700)
        self.socket_path = str(self._dir / "z.sock")
        env = _clean_env()
        err_path = self._dir / "zygote.err"
        with open(err_path, "wb") as err:
            self._proc = subprocess.Popen([sys.executable, "-I", "-m", "layerlab.grading.zygote", self.socket_path, *preload],
                                          stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err, env=env,
                                          cwd=str(self._dir))
        ready = self._proc.stdout.readline()
        if ready.strip() != b"ready":
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._proc.wait(timeout=10)
            detail = err_path.read_text(encoding="utf-8", errors="replace")[-2000:].strip()
            self.close()
            raise ZygoteError(f"the grader's worker interpreter did not start. {detail}".strip())

    @property
    def alive(self) -> bool:
        """False once the zygote has stopped, or has failed a request (it is then stopped for good)."""
        return not self._failed and self._proc.poll() is None

    def _fail(self) -> None:
        """Stop a zygote that lost a task or a request: a dying one must not take the next request."""
        self._failed = True
        with contextlib.suppress(OSError):
            self._proc.kill()

    def spawn(self, task: str, args: dict, *, output_fd: int | None = None, new_session: bool = False) -> Task:
        """Fork a process that runs ``TASKS[task](args)``.

        Parameters
        ----------
        task : str
            A name in :data:`TASKS`.
        args : dict
            JSON data handed to the task.
        output_fd : int, optional
            A file descriptor to become the task's stdout and stderr (default: /dev/null).
            The caller keeps its own copy and closes it when it likes.
        new_session : bool
            Start the task in a new session and process group, so :meth:`Task.kill`
            reaches every process it starts.

        Returns
        -------
        Task
        """
        if task not in TASKS:
            raise ZygoteError(f"unknown task {task!r}; known: {', '.join(TASKS)}")
        if not self.alive:
            raise ZygoteError("the grader's worker interpreter has stopped.")
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            conn.connect(self.socket_path)
            msg = (json.dumps({"task": task, "args": args, "new_session": bool(new_session)}) + "\n").encode()
            socket.send_fds(conn, [msg], [output_fd] if output_fd is not None else [])
            buf = bytearray()
            line = _read_line(conn, buf, 60.0)
            if not line:
                raise ValueError("no answer")
            pid = int(json.loads(line)["pid"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            conn.close()
            self._fail()
            raise ZygoteError(f"the grader's worker interpreter could not start a task ({exc}).") from None
        return Task(conn, buf, pid, new_session, self)

    def close(self) -> None:
        """Stop the zygote (tasks still running are killed)."""
        proc = getattr(self, "_proc", None)
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(OSError):
                proc.stdin.close()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc is not None:
            with contextlib.suppress(OSError):
                proc.stdout.close()
        shutil.rmtree(getattr(self, "_dir", ""), ignore_errors=True)

    def __enter__(self) -> "Zygote":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


_shared: Zygote | None = None
_shared_lock = threading.Lock()


def shared() -> Zygote:
    """The process-wide zygote, started on first use and restarted if it has stopped."""
    global _shared
    with _shared_lock:
        if _shared is None or not _shared.alive:
            if _shared is not None:
                _shared.close()
            _shared = Zygote()
            atexit.register(_shared.close)
        return _shared


# ------------------------------------------------------------------------------ the zygote side


def _warm_up() -> None:
    """Draw one small figure, so that fonts, glyph caches and matplotlib's lazy imports are loaded once here."""
    import io

    import numpy as np
    from matplotlib.figure import Figure

    fig = Figure(figsize=(3, 2), layout="constrained")
    ax = fig.add_subplot()
    ax.plot([0, 1], [0, 1], label="Tg 0123456789 dB LUFS ms")
    im = ax.imshow(np.zeros((4, 4)), aspect="auto")
    ax.axhspan(0.2, 0.4, alpha=0.2)
    ax.set(title="warm-up", xlabel="time (s)", ylabel="level (dB)")
    ax.legend()
    fig.colorbar(im, ax=ax)
    fig.savefig(io.BytesIO(), format="png", dpi=80)


def _serve(sock_path: str, preload: list[str]) -> int:
    for mod in preload:
        with contextlib.suppress(Exception):
            importlib.import_module(mod)
    with contextlib.suppress(Exception):
        _warm_up()
    import gc

    gc.collect()
    gc.freeze()  # what is loaded now stays out of the children's collections (fewer copied pages per fork)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(sock_path)
    listener.listen(64)
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_r, False)
    os.set_blocking(wake_w, False)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    signal.set_wakeup_fd(wake_w)
    sel = selectors.DefaultSelector()
    sel.register(listener, selectors.EVENT_READ, "accept")
    sel.register(sys.stdin.buffer, selectors.EVENT_READ, "lifeline")
    sel.register(wake_r, selectors.EVENT_READ, "child")
    running: dict[int, tuple[socket.socket, bool]] = {}
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 2)
    os.close(null)
    me = os.getpid()

    def reap():
        while running:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            conn, _ = running.pop(pid, (None, False))
            if conn is not None:
                with contextlib.suppress(OSError):
                    conn.sendall((json.dumps({"returncode": os.waitstatus_to_exitcode(status)}) + "\n").encode())
                conn.close()

    while True:
        for key, _ in sel.select():
            if key.data == "lifeline":
                if not sys.stdin.buffer.read1(4096):
                    for pid, (_, new_session) in running.items():
                        with contextlib.suppress(OSError):
                            (os.killpg if new_session else os.kill)(pid, signal.SIGKILL)
                    return 0
            elif key.data == "child":
                with contextlib.suppress(OSError):
                    while os.read(wake_r, 4096):
                        pass
                reap()
            else:
                conn, _ = listener.accept()
                try:
                    conn.settimeout(10)
                    msg, fds, _, _ = socket.recv_fds(conn, 1 << 20, 1)
                    while not msg.endswith(b"\n"):
                        more = conn.recv(1 << 20)
                        if not more:
                            raise ValueError("request cut short")
                        msg += more
                    req = json.loads(msg)
                    target = TASKS[req["task"]]
                except Exception:  # noqa: BLE001 - a bad request closes its connection, the zygote goes on
                    conn.close()
                    continue
                pid = os.fork()
                if pid == 0:
                    _child(req, target, fds, [listener, conn, *(c for c, _ in running.values())], [wake_r, wake_w], sel, me)
                for fd in fds:
                    os.close(fd)
                conn.settimeout(None)
                running[pid] = (conn, bool(req.get("new_session")))
                with contextlib.suppress(OSError):
                    conn.sendall((json.dumps({"pid": pid}) + "\n").encode())
                reap()  # a task can end before it is registered


def _child(req: dict, target: str, fds: list[int], sockets: list, pipes: list[int], sel, zygote_pid: int) -> None:
    """In the forked child: cut every link to the zygote, then run the task and exit."""
    code = 70
    try:
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        with contextlib.suppress(Exception):
            sel.close()
        for s in sockets:
            with contextlib.suppress(OSError):
                s.close()
        for fd in pipes:
            with contextlib.suppress(OSError):
                os.close(fd)
        if req.get("new_session"):
            os.setsid()
        _die_with_parent(zygote_pid)
        null = os.open(os.devnull, os.O_RDWR)
        out = fds[0] if fds else null
        os.dup2(null, 0)
        os.dup2(out, 1)
        os.dup2(out, 2)
        for fd in {null, *fds}:
            os.close(fd)
        sys.argv = [f"layerlab-{req['task']}"]
        sys.stdin = open(0, "r", closefd=False)  # noqa: SIM115 - the old stdin object wraps the lifeline pipe
        module, func = target.split(":")
        code = int(getattr(importlib.import_module(module), func)(req.get("args") or {}) or 0)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:  # noqa: BLE001
        with contextlib.suppress(Exception):
            traceback.print_exc()
    finally:
        flush_and_exit(code)


def _die_with_parent(zygote_pid: int) -> None:
    """Linux: a task is killed when the zygote dies (a killed batch leaves no orphans)."""
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL), 0, 0, 0)  # PR_SET_PDEATHSIG
        if os.getppid() != zygote_pid:  # the zygote died before the call: nobody waits for this task
            os._exit(70)


if __name__ == "__main__":
    sys.exit(_serve(sys.argv[1], sys.argv[2:]))
