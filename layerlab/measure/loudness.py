"""Loudness and loudness range, as ITU-R BS.1770-5 and EBU Tech 3341/3342 define them.

* **Integrated loudness** (LUFS): K-weighted mean square over 400 ms blocks on a
  100 ms step, gated at -70 LUFS and then 10 LU below the loudness of the
  blocks that passed the first gate (kept blocks are strictly above both).
* **Momentary** (0.4 s) and **short-term** (3 s) loudness as time series on a
  10 ms step by default, and their maxima.
* **Loudness range** (LRA, Tech 3342): the 95th minus the 10th percentile of the
  short-term values on the same step, gated at -70 LUFS and then -20 LU. The
  end is not padded with silence (as libebur128 and ffmpeg do; padding added a
  falling edge that read 4.5 LU on the BS.2217 relative-gate file). Tech 3341
  (2016) asks meters to flag LRA as not stable within the first 60 s:
  :attr:`LoudnessReport.lra_stable` says so, and ``layerlab measure`` prints it.
* **True peak** and **sample peak** come from :mod:`layerlab.measure.true_peak`;
  K-weighting and channel weights from :mod:`layerlab.measure.kweighting`
  (mono files are measured as dual-mono: see there).
* **Dialogue-gated loudness**: integrated loudness over only the blocks where a
  speech mask is active (:func:`gated_loudness`, :func:`speech_mask_from_stem`).

**Clips shorter than one 400 ms block** have no gating block, so BS.1770 gives
them no integrated loudness. Here they are measured over the whole clip as one
block (still gated at -70 LUFS), and the result says so
(:attr:`LoudnessReport.whole_clip`; :func:`integrated_loudness` documents it).
A short sound effect is therefore normalised like any other clip, and silence
remains the only thing without a loudness.

:func:`measure_file` streams: it reads the file in blocks
(:meth:`soundfile.SoundFile.blocks`), so memory holds a block and the
per-10 ms series, never the whole programme; a two-hour file measures in the
memory of a 10-minute one plus its series.

How values that do not exist are reported: the loudness of digital silence is
``-inf``; a loudness range that cannot be formed (under 3 s, or silence) is
``nan``. :meth:`LoudnessReport.to_dict` turns both into ``None`` and the
summary into "n/a".

Taught in ``lessons/08_measuring_the_mix.ipynb``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from layerlab.errors import ParameterError
from layerlab.io.audio import SAMPLE_RATE, validate_audio
from layerlab.measure.kweighting import (
    MAX_SAMPLE_RATE,
    MIN_SAMPLE_RATE,
    KWeightedPower,
    channel_weights,
    check_sample_rate,
    k_weighting_sos,
    resolve_weights,
)
from layerlab.measure.true_peak import sample_peak_dbfs, true_peak_dbtp

__all__ = [
    "loudness_analysis",
    "ABSOLUTE_GATE_LUFS",
    "RELATIVE_GATE_LU",
    "LRA_RELATIVE_GATE_LU",
    "LRA_STABLE_AFTER_S",
    "BLOCK_S",
    "BLOCK_STEP_S",
    "WHOLE_CLIP_NOTE",
    "MIN_SAMPLE_RATE",
    "MAX_SAMPLE_RATE",
    "LoudnessSeries",
    "LoudnessAnalysis",
    "LoudnessReport",
    "Meter",
    "analyse",
    "check_step_ms",
    "channel_weights",
    "k_weighting_sos",
    "lufs_from_power",
    "power_from_lufs",
    "gate_blocks",
    "integrated_from_blocks",
    "integrated_loudness",
    "gated_loudness",
    "speech_mask_from_stem",
    "momentary_loudness",
    "short_term_loudness",
    "loudness_range",
    "true_peak_dbtp",
    "sample_peak_dbfs",
    "measure_file",
]

ABSOLUTE_GATE_LUFS = -70.0
"""Blocks at or below this loudness never count (BS.1770-5, Tech 3342)."""
RELATIVE_GATE_LU = -10.0
"""Integrated loudness keeps blocks strictly above (ungated loudness + this)."""
LRA_RELATIVE_GATE_LU = -20.0
"""Loudness range keeps short-term values strictly above (their loudness + this)."""
LRA_STABLE_AFTER_S = 60.0
"""Tech 3341 (2016): LRA is not stable within the first 60 s of a programme."""
BLOCK_S = 0.4
"""Gating block and momentary window, seconds."""
WHOLE_CLIP_NOTE = "clip under 0.4 s: measured as one block"
"""How a loudness measured over a clip shorter than one block is flagged (``layerlab measure``, ``layerlab audit``)."""
BLOCK_STEP_S = 0.1
"""Step of the gating blocks (75 % overlap), seconds."""

LOUDNESS_OFFSET = -0.691  # BS.1770: a 997 Hz sine at 0 dBFS in one channel (weight 1) reads -3.01 LUFS
_SHORT_TERM_S = 3.0
_LRA_LOW_PERCENTILE = 10.0
_LRA_HIGH_PERCENTILE = 95.0
PROCESS_BLOCK = 1 << 16
"""Samples per processing block: memory stays flat on long files."""


# --------------------------------------------------------------------------- results


@dataclass(frozen=True, eq=False)
class LoudnessSeries:
    """Loudness of a sliding window over time.

    Attributes
    ----------
    times_s : np.ndarray, shape (n,), float64
        The end of each window, in seconds from the start of the audio.
    lufs : np.ndarray, shape (n,), float64
        Loudness of the window ending at ``times_s`` (``-inf`` for silence).
    window_s : float
        Window length: 0.4 for momentary, 3.0 for short-term.
    """

    times_s: np.ndarray
    lufs: np.ndarray
    window_s: float = BLOCK_S

    def __len__(self) -> int:
        return int(self.lufs.shape[0])

    @property
    def max_lufs(self) -> float:
        """Highest value of the series (``-inf`` if empty or silent)."""
        return float(np.max(self.lufs)) if self.lufs.size else -math.inf


# --------------------------------------------------------------------------- primitives


def lufs_from_power(mean_square):
    """The BS.1770 loudness formula: ``-0.691 + 10 log10(sum_i G_i z_i)``.

    Parameters
    ----------
    mean_square : float or np.ndarray
        Channel-weighted mean square of the K-weighted signal (``sum_i G_i z_i``).

    Returns
    -------
    np.ndarray or float64
        LUFS, ``-inf`` where the power is 0.
    """
    energy = np.asarray(mean_square, dtype=np.float64)
    with np.errstate(divide="ignore"):
        return LOUDNESS_OFFSET + 10.0 * np.log10(energy)


def power_from_lufs(lufs):
    """Inverse of :func:`lufs_from_power`: the weighted mean square of a loudness in LUFS."""
    return 10.0 ** ((np.asarray(lufs, dtype=np.float64) - LOUDNESS_OFFSET) / 10.0)


def gate_blocks(energies: np.ndarray, *, relative_lu: float | None = RELATIVE_GATE_LU) -> np.ndarray:
    """Which blocks pass the absolute gate (-70 LUFS) and, if given, the relative gate.

    Parameters
    ----------
    energies : np.ndarray, shape (n_blocks,)
        Weighted mean square of each block.
    relative_lu : float or None
        -10 for integrated loudness, -20 for LRA; ``None`` for the absolute gate only.

    Returns
    -------
    np.ndarray of bool, shape (n_blocks,)
        Kept blocks are strictly above both gates (BS.1770-5, Tech 3342).
    """
    loud = lufs_from_power(energies)
    kept = loud > ABSOLUTE_GATE_LUFS
    if relative_lu is not None and kept.any():
        threshold = float(lufs_from_power(energies[kept].mean())) + relative_lu
        kept &= loud > threshold
    return kept


def integrated_from_blocks(energies: np.ndarray) -> float:
    """Gated integrated loudness of 400 ms block energies (``-inf`` if none pass)."""
    e = np.asarray(energies, dtype=np.float64)
    if e.size == 0:
        return -math.inf
    kept = gate_blocks(e, relative_lu=RELATIVE_GATE_LU)
    return float(lufs_from_power(e[kept].mean())) if kept.any() else -math.inf


def _lra_from_short_term(energies: np.ndarray) -> float:
    if energies.size == 0:
        return math.nan
    kept = gate_blocks(energies, relative_lu=LRA_RELATIVE_GATE_LU)
    if not kept.any():
        return math.nan
    values = np.sort(lufs_from_power(energies[kept]))
    n = values.size
    # Tech 3342 nearest rank: round((n - 1) * p / 100) in zero-based indexing, halves rounded up
    lo = int(math.floor((n - 1) * _LRA_LOW_PERCENTILE / 100.0 + 0.5))
    hi = int(math.floor((n - 1) * _LRA_HIGH_PERCENTILE / 100.0 + 0.5))
    return float(values[hi] - values[lo])


def check_step_ms(step_ms) -> float:
    """Return ``step_ms`` as a float in (0, 100], or raise :class:`ParameterError`."""
    try:
        step = float(step_ms)
    except (TypeError, ValueError):
        raise ParameterError(f"step_ms must be a number of milliseconds, got {step_ms!r}.") from None
    if not math.isfinite(step) or not (0.0 < step <= 100.0):
        raise ParameterError(
            f"step_ms must be above 0 and at most 100 ms (Tech 3341 asks for 10 ms or finer), got {step_ms!r}."
        )
    return step


# --------------------------------------------------------------------------- core


class _Plan:
    """Every window boundary one measurement needs (known before a sample is read)."""

    def __init__(self, n: int, rate: int, step_ms: float):
        self.n = n
        self.rate = rate
        self.block = int(round(BLOCK_S * rate))
        self.block_step = int(round(BLOCK_STEP_S * rate))
        self.short = int(round(_SHORT_TERM_S * rate))
        step_s = step_ms / 1000.0
        n_blocks = (n - self.block) // self.block_step + 1 if n >= self.block else 0
        self.block_starts = np.arange(n_blocks, dtype=np.int64) * self.block_step
        self.m_ends, self.m_times = self._ends(self.block, n, step_s)
        self.s_ends, self.s_times = self._ends(self.short, n, step_s)

    def _ends(self, length: int, n: int, step_s: float):
        if n < length:
            return np.zeros(0, dtype=np.int64), np.zeros(0)
        k0 = math.ceil(length / self.rate / step_s - 1e-9)
        k1 = math.floor(n / self.rate / step_s + 1e-9)
        k = np.arange(k0, k1 + 1, dtype=np.int64)
        ends = np.rint(k * step_s * self.rate).astype(np.int64)
        ok = (ends >= length) & (ends <= n)
        return ends[ok], ends[ok] / self.rate

    def points(self) -> np.ndarray:
        parts = [
            self.block_starts,
            self.block_starts + self.block,
            self.m_ends,
            self.m_ends - self.block,
            self.s_ends,
            self.s_ends - self.short,
            np.array([0, self.n], dtype=np.int64),
        ]
        return np.unique(np.concatenate(parts))


class _Prefix:
    """Cumulative power at sorted sample indices, filled as power blocks arrive."""

    def __init__(self, points: np.ndarray):
        self.points = points
        self.values = np.zeros(points.shape[0], dtype=np.float64)
        self.pos = int(np.searchsorted(points, 0, side="right"))  # points at or before 0 read 0
        self.offset = 0
        self.total = 0.0

    def feed(self, p: np.ndarray) -> None:
        start, stop = self.offset, self.offset + p.shape[0]
        c = np.cumsum(p)
        end = int(np.searchsorted(self.points, stop, side="right"))
        if end > self.pos:
            self.values[self.pos : end] = self.total + c[self.points[self.pos : end] - start - 1]
        self.pos = end
        self.total += float(c[-1]) if c.size else 0.0
        self.offset = stop

    def at(self, idx: np.ndarray) -> np.ndarray:
        return self.values[np.searchsorted(self.points, idx)]

    def windows(self, starts: np.ndarray, length: int) -> np.ndarray:
        """Mean power of windows ``[s, s + length)``."""
        e = (self.at(starts + length) - self.at(starts)) / float(length)
        np.maximum(e, 0.0, out=e)  # rounding in the running sum can leave -1e-18
        return e


class LoudnessAnalysis:
    """Window energies of one signal (K-weighted, channel-weighted), fed block by block.

    Parameters
    ----------
    n : int
        Length of the signal in samples (the window plan is made up front).
    rate : int
    weights : np.ndarray, shape (channels,)
    step_ms : float
        Step of the momentary/short-term series and of the LRA values.

    Notes
    -----
    :meth:`feed` blocks in order, then read :meth:`integrated`,
    :meth:`block_energies`, :meth:`series` and :meth:`lra`. Every loudness
    figure of the kit comes from here.
    """

    def __init__(self, n: int, rate: int, weights: np.ndarray, step_ms: float):
        self.plan = _Plan(n, rate, step_ms)
        self.prefix = _Prefix(self.plan.points())
        self.kpower = KWeightedPower(rate, weights)

    def feed(self, block: np.ndarray) -> None:
        self.prefix.feed(self.kpower.power(block))

    def feed_all(self, x: np.ndarray) -> "LoudnessAnalysis":
        for a in range(0, x.shape[0], PROCESS_BLOCK):
            self.feed(x[a : a + PROCESS_BLOCK])
        return self

    def block_energies(self) -> np.ndarray:
        return self.prefix.windows(self.plan.block_starts, self.plan.block)

    def series(self, which: str) -> LoudnessSeries:
        p = self.plan
        if which == "momentary":
            ends, times, length, window_s = p.m_ends, p.m_times, p.block, BLOCK_S
        else:
            ends, times, length, window_s = p.s_ends, p.s_times, p.short, _SHORT_TERM_S
        energy = self.prefix.windows(ends - length, length)
        return LoudnessSeries(times_s=np.asarray(times, dtype=np.float64), lufs=lufs_from_power(energy), window_s=window_s)

    @property
    def whole_clip(self) -> bool:
        """True when the clip is shorter than one gating block (and not empty)."""
        return 0 < self.plan.n < self.plan.block

    def integrated(self) -> float:
        if self.whole_clip:  # the documented short-clip policy: the whole clip is one block
            return integrated_from_blocks(np.array([self.prefix.total / self.plan.n]))
        return integrated_from_blocks(self.block_energies())

    def lra(self) -> float:
        p = self.plan
        return _lra_from_short_term(self.prefix.windows(p.s_ends - p.short, p.short))


def analyse(x: np.ndarray, rate: int, weights=None, step_ms: float = 10.0) -> LoudnessAnalysis:
    """K-weighted window energies of a whole ``(samples, channels)`` array (see :class:`LoudnessAnalysis`)."""
    w = resolve_weights(x.shape[1], weights)
    return LoudnessAnalysis(x.shape[0], rate, w, step_ms).feed_all(x)


def loudness_analysis(audio, *, sample_rate: int = SAMPLE_RATE, step_ms: float = 10.0) -> LoudnessAnalysis:
    """One K-weighting of ``audio`` that gives both its short-term series and its integrated loudness.

    Parameters
    ----------
    audio : np.ndarray, shape (n_samples, n_channels)
    sample_rate : int
    step_ms : float
        Step of the momentary and short-term series.

    Returns
    -------
    LoudnessAnalysis
        ``.series("short_term")`` equals :func:`short_term_loudness` and ``.integrated()`` equals
        :func:`integrated_loudness` (default weights), the same numbers, for one filtering instead of two
        (``layerlab check`` reads both; issue #17).

    Raises
    ------
    ParameterError, AudioError
        As :func:`integrated_loudness`.

    Notes
    -----
    Taught in ``lessons/08_measuring_the_mix.ipynb``.
    """
    x, rate = _prepare(audio, sample_rate)
    return analyse(x, rate, None, check_step_ms(step_ms))


def _prepare(audio, sample_rate, name="audio"):
    rate = check_sample_rate(sample_rate)
    x = validate_audio(audio, name=name)
    channel_weights(x.shape[1])  # raises for unsupported counts
    return x, rate


def integrated_loudness(audio, *, sample_rate: int = SAMPLE_RATE, channel_weights=None) -> float:
    """Gated integrated loudness (BS.1770-5).

    Parameters
    ----------
    audio : np.ndarray, shape (n_samples, n_channels)
        1 to 6 channels (see :func:`channel_weights`; mono counts as dual-mono).
    sample_rate : int
        8000 to 192000 Hz.
    channel_weights : sequence of float, optional
        One weight per channel instead of the default for the channel count.

    Returns
    -------
    float
        Loudness in LUFS; ``-inf`` when nothing passes the -70 LUFS gate
        (digital silence or a signal that quiet). A clip shorter than one
        400 ms block is measured over its whole length as one block.

    Raises
    ------
    ParameterError
        For an unsupported sample rate, channel count or weights.
    AudioError
        For empty, NaN or badly shaped audio.

    Notes
    -----
    Taught in ``lessons/08_measuring_the_mix.ipynb``.
    """
    x, rate = _prepare(audio, sample_rate)
    return analyse(x, rate, channel_weights).integrated()


def gated_loudness(
    audio,
    *,
    mask,
    sample_rate: int = SAMPLE_RATE,
    min_active: float = 0.5,
    relative_gate_lu: float | None = RELATIVE_GATE_LU,
) -> float:
    """Integrated loudness over only the blocks where a speech mask is active.

    This is dialogue-gated loudness: the same 400 ms blocks on a 100 ms step as
    :func:`integrated_loudness`, but only blocks where speech is present count,
    and the usual gates (-70 LUFS, then -10 LU) are applied among them.

    Parameters
    ----------
    audio : np.ndarray, shape (n_samples, n_channels)
        The programme to measure (usually the full mix).
    mask : np.ndarray of bool, shape (n_samples,) or (n_blocks,)
        Where speech is active: one value per sample, or one per gating block
        (``n_blocks = (n_samples - 0.4 s) // 0.1 s + 1``, as returned by
        :func:`speech_mask_from_stem`).
    sample_rate : int
    min_active : float
        With a per-sample mask, the fraction of a block's samples that must be
        speech for the block to count (0.5 by default).
    relative_gate_lu : float or None
        The relative gate among speech blocks; ``None`` keeps every speech
        block above -70 LUFS.

    Returns
    -------
    float
        Loudness in LUFS; ``-inf`` if no speech block passes the gates.

    Raises
    ------
    ParameterError
        If the mask's length fits neither the samples nor the blocks.

    Notes
    -----
    Taught in ``lessons/08_measuring_the_mix.ipynb``.
    """
    x, rate = _prepare(audio, sample_rate)
    an = analyse(x, rate)
    energies = an.block_energies()
    plan = an.plan
    active = _block_mask(mask, x.shape[0], plan, min_active)
    e = energies[active]
    if e.size == 0:
        return -math.inf
    kept = gate_blocks(e, relative_lu=relative_gate_lu)
    return float(lufs_from_power(e[kept].mean())) if kept.any() else -math.inf


def _block_mask(mask, n: int, plan: _Plan, min_active: float) -> np.ndarray:
    m = np.asarray(mask)
    n_blocks = plan.block_starts.shape[0]
    if m.ndim != 1:
        raise ParameterError(f"mask must be 1-D (one value per sample or per 400 ms block), got shape {m.shape}.")
    if m.dtype.kind not in "bui":
        raise ParameterError(f"mask must hold booleans, got dtype {m.dtype}.")
    m = m.astype(bool)
    if m.shape[0] == n_blocks:
        return m
    if m.shape[0] == n:
        if not 0.0 < float(min_active) <= 1.0:
            raise ParameterError(f"min_active must be in (0, 1], got {min_active!r}.")
        c = np.concatenate([[0], np.cumsum(m, dtype=np.int64)])
        starts = plan.block_starts
        frac = (c[starts + plan.block] - c[starts]) / float(plan.block)
        return frac >= float(min_active) - 1e-12
    raise ParameterError(
        f"mask has {m.shape[0]} values; expected {n} (one per sample) or {n_blocks} (one per 400 ms block). "
        "Build it from the dialogue stem of the same length (speech_mask_from_stem)."
    )


def speech_mask_from_stem(
    dialogue, *, sample_rate: int = SAMPLE_RATE, relative_lu: float = -20.0
) -> np.ndarray:
    """Find the gating blocks where a dialogue stem holds speech.

    A block counts as speech when the stem's own loudness in that block is
    above -70 LUFS and no more than ``-relative_lu`` below the stem's
    integrated loudness (pauses between lines, room tone and breaths fall out).

    Parameters
    ----------
    dialogue : np.ndarray, shape (n_samples, n_channels)
        The dialogue stem, the same length as the mix it will gate.
    sample_rate : int
    relative_lu : float
        How far below the stem's integrated loudness a block may be and still
        count (-20 LU by default).

    Returns
    -------
    np.ndarray of bool, shape (n_blocks,)
        One value per 400 ms gating block (100 ms step); pass it as ``mask`` to
        :func:`gated_loudness`.

    Notes
    -----
    Taught in ``lessons/08_measuring_the_mix.ipynb``.
    """
    x, rate = _prepare(dialogue, sample_rate, name="dialogue stem")
    an = analyse(x, rate)
    e = an.block_energies()
    loud = lufs_from_power(e)
    mask = loud > ABSOLUTE_GATE_LUFS
    if mask.any():
        reference = an.integrated()
        if math.isfinite(reference):
            mask &= loud > reference + float(relative_lu)
    return mask


def momentary_loudness(audio, *, sample_rate: int = SAMPLE_RATE, step_ms: float = 10.0) -> LoudnessSeries:
    """Momentary loudness (0.4 s window, ungated) over time.

    Parameters
    ----------
    audio : np.ndarray, shape (n_samples, n_channels)
    sample_rate : int
    step_ms : float
        Time between values (10 ms by default).

    Returns
    -------
    LoudnessSeries
        One value per complete window; empty if the audio is shorter than 0.4 s.

    Notes
    -----
    Taught in ``lessons/08_measuring_the_mix.ipynb``.
    """
    x, rate = _prepare(audio, sample_rate)
    return analyse(x, rate, None, check_step_ms(step_ms)).series("momentary")


def short_term_loudness(audio, *, sample_rate: int = SAMPLE_RATE, step_ms: float = 10.0) -> LoudnessSeries:
    """Short-term loudness (3 s window, ungated) over time: as :func:`momentary_loudness`, over 3 s.

    Returns
    -------
    LoudnessSeries
        One value per complete window; empty if the audio is shorter than 3 s.
    """
    x, rate = _prepare(audio, sample_rate)
    return analyse(x, rate, None, check_step_ms(step_ms)).series("short_term")


def loudness_range(audio, *, sample_rate: int = SAMPLE_RATE, step_ms: float = 10.0) -> float:
    """Loudness range, LRA (EBU Tech 3342).

    Short-term values on a ``step_ms`` grid are gated at -70 LUFS and then
    20 LU below their own loudness; LRA is the 95th minus the 10th percentile
    (nearest rank). The end is not padded with silence (libebur128 and ffmpeg
    do not pad; padding read 4.5 LU on the BS.2217 relative-gate file where
    they read 0.0-0.1).

    Parameters
    ----------
    audio : np.ndarray, shape (n_samples, n_channels)
    sample_rate : int
    step_ms : float
        10 ms by default (Tech 3342 asks for 100 ms or finer).

    Returns
    -------
    float
        LRA in LU; ``nan`` under 3 s or if no short-term value passes the gates.

    Notes
    -----
    Tech 3341 (2016): LRA is not stable within the first 60 s of a programme;
    on shorter clips treat it as indicative (:attr:`LoudnessReport.lra_stable`).
    Taught in ``lessons/08_measuring_the_mix.ipynb``.
    """
    x, rate = _prepare(audio, sample_rate)
    return analyse(x, rate, None, check_step_ms(step_ms)).lra()


def __getattr__(name):  # the meter lives in layerlab.measure.meter; these names stay importable from here
    if name in ("Meter", "LoudnessReport", "measure_file"):
        from layerlab.measure import meter

        return getattr(meter, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
