"""What the grader reports: one item per auto-graded cell, one grade per submission.

Used by every other grading module; documented for instructors in ``autograder/README.md``.
"""

from __future__ import annotations

import base64
import html
import math
import re
import unicodedata
from dataclasses import asdict, dataclass, field
from pathlib import Path


@dataclass
class ItemGrade:
    """The grader's verdict on one auto-graded cell.

    Attributes
    ----------
    grade_id : str
        The nbgrader grade cell this item scores.
    name : str
        The check or finding it measures (``"sync"``, ``"dialogue_offset_ms"``...).
    points, max_points : float
        Points earned and available.
    passed : bool
    value, unit, target : measured value, its unit and the target it is compared with.
    message : str
        Plain-language advice: what was measured and what to fix.
    figure_png : str
        A base64 PNG figure (sync timeline, loudness curve, masking map) or "".
    """

    grade_id: str
    name: str
    points: float
    max_points: float
    passed: bool
    value: object = None
    unit: str = ""
    target: object = None
    message: str = ""
    figure_png: str = ""

    def __repr__(self) -> str:  # short: the default repr held the figure's base64
        return (f"<ItemGrade {self.name}: {'PASS' if self.passed else 'FAIL'} {fmt(self.value)}"
                f"{' ' + self.unit if self.unit and fmt(self.value) not in ('-', 'n/a') else ''}, "
                f"{fmt(self.points)}/{fmt(self.max_points)} points>")

    def to_text(self, *, message: str | None = None) -> str:
        """The verdict in two lines; ``message`` stands in for the item's own (a pointer to a note said once)."""
        mark = "PASS" if self.passed else "FAIL"
        value = fmt(self.value)
        unit = f" {one_line(self.unit)}" if self.unit and value not in ("-", "n/a") else ""
        target = f" (target {fmt(self.target)})" if self.target not in (None, "") else ""
        return (f"[{mark}] {one_line(self.name)}: {value}{unit}{target} -> {fmt(self.points)}/{fmt(self.max_points)} points\n"
                f"       {one_line(self.message if message is None else message, limit=2000)}")


