"""The grader's warm interpreter: one fresh, contained process per task, forked from it.

Every task must be a process of its own (its own pid and, when asked, its own
session), start with the libraries loaded, see nothing of the grader's environment,
report its exit status or signal, obey a timeout and a kill, and die with the zygote.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import nbformat
import pytest

from layerlab.grading import zygote as zmod
from layerlab.grading import run_learner_code
from layerlab.grading.zygote import Zygote, ZygoteError


@pytest.fixture(scope="module")
def z():
    with Zygote() as zy:
        yield zy


def _probe(zy: Zygote, **args) -> tuple[dict, int]:
    r, w = os.pipe()
    try:
        task = zy.spawn("probe", args, output_fd=w, new_session=True)
    finally:
        os.close(w)
    code = task.wait(timeout=30)
    with os.fdopen(r, "rb") as fh:
        return json.loads(fh.read().decode().splitlines()[0]), code


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_each_task_is_a_new_process_forked_from_the_warm_interpreter(z):
    first, code1 = _probe(z, exit=0)
    second, code2 = _probe(z, exit=3)
    assert (code1, code2) == (0, 3)
    assert first["pid"] != second["pid"] != os.getpid()
    assert first["ppid"] == second["ppid"] == z._proc.pid  # forked by the zygote, not by the grader
    assert first["pgid"] == first["pid"]  # a session and process group of its own
    assert first["numpy_loaded"] and first["isolated"]


def test_timeout_and_kill_reach_the_task(z):
    task = z.spawn("probe", {"sleep_s": 60}, new_session=True)
    with pytest.raises(subprocess.TimeoutExpired):
        task.wait(timeout=0.5)
    assert _alive(task.pid)
    task.kill()
    assert task.wait(timeout=10) == -signal.SIGKILL


def test_unknown_task_is_refused(z):
    with pytest.raises(ZygoteError, match="unknown task"):
        z.spawn("rm_everything", {})


def test_tasks_die_with_the_zygote():
    zy = Zygote()
    task = zy.spawn("probe", {"sleep_s": 60}, new_session=True)
    assert _alive(task.pid)
    os.kill(zy._proc.pid, signal.SIGKILL)  # as when a batch is killed
    deadline = time.monotonic() + 10
    while _alive(task.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(task.pid)
    with pytest.raises(ZygoteError, match="stopped while the task ran"):  # told, not left hanging or misled
        task.wait(timeout=10)
    with pytest.raises(ZygoteError, match="stopped"):
        zy.spawn("probe", {})
    zy.close()


def test_closing_the_zygote_stops_running_tasks():
    zy = Zygote()
    task = zy.spawn("probe", {"sleep_s": 60}, new_session=True)
    zy.close()
    deadline = time.monotonic() + 10
    while _alive(task.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(task.pid)


def test_the_shared_zygote_restarts_when_it_stopped():
    first = zmod.shared()
    os.kill(first._proc.pid, signal.SIGKILL)
    first._proc.wait()
    second = zmod.shared()
    assert second is not first and second.alive
    info, code = _probe(second)
    assert code == 0 and info["ppid"] == second._proc.pid


def test_learner_code_sees_none_of_the_graders_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("GRADER_SECRET_TOKEN", "s3cr3t-value")
    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_code_cell(
        "import os\n"
        "initial = open('/proc/self/environ', 'rb').read().decode('utf-8', 'replace')\n"
        "seen = {'now': sorted(os.environ), 'initial': initial, 'home': os.environ.get('HOME')}"))
    nbformat.write(nb, str(tmp_path / "lab.ipynb"))
    with Zygote() as zy:  # started while the secret is in the grader's environment
        values, log = run_learner_code(tmp_path / "lab.ipynb", tmp_path, exports=["seen"], timeout_s=60, zygote=zy)
    seen = values["seen"]
    assert "GRADER_SECRET_TOKEN" not in seen["now"], log
    assert "s3cr3t-value" not in seen["initial"] and "GRADER_SECRET_TOKEN" not in seen["initial"]
    assert seen["home"] == str(tmp_path)
    assert "LAYERLAB_GRADING" in seen["now"]


_START_PROGRAMS = """
import subprocess
ran = {}
for name, cmd in PROGRAMS:
    try:
        ran[name] = subprocess.run(cmd, capture_output=True, text=True).returncode
    except PermissionError as exc:
        ran[name] = str(exc)
"""


def _programs_run(folder, zy, programs: str) -> tuple[dict, str]:
    """Run, forked from the zygote under the guard, cells that start each of ``programs`` (source of a list of
    (name, argv)); return {name: exit status or the refusal's text} and the log."""
    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_code_cell(f"PROGRAMS = {programs}\n{_START_PROGRAMS}"))
    nbformat.write(nb, str(folder / "lab.ipynb"))
    values, log = run_learner_code(folder / "lab.ipynb", folder, exports=["ran"], timeout_s=60, zygote=zy)
    return values["ran"], log


def test_the_guard_lets_the_cells_start_ffmpeg_and_nothing_else(tmp_path, z):
    """Without the sandbox the audit hook allows one program, the kit's ffmpeg (reading MP3, video's audio)."""
    ran, log = _programs_run(tmp_path, z, "[('ffmpeg', [__import__('layerlab.io.audio', fromlist=['x']).ffmpeg_exe(), "
                                          "'-version']), ('true', ['/bin/true'])]")
    assert ran["ffmpeg"] == 0, log
    assert "may not start other programs" in ran["true"], log


def test_a_module_shipped_beside_the_notebook_cannot_choose_the_program_the_guard_allows(tmp_path, z):
    # the guard looks ffmpeg up before the learner's folder is on sys.path: a shipped imageio_ffmpeg.py naming
    # /bin/sh as "ffmpeg" is never imported by the grader's set-up
    (tmp_path / "imageio_ffmpeg.py").write_text("def get_ffmpeg_exe():\n    return '/bin/sh'\n", encoding="utf-8")
    ran, log = _programs_run(tmp_path, z, "[('sh', ['/bin/sh', '-c', 'echo escaped'])]")
    assert "may not start other programs" in ran["sh"], log
