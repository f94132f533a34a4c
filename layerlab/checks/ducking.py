"""The ducking check: how far the music drops under the dialogue, and how smoothly.

Taught in ``lessons/07_four_layers.ipynb`` (ducking).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from layerlab.errors import ParameterError
from layerlab.io.audio import SAMPLE_RATE
from layerlab.measure.masking import Activity
from layerlab.checks.context import (
    DUCK_MAX_STEP_DB,
    DUCK_MIN_DEPTH_DB,
    CheckContext,
    bed_reference,
    energy_cumsum,
    level_db_of_energy,
    need_files,
)
from layerlab.checks.heard import found_activity, found_rest, heard_activity, heard_layers
from layerlab.checks.report import CheckResult

__all__ = ["DuckingMeasure", "measure_ducking", "check_ducking", "music_drop_phrase"]


@dataclass
class DuckingMeasure:
    """How the music behaves under the dialogue.

    Attributes
    ----------
    depth_db : float or None
        Music level without dialogue minus music level with dialogue (power
        means over settled stretches); None if one of the two is missing.
    level_speech_db, level_free_db : float or None
        Music RMS level (dBFS) during and between speech.
    max_step_db : float
        The largest lasting music gain change between adjacent 10 ms windows
        near a dialogue boundary; a step that clicks reads as the full duck
        depth. Without a reference: between 20 ms windows, minus the 99th
        percentile of the music's own 20 ms level changes away from speech.
    step_time_s : float or None
        Where that change happens.
    times_s : np.ndarray, shape (n_frames,)
    gain_db : np.ndarray, shape (n_frames,)
        Music level relative to its level between lines (the gain envelope
        as heard), for plots.
    """

    depth_db: float | None
    level_speech_db: float | None
    level_free_db: float | None
    max_step_db: float
    step_time_s: float | None
    times_s: np.ndarray
    gain_db: np.ndarray



def measure_ducking(music, activity: Activity, *, sample_rate: int = SAMPLE_RATE, reference=None,
                    settle_after_s: float = 0.6, settle_before_s: float = 0.3,
                    settle_in_s: float = 0.25) -> DuckingMeasure:
    """Measure ducking depth and gain smoothness from the music stem.

    Parameters
    ----------
    music : np.ndarray, shape (n_samples, n_channels)
        The music stem as exported (after ducking).
    activity : Activity
        When dialogue is active (:func:`layerlab.measure.masking.dialogue_activity`).
    sample_rate : int
    reference : np.ndarray, shape (n_samples, n_channels), optional
        The music before any gain (the scene's music clip placed where the
        stem has it). With it, the gain is read as stem level minus clip
        level, so the music's own crescendos and note attacks cancel out.
        Without it, the stem's level is used as it is.
    settle_after_s, settle_before_s : float
        Dialogue-free frames this close after / before speech are left out of
        the "free" level (release and lookahead).
    settle_in_s : float
        Speech frames this close to a speech boundary are left out of the
        "speech" level (attack).

    Returns
    -------
    DuckingMeasure

    Notes
    -----
    With a reference, the depth is the music's unducked gain (the 90th
    percentile of its gain wherever nobody speaks, so fades, late entries and
    the arrangement's own builds cancel or fall outside it) minus its median
    gain during speech; without one, the difference of the power means of the
    levels between and during speech.
    Steps are found from 10 ms windows (20 ms without a reference): the
    change between adjacent windows, counted only if the median level 20-60 ms
    on either side confirms at least 75% of it as a lasting change (a drum
    hit rises and falls; a gain step stays). Without a
    reference only changes in the ducking direction (down at speech starts,
    up at speech ends) within 150 ms of a boundary count.

    Taught in ``lessons/07_four_layers.ipynb`` (ducking).
    """
    sr = int(sample_rate)
    music = np.asarray(music, dtype=np.float32)
    c_music = energy_cumsum(music)  # each signal's energy is summed once for the two window lengths below
    t, lv = level_db_of_energy(c_music, sample_rate=sr, win_ms=50.0, hop_ms=10.0)
    ref_ok = c_ref = None
    if reference is not None:
        reference = np.asarray(reference, dtype=np.float32)
        if reference.shape[0] != music.shape[0]:
            raise ParameterError("measure_ducking: reference must have as many samples as the music stem.")
        c_ref = energy_cumsum(reference)
        _, lr = level_db_of_energy(c_ref, sample_rate=sr, win_ms=50.0, hop_ms=10.0)
        ref_ok = lr > (np.median(lr) - 20.0)
        lv = lv - lr  # the gain, in dB
    act = activity.active_at(t)
    segs = activity.segments()
    dist_after = np.full(t.size, np.inf)  # time since the end of the last speech segment
    dist_before = np.full(t.size, np.inf)  # time until the next speech start
    dist_in = np.full(t.size, np.inf)  # distance to the nearest boundary, for speech frames
    for s, e in segs:
        after = t - e
        m = after >= 0
        dist_after[m] = np.minimum(dist_after[m], after[m])
        before = s - t
        m = before >= 0
        dist_before[m] = np.minimum(dist_before[m], before[m])
        inside = (t >= s) & (t <= e)
        dist_in[inside] = np.minimum(dist_in[inside], np.minimum(t[inside] - s, e - t[inside]))
    valid = np.isfinite(lv) & (lv > -150)
    if ref_ok is not None:
        valid &= ref_ok

    def pick(a_s, b_s, in_s):
        free = (~act) & (dist_after >= a_s) & (dist_before >= b_s) & valid
        speech = act & (dist_in >= in_s) & valid
        return free, speech

    free, speech = pick(settle_after_s, settle_before_s, settle_in_s)
    if not free.any() or not speech.any():
        free, speech = pick(0.2, 0.1, 0.1)
    if reference is not None:
        # the music's own unducked gain: the 90th percentile of its gain wherever nobody speaks (release and
        # lookahead aside), so a fade-in, a late entry or a quieter section does not read as missing ducking
        unducked = (~act) & (dist_after >= 0.2) & (dist_before >= 0.1) & valid
        if unducked.sum() >= 50:
            free = unducked
        lf = float(np.percentile(lv[free], 90)) if free.any() else None
        ls = float(np.median(lv[speech])) if speech.any() else None
    else:
        lin = 10.0 ** (lv / 10.0)
        lf = float(10 * np.log10(lin[free].mean())) if free.any() else None
        ls = float(10 * np.log10(lin[speech].mean())) if speech.any() else None
    depth = (lf - ls) if (lf is not None and ls is not None) else None
    base = lf if lf is not None else (float(np.median(lv[valid])) if valid.any() else 0.0)
    gain = np.where(valid, lv - base, np.nan)
    # gain steps near speech boundaries
    # with a reference the gain is clean at 10 ms; without one the music's own beating and attacks
    # need longer windows, and a step then reads over 20 ms
    step_ms = 10 if reference is not None else 20
    t10, l10 = level_db_of_energy(c_music, sample_rate=sr, win_ms=float(step_ms), hop_ms=1.0)
    ok10 = np.ones(l10.size, bool)
    if reference is not None:
        _, r10 = level_db_of_energy(c_ref, sample_rate=sr, win_ms=10.0, hop_ms=1.0)
        ok10 = r10 > (np.median(r10) - 20.0)
        l10 = l10 - r10
    max_step, step_t = 0.0, None
    near = 0.6 if reference is not None else 0.15
    if l10.size > 130 and segs:
        for s, e in segs:
            for b, direction in ((s, -1.0), (e, 1.0)):
                lo = np.searchsorted(t10, b - near)
                hi = np.searchsorted(t10, b + near)
                for i in range(max(lo, 60), min(hi, l10.size - 61)):
                    if not (ok10[i - step_ms // 2] and ok10[i + step_ms // 2]):
                        continue
                    h = step_ms // 2
                    d = l10[i + h] - l10[i - h]  # adjacent, non-overlapping windows
                    if abs(d) <= max_step:
                        continue
                    if reference is None and np.sign(d) != direction:
                        continue
                    w0, w1 = ok10[i - 60 : i - 20], ok10[i + 20 : i + 60]
                    if not (w0.any() and w1.any()):
                        continue
                    before = np.median(l10[i - 60 : i - 20][w0])
                    after = np.median(l10[i + 20 : i + 60][w1])
                    lasting = after - before
                    if np.sign(lasting) == np.sign(d) and abs(lasting) >= 0.75 * abs(d):
                        max_step, step_t = float(abs(d)), float(t10[i])
    if reference is None and max_step > 0 and l10.size > 4 * step_ms:
        # without a reference, only what exceeds the music's own fluctuation over the same span counts
        h = step_ms // 2
        diffs = np.abs(l10[2 * h :] - l10[: -2 * h])
        centre_t = t10[h : h + diffs.size]
        far = np.ones(diffs.size, bool)
        for s, e in segs:
            far &= (np.abs(centre_t - s) > 0.7) & (np.abs(centre_t - e) > 0.7)
        if far.sum() > 100:
            max_step = float(max(0.0, max_step - np.percentile(diffs[far], 99)))
    return DuckingMeasure(depth, ls, lf, max_step, step_t, t, gain)



def music_drop_phrase(depth_db: float) -> str:
    """How far the music falls under speech, in words: "the music drops only 3.2 dB".

    Parameters
    ----------
    depth_db : float
        Ducking depth in dB (:attr:`DuckingMeasure.depth_db`; positive: quieter under speech).

    Returns
    -------
    str
        "does not drop" for a depth that rounds to 0.0 dB (never "-0.0 dB"), "rises X dB" for a
        negative depth, "drops only X dB" otherwise. Issue #17; read in ``lessons/07_four_layers.ipynb``.
    """
    shown = round(float(depth_db), 1)
    if shown == 0.0:
        return "the music does not drop"
    if shown < 0:
        return f"the music rises {-shown:.1f} dB"
    return f"the music drops only {shown:.1f} dB"


def check_ducking(ctx: CheckContext) -> CheckResult:
    """Run the ``ducking`` check on the context's deliverable; returns its :class:`CheckResult` (never raises on bad input)."""
    target = f"≥ {DUCK_MIN_DEPTH_DB:g} dB under dialogue, no gain step > {DUCK_MAX_STEP_DB:g} dB in 10 ms"
    if not ctx.cues.dialogue:
        return CheckResult("ducking", None, "dB", target, True, "the scene has no dialogue to duck under.", {})
    miss = need_files(ctx, "ducking", "dB", target, "dialogue", "music")
    if miss:
        return miss
    dl = ctx.deliverable
    music = dl.audio("music")
    if not np.any(music):
        ok = not ctx.cues.has_music
        return CheckResult("ducking", None, "dB", target, ok,
                           "the music stem is silent" + ("; the scene's cue sheet has a music bed: put it on the music "
                                                        "layer and duck it under the dialogue." if not ok else "."), {})
    act = heard_activity(ctx)
    if act is None or not act.active.any():
        return CheckResult("ducking", None, "dB", target, False,
                           "no speech found in stems/dialogue.wav, so there is nothing to duck under.", {})
    reference, ref_note = bed_reference(ctx, "music", music)
    dm = measure_ducking(music, act, sample_rate=SAMPLE_RATE, reference=reference)
    stem_depth, heard_depth = dm.depth_db, None
    heard = heard_layers(ctx)
    if heard is not None and "music" in heard.beds:
        # the depth the listener hears: the music's gain in mix.wav; the stem only says where gain steps are
        dh = measure_ducking(heard.beds["music"], act, sample_rate=SAMPLE_RATE, reference=heard.references["music"])
        heard_depth = dh.depth_db
        dh.max_step_db, dh.step_time_s = dm.max_step_db, dm.step_time_s
        if dh.depth_db is not None and (dm.depth_db is None or dh.depth_db < dm.depth_db):
            dm, ref_note = dh, "the music's gain in " + heard.notes["music"]  # the mix is what is heard
    elif heard is not None and "music" not in heard.beds and found_activity(ctx) is not None:
        # music the scene's clip does not explain: what the mix holds besides this scene's dialogue and ambience
        # is heard as the music, whichever stem it was written on
        dr = measure_ducking(found_rest(ctx), found_activity(ctx), sample_rate=SAMPLE_RATE)
        heard_depth = dr.depth_db
        dr.max_step_db, dr.step_time_s = dm.max_step_db, dm.step_time_s
        if dr.depth_db is not None and (dm.depth_db is None or dr.depth_db < dm.depth_db):
            dm, ref_note = dr, "mix.wav less this scene's dialogue and ambience (the music is not the scene's clip)"
    ctx.data["ducking"] = dm
    details = {"depth_db": dm.depth_db, "music_during_speech_dbfs": dm.level_speech_db,
               "music_between_lines_dbfs": dm.level_free_db, "max_step_db_per_10ms": dm.max_step_db,
               "step_time_s": dm.step_time_s, "gain_from": ref_note, "stem_depth_db": stem_depth,
               "mix_depth_db": heard_depth}
    msgs = []
    ok = True
    if dm.depth_db is None:
        msg = ("the music never plays without dialogue (or never under it) long enough to measure ducking; "
               "judged on smoothness only.")
        msgs.append(msg)
    elif dm.depth_db < DUCK_MIN_DEPTH_DB:
        ok = False
        msgs.append(f"{music_drop_phrase(dm.depth_db)} while dialogue is active; duck it "
                    f"{DUCK_MIN_DEPTH_DB:g}-12 dB under speech (sidechain ducking from the dialogue layer).")
        if stem_depth is not None and stem_depth >= DUCK_MIN_DEPTH_DB and dm.depth_db < stem_depth:
            msgs.append(f"(stems/music.wav alone ducks {stem_depth:.1f} dB, but the music heard in mix.wav does not: "
                        "part of it is on another stem.)")
    if dm.max_step_db > DUCK_MAX_STEP_DB:
        ok = False
        msgs.append(f"the music gain jumps {dm.max_step_db:.1f} dB within 10 ms at {dm.step_time_s:.2f} s, which "
                    "clicks; use a slower attack/release (about 50 ms down, 300 ms up).")
    if ok:
        if dm.depth_db is None:
            msg = msgs[0] + " No gain steps."
        else:
            msg = f"the music ducks {dm.depth_db:.1f} dB under the dialogue, and its gain moves smoothly."
        return CheckResult("ducking", dm.depth_db, "dB", target, True, msg, details)
    return CheckResult("ducking", dm.depth_db, "dB", target, False, " ".join(msgs), details)



