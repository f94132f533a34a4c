"""The gate checks: the deliverable's format, and stems that add up to the mix.

A failed gate zeroes a lab's mix score (``autograder/rubric.json``).
Taught in ``lessons/08_measuring_the_mix.ipynb``.
"""

from __future__ import annotations

import math

import numpy as np

from layerlab.io.audio import SAMPLE_RATE
from layerlab.io.deliverable import STEM_NAMES
from layerlab.checks.context import (STEMS_SUM_MAX_DB, CheckContext, fmt_list, get_activity, key_lock, need_files,
                                     sfx_onsets)
from layerlab.checks.report import CheckResult

__all__ = ["check_format", "check_stems_sum", "local_disagreements", "mix_disagreements", "layer_in_mix", "scene_misfit", "LOCAL_RESIDUAL_MAX_DB", "LIMITER_MAX_DB"]

LOCAL_RESIDUAL_MAX_DB = -20.0
"""Largest residual of mix minus (gain x stems) in any 10 ms window, re. that window of the mix."""
LIMITER_MAX_DB = -6.0
"""Deepest gain a gentle limiter on the mix alone may apply (the stems then lack it)."""

def check_format(ctx: CheckContext) -> CheckResult:
    """Run the ``format`` check on the context's deliverable; returns its :class:`CheckResult` (never raises on bad input)."""
    dl = ctx.deliverable
    errors = dl.errors
    warnings = [p for p in dl.problems if p.severity == "warning"]
    details = {"files": {k: v.to_dict() for k, v in dl.files.items()},
               "warnings": [w.to_dict() for w in warnings]}
    target = f"48 kHz stereo WAV, {ctx.cues.duration_s:g} s ±1 frame, 4 stems, no clipping, fits the scene"
    misfit = scene_misfit(ctx)
    details["scene_misfit"] = misfit
    if misfit:
        msg = (f"this does not look like scene {ctx.cues.scene}: " + "; ".join(misfit)
               + f". Check that you mixed {ctx.cues.scene} (its cue sheet) and handed in that deliverable.")
        if errors:
            msg += " Also: " + fmt_list([e.message for e in errors], 2)
        return CheckResult("format", len(errors) + len(misfit), "problems", target, False, msg, details)
    if not errors:
        msg = "mix and all four stems are 48 kHz stereo, the scene's length, and unclipped."
        if warnings:
            msg += " Note: " + fmt_list([w.message for w in warnings], 2)
        return CheckResult("format", 0, "problems", target, True, msg, details)
    return CheckResult("format", len(errors), "problems", target, False,
                       fmt_list([e.message for e in errors]), details)


