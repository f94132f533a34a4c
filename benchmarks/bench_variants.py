"""Per-learner variants: build time and size per learner per lab, against a plain copy of the base scene.

For each assessed lab it builds the variants of N learners in a fresh course folder with
``layerlab.course.variants.build_variants`` (J processes, as ``layerlab variants build`` does),
then builds them again (every variant up to date: the cache), and in the same run copies the
base scene folder N times (the peer: what giving every learner the same files costs). It prints
wall time per learner, the size of one learner's public variant, and the copy's figures.

    .venv/bin/python benchmarks/bench_variants.py [--n 6] [--jobs 2] [--labs lab2_hybrid_mix,lab1_audit]
    .venv/bin/python benchmarks/bench_variants.py --delivery [--n 3] [--labs lab1_audit]

Aim (issue 14): under 10 s and 10 MB per learner per lab on 2 cores.

``--delivery`` measures what nbgrader moves, with its real commands (generate_assignment,
release_assignment, fetch_assignment, submit) on a temporary course and exchange: the size of
the release folder, of one learner's fetched folder and of one submission (the exchange's
inbound copy), with the variants delivered as an older kit did (every learner's public variant
in ``source/<lab>/variants/``, so in the release) and as now (published to the exchange, one
folder per learner, copied by each learner's lab into their cache).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _tree_bytes(p: Path) -> int:
    return sum(f.stat().st_size for f in p.rglob("*") if f.is_file())


def main(argv=None) -> int:
    from layerlab.course.variants import ASSESSED, build_variants
    from layerlab.paths import scenes_dir

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=6, help="learners per lab (default 6)")
    ap.add_argument("--jobs", type=int, default=2, help="parallel builds (default 2)")
    ap.add_argument("--labs", default=",".join(ASSESSED), help="comma-separated labs")
    args = ap.parse_args(argv)
    students = [f"learner{i:03d}" for i in range(args.n)]
    print(f"{args.n} learners, {args.jobs} jobs, {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory(prefix="bench-variants-") as tmp:
        course = Path(tmp) / "course"
        course.mkdir()
        for lab in args.labs.split(","):
            t0 = time.perf_counter()
            built = build_variants(lab, students, course=course, jobs=args.jobs, progress=False)
            wall = time.perf_counter() - t0
            t1 = time.perf_counter()
            again = build_variants(lab, students, course=course, jobs=args.jobs, progress=False)
            cached = time.perf_counter() - t1
            assert all(b.rebuilt for b in built) and not any(b.rebuilt for b in again)
            sizes = [b.bytes for b in built]
            each = [b.seconds for b in built]
            # the peer: the same files for everyone (a copy of the base scene per learner)
            base = scenes_dir() / ASSESSED[lab]
            t2 = time.perf_counter()
            for s in students:
                shutil.copytree(base, Path(tmp) / "copies" / lab / s)
            copy_wall = time.perf_counter() - t2
            print(f"{lab}: build {wall:.1f} s wall for {args.n} = {wall / args.n:.2f} s per learner "
                  f"(one build {statistics.median(each):.2f} s median, {max(each):.2f} s max, in a worker); "
                  f"size {statistics.median(sizes) / 1e6:.2f} MB per learner (max {max(sizes) / 1e6:.2f}); "
                  f"cached rebuild {cached:.2f} s; peer copy of the base scene {copy_wall / args.n:.3f} s and "
                  f"{_tree_bytes(base) / 1e6:.2f} MB per learner")
    return 0


def _nbgrader(*args, cwd, env) -> None:
    import subprocess

    cp = subprocess.run([str(Path(sys.executable).parent / "nbgrader"), *map(str, args)], cwd=cwd, env=env,
                        capture_output=True, text=True)
    if cp.returncode != 0:
        raise SystemExit(f"nbgrader {' '.join(map(str, args))} failed:\n{cp.stdout[-2000:]}\n{cp.stderr[-2000:]}")


def delivery(args) -> int:
    """Release, fetch and submission sizes with the variants in the release (before) and in the exchange (after)."""
    from layerlab.course.variants import build_variants, learner_scene_root

    students = [f"learner{i:03d}" for i in range(args.n)]
    print(f"{args.n} learners; sizes in MB (10^6 bytes)")
    with tempfile.TemporaryDirectory(prefix="bench-delivery-") as tmp:
        tmp = Path(tmp)
        for lab in args.labs.split(","):
            rows = {}
            for how in ("before", "after"):
                base = tmp / lab / how
                course, exchange = base / "course", base / "exchange"
                exchange.mkdir(parents=True)
                (course / "source").mkdir(parents=True)
                shutil.copy(ROOT / "autograder" / "nbgrader_config.py", course / "nbgrader_config.py")
                shutil.copytree(ROOT / "autograder" / "source" / lab, course / "source" / lab)
                env = {**os.environ, "HOME": str(base), "LAYERLAB_EXCHANGE": str(exchange), "LAYERLAB_COURSE_ID": "layerlab"}
                env.pop("JUPYTER_CONFIG_DIR", None)
                old_env = {k: os.environ.get(k) for k in ("LAYERLAB_EXCHANGE", "LAYERLAB_COURSE_ID", "XDG_CACHE_HOME", "LAYERLAB_STUDENT")}
                os.environ.update(LAYERLAB_EXCHANGE=str(exchange), LAYERLAB_COURSE_ID="layerlab")
                try:
                    built = build_variants(lab, students, course=course, jobs=args.jobs, progress=False, publish=(how == "after"))
                    if how == "before":  # the older kit's layout: every public variant in source/<lab>/variants/
                        for b in built:
                            shutil.copytree(b.public, course / "source" / lab / "variants" / b.student_id)
                    _nbgrader("generate_assignment", lab, "--force", cwd=course, env=env)
                    _nbgrader("release_assignment", lab, "--force", cwd=course, env=env)
                    sid = students[0]
                    home = base / "students" / sid
                    home.mkdir(parents=True)
                    _nbgrader("fetch_assignment", lab, "--course=layerlab", f"--Exchange.root={exchange}", cwd=home, env=env)
                    cache = 0
                    if how == "after":  # the learner's set-up cell: their own variant, into their cache
                        os.environ.update(XDG_CACHE_HOME=str(home / ".cache"), LAYERLAB_STUDENT=sid)
                        cache = _tree_bytes(learner_scene_root(home / lab))
                    _nbgrader("submit", lab, "--course=layerlab", f"--Exchange.root={exchange}", f"--student={sid}",
                              f"--Exchange.cache={home / '.nbgrader_cache'}", cwd=home, env=env)
                finally:
                    for k, v in old_env.items():
                        os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)
                inbound = next((exchange / "layerlab" / "inbound").iterdir())
                pub = exchange / "layerlab" / "layerlab-variants" / lab
                rows[how] = {"release": _tree_bytes(course / "release" / lab), "fetch": _tree_bytes(home / lab),
                             "submission": _tree_bytes(inbound), "published per learner":
                             (_tree_bytes(pub) / args.n) if pub.is_dir() else 0, "cache": cache}
            for how, r in rows.items():
                print(f"{lab} {how}: release {r['release'] / 1e6:.2f}, one learner's fetch {r['fetch'] / 1e6:.2f}, "
                      f"one submission {r['submission'] / 1e6:.2f}, published per learner {r['published per learner'] / 1e6:.2f}, "
                      f"one learner's cache {r['cache'] / 1e6:.2f}")
            b, a = rows["before"], rows["after"]
            print(f"{lab}: per learner in the class, the release grew by {(b['release'] - a['release']) / args.n / 1e6:.2f} MB "
                  f"before; after, each learner fetches {a['fetch'] / 1e6:.3f} MB and reads {a['cache'] / 1e6:.2f} MB "
                  "(their own variant) from the exchange, whatever the class size")
    return 0


if __name__ == "__main__":
    if "--delivery" in sys.argv:
        ap = argparse.ArgumentParser(description="delivery sizes")
        ap.add_argument("--delivery", action="store_true")
        ap.add_argument("--n", type=int, default=3)
        ap.add_argument("--jobs", type=int, default=2)
        ap.add_argument("--labs", default="lab1_audit")
        sys.exit(delivery(ap.parse_args()))
    sys.exit(main())
