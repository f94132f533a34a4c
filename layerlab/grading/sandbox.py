"""The learner's code in an operating-system sandbox: bubblewrap (``bwrap``), as Flatpak uses it.

A Python audit hook is not a sandbox (Python says so), so ``layerlab grade`` runs
each learner's notebook code in a fresh interpreter inside ``bwrap``:

* new PID, IPC, UTS and network namespaces (loopback only), a new session, and none of the
  learner's own: a seccomp filter (:func:`seccomp_program`, built by libseccomp through PyPI's
  ``pyseccomp`` and exported as BPF) refuses new user namespaces, in which
  a learner would be root and could mount a tmpfs of any size;
  ``--die-with-parent``: when the learner's main process ends (or its time runs
  out), the supervisor (below) kills every other process of the sandbox, a
  ``setsid`` daemon included, then exits; bwrap's init ends and the kernel kills
  whatever is left in the PID namespace; if the supervisor does not finish within
  :data:`COLLECT_S`, the grader kills that init;
* a file system built from nothing: read-only binds of the interpreter, the
  virtual environment, the kit's package and the released scene files; a private
  writable home, a size-capped tmpfs that starts as a copy of this learner's
  submission only; private, size-capped ``/tmp`` and ``/dev/shm``; a ``/proc`` showing only the sandbox's
  processes. The course folder, the exchange, classmates' work, the gradebook,
  reports, rubric, hidden tests, the kit's source tree and the grader's
  processes are not in it;
* an environment built from an allow-list (bwrap itself starts with it too, so
  ``/proc/1/environ`` holds nothing of the grader's);
* limits: wall time (the grader's clock), CPU time, address space, processes,
  file size (``setrlimit``), and total disk: the home, ``/tmp`` and ``/dev/shm`` are
  tmpfs of fixed size, so the kernel refuses writes past the cap (files removed
  while still open, sparse files and hard links count as the memory they use);
  run as root, also the number of files in each (``nr_inodes``, :func:`_cap_files`);
* the way out: the sandbox's first process is a supervisor that never runs learner
  code. It forks the worker that runs the cells; when the worker ends, or the
  grader's clock runs out (the grader writes ``stop``), it SIGKILLs every other
  process of the sandbox and only then streams the home's regular files (capped) to
  the grader, which writes them into a folder of its own.

Run as root (CI), bwrap runs privileged with no user namespace and keeps only
CAP_SETUID/CAP_SETGID, which the worker uses to become a host uid of its own
(``SANDBOX_UID_BASE + slot``) before any learner code runs: the process limit
then counts only this sandbox's processes, and the learner holds no capability
(the supervisor also keeps CAP_SYS_ADMIN, with which it caps the files of each tmpfs
before the worker exists; the worker's setuid drops it).
Run as a normal user, bwrap makes an unprivileged user namespace
(``--unshare-user``), whose process count is per namespace.

Measuring happens after the sandbox is gone, on what the supervisor handed over
(regular files only, size capped; the bytes go ``sendfile`` file to pipe and ``splice``
pipe to file, into new files the grader creates), taken once more by the grader
(:func:`layerlab.grading.submission.copy_submission`, hard links to those new files,
which no learner process ever held), in a process forked from the zygote, which never
runs learner code.

Not enforced run as a normal user: the number of files and folders in a tmpfs (bwrap cannot set
``nr_inodes``, and the supervisor has no capability to remount; each costs kernel memory, not tmpfs size); and the
supervisor shares the learner's uid, so the learner's code can kill it (losing its own
files and answers, nobody else's).

Where bwrap cannot run, or libseccomp cannot be loaded, :func:`require_sandbox` raises
:class:`SandboxError` with one line saying how to enable it; the sandbox never runs without its filter. Documented for instructors in
``autograder/README.md`` (trust model); the lab's view is in
``labs/lab2_hybrid_mix/lab2_hybrid_mix.ipynb``.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import select
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from layerlab.errors import SandboxError
from layerlab.grading.runner import BoundedReader, DEFAULT_MEMORY_MB, DEFAULT_TIMEOUT_S, flush_and_exit, sandbox_env
from layerlab.grading.submission import MAX_FILE_MB, MAX_SUBMISSION_ENTRIES
from layerlab.paths import PACKAGE_DIR, scenes_dir

HOME = "/home/learner"
"""The learner's private, writable folder inside the sandbox: a tmpfs of ``max_disk_mb``, holding a copy of the submission."""
SUBMISSION = "/home/.submission"
"""Where the grader's copy of the submission is bound read-only; the worker copies it into :data:`HOME` first."""
COLLECT_S = 60.0
"""Seconds the sandbox's supervisor may take, once the learner's code is stopped, to hand its files to the grader."""
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
        Size of the home tmpfs, megabytes: writes past it fail (ENOSPC).
    tmp_mb : float
        Size of the private ``/tmp`` and of ``/dev/shm`` (each a tmpfs).
    max_files : int
        Files and folders each of those tmpfs may hold (``nr_inodes``), run as root: each costs about 1 KB of
        kernel memory that the size does not count.
    max_open_files : int
        Descriptors each process may hold (RLIMIT_NOFILE). Each open file is an entry of the machine's one table
        (``fs.file-max``) and kernel memory charged to no process; the grader's own limit, which the sandbox
        inherited, let one process hold 20000 (128 of them: more than this machine's 2.47 million).
    """

    timeout_s: float = DEFAULT_TIMEOUT_S
    memory_mb: float = DEFAULT_MEMORY_MB
    cpu_s: float | None = None
    max_processes: int = 128
    max_file_mb: float = MAX_FILE_MB
    max_disk_mb: float = 1000.0
    tmp_mb: float = 256.0
    max_files: int = 100_000
    max_open_files: int = 1024

    @property
    def cpu_limit_s(self) -> float:
        """The CPU seconds each process gets: :attr:`cpu_s`, else ``timeout_s`` + 10."""
        return float(self.cpu_s if self.cpu_s is not None else self.timeout_s + 10)


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
    note: str = ""
    """The grader's own note on how the run was stopped ("" if it was not): never part of ``log``, which is the learner's."""
    ready: bool = True
    """The worker reached the notebook's first cell. False: the sandbox ended before any learner code ran (a stray
    ``PYTHONPATH``, a broken environment): the grader's own failure, never the learner's."""


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
    """Raise :class:`SandboxError` (one line: why, and how to enable it) when bwrap cannot run here.

    The same where libseccomp, which builds the filter refusing user namespaces (:func:`seccomp_program`),
    cannot be loaded: the sandbox never runs without that filter.
    """
    why = unavailable_reason()
    if why is not None:
        raise SandboxError(f"cannot run learner code in the OS sandbox: {why}; {HOW_TO_ENABLE}.")
    seccomp_program()


# ------------------------------------------------------------------------------ the command line


_uid_lock = threading.Lock()
_uids_in_use: dict[int, int] = {}  # uid -> the descriptor of its slot's lock file


def _uid_lock_dir() -> str:
    """The folder of the slots' lock files: root's ``/run`` (else the temporary folder), private to this user."""
    base = "/run" if os.geteuid() == 0 and os.path.isdir("/run") else tempfile.gettempdir()
    path = os.path.join(base, f"layerlab-sandbox-uids-{os.geteuid()}")
    with contextlib.suppress(FileExistsError):
        os.mkdir(path, 0o700)
    st = os.lstat(path)
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid() or st.st_mode & 0o077:
        raise SandboxError(f"{path} is not a folder private to the grader's user; remove it and grade again.")
    return path


def _acquire_uid() -> int:
    """A sandbox uid (``SANDBOX_UID_BASE + slot``) no other running sandbox on this machine holds.

    Each slot is held through an exclusive ``flock`` on a lock file of its own, so grader processes
    (two ``layerlab grade`` runs, several Dask workers on one host) never share a uid, and with it
    the process cap; a grader that dies frees its slots with its descriptors.
    """
    with _uid_lock:
        folder = _uid_lock_dir()
        k = 0
        while True:
            uid = SANDBOX_UID_BASE + k
            k += 1
            if uid in _uids_in_use:
                continue
            fd = os.open(os.path.join(folder, f"{uid}.lock"), os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            _uids_in_use[uid] = fd
            return uid


def _release_uid(uid: int) -> None:
    with _uid_lock:
        fd = _uids_in_use.pop(uid, None)
    if fd is not None:
        os.close(fd)  # the lock goes with the descriptor


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


# ------------------------------------------------------------------------------ no namespaces of the learner's own

CLONE_NEWUSER = 0x10000000
KEYCTL_JOIN_SESSION_KEYRING = 1
HOW_TO_GET_LIBSECCOMP = ("install libseccomp (scripts/system-deps.sh, Debian package 'libseccomp2') and the Python "
                         "package pyseccomp (pip install -e .), or pass --no-sandbox to grade trusted work without it")


def _clone_flags_arg(machine: str) -> int:
    """Which argument of ``clone`` holds its flags: the second on s390 (the kernel's CLONE_BACKWARDS2), else the first."""
    return 1 if machine.startswith("s390") else 0


def _libseccomp():
    """The ``pyseccomp`` module (ctypes over the system's libseccomp.so.2); :class:`SandboxError` when it cannot load."""
    try:
        import pyseccomp
    except (ImportError, OSError, RuntimeError) as exc:
        raise SandboxError(f"cannot run learner code in the OS sandbox: libseccomp could not be loaded "
                           f"({type(exc).__name__}: {exc}); {HOW_TO_GET_LIBSECCOMP}.") from None
    return pyseccomp


def seccomp_program() -> bytes:
    """A seccomp filter refusing new user namespaces, built by libseccomp and exported as classic BPF for ``bwrap --seccomp``.

    In a user namespace of its own a process is root there and may mount a tmpfs of any size (RAM that neither
    the home's cap nor RLIMIT_AS counts) or build a PID namespace; Flatpak refuses them the same way.
    ``unshare`` and ``clone`` with ``CLONE_NEWUSER`` fail with EPERM; ``clone3``, whose flags a filter cannot
    read, fails with ENOSYS (the C library then falls back to ``clone``); a foreign system-call ABI (i386, x32)
    fails with EPERM (libseccomp's bad-architecture action). The kernel's keyrings, which no namespace separates,
    are refused too (``add_key``, ``request_key``, and ``keyctl`` but for joining a new, empty session keyring:
    see :func:`_leave_graders_keyring`), and so is memory that neither RLIMIT_AS nor a tmpfs cap counts
    (``memfd_create``, System V ``shmget``, ``msgget`` and ``semget``). Everything else is allowed. libseccomp
    (through ``pyseccomp``) knows each architecture's system-call numbers; the flags are ``clone``'s first
    argument except on s390.

    Returns
    -------
    bytes
        The program (8 bytes an instruction, this machine's byte order).

    Raises
    ------
    SandboxError
        libseccomp or pyseccomp cannot be loaded here (one line saying how to install them).
    """
    import errno
    import platform

    seccomp = _libseccomp()
    refuse = seccomp.ERRNO(errno.EPERM)
    try:
        rules = seccomp.SyscallFilter(defaction=seccomp.ALLOW)
        rules.set_attr(seccomp.Attr.ACT_BADARCH, refuse)
        rules.add_rule(refuse, "unshare", seccomp.Arg(0, seccomp.MASKED_EQ, CLONE_NEWUSER, CLONE_NEWUSER))
        rules.add_rule(refuse, "clone",
                       seccomp.Arg(_clone_flags_arg(platform.machine()), seccomp.MASKED_EQ, CLONE_NEWUSER, CLONE_NEWUSER))
        rules.add_rule(seccomp.ERRNO(errno.ENOSYS), "clone3")
        # the kernel's keyrings: no namespace of the sandbox separates them. Every process bwrap starts possesses the
        # grader's session keyring (a learner read an instructor's key there and planted one for later sandboxes), and
        # a key in the sandbox uid's user keyring outlives the sandbox (the next learner on that uid read it). Only
        # keyctl(KEYCTL_JOIN_SESSION_KEYRING, NULL) is left: the supervisor trades the grader's for an empty one.
        # memory that no cap counts: a memfd's pages (written, never mapped: not in RLIMIT_AS, in no size-capped
        # tmpfs), System V shared memory (attached, touched, detached: it stays until the IPC namespace ends, with
        # no size limit there), message queues and semaphore sets (32000 semaphores, some 2 MB of kernel memory,
        # each; 32000 sets); a learner held 600 MB in each of the first two and 630 MB in 300 semaphore sets, with
        # 33 MB of its own resident, and the kernel's OOM killer, which counts them against no process, would pick
        # another one
        for name in ("memfd_create", "shmget", "msgget", "semget"):
            rules.add_rule(refuse, name)
        for name in ("add_key", "request_key"):
            rules.add_rule(refuse, name)
        rules.add_rule(refuse, "keyctl", seccomp.Arg(0, seccomp.NE, KEYCTL_JOIN_SESSION_KEYRING))
        rules.add_rule(refuse, "keyctl", seccomp.Arg(0, seccomp.EQ, KEYCTL_JOIN_SESSION_KEYRING), seccomp.Arg(1, seccomp.NE, 0))
        with tempfile.TemporaryFile() as fh:
            rules.export_bpf(fh)
            fh.seek(0)
            return fh.read()
    except OSError as exc:
        raise SandboxError(f"cannot run learner code in the OS sandbox: libseccomp could not build the filter that "
                           f"refuses user namespaces ({exc}); {HOW_TO_GET_LIBSECCOMP}.") from None


def keyctl_number() -> int | None:
    """``keyctl``'s system-call number on this machine (libseccomp knows it), for the supervisor; None if unknown."""
    try:
        seccomp = _libseccomp()
        nr = seccomp.resolve_syscall(seccomp.system_arch(), "keyctl")
    except (SandboxError, OSError, RuntimeError, ValueError):
        return None
    return nr if isinstance(nr, int) and nr >= 0 else None


def _leave_graders_keyring(keyctl_nr) -> None:
    """In the supervisor, before the worker exists: trade the grader's session keyring for a new, empty one.

    bwrap passes its caller's session keyring on, and every process of the sandbox would possess it: /proc/keys
    named the grader's keys there, and (without the seccomp filter) a learner read an instructor's key and
    planted one for later sandboxes. ``keyctl(KEYCTL_JOIN_SESSION_KEYRING, NULL)`` is the one keyring call the
    filter leaves. Raises OSError when the kernel refuses (a kernel without keyrings, ENOSYS, has nothing to leave).
    """
    if keyctl_nr is None:
        return
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.syscall(ctypes.c_long(int(keyctl_nr)), ctypes.c_long(KEYCTL_JOIN_SESSION_KEYRING), None) < 0:
        err = ctypes.get_errno()
        if err != errno.ENOSYS:
            raise OSError(err, f"cannot leave the grader's session keyring: {os.strerror(err)}")


# ------------------------------------------------------------------------------ a warm numba cache


NUMBA_CACHE = "/home/.numba-cache"
"""Where a warm numba cache, compiled by the grader, is bound read-only; the worker copies it to ``$NUMBA_CACHE_DIR``."""
_NUMBA_USERS = (b"layerlab.audit", b"librosa", b"detect_audio_onsets", b"audit_render", b"audit_")
_WARM_CODE = """
import numpy as np
from layerlab.audit.sound import detect_audio_onsets
x = np.zeros((48000 * 3, 2), np.float32)
rng = np.random.default_rng(0)
for t in (0.5, 1.2, 2.1):
    k = int(t * 48000)
    x[k:k + 2400] += (rng.standard_normal((2400, 2)) * np.linspace(0.5, 0, 2400)[:, None]).astype(np.float32)
detect_audio_onsets(x)
"""
_numba_lock = threading.Lock()
_numba_dir: list = []


def needs_numba(notebook) -> bool:
    """Whether a notebook's text names the kit's audit or librosa (whose onset detection numba compiles)."""
    try:
        with open(notebook, "rb") as fh:
            text = fh.read(50_000_000)
    except OSError:
        return False
    return any(word in text for word in _NUMBA_USERS)


def warm_numba_cache() -> str | None:
    """A numba cache of librosa's onset detection (lab 1's audit), compiled once per grader process.

    Compiling it takes some 40 CPU seconds, which every fresh sandbox paid again. The
    grader compiles it once, in a process of its own that runs only the kit's code, into
    a new private folder; each sandbox gets it read-only (:data:`NUMBA_CACHE`) and its
    worker copies it into the sandbox's private ``/tmp`` before the learner's code runs,
    so a learner can change only their own copy. numba finds the entries because the
    virtual environment is bound at the same path (its index checks each source file's
    time stamp and size). Returns the folder, or None when the warm-up failed (each
    sandbox then compiles as before).
    """
    with _numba_lock:
        if not _numba_dir:
            _numba_dir.append(_warm_numba())
        return _numba_dir[0]


def _warm_numba() -> str | None:
    import atexit

    folder = tempfile.mkdtemp(prefix="layerlab-numba-warm-")
    atexit.register(shutil.rmtree, folder, True)  # the grader's run owns it; nothing else trusts it afterwards
    env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": folder, "NUMBA_CACHE_DIR": folder, "MPLBACKEND": "Agg",
           "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONDONTWRITEBYTECODE": "1"}
    if os.environ.get("LAYERLAB_ASSETS"):
        env["LAYERLAB_ASSETS"] = os.environ["LAYERLAB_ASSETS"]
    try:
        done = subprocess.run([sys.executable, "-I", "-c", _WARM_CODE], env=env, capture_output=True, timeout=900)
    except (OSError, subprocess.TimeoutExpired):
        done = None
    if done is None or done.returncode != 0:
        shutil.rmtree(folder, ignore_errors=True)
        return None
    for dirpath, dirnames, filenames in os.walk(folder):  # readable by the sandbox's uid (run as root), never writable
        os.chmod(dirpath, 0o755)
        for f in filenames:
            os.chmod(os.path.join(dirpath, f), 0o644)
    return folder