@dataclass
class SubmissionGrade:
    """Every item of one learner's submission, as scored by the grader."""

    assignment: str
    student: str
    items: list[ItemGrade] = field(default_factory=list)
    error: str = ""
    log: str = ""
    elapsed_s: float = 0.0
    submission_sha256: str = ""
    incomplete: bool = False
    """True when the grader itself failed (not the submission): nothing is recorded, a re-run grades it."""
    sandbox: str = ""
    """Where the learner's code ran: ``"bwrap"`` (the OS sandbox) or ``"none"`` (``--no-sandbox``)."""
    rubric_sha256: str = ""
    """SHA-256 of the assignment's rubric entry it was scored under (``--resume`` reuses it only under the same)."""

    @property
    def score(self) -> float:
        return round(sum(i.points for i in self.items), 4)

    @property
    def max_score(self) -> float:
        return round(sum(i.max_points for i in self.items), 4)

    @property
    def score_text(self) -> str:
        """``"11.6/15 points"``, or ``"not graded (grader fault)"`` when the grader itself failed (never a zero)."""
        if self.incomplete:
            return "not graded (grader fault)"
        return f"{fmt(self.score)}/{fmt(self.max_score)} points"

    def item(self, name_or_grade_id: str) -> ItemGrade:
        for it in self.items:
            if name_or_grade_id in (it.name, it.grade_id):
                return it
        raise KeyError(name_or_grade_id)

    def points_by_name(self) -> dict[str, float]:
        return {it.name: it.points for it in self.items}

    def to_dict(self) -> dict:
        d = asdict(self)
        d["score"] = self.score
        d["max_score"] = self.max_score
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "SubmissionGrade":
        items = [ItemGrade(**{k: v for k, v in it.items() if k in ItemGrade.__dataclass_fields__}) for it in d.get("items", [])]
        names = ("assignment", "student", "error", "log", "elapsed_s", "submission_sha256", "incomplete", "sandbox",
                 "rubric_sha256")
        keep = {k: d[k] for k in names if k in d}
        return cls(items=items, **keep)

    def __repr__(self) -> str:
        # short: a notebook cell that ends in self_check(...) echoes it (the default repr held every figure's base64)
        return (f"<SubmissionGrade {self.assignment} - {self.student}: {self.score_text}, "
                f"{len(self.items)} item{'s' if len(self.items) != 1 else ''}{', error' if self.error else ''}>")

    def to_text(self) -> str:
        lines = [f"{self.assignment} - {self.student}: {self.score_text}"]
        if self.error:
            lines.append(f"  note: {one_line(self.error, limit=2000)}")
        lines += [it.to_text() for it in self.items]
        return "\n".join(lines)

    def to_markdown(self, *, figure_dir=None) -> str:
        """A Markdown report; with ``figure_dir``, each item's figure is saved there as PNG and linked.

        Every text that may come from the learner (answers, notes naming their files) is
        escaped (:func:`md_text`): it shows as text and cannot add cells, lines or headings.
        """
        out = [f"# {md_text(self.assignment)}: {md_text(self.student)}", "",
               f"**Score: {self.score_text}**", ""]
        if self.error:
            out += [f"> {md_text(self.error)}", ""]
        out += ["| check | result | measured | target | points |", "|---|---|---|---|---|"]
        for it in self.items:
            out.append(f"| {md_text(it.name)} | {'passed' if it.passed else 'failed'} | {md_text(fmt(it.value))} {md_text(it.unit)} "
                       f"| {md_text(fmt(it.target))} | {fmt(it.points)}/{fmt(it.max_points)} |")
        out.append("")
        for it in self.items:
            out += [f"## {md_text(it.name)}", "", md_text(self._section_text(it)), ""]
            if figure_dir is not None and it.figure_png:
                fdir = Path(figure_dir)
                fdir.mkdir(parents=True, exist_ok=True)
                png = fdir / f"{it.name}.png"  # a rubric's check name (the instructor's)
                png.write_bytes(base64.b64decode(it.figure_png))
                out += [f"![{md_text(it.name)}]({fdir.name}/{png.name})", ""]
        return "\n".join(out)

    def shares_note(self, it: ItemGrade) -> bool:
        """Whether a check's message only repeats the grade's note (nothing measured: every check carries that note,
        which the reports and the feedback notebook then say once)."""
        return bool(self.error) and it.message == self.error

    def _section_text(self, it: ItemGrade) -> str:
        """A check's text in a report: its message, or a pointer when it only repeats the note at the report's top."""
        return NOT_MEASURED_SEE_NOTE if self.shares_note(it) else it.message

    def to_html(self) -> str:
        rows = "".join(
            f"<tr class='{'pass' if it.passed else 'fail'}'><td>{html.escape(it.name)}</td><td>{'passed' if it.passed else 'failed'}</td>"
            f"<td>{html.escape(fmt(it.value))} {html.escape(it.unit)}</td><td>{html.escape(fmt(it.target))}</td>"
            f"<td>{fmt(it.points)}/{fmt(it.max_points)}</td></tr>" for it in self.items)
        sections = "".join(_item_html(it, self._section_text(it)) for it in self.items)
        err = f"<p class='note'>{html.escape(self.error)}</p>" if self.error else ""
        return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(self.assignment)} - {html.escape(self.student)}</title>"
                "<style>body{font-family:sans-serif;max-width:960px;margin:2em auto}table{border-collapse:collapse}"
                "td,th{border:1px solid #ccc;padding:4px 8px}tr.pass td:nth-child(2){color:#0072B2}tr.fail td:nth-child(2){color:#B34700}"
                ".note{background:#fff4e5;padding:6px}</style></head><body>"
                f"<h1>{html.escape(self.assignment)}: {html.escape(self.student)}</h1>"
                f"<p><b>Score: {html.escape(self.score_text)}</b></p>{err}"
                f"<table><tr><th>check</th><th>result</th><th>measured</th><th>target</th><th>points</th></tr>{rows}</table>"
                f"{sections}</body></html>")


NOT_MEASURED_SEE_NOTE = "Not measured: see the note at the top."
NOT_MEASURED_SEE_NOTE_ABOVE = "Not measured: see the grader's note above, at the first graded cell."
"""The same pointer in the feedback notebook, where the note is written once, in the first graded cell."""


def _item_html(it: ItemGrade, text: str) -> str:
    img = f"<img alt='{html.escape(it.name)} figure' src='data:image/png;base64,{it.figure_png}' style='max-width:100%'>" if it.figure_png else ""
    return f"<h2>{html.escape(it.name)}</h2><p>{html.escape(text)}</p>{img}"


_ONE_LINE = {**{i: f"\\x{i:02x}" for i in range(32)}, 9: "\\t", 10: "\\n", 13: "\\r", 0x7f: "\\x7f", 0x85: "\\x85",
             0x2028: "\\u2028", 0x2029: "\\u2029"}


