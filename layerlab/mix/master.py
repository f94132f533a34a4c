"""The master section: loudness normalisation and a true-peak-safe limiter.

:class:`Master` turns a mix into one gain curve: a static gain that brings the
integrated loudness to ``target_lufs``, and a look-ahead limiter that keeps
the true peak (4x oversampled) under ``ceiling_dbtp``. The stack applies the
same curve to every stem, so stems and mix stay consistent.

The limiter's gain moves as straight lines in dB: down over ``attack_ms``
before a peak, back up over ``release_ms`` after it. It is computed with
running minima, so it is exact (never above the ceiling at the peaks it saw)
and fast.

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
        from layerlab.measure.loudness import integrated_loudness, true_peak_dbtp

        x = validate_audio(audio, name="mix")
        n = x.shape[0]
        input_lufs = integrated_loudness(x, sample_rate=sample_rate)
        static_db = 0.0
        if self.target_lufs is not None and np.isfinite(input_lufs):
            static_db = float(min(self.target_lufs - input_lufs, self.max_gain_db))
        margin_db = 0.05
        peak_db = peak_envelope_db(x, sample_rate=sample_rate)  # scales with the static gain: computed once
        # The limiter takes some loudness away (on peaky material more gain can even make the result
        # quieter), and its ramps can leave an inter-sample peak a hair over the ceiling. So: measure each
        # pass, re-aim (secant inside a bracket once one exists), keep the pass closest to the target.
        tried = []  # (static_db, out_lufs, y, gain_db, limiter_db, tp)
        for _ in range(14):
            limiter_db = _limiter_from_peaks(peak_db + static_db, ceiling_dbtp=self.ceiling_dbtp - margin_db,
                                             attack_ms=self.attack_ms, release_ms=self.release_ms,
                                             sample_rate=sample_rate)
            gain_db = static_db + limiter_db
            y = (x * _lin(gain_db)[:, None]).astype(np.float32)
            out_lufs = integrated_loudness(y, sample_rate=sample_rate)
            tp = true_peak_dbtp(y, sample_rate=sample_rate)
            if np.isfinite(tp) and tp > self.ceiling_dbtp:
                margin_db += tp - self.ceiling_dbtp + 0.02
                continue
            tried.append((static_db, out_lufs, y, gain_db, limiter_db, tp))
            if self.target_lufs is None or not np.isfinite(out_lufs) or abs(out_lufs - self.target_lufs) <= 0.05:
                break
            below = [r for r in tried if r[1] < self.target_lufs]
            above = [r for r in tried if r[1] > self.target_lufs]
            if below and above:
                lo = max(below, key=lambda r: r[1])
                hi = min(above, key=lambda r: r[1])
                new_static = lo[0] + (self.target_lufs - lo[1]) * (hi[0] - lo[0]) / (hi[1] - lo[1])
            else:
                if len(tried) >= 2 and (tried[-1][0] - tried[-2][0]) * (tried[-1][1] - tried[-2][1]) <= 0:
                    break  # more gain no longer makes it louder: the limiter takes it all back
                new_static = static_db + (self.target_lufs - out_lufs)
            new_static = min(new_static, self.max_gain_db)
            if abs(new_static - static_db) < 1e-3:
                break
            static_db = new_static
        if not tried:  # every pass was over the ceiling (cannot happen with the margin growing, but be safe)
            tried.append((static_db, out_lufs, y, gain_db, limiter_db, tp))
        goal = self.target_lufs
        best = min(tried, key=lambda r: abs(r[1] - goal) if (goal is not None and np.isfinite(r[1])) else 0.0)
        applied_static_db, out_lufs, y, gain_db, limiter_db, tp = best
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


def peak_envelope_db(audio, *, sample_rate: int = SAMPLE_RATE, oversample: int = 4) -> np.ndarray:
    """Per-sample oversampled peak level: the largest magnitude, over all channels, of the
    oversampled signal between each sample and its neighbours.

    Parameters
    ----------
    audio : np.ndarray, shape (n_samples, n_channels)
    sample_rate : int
    oversample : int

    Returns
    -------
    np.ndarray, shape (n_samples,), float64
        dBFS (``-240`` for digital silence).

    Notes
    -----
    Taught in ``lessons/08_measuring_the_mix.ipynb``.
    """
    from scipy.signal import resample_poly

    x = np.asarray(audio, dtype=np.float64)
    n = x.shape[0]
    if n == 0:
        return np.zeros(0)
    peak = np.max(np.abs(x), axis=1)
    if oversample > 1:
        up = np.abs(resample_poly(x, oversample, 1, axis=0))
        up = up[: n * oversample].reshape(n, oversample, -1).max(axis=(1, 2))
        # an inter-sample peak between n and n+1 must be caught by both neighbours
        peak = np.maximum(peak, up)
        peak = np.maximum(peak, np.concatenate([[0.0], up[:-1]]))
    return 20.0 * np.log10(np.maximum(peak, 1e-12))


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