def sandbox_argv(workdir, *, limits: SandboxLimits, info_fd: int | None = None, numba_cache=None,
                 seccomp_fd: int | None = None) -> list[str]:
    """The ``bwrap`` command line that runs the sandbox worker with ``workdir`` as its home.

    Parameters
    ----------
    workdir : str or Path
        The host folder holding this learner's private copy (bound at ``/home/learner``).
    limits : SandboxLimits
        Sizes of the private tmpfs folders.
    info_fd : int, optional
        A file descriptor bwrap writes ``{"child-pid": N}`` to (the sandbox's init).
    numba_cache : str, optional
        A warm numba cache (:func:`warm_numba_cache`), bound read-only at :data:`NUMBA_CACHE`.
    seccomp_fd : int, optional
        A file descriptor holding :func:`seccomp_program`, which bwrap applies to everything in the sandbox.
    """
    exe = bwrap_executable()
    if exe is None:
        raise SandboxError(f"cannot run learner code in the OS sandbox: bwrap is not installed; {HOW_TO_ENABLE}.")
    argv = [exe, *_namespace_flags()]
    if _privileged():
        # CAP_SETUID/CAP_SETGID: dropped for good by the worker's setuid; CAP_SYS_ADMIN: the supervisor caps the files of
        # each tmpfs (bwrap cannot), then forks the worker, whose setuid drops it too
        argv += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID", "--cap-add", "CAP_SYS_ADMIN"]
    if info_fd is not None:
        argv += ["--info-fd", str(info_fd)]
    if seccomp_fd is not None:
        argv += ["--seccomp", str(seccomp_fd)]
    # the private /proc, /dev and /tmp first: binds that follow may then land inside them (a kit or a
    # virtual environment that lives under the host's /tmp, as in a CI clone, stays visible)
    tmp = str(int(limits.tmp_mb * 1024 * 1024))
    # no pseudo-terminals: bwrap's --dev mounts a devpts of its own, but every devpts draws from the machine's one
    # count (kernel.pty.max less kernel.pty.reserve: 3072 for all containers and sandboxes); an empty, read-only
    # folder over it leaves /dev/ptmx pointing at nothing
    argv += ["--proc", "/proc", "--dev", "/dev", "--perms", "0555", "--size", "4096", "--tmpfs", "/dev/pts",
             "--remount-ro", "/dev/pts",
             "--perms", "1777", "--size", tmp, "--tmpfs", "/dev/shm",
             "--perms", "1777", "--size", tmp, "--tmpfs", "/tmp"]
    made: set[str] = {"/", "/proc", "/dev", "/dev/pts", "/dev/shm", "/tmp"}

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
    # the home folder is a tmpfs of max_disk_mb: the kernel enforces the cap (files removed while open, sparse files,
    # hard links and folders count as they use memory); run as root, the learner's uid is not its owner, hence 0777
    argv += parents(HOME) + ["--perms", "0777" if _privileged() else "0700",
                             "--size", str(int(limits.max_disk_mb * 1024 * 1024)), "--tmpfs", HOME,
                             "--ro-bind", str(workdir), SUBMISSION]
    if numba_cache:
        argv += ["--ro-bind", str(numba_cache), NUMBA_CACHE]
    argv += ["--chdir", HOME, "--clearenv"]
    for k, v in sandbox_env(HOME).items():
        argv += ["--setenv", k, v]
    argv += ["--", sys.executable, "-I", "-m", "layerlab.grading.sandbox"]
    return argv


