"""The sync checks: SFX on their visual events, dialogue lines on their cues.

An SFX event counts only with this scene's own take of its effect (the cue sheet's clip, found near the cue on
``stems/sfx.wav`` and in ``mix.wav``): in an assessed variant each learner's effects are their own takes, so a
classmate's deliverable re-timed to the copier's picture events is not in sync (:func:`_judge_the_takes`).

Taught in ``lessons/08_measuring_the_mix.ipynb``.
"""

from __future__ import annotations

import numpy as np

from layerlab.io.audio import SAMPLE_RATE
from layerlab.measure.envelopes import channel_mean
from layerlab.measure.sync import SyncResult, offset_message, dialogue_offsets, sfx_offsets
from layerlab.checks.context import CheckContext, fmt_list, need_files, sfx_onsets
from layerlab.checks.gates import mix_disagreements
from layerlab.checks.report import CheckResult

__all__ = ["check_sync", "check_dialogue_sync"]

def _sync_check(name: str, result: SyncResult, noun: str) -> CheckResult:
    w = result.window
    target = w.describe()
    details = result.to_dict()
    for e, d in zip(result.events, details["events"]):
        if getattr(e, "measured_on", None):  # measured on mix.wav where it disagrees with the stems
            d["measured_on"], d["stem_offset_ms"] = e.measured_on, e.stem_offset_ms
        if getattr(e, "take_correlation", None) is not None:  # this scene's own take of the effect, matched
            d["take_correlation"] = e.take_correlation
    if not result.events:
        return CheckResult(name, None, "ms", target, True, f"the scene has no {noun} cues.", details)
    worst = result.worst
    value = worst.offset_ms if worst is not None else None
    details["worst_id"] = worst.id if worst is not None else None
    bad = [e for e in result.events if not e.passed]
    if not bad:
        return CheckResult(name, value, "ms", target, True,
                           f"all {len(result.events)} {noun} cues are in sync (worst {value:+.0f} ms, window {target}).",
                           details)
    msgs = [e.message for e in bad]
    missing = [e for e in bad if not e.found]
    lead = f"{len(bad)} of {len(result.events)} {noun} cues out of sync"
    if missing:
        lead += f" ({len(missing)} missing)"
    return CheckResult(name, value, "ms", target, False, lead + ": " + fmt_list(msgs), details)


def check_sync(ctx: CheckContext) -> CheckResult:
    """Run the ``sync`` check on the context's deliverable; returns its :class:`CheckResult` (never raises on bad input)."""
    target = ctx.sync_window.describe()
    if not ctx.cues.events:
        return CheckResult("sync", None, "ms", target, True, "the scene has no visual events to sync.", {"events": []})
    miss = need_files(ctx, "sync", "ms", target, "sfx")
    if miss:
        return miss
    r = sfx_offsets(ctx.deliverable.audio("sfx"), ctx.cues.events, sample_rate=SAMPLE_RATE,
                    search_window_ms=ctx.search_window_ms, window=ctx.sync_window, onsets=sfx_onsets(ctx))
    _judge_the_takes(ctx, r)
    _judge_the_mix(ctx, r)
    ctx.data["sfx_sync"] = r
    return _sync_check("sync", r, "SFX")


MIN_TAKE_CORRELATION_STEM = 0.6
"""This scene's own take of an effect is on ``stems/sfx.wav`` near its cue when it correlates at least this well there
(measured margins in :func:`_judge_the_takes`: own takes 0.66-1, a classmate's 0.48 at most)."""
MIN_TAKE_CORRELATION_MIX = 0.1
"""The take is heard in ``mix.wav`` (less the beds and lines found there) when it correlates at least this well there:
a floor for presence, since a quiet effect under a line is diluted (own takes 0.22-1); the take itself is told on the stem."""
PRE_EMPHASIS = 0.97
"""``y[n] - 0.97 * y[n - 1]`` on clip and signal before they are correlated (see :func:`_judge_the_takes`)."""


def _pre_emphasis(x: np.ndarray) -> np.ndarray:
    y = x.copy()
    y[1:] -= PRE_EMPHASIS * x[:-1]
    return y


