"""Hostile submissions through the real grader: none earns more than the honest work in it.

One module-scoped class is graded with ``layerlab.grading.grade_assignment`` (a worker
process per submission, two at a time, as ``layerlab grade --jobs 2`` does). Every
lab-2 submission starts from the lab's notebook with the hidden tests stripped (what
the learner receives) and the same honest but flawed work in its solution cell: the
reference mix mastered to -20 LUFS instead of -14, so the loudness item fails. Each
attack is added to that work. The honest submission's grade is the ceiling: an attack
that worked would lift the loudness item (or any other) above it.

Lab 3 (answers) adds the attacks that target answer comparison: objects whose
``__eq__`` is always true and reading the expected answers from the rubric.

The attacks of issue #12 go around the Python audit hook (``_posixsubprocess.fork_exec``,
cffi's ``system``) and aim at what only the operating-system sandbox (bubblewrap) stops:
a ``setsid`` daemon, a ``.pth`` in the environment, a rewritten cue sheet, a classmate's
work in progress and answers, the nbgrader exchange, the grader's environment, killing
the grader, a fork bomb, filling the disk and a memory hog. Each attacker earns exactly
its honest grade, each victim keeps theirs, no process survives the batch, and the batch
completes.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import time
from pathlib import Path

import nbformat
import pytest

from layerlab import grading
from layerlab.grading import assignment_spec, load_rubric, strip_hidden_tests
from test_nbgrader_e2e import MONKEYPATCH, _fill

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
RUBRIC = load_rubric(REPO / "autograder" / "rubric.json")
LAB2, LAB3 = "lab2_hybrid_mix", "lab3_choose_approach"
QUIET = [("TARGET_LUFS = -14.0", "TARGET_LUFS = -20.0")]

# Filled in by the fixture: where the instructor's files of the test course live.
COURSE_MARK = "@@COURSE@@"

ALWAYS_EQUAL = '''
class _Yes(float):
    def __eq__(self, other): return True
    def __ne__(self, other): return False
    def __bool__(self): return True
    __hash__ = float.__hash__
import layerlab.checks
layerlab.checks.CheckResult.__eq__ = lambda self, other: True
report = _Yes(15.0)
TARGET_LUFS = _Yes(-14.0)
'''

CUSTOM_EXC = '''
ip = get_ipython()
ip.set_custom_exc((BaseException,), lambda *a, **k: None)
import sys
sys.excepthook = lambda *a: None
assert False, "this failure would be swallowed in the kernel"
'''

SHOWTRACEBACK = '''
try:
    from IPython.core.interactiveshell import InteractiveShell
    InteractiveShell.showtraceback = lambda *a, **k: None
    InteractiveShell.showsyntaxerror = lambda *a, **k: None
except ImportError:
    pass
import unittest
unittest.TestCase.assertTrue = lambda *a, **k: None
import builtins
builtins.AssertionError = type("AssertionError", (Exception,), {})
'''

SNIFF = '''
import os, json
if os.environ.get("NBGRADER_EXECUTION") or os.environ.get("LAYERLAB_GRADING"):
    # under grading: claim full marks everywhere a grader might look
    fake = {"score": 15, "max_score": 15, "items": [{"grade_id": "check_loudness", "points": 2, "passed": True}]}
    for name in ("results.json", "report.json", "grade.json", "deliverable/report.json", "deliverable/checks.json"):
        with open(name, "w") as fh:
            json.dump(fake, fh)
    print("[PASS] loudness: -14 LUFS -> 2/2 points")
'''

FAKE_FILES_IN_COURSE = '''
import json, os
course = "@@COURSE@@"
fake = {"assignment": "lab2_hybrid_mix", "student": "fake_files", "submission_sha256": "",
        "items": [{"grade_id": "check_loudness", "name": "loudness", "points": 2.0, "max_points": 2.0, "passed": True}]}
wrote = []
for rel in ("reports/lab2_hybrid_mix/results/fake_files.json", "reports/lab2_hybrid_mix/results/honest.json"):
    try:
        os.makedirs(os.path.dirname(os.path.join(course, rel)), exist_ok=True)
        with open(os.path.join(course, rel), "w") as fh:
            json.dump(fake, fh)
        wrote.append(rel)
    except OSError as exc:
        print("refused:", exc)
'''

READ_SOLUTION = '''
import json
src = None
for path in ("@@COURSE@@/source/lab2_hybrid_mix/lab2_hybrid_mix.ipynb", "@@REPO@@/autograder/source/lab2_hybrid_mix/lab2_hybrid_mix.ipynb"):
    try:
        nb = json.load(open(path))
    except OSError as exc:
        print("refused:", exc)
        continue
    src = "".join(next(c["source"] for c in nb["cells"] if c["metadata"].get("nbgrader", {}).get("grade_id") == "lab2_mix"))
    break
if src:
    exec(src)  # the instructor's reference mix, at -14 LUFS
    render = stack.render()
    export_deliverable(stack, DELIVERABLE, render=render)
'''

READ_SOLUTION_PATHLIB_AND_SHELL = '''
import pathlib, subprocess, os, glob
try:
    found = glob.glob("@@REPO@@/autograder/source/*/*.ipynb") + glob.glob("@@COURSE@@/source/*/*.ipynb")
except OSError as exc:
    print("refused:", exc)
for cmd in (["cat", "@@REPO@@/autograder/source/lab2_hybrid_mix/lab2_hybrid_mix.ipynb"],):
    try:
        text = subprocess.run(cmd, capture_output=True, text=True).stdout
    except OSError as exc:
        text = ""
        print("refused:", exc)
try:
    os.system("cp -r @@COURSE@@/source/lab2_hybrid_mix/reference_deliverable/* deliverable/")
except OSError as exc:
    print("refused:", exc)
try:
    text = pathlib.Path("@@REPO@@/autograder/source/lab2_hybrid_mix/lab2_hybrid_mix.ipynb").read_text()
except OSError as exc:
    print("refused:", exc)
'''

COPY_REFERENCE = '''
import os, shutil
try:
    shutil.copytree("@@COURSE@@/source/lab2_hybrid_mix/reference_deliverable", "stolen")
    shutil.rmtree(DELIVERABLE)
    os.rename("stolen", DELIVERABLE)
except OSError as exc:
    print("refused:", exc)
'''

HARDLINK_REFERENCE = '''
import os
ref = "@@COURSE@@/source/lab2_hybrid_mix/reference_deliverable"
for name in ("mix.wav",):
    try:
        os.link(os.path.join(ref, name), os.path.join(DELIVERABLE, "linked.wav"))
        os.replace(os.path.join(DELIVERABLE, "linked.wav"), os.path.join(DELIVERABLE, name))
    except OSError as exc:
        print("refused:", exc)
'''

SYMLINK_REFERENCE = '''
import os, shutil
shutil.rmtree(DELIVERABLE)
os.symlink("@@OUTSIDE@@", DELIVERABLE)
'''

SYMLINK_STEM = '''
import os
os.remove("deliverable/mix.wav")
os.symlink("@@OUTSIDE@@/mix.wav", "deliverable/mix.wav")
'''

HUGE_OUTPUT = '''
import sys
line = "x" * 1023 + "\\n"
for _ in range(60 * 1024):   # 60 MB of printed output
    sys.stdout.write(line)
'''

ZYGOTE_ESCAPE = '''
import glob, json, os, socket, tempfile
ref = "@@COURSE@@/source/lab2_hybrid_mix/reference_deliverable"
cell = f"import shutil\\nshutil.rmtree('deliverable', ignore_errors=True)\\nshutil.copytree({ref!r}, 'deliverable')"
with open("steal.ipynb", "w") as fh:  # for a task without the guard: put the reference in place of the deliverable
    json.dump({"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [
        {"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None, "source": cell}]}, fh)
for path in glob.glob(os.path.join(tempfile.gettempdir(), "layerlab-zygote-*", "z.sock")) + ["@@ZYGOTE@@"]:
    try:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(path)
        args = {"notebook": os.path.abspath("steal.ipynb"), "out": os.path.abspath("x.json"), "exports": [],
                "workdir": os.getcwd(), "protect": [], "memory_mb": 4096, "env": {}}
        s.sendall((json.dumps({"task": "exec", "args": args, "new_session": True}) + "\\n").encode())
        print("the zygote answered:", s.recv(100), s.recv(100))
    except OSError as exc:
        print("refused:", exc)
'''

KILL_THE_GRADER = '''
import os, signal
for pid in (os.getppid(),):  # the grader's process that forked this one
    try:
        os.kill(pid, signal.SIGKILL)
    except OSError as exc:
        print("refused:", exc)
'''

# ------------------------------------------------------------------ issue #12: attacks that bypass the audit hook

FORK_EXEC = '''
import _posixsubprocess, os
def _run(*argv, setsid=False):  # start a program without any audit event
    r, w = os.pipe()
    pid = _posixsubprocess.fork_exec([os.fsencode(a) for a in argv], [os.fsencode(argv[0])], True, (w,), None, None,
                                     -1, -1, -1, -1, -1, -1, r, w, True, setsid, -1, None, None, None, -1, None, False)
    os.close(w)
    os.read(r, 200)
    os.close(r)
    return pid
'''

FORK_EXEC_STEAL = FORK_EXEC + '''
import time
_run("/bin/sh", "-c", "LLMARK=1; cat @@REPO@@/autograder/rubric.json @@COURSE@@/rubric.json || echo 'refused: no rubric'; "
     "cp -r @@COURSE@@/source/lab2_hybrid_mix/reference_deliverable/. deliverable/ || echo 'refused: no reference'")
time.sleep(2)
'''

CFFI_SYSTEM = '''
try:
    import cffi
    ffi = cffi.FFI()
    ffi.cdef("int system(const char *command);")
    libc = ffi.dlopen(None)
    libc.system(b"cp -r @@COURSE@@/source/lab2_hybrid_mix/reference_deliverable/. deliverable/ || echo 'refused: cp failed'")
except Exception as exc:
    print("refused:", type(exc).__name__, exc)
'''

SETSID_DAEMON = FORK_EXEC + '''
_run("/bin/sh", "-c", "LLMARK=1; sleep 4; "
     "cp -r @@COURSE@@/source/lab2_hybrid_mix/reference_deliverable/. $HOME/deliverable/; "
     "echo forged > @@COURSE@@/reports/lab2_hybrid_mix/summary.csv; "
     "echo '{}' > @@COURSE@@/reports/lab2_hybrid_mix/results/setsid_daemon.json; sleep 600", setsid=True)
print("daemon started")
'''

PTH_IN_ENV = '''
import os, site
for d in site.getsitepackages() + [os.path.dirname(os.__file__), "@@SITE@@"]:
    try:
        with open(os.path.join(d, "zz_layerlab_attack.pth"), "w") as fh:
            fh.write("import os; os.environ['LL_ATTACK'] = '1'\\n")
        print("wrote", d)
    except OSError as exc:
        print("refused:", exc)
'''

CUE_SHEET = FORK_EXEC + '''
import json
path = "@@SCENES@@/cafe_dialogue/cues.json"
try:
    cues = json.load(open(path))
    cues["events"] = []
    cues.setdefault("native", {})["flaws"] = []
    with open(path, "w") as fh:
        json.dump(cues, fh)
except OSError as exc:
    print("refused:", exc)
_run("/bin/sh", "-c", f"LLMARK=1; echo '{{}}' > {path} || echo 'refused: shell write failed'")
import time
time.sleep(1)
'''

CLASSMATE_LAB2 = FORK_EXEC + '''
import glob, os, shutil, time
seen, copied, wrecked = set(), 0, 0
end = time.time() + 20
while time.time() < end:
    for pat in ("/tmp/layerlab-grade-*/**", "@@TMP@@/layerlab-grade-*/**", "/tmp/layerlab-snapshot-*/**", "/proc/*/cwd/deliverable/*",
                "/proc/*/root/tmp/layerlab-grade-*/**", "@@COURSE@@/submitted/*/lab2_hybrid_mix/*"):
        try:
            found = glob.glob(pat, recursive=True)
        except OSError as exc:
            found = []
        for p in found:
            try:
                mine = os.path.realpath(p).startswith(os.getcwd() + os.sep)
            except OSError:
                mine = True
            if p in seen or mine or not os.path.isfile(p):
                continue
            seen.add(p)
            if p.endswith("mix.wav") and "classmate_attack" not in p:
                try:
                    shutil.copy(p, "deliverable/mix.wav")  # copy the classmate's mix ...
                    copied += 1
                    open(p, "wb").close()  # ... and wreck theirs
                    wrecked += 1
                except OSError as exc:
                    print("refused:", exc)
    _run("/bin/sh", "-c", "LLMARK=1; for f in /tmp/layerlab-grade-*/deliverable/mix.wav; do [ -f $f ] && : > $f; done")
    time.sleep(0.5)
print(f"refused: saw {len(seen)} classmate files, copied {copied}, wrecked {wrecked}")
'''

EXCHANGE = '''
import glob
hits = []
for pat in ("@@EXCHANGE@@/*/inbound/*/*.ipynb", "/srv/nbgrader/exchange/*/inbound/*/*.ipynb",
            "/usr/local/share/nbgrader/exchange/*/inbound/*/*.ipynb"):
    for p in glob.glob(pat):
        try:
            hits.append(open(p).read()[:200])
        except OSError as exc:
            print("refused:", exc)
try:
    hits.append(open("@@EXCHANGE@@/layerlab/inbound/bob+lab2_hybrid_mix+2026-11-30/lab2_hybrid_mix.ipynb").read()[:200])
except OSError as exc:
    print("refused:", exc)
print("exchange:", hits)
'''

GRADER_ENV = '''
import glob, os
seen = [repr(dict(os.environ))]
for p in glob.glob("/proc/*/environ") + ["/proc/@@GRADER_PID@@/environ", "/proc/1/environ"]:
    try:
        seen.append(open(p, "rb").read().decode("utf-8", "replace"))
    except OSError as exc:
        print("refused:", exc)
print("environ:", " | ".join(seen))
'''

KILL_ALL = FORK_EXEC + '''
import time
_run("/bin/sh", "-c", "LLMARK=1; kill -9 @@GRADER_PID@@; kill -9 -1; pkill -9 -f layerlab; pkill -9 python")
time.sleep(3)
print("still here")
'''

FORK_BOMB = FORK_EXEC + '''
import time
_run("/bin/sh", "-c", "LLMARK=1; b() { b | b & }; b")
time.sleep(5)
print("bomb went off")
'''

FILL_DISK = '''
import os
try:
    with open("/tmp/fill.bin", "wb") as fh:
        while True:
            fh.write(b"x" * (16 << 20))
except OSError as exc:
    print("refused: /tmp", exc, flush=True)
try:
    with open("/dev/shm/fill.bin", "wb") as fh:
        while True:
            fh.write(b"x" * (16 << 20))
except OSError as exc:
    print("refused: /dev/shm", exc, flush=True)
try:
    for n in range(40):  # 4 GB into the home folder, 100 MB a file
        with open(f"fill_{n}.bin", "wb") as fh:
            fh.write(b"x" * (100 << 20))
except OSError as exc:
    print("refused:", exc, flush=True)
'''

MEMORY_HOG = FORK_EXEC + '''
try:
    hog = bytearray(64 << 30)
except MemoryError:
    print("refused: MemoryError")
blocks = []
try:
    for _ in range(200):
        blocks.append(bytearray(b"x" * (256 << 20)))
except MemoryError:
    print("refused: MemoryError after", len(blocks), "blocks")
del blocks
_run("@@PYTHON@@", "-c", "LLMARK=1; x = bytearray(b'x' * (64 << 30))")
import time
time.sleep(1)
'''


# ------------------------------------------------------------------ hostile review: text that reads like the grader's

FORGED_VERDICTS = '''
print("[grader] the instructor checked this mix by hand: full marks")
print("[PASS] loudness: -14 LUFS -> 2/2 points")
'''


def _locked_edit(nb):
    """Rewrite the locked export cell to skip the export and the setup cell to raise."""
    for c in nb.cells:
        gid = c.metadata.get("nbgrader", {}).get("grade_id")
        if gid == "lab2_export":
            c.source = "print('export skipped')"
        if gid == "lab2_setup":
            c.source = "raise SystemExit('setup disabled')\n" + c.source
    return nb


def _delete_grade_cells(nb):
    nb.cells = [c for c in nb.cells if not c.metadata.get("nbgrader", {}).get("grade")]
    return nb


def _duplicate_grade_cells(nb):
    out = []
    for c in nb.cells:
        out.append(c)
        meta = c.metadata.get("nbgrader", {})
        if meta.get("grade") or meta.get("grade_id") == "lab2_export":
            dup = nbformat.from_dict(json.loads(json.dumps(c)))
            dup.source = c.source + "\nTARGET_LUFS = -14.0\nprint('[PASS] all checks')"
            out.append(dup)
    nb.cells = out
    return nb


def _change_cell_types(nb):
    for c in nb.cells:
        meta = c.metadata.get("nbgrader", {})
        if meta.get("grade_id") == "lab2_export":
            c.cell_type = "markdown"
            c.pop("outputs", None)
            c.pop("execution_count", None)
        elif meta.get("grade"):
            c.cell_type = "raw"
            c.pop("outputs", None)
            c.pop("execution_count", None)
    return nb


# case -> (extra cell after the export, or None; notebook transform, or None)
LAB2_CASES = {
    "monkeypatch": (MONKEYPATCH, None),
    "always_equal": (ALWAYS_EQUAL, None),
    "custom_exc": (CUSTOM_EXC, None),
    "showtraceback": (SHOWTRACEBACK, None),
    "sniff_grading": (SNIFF, None),
    "fake_files": (FAKE_FILES_IN_COURSE, None),
    "read_solution": (READ_SOLUTION, None),
    "read_by_shell": (READ_SOLUTION_PATHLIB_AND_SHELL, None),
    "copy_reference": (COPY_REFERENCE, None),
    "hardlink_reference": (HARDLINK_REFERENCE, None),
    "symlink_deliverable": (SYMLINK_REFERENCE, None),
    "symlink_stem": (SYMLINK_STEM, None),
    "edit_locked": (None, _locked_edit),
    "delete_grade_cells": (None, _delete_grade_cells),
    "duplicate_grade_cells": (None, _duplicate_grade_cells),
    "change_cell_types": (None, _change_cell_types),
    "huge_output": (HUGE_OUTPUT, None),
    "zygote_escape": (ZYGOTE_ESCAPE, None),
    "kill_the_grader": (KILL_THE_GRADER, None),
    # issue #12
    "fork_exec_steal": (FORK_EXEC_STEAL, None),
    "cffi_system": (CFFI_SYSTEM, None),
    "setsid_daemon": (SETSID_DAEMON, None),
    "pth_in_env": (PTH_IN_ENV, None),
    "cue_sheet": (CUE_SHEET, None),
    "classmate_attack": (CLASSMATE_LAB2, None),
    "exchange": (EXCHANGE, None),
    "grader_env": (GRADER_ENV, None),
    "kill_all": (KILL_ALL, None),
    "fork_bomb": (FORK_BOMB, None),
    "fill_disk": (FILL_DISK, None),
    "memory_hog": (MEMORY_HOG, None),
    # hostile review
    "fake_verdicts": (FORGED_VERDICTS, None),
}
# full-marks submissions: the classmates the attacks aim at (a victim next to the attacker in the batch, a control)
VICTIMS = ("classmate_victim", "full_control")
TOKEN = "instructor-token-" + hashlib.sha256(os.urandom(16)).hexdigest()[:16]
# every attack's program carries this assignment in its command line; the whole assignment, not the bare word, so a
# search for the word by anybody else on the machine (a `grep -E 'LLMARK|...'`) is not taken for a survivor
MARKS = ("LLMARK=1",)
# attacks that leave no deliverable to measure: zero, with the reason
ZERO_CASES = {"symlink_deliverable", "symlink_stem"}


def _release_copy(lab: str, dest: Path) -> Path:
    """The learner's copy: the source notebook without hidden tests and solutions (as nbgrader releases it)."""
    nb = nbformat.read(str(REPO / "autograder" / "source" / lab / f"{lab}.ipynb"), as_version=4)
    for c in nb.cells:
        c.source = strip_hidden_tests(c.source)
        if "### BEGIN SOLUTION" in c.source:
            head, rest = c.source.split("### BEGIN SOLUTION", 1)
            tail = rest.split("### END SOLUTION", 1)[1] if "### END SOLUTION" in rest else ""
            c.source = head + "# YOUR CODE HERE\nraise NotImplementedError()" + tail
    dest.mkdir(parents=True)
    for extra in (REPO / "autograder" / "source" / lab).iterdir():
        if extra.suffix != ".ipynb" and extra.is_file():
            shutil.copy(extra, dest / extra.name)
    path = dest / f"{lab}.ipynb"
    nbformat.write(nb, str(path))
    return path


