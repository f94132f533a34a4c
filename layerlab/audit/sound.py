"""The audio side of the audit: onsets, the occupied band, the noise floor.

Taught in ``labs/lab1_audit/lab1_audit.ipynb`` and ``lessons/06_native_vs_postgen.ipynb``.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from layerlab.errors import ParameterError
from layerlab.io.audio import SAMPLE_RATE, validate_audio
from layerlab.audit.report import AudioOnset

__all__ = ["detect_audio_onsets", "onset_detector_cached", "band_limits", "band_cliffs", "foreground_band_limits", "dialogue_band", "noise_floor", "bed_dropouts",
           "has_distinct_sounds", "spectral_spread_bands", "MIN_ONSET_RISE_DB", "ACTIVE_OVER_FLOOR_DB", "BAND_SEGMENT",
           "MIN_SPREAD_BANDS", "SPREAD_RANGE_DB"]

MIN_ONSET_RISE_DB = 6.0
"""An onset must lift the level this much (50 ms after against 50 ms before); a steady tone lifts nothing."""


OCTAVE_CENTRES_HZ = (250.0, 500.0, 1000.0, 2000.0, 4000.0)
"""Octave bands an onset may also rise in: a chime's partials rise in one band under speech and music.
Not 8 kHz: a music bed's hi-hats rise 10 dB there on every off-beat (product_demo, on a missing click's
frame); the lows are the 40-500 Hz envelope's."""


def _envelope_1ms(x: np.ndarray, sr: int, *, highpass_hz: float | None, lowpass_hz: float | None = None,
                  octave_hz: float | None = None) -> np.ndarray:
    """1 ms power envelope (above ``highpass_hz``, 40 Hz to ``lowpass_hz``, or the octave band centred on
    ``octave_hz``, if given), floored at 1e-20."""
    from scipy import signal

    y = x.astype(np.float64)
    if highpass_hz:
        y = signal.sosfilt(signal.butter(4, highpass_hz, btype="highpass", fs=sr, output="sos"), y)
    if lowpass_hz:  # the low band starts at 40 Hz: rumble under it would swamp a thud's rise
        y = signal.sosfilt(signal.butter(4, [40.0, lowpass_hz], btype="bandpass", fs=sr, output="sos"), y)
    if octave_hz:
        edges = [octave_hz / np.sqrt(2.0), min(octave_hz * np.sqrt(2.0), 0.45 * sr)]
        y = signal.sosfilt(signal.butter(4, edges, btype="bandpass", fs=sr, output="sos"), y)
    hop = sr // 1000
    n = y.size // hop
    return (y[: n * hop] ** 2).reshape(n, hop).mean(axis=1) + 1e-20


def _refine(env: np.ndarray, c: int, *, before_ms: int = 40, after_ms: int = 40) -> int:
    """Move a detected onset (ms index) to the first millisecond where the sound rises out of what was before.

    The level must exceed both 10 dB over the median of the 60 ms before the
    search window and the local peak minus 15 dB.
    """
    a, b = max(0, c - before_ms), min(env.size, c + after_ms)
    if b - a < 5:
        return c
    seg = env[a:b]
    p = int(np.argmax(seg))
    base = float(np.median(env[max(0, a - 60): a])) if a > 5 else float(np.min(seg))
    thr = max(base * 10.0, seg[p] / 31.6)
    above = np.nonzero(seg[: p + 1] >= thr)[0]
    return a + int(above[0]) if above.size else c


def _rise_db(env: np.ndarray, c: int, span_ms: int = 50) -> float:
    """Level of the ``span_ms`` after ``c`` over the ``span_ms`` before it, in dB (power means).

    0 within ``span_ms`` of either end of the track: the rise is measured on a whole ``span_ms`` before and
    after the onset. So the start of the file, or an octave filter's start-up under a sound already playing
    (white noise from sample 0 read as a 15 dB onset at 7 ms), is not a sound's onset, and neither is a clip
    cut off (a 0.3 s tone's end).
    """
    pre = env[max(0, c - span_ms) : max(0, c - 2)]
    post = env[c : c + span_ms]
    if pre.size < span_ms - 2 or post.size < span_ms:
        return 0.0
    return float(10 * np.log10(post.mean() / pre.mean()))


