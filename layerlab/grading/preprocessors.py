"""Hidden tests out of feedback, with nbgrader's own :class:`~nbgrader.preprocessors.ClearHiddenTests`.

nbgrader removes hidden-test regions from a cell's source; the kit adds one
guarantee on top (:class:`ScrubHiddenTests`): an output (a traceback, printed text)
that quotes a hidden-test line is replaced by a short note, because a failed
hidden ``assert`` quotes itself in its traceback (nbgrader issues #917, #1363).

Locked cells are restored by the kit itself (:func:`layerlab.grading.submission.restore_locked_cells`):
nbgrader's ``OverwriteCells`` reads the source cells from the gradebook database,
which a submission graded on its own does not have, and neither re-inserts a
deleted locked cell by default nor drops a duplicated one.

:class:`RestoreHiddenTests` removes the cause of nbgrader's false "Attribute 'checksum' for
cell ... has changed!" warnings (nbgrader issue #1961): ``generate_assignment`` stores each
locked cell's checksum in the gradebook *before* ``ClearHiddenTests`` runs, so ``autograde``
compares the released cell (hidden tests cut) with the checksum of the instructor's cell
(hidden tests in) and warns about every test cell of every untouched submission. Put before
nbgrader's ``OverwriteCells``, it gives an untouched locked cell its hidden tests back, so the
comparison is between like and like; a cell the learner did change still raises the warning.

:class:`RemoveRegenerated` keeps ``autograded/<student>/<lab>/`` small: nbgrader's autograde
runs the notebook there, and a lab's export cell writes its ``deliverable/`` (about 36 MB of
WAV stems) and the players' ``_layerlab_audio/`` next to it. Nothing reads them afterwards
(``layerlab grade`` re-runs the submission to make the deliverable it measures, feedback never
copies them), so they are removed once the notebook has run.

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
    from traitlets import List

    class ScrubHiddenTests(ClearHiddenTests):
        """nbconvert preprocessor for feedback: nbgrader's ClearHiddenTests, plus outputs that quote hidden tests.

        Cell sources lose their hidden-test regions (nbgrader's code); any output
        (traceback or text) quoting a hidden-test line is replaced by a short note.
        Not enforcing metadata: feedback is made from autograded notebooks, whose
        cells may have lost it.
        """

        # nbconvert's HTML exporter configures NbConvertBase.display_data_priority; nbgrader's base
        # preprocessor redeclares it without config=True, so traitlets warned "Config option
        # `display_data_priority` not recognized by `ScrubHiddenTests`" on every generate_feedback.
        # Configurable here, as in nbgrader's own GetGrades.
        display_data_priority = List(["text/html", "application/pdf", "text/latex", "image/svg+xml", "image/png",
                                      "image/jpeg", "text/plain"], config=True)

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


def _make_restorer():
    from nbgrader import utils
    from nbgrader.api import Gradebook, MissingEntry
    from nbgrader.preprocessors import NbGraderPreprocessor
    from traitlets import Unicode

    class RestoreHiddenTests(NbGraderPreprocessor):
        """nbconvert preprocessor for autograde: an untouched released locked cell gets its hidden tests back.

        Runs before nbgrader's ``OverwriteCells`` (``Autograde.sanitize_preprocessors``). For each
        locked cell whose source is exactly the gradebook's source cell with its hidden-test
        regions cut (what ``generate_assignment`` released), the source cell is put back, so
        ``OverwriteCells`` finds the checksum it stored and does not warn. Any other difference
        is left for ``OverwriteCells`` to report and repair. See nbgrader issue #1961.
        """

        begin_test_delimeter = Unicode(BEGIN, help="The delimiter marking the beginning of hidden tests cases").tag(config=True)
        end_test_delimeter = Unicode(END, help="The delimiter marking the end of hidden tests cases").tag(config=True)

        def preprocess(self, nb, resources):
            meta = resources["nbgrader"]
            restored = 0
            with Gradebook(meta["db_url"]) as gb:
                for cell in nb.cells:
                    grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
                    if grade_id is None or not utils.is_locked(cell):
                        continue
                    try:
                        source_cell = gb.find_source_cell(grade_id, meta["notebook"], meta["assignment"])
                    except MissingEntry:
                        continue
                    full = source_cell.source
                    if (full != cell.source and cell.cell_type == source_cell.cell_type
                            and strip_hidden_tests(full, begin=self.begin_test_delimeter, end=self.end_test_delimeter) == cell.source):
                        cell.source = full
                        restored += 1
            self.log.debug("Restored the hidden tests of %d untouched locked cell(s)", restored)
            return nb, resources

    return RestoreHiddenTests


def autograde_sanitizers() -> list:
    """nbgrader's ``Autograde.sanitize_preprocessors``, with :class:`RestoreHiddenTests` before ``OverwriteCells``.

    Returns
    -------
    list of type
        The preprocessor classes for ``c.Autograde.sanitize_preprocessors`` in a course's
        ``nbgrader_config.py`` (``autograder/nbgrader_config.py`` sets it).
    """
    from nbgrader.converters import Autograde
    from nbgrader.preprocessors import OverwriteCells

    default = list(Autograde.class_traits()["sanitize_preprocessors"].default())
    at = next(i for i, pp in enumerate(default) if isinstance(pp, type) and issubclass(pp, OverwriteCells))
    return default[:at] + [__getattr__("RestoreHiddenTests")] + default[at:]


def _make_remover():
    import shutil
    from pathlib import Path

    from nbgrader.preprocessors import NbGraderPreprocessor
    from traitlets import List, Unicode

    class RemoveRegenerated(NbGraderPreprocessor):
        """nbconvert preprocessor for autograde: delete the folders a lab regenerates when it runs.

        Put after nbgrader's ``Execute`` (``Autograde.autograde_preprocessors``). In the folder
        the notebook ran in (``resources['metadata']['path']``), only when that folder is
        ``<autograded_directory>/<student>/<assignment>``, each top-level entry named in
        ``names`` is removed (a symlink is unlinked, never followed).
        """

        names = List(Unicode(), ["deliverable", "_layerlab_audio"],
                     help="Top-level files or folders of an autograded submission to delete after it ran").tag(config=True)
        autograded_directory = Unicode("autograded", help="nbgrader's CourseDirectory.autograded_directory").tag(config=True)

        def preprocess(self, nb, resources):
            here = Path(resources.get("metadata", {}).get("path") or ".").resolve()
            if here.parent.parent.name != self.autograded_directory:
                return nb, resources
            for name in self.names:
                path = here / name
                if path.is_symlink() or path.is_file():
                    path.unlink()
                elif path.is_dir():
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    continue
                self.log.debug("Removed %s (regenerated when the notebook runs)", path)
            return nb, resources

    return RemoveRegenerated


def autograde_runners() -> list:
    """nbgrader's ``Autograde.autograde_preprocessors``, with :class:`RemoveRegenerated` after ``Execute``.

    Returns
    -------
    list of type
        The preprocessor classes for ``c.Autograde.autograde_preprocessors`` in a course's
        ``nbgrader_config.py`` (``autograder/nbgrader_config.py`` sets it).
    """
    from nbgrader.converters import Autograde
    from nbgrader.preprocessors import Execute

    default = list(Autograde.class_traits()["autograde_preprocessors"].default())
    at = next(i for i, pp in enumerate(default) if isinstance(pp, type) and issubclass(pp, Execute))
    return default[:at + 1] + [__getattr__("RemoveRegenerated")] + default[at + 1:]


_LAZY = {"ScrubHiddenTests": _make_scrubber, "RestoreHiddenTests": _make_restorer, "RemoveRegenerated": _make_remover}


def __getattr__(name):  # lazy: importing nbgrader costs time the learner's self-check does not need
    if name in _LAZY:
        cls = _LAZY[name]()
        globals()[name] = cls
        return cls
    raise AttributeError(name)
