"""Normalised cross-correlation: where a known signal sits inside a longer one.

Two forms, both from :func:`scipy.signal.correlate` (FFT or direct, whichever
is faster) with lags from :func:`scipy.signal.correlation_lags`, and running
sums for the normalisation:

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

__all__ = ["sliding_ncc", "LaggedCorrelation", "lagged_pearson"]


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
    from scipy.signal import correlate

    seg = np.asarray(segment, dtype=np.float64)
    m = template.size
    t = np.asarray(template, dtype=np.float64) - float(np.mean(template)) if m else np.zeros(0)
    tn = float(np.sqrt(np.sum(t * t)))
    if tn == 0 or seg.size < m:
        return np.zeros(max(seg.size - m + 1, 0))
    num = correlate(seg, t, mode="valid")
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
    from scipy.signal import correlate, correlation_lags

    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    lags = correlation_lags(x.size, y.size, mode="full")
    keep = np.abs(lags) <= int(max_lag)
    lags = lags[keep]
    sxy = correlate(x, y, mode="full")[keep]
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
