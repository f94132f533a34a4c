"""Envelopes and activity masks over time: the primitives the meters, the ducker and the checks share."""

from __future__ import annotations

import numpy as np


def dilate_runs(mask: np.ndarray, *, before: int, after: int) -> np.ndarray:
    """Extend every True run of a boolean mask earlier and later.

    Parameters
    ----------
    mask : np.ndarray, shape (n,), bool
        Activity per sample or per frame.
    before, after : int
        How many samples (or frames) each run is extended by, before its
        start and after its end. Used for a ducker's look-ahead and hold and
        for the dialogue-activity hangover.

    Returns
    -------
    np.ndarray, shape (n,), bool
    """
    n = mask.shape[0]
    edges = np.diff(mask.astype(np.int8), prepend=0, append=0)
    starts = np.maximum(np.flatnonzero(edges == 1) - before, 0)
    ends = np.minimum(np.flatnonzero(edges == -1) + after, n)
    marks = np.zeros(n + 1, dtype=np.int32)
    np.add.at(marks, starts, 1)
    np.add.at(marks, ends, -1)
    return np.cumsum(marks[:n]) > 0


def frame_power(power: np.ndarray, hop: int, *, partial: bool = False) -> np.ndarray:
    """Mean of a per-sample power signal over consecutive frames of ``hop`` samples.

    Parameters
    ----------
    power : np.ndarray, shape (n,)
        Power per sample (e.g. the channel mean of the squared samples).
    hop : int
        Frame length in samples (frames do not overlap).
    partial : bool
        Also return the mean of a last, incomplete frame (dropped by default).

    Returns
    -------
    np.ndarray, shape (n // hop,) or (ceil(n / hop),), float64
        Frame ``i`` covers samples ``[i * hop, (i + 1) * hop)``, so it starts
        at ``i * hop / sample_rate`` seconds (not ``i`` ms unless ``hop`` is
        exactly 1 ms of samples).
    """
    p = np.asarray(power, dtype=np.float64)
    hop = max(1, int(hop))
    n = p.shape[0] // hop
    e = p[: n * hop].reshape(n, hop).mean(axis=1) if n else np.zeros(0)
    if partial and p.shape[0] > n * hop:
        e = np.concatenate([e, [p[n * hop :].mean()]])
    return e


def channel_sum(audio: np.ndarray) -> np.ndarray:
    """Sum over channels, shape ``(n,)``, from ``(n, channels)`` audio (in its own dtype).

    The same numbers as ``np.sum(audio, axis=1)`` (channels added in order), about five times faster:
    numpy reduces a short last axis slowly, and this adds whole columns.
    """
    a = np.asarray(audio)
    if a.ndim != 2 or a.shape[1] == 0:
        return np.sum(a, axis=1)
    out = np.array(a[:, 0], copy=True)
    for c in range(1, a.shape[1]):
        out += a[:, c]
    return out


def channel_mean(audio: np.ndarray) -> np.ndarray:
    """Mean over channels (the mono downmix), shape ``(n,)``: the numbers of ``audio.mean(axis=1)``, faster (:func:`channel_sum`)."""
    a = np.asarray(audio)
    if a.ndim != 2 or a.shape[1] == 0 or not np.issubdtype(a.dtype, np.floating):
        return np.mean(a, axis=1)
    out = channel_sum(a)
    out /= a.shape[1]
    return out


def channel_power(audio: np.ndarray) -> np.ndarray:
    """Mean over channels of the squared samples, shape ``(n,)`` float64, from ``(n, channels)`` audio."""
    a = np.asarray(audio, dtype=np.float64)
    return channel_mean(a * a)


def db_from_power(power, *, floor: float = 1e-20) -> np.ndarray:
    """``10 log10(power)`` in dB, with ``power`` floored at ``floor`` (-200 dB) so silence stays finite."""
    return 10.0 * np.log10(np.maximum(np.asarray(power, dtype=np.float64), floor))


def gain_from_db(gain_db) -> np.ndarray:
    """Linear amplitude gain of a gain in dB: ``10 ** (gain_db / 20)``, float64."""
    return np.power(10.0, np.asarray(gain_db, dtype=np.float64) / 20.0)


def padded_slice(x: np.ndarray, start: int, stop: int) -> np.ndarray:
    """``x[start:stop]`` along axis 0 with zeros where the range runs outside ``x`` (length ``stop - start``)."""
    out = np.zeros((max(stop - start, 0),) + x.shape[1:], dtype=np.float64)
    s0, s1 = max(start, 0), min(stop, x.shape[0])
    if s1 > s0:
        out[s0 - start : s1 - start] = x[s0:s1]
    return out
