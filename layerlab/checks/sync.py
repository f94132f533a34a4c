"""The sync checks: SFX on their visual events, dialogue lines on their cues.

Taught in ``lessons/08_measuring_the_mix.ipynb``.
"""

from __future__ import annotations

import numpy as np

from layerlab.errors import LayerLabError
from layerlab.io.audio import SAMPLE_RATE, load_audio
from layerlab.measure.envelopes import channel_mean
from layerlab.measure.sync import SyncResult, dialogue_offsets, sfx_offsets
from layerlab.checks.context import CheckContext, fmt_list, need_files
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
                    search_window_ms=ctx.search_window_ms, window=ctx.sync_window)
    _judge_the_mix(ctx, r)
    ctx.data["sfx_sync"] = r
    return _sync_check("sync", r, "SFX")


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
        r.events[k] = new


def check_dialogue_sync(ctx: CheckContext) -> CheckResult:
    """Run the ``dialogue_sync`` check on the context's deliverable; returns its :class:`CheckResult` (never raises on bad input)."""
    target = ctx.sync_window.describe()
    if not ctx.cues.dialogue:
        return CheckResult("dialogue_sync", None, "ms", target, True, "the scene has no dialogue lines.", {"events": []})
    miss = need_files(ctx, "dialogue_sync", "ms", target, "dialogue")
    if miss:
        return miss
    clips = {}
    for ln in ctx.cues.dialogue:
        p = ctx.cues.clip_path(ln.get("clip"))
        clip = None
        if p is not None:
            try:
                clip = load_audio(p, sample_rate=SAMPLE_RATE, resample=True)
            except LayerLabError:
                clip = None
        clips[str(ln.get("id"))] = clip
    r = dialogue_offsets(ctx.deliverable.audio("dialogue"), ctx.cues.dialogue, clips, sample_rate=SAMPLE_RATE,
                         search_window_ms=ctx.search_window_ms, window=ctx.sync_window)
    ctx.data["dialogue_sync"] = r
    return _sync_check("dialogue_sync", r, "dialogue")


