"""What every check shares: thresholds, the check context, the scene's clips as references.

Not taught on its own; the checks that use it are (``lessons/08_measuring_the_mix.ipynb``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from layerlab.errors import LayerLabError
from layerlab.io.audio import SAMPLE_RATE, load_audio
from layerlab.io.cuesheet import SceneCues
from layerlab.io.deliverable import Deliverable
from layerlab.measure.envelopes import channel_mean, channel_power
from layerlab.measure.masking import Activity, dialogue_activity
from layerlab.measure.sync import SyncWindow
from layerlab.checks.report import CheckResult

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


def level_db(audio: np.ndarray, *, sample_rate: int, win_ms: float, hop_ms: float) -> tuple[np.ndarray, np.ndarray]:
    """RMS level of sliding windows, the channels' power averaged.

    Parameters
    ----------
    audio : np.ndarray, shape (n_samples, n_channels)
    sample_rate : int
    win_ms, hop_ms : float
        Window length and hop in milliseconds.

    Returns
    -------
    (np.ndarray, np.ndarray)
        Window centres in seconds and levels in dBFS (floored at -200), both shape (n_windows,).
    """
    p = channel_power(audio)
    win = max(1, int(round(win_ms * sample_rate / 1000.0)))
    hop = max(1, int(round(hop_ms * sample_rate / 1000.0)))
    if p.size < win:
        return np.zeros(0), np.zeros(0)
    c = np.concatenate([[0.0], np.cumsum(p)])
    starts = np.arange(0, p.size - win + 1, hop)
    e = (c[starts + win] - c[starts]) / win
    return (starts + win / 2) / sample_rate, 10.0 * np.log10(np.maximum(e, 1e-20))

def find_lag(x: np.ndarray, clip: np.ndarray, *, sample_rate: int = SAMPLE_RATE, max_lag_s: float = 5.0,
             min_overlap_s: float = 0.5):
    """Where a clip sits in a signal: the lag of the largest waveform cross-correlation.

    Parameters
    ----------
    x : np.ndarray, shape (n,)
        The stem or the mix (mono).
    clip : np.ndarray, shape (m,)
        The scene's clip (mono).
    sample_rate : int
    max_lag_s : float
        Lags searched on either side (a bed entering late, or started into the clip).
    min_overlap_s : float
        Lags where the clip and ``x`` overlap less than this are not considered (0.5 s for beds and
        lines; a sound effect passes its own length, so only lags where it fits whole count).

    Returns
    -------
    (int, float)
        Lag in samples (positive: the clip starts that late in ``x``): the largest raw
        cross-correlation (of the lags within 1% of it, the one nearest 0: a loop or a steady
        chord fits equally well a period later); and the normalised correlation there:
        ``sum(x * clip_placed) / sqrt(sum(x**2) * sum(clip_placed**2))`` over the
        overlap (1 for the clip itself at any gain; a ducking envelope lowers it little; a bed of
        the same chords with other phases scores near 0, where an envelope comparison would not).

    Notes
    -----
    The correlation at the searched lags only (:func:`layerlab.measure.correlation.correlate_lags`,
    an FFT of about ``max(n, m) + max_lag`` points rather than ``n + m``); the energies of the
    overlaps come from cumulative sums.
    """
    from layerlab.measure.correlation import correlate_lags

    n, m = x.size, clip.size
    min_overlap = max(1, int(round(min_overlap_s * sample_rate)))
    if n < min(sample_rate // 10, min_overlap) or m < min(sample_rate // 10, min_overlap):
        return 0, 0.0
    max_lag = int(max_lag_s * sample_rate)
    lags, xc = correlate_lags(x, clip, lag_min=-max_lag, lag_max=max_lag)
    cx = np.concatenate([[0.0], np.cumsum(x * x)])
    cc = np.concatenate([[0.0], np.cumsum(clip * clip)])
    a = np.clip(lags, 0, n)  # overlap in x: [a, b)
    b = np.clip(lags + m, 0, n)
    ca = np.clip(-lags, 0, m)  # overlap in clip: [ca, ca + b - a)
    ex = cx[b] - cx[a]
    ec = cc[np.clip(ca + (b - a), 0, m)] - cc[ca]
    den = np.sqrt(np.maximum(ex * ec, 1e-30))
    ncc = np.where((b - a) >= min_overlap, xc / den, 0.0)
    # the lag: the largest raw correlation (the most of the clip explained; a normalised one would favour a
    # short overlap where a ducked bed's gain varies less); a periodic bed fits at several: the nearest to 0
    raw = np.where((b - a) >= min_overlap, xc, -np.inf)
    best = float(raw.max())
    if not np.isfinite(best) or best <= 0:
        return 0, 0.0
    near = np.nonzero(raw >= 0.99 * best)[0]
    k = int(near[np.argmin(np.abs(lags[near]))])
    return int(lags[k]), float(ncc[k])


def load_clip(cues: SceneCues, rel) -> np.ndarray | None:
    """A clip of the cue sheet as (n_samples, n_channels) float32 at 48 kHz; None if missing or unreadable."""
    p = cues.clip_path(rel)
    if p is None:
        return None
    try:
        return load_audio(p, sample_rate=SAMPLE_RATE, resample=True)
    except LayerLabError:
        return None


def estimate_from_scene(mix: np.ndarray, cues: SceneCues, search_window_ms: float):
    """Stems of a premix (a native render), estimated with the scene's clips; None without clips."""
    from layerlab.measure.stems import estimate_stems

    lines = [(str(d["id"]), float(d["start_s"]), c) for d in cues.dialogue
             if (c := load_clip(cues, d.get("clip"))) is not None]
    events = [(str(e["id"]), float(e["time_s"]), c) for e in cues.events
              if (c := load_clip(cues, e.get("clip"))) is not None]
    beds = {k: load_clip(cues, (cues.raw.get(k) or {}).get("clip")) for k in ("music", "ambience")}
    if not lines and not events and not any(v is not None for v in beds.values()):
        return None
    return estimate_stems(mix, lines=lines, events=events, beds=beds, sample_rate=SAMPLE_RATE,
                          search_window_ms=search_window_ms)


