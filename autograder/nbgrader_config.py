"""nbgrader configuration for a Layer Lab course (the instructor's side).

Copy this file to the course root (the folder that holds ``source/``,
``release/``, ``submitted/``, ``autograded/``, ``feedback/`` and
``gradebook.db``) together with ``rubric.json``, and copy the kit's
``autograder/source/`` (one folder per lab: the instructor notebook with its
solutions, hidden tests and mark schemes, and the lab's extra files) to the
course's ``source/``. Learners use the kit's top-level ``nbgrader_config.py``.

Set ``LAYERLAB_EXCHANGE`` to use a local exchange directory other than
``/srv/nbgrader/exchange`` (the end-to-end test uses a temporary one).
"""

import os

c = get_config()  # noqa: F821  (provided by traitlets when nbgrader loads this file)

c.CourseDirectory.root = os.path.dirname(os.path.abspath(__file__))
c.CourseDirectory.course_id = os.environ.get("LAYERLAB_COURSE_ID", "layerlab")
c.CourseDirectory.source_directory = "source"
# (nbgrader >= 0.7 has no CourseDirectory.db_assignments: generate_assignment and
# `autograde --create` add assignments to the gradebook themselves.)

# The gradebook: SQLite in the course root by default; with several graders, a database
# server: LAYERLAB_DB_URL=postgresql+psycopg://user@host:5432/gradebook (docs/deploying.md).
if os.environ.get("LAYERLAB_DB_URL"):
    c.CourseDirectory.db_url = os.environ["LAYERLAB_DB_URL"]

# Local exchange directory for release/fetch/submit/collect.
c.Exchange.root = os.environ.get("LAYERLAB_EXCHANGE", "/srv/nbgrader/exchange")
c.Exchange.assignment_dir = os.environ.get("LAYERLAB_ASSIGNMENT_DIR", ".")

# Exported deliverables (WAV stems, ~36 MB each) are regenerated when a notebook
# runs, and the grader re-creates them itself: never copy them between the
# course folders, nor into feedback. (Learners submit with the kit's top-level
# nbgrader_config.py, which ignores the same names, so they never reach the exchange.)
# The players' served audio (_layerlab_audio/, kept under 40 MB by layerlab.course.playback)
# is recreated when a cell runs: never submitted either.
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", "deliverable", "_layerlab_audio"]

# Solutions and hidden tests use the default delimiters.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"
c.ClearHiddenTests.begin_test_delimeter = "BEGIN HIDDEN TESTS"
c.ClearHiddenTests.end_test_delimeter = "END HIDDEN TESTS"

# The kernels autograde starts talk to it over local TCP; ipykernel (>= 7.2) warns "Kernel is running over TCP
# without encryption" unless the kernel manager provisions CurveZMQ keys. The kit's kernelspec (ipykernel's
# python3) declares curve support, so "auto" encrypts every autograde kernel and the warning has no cause left.
c.KernelManager.transport_encryption = "auto"

# nbgrader's own Gradebook.add_submission (nbgrader/api.py) builds a SubmittedAssignment and its notebooks
# through relationships before it adds them to the session; SQLAlchemy 2 no longer cascades along backrefs
# (https://docs.sqlalchemy.org/en/14/changelog/migration_14.html#change-5150), so an autoflush inside it warns "Object of type <SubmittedAssignment> not in session, add
# operation along 'Student.submissions' will not proceed" (nbgrader moved to SQLAlchemy 2 in
# jupyter/nbgrader#1788 and still warns in 0.9.6). add_submission adds the objects right after and commits:
# nothing is lost. Filtered for these messages from nbgrader.api only.
import warnings  # noqa: E402

from sqlalchemy.exc import SAWarning  # noqa: E402

warnings.filterwarnings("ignore", category=SAWarning, module=r"nbgrader\.api",
                        message=r"Object of type <Submitted\w+> not in session, add operation along '\w+\.\w+' will not proceed")

# Rendering a 20 s four-layer mix and measuring it takes a few seconds; give
# each cell room, but stop runaway code.
c.ExecutePreprocessor.timeout = 180
c.Execute.interrupt_on_timeout = True
# nbgrader's Execute raises when a cell's output takes longer than nbclient's iopub_timeout (4 s) to arrive
# after the cell ends ("Timeout waiting for IOPub output"); on a grading machine busy with other kernels a
# figure-drawing cell can take that long, and the whole notebook then fails. Wait as long as a cell may run.
c.Execute.iopub_timeout = 180

# Feedback never shows hidden tests: remove them from the cell source, and
# scrub any traceback or output that quotes them (nbgrader issues #917, #1363).
# ``layerlab grade`` also replaces every grade cell's output with the grader's
# own verdict before feedback is generated.
from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor  # noqa: E402
from nbgrader.preprocessors import GetGrades  # noqa: E402

from layerlab.grading import FeedbackStyle, FigureAltText, ScrubHiddenTests  # noqa: E402
from layerlab.grading.preprocessors import autograde_runners, autograde_sanitizers  # noqa: E402

# FeedbackStyle (after the CSS header, which it adds to) wraps long verdict lines inside the page.
# FigureAltText gives every figure alternative text (nbconvert's templates write none and its exporter warns).
c.GenerateFeedback.preprocessors = [ScrubHiddenTests, GetGrades, CSSHTMLHeaderPreprocessor, FeedbackStyle, FigureAltText]

# generate_assignment stores each locked cell's checksum before it cuts the hidden tests, so
# autograde would warn "Attribute 'checksum' ... has changed!" for every test cell of an
# untouched submission (nbgrader issue #1961): an untouched cell gets its hidden tests back
# before nbgrader compares (layerlab.grading.preprocessors.RestoreHiddenTests).
c.Autograde.sanitize_preprocessors = autograde_sanitizers()

# autograde runs each notebook in autograded/<student>/<lab>/, where the export cell writes
# deliverable/ (~36 MB) and the players write _layerlab_audio/: removed once it has run
# (layerlab.grading.preprocessors.RemoveRegenerated), since `layerlab grade` re-runs the
# submission to make the deliverable it measures.
c.Autograde.autograde_preprocessors = autograde_runners()
# formgrader's Manage Assignments page shows the configuration as JSON while this is on (its default); the preprocessor
# classes above are not JSON, so every visit logged "Formgrader config is not serializable" in the terminal
c.FormgradeExtension.debug = False