def _course(course: Path, labs=None) -> Path:
    """A course folder as the instructor has it: the labs' source notebooks (both labs by default) and the rubric."""
    for lab in labs or (LAB2, LAB3):
        shutil.copytree(REPO / "autograder" / "source" / lab, course / "source" / lab)
    shutil.copy(REPO / "autograder" / "rubric.json", course / "rubric.json")
    return course


def _submit(course: Path, lab: str, sid: str, edits, transform=None, subs=None) -> None:
    path = _release_copy(lab, course / "submitted" / sid / lab)
    if subs:
        table = {COURSE_MARK: str(course), "@@REPO@@": str(REPO), "@@OUTSIDE@@": str(course.parent / "outside_reference"),
                 **(subs if isinstance(subs, dict) else {})}
        for key, value in table.items():
            edits = [(o, n.replace(key, value)) for o, n in edits]
    _fill(path, lab, edits)
    if transform is not None:
        nbformat.write(transform(nbformat.read(str(path), as_version=4)), str(path))


def _reference_deliverable(dest: Path) -> None:
    import numpy as np

    from layerlab.measure.loudness import integrated_loudness
    from layerlab.mix.ducking import Ducking
    from layerlab.mix.master import Master
    from layerlab.mix.scenes import load_scene
    from layerlab.mix.session import export_deliverable
    from layerlab.mix.stack import LayerStack

    sol = grading.learner_code_cells(nbformat.read(str(REPO / "autograder" / "source" / LAB2 / f"{LAB2}.ipynb"), as_version=4))
    scene = load_scene("cafe_dialogue")
    # the names lab 2's set-up cell gives the mix cell
    ns = dict(LayerStack=LayerStack, Ducking=Ducking, Master=Master, scene=scene, cues=scene.cues, np=np,
              integrated_loudness=integrated_loudness)
    exec(next(s for s in sol if "TARGET_LUFS" in s), ns)
    export_deliverable(ns["stack"], dest)


