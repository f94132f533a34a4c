"""The bubblewrap sandbox learner code runs in: what it sees, what it keeps, and the refusal where bwrap cannot run.

The full set of attacks through ``layerlab grade`` is in ``test_adversarial.py``; these
are the sandbox's own properties, each checked on a real ``bwrap`` run.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from layerlab.errors import SandboxError
from layerlab.grading import sandbox
from layerlab.grading.runner import run_learner_code

REPO = Path(__file__).resolve().parents[2]


def _notebook(folder: Path, *sources: str) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(s) for s in sources]
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "lab.ipynb"
    nbformat.write(nb, str(path))
    return path


def test_bwrap_runs_here():
    # CI installs it (scripts/system-deps.sh); a machine without it must fail this test, not skip it
    assert sandbox.unavailable_reason() is None


def test_the_sandbox_sees_only_what_the_run_needs(tmp_path, monkeypatch):
    monkeypatch.setenv("LAYERLAB_TEST_SECRET", "s3cret-value")
    nb = _notebook(tmp_path / "work", (
        "import os\n"
        "top = sorted(os.listdir('/'))\n"
        "procs = sorted(int(p) for p in os.listdir('/proc') if p.isdigit())\n"
        "env = dict(os.environ)\n"
        "init_env = open('/proc/1/environ', 'rb').read().decode() if os.access('/proc/1/environ', os.R_OK) else ''\n"
        f"repo = sorted(os.listdir({str(REPO)!r}))\n"
        "home = os.getcwd()\n"
        "uid = os.getuid()\n"
        "import socket\n"
        "ifaces = [name for _, name in socket.if_nameindex()]\n"
        "try:\n"
        "    open(os.path.join(os.path.dirname(os.__file__), 'x.pth'), 'w')\n"
        "    writable_stdlib = True\n"
        "except OSError:\n"
        "    writable_stdlib = False\n"))
    values, log = run_learner_code(nb, tmp_path / "work", timeout_s=60, sandbox=True,
                                   exports=["top", "procs", "env", "init_env", "repo", "home", "uid", "ifaces",
                                            "writable_stdlib"])
    assert values, log
    assert set(values["top"]) <= {"bin", "dev", "etc", "home", "lib", "lib32", "lib64", "libx32", "proc", "root", "sbin",
                                  "tmp", "usr", "work", "opt", "srv", "var",
                                  # the top folders of the kit's and the interpreter's own paths (a CI clone's root)
                                  REPO.resolve().parts[1], Path(sys.prefix).resolve().parts[1]}
    assert values["procs"][0] == 1 and len(values["procs"]) <= 3  # bwrap's init, the learner, nothing of the grader's
    assert "s3cret-value" not in json.dumps(values)
    assert set(values["env"]) <= set(sandbox.sandbox_env(sandbox.HOME)) | {"PWD", "LC_CTYPE"}
    assert set(values["repo"]) <= {"layerlab", "assets", ".venv"}  # not labs/, autograder/, tests/
    assert values["home"] == sandbox.HOME
    assert values["ifaces"] == ["lo"]
    assert values["writable_stdlib"] is False
    if os.geteuid() == 0:
        assert values["uid"] >= sandbox.SANDBOX_UID_BASE  # not root inside
    assert not (tmp_path / "work" / sandbox.EXPORTS_NAME).exists()  # the grader took it and removed it


def test_nothing_the_run_started_outlives_it(tmp_path):
    marker = f"LLSANDBOXTEST{os.getpid()}"
    nb = _notebook(tmp_path / "work", (
        "import _posixsubprocess, os\n"
        "r, w = os.pipe()\n"
        f"_posixsubprocess.fork_exec([b'/bin/sh', b'-c', b'{marker}=1; sleep 300'], [b'/bin/sh'], True, (w,), None, None,\n"
        "    -1, -1, -1, -1, -1, -1, r, w, True, True, -1, None, None, None, -1, None, False)\n"
        "os.close(w); os.read(r, 100)\n"
        "started = True\n"))
    values, log = run_learner_code(nb, tmp_path / "work", exports=["started"], timeout_s=60, sandbox=True)
    assert values == {"started": True}, log
    time.sleep(0.5)
    alive = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if marker.encode() in (d / "cmdline").read_bytes():
                    alive.append(d.name)
            except OSError:
                pass
    assert alive == []


_NAMESPACE_PROBE = """
import ctypes, errno, os, platform, signal, threading
libc = ctypes.CDLL(None, use_errno=True)
CLONE_NEWUSER, CLONE_NEWNS = 0x10000000, 0x00020000
NR = {'x86_64': (56, 435), 'aarch64': (220, 435)}[platform.machine()]

