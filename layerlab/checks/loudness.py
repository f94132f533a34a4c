"""The loudness and true-peak checks of the mix against a delivery profile.

Taught in ``lessons/08_measuring_the_mix.ipynb``.
"""

from __future__ import annotations

import math

import numpy as np

from layerlab.io.audio import SAMPLE_RATE
from layerlab.io.deliverable import find_clipping
from layerlab.checks.context import CheckContext, get_activity, need_files
from layerlab.checks.report import CheckResult

__all__ = ["check_loudness", "check_true_peak"]

def check_loudness(ctx: CheckContext) -> CheckResult:
    """Run the ``loudness`` check on the context's deliverable; returns its :class:`CheckResult` (never raises on bad input)."""
    from layerlab.measure.loudness import gated_loudness, loudness_analysis

    prof = ctx.profile
    lo, hi = prof.target_lufs - prof.tolerance_lu, prof.target_lufs + prof.tolerance_lu
    target = f"{prof.target_lufs:g} ±{prof.tolerance_lu:g} LUFS" + (" (dialogue-gated)" if prof.dialogue_gated else "")
    miss = need_files(ctx, "loudness", "LUFS", target, "mix")
    if miss:
        return miss
    mix = ctx.deliverable.audio("mix")
    details: dict = {"profile": prof.name, "dialogue_gated": bool(prof.dialogue_gated)}
    an = loudness_analysis(mix, sample_rate=SAMPLE_RATE)  # one K-weighting for the series and the integrated figure
    ctx.data["loudness_series"] = an.series("short_term")
    integrated = float(an.integrated())
    details["integrated_lufs"] = integrated
    value = integrated
    how = "integrated loudness"
    if prof.dialogue_gated:
        miss = need_files(ctx, "loudness", "LUFS", target, "dialogue")
        if miss:
            miss.message = "dialogue-gated loudness needs the dialogue stem to find the speech: " + miss.message
            return miss
        act = get_activity(ctx)
        if act is None or not act.active.any():
            return CheckResult("loudness", None, "LUFS", target, False,
                               "no speech found in stems/dialogue.wav, so dialogue-gated loudness cannot be measured; "
                               "put the dialogue on the dialogue layer.", details)
        value = float(gated_loudness(mix, mask=act.sample_mask(), sample_rate=SAMPLE_RATE))
        details["dialogue_gated_lufs"] = value
        how = "dialogue-gated loudness"
    ctx.data["integrated_lufs"] = value
    if not math.isfinite(value):
        if not np.any(mix):
            why = f"the mix is silent, so its {how} cannot be measured; export the mix again."
        elif mix.shape[0] < int(0.4 * SAMPLE_RATE):
            why = f"the mix is shorter than one 400 ms loudness block, so its {how} cannot be measured."
        else:
            why = f"the mix stays under the -70 LUFS gate throughout, so its {how} cannot be measured; raise its level."
        return CheckResult("loudness", value, "LUFS", target, False, why, details)
    if lo <= value <= hi:
        msg = f"{how} is {value:.1f} LUFS, within {target} for {prof.title}."
        return CheckResult("loudness", value, "LUFS", target, True, msg, details)
    diff = prof.target_lufs - value
    if diff > 0:
        msg = (f"{how} is {value:.1f} LUFS, {diff:.1f} LU under the {prof.title} target of {prof.target_lufs:g} LUFS; "
               f"raise the master gain by about {diff:.1f} dB (a limiter keeps the true peak under "
               f"{prof.max_true_peak_dbtp:g} dBTP).")
    else:
        msg = (f"{how} is {value:.1f} LUFS, {-diff:.1f} LU over the {prof.title} target of {prof.target_lufs:g} LUFS; "
               f"lower the master gain by about {-diff:.1f} dB.")
    return CheckResult("loudness", value, "LUFS", target, False, msg, details)


def check_true_peak(ctx: CheckContext) -> CheckResult:
    """Run the ``true_peak`` check on the context's deliverable; returns its :class:`CheckResult` (never raises on bad input)."""
    from layerlab.measure.loudness import true_peak_dbtp

    prof = ctx.profile
    target = f"≤ {prof.max_true_peak_dbtp:g} dBTP"
    miss = need_files(ctx, "true_peak", "dBTP", target, "mix")
    if miss:
        return miss
    mix = ctx.deliverable.audio("mix")
    tp = float(true_peak_dbtp(mix, sample_rate=SAMPLE_RATE))
    blk = int(0.05 * SAMPLE_RATE)
    nb = mix.shape[0] // blk
    if nb:
        bp = np.abs(mix[: nb * blk]).reshape(nb, blk, -1).max(axis=(1, 2))
        with np.errstate(divide="ignore"):
            ctx.data["peaks"] = {"times_s": (np.arange(nb) + 0.5) * 0.05, "peak_dbfs": 20 * np.log10(bp),
                                 "true_peak_dbtp": tp, "true_peak_time_s": (int(np.argmax(bp)) + 0.5) * 0.05}
    runs, nclip, first = find_clipping(ctx.deliverable.audio("mix"))
    details = {"clipped_runs": runs, "clipped_samples": nclip}
    if tp <= prof.max_true_peak_dbtp:
        msg = (f"true peak is {tp:.1f} dBTP, under the {prof.max_true_peak_dbtp:g} dBTP ceiling." if math.isfinite(tp)
               else "the mix is silent: it has no peak at all.")
        return CheckResult("true_peak", tp, "dBTP", target, True, msg, details)
    msg = (f"true peak is {tp:.1f} dBTP, {tp - prof.max_true_peak_dbtp:.1f} dB over the {prof.max_true_peak_dbtp:g} dBTP "
           f"ceiling of {prof.title}; put a true-peak limiter on the master with its ceiling at "
           f"{prof.max_true_peak_dbtp:g} dBTP (or lower the master gain).")
    if runs:
        msg += f" The mix is hard-clipped in {runs} places (first at {first / SAMPLE_RATE:.2f} s)."
    return CheckResult("true_peak", tp, "dBTP", target, False, msg, details)