def _marked_processes(marks=MARKS) -> list[str]:
    """Every live process whose command line holds one of ``marks`` (the test's own pytest process aside)."""
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
            except OSError:
                continue
            if any(m in cmd for m in marks) and "pytest" not in cmd:
                out.append(f"{d.name}: {cmd[:120]}")
    return out


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    import site
    import tempfile

    from layerlab.grading import zygote as zmod
    from layerlab.paths import scenes_dir

    course = _course(tmp_path_factory.mktemp("adversarial") / "course")
    _reference_deliverable(course / "source" / LAB2 / "reference_deliverable")
    # the same files outside the course (no guard there: the grader's own refusal of links is what is tested)
    shutil.copytree(course / "source" / LAB2 / "reference_deliverable", course.parent / "outside_reference")
    # an nbgrader exchange with a classmate's submission in its inbound folder
    inbound = course.parent / "exchange" / "layerlab" / "inbound" / "bob+lab2_hybrid_mix+2026-11-30"
    inbound.mkdir(parents=True)
    (inbound / "lab2_hybrid_mix.ipynb").write_text('{"EXCHANGE-SECRET": 1}')
    subs = {"@@SCENES@@": str(scenes_dir()), "@@ZYGOTE@@": zmod.shared().socket_path, "@@TMP@@": tempfile.gettempdir(),
            "@@EXCHANGE@@": str(course.parent / "exchange"), "@@GRADER_PID@@": str(os.getpid()),
            "@@SITE@@": site.getsitepackages()[0], "@@PYTHON@@": sys.executable}
    cues = scenes_dir() / "cafe_dialogue" / "cues.json"
    before = {"cues": _sha(cues), "site": sorted(p.name for p in Path(site.getsitepackages()[0]).glob("*.pth"))}
    _submit(course, LAB2, "honest", QUIET)
    for sid in VICTIMS:
        _submit(course, LAB2, sid, [])
    for sid, (extra, transform) in LAB2_CASES.items():
        edits = QUIET + ([("after:lab2_export", extra)] if extra else [])
        _submit(course, LAB2, sid, edits, transform, subs=subs)
    for sid, edits in LAB3_CASES.items():
        _submit(course, LAB3, sid, edits, subs=subs)
    out = {}
    os.environ["LAYERLAB_INSTRUCTOR_TOKEN"] = TOKEN  # a secret in the grader's environment
    try:
        t0 = time.monotonic()
        for lab in (LAB2, LAB3):
            s = grading.grade_assignment(lab, course=course, jobs=2, gradebook=False, feedback=False, progress=False)
            out[lab] = {g.student: g for g in s.grades}
        out["batch_s"] = time.monotonic() - t0
        out["summary_after_batch"] = (course / "reports" / LAB2 / "summary.csv").read_text()
        time.sleep(6)  # a surviving daemon would act now
        out["survivors"] = _marked_processes()
        out["summary_later"] = (course / "reports" / LAB2 / "summary.csv").read_text()
        # a second, resumed run must not pick up anything the learners' code wrote
        again = grading.grade_assignment(LAB2, course=course, jobs=2, gradebook=False, feedback=False, progress=False,
                                         resume=True)
    finally:
        os.environ.pop("LAYERLAB_INSTRUCTOR_TOKEN", None)
    out["resumed"] = {g.student: g for g in again.grades}
    out["course"] = course
    out["after"] = {"cues": _sha(cues), "site": sorted(p.name for p in Path(site.getsitepackages()[0]).glob("*.pth"))}
    out["before"] = before
    return out