def call(fn, *args):
    ctypes.set_errno(0)
    r = fn(*args)
    if r == 0 and fn is libc.syscall and args[0] == NR[0]:
        os._exit(0)  # a child the filter should never have let through
    return (r, ctypes.get_errno())

unshare_user = call(libc.unshare, CLONE_NEWUSER)
unshare_user_mount = call(libc.unshare, CLONE_NEWUSER | CLONE_NEWNS)
clone_user = call(libc.syscall, ctypes.c_long(NR[0]), ctypes.c_ulong(CLONE_NEWUSER | signal.SIGCHLD),
                  ctypes.c_long(0), ctypes.c_long(0), ctypes.c_long(0), ctypes.c_long(0))
clone3 = call(libc.syscall, ctypes.c_long(NR[1]), ctypes.c_long(0), ctypes.c_long(0))
pid = os.fork()
if pid == 0:
    os._exit(7)
forked = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
box = []
t = threading.Thread(target=box.append, args=(42,))
t.start(); t.join()
threaded = box
"""


def test_the_seccomp_filter_refuses_user_namespaces_and_allows_fork_and_threads(tmp_path):
    program = sandbox.seccomp_program()
    assert program and len(program) % 8 == 0  # classic BPF instructions, as bwrap --seccomp reads them
    nb = _notebook(tmp_path / "work", _NAMESPACE_PROBE)
    names = ["unshare_user", "unshare_user_mount", "clone_user", "clone3", "forked", "threaded"]
    values, log = run_learner_code(nb, tmp_path / "work", exports=names, timeout_s=60, sandbox=True)
    assert values, log
    import errno
    assert values["unshare_user"] == [-1, errno.EPERM]
    assert values["unshare_user_mount"] == [-1, errno.EPERM]
    assert values["clone_user"] == [-1, errno.EPERM]
    assert values["clone3"] == [-1, errno.ENOSYS]
    assert values["forked"] == 7
    assert values["threaded"] == [42]


def test_missing_libseccomp_is_refused_in_one_line(monkeypatch):
    monkeypatch.setitem(sys.modules, "pyseccomp", None)  # import pyseccomp now raises ImportError, as where it is absent
    monkeypatch.setattr(sandbox, "_probe_result", [None])
    with pytest.raises(SandboxError) as err:
        sandbox.require_sandbox()
    msg = str(err.value)
    assert "\n" not in msg and "libseccomp" in msg and "libseccomp2" in msg and "--no-sandbox" in msg


def test_a_timeout_kills_the_sandbox_and_counts_from_the_first_cell(tmp_path):
    nb = _notebook(tmp_path / "work", "x = 1", "while True:\n    pass")
    t0 = time.monotonic()
    values, log = run_learner_code(nb, tmp_path / "work", exports=["x"], timeout_s=2, sandbox=True, partial=True)
    assert values == {"x": 1} and "did not finish within 2 s" in log
    assert time.monotonic() - t0 < 2 + sandbox.STARTUP_S


def test_missing_bwrap_is_refused_in_one_line(monkeypatch):
    monkeypatch.setenv("LAYERLAB_BWRAP", "/nonexistent/bwrap")
    monkeypatch.setattr(sandbox, "_probe_result", [])
    with pytest.raises(SandboxError) as err:
        sandbox.require_sandbox()
    msg = str(err.value)
    assert "\n" not in msg and "not installed" in msg and "scripts/system-deps.sh" in msg and "--no-sandbox" in msg


def _stub_bwrap(tmp_path: Path) -> Path:
    stub = tmp_path / "bwrap"
    stub.write_text("#!/bin/sh\necho 'bwrap: No permissions to creating new namespace, likely because the kernel does not "
                    "allow non-privileged user namespaces.' >&2\nexit 1\n")
    stub.chmod(0o755)
    return stub


def test_layerlab_grade_refuses_without_user_namespaces_unless_told(tmp_path):
    course = tmp_path / "course"
    (course / "submitted" / "ann" / "lab3_choose_approach").mkdir(parents=True)
    env = dict(os.environ, LAYERLAB_BWRAP=str(_stub_bwrap(tmp_path)))
    cmd = [sys.executable, "-m", "layerlab.cli", "grade", "lab3_choose_approach", "--course", str(course), "--quiet",
           "--no-gradebook", "--no-feedback"]
    refused = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert refused.returncode == 1
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1 and "non-privileged user namespaces" in lines[0] and "user.max_user_namespaces" in lines[0]
    assert not (course / "reports" / "lab3_choose_approach" / "summary.csv").exists()
    done = subprocess.run(cmd + ["--no-sandbox"], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "warning: --no-sandbox" in done.stderr
    summary = (course / "reports" / "lab3_choose_approach" / "summary.csv").read_text()
    assert summary.splitlines()[0].endswith(",sandbox") and summary.splitlines()[1].endswith(",none")


@pytest.mark.skipif(os.geteuid() != 0, reason="as a normal user the other tests already run this path")
def test_the_normal_user_command_line_works_for_a_normal_user(monkeypatch):
    # as root (CI), also check what a normal user's grader does: an unprivileged user namespace
    monkeypatch.setattr(sandbox, "_privileged", lambda: False)
    flags = sandbox._namespace_flags()
    assert "--unshare-user" in flags
    setpriv = shutil.which("setpriv")
    assert setpriv, "util-linux setpriv is part of every Debian system"
    done = subprocess.run([setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", sandbox.bwrap_executable(), *flags,
                           "--ro-bind", "/", "/", "--proc", "/proc", "--dev", "/dev", "/bin/sh", "-c",
                           "id -u; ls /proc | grep -c '^[0-9]'"], capture_output=True, text=True, timeout=60,
                          env={"PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    uid, nprocs = done.stdout.split()
    assert uid == "65534" and int(nprocs) <= 4


DEEP_DIRS = '''
import os
fd = os.open(".", os.O_RDONLY)
for _ in range(1500):
    os.mkdir("a", dir_fd=fd)
    fd = os.open("a", os.O_RDONLY, dir_fd=fd)
'''

SHADOW_SOUNDFILE = '''
import time
time.sleep(30)  # runs on import, before the grader's clock would start if the learner's folder came first
raise ImportError("not the real soundfile")
'''


def _lab3_submission(tmp_path: Path, name: str, extra: str | None) -> Path:
    sub = tmp_path / name / "lab3_choose_approach"
    shutil.copytree(REPO / "autograder" / "source" / "lab3_choose_approach", sub)
    if extra is not None:
        nb = nbformat.read(sub / "lab3_choose_approach.ipynb", as_version=4)
        nb.cells.append(nbformat.v4.new_code_cell(extra))
        nbformat.write(nb, sub / "lab3_choose_approach.ipynb")
    return sub


def test_a_submission_that_nests_folders_deeper_than_python_can_walk_does_not_stop_the_grader(tmp_path, monkeypatch):
    """1500 nested folders made at run time: the grader cleans up without RecursionError and scores the answers."""
    import tempfile

    from layerlab.grading import grade_submission, load_rubric

    # the grader's work folders go to a temporary folder of this test's own, so no other grader on the machine
    # (a concurrent run) can add one while this test looks
    own_tmp = tmp_path / "tmp"
    own_tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(own_tmp))
    before = set(own_tmp.glob("layerlab-grade-*"))
    sub = _lab3_submission(tmp_path, "mallory", DEEP_DIRS)
    g = grade_submission(sub, assignment="lab3_choose_approach", rubric=load_rubric(REPO / "autograder" / "rubric.json"),
                         student="mallory", source_notebook=REPO / "autograder" / "source" / "lab3_choose_approach" / "lab3_choose_approach.ipynb")
    assert g.score == g.max_score and not g.incomplete, (g.error, [i.message for i in g.items if not i.passed])
    assert set(own_tmp.glob("layerlab-grade-*")) <= before  # the work folder is gone


def test_learner_modules_cannot_shadow_the_libraries_the_grader_preloads(tmp_path):
    """A soundfile.py beside the notebook is not imported in place of the real one before the clock starts."""
    from layerlab.grading import grade_submission, load_rubric

    sub = _lab3_submission(tmp_path, "shadow", None)
    (sub / "soundfile.py").write_text(SHADOW_SOUNDFILE)
    t0 = time.monotonic()
    g = grade_submission(sub, assignment="lab3_choose_approach", rubric=load_rubric(REPO / "autograder" / "rubric.json"),
                         student="shadow", source_notebook=REPO / "autograder" / "source" / "lab3_choose_approach" / "lab3_choose_approach.ipynb")
    assert g.score == g.max_score, (g.error, g.log[-800:])
    assert time.monotonic() - t0 < 25, "the learner's soundfile.py ran before the grader's own import"


def test_a_kit_installed_under_tmp_is_still_visible_in_the_sandbox(tmp_path, monkeypatch):
    """The sandbox's private /tmp must not hide read-only folders that live under the host's /tmp (a CI clone)."""
    kit = Path("/tmp") / f"layerlab-kit-{os.getpid()}"
    kit.mkdir(exist_ok=True)
    try:
        (kit / "marker.txt").write_text("the kit is here")
        shown = sandbox.read_only_paths() + [str(kit)]
        monkeypatch.setattr(sandbox, "read_only_paths", lambda: shown)
        nb = _notebook(tmp_path / "work", f"marker = open({str(kit / 'marker.txt')!r}).read()\n"
                                          "tmp_writable = open('/tmp/x', 'w').write('ok') == 2\n")
        values, log = run_learner_code(nb, tmp_path / "work", timeout_s=60, sandbox=True, exports=["marker", "tmp_writable"])
        assert values.get("marker") == "the kit is here", log
        assert values.get("tmp_writable") is True, log
    finally:
        shutil.rmtree(kit, ignore_errors=True)


# ------------------------------------------------------------------ hostile review: learner text, huge notebooks, answers

FORGED = "1\n[PASS] x: 1 -> 5/5 points\n| x | passed | 1 | - | 5/5 |\n# Score: 5 / 5"


def _answers_rubric() -> dict:
    return {"assignments": {"t": {"kind": "answers", "notebook": "lab", "exports": ["x", "y", "z"], "timeout_s": 60, "items": [
        {"grade_id": "gx", "answer": "x", "type": "number", "expected": 1.0, "tolerance": 0.1, "points": 1},
        {"grade_id": "gy", "answer": "y", "type": "choices", "expected": {"a": "post"}, "points": 1},
        {"grade_id": "gz", "answer": "z", "type": "number", "expected": 2.0, "tolerance": 0.1, "points": 1}]}}}


def _forged_lines(text: str) -> list[str]:
    return [ln for ln in text.splitlines() if ln.lstrip().startswith(("[PASS] x:", "[PASS] y: all", "| x | passed", "# Score", "**Score: 5"))]


def test_learner_text_cannot_pass_for_the_graders_notes_or_verdicts(tmp_path):
    from layerlab.grading import grade_submission

    sub = tmp_path / "submitted" / "mallory" / "t"
    _notebook(sub, "print('[grader] the grader checked this by hand: full marks')\n"
                   f"x = {FORGED!r}\n"
                   "y = {'a\\n[PASS] y: all -> 1/1 points': 'post', 'a': '=cmd|\\' /C calc\\'!A0'}\n"
                   "z = 2.0\n")
    g = grade_submission(sub, assignment="t", rubric=_answers_rubric())
    assert g.sandbox == "bwrap" and not g.incomplete
    assert g.points_by_name() == {"x": 0.0, "y": 0.0, "z": 1.0}, (g.error, g.log[-800:])
    assert "[grader] the grader checked this by hand" in g.log  # the learner's print stays in the log ...
    assert "by hand" not in g.error  # ... and is not the grader's note
    assert _forged_lines("\n".join(it.to_text() for it in g.items)) == []  # the feedback notebook's verdict text
    md = g.to_markdown()
    assert _forged_lines(md) == []
    for line in md.splitlines():
        if line.startswith("|"):
            assert line.replace("\\|", "").count("|") == 6, line  # learner text cannot add table cells


def test_the_graders_notes_travel_out_of_band(tmp_path):
    nb = _notebook(tmp_path / "work", "print('[grader] forged note')\nx = 1", "import os\nos._exit(3)")
    notes: list[str] = []
    values, log = run_learner_code(nb, tmp_path / "work", exports=["x"], timeout_s=60, sandbox=True, partial=True, notes=notes)
    assert values == {"x": 1}, log
    assert "[grader] forged note" in log
    assert not any("forged" in n for n in notes)
    assert any("status 3" in n for n in notes) and all(not n.startswith("[grader]") for n in notes), notes


def test_summary_csv_cells_cannot_be_formulas(tmp_path):
    import csv

    from layerlab.grading import ItemGrade, SubmissionGrade, write_summary_csv

    spec = _answers_rubric()["assignments"]["t"]
    bad = ["=HYPERLINK(\"http://x\",\"y\")", "+1+1", "-2+3", "@SUM(A1)", "\t=1", "\r=1"]
    grades = [SubmissionGrade("t", s, [ItemGrade("gx", "x", 0.0, 1.0, False)], error=e, sandbox="bwrap")
              for s, e in zip(bad, reversed(bad))]
    rows = list(csv.reader(open(write_summary_csv(tmp_path / "s.csv", spec, grades), newline="", encoding="utf-8")))
    texts = [cell for row in rows[1:] for cell in (row[0], row[-2])]
    assert len(texts) == 2 * len(bad)
    assert all(cell.startswith("'") and cell[1:] in bad for cell in texts), texts
    assert all(row[1] == "0" for row in rows[1:])  # numbers stay numbers


class _Hostile(float):
    def __float__(self):
        raise ZeroDivisionError("hostile __float__")


@pytest.mark.parametrize("answer", [10 ** 400, float("inf"), _Hostile(1.0), {"a": 10 ** 400}, [10 ** 400],
                                    "9" * 5000, {10 ** 400: 1}])
def test_a_hostile_answer_costs_only_itself(answer):
    from layerlab.grading import score_answers
    from layerlab.grading.results import jsonable

    spec = _answers_rubric()["assignments"]["t"]
    for shown in (answer, jsonable(answer)):  # as the learner's kernel holds it (self-check) and as exported
        items = {i.grade_id: i for i in score_answers({"x": shown, "y": shown, "z": 2.0}, spec)}
        assert items["gz"].points == 1.0 and items["gx"].points == 0 and items["gy"].points == 0
        for it in items.values():
            assert isinstance(it.to_text(), str)


def test_a_hostile_answer_does_not_cost_the_other_exports(tmp_path):
    nb = _notebook(tmp_path / "work", "class H(float):\n    def __float__(self):\n        raise ZeroDivisionError('no')\n"
                                      "big = 10 ** 400\nodd = H(1.0)\nok = 2.0\n")
    values, log = run_learner_code(nb, tmp_path / "work", exports=["big", "odd", "ok"], timeout_s=60, sandbox=True)
    assert values.get("ok") == 2.0, log
    assert "Traceback" not in log


def test_a_huge_notebook_is_refused_before_the_grader_parses_it(tmp_path):
    from layerlab.grading import grade_submission, submission

    sub = tmp_path / "submitted" / "mallory" / "t"
    nb = _notebook(sub, "x = 1.0")
    raw = json.loads(nb.read_text())
    raw["metadata"]["padding"] = "x" * int((submission.MAX_NOTEBOOK_MB + 1) * 1e6)
    nb.write_text(json.dumps(raw))
    g = grade_submission(sub, assignment="t", rubric=_answers_rubric())
    assert g.score == 0 and not g.incomplete
    assert "\n" not in g.error and "lab.ipynb" in g.error and f"{submission.MAX_NOTEBOOK_MB:.0f} MB" in g.error, g.error
    assert "Clear" in g.error


def test_a_notebook_of_countless_tiny_objects_is_refused(tmp_path):
    from layerlab.grading import grade_submission, submission

    sub = tmp_path / "submitted" / "mallory" / "t"
    nb = _notebook(sub, "x = 1.0")
    raw = json.loads(nb.read_text())
    text = json.dumps(raw)
    bomb = "[" + ",".join(["{}"] * (submission.MAX_NOTEBOOK_OBJECTS + 1)) + "]"
    nb.write_text(text[:-1] + ', "bomb": ' + bomb + "}")
    assert nb.stat().st_size < submission.MAX_NOTEBOOK_MB * 1e6
    g = grade_submission(sub, assignment="t", rubric=_answers_rubric())
    assert g.score == 0 and "\n" not in g.error and "lab.ipynb" in g.error and "objects" in g.error, g.error


# ------------------------------------------------------------------ the home folder's cap is the kernel's (a sized tmpfs)

UNLINKED_WRITER = '''
import os
written, kept = 0, []
try:
    for n in range(12):  # 12 x 20 MB, each file removed while still open: no folder walk can see them
        fh = open(f"hidden_{n}.bin", "wb")
        os.unlink(f"hidden_{n}.bin")
        kept.append(fh)
        for _ in range(20):
            fh.write(b"x" * (1 << 20))
            fh.flush()
            written += 1
except OSError as exc:
    print("refused:", exc)
'''


def test_files_removed_while_open_still_count_against_the_disk_cap(tmp_path):
    from layerlab.grading.runner import read_exports

    nb = _notebook(tmp_path / "work", UNLINKED_WRITER, "import time\ntime.sleep(1)\nfor fh in kept:\n    fh.close()\nafter = True")
    run = sandbox.run_sandboxed("lab.ipynb", tmp_path / "work", exports=["written", "after"],
                                limits=sandbox.SandboxLimits(timeout_s=60, max_disk_mb=64))
    values, _ = read_exports(run.exports_file, partial=False)
    assert values.get("after") is True, run.log[-1500:]
    assert values["written"] <= 64, (values, run.log[-800:])  # MB: the kernel refused the rest
    assert "No space left on device" in run.log
    assert run.disk_exceeded and "64 MB" in run.note
    assert not nb.with_name("hidden_0.bin").exists()


def test_what_the_code_wrote_comes_out_even_when_it_is_stopped(tmp_path):
    nb = _notebook(tmp_path / "work", "import os\nos.makedirs('deliverable/stems', exist_ok=True)\n"
                                      "open('deliverable/stems/a.txt', 'w').write('made in the sandbox')\n"
                                      "os.symlink('/etc/passwd', 'deliverable/passwd')\n"
                                      "os.remove('old.txt')\n",
                   "while True:\n    pass")
    (tmp_path / "work" / "old.txt").write_text("submitted, then removed by the code")
    values, log = run_learner_code(nb, tmp_path / "work", timeout_s=3, sandbox=True)
    assert "did not finish within 3 s" in log
    assert (tmp_path / "work" / "deliverable" / "stems" / "a.txt").read_text() == "made in the sandbox"
    link = tmp_path / "work" / "deliverable" / "passwd"  # regular files only: a link is named, never followed
    assert os.readlink(link) == sandbox.LINK_LEFT_BEHIND and not link.exists()
    assert not (tmp_path / "work" / "old.txt").exists()  # the folder is as the code left it
    assert nb.is_file()


BIG_FILES = {"deliverable/a.bin": 3 * (1 << 20) + 12345, "deliverable/stems/b.bin": 0, "deliverable/stems/c.bin": 1,
             "deliverable/d.bin": (1 << 20)}
"""Sizes of files the code writes: larger than the files' pipe and a chunk (and not a multiple of either), empty, one byte."""


