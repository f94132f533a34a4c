"""Ambience continuity and the dialogue noise floor: what a layer does over time.

Taught in ``lessons/07_four_layers.ipynb`` (ambience, clean dialogue).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from layerlab.errors import ParameterError
from layerlab.io.audio import SAMPLE_RATE
from layerlab.io.deliverable import find_clipping
from layerlab.measure.envelopes import channel_power
from layerlab.measure.masking import Activity
from layerlab.checks.context import (
    AMBIENCE_DROPOUT_DB,
    AMBIENCE_JUMP_DB,
    NOISE_FLOOR_MAX_DBFS,
    CheckContext,
    bed_reference,
    fmt_list,
    get_activity,
    level_db,
    need_files,
)
from layerlab.checks.report import CheckResult

__all__ = ["ContinuityResult", "ambience_continuity", "NoiseFloorResult", "dialogue_noise_floor",
           "check_ambience", "check_noise_floor", "master_gain_changes"]

@dataclass
class ContinuityResult:
    """Dropouts and jumps in the ambience.

    Attributes
    ----------
    dropouts : list of dict
        ``start_s``, ``end_s``, ``depth_db`` of each stretch at least
        ``dropout_db`` under the ambience's median level.
    jumps : list of dict
        ``time_s``, ``change_db`` of each lasting level change larger than
        ``jump_db`` within half a second.
    median_level_db : float
        The ambience's median 10 ms level (dBFS).
    silent : bool
        The ambience stem has no signal at all.
    """

    dropouts: list
    jumps: list
    median_level_db: float
    silent: bool

    @property
    def passed(self) -> bool:
        """No dropouts, no jumps, not silent."""
        return not (self.dropouts or self.jumps or self.silent)


def ambience_continuity(ambience, *, sample_rate: int = SAMPLE_RATE, scene_changes_s=(), reference=None,
                        dropout_db: float = AMBIENCE_DROPOUT_DB, min_dropout_ms: float = 20.0,
                        jump_db: float = AMBIENCE_JUMP_DB, edge_s: float = 1.0,
                        change_margin_s: float = 0.5) -> ContinuityResult:
    """Find dropouts and abrupt level jumps in an ambience bed.

    Parameters
    ----------
    ambience : np.ndarray, shape (n_samples, n_channels)
    sample_rate : int
    scene_changes_s : sequence of float
        Times where the scene changes; changes within ``change_margin_s`` of
        them are expected and not reported.
    reference : np.ndarray, shape (n_samples, n_channels), optional
        The bed as it was generated (the scene's ambience clip placed where
        the stem has it). With it the stem's *gain* is followed (stem level
        minus clip level), so the bed's own events (a far door, a gust) are
        not taken for edits.
    dropout_db : float
        A stretch this far under the median level (or gain) is a dropout.
    min_dropout_ms : float
        Shortest reported dropout.
    jump_db : float
        A lasting change larger than this, most of it within 30 ms, is a jump.
    edge_s : float
        Fades at the very start and end are allowed this long.
    change_margin_s : float

    Returns
    -------
    ContinuityResult

    Notes
    -----
    Levels are 20 ms RMS windows every 10 ms. The usual level is their median (with a reference:
    the 80th percentile of the gain, which stays put under a dropout of most of the scene). A jump compares the median
    over 280 ms before and after a moment with a reference (1 s without one),
    and needs 70% of the change within 30 ms of it.

    Taught in ``lessons/07_four_layers.ipynb`` (ambience).
    """
    sr = int(sample_rate)
    ambience = np.asarray(ambience, dtype=np.float32)
    t, lv = level_db(ambience, sample_rate=sr, win_ms=20.0, hop_ms=10.0)
    if lv.size == 0 or lv.max() <= -190:
        return ContinuityResult([], [], float("-inf"), True)
    valid = np.ones(lv.size, bool)
    if reference is not None:
        reference = np.asarray(reference, dtype=np.float32)
        if reference.shape[0] != ambience.shape[0]:
            raise ParameterError("ambience_continuity: reference must have as many samples as the ambience stem.")
        _, lr = level_db(reference, sample_rate=sr, win_ms=20.0, hop_ms=10.0)
        valid = lr > np.median(lr) - 25.0
        lv = lv - lr
    dur = ambience.shape[0] / sr
    inner = (t >= edge_s) & (t <= dur - edge_s)
    pool = lv[inner & valid] if (inner & valid).any() else lv[valid]
    # the usual level: the median; with a reference the gain is steady, so its 80th percentile (a dropout
    # longer than half the scene would otherwise become the usual level)
    med = float(np.percentile(pool, 80)) if reference is not None else float(np.median(pool))
    changes = np.asarray(list(scene_changes_s), dtype=float)

    def near_change(x):
        return bool(changes.size) and bool(np.any(np.abs(changes - x) <= change_margin_s))

    low = (lv < med - dropout_db) & inner & valid
    dropouts = []
    a = np.concatenate([[0], low.astype(np.int8), [0]])
    d = np.diff(a)
    for s0, e0 in zip(np.nonzero(d == 1)[0], np.nonzero(d == -1)[0]):
        st, en = float(t[s0] - 0.01), float(t[e0 - 1] + 0.01)
        if en - st + 1e-9 < min_dropout_ms / 1000.0 + 0.02:  # a 20 ms window overlaps the gap's edges
            continue
        if near_change(st) or near_change(en):
            continue
        depth = float(med - lv[s0:e0].min())
        dropouts.append({"start_s": round(st, 3), "end_s": round(en, 3),
                         "depth_db": round(depth, 1) if np.isfinite(depth) else None})
    half = 28 if reference is not None else 100
    jumps = []
    cand = []
    # the medians before and after each moment, all at once where every window is valid (the usual case;
    # the same numbers as np.median of each window), else one by one
    idx = np.arange(half + 2, lv.size - half - 2)
    pre_all = post_all = None
    if idx.size and valid.all():
        win = np.lib.stride_tricks.sliding_window_view(lv, half - 2)
        pre_all = np.median(win[idx - half], axis=1)
        post_all = np.median(win[idx + 2], axis=1)
    for j, i in enumerate(idx):
        tt = float(t[i])
        if tt < edge_s or tt > dur - edge_s:
            continue
        if pre_all is not None:
            pre, post = pre_all[j], post_all[j]
        else:
            w0, w1 = valid[i - half : i - 2], valid[i + 2 : i + half]
            if w0.sum() < half // 2 or w1.sum() < half // 2:
                continue
            pre = np.median(lv[i - half : i - 2][w0])
            post = np.median(lv[i + 2 : i + half][w1])
        ch = post - pre
        if abs(ch) <= jump_db:
            continue
        quick = np.mean(lv[i + 1 : i + 4]) - np.mean(lv[i - 3 : i])
        if np.sign(quick) == np.sign(ch) and abs(quick) >= 0.7 * jump_db and not near_change(tt):
            cand.append((i, float(ch)))
    k = 0
    while k < len(cand):
        j = k
        while j + 1 < len(cand) and cand[j + 1][0] - cand[j][0] <= 10:
            j += 1
        i_best, ch_best = max(cand[k : j + 1], key=lambda c: abs(c[1]))
        tt = float(t[i_best])
        if not any(dp["start_s"] - 0.35 <= tt <= dp["end_s"] + 0.35 for dp in dropouts):
            jumps.append({"time_s": round(tt, 3), "change_db": round(ch_best, 1)})
        k = j + 1
    return ContinuityResult(dropouts, jumps, med, False)


@dataclass
class NoiseFloorResult:
    """The dialogue stem between lines.

    Attributes
    ----------
    floor_dbfs : float or None
        RMS level (dBFS) of the stem between lines; None if there is no pause
        long enough to measure.
    pause_s : float
        Total length of the pauses measured.
    dialogue_dbfs : float or None
        RMS level while dialogue is active, for comparison.
    clipped_runs, clipped_samples : int
    first_clip_s : float or None
    """

    floor_dbfs: float | None
    pause_s: float
    dialogue_dbfs: float | None
    clipped_runs: int
    clipped_samples: int
    first_clip_s: float | None


def dialogue_noise_floor(dialogue, *, lines=(), activity: Activity | None = None,
                         sample_rate: int = SAMPLE_RATE, before_s: float = 0.3, after_s: float = 0.5,
                         min_pause_s: float = 0.5) -> NoiseFloorResult:
    """Measure the noise floor of the dialogue stem between lines, and its clipping.

    Parameters
    ----------
    dialogue : np.ndarray, shape (n_samples, n_channels)
    lines : sequence of dict
        Cue-sheet lines (``start_s``, ``end_s``); the stretch from
        ``start_s - before_s`` to ``end_s + after_s`` of each is left out.
    activity : Activity, optional
        Detected speech, also left out (with 0.2 s margins), so a misplaced
        line is not taken for noise.
    sample_rate : int
    min_pause_s : float
        Less pause than this in total and the floor is not measured.

    Returns
    -------
    NoiseFloorResult

    Notes
    -----
    Taught in ``lessons/07_four_layers.ipynb`` (clean dialogue).
    """
    sr = int(sample_rate)
    n = dialogue.shape[0]
    keep = np.ones(n, bool)
    for ln in lines:
        s = float(ln.get("start_s", 0.0)) - before_s
        e = float(ln.get("end_s", ln.get("start_s", 0.0))) + after_s
        keep[max(0, int(s * sr)) : max(0, min(n, int(e * sr)))] = False
    speech = np.zeros(n, bool)
    if activity is not None:
        speech = activity.sample_mask()
        for s, e in activity.segments():
            keep[max(0, int((s - 0.2) * sr)) : min(n, int((e + 0.2) * sr))] = False
    p = channel_power(dialogue)
    pause_s = keep.sum() / sr
    floor = None
    if pause_s >= min_pause_s:
        floor = float(10 * np.log10(max(p[keep].mean(), 1e-20)))
    dlg = float(10 * np.log10(max(p[speech].mean(), 1e-20))) if speech.any() else None
    runs, nclip, first = find_clipping(dialogue, level=0.999)
    return NoiseFloorResult(floor, float(pause_s), dlg, runs, nclip, None if first is None else first / sr)


def check_ambience(ctx: CheckContext) -> CheckResult:
    """Run the ``ambience_continuity`` check on the context's deliverable; returns its :class:`CheckResult` (never raises on bad input)."""
    target = "no dropouts or jumps outside scene changes"
    miss = need_files(ctx, "ambience_continuity", "events", target, "ambience")
    if miss:
        return miss
    amb = ctx.deliverable.audio("ambience")
    reference, ref_note = (None, "") if not np.any(amb) else bed_reference(ctx, "ambience", amb)
    r = ambience_continuity(amb, sample_rate=SAMPLE_RATE, scene_changes_s=ctx.cues.scene_changes_s,
                            reference=reference)
    details = {"dropouts": r.dropouts, "jumps": r.jumps, "median_level_db": r.median_level_db,
               "scene_changes_s": ctx.cues.scene_changes_s, "level_from": ref_note}
    if r.silent:
        ok = not ctx.cues.has_ambience
        return CheckResult("ambience_continuity", None, "events", target, ok,
                           "the ambience stem is silent" + (": the scene needs a continuous ambience bed under the "
                                                            "whole scene; put it on the ambience layer." if not ok else "."),
                           details)
    mix_only = _mix_only_changes(ctx, r, reference)
    if mix_only:
        details["dropouts"], details["jumps"] = r.dropouts, r.jumps
        details["mix_only"] = mix_only
    master_moves = []
    if r.jumps:
        master_moves = master_gain_changes(ctx, r.jumps)
        if master_moves:
            moved = {m["time_s"] for m in master_moves}
            r.jumps = [j for j in r.jumps if j["time_s"] not in moved]
            details["jumps"] = r.jumps
            details["master_gain_changes"] = master_moves
    n = len(r.dropouts) + len(r.jumps)
    if n == 0:
        msg = "the ambience runs continuously, without dropouts or jumps."
        if master_moves:
            msg += (" " + fmt_list([f"At {m['time_s']:.2f} s every layer moves {m['change_db']:+.1f} dB together: that is the "
                                    "master's gain (a limiter catching a peak), not the ambience." for m in master_moves], 2))
        return CheckResult("ambience_continuity", 0, "events", target, True, msg, details)
    def where(x):
        return (" in mix.wav (stems/ambience.wav runs on there, but the listener hears the mix)"
                if x.get("measured_on") == "mix.wav" else "")

    msgs = [f"the ambience drops out from {d['start_s']:.2f} s to {d['end_s']:.2f} s{where(d)}" for d in r.dropouts]
    msgs += [f"the ambience level jumps {j['change_db']:+.1f} dB at {j['time_s']:.2f} s{where(j)}" for j in r.jumps]
    return CheckResult("ambience_continuity", n, "events", target, False,
                       fmt_list(msgs, 3) + "; with no scene change there, keep the bed running (crossfade or loop it "
                                            "without gaps, and keep its level steady).", details)


