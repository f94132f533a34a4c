"""Eighth hostile review (issues #12, #14): new attacks, each a real submission graded by ``grade_assignment`` in bwrap.

One module-scoped class of lab-2 and lab-3 submissions is graded as ``layerlab grade --jobs 2`` grades it.
Each attack starts from the same honest work as ``test_adversarial.py`` (lab 2 mastered to -20 LUFS, lab 3 with one
wrong key) and adds one attack; each must earn exactly its honest grade, classmates keep theirs, the batch
completes (reports and summary written) and no process survives it.

The attacks: a user namespace of the learner's own with a tmpfs outside the disk cap; signals, ptrace and the
supervisor's descriptors through ``/proc``; deliverable file names that are not UTF-8, hold a newline or are 255
bytes long, a FIFO and a hard link among them; an answer holding text that is not Unicode (a lone surrogate);
answers written by a child process after the notebook's code ended; an exported-answers file nested too deep to
parse; a WAV whose header declares 64 channels; a session.json nested 100,000 deep with a key twice and numbers past
any float; a cell that claims to be a locked grade cell, with 30 MB of output; submitted files whose names are not
UTF-8 or hold a newline, and FIFOs; inherited descriptors; 150,000 empty files in each tmpfs. Lab 2 is then graded again with ``--resume``.
"""

from __future__ import annotations

import os
import time

import pytest

from layerlab import grading
from layerlab.grading import assignment_spec
from test_adversarial import FORK_EXEC, LAB2, LAB3, PARTIAL3, QUIET, RUBRIC, _course, _marked_processes, _submit

pytestmark = pytest.mark.slow

MARK = "LLMARK8"
FILES_TRIED = 150_000  # empty files tried in each tmpfs
MB_OUTSIDE = 1140  # more than the home's 1000 MB cap, in 190 MB files (under the 200 MB file-size limit)

# a user namespace of its own (root there; a fresh program, so its uid map can be written), a mount namespace, and a
# tmpfs as large as it likes: RAM that neither the home's disk cap nor RLIMIT_AS counts
USERNS_TMPFS = f'''
import subprocess
_sh = ("mkdir -p /tmp/own_fs && mount -t tmpfs -o size=8g none /tmp/own_fs && "
       "for i in $(seq {MB_OUTSIDE // 190}); do head -c {190 << 20} /dev/zero > /tmp/own_fs/f$i || break; done; "
       "du -sm /tmp/own_fs | cut -f1")
_r = subprocess.run(["/usr/bin/unshare", "-Urm", "/bin/sh", "-c", _sh], capture_output=True, text=True)
_mb = int(_r.stdout.split()[-1]) if _r.stdout.split() and _r.stdout.split()[-1].isdigit() else 0
print(f"{MARK}-USERNS wrote {{_mb}} MB outside the disk cap ({{_r.stderr.strip()[:160]}})", flush=True)
'''

# the sandbox's init (bwrap, pid 1) and supervisor (pid 2) run as root; the learner's uid is another
REACH_SUPERVISOR = f'''
import ctypes, os, signal
_libc = ctypes.CDLL(None, use_errno=True)
_got = []
for _p in (1, 2):
    for _sig in (signal.SIGSTOP, signal.SIGKILL):
        try:
            os.kill(_p, _sig); _got.append(f"kill {{_p}} {{_sig.name}}")
        except OSError:
            pass
    if _libc.ptrace(16, _p, None, None) == 0:  # PTRACE_ATTACH
        _got.append(f"ptrace {{_p}}")
    for _f in ("mem", "environ", "fd/0", "fd/3", "fd/4", "fd/5", "fd/6", "fd/7"):
        try:
            _fd = os.open(f"/proc/{{_p}}/{{_f}}", os.O_WRONLY)
            os.write(_fd, b"S" + (16).to_bytes(4, "big") + b'{{"returncode":0}}')
            _got.append(f"write /proc/{{_p}}/{{_f}}")
        except OSError:
            pass
_fds = os.listdir("/proc/self/fd")  # inherited descriptors: only stdin (/dev/null) and the output pipe
_got += [f"fd {{_n}} -> {{os.readlink(f'/proc/self/fd/{{_n}}')}}" for _n in _fds if _n not in ("0", "1", "2") and
         os.path.exists(f"/proc/self/fd/{{_n}}")]
print(f"{MARK}-REACH {{_got}}", flush=True)
'''

# empty files: each costs about 1 KB of kernel memory and nothing of a tmpfs's size (a tmpfs holds half the RAM's
# pages in files by default: 9 GB of kernel memory in the home, /tmp and /dev/shm of a 24 GB machine)
MANY_FILES = f'''
import os
_made = {{}}
for _d in ("/tmp/many", "/dev/shm/many", "/home/learner/many"):
    os.makedirs(_d, exist_ok=True)
    _n = 0
    try:
        while _n < {FILES_TRIED}:
            os.close(os.open(f"{{_d}}/{{_n}}", os.O_CREAT | os.O_WRONLY, 0o600))
            _n += 1
    except OSError:
        pass
    _made[_d] = _n
print(f"{MARK}-FILES {{_made}}", flush=True)
'''