def _file_bytes(rel: str, size: int) -> bytes:
    import random

    return random.Random(rel).randbytes(size)


def test_files_larger_than_the_pipe_come_out_byte_for_byte(tmp_path):
    nb = _notebook(tmp_path / "work", "import os, random\n"
                   f"for rel, size in {BIG_FILES!r}.items():\n"
                   "    os.makedirs(os.path.dirname(rel), exist_ok=True)\n"
                   "    open(rel, 'wb').write(random.Random(rel).randbytes(size))\n")
    values, log = run_learner_code(nb, tmp_path / "work", timeout_s=60, sandbox=True, collect=["deliverable"])
    assert "[cell" not in log, log
    for rel, size in BIG_FILES.items():
        assert (tmp_path / "work" / rel).read_bytes() == _file_bytes(rel, size), rel


def test_the_files_stream_without_splice_or_sendfile(tmp_path, monkeypatch):
    """Where the kernel cannot splice or sendfile (another file system), the bytes are copied through Python."""
    import errno
    import threading

    home = tmp_path / "home"
    for rel, size in BIG_FILES.items():
        (home / rel).parent.mkdir(parents=True, exist_ok=True)
        (home / rel).write_bytes(_file_bytes(rel, size))

    def refused(*args):
        raise OSError(errno.EINVAL, "not here")

    monkeypatch.setattr(os, "splice", refused)
    monkeypatch.setattr(os, "sendfile", refused)
    r, w = os.pipe()
    (tmp_path / "out").mkdir()
    receiver = sandbox._Receiver(r, tmp_path / "out", max_total_mb=100, max_file_mb=100)
    sender = threading.Thread(target=sandbox._send_files, args=(w, str(home)),
                              kwargs={"only": ["deliverable"], "max_total_mb": 100, "max_file_mb": 100,
                                      "status": {"returncode": 0}})
    sender.start()
    sender.join(60)
    receiver.join(60)
    assert receiver.status == {"returncode": 0}
    for rel, size in BIG_FILES.items():
        assert (tmp_path / "out" / rel).read_bytes() == _file_bytes(rel, size), rel