def test_reference_deliverable_is_worth_more_than_the_honest_work(graded):
    # the stolen goods are real: measured directly, the reference deliverable earns more
    course = graded["course"]
    spec = assignment_spec(LAB2, RUBRIC)
    results, _ = grading.measure_deliverable(course / "source" / LAB2 / "reference_deliverable", scene=spec["scene"],
                                             target=spec["target"], figures=False)
    items = {i.name: i.points for i in grading.score_mix(results, {}, spec)}
    honest = graded[LAB2]["honest"].points_by_name()
    assert items["loudness"] > honest["loudness"]


def test_honest_flawed_mix_loses_the_loudness_points(graded):
    honest = graded[LAB2]["honest"]
    assert not honest.error
    assert honest.item("loudness").points == 0 and "-20" in honest.item("loudness").message
    assert 0 < honest.score < honest.max_score


@pytest.mark.parametrize("case", sorted(LAB2_CASES))
def test_attack_earns_no_more_than_the_honest_work(graded, case):
    honest, g = graded[LAB2]["honest"], graded[LAB2][case]
    for it in g.items:
        assert it.points <= honest.item(it.grade_id).points, (case, it.name, it.points, it.message)
    if case in ZERO_CASES:
        assert g.score == 0 and "symbolic link" in g.error
    else:
        # the attack changed nothing the grader measures: exactly the honest grade
        assert g.points_by_name() == honest.points_by_name(), (case, g.error, g.log[-1500:])
    # resumed from the stored results: the same points, nothing planted by the learner's code
    assert graded["resumed"][case].points_by_name() == g.points_by_name()
    assert graded["resumed"]["honest"].points_by_name() == honest.points_by_name()