def detect_audio_onsets(audio, *, sample_rate: int = SAMPLE_RATE, hop_ms: float = 2.5,
                        min_rise_db: float = MIN_ONSET_RISE_DB) -> tuple[list[AudioOnset], np.ndarray, np.ndarray]:
    """Find sound onsets in a mixed track.

    Parameters
    ----------
    audio : np.ndarray, shape (n_samples, n_channels)
    sample_rate : int
    hop_ms : float
        Hop of the onset-strength envelope.
    min_rise_db : float
        An onset must raise the level (broadband, above 1 kHz or 40-500 Hz,
        whichever rises more) at least this much: 50 ms after against 50 ms before.

    Returns
    -------
    (list of AudioOnset, np.ndarray, np.ndarray)
        Onsets in time order (strength = the rise in dB), the onset-strength
        envelope, and its frame times in seconds.

    Notes
    -----
    Candidates come from ``librosa.onset.onset_detect`` (spectral-flux onset
    strength with ``backtrack=True``, Böck & Widmer 2013 peak picking); each
    is then moved to the first millisecond where the sound rises out of what
    was before it, in whichever envelope rises most (1 ms envelopes, broadband,
    above 1 kHz, 40-500 Hz and the octave bands 250 Hz-4 kHz: a branch's thud
    under a windy bed rises only in the low band, a chime under speech and music
    only in its partials' octave), and kept only if the level really rises, so a
    steady tone gives no onsets.
    """
    import librosa

    x = validate_audio(audio, name="audio").mean(axis=1)
    sr = int(sample_rate)
    hop = max(32, int(round(sr * hop_ms / 1000.0)))
    if x.size < 4 * 2048 or not np.any(x):
        return [], np.zeros(0), np.zeros(0)
    strength = librosa.onset.onset_strength(S=_log_mel(x, sr, hop), sr=sr, hop_length=hop, n_fft=2048, lag=1,
                                            max_size=1)
    times = librosa.frames_to_time(np.arange(strength.size), sr=sr, hop_length=hop)
    frames = librosa.onset.onset_detect(onset_envelope=strength, sr=sr, hop_length=hop, backtrack=True,
                                        units="frames", wait=int(0.05 * sr / hop), delta=0.05)
    env_hp = _envelope_1ms(x, sr, highpass_hz=1000.0)
    env_bb = _envelope_1ms(x, sr, highpass_hz=None)
    env_lp = _envelope_1ms(x, sr, highpass_hz=None, lowpass_hz=500.0)
    envs = [env_hp, env_bb, env_lp] + [_envelope_1ms(x, sr, highpass_hz=None, octave_hz=fc)
                                       for fc in OCTAVE_CENTRES_HZ if fc * np.sqrt(2.0) < 0.45 * sr]
    onsets: list[AudioOnset] = []
    for f in frames:
        c = int(round(times[f] * 1000))
        best = None
        for env in envs:
            k = _refine(env, min(c + 20, env.size - 1), before_ms=60, after_ms=40)
            rise = _rise_db(env, k)
            if best is None or rise > best[1]:
                best = (k, rise)
        k, rise = best
        if _rise_db(env_bb, k) <= -min_rise_db:
            continue  # the whole band falls here: a sound's end (its click rises only in some bands), not a start
        if rise >= min_rise_db:
            if onsets and k / 1000.0 - onsets[-1].time_s < 0.03:
                if rise > onsets[-1].strength:
                    onsets[-1] = AudioOnset(k / 1000.0, rise)
                continue
            onsets.append(AudioOnset(k / 1000.0, rise))
    return onsets, strength, times


def onset_detector_cached() -> bool:
    """Whether numba's cache already holds librosa's compiled peak picking, which :func:`detect_audio_onsets` uses.

    If not, the first detection in a fresh environment compiles it (numba, about 15 CPU seconds; 20-35 s of
    wall clock on a busy two-core machine) and caches it for every later run. ``layerlab audit`` says so before it
    starts, so the wait is not silent. Looks where numba keeps it: ``$NUMBA_CACHE_DIR`` when set, else librosa's own
    ``__pycache__`` and numba's per-user cache (``~/.cache/numba``).

    Returns
    -------
    bool
        True when an index file of librosa's ``__peak_pick`` is found (the cache may still be stale, e.g. after an
        upgrade: numba then compiles again).
    """
    if os.environ.get("NUMBA_CACHE_DIR"):
        roots = [Path(os.environ["NUMBA_CACHE_DIR"])]
    else:
        import librosa

        roots = [Path(librosa.__file__).parent / "util" / "__pycache__", Path.home() / ".cache" / "numba"]
    return any(next(root.rglob("utils.__peak_pick-*.nbi"), None) is not None for root in roots if root.is_dir())


ONSET_CHUNK_FRAMES = 8192
"""Spectrogram frames computed at a time for the onset strength (20 s at the 2.5 ms hop): a 10-minute clip's
whole short-time spectrum would take 2 GB; its mel bands, kept, take 120 MB."""