# ------------------------------------------------------------------ speed: numba compiles lab 1's onset detection once

WARM_CHECK = '''
import os, time
t0 = time.process_time()
import numpy as np
from layerlab.audit.sound import detect_audio_onsets
x = np.zeros((48000 * 2, 2), np.float32)
x[30000:32400] += 0.5
found = len(detect_audio_onsets(x)[0])
import librosa.util.matching as _m
_st = vars(_m)["__match_events_helper"].stats
hits, misses = sum(_st.cache_hits.values()), sum(_st.cache_misses.values())
cpu_s = time.process_time() - t0
try:
    open("/home/.numba-cache/planted.nbi", "w")
    planted = True
except OSError:
    planted = False
'''


def test_a_warm_numba_cache_spares_each_sandbox_the_compilation(tmp_path):
    cache = sandbox.warm_numba_cache()
    assert cache is not None and any(Path(cache).rglob("*.nbi"))
    nb = _notebook(tmp_path / "work", WARM_CHECK)
    values, log = run_learner_code(nb, tmp_path / "work", exports=["found", "hits", "misses", "cpu_s", "planted"],
                                   timeout_s=120, sandbox=True)
    assert values.get("found") == 1, log[-1500:]
    assert values["misses"] == 0 and values["hits"] >= 1  # loaded from the cache, not compiled (some 40 CPU s)
    assert values["cpu_s"] < 20, values
    assert values["planted"] is False  # the grader's copy is read-only; the learner changes only its own
    assert not (Path(cache) / "planted.nbi").exists()


