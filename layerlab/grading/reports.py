"""Class summaries: a score table and histograms per rubric item.

Documented for instructors in ``autograder/README.md``.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

from layerlab.grading.results import SubmissionGrade, fmt, one_line

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value) -> str:
    """A text cell a spreadsheet shows as text: a leading ``'`` before ``=``, ``+``, ``-``, ``@``, tab or CR.

    OWASP's advice against CSV (formula) injection: a cell a learner can influence (a
    student id, a note naming their files) must not start like a formula. Numbers
    (the points) are left as they are.
    """
    text = value if isinstance(value, str) else one_line(value)
    try:
        float(text)
        return text
    except ValueError:
        pass
    return "'" + text if text.startswith(_FORMULA_START) else text


def write_summary_csv(path, spec: dict, grades: list[SubmissionGrade]) -> Path:
    """Score table: one row per student, one column per rubric item, plus total, the grader's note and the sandbox.

    The ``sandbox`` column says where each learner's code ran: ``bwrap`` (the OS
    sandbox) or ``none`` (graded with ``--no-sandbox``). Text cells go through
    :func:`csv_cell` (no formulas).
    """
    path = Path(path)
    names = [it.get("check") or it.get("label") or it["answer"] for it in spec["items"]]
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["student", *[csv_cell(n) for n in names], "score", "max_score", "error", "sandbox"])
        for g in sorted(grades, key=lambda g: g.student):
            pts = {it.grade_id: it.points for it in g.items}
            w.writerow([csv_cell(g.student), *[fmt(float(pts.get(it["grade_id"], 0.0))) for it in spec["items"]],
                        fmt(g.score), fmt(g.max_score), csv_cell(g.error), csv_cell(g.sandbox)])
    return path


def write_histograms(path, spec: dict, grades: list[SubmissionGrade], *, assignment: str = "") -> Path:
    """One histogram per rubric item (points earned across the class) plus the total."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    import numpy as np

    items = spec["items"]
    n = len(items) + 1
    cols = min(4, n)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.4 * rows), squeeze=False)
    for ax in axes.flat[n:]:
        ax.axis("off")
    for ax, it in zip(axes.flat, items):
        vals = [next((x.points for x in g.items if x.grade_id == it["grade_id"]), 0.0) for g in grades]
        mx = float(it["points"])
        ax.hist(vals, bins=np.linspace(0, mx, 6) if mx > 0 else 5, color="#4c72b0", edgecolor="white")
        ax.set_title(f"{it.get('check') or it.get('label') or it['answer']} (/{fmt(mx)})", fontsize=9)
        ax.set_xlim(-0.05 * mx, mx * 1.05 + 1e-9)
    ax = axes.flat[len(items)]
    totals = [g.score for g in grades]
    mx = float(sum(float(it["points"]) for it in items))
    ax.hist(totals, bins=np.linspace(0, mx, 11) if mx > 0 else 5, color="#dd8452", edgecolor="white")
    ax.set_title(f"total (/{fmt(mx)})", fontsize=9)
    fig.suptitle(f"{assignment}: {len(grades)} submissions", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return Path(path)
