"""The cue sheet the audit reads the dialogue lines from, and whether it belongs to the clip.

``layerlab audit CLIP --cues cues.json`` (or a ``cues.json`` beside the clip: a kit scene's ``native.mp4``)
measures the voice's band during the cued lines. A cue sheet of another clip would measure the wrong
stretches, so it is refused: one whose ``duration_s`` differs from the clip's, or whose lines end after the
clip does (beyond ``CUE_TOLERANCE_S``). Only the ``dialogue`` lines (``id``, ``start_s``, ``end_s``) and the
optional ``scene`` and ``duration_s`` are read: a learner's own cue sheet needs no more (a kit scene's full
schema is :mod:`layerlab.io.cuesheet`).

Taught in ``labs/lab1_audit/lab1_audit.ipynb``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from layerlab.errors import InputError

__all__ = ["CueLines", "read_cue_lines", "CUE_TOLERANCE_S"]

CUE_TOLERANCE_S = 0.25
"""How far a cue sheet's duration or a line's end may lie past the clip's end: an AAC stream's priming and
padding (up to 3136 samples, 65 ms at 48 kHz) plus a few frames of container slack (42 ms a frame at 24 fps)."""

FIX = "pass the right cue sheet with --cues, or --no-cues to audit without one."


@dataclass
class CueLines:
    """The dialogue lines of a cue sheet.

    Attributes
    ----------
    path : str
        The file read.
    lines : list of (str, float, float)
        Each line's id, start_s and end_s (seconds).
    scene : str or None
        The cue sheet's ``scene``, if it has one.
    duration_s : float or None
        The cue sheet's ``duration_s``, if it has one.
    """

    path: str
    lines: list = field(default_factory=list)
    scene: str | None = None
    duration_s: float | None = None

    @property
    def spans_s(self) -> list[tuple[float, float]]:
        """The lines' (start_s, end_s), as :func:`layerlab.audit.audit_audio` takes them."""
        return [(s, e) for _, s, e in self.lines]

    def check_fits(self, duration_s: float, *, tolerance_s: float = CUE_TOLERANCE_S) -> None:
        """Refuse a cue sheet that is not the clip's.

        Parameters
        ----------
        duration_s : float
            The clip's length in seconds.
        tolerance_s : float

        Raises
        ------
        InputError
            In one line naming the file, the scene or line, both lengths and the fix: the cue sheet's
            ``duration_s`` differs from the clip's by more than ``tolerance_s``, or a line ends more than
            ``tolerance_s`` after the clip.
        """
        what = f"the cue sheet of scene '{self.scene}'" if self.scene else "the cue sheet"
        if self.duration_s is not None and abs(self.duration_s - duration_s) > tolerance_s:
            raise InputError(f"{self.path}: {what} is {self.duration_s:.1f} s long, the clip {duration_s:.1f} s: "
                             f"it is not this clip's; {FIX}")
        for line_id, _, end in self.lines:
            if end > duration_s + tolerance_s:
                raise InputError(f"{self.path}: line '{line_id}' ends at {end:g} s, after the clip ends "
                                 f"({duration_s:.1f} s): it is not this clip's cue sheet; {FIX}")


def _seconds(value) -> float:
    """A time in seconds from JSON: a number (or a numeric string), never a boolean (``true`` is not 1 s)."""
    if isinstance(value, bool):
        raise TypeError(f"{value!r} is not a number of seconds")
    return float(value)


def read_cue_lines(path, *, fix: str = "fix the file, or give a scene's cues.json.") -> CueLines:
    """Read the dialogue lines of a cue sheet.

    Parameters
    ----------
    path : str or Path
    fix : str
        What the one-line message ends with: how to fix it (the command line says, for a cue sheet found beside
        the clip, that it was not used).

    Returns
    -------
    CueLines

    Raises
    ------
    InputError
        In one line naming the file: it cannot be read (a folder; binary data such as the clip itself), is not
        valid JSON (with the line and column where it breaks), or has no ``dialogue`` list of lines with
        ``start_s`` and ``end_s`` in seconds; or (naming the line) a time that is not a finite number (NaN,
        Infinity, ``true``), a line starting before 0 s or ending at or before its start; or a ``duration_s``
        that is not a finite number over 0.
    """
    path = Path(path)
    if path.is_dir():
        raise InputError(f"{path}: is a folder, not a cue sheet; {fix}")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:  # a clip, a WAV, a zip: `--cues` pointed at the wrong file
        raise InputError(f"{path}: not a JSON cue sheet (binary data: is it the clip or a sound file?); "
                         f"{fix}") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot be read ({exc.__class__.__name__}: {exc}); {fix}") from None
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}: not valid JSON (line {exc.lineno} column {exc.colno}: {exc.msg}); {fix}") from None
    try:
        lines = []
        for k, d in enumerate(raw["dialogue"]):
            line_id = str(d.get("id", k + 1))
            try:
                lines.append((line_id, _seconds(d["start_s"]), _seconds(d["end_s"])))
            except (TypeError, ValueError):
                raise InputError(f"{path}: line '{line_id}' has start_s {d['start_s']!r}, end_s {d['end_s']!r}: "
                                 f"not a number of seconds; {fix}") from None
        scene = raw.get("scene")
        duration = raw.get("duration_s")
        duration = None if duration is None else _seconds(duration)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise InputError(f"{path}: needs a 'dialogue' list of lines with start_s and end_s in seconds ({exc!r}); "
                         f"{fix}") from None
    if duration is not None and not (math.isfinite(duration) and duration > 0):
        raise InputError(f"{path}: duration_s is {duration!r}, not a finite number of seconds over 0; {fix}")
    for line_id, start, end in lines:
        where = f"{path}: line '{line_id}'"
        if not (math.isfinite(start) and math.isfinite(end)):
            raise InputError(f"{where} has start_s {start!r}, end_s {end!r}: not a finite number of seconds; {fix}")
        if start < 0:
            raise InputError(f"{where} starts at {start:g} s, before 0 (the clip's start); {fix}")
        if not end > start:
            raise InputError(f"{where} ends at {end:g} s, not after its start ({start:g} s); {fix}")
    return CueLines(path=str(path), lines=lines, scene=None if scene is None else str(scene), duration_s=duration)
