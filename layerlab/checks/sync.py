"""The sync checks: SFX on their visual events, dialogue lines on their cues.

Taught in ``lessons/08_measuring_the_mix.ipynb``.
"""

from __future__ import annotations

from layerlab.errors import LayerLabError
from layerlab.io.audio import SAMPLE_RATE, load_audio
from layerlab.measure.sync import SyncResult, dialogue_offsets, sfx_offsets
from layerlab.checks.context import CheckContext, fmt_list, need_files
from layerlab.checks.report import CheckResult

__all__ = ["check_sync", "check_dialogue_sync"]

def _sync_check(name: str, result: SyncResult, noun: str) -> CheckResult:
    w = result.window
    target = w.describe()
    details = result.to_dict()
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
    ctx.data["sfx_sync"] = r
    return _sync_check("sync", r, "SFX")


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