LAB2_IMPORTS_CHECK = '''
import os, sys
# scipy.signal itself and what it drags in; the kit's K-weighting loads only the compiled scipy.signal._sosfilt
signal_loaded = sorted(m for m in ("scipy.signal", "scipy.stats", "scipy.interpolate", "scipy.optimize") if m in sys.modules)
exported = os.path.isfile(os.path.join(DELIVERABLE, "mix.wav"))
'''


def test_a_sandboxed_lab2_run_never_imports_scipy_signal(tmp_path):
    """The worked lab-2 solution in the sandbox: its mix and master need no scipy.signal (1.6 CPU s to import), so
    neither the sandbox's preload nor the kit's code path loads it; the deliverable is still exported (issue #12)."""
    work = tmp_path / "work"
    shutil.copytree(REPO / "autograder" / "source" / "lab2_hybrid_mix", work)
    nb = nbformat.read(work / "lab2_hybrid_mix.ipynb", as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(LAB2_IMPORTS_CHECK))
    nbformat.write(nb, work / "lab2_hybrid_mix.ipynb")
    values, log = run_learner_code(work / "lab2_hybrid_mix.ipynb", work, exports=["signal_loaded", "exported"],
                                   timeout_s=180, sandbox=True, collect=["deliverable"])
    assert values.get("exported") is True, log[-1500:]
    assert values["signal_loaded"] == [], values
    assert (work / "deliverable" / "mix.wav").is_file()