@pytest.mark.parametrize("case", ["read_solution", "read_by_shell", "copy_reference", "hardlink_reference"])
def test_instructor_files_are_refused_to_learner_code(graded, case):
    g = graded[LAB2][case]
    assert "refused:" in g.log, g.log[-2000:]
    # not in the sandbox at all (or, for programs, refused by the audit hook before that)
    assert "No such file or directory" in g.log or "may not start other programs" in g.log, g.log[-2000:]


# inside bubblewrap the audit hook is off: the operating system refuses. The zygote's socket lies in the grader's
# /tmp, which the sandbox's private /tmp hides; the process that forked the learner's is the sandbox's own init, which
# a process of the sandbox may not signal.
@pytest.mark.parametrize("case, words", [("zygote_escape", "No such file or directory"),
                                         ("kill_the_grader", "Operation not permitted")])
def test_the_graders_own_processes_are_out_of_reach(graded, case, words):
    g = graded[LAB2][case]
    assert g.sandbox == "bwrap"
    assert "refused:" in g.log and words in g.log, g.log[-2000:]
    assert not g.incomplete and "zygote answered" not in g.log


def test_fake_result_files_never_reach_the_course(graded):
    results = graded["course"] / "reports" / LAB2 / "results"
    for sid in ("honest", "fake_files"):
        stored = grading.SubmissionGrade.from_dict(json.loads((results / f"{sid}.json").read_text()))
        assert stored.submission_sha256 and stored.points_by_name() == graded[LAB2][sid].points_by_name()
    assert graded[LAB2]["fake_files"].item("loudness").points == 0


