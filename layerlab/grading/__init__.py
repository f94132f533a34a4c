"""The out-of-kernel grader: scores come from measured files, never from the learner's kernel.

nbgrader runs a lab's test cells inside the learner's own kernel, where a few
lines of monkeypatching can make every assertion pass. The kit therefore
recomputes every auto-graded cell's score in processes the learner's code does
not share:

1. the submission folder is copied into a private work folder (regular files
   only: symlinks, device files and oversized files are left out);
2. the learner's notebook code (every code cell except the grade cells) runs
   in a fresh process of its own, forked from a warm isolated interpreter
   (:mod:`layerlab.grading.zygote`), with a time and memory limit; for a mix lab it
   exports the deliverable folder, for an answers lab the grader also collects
   the answer variables it names (plain JSON data);
3. another fresh process measures the deliverable (``layerlab.checks``), or the
   grader compares the answers with the truth (the scene's cue sheet and the
   rubric), and each result becomes points from ``autograder/rubric.json``;
4. ``layerlab grade`` writes those points into the nbgrader gradebook (they
   replace whatever the autograde kernel reported), replaces each grade cell's
   output in the autograded notebook with the grader's verdict, advice and
   figure, and writes a class summary.

Nothing the learner's code could have written is read as a result: not cell
outputs, not files named like reports, not the gradebook scores from the
autograde run. The learner's code can only change its own deliverable and its
own answers.

Inside a lab, :func:`self_check` runs the same checks on the learner's current
deliverable and shows the same report, instantly and without an instructor.

Taught in ``labs/lab2_hybrid_mix/lab2_hybrid_mix.ipynb`` (the self-check and the grader's
report; every lab uses them) and documented for instructors in ``autograder/README.md``.
"""

from __future__ import annotations

from layerlab.errors import GradingError, GraderError, SandboxError, ZygoteError
from layerlab.grading.batch import (ClassSummary, annotate_autograded, grade_assignment, grade_submission,
                                    write_gradebook)
from layerlab.grading.measuring import MEASURE_TIMEOUT_S, measure_deliverable, measure_in_child
from layerlab.grading.preprocessors import hidden_test_lines, strip_hidden_tests
from layerlab.grading.reports import histograms_figure, write_histograms, write_summary_csv
from layerlab.grading.results import ItemGrade, SubmissionGrade
from layerlab.grading.rubric import (FIGURE_FOR_CHECK, KIT_RUBRIC, RUBRIC_FILE, assignment_spec, derived_truth, load_rubric, scene_cues,
                                     score_answers, score_mix)
from layerlab.grading.runner import (DEFAULT_MEMORY_MB, DEFAULT_TIMEOUT_S, protected_roots,
                                     run_learner_code)
from layerlab.grading.selfcheck import check_answers, self_check
from layerlab.grading.submission import (MAX_FILE_MB, MAX_SUBMISSION_MB, copy_submission, learner_code_cells, resolve_inside,
                                         restore_locked_cells, submission_hash)

__all__ = [
    "ClassSummary", "DEFAULT_MEMORY_MB", "DEFAULT_TIMEOUT_S", "FIGURE_FOR_CHECK", "GraderError", "GradingError",
    "ItemGrade", "KIT_RUBRIC", "MAX_FILE_MB", "MAX_SUBMISSION_MB", "MEASURE_TIMEOUT_S", "RUBRIC_FILE", "SandboxError",
    "FeedbackStyle", "FigureAltText", "ScrubHiddenTests", "SubmissionGrade", "ZygoteError", "annotate_autograded", "assignment_spec", "check_answers",
    "copy_submission", "derived_truth", "grade_assignment", "grade_submission", "hidden_test_lines", "histograms_figure", "learner_code_cells",
    "load_rubric", "measure_deliverable", "measure_in_child", "protected_roots", "resolve_inside", "restore_locked_cells",
    "run_learner_code", "scene_cues", "score_answers", "score_mix", "self_check", "strip_hidden_tests", "submission_hash",
    "write_gradebook", "write_histograms", "write_summary_csv",
]


def __getattr__(name):  # lazy: importing nbgrader costs time the learner's self-check does not need
    if name == "ScrubHiddenTests":
        from layerlab.grading import preprocessors

        return preprocessors.ScrubHiddenTests
    if name in ("FeedbackStyle", "FigureAltText"):
        from layerlab.grading import reports

        return getattr(reports, name)
    raise AttributeError(name)
