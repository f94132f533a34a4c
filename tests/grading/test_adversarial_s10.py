"""Tenth hostile review (issue #12): new attacks, each a real submission graded by ``grade_assignment`` in bwrap.

One module-scoped class of lab-3 submissions is graded in bwrap as ``layerlab grade --jobs 2`` grades it, then once
more with ``--resume`` after one learner resubmits. Each attack starts from the same honest work as
``test_adversarial.py`` (lab 3 with one wrong key); each must earn exactly its honest grade, classmates keep theirs,
the batch completes and no process survives it.

The attacks: the kernel's keyrings, which no namespace of the sandbox separates (the grader's session keyring, which
every process it starts possesses, holding an instructor's token; a key planted there for later sandboxes and the
grader; a key left in the sandbox uid's own user keyring, which outlives the sandbox and is the next learner's on that
uid); memory that neither the address-space limit nor any tmpfs cap counts (``memfd_create``, System V shared
memory, message queues and semaphores); the machine's shared tables: open files (``fs.file-max``) and
pseudo-terminals (``kernel.pty.max``); outputs the instructor saved in the source notebook, put back with a locked
cell the learner deleted; a grader's command line, mounts and ``/proc/sys`` read and written from inside; an abstract
Unix socket between two learners graded at the same time; and a resubmission nested deeper than Python's ``os.walk``
can recurse, graded with ``--resume`` and on a Dask worker.
"""

from __future__ import annotations

import ctypes
import json
import os
import platform
import secrets

import pytest

from layerlab import grading
from layerlab.grading import assignment_spec, sandbox
from layerlab.grading.submission import remove_tree
from test_adversarial import LAB2, LAB3, PARTIAL3, QUIET, RUBRIC, _course, _marked_processes, _submit

pytestmark = pytest.mark.slow

MARK = "LLMARK10"
TOKEN_DESC = "layerlab-instructor-token"
TOKEN = "instructor-key-" + secrets.token_hex(8)
PLANTED = "layerlab-s10-planted"
LEFT = "layerlab-s10-left"
# add_key and keyctl (the C library has no wrapper for them)
SYSCALLS = {"x86_64": (248, 250), "aarch64": (217, 219)}[platform.machine()]
KEYCTL_JOIN_SESSION_KEYRING, KEYCTL_SEARCH, KEYCTL_READ = 1, 10, 11
KEY_SPEC_SESSION_KEYRING, KEY_SPEC_USER_KEYRING = -3, -4
HOLD_MB = 600  # tried in memfds, and again in System V shared memory: past /tmp's 256 MB, outside RLIMIT_AS
SEM_SETS = 150  # System V semaphore sets of 32000 (the kernel's SEMMSL): some 300 MB of kernel memory
FILES_TRIED = 20_000  # eventfds tried by one process
PTYS_TRIED = 200  # pseudo-terminals tried
DEEP = 1500  # nested folders: more than Python 3.11's recursion limit lets os.walk descend

# the grader's session keyring (inherited through bwrap by every process of the sandbox, which possesses it): read
# the instructor's key, plant one there for the grader and later sandboxes, and leave one in this uid's user keyring,
# which outlives the sandbox (the next learner graded on this uid finds it)
KEYRING = f'''
import ctypes
_libc = ctypes.CDLL(None, use_errno=True)
_ADD, _CTL = {SYSCALLS}
_kid = _libc.syscall(_CTL, {KEYCTL_SEARCH}, {KEY_SPEC_SESSION_KEYRING}, b"user", b"{TOKEN_DESC}", 0)
_got = b""
if _kid > 0:
    _buf = ctypes.create_string_buffer(256)
    _n = _libc.syscall(_CTL, {KEYCTL_READ}, _kid, _buf, 256)
    _got = _buf.raw[:max(_n, 0)]
print("{MARK}-KEYRING read", _got.decode("ascii", "replace") or "nothing", flush=True)
_planted = _libc.syscall(_ADD, b"user", b"{PLANTED}", b"from-a-learner", 14, {KEY_SPEC_SESSION_KEYRING}) > 0
_left = _libc.syscall(_ADD, b"user", b"{LEFT}", b"for-the-next-learner", 20, {KEY_SPEC_USER_KEYRING}) > 0
print("{MARK}-KEYRING planted", _planted, "left", _left, flush=True)
'''

