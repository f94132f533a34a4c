"""Grading on a real Dask cluster gives exactly what local ``--jobs`` grading gives, even when a worker dies.

The cluster is a ``dask scheduler`` and two ``dask worker`` processes on 127.0.0.1
(``dask_cluster`` in conftest.py). The class is 6 lab-2 submissions (a reference,
flawed mixes, an untouched copy, a file that is not a notebook, a notebook that kills
its own process), graded

- course A: ``layerlab grade --jobs 2`` on this machine;
- course B: ``grade_assignment(grader=DaskGrader(scheduler))`` with one worker
  SIGKILLed while it grades a submission; then ``layerlab grade --scheduler ... --resume``.

Stored results, gradebook, summary and reports must be identical, and the
submission the dead worker held must be graded (not blamed on the learner).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from layerlab.grading.cluster import SubmissionPayload, pack_submission, unpack_submission
from layerlab.grading.submission import copy_submission, submission_hash
from test_batch_resume import CLASS, LAB2, SPEC, _env, _stored, build_class, gradebook_scores

REPO = Path(__file__).resolve().parents[2]
STUDENTS = {k: CLASS[k] for k in ("s01_ref", "s03_quiet", "s04_sfx_late", "s06_untouched", "s08_not_json", "s10_crash")}


# ---------------------------------------------------------------------------------------------- packing


def _tree(folder: Path) -> dict:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file() and not p.is_symlink()}


def test_packed_submission_unpacks_to_what_the_local_grader_copies(tmp_path):
    sub = tmp_path / "sub"
    (sub / "deliverable" / "stems").mkdir(parents=True)
    (sub / "empty").mkdir()
    (sub / ".ipynb_checkpoints").mkdir()
    (sub / ".ipynb_checkpoints" / "lab-checkpoint.ipynb").write_text("{}")
    (sub / "lab.ipynb").write_text('{"cells": []}')
    (sub / "deliverable" / "stems" / "music.wav").write_bytes(bytes(range(256)) * 40)
    (sub / "big.bin").write_bytes(b"\0" * 3_000_000)  # over a 2 MB per-file limit
    os.symlink("/etc/passwd", sub / "passwd")
    os.symlink("/etc", sub / "etc_dir")

    payload = pack_submission(sub, max_file_mb=2)
    assert payload.sha256 == submission_hash(sub)
    assert sorted(payload.files) == ["deliverable/stems/music.wav", "lab.ipynb"]
    assert sorted(payload.skipped) == [".ipynb_checkpoints", "big.bin", "etc_dir", "passwd"]

    worker = unpack_submission(payload, tmp_path / "worker")
    assert (worker / "empty").is_dir()
    here, there = tmp_path / "copy_here", tmp_path / "copy_there"
    skipped_here = copy_submission(sub, here, max_file_mb=2)
    skipped_there = copy_submission(worker, there, max_file_mb=2)
    assert _tree(here) == _tree(there)
    assert sorted(skipped_here) == sorted(skipped_there)
    assert not any(p.is_symlink() for p in there.rglob("*"))


def test_a_packed_path_cannot_leave_the_worker_folder(tmp_path):
    from layerlab.errors import InputError

    with pytest.raises(InputError, match="stay inside"):
        unpack_submission(SubmissionPayload(files={"../escape.txt": b"x"}), tmp_path / "w")
    assert not (tmp_path / "escape.txt").exists()


def test_no_scheduler_is_one_plain_line(monkeypatch):
    import dask

    from layerlab.errors import InputError
    from layerlab.grading.cluster import DaskGrader

    with dask.config.set({"scheduler-address": None}), pytest.raises(InputError, match="--scheduler tcp://HOST:PORT"):
        DaskGrader(None)


def test_unreachable_scheduler_is_the_graders_error():
    from conftest import free_port

    from layerlab.errors import GraderError
    from layerlab.grading.cluster import DaskGrader

    with pytest.raises(GraderError, match="cannot reach the Dask scheduler"):
        DaskGrader(f"tcp://127.0.0.1:{free_port()}", timeout_s=2)


# ---------------------------------------------------------------------------------------------- a real cluster


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    from conftest import start_dask, stop_dask
    from distributed import Client

    from layerlab.grading import grade_assignment
    from layerlab.grading.cluster import DaskGrader

    root = tmp_path_factory.mktemp("cluster")
    a, b = root / "A", root / "B"
    build_class(a, STUDENTS)
    shutil.copytree(a, b)
    local = subprocess.run([sys.executable, "-m", "layerlab.cli", "grade", LAB2, "--course", str(a), "--jobs", "2",
                            "--timeout", "15"], capture_output=True, text=True, env=_env(), timeout=900)
    assert local.returncode == 0, local.stderr[-3000:]

    cluster = start_dask(2)
    try:
        killed: dict = {}
        watcher = Client(cluster.address, set_as_default=False)

        def kill_a_busy_worker():
            deadline = time.monotonic() + 600
            results = b / "reports" / LAB2 / "results"
            while time.monotonic() < deadline:  # once one result is back, kill a worker in the middle of its next one
                if results.is_dir() and any(results.glob("*.json")):
                    busy = {w: keys for w, keys in watcher.processing().items() if keys}
                    info = watcher.scheduler_info()["workers"]
                    for addr, keys in busy.items():
                        victim = next(p for p in cluster.workers if info[addr]["name"] == f"w{cluster.workers.index(p)}")
                        time.sleep(1.0)  # well inside the learner's code
                        os.killpg(victim.pid, signal.SIGKILL)
                        killed.update(worker=info[addr]["name"], keys=list(keys), pid=victim.pid)
                        return
                time.sleep(0.1)

        t = threading.Thread(target=kill_a_busy_worker)
        t.start()
        old_path, os.environ["PATH"] = os.environ.get("PATH", ""), _env()["PATH"]
        try:
            with DaskGrader(cluster.address, jobs=4) as grader:
                summary = grade_assignment(LAB2, course=b, timeout_s=15, grader=grader, progress=False)
        finally:
            os.environ["PATH"] = old_path
        t.join()
        alive = len(watcher.scheduler_info()["workers"])
        watcher.close()
        before = {p.name: p.stat().st_mtime_ns for p in (b / "reports" / LAB2 / "results").glob("*.json")}
        resumed = subprocess.run([sys.executable, "-m", "layerlab.cli", "grade", LAB2, "--course", str(b), "--timeout", "15",
                                  "--scheduler", cluster.address, "--resume"],
                                 capture_output=True, text=True, env=_env(), timeout=600)
        after = {p.name: p.stat().st_mtime_ns for p in (b / "reports" / LAB2 / "results").glob("*.json")}
    finally:
        stop_dask(cluster)
    return {"a": a, "b": b, "local": local, "summary": summary, "killed": killed, "alive": alive, "resumed": resumed,
            "before": before, "after": after}


@pytest.mark.slow
def test_a_worker_really_died_mid_submission(runs):
    assert runs["killed"].get("keys"), "no worker was killed while grading"
    assert runs["alive"] == 1
    dead_students = [k for k in runs["killed"]["keys"] if "grade-" in str(k)]
    assert dead_students


@pytest.mark.slow
def test_nothing_is_blamed_on_the_learner_of_the_dead_worker(runs):
    grades = {g.student: g for g in runs["summary"].grades}
    assert set(grades) == set(STUDENTS)
    assert not any(g.incomplete for g in grades.values())
    for key in runs["killed"]["keys"]:
        student = next(s for s in STUDENTS if f"-{s}-" in str(key))
        local = {gid: points for gid, points, _ in _stored(runs["a"])[student]["items"]}
        assert {it.grade_id: it.points for it in grades[student].items} == local


@pytest.mark.slow
def test_results_identical_to_local_jobs_grading(runs):
    assert _stored(runs["a"]) == _stored(runs["b"])
    a, b = gradebook_scores(runs["a"]), gradebook_scores(runs["b"])
    assert len(a) == len(STUDENTS) * len(SPEC["items"]) and a == b
    rep_a, rep_b = runs["a"] / "reports" / LAB2, runs["b"] / "reports" / LAB2
    assert (rep_a / "summary.csv").read_text() == (rep_b / "summary.csv").read_text()
    for sid in STUDENTS:
        assert (rep_a / f"{sid}.html").read_text() == (rep_b / f"{sid}.html").read_text()
        assert (rep_a / f"{sid}.md").read_text() == (rep_b / f"{sid}.md").read_text()
    # a real class: full marks, partial marks and zeros
    totals = {sid: sum(i[1] for i in r["items"]) for sid, r in _stored(runs["a"]).items()}
    full = sum(float(it["points"]) for it in SPEC["items"])
    assert totals["s01_ref"] == full and totals["s06_untouched"] == 0 and 0 < totals["s03_quiet"] < full


@pytest.mark.slow
def test_resume_on_the_cluster_reuses_every_result_and_shows_progress(runs):
    r = runs["resumed"]
    assert r.returncode == 0, r.stderr[-2000:]
    assert runs["after"] == runs["before"] and len(runs["before"]) == len(STUDENTS)
    assert f"grading {LAB2}" in r.stderr and f"{len(STUDENTS)}/{len(STUDENTS)}" in r.stderr
    assert "not graded" not in r.stdout


def test_a_packed_submission_leaves_out_what_the_local_grader_leaves_out(tmp_path):
    """What travels to a worker is bounded as the local copy is: no released ``variants/`` (the grader gives the
    re-run the learner's own) and no more than MAX_SUBMISSION_ENTRIES entries, however many files a learner made."""
    from layerlab.grading.submission import LEFT_OUT_DIRS, MAX_SUBMISSION_ENTRIES

    sub = tmp_path / "sub"
    (sub / "variants" / "ann").mkdir(parents=True)
    (sub / "variants" / "ann" / "video.mp4").write_bytes(b"\0" * 1000)
    (sub / "lab.ipynb").write_text("{}")
    (sub / "junk").mkdir()
    for i in range(MAX_SUBMISSION_ENTRIES + 300):
        os.symlink("/etc/passwd", sub / "junk" / f"{i:05d}")
    payload = pack_submission(sub)
    assert "variants" in LEFT_OUT_DIRS
    assert not any(p.startswith("variants") for p in [*payload.files, *payload.dirs, *payload.skipped])
    assert len(payload.files) + len(payload.dirs) + len(payload.skipped) <= MAX_SUBMISSION_ENTRIES
    assert "lab.ipynb" in payload.files
    assert payload.over == MAX_SUBMISSION_ENTRIES + 300 + 2 - MAX_SUBMISSION_ENTRIES

    here = tmp_path / "here"
    copy_submission(sub, here, leave_out=LEFT_OUT_DIRS)
    there = tmp_path / "there"
    copy_submission(unpack_submission(payload, tmp_path / "worker"), there, leave_out=LEFT_OUT_DIRS)
    assert _tree(here) == _tree(there)


@pytest.mark.slow
def test_a_variant_course_is_graded_on_the_cluster_against_each_learners_own_variant(tmp_path, dask_cluster):
    """Workers have no course folder: the learner's variant (and the refusal when it is missing) must travel with the
    submission, so a variant course grades on the cluster exactly as with --jobs, never against the teaching scene."""
    from layerlab.course.variants import build_variant

    a, b = tmp_path / "A", tmp_path / "B"
    build_class(a, {"s01_ref": CLASS["s01_ref"], "s04_sfx_late": CLASS["s04_sfx_late"]})
    build_variant(LAB2, "s01_ref", course=a, secret=b"9c2e7a41f0b85d36e1a94c7f2b60d8e3")  # none for s04_sfx_late
    shutil.copytree(a, b)
    base = [sys.executable, "-m", "layerlab.cli", "grade", LAB2, "--timeout", "180", "--no-feedback"]  # a cap, not a race
    local = subprocess.run(base + ["--course", str(a), "--jobs", "1"], capture_output=True, text=True, env=_env(), timeout=900)
    assert local.returncode == 0, local.stderr[-3000:]
    remote = subprocess.run(base + ["--course", str(b), "--scheduler", dask_cluster.address], capture_output=True, text=True,
                            env=_env(), timeout=900)
    assert remote.returncode == 0, remote.stderr[-3000:]
    here, there = (json.loads(json.dumps(_stored(c)).replace(str(c), "<course>")) for c in (a, b))
    assert there == here
    assert "own variant" in (b / "reports" / LAB2 / "results" / "s01_ref.json").read_text()  # the worker's re-run found it
    missing = there["s04_sfx_late"]
    assert "no variant of lab2_hybrid_mix for student 's04_sfx_late'" in missing["error"]
    assert all(points == 0 for _, points, _ in missing["items"])