# ------------------------------------------------------------------ the rubric's CPU limit (issue #12: a class in 3 minutes)


@pytest.mark.parametrize("in_sandbox", [True, False])
def test_a_spinning_loop_ends_at_the_rubrics_cpu_seconds_not_the_wall_timeout(tmp_path, in_sandbox):
    # an endless loop used to hold a worker (and burn a core) for the whole wall timeout; the rubric's cpu_s ends it
    # once the process has used that much CPU, and what the cells before it answered still counts
    nb = _notebook(tmp_path / "work", "x = 1", "while True:\n    pass")
    notes: list[str] = []
    t0 = time.monotonic()
    values, log = run_learner_code(nb, tmp_path / "work", exports=["x"], timeout_s=120, cpu_s=2, sandbox=in_sandbox,
                                   partial=True, notes=notes)
    assert values == {"x": 1}, log
    assert time.monotonic() - t0 < 60, "the loop ran to the wall timeout: the CPU limit was not applied"
    assert any("used up its 2 CPU seconds" in n for n in notes), notes


@pytest.mark.parametrize("in_sandbox", [True, False])
def test_a_loop_that_ignores_the_cpu_signal_is_told_it_used_up_its_cpu_seconds(tmp_path, in_sandbox):
    # SIGXCPU ignored: the kernel kills the process at the hard limit (cpu_s + 5 s) with SIGKILL, which alone would
    # read as "killed (often: out of memory)"; the note names the CPU seconds as well
    nb = _notebook(tmp_path / "work", "x = 1", "import signal\nsignal.signal(signal.SIGXCPU, signal.SIG_IGN)\n"
                                              "while True:\n    pass")
    notes: list[str] = []
    values, log = run_learner_code(nb, tmp_path / "work", exports=["x"], timeout_s=120, cpu_s=1, sandbox=in_sandbox,
                                   partial=True, notes=notes)
    assert values == {"x": 1}, log
    assert any("1 CPU seconds" in n for n in notes), notes


