"""What an instructor reads after grading (issue #17): the class histograms and the feedback page."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from layerlab.grading import ItemGrade, SubmissionGrade, assignment_spec, load_rubric
from layerlab.grading.reports import histograms_figure, write_histograms

REPO = Path(__file__).resolve().parents[2]
RUBRIC = load_rubric(REPO / "autograder" / "rubric.json")


def _class(spec, earned: list[dict[str, float]]):
    out = []
    for k, points in enumerate(earned):
        items = [ItemGrade(it["grade_id"], it["check"], points.get(it["grade_id"], 0.0), float(it["points"]),
                           points.get(it["grade_id"], 0.0) == float(it["points"]), 1.0, "dB", "t", "msg")
                 for it in spec["items"]]
        out.append(SubmissionGrade(spec.get("notebook", "lab2_hybrid_mix"), f"learner{k}", items))
    return out


def _visible_ticks(ax, axis):
    lo, hi = sorted(ax.get_xlim() if axis == "x" else ax.get_ylim())
    ticks = ax.get_xticks() if axis == "x" else ax.get_yticks()
    return [t for t in ticks if lo - 1e-9 <= t <= hi + 1e-9]


def test_histograms_have_whole_point_ticks_axis_labels_and_one_bar_per_point():
    spec = assignment_spec("lab2_hybrid_mix", RUBRIC)
    first = spec["items"][0]
    worth = float(first["points"])
    assert worth.is_integer() and worth >= 2
    # three learners: none, all, all of the first item's points; full marks elsewhere for the last
    full = {it["grade_id"]: float(it["points"]) for it in spec["items"]}
    grades = _class(spec, [{first["grade_id"]: 0.0}, {first["grade_id"]: worth}, full])
    fig = histograms_figure(spec, grades, assignment="lab2_hybrid_mix")
    panels = [ax for ax in fig.axes if ax.axison]
    assert len(panels) == len(spec["items"]) + 1
    for ax in panels:
        assert ax.get_xlabel() == "points" and ax.get_ylabel() == "learners", ax.get_title()
        for axis in "xy":
            ticks = _visible_ticks(ax, axis)
            assert len(ticks) >= 2 and all(float(t).is_integer() for t in ticks), (ax.get_title(), axis, ticks)
    # the first item: one bar per whole point, centred on it, counting learners
    bars = panels[0].patches
    centres = [b.get_x() + b.get_width() / 2 for b in bars]
    heights = [b.get_height() for b in bars]
    assert centres == pytest.approx(list(np.arange(worth + 1)))
    assert heights[0] == 1 and heights[-1] == 2 and sum(heights) == 3
    total = panels[-1]
    assert total.get_title() == f"total (/{sum(full.values()):g})"
    assert sum(b.get_height() for b in total.patches) == 3


def _bars(ax) -> dict[float, float]:
    """Bar centre (points) -> height (learners), for the bars that count someone."""
    return {round(b.get_x() + b.get_width() / 2, 6): b.get_height() for b in ax.patches if b.get_height() > 0}


def test_fractional_points_are_not_put_in_the_next_whole_points_bar():
    # a 12-point item (the 11.6/12): learners at 12, 12, 11.6 and 6 -> 11.6 has a bar of its own, at 11.6
    spec = {"notebook": "lab", "items": [{"grade_id": "g1", "check": "item", "points": 12}]}
    grades = _class(spec, [{"g1": 12.0}, {"g1": 12.0}, {"g1": 11.6}, {"g1": 6.0}])
    fig = histograms_figure(spec, grades, assignment="lab")
    item, total = [ax for ax in fig.axes if ax.axison]
    for ax in (item, total):
        assert _bars(ax) == {12.0: 2, 11.6: 1, 6.0: 1}, ax.get_title()
        assert "11.6" in [t.get_text() for t in ax.texts], "a fractional bar is labelled with its points"
        for bar in ax.patches:  # no bar reaches over a neighbouring score
            assert bar.get_width() < 0.4 + 1e-9
    # whole points keep one bar per whole point and no labels
    whole = histograms_figure(spec, _class(spec, [{"g1": 12.0}, {"g1": 11.0}]), assignment="lab")
    assert _bars(whole.axes[0]) == {12.0: 1, 11.0: 1} and not whole.axes[0].texts


def test_a_submission_the_grader_failed_on_is_left_out_of_the_histograms_and_the_summary(tmp_path):
    from layerlab.grading.reports import write_summary_csv

    spec = {"notebook": "lab", "items": [{"grade_id": "g1", "check": "item", "points": 12}]}
    graded, failed = _class(spec, [{"g1": 12.0}, {}])
    failed.incomplete, failed.error = True, "not graded (grader fault): x; nothing was recorded, run again with --resume."
    fig = histograms_figure(spec, [graded, failed], assignment="lab")
    assert _bars(fig.axes[0]) == {12.0: 1}
    assert "1 not graded" in fig._suptitle.get_text()
    import csv

    with open(write_summary_csv(tmp_path / "s.csv", spec, [graded, failed]), newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    assert rows[1][:4] == ["learner0", "12", "12", "12"]
    assert rows[2][:4] == ["learner1", "", "", "12"] and rows[2][4].startswith("not graded (grader fault)")


def test_write_histograms_saves_a_png(tmp_path):
    spec = assignment_spec("lab2_hybrid_mix", RUBRIC)
    png = write_histograms(tmp_path / "h.png", spec, _class(spec, [{}]), assignment="lab2_hybrid_mix")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# ------------------------------------------------------------------------------------ feedback page

# A verdict as `layerlab grade` writes it into a grade cell (annotate_autograded): the fix comes last.
FIX = "pull_the_music_down_by_6_dB_or_duck_it_deeper"
VERDICT = ("Grader's verdict (measured outside your kernel):\n"
           + ItemGrade("check_masking", "masking", 0.0, 7.0, False, 4.2, "LU", ">= 10 LU",
                       "the music sits only 4.2 LU under the dialogue in 3 of 6 lines (l1 at 1.20 s, l3 at 6.80 s, "
                       "l5 at 12.40 s), so the words are masked in the 250 Hz-4 kHz band where speech is understood; "
                       + FIX).to_text() + "\n")


def _feedback_html(tmp_path, *, styled: bool, extra_cells=(), log: list | None = None) -> Path:
    """A feedback page rendered as ``nbgrader generate_feedback`` renders it, with the kit's configuration."""
    import nbformat
    import nbgrader
    from nbconvert.exporters import HTMLExporter
    from traitlets.config import Config
    from traitlets.config.loader import PyFileConfigLoader

    kit = PyFileConfigLoader("nbgrader_config.py", path=str(REPO / "autograder")).load_config()
    # GetGrades reads the gradebook; the score it would put in the cell metadata is set below instead
    pre = [p for p in kit.GenerateFeedback.preprocessors if p.__name__ != "GetGrades"]
    if not styled:
        pre = [p for p in pre if p.__name__ != "FeedbackStyle"]
    names = [p.__name__ for p in pre]
    assert ("FeedbackStyle" in names) == styled and names.index("CSSHTMLHeaderPreprocessor") < len(names) - 1
    templates = Path(nbgrader.__file__).parent / "server_extensions" / "formgrader"
    c = Config()
    c.HTMLExporter.template_name = "feedback"  # what nbgrader's GenerateFeedback sets
    c.HTMLExporter.extra_template_basedirs = [str(templates / "templates")]
    c.HTMLExporter.extra_template_paths = [str(templates / "static" / "node_modules" / "bootstrap" / "dist" / "css")]
    exporter = HTMLExporter(config=c)
    if log is not None:  # what the exporter warns, as nbgrader prints it
        import logging

        class _Keep(logging.Handler):
            def emit(self, record):
                log.append(record.getMessage())

        exporter.log.addHandler(_Keep(level=logging.WARNING))
    for p in pre:
        exporter.register_preprocessor(p(config=kit))  # as nbgrader's converters register them: not enabled=True
    cell = nbformat.v4.new_code_cell('self_check("masking", deliverable=DELIVERABLE, figures=True)')
    cell.metadata["nbgrader"] = {"grade": True, "solution": False, "locked": True, "grade_id": "check_masking",
                                 "points": 7, "score": 0.0, "schema_version": 3}
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=VERDICT)]
    nb = nbformat.v4.new_notebook(cells=[cell, *extra_cells])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    html, _ = exporter.from_notebook_node(nb, resources={"nbgrader": {"notebook": "lab2_hybrid_mix", "score": 0,
                                                                     "max_score": 7, "late_penalty": 0}})
    out = tmp_path / ("styled.html" if styled else "plain.html")
    out.write_text(html, encoding="utf-8")
    return out


