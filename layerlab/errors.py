"""The one error hierarchy of Layer Lab.

Two families, so that a grader crash never reads as bad input:

* :class:`InputError` (also a :class:`ValueError`, so ``except ValueError``
  keeps working): the learner's or instructor's input cannot be used as it is.
  The message names the argument, file or key, says what is wrong and how to
  fix it, in one line. Subclasses say which kind of input.
* :class:`GraderError` (also a :class:`RuntimeError`): the kit's own machinery
  failed (the warm interpreter, the sandbox, a worker). Nothing is blamed on
  the learner; the work is retried or reported as incomplete.

Both derive from :class:`LayerLabError`, which the command line catches to
print one line instead of a traceback; in a notebook an :class:`InputError` is
shown as its one line too (IPython's ``_render_traceback_`` hook).

What the messages look like is shown in ``lessons/00_start_here.ipynb``.
"""

from __future__ import annotations


class LayerLabError(Exception):
    """Base class of every error Layer Lab raises on purpose."""


class InputError(LayerLabError, ValueError):
    """Bad input: an argument, file, session, scene, rubric or submission that cannot be used as it is."""

    def _render_traceback_(self) -> list[str]:
        """In a notebook, the one-line message without a traceback (IPython's hook for how an exception is shown).

        The message already names the argument, file or key and the fix; the frames inside the kit
        would only hide it. Kit faults (:class:`GraderError`) keep their traceback.
        """
        return [f"{type(self).__name__}: {self}"]


class ParameterError(InputError):
    """A function was called with an argument it cannot use."""


class AudioError(InputError):
    """An audio file or array cannot be used as it is (empty, NaN, wrong rate, ...)."""


class SessionError(InputError):
    """A ``session.json`` or deliverable folder is missing parts or malformed."""


class SceneError(InputError):
    """A scene is unknown, incomplete, or its cue sheet is malformed."""


class GradingError(InputError):
    """A submission, rubric or course folder cannot be graded as it is."""


class GraderError(LayerLabError, RuntimeError):
    """The grader's own machinery failed (not the learner's fault)."""


class ZygoteError(GraderError):
    """The grader's warm interpreter could not start or fork a task."""


class SandboxError(GraderError):
    """The operating-system sandbox for learner code could not be set up."""


class GraderSetupError(GraderError):
    """The grader's own set-up cannot run any notebook (found by a probe before a batch): nobody is graded."""


class MissingToolError(LayerLabError, RuntimeError):
    """A program Layer Lab needs for this input (ffmpeg for MP3/MP4) is not installed; the message says how to get it."""
