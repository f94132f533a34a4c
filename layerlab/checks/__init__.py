"""The mix checks: measure a learner's deliverable against a scene's cue sheet.

:func:`run_checks` reads a deliverable folder (``mix.wav`` + four stems) and
a scene's ``cues.json`` and runs every check, each wrapped so that one broken
file or one failing measurement never stops the others:

==========================  ==============================================================
``format``                  48 kHz, stereo, 16/24-bit PCM or 32-bit float, the scene's
                            length within one frame, stems of the mix's length, no
                            clipping, nothing missing or unreadable
``stems_sum``               stems add up to the mix (a gentle master limiter is tolerated)
``loudness``                integrated (or dialogue-gated) loudness against the profile
``true_peak``               true peak against the profile's ceiling
``sync``                    every visual event's SFX onset within the pass window
``dialogue_sync``           every dialogue line within the pass window
``masking``                 dialogue over music (>= 10 LU) and ambience (>= 15 LU)
``band_audibility``         SII-style band audibility of the dialogue over the rest
``ducking``                 music ducks under dialogue, without gain steps
``ambience_continuity``     no dropouts or jumps in the ambience where the scene goes on
``dialogue_noise_floor``    a quiet dialogue stem between lines, no clipping
==========================  ==============================================================

Each check returns a :class:`CheckResult` with a plain-language message that
says what to change. :class:`CheckReport` renders as text, JSON and figures.
Where two cores are free the checks run on two threads (the measurements they
share are made once); the report is the same as when they run in turn. The
scene's clips are decoded once per process while their files are unchanged
(:func:`~layerlab.checks.context.scene_clip`).

The listener hears ``mix.wav``: masking, ducking and band audibility also
measure the layers as the mix holds them (found by the scene's clips,
:mod:`~layerlab.checks.heard`) and judge the worse of mix and stems, and where
the mix and the stems disagree, sync and ambience continuity look at the mix
itself; the stems only say which layer is at fault.

The package is split by what is measured: :mod:`~layerlab.checks.gates`,
:mod:`~layerlab.checks.loudness`, :mod:`~layerlab.checks.sync`,
:mod:`~layerlab.checks.masking`, :mod:`~layerlab.checks.ducking`,
:mod:`~layerlab.checks.continuity`, :mod:`~layerlab.checks.heard`, :mod:`~layerlab.checks.report` and
:mod:`~layerlab.checks.plots`; every public name is importable from here.

Command line::

    layerlab check SUBMISSION_DIR --scene SCENE_ID [--target PROFILE] [--json] [--figures DIR]

Exit status: 0 when every check passed, 1 when some check failed, 2 when the
checks could not run at all (unknown scene, missing folder, bad option).

Taught in ``lessons/08_measuring_the_mix.ipynb``; the autograder scores these
results with its own rubric.
"""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path
from typing import Callable

from layerlab.errors import LayerLabError
from layerlab.io.cuesheet import SceneCues, load_cues
from layerlab.io.deliverable import STEM_NAMES, read_deliverable
from layerlab.measure.sync import EBU_R37, get_sync_window
from layerlab.checks.context import CheckContext, estimate_from_scene
from layerlab.checks.continuity import (
    ContinuityResult,
    NoiseFloorResult,
    ambience_continuity,
    check_ambience,
    check_noise_floor,
    dialogue_noise_floor,
)
from layerlab.checks.ducking import DuckingMeasure, check_ducking, measure_ducking
from layerlab.checks.gates import check_format, check_stems_sum
from layerlab.checks.heard import drop_working_data, prefetch_bed_lags
from layerlab.checks.loudness import check_loudness, check_true_peak
from layerlab.checks.masking import check_band_audibility, check_masking
from layerlab.checks.report import CHECK_NAMES, CheckReport, CheckResult
from layerlab.checks.sync import check_dialogue_sync, check_sync

