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

The measurement helpers for ducking, ambience continuity and the dialogue
noise floor live here too (:func:`measure_ducking`,
:func:`ambience_continuity`, :func:`dialogue_noise_floor`).

Command line::

    layerlab check SUBMISSION_DIR --scene SCENE_ID [--target PROFILE] [--json] [--figures DIR]

Exit status: 0 when every check passed, 1 when some check failed, 2 when the
checks could not run at all (unknown scene, missing folder, bad option).

Taught in ``lessons/08_measuring_the_mix.ipynb``; the autograder scores these
results with its own rubric.
"""

from __future__ import annotations

import json
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from layerlab.io.audio import SAMPLE_RATE, load_audio
from layerlab.io.deliverable import STEM_NAMES, Deliverable, find_clipping, read_deliverable
from layerlab.errors import LayerLabError, ParameterError, SessionError
from layerlab.measure.masking import (
    Activity,
    band_audibility,
    dialogue_activity,
    dialogue_to_background_lu,
)
from layerlab.paths import scenes_dir
from layerlab.measure.sync import EBU_R37, SyncResult, SyncWindow, dialogue_offsets, get_sync_window, sfx_offsets

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
    "configure",
    "run",
]

CHECK_NAMES = (
    "format",
    "stems_sum",
    "loudness",
    "true_peak",
    "sync",
    "dialogue_sync",
    "masking",
    "band_audibility",
    "ducking",
    "ambience_continuity",
    "dialogue_noise_floor",
)
"""Every check :func:`run_checks` runs, in report order."""

# Thresholds (REFERENCE.md; Torcoli et al. 2019; ANSI S3.5).
MUSIC_LD_MIN_LU = 10.0
AMBIENCE_LD_MIN_LU = 15.0
BAND_AUDIBILITY_MIN = 0.75  # SII >= 0.75 is the usual mark of good intelligibility
DUCK_MIN_DEPTH_DB = 6.0
DUCK_MAX_STEP_DB = 6.0  # largest sustained gain change within 10 ms
STEMS_SUM_MAX_DB = -20.0  # residual energy relative to the mix
NOISE_FLOOR_MAX_DBFS = -60.0
AMBIENCE_DROPOUT_DB = 20.0
AMBIENCE_JUMP_DB = 6.0


# ----------------------------------------------------------------------------- results


def _clean(v):
    """Make a value JSON-safe: numpy scalars to Python, non-finite floats to None."""
    if isinstance(v, dict):
        return {str(k): _clean(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_clean(x) for x in v]
    if isinstance(v, np.ndarray):
        return [_clean(x) for x in v.tolist()]
    if isinstance(v, (np.bool_, bool)):
        return bool(v)
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        f = float(v)
        return round(f, 4) if math.isfinite(f) else None
    if isinstance(v, Path):
        return str(v)
    return v


@dataclass
class CheckResult:
    """The outcome of one check.

    Attributes
    ----------
    name : str
        One of :data:`CHECK_NAMES`.
    value : float or None
        The measured number (None when it could not be measured; ``inf``
        when, e.g., the background is silent under dialogue).
    unit : str
        ``"LUFS"``, ``"dBTP"``, ``"ms"``, ``"LU"``, ``"dB"``, ``"dBFS"``, ...
    target : str
        The pass condition in words (``"-14 ±1 LUFS"``).
    passed : bool
    message : str
        What was found and what to change.
    details : dict
        Per cue, per band, per file: JSON-ready.
    """

    name: str
    value: float | None
    unit: str
    target: str
    passed: bool
    message: str
    details: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        """JSON-ready dictionary with the keys ``name, passed, value, unit, target, message, details``."""
        return {
            "name": self.name,
            "passed": bool(self.passed),
            "value": _clean(self.value),
            "unit": self.unit,
            "target": self.target,
            "message": self.message,
            "details": _clean(self.details),
        }

    def value_text(self) -> str:
        """The value with its unit, for text reports."""
        if self.value is None:
            return "n/a"
        v = float(self.value)
        if math.isinf(v):
            return ("+" if v > 0 else "-") + "inf " + self.unit
        if self.unit in ("", "index"):
            return f"{v:.2f}"
        return f"{v:.1f} {self.unit}"


@dataclass
class CheckReport:
    """All check results for one deliverable.

    Attributes
    ----------
    scene : str
    target : str
        The delivery profile's name.
    submission : Path
    checks : list of CheckResult
    data : dict
        Measurements kept for figures (not serialized).
    """

    scene: str
    target: str
    submission: Path
    checks: list[CheckResult]
    data: dict = field(default_factory=dict, repr=False)

    def __getitem__(self, name: str) -> CheckResult:
        for c in self.checks:
            if c.name == name:
                return c
        raise KeyError(f"no check named {name!r}; checks are {', '.join(c.name for c in self.checks)}")

    @property
    def passed(self) -> bool:
        """True when every check passed."""
        return all(c.passed for c in self.checks)

    @property
    def failed(self) -> list[CheckResult]:
        """The checks that failed."""
        return [c for c in self.checks if not c.passed]

    def to_dict(self) -> dict:
        """``{"scene", "target", "submission", "passed", "checks": [...]}``."""
        return {
            "scene": self.scene,
            "target": self.target,
            "submission": str(self.submission),
            "passed": self.passed,
            "checks": [c.to_dict() for c in self.checks],
        }

    def to_json(self, *, indent: int | None = 2) -> str:
        """The report as strict JSON (non-finite numbers become null)."""
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False)

    def to_text(self) -> str:
        """A plain-text report: one line per check, then what to change."""
        prof = self.data.get("profile")
        head = f"Layer Lab check: scene {self.scene}, target {self.target}"
        if prof is not None:
            head += f" ({prof.target_lufs:g} LUFS ±{prof.tolerance_lu:g}, true peak ≤ {prof.max_true_peak_dbtp:g} dBTP)"
        lines = [head, f"submission: {self.submission}", ""]
        for c in self.checks:
            mark = "PASS" if c.passed else "FAIL"
            lines.append(f"{mark}  {c.name:<21} {c.value_text():>14}   target {c.target}")
            lines.append(f"      {c.message}")
        n = sum(c.passed for c in self.checks)
        lines += ["", f"{n}/{len(self.checks)} checks passed."]
        return "\n".join(lines)

    def figures(self) -> dict:
        """Figures of the measurements, by name (only those that could be measured).

        Returns
        -------
        dict of str to matplotlib.figure.Figure
            ``"loudness"``, ``"masking_map"``, ``"sync_timeline"``, ``"ducking"``.
        """
        from layerlab.checks import plots

        out = {}
        d = self.data
        if d.get("loudness_series") is not None and d.get("profile") is not None:
            out["loudness"] = plots.plot_loudness(d["loudness_series"], profile=d["profile"],
                                                  integrated_lufs=d.get("integrated_lufs"))
        if d.get("band_audibility") is not None:
            out["masking_map"] = plots.plot_masking_map(d["band_audibility"])
        if d.get("sfx_sync") is not None or d.get("dialogue_sync") is not None:
            out["sync_timeline"] = plots.plot_sync_timeline(sfx=d.get("sfx_sync"), dialogue=d.get("dialogue_sync"),
                                                            duration_s=d.get("duration_s"))
        if d.get("ducking") is not None:
            out["ducking"] = plots.plot_ducking(d["ducking"], activity=d.get("activity"))
        return out

    def save_figures(self, out_dir) -> list[Path]:
        """Save :meth:`figures` as PNG files in ``out_dir``; return their paths."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        paths = []
        for name, fig in self.figures().items():
            p = out / f"{name}.png"
            fig.savefig(p, dpi=110)
            paths.append(p)
        return paths