# after the export: odd names beside the deliverable's files (the grader must take them back or leave them, never fail)
ODD_NAMES = '''
import os
os.close(os.open(b"deliverable/notes\\xff\\xfe.txt", os.O_CREAT | os.O_WRONLY, 0o600))
os.close(os.open("deliverable/line\\nbreak.txt", os.O_CREAT | os.O_WRONLY, 0o600))
os.close(os.open("deliverable/" + "n" * 255, os.O_CREAT | os.O_WRONLY, 0o600))
os.close(os.open("deliverable/...", os.O_CREAT | os.O_WRONLY, 0o600))
os.mkfifo("deliverable/stems/pipe.wav")
os.link("deliverable/mix.wav", "deliverable/mix_again.wav")
'''

# after the export: the mix's header says 64 channels (and so 1/32 of the frames)
LYING_HEADER = '''
import struct
_raw = bytearray(open("deliverable/mix.wav", "rb").read())
_at = _raw.find(b"fmt ") + 8
_fmt, _ch, _rate, _bps, _align, _bits = struct.unpack_from("<HHIIHH", _raw, _at)
struct.pack_into("<HHIIHH", _raw, _at, _fmt, 64, _rate, _rate * 64 * _bits // 8, 64 * _bits // 8, _bits)
open("deliverable/mix.wav", "wb").write(_raw)
'''

# after the export: a session.json the grader must not trip on (it is not graded): nested 100,000 deep, a key twice,
# a number past any float, an integer of 100,000 digits
SESSION_JSON = '''
open("deliverable/session.json", "w").write('{"a": 1, "a": ' + "[" * 100000 + "]" * 100000 + ', "b": 1e999999, "c": '
                                             + "9" * 100000 + "}")
'''

