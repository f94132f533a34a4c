"""The audit's text report says "n/a" where a measurement does not exist, as ``layerlab measure`` does.

Issue #17: a silent or very quiet clip printed "-inf LUFS", "-inf dBTP", "nan-nan Hz" and a
"-200.0 dBFS" noise floor (the floor of the dB conversion, not a level).
"""

from __future__ import annotations

import re

import numpy as np

from layerlab.audit import audit_audio

SR = 48_000
LEAKS = re.compile(r"inf\b|nan\b|-200(\.0)?\b")


def test_digital_silence_reads_n_a_not_inf_nan_or_the_dB_floor():
    text = audit_audio(np.zeros((2 * SR, 2), dtype=np.float32), path="silence.wav").to_text()
    assert not LEAKS.search(text), text
    loudness, peak, band, noise = text.splitlines()[1:5]
    assert "n/a" in loudness and "LUFS" not in loudness.split("n/a")[0]
    assert "n/a" in peak and "n/a" in band and "n/a" in noise


def test_a_short_clip_under_the_absolute_gate_has_no_loudness_but_a_true_peak():
    """0.3 s of a 1 kHz tone at -80 dBFS peak: below BS.1770's -70 LUFS gate, so no loudness."""
    t = np.arange(int(0.3 * SR)) / SR
    tone = (10 ** (-80 / 20) * np.sin(2 * np.pi * 1000 * t)).astype(np.float32)[:, None].repeat(2, axis=1)
    r = audit_audio(tone, path="quiet.wav")
    assert r.integrated_lufs == -np.inf  # what the engine measures; only the text changes
    text = r.to_text()
    assert not LEAKS.search(text), text
    loudness, peak = text.splitlines()[1:3]
    assert "n/a" in loudness
    m = re.search(r"(-?\d+\.\d) dBTP", peak)
    assert m and abs(float(m.group(1)) + 80.0) < 0.2, peak