@dataclass
class CheckContext:
    """What one run of the checks shares: the deliverable, the cue sheet, the profile, measurements kept for figures."""

    deliverable: Deliverable
    cues: SceneCues
    profile: Any
    sync_window: SyncWindow
    search_window_ms: float
    data: dict
    activity: Activity | None = None


def fmt_list(msgs: list[str], limit: int = 3) -> str:
    """Join messages, at most ``limit`` of them, then "(and N more)"."""
    if len(msgs) <= limit:
        return " ".join(msgs)
    return " ".join(msgs[:limit]) + f" (and {len(msgs) - limit} more)"


def need_files(ctx: CheckContext, name: str, unit: str, target: str, *files: str) -> CheckResult | None:
    """A failed result if any of ``files`` cannot be analysed, else None."""
    dl = ctx.deliverable
    bad = [f for f in files if not dl.files[f].usable]
    if not bad:
        return None
    rel = ", ".join(dl.files[f].relpath for f in bad)
    return CheckResult(name, None, unit, target, False,
                       f"cannot measure: needs {rel}. {dl.missing_message(*bad)}",
                       {"unusable_files": [dl.files[f].relpath for f in bad]})


def get_activity(ctx: CheckContext) -> Activity | None:
    """Dialogue activity of the dialogue stem (computed once per run and kept in the context); None without a stem."""
    if ctx.activity is None and ctx.deliverable.files["dialogue"].usable:
        ctx.activity = dialogue_activity(ctx.deliverable.audio("dialogue"), sample_rate=SAMPLE_RATE)
        ctx.data["activity"] = ctx.activity
    return ctx.activity


def stem_clip_lag(ctx: CheckContext, layer: str, stem: np.ndarray):
    """The scene's ``layer`` clip and where ``stem`` has it: ``(clip, lag, corr)`` (:func:`find_lag`), or ``(None, 0, 0.0)``.

    Kept in the context, so the checks that follow a bed's gain (ducking, continuity, the master's
    moves, the heard layers) correlate each stem with its clip once per run.
    """
    key = (layer, stem.shape, float(np.asarray(stem[:: 4801], np.float64).sum()))
    cache = ctx.data.setdefault("clip_lags", {})
    if key not in cache:
        clip = load_clip(ctx.cues, (ctx.cues.raw.get(layer) or {}).get("clip"))
        if clip is None or not np.any(stem):
            cache[key] = (clip, 0, 0.0)
        else:
            lag, corr = find_lag(channel_mean(stem.astype(np.float64)), channel_mean(clip.astype(np.float64)),
                                 sample_rate=SAMPLE_RATE)
            cache[key] = (clip, lag, corr)
    return cache[key]


def bed_reference(ctx: CheckContext, layer: str, stem: np.ndarray):
    """The scene's bed clip (music or ambience), aligned to where the stem has it; None if the stem uses another."""
    p = ctx.cues.clip_path((ctx.cues.raw.get(layer) or {}).get("clip"))
    if p is None:
        return None, f"{layer} stem level (no scene {layer} clip to compare with)"
    clip, lag, corr = stem_clip_lag(ctx, layer, stem)
    if clip is None:
        return None, f"{layer} stem level (the scene's {layer} clip could not be read)"
    if corr < 0.5:
        return None, f"{layer} stem level (the stem does not use the scene's {layer} clip)"
    music = stem
    cm = channel_mean(clip.astype(np.float64))
    ref = np.zeros(music.shape[0])
    a0, b0 = max(0, lag), max(0, -lag)
    m = min(music.shape[0] - a0, cm.size - b0)
    if m > 0:
        ref[a0 : a0 + m] = cm[b0 : b0 + m]
    return np.repeat(ref[:, None], 2, axis=1).astype(np.float32), (
        f"{layer} stem level minus the scene's {layer} clip (placed at {lag / SAMPLE_RATE:+.3f} s)")


def k_blocks(ctx: CheckContext, key: str, audio: np.ndarray) -> np.ndarray:
    """:func:`layerlab.measure.masking.k_weighted_block_power` of ``audio``, computed once per run under ``key``.

    ``key`` names the signal (e.g. ``"stem:dialogue"``, ``"heard:dialogue"``): the caller promises the same key
    always means the same samples within one check run.
    """
    from layerlab.measure.masking import k_weighted_block_power

    cache = ctx.data.setdefault("k_blocks", {})
    if key not in cache:
        cache[key] = k_weighted_block_power(audio, sample_rate=SAMPLE_RATE)
    return cache[key]