# memory no cap counts: memfds (unnamed shmem, written, never mapped) and System V shared memory (attached, touched,
# detached); the process's own address space stays small
MEMORY = f'''
import ctypes, os
_libc = ctypes.CDLL(None, use_errno=True)
_libc.shmat.restype = ctypes.c_void_p
_fds, _ids, _memfd, _shm = [], [], 0, 0
_chunk = b"\\1" * (1 << 20)
try:
    for _ in range({HOLD_MB} // 150):
        _fd = os.memfd_create("hold")
        _fds.append(_fd)
        for _ in range(150):
            os.write(_fd, _chunk)
            _memfd += 1
except OSError as _exc:
    print("{MARK}-MEMORY memfd refused:", _exc, flush=True)
for _ in range({HOLD_MB} // 150):
    _id = _libc.shmget(0, 150 << 20, 0o1600)
    if _id < 0:
        print("{MARK}-MEMORY shmget refused:", os.strerror(ctypes.get_errno()), flush=True)
        break
    _ids.append(_id)
    _addr = _libc.shmat(_id, None, 0)
    if _addr in (None, ctypes.c_void_p(-1).value):
        break
    ctypes.memset(_addr, 1, 150 << 20)
    _libc.shmdt(ctypes.c_void_p(_addr))
    _shm += 150
_msg = _libc.msgget(0, 0o1600)
_sems = []
for _ in range({SEM_SETS}):  # about 2 MB of kernel memory each
    _id = _libc.semget(0, 32000, 0o1600)
    if _id < 0:
        break
    _sems.append(_id)
_vm = [l.split()[1] for l in open("/proc/self/status") if l.startswith("VmRSS")][0]
print(f"{MARK}-MEMORY held memfd {{_memfd}} MB shm {{_shm}} MB msgget {{_msg >= 0}} semaphores {{len(_sems)}} x 32000 "
      f"with VmRSS {{int(_vm) // 1024}} MB", flush=True)
for _fd in _fds:
    os.close(_fd)
for _id in _ids:
    _libc.shmctl(_id, 0, None)  # IPC_RMID
for _id in _sems:
    _libc.semctl(_id, 0, 0)  # IPC_RMID
'''

# what bwrap's command line, the mounts and /proc/sys tell or take: the course's path, the grader's environment
PEEK = f'''
_seen = open("/proc/1/cmdline", "rb").read() + open("/proc/self/mountinfo", "rb").read()
for _p in ("/proc/1/environ", "/proc/2/environ", "/proc/keys", "/proc/key-users"):
    try:
        _seen += open(_p, "rb").read()
    except OSError:
        pass
_wrote = []
for _p in ("/proc/sys/kernel/shmmax", "/proc/sys/kernel/hostname", "/proc/sys/vm/drop_caches", "/proc/sysrq-trigger"):
    try:
        open(_p, "w").write("1")
        _wrote.append(_p)
    except OSError:
        pass
print("{MARK}-PEEK course", b"@@COURSE@@" in _seen, "token", b"{TOKEN}" in _seen, "{TOKEN_DESC}".encode() in _seen,
      "wrote", _wrote, flush=True)
'''

# the machine's table of open files is shared by every process (fs.file-max): each descriptor of its own (an eventfd,
# a pipe, a socket) is one more entry and some kernel memory charged to no process; with as many per process as the
# grader's own limit allows (raised to its hard limit), 128 processes of one sandbox could fill it
OPEN_FILES = f'''
import os, resource
_soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
try:
    resource.setrlimit(resource.RLIMIT_NOFILE, (_hard, _hard))
except (ValueError, OSError):
    pass
_fds = []
try:
    while len(_fds) < {FILES_TRIED}:
        _fds.append(os.eventfd(0))
except OSError:
    pass
print("{MARK}-FILES opened", len(_fds), "limit", resource.getrlimit(resource.RLIMIT_NOFILE), flush=True)
for _fd in _fds:
    os.close(_fd)
'''

