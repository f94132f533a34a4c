"""The true peak's candidate search equals full 4x oversampling (BS.1770-5 Annex 2, EBU Tech 3341).

The reference oversamples every position (:func:`oversampled_rows` of the audio with 32 zeros on
each side), takes the first largest |y| and refines it with :func:`refine_peak`; the meter only
oversamples windows whose bound (sum |h| of a phase times the largest |x| it reads) can reach
the best value so far. They must agree to 1e-9 on every kind of signal, at every block size.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from layerlab.measure.true_peak import (
    TruePeakMeter,
    interpolation_phases,
    interval_peaks,
    oversampled_rows,
    peaks_linear,
    refine_peak,
    true_peak_dbtp,
)

FS = 48000


def full_oversampling(x: np.ndarray) -> float:
    """True peak, linear, by oversampling every position of every channel."""
    best = 0.0
    for c in range(x.shape[1]):
        xp = np.concatenate([np.zeros(32), x[:, c].astype(np.float64), np.zeros(32)])
        y = oversampled_rows(xp)
        best = max(best, refine_peak(y, int(np.argmax(np.abs(y)))))
    return max(best, float(np.max(np.abs(x))))


def tone(freq_hz, phase_deg, amplitude, seconds=0.5, channels=2, fade_s=0.0):
    n = np.arange(int(seconds * FS))
    x = amplitude * np.sin(2 * np.pi * freq_hz * n / FS + math.radians(phase_deg))
    if fade_s:  # raised-cosine fades: an abrupt start overshoots by 0.4 dB (a real inter-sample peak)
        k = int(fade_s * FS)
        ramp = 0.5 - 0.5 * np.cos(np.pi * np.arange(k) / k)
        x[:k] *= ramp
        x[-k:] *= ramp[::-1]
    return np.repeat(x[:, None], channels, axis=1).astype(np.float32)


def signals():
    rng = np.random.default_rng(7)
    out = {"noise": (0.3 * rng.standard_normal((3 * FS, 2))).astype(np.float32)}
    for div in (4, 6, 8):
        for phase in (0.0, 22.5, 45.0, 60.0, 67.5, 90.0):
            out[f"sine_fs/{div}_{phase:g}deg"] = tone(FS / div, phase, 0.5)
    clipped = np.clip(tone(997.0, 0.0, 2.0, seconds=1.0), -1.0, 1.0)
    out["clipped_sine"] = clipped
    out["clipped_noise"] = np.clip(rng.standard_normal((FS, 2)), -0.9, 0.9).astype(np.float32)
    sparse = np.zeros((2 * FS, 2), dtype=np.float32)
    at = rng.choice(sparse.shape[0], 12, replace=False)
    sparse[at, rng.integers(0, 2, 12)] = rng.uniform(-1, 1, 12)
    out["sparse_impulses"] = sparse
    alt = np.zeros((FS, 1), dtype=np.float32)  # Nyquist burst: peaks between the samples
    alt[1000:1040, 0] = 0.5 * (-1.0) ** np.arange(40)
    out["nyquist_burst_mono"] = alt
    quiet = (1e-4 * rng.standard_normal((FS, 2))).astype(np.float32)
    quiet[FS // 2, 1] = 0.25  # one loud sample in a quiet channel: most windows pruned
    out["one_spike_in_hiss"] = quiet
    return out


SIGNALS = signals()


@pytest.mark.parametrize("name", sorted(SIGNALS))
def test_candidate_search_equals_full_oversampling(name):
    x = SIGNALS[name]
    assert peaks_linear(x)[1] == pytest.approx(full_oversampling(x), abs=1e-9, rel=0)


@pytest.mark.parametrize("name", ["noise", "sine_fs/6_60deg", "sparse_impulses", "one_spike_in_hiss"])
def test_block_size_does_not_change_the_result(name):
    x = SIGNALS[name]
    for size in (1, 37, 1000, 4096, 65536):
        if size < 37:
            x = x[:6000]  # sample by sample on a short stretch (every carry and edge case, in seconds)
        whole = peaks_linear(x)
        m = TruePeakMeter(x.shape[1])
        for a in range(0, x.shape[0], size):
            m.add(x[a : a + size])
        assert m.finish() == whole


def test_scene_renders_equal_full_oversampling():
    from layerlab.mix.scenes import hybrid_stack

    for scene in ("cafe_dialogue", "forest_broll"):
        r = hybrid_stack(scene, master=False).render(master=False)
        assert peaks_linear(r.mix)[1] == pytest.approx(full_oversampling(r.mix), abs=1e-9, rel=0)


@pytest.mark.parametrize(
    "div, phase, amplitude, expected_dbtp",
    [(4, 0.0, 0.5, -6.0), (4, 45.0, 0.5, -6.0), (6, 60.0, 0.5, -6.0), (8, 67.5, 0.5, -6.0), (4, 45.0, 1.41, 3.0)],
)
def test_ebu_tech_3341_true_peak_cases(div, phase, amplitude, expected_dbtp):
    # Tech 3341 cases 15-19: expected within +0.2 / -0.4 dB
    x = tone(FS / div, phase, amplitude, seconds=1.0, fade_s=0.1)
    tp = true_peak_dbtp(x, sample_rate=FS)
    assert expected_dbtp - 0.4 <= tp <= expected_dbtp + 0.2


def test_rows_are_the_polyphase_filter():
    # an impulse read through the rows gives back the filter taps in time order
    phases = interpolation_phases(4)
    x = np.zeros(64)
    x[31] = 1.0
    y = oversampled_rows(x)
    assert np.allclose(y[:4 * 32].reshape(32, 4)[::-1], phases, atol=0, rtol=1e-12)


def test_silence_reads_zero_and_sample_peak_is_a_floor():
    assert peaks_linear(np.zeros((4800, 2), np.float32)) == (0.0, 0.0)
    x = np.zeros((4800, 2), np.float32)
    x[100, 0] = 0.5
    sp, tp = peaks_linear(x)
    assert sp == 0.5 and tp >= sp


def between_samples_reference(x: np.ndarray) -> np.ndarray:
    """Largest |y| of the full oversampling between samples j - 1 and j, for j = 0 .. n (see interval_peaks)."""
    n = x.shape[0]
    xp = np.concatenate([np.zeros(32), x.astype(np.float64), np.zeros(32)])
    rows = np.abs(oversampled_rows(xp)).reshape(-1, 4).max(axis=1)
    return rows[16 : n + 17]  # row r reads xp[r : r + 32]: its values fall between samples r - 17 and r - 16


def test_interval_peaks_put_an_impulses_ringing_on_both_sides_of_it():
    """An impulse at sample k: the largest interpolated values are 1/8 sample either side of it, so the intervals
    (k - 1, k) and (k, k + 1) hold the largest values, equal by the filter's symmetry."""
    x = np.zeros(200)
    x[90] = 1.0
    v = interval_peaks(x)
    assert v.shape == (201,)
    assert set(np.flatnonzero(v == v.max())) == {90, 91}
    assert v[:40].max() == 0.0 and v[-40:].max() == 0.0  # the filter reaches 16 samples, no further
    np.testing.assert_allclose(v, between_samples_reference(x), rtol=0, atol=1e-15)


