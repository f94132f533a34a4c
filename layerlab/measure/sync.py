"""Picture/sound sync: where a sound starts against where the picture says it should.

Two measurements, both pure functions on arrays:

* :func:`sfx_offsets` finds, for every visual event of a cue sheet, the onset
  of a sound effect nearest its cue in the SFX stem. SFX are sparse one-shots,
  so an energy envelope at 1 ms resolution with a sharp-rise detector finds
  them; each onset is then refined to the first sample that exceeds a
  threshold relative to the local peak (about 1-2 ms accuracy).
* :func:`dialogue_offsets` cross-correlates the envelope of the dialogue stem
  with the envelope of the clean line around its cue, then refines the lag by
  sample-level correlation.

In this kit an offset is *the time the sound starts minus the time of the
visual event*, in milliseconds: positive means the sound is late. The pass
window is a :class:`SyncWindow`; the default is EBU R37 (at most 40 ms early,
at most 60 ms late).

Taught in ``lessons/08_measuring_the_mix.ipynb`` (sync to picture) and graded in the
mixing lab.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np

from layerlab.io.audio import SAMPLE_RATE, validate_audio
from layerlab.errors import ParameterError
from layerlab.measure.correlation import correlate_lags, sliding_ncc
from layerlab.measure.envelopes import channel_mean, channel_power, db_from_power, frame_power, padded_slice

__all__ = [
    "SyncWindow",
    "SYNC_WINDOWS",
    "EBU_R37",
    "Onset",
    "EventOffset",
    "SyncResult",
    "offset_message",
    "detect_onsets",
    "sfx_offsets",
    "dialogue_offsets",
    "get_sync_window",
]


@dataclass(frozen=True)
class SyncWindow:
    """How early and how late a sound may be and still count as in sync.

    Attributes
    ----------
    early_ms : float
        Largest allowed lead of sound over picture, as a positive number (40
        means the sound may start up to 40 ms before the picture event).
    late_ms : float
        Largest allowed lag of sound behind picture.
    name : str
        Where the numbers come from, for messages.
    """

    early_ms: float = 40.0
    late_ms: float = 60.0
    name: str = "EBU R37"

    def __post_init__(self):
        if not (np.isfinite(self.early_ms) and np.isfinite(self.late_ms)) or self.early_ms < 0 or self.late_ms < 0:
            raise ParameterError(
                f"SyncWindow: early_ms and late_ms are allowed magnitudes and must be finite and >= 0, "
                f"got early_ms={self.early_ms}, late_ms={self.late_ms}."
            )

    def contains(self, offset_ms: float) -> bool:
        """True when ``offset_ms`` (positive = late) is inside the window."""
        return -self.early_ms <= offset_ms <= self.late_ms

    def describe(self) -> str:
        """The window in words, e.g. ``"-40..+60 ms (EBU R37)"``."""
        return f"-{self.early_ms:g}..+{self.late_ms:g} ms ({self.name})"


EBU_R37 = SyncWindow(40.0, 60.0, "EBU R37")
SYNC_WINDOWS: dict[str, SyncWindow] = {
    "ebu_r37": EBU_R37,
    "bt1359_detectable": SyncWindow(45.0, 125.0, "ITU-R BT.1359, detectability"),
    "bt1359_acceptable": SyncWindow(90.0, 185.0, "ITU-R BT.1359, acceptability"),
    "atsc_is191": SyncWindow(15.0, 45.0, "ATSC IS-191"),
}
"""Named pass windows from REFERENCE.md (keys accepted by ``layerlab check --sync-window``)."""


def get_sync_window(name_or_window) -> SyncWindow:
    """Return a :class:`SyncWindow` from a preset name (``"ebu_r37"``, ...) or pass one through.

    Notes
    -----
    Taught in ``lessons/08_measuring_the_mix.ipynb``.
    """
    if isinstance(name_or_window, SyncWindow):
        return name_or_window
    key = str(name_or_window).strip().lower().replace("-", "_").replace(" ", "_").replace(".", "")
    if key in SYNC_WINDOWS:
        return SYNC_WINDOWS[key]
    raise ParameterError(
        f"sync window {name_or_window!r} is not known; choose one of {', '.join(SYNC_WINDOWS)} "
        "or pass SyncWindow(early_ms=..., late_ms=...)."
    )


@dataclass(frozen=True)
class Onset:
    """One detected sound onset.

    Attributes
    ----------
    time_s : float
        The first sample of the sound, in seconds from the start of the stem.
    after_quiet : bool
        True when the sound starts out of at least 250 ms of quiet (a new
        sound); False when it follows closely on, or rises over the tail of,
        an earlier sound (a later hit of the same effect, say).
    quiet_before_s : float
        How long the stem was quiet before the onset.
    rise_db : float
        How far the level jumped at the onset.
    """

    time_s: float
    after_quiet: bool
    rise_db: float
    quiet_before_s: float = 0.0


@dataclass
class EventOffset:
    """The sync measurement of one cue.

    Attributes
    ----------
    id, label : str
        The cue's id and description from the cue sheet.
    kind : {"sfx", "dialogue"}
    cue_s : float
        Where the picture says the sound must start.
    detected_s : float or None
        Where the sound was found to start; ``None`` if it was not found.
    offset_ms : float or None
        ``detected_s - cue_s`` in ms (positive = late); ``None`` if not found.
    found : bool
    passed : bool
        Found and inside the pass window.
    confidence : float
        0..1; for dialogue the normalized envelope correlation, for SFX the
        onset's rise in dB mapped to 0..1 (30 dB or more = 1).
    message : str
        What to change, in plain words.
    """

    id: str
    label: str
    kind: str
    cue_s: float
    detected_s: float | None
    offset_ms: float | None
    found: bool
    passed: bool
    confidence: float = 0.0
    message: str = ""

    def to_dict(self) -> dict:
        """JSON-ready dictionary."""
        return {
            "id": self.id,
            "label": self.label,
            "kind": self.kind,
            "cue_s": round(self.cue_s, 4),
            "detected_s": None if self.detected_s is None else round(self.detected_s, 4),
            "offset_ms": None if self.offset_ms is None else round(self.offset_ms, 2),
            "found": self.found,
            "passed": self.passed,
            "confidence": round(float(self.confidence), 3),
            "message": self.message,
        }


@dataclass
class SyncResult:
    """Offsets of every cue of one kind, judged against a pass window.

    Attributes
    ----------
    events : list of EventOffset
    window : SyncWindow
    onsets : list of Onset
        Every onset found in the stem (for the sync timeline figure).
    """

    events: list[EventOffset]
    window: SyncWindow
    onsets: list[Onset] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """True when every cue was found and is inside the window."""
        return all(e.passed for e in self.events)

    @property
    def missing(self) -> list[EventOffset]:
        """Cues with no sound found."""
        return [e for e in self.events if not e.found]

    @property
    def worst(self) -> EventOffset | None:
        """The found cue furthest outside (or nearest the edge of) the window."""
        found = [e for e in self.events if e.found]
        if not found:
            return None

        def badness(e):
            o = e.offset_ms
            limit = self.window.late_ms if o >= 0 else self.window.early_ms
            return abs(o) / limit if limit > 0 else abs(o) * 1e9

        return max(found, key=badness)

    def to_dict(self) -> dict:
        """JSON-ready dictionary."""
        return {
            "window": {"early_ms": self.window.early_ms, "late_ms": self.window.late_ms, "name": self.window.name},
            "events": [e.to_dict() for e in self.events],
        }


# ----------------------------------------------------------------------------- helpers


def _field(item, name, default=None):
    if isinstance(item, Mapping):
        return item.get(name, default)
    return getattr(item, name, default)


def detect_onsets(
    audio,
    *,
    sample_rate: int = SAMPLE_RATE,
    rise_db: float = 10.0,
    floor_db: float = 50.0,
    frame_ms: float = 1.0,
    new_sound_quiet_s: float = 0.25,
) -> list[Onset]:
    """Find where sounds start in a sparse stem (SFX one-shots, dialogue lines).

    Parameters
    ----------
    audio : np.ndarray, shape (n_samples, n_channels)
    sample_rate : int
    rise_db : float
        Minimum jump of the 3 ms level over the mean level of the 20 ms before.
    floor_db : float
        Ignore anything quieter than the stem's loudest millisecond minus this.
    frame_ms : float
        Envelope resolution.
    new_sound_quiet_s : float
        Quiet needed before an onset for it to count as a new sound
        (:attr:`Onset.after_quiet`).

    Returns
    -------
    list of Onset
        In time order. Each time is refined to the first sample that exceeds
        a tenth (-20 dB) of the local peak, or twice the tail it rises over.

    Notes
    -----
    Taught in ``lessons/08_measuring_the_mix.ipynb``.
    """
    audio = validate_audio(audio, name="stem")
    sr = int(sample_rate)
    hop = max(1, int(round(sr * frame_ms / 1000.0)))
    power = channel_power(audio)
    e = frame_power(power, hop)
    if e.size < 8 or not np.any(e > 0):
        return []
    peak_db = float(db_from_power(e.max()))
    quiet_db = max(peak_db - floor_db, -100.0)
    # level of the next 3 frames and mean level of the previous 20 frames
    ahead = 3
    back = 20
    c = np.concatenate([[0.0], np.cumsum(e)])
    idx = np.arange(e.size)
    hi = np.minimum(idx + ahead, e.size)
    lvl_ahead = db_from_power((c[hi] - c[idx]) / np.maximum(hi - idx, 1))
    lo = np.maximum(idx - back, 0)
    prev_mean = np.where(idx > 0, (c[idx] - c[lo]) / np.maximum(idx - lo, 1), 0.0)
    lvl_prev = db_from_power(prev_mean)
    rise = lvl_ahead - lvl_prev
    cand = (rise >= rise_db) & (lvl_ahead >= quiet_db)
    loud = (db_from_power(e) >= quiet_db)
    # index of the last loud frame strictly before each frame (-1: none since the start)
    marks = np.where(loud, idx, -1)
    last_loud_upto = np.maximum.accumulate(marks)
    last_loud_before = np.concatenate([[-1], last_loud_upto[:-1]])
    absx = np.max(np.abs(audio), axis=1)
    n = audio.shape[0]
    onsets: list[Onset] = []
    i = 0
    min_gap = int(round(30.0 / frame_ms))  # one onset per 30 ms at most
    last_frame = -10**9
    while i < e.size:
        if not cand[i]:
            i += 1
            continue
        j = i
        while j + 1 < e.size and cand[j + 1]:
            j += 1
        if i - last_frame >= min_gap:
            best = i + int(np.argmax(rise[i : j + 1]))
            start = max(0, i * hop - int(0.003 * sr))
            stop = min(n, (j + 1) * hop + int(0.030 * sr))
            local_peak = float(absx[start:stop].max()) if stop > start else 0.0
            tail_lo = max(0, start - int(0.020 * sr))
            tail = float(absx[tail_lo:start].max()) if start > tail_lo else 0.0
            thr = max(0.1 * local_peak, 2.0 * tail)
            if thr >= local_peak:
                thr = 0.5 * local_peak
            over = np.nonzero(absx[start:stop] >= thr)[0]
            s = start + int(over[0]) if over.size else i * hop
            quiet_before_s = (i - 1 - last_loud_before[i]) * hop / sr
            after_quiet = bool(quiet_before_s >= new_sound_quiet_s)
            onsets.append(Onset(time_s=s / sr, after_quiet=after_quiet, rise_db=float(min(rise[best], 200.0)),
                                quiet_before_s=float(quiet_before_s)))
            last_frame = j
        i = j + 1
    return onsets


def _assign(cues: list[float], candidates: list[float], window_s: float, taken_cues: set, taken_cands: set) -> dict:
    """Greedy one-to-one matching by distance; returns {cue index: candidate index}."""
    pairs = []
    for ci, cue in enumerate(cues):
        if ci in taken_cues:
            continue
        for k, t in enumerate(candidates):
            if k in taken_cands:
                continue
            d = abs(t - cue)
            if d <= window_s:
                pairs.append((d, ci, k))
    pairs.sort()
    out = {}
    for _, ci, k in pairs:
        if ci in taken_cues or k in taken_cands:
            continue
        out[ci] = k
        taken_cues.add(ci)
        taken_cands.add(k)
    return out


def offset_message(kind: str, label: str, cue_s: float, offset_ms: float, window: SyncWindow) -> str:
    """One line on a found cue: in sync, or how many ms late/early and which way to move it.

    Parameters
    ----------
    kind : {"sfx", "dialogue"}
    label : str
        The event's label or the line's id.
    cue_s : float
        The cue, in seconds.
    offset_ms : float
        Where the sound starts, ms after the cue (negative: early).
    window : SyncWindow

    Returns
    -------
    str
    """
    what = f"{'line' if kind == 'dialogue' else 'sound for'} '{label}'"
    if window.contains(offset_ms):
        return f"{what} starts {offset_ms:+.0f} ms from its cue at {cue_s:.3f} s: in sync."
    if offset_ms > 0:
        return (
            f"{what} is {offset_ms:.0f} ms late (cue at {cue_s:.3f} s, allowed up to {window.late_ms:g} ms late); "
            f"move it {offset_ms:.0f} ms earlier."
        )
    return (
        f"{what} is {-offset_ms:.0f} ms early (cue at {cue_s:.3f} s, allowed up to {window.early_ms:g} ms early); "
        f"move it {-offset_ms:.0f} ms later."
    )


def sfx_offsets(
    sfx_stem,
    events: Sequence,
    *,
    sample_rate: int = SAMPLE_RATE,
    search_window_ms: float = 500.0,
    window: SyncWindow | str = EBU_R37,
    onsets: Sequence | None = None,
) -> SyncResult:
    """Measure the offset of every visual event's sound effect in the SFX stem.

    Parameters
    ----------
    sfx_stem : np.ndarray, shape (n_samples, n_channels)
    events : sequence of dict or objects
        Each with ``id``, ``time_s`` (where the sound must start) and
        optionally ``label`` (the cue sheet's ``events``).
    sample_rate : int
    search_window_ms : float
        How far from its cue an onset may be and still belong to it; beyond
        that the event counts as missing.
    window : SyncWindow or preset name
        The pass window.
    onsets : sequence of Onset, optional
        ``detect_onsets(sfx_stem, sample_rate=sample_rate)`` when the caller has it already (``layerlab check``
        finds them once for its format gate and this check); found here otherwise.

    Returns
    -------
    SyncResult

    Notes
    -----
    Onsets that start out of 250 ms of quiet are matched first (so the first
    hit of a multi-hit effect wins over its later hits), then onsets over the tail of
    an earlier sound. Matching is one-to-one, nearest first.

    Taught in ``lessons/08_measuring_the_mix.ipynb``.
    """
    window = get_sync_window(window)
    if search_window_ms <= 0:
        raise ParameterError(f"search_window_ms must be positive, got {search_window_ms}.")
    sfx_stem = validate_audio(sfx_stem, name="sfx stem")
    onsets = detect_onsets(sfx_stem, sample_rate=sample_rate) if onsets is None else list(onsets)
    cues = []
    for k, ev in enumerate(events):
        t = _field(ev, "time_s")
        if t is None or not np.isfinite(float(t)):
            raise ParameterError(f"event {k} ({_field(ev, 'id', '?')}): needs a finite time_s.")
        cues.append(float(t))
    ws = search_window_ms / 1000.0
    taken_c: set = set()
    taken_o: set = set()
    quiet_idx = [k for k, o in enumerate(onsets) if o.after_quiet]
    other_idx = [k for k, o in enumerate(onsets) if not o.after_quiet]
    match = {}
    for pool in (quiet_idx, other_idx):
        times = [onsets[k].time_s for k in pool]
        local_taken = {p for p, k in enumerate(pool) if k in taken_o}
        m = _assign(cues, times, ws, taken_c, local_taken)
        for ci, p in m.items():
            match[ci] = pool[p]
            taken_o.add(pool[p])
    results = []
    for ci, ev in enumerate(events):
        ev_id = str(_field(ev, "id", f"event{ci}"))
        label = str(_field(ev, "label", ev_id) or ev_id)
        cue = cues[ci]
        if ci in match:
            o = onsets[match[ci]]
            off = (o.time_s - cue) * 1000.0
            ok = window.contains(off)
            results.append(
                EventOffset(ev_id, label, "sfx", cue, o.time_s, off, True, ok, min(1.0, o.rise_db / 30.0),
                            offset_message("sfx", label, cue, off, window))
            )
        else:
            results.append(
                EventOffset(
                    ev_id, label, "sfx", cue, None, None, False, False, 0.0,
                    f"no sound effect found within ±{search_window_ms:g} ms of the cue for '{label}' at {cue:.3f} s; "
                    f"add it to the SFX layer starting at {cue:.3f} s.",
                )
            )
    return SyncResult(results, window, onsets)


def _envelope(mono: np.ndarray, hop: int) -> np.ndarray:
    return np.sqrt(frame_power(mono.astype(np.float64) ** 2, hop))


def dialogue_offsets(
    dialogue_stem,
    lines: Sequence,
    clips: Mapping[str, np.ndarray | None],
    *,
    sample_rate: int = SAMPLE_RATE,
    search_window_ms: float = 500.0,
    window: SyncWindow | str = EBU_R37,
    min_correlation: float = 0.5,
) -> SyncResult:
    """Measure the offset of every dialogue line in the dialogue stem.

    Parameters
    ----------
    dialogue_stem : np.ndarray, shape (n_samples, n_channels)
    lines : sequence of dict or objects
        Each with ``id``, ``start_s`` and optionally ``text``/``speaker``
        (the cue sheet's ``dialogue``).
    clips : mapping of line id to np.ndarray, shape (m_samples, n_channels), or None
        The clean line. Without it, the line's onset is found by the onset
        detector instead (less exact: speech can start softly).
    sample_rate : int
    search_window_ms : float
        Lags searched on each side of the cue.
    window : SyncWindow or preset name
    min_correlation : float
        Below this normalized envelope correlation the line counts as missing.

    Returns
    -------
    SyncResult

    Notes
    -----
    The stem's RMS envelope on a hop of ``sample_rate // 1000`` samples (about 1 ms;
    lags are converted to time by the hop, not assumed to be 1 ms) is correlated with the clean line's envelope
    over lags of ±``search_window_ms``; the best lag is refined to the sample
    by correlating the waveforms within ±3 ms of it.

    Taught in ``lessons/08_measuring_the_mix.ipynb``.
    """
    window = get_sync_window(window)
    if search_window_ms <= 0:
        raise ParameterError(f"search_window_ms must be positive, got {search_window_ms}.")
    stem = validate_audio(dialogue_stem, name="dialogue stem")
    sr = int(sample_rate)
    mono = channel_mean(stem.astype(np.float64))
    hop = max(1, sr // 1000)  # about 1 ms; frames are hop / sr seconds apart (0.998 ms at 44.1 kHz)
    frames_per_s = sr / hop
    env = _envelope(mono, hop)
    w = int(round(search_window_ms / 1000.0 * frames_per_s))
    onsets = None
    results = []
    for li, line in enumerate(lines):
        lid = str(_field(line, "id", f"line{li}"))
        text = _field(line, "text", "") or ""
        label = lid if not text else f"{lid}: {text[:40]}"
        cue = _field(line, "start_s")
        if cue is None or not np.isfinite(float(cue)):
            raise ParameterError(f"dialogue line {lid}: needs a finite start_s.")
        cue = float(cue)
        clip = clips.get(lid) if clips is not None else None
        if clip is not None:
            clip = validate_audio(clip, name=f"clip of line {lid}")
            cmono = channel_mean(clip.astype(np.float64))
            cenv = _envelope(cmono, hop)
            cue_f = int(round(cue * frames_per_s))
            lo = cue_f - w
            hi = cue_f + w + cenv.size
            xc = sliding_ncc(padded_slice(env, lo, hi), cenv)
            if xc.size == 0:
                best_corr, lag_frames = 0.0, 0
            else:
                k = int(np.argmax(xc))
                best_corr, lag_frames = float(xc[k]), k - w
            if best_corr >= min_correlation:
                # sample-level refinement around the envelope lag
                coarse = cue_f * hop + lag_frames * hop
                r = int(0.003 * sr)
                a = coarse - r
                b = coarse + r + cmono.size
                seg = padded_slice(mono, a, b)
                fine = correlate_lags(seg, cmono, lag_min=0, lag_max=seg.size - cmono.size)[1]  # 2r+1 lags
                kf = int(np.argmax(np.abs(fine))) if fine.size else r
                start_sample = a + kf
                det = start_sample / sr
                off = (det - cue) * 1000.0
                ok = window.contains(off)
                results.append(
                    EventOffset(lid, label, "dialogue", cue, det, off, True, ok, best_corr,
                                offset_message("dialogue", lid, cue, off, window))
                )
            else:
                results.append(
                    EventOffset(
                        lid, label, "dialogue", cue, None, None, False, False, max(best_corr, 0.0),
                        f"line {lid} was not found in the dialogue stem within ±{search_window_ms:g} ms of its cue at "
                        f"{cue:.3f} s (best match {max(best_corr, 0.0):.2f}); place the line's clip so it starts at {cue:.3f} s.",
                    )
                )
        else:
            if onsets is None:
                onsets = detect_onsets(stem, sample_rate=sr)
            cands = [o.time_s for o in onsets if o.after_quiet] or [o.time_s for o in onsets]
            near = [t for t in cands if abs(t - cue) <= search_window_ms / 1000.0]
            if near:
                det = min(near, key=lambda t: abs(t - cue))
                off = (det - cue) * 1000.0
                ok = window.contains(off)
                results.append(EventOffset(lid, label, "dialogue", cue, det, off, True, ok, 0.5,
                                           offset_message("dialogue", lid, cue, off, window)))
            else:
                results.append(
                    EventOffset(lid, label, "dialogue", cue, None, None, False, False, 0.0,
                                f"no speech starts within ±{search_window_ms:g} ms of line {lid}'s cue at {cue:.3f} s; "
                                f"place the line so it starts at {cue:.3f} s.")
                )
    return SyncResult(results, window, onsets or [])