# pseudo-terminals: every devpts instance (the sandbox's own included) draws from the machine's one count
# (kernel.pty.max, 4096, of which all but kernel.pty.reserve, 1024, serve containers and sandboxes)
PTYS = f'''
import os
_fds = []
try:
    while len(_fds) < {PTYS_TRIED}:
        _fds.append(os.open("/dev/ptmx", os.O_RDWR | os.O_NOCTTY))
except OSError:
    pass
print("{MARK}-PTYS opened", len(_fds), flush=True)
'''

# two learners graded at the same time: one listens on an abstract Unix socket (no file, so no mount hides it), the
# other tries to connect and send its answers
SOCKET_LISTEN = f'''
import socket, time
_s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
_got = b""
try:
    _s.bind("\\0layerlab-s10")
    _s.listen(1)
    _s.settimeout(6)
    _c, _ = _s.accept()
    _got = _c.recv(100)
except OSError as _exc:
    _got = str(_exc).encode()
print("{MARK}-SOCKET heard", _got, flush=True)
'''
SOCKET_TALK = f'''
import socket, time
_sent = False
for _ in range(60):
    try:
        _s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        _s.connect("\\0layerlab-s10")
        _s.sendall(b"answers")
        _sent = True
        break
    except OSError:
        time.sleep(0.1)
print("{MARK}-SOCKET sent", _sent, flush=True)
'''

# the instructor ran the source notebook once (a wrong answer, to see the message) and saved it: a locked grade cell
# holds an error output whose traceback quotes its hidden test. The learner deletes that cell from their copy, so the
# grader puts the source's back, and reads the notebook it runs from.
HIDDEN_LINE = "_item = {i.grade_id: i for i in _score({'choices': choices}, _spec('lab3_choose_approach'))}"
SOURCE_OUTPUT = {"output_type": "error", "ename": "AssertionError", "evalue": "news_explainer: expected music 'post'",
                 "traceback": ["AssertionError Traceback (most recent call last)", f"----> 4 {HIDDEN_LINE}",
                               "AssertionError: news_explainer: expected music 'post'"]}
READ_OUTPUTS = f'''
import json
_nb = json.load(open("{LAB3}.ipynb", encoding="utf-8"))
_outs = [o for c in _nb["cells"] for o in c.get("outputs", [])]
print("{MARK}-OUTPUTS", len(_outs), "hidden", any("_spec(" in json.dumps(o) for o in _outs), flush=True)
'''


def _delete_news_explainer_check(nb):
    nb.cells = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") != "choice_news_explainer"]
    return nb


CASES = {
    "keyring": KEYRING,
    "memory": MEMORY,
    "open_files": OPEN_FILES,
    "peek": PEEK,
    "ptys": PTYS,
    "socket_a_listen": SOCKET_LISTEN,
    "socket_b_talk": SOCKET_TALK,
}


def _keyctl():
    libc = ctypes.CDLL(None, use_errno=True)
    add, ctl = SYSCALLS
    return libc, add, ctl