def _judge_the_takes(ctx: CheckContext, r: SyncResult) -> None:
    """Each event counts only with this scene's own take of its effect: found near its cue in the SFX stem and in mix.wav.

    In an assessed variant every learner has their own takes of the effects (other noise, other pitch): a
    classmate's deliverable re-timed to the copier's picture events has a sound at every cue, but not the
    copier's. As :func:`layerlab.checks.heard.found_dialogue` does for the lines, the event's clip is
    looked for near its cue (:func:`layerlab.checks.heard.find_clip_near`, the same normalised waveform
    correlation) in ``stems/sfx.wav`` and in ``mix.wav`` less the beds and lines found there. Where it is
    found, the event's offset is where the clip starts on the stem (to the sample, whatever the onset
    detector made of it); where it is not, the event is not in sync, and the message says the sound is
    not this scene's effect. The teaching scenes' takes are the kit's own clips. Skipped for stems
    estimated from a premix (they are built from the scene's clips) and for events without a readable clip.

    Notes
    -----
    Both signals and the clip are pre-emphasised first (``y[n] - 0.97 y[n-1]``): a door's deterministic
    low thump would otherwise dominate the correlation, and two learners' doors drawn with the same
    thump and pitch would match (0.96); with it the seeded noise of each take (body, latch, rattle,
    the cup's knock) carries the decision.

    Measured margins (``lab2_hybrid_mix``, the reference solution on four learners' variants; each
    learner's clip of each of the 4 events looked for near the mix owner's cues: 16 own, 48 foreign pairs):

    ===========================================  ================  ============
    normalised correlation                       stems/sfx.wav     mix.wav less beds and lines
    ===========================================  ================  ============
    own take, as the reference places it         0.99-1.00         0.50-1.00
    own take, +6 dB / -6 dB                      0.99-1.00         0.26-1.00
    own take, +4 dB presence shelf at 2 kHz      0.94-0.97         0.58-0.97
    own take, low-passed at 4 kHz / 2 kHz        0.87-0.94 / 0.66  0.42 / 0.22
    own take, ambience 10 dB louder              0.99-1.00         0.50-1.00
    a classmate's take (max; same door thump     0.48 (0.14 mean)  0.32
    and pitch drawn for both: 0.48)
    ===========================================  ================  ============

    Hence :data:`MIN_TAKE_CORRELATION_STEM` = 0.6 decides whose take it is, and
    :data:`MIN_TAKE_CORRELATION_MIX` = 0.1 only asks that the listener hears it: in the mix, a quiet
    effect under the start of a line is too diluted to tell one take from another.
    """
    from layerlab.measure.sync import EventOffset
    from layerlab.checks.context import load_clip
    from layerlab.checks.heard import find_clip_near, found_dialogue, heard_layers

    dl = ctx.deliverable
    if dl.estimated:
        return
    clips = {}
    for ev in ctx.cues.events:
        c = load_clip(ctx.cues, ev.get("clip"))
        if c is not None and np.any(c):
            clips[str(ev.get("id"))] = _pre_emphasis(channel_mean(c.astype(np.float64)))
    if not clips:
        return
    # only the stretch around each cue is read: the rest of the files never enters this check's arithmetic
    layers = {"stems/sfx.wav": (dl.audio("sfx"), [], MIN_TAKE_CORRELATION_STEM)}
    if dl.files["mix"].usable:
        heard, fd = heard_layers(ctx), found_dialogue(ctx)
        less = ([] if heard is None else list(heard.beds.values())) + ([] if fd is None else [fd.dialogue])
        layers["mix.wav"] = (dl.audio("mix"), less, MIN_TAKE_CORRELATION_MIX)
    sr = SAMPLE_RATE
    w = int(round(ctx.search_window_ms * sr / 1000.0))
    win = ctx.sync_window
    for k, e in enumerate(r.events):
        clip = clips.get(e.id)
        if clip is None:
            continue
        cue = int(round(e.cue_s * sr))
        got = {}
        for where, (audio, less, _) in layers.items():
            a, b = max(0, cue - w), min(audio.shape[0], cue + clip.size + w)
            x = channel_mean(audio[a:b].astype(np.float64))
            for part in less:
                x[: max(0, min(b, part.shape[0]) - a)] -= channel_mean(part[a:b].astype(np.float64))
            start, corr = find_clip_near(_pre_emphasis(x), clip, cue=cue - a, window=w,
                                         min_overlap_s=min(clip.size, x.size) / sr)
            got[where] = (a + start, corr)
        short = [where for where, (_, _, thr) in layers.items() if got[where][1] < thr]
        if short:
            if not e.found:
                continue  # nothing there at all: the onset detector's message says so
            where = short[0]
            corr = got[where][1]
            if where == "stems/sfx.wav":
                msg = (f"the sound at the {e.id} cue ({e.cue_s:.3f} s) is not this scene's {e.id} effect: this scene's "
                       f"{e.id} clip matches stems/sfx.wav only {corr:.2f} there (its own take, even EQ'd, matches "
                       f"{MIN_TAKE_CORRELATION_STEM:g} or more); place this scene's {e.id} clip at {e.cue_s:.3f} s.")
            else:
                msg = (f"this scene's {e.id} effect is on stems/sfx.wav but is not heard in mix.wav near its cue at "
                       f"{e.cue_s:.3f} s (match {corr:.2f}); export the mix again with the SFX in it.")
            new = EventOffset(e.id, e.label, "sfx", e.cue_s, None, None, False, False, max(corr, 0.0), msg)
        else:
            start = got["stems/sfx.wav"][0]
            det = start / sr
            off = (det - e.cue_s) * 1000.0
            new = EventOffset(e.id, e.label, "sfx", e.cue_s, det, off, True, win.contains(off),
                              float(got["stems/sfx.wav"][1]), offset_message("sfx", e.label or e.id, e.cue_s, off, win))
        new.take_correlation = {where: round(float(c), 3) for where, (_, c) in got.items()}
        r.events[k] = new