def _mix_only_changes(ctx: CheckContext, r: ContinuityResult, reference) -> list:
    """Dropouts and jumps of the ambience that mix.wav has and the stem does not; added to ``r`` (marked ``measured_on``).

    Looked for only where :func:`layerlab.checks.gates.mix_disagreements` says the mix and the
    stems disagree and names the ambience, on the ambience as the mix holds it
    (:func:`layerlab.checks.gates.layer_in_mix`).
    """
    from layerlab.checks.gates import layer_in_mix, mix_disagreements

    spans = [d for d in mix_disagreements(ctx) if d["layer"] == "ambience"]
    if not spans:
        return []
    heard = layer_in_mix(ctx, "ambience")
    if heard is None:
        return []
    ref = reference
    if ref is not None and ref.shape[0] != heard.shape[0]:
        ref = None
    rm = ambience_continuity(heard, sample_rate=SAMPLE_RATE, scene_changes_s=ctx.cues.scene_changes_s, reference=ref)

    def inside(a, b):
        return any(a <= d["end_s"] + 0.05 and b >= d["start_s"] - 0.05 for d in spans)

    def known(a, b):
        return any(a <= d["end_s"] and b >= d["start_s"] for d in r.dropouts)

    added = []
    for d in rm.dropouts:
        if inside(d["start_s"], d["end_s"]) and not known(d["start_s"], d["end_s"]):
            d = dict(d, measured_on="mix.wav")
            r.dropouts.append(d)
            added.append(d)
    for j in rm.jumps:
        if inside(j["time_s"], j["time_s"]) and not any(abs(j["time_s"] - x["time_s"]) < 0.1 for x in r.jumps) \
                and not known(j["time_s"] - 0.35, j["time_s"] + 0.35):
            j = dict(j, measured_on="mix.wav")
            r.jumps.append(j)
            added.append(j)
    return added


