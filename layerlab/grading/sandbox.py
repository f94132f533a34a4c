"""The learner's code in an operating-system sandbox: bubblewrap (``bwrap``), as Flatpak uses it.

A Python audit hook is not a sandbox (Python says so), so ``layerlab grade`` runs
each learner's notebook code in a fresh interpreter inside ``bwrap``:

* new PID, IPC, UTS and network namespaces (loopback only), a new session,
  ``--die-with-parent``: when the learner's main process ends, bwrap's init ends
  and the kernel kills every process left in the PID namespace (a ``setsid``
  daemon included); on a timeout or a disk overrun the grader kills that init;
* a file system built from nothing: read-only binds of the interpreter, the
  virtual environment, the kit's package and the released scene files; a private
  writable home holding a copy of this learner's submission only; private,
  size-capped ``/tmp`` and ``/dev/shm``; a ``/proc`` showing only the sandbox's
  processes. The course folder, the exchange, classmates' work, the gradebook,
  reports, rubric, hidden tests, the kit's source tree and the grader's
  processes are not in it;
* an environment built from an allow-list (bwrap itself starts with it too, so
  ``/proc/1/environ`` holds nothing of the grader's);
* limits: wall time (the grader's clock), CPU time, address space, processes,
  file size (``setrlimit``), and total disk (private tmpfs sizes, and the grader
  polls the home folder's size and kills the sandbox above the cap).

Run as root (CI), bwrap runs privileged with no user namespace and keeps only
CAP_SETUID/CAP_SETGID, which the worker uses to become a host uid of its own
(``SANDBOX_UID_BASE + slot``) before any learner code runs: the process limit
then counts only this sandbox's processes, and the learner holds no capability.
Run as a normal user, bwrap makes an unprivileged user namespace
(``--unshare-user``), whose process count is per namespace.

Measuring happens after the sandbox is gone, on a snapshot the grader copies out
(:func:`layerlab.grading.submission.copy_submission`: regular files only, size
capped), in a process forked from the zygote, which never runs learner code.

Where bwrap cannot run, :func:`require_sandbox` raises :class:`SandboxError` with
one line saying how to enable it. Documented for instructors in
``autograder/README.md`` (trust model); the lab's view is in
``labs/lab2_hybrid_mix/lab2_hybrid_mix.ipynb``.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from layerlab.errors import SandboxError
from layerlab.grading.runner import BoundedReader, DEFAULT_MEMORY_MB, DEFAULT_TIMEOUT_S, sandbox_env
from layerlab.grading.submission import MAX_FILE_MB
from layerlab.paths import PACKAGE_DIR, scenes_dir

HOME = "/home/learner"
"""The learner's private, writable folder inside the sandbox (a copy of the submission)."""
EXPORTS_NAME = ".layerlab-exports.json"
SANDBOX_UID_BASE = 1_900_000
"""Run as root, each running sandbox gets the host uid ``SANDBOX_UID_BASE + slot``."""
STARTUP_S = 60.0
"""Seconds the sandbox may take to start (interpreter, imports) before the learner's clock starts anyway."""
HOW_TO_ENABLE = ("install bubblewrap (scripts/system-deps.sh, Debian package 'bubblewrap') and allow user namespaces "
                 "(sysctl user.max_user_namespaces=10000; on Ubuntu 24.04 also "
                 "kernel.apparmor_restrict_unprivileged_userns=0), or pass --no-sandbox to grade trusted work without it")


@dataclass(frozen=True)
class SandboxLimits:
    """What one learner's run may use.

    Attributes
    ----------
    timeout_s : float
        Wall-clock seconds (the grader's clock); then the sandbox is killed.
    memory_mb : float
        Address space of each process (RLIMIT_AS), megabytes.
    cpu_s : float or None
        CPU seconds of each process (RLIMIT_CPU); default ``timeout_s`` + 10.
    max_processes : int
        Processes and threads of the sandbox's uid (RLIMIT_NPROC): a fork bomb stops there.
    max_file_mb : float
        Largest file it may write (RLIMIT_FSIZE).
    max_disk_mb : float
        Total bytes in the home folder; above it the sandbox is killed.
    tmp_mb : float
        Size of the private ``/tmp`` and of ``/dev/shm`` (each a tmpfs).
    """

    timeout_s: float = DEFAULT_TIMEOUT_S
    memory_mb: float = DEFAULT_MEMORY_MB
    cpu_s: float | None = None
    max_processes: int = 128
    max_file_mb: float = MAX_FILE_MB
    max_disk_mb: float = 1000.0
    tmp_mb: float = 256.0