def _log_mel(x: np.ndarray, sr: int, hop: int, n_fft: int = 2048) -> np.ndarray:
    """``power_to_db(melspectrogram(y=x))`` as ``librosa.onset.onset_strength`` computes it, chunk by chunk.

    The frames are the centred frames of one call (the signal padded by ``n_fft // 2`` zeros each side, as
    librosa's ``center=True`` with ``pad_mode="constant"``), so the result is the same; only the memory differs.
    """
    import librosa

    n_frames = 1 + x.size // hop
    if n_frames <= ONSET_CHUNK_FRAMES:
        return librosa.power_to_db(librosa.feature.melspectrogram(y=x, sr=sr, n_fft=n_fft, hop_length=hop))
    xp = np.pad(x, n_fft // 2)
    parts = []
    for f0 in range(0, n_frames, ONSET_CHUNK_FRAMES):
        f1 = min(n_frames, f0 + ONSET_CHUNK_FRAMES)
        seg = xp[f0 * hop : (f1 - 1) * hop + n_fft]
        parts.append(librosa.feature.melspectrogram(y=seg, sr=sr, n_fft=n_fft, hop_length=hop, center=False))
    return librosa.power_to_db(np.concatenate(parts, axis=1))


def _percentile_edges(f: np.ndarray, p: np.ndarray, *, low_pct: float, high_pct: float) -> tuple[float, float]:
    band = f >= 20.0
    f, p = f[band], np.maximum(p[band], 0.0)
    total = float(p.sum())
    if total <= 0:
        return float("nan"), float("nan")
    c = np.cumsum(p) / total
    lo = float(f[int(np.searchsorted(c, low_pct / 100.0))])
    hi = float(f[min(f.size - 1, int(np.searchsorted(c, high_pct / 100.0)))])
    return lo, hi


def band_limits(audio, *, sample_rate: int = SAMPLE_RATE, low_pct: float = 1.0,
                high_pct: float = 99.0) -> tuple[float, float]:
    """The occupied band: where 1% and 99% of the energy above 20 Hz lie below.

    Parameters
    ----------
    audio : np.ndarray, shape (n_samples, n_channels)
    sample_rate : int
    low_pct, high_pct : float
        Energy percentiles of the edges.

    Returns
    -------
    (float, float)
        Low and high edge in Hz (NaN for silence).

    Raises
    ------
    ParameterError
        Fewer than 4096 samples.

    Notes
    -----
    Welch spectrum with 2.9 Hz bins at 48 kHz (16384-point segments, fewer for
    short input), so a 300 Hz edge is resolved to 1%. Telephone-band speech
    (300-3400 Hz) reads about 300-3300; full-band speech about 100 Hz to 5-7 kHz.
    Taught in ``lessons/06_native_vs_postgen.ipynb``.
    """
    from scipy import signal

    x = validate_audio(audio, name="audio").mean(axis=1)
    sr = int(sample_rate)
    if x.size < 4096:
        raise ParameterError("audio: need at least 4096 samples to estimate the band.")
    nper = int(min(16384, 2 ** int(np.log2(x.size))))
    f, p = signal.welch(x, fs=sr, nperseg=nper)
    return _percentile_edges(f, p, low_pct=low_pct, high_pct=high_pct)


def foreground_band_limits(audio, *, sample_rate: int = SAMPLE_RATE, frame_ms: float = 50.0,
                           low_pct: float = 1.0, high_pct: float = 99.0) -> tuple[float, float]:
    """Band edges of what rises over the bed: the active frames' spectrum minus the quiet frames'.

    Parameters
    ----------
    audio : np.ndarray, shape (n_samples, n_channels)
    sample_rate : int
    frame_ms : float
    low_pct, high_pct : float

    Returns
    -------
    (float, float)
        Low and high edge in Hz of the foreground (dialogue over an ambience,
        say); the whole signal's edges when there is no quiet stretch to subtract.

    Notes
    -----
    Frames more than 10 dB over the noise floor (:func:`noise_floor`) are
    active; the mean power spectrum of the quiet frames (at most 3 dB over the
    floor) is subtracted from theirs, bin by bin.
    """
    from scipy import signal

    x = validate_audio(audio, name="audio").mean(axis=1).astype(np.float64)
    sr = int(sample_rate)
    hop = int(sr * frame_ms / 1000.0)
    n = x.size // hop
    if n < 8:
        return band_limits(audio, sample_rate=sr, low_pct=low_pct, high_pct=high_pct)
    lv = 10 * np.log10((x[: n * hop] ** 2).reshape(n, hop).mean(axis=1) + 1e-20)
    floor = float(np.percentile(lv, 10))
    active, quiet = lv > floor + 10.0, lv <= floor + 3.0
    if active.sum() < 4 or quiet.sum() < 4:
        return band_limits(audio, sample_rate=sr, low_pct=low_pct, high_pct=high_pct)
    nper = 4096 if hop < 4096 else hop
    def mean_spec(mask):
        idx = np.nonzero(mask)[0]
        segs = np.concatenate([x[i * hop : (i + 1) * hop] for i in idx])
        return signal.welch(segs, fs=sr, nperseg=min(nper, segs.size))
    f, pa = mean_spec(active)
    _, pq = mean_spec(quiet)
    return _percentile_edges(f, pa - pq, low_pct=low_pct, high_pct=high_pct)


LINE_RISE_DB = 1.0
"""How far the cued lines must stand over the bed between them (in the voice's run of bands) to give a voice band."""


def dialogue_band(audio, *, lines_s, sample_rate: int = SAMPLE_RATE, frame_len: int = 4096,
                  low_pct: float = 1.0, high_pct: float = 99.0, with_cliffs: bool = False) -> tuple:
    """The voice's band: the spectrum during the cued lines minus the beds' between them.

    Parameters
    ----------
    audio : np.ndarray, shape (n_samples, n_channels)
        The mix (dialogue over music and ambience).
    lines_s : sequence of (float, float)
        Each line's start and end in seconds, as a cue sheet gives them.
    sample_rate : int
    frame_len : int
        Samples per Hann frame (4096: 11.7 Hz bins at 48 kHz, a 300 Hz edge within 4%).
    low_pct, high_pct : float
        Energy percentiles of the edges.

    with_cliffs : bool
        Also return the edges that are band limits (low, high; None for an edge that is not): over 150 Hz
        (low) or under 6 kHz (high), the ranges :func:`band_cliffs` searches, and some 1/12-octave band within
        the octave beyond the edge holds, voice and bed together, ``BAND_CLIFF_DB`` (20 dB) less than the
        voice's excess in the third of an octave inside it (so the voice falls at least that much: a cliff).

    Returns
    -------
    (float, float) or (float, float, float or None, float or None)
        Low and high edge in Hz; NaN when there are no frames inside the lines or between them,
        or nothing rises over the bed.

    Raises
    ------
    ParameterError
        ``lines_s`` not a list of (start_s, end_s) pairs with start < end.

    Notes
    -----
    Spectral subtraction (Boll 1979): the mean power spectrum of the frames that lie wholly inside a line,
    minus that of the frames wholly between lines (the beds alone; between the first line and the last,
    where the music is the one under the voice), floored at zero. Music and room tone fill the lows of a
    mix, so the mix's own 1% edge lies in the bed (cafe_dialogue's native mix: 70 Hz for a voice
    band-passed at 300 Hz). The bed's level also drifts between the lines and between them (bass notes),
    leaving scraps of excess beside the voice: the voice is the run of 1/12-octave bands with excess
    above zero (a run ends at a quarter of an octave, 3 bands, with none) that holds the most excess
    energy; the edges are the 1% and 99% energy points of the excess inside that run.
    Taught in ``lessons/06_native_vs_postgen.ipynb``.
    """
    x = validate_audio(audio, name="audio").mean(axis=1).astype(np.float64)
    sr = int(sample_rate)
    try:
        spans = sorted((float(s), float(e)) for s, e in lines_s)
    except (TypeError, ValueError):
        raise ParameterError("lines_s: give each line as (start_s, end_s) in seconds, e.g. [(2.4, 4.9)].") from None
    if not spans or any(not e > s for s, e in spans):
        raise ParameterError("lines_s: need at least one line, each with end_s after start_s.")
    n = int(frame_len)
    nothing = (float("nan"), float("nan")) + ((None, None) if with_cliffs else ())
    if x.size < 2 * n:
        return nothing
    starts = np.arange(0, x.size - n + 1, n // 4)
    t0, t1 = starts / sr, (starts + n) / sr
    inside = np.zeros(starts.size, bool)
    between = np.ones(starts.size, bool)
    for s, e in spans:
        inside |= (t0 >= s) & (t1 <= e)
        between &= (t1 <= s) | (t0 >= e)
    bed = between & (t0 >= spans[0][0]) & (t1 <= spans[-1][1])
    if bed.sum() < 8:  # one line, or lines back to back: the beds before and after them
        bed = between
    if not inside.any() or not bed.any():
        return nothing
    win = np.hanning(n)

    def mean_power(mask):
        return np.mean([np.abs(np.fft.rfft(x[a : a + n] * win)) ** 2 for a in starts[mask]], axis=0)

    f = np.fft.rfftfreq(n, 1.0 / sr)
    during = mean_power(inside)
    bed_power = mean_power(bed)
    excess = during - bed_power
    centres = 40.0 * 2.0 ** (np.arange(0, 12 * 10) / 12.0)
    centres = centres[centres * 2 ** (1 / 24) < 0.45 * sr]
    lo_f, hi_f = centres / 2 ** (1 / 24), centres * 2 ** (1 / 24)
    level = np.array([excess[(f >= a) & (f < b)].mean() if np.any((f >= a) & (f < b)) else np.nan
                      for a, b in zip(lo_f, hi_f)])
    total = np.array([during[(f >= a) & (f < b)].mean() if np.any((f >= a) & (f < b)) else np.nan
                      for a, b in zip(lo_f, hi_f)])
    ok = np.nan_to_num(level, nan=-1.0)
    if not np.any(ok > 0):
        return nothing
    # runs of bands with excess, split where a quarter of an octave (3 bands) has none; the voice is the run
    # holding the most excess energy (a scrap of drifting bass can be strong, but it is narrow)
    runs, start, last, empty = [], None, None, 0
    for i in range(centres.size):
        if np.isnan(level[i]):
            continue
        if ok[i] > 0:
            start = i if start is None else start
            last, empty = i, 0
        elif start is not None:
            empty += 1
            if empty >= 3:
                runs.append((start, last))
                start, empty = None, 0
    if start is not None:
        runs.append((start, last))

    def energy(r):
        sel = (f >= lo_f[r[0]]) & (f < hi_f[r[1]])
        return float(np.maximum(excess[sel], 0.0).sum())

    a, b = max(runs, key=energy)
    run = (f >= lo_f[a]) & (f < hi_f[b])
    # the lines must hold something: in the voice's run of bands they stand LINE_RISE_DB over the bed at least
    # (a steady hum's frame-to-frame wobble leaves a chance excess of a fraction of a dB, not a voice)
    if energy((a, b)) < (10.0 ** (LINE_RISE_DB / 10.0) - 1.0) * float(bed_power[run].sum()):
        return nothing
    edges = _percentile_edges(f[run], np.maximum(excess[run], 0.0), low_pct=low_pct, high_pct=high_pct)
    if not with_cliffs:
        return edges
    def db(v):
        return 10.0 * np.log10(np.maximum(v, 1e-30))

    def cliff(edge_bands, beyond_bands):
        # a band limit is proved where the voice falls BAND_CLIFF_DB within the octave beyond its edge; the
        # voice there is at most what the lines hold in all (voice and bed), so that must lie so far under the
        # voice's excess just inside. Where the bed is louder (music under a voice's lows) nothing is proved.
        inner = np.nanmax(db(level[edge_bands])) if edge_bands.size else np.nan
        outer = total[beyond_bands]
        outer = outer[np.isfinite(outer)]
        return bool(outer.size) and float(db(outer).min()) <= inner - BAND_CLIFF_DB

    idx = np.arange(centres.size)
    i_lo, i_hi = (int(np.argmin(np.abs(np.log2(centres / e)))) for e in edges)  # the edges' own bands
    low = edges[0] if (edges[0] >= 150.0 and cliff(idx[i_lo : i_lo + 4], idx[max(0, i_lo - 12) : i_lo])) else None
    high = edges[1] if (edges[1] <= 6000.0 and cliff(idx[max(0, i_hi - 3) : i_hi + 1], idx[i_hi + 1 : i_hi + 13])) else None
    return edges + (low, high)


def noise_floor(audio, *, sample_rate: int = SAMPLE_RATE, frame_ms: float = 20.0) -> tuple[float, float]:
    """Noise floor and signal-to-noise: the quiet frames' level, and the active frames' level over it.

    Parameters
    ----------
    audio : np.ndarray, shape (n_samples, n_channels)
    sample_rate : int
    frame_ms : float
        Frame length for the level distribution.

    Returns
    -------
    (float, float)
        Floor in dBFS (10th percentile of the frame levels) and signal-to-noise
        in dB: the power mean of the frames more than 6 dB over the floor,
        minus the floor (0 when nothing rises over it).

    Raises
    ------
    ParameterError
        Fewer than 4 frames.

    Notes
    -----
    Short events (beeps, clicks, a few words) count in full, however little
    of the clip they fill. Taught in ``labs/lab1_audit/lab1_audit.ipynb``.
    """
    x = validate_audio(audio, name="audio")
    hop = max(1, int(round(sample_rate * frame_ms / 1000.0)))
    n = x.shape[0] // hop
    if n < 4:
        raise ParameterError(f"audio: too short to estimate a noise floor (need 4 frames of {frame_ms:g} ms).")
    p = (x[: n * hop].astype(np.float64) ** 2).mean(axis=1).reshape(n, hop).mean(axis=1)
    lv = 10 * np.log10(p + 1e-20)
    floor = float(np.percentile(lv, 10))
    active = lv > floor + ACTIVE_OVER_FLOOR_DB
    if not active.any():
        return floor, 0.0
    return floor, float(10 * np.log10(p[active].mean() + 1e-20)) - floor


ACTIVE_OVER_FLOOR_DB = 6.0
"""A frame is active (a sound, not the floor) when its level is this far over the floor (the 10th percentile)."""


def has_distinct_sounds(audio, *, sample_rate: int = SAMPLE_RATE, frame_ms: float = 20.0) -> bool:
    """Whether anything stands out of the track: some frame rises ``ACTIVE_OVER_FLOOR_DB`` (6 dB) over the floor.

    Parameters
    ----------
    audio : np.ndarray, shape (n_samples, n_channels)
    sample_rate : int
    frame_ms : float

    Returns
    -------
    bool
        False for digital silence and for a steady track (noise, hum, a held tone): nothing in it could be the
        sound of a picture event, and nothing marks a line of dialogue off from the bed.

    Raises
    ------
    ParameterError
        Fewer than 4 frames.

    Notes
    -----
    The same active-frame rule as :func:`noise_floor` (whose signal-to-noise is then 0). Why 6 dB: the level of
    a stationary noise measured over T = 20 ms in a bandwidth B scatters with a normalised random error of
    1/sqrt(BT) in power (Bendat & Piersol, *Random Data*, 4th ed., 2010, ch. 8): white noise at 48 kHz
    (BT = 480) moves about 0.2 dB from frame to frame, a 1 kHz-wide hiss (BT = 20) about 1 dB, so none of their
    frames reaches 6 dB over the 10th percentile; an onset the audit pairs with a picture event must itself
    rise ``MIN_ONSET_RISE_DB`` (6 dB). Taught in ``labs/lab1_audit/lab1_audit.ipynb``.
    """
    return noise_floor(audio, sample_rate=sample_rate, frame_ms=frame_ms)[1] > 0.0  # 0 exactly when no frame is active


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(start, stop) of each run of True in a boolean array."""
    m = np.concatenate([[False], np.asarray(mask, bool), [False]])
    edges = np.flatnonzero(np.diff(m.astype(np.int8)))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist()))


def bed_dropouts(audio, *, sample_rate: int = SAMPLE_RATE, min_drop_db: float = 10.0, min_duration_s: float = 1.0,
                 bed_window_s: float = 0.25, bed_percentile: float = 10.0) -> list[dict]:
    """Stretches where the ambience bed vanishes, measured between the other sounds.

    Parameters
    ----------
    audio : np.ndarray, shape (n_samples, n_channels)
    sample_rate : int
    min_drop_db : float
        How far the bed must fall under its usual level, in dB.
    min_duration_s : float
        How long it must stay down.
    bed_window_s, bed_percentile : float
        The bed's short-term level is this percentile of the 10 ms levels over this window, so
        events on top (a word, a click, a bird) do not lift it.

    Returns
    -------
    list of dict
        ``start_s``, ``end_s`` (seconds), ``depth_db`` (median fall in the deepest octave band, dB)
        and ``band_hz`` (that band's centre), in time order.

    Raises
    ------
    InputError
        Audio that is not finite.

    Notes
    -----
    In each octave band (125 Hz-8 kHz) the bed's short-term level is compared with the band's own
    median bed level over the clip; a dropout is a run of at least ``min_duration_s`` where some band's
    bed stays ``min_drop_db`` or more under it, with bed on both sides: the median bed level over
    ``min_duration_s`` before and after it within half ``min_drop_db`` of its usual level (a fade in or out at the clip's ends, or a music bed
    whose bass enters late after one note, is not a gap). Bands are needed because what goes on during a gap (forest_broll's thunder
    tail and birds) fills the lows: its 1.5 s dropout falls 26-52 dB at 4-8 kHz but only 0-6 dB at
    125-500 Hz, and 8-11 dB in the whole track. The edges are where the deepest band's 10 ms level
    first and last sits under the threshold. Taught in ``labs/lab1_audit/lab1_audit.ipynb``.
    """
    from scipy import signal
    from scipy.ndimage import percentile_filter

    x = validate_audio(audio, name="audio").mean(axis=1).astype(np.float64)
    sr = int(sample_rate)
    hop = sr // 100
    n = x.size // hop
    win = max(3, int(round(bed_window_s * 100)))
    need = int(round(min_duration_s * 100))
    if n < 3 * need or not np.any(x):
        return []
    found = []
    for fc in (125.0, 250.0, 500.0, 1000.0, 2000.0, 4000.0, 8000.0):
        if fc * np.sqrt(2.0) >= 0.45 * sr:
            continue
        y = signal.sosfilt(signal.butter(4, [fc / np.sqrt(2.0), fc * np.sqrt(2.0)], btype="bandpass", fs=sr,
                                         output="sos"), x)
        lv = 10 * np.log10((y[: n * hop] ** 2).reshape(n, hop).mean(axis=1) + 1e-20)
        bed = percentile_filter(lv, bed_percentile, size=win, mode="nearest")
        rel_bed, rel = bed - np.median(bed), lv - np.median(bed)
        for a, b in _runs(rel_bed <= -min_drop_db):
            if b - a < need or a < need or b > n - need:
                continue
            # bed on both sides: at its usual level for min_duration_s before and after (a music bed whose bass
            # enters 2 s in, after one note, is a late entry, not a gap)
            if min(np.median(rel_bed[a - need : a]), np.median(rel_bed[b : b + need])) <= -min_drop_db / 2:
                continue
            under = np.flatnonzero(rel[a:b] <= -min_drop_db)
            s0, s1 = a + int(under[0]), a + int(under[-1]) + 1
            if s1 - s0 < need:
                continue
            found.append((s0, s1, float(-np.median(rel_bed[s0:s1])), fc))
    found.sort()
    out: list[dict] = []
    for s0, s1, depth, fc in found:  # one dropout per stretch of time: the deepest band's
        if out and s0 < out[-1]["_stop"]:
            if depth > out[-1]["depth_db"]:
                out[-1].update(start_s=s0 / 100.0, end_s=s1 / 100.0, depth_db=round(depth, 1), band_hz=fc,
                               _stop=max(s1, out[-1]["_stop"]))
            continue
        out.append({"start_s": s0 / 100.0, "end_s": s1 / 100.0, "depth_db": round(depth, 1), "band_hz": fc, "_stop": s1})
    for d in out:
        del d["_stop"]
    return out


BAND_CLIFF_DB = 20.0
"""A band edge is a fall of at least this much within one octave (natural spectra fall 6-12 dB per octave)."""


def band_cliffs(audio, *, sample_rate: int = SAMPLE_RATE, min_fall_db: float = BAND_CLIFF_DB) -> tuple:
    """Where the spectrum falls off a cliff: the edges of a band-limit (a telephone or a cheap codec).

    Parameters
    ----------
    audio : np.ndarray, shape (n_samples, n_channels)
    sample_rate : int
    min_fall_db : float
        How far the level must fall within one octave beyond the edge.

    Returns
    -------
    (float or None, float or None)
        Low edge (150 Hz-1 kHz) and high edge (1-6 kHz) in Hz, None where the spectrum has no cliff.
        Scanning out from 1 kHz, a cliff starts at the first 1/12-octave band whose level falls
        ``min_fall_db`` within the octave beyond it; the edge is the corner there: where the
        straight line of the passband (level against log frequency) meets the stopband's, as a
        filter's corner frequency is read off its Bode plot (two segments fitted by least squares).

    Raises
    ------
    ParameterError
        Fewer than 4096 samples.

    Notes
    -----
    Welch spectrum (2.9 Hz bins at 48 kHz), levels in 1/12-octave bands (6% steps, so an edge is placed
    within 10%), floored 90 dB under the loudest band. A 4th-order Butterworth band-pass applied forward
    and backward (as the kit renders telephone dialogue) falls about 45 dB in the octave past its edge;
    a voice, a wind bed or a dense mix rolls off 6-12 dB per octave, so the 99%-energy edge of
    :func:`band_limits` sits low (2-5 kHz) on them although nothing limits them. The high search stops
    at 6 kHz: AAC and MP3 encoders low-pass at 15-20 kHz; the low one starts at 150 Hz: a
    high-pass at 80-120 Hz is ordinary production, not a limit. Under music only the voice's high edge may
    show (the music fills the lows), and its corner reads low (cafe_dialogue's mix: about 2.4 kHz for a
    3.4 kHz edge; the 99%-energy edge of the foreground reads 3.1 kHz): with the cue sheet's lines,
    :func:`dialogue_band` measures the voice itself (316-3176 Hz). Taught in ``lessons/06_native_vs_postgen.ipynb``.
    """
    centres, lv = _twelfth_octave_levels(audio, sample_rate=sample_rate)
    if lv is None:
        return None, None
    lv = np.maximum(lv, lv.max() - 90.0)

    x = np.log2(centres)

    def knee(i0, i1):
        # the corner of a Bode plot: where the passband's straight line (level against log frequency) meets
        # the stopband's; two continuous segments fitted by least squares, the join swept band by band
        seg = np.arange(max(0, i0), min(centres.size, i1))
        seg = seg[lv[seg] > lv.max() - 80.0]
        best, where = np.inf, None
        for k in seg[3:-3]:
            d = x[seg] - x[k]
            a = np.stack([np.ones_like(d), np.minimum(d, 0.0), np.maximum(d, 0.0)], axis=1)
            coef, *_ = np.linalg.lstsq(a, lv[seg], rcond=None)
            err = float(((a @ coef - lv[seg]) ** 2).sum())
            if err < best:
                best, where = err, float(centres[k])
        return where

    def edge(lo_hz, hi_hz, step):
        # scan from 1 kHz outwards to the first band whose octave beyond falls min_fall_db: the cliff
        idx = [i for i, c in enumerate(centres) if lo_hz <= c <= hi_hz and 0 <= i + step < centres.size]
        idx = idx if step > 0 else idx[::-1]
        for i in idx:
            if lv[i] - lv[i + step] >= min_fall_db:
                return knee(i - 12, i + 24) if step > 0 else knee(i - 24, i + 13)
        return None

    return edge(150.0, 1000.0, -12), edge(1000.0, 6000.0, 12)


BAND_SEGMENT = 16384
"""Samples per Welch segment of the band-edge spectrum (2.9 Hz bins at 48 kHz). A shorter clip gets coarser
bins, and the narrow 1/12-octave bands of the low-edge search (4.3 Hz wide at 75 Hz) come out empty: a false
cliff. The audit makes no band-limit verdict on a clip shorter than one segment."""

MIN_SPREAD_BANDS = 12
"""A band-limit verdict needs a band: at least this many 1/12-octave bands (one octave's worth) within
``SPREAD_RANGE_DB`` of the loudest. A cliff is a fall of ``BAND_CLIFF_DB`` within the octave beyond an edge, so
the passband must fill at least that octave for a fall to be an edge rather than the gap beside a pure tone."""

SPREAD_RANGE_DB = 30.0
"""How far under the loudest 1/12-octave band a band still counts as occupied (``spectral_spread_bands``)."""


def _twelfth_octave_levels(audio, *, sample_rate: int):
    """Centres (Hz) and levels (dB) of the 1/12-octave bands from 40 Hz to 0.45 x the rate, from a Welch
    spectrum of ``BAND_SEGMENT``-point segments (fewer for short input); levels None for silence."""
    from scipy import signal

    x = validate_audio(audio, name="audio").mean(axis=1).astype(np.float64)
    sr = int(sample_rate)
    if x.size < 4096:
        raise ParameterError("audio: need at least 4096 samples to look for band edges.")
    f, p = signal.welch(x, fs=sr, nperseg=int(min(BAND_SEGMENT, 2 ** int(np.log2(x.size)))))
    centres = 40.0 * 2.0 ** (np.arange(0, 12 * 9) / 12.0)
    centres = centres[centres * 2 ** (1 / 24) < 0.45 * sr]
    if not np.any(p > 0):
        return centres, None
    lv = np.array([p[(f >= c / 2 ** (1 / 24)) & (f < c * 2 ** (1 / 24))].mean()
                   if np.any((f >= c / 2 ** (1 / 24)) & (f < c * 2 ** (1 / 24))) else 0.0 for c in centres])
    return centres, 10 * np.log10(lv + 1e-30)


def spectral_spread_bands(audio, *, sample_rate: int = SAMPLE_RATE, range_db: float = SPREAD_RANGE_DB) -> int:
    """How many 1/12-octave bands (40 Hz to 0.45 x the rate) lie within ``range_db`` of the loudest one.

    Parameters
    ----------
    audio : np.ndarray, shape (n_samples, n_channels)
    sample_rate : int
    range_db : float

    Returns
    -------
    int
        0 for silence; 2 for a 440 Hz tone (its band and the Hann window's leakage beside it), 6 for a triad;
        about 50 for speech-like noise band-passed to 300-3400 Hz, over 100 for white noise (at 48 kHz). More than
        about six pure tones spread over octaves count as a band.

    Raises
    ------
    ParameterError
        Fewer than 4096 samples.

    Notes
    -----
    Under ``MIN_SPREAD_BANDS`` (one octave) the audit makes no band-limit verdict: :func:`band_cliffs` finds a
    "cliff" beside any pure tone (the tone's band falls 20 dB within an octave, into nothing), and whether it
    does depended on the container (a 440 Hz tone read band-limited as AAC, not as WAV). The spread is a count of
    occupied bands, a coarse cousin of the spectral flatness (Wiener entropy) that perceptual coders use to tell
    tones from noise (Johnston 1988, IEEE JSAC 6(2)). Taught in ``lessons/06_native_vs_postgen.ipynb``.
    """
    _, lv = _twelfth_octave_levels(audio, sample_rate=sample_rate)
    if lv is None:
        return 0
    return int(np.sum(lv > lv.max() - range_db))
