"""The bubblewrap sandbox learner code runs in: what it sees, what it keeps, and the refusal where bwrap cannot run.

The full set of attacks through ``layerlab grade`` is in ``test_adversarial.py``; these
are the sandbox's own properties, each checked on a real ``bwrap`` run.
"""

from __future__ import annotations

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


def test_a_submission_that_nests_folders_deeper_than_python_can_walk_does_not_stop_the_grader(tmp_path):
    """1500 nested folders made at run time: the grader cleans up without RecursionError and scores the answers."""
    import tempfile

    from layerlab.grading import grade_submission, load_rubric

    before = set(Path(tempfile.gettempdir()).glob("layerlab-grade-*"))
    sub = _lab3_submission(tmp_path, "mallory", DEEP_DIRS)
    g = grade_submission(sub, assignment="lab3_choose_approach", rubric=load_rubric(REPO / "autograder" / "rubric.json"),
                         student="mallory", source_notebook=REPO / "autograder" / "source" / "lab3_choose_approach" / "lab3_choose_approach.ipynb")
    assert g.score == g.max_score and not g.incomplete, (g.error, [i.message for i in g.items if not i.passed])
    assert set(Path(tempfile.gettempdir()).glob("layerlab-grade-*")) <= before  # the work folder is gone


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
