"""The masking checks: dialogue over music and ambience, and band audibility.

Taught in ``lessons/08_measuring_the_mix.ipynb``.
"""

from __future__ import annotations

import math

import numpy as np

from layerlab.io.audio import SAMPLE_RATE
from layerlab.measure.masking import band_audibility, dialogue_to_background_lu
from layerlab.checks.context import (
    AMBIENCE_LD_MIN_LU,
    BAND_AUDIBILITY_MIN,
    MUSIC_LD_MIN_LU,
    CheckContext,
    k_blocks,
    need_files,
)
from layerlab.checks.heard import found_activity, found_dialogue, found_rest, heard_activity, heard_layers
from layerlab.checks.report import CheckResult

__all__ = ["check_masking", "check_band_audibility"]

def _no_speech(name, unit, target) -> CheckResult:
    return CheckResult(name, None, unit, target, False,
                       "no speech found in stems/dialogue.wav, so masking cannot be measured; put the dialogue lines on "
                       "the dialogue layer.", {})


def check_masking(ctx: CheckContext) -> CheckResult:
    """Run the ``masking`` check on the context's deliverable; returns its :class:`CheckResult` (never raises on bad input)."""
    target = f"≥ {MUSIC_LD_MIN_LU:g} LU over music, ≥ {AMBIENCE_LD_MIN_LU:g} LU over ambience"
    if not ctx.cues.dialogue:
        return CheckResult("masking", None, "LU", target, True, "the scene has no dialogue to mask.", {})
    miss = need_files(ctx, "masking", "LU", target, "dialogue", "music", "ambience")
    if miss:
        return miss
    act = heard_activity(ctx)
    if act is None or not act.active.any():
        return _no_speech("masking", "LU", target)
    dl = ctx.deliverable
    heard = heard_layers(ctx)
    stem_d = dl.audio("dialogue")
    n = stem_d.shape[0] if heard is None else heard.dialogue.shape[0]
    stem_d = stem_d[:n]
    # the stems' figures, and the same figures on what mix.wav holds (the layers found in it by the scene's
    # clips): the worse one is judged, so stems can say which layer is at fault but never excuse the mix
    # each signal is K-weighted once (k_blocks) though it enters several comparisons
    def lu(key_d, d, key_b, b, active=act):
        return dialogue_to_background_lu(d, b, sample_rate=SAMPLE_RATE, active=active,
                                         dialogue_power=k_blocks(ctx, key_d, d), background_power=k_blocks(ctx, key_b, b))

    own = {k: lu("stem:dialogue", stem_d, f"stem:{k}", dl.audio(k)[:n]) for k in ("music", "ambience")}
    found = {}
    if heard is not None:
        found = {k: lu("heard:dialogue", heard.dialogue, f"heard:{k}", heard.beds[k]) for k in heard.beds}
    # the scene's own dialogue clips found in mix.wav: what the listener hears as this scene's dialogue (music
    # written onto the dialogue stem is not in it); against it, each bed as found, and music the scene's clip
    # does not explain as the rest of the mix
    fd = found_dialogue(ctx)
    by_lines = {}
    act_l = found_activity(ctx)
    if act_l is not None and act_l.active.any() and heard is not None:
        fdl = fd.dialogue[:n]
        for k in ("music", "ambience"):
            if k in heard.beds:  # the found lines K-weighted once for both beds; each bed's blocks as above
                by_lines[k] = lu(f"found:dialogue[:{n}]", fdl, f"heard:{k}", heard.beds[k], active=act_l)
        if "music" not in heard.beds:
            by_lines["music"] = dialogue_to_background_lu(fdl, found_rest(ctx)[:n], sample_rate=SAMPLE_RATE, active=act_l)
    candidates = {k: [c for c in (own[k], found.get(k), by_lines.get(k)) if c is not None and not math.isnan(c.lu)]
                  for k in ("music", "ambience")}
    judged = {k: (min(candidates[k], key=lambda c: c.lu) if candidates[k] else own[k]) for k in ("music", "ambience")}
    m, a = judged["music"], judged["ambience"]
    if heard is not None and dl.files["mix"].usable:
        rest = dl.audio("mix")[:n] - heard.dialogue
        allb = lu("heard:dialogue", heard.dialogue, "mix-minus-heard-dialogue", rest)
    else:
        rest = dl.audio("music")[:n] + dl.audio("ambience")[:n] + (dl.audio("sfx")[:n] if dl.files["sfx"].usable else 0.0)
        allb = lu("stem:dialogue", stem_d, "stems-but-dialogue", rest)
    details = {
        "dialogue_lufs": m.dialogue_lufs,
        "music_lufs": m.background_lufs,
        "ambience_lufs": a.background_lufs,
        "over_music_lu": m.lu,
        "over_ambience_lu": a.lu,
        "over_all_background_lu": allb.lu,
        "speech_blocks": m.n_blocks,
        "speech_fraction": act.fraction,
        "stems_over_music_lu": own["music"].lu,
        "stems_over_ambience_lu": own["ambience"].lu,
        "mix_over_music_lu": found["music"].lu if "music" in found else None,
        "mix_over_ambience_lu": found["ambience"].lu if "ambience" in found else None,
        "measured_on": dict(heard.notes) if heard is not None else "the stems",
        "lines_over_music_lu": by_lines["music"].lu if "music" in by_lines else None,
        "lines_over_ambience_lu": by_lines["ambience"].lu if "ambience" in by_lines else None,
        "lines_found_ms": dict(fd.found) if fd is not None else None,
        "lines_missing": list(fd.missing) if fd is not None else None,
    }
    if fd is not None and not fd.is_this_scenes:
        miss = ", ".join(fd.missing[:6]) + (" ..." if len(fd.missing) > 6 else "")
        return CheckResult("masking", None, "LU", target, False,
                           f"this scene's dialogue is not in mix.wav: {len(fd.missing)} of {fd.n_cued} cued lines ({miss}) "
                           f"are not found within {ctx.search_window_ms:g} ms of their cue times, so masking cannot be "
                           "judged against them; mix the dialogue clips of your own scene folder at their cue times.",
                           details)
    stem_note = {}
    for k, minimum in (("music", MUSIC_LD_MIN_LU), ("ambience", AMBIENCE_LD_MIN_LU)):
        if judged[k] is not own[k] and judged[k].lu < minimum <= own[k].lu:
            stem_note[k] = (f" in mix.wav (stems/{k}.wav alone reads {own[k].lu:.1f} LU: the rest of the {k} you hear "
                            f"is on another stem, and the listener hears mix.wav)")
    if m.n_blocks == 0 or math.isnan(m.lu):
        return CheckResult("masking", None, "LU", target, False,
                           "no 400 ms stretch of speech was found in stems/dialogue.wav, so the level difference cannot "
                           "be measured; check that the dialogue lines are on the dialogue layer.", details)
    ok_m = m.lu >= MUSIC_LD_MIN_LU
    ok_a = a.lu >= AMBIENCE_LD_MIN_LU
    ctx.data["masking_lu"] = {"music": (m.lu, MUSIC_LD_MIN_LU), "ambience": (a.lu, AMBIENCE_LD_MIN_LU)}
    msgs = []
    if not ok_m:
        msgs.append(f"music sits only {m.lu:.1f} LU under the dialogue during speech{stem_note.get('music', '')}; pull "
                    f"it down or duck deeper by {MUSIC_LD_MIN_LU - m.lu:.1f} dB or more, aim for ≥ {MUSIC_LD_MIN_LU:g} LU.")
    if not ok_a:
        msgs.append(f"ambience sits only {a.lu:.1f} LU under the dialogue{stem_note.get('ambience', '')}; lower it by "
                    f"{AMBIENCE_LD_MIN_LU - a.lu:.1f} dB or more, aim for ≥ {AMBIENCE_LD_MIN_LU:g} LU.")
    # the headline is the figure that decides: the layer with the smallest margin over its minimum
    margins = {"music": m.lu - MUSIC_LD_MIN_LU, "ambience": a.lu - AMBIENCE_LD_MIN_LU}
    headline = min(margins, key=lambda k: margins[k])
    value = m.lu if headline == "music" else a.lu
    details["headline"] = headline

    def over(x, what):
        return f"no {what} plays under the dialogue" if math.isinf(x) else f"the dialogue is {x:.1f} LU over the {what}"

    if ok_m and ok_a:
        return CheckResult("masking", value, "LU", target, True,
                           f"during speech, {over(m.lu, 'music')} and {over(a.lu, 'ambience')}.", details)
    return CheckResult("masking", value, "LU", target, False, " ".join(msgs), details)