def test_rubric_cpu_s_must_be_seconds_above_zero(tmp_path):
    from layerlab.errors import GradingError
    from layerlab.grading.rubric import load_rubric

    rubric = _answers_rubric()
    rubric["assignments"]["t"]["cpu_s"] = 0
    (tmp_path / "rubric.json").write_text(json.dumps(rubric), encoding="utf-8")
    with pytest.raises(GradingError, match="'cpu_s' of 't' must be a number of CPU seconds above 0"):
        load_rubric(tmp_path / "rubric.json")


def test_grading_passes_the_rubrics_cpu_seconds_to_the_learners_run(tmp_path, monkeypatch):
    import layerlab.grading.batch as batch

    seen = {}

    def fake_run(*args, **kw):
        seen.update(cpu_s=kw.get("cpu_s"), timeout_s=kw.get("timeout_s"))
        return {"x": 1.0}, ""

    monkeypatch.setattr(batch, "run_learner_code", fake_run)
    sub = tmp_path / "submitted" / "ann" / "t"
    _notebook(sub, "x = 1.0")
    rubric = _answers_rubric()
    rubric["assignments"]["t"]["cpu_s"] = 7
    batch.grade_submission(sub, assignment="t", rubric=rubric)
    assert seen == {"cpu_s": 7.0, "timeout_s": 60.0}
    del rubric["assignments"]["t"]["cpu_s"]
    batch.grade_submission(sub, assignment="t", rubric=rubric, timeout_s=30)
    assert seen == {"cpu_s": None, "timeout_s": 30.0}  # no cpu_s: the run's default (timeout + 10 s per process)