def _nest(folder, depth: int) -> None:
    """``depth`` nested folders under ``folder``, a file at the bottom (made with relative paths: no path is long)."""
    here = os.open(folder, os.O_RDONLY)
    try:
        for _ in range(depth):
            os.mkdir("d", dir_fd=here)
            below = os.open("d", os.O_RDONLY, dir_fd=here)
            os.close(here)
            here = below
        fd = os.open("notes.txt", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=here)
        os.write(fd, b"deep")
        os.close(fd)
    finally:
        os.close(here)


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    course = _course(tmp_path_factory.mktemp("adversarial_s10") / "course", [LAB3])
    _submit(course, LAB3, "honest3", PARTIAL3)
    _submit(course, LAB3, "classmate3", [])
    _submit(course, LAB3, "resubmits", PARTIAL3)
    for sid, extra in CASES.items():
        _submit(course, LAB3, sid, PARTIAL3 + [("after:lab3_choices", extra.replace("@@COURSE@@", str(course)))])
    source = course / "source" / LAB3 / f"{LAB3}.ipynb"
    nb = json.loads(source.read_text(encoding="utf-8"))
    next(c for c in nb["cells"] if c["metadata"].get("nbgrader", {}).get("grade_id") == "choice_news_explainer")[
        "outputs"] = [SOURCE_OUTPUT]
    source.write_text(json.dumps(nb), encoding="utf-8")
    _submit(course, LAB3, "source_outputs", PARTIAL3 + [("after:lab3_choices", READ_OUTPUTS)], _delete_news_explainer_check)
    # the grader holds a secret in its session keyring (an instructor's token, as `keyctl add user ... @s` leaves it)
    libc, add, ctl = _keyctl()
    assert libc.syscall(ctl, KEYCTL_JOIN_SESSION_KEYRING, b"layerlab-s10-grader") > 0, os.strerror(ctypes.get_errno())
    token_id = libc.syscall(add, b"user", TOKEN_DESC.encode(), TOKEN.encode(), len(TOKEN), KEY_SPEC_SESSION_KEYRING)
    assert token_id > 0, os.strerror(ctypes.get_errno())
    out = {"course": course, "errors": {}}
    try:
        try:  # the batch must complete: a failure here is a finding, reported by the tests below
            s = grading.grade_assignment(LAB3, course=course, jobs=2, gradebook=False, feedback=False, progress=False)
            out["first"] = {g.student: g for g in s.grades}
        except Exception as exc:  # noqa: BLE001
            out["errors"]["first"] = f"{type(exc).__name__}: {exc}"
        out["planted"] = libc.syscall(ctl, KEYCTL_SEARCH, KEY_SPEC_SESSION_KEYRING, b"user", PLANTED.encode(), 0)
        out["survivors"] = _marked_processes((MARK,))
        # a learner resubmits, with a folder nested 1500 deep; the instructor collects it and resumes the batch
        _nest(course / "submitted" / "resubmits" / LAB3, DEEP)
        try:
            s = grading.grade_assignment(LAB3, course=course, jobs=2, gradebook=False, feedback=False, progress=False,
                                         resume=True)
            out["resumed"] = {g.student: g for g in s.grades}
            out["kept"] = s.kept
        except Exception as exc:  # noqa: BLE001
            out["errors"]["resumed"] = f"{type(exc).__name__}: {exc}"
    finally:
        libc.syscall(ctl, 3, token_id)  # KEYCTL_REVOKE: the test's own secret goes
    yield out
    # pytest's own clean-up of old temporary folders (shutil.rmtree, recursive on 3.11) would trip on the deep folder
    remove_tree(course / "submitted" / "resubmits")


def _batch(graded, which="first"):
    assert which not in graded["errors"], f"the {which} batch did not complete: {graded['errors'][which]}"
    return graded[which]


def _points(g):
    return {i.grade_id: i.points for i in g.items}


def _line(g, what):
    return next((line for line in g.log.splitlines() if line.startswith(f"{MARK}-{what}")), "")


@pytest.mark.parametrize("student", list(CASES))
def test_each_attack_earns_exactly_the_honest_grade(graded, student):
    grades = _batch(graded)
    assert 0 < grades["honest3"].score < grades["classmate3"].score
    assert _points(grades[student]) == _points(grades["honest3"]), grades[student].error


def test_a_classmate_keeps_full_marks(graded):
    spec = assignment_spec(LAB3, RUBRIC)
    assert _batch(graded)["classmate3"].score == sum(it["points"] for it in spec["items"])


def test_the_graders_keyrings_are_out_of_the_learners_reach(graded):
    g = _batch(graded)["keyring"]
    assert _line(g, "KEYRING read"), g.log[-800:]  # the cell ran
    assert TOKEN not in g.log, _line(g, "KEYRING read")
    assert graded["planted"] < 0, "a learner's key was planted in the grader's session keyring"


def test_nothing_is_left_in_the_kernel_for_the_next_learner_on_the_same_uid(graded):
    g = _batch(graded)["keyring"]
    assert f"{MARK}-KEYRING planted False left False" in g.log, _line(g, "KEYRING planted")


def test_memory_outside_every_cap_is_refused(graded):
    g = _batch(graded)["memory"]
    line = _line(g, "MEMORY held")
    assert line, g.log[-800:]
    assert line.startswith(f"{MARK}-MEMORY held memfd 0 MB shm 0 MB msgget False semaphores 0 x 32000"), line