def check_stems_sum(ctx: CheckContext) -> CheckResult:
    """Run the ``stems_sum`` check on the context's deliverable; returns its :class:`CheckResult` (never raises on bad input)."""
    target = f"residual ≤ {STEMS_SUM_MAX_DB:g} dB re. mix"
    if ctx.deliverable.estimated:
        return CheckResult("stems_sum", None, "dB", target, False,
                           "the submission has no stems (only a premixed track), so nothing can add up to the mix; "
                           "hand in the four stems with the mix.", {"stems_estimated": True})
    miss = need_files(ctx, "stems_sum", "dB", target, "mix", *STEM_NAMES)
    if miss:
        return miss
    dl = ctx.deliverable
    mix = dl.audio("mix").astype(np.float64)
    total = sum(dl.audio(s).astype(np.float64) for s in STEM_NAMES)
    e_mix = float(np.sum(mix * mix))
    res = mix - total
    e_res = float(np.sum(res * res))
    if e_mix == 0.0:
        return CheckResult("stems_sum", None, "dB", target, False,
                           "mix.wav is silent, so the stems cannot add up to it; export the mix again.", {})
    ratio = 10 * math.log10(max(e_res, 1e-30) / e_mix)
    e_tot = float(np.sum(total * total))
    gain_db = None
    if e_tot > 0:
        g = float(np.sum(mix * total) / e_tot)
        if g > 0:
            gain_db = 20 * math.log10(g)
    details = {"residual_db": ratio, "mix_over_stems_gain_db": gain_db}
    local = mix_disagreements(ctx)
    details["local"] = local
    if ratio <= STEMS_SUM_MAX_DB and not local:
        return CheckResult("stems_sum", ratio, "dB", target, True,
                           f"the four stems add up to the mix (what is left over is {ratio:.1f} dB under it, and "
                           "nowhere more than a limiter explains).", details)
    if ratio <= STEMS_SUM_MAX_DB or (gain_db is not None and abs(gain_db) <= 0.5):
        if local:
            worst = max(local, key=lambda d: d["residual_db"])
            msgs = [f"from {d['start_s']:.2f} to {d['end_s']:.2f} s ({d['layer']} layer: the mix there is not what "
                    f"stems/{d['layer']}.wav has{'; the stems are ' + format(-d['gain_db'], '.1f') + ' dB louder' if d['gain_db'] < LIMITER_MAX_DB else ''})"
                    for d in local]
            return CheckResult("stems_sum", worst["residual_db"], "dB", target, False,
                               "mix.wav and the stems disagree by more than a limiter explains "
                               + fmt_list(msgs, 3) + ". The listener hears mix.wav: fix it there (or re-export mix and "
                               "stems from one render).", details)
    fit_res = None
    if gain_db is not None:
        r2 = mix - (10 ** (gain_db / 20)) * total
        fit_res = 10 * math.log10(max(float(np.sum(r2 * r2)), 1e-30) / e_mix)
    if gain_db is not None and fit_res is not None and fit_res <= STEMS_SUM_MAX_DB and abs(gain_db) > 0.5:
        msg = (f"the stems add up to the mix only after a {gain_db:+.1f} dB gain: the master gain was applied to the "
               "mix but not to the stems. Export the stems through the same master section as the mix.")
    else:
        msg = (f"the stems do not add up to the mix (the difference is only {-ratio:.1f} dB under it; allowed: "
               f"{-STEMS_SUM_MAX_DB:g} dB). Export mix and stems from the same render, with no extra processing on "
               "the mix beyond a gentle limiter.")
    return CheckResult("stems_sum", ratio, "dB", target, False, msg, details)




