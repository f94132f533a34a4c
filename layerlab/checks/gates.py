"""The gate checks: the deliverable's format, and stems that add up to the mix.

A failed gate zeroes a lab's mix score (``autograder/rubric.json``).
Taught in ``lessons/08_measuring_the_mix.ipynb``.
"""

from __future__ import annotations

import math

import numpy as np

from layerlab.io.deliverable import STEM_NAMES
from layerlab.checks.context import STEMS_SUM_MAX_DB, CheckContext, fmt_list, need_files
from layerlab.checks.report import CheckResult

__all__ = ["check_format", "check_stems_sum"]

def check_format(ctx: CheckContext) -> CheckResult:
    dl = ctx.deliverable
    errors = dl.errors
    warnings = [p for p in dl.problems if p.severity == "warning"]
    details = {"files": {k: v.to_dict() for k, v in dl.files.items()},
               "warnings": [w.to_dict() for w in warnings]}
    target = f"48 kHz stereo WAV, {ctx.cues.duration_s:g} s ±1 frame, 4 stems, no clipping"
    if not errors:
        msg = "mix and all four stems are 48 kHz stereo, the scene's length, and unclipped."
        if warnings:
            msg += " Note: " + fmt_list([w.message for w in warnings], 2)
        return CheckResult("format", 0, "problems", target, True, msg, details)
    return CheckResult("format", len(errors), "problems", target, False,
                       fmt_list([e.message for e in errors]), details)


def check_stems_sum(ctx: CheckContext) -> CheckResult:
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
    if ratio <= STEMS_SUM_MAX_DB:
        return CheckResult("stems_sum", ratio, "dB", target, True,
                           f"the four stems add up to the mix (what is left over is {ratio:.1f} dB under it).", details)
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