# ------------------------------------------------------------------------------ running


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


def _read_ready(fd: int, timeout_s: float) -> bool:
    """True when the worker has said it is ready (``b"1"`` on ``fd``) within ``timeout_s``; False on EOF or no word."""
    with contextlib.suppress(OSError, ValueError):
        readable, _, _ = select.select([fd], [], [], timeout_s)
        return bool(readable) and os.read(fd, 1) == b"1"
    return False


def _seccomp_file():
    """An unnamed temporary file holding :func:`seccomp_program`, at its start."""
    program = seccomp_program()
    fh = tempfile.TemporaryFile()
    fh.write(program)
    fh.flush()
    fh.seek(0)
    return fh


def run_sandboxed(notebook_name: str, workdir, *, exports=(), limits: SandboxLimits | None = None,
                  collect=None, numba_cache=None) -> SandboxRun:
    """Run a notebook's solution cells in a bwrap sandbox whose home starts as a copy of ``workdir``.

    Parameters
    ----------
    notebook_name : str
        The notebook's path relative to ``workdir``.
    workdir : str or Path
        A host folder private to this run, holding the copy of the submission. The
        sandbox sees it read-only; its home is a tmpfs of ``limits.max_disk_mb`` that
        starts as a copy of it. When the learner's code has ended or was stopped, and
        every process it started is gone, the sandbox's supervisor hands over the files
        (regular files only, capped as :func:`layerlab.grading.submission.copy_submission`
        caps a submission) and ``workdir`` then holds what the code left, nothing else.
    exports : sequence of str
        Variable names to collect (JSON data) into ``workdir/.layerlab-exports.json``.
    limits : SandboxLimits
    collect : sequence of str, optional
        Paths (relative to the home) to hand back besides the exported answers, e.g.
        ``["deliverable"]``; default: the whole home.
    numba_cache : str, optional
        A warm numba cache to copy into the sandbox (:func:`warm_numba_cache`); default:
        the one this process warmed, if any (see :func:`needs_numba`).

    Returns
    -------
    SandboxRun

    Raises
    ------
    SandboxError
        bwrap is missing or could not build the sandbox (the grader's failure, not the learner's).
    """
    from layerlab.grading.submission import MAX_SUBMISSION_MB, remove_tree

    limits = limits or SandboxLimits()
    workdir = Path(workdir)
    uid = _acquire_uid() if _privileged() else None
    t0 = time.monotonic()
    received = Path(tempfile.mkdtemp(prefix=".layerlab-out-", dir=workdir.parent))
    try:
        if uid is not None:
            _chown_tree(workdir, uid)
        os.chmod(workdir, 0o700)
        if numba_cache is None and _numba_dir:
            numba_cache = _numba_dir[0]
        job = {"notebook": f"{HOME}/{notebook_name}", "out": f"{HOME}/{EXPORTS_NAME}", "exports": list(exports),
               "numba_from": NUMBA_CACHE if numba_cache else None,
               "workdir": HOME, "copy_from": SUBMISSION, "protect": [], "guard": False,
               "memory_mb": float(limits.memory_mb),
               "cpu_s": limits.cpu_limit_s,
               "max_processes": int(limits.max_processes), "max_file_mb": float(limits.max_file_mb),
               "max_files": int(limits.max_files), "max_open_files": int(limits.max_open_files), "keyctl_nr": keyctl_number(),
               "run_as_uid": uid, "env": sandbox_env(HOME),
               "collect": None if collect is None else [EXPORTS_NAME, EXPORTS_NAME + ".partial", *collect],
               "collect_max_mb": float(MAX_SUBMISSION_MB), "collect_max_file_mb": float(limits.max_file_mb)}
        seccomp = _seccomp_file()  # before any descriptor is opened: SandboxError where libseccomp is missing
        info_r, info_w = os.pipe()
        out_r, out_w = os.pipe()
        ready_r, ready_w = os.pipe()
        files_r, files_w = os.pipe()
        with contextlib.suppress(OSError, AttributeError):  # a larger pipe: fewer wake-ups per megabyte handed over
            fcntl.fcntl(files_w, fcntl.F_SETPIPE_SZ, PIPE_BYTES)
        job["ready_fd"] = ready_w
        job["files_fd"] = files_w
        try:
            argv = sandbox_argv(workdir, limits=limits, info_fd=info_w, numba_cache=numba_cache,
                                seccomp_fd=seccomp.fileno())
            proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=out_w, stderr=out_w,
                                    pass_fds=(info_w, ready_w, files_w, seccomp.fileno()),
                                    start_new_session=True, env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}, close_fds=True)
        except OSError as exc:
            for fd in (info_r, info_w, out_r, out_w, ready_r, ready_w, files_r, files_w):
                os.close(fd)
            raise SandboxError(f"cannot start bwrap ({exc}); {HOW_TO_ENABLE}.") from None
        finally:
            seccomp.close()
        for fd in (info_w, out_w, ready_w, files_w):
            os.close(fd)
        reader = BoundedReader(os.fdopen(out_r, "rb", buffering=0))
        receiver = _Receiver(files_r, received, max_total_mb=MAX_SUBMISSION_MB, max_file_mb=limits.max_file_mb)
        with contextlib.suppress(OSError):
            proc.stdin.write((json.dumps(job) + "\n").encode())
            proc.stdin.flush()  # kept open: "stop" on the grader's timeout
        child_pid = _read_child_pid(info_r, 30.0)
        os.close(info_r)

        def kill():
            if child_pid is not None:  # the sandbox's init: the kernel then kills its whole PID namespace
                with contextlib.suppress(OSError):
                    os.kill(child_pid, signal.SIGKILL)
            with contextlib.suppress(OSError):
                os.killpg(proc.pid, signal.SIGKILL)

        # the learner's clock starts when the worker is ready to run the first cell (interpreter and imports
        # are the grader's cost), or after STARTUP_S at the latest
        ready = _read_ready(ready_r, STARTUP_S)
        started = time.monotonic()
        try:
            returncode = proc.wait(timeout=limits.timeout_s)
            timed_out = False
        except subprocess.TimeoutExpired:
            timed_out = True
            with contextlib.suppress(OSError):  # the supervisor stops the learner's code and hands over its files
                proc.stdin.write(b"stop\n")
                proc.stdin.flush()
            try:
                returncode = proc.wait(timeout=COLLECT_S)
            except subprocess.TimeoutExpired:
                kill()
                returncode = proc.wait()
        with contextlib.suppress(OSError):
            proc.stdin.close()
        ready = ready or _read_ready(ready_r, 0.0)  # ready after STARTUP_S: the learner's code did run
        os.close(ready_r)
        _wait_gone(child_pid)
        receiver.join(10.0)
        text = reader.text()
        if child_pid is None and returncode != 0 and not timed_out:
            raise SandboxError(f"bwrap could not build the sandbox (status {returncode}: "
                               f"{text.strip().splitlines()[-1][:200] if text.strip() else 'no message'}); {HOW_TO_ENABLE}.")
        status = receiver.status
        if status.get("returncode") is not None and not timed_out:
            returncode = int(status["returncode"])
        disk_full = bool(status.get("disk_full"))
        note = ""
        if disk_full:
            note = (f"the notebook code filled the {limits.max_disk_mb:.0f} MB its files may take; "
                    "what it wrote after that failed (No space left on device).")
        # workdir now holds what the code left (received from the sandbox), nothing else
        if uid is not None:
            _chown_tree(workdir, os.getuid())
        for entry in list(os.scandir(workdir)):
            remove_tree(entry.path) if entry.is_dir(follow_symlinks=False) else os.unlink(entry.path)
        for entry in list(os.scandir(received)):
            os.rename(entry.path, workdir / entry.name)
        return SandboxRun(returncode, timed_out, disk_full, text, workdir / EXPORTS_NAME, time.monotonic() - t0,
                          started - t0, note, ready)
    finally:
        remove_tree(received)
        if uid is not None:
            _release_uid(uid)