@dataclass
class SandboxRun:
    """How one sandboxed run ended (for the grader's log and the benchmark)."""

    returncode: int
    timed_out: bool
    disk_exceeded: bool
    log: str
    exports_file: Path
    elapsed_s: float
    startup_s: float = 0.0
    """Seconds from starting bwrap to the worker being ready for the first cell (the sandbox's own cost)."""


# ------------------------------------------------------------------------------ availability


_probe_lock = threading.Lock()
_probe_result: list = []


def bwrap_executable() -> str | None:
    """The ``bwrap`` program: ``$LAYERLAB_BWRAP`` if set, else ``bwrap`` on PATH or /usr/bin/bwrap; None if absent."""
    chosen = os.environ.get("LAYERLAB_BWRAP")
    if chosen:
        return chosen if os.access(chosen, os.X_OK) else None
    return shutil.which("bwrap") or ("/usr/bin/bwrap" if os.access("/usr/bin/bwrap", os.X_OK) else None)


def _privileged() -> bool:
    return os.geteuid() == 0


def _namespace_flags() -> list[str]:
    flags = ["--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-net", "--unshare-cgroup-try",
             "--new-session", "--die-with-parent", "--hostname", "sandbox"]
    if not _privileged():
        flags.insert(0, "--unshare-user")
    return flags


def unavailable_reason() -> str | None:
    """None when bwrap can build the grader's sandbox here, else why not (one line).

    The answer is found once per process by starting ``/bin/true`` in a sandbox
    with the same namespaces as a learner's run.
    """
    with _probe_lock:
        if not _probe_result:
            _probe_result.append(_probe())
        return _probe_result[0]


def _probe() -> str | None:
    if not sys.platform.startswith("linux"):
        return f"bubblewrap needs Linux namespaces, and this is {sys.platform}"
    exe = bwrap_executable()
    if exe is None:
        return "bwrap (bubblewrap) is not installed"
    cmd = [exe, *_namespace_flags(), "--ro-bind", "/", "/", "--proc", "/proc", "--dev", "/dev", "true"]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=30, env={"PATH": "/usr/bin:/bin"})
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"bwrap could not start ({exc})"
    if done.returncode != 0:
        why = (done.stderr.strip().splitlines() or [f"status {done.returncode}"])[-1]
        return f"bwrap cannot create namespaces here ({why})"
    return None


def require_sandbox() -> None:
    """Raise :class:`SandboxError` (one line: why, and how to enable it) when bwrap cannot run here."""
    why = unavailable_reason()
    if why is not None:
        raise SandboxError(f"cannot run learner code in the OS sandbox: {why}; {HOW_TO_ENABLE}.")


# ------------------------------------------------------------------------------ the command line


_uid_lock = threading.Lock()
_uids_in_use: set[int] = set()


def _acquire_uid() -> int:
    with _uid_lock:
        k = 0
        while SANDBOX_UID_BASE + k in _uids_in_use:
            k += 1
        _uids_in_use.add(SANDBOX_UID_BASE + k)
        return SANDBOX_UID_BASE + k


def _release_uid(uid: int) -> None:
    with _uid_lock:
        _uids_in_use.discard(uid)


def read_only_paths() -> list[str]:
    """Host folders bound read-only, at the same path: the interpreter, the environment, the kit's package, the scenes."""
    wanted = [sys.prefix, sys.base_prefix, sys.exec_prefix, os.path.realpath(sys.prefix), os.path.realpath(sys.base_prefix),
              os.path.dirname(os.path.realpath(sys.executable)), str(PACKAGE_DIR), str(scenes_dir())]
    out: list[str] = []
    for p in wanted:
        p = os.path.abspath(p)
        if os.path.isdir(p) and p not in out and not any(p == o or p.startswith(o.rstrip("/") + "/") for o in out):
            out = [o for o in out if not o.startswith(p.rstrip("/") + "/")] + [p]
    return sorted(out)


_SYSTEM = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
_ETC = ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/localtime", "/etc/passwd", "/etc/group",
        "/etc/nsswitch.conf", "/etc/alternatives", "/etc/fonts")