__all__ = [
    "CHECK_NAMES",
    "CheckResult",
    "CheckReport",
    "SceneCues",
    "DuckingMeasure",
    "ContinuityResult",
    "NoiseFloorResult",
    "load_cues",
    "measure_ducking",
    "ambience_continuity",
    "dialogue_noise_floor",
    "run_checks",
    "usable_cores",
    "configure",
    "run",
]


_CHECKS: list[tuple[str, str, Callable[[CheckContext], CheckResult]]] = [
    ("format", "problems", check_format),
    ("stems_sum", "dB", check_stems_sum),
    ("loudness", "LUFS", check_loudness),
    ("true_peak", "dBTP", check_true_peak),
    ("sync", "ms", check_sync),
    ("dialogue_sync", "ms", check_dialogue_sync),
    ("masking", "LU", check_masking),
    ("band_audibility", "index", check_band_audibility),
    ("ducking", "dB", check_ducking),
    ("ambience_continuity", "events", check_ambience),
    ("dialogue_noise_floor", "dBFS", check_noise_floor),
]


def run_checks(submission_dir, *, scene, target: str = "streaming", sync_window=EBU_R37,
               search_window_ms: float = 500.0) -> CheckReport:
    """Run every mix check on a deliverable folder.

    Parameters
    ----------
    submission_dir : str or Path
        Folder with ``mix.wav`` and ``stems/{dialogue,sfx,ambience,music}.wav``.
    scene : str, Path, dict or SceneCues
        Scene id, path to a ``cues.json`` (or its folder), or a parsed cue sheet.
    target : str or DeliveryProfile
        Delivery profile for loudness and true peak (``"streaming"`` by default).
    sync_window : SyncWindow or str
        Pass window for sync (EBU R37 by default; see :data:`layerlab.measure.sync.SYNC_WINDOWS`).
    search_window_ms : float
        How far from its cue a sound is searched for before it counts as missing.

    Returns
    -------
    CheckReport
        One :class:`CheckResult` per name in :data:`CHECK_NAMES`. A check that
        cannot run (a missing or broken file, an unexpected error) fails with
        a message; the others still run.

    Raises
    ------
    SessionError
        When the scene's cue sheet or the submission folder cannot be found.
    ParameterError
        For an unknown profile or sync window.

    Notes
    -----
    Taught in ``lessons/08_measuring_the_mix.ipynb``.
    """
    from layerlab.measure.targets import get_profile

    cues = load_cues(scene)
    profile = target if hasattr(target, "target_lufs") else get_profile(str(target))
    window = get_sync_window(sync_window)
    dl = read_deliverable(submission_dir, duration_s=cues.duration_s, fps=cues.fps)
    data: dict = {"profile": profile, "duration_s": cues.duration_s}
    if dl.files["mix"].usable and not any(dl.files[s].usable for s in STEM_NAMES):
        est = estimate_from_scene(dl.audio("mix"), cues, search_window_ms)
        if est is not None:
            for s in STEM_NAMES:
                dl.files[s].audio = est.stems[s]
            dl.estimated = True
            data["estimated"] = est.found
    ctx = CheckContext(dl, cues, profile, window, float(search_window_ms), data)

    def one(name: str, unit: str, fn) -> CheckResult:
        try:
            res = fn(ctx)
        except Exception as exc:  # one failing measurement must not stop the others
            kind = "" if isinstance(exc, LayerLabError) else f"{type(exc).__name__}: "
            res = CheckResult(name, None, unit, "", False, f"could not be measured ({kind}{exc}).",
                              {"error": f"{type(exc).__name__}: {exc}"})
        if dl.estimated and name not in ("format", "stems_sum", "loudness", "true_peak"):
            res.message = "(stems estimated from the premix with the scene's clips) " + res.message
            res.details["stems_estimated"] = True
        return res

    results = None
    pool = _check_pool()
    if pool is not None:
        try:
            with pool:
                order = sorted(_CHECKS, key=lambda c: _FIRST.index(c[0]) if c[0] in _FIRST else len(_FIRST))
                pool.submit(_prefetch, ctx)  # the second thread: the beds' clip lags the first will need
                done = {name: pool.submit(one, name, unit, fn) for name, unit, fn in order}
                results = [done[name].result() for name, _, _ in _CHECKS]
        except RuntimeError:  # no thread could be started (a process limit): the checks in turn, as below
            results = None
    if results is None:
        results = [one(name, unit, fn) for name, unit, fn in _CHECKS]
    drop_working_data(ctx)
    return CheckReport(scene=cues.scene, target=getattr(profile, "name", str(target)), submission=Path(submission_dir),
                       checks=results, data=data)