_SPACES = re.compile(r"\s+")


def one_line(text, *, limit: int = 300) -> str:
    """Learner text as the grader shows it: control characters and line breaks escaped (``\\n``), at most ``limit`` characters.

    Format characters (bidi controls, zero-width spaces: Unicode category Cf) and lone
    surrogates (Cs: a file or folder name's bytes that are not UTF-8, which no UTF-8 text
    can hold) are escaped too (``\\u202e``, ``\\udcff``) and runs of whitespace collapse to one space.

    A learner's answer or file name printed in a verdict, a report or the feedback
    notebook then cannot start a line of its own that reads like the grader's
    (``[PASS] ... 5/5 points``). Anything whose ``str()`` fails shows as ``<type>``.
    """
    try:
        s = str.__str__(text) if isinstance(text, str) else str(text)
        s = str.__str__(s)  # an exact str, whatever a learner's subclass overrides
    except Exception:  # noqa: BLE001 - a learner's object whose __str__ raises, or an int too long to print
        s = f"<{type(text).__name__}>"
    s = str.translate(s, _ONE_LINE)
    # format characters (Unicode category Cf: bidi overrides and isolates, zero-width spaces) shown as
    # escapes, so text cannot be reordered or hidden on screen; runs of other whitespace collapse to one
    # space, so a wrapped page cannot start a line with the learner's text
    s = "".join(f"\\u{ord(c):04x}" if unicodedata.category(c) in ("Cf", "Cs") else c for c in s)
    s = _SPACES.sub(" ", s)
    return s if len(s) <= limit else s[:limit] + "..."


_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]<>|#!~])")


def md_text(text) -> str:
    """Text for a Markdown report: one line (:func:`one_line`) with Markdown's special characters backslash-escaped.

    A learner's text then renders as the characters it is made of: it cannot add table
    cells, headings, links, images or HTML to the grader's report (CommonMark's
    backslash escapes).
    """
    s = _MD_SPECIAL.sub(r"\\\1", one_line(text, limit=2000))
    return "\\" + s if s[:1] in ("-", "+", "=") else s


def fmt(v) -> str:
    """A value as the grader shows it: numbers rounded, containers joined, text on one line (:func:`one_line`)."""
    if v is None or (isinstance(v, str) and v == ""):
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        if not math.isfinite(v):  # silence has no loudness, level or peak: "n/a", as `layerlab measure` says
            return "n/a"
        if abs(v) < 0.005:
            v = 0.0
        return f"{v:.2f}".rstrip("0").rstrip(".") if abs(v) < 1e6 else f"{v:.3g}"
    try:
        if isinstance(v, (list, tuple)):
            return ", ".join(fmt(x) for x in list(v)[:100])
        if isinstance(v, dict):
            return ", ".join(f"{one_line(k, limit=80)}: {fmt(x)}" for k, x in list(v.items())[:100])
    except Exception:  # noqa: BLE001 - a learner's container that fails while read (self-check shows live objects)
        return f"<{type(v).__name__}>"
    return one_line(v)


def jsonable(v, depth=0):
    """A learner's value as JSON data: numbers (finite, else None), text, lists and dicts (capped); None when unreadable.

    Never raises: an answer whose conversion fails (an int too large for a float, a
    ``__float__`` or ``__str__`` that raises, a container that fails while read) becomes
    None, so it costs only itself, not the other answers exported with it.
    """
    try:
        return _jsonable(v, depth)
    except Exception:  # noqa: BLE001 - a hostile or broken value costs only itself
        return None


def _jsonable(v, depth):
    if depth > 6:
        return None
    if v is None or isinstance(v, (bool, str)):
        return v if not isinstance(v, str) else str.__str__(v)[:100_000]
    try:
        import numpy as np

        if isinstance(v, np.generic):
            v = v.item()
        elif isinstance(v, np.ndarray) and v.size <= 1000:
            v = v.tolist()
    except ImportError:  # pragma: no cover
        pass
    if isinstance(v, bool):
        return v
    if isinstance(v, (int, float)):
        try:
            f = float(v)
        except Exception:  # noqa: BLE001 - OverflowError (a huge int), or a __float__ that raises
            return None
        return f if math.isfinite(f) else None
    if isinstance(v, dict):
        return {one_line(k, limit=200): jsonable(x, depth + 1) for k, x in list(v.items())[:200]}
    if isinstance(v, (list, tuple)):
        return [jsonable(x, depth + 1) for x in list(v)[:1000]]
    return one_line(v, limit=200)