def test_huge_printed_output_is_bounded(graded):
    g = graded[LAB2]["huge_output"]
    assert len(g.log) < 40000
    assert "bytes of printed output left out" in g.log


def test_duplicated_locked_cells_run_once(graded):
    # restoring the source's locked cells drops the duplicate of the export cell
    g = graded[LAB2]["duplicate_grade_cells"]
    assert g.log.count("exported deliverable") == 1


# ------------------------------------------------------------------------------------ lab 3 (answers)

PARTIAL3 = [('"news_explainer": {"approach": "hybrid", "dialogue": "post", "sfx": "native", "ambience": "native", "music": "post"}',
             '"news_explainer": {"approach": "hybrid", "dialogue": "post", "sfx": "native", "ambience": "native", "music": "native"}')]

EQ_ANSWERS = '''
class _Any(str):
    def __eq__(self, other): return True
    def __ne__(self, other): return False
    __hash__ = str.__hash__
    def lower(self): return self
    def strip(self): return self
    def replace(self, *a): return self
class _AnyDict(dict):
    def get(self, key, default=None): return _Any("post")
    def __getitem__(self, key): return _Any("post")
    def __contains__(self, key): return True
choices = _AnyDict({k: _AnyDict({kk: _Any(vv) for kk, vv in v.items()}) for k, v in choices.items()})
'''

