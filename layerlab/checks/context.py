"""What every check shares: thresholds, the check context, the scene's clips as references.

Not taught on its own; the checks that use it are (``lessons/08_measuring_the_mix.ipynb``).
"""

from __future__ import annotations

import copy
import hashlib
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
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
    return level_db_of_energy(energy_cumsum(audio), sample_rate=sample_rate, win_ms=win_ms, hop_ms=hop_ms)


def energy_cumsum(audio: np.ndarray) -> np.ndarray:
    """``concatenate([[0], cumsum(channel_power(audio))])``, shape (n_samples + 1,): what :func:`level_db` slides over.

    Compute it once for a signal measured with several windows (:func:`level_db_of_energy`).
    """
    return np.concatenate([[0.0], np.cumsum(channel_power(audio))])


def level_db_of_energy(c: np.ndarray, *, sample_rate: int, win_ms: float, hop_ms: float) -> tuple[np.ndarray, np.ndarray]:
    """:func:`level_db` of the signal whose :func:`energy_cumsum` is ``c`` (the same numbers)."""
    n = c.size - 1
    win = max(1, int(round(win_ms * sample_rate / 1000.0)))
    hop = max(1, int(round(hop_ms * sample_rate / 1000.0)))
    if n < win:
        return np.zeros(0), np.zeros(0)
    starts = np.arange(0, n - win + 1, hop)
    e = (c[starts + win] - c[starts]) / win
    return (starts + win / 2) / sample_rate, 10.0 * np.log10(np.maximum(e, 1e-20))