# dialogue_noise_floor floors power at 1e-20 (-200 dBFS); anything this low is digital silence
SILENT_FLOOR_DBFS = -199.0


def check_noise_floor(ctx: CheckContext) -> CheckResult:
    """Run the ``dialogue_noise_floor`` check on the context's deliverable; returns its :class:`CheckResult` (never raises on bad input)."""
    target = f"≤ {NOISE_FLOOR_MAX_DBFS:g} dBFS between lines, no clipping"
    miss = need_files(ctx, "dialogue_noise_floor", "dBFS", target, "dialogue")
    if miss:
        return miss
    if ctx.deliverable.estimated and ctx.cues.dialogue:
        return CheckResult("dialogue_noise_floor", None, "dBFS", target, False,
                           "cannot be measured from a premix: noise between the lines cannot be told apart from the "
                           "other layers without a dialogue stem; hand in stems/dialogue.wav.", {})
    act = get_activity(ctx)
    r = dialogue_noise_floor(ctx.deliverable.audio("dialogue"), lines=ctx.cues.dialogue, activity=act,
                             sample_rate=SAMPLE_RATE)
    details = {"floor_dbfs": r.floor_dbfs, "pause_s": r.pause_s, "dialogue_dbfs": r.dialogue_dbfs,
               "clipped_runs": r.clipped_runs, "clipped_samples": r.clipped_samples}
    msgs = []
    ok = True
    value = r.floor_dbfs
    if value is not None and value <= SILENT_FLOOR_DBFS:
        value = -math.inf  # digital silence: dialogue_noise_floor's log floor (-200 dBFS) is not a level to report
    if r.floor_dbfs is not None and r.floor_dbfs > NOISE_FLOOR_MAX_DBFS:
        ok = False
        msgs.append(f"the dialogue stem carries noise at {r.floor_dbfs:.1f} dBFS between lines (aim for ≤ "
                    f"{NOISE_FLOOR_MAX_DBFS:g} dBFS); gate or denoise the dialogue, or cut the clips tight to the words.")
    if r.clipped_runs and not ctx.deliverable.estimated:  # an estimate's samples are not the learner's
        ok = False
        msgs.append(f"the dialogue is hard-clipped in {r.clipped_runs} places (first at {r.first_clip_s:.2f} s); lower "
                    "its gain before any processing.")
    if ok:
        if r.floor_dbfs is None:
            msg = "no pause between lines long enough to measure a noise floor; no clipping."
        elif math.isinf(value):
            msg = "the dialogue stem is silent between lines, and unclipped."
        else:
            msg = f"the dialogue stem is quiet between lines ({r.floor_dbfs:.1f} dBFS) and unclipped."
        return CheckResult("dialogue_noise_floor", value, "dBFS", target, True, msg, details)
    return CheckResult("dialogue_noise_floor", value, "dBFS", target, False, " ".join(msgs), details)




