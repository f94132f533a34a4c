"""One JupyterLab for the browser test and the browser benchmark (no ``layerlab`` import).

``tests/course/test_browser.py`` and ``benchmarks/bench_mixer_browser.py`` (``bench_mixer.py
--browser``) both serve a temporary folder from the project's ``.venv``: token auth, a free
127.0.0.1 port, their own config, runtime, workspace, IPython and settings folders (every cell
rendered, no news or update pop-ups), so nothing of the user's own Jupyter set-up leaks in.
``tests/conftest.py`` puts this folder on ``sys.path``; the benchmark adds it itself.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

VENV_BIN = Path(sys.executable).parent
START_TIMEOUT_S = 120.0
"""Upper bound for JupyterLab to answer ``/api/status`` (a loaded 2-core machine needs far less)."""


class LabDidNotStart(RuntimeError):
    """JupyterLab exited or did not answer in time; the message ends with its log."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class LabServer:
    """A running ``jupyter lab``: its address, token, served folder and log; :meth:`stop` ends it."""

    base: str
    token: str
    root: Path
    log_path: Path
    proc: subprocess.Popen
    _log: object

    def stop(self) -> None:
        """SIGTERM to its process group (the kernels too), SIGKILL after 30 s."""
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        except ProcessLookupError:
            pass
        finally:
            self._log.close()

    def __enter__(self) -> "LabServer":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def start_lab(root: Path, tmp: Path) -> LabServer:
    """Start ``jupyter lab`` serving ``root``, with its private folders and log under ``tmp``.

    Raises
    ------
    LabDidNotStart
        It exited or did not answer within :data:`START_TIMEOUT_S` (the message ends with its log).
    """
    root, tmp = Path(root), Path(tmp)
    port, token = free_port(), secrets.token_hex(16)
    env = dict(os.environ)
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    env["JUPYTER_CONFIG_DIR"] = str(tmp / "jupyter_config")
    env["JUPYTER_RUNTIME_DIR"] = str(tmp / "jupyter_runtime")
    env["JUPYTERLAB_WORKSPACES_DIR"] = str(tmp / "workspaces")
    env["IPYTHONDIR"] = str(tmp / "ipython")
    # render every cell (no windowing), so every prompt can be read; no news or update pop-up
    settings = tmp / "lab_settings"
    (settings / "@jupyterlab" / "notebook-extension").mkdir(parents=True, exist_ok=True)
    (settings / "@jupyterlab" / "notebook-extension" / "tracker.jupyterlab-settings").write_text(
        '{"windowingMode": "none"}')
    (settings / "@jupyterlab" / "apputils-extension").mkdir(parents=True, exist_ok=True)
    (settings / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings").write_text(
        '{"fetchNews": "false", "checkForUpdates": false}')
    env["JUPYTERLAB_SETTINGS_DIR"] = str(settings)
    env.setdefault("NUMBA_CACHE_DIR", str(tmp / "numba"))
    # the server runs under this interpreter (not the ``jupyter`` scripts, whose shebang may name another copy of
    # the venv, e.g. a git worktree's hard-linked one), and so does its kernel: jupyter_client starts a
    # "python" kernel with the server's ``sys.executable``; the kit the kernel imports is this checkout's
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
           f"--ServerApp.token={token}", f"--ServerApp.root_dir={root}", "--ServerApp.port_retries=0",
           "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
           "--LabApp.news_url=", "--ServerApp.allow_remote_access=False"]
    # nothing here on the kernels' transport: the environment's server config (scripts/setup.sh) must give them
    # CurveZMQ keys, as for `make lab` and an instructor's `jupyter lab`; the browser tests fail on the plain-TCP warning
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")  # containers and CI often run as root
    log_path = tmp / "jupyter.log"
    log = open(log_path, "w")  # noqa: SIM115 - closed by LabServer.stop
    proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        try:
            with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2) as r:
                if r.status == 200:
                    return LabServer(base, token, root, log_path, proc, log)
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            log.close()
            proc.kill()
            proc.wait(timeout=10)
            raise LabDidNotStart("JupyterLab did not start:\n" + log_path.read_text()[-3000:])
        time.sleep(0.5)