# Where the fix's last character sits against the window, and whether the verdict's box scrolls sideways.
_MEASURE = """
() => {
  const pre = [...document.querySelectorAll('pre')].find(p => p.textContent.includes('FIX_TEXT'));
  const walker = document.createTreeWalker(pre, NodeFilter.SHOW_TEXT);
  let node, range = document.createRange();
  while ((node = walker.nextNode())) {
    const i = node.textContent.indexOf('FIX_TEXT');
    if (i >= 0) { range.setStart(node, i + 'FIX_TEXT'.length - 1); range.setEnd(node, i + 'FIX_TEXT'.length); break; }
  }
  const r = range.getBoundingClientRect();
  return {fixRight: r.right, window: window.innerWidth, preScroll: pre.scrollWidth, preClient: pre.clientWidth,
          pageScroll: document.documentElement.scrollWidth};
}
""".replace("FIX_TEXT", FIX)


def _chromium() -> str:
    import shutil

    found = "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else shutil.which("chromium")
    if not found:
        pytest.fail("Chromium is not installed: run `bash scripts/system-deps.sh` (Debian package 'chromium').")
    return found


@pytest.mark.browser
def test_feedback_verdict_lines_wrap_inside_the_page(tmp_path):
    from playwright.sync_api import sync_playwright

    pages = {styled: _feedback_html(tmp_path, styled=styled) for styled in (False, True)}
    seen = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=_chromium(), headless=True, args=["--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page(viewport={"width": 1000, "height": 900})
            for styled, path in pages.items():
                page.goto(path.as_uri())
                seen[styled] = page.evaluate(_MEASURE)
                page.screenshot(path=str(tmp_path / f"{path.stem}.png"), full_page=True)
        finally:
            browser.close()
    plain, styled = seen[False], seen[True]
    # without the kit's style the fix runs off the right edge: the case of issue #17 (the test can fail)
    assert plain["fixRight"] > plain["window"] or plain["preScroll"] > plain["preClient"] + 1, plain
    # with it, the whole verdict is inside the window, with no sideways scrolling
    assert styled["fixRight"] <= styled["window"], styled
    assert styled["preScroll"] <= styled["preClient"] + 1 and styled["pageScroll"] <= styled["window"], styled


def test_every_figure_on_a_feedback_page_has_alternative_text(tmp_path):
    import base64
    import html
    import re

    import nbformat

    png = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\0" * 16).decode()
    grader = nbformat.v4.new_code_cell("self_check()")  # as annotate_autograded writes the grader's figure
    grader.outputs = [nbformat.v4.new_output("display_data", data={"image/png": png, "text/plain": "<masking figure>"},
                                             metadata={"layerlab": {"alt": 'The grader\'s figure for masking: "fail" <b>'}})]
    own = nbformat.v4.new_code_cell("plt.plot([0, 1])")  # a figure the learner's notebook drew itself
    own.outputs = [nbformat.v4.new_output("display_data", data={"image/png": png, "text/plain": "<Figure size 640x480>"})]
    log: list[str] = []
    page = _feedback_html(tmp_path, styled=True, extra_cells=[grader, own], log=log).read_text(encoding="utf-8")
    assert not [m for m in log if "Alternative text" in m], log  # nbconvert's warning had a cause on every figure
    imgs = re.findall(r"<img [^>]*>", page)
    assert len(imgs) == 2 and all(png in i for i in imgs), imgs
    alts = [re.search(r'alt="([^"]*)"', i).group(1) for i in imgs]
    assert "&quot;fail&quot; &lt;b&gt;" in alts[0]  # the text is escaped: it cannot end the attribute or add markup
    assert [html.unescape(a) for a in alts] == ['The grader\'s figure for masking: "fail" <b>',
                                               "A figure drawn by the notebook's own code (cell 3); no description was given."]


def test_without_the_kits_preprocessor_nbconvert_warns_about_alt_text(tmp_path):
    # the test of the test above: nbconvert's own warning is what it catches
    import base64

    import nbformat
    from nbconvert.exporters import HTMLExporter

    png = base64.b64encode(b"\x89PNG\r\n\x1a\n").decode()
    cell = nbformat.v4.new_code_cell("x")
    cell.outputs = [nbformat.v4.new_output("display_data", data={"image/png": png})]
    exporter = HTMLExporter()
    seen = []
    import logging

    class _Keep(logging.Handler):
        def emit(self, record):
            seen.append(record.getMessage())

    exporter.log.addHandler(_Keep())
    exporter.from_notebook_node(nbformat.v4.new_notebook(cells=[cell]))
    assert any("Alternative text is missing" in m for m in seen), seen


# ------------------------------------------------------------------------------------ results as text


def test_a_grade_cell_echoes_one_short_line_not_its_figures():
    """Issue #17: a learner's grade cell ends in self_check(...); the echo showed every figure's base64."""
    figure = "iVBORw0KGgo" + "A" * 40_000
    it = ItemGrade("check_sync", "sync", 2.0, 2.0, True, -3.0, "ms", "within EBU R37", "in sync", figure)
    g = SubmissionGrade("lab2_hybrid_mix", "self-check", [it])
    assert repr(g) == "<SubmissionGrade lab2_hybrid_mix - self-check: 2/2 points, 1 item>"
    assert repr(it) == "<ItemGrade sync: PASS -3 ms, 2/2 points>"
    assert "AAAA" not in repr([g, it])


@pytest.mark.parametrize("value", [float("-inf"), float("inf"), float("nan")])
def test_a_value_that_does_not_exist_reads_n_a_in_the_graders_text(value):
    it = ItemGrade("check_loudness", "loudness", 0.0, 3.0, False, value, "LUFS", "-14 ±1 LUFS", "the mix is silent")
    assert it.to_text().startswith("[FAIL] loudness: n/a (target -14 ±1 LUFS) -> 0/3 points")
    assert "inf" not in it.to_text() and "nan" not in it.to_text()


def test_a_note_that_every_check_shares_is_written_once_in_the_report():
    # a notebook that exported nothing: every check carries the same note as the report's top; the instructor's and
    # the learner's reports say it once, and each check's section points to it
    note = "The notebook did not export a deliverable folder 'deliverable/'. Run the export cell."
    items = [ItemGrade(f"lab2_{n}", n, 0.0, 2.0, False, message=note) for n in ("sync", "loudness", "masking")]
    items.append(ItemGrade("lab2_extra", "extra", 0.0, 1.0, False, message="Something else entirely."))
    grade = SubmissionGrade("lab2_hybrid_mix", "ben", items=items, error=note)
    for page in (grade.to_markdown(), grade.to_html()):
        assert page.count("did not export a deliverable folder") == 1, page
        assert page.count("Not measured: see the note at the top.") == 3, page
        assert "Something else entirely." in page


def test_formgrader_opens_the_course_without_a_config_warning():
    # formgrader's Manage Assignments page shows its configuration as JSON while FormgradeExtension.debug is on (its
    # default); the course's nbgrader_config.py holds preprocessor classes, so every visit logged "Formgrader config
    # is not serializable" in the instructor's terminal
    from nbgrader.server_extensions.formgrader.formgrader import FormgradeExtension
    from traitlets.config.loader import PyFileConfigLoader

    app = FormgradeExtension(config=PyFileConfigLoader("nbgrader_config.py", path=str(REPO / "autograder")).load_config())

    def serializable(config) -> bool:
        try:
            json.dumps(config)
            return True
        except TypeError:  # what the page catches before it logs the warning
            return False

    assert not app.debug or serializable(app.config)
