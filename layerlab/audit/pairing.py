"""Pair visual events with audio onsets: one onset per event at most, by optimal assignment.

Taught in ``labs/lab1_audit/lab1_audit.ipynb``.
"""

from __future__ import annotations

import numpy as np

from layerlab.measure.sync import EBU_R37, get_sync_window
from layerlab.audit.report import AudioOnset, EventOffset, VisualEvent

__all__ = ["pair_events"]


def pair_events(events: list[VisualEvent], onsets: list[AudioOnset], *, early_s: float = 0.2, late_s: float = 0.25,
                window=EBU_R37) -> list[EventOffset]:
    """Pair each visual event with at most one audio onset, and each onset with at most one event.

    Parameters
    ----------
    events : list of VisualEvent
    onsets : list of AudioOnset
    early_s, late_s : float
        An onset may belong to an event only from ``early_s`` before to
        ``late_s`` after it. 250 ms late covers the largest late flaw the kit
        cues (+200 ms, forest_broll's bird_2) and lies far outside every sync
        tolerance (EBU R37 +60 ms; ITU-R BT.1359 acceptability +185 ms); a sound
        further on is taken for another sound, and the event's own as missing.
        (product_demo's missing click_enhance has a music note 253 ms on: a
        blind audit cannot tell a very late sound from another one.)
    window : SyncWindow or str
        Sync window the offsets are flagged against (EBU R37 by default).

    Returns
    -------
    list of EventOffset
        One per event, in the events' order; ``missing`` when no onset could be
        paired with it.

    Notes
    -----
    The pairs minimise the total absolute offset (``scipy.optimize.linear_sum_assignment``,
    the Hungarian method), with pairs outside the window forbidden; so two
    events close together cannot both claim one sound, and an event whose
    sound is missing does not borrow its neighbour's.
    """
    from scipy.optimize import linear_sum_assignment

    w = get_sync_window(window)
    out = [EventOffset(ev.time_s, ev.frame, None, None, None) for ev in events]
    if not events or not onsets:
        return out
    et = np.array([e.time_s for e in events])
    ot = np.array([o.time_s for o in onsets])
    d = ot[None, :] - et[:, None]
    allowed = (d >= -early_s) & (d <= late_s)
    if not allowed.any():
        return out
    big = 1e6
    cost = np.where(allowed, np.abs(d), big)
    rows, cols = linear_sum_assignment(cost)
    for r, c in zip(rows, cols):
        if allowed[r, c]:
            off = 1000.0 * float(d[r, c])
            out[r] = EventOffset(events[r].time_s, events[r].frame, float(ot[c]), off, bool(w.contains(off)))
    return out
