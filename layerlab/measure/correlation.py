"""Normalised cross-correlation: where a known signal sits inside a longer one.

Two forms, both from :func:`correlate_lags` (numpy's FFT, the same pocketfft
that :func:`scipy.signal.correlate` uses, without the second that importing
``scipy.signal`` costs a learner's ``layerlab check``; direct for short
templates, as scipy chooses), and running sums for the normalisation:

* :func:`sliding_ncc`: a template slid over a longer segment (every position
  where it fits whole), as the dialogue-sync search uses it;
* :func:`lagged_pearson`: the Pearson correlation of two signals over their
  overlap at every lag within a range, as the stems-from-reference alignment
  uses it.

Taught in ``lessons/08_measuring_the_mix.ipynb`` (sync).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["correlate_lags", "sliding_ncc", "LaggedCorrelation", "lagged_pearson"]


def _fast_len(n: int) -> int:
    """The smallest ``2**a * 3**b * 5**c`` not under ``n`` (pocketfft's fast lengths, as scipy's ``next_fast_len``)."""
    n = max(int(n), 1)
    best = 1 << (n - 1).bit_length()
    p5 = 1
    while p5 < best:
        p35 = p5
        while p35 < best:
            q = p35
            while q < n:
                q *= 2
            best = min(best, q)
            p35 *= 3
        p5 *= 5
    return best


def correlate_lags(x: np.ndarray, y: np.ndarray, *, lag_min: int | None = None,
                   lag_max: int | None = None, y_conj_spectrum=None) -> tuple[np.ndarray, np.ndarray]:
    """Cross-correlation ``sum(x[i + L] * y[i])`` at the lags ``L`` from ``lag_min`` to ``lag_max``.

    Parameters
    ----------
    x, y : np.ndarray, shape (n,) and (m,)
    lag_min, lag_max : int, optional
        The lags wanted; clipped to the lags where the signals overlap (``-(m - 1)`` to ``n - 1``,
        the defaults: the ``"full"`` correlation).
    y_conj_spectrum : callable, optional
        ``y_conj_spectrum(size)`` returns ``np.conj(np.fft.rfft(y, size))``, e.g. kept from an earlier call
        for a reference that is correlated again and again (a scene's clip,
        :meth:`layerlab.checks.context.SceneClip.conj_spectrum`); the result is the same.

    Returns
    -------
    (np.ndarray of int, np.ndarray of float64)
        The lags and the correlation at each: the values of ``scipy.signal.correlate(x, y, "full")``
        at ``scipy.signal.correlation_lags(n, m)`` equal to them (to rounding, about 1e-12 of the largest).

    Notes
    -----
    A circular correlation by numpy's real FFT, on a length ``N >= max(n + |lag_min|, m + lag_max)``
    rounded up to a fast length, so no wanted lag wraps around; a search over a few seconds of lags
    therefore costs far less than the full correlation. Short templates (``m <= 64``) are correlated
    directly (:func:`numpy.correlate`). Used by the sync checks and the stems alignment
    (``lessons/08_measuring_the_mix.ipynb``).
    """
    x = np.asarray(x, dtype=np.float64).reshape(-1)
    y = np.asarray(y, dtype=np.float64).reshape(-1)
    n, m = x.size, y.size
    lo = -(m - 1) if lag_min is None else max(int(lag_min), -(m - 1))
    hi = n - 1 if lag_max is None else min(int(lag_max), n - 1)
    if n == 0 or m == 0 or hi < lo:
        return np.zeros(0, np.int64), np.zeros(0)
    lags = np.arange(lo, hi + 1, dtype=np.int64)
    if lo >= 0 and hi <= n - m and m <= 64:  # the lags where y fits whole, short y: directly
        return lags, np.correlate(x[lo : hi + m], y, mode="valid")
    size = _fast_len(max(n + max(0, -lo), m + max(0, hi)))
    ys = np.conj(np.fft.rfft(y, size)) if y_conj_spectrum is None else y_conj_spectrum(size)
    r = np.fft.irfft(np.fft.rfft(x, size) * ys, size)
    if lo >= 0:
        return lags, r[lo : hi + 1]
    if hi < 0:
        return lags, r[size + lo : size + hi + 1]
    return lags, np.concatenate([r[size + lo :], r[: hi + 1]])


def _cumsum0(x: np.ndarray) -> np.ndarray:
    return np.concatenate([[0.0], np.cumsum(x)])


def sliding_ncc(segment: np.ndarray, template: np.ndarray) -> np.ndarray:
    """Normalised cross-correlation of a template at every position inside a segment.

    Parameters
    ----------
    segment : np.ndarray, shape (n,)
    template : np.ndarray, shape (m,), m <= n

    Returns
    -------
    np.ndarray, shape (n - m + 1,), float64
        Value ``k`` is the Pearson correlation of ``template`` with
        ``segment[k : k + m]`` (0 where either is constant); empty when the
        template is longer than the segment.
    """
    seg = np.asarray(segment, dtype=np.float64)
    m = template.size
    t = np.asarray(template, dtype=np.float64) - float(np.mean(template)) if m else np.zeros(0)
    tn = float(np.sqrt(np.sum(t * t)))
    if tn == 0 or seg.size < m:
        return np.zeros(max(seg.size - m + 1, 0))
    num = correlate_lags(seg, t, lag_min=0, lag_max=seg.size - m)[1]
    c, c2 = _cumsum0(seg), _cumsum0(seg * seg)
    s = c[m:] - c[:-m]
    s2 = c2[m:] - c2[:-m]
    den = np.sqrt(np.maximum(s2 - s * s / m, 0.0)) * tn
    out = np.zeros_like(num)
    ok = den > 1e-12 * max(tn, 1.0)
    out[ok] = num[ok] / den[ok]
    return out


@dataclass(frozen=True)
class LaggedCorrelation:
    """Pearson correlation of ``x`` and ``y`` over their overlap at each lag.

    Attributes
    ----------
    lags : np.ndarray of int, shape (k,)
        Lag ``L`` pairs ``x[n + L]`` with ``y[n]`` (positive: ``y``'s content sits later in ``x``).
    r : np.ndarray, shape (k,)
        Correlation at each lag (0 where either side is constant).
    overlap : np.ndarray of int, shape (k,)
        Samples in the overlap at each lag.
    """

    lags: np.ndarray
    r: np.ndarray
    overlap: np.ndarray

    def best(self) -> tuple[int, float]:
        """The lag of the highest correlation and that correlation (``(0, -1.0)`` if there is no lag)."""
        if self.r.size == 0:
            return 0, -1.0
        k = int(np.argmax(self.r))
        return int(self.lags[k]), float(self.r[k])


def lagged_pearson(x: np.ndarray, y: np.ndarray, *, max_lag: int, min_overlap: int = 1) -> LaggedCorrelation:
    """Pearson correlation of two signals over their overlap, at every lag from ``-max_lag`` to ``max_lag``.

    Parameters
    ----------
    x, y : np.ndarray, shape (n,) and (m,)
    max_lag : int
        Largest lag searched, in samples of ``x`` and ``y``.
    min_overlap : int
        Lags whose overlap is shorter are left out.

    Returns
    -------
    LaggedCorrelation
        Equal, lag by lag, to correlating ``x[a0 : a0 + m]`` and ``y[b0 : b0 + m]``
        with ``a0 = max(0, L)``, ``b0 = max(0, -L)``, ``m`` their common length.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    lags, sxy = correlate_lags(x, y, lag_min=-int(max_lag), lag_max=int(max_lag))
    a0, b0 = np.maximum(lags, 0), np.maximum(-lags, 0)
    m = np.minimum(x.size - a0, y.size - b0)
    ok = m >= max(1, int(min_overlap))
    lags, sxy, a0, b0, m = lags[ok], sxy[ok], a0[ok], b0[ok], m[ok]
    cx, cx2, cy, cy2 = _cumsum0(x), _cumsum0(x * x), _cumsum0(y), _cumsum0(y * y)
    sx, sx2 = cx[a0 + m] - cx[a0], cx2[a0 + m] - cx2[a0]
    sy, sy2 = cy[b0 + m] - cy[b0], cy2[b0 + m] - cy2[b0]
    cov = sxy - sx * sy / m
    den = np.sqrt(np.maximum(sx2 - sx * sx / m, 0.0) * np.maximum(sy2 - sy * sy / m, 0.0))
    r = np.zeros_like(cov)
    pos = den > 0
    r[pos] = cov[pos] / den[pos]
    return LaggedCorrelation(lags=lags.astype(np.int64), r=r, overlap=m.astype(np.int64))
