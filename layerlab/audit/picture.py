"""The picture side of the audit: visual events from decoded frames.

Taught in ``labs/lab1_audit/lab1_audit.ipynb``.
"""

from __future__ import annotations

import numpy as np

from layerlab.io.video import read_video
from layerlab.audit.report import VisualEvent

__all__ = ["detect_visual_events", "read_video_frames", "onset_ratio", "BLOCK_PX", "ABRUPT_RATIO"]

BLOCK_PX = 8
"""Side of the square blocks (in scaled-down pixels) whose change is scored."""
REGION_BLOCKS = 3
"""Changes this many blocks apart or closer, within ``min_gap_s``, are one burst (one event)."""
CAPTION_Z = 20.0
CAPTION_WIDTH = 0.7
"""A change (z >= CAPTION_Z) in the bottom quarter across this share of the width is a caption, not an event."""
ABRUPT_RATIO = 3.5
"""An event's change must be this many times its region's usual change over the ``LEAD_S`` before it."""
LEAD_S = 0.5
"""How far back the region's usual change is taken (the frame just before the event is left out)."""
REPEAT_MEAN_LEVEL = 0.1
"""On a frame-rate conversion's phase, a frame whose mean change from the previous one is under this (grey levels)
is a repeat too: the encoder may leave a few pixels a few levels off (a panel that slides in: 7-18 levels a frame)."""
CHUNK_FRAMES = 256
"""Frames differenced at a time (memory stays bounded on long clips)."""
REPEAT_LEVEL = 2.0
"""A frame no pixel of which differs from the previous one by more than this (grey levels, 0..255) repeats it."""
CADENCE_RATIO = 3.0
"""A clip is read as frame-rate converted (24 fps shown at 30 repeats every 5th frame) when one phase of a 2..6-frame
cycle holds at least 10 of the repeats amid motion and this many times as many as any other phase (the kit's native
renders: at most 1.25 times; re-saved at 30 fps: 4.5 times and more)."""


def read_video_frames(path, *, width: int = 160, height: int = 90) -> tuple[np.ndarray, float, tuple[int, int]]:
    """Decode a video to small grey frames (kept for older notebooks; use :func:`layerlab.io.video.read_video`).

    Returns
    -------
    (np.ndarray, float, (int, int))
        Frames shaped (n_frames, height, width) float32 in 0..255, the nominal
        frame rate, and the source size (width, height).
    """
    v = read_video(path, width=width, height=height)
    return v.frames, v.nominal_fps, v.source_size


