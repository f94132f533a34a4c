"""Errors raised by Layer Lab.

Every error a learner can trigger is a subclass of :class:`LayerLabError` and
also of :class:`ValueError`, so ``except ValueError`` keeps working. Messages
say what is wrong, in which file, and how to fix it.

What the messages look like is shown in ``lessons/00_start_here.ipynb``.
"""

from __future__ import annotations


class LayerLabError(ValueError):
    """Base class of every error Layer Lab raises on bad input."""


class ParameterError(LayerLabError):
    """A function was called with an argument it cannot use."""


class AudioError(LayerLabError):
    """An audio file or array cannot be used as it is (empty, NaN, wrong rate, ...)."""


class SessionError(LayerLabError):
    """A ``session.json`` or deliverable folder is missing parts or malformed."""