# ----------------------------------------------------------------------------- cue sheets


@dataclass
class SceneCues:
    """The parts of a scene's ``cues.json`` the checks use.

    Attributes
    ----------
    scene : str
    folder : Path or None
        Where the cue sheet lives (clip paths are relative to it).
    fps : float
    sample_rate : int
    duration_s : float
    events : list of dict
        ``id``, ``time_s``, ``label``, ``clip``.
    dialogue : list of dict
        ``id``, ``start_s``, ``end_s``, ``text``, ``speaker``, ``clip``.
    scene_changes_s : list of float
    has_music, has_ambience : bool
    raw : dict
        The whole cue sheet.
    """

    scene: str
    folder: Path | None
    fps: float
    sample_rate: int
    duration_s: float
    events: list
    dialogue: list
    scene_changes_s: list
    has_music: bool
    has_ambience: bool
    raw: dict

    def clip_path(self, rel) -> Path | None:
        """Resolve a clip path of the cue sheet (None if it does not exist)."""
        if not rel or self.folder is None:
            return None
        p = (self.folder / rel)
        return p if p.is_file() else None


def _scene_change_times(items) -> list[float]:
    out = []
    for it in items or []:
        if isinstance(it, (int, float)):
            out.append(float(it))
        elif isinstance(it, dict):
            for k in ("time_s", "start_s", "at_s"):
                if k in it:
                    out.append(float(it[k]))
                    break
    return out


