"""Per-learner variants: build time and size per learner per lab, against a plain copy of the base scene.

For each assessed lab it builds the variants of N learners in a fresh course folder with
``layerlab.course.variants.build_variants`` (J processes, as ``layerlab variants build`` does),
then builds them again (every variant up to date: the cache), and in the same run copies the
base scene folder N times (the peer: what giving every learner the same files costs). It prints
wall time per learner, the size of one learner's public variant, and the copy's figures.

    .venv/bin/python benchmarks/bench_variants.py [--n 6] [--jobs 2] [--labs lab2_hybrid_mix,lab1_audit]

Aim (issue 14): under 10 s and 10 MB per learner per lab on 2 cores.
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


if __name__ == "__main__":
    sys.exit(main())