def master_gain_changes(ctx: CheckContext, jumps: list, *, tolerance_db: float = 2.5, span_s: float = 0.28) -> list:
    """The ambience jumps that the music makes too, at the same moment and by the same amount: the master's gain.

    Parameters
    ----------
    ctx : CheckContext
    jumps : list of dict
        ``time_s`` and ``change_db`` from :func:`ambience_continuity`.
    tolerance_db : float
        The music's change must match the ambience's within this.
    span_s : float
        Medians over this long before and after the jump are compared.

    Returns
    -------
    list of dict
        The jumps (``time_s``, ``change_db``, ``music_change_db``) a master
        gain explains: a limiter on the master moves every stem alike, an edit
        of the ambience moves the ambience alone.

    Notes
    -----
    The music's gain is read against the scene's music clip when the stem
    uses it (:func:`layerlab.checks.context.bed_reference`), else its level.
    """
    dl = ctx.deliverable
    if not dl.files["music"].usable:
        return []
    music = dl.audio("music")
    if not np.any(music):
        return []
    ref, _ = bed_reference(ctx, "music", music)
    t, lv = level_db(music, sample_rate=SAMPLE_RATE, win_ms=20.0, hop_ms=10.0)
    valid = lv > -150
    if ref is not None:
        _, lr = level_db(ref, sample_rate=SAMPLE_RATE, win_ms=20.0, hop_ms=10.0)
        valid &= lr > np.median(lr) - 25.0
        lv = lv - lr
    out = []
    for j in jumps:
        tt, ch = float(j["time_s"]), float(j["change_db"])
        pre = valid & (t >= tt - span_s) & (t <= tt - 0.02)
        post = valid & (t >= tt + 0.02) & (t <= tt + span_s)
        if pre.sum() < 5 or post.sum() < 5:
            continue
        mch = float(np.median(lv[post]) - np.median(lv[pre]))
        if np.sign(mch) == np.sign(ch) and abs(mch - ch) <= tolerance_db:
            out.append({"time_s": j["time_s"], "change_db": j["change_db"], "music_change_db": round(mch, 1)})
    return out