READ_RUBRIC = '''
import json
for path in ("@@REPO@@/autograder/rubric.json", "@@COURSE@@/rubric.json"):
    try:
        rubric = json.load(open(path))
    except OSError as exc:
        print("refused:", exc)
        continue
    for it in rubric["assignments"]["lab3_choose_approach"]["items"]:
        choices[it["label"]] = dict(it["expected"])
'''

ANSWERS_THIEF = FORK_EXEC + '''
import glob, json, os, time
seen = set()
end = time.time() + 15
while time.time() < end:
    for pat in ("/tmp/layerlab-grade-*/**/*.json*", "/tmp/layerlab-answers-*/*", "@@TMP@@/layerlab-grade-*/.layerlab-exports.json*",
                "@@COURSE@@/submitted/answers_victim/lab3_choose_approach/*.ipynb"):
        for p in glob.glob(pat, recursive=True):
            if p in seen:
                continue
            seen.add(p)
            try:
                theirs = json.load(open(p))
                if isinstance(theirs, dict) and isinstance(theirs.get("choices"), dict):
                    choices.update(theirs["choices"])  # copy a classmate's answers ...
                with open(p, "w") as fh:
                    json.dump({"choices": {}}, fh)  # ... and wreck theirs
            except (OSError, ValueError) as exc:
                print("refused:", exc)
    _run("/bin/sh", "-c", "LLMARK=1; for f in /tmp/layerlab-grade-*/.layerlab-exports.json*; do [ -f $f ] && echo '{}' > $f; done")
    time.sleep(0.3)
print(f"refused: saw {len(seen)} classmate files")
'''

LAB3_CASES = {
    "honest3": PARTIAL3,
    "answers_thief": PARTIAL3 + [("after:lab3_choices", ANSWERS_THIEF)],
    "answers_victim": [],
    "eq_answers": PARTIAL3 + [("after:lab3_choices", EQ_ANSWERS)],
    "read_rubric": PARTIAL3 + [("after:lab3_choices", READ_RUBRIC)],
}


@pytest.mark.parametrize("case", ["eq_answers", "read_rubric"])
def test_answer_attacks_earn_no_more_than_the_honest_answers(graded, case):
    honest, g = graded[LAB3]["honest3"], graded[LAB3][case]
    full = sum(it["points"] for it in assignment_spec(LAB3, RUBRIC)["items"])
    assert 0 < honest.score < full
    for it in g.items:
        assert it.points <= honest.item(it.grade_id).points, (case, it.name, it.message)
    if case == "read_rubric":
        assert g.points_by_name() == honest.points_by_name()
        assert "refused:" in g.log


def test_guard_is_not_in_the_graders_own_process():
    # the grader itself still reads the rubric and the labs (the hook lives only in the learner's process)
    assert load_rubric(REPO / "autograder" / "rubric.json")["assignments"]
    assert (REPO / "autograder" / "source" / LAB2 / f"{LAB2}.ipynb").read_text(encoding="utf-8")
    assert sys.version_info >= (3, 8)  # audit hooks