def detect_visual_events(frames: np.ndarray, *, fps: float, times_s=None, source_size=(0, 0),
                         min_strength: float = 45.0, min_gap_s: float = 0.3) -> list[VisualEvent]:
    """Find visual events by frame differencing.

    Parameters
    ----------
    frames : np.ndarray, shape (n_frames, height, width)
        Grey frames (see :func:`layerlab.io.video.read_video`).
    fps : float
        Nominal rate, used only when ``times_s`` is not given.
    times_s : np.ndarray, shape (n_frames,), optional
        Each frame's presentation time (pts). With it, events are placed at
        their real times, whatever the frame rate does.
    source_size : (int, int)
        Source picture size, to report boxes in source pixels.
    min_strength : float
        How far (in robust z-units) a block's change must stand out from its usual change.
    min_gap_s : float
        Bursts closer than this are one event.

    Returns
    -------
    list of VisualEvent
        One per burst. A burst whose run of change starts out of stillness at
        half its peak or more (a bird taking off, a flash) is placed on that
        first frame; one that builds up (a cup lowered onto its saucer, a door
        swinging shut) at its peak change (the first frame within 10% of it,
        so a flash that goes on and off is placed where it goes on).

    Notes
    -----
    The picture is cut into 8x8-pixel blocks; each block's mean absolute change
    from the previous frame is compared with that block's median change over the
    clip, so steady motion (a waving tree, talking heads) scores low and a
    sudden, local change (a door, a cup) scores high.
    """
    if frames.ndim != 3 or frames.shape[0] < 3:
        return []
    if times_s is None:
        times_s = np.arange(frames.shape[0]) / float(fps)
    times_s = np.asarray(times_s, dtype=np.float64)
    # a clip re-saved at another frame rate repeats frames on a cadence: a repeat amid motion reads as the motion
    # stopping and restarting (a door placed 2 frames early, a cursor glide as clicks); the analysis runs on the
    # frames that are new pictures, each at its own time, and events keep their frame index in the clip
    kept = _new_pictures(frames, times_s)
    if kept.size < frames.shape[0]:  # (a copy only then: frames of a long clip are large)
        frames, times_s = frames[kept], times_s[kept]
    n, h, w = frames.shape
    if n < 3:
        return []
    hb, wb = h // BLOCK_PX, w // BLOCK_PX
    blocks = np.empty((n - 1, hb * wb), np.float32)
    for a in range(0, n - 1, CHUNK_FRAMES):  # in chunks: a 10-minute clip's differences whole would take 1.7 GB
        b = min(n - 1, a + CHUNK_FRAMES)
        d = np.abs(np.diff(frames[a : b + 1], axis=0))[:, : hb * BLOCK_PX, : wb * BLOCK_PX]
        blocks[a:b] = d.reshape(b - a, hb, BLOCK_PX, wb, BLOCK_PX).mean(axis=(2, 4)).reshape(b - a, -1)
    med = np.median(blocks, axis=0)
    mad = np.median(np.abs(blocks - med), axis=0) + 0.5
    z = (blocks - med) / mad
    # burned-in captions: a change in the bottom quarter of the picture across most of its width is text
    # being replaced, not an action on screen; those blocks do not count for that frame
    zg = z.reshape(n - 1, hb, wb)
    bottom = int(np.ceil(0.75 * hb))
    if hb >= 4 and wb >= 4:
        strip = (zg[:, bottom:, :] >= CAPTION_Z).any(axis=1).sum(axis=1) >= CAPTION_WIDTH * wb
        zg[strip, bottom:, :] = 0.0
    z = zg.reshape(n - 1, -1)
    score = z.max(axis=1)
    where = z.argmax(axis=1)
    above = score >= min_strength
    events: list[VisualEvent] = []
    diff_t = times_s[1:]  # diff k is the change into frame k+1
    used = np.zeros(above.size, bool)
    by_all, bx_all = np.divmod(where, wb)
    for i in range(above.size):
        if not above[i] or used[i]:
            continue
        # a burst: later frames of change in the same part of the picture (within REGION_BLOCKS blocks of
        # where it was last), no more than min_gap_s apart; a change elsewhere is an event of its own
        members = [i]
        used[i] = True
        j = i + 1
        while j < above.size and diff_t[j] - diff_t[members[-1]] <= min_gap_s:
            if above[j] and not used[j] and abs(by_all[j] - by_all[members[-1]]) <= REGION_BLOCKS \
                    and abs(bx_all[j] - bx_all[members[-1]]) <= REGION_BLOCKS:
                members.append(j)
                used[j] = True
            j += 1
        last = members[-1]
        mine = np.zeros(above.size, bool)
        mine[members] = True
        seg = np.where(mine[i : last + 1], score[i : last + 1], 0.0)
        k = i + int(np.nonzero(seg >= 0.9 * seg.max())[0][0])
        # where the burst's run of change begins: a take-off or a flash starts at full strength out of
        # stillness (the event is its first frame); a landing builds up to its peak (the event is the peak)
        r0 = i
        while r0 > 0 and score[r0 - 1] >= 0.25 * min_strength and diff_t[i] - diff_t[r0 - 1] <= 0.5:
            r0 -= 1
        if r0 == 0:  # the change is under way in the clip's first frames (a clip cut mid-motion): it began before
            continue  # the clip did, so there is no onset to place (nor a sound to pair it with)
        if r0 < k and score[r0 - 1] < 0.25 * min_strength and score[r0] >= 0.5 * seg.max():
            k = r0
        frame = k + 1
        b = int(where[k])
        by, bx = divmod(b, wb)
        sx = (source_size[0] / w) if source_size[0] else 1.0
        sy = (source_size[1] / h) if source_size[1] else 1.0
        box = (int(bx * BLOCK_PX * sx), int(by * BLOCK_PX * sy), int((bx + 1) * BLOCK_PX * sx),
               int((by + 1) * BLOCK_PX * sy))
        if any(e.frame == int(kept[frame]) for e in events):  # a large change whose busiest block wandered: one event
            continue
        if onset_ratio(zg, times_s, k, by, bx) < ABRUPT_RATIO:  # a glide: the region was already moving
            continue
        events.append(VisualEvent(float(times_s[frame]), int(kept[frame]), float(score[k]), box))
    events.sort(key=lambda e: e.frame)
    return events