ATTACK_THE_SUPERVISOR = '''
import os, subprocess, sys
open("kept.txt", "w").write("written before the attack")
# each of two spinners keeps forking short-lived children that try to kill the supervisor (root; the worker's parent):
# a child forked while the supervisor sweeps the sandbox with kill(-1) can be missed by that sweep and live on for
# the next one, as `sh -c "kill -9 -1; pkill -9 -f layerlab"` did in a loaded CI run
spin = ("import os, signal, sys, time\\ns = int(sys.argv[1])\\nopen(sys.argv[2], 'w').close()\\nwhile True:\\n    pid = os.fork()\\n    if pid == 0:\\n"
        "        end = time.monotonic() + 0.05\\n        while time.monotonic() < end:\\n            try:\\n"
        "                os.kill(s, signal.SIGKILL)\\n            except PermissionError:\\n                pass\\n"
        "            except ProcessLookupError:\\n                break\\n        os._exit(0)\\n    os.waitpid(pid, 0)\\n")
import time
for k in range(2):
    subprocess.Popen([sys.executable, "-c", spin, str(os.getppid()), f"/tmp/spinning{k}"], start_new_session=True)
while not all(os.path.exists(f"/tmp/spinning{k}") for k in range(2)):  # the worker ends once both spin
    time.sleep(0.01)
'''


@pytest.mark.skipif(os.geteuid() != 0, reason="run as a normal user the supervisor shares the learner's uid (the trust model says so)")
def test_no_learner_process_lives_while_the_supervisor_holds_the_learners_uid(tmp_path):
    # run as root, the supervisor hands the files over as the learner's uid; had it taken that uid before the last
    # learner process was gone, a process spinning on kill(supervisor) would have ended it there, files and all
    for k in range(6):
        work = tmp_path / f"work{k}"
        nb = _notebook(work, ATTACK_THE_SUPERVISOR)
        values, log = run_learner_code(nb, work, timeout_s=20, sandbox=True)
        assert (work / "kept.txt").read_text() == "written before the attack", (k, log[-800:])


def test_the_cells_can_run_the_kits_ffmpeg_in_the_sandbox(tmp_path):
    # inside bubblewrap there is no audit hook: ffmpeg (reading MP3, a video's audio) is found on first use
    nb = _notebook(tmp_path / "work", (
        "import subprocess\n"
        "from layerlab.io.audio import ffmpeg_exe\n"
        "done = subprocess.run([ffmpeg_exe(), '-version'], capture_output=True, text=True)\n"
        "ran = [done.returncode, done.stdout.split(' ')[:2]]\n"))
    values, log = run_learner_code(nb, tmp_path / "work", timeout_s=60, sandbox=True, exports=["ran"])
    assert values["ran"] == [0, ["ffmpeg", "version"]], log


_HOLD_A_UID = """
import sys, time
from layerlab.grading import sandbox
print(sandbox._acquire_uid(), flush=True)
sys.stdin.readline()
"""


def test_two_grader_processes_never_give_two_sandboxes_the_same_uid():
    # two `layerlab grade` runs, or two Dask workers on one host, each hand out uids; a shared uid would share the
    # 128-process cap, so a fork bomb in one learner's sandbox could make a classmate's fork fail
    holders = [subprocess.Popen([sys.executable, "-c", _HOLD_A_UID], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                text=True) for _ in range(2)]
    try:
        held = [int(p.stdout.readline()) for p in holders]
        mine = sandbox._acquire_uid()
        try:
            assert len({*held, mine}) == 3, (held, mine)
        finally:
            sandbox._release_uid(mine)
        holders[0].kill()  # a grader that dies frees its uids
        holders[0].wait()
        again = sandbox._acquire_uid()
        sandbox._release_uid(again)
        assert again == held[0], (held, again)
    finally:
        for p in holders:
            with contextlib.suppress(OSError):
                p.stdin.close()
            p.wait(timeout=30)