def local_disagreements(mix: np.ndarray, stems: dict, *, sample_rate: int = SAMPLE_RATE, window_ms: float = 10.0,
                        min_level_dbfs: float = -50.0, min_run_ms: float = 30.0,
                        join_ms: float = 300.0) -> list[dict]:
    """Where the mix is not the stems' sum, beyond what a limiter on the mix explains.

    Parameters
    ----------
    mix : np.ndarray, shape (n_samples, n_channels)
    stems : dict of str to np.ndarray, shape (n_samples, n_channels)
    sample_rate : int
    window_ms : float
        Each window fits one gain (a limiter's gain moves slower than this).
    min_level_dbfs : float
        Windows where both the mix and the stems' sum are quieter are not judged.
    min_run_ms : float
        Shorter disagreements are not reported.
    join_ms : float
        Disagreements closer than this are one stretch.

    Returns
    -------
    list of dict
        ``start_s``, ``end_s``, ``residual_db`` (worst window, re. the mix),
        ``gain_db`` (median fitted gain in the stretch) and ``layer`` (the stem
        the residual resembles most: the layer at fault).

    Notes
    -----
    In each window the gain g that best maps the stems' sum onto the mix is
    fitted (least squares). A limiter on the mix alone gives 0 to
    :data:`LIMITER_MAX_DB` dB with a tiny residual; a sound moved, dropped or
    added in the mix alone leaves a residual over :data:`LOCAL_RESIDUAL_MAX_DB`.
    """
    total = sum(np.asarray(s, np.float64) for s in stems.values())
    m = np.asarray(mix, np.float64)
    hop = max(1, int(round(sample_rate * window_ms / 1000.0)))
    n = min(m.shape[0], total.shape[0]) // hop
    if n == 0:
        return []
    M = m[: n * hop].reshape(n, hop, -1)
    S = total[: n * hop].reshape(n, hop, -1)
    mm = (M * M).sum(axis=(1, 2))
    ss = (S * S).sum(axis=(1, 2))
    ms = (M * S).sum(axis=(1, 2))
    g = np.where(ss > 0, ms / np.maximum(ss, 1e-30), 0.0)
    res = mm - 2 * g * ms + g * g * ss
    floor = hop * m.shape[1] * 10 ** (min_level_dbfs / 10)
    judged = (mm > floor) | (ss > floor)
    r_db = 10 * np.log10(np.maximum(res, 1e-30) / np.maximum(np.maximum(mm, ss * 1e-3), 1e-30))
    g_db = 20 * np.log10(np.maximum(g, 1e-6))
    bad = judged & ((r_db > LOCAL_RESIDUAL_MAX_DB) | (g_db < LIMITER_MAX_DB) | (g_db > 1.0))
    out = []
    a = np.concatenate([[0], bad.astype(np.int8), [0]])
    d = np.diff(a)
    starts, ends = np.nonzero(d == 1)[0], np.nonzero(d == -1)[0]
    # join stretches less than join_ms apart (under loud passages a missing quiet layer hides)
    runs = []
    for s0, e0 in zip(starts, ends):
        if runs and (s0 - runs[-1][1]) * window_ms < join_ms:
            runs[-1][1] = e0
        else:
            runs.append([s0, e0])
    for s0, e0 in runs:
        if (e0 - s0) * window_ms < min_run_ms:
            continue
        a0, b0 = s0 * hop, e0 * hop
        # which layer is off: fit the mix in this stretch as a weighted sum of the stems; the stem whose
        # weight strays furthest from the others' (weighted by its energy) is the one the mix does not match
        names = list(stems)
        cols = np.stack([np.asarray(stems[k][a0:b0], np.float64).ravel() for k in names], axis=1)
        coef = np.linalg.lstsq(cols, m[a0:b0].ravel(), rcond=None)[0]
        energy = (cols * cols).sum(axis=0)
        present = energy >= 0.01 * energy.sum()
        common = float(np.median(coef[present])) if present.any() else 1.0
        off = (coef - common) ** 2 * energy
        best = names[int(np.argmax(off))] if off.max() > 0 else "mix"
        sel = bad[s0:e0] & judged[s0:e0]
        out.append({"start_s": round(s0 * window_ms / 1000.0, 3), "end_s": round(e0 * window_ms / 1000.0, 3),
                    "residual_db": round(float(np.max(r_db[s0:e0][sel])) if sel.any() else 0.0, 1),
                    "gain_db": round(float(np.median(g_db[s0:e0])), 1), "layer": best})
    return out


def mix_disagreements(ctx: CheckContext) -> list[dict]:
    """:func:`local_disagreements` of the deliverable's mix and stems (computed once per run; [] when a file is unusable).

    The checks of single layers (sync, ambience continuity) look at ``mix.wav`` itself where it
    disagrees with the stems, so a flaw present only in the mix fails its own check.
    """
    with key_lock(ctx, "local"):
        if "local" not in ctx.data:
            dl = ctx.deliverable
            ok = not dl.estimated and all(dl.files[f].usable for f in ("mix", *STEM_NAMES))
            ctx.data["local"] = (local_disagreements(dl.audio("mix"), {s: dl.audio(s) for s in STEM_NAMES},
                                                     sample_rate=SAMPLE_RATE) if ok else [])
        return ctx.data["local"]