def check_band_audibility(ctx: CheckContext) -> CheckResult:
    """Run the ``band_audibility`` check on the context's deliverable; returns its :class:`CheckResult` (never raises on bad input)."""
    target = f"≥ {BAND_AUDIBILITY_MIN:g}"
    if not ctx.cues.dialogue:
        return CheckResult("band_audibility", None, "index", target, True, "the scene has no dialogue.", {})
    miss = need_files(ctx, "band_audibility", "index", target, "dialogue")
    if miss:
        return miss
    dl = ctx.deliverable
    heard = heard_layers(ctx)
    others = [s for s in ("sfx", "ambience", "music") if dl.files[s].usable]
    if heard is not None:
        dialogue = heard.dialogue
        rest = dl.audio("mix")[: dialogue.shape[0]] - dialogue
        rest_from = "mix.wav minus the dialogue as heard in it"
    elif len(others) == 3:
        dialogue = dl.audio("dialogue")
        rest = dl.audio("sfx") + dl.audio("ambience") + dl.audio("music")
        rest_from = "the sum of the sfx, ambience and music stems"
    elif dl.files["mix"].usable:
        dialogue = dl.audio("dialogue")
        rest = dl.audio("mix") - dialogue
        rest_from = "the mix minus the dialogue stem"
    else:
        return need_files(ctx, "band_audibility", "index", target, "dialogue", "sfx", "ambience", "music")
    act = heard_activity(ctx)
    if act is None or not act.active.any():
        return _no_speech("band_audibility", "index", target)
    ba = band_audibility(dialogue, rest, sample_rate=SAMPLE_RATE, active=act)
    act_l = found_activity(ctx)
    if heard is not None and act_l is not None and act_l.active.any():
        # against this scene's dialogue clips as found in mix.wav (music written onto the dialogue stem is not
        # dialogue); the worse index is judged
        fdl = found_dialogue(ctx).dialogue[: dialogue.shape[0]]
        ba_l = band_audibility(fdl, dl.audio("mix")[: fdl.shape[0]] - fdl, sample_rate=SAMPLE_RATE, active=act_l)
        if ba_l.index < ba.index:
            ba, rest_from = ba_l, "mix.wav minus this scene's dialogue clips as found in it"
    ctx.data["band_audibility"] = ba
    details = {
        "rest": rest_from,
        "bands": [{"centre_hz": float(c), "snr_db": float(s), "audibility": float(k)}
                  for c, s, k in zip(ba.band_centres_hz, ba.band_snr_db, ba.per_band)],
    }
    if ba.index >= BAND_AUDIBILITY_MIN:
        per = np.asarray(ba.per_band, dtype=float)
        n_ok = int(np.sum(per >= 0.5))
        return CheckResult("band_audibility", ba.index, "index", target, True,
                           f"dialogue is audible over the rest of the mix: index {ba.index:.2f} (≥ {BAND_AUDIBILITY_MIN:g}); "
                           f"{n_ok} of {per.size} bands at 0.5 or more.", details)
    weak = ba.weakest_bands
    where = ", ".join(f"{c:g} Hz" for c in weak) if weak else "several bands"
    return CheckResult("band_audibility", ba.index, "index", target, False,
                       f"dialogue is masked (index {ba.index:.2f}, aim for ≥ {BAND_AUDIBILITY_MIN:g}); the most masked "
                       f"bands are around {where}. Lower or EQ the music/ambience there (a cut of 3-6 dB in those bands), "
                       "or duck deeper.", details)