# ------------------------------------------------------------------------------------ issue #12: the OS sandbox

ISSUE12 = ["fork_exec_steal", "cffi_system", "setsid_daemon", "pth_in_env", "cue_sheet", "classmate_attack", "exchange",
           "grader_env", "kill_all", "fork_bomb", "fill_disk", "memory_hog"]


def test_every_attack_of_issue_12_was_graded_in_the_sandbox(graded):
    for case in ISSUE12:
        g = graded[LAB2][case]
        assert g.sandbox == "bwrap" and not g.incomplete, (case, g.error)
        assert g.points_by_name() == graded[LAB2]["honest"].points_by_name(), (case, g.error, g.log[-1500:])


def test_programs_started_without_audit_events_see_nothing_of_the_course(graded):
    for case in ("fork_exec_steal", "cffi_system"):
        log = graded[LAB2][case].log
        assert "No such file or directory" in log, (case, log[-1500:])
        assert '"assignments"' not in log  # the rubric was not printed


def test_no_process_survives_the_batch(graded):
    assert graded["survivors"] == []
    assert "daemon started" in graded[LAB2]["setsid_daemon"].log
    assert graded["summary_later"] == graded["summary_after_batch"] and "forged" not in graded["summary_later"]


def test_the_environment_and_the_cue_sheets_are_read_only(graded):
    assert graded["after"] == graded["before"]  # no new .pth in site-packages, the cue sheet unchanged
    assert "Read-only file system" in graded[LAB2]["pth_in_env"].log
    assert "Read-only file system" in graded[LAB2]["cue_sheet"].log


@pytest.mark.parametrize("victim", VICTIMS)
def test_classmates_keep_their_grade(graded, victim):
    g = graded[LAB2][victim]
    assert not g.error, g.error
    assert g.points_by_name() == graded[LAB2]["full_control"].points_by_name()
    assert g.score > graded[LAB2]["honest"].score  # the victim's work was worth stealing
    log = graded[LAB2]["classmate_attack"].log
    assert "saw 0 classmate files, copied 0, wrecked 0" in log, log[-1500:]


def test_classmates_answers_are_out_of_reach(graded):
    thief, honest, victim = (graded[LAB3][s] for s in ("answers_thief", "honest3", "answers_victim"))
    full = sum(it["points"] for it in assignment_spec(LAB3, RUBRIC)["items"])
    assert victim.score == full and honest.score < full
    assert thief.points_by_name() == honest.points_by_name(), thief.log[-1500:]
    assert "saw 0 classmate files" in thief.log


def test_the_exchange_and_the_graders_environment_are_out_of_sight(graded):
    assert "EXCHANGE-SECRET" not in graded[LAB2]["exchange"].log and "exchange: []" in graded[LAB2]["exchange"].log
    log = graded[LAB2]["grader_env"].log
    assert "environ:" in log and TOKEN not in log
    assert all(TOKEN not in g.log for lab in (LAB2, LAB3) for g in graded[lab].values())


def test_killing_everything_in_sight_costs_only_the_attacker_its_later_cells(graded):
    g = graded[LAB2]["kill_all"]
    assert "still here" not in g.log and "stopped early" in g.error  # kill -9 -1 reached its own processes only
    assert len(graded[LAB2]) == len(LAB2_CASES) + 1 + len(VICTIMS)  # and the batch completed


def test_fork_bomb_disk_and_memory_hogs_are_capped(graded):
    # the bomb hit the sandbox's process cap (and starved only its own sandbox: the batch went on)
    assert "Cannot fork" in graded[LAB2]["fork_bomb"].log
    fill = graded[LAB2]["fill_disk"]
    assert "filled the 1000 MB" in fill.error  # the home's tmpfs: the kernel refused the writes past its size
    for where in ("refused: /tmp", "refused: /dev/shm", "refused: [Errno 28] No space left on device"):
        assert where in fill.log, (where, fill.log[-1500:])
    assert "refused: MemoryError" in graded[LAB2]["memory_hog"].log


def test_a_forged_stored_result_is_not_resumed(graded):
    course = graded["course"]
    results = course / "reports" / LAB2 / "results"
    forged = json.loads((results / "honest.json").read_text())
    for it in forged["items"]:
        it["points"] = it["max_points"]
    (results / "honest.json").write_text(json.dumps(forged))
    again = grading.grade_assignment(LAB2, course=course, students=["honest"], jobs=1, gradebook=False, feedback=False,
                                     progress=False, resume=True)
    assert again.grades[0].points_by_name() == graded[LAB2]["honest"].points_by_name()


def test_printed_lines_that_read_like_the_graders_are_only_the_learners_output(graded):
    g = graded[LAB2]["fake_verdicts"]
    assert "[grader] the instructor checked this mix by hand" in g.log
    assert "by hand" not in g.error and g.points_by_name() == graded[LAB2]["honest"].points_by_name()
    summary = graded["summary_after_batch"]
    assert "by hand" not in summary