def layer_in_mix(ctx: CheckContext, layer: str) -> np.ndarray | None:
    """One layer as ``mix.wav`` holds it: the mix minus the other three stems at the mix's gain over the stems.

    Parameters
    ----------
    ctx : CheckContext
    layer : str
        ``dialogue``, ``sfx``, ``ambience`` or ``music``.

    Returns
    -------
    np.ndarray, shape (n_samples, n_channels), float32, or None
        None when a file is unusable or the stems are estimates. Where the mix and the stems agree
        this is the layer's stem (times the master gain); where the mix alone moved, dropped or
        added a sound of ``layer``, it shows here and not on the stem.

    Notes
    -----
    The other layers' gain in the mix is fitted by least squares in 10 ms windows (a limiter's
    moving gain, which the mix and the stems need not share where the mix alone changed), median
    over 70 ms; a little of the other layers may remain, so callers look here only where
    :func:`mix_disagreements` names a stretch.
    """
    dl = ctx.deliverable
    if dl.estimated or not all(dl.files[f].usable for f in ("mix", *STEM_NAMES)):
        return None
    from scipy.ndimage import median_filter

    mix = dl.audio("mix").astype(np.float64)
    n = min(mix.shape[0], *(dl.audio(s).shape[0] for s in STEM_NAMES))
    mix = mix[:n]
    total = sum(dl.audio(s)[:n].astype(np.float64) for s in STEM_NAMES)
    e = float(np.sum(total * total))
    g0 = float(np.sum(mix * total) / e) if e > 0 else 1.0
    others = sum(dl.audio(s)[:n].astype(np.float64) for s in STEM_NAMES if s != layer)
    # the master's moving gain (a limiter) differs where the mix alone changed: follow it in 10 ms windows,
    # fitted on the other layers only, and take the median of 7 windows so the layer's own sound hardly leaks in
    hop = SAMPLE_RATE // 100
    k = n // hop
    g = np.full(k, g0)
    if k:
        M, O = mix[: k * hop].reshape(k, hop, -1), others[: k * hop].reshape(k, hop, -1)
        oo = (O * O).sum(axis=(1, 2))
        mo = (M * O).sum(axis=(1, 2))
        loud = oo > hop * mix.shape[1] * 1e-7  # others over -70 dBFS
        g[loud] = mo[loud] / oo[loud]
        g = median_filter(g, size=7, mode="nearest")
    gs = np.interp(np.arange(n), (np.arange(k) + 0.5) * hop, g) if k else np.full(n, g0)
    return (mix - gs[:, None] * others).astype(np.float32)


def scene_misfit(ctx: CheckContext, *, speech_min_s: float = 1.0, match_window_s: float = 0.5) -> list[str]:
    """Reasons the deliverable does not belong to the scene it is checked against (empty when it fits).

    Parameters
    ----------
    ctx : CheckContext
    speech_min_s : float
        This much speech on the dialogue stem, in a scene without dialogue, is a misfit.
    match_window_s : float
        An SFX onset this close to a cued event lines up with it.

    Returns
    -------
    list of str
        One phrase per reason: the length is far off (more than 1 s), there
        is dialogue where the cue sheet has none, or the SFX stem's sounds do
        not line up with the cued events (fewer than half of the events have a
        sound within ``match_window_s`` and most sounds are far from any event).

    Notes
    -----
    A misfit fails the format gate, so a mix of another scene cannot score
    on this one (issue #13: the cafe mix checked as forest_broll scored 10/11).
    """

    cues = ctx.cues
    dl = ctx.deliverable
    out = []
    dur = dl.files["mix"].duration_s
    if dur is not None:
        if abs(dur - cues.duration_s) > 1.0:
            out.append(f"it lasts {dur:.1f} s where the scene lasts {cues.duration_s:g} s")
    if not cues.dialogue and dl.files["dialogue"].usable and not dl.estimated:
        act = get_activity(ctx)
        speech_s = float(act.sample_mask().sum()) / SAMPLE_RATE if act is not None else 0.0
        if speech_s >= speech_min_s:
            out.append(f"it has {speech_s:.1f} s of dialogue where the cue sheet has none")
    if len(cues.events) >= 2 and dl.files["sfx"].usable and not dl.estimated:
        onsets = [o.time_s for o in sfx_onsets(ctx) if o.after_quiet]
        if len(onsets) >= 2:
            ev = np.array([float(e["time_s"]) for e in cues.events])
            on = np.array(onsets)
            hit = np.abs(on[None, :] - ev[:, None]) <= match_window_s
            matched_events = int(hit.any(axis=1).sum())
            stray = int((~hit.any(axis=0)).sum())
            if matched_events < len(ev) / 2 and stray > len(on) / 2:
                out.append(f"only {matched_events} of its {len(ev)} cued events have a sound near them, and "
                           f"{stray} of the {len(on)} sounds on the SFX stem are far from every cue")
    return out