def sandbox_argv(workdir, *, limits: SandboxLimits, info_fd: int | None = None) -> list[str]:
    """The ``bwrap`` command line that runs the sandbox worker with ``workdir`` as its home.

    Parameters
    ----------
    workdir : str or Path
        The host folder holding this learner's private copy (bound at ``/home/learner``).
    limits : SandboxLimits
        Sizes of the private tmpfs folders.
    info_fd : int, optional
        A file descriptor bwrap writes ``{"child-pid": N}`` to (the sandbox's init).
    """
    exe = bwrap_executable()
    if exe is None:
        raise SandboxError(f"cannot run learner code in the OS sandbox: bwrap is not installed; {HOW_TO_ENABLE}.")
    argv = [exe, *_namespace_flags()]
    if _privileged():
        argv += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]  # dropped for good by the worker's setuid
    if info_fd is not None:
        argv += ["--info-fd", str(info_fd)]
    # the private /proc, /dev and /tmp first: binds that follow may then land inside them (a kit or a
    # virtual environment that lives under the host's /tmp, as in a CI clone, stays visible)
    tmp = str(int(limits.tmp_mb * 1024 * 1024))
    argv += ["--proc", "/proc", "--dev", "/dev",
             "--perms", "1777", "--size", tmp, "--tmpfs", "/dev/shm",
             "--perms", "1777", "--size", tmp, "--tmpfs", "/tmp"]
    made: set[str] = {"/", "/proc", "/dev", "/dev/shm", "/tmp"}

    def parents(dest: str) -> list[str]:
        out = []
        parts = Path(dest).parts[1:-1]
        cur = ""
        for part in parts:
            cur += "/" + part
            if cur not in made:
                made.add(cur)
                out += ["--perms", "0755", "--dir", cur]
        return out

    for p in _SYSTEM:
        if os.path.islink(p):
            argv += ["--symlink", os.readlink(p), p]
        elif os.path.isdir(p):
            argv += ["--ro-bind", p, p]
    for p in _ETC:
        if os.path.exists(p):
            argv += parents(p) + ["--ro-bind", p, p]
    for p in read_only_paths():
        argv += parents(p) + ["--ro-bind", p, p]
    argv += parents(HOME) + ["--bind", str(workdir), HOME, "--chdir", HOME, "--clearenv"]
    for k, v in sandbox_env(HOME).items():
        argv += ["--setenv", k, v]
    argv += ["--", sys.executable, "-I", "-m", "layerlab.grading.sandbox"]
    return argv


# ------------------------------------------------------------------------------ running


def _tree_bytes(root: str) -> int:
    total = 0
    stack = [root]
    while stack:
        d = stack.pop()
        with contextlib.suppress(OSError), os.scandir(d) as it:
            for e in it:
                with contextlib.suppress(OSError):
                    if e.is_dir(follow_symlinks=False):
                        stack.append(e.path)
                    else:
                        total += e.stat(follow_symlinks=False).st_blocks * 512
    return total


def _chown_tree(root: Path, uid: int) -> None:
    """Give the sandbox's uid the work folder (``chown -R``: no recursion limit, symlinks not followed)."""
    os.chown(root, uid, uid)
    subprocess.run(["chown", "-R", "-P", f"{uid}:{uid}", "--", str(root)], check=False, capture_output=True)


def _read_child_pid(fd: int, timeout_s: float) -> int | None:
    """bwrap's ``--info-fd`` JSON: the pid (in the grader's namespace) of the sandbox's init."""
    buf = b""
    deadline = time.monotonic() + timeout_s
    with contextlib.suppress(OSError):
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                break
            chunk = os.read(fd, 4096)
            if not chunk:
                break
            buf += chunk
            with contextlib.suppress(ValueError):
                return int(json.loads(buf)["child-pid"])
    return None


