"""Class summaries: a score table and histograms per rubric item.

Documented for instructors in ``autograder/README.md``.
"""

from __future__ import annotations

import csv
import html
import math
import re
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

    A submission the grader failed on (``incomplete``) has empty point cells and its note
    ("not graded (grader fault) ..."), never zeros. The ``sandbox`` column says where each learner's code ran: ``bwrap`` (the OS
    sandbox) or ``none`` (graded with ``--no-sandbox``). Text cells go through
    :func:`csv_cell` (no formulas).
    """
    path = Path(path)
    names = [it.get("check") or it.get("label") or it["answer"] for it in spec["items"]]
    # errors: a student id that is not text (a folder name's stray bytes) is written as escapes (\udcff)
    with open(path, "w", newline="", encoding="utf-8", errors="backslashreplace") as fh:
        w = csv.writer(fh)
        w.writerow(["student", *[csv_cell(n) for n in names], "score", "max_score", "error", "sandbox"])
        for g in sorted(grades, key=lambda g: g.student):
            if g.incomplete:  # the grader failed on it: no points at all, not zero points (issue #12)
                w.writerow([csv_cell(g.student), *[""] * len(spec["items"]), "", fmt(g.max_score), csv_cell(g.error),
                            csv_cell(g.sandbox)])
                continue
            pts = {it.grade_id: it.points for it in g.items}
            w.writerow([csv_cell(g.student), *[fmt(float(pts.get(it["grade_id"], 0.0))) for it in spec["items"]],
                        fmt(g.score), fmt(g.max_score), csv_cell(g.error), csv_cell(g.sandbox)])
    return path


MAX_EXACT_BARS = 40
"""Up to this many distinct fractional scores in a panel, each gets a bar at its exact value; beyond, ten equal bins."""


def histograms_figure(spec: dict, grades: list[SubmissionGrade], *, assignment: str = ""):
    """The class's points per rubric item and in total, as a matplotlib Figure (not shown, not saved).

    Parameters
    ----------
    spec : dict
        The assignment's rubric entry (:func:`layerlab.grading.assignment_spec`): ``items`` with
        ``grade_id``, ``points`` and ``check``/``label``/``answer``.
    grades : list of SubmissionGrade
        One per learner.
    assignment : str
        For the title.

    Returns
    -------
    matplotlib.figure.Figure
        One panel per item plus the total: x = points earned (whole-point ticks; an item worth a
        few points gets one bar per whole point), y = number of learners (whole ticks). Fractional
        points (11.6/12) get a narrow bar at their exact value, labelled with it, never the next
        whole point's bar. Submissions the grader failed on (``incomplete``) are left out and
        counted in the title.

    Notes
    -----
    Made with :class:`matplotlib.figure.Figure` directly (no pyplot state), so it works headless.
    Documented for instructors in ``autograder/README.md``.
    """
    import numpy as np
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    not_graded = sum(1 for g in grades if g.incomplete)
    grades = [g for g in grades if not g.incomplete]  # the grader failed on these: no points, not zero points
    items = spec["items"]
    n = len(items) + 1
    cols = min(4, n)
    rows = math.ceil(n / cols)
    fig = Figure(figsize=(3.2 * cols, 2.6 * rows))
    axes = fig.subplots(rows, cols, squeeze=False)
    for ax in axes.flat[n:]:
        ax.axis("off")
    panels = [(it.get("check") or it.get("label") or it["answer"], float(it["points"]),
               [next((x.points for x in g.items if x.grade_id == it["grade_id"]), 0.0) for g in grades], "#4c72b0")
              for it in items]
    panels.append(("total", float(sum(float(it["points"]) for it in items)), [g.score for g in grades], "#dd8452"))
    for ax, (name, mx, vals, colour) in zip(axes.flat, panels):
        vals = np.round(np.asarray(vals, dtype=float), 6)
        whole = bool(np.all(vals == np.round(vals)))
        distinct, counts = np.unique(vals, return_counts=True)
        if mx > 0 and float(mx).is_integer() and mx <= 20 and whole:
            ax.hist(vals, bins=np.arange(mx + 2) - 0.5, color=colour, edgecolor="white")  # one bar per whole point
        elif mx > 0 and len(distinct) <= MAX_EXACT_BARS:
            # fractional points (11.6/12) get a bar at their own value, labelled: never counted in the "12" bar (#17)
            gap = float(np.min(np.diff(distinct))) if len(distinct) > 1 else 1.0
            ax.bar(distinct, counts, width=min(0.4, 0.8 * gap), color=colour, edgecolor="none")
            for x, c in zip(distinct, counts):
                if not float(x).is_integer():
                    ax.annotate(fmt(float(x)), (float(x), float(c)), xytext=(0, 2), textcoords="offset points",
                                ha="center", va="bottom", fontsize=7)
        else:
            ax.hist(vals, bins=np.linspace(0, mx, 11) if mx > 0 else 5, color=colour, edgecolor="white")
        ax.set_title(f"{name} (/{fmt(mx)})", fontsize=9)
        ax.set_xlim(-0.6 if mx <= 20 else -0.05 * mx, mx + (0.6 if mx <= 20 else 0.05 * mx) + 1e-9)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("points", fontsize=8)
        ax.set_ylabel("learners", fontsize=8)
        ax.tick_params(labelsize=8)
    fig.suptitle(f"{assignment}: {len(grades)} submissions" + (f", {not_graded} not graded (grader fault)" if not_graded else ""),
                 fontsize=11)
    fig.tight_layout()
    return fig


def write_histograms(path, spec: dict, grades: list[SubmissionGrade], *, assignment: str = "") -> Path:
    """Save :func:`histograms_figure` as a PNG at ``path`` (90 dpi); returns the path."""
    fig = histograms_figure(spec, grades, assignment=assignment)
    fig.savefig(path, dpi=90)
    return Path(path)


# Feedback pages (``nbgrader generate_feedback``) show printed output in <pre> blocks that never wrap:
# a long verdict line ran off the right edge of the page and hid its advice (issue #17).
FEEDBACK_CSS = """
/* Layer Lab: long output lines (the grader's verdicts) wrap inside the page */
div.output_subarea pre, div.output_area pre, div.output_text pre, .jp-OutputArea-output pre {
  white-space: pre-wrap;
  overflow-wrap: anywhere;
  word-break: normal;
}
"""


def _make_feedback_style():
    from nbconvert.preprocessors import Preprocessor
    from traitlets import Bool

    class FeedbackStyle(Preprocessor):
        """nbconvert preprocessor: add :data:`FEEDBACK_CSS` to the page's inlined CSS.

        Put it after ``CSSHTMLHeaderPreprocessor`` (which replaces the inlined CSS) in
        ``GenerateFeedback.preprocessors``, as ``autograder/nbgrader_config.py`` does.
        """

        enabled = Bool(True).tag(config=True)  # nbgrader registers it without enabled=True (nbconvert's default is off)

        def preprocess(self, nb, resources):
            inlining = resources.setdefault("inlining", {})
            inlining["css"] = [*inlining.get("css", []), FEEDBACK_CSS]
            return nb, resources

    return FeedbackStyle


_BASE64 = re.compile(r"[A-Za-z0-9+/=\s]+")


def figure_alt(output: dict, cell_number: int) -> str:
    """The alternative text of an image output on a feedback page.

    The grader's own figures carry theirs in ``metadata["layerlab"]["alt"]``
    (:func:`layerlab.grading.batch.annotate_autograded`); a figure the notebook's own
    code drew is described by where it comes from.
    """
    alt = ((output.get("metadata") or {}).get("layerlab") or {}).get("alt")
    if isinstance(alt, str) and alt.strip():
        return one_line(alt)
    return f"A figure drawn by the notebook's own code (cell {cell_number}); no description was given."


def _make_figure_alt_text():
    from nbconvert.preprocessors import Preprocessor
    from traitlets import Bool

    class FigureAltText(Preprocessor):
        """nbconvert preprocessor: every PNG or JPEG output becomes an ``<img>`` with alternative text.

        nbconvert's HTML templates write output images without an ``alt`` attribute, and its
        HTML exporter then warns "Alternative text is missing on N image(s)" on every
        feedback page (WCAG 2.1, success criterion 1.1.1, asks for a text alternative). Each
        image output is replaced by HTML holding the same image and :func:`figure_alt`'s text.
        Put it in ``GenerateFeedback.preprocessors``, as ``autograder/nbgrader_config.py`` does.
        """

        enabled = Bool(True).tag(config=True)  # nbgrader registers it without enabled=True (nbconvert's default is off)

        def preprocess(self, nb, resources):
            for n, cell in enumerate(nb.cells, start=1):
                for output in cell.get("outputs", []) if cell.cell_type == "code" else []:
                    data = output.get("data") or {}
                    for mime in ("image/png", "image/jpeg"):
                        raw = data.get(mime)
                        if not isinstance(raw, str):
                            continue
                        del data[mime]
                        if not _BASE64.fullmatch(raw):
                            continue  # not an image: dropped, never put into the page
                        alt = html.escape(figure_alt(output, n), quote=True)
                        data["text/html"] = (data.get("text/html") or "") + \
                            f'<img src="data:{mime};base64,{"".join(raw.split())}" alt="{alt}">'
            return nb, resources

    return FigureAltText


def __getattr__(name):  # lazy: importing nbconvert costs time a learner's self-check does not need
    if name in ("FeedbackStyle", "FigureAltText"):
        cls = _make_feedback_style() if name == "FeedbackStyle" else _make_figure_alt_text()
        globals()[name] = cls
        return cls
    raise AttributeError(name)
