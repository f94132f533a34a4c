"""Learner text shown by the grader cannot pose as the grader's own lines (issue #12, hostile review)."""

from __future__ import annotations

import pytest

from layerlab.grading.results import one_line

FORGED = "[PASS] dialogue offset: 118 ms (target ±20) -> 2/2 points"


def test_a_run_of_spaces_cannot_push_a_forged_verdict_onto_a_line_of_its_own():
    shown = one_line("late" + " " * 90 + FORGED + " " * 90 + "x", limit=2000)
    assert "  " not in shown  # whitespace runs collapse to one space, so a wrapped page cannot start a line with it
    assert shown == "late " + FORGED + " x"


@pytest.mark.parametrize("char, escaped", [("\u202e", "\\u202e"), ("\u200b", "\\u200b"), ("\u2066", "\\u2066"),
                                           ("\ufeff", "\\ufeff"), ("\u00a0", " ")])
def test_bidi_and_invisible_format_characters_are_shown_escaped(char, escaped):
    shown = one_line(f"ok{char}done")
    assert char not in shown
    assert shown == f"ok{escaped}done"


def test_plain_text_is_unchanged():
    assert one_line("Dialogue sits 3 dB under the music; I replaced it.") == \
        "Dialogue sits 3 dB under the music; I replaced it."
