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
    note : str
        Why the level was not brought to the target, in one line ("" when it was).
    """

    audio: np.ndarray
    gain_db: np.ndarray
    input_lufs: float
    output_lufs: float
    static_gain_db: float
    max_reduction_db: float
    output_true_peak_dbtp: float
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
        # The limiter takes some loudness away, and its ramps can leave an inter-sample peak a hair
        # over the ceiling: measure the result, re-aim, and keep the last pass's measurements.
        for _ in range(4):
            limiter_db = _limiter_from_peaks(peak_db + static_db, ceiling_dbtp=self.ceiling_dbtp - margin_db,
                                             attack_ms=self.attack_ms, release_ms=self.release_ms,
                                             sample_rate=sample_rate)
            gain_db = static_db + limiter_db
            applied_static_db = static_db
            y = (x * _lin(gain_db)[:, None]).astype(np.float32)
            out_lufs = integrated_loudness(y, sample_rate=sample_rate)
            tp = true_peak_dbtp(y, sample_rate=sample_rate)
            if np.isfinite(tp) and tp > self.ceiling_dbtp:
                margin_db += tp - self.ceiling_dbtp + 0.02
                continue
            if self.target_lufs is None or not np.isfinite(out_lufs) or abs(out_lufs - self.target_lufs) <= 0.05:
                break
            new_static = min(static_db + (self.target_lufs - out_lufs), self.max_gain_db)
            if abs(new_static - static_db) < 1e-3:
                break
            static_db = new_static
        return MasterResult(
            audio=y,
            gain_db=np.asarray(gain_db, dtype=np.float32),
            input_lufs=float(input_lufs),
            output_lufs=float(out_lufs),
            static_gain_db=float(applied_static_db),
            max_reduction_db=float(-np.min(limiter_db)) if n else 0.0,
            output_true_peak_dbtp=float(tp),
            note=_note(self, input_lufs, applied_static_db),
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


def _note(master: "Master", input_lufs: float, static_db: float) -> str:
    """One line saying why the mix was not normalised to the target ('' when it was)."""
    if master.target_lufs is None:
        return ""
    if not np.isfinite(input_lufs):
        return ("the mix is silent (nothing above -70 LUFS), so its level was left alone: "
                "un-mute the layers or raise their gain before mastering.")
    if static_db >= master.max_gain_db - 1e-9 and master.target_lufs - input_lufs > master.max_gain_db:
        return (f"the mix ({input_lufs:.1f} LUFS) is more than {master.max_gain_db:g} dB under the target; "
                f"it was raised by {master.max_gain_db:g} dB only: raise the layers' gain.")
    return ""
