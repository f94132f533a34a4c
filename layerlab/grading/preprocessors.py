"""Hidden tests out of feedback, with nbgrader's own :class:`~nbgrader.preprocessors.ClearHiddenTests`.

nbgrader removes hidden-test regions from a cell's source; the kit adds one
guarantee on top (:class:`ScrubHiddenTests`): an output (a traceback, printed text)
that quotes a hidden-test line is replaced by a short note, because a failed
hidden ``assert`` quotes itself in its traceback (nbgrader issues #917, #1363).

Locked cells are restored by the kit itself (:func:`layerlab.grading.submission.restore_locked_cells`):
nbgrader's ``OverwriteCells`` reads the source cells from the gradebook database,
which a submission graded on its own does not have, and neither re-inserts a
deleted locked cell by default nor drops a duplicated one.

Documented for instructors in ``autograder/README.md`` (feedback).
"""

from __future__ import annotations

import json

BEGIN = "BEGIN HIDDEN TESTS"
END = "END HIDDEN TESTS"


def _clear_hidden_tests():
    from nbgrader.preprocessors import ClearHiddenTests  # importing nbgrader costs time a self-check does not need

    return ClearHiddenTests(enforce_metadata=False)


def strip_hidden_tests(source: str, *, begin: str = BEGIN, end: str = END) -> str:
    """Remove every hidden-test region (delimiter lines included) from a cell's source.

    Parameters
    ----------
    source : str
        A cell's source.
    begin, end : str
        The delimiters (nbgrader's defaults).

    Returns
    -------
    str
        The source without the regions, as nbgrader's ``ClearHiddenTests`` cuts them.
        A region without its end delimiter (nbgrader refuses those) is cut to the end
        of the cell, so nothing hidden is ever shown.
    """
    if begin not in source:
        return source
    from nbformat import NotebookNode

    pre = _clear_hidden_tests()
    pre.begin_test_delimeter, pre.end_test_delimeter = begin, end
    cell = NotebookNode(cell_type="code", source=source, metadata=NotebookNode())
    try:
        cell, _ = pre.preprocess_cell(cell, {}, 0)
    except RuntimeError:  # unterminated or nested region: keep only what precedes the first one
        return "".join(line for line in source.splitlines(keepends=True)[:_first_line(source, begin)])
    return cell.source


def _first_line(source: str, begin: str) -> int:
    return next(i for i, line in enumerate(source.splitlines()) if begin in line)


def hidden_test_lines(source: str) -> list[str]:
    """The lines (stripped, longer than 6 characters) inside a cell's hidden-test regions."""
    lines, hiding = [], False
    for line in source.splitlines():
        if BEGIN in line:
            hiding = True
            continue
        if END in line:
            hiding = False
            continue
        if hiding and len(line.strip()) > 6:
            lines.append(line.strip())
    return lines


def _make_scrubber():
    from nbgrader.preprocessors import ClearHiddenTests

    class ScrubHiddenTests(ClearHiddenTests):
        """nbconvert preprocessor for feedback: nbgrader's ClearHiddenTests, plus outputs that quote hidden tests.

        Cell sources lose their hidden-test regions (nbgrader's code); any output
        (traceback or text) quoting a hidden-test line is replaced by a short note.
        Not enforcing metadata: feedback is made from autograded notebooks, whose
        cells may have lost it.
        """

        def __init__(self, **kw):
            kw.setdefault("enforce_metadata", False)
            super().__init__(**kw)

        def preprocess_cell(self, cell, resources, index):
            hidden = hidden_test_lines(cell.source) if isinstance(cell.source, str) else []
            cell.source = strip_hidden_tests(cell.source, begin=self.begin_test_delimeter, end=self.end_test_delimeter)
            if hidden and cell.cell_type == "code":
                for out in cell.get("outputs", []):
                    blob = json.dumps(out)
                    if any(h in blob or json.dumps(h)[1:-1] in blob for h in hidden):
                        out.clear()
                        out.update({"output_type": "stream", "name": "stdout",
                                    "text": "(output hidden: it quoted a hidden test)\n"})
            return cell, resources

    return ScrubHiddenTests


def __getattr__(name):  # lazy: importing nbgrader costs time the learner's self-check does not need
    if name == "ScrubHiddenTests":
        cls = _make_scrubber()
        globals()[name] = cls
        return cls
    raise AttributeError(name)