def find_lag(x: np.ndarray, clip: np.ndarray, *, sample_rate: int = SAMPLE_RATE, max_lag_s: float = 5.0,
             min_overlap_s: float = 0.5):
    """Where a clip sits in a signal: the lag of the largest waveform cross-correlation.

    Parameters
    ----------
    x : np.ndarray, shape (n,)
        The stem or the mix (mono).
    clip : np.ndarray, shape (m,), or SceneClip
        The scene's clip (mono); as a :class:`SceneClip` (:func:`scene_clip`), its mono downmix, with its
        spectrum and energies computed once per process instead of at every call (the same numbers).
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

    ref = clip if isinstance(clip, SceneClip) else None
    if ref is not None:
        clip = ref.mono
    n, m = x.size, clip.size
    min_overlap = max(1, int(round(min_overlap_s * sample_rate)))
    if n < min(sample_rate // 10, min_overlap) or m < min(sample_rate // 10, min_overlap):
        return 0, 0.0
    max_lag = int(max_lag_s * sample_rate)
    lags, xc = correlate_lags(x, clip, lag_min=-max_lag, lag_max=max_lag,
                              y_conj_spectrum=None if ref is None else ref.conj_spectrum)
    cx = np.concatenate([[0.0], np.cumsum(x * x)])
    cc = np.concatenate([[0.0], np.cumsum(clip * clip)]) if ref is None else ref.energy_cumsum()
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


CLIP_CACHE_SIZE = 48
"""How many decoded scene clips one process keeps (:func:`scene_clip`): a scene has 10-20, and the largest (a 20 s
stereo bed) holds about 8 MB as float32 and 8 MB more as its float64 mono downmix, so at most a few hundred MB."""


@dataclass(frozen=True, eq=False)
class SceneClip:
    """One of the scene's clips, decoded once per process and kept read-only (:func:`scene_clip`).

    What the checks derive from a clip alone is kept with it: its float64 mono downmix and, for
    :func:`find_lag`, the running sum of its energy and its spectra at the FFT lengths asked for.

    Attributes
    ----------
    audio : np.ndarray, shape (n_samples, n_channels), float32, read-only
        The clip at 48 kHz, as :func:`layerlab.io.audio.load_audio` reads it.
    mono : np.ndarray, shape (n_samples,), float64, read-only
        ``channel_mean(audio.astype(np.float64))``.
    key : tuple
        The file's resolved path, size, modification and change times (ns), inode and device when it was read.
    """

    audio: np.ndarray
    mono: np.ndarray
    key: tuple
    _derived: dict = field(default_factory=dict, repr=False)

    def energy_cumsum(self) -> np.ndarray:
        """``concatenate([[0], cumsum(mono ** 2)])``, read-only (the overlaps' energies in :func:`find_lag`)."""
        return self._get("energy", lambda: np.concatenate([[0.0], np.cumsum(self.mono * self.mono)]))

    def conj_spectrum(self, size: int) -> np.ndarray:
        """``conj(rfft(mono, size))``, read-only: the clip's half of :func:`layerlab.measure.correlation.correlate_lags`."""
        return self._get(("spectrum", int(size)), lambda: np.conj(np.fft.rfft(self.mono, int(size))), keep=4)

    def _get(self, name, make, keep: int = 0) -> np.ndarray:
        with _CLIP_LOCK:
            got = self._derived.get(name)
        if got is None:
            got = make()
            got.setflags(write=False)
            with _CLIP_LOCK:
                if keep:  # at most ``keep`` spectra (lengths) per clip
                    spectra = [k for k in self._derived if isinstance(k, tuple) and k[0] == name[0]]
                    for k in spectra[: max(0, len(spectra) - keep + 1)]:
                        del self._derived[k]
                self._derived[name] = got
        return got


_CLIP_CACHE: "OrderedDict[tuple, SceneClip | None]" = OrderedDict()
_CLIP_LOCK = threading.Lock()


RACY_S = 2.0
"""A file modified less than this long ago is decoded but not kept: file times tick in steps of a few ms, so a file
rewritten within the same tick, at the same size, would keep its key (git's "racily clean" entries, the same cure)."""


def _file_key(path: Path) -> tuple:
    st = path.stat()
    return (str(path.resolve()), st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev)


def scene_clip(path) -> SceneClip | None:
    """A scene clip decoded once per process: the same file, unchanged, is not decoded again.

    Parameters
    ----------
    path : str or Path
        The clip's file (a cue sheet's clip, :meth:`SceneCues.clip_path`).

    Returns
    -------
    SceneClip or None
        None when the file is missing or cannot be decoded (a :class:`~layerlab.errors.LayerLabError`).

    Notes
    -----
    Kept in a bounded least-recently-used table (:data:`CLIP_CACHE_SIZE` files) keyed by the file's
    resolved path, size, modification and change times in ns, inode and device, read before and again after
    decoding (a file changed while it was read is not kept, nor one modified in the last :data:`RACY_S`
    seconds): an edited, replaced or moved-in clip is decoded afresh, so no stale or foreign clip is served. Its arrays are read-only, so no caller can change
    what the next one reads. Lesson 06 checks five mixes of the same scene in one kernel (issue #17); the
    grader measures each submission in a fresh process, so nothing is shared between learners there.
    """
    p = Path(path)
    try:
        key = _file_key(p)
    except OSError:
        return None
    with _CLIP_LOCK:
        if key in _CLIP_CACHE:
            _CLIP_CACHE.move_to_end(key)
            return _CLIP_CACHE[key]
    try:
        audio = load_audio(p, sample_rate=SAMPLE_RATE, resample=True)
    except LayerLabError:
        audio = None
    if audio is None:
        got = None
    else:
        audio.setflags(write=False)
        mono = channel_mean(audio.astype(np.float64))
        mono.setflags(write=False)
        got = SceneClip(audio, mono, key)
    try:
        unchanged = _file_key(p) == key and time.time_ns() - key[2] > RACY_S * 1e9
    except OSError:
        unchanged = False
    if unchanged:
        with _CLIP_LOCK:
            _CLIP_CACHE[key] = got
            _CLIP_CACHE.move_to_end(key)
            while len(_CLIP_CACHE) > CLIP_CACHE_SIZE:
                _CLIP_CACHE.popitem(last=False)
    return got


def clear_clip_cache() -> None:
    """Forget every decoded clip (:func:`scene_clip`) and every measurement kept by content (:func:`memo`)."""
    with _CLIP_LOCK:
        _CLIP_CACHE.clear()
    with _MEMO_LOCK:
        _MEMO.clear()


def _is_kept(ref: SceneClip) -> bool:
    """True when ``ref`` is the clip :func:`scene_clip` keeps for its file (not one read within the racy window)."""
    with _CLIP_LOCK:
        return _CLIP_CACHE.get(ref.key) is ref


# ----------------------------------------------------------------------------- measurements kept by content

MEMO_SIZE = 64
"""How many measurements :func:`memo` keeps per process (each a few KB, or a tuple of numbers)."""

_MEMO: "OrderedDict[tuple, Any]" = OrderedDict()
_MEMO_LOCK = threading.Lock()
_MEMO_MAKING: dict = {}


def content_digest(audio: np.ndarray) -> tuple:
    """What identifies an array's samples: its dtype, shape and the SHA-256 of its bytes (about 5 ms for 20 s of stereo).

    Two arrays with the same digest hold the same numbers, so a deterministic measurement of one is the
    measurement of the other (:func:`memo`).
    """
    a = np.ascontiguousarray(audio)
    return (a.dtype.str, a.shape, hashlib.sha256(memoryview(a).cast("B")).hexdigest())


KEEP_BY_CONTENT = True
"""Whether :func:`memo` keeps measurements; ``layerlab check`` (one deliverable per process) turns it off, so it does
not hash samples it will never measure again."""


def memo(kind: str, key, make):
    """``make()``, kept per process under ``(kind,) + key()``: a measurement of content already measured is not made again.

    Parameters
    ----------
    kind : str
        What is measured (``"onsets"``, ``"clip_lag"``, ...).
    key : callable
        Returns a tuple of everything the value depends on: the :func:`content_digest` of each input array, the
        identity of each scene clip (:attr:`SceneClip.key`) and every parameter. The caller promises ``make``
        depends on nothing else. Not called when :data:`KEEP_BY_CONTENT` is off (then ``make()`` is returned).
    make : callable
        Makes the value; called at most once at a time per key (a second thread asking waits for it).

    Returns
    -------
    object
        A deep copy of the kept value, so no caller can change what the next one reads.

    Notes
    -----
    Lesson 06 checks five mixes of one scene in one kernel (issue #17), and a layer not replaced keeps its
    samples from step to step: its onsets, its clip's lag and its loudness blocks are measured once. The keys
    hold the samples' SHA-256, never a file's name or time, so an edited stem is measured afresh; the grader
    measures each submission in a fresh process. At most :data:`MEMO_SIZE` values, the least recently used
    dropped first.
    """
    if not KEEP_BY_CONTENT:
        return make()
    k = (kind,) + tuple(key())
    while True:
        with _MEMO_LOCK:
            if k in _MEMO:
                _MEMO.move_to_end(k)
                return copy.deepcopy(_MEMO[k])
            making = _MEMO_MAKING.get(k)
            if making is None:
                making = _MEMO_MAKING[k] = threading.Event()
                break
        making.wait()  # another thread is making it: take its value (or make it, if it failed)
    try:
        value = make()
        with _MEMO_LOCK:
            _MEMO[k] = value
            _MEMO.move_to_end(k)
            while len(_MEMO) > MEMO_SIZE:
                _MEMO.popitem(last=False)
        return copy.deepcopy(value)
    finally:
        with _MEMO_LOCK:
            _MEMO_MAKING.pop(k, None)
        making.set()


def scene_clip_of(cues: SceneCues, rel) -> SceneClip | None:
    """The cue sheet's clip ``rel`` as a :class:`SceneClip` (:func:`scene_clip`); None if missing or unreadable."""
    p = cues.clip_path(rel)
    return None if p is None else scene_clip(p)


def load_clip(cues: SceneCues, rel) -> np.ndarray | None:
    """A clip of the cue sheet as (n_samples, n_channels) float32 at 48 kHz, read-only; None if missing or unreadable.

    Decoded once per process while the file is unchanged (:func:`scene_clip`); copy it to change it.
    """
    c = scene_clip_of(cues, rel)
    return None if c is None else c.audio


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
    lock: Any = field(default_factory=threading.Lock, repr=False, compare=False)
    """Guards ``key_locks`` (:func:`key_lock`)."""
    key_locks: dict = field(default_factory=dict, repr=False, compare=False)
    """One lock per measurement kept in the context (:func:`key_lock`)."""


def key_lock(ctx: CheckContext, key) -> Any:
    """The lock of one measurement the checks share (``"heard"``, ``("k_blocks", name)``, ...), made on first use.

    :func:`layerlab.checks.run_checks` runs the checks on two threads: a check that needs a shared
    measurement another thread is making waits for it under this lock instead of making it again, and
    every check reads the same numbers as when they run in turn. Hold it only while making that one
    measurement (they depend on each other without cycles, so the locks never wait on each other in a ring).
    """
    with ctx.lock:
        lk = ctx.key_locks.get(key)
        if lk is None:
            lk = ctx.key_locks[key] = threading.RLock()
    return lk


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
        with key_lock(ctx, "activity"):
            if ctx.activity is None:
                dlg = ctx.deliverable.audio("dialogue")
                act = memo("activity", lambda: (content_digest(dlg), SAMPLE_RATE),
                           lambda: dialogue_activity(dlg, sample_rate=SAMPLE_RATE))
                ctx.data["activity"] = act
                ctx.activity = act
    return ctx.activity


def sfx_onsets(ctx: CheckContext) -> list:
    """:func:`layerlab.measure.sync.detect_onsets` of the SFX stem, found once per run (the format gate and sync read them).

    Returns
    -------
    list of Onset
        Empty when the SFX stem cannot be read.
    """
    from layerlab.measure.sync import detect_onsets

    with key_lock(ctx, "sfx_onsets"):
        if "sfx_onsets" not in ctx.data:
            dl = ctx.deliverable
            if dl.files["sfx"].usable:
                sfx = dl.audio("sfx")
                ctx.data["sfx_onsets"] = memo("onsets", lambda: (content_digest(sfx), SAMPLE_RATE),
                                              lambda: detect_onsets(sfx, sample_rate=SAMPLE_RATE))
            else:
                ctx.data["sfx_onsets"] = []
        return ctx.data["sfx_onsets"]


def stem_clip_lag(ctx: CheckContext, layer: str, stem: np.ndarray):
    """The scene's ``layer`` clip and where ``stem`` has it: ``(clip, lag, corr)`` (:func:`find_lag`), or ``(None, 0, 0.0)``.

    Kept in the context, so the checks that follow a bed's gain (ducking, continuity, the master's
    moves, the heard layers) correlate each stem with its clip once per run.
    """
    key = (layer, stem.shape, float(np.asarray(stem[:: 4801], np.float64).sum()))
    with key_lock(ctx, ("clip_lags", key)):
        return _stem_clip_lag(ctx, layer, stem, key)


def _stem_clip_lag(ctx: CheckContext, layer: str, stem: np.ndarray, key: tuple):
    with ctx.lock:
        cache = ctx.data.setdefault("clip_lags", {})
    if key not in cache:
        ref = scene_clip_of(ctx.cues, (ctx.cues.raw.get(layer) or {}).get("clip"))
        clip = None if ref is None else ref.audio
        if clip is None or not np.any(stem):
            cache[key] = (clip, 0, 0.0)
        else:
            def search():
                return find_lag(channel_mean(stem.astype(np.float64)), ref, sample_rate=SAMPLE_RATE)

            if _is_kept(ref):  # the same stem and the same clip file: the same lag (lesson 06's unchanged layers)
                lag, corr = memo("clip_lag", lambda: (ref.key, content_digest(stem), SAMPLE_RATE), search)
            else:
                lag, corr = search()
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
    ref = scene_clip_of(ctx.cues, (ctx.cues.raw.get(layer) or {}).get("clip"))
    if ref is None:  # gone since it was read
        return None, f"{layer} stem level (the scene's {layer} clip could not be read)"
    music = stem
    cm = ref.mono
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

    with key_lock(ctx, ("k_blocks", key)):
        with ctx.lock:
            cache = ctx.data.setdefault("k_blocks", {})
        if key not in cache:
            if key.startswith("stem:"):  # a stem's own samples: kept by content (lesson 06's unchanged layers)
                cache[key] = memo("k_blocks", lambda: (content_digest(audio), SAMPLE_RATE),
                                  lambda: k_weighted_block_power(audio, sample_rate=SAMPLE_RATE))
            else:
                cache[key] = k_weighted_block_power(audio, sample_rate=SAMPLE_RATE)
        return cache[key]