def _prefetch(ctx: CheckContext) -> None:
    """Start the shared measurements that the first check waits for (:func:`~layerlab.checks.heard.prefetch_bed_lags`).

    An error here is left to the check that makes the same measurement again and reports it.
    """
    try:
        prefetch_bed_lags(ctx)
    except Exception:  # the checks that need these lags measure them again and report what fails
        pass


_FIRST = ("sync", "format", "stems_sum", "loudness", "true_peak", "masking", "band_audibility", "ducking")
"""The order the checks are started in on two threads: ``sync`` first finds the layers heard in the mix (which
masking, band audibility and ducking need) while the other thread first finds the ambience as heard in the mix and
where the music stem has its clip (:func:`_prefetch`: half of those layers), then runs the checks that never look at
them."""


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity where the system tells it, else all of them)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # macOS and Windows have no sched_getaffinity
        return max(1, os.cpu_count() or 1)


def _check_pool():
    """Two threads for the checks, or None (the checks in turn) on one core, off the main thread, or without threads.

    The checks spend most of their time in NumPy, which releases the GIL, so two cores halve much of
    ``layerlab check``'s wall time (issue #17); the measurements they share are made once under
    :func:`~layerlab.checks.context.key_lock`, and the report is the same as when they run in turn.
    """
    if usable_cores() < 2 or threading.current_thread() is not threading.main_thread():
        return None  # one core, or a caller that already checks on threads of its own (lesson 06's hybrid steps)
    from concurrent.futures import ThreadPoolExecutor

    try:
        return ThreadPoolExecutor(max_workers=2, thread_name_prefix="layerlab-check")
    except RuntimeError:
        return None


# ----------------------------------------------------------------------------- command line


def configure(parser) -> None:
    """Arguments of ``layerlab check``."""
    parser.add_argument("submission", metavar="SUBMISSION_DIR", help="deliverable folder (mix.wav + stems/)")
    parser.add_argument("--scene", required=True, help="scene id, or path to a cues.json")
    parser.add_argument("--target", default="streaming", help="delivery profile (default: streaming)")
    parser.add_argument("--sync-window", default="ebu_r37",
                        help="sync pass window: ebu_r37 (default), bt1359_detectable, bt1359_acceptable, atsc_is191")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--figures", metavar="DIR", help="also save the figures as PNG files in DIR")
    parser.epilog = "exit status: 0 all checks passed, 1 some check failed, 2 the checks could not run"


def run(args) -> int:
    """``layerlab check``: print the report; exit 0 if all passed, 1 if some failed, 2 if it could not run."""
    from layerlab.checks import context

    keep, context.KEEP_BY_CONTENT = context.KEEP_BY_CONTENT, False  # one deliverable: nothing measured twice (memo)
    try:
        report = run_checks(args.submission, scene=args.scene, target=args.target, sync_window=args.sync_window)
    except LayerLabError as exc:
        print(f"layerlab check: error: {exc}", file=sys.stderr)
        return 2
    finally:
        context.KEEP_BY_CONTENT = keep
    if args.json:
        print(report.to_json())
    else:
        print(report.to_text())
    if args.figures:
        paths = report.save_figures(args.figures)
        if not args.json:
            print(f"figures: {', '.join(str(p) for p in paths)}")
    return 0 if report.passed else 1