def load_cues(scene) -> SceneCues:
    """Load a scene's cue sheet.

    Parameters
    ----------
    scene : str, Path, dict, Scene or SceneCues
        A scene id (looked up under :func:`layerlab.paths.scenes_dir`), a path
        to a ``cues.json`` or to its folder, a :class:`layerlab.mix.scenes.Scene`,
        or an already parsed cue sheet.

    Returns
    -------
    SceneCues

    Raises
    ------
    SessionError
        If the scene is unknown or the cue sheet is malformed.

    Notes
    -----
    Taught in ``lessons/08_measuring_the_mix.ipynb``.
    """
    if isinstance(scene, SceneCues):
        return scene
    folder = None
    if hasattr(scene, "cues") and isinstance(getattr(scene.cues, "raw", None), dict) and hasattr(scene, "path"):
        # a layerlab.mix.scenes.Scene
        data, folder = scene.cues.raw, Path(scene.path)
    elif hasattr(scene, "raw") and isinstance(scene.raw, dict) and not isinstance(scene, dict):
        data = scene.raw  # a layerlab.mix.scenes.Cues (clip paths cannot be resolved without its folder)
    elif isinstance(scene, dict):
        data = scene
    else:
        p = Path(str(scene)).expanduser()
        if p.is_dir():
            p = p / "cues.json"
        if not p.is_file():
            cand = scenes_dir() / str(scene) / "cues.json"
            if cand.is_file():
                p = cand
            else:
                known = sorted(d.name for d in scenes_dir().iterdir() if (d / "cues.json").is_file()) if scenes_dir().is_dir() else []
                raise SessionError(
                    f"scene {scene!r}: no cues.json found (neither a file nor a scene id). "
                    + (f"Known scenes: {', '.join(known)}." if known else f"No scenes found under {scenes_dir()}.")
                )
        try:
            data = json.loads(p.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise SessionError(f"{p}: not valid JSON ({exc}).") from exc
        folder = p.parent
    if not isinstance(data, dict):
        raise SessionError("cue sheet: expected a JSON object.")
    try:
        duration_s = float(data["duration_s"])
    except (KeyError, TypeError, ValueError) as exc:
        raise SessionError(f"cue sheet of {data.get('scene', '?')}: needs a numeric duration_s.") from exc
    events = []
    for k, ev in enumerate(data.get("events") or []):
        if "time_s" not in ev:
            raise SessionError(f"cue sheet of {data.get('scene', '?')}: event {k} has no time_s.")
        events.append(dict(ev))
    lines = []
    for k, ln in enumerate(data.get("dialogue") or []):
        if "start_s" not in ln:
            raise SessionError(f"cue sheet of {data.get('scene', '?')}: dialogue line {k} has no start_s.")
        lines.append(dict(ln))
    return SceneCues(
        scene=str(data.get("scene") or (folder.name if folder else "scene")),
        folder=folder,
        fps=float(data.get("fps") or 24.0),
        sample_rate=int(data.get("sample_rate") or SAMPLE_RATE),
        duration_s=duration_s,
        events=events,
        dialogue=lines,
        scene_changes_s=_scene_change_times(data.get("scene_changes")),
        has_music=bool(data.get("music")),
        has_ambience=bool(data.get("ambience")),
        raw=data,
    )


# ----------------------------------------------------------------------------- measurements


def _level_db(audio: np.ndarray, *, sample_rate: int, win_ms: float, hop_ms: float) -> tuple[np.ndarray, np.ndarray]:
    """RMS level in dBFS of sliding windows (channels' power averaged): (times_s, level_db)."""
    p = np.mean(audio.astype(np.float64) ** 2, axis=1)
    win = max(1, int(round(win_ms * sample_rate / 1000.0)))
    hop = max(1, int(round(hop_ms * sample_rate / 1000.0)))
    if p.size < win:
        return np.zeros(0), np.zeros(0)
    c = np.concatenate([[0.0], np.cumsum(p)])
    starts = np.arange(0, p.size - win + 1, hop)
    e = (c[starts + win] - c[starts]) / win
    return (starts + win / 2) / sample_rate, 10.0 * np.log10(np.maximum(e, 1e-20))


@dataclass
class DuckingMeasure:
    """How the music behaves under the dialogue.

    Attributes
    ----------
    depth_db : float or None
        Music level without dialogue minus music level with dialogue (power
        means over settled stretches); None if one of the two is missing.
    level_speech_db, level_free_db : float or None
        Music RMS level (dBFS) during and between speech.
    max_step_db : float
        The largest lasting music gain change between adjacent 10 ms windows
        near a dialogue boundary; a step that clicks reads as the full duck
        depth. Without a reference: between 20 ms windows, minus the 99th
        percentile of the music's own 20 ms level changes away from speech.
    step_time_s : float or None
        Where that change happens.
    times_s : np.ndarray, shape (n_frames,)
    gain_db : np.ndarray, shape (n_frames,)
        Music level relative to its level between lines (the gain envelope
        as heard), for plots.
    """

    depth_db: float | None
    level_speech_db: float | None
    level_free_db: float | None
    max_step_db: float
    step_time_s: float | None
    times_s: np.ndarray
    gain_db: np.ndarray


def _reference_lag(stem_mono: np.ndarray, ref_mono: np.ndarray, *, sample_rate: int, max_lag_s: float = 1.0):
    """Lag (samples, positive = stem later) and normalized correlation of a reference inside a stem."""
    from scipy.signal import fftconvolve

    n = min(stem_mono.size, ref_mono.size)
    if n < sample_rate // 10:
        return 0, 0.0
    # correlate envelopes at 1 ms first: robust to ducking and cheap (every 5th lag, as before)
    from layerlab.measure.correlation import lagged_pearson
    from layerlab.measure.envelopes import frame_power

    hop = max(1, sample_rate // 1000)
    es, er = np.sqrt(frame_power(stem_mono * stem_mono, hop)), np.sqrt(frame_power(ref_mono * ref_mono, hop))
    xc = lagged_pearson(es, er, max_lag=int(max_lag_s * 1000), min_overlap=100)
    every5 = xc.lags % 5 == 0
    best, best_c = (0, -1.0) if not every5.any() else (int(xc.lags[every5][np.argmax(xc.r[every5])]),
                                                        float(np.max(xc.r[every5])))
    # refine at the sample level (waveform correlation within +-6 ms of the envelope lag)
    lag_s = best * hop
    r = 6 * hop
    seg_ref = ref_mono[: min(ref_mono.size, sample_rate * 5)]
    start = lag_s - r
    seg = stem_mono[start : start + seg_ref.size + 2 * r] if start >= 0 else np.zeros(0)
    if seg.size > seg_ref.size:
        xc = fftconvolve(seg, seg_ref[::-1], mode="valid")
        k = int(np.argmax(np.abs(xc)))
        lag_s = start + k
    return int(lag_s), best_c


def measure_ducking(music, activity: Activity, *, sample_rate: int = SAMPLE_RATE, reference=None,
                    settle_after_s: float = 0.6, settle_before_s: float = 0.3,
                    settle_in_s: float = 0.25) -> DuckingMeasure:
    """Measure ducking depth and gain smoothness from the music stem.

    Parameters
    ----------
    music : np.ndarray, shape (n_samples, n_channels)
        The music stem as exported (after ducking).
    activity : Activity
        When dialogue is active (:func:`layerlab.measure.masking.dialogue_activity`).
    sample_rate : int
    reference : np.ndarray, shape (n_samples, n_channels), optional
        The music before any gain (the scene's music clip placed where the
        stem has it). With it, the gain is read as stem level minus clip
        level, so the music's own crescendos and note attacks cancel out.
        Without it, the stem's level is used as it is.
    settle_after_s, settle_before_s : float
        Dialogue-free frames this close after / before speech are left out of
        the "free" level (release and lookahead).
    settle_in_s : float
        Speech frames this close to a speech boundary are left out of the
        "speech" level (attack).

    Returns
    -------
    DuckingMeasure

    Notes
    -----
    With a reference, the depth is the difference of the median gains
    between and during speech; without one, of the power means of the levels.
    Steps are found from 10 ms windows (20 ms without a reference): the
    change between adjacent windows, counted only if the median level 20-60 ms
    on either side confirms at least 75% of it as a lasting change (a drum
    hit rises and falls; a gain step stays). Without a
    reference only changes in the ducking direction (down at speech starts,
    up at speech ends) within 150 ms of a boundary count.

    Taught in ``lessons/07_four_layers.ipynb`` (ducking).
    """
    sr = int(sample_rate)
    music = np.asarray(music, dtype=np.float32)
    t, lv = _level_db(music, sample_rate=sr, win_ms=50.0, hop_ms=10.0)
    ref_ok = None
    if reference is not None:
        reference = np.asarray(reference, dtype=np.float32)
        if reference.shape[0] != music.shape[0]:
            raise ParameterError("measure_ducking: reference must have as many samples as the music stem.")
        _, lr = _level_db(reference, sample_rate=sr, win_ms=50.0, hop_ms=10.0)
        ref_ok = lr > (np.median(lr) - 20.0)
        lv = lv - lr  # the gain, in dB
    act = activity.active_at(t)
    segs = activity.segments()
    dist_after = np.full(t.size, np.inf)  # time since the end of the last speech segment
    dist_before = np.full(t.size, np.inf)  # time until the next speech start
    dist_in = np.full(t.size, np.inf)  # distance to the nearest boundary, for speech frames
    for s, e in segs:
        after = t - e
        m = after >= 0
        dist_after[m] = np.minimum(dist_after[m], after[m])
        before = s - t
        m = before >= 0
        dist_before[m] = np.minimum(dist_before[m], before[m])
        inside = (t >= s) & (t <= e)
        dist_in[inside] = np.minimum(dist_in[inside], np.minimum(t[inside] - s, e - t[inside]))
    valid = np.isfinite(lv) & (lv > -150)
    if ref_ok is not None:
        valid &= ref_ok

    def pick(a_s, b_s, in_s):
        free = (~act) & (dist_after >= a_s) & (dist_before >= b_s) & valid
        speech = act & (dist_in >= in_s) & valid
        return free, speech

    free, speech = pick(settle_after_s, settle_before_s, settle_in_s)
    if not free.any() or not speech.any():
        free, speech = pick(0.2, 0.1, 0.1)
    if reference is not None:
        lf = float(np.median(lv[free])) if free.any() else None
        ls = float(np.median(lv[speech])) if speech.any() else None
    else:
        lin = 10.0 ** (lv / 10.0)
        lf = float(10 * np.log10(lin[free].mean())) if free.any() else None
        ls = float(10 * np.log10(lin[speech].mean())) if speech.any() else None
    depth = (lf - ls) if (lf is not None and ls is not None) else None
    base = lf if lf is not None else (float(np.median(lv[valid])) if valid.any() else 0.0)
    gain = np.where(valid, lv - base, np.nan)
    # gain steps near speech boundaries
    # with a reference the gain is clean at 10 ms; without one the music's own beating and attacks
    # need longer windows, and a step then reads over 20 ms
    step_ms = 10 if reference is not None else 20
    t10, l10 = _level_db(music, sample_rate=sr, win_ms=float(step_ms), hop_ms=1.0)
    ok10 = np.ones(l10.size, bool)
    if reference is not None:
        _, r10 = _level_db(reference, sample_rate=sr, win_ms=10.0, hop_ms=1.0)
        ok10 = r10 > (np.median(r10) - 20.0)
        l10 = l10 - r10
    max_step, step_t = 0.0, None
    near = 0.6 if reference is not None else 0.15
    if l10.size > 130 and segs:
        for s, e in segs:
            for b, direction in ((s, -1.0), (e, 1.0)):
                lo = np.searchsorted(t10, b - near)
                hi = np.searchsorted(t10, b + near)
                for i in range(max(lo, 60), min(hi, l10.size - 61)):
                    if not (ok10[i - step_ms // 2] and ok10[i + step_ms // 2]):
                        continue
                    h = step_ms // 2
                    d = l10[i + h] - l10[i - h]  # adjacent, non-overlapping windows
                    if abs(d) <= max_step:
                        continue
                    if reference is None and np.sign(d) != direction:
                        continue
                    w0, w1 = ok10[i - 60 : i - 20], ok10[i + 20 : i + 60]
                    if not (w0.any() and w1.any()):
                        continue
                    before = np.median(l10[i - 60 : i - 20][w0])
                    after = np.median(l10[i + 20 : i + 60][w1])
                    lasting = after - before
                    if np.sign(lasting) == np.sign(d) and abs(lasting) >= 0.75 * abs(d):
                        max_step, step_t = float(abs(d)), float(t10[i])
    if reference is None and max_step > 0 and l10.size > 4 * step_ms:
        # without a reference, only what exceeds the music's own fluctuation over the same span counts
        h = step_ms // 2
        diffs = np.abs(l10[2 * h :] - l10[: -2 * h])
        centre_t = t10[h : h + diffs.size]
        far = np.ones(diffs.size, bool)
        for s, e in segs:
            far &= (np.abs(centre_t - s) > 0.7) & (np.abs(centre_t - e) > 0.7)
        if far.sum() > 100:
            max_step = float(max(0.0, max_step - np.percentile(diffs[far], 99)))
    return DuckingMeasure(depth, ls, lf, max_step, step_t, t, gain)


@dataclass
class ContinuityResult:
    """Dropouts and jumps in the ambience.

    Attributes
    ----------
    dropouts : list of dict
        ``start_s``, ``end_s``, ``depth_db`` of each stretch at least
        ``dropout_db`` under the ambience's median level.
    jumps : list of dict
        ``time_s``, ``change_db`` of each lasting level change larger than
        ``jump_db`` within half a second.
    median_level_db : float
        The ambience's median 10 ms level (dBFS).
    silent : bool
        The ambience stem has no signal at all.
    """

    dropouts: list
    jumps: list
    median_level_db: float
    silent: bool

    @property
    def passed(self) -> bool:
        """No dropouts, no jumps, not silent."""
        return not (self.dropouts or self.jumps or self.silent)


def ambience_continuity(ambience, *, sample_rate: int = SAMPLE_RATE, scene_changes_s=(), reference=None,
                        dropout_db: float = AMBIENCE_DROPOUT_DB, min_dropout_ms: float = 20.0,
                        jump_db: float = AMBIENCE_JUMP_DB, edge_s: float = 1.0,
                        change_margin_s: float = 0.5) -> ContinuityResult:
    """Find dropouts and abrupt level jumps in an ambience bed.

    Parameters
    ----------
    ambience : np.ndarray, shape (n_samples, n_channels)
    sample_rate : int
    scene_changes_s : sequence of float
        Times where the scene changes; changes within ``change_margin_s`` of
        them are expected and not reported.
    reference : np.ndarray, shape (n_samples, n_channels), optional
        The bed as it was generated (the scene's ambience clip placed where
        the stem has it). With it the stem's *gain* is followed (stem level
        minus clip level), so the bed's own events (a far door, a gust) are
        not taken for edits.
    dropout_db : float
        A stretch this far under the median level (or gain) is a dropout.
    min_dropout_ms : float
        Shortest reported dropout.
    jump_db : float
        A lasting change larger than this, most of it within 30 ms, is a jump.
    edge_s : float
        Fades at the very start and end are allowed this long.
    change_margin_s : float

    Returns
    -------
    ContinuityResult

    Notes
    -----
    Levels are 20 ms RMS windows every 10 ms. A jump compares the median
    over 280 ms before and after a moment with a reference (1 s without one),
    and needs 70% of the change within 30 ms of it.

    Taught in ``lessons/07_four_layers.ipynb`` (ambience).
    """
    sr = int(sample_rate)
    ambience = np.asarray(ambience, dtype=np.float32)
    t, lv = _level_db(ambience, sample_rate=sr, win_ms=20.0, hop_ms=10.0)
    if lv.size == 0 or lv.max() <= -190:
        return ContinuityResult([], [], float("-inf"), True)
    valid = np.ones(lv.size, bool)
    if reference is not None:
        reference = np.asarray(reference, dtype=np.float32)
        if reference.shape[0] != ambience.shape[0]:
            raise ParameterError("ambience_continuity: reference must have as many samples as the ambience stem.")
        _, lr = _level_db(reference, sample_rate=sr, win_ms=20.0, hop_ms=10.0)
        valid = lr > np.median(lr) - 25.0
        lv = lv - lr
    dur = ambience.shape[0] / sr
    inner = (t >= edge_s) & (t <= dur - edge_s)
    pool = lv[inner & valid] if (inner & valid).any() else lv[valid]
    med = float(np.median(pool))
    changes = np.asarray(list(scene_changes_s), dtype=float)

    def near_change(x):
        return bool(changes.size) and bool(np.any(np.abs(changes - x) <= change_margin_s))

    low = (lv < med - dropout_db) & inner & valid
    dropouts = []
    a = np.concatenate([[0], low.astype(np.int8), [0]])
    d = np.diff(a)
    for s0, e0 in zip(np.nonzero(d == 1)[0], np.nonzero(d == -1)[0]):
        st, en = float(t[s0] - 0.01), float(t[e0 - 1] + 0.01)
        if en - st + 1e-9 < min_dropout_ms / 1000.0 + 0.02:  # a 20 ms window overlaps the gap's edges
            continue
        if near_change(st) or near_change(en):
            continue
        depth = float(med - lv[s0:e0].min())
        dropouts.append({"start_s": round(st, 3), "end_s": round(en, 3),
                         "depth_db": round(depth, 1) if np.isfinite(depth) else None})
    half = 28 if reference is not None else 100
    jumps = []
    cand = []
    for i in range(half + 2, lv.size - half - 2):
        tt = float(t[i])
        if tt < edge_s or tt > dur - edge_s:
            continue
        w0, w1 = valid[i - half : i - 2], valid[i + 2 : i + half]
        if w0.sum() < half // 2 or w1.sum() < half // 2:
            continue
        pre = np.median(lv[i - half : i - 2][w0])
        post = np.median(lv[i + 2 : i + half][w1])
        ch = post - pre
        if abs(ch) <= jump_db:
            continue
        quick = np.mean(lv[i + 1 : i + 4]) - np.mean(lv[i - 3 : i])
        if np.sign(quick) == np.sign(ch) and abs(quick) >= 0.7 * jump_db and not near_change(tt):
            cand.append((i, float(ch)))
    k = 0
    while k < len(cand):
        j = k
        while j + 1 < len(cand) and cand[j + 1][0] - cand[j][0] <= 10:
            j += 1
        i_best, ch_best = max(cand[k : j + 1], key=lambda c: abs(c[1]))
        tt = float(t[i_best])
        if not any(dp["start_s"] - 0.35 <= tt <= dp["end_s"] + 0.35 for dp in dropouts):
            jumps.append({"time_s": round(tt, 3), "change_db": round(ch_best, 1)})
        k = j + 1
    return ContinuityResult(dropouts, jumps, med, False)


@dataclass
class NoiseFloorResult:
    """The dialogue stem between lines.

    Attributes
    ----------
    floor_dbfs : float or None
        RMS level (dBFS) of the stem between lines; None if there is no pause
        long enough to measure.
    pause_s : float
        Total length of the pauses measured.
    dialogue_dbfs : float or None
        RMS level while dialogue is active, for comparison.
    clipped_runs, clipped_samples : int
    first_clip_s : float or None
    """

    floor_dbfs: float | None
    pause_s: float
    dialogue_dbfs: float | None
    clipped_runs: int
    clipped_samples: int
    first_clip_s: float | None


def dialogue_noise_floor(dialogue, *, lines=(), activity: Activity | None = None,
                         sample_rate: int = SAMPLE_RATE, before_s: float = 0.3, after_s: float = 0.5,
                         min_pause_s: float = 0.5) -> NoiseFloorResult:
    """Measure the noise floor of the dialogue stem between lines, and its clipping.

    Parameters
    ----------
    dialogue : np.ndarray, shape (n_samples, n_channels)
    lines : sequence of dict
        Cue-sheet lines (``start_s``, ``end_s``); the stretch from
        ``start_s - before_s`` to ``end_s + after_s`` of each is left out.
    activity : Activity, optional
        Detected speech, also left out (with 0.2 s margins), so a misplaced
        line is not taken for noise.
    sample_rate : int
    min_pause_s : float
        Less pause than this in total and the floor is not measured.

    Returns
    -------
    NoiseFloorResult

    Notes
    -----
    Taught in ``lessons/07_four_layers.ipynb`` (clean dialogue).
    """
    sr = int(sample_rate)
    n = dialogue.shape[0]
    keep = np.ones(n, bool)
    for ln in lines:
        s = float(ln.get("start_s", 0.0)) - before_s
        e = float(ln.get("end_s", ln.get("start_s", 0.0))) + after_s
        keep[max(0, int(s * sr)) : max(0, min(n, int(e * sr)))] = False
    speech = np.zeros(n, bool)
    if activity is not None:
        speech = activity.sample_mask()
        for s, e in activity.segments():
            keep[max(0, int((s - 0.2) * sr)) : min(n, int((e + 0.2) * sr))] = False
    p = np.mean(dialogue.astype(np.float64) ** 2, axis=1)
    pause_s = keep.sum() / sr
    floor = None
    if pause_s >= min_pause_s:
        floor = float(10 * np.log10(max(p[keep].mean(), 1e-20)))
    dlg = float(10 * np.log10(max(p[speech].mean(), 1e-20))) if speech.any() else None
    runs, nclip, first = find_clipping(dialogue, level=0.999)
    return NoiseFloorResult(floor, float(pause_s), dlg, runs, nclip, None if first is None else first / sr)


# ----------------------------------------------------------------------------- the checks


def _load_clip(cues: SceneCues, rel) -> np.ndarray | None:
    p = cues.clip_path(rel)
    if p is None:
        return None
    try:
        return load_audio(p, sample_rate=SAMPLE_RATE, resample=True)
    except LayerLabError:
        return None


def _estimate_from_scene(mix: np.ndarray, cues: SceneCues, search_window_ms: float):
    """Stems of a premix (a native render), estimated with the scene's clips; None without clips."""
    from layerlab.io.deliverable import estimate_stems

    lines = [(str(d["id"]), float(d["start_s"]), c) for d in cues.dialogue
             if (c := _load_clip(cues, d.get("clip"))) is not None]
    events = [(str(e["id"]), float(e["time_s"]), c) for e in cues.events
              if (c := _load_clip(cues, e.get("clip"))) is not None]
    beds = {k: _load_clip(cues, (cues.raw.get(k) or {}).get("clip")) for k in ("music", "ambience")}
    if not lines and not events and not any(v is not None for v in beds.values()):
        return None
    return estimate_stems(mix, lines=lines, events=events, beds=beds, sample_rate=SAMPLE_RATE,
                          search_window_ms=search_window_ms)


@dataclass
class _Context:
    deliverable: Deliverable
    cues: SceneCues
    profile: Any
    sync_window: SyncWindow
    search_window_ms: float
    data: dict
    activity: Activity | None = None


def _fmt_list(msgs: list[str], limit: int = 3) -> str:
    if len(msgs) <= limit:
        return " ".join(msgs)
    return " ".join(msgs[:limit]) + f" (and {len(msgs) - limit} more)"


def _need(ctx: _Context, name: str, unit: str, target: str, *files: str) -> CheckResult | None:
    """A failed result if any of ``files`` cannot be analysed, else None."""
    dl = ctx.deliverable
    bad = [f for f in files if not dl.files[f].usable]
    if not bad:
        return None
    rel = ", ".join(dl.files[f].relpath for f in bad)
    return CheckResult(name, None, unit, target, False,
                       f"cannot measure: needs {rel}. {dl.missing_message(*bad)}",
                       {"unusable_files": [dl.files[f].relpath for f in bad]})


def _check_format(ctx: _Context) -> CheckResult:
    dl = ctx.deliverable
    errors = dl.errors
    warnings = [p for p in dl.problems if p.severity == "warning"]
    details = {"files": {k: v.to_dict() for k, v in dl.files.items()},
               "warnings": [w.to_dict() for w in warnings]}
    target = f"48 kHz stereo WAV, {ctx.cues.duration_s:g} s ±1 frame, 4 stems, no clipping"
    if not errors:
        msg = "mix and all four stems are 48 kHz stereo, the scene's length, and unclipped."
        if warnings:
            msg += " Note: " + _fmt_list([w.message for w in warnings], 2)
        return CheckResult("format", 0, "problems", target, True, msg, details)
    return CheckResult("format", len(errors), "problems", target, False,
                       _fmt_list([e.message for e in errors]), details)


def _check_stems_sum(ctx: _Context) -> CheckResult:
    target = f"residual ≤ {STEMS_SUM_MAX_DB:g} dB re. mix"
    if ctx.deliverable.estimated:
        return CheckResult("stems_sum", None, "dB", target, False,
                           "the submission has no stems (only a premixed track), so nothing can add up to the mix; "
                           "hand in the four stems with the mix.", {"stems_estimated": True})
    miss = _need(ctx, "stems_sum", "dB", target, "mix", *STEM_NAMES)
    if miss:
        return miss
    dl = ctx.deliverable
    mix = dl.audio("mix").astype(np.float64)
    total = sum(dl.audio(s).astype(np.float64) for s in STEM_NAMES)
    e_mix = float(np.sum(mix * mix))
    res = mix - total
    e_res = float(np.sum(res * res))
    if e_mix == 0.0:
        return CheckResult("stems_sum", None, "dB", target, False,
                           "mix.wav is silent, so the stems cannot add up to it; export the mix again.", {})
    ratio = 10 * math.log10(max(e_res, 1e-30) / e_mix)
    e_tot = float(np.sum(total * total))
    gain_db = None
    if e_tot > 0:
        g = float(np.sum(mix * total) / e_tot)
        if g > 0:
            gain_db = 20 * math.log10(g)
    details = {"residual_db": ratio, "mix_over_stems_gain_db": gain_db}
    if ratio <= STEMS_SUM_MAX_DB:
        return CheckResult("stems_sum", ratio, "dB", target, True,
                           f"the four stems add up to the mix (what is left over is {ratio:.1f} dB under it).", details)
    fit_res = None
    if gain_db is not None:
        r2 = mix - (10 ** (gain_db / 20)) * total
        fit_res = 10 * math.log10(max(float(np.sum(r2 * r2)), 1e-30) / e_mix)
    if gain_db is not None and fit_res is not None and fit_res <= STEMS_SUM_MAX_DB and abs(gain_db) > 0.5:
        msg = (f"the stems add up to the mix only after a {gain_db:+.1f} dB gain: the master gain was applied to the "
               "mix but not to the stems. Export the stems through the same master section as the mix.")
    else:
        msg = (f"the stems do not add up to the mix (the difference is only {-ratio:.1f} dB under it; allowed: "
               f"{-STEMS_SUM_MAX_DB:g} dB). Export mix and stems from the same render, with no extra processing on "
               "the mix beyond a gentle limiter.")
    return CheckResult("stems_sum", ratio, "dB", target, False, msg, details)


def _get_activity(ctx: _Context) -> Activity | None:
    if ctx.activity is None and ctx.deliverable.files["dialogue"].usable:
        ctx.activity = dialogue_activity(ctx.deliverable.audio("dialogue"), sample_rate=SAMPLE_RATE)
        ctx.data["activity"] = ctx.activity
    return ctx.activity


def _check_loudness(ctx: _Context) -> CheckResult:
    from layerlab.measure.loudness import gated_loudness, integrated_loudness, short_term_loudness

    prof = ctx.profile
    lo, hi = prof.target_lufs - prof.tolerance_lu, prof.target_lufs + prof.tolerance_lu
    target = f"{prof.target_lufs:g} ±{prof.tolerance_lu:g} LUFS" + (" (dialogue-gated)" if prof.dialogue_gated else "")
    miss = _need(ctx, "loudness", "LUFS", target, "mix")
    if miss:
        return miss
    mix = ctx.deliverable.audio("mix")
    details: dict = {"profile": prof.name, "dialogue_gated": bool(prof.dialogue_gated)}
    ctx.data["loudness_series"] = short_term_loudness(mix, sample_rate=SAMPLE_RATE)
    integrated = float(integrated_loudness(mix, sample_rate=SAMPLE_RATE))
    details["integrated_lufs"] = integrated
    value = integrated
    how = "integrated loudness"
    if prof.dialogue_gated:
        miss = _need(ctx, "loudness", "LUFS", target, "dialogue")
        if miss:
            miss.message = "dialogue-gated loudness needs the dialogue stem to find the speech: " + miss.message
            return miss
        act = _get_activity(ctx)
        if act is None or not act.active.any():
            return CheckResult("loudness", None, "LUFS", target, False,
                               "no speech found in stems/dialogue.wav, so dialogue-gated loudness cannot be measured; "
                               "put the dialogue on the dialogue layer.", details)
        value = float(gated_loudness(mix, mask=act.sample_mask(), sample_rate=SAMPLE_RATE))
        details["dialogue_gated_lufs"] = value
        how = "dialogue-gated loudness"
    ctx.data["integrated_lufs"] = value
    if not math.isfinite(value):
        if not np.any(mix):
            why = f"the mix is silent, so its {how} cannot be measured; export the mix again."
        elif mix.shape[0] < int(0.4 * SAMPLE_RATE):
            why = f"the mix is shorter than one 400 ms loudness block, so its {how} cannot be measured."
        else:
            why = f"the mix stays under the -70 LUFS gate throughout, so its {how} cannot be measured; raise its level."
        return CheckResult("loudness", value, "LUFS", target, False, why, details)
    if lo <= value <= hi:
        msg = f"{how} is {value:.1f} LUFS, within {target} for {prof.title}."
        return CheckResult("loudness", value, "LUFS", target, True, msg, details)
    diff = prof.target_lufs - value
    if diff > 0:
        msg = (f"{how} is {value:.1f} LUFS, {diff:.1f} LU under the {prof.title} target of {prof.target_lufs:g} LUFS; "
               f"raise the master gain by about {diff:.1f} dB (a limiter keeps the true peak under "
               f"{prof.max_true_peak_dbtp:g} dBTP).")
    else:
        msg = (f"{how} is {value:.1f} LUFS, {-diff:.1f} LU over the {prof.title} target of {prof.target_lufs:g} LUFS; "
               f"lower the master gain by about {-diff:.1f} dB.")
    return CheckResult("loudness", value, "LUFS", target, False, msg, details)


def _check_true_peak(ctx: _Context) -> CheckResult:
    from layerlab.measure.loudness import true_peak_dbtp

    prof = ctx.profile
    target = f"≤ {prof.max_true_peak_dbtp:g} dBTP"
    miss = _need(ctx, "true_peak", "dBTP", target, "mix")
    if miss:
        return miss
    tp = float(true_peak_dbtp(ctx.deliverable.audio("mix"), sample_rate=SAMPLE_RATE))
    runs, nclip, first = find_clipping(ctx.deliverable.audio("mix"))
    details = {"clipped_runs": runs, "clipped_samples": nclip}
    if tp <= prof.max_true_peak_dbtp:
        msg = (f"true peak is {tp:.1f} dBTP, under the {prof.max_true_peak_dbtp:g} dBTP ceiling." if math.isfinite(tp)
               else "the mix is silent: it has no peak at all.")
        return CheckResult("true_peak", tp, "dBTP", target, True, msg, details)
    msg = (f"true peak is {tp:.1f} dBTP, {tp - prof.max_true_peak_dbtp:.1f} dB over the {prof.max_true_peak_dbtp:g} dBTP "
           f"ceiling of {prof.title}; put a true-peak limiter on the master with its ceiling at "
           f"{prof.max_true_peak_dbtp:g} dBTP (or lower the master gain).")
    if runs:
        msg += f" The mix is hard-clipped in {runs} places (first at {first / SAMPLE_RATE:.2f} s)."
    return CheckResult("true_peak", tp, "dBTP", target, False, msg, details)


def _sync_check(name: str, result: SyncResult, noun: str) -> CheckResult:
    w = result.window
    target = w.describe()
    details = result.to_dict()
    if not result.events:
        return CheckResult(name, None, "ms", target, True, f"the scene has no {noun} cues.", details)
    worst = result.worst
    value = worst.offset_ms if worst is not None else None
    details["worst_id"] = worst.id if worst is not None else None
    bad = [e for e in result.events if not e.passed]
    if not bad:
        return CheckResult(name, value, "ms", target, True,
                           f"all {len(result.events)} {noun} cues are in sync (worst {value:+.0f} ms, window {target}).",
                           details)
    msgs = [e.message for e in bad]
    missing = [e for e in bad if not e.found]
    lead = f"{len(bad)} of {len(result.events)} {noun} cues out of sync"
    if missing:
        lead += f" ({len(missing)} missing)"
    return CheckResult(name, value, "ms", target, False, lead + ": " + _fmt_list(msgs), details)


def _check_sync(ctx: _Context) -> CheckResult:
    target = ctx.sync_window.describe()
    if not ctx.cues.events:
        return CheckResult("sync", None, "ms", target, True, "the scene has no visual events to sync.", {"events": []})
    miss = _need(ctx, "sync", "ms", target, "sfx")
    if miss:
        return miss
    r = sfx_offsets(ctx.deliverable.audio("sfx"), ctx.cues.events, sample_rate=SAMPLE_RATE,
                    search_window_ms=ctx.search_window_ms, window=ctx.sync_window)
    ctx.data["sfx_sync"] = r
    return _sync_check("sync", r, "SFX")


def _check_dialogue_sync(ctx: _Context) -> CheckResult:
    target = ctx.sync_window.describe()
    if not ctx.cues.dialogue:
        return CheckResult("dialogue_sync", None, "ms", target, True, "the scene has no dialogue lines.", {"events": []})
    miss = _need(ctx, "dialogue_sync", "ms", target, "dialogue")
    if miss:
        return miss
    clips = {}
    for ln in ctx.cues.dialogue:
        p = ctx.cues.clip_path(ln.get("clip"))
        clip = None
        if p is not None:
            try:
                clip = load_audio(p, sample_rate=SAMPLE_RATE, resample=True)
            except LayerLabError:
                clip = None
        clips[str(ln.get("id"))] = clip
    r = dialogue_offsets(ctx.deliverable.audio("dialogue"), ctx.cues.dialogue, clips, sample_rate=SAMPLE_RATE,
                         search_window_ms=ctx.search_window_ms, window=ctx.sync_window)
    ctx.data["dialogue_sync"] = r
    return _sync_check("dialogue_sync", r, "dialogue")


def _no_speech(name, unit, target) -> CheckResult:
    return CheckResult(name, None, unit, target, False,
                       "no speech found in stems/dialogue.wav, so masking cannot be measured; put the dialogue lines on "
                       "the dialogue layer.", {})


def _check_masking(ctx: _Context) -> CheckResult:
    target = f"≥ {MUSIC_LD_MIN_LU:g} LU over music, ≥ {AMBIENCE_LD_MIN_LU:g} LU over ambience"
    if not ctx.cues.dialogue:
        return CheckResult("masking", None, "LU", target, True, "the scene has no dialogue to mask.", {})
    miss = _need(ctx, "masking", "LU", target, "dialogue", "music", "ambience")
    if miss:
        return miss
    act = _get_activity(ctx)
    if act is None or not act.active.any():
        return _no_speech("masking", "LU", target)
    dl = ctx.deliverable
    d = dl.audio("dialogue")
    m = dialogue_to_background_lu(d, dl.audio("music"), sample_rate=SAMPLE_RATE, active=act)
    a = dialogue_to_background_lu(d, dl.audio("ambience"), sample_rate=SAMPLE_RATE, active=act)
    rest = dl.audio("music") + dl.audio("ambience") + (dl.audio("sfx") if dl.files["sfx"].usable else 0.0)
    allb = dialogue_to_background_lu(d, rest, sample_rate=SAMPLE_RATE, active=act)
    details = {
        "dialogue_lufs": m.dialogue_lufs,
        "music_lufs": m.background_lufs,
        "ambience_lufs": a.background_lufs,
        "over_music_lu": m.lu,
        "over_ambience_lu": a.lu,
        "over_all_background_lu": allb.lu,
        "speech_blocks": m.n_blocks,
        "speech_fraction": act.fraction,
    }
    if m.n_blocks == 0 or math.isnan(m.lu):
        return CheckResult("masking", None, "LU", target, False,
                           "no 400 ms stretch of speech was found in stems/dialogue.wav, so the level difference cannot "
                           "be measured; check that the dialogue lines are on the dialogue layer.", details)
    ok_m = m.lu >= MUSIC_LD_MIN_LU
    ok_a = a.lu >= AMBIENCE_LD_MIN_LU
    msgs = []
    if not ok_m:
        msgs.append(f"music sits only {m.lu:.1f} LU under the dialogue during speech; pull it down or duck deeper "
                    f"by {MUSIC_LD_MIN_LU - m.lu:.1f} dB or more, aim for ≥ {MUSIC_LD_MIN_LU:g} LU.")
    if not ok_a:
        msgs.append(f"ambience sits only {a.lu:.1f} LU under the dialogue; lower it by "
                    f"{AMBIENCE_LD_MIN_LU - a.lu:.1f} dB or more, aim for ≥ {AMBIENCE_LD_MIN_LU:g} LU.")
    value = m.lu if ctx.cues.has_music or not math.isinf(m.lu) else a.lu

    def over(x, what):
        return f"no {what} plays under the dialogue" if math.isinf(x) else f"the dialogue is {x:.1f} LU over the {what}"

    if ok_m and ok_a:
        return CheckResult("masking", value, "LU", target, True,
                           f"during speech, {over(m.lu, 'music')} and {over(a.lu, 'ambience')}.", details)
    return CheckResult("masking", value, "LU", target, False, " ".join(msgs), details)


def _check_band_audibility(ctx: _Context) -> CheckResult:
    target = f"≥ {BAND_AUDIBILITY_MIN:g}"
    if not ctx.cues.dialogue:
        return CheckResult("band_audibility", None, "index", target, True, "the scene has no dialogue.", {})
    miss = _need(ctx, "band_audibility", "index", target, "dialogue")
    if miss:
        return miss
    dl = ctx.deliverable
    others = [s for s in ("sfx", "ambience", "music") if dl.files[s].usable]
    if len(others) == 3:
        rest = dl.audio("sfx") + dl.audio("ambience") + dl.audio("music")
        rest_from = "the sum of the sfx, ambience and music stems"
    elif dl.files["mix"].usable:
        rest = dl.audio("mix") - dl.audio("dialogue")
        rest_from = "the mix minus the dialogue stem"
    else:
        return _need(ctx, "band_audibility", "index", target, "dialogue", "sfx", "ambience", "music")
    act = _get_activity(ctx)
    if act is None or not act.active.any():
        return _no_speech("band_audibility", "index", target)
    ba = band_audibility(dl.audio("dialogue"), rest, sample_rate=SAMPLE_RATE, active=act)
    ctx.data["band_audibility"] = ba
    details = {
        "rest": rest_from,
        "bands": [{"centre_hz": float(c), "snr_db": float(s), "audibility": float(k)}
                  for c, s, k in zip(ba.band_centres_hz, ba.band_snr_db, ba.per_band)],
    }
    if ba.index >= BAND_AUDIBILITY_MIN:
        return CheckResult("band_audibility", ba.index, "index", target, True,
                           f"dialogue is audible over the rest of the mix in most bands (index {ba.index:.2f}).", details)
    weak = ba.weakest_bands
    where = ", ".join(f"{c:g} Hz" for c in weak) if weak else "several bands"
    return CheckResult("band_audibility", ba.index, "index", target, False,
                       f"dialogue is masked (index {ba.index:.2f}, aim for ≥ {BAND_AUDIBILITY_MIN:g}); the most masked "
                       f"bands are around {where}. Lower or EQ the music/ambience there (a cut of 3-6 dB in those bands), "
                       "or duck deeper.", details)


def _check_ducking(ctx: _Context) -> CheckResult:
    target = f"≥ {DUCK_MIN_DEPTH_DB:g} dB under dialogue, no gain step > {DUCK_MAX_STEP_DB:g} dB in 10 ms"
    if not ctx.cues.dialogue:
        return CheckResult("ducking", None, "dB", target, True, "the scene has no dialogue to duck under.", {})
    miss = _need(ctx, "ducking", "dB", target, "dialogue", "music")
    if miss:
        return miss
    dl = ctx.deliverable
    music = dl.audio("music")
    if not np.any(music):
        ok = not ctx.cues.has_music
        return CheckResult("ducking", None, "dB", target, ok,
                           "the music stem is silent" + ("; the scene's cue sheet has a music bed: put it on the music "
                                                        "layer and duck it under the dialogue." if not ok else "."), {})
    act = _get_activity(ctx)
    if act is None or not act.active.any():
        return CheckResult("ducking", None, "dB", target, False,
                           "no speech found in stems/dialogue.wav, so there is nothing to duck under.", {})
    reference, ref_note = _bed_reference(ctx, "music", music)
    dm = measure_ducking(music, act, sample_rate=SAMPLE_RATE, reference=reference)
    ctx.data["ducking"] = dm
    details = {"depth_db": dm.depth_db, "music_during_speech_dbfs": dm.level_speech_db,
               "music_between_lines_dbfs": dm.level_free_db, "max_step_db_per_10ms": dm.max_step_db,
               "step_time_s": dm.step_time_s, "gain_from": ref_note}
    msgs = []
    ok = True
    if dm.depth_db is None:
        msg = ("the music never plays without dialogue (or never under it) long enough to measure ducking; "
               "judged on smoothness only.")
        msgs.append(msg)
    elif dm.depth_db < DUCK_MIN_DEPTH_DB:
        ok = False
        msgs.append(f"the music drops only {dm.depth_db:.1f} dB while dialogue is active; duck it "
                    f"{DUCK_MIN_DEPTH_DB:g}-12 dB under speech (sidechain ducking from the dialogue layer).")
    if dm.max_step_db > DUCK_MAX_STEP_DB:
        ok = False
        msgs.append(f"the music gain jumps {dm.max_step_db:.1f} dB within 10 ms at {dm.step_time_s:.2f} s, which "
                    "clicks; use a slower attack/release (about 50 ms down, 300 ms up).")
    if ok:
        if dm.depth_db is None:
            msg = msgs[0] + " No gain steps."
        else:
            msg = f"the music ducks {dm.depth_db:.1f} dB under the dialogue, and its gain moves smoothly."
        return CheckResult("ducking", dm.depth_db, "dB", target, True, msg, details)
    return CheckResult("ducking", dm.depth_db, "dB", target, False, " ".join(msgs), details)


def _bed_reference(ctx: _Context, layer: str, stem: np.ndarray):
    """The scene's bed clip (music or ambience), aligned to where the stem has it; None if the stem uses another."""
    p = ctx.cues.clip_path((ctx.cues.raw.get(layer) or {}).get("clip"))
    if p is None:
        return None, f"{layer} stem level (no scene {layer} clip to compare with)"
    try:
        clip = load_audio(p, sample_rate=SAMPLE_RATE, resample=True)
    except LayerLabError:
        return None, f"{layer} stem level (the scene's {layer} clip could not be read)"
    music = stem
    cm = clip.astype(np.float64).mean(axis=1)
    sm = music.astype(np.float64).mean(axis=1)
    lag, corr = _reference_lag(sm, cm, sample_rate=SAMPLE_RATE)
    if corr < 0.5:
        return None, f"{layer} stem level (the stem does not use the scene's {layer} clip)"
    ref = np.zeros(music.shape[0])
    a0, b0 = max(0, lag), max(0, -lag)
    m = min(music.shape[0] - a0, cm.size - b0)
    if m > 0:
        ref[a0 : a0 + m] = cm[b0 : b0 + m]
    return np.repeat(ref[:, None], 2, axis=1).astype(np.float32), (
        f"{layer} stem level minus the scene's {layer} clip (placed at {lag / SAMPLE_RATE:+.3f} s)")


def _check_ambience(ctx: _Context) -> CheckResult:
    target = "no dropouts or jumps outside scene changes"
    miss = _need(ctx, "ambience_continuity", "events", target, "ambience")
    if miss:
        return miss
    amb = ctx.deliverable.audio("ambience")
    reference, ref_note = (None, "") if not np.any(amb) else _bed_reference(ctx, "ambience", amb)
    r = ambience_continuity(amb, sample_rate=SAMPLE_RATE, scene_changes_s=ctx.cues.scene_changes_s,
                            reference=reference)
    details = {"dropouts": r.dropouts, "jumps": r.jumps, "median_level_db": r.median_level_db,
               "scene_changes_s": ctx.cues.scene_changes_s, "level_from": ref_note}
    if r.silent:
        ok = not ctx.cues.has_ambience
        return CheckResult("ambience_continuity", None, "events", target, ok,
                           "the ambience stem is silent" + (": the scene needs a continuous ambience bed under the "
                                                            "whole scene; put it on the ambience layer." if not ok else "."),
                           details)
    n = len(r.dropouts) + len(r.jumps)
    if n == 0:
        return CheckResult("ambience_continuity", 0, "events", target, True,
                           "the ambience runs continuously, without dropouts or jumps.", details)
    msgs = [f"the ambience drops out from {d['start_s']:.2f} s to {d['end_s']:.2f} s" for d in r.dropouts]
    msgs += [f"the ambience level jumps {j['change_db']:+.1f} dB at {j['time_s']:.2f} s" for j in r.jumps]
    return CheckResult("ambience_continuity", n, "events", target, False,
                       _fmt_list(msgs, 3) + "; with no scene change there, keep the bed running (crossfade or loop it "
                                            "without gaps, and keep its level steady).", details)


def _check_noise_floor(ctx: _Context) -> CheckResult:
    target = f"≤ {NOISE_FLOOR_MAX_DBFS:g} dBFS between lines, no clipping"
    miss = _need(ctx, "dialogue_noise_floor", "dBFS", target, "dialogue")
    if miss:
        return miss
    if ctx.deliverable.estimated and ctx.cues.dialogue:
        return CheckResult("dialogue_noise_floor", None, "dBFS", target, False,
                           "cannot be measured from a premix: noise between the lines cannot be told apart from the "
                           "other layers without a dialogue stem; hand in stems/dialogue.wav.", {})
    act = _get_activity(ctx)
    r = dialogue_noise_floor(ctx.deliverable.audio("dialogue"), lines=ctx.cues.dialogue, activity=act,
                             sample_rate=SAMPLE_RATE)
    details = {"floor_dbfs": r.floor_dbfs, "pause_s": r.pause_s, "dialogue_dbfs": r.dialogue_dbfs,
               "clipped_runs": r.clipped_runs, "clipped_samples": r.clipped_samples}
    msgs = []
    ok = True
    value = r.floor_dbfs
    if r.floor_dbfs is not None and r.floor_dbfs > NOISE_FLOOR_MAX_DBFS:
        ok = False
        msgs.append(f"the dialogue stem carries noise at {r.floor_dbfs:.1f} dBFS between lines (aim for ≤ "
                    f"{NOISE_FLOOR_MAX_DBFS:g} dBFS); gate or denoise the dialogue, or cut the clips tight to the words.")
    if r.clipped_runs and not ctx.deliverable.estimated:  # an estimate's samples are not the learner's
        ok = False
        msgs.append(f"the dialogue is hard-clipped in {r.clipped_runs} places (first at {r.first_clip_s:.2f} s); lower "
                    "its gain before any processing.")
    if ok:
        if r.floor_dbfs is None:
            msg = "no pause between lines long enough to measure a noise floor; no clipping."
        elif math.isinf(r.floor_dbfs):
            msg = "the dialogue stem is silent between lines, and unclipped."
        else:
            msg = f"the dialogue stem is quiet between lines ({r.floor_dbfs:.1f} dBFS) and unclipped."
        return CheckResult("dialogue_noise_floor", value, "dBFS", target, True, msg, details)
    return CheckResult("dialogue_noise_floor", value, "dBFS", target, False, " ".join(msgs), details)


_CHECKS: list[tuple[str, str, Callable[[_Context], CheckResult]]] = [
    ("format", "problems", _check_format),
    ("stems_sum", "dB", _check_stems_sum),
    ("loudness", "LUFS", _check_loudness),
    ("true_peak", "dBTP", _check_true_peak),
    ("sync", "ms", _check_sync),
    ("dialogue_sync", "ms", _check_dialogue_sync),
    ("masking", "LU", _check_masking),
    ("band_audibility", "index", _check_band_audibility),
    ("ducking", "dB", _check_ducking),
    ("ambience_continuity", "events", _check_ambience),
    ("dialogue_noise_floor", "dBFS", _check_noise_floor),
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
        est = _estimate_from_scene(dl.audio("mix"), cues, search_window_ms)
        if est is not None:
            for s in STEM_NAMES:
                dl.files[s].audio = est.stems[s]
            dl.estimated = True
            data["estimated"] = est.found
    ctx = _Context(dl, cues, profile, window, float(search_window_ms), data)
    results = []
    for name, unit, fn in _CHECKS:
        try:
            res = fn(ctx)
        except Exception as exc:  # one failing measurement must not stop the others
            kind = "" if isinstance(exc, LayerLabError) else f"{type(exc).__name__}: "
            res = CheckResult(name, None, unit, "", False, f"could not be measured ({kind}{exc}).",
                              {"error": f"{type(exc).__name__}: {exc}"})
        if dl.estimated and name not in ("format", "stems_sum", "loudness", "true_peak"):
            res.message = "(stems estimated from the premix with the scene's clips) " + res.message
            res.details["stems_estimated"] = True
        results.append(res)
    return CheckReport(scene=cues.scene, target=getattr(profile, "name", str(target)), submission=Path(submission_dir),
                       checks=results, data=data)


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
    try:
        report = run_checks(args.submission, scene=args.scene, target=args.target, sync_window=args.sync_window)
    except LayerLabError as exc:
        print(f"layerlab check: error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(report.to_json())
    else:
        print(report.to_text())
    if args.figures:
        paths = report.save_figures(args.figures)
        if not args.json:
            print(f"figures: {', '.join(str(p) for p in paths)}")
    return 0 if report.passed else 1
