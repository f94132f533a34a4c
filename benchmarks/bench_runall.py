"""How long does "Run All" take for each lesson, headless? (run: .venv/bin/python benchmarks/bench_runall.py [NAME ...])

Executes every lesson notebook (``lessons/*.ipynb``; or the ones named) top to bottom with nbclient
in a fresh ``python3`` kernel, over a temporary copy of ``lessons/`` (nothing is written into the
kit), and times it from kernel start to the last cell's end, as a learner's Run All. Each cell's
time is read from the execution timestamps nbclient records, and the three slowest cells are
printed, so a regression points at its cell.

The peer, measured in the same run and the same way, is a notebook of one cell that imports what
every lesson imports (``layerlab``, numpy, matplotlib with the widget backend): the fixed cost of a
kernel a learner pays anyway. Aim (issue #17): each lesson under 15 s.

Figures (2026-11-30, load average 6.5-7.3 on the shared 2-core machine): peer 7.8 s; 00 17.9 s
(the first ``layerlab.checks`` import and run, 12.9 s), 06 84.2 s (the hybrid steps cell, 46.9 s),
07 40.2 s (clip swaps 11.3 s, loading the scene 8.1 s, the export 7.2 s), 08 33.1 s. None is under the
aim yet; the peer alone takes half of it under this load.

After the check speed-up and lesson 06's snapshot copy (2026-11-30 10:26, load average 7.7-9.7, run once):
peer 11.9 s; 00 25.1 s (2.1x the peer; the reference export and run_checks cell 17.9 s), 06 83.2 s (7.0x
the peer, was 10.8x; the hybrid steps cell 40.4 s, was 46.9 s under a lighter load; in CPU time,
``hybrid_steps`` fell from 22.8 s to 15.6 s, old and new code in one run). 07 and 08 were not re-run.
Next costs in 06: ``native_stems`` (cell 6, 11.5 s: the stems estimate imports scipy.signal for its STFT)
and ``compare_layers`` (7.1 s).

2026-11-30 10:49, run once with nice (06 and 07 only; a pytest run shared the machine, load average 4.2-6.4):
peer 3.5 s; 06 25.6 s (7.3x the peer; hybrid steps cell 12.6 s, the native/compare cell 4.9 s), 07 18.0 s
(5.1x the peer, was 5.2x; export 5.2 s, clip swaps 3.9 s, loading the scene 3.3 s). Against the peer neither
moved: the figures above were wall times under a heavier load. In CPU time (no profiler: it inflates imports
five-fold) ``native_stems`` is 2.0 s, of which about 1.6 s is the first ``import scipy.signal`` (SciPy 1.17's
``xp_capabilities`` parses ~800 docstrings at import); lesson 06 pays that import anyway (its own ``welch`` cell,
``layerlab.audit.band_limits``), so a numpy STFT in the stems estimate alone would only move it. ``postgen_stems``
now renders once per scene (postgen_stems + compare_layers 1.91 -> 1.74 s CPU).

2026-11-30 17:33-17:36, quiet machine (load average 1.0-2.8, run with nice; the bench now also prints the kernel's
own CPU time). All four: peer 5.3 s; 00 7.6 s (CPU 6.6 s; export + run_checks cell 5.4 s), 06 19.2 s (CPU 23.9 s;
hybrid steps 9.4 s, native/compare cell 3.4 s), 07 11.7 s (CPU 10.6 s; export 3.0 s, clip swaps 2.5 s, loading
the scene 1.8 s), 08 11.1 s (CPU 9.4 s; export + run_checks 3.1 s, the reference render 2.7 s). Old and new code
back to back (06 and 08, load 1.9-2.8): 06 26.7 -> 20.2 s (hybrid steps cell 15.4 -> 10.8 s: each step's checks run
on a thread while the next step is exported; the A/B cell 1.5 s -> gone from the top three, it renders nothing
again), 08 14.2 -> 11.3 s (its final export reuses the section-1 render; cell 4.2 -> 3.1 s). ``hybrid_steps`` alone
in a plain process: 12.2 s with one check thread, 8.7 s with two (CPU 14.1 / 14.5 s). 06 is still over the aim;
what is left there is the grader's checks (5 x ~3 s CPU, most in ``checks.sync``'s take judging, which decodes and
places the scene's clips again at every step) and the master's ``import scipy.signal`` (1.6-1.8 s CPU; merged
afterwards, the Master no longer imports it, but lesson 06 still does for its ``welch`` cell and the stems estimate).

2026-11-30 20:31-20:32, lesson 06 only, old code (148399e, through PYTHONPATH) then the new (load 1.9-2.1, run with
nice, once each): peer 3.2 / 3.3 s; 06 20.3 -> 20.0 s (kernel CPU 24.7 -> 25.1 s; hybrid steps cell 10.1 -> 9.3 s):
within the noise of single runs, and still OVER the aim. The checks' own CPU in those steps fell 12.9 -> 10.9 s
(``bench_checks.py``'s notes), but the cell also builds and exports five mixes, and the kernel pays the stems estimate's
``import scipy.signal`` (cell 6, 3.1-3.5 s) that ``layerlab.audit``'s band limits need as well.

2026-11-30 23:32-23:34, lesson 06 only, twice under load 8.0 -> 5.4 (meant as old then new code, but the editable
install's finder wins over PYTHONPATH, so both runs were the new code): 24.1 and 24.8 s wall, kernel CPU 22.6 and
19.4 s. What changed: a layer the step
does not replace keeps its samples (the cafe scene: SFX in steps 0-2, ambience 0-3, music 0-1 and 2-3, dialogue 1-3),
and its onsets, its bed clip's lag, the dialogue's activity and the stems' K-weighted blocks are now measured once,
kept by the SHA-256 of the samples (``layerlab.checks.context.memo``). ``hybrid_steps`` alone in a plain process
(23:08-23:10, load about 5, old and new alternated, two each): CPU 12.8 / 12.8 s -> 11.4 / 11.1 s. Every step's
report identical, old and new. Still OVER the aim: the five steps' checks are about 1.9 s CPU each, the renders,
the master and the exports about 4 s, and ``import scipy.signal`` (stems estimate, ``layerlab.audit``'s band, the
lesson's ``welch``) 1.6 s, on two cores.
2026-12-01 00:11-00:12, commit af6a397, all four lessons, at high priority while a fresh-clone CI run shared the machine
at nice +19: peer 3.3 s; 00 5.7 s, 06 17.9 s (kernel CPU 21.1 s; hybrid steps cell 8.1 s, ``native_stems`` 3.2 s,
``compare_layers`` 1.3 s), 07 9.8 s, 08 7.3 s. Lesson 06 is still OVER the 15 s aim; the others are under it.

2026-12-01 01:53-02:27, lesson 06 only, commit e107a4e (this note changes no engine code), seven runs at the load
average shown (start of run): Run All 24.3 s (0.6, rising to 2.7 during the run), 12.9 s (2.5), 9.4 s (2.5), 20.6 / 20.9
/ 14.2 s (7.2 / 13.7 / 9.6), 24.9 s (5.9), 37.1 s (7.4); peer 1.5-5.9 s. Kernel CPU 10.0-11.7 s in every run: under the
aim on a quiet machine, over it when other work takes the cores, since the wall time follows the kernel's share of
them. Kernel CPU per cell (one run, ``time.process_time`` after each cell, load 2.6): imports and the widget backend
0.86 s, the native/post cell 2.11 s (``import scipy.signal`` 0.7-1.0 s, ``native_stems`` 0.5-0.6 s, ``postgen_stems``
0.12 s, the three A/B players 0.18 s), ``compare_layers`` 0.84 s, the ``welch`` figure 0.38 s, hybrid steps 6.56 s,
the rest 0.3 s; 11.06 s in all. ``hybrid_steps`` in a plain process (CPU per part, one check thread): the five steps'
checks 4.9 s (sync 2.1 s with the layers heard in the mix and the dialogue found in it, masking 0.9 s, band audibility
0.8 s, ducking 0.3 s, the other seven 0.8 s), renders 0.65-0.84 s (0.45 s of it the master's loudness passes), reading
the five folders 0.4 s, the exports 0.3-0.4 s. Work still done twice, found by hashing the inputs of the hot
measurements over the whole lesson: 0.5 s CPU in all (energy sums of the placed bed clips in ducking and continuity
0.16 s, ``correlate_lags`` 0.12 s, onsets of the same SFX stem in ``compare_layers`` and the checks 0.08 s, clip reads
0.08 s); the band power frames (1.0-1.2 s), K-weighted blocks (0.7 s) and windowed gains (0.5 s) are all of different
signals. Tried and dropped: checking the last step on the calling thread (14 old/new pairs alternated at load 4-7:
CPU +0.40 s on average, wall not measurably better) and BLAS held to one thread during the walk with threadpoolctl
(reports identical; 6.12 -> 6.06 s CPU over 5 alternated pairs, within the noise). The largest single cost left is
SciPy's import, which three users need (the stems estimate's STFT, the audit's band, the lesson's ``welch``) and which
every public ``scipy.signal`` submodule pays too.

2026-12-01 02:30-02:31, all four lessons, commit cca0cf1, the benchmark's processes given the cores as a learner's
foreground lab has them (nice -15 for every process and thread, and for their scheduler autogroup: with autogroups on,
as on this machine, nice alone ranks processes only within their own session, which is why the runs above at
"high priority" still lost the cores to other sessions) while other work kept the load average at 8.1-8.8: peer
1.4 s; 00 3.6 s (kernel CPU 3.5 s), 06 9.4 s (10.5 s; hybrid steps cell 4.6 s), 07 5.1 s (4.3 s), 08 4.1 s (4.1 s).
Every lesson is under the 15 s aim. The same run without the autogroup's share, two minutes earlier (load 7.0-8.0):
peer 4.1 s, 00 8.5 s, 06 23.0 s, 07 16.0 s, 08 17.0 s, with the same kernel CPU (3.4, 9.9, 4.4, 4.7 s).

Headless Run All skips the browser's rendering of widgets and figures; the in-browser figure adds
that (``bench_mixer.py --browser`` measures the mixer in Chromium).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
LESSONS = ROOT / "lessons"
AIM_S = 15.0

PEER_SOURCE = "%matplotlib widget\nimport numpy as np\nimport matplotlib.pyplot as plt\nimport layerlab\n"
CPU_PROBE = "import time as _t; print('KERNEL_CPU_S', _t.process_time())"
"""Appended to every run: the kernel's own CPU time (all its threads), which the machine's load does not inflate."""


def run_notebook(nb, work: Path) -> tuple[float, float, list]:
    """Execute ``nb`` in ``work``; return (wall seconds, kernel CPU seconds, [(seconds, cell index, first line)])."""
    from nbclient import NotebookClient

    nb.cells.append(nbformat.v4.new_code_cell(CPU_PROBE))

    client = NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(work)}},
                            allow_errors=False, record_timing=True)
    t = time.perf_counter()
    client.execute()
    wall = time.perf_counter() - t
    probe = "".join(out.get("text", "") for out in nb.cells.pop().outputs)
    cpu = float(probe.split("KERNEL_CPU_S", 1)[1])
    cells = []
    for i, cell in enumerate(nb.cells):
        timing = cell.get("metadata", {}).get("execution", {})
        start, end = timing.get("iopub.execute_input"), timing.get("shell.execute_reply")
        if cell.cell_type == "code" and start and end:
            dt = (datetime.fromisoformat(end.replace("Z", "+00:00"))
                  - datetime.fromisoformat(start.replace("Z", "+00:00"))).total_seconds()
            first = next((line for line in cell.source.splitlines() if line.strip() and not line.startswith("#")), "")
            cells.append((dt, i, first[:60]))
    return wall, cpu, sorted(cells, reverse=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="lesson notebooks to run (stem or file name); all by default")
    args = parser.parse_args(argv)
    paths = sorted(LESSONS.glob("*.ipynb"))
    if args.names:
        paths = [p for p in paths if p.stem in args.names or p.name in args.names]
        if not paths:
            print(f"no lesson matches {args.names}; the lessons are {[p.stem for p in sorted(LESSONS.glob('*.ipynb'))]}")
            return 2
    scratch = Path(tempfile.mkdtemp(prefix="bench_runall_"))
    os.environ.setdefault("NUMBA_CACHE_DIR", str(scratch / "numba"))
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    try:
        work = scratch / "peer"
        work.mkdir()
        peer_nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(PEER_SOURCE)])
        peer_s, peer_cpu, _ = run_notebook(peer_nb, work)
        print(f"peer (kernel start + imports): {peer_s:5.1f} s  (kernel CPU {peer_cpu:4.1f} s)")
        worst = 0.0
        for path in paths:
            work = scratch / path.stem
            shutil.copytree(LESSONS, work, ignore=shutil.ignore_patterns("_layerlab_audio", "session.json", "deliverable"))
            nb = nbformat.read(work / path.name, as_version=4)
            wall, cpu, cells = run_notebook(nb, work)
            worst = max(worst, wall)
            verdict = "under" if wall < AIM_S else "OVER"
            slow = "; ".join(f"cell {i} {dt:.1f} s ({first})" for dt, i, first in cells[:3])
            print(f"{path.stem:28s} Run All {wall:5.1f} s  ({wall / peer_s:4.1f}x the peer; kernel CPU {cpu:4.1f} s)  "
                  f"{verdict} the {AIM_S:.0f} s aim")
            print(f"    slowest cells: {slow}")
        print(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        return 0
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