# ------------------------------------------------------------------------------ the files' way out

_NAME_MAX = 4096
_CHUNK = 1 << 20
"""Bytes moved per system call on the files' way out."""
PIPE_BYTES = 1 << 20
"""Capacity asked for the files' pipe (``F_SETPIPE_SZ``; Linux's default is 64 KiB): fewer wake-ups per megabyte."""
LINK_LEFT_BEHIND = "/dev/null/link-left-in-the-sandbox"
"""Target of the link the grader makes where the learner's code left a symbolic link: a path that cannot exist, so
the grader's refusal of links (:func:`layerlab.grading.submission.refuse_links`) can name it, and nothing can follow it."""


class _Receiver:
    """The grader's end of the supervisor's file stream: frames in, regular files and folders out, under caps.

    Frames: ``S`` status JSON, ``D`` folder, ``F`` file (name, 8-byte size, bytes), ``L`` a symbolic
    link left behind (a link to :data:`LINK_LEFT_BEHIND` stands in for it), ``E`` end;
    names are 4-byte length-prefixed, relative, without ``..``. Anything else, or a file
    over the caps, ends the stream (the grader keeps what arrived before). Files are
    created with ``O_EXCL | O_NOFOLLOW`` in a folder only the grader writes.
    """

    def __init__(self, fd: int, dest: Path, *, max_total_mb: float, max_file_mb: float):
        self.status: dict = {}
        self._fd = fd
        self._splice = hasattr(os, "splice")
        self._dest = str(dest)
        self._max_total = int(max_total_mb * 1e6)
        self._max_file = int(max_file_mb * 1e6)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def join(self, timeout_s: float) -> None:
        """Wait for the stream's end. Only the receiving thread closes the pipe (once it has ended): closed from here
        while it reads, the descriptor's number could be reused by another file and read by mistake."""
        self._thread.join(timeout_s)

    def _exact(self, n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = os.read(self._fd, n - len(data))
            if not chunk:
                raise EOFError
            data += chunk
        return data

    def _body(self, out: int, size: int) -> None:
        """``size`` bytes of the stream into the file ``out``: moved pipe-to-file in the kernel (``splice``), else read and written."""
        left = size
        while left:
            n = min(left, _CHUNK)
            moved = None
            if self._splice:
                try:
                    moved = os.splice(self._fd, out, n)
                except OSError as exc:
                    if exc.errno not in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
                        raise
                    self._splice = False  # a file system that cannot take spliced pages: copy as before
            if moved is None:
                chunk = os.read(self._fd, n)
                view = memoryview(chunk)
                while view:
                    view = view[os.write(out, view):]
                moved = len(chunk)
            if not moved:
                raise EOFError
            left -= moved

    def _path(self, raw: bytes) -> str:
        parts = raw.split(b"/")
        if not raw or len(raw) > _NAME_MAX or any(p in (b"", b".", b"..") or b"\0" in p for p in parts):
            raise ValueError(raw[:80])
        return os.path.join(self._dest, os.fsdecode(raw))

    def _run(self) -> None:
        try:
            self._frames()
        finally:  # at the end, or on anything unexpected: the supervisor's next write fails instead of blocking
            with contextlib.suppress(OSError):
                os.close(self._fd)

    def _frames(self) -> None:
        total = entries = 0
        with contextlib.suppress(OSError, EOFError, ValueError):
            while True:
                kind = os.read(self._fd, 1)
                if kind in (b"", b"E"):
                    return
                if kind != b"S":
                    entries += 1
                    if entries > MAX_SUBMISSION_ENTRIES + 64:  # the supervisor stops at the cap (plus a named root's
                        return                                    # parent folders); a forged stream stops here
                n = int.from_bytes(self._exact(4), "big")
                if n > _NAME_MAX:
                    return
                raw = self._exact(n)
                if kind == b"S":
                    status = json.loads(raw)
                    self.status = status if isinstance(status, dict) else {}
                elif kind == b"D":
                    with contextlib.suppress(OSError):
                        os.mkdir(self._path(raw), 0o700)
                elif kind == b"L":
                    with contextlib.suppress(OSError):
                        os.symlink(LINK_LEFT_BEHIND, self._path(raw))
                elif kind == b"F":
                    size = int.from_bytes(self._exact(8), "big")
                    total += size
                    if size > self._max_file or total > self._max_total:
                        return
                    path = self._path(raw)
                    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
                    try:
                        self._body(fd, size)
                    finally:
                        os.close(fd)
                else:
                    return


def _send_files(fd: int, home: str, *, only, max_total_mb: float, max_file_mb: float, status: dict,
                max_entries: int = MAX_SUBMISSION_ENTRIES) -> None:
    """In the supervisor, once no learner process is left: stream the home's regular files and folders to the grader
    (the first ``max_entries`` files, folders and links, walked in name order)."""
    out = os.fdopen(fd, "wb", buffering=1 << 16)
    max_total, max_file = int(max_total_mb * 1e6), int(max_file_mb * 1e6)

    def frame(kind: bytes, name: bytes) -> None:
        out.write(kind + len(name).to_bytes(4, "big") + name)

    try:
        frame(b"S", json.dumps(status).encode())
        total = entries = 0
        roots = [""] if only is None else [r for r in only if r and ".." not in Path(r).parts and not Path(r).is_absolute()]
        stack = [(r, 0) for r in reversed(roots)]
        while stack and entries < max_entries:
            rel, depth = stack.pop()
            entries += bool(rel)
            path = os.path.join(home, rel) if rel else home
            try:
                st = os.lstat(path)
            except OSError:
                continue
            name = os.fsencode(rel)
            if stat.S_ISDIR(st.st_mode):
                if rel:
                    parent = os.path.dirname(rel)
                    for i, part in enumerate(Path(parent).parts if parent else ()):  # a named root's parents
                        frame(b"D", os.fsencode(os.path.join(*Path(parent).parts[:i + 1])))
                    frame(b"D", name)
                if depth < 64:
                    with contextlib.suppress(OSError):
                        stack += [(os.path.join(rel, n) if rel else n, depth + 1) for n in sorted(os.listdir(path), reverse=True)]
            elif stat.S_ISLNK(st.st_mode) and rel:
                frame(b"L", name)  # named, so the grader can say which link it refused; never followed
            elif stat.S_ISREG(st.st_mode) and rel and st.st_size <= max_file and total + st.st_size <= max_total:
                try:
                    src = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
                except OSError:
                    continue
                try:
                    total += st.st_size
                    frame(b"F", name)
                    out.write(st.st_size.to_bytes(8, "big"))
                    out.flush()  # the frame's head, then its bytes straight from the file into the pipe
                    data_left = st.st_size - _send_body(out.fileno(), src, st.st_size)
                    while data_left:  # the file is shorter than it was: the rest is zeros, as announced
                        out.write(b"\0" * min(data_left, _CHUNK))
                        data_left -= min(data_left, _CHUNK)
                finally:
                    os.close(src)
        out.write(b"E")
        out.flush()
    except (OSError, ValueError):
        pass
    finally:
        with contextlib.suppress(OSError):
            out.close()


def _send_body(out: int, src: int, size: int) -> int:
    """Up to ``size`` bytes of the open file ``src`` into ``out`` (``sendfile``: no copy through Python); the bytes sent."""
    sent = 0
    use_sendfile = True
    while sent < size:
        n = min(size - sent, _CHUNK)
        if use_sendfile:
            try:
                k = os.sendfile(out, src, sent, n)
            except OSError as exc:
                if exc.errno not in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
                    raise
                use_sendfile = False  # a file system sendfile cannot read: copy through Python as before
                continue
        else:
            view = memoryview(os.pread(src, n, sent))
            k = len(view)
            while view:
                view = view[os.write(out, view):]
        if not k:
            break
        sent += k
    return sent


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


def copy_into(src: str, dest: str) -> None:
    """Copy the folders and regular files under ``src`` into the existing folder ``dest`` (no recursion, links left out).

    In the sandbox's worker, before any learner code: the submission into the home
    tmpfs, and the grader's warm numba cache into the private ``/tmp``.
    """
    stack = [""]
    while stack:
        rel = stack.pop()
        for entry in os.scandir(os.path.join(src, rel)):
            r = os.path.join(rel, entry.name)
            if entry.is_dir(follow_symlinks=False):
                os.makedirs(os.path.join(dest, r), exist_ok=True)
                stack.append(r)
            elif entry.is_file(follow_symlinks=False):
                shutil.copyfile(entry.path, os.path.join(dest, r))


def _others_left(me: int) -> bool:
    for name in os.listdir("/proc"):
        if name.isdigit() and int(name) not in (1, me):
            try:
                with open(f"/proc/{name}/stat", "rb") as fh:
                    if fh.read().rsplit(b")", 1)[-1].split()[0] not in (b"Z", b"X"):
                        return True
            except OSError:
                continue
    return False


def _stop_everything_else(uid) -> None:
    """In the supervisor: SIGKILL every other process of the sandbox, then (run as root) become the learner's uid.

    The order matters: while any learner process lives, the supervisor keeps root, which no learner process may
    signal. Had it taken the learner's uid first, a process forked during the sweep (such as ``pkill`` started by a
    ``sh -c "kill -9 -1; pkill -9 -f layerlab"``) could kill it before the files were handed over.
    ``kill(-1)`` reaches only this PID namespace, and never its init.
    """
    me = os.getpid()
    for _ in range(2000):  # kill(-1) may miss a process forked meanwhile: again until none is left
        with contextlib.suppress(OSError):
            os.kill(-1, signal.SIGKILL)
        if not _others_left(me):
            break
        time.sleep(0.005)
    if uid is not None and os.getuid() == 0:  # hand the files over without root
        os.setgroups([])
        os.setgid(int(uid))
        os.setuid(int(uid))


def _home_full() -> bool:
    """Whether the home tmpfs has less than 1 MB left (the kernel refuses writes there)."""
    try:
        vfs = os.statvfs(HOME)
    except OSError:
        return False
    return vfs.f_bavail * vfs.f_frsize < 1 << 20


def _wait_child(pid: int, stop_fd: int) -> tuple[int | None, bool, bool]:
    """The learner's worker's wait status (None when the grader said stop, or went away), whether it was
    stopped, and whether its home was ever seen full (checked every 0.2 s: only for the grader's note;
    the cap itself is the kernel's)."""
    pidfd = None
    with contextlib.suppress(AttributeError, OSError):
        pidfd = os.pidfd_open(pid)
    full = False
    try:
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                return status, False, full
            ready, _, _ = select.select([stop_fd] + ([pidfd] if pidfd is not None else []), [], [], 0.2)
            if stop_fd in ready:
                return None, True, full
            full = full or _home_full()
    finally:
        if pidfd is not None:
            os.close(pidfd)


def _cap_files(max_files: int) -> None:
    """In the supervisor, run as root, before the worker exists: at most ``max_files`` files and folders in each tmpfs.

    A remount (``nr_inodes``) keeps each mount's other options (size, mode) and its ``nosuid``/``nodev`` flags.
    Raises OSError when the kernel refuses.
    """
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    ms_remount = 32
    for path in (HOME, "/tmp", "/dev/shm"):
        flags = os.statvfs(path).f_flag & (os.ST_NOSUID | os.ST_NODEV | os.ST_NOEXEC | os.ST_RDONLY)  # = MS_* values
        if libc.mount(None, path.encode(), None, ms_remount | flags, f"nr_inodes={int(max_files)}".encode()) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"cannot cap the files of {path}: {os.strerror(err)}")