def test_a_learner_process_holds_a_bounded_number_of_open_files(graded):
    g = _batch(graded)["open_files"]
    line = _line(g, "FILES opened")
    assert line, g.log[-800:]
    opened = int(line.split()[2])
    assert opened <= sandbox.SandboxLimits().max_open_files, line  # times 128 processes: far from the machine's table


def test_no_pseudo_terminal_is_taken_from_the_machine(graded):
    g = _batch(graded)["ptys"]
    assert f"{MARK}-PTYS opened 0" in g.log, _line(g, "PTYS") or g.log[-800:]


def test_the_graders_command_line_mounts_and_sysctls_give_nothing_away(graded):
    g = _batch(graded)["peek"]
    assert f"{MARK}-PEEK course False token False False wrote []" in g.log, _line(g, "PEEK")


def test_two_learners_graded_at_once_share_no_socket(graded):
    grades = _batch(graded)
    assert f"{MARK}-SOCKET sent False" in grades["socket_b_talk"].log, _line(grades["socket_b_talk"], "SOCKET")
    assert "answers" not in _line(grades["socket_a_listen"], "SOCKET heard")


def test_outputs_saved_in_the_source_notebook_never_reach_the_learners_process(graded):
    g = _batch(graded)["source_outputs"]
    assert f"{MARK}-OUTPUTS 0 hidden False" in g.log, _line(g, "OUTPUTS")
    assert _points(g) == _points(_batch(graded)["honest3"]), g.error


def test_no_process_survives_the_batch(graded):
    _batch(graded)
    assert graded["survivors"] == []


def test_a_resubmission_nested_deeper_than_python_walks_is_graded_on_resume(graded):
    first, resumed = _batch(graded), _batch(graded, "resumed")
    assert graded["kept"] == len(first) - 1  # everyone else's stored result is reused
    g = resumed["resubmits"]
    assert _points(g) == _points(first["honest3"]), g.error
    assert "RecursionError" not in g.error


def test_a_dask_worker_grades_a_submission_nested_deeper_than_python_walks_and_leaves_nothing(tmp_path):
    """On a Dask worker (``grade_payload``, called here as the worker calls it): a result, and the worker's copy gone."""
    from layerlab.grading import cluster

    course = _course(tmp_path / "course", [LAB3])
    _submit(course, LAB3, "deep", PARTIAL3)
    adir = course / "submitted" / "deep" / LAB3
    _nest(adir, DEEP)
    payload = cluster.pack_submission(adir)
    try:
        d = cluster.grade_payload(payload, assignment=LAB3, rubric=RUBRIC, student="deep", timeout_s=None,
                                  memory_mb=4096, source_notebook=(course / "source" / LAB3 / f"{LAB3}.ipynb").read_bytes(),
                                  notebook_name=f"{LAB3}.ipynb")
        left = sorted(p.name for p in cluster._root().iterdir() for p in p.iterdir())
    finally:
        remove_tree(adir)
    full = sum(it["points"] for it in assignment_spec(LAB3, RUBRIC)["items"])
    assert not d["incomplete"] and 0 < sum(i["points"] for i in d["items"]) < full, d["error"]  # the honest work's grade
    assert left == [], left  # the worker's copy of the submission and source notebook are gone


def test_a_shipped_deliverable_nested_deeper_than_python_walks_is_replaced_by_the_exported_one(tmp_path):
    """Lab 2: the grader removes a submitted ``deliverable/`` before the re-run exports a new one; shutil.rmtree
    recursed there, so a shipped one 1500 folders deep ended the honest mix's grade in RecursionError."""
    course = _course(tmp_path / "course", [LAB2])
    _submit(course, LAB2, "honest", QUIET)
    _submit(course, LAB2, "deep", QUIET)
    (course / "submitted" / "deep" / LAB2 / "deliverable").mkdir()
    _nest(course / "submitted" / "deep" / LAB2 / "deliverable", DEEP)
    try:
        s = grading.grade_assignment(LAB2, course=course, jobs=2, gradebook=False, feedback=False, progress=False)
    finally:
        remove_tree(course / "submitted" / "deep")
    got = {g.student: g for g in s.grades}
    assert "RecursionError" not in got["deep"].error, got["deep"].error
    assert _points(got["deep"]) == _points(got["honest"]) and got["honest"].score > 0, got["deep"].error