# a cell that claims to be a locked grade cell (the loudness test's id, 100 points), with output of 30 MB in the notebook
def _claims_locked(nb):
    import nbformat

    cell = nbformat.v4.new_code_cell("TARGET_LUFS = -14.0\nraise SystemExit('LLMARK8 must not run')")
    cell.metadata["nbgrader"] = {"grade": True, "locked": True, "solution": False, "grade_id": "check_loudness",
                                 "points": 100, "schema_version": 3}
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="x" * 30_000_000)]
    nb.cells.insert(len(nb.cells) // 2, cell)
    return nb


# lab 3: a lone surrogate (text no UTF-8 file can hold) in one answer; json.dumps escapes it, json.loads brings it back
SURROGATE_ANSWER = '''
choices["surf_reel"] = dict(choices["surf_reel"], music="\\udcff post \\udcfe")
'''

# lab 3: the answers are wrong when the code ends; a child it left behind writes the right ones two seconds later
LATE_WRITER = FORK_EXEC + '''
import json, os
_right = json.dumps({"choices": dict(choices, news_explainer=dict(choices["news_explainer"], music="post"))})
_code = "import time, sys; time.sleep(2); [open(p, 'w').write(sys.argv[1]) for p in " \\
        "('/home/learner/.layerlab-exports.json', '/home/learner/.layerlab-exports.json.partial')]"
_run("@@PYTHON@@", "-c", _code, _right, setsid=True)
'''

# lab 3: the last cell writes the answers file itself, nested too deep for the grader's JSON parser, and ends the process
DEEP_EXPORTS = '''
import json, os
_text = json.dumps({"choices": choices})
open("/home/learner/.layerlab-exports.json", "w").write(_text[:-1] + ', "pad": ' + "[" * 200000 + "]" * 200000 + "}")
os._exit(0)
'''

LAB2_CASES = {
    "userns_tmpfs": USERNS_TMPFS,
    "reach_supervisor": REACH_SUPERVISOR,
    "odd_names": ODD_NAMES,
    "lying_header": LYING_HEADER,
    "session_json": SESSION_JSON,
    "claims_locked": None,
    "odd_submission_names": None,
    "many_files": MANY_FILES,
}
TRANSFORMS = {"claims_locked": _claims_locked}
LAB3_CASES = {
    "surrogate_answer": PARTIAL3 + [("after:lab3_choices", SURROGATE_ANSWER)],
    "late_writer": PARTIAL3 + [("after:lab3_choices", LATE_WRITER)],
    "deep_exports": PARTIAL3 + [("after:lab3_choices", DEEP_EXPORTS)],
}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    import sys

    course = _course(tmp_path_factory.mktemp("adversarial_s8") / "course")
    _submit(course, LAB2, "honest", QUIET)
    _submit(course, LAB2, "classmate", [])
    for sid, extra in LAB2_CASES.items():
        _submit(course, LAB2, sid, QUIET + ([("after:lab2_export", extra)] if extra else []), TRANSFORMS.get(sid))
    odd = course / "submitted" / "odd_submission_names" / LAB2  # names that are not UTF-8, a newline, a FIFO
    for name in (b"notes\xff\xfe.txt", b"line\nbreak.py", b"n" * 255):
        (odd / os.fsdecode(name)).write_bytes(b"LLMARK8")
    os.mkfifo(odd / "pipe.ipynb")
    os.mkfifo(odd / f"{LAB2}_copy.ipynb")
    _submit(course, LAB3, "honest3", PARTIAL3)
    _submit(course, LAB3, "classmate3", [])
    for sid, edits in LAB3_CASES.items():
        _submit(course, LAB3, sid, edits, subs={"@@PYTHON@@": sys.executable})
    out = {"course": course, "errors": {}}
    for lab, resume in ((LAB2, False), (LAB3, False), (LAB2, True)):
        key = lab + (" --resume" if resume else "")
        try:  # the batch must complete: a failure here is a finding, reported by the tests below
            s = grading.grade_assignment(lab, course=course, jobs=2, gradebook=False, feedback=False, progress=False,
                                         resume=resume)
            out[key] = {g.student: g for g in s.grades}
        except Exception as exc:  # noqa: BLE001
            out["errors"][key] = f"{type(exc).__name__}: {exc}"
    time.sleep(3)  # a late writer would act now
    out["survivors"] = _marked_processes((MARK, "/home/learner/.layerlab-exports"))
    return out


def _lab(graded, lab):
    assert lab not in graded["errors"], f"the batch of {lab} did not complete: {graded['errors'][lab]}"
    return graded[lab]


@pytest.mark.parametrize("lab", [LAB2, LAB3, LAB2 + " --resume"])
def test_the_batch_completes_with_every_report_and_the_summary(graded, lab):
    grades = _lab(graded, lab)
    reports = graded["course"] / "reports" / lab.split()[0]
    for student in grades:
        assert (reports / f"{student}.html").is_file() and (reports / f"{student}.md").is_file(), student
    summary = (reports / "summary.csv").read_text(encoding="utf-8")
    assert all(student in summary for student in grades)


@pytest.mark.parametrize("case", sorted(set(LAB2_CASES) - {"lying_header"}))
def test_lab2_attack_earns_exactly_the_honest_grade(graded, case):
    grades = _lab(graded, LAB2)
    honest, g = grades["honest"], grades[case]
    assert 0 < honest.score < 15
    assert {i.grade_id: i.points for i in g.items} == {i.grade_id: i.points for i in honest.items}, (case, g.error)


def test_a_classmate_keeps_full_marks(graded):
    assert _lab(graded, LAB2)["classmate"].score == 15.0
    assert _lab(graded, LAB3)["classmate3"].score == sum(it["points"] for it in assignment_spec(LAB3, RUBRIC)["items"])


def test_no_user_namespace_of_its_own_nor_a_tmpfs_outside_the_disk_cap(graded):
    log = _lab(graded, LAB2)["userns_tmpfs"].log
    assert f"{MARK}-USERNS wrote 0 MB" in log, log[-600:]


def test_the_supervisor_is_out_of_the_learners_reach(graded):
    log = _lab(graded, LAB2)["reach_supervisor"].log
    assert f"{MARK}-REACH []" in log, log[-600:]


def test_a_header_that_lies_about_the_channels_scores_no_more_than_the_honest_work(graded):
    grades = _lab(graded, LAB2)
    honest, g = grades["honest"], grades["lying_header"]
    for it in g.items:
        assert it.points <= honest.item(it.grade_id).points, (it.name, it.message)
    assert g.score < honest.score
    assert "mix.wav" in " ".join(it.message for it in g.items)


def test_an_answer_with_text_no_file_can_hold_costs_only_that_key(graded):
    grades = _lab(graded, LAB3)
    honest, g = grades["honest3"], grades["surrogate_answer"]
    assert g.item("choice_surf_reel").points < honest.item("choice_surf_reel").points
    others = {i.grade_id: i.points for i in g.items if i.grade_id != "choice_surf_reel"}
    assert others == {i.grade_id: i.points for i in honest.items if i.grade_id != "choice_surf_reel"}


def test_answers_written_after_the_code_ended_do_not_count(graded):
    grades = _lab(graded, LAB3)
    assert {i.grade_id: i.points for i in grades["late_writer"].items} == \
        {i.grade_id: i.points for i in grades["honest3"].items}


def test_an_answers_file_nested_too_deep_is_refused_in_one_plain_line(graded):
    g = _lab(graded, LAB3)["deep_exports"]
    assert g.score == 0
    assert "RecursionError" not in g.error and "could not be read" in g.error, g.error


def test_nothing_survives_the_batch(graded):
    assert graded["survivors"] == []


def test_a_resumed_batch_keeps_every_grade(graded):
    first, again = _lab(graded, LAB2), _lab(graded, LAB2 + " --resume")
    assert {s: g.score for s, g in again.items()} == {s: g.score for s, g in first.items()}


def test_each_tmpfs_holds_a_bounded_number_of_files(graded):
    import ast

    from layerlab.grading.sandbox import SandboxLimits

    log = _lab(graded, LAB2)["many_files"].log
    line = next(line for line in log.splitlines() if line.startswith(f"{MARK}-FILES "))
    made = ast.literal_eval(line.split(" ", 1)[1])
    assert set(made) == {"/tmp/many", "/dev/shm/many", "/home/learner/many"}
    assert all(0 < n <= SandboxLimits().max_files for n in made.values()), made