def _worker() -> int:
    """Inside the sandbox, the supervisor: read the job, fork the learner's worker, then hand the home's files out.

    The worker (:func:`layerlab.grading.runner.exec_task`) copies the submission into the
    home, becomes the sandbox's uid when run as root, and runs the cells. The supervisor
    never runs learner code: when the worker ends, or the grader says ``stop`` (its
    clock ran out), it stops every other process in the sandbox and only then streams
    the home's regular files to the grader (:func:`_send_files`), with the worker's exit
    status and whether the home tmpfs was full.
    """
    line = sys.stdin.buffer.readline()
    try:
        job = json.loads(line)
    except ValueError:
        print("[grader] the sandbox received no job", flush=True)
        return 70
    stop_fd = os.dup(0)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    files_fd = job.pop("files_fd", None)
    try:
        _leave_graders_keyring(job.get("keyctl_nr"))
    except OSError as exc:  # the grader's own failure: no learner code runs holding the grader's keyring
        print(f"[grader] {exc}", flush=True)
        return 70
    if job.get("max_files") and job.get("run_as_uid") is not None and os.getuid() == 0:
        try:
            _cap_files(int(job["max_files"]))
        except OSError as exc:  # the grader's own failure: no learner code runs without the cap
            print(f"[grader] {exc}", flush=True)
            return 70
    sys.stdout.flush()
    pid = os.fork()
    if pid == 0:  # the learner's worker
        code = 70
        try:
            os.close(stop_fd)
            if files_fd is not None:
                os.close(files_fd)
            from layerlab.grading.runner import exec_task

            code = exec_task(job)
        except BaseException:  # noqa: BLE001 - the worker's own failure, reported like a crash
            import traceback

            traceback.print_exc()
        finally:
            flush_and_exit(code)
    if job.get("ready_fd") is not None:
        with contextlib.suppress(OSError):
            os.close(int(job["ready_fd"]))  # only the worker tells the grader it is ready
    status, stopped, peak_full = _wait_child(pid, stop_fd)
    _stop_everything_else(job.get("run_as_uid"))
    if status is None:
        with contextlib.suppress(ChildProcessError):
            _, status = os.waitpid(pid, 0)
    code = (128 + os.WTERMSIG(status)) if status is not None and os.WIFSIGNALED(status) else \
        (os.WEXITSTATUS(status) if status is not None else 137)
    disk_full = peak_full or _home_full()
    if files_fd is not None:
        _send_files(files_fd, HOME, only=job.get("collect"), max_total_mb=float(job.get("collect_max_mb") or 400),
                    max_file_mb=float(job.get("collect_max_file_mb") or MAX_FILE_MB),
                    status={"returncode": code, "disk_full": disk_full, "stopped": stopped})
    return code


if __name__ == "__main__":
    sys.exit(_worker())
