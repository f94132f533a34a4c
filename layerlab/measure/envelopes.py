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
