"""How the checks put numbers into words (issue #17): no "-0.0 dB", no "-inf LUFS"."""

from __future__ import annotations

import math

import numpy as np
import pytest

from layerlab.checks import measure_ducking
from layerlab.checks.ducking import music_drop_phrase
from layerlab.checks.report import CheckResult
from layerlab.measure.masking import dialogue_activity
from signals import noise, speech_like

SR = 48_000
LINES_S = ((2.0, 4.5), (6.0, 8.0))


def _speech_and_bed():
    sc = np.zeros((10 * SR, 1), np.float32)
    for s, e in LINES_S:
        sc[int(s * SR) : int(e * SR)] = speech_like(e - s, seed=int(s))
    return dialogue_activity(sc, sample_rate=SR), noise(10.0, seed=3, amp=0.05).astype(np.float32)


@pytest.mark.parametrize("depth_db, words", [
    (0.0, "the music does not drop"), (-0.0, "the music does not drop"), (-0.04, "the music does not drop"),
    (0.04, "the music does not drop"), (3.24, "the music drops only 3.2 dB"), (-2.0, "the music rises 2.0 dB"),
])
def test_music_drop_phrase(depth_db, words):
    assert music_drop_phrase(depth_db) == words


def test_a_duck_that_does_nothing_and_one_that_lifts_the_music_in_words():
    act, music = _speech_and_bed()
    flat = measure_ducking(music, act, sample_rate=SR, reference=music)
    assert flat.depth_db == pytest.approx(0.0, abs=0.05)
    assert music_drop_phrase(flat.depth_db) == "the music does not drop"
    gain = np.ones(10 * SR, np.float32)
    for s, e in LINES_S:
        gain[int(s * SR) : int(e * SR)] = 10 ** (3 / 20)  # 3 dB louder under every line
    lifted = measure_ducking(music * gain[:, None], act, sample_rate=SR, reference=music)
    assert lifted.depth_db == pytest.approx(-3.0, abs=0.1)
    assert music_drop_phrase(lifted.depth_db) == "the music rises 3.0 dB"


@pytest.mark.parametrize("value", [-math.inf, math.inf, math.nan, None])
def test_a_value_that_does_not_exist_reads_n_a(value):
    r = CheckResult("loudness", value, "LUFS", "-14 ±1 LUFS", False, "silent")
    assert r.value_text() == "n/a"
    assert CheckResult("loudness", -14.04, "LUFS", "-14 ±1 LUFS", True, "ok").value_text() == "-14.0 LUFS"