MIX_MATCH_MIN_NCC = 0.4
"""The stem's sound counts as present in mix.wav when it correlates at least this well there."""


def _judge_the_mix(ctx: CheckContext, r: SyncResult) -> None:
    """Where mix.wav and the stems disagree near an event, the event's sound is looked for in mix.wav itself.

    The listener hears the mix: a cup moved or dropped in ``mix.wav`` alone changes that event's
    result, and the message says so; the stem's own figure stays in ``stem_offset_ms``.

    Notes
    -----
    The sound as the SFX stem has it (5 ms before its onset to 300 ms after) is the template; its
    best normalised cross-correlation (:func:`layerlab.measure.correlation.sliding_ncc`) within the
    search window in the mix gives where the mix has it. A limiter's gain changes the level, not the
    correlation, so a master limiter on the mix alone moves nothing.
    """
    from layerlab.measure.correlation import sliding_ncc
    from layerlab.measure.sync import EventOffset

    local = mix_disagreements(ctx)
    if not local:
        return
    dl = ctx.deliverable
    sfx = channel_mean(dl.audio("sfx").astype(np.float64))
    mix = channel_mean(dl.audio("mix").astype(np.float64))
    sr = SAMPLE_RATE
    sw = int(ctx.search_window_ms * sr / 1000.0)
    margin = ctx.search_window_ms / 1000.0
    w = ctx.sync_window
    for k, e in enumerate(r.events):
        if not e.found or not any(d["start_s"] - margin <= e.cue_s <= d["end_s"] + margin for d in local):
            continue
        on = int(round(e.detected_s * sr))
        t0 = max(0, on - int(0.005 * sr))
        tpl = sfx[t0 : on + int(0.3 * sr)]
        lo = max(0, t0 - sw)
        seg = mix[lo : t0 + sw + tpl.size]
        xc = sliding_ncc(seg, tpl)
        if xc.size == 0:
            continue
        j = int(np.argmax(xc))
        label = e.label or e.id
        if xc[j] < MIX_MATCH_MIN_NCC:
            msg = (f"in mix.wav there is no sound for '{label}' near its cue at {e.cue_s:.3f} s, though stems/sfx.wav has "
                   f"it ({e.offset_ms:+.0f} ms): the listener hears mix.wav; export the mix again with the SFX in it.")
            new = EventOffset(e.id, e.label, "sfx", e.cue_s, None, None, False, False, 0.0, msg)
        else:
            shift = (lo + j - t0) / sr
            if abs(shift) * 1000.0 <= 2.0:
                continue
            det = e.detected_s + shift
            off = (det - e.cue_s) * 1000.0
            ok = w.contains(off)
            where = "in sync" if ok else (f"{off:.0f} ms late" if off > 0 else f"{-off:.0f} ms early")
            msg = (f"in mix.wav the sound for '{label}' is {where} (cue at {e.cue_s:.3f} s), but stems/sfx.wav has it at "
                   f"{e.offset_ms:+.0f} ms, and the listener hears mix.wav"
                   + ("." if ok else f"; move it {abs(off):.0f} ms {'earlier' if off > 0 else 'later'} in the mix "
                                     f"(allowed {w.describe()})."))
            new = EventOffset(e.id, e.label, "sfx", e.cue_s, det, off, True, ok, float(xc[j]), msg)
        new.measured_on = "mix.wav"
        new.stem_offset_ms = e.offset_ms
        new.take_correlation = getattr(e, "take_correlation", None)
        r.events[k] = new


def check_dialogue_sync(ctx: CheckContext) -> CheckResult:
    """Run the ``dialogue_sync`` check on the context's deliverable; returns its :class:`CheckResult` (never raises on bad input)."""
    target = ctx.sync_window.describe()
    if not ctx.cues.dialogue:
        return CheckResult("dialogue_sync", None, "ms", target, True, "the scene has no dialogue lines.", {"events": []})
    miss = need_files(ctx, "dialogue_sync", "ms", target, "dialogue")
    if miss:
        return miss
    from layerlab.checks.context import load_clip

    clips = {str(ln.get("id")): load_clip(ctx.cues, ln.get("clip")) for ln in ctx.cues.dialogue}
    r = dialogue_offsets(ctx.deliverable.audio("dialogue"), ctx.cues.dialogue, clips, sample_rate=SAMPLE_RATE,
                         search_window_ms=ctx.search_window_ms, window=ctx.sync_window)
    ctx.data["dialogue_sync"] = r
    return _sync_check("dialogue_sync", r, "dialogue")


