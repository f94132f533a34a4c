"""Real servers for the grading tests, started by the tests themselves.

* ``postgres``: a PostgreSQL server from Debian's ``postgresql`` package
  (``scripts/system-deps.sh`` installs it), initialised with ``initdb`` and started
  with ``pg_ctl`` in a temporary folder, listening on 127.0.0.1 only. PostgreSQL
  refuses to run as root, so under root (CI) the server runs as ``nobody``.
  ``postgres.new_database()`` returns the SQLAlchemy URL of a fresh, empty database.
* ``dask_cluster``: a ``dask scheduler`` and two ``dask worker`` processes on
  127.0.0.1 (the ``dask`` command of the ``distributed`` package), one thread each.

Nothing here is skipped when a component is missing: the fixture fails and says how
to install it (``make test`` runs ``scripts/system-deps.sh``).
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest

VENV_BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pg_bin() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(Path(p).parts[-3]))
    if not found:
        pytest.fail("PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/pg_ctl): run scripts/system-deps.sh "
                    "(or apt-get install postgresql)", pytrace=False)
    return Path(found[-1]).parent


@dataclass
class Postgres:
    """A running PostgreSQL server (superuser ``postgres``, trust authentication on 127.0.0.1)."""

    port: int
    folder: Path
    bin_dir: Path
    run_as: dict = field(default_factory=dict)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        import psycopg

        name = "gb_" + uuid.uuid4().hex[:12]
        with psycopg.connect(f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres", autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        subprocess.run([str(self.bin_dir / "pg_ctl"), "-D", str(self.folder / "data"), "-m", "immediate", "stop"],
                       capture_output=True, **self.run_as)


def start_postgres() -> Postgres:
    """initdb + pg_ctl start in a fresh temporary folder; as root, the server runs as ``nobody``."""
    bin_dir = _pg_bin()
    folder = Path(tempfile.mkdtemp(prefix="layerlab-pg-"))
    run_as: dict = {}
    if os.geteuid() == 0:
        import pwd

        nobody = pwd.getpwnam("nobody")
        os.chown(folder, nobody.pw_uid, nobody.pw_gid)
        run_as = {"user": nobody.pw_uid, "group": nobody.pw_gid, "extra_groups": [], "cwd": str(folder),
                  "env": {"PATH": os.environ.get("PATH", ""), "HOME": str(folder), "LC_ALL": "C.UTF-8"}}
    else:
        run_as = {"cwd": str(folder), "env": {**os.environ, "LC_ALL": "C.UTF-8"}}
    port = free_port()
    init = subprocess.run([str(bin_dir / "initdb"), "-D", str(folder / "data"), "-U", "postgres", "--auth=trust",
                           "-E", "UTF8", "--no-sync"], capture_output=True, text=True, **run_as)
    if init.returncode != 0:
        raise RuntimeError(f"initdb failed: {init.stdout[-2000:]}{init.stderr[-2000:]}")
    opts = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=100"
    start = subprocess.run([str(bin_dir / "pg_ctl"), "-D", str(folder / "data"), "-o", opts, "-l", str(folder / "server.log"),
                            "-w", "-t", "60", "start"], capture_output=True, text=True, **run_as)
    if start.returncode != 0:
        log = (folder / "server.log").read_text(errors="replace")[-2000:] if (folder / "server.log").exists() else ""
        raise RuntimeError(f"pg_ctl start failed: {start.stdout[-1000:]}{start.stderr[-1000:]}{log}")
    return Postgres(port=port, folder=folder, bin_dir=bin_dir, run_as=run_as)


@pytest.fixture(scope="session")
def postgres():
    server = start_postgres()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(server.folder, ignore_errors=True)


@dataclass
class DaskCluster:
    """A scheduler and its workers, each a separate ``dask`` process on 127.0.0.1."""

    address: str
    scheduler: subprocess.Popen
    workers: list[subprocess.Popen]
    folder: Path

    def worker_pids(self) -> list[int]:
        return [w.pid for w in self.workers if w.poll() is None]


def _dask_env(folder: Path) -> dict:
    env = dict(os.environ)
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    env["MPLBACKEND"] = "Agg"
    env["NUMBA_CACHE_DIR"] = env.get("NUMBA_CACHE_DIR") or str(folder / "numba")
    env["DASK_DISTRIBUTED__WORKER__DAEMON"] = "False"  # the grader's own processes are children of the worker
    return env


def start_dask(n_workers: int = 2, *, nthreads: int = 1) -> DaskCluster:
    """``dask scheduler`` plus ``n_workers`` × ``dask worker`` (no nanny: a killed worker stays dead)."""
    folder = Path(tempfile.mkdtemp(prefix="layerlab-dask-"))
    env = _dask_env(folder)
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    sched_log = open(folder / "scheduler.log", "wb")
    scheduler = subprocess.Popen([str(VENV_BIN / "dask"), "scheduler", "--host", "127.0.0.1", "--port", str(port),
                                  "--no-dashboard"], stdout=sched_log, stderr=subprocess.STDOUT, env=env, cwd=folder,
                                 start_new_session=True)
    workers = []
    for i in range(n_workers):
        log = open(folder / f"worker{i}.log", "wb")
        workers.append(subprocess.Popen([str(VENV_BIN / "dask"), "worker", address, "--nthreads", str(nthreads),
                                         "--no-nanny", "--no-dashboard", "--name", f"w{i}", "--host", "127.0.0.1",
                                         "--local-directory", str(folder / f"w{i}")],
                                        stdout=log, stderr=subprocess.STDOUT, env=env, cwd=folder, start_new_session=True))
    from distributed import Client

    deadline = time.monotonic() + 120
    with Client(address, timeout=60) as client:
        while len(client.scheduler_info()["workers"]) < n_workers:
            if time.monotonic() > deadline or scheduler.poll() is not None:
                logs = "".join(p.read_text(errors="replace")[-1500:] for p in sorted(folder.glob("*.log")))
                raise RuntimeError(f"the Dask cluster did not start:\n{logs}")
            time.sleep(0.2)
    return DaskCluster(address, scheduler, workers, folder)


def stop_dask(cluster: DaskCluster) -> None:
    for p in [*cluster.workers, cluster.scheduler]:
        if p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                continue
    for p in [*cluster.workers, cluster.scheduler]:
        try:
            p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
    shutil.rmtree(cluster.folder, ignore_errors=True)


@pytest.fixture
def dask_cluster():
    cluster = start_dask(2)
    try:
        yield cluster
    finally:
        stop_dask(cluster)