def run_sandboxed(notebook_name: str, workdir, *, exports=(), limits: SandboxLimits | None = None) -> SandboxRun:
    """Run a notebook's solution cells in a bwrap sandbox whose home is ``workdir``.

    Parameters
    ----------
    notebook_name : str
        The notebook's path relative to ``workdir``.
    workdir : str or Path
        A host folder private to this run, holding the copy of the submission. Run as
        root, it is handed to the sandbox's uid; the grader reads it only after the
        sandbox is gone.
    exports : sequence of str
        Variable names to collect (JSON data) into ``workdir/.layerlab-exports.json``.
    limits : SandboxLimits

    Returns
    -------
    SandboxRun

    Raises
    ------
    SandboxError
        bwrap is missing or could not build the sandbox (the grader's failure, not the learner's).
    """
    limits = limits or SandboxLimits()
    workdir = Path(workdir)
    uid = _acquire_uid() if _privileged() else None
    t0 = time.monotonic()
    try:
        if uid is not None:
            _chown_tree(workdir, uid)
        os.chmod(workdir, 0o700)
        job = {"notebook": f"{HOME}/{notebook_name}", "out": f"{HOME}/{EXPORTS_NAME}", "exports": list(exports),
               "workdir": HOME, "protect": [], "guard": False, "memory_mb": float(limits.memory_mb),
               "cpu_s": float(limits.cpu_s if limits.cpu_s is not None else limits.timeout_s + 10),
               "max_processes": int(limits.max_processes), "max_file_mb": float(limits.max_file_mb),
               "run_as_uid": uid, "env": sandbox_env(HOME)}
        info_r, info_w = os.pipe()
        out_r, out_w = os.pipe()
        ready_r, ready_w = os.pipe()
        job["ready_fd"] = ready_w
        try:
            argv = sandbox_argv(workdir, limits=limits, info_fd=info_w)
            proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=out_w, stderr=out_w, pass_fds=(info_w, ready_w),
                                    start_new_session=True, env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"},
                                    close_fds=True)
        except OSError as exc:
            for fd in (info_r, info_w, out_r, out_w, ready_r, ready_w):
                os.close(fd)
            raise SandboxError(f"cannot start bwrap ({exc}); {HOW_TO_ENABLE}.") from None
        os.close(info_w)
        os.close(out_w)
        os.close(ready_w)
        reader = BoundedReader(os.fdopen(out_r, "rb", buffering=0))
        with contextlib.suppress(OSError):
            proc.stdin.write((json.dumps(job) + "\n").encode())
            proc.stdin.close()
        child_pid = _read_child_pid(info_r, 30.0)
        os.close(info_r)

        def kill():
            if child_pid is not None:  # the sandbox's init: the kernel then kills its whole PID namespace
                with contextlib.suppress(OSError):
                    os.kill(child_pid, signal.SIGKILL)
            with contextlib.suppress(OSError):
                os.killpg(proc.pid, signal.SIGKILL)

        disk = {"over": False}
        done = threading.Event()
        cap = limits.max_disk_mb * 1024 * 1024

        def watch_disk():
            while not done.wait(0.2):
                if _tree_bytes(str(workdir)) > cap:
                    disk["over"] = True
                    kill()
                    return

        watcher = threading.Thread(target=watch_disk, daemon=True)
        watcher.start()
        # the learner's clock starts when the worker is ready to run the first cell (interpreter and imports
        # are the grader's cost), or after STARTUP_S at the latest
        with contextlib.suppress(OSError):
            select.select([ready_r], [], [], STARTUP_S)
        os.close(ready_r)
        started = time.monotonic()
        try:
            returncode = proc.wait(timeout=limits.timeout_s)
            timed_out = False
        except subprocess.TimeoutExpired:
            kill()
            returncode = proc.wait()
            timed_out = True
        finally:
            done.set()
        watcher.join()
        _wait_gone(child_pid)
        text = reader.text()
        if child_pid is None and returncode != 0 and not timed_out and not disk["over"]:
            raise SandboxError(f"bwrap could not build the sandbox (status {returncode}: "
                               f"{text.strip().splitlines()[-1][:200] if text.strip() else 'no message'}); {HOW_TO_ENABLE}.")
        if disk["over"]:
            text += (f"\n[grader] the notebook code wrote more than {limits.max_disk_mb:.0f} MB and was stopped; "
                     "the cells after that point did not run.")
        if uid is not None:
            _chown_tree(workdir, os.getuid())
        return SandboxRun(returncode, timed_out, disk["over"], text, workdir / EXPORTS_NAME, time.monotonic() - t0,
                          started - t0)
    finally:
        if uid is not None:
            _release_uid(uid)


def _wait_gone(pid: int | None, timeout_s: float = 10.0) -> None:
    """Wait until the sandbox's init has exited (its PID namespace is then empty)."""
    if pid is None:
        return
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
                if fh.read().rsplit(")", 1)[-1].split()[0] in ("Z", "X"):
                    return
        except OSError:
            return
        time.sleep(0.02)


def exit_status(returncode: int) -> int:
    """bwrap's exit status as :mod:`subprocess` reports a process's: negative for a signal (bwrap reports 128 + N)."""
    if 128 < returncode < 128 + 65:
        return -(returncode - 128)
    return returncode


# ------------------------------------------------------------------------------ inside the sandbox


def _worker() -> int:
    """Inside the sandbox: read the job from stdin, then run it as :func:`layerlab.grading.runner.exec_task` does."""
    line = sys.stdin.buffer.readline()
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    try:
        job = json.loads(line)
    except ValueError:
        print("[grader] the sandbox received no job", flush=True)
        return 70
    from layerlab.grading.runner import exec_task

    return exec_task(job)


if __name__ == "__main__":
    sys.exit(_worker())