@pytest.mark.parametrize("name", ["noise", "sparse_impulses", "nyquist_burst_mono", "one_spike_in_hiss", "clipped_sine"])
def test_interval_peaks_are_the_full_oversampling_between_samples(name):
    x = SIGNALS[name]
    for c in range(x.shape[1]):
        np.testing.assert_allclose(interval_peaks(x[:, c]), between_samples_reference(x[:, c]), rtol=0, atol=1e-12)


def test_interval_peaks_under_a_floor_are_bounds_and_over_it_exact():
    x = SIGNALS["one_spike_in_hiss"][:, 1]
    exact = between_samples_reference(x)
    fast = interval_peaks(x, floor=0.01)
    assert np.all(fast >= exact - 1e-12)  # never under the truth
    same = np.abs(fast - exact) <= 1e-12
    assert np.all(fast[~same] < 0.01) and (~same).mean() > 0.9  # the hiss is bounded, not oversampled
    assert fast.max() == exact.max() > 0.2  # the 0.25 spike's ringing, exactly


def test_interval_peaks_of_a_quarter_rate_tone_at_45_degrees():
    """Tech 3341 case 16's tone: a crest half-way between every other pair of samples, the 4x grid 1/8 sample from
    it: those intervals read 0.5 cos(pi/16), the ones between (a zero crossing, the nearest grid point 5/8 sample from a crest) 0.5 cos(5 pi/16)."""
    x = tone(FS / 4, 45.0, 0.5, seconds=0.1, channels=1)[:, 0]
    v = interval_peaks(x)[100:-100]
    crest = 0 if v[0] > v[1] else 1
    np.testing.assert_allclose(v[crest::2], 0.5 * math.cos(math.pi / 16), rtol=2e-3)
    np.testing.assert_allclose(v[1 - crest :: 2], 0.5 * math.cos(5 * math.pi / 16), rtol=5e-3)
