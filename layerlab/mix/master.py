"""The master section: loudness normalisation and a true-peak-safe limiter.

:class:`Master` turns a mix into one gain curve: a static gain that brings the
integrated loudness to ``target_lufs``, and a look-ahead limiter that keeps
the true peak (4x oversampled) under ``ceiling_dbtp``. The stack applies the
same curve to every stem, so stems and mix stay consistent.

The limiter's gain moves as straight lines in dB: down over ``attack_ms``
before a peak, back up over ``release_ms`` after it. It is computed with
running minima, so it is exact (never above the ceiling at the peaks it saw)
and fast. Its peak detector is the true-peak meter's own interpolation
(:func:`layerlab.measure.true_peak.interval_peaks`), computed once per mix: the
static gain only shifts it. Each pass of the level search then costs one
K-weighting (its loudness), and the grader's meter
(:func:`layerlab.measure.true_peak.true_peak_dbtp`) reads only the pass kept.

Taught in ``lessons/08_measuring_the_mix.ipynb``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from layerlab.io.audio import SAMPLE_RATE, validate_audio
from layerlab.errors import ParameterError

TARGET_TOLERANCE_LU = 0.5
"""The master reaches its loudness target within this, or says why it cannot (issue #13)."""


@dataclass(frozen=True)
class MasterResult:
    """What :meth:`Master.process` did.

    Attributes
    ----------
    audio : np.ndarray, shape (n_samples, n_channels), float32
        The mastered mix.
    gain_db : np.ndarray, shape (n_samples,), float32
        The total gain applied at each sample (static + limiter).
    input_lufs, output_lufs : float
        Integrated loudness before and after (``-inf`` for silence).
    static_gain_db : float
        The loudness-normalisation gain.
    max_reduction_db : float
        The deepest limiter gain reduction (0 when the limiter did nothing).
    output_true_peak_dbtp : float
    target_reached : bool
        ``output_lufs`` is within :data:`TARGET_TOLERANCE_LU` of the target
        (always True without a target).
    note : str
        Why the target was not reached, and what to change; empty when it was.
    """

    audio: np.ndarray
    gain_db: np.ndarray
    input_lufs: float
    output_lufs: float
    static_gain_db: float
    max_reduction_db: float
    output_true_peak_dbtp: float
    target_reached: bool = True
    note: str = ""


@dataclass
class Master:
    """Loudness normalisation to a target plus a true-peak limiter.

    Parameters
    ----------
    target_lufs : float or None
        Integrated loudness to reach; ``None`` leaves the level alone (limiter only).
    ceiling_dbtp : float
        Maximum true peak.
    attack_ms, release_ms : float
        Limiter ramp times.
    max_gain_db : float
        Never raise the level by more than this (a near-silent mix is not
        blown up into noise).

    Notes
    -----
    Taught in ``lessons/08_measuring_the_mix.ipynb``.
    """

    target_lufs: float | None = -14.0
    ceiling_dbtp: float = -1.0
    attack_ms: float = 2.0
    release_ms: float = 150.0
    max_gain_db: float = 30.0

    def __post_init__(self):
        if self.target_lufs is not None and not (-70.0 < self.target_lufs < 0.0):
            raise ParameterError(f"target_lufs must be between -70 and 0 LUFS; got {self.target_lufs}.")
        if not (-20.0 <= self.ceiling_dbtp <= 0.0):
            raise ParameterError(f"ceiling_dbtp must be between -20 and 0 dBTP; got {self.ceiling_dbtp}.")
        if not (self.attack_ms >= 0.1 and self.release_ms >= 1.0):  # NaN fails too
            raise ParameterError("attack_ms must be at least 0.1 ms and release_ms at least 1 ms.")
        if not (0.0 <= self.max_gain_db <= 60.0):  # a negative one would turn every mix down to silence
            raise ParameterError(f"max_gain_db must be a number from 0 to 60 dB; got {self.max_gain_db}.")

    def to_dict(self) -> dict:
        """Return the settings as a JSON-ready dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "Master":
        """Build settings from :meth:`to_dict` output."""
        return cls(**d)

    def process(self, audio, *, sample_rate: int = SAMPLE_RATE) -> MasterResult:
        """Master a mix.

        Parameters
        ----------
        audio : np.ndarray, shape (n_samples, n_channels)
        sample_rate : int

        Returns
        -------
        MasterResult
        """
        from layerlab.measure.loudness import integrated_loudness
        from layerlab.measure.true_peak import true_peak_dbtp

        x = validate_audio(audio, name="mix")
        n = x.shape[0]
        input_lufs = integrated_loudness(x, sample_rate=sample_rate)
        static_db = 0.0
        if self.target_lufs is not None and np.isfinite(input_lufs):
            static_db = float(min(self.target_lufs - input_lufs, self.max_gain_db))
        margin_db = 0.05
        envelope = _Envelope(x, sample_rate)
        # The limiter takes some loudness away (on peaky material more gain can even make the result quieter). So:
        # each pass is one K-weighting (its loudness); re-aim (secant inside a bracket once one exists) and keep the
        # pass closest to the target. Its ramps can leave an inter-sample peak a hair over the ceiling: the grader's
        # own meter reads the chosen pass only, and if it is over, the margin grows and the search resumes from there.
        passes = rounds = 0
        while True:
            rounds += 1
            tried = []  # (static_db, out_lufs, y, gain_db, limiter_db), all with this margin
            while passes < 14:
                passes += 1
                limiter_db, gain_db, y = self._pass(x, envelope, static_db, margin_db, sample_rate)
                out_lufs = integrated_loudness(y, sample_rate=sample_rate)
                tried.append((static_db, out_lufs, y, gain_db, limiter_db))
                new_static = self._next_static(tried)
                if new_static is None:
                    break
                static_db = new_static
            goal = self.target_lufs
            best = min(tried, key=lambda r: abs(r[1] - goal) if (goal is not None and np.isfinite(r[1])) else 0.0)
            tp = true_peak_dbtp(best[2], sample_rate=sample_rate)
            if not (np.isfinite(tp) and tp > self.ceiling_dbtp) or rounds >= 6:
                break
            margin_db += tp - self.ceiling_dbtp + 0.02
            static_db = best[0]
            passes = min(passes, 13)  # always one more pass with the larger margin
        applied_static_db, out_lufs, y, gain_db, limiter_db = best
        if np.isfinite(tp) and tp > self.ceiling_dbtp:  # still over (never seen): a plain gain lowers the true peak exactly
            trim_db = self.ceiling_dbtp - tp - 0.01
            gain_db = gain_db + trim_db
            applied_static_db += trim_db
            y = (y * np.float32(10.0 ** (trim_db / 20.0))).astype(np.float32)
            out_lufs = integrated_loudness(y, sample_rate=sample_rate)
            tp = true_peak_dbtp(y, sample_rate=sample_rate)
        reached, note = True, ""
        if goal is not None and not (np.isfinite(out_lufs) and abs(out_lufs - goal) <= TARGET_TOLERANCE_LU):
            reached = False
            red = float(-np.min(limiter_db)) if n else 0.0
            if not np.isfinite(input_lufs):
                note = "the mix is silent (or under the -70 LUFS gate): there is no loudness to normalise."
            elif red < 6.0 and applied_static_db >= self.max_gain_db - 1e-6 and out_lufs < goal:
                note = (f"reaching {goal:g} LUFS needs more than the {self.max_gain_db:g} dB of gain the master may add; "
                        "raise the layers' levels first.")
            else:
                note = (f"landed at {out_lufs:.1f} LUFS, {out_lufs - goal:+.1f} LU from the {goal:g} LUFS target: to hold "
                        f"the {self.ceiling_dbtp:g} dBTP ceiling the limiter takes up to {red:.1f} dB off the peaks, and "
                        "the loudness with them. The mix is too peaky for this target: tame the loudest hits (lower "
                        "them, or compress the layer they are on) before the master.")
        return MasterResult(
            audio=y,
            gain_db=np.asarray(gain_db, dtype=np.float32),
            input_lufs=float(input_lufs),
            output_lufs=float(out_lufs),
            static_gain_db=float(applied_static_db),
            max_reduction_db=float(-np.min(limiter_db)) if n else 0.0,
            output_true_peak_dbtp=float(tp),
            target_reached=reached,
            note=note,
        )


    def _pass(self, x, envelope, static_db, margin_db, sample_rate):
        """One pass: the limiter for this static gain, the total gain, and the gained mix (float32)."""
        threshold_dbfs = self.ceiling_dbtp - margin_db - static_db  # input level where the limiter starts to work
        limiter_db = _limiter_from_peaks(envelope.exact_from(threshold_dbfs) + static_db,
                                         ceiling_dbtp=self.ceiling_dbtp - margin_db,
                                         attack_ms=self.attack_ms, release_ms=self.release_ms, sample_rate=sample_rate)
        gain_db = static_db + limiter_db
        lin = np.full(gain_db.shape, 10.0 ** (static_db / 20.0), dtype=np.float64)
        active = limiter_db < 0.0  # the limiter works on the peaks only: the power of the rest is one scalar
        lin[active] = _lin(gain_db[active])
        return limiter_db, gain_db, x * lin.astype(np.float32)[:, None]

    def _next_static(self, tried):
        """The static gain of the next pass, or None when the search is done."""
        static_db, out_lufs = tried[-1][0], tried[-1][1]
        if self.target_lufs is None or not np.isfinite(out_lufs) or abs(out_lufs - self.target_lufs) <= 0.05:
            return None
        below = [r for r in tried if r[1] < self.target_lufs]
        above = [r for r in tried if r[1] > self.target_lufs]
        if below and above:
            lo = max(below, key=lambda r: r[1])
            hi = min(above, key=lambda r: r[1])
            new_static = lo[0] + (self.target_lufs - lo[1]) * (hi[0] - lo[0]) / (hi[1] - lo[1])
        else:
            if len(tried) >= 2 and (tried[-1][0] - tried[-2][0]) * (tried[-1][1] - tried[-2][1]) <= 0:
                return None  # more gain no longer makes it louder: the limiter takes it all back
            new_static = static_db + (self.target_lufs - out_lufs)
        new_static = min(new_static, self.max_gain_db)
        if abs(new_static - static_db) < 1e-3:
            return None
        return new_static

def limiter_gain_db(audio, *, ceiling_dbtp: float, attack_ms: float = 2.0, release_ms: float = 150.0,
                    sample_rate: int = SAMPLE_RATE, oversample: int = 4) -> np.ndarray:
    """Gain (dB, <= 0) that keeps the oversampled peak of ``audio`` under a ceiling.

    Parameters
    ----------
    audio : np.ndarray, shape (n_samples, n_channels)
    ceiling_dbtp : float
    attack_ms, release_ms : float
        Ramp speeds, as the time a 6 dB gain change takes: the gain starts
        falling ahead of each peak at 6 dB per ``attack_ms`` and recovers after
        it at 6 dB per ``release_ms``.
    sample_rate : int
    oversample : int
        Oversampling factor of the peak detector.

    Returns
    -------
    np.ndarray, shape (n_samples,), float64

    Notes
    -----
    Taught in ``lessons/08_measuring_the_mix.ipynb``.
    """
    return _limiter_from_peaks(peak_envelope_db(audio, sample_rate=sample_rate, oversample=oversample),
                               ceiling_dbtp=ceiling_dbtp, attack_ms=attack_ms, release_ms=release_ms,
                               sample_rate=sample_rate)


def peak_envelope_db(audio, *, sample_rate: int = SAMPLE_RATE, oversample: int = 4,
                     floor_dbfs: float | None = None) -> np.ndarray:
    """Per-sample oversampled peak level: the largest magnitude, over all channels, of the sample
    and of the interpolated signal between it and each of its two neighbours.

    Parameters
    ----------
    audio : np.ndarray, shape (n_samples, n_channels)
    sample_rate : int
    oversample : int
        1 to 32 (4 by default, as BS.1770 asks of a true-peak meter).
    floor_dbfs : float, optional
        Levels under it need not be exact (a limiter whose threshold is at or
        above it cannot tell): only stretches whose peaks could reach it are
        oversampled, and elsewhere the envelope reads an upper bound that stays
        under it. Default: exact everywhere.

    Returns
    -------
    np.ndarray, shape (n_samples,), float64
        dBFS (``-240`` for digital silence).

    Raises
    ------
    ParameterError
        A bad oversampling factor.

    Notes
    -----
    The interpolation is the true-peak meter's own (BS.1770-5 Annex 2, the kit's
    32-tap-per-phase filter: :func:`layerlab.measure.true_peak.interval_peaks`), so
    the limiter sees the peaks the grader's meter reads, less only the meter's
    parabolic refinement (up to about 0.4 dB at 4x near Nyquist: a tone at 0.44 fs
    reads 0.37 dB under the meter; the master checks its result with the meter
    itself and lowers its ceiling margin until the meter agrees). An inter-sample peak is caught by the samples on both
    sides of it. Taught in ``lessons/08_measuring_the_mix.ipynb``.
    """
    from layerlab.measure.true_peak import check_oversample, interval_peaks

    over = check_oversample(oversample)
    x = np.asarray(audio)
    n = x.shape[0]
    if n == 0:
        return np.zeros(0)
    peak = np.max(np.abs(x), axis=1).astype(np.float64)
    if over > 1:
        floor = 0.0 if floor_dbfs is None else 10.0 ** (float(floor_dbfs) / 20.0)
        between = interval_peaks(x[:, 0], over, floor=floor)  # value j: between samples j - 1 and j
        for c in range(1, x.shape[1]):
            np.maximum(between, interval_peaks(x[:, c], over, floor=floor), out=between)
        peak = np.maximum(peak, np.maximum(between[:-1], between[1:]))
    return 20.0 * np.log10(np.maximum(peak, 1e-12))


class _Envelope:
    """The mix's peak envelope, oversampled only where a pass's limiter can see it (computed again, lower,
    only when a pass needs it lower: a search that stays within 6 dB oversamples once)."""

    HEADROOM_DB = 6.0

    def __init__(self, x, sample_rate):
        self._x, self._rate = x, sample_rate
        self._floor_dbfs = np.inf
        self._peak_db = None

    def exact_from(self, threshold_dbfs: float) -> np.ndarray:
        """The envelope (dBFS), exact wherever it could reach ``threshold_dbfs``."""
        if threshold_dbfs < self._floor_dbfs:
            self._floor_dbfs = threshold_dbfs - self.HEADROOM_DB
            self._peak_db = peak_envelope_db(self._x, sample_rate=self._rate, floor_dbfs=self._floor_dbfs)
        return self._peak_db


def _limiter_from_peaks(peak_db: np.ndarray, *, ceiling_dbtp: float, attack_ms: float, release_ms: float,
                        sample_rate: int) -> np.ndarray:
    n = peak_db.shape[0]
    need_db = np.minimum(0.0, ceiling_dbtp - peak_db)
    if not np.any(need_db < 0):
        return np.zeros(n)
    k = np.arange(n, dtype=np.float64)
    slope_rel = 6.0 / max(release_ms * 1e-3 * sample_rate, 1.0)  # dB per sample, rising
    slope_att = 6.0 / max(attack_ms * 1e-3 * sample_rate, 1.0)   # dB per sample, falling ahead of a peak
    # recovery after each peak: g[n] = min_{k<=n}(need[k] + slope_rel*(n-k))
    g = np.minimum.accumulate(need_db - slope_rel * k) + slope_rel * k
    # anticipation before each peak: g[n] = min_{k>=n}(need[k] + slope_att*(k-n))
    rev = (need_db + slope_att * k)[::-1]
    a = np.minimum.accumulate(rev)[::-1] - slope_att * k
    return np.minimum(np.minimum(g, a), 0.0)


def _lin(db):
    from layerlab.measure.envelopes import gain_from_db

    return gain_from_db(db)