def onset_ratio(z: np.ndarray, times_s: np.ndarray, k: int, by: int, bx: int) -> float:
    """How abruptly the change at diff ``k`` starts in its region: its peak over the region's usual change before.

    Parameters
    ----------
    z : np.ndarray, shape (n_frames - 1, height_blocks, width_blocks)
        Robust z-scores of each block's change (diff ``k`` is the change into frame ``k + 1``).
    times_s : np.ndarray, shape (n_frames,)
        Frame presentation times.
    k : int
        Diff index of the event.
    by, bx : int
        The event's block; its region is the blocks within ``REGION_BLOCKS`` of it.

    Returns
    -------
    float
        The region's largest change over diffs ``k``..``k+2``, divided by (1 + the median of its
        largest change over the ``LEAD_S`` before, leaving out diff ``k-1``). A cursor gliding into
        place, or a pan, has been changing the region all along (about 1-3); a click, a flash, a bird
        taking off from stillness or a branch landing after its fall stands out (4.5 and more on the
        kit's scenes).

    Notes
    -----
    This is an onset function of the frame-difference series (a rise against the recent past, as
    spectral flux is for sound), not a threshold on its level. Taught in ``labs/lab1_audit/lab1_audit.ipynb``.
    """
    r = REGION_BLOCKS
    reg = z[:, max(0, by - r) : by + r + 1, max(0, bx - r) : bx + r + 1].reshape(z.shape[0], -1).max(axis=1)
    peak = float(reg[k : k + 3].max())
    diff_t = np.asarray(times_s)[1:]
    lo = int(np.searchsorted(diff_t, diff_t[k] - LEAD_S - 1e-9))
    pre = reg[lo : max(lo, k - 1)]
    base = float(np.median(pre)) if pre.size else 0.0
    return peak / (1.0 + max(base, 0.0))


def _new_pictures(frames: np.ndarray, times_s: np.ndarray | None = None) -> np.ndarray:
    """Indices of the frames to analyse: all, less the repeats of a frame-rate conversion.

    A repeat is a frame within :data:`REPEAT_LEVEL` of the previous one. Still stretches repeat too (a UI
    waiting for a click), so only a cadence counts: when the repeats amid motion (both neighbours change)
    gather on one phase of a 2..6-frame cycle (:data:`CADENCE_RATIO`), the clip was re-saved at another rate
    and every repeat on that phase is dropped (or nearly a repeat: :data:`REPEAT_MEAN_LEVEL`). A native render's scattered holds are kept.

    Parameters
    ----------
    frames : np.ndarray, shape (n_frames, height, width)
    times_s : np.ndarray, shape (n_frames,), optional
        Frame times: a frame-rate conversion gives a constant rate, so a clip whose frame spacing varies by more
        than half a frame keeps all its frames.

    Returns
    -------
    np.ndarray of int
        Increasing frame indices (frame 0 always kept).
    """
    n = frames.shape[0]
    every = np.arange(n)
    if n < 12:
        return every
    if times_s is not None:
        dt = np.diff(np.asarray(times_s, dtype=np.float64))
        if dt.max() > 1.5 * np.median(dt):
            return every
    peak, mean = [], []  # of each step k: frame k -> k + 1
    for a in range(0, n - 1, CHUNK_FRAMES):
        d = np.abs(np.diff(frames[a : a + CHUNK_FRAMES + 1].astype(np.float32), axis=0))
        peak.append(d.max(axis=(1, 2)))
        mean.append(d.mean(axis=(1, 2)))
    repeat = np.concatenate([[False], np.concatenate(peak) <= REPEAT_LEVEL])  # frame j repeats frame j - 1
    # on the cadence's phase, a frame re-encoded over a repeat may differ by a few levels in a few pixels
    near = np.concatenate([[False], np.concatenate(mean) <= REPEAT_MEAN_LEVEL])
    amid = np.zeros(n, bool)
    amid[1:-1] = repeat[1:-1] & ~repeat[:-2] & ~repeat[2:]
    idx = np.nonzero(amid)[0]
    for cycle in range(2, 7):
        counts = np.bincount(idx % cycle, minlength=cycle)
        phase = int(counts.argmax())
        others = np.delete(counts, phase)
        if counts[phase] >= 10 and counts[phase] >= CADENCE_RATIO * others.max():
            return every[~((repeat | near) & (every % cycle == phase))]
    return every
