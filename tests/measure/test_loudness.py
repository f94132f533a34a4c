"""Loudness, loudness range and true peak against signals with published answers.

The EBU Tech 3341 (cases 1-6, 9-23) and Tech 3342 (cases 1-4) conformance
signals are synthesized here from their published definitions, at 48 kHz and
at 44.1 kHz, and checked against the published tolerances: I/M/S ±0.1 LU,
true peak +0.2/-0.4 dB, LRA ±1 LU. Integrated loudness is cross-checked
against pyloudnorm (whose ``DeMan`` filter is the BS.1770 filter) on
noise- and speech-like signals at several rates and channel counts.
"""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pytest
from scipy import signal

from layerlab.errors import AudioError, LayerLabError, ParameterError
from layerlab.measure.loudness import (
    LoudnessReport,
    LoudnessSeries,
    Meter,
    channel_weights,
    gated_loudness,
    integrated_loudness,
    k_weighting_sos,
    loudness_range,
    momentary_loudness,
    sample_peak_dbfs,
    short_term_loudness,
    speech_mask_from_stem,
    true_peak_dbtp,
)
from layerlab.measure.targets import PROFILE_NAMES, PROFILES, DeliveryProfile, get_profile, load_profiles
from signals import sine_dbfs as tone

RATES = [48000, 44100]
LOUDNESS_TOL = 0.1  # LU, Tech 3341 I/M/S
LRA_TOL = 1.0  # LU, Tech 3342
TP_OVER, TP_UNDER = 0.2, 0.4  # dB, Tech 3341 true peak


# --------------------------------------------------------------------------- signal helpers


def silence(duration_s, fs, channels=2):
    return np.zeros((int(round(duration_s * fs)), channels))


def seq(*parts):
    return np.concatenate(parts, axis=0).astype(np.float32)


def faded(x, fs, fade_s=0.1):
    """Hann fade in and out (the EBU true-peak tones are steady tones, not hard-edged bursts)."""
    m = int(fade_s * fs)
    w = signal.windows.hann(2 * m)
    y = x.copy()
    y[:m] *= w[:m, None]
    y[-m:] *= w[m:, None]
    return y.astype(np.float32)


def assert_within(value, expected, tol, what=""):
    assert math.isfinite(value), f"{what}: got {value}"
    assert abs(value - expected) <= tol, f"{what}: {value:.3f} vs {expected} ±{tol}"


def assert_tp(value, expected, what=""):
    assert expected - TP_UNDER <= value <= expected + TP_OVER, f"{what}: {value:.3f} dBTP, expected {expected} +0.2/-0.4"


def reference_true_peak(x):
    """Peak of a 64x FFT reconstruction of a zero-padded channel (the truth the meter approximates)."""
    n = x.shape[0]
    spec = np.fft.rfft(np.concatenate([x, np.zeros(n)]))
    y = np.fft.irfft(spec, 2 * n * 64) * 64
    return float(np.abs(y).max())


# --------------------------------------------------------------------------- K-weighting


def test_k_weighting_at_48k_is_the_bs1770_table():
    sos = k_weighting_sos(48000)
    table_shelf_b = [1.53512485958697, -2.69169618940638, 1.19839281085285]
    table_shelf_a = [1.0, -1.69065929318241, 0.73248077421585]
    table_hp_b = [1.0, -2.0, 1.0]
    table_hp_a = [1.0, -1.99004745483398, 0.99007225036621]
    np.testing.assert_allclose(sos[0, :3], table_shelf_b, rtol=0, atol=1e-13)
    np.testing.assert_allclose(sos[0, 3:], table_shelf_a, rtol=0, atol=1e-13)
    np.testing.assert_allclose(sos[1, :3], table_hp_b, rtol=0, atol=1e-13)
    np.testing.assert_allclose(sos[1, 3:], table_hp_a, rtol=0, atol=1e-13)


# how far the derived filter may stray from the 48 kHz response below 0.4 fs: the bilinear
# transform squeezes the shelf's transition at low rates (pre-warped only at its centre)
RESPONSE_TOL_DB = {8000: 0.25, 11025: 0.15, 16000: 0.07, 22050: 0.035, 32000: 0.015, 44100: 0.005,
                   88200: 0.01, 96000: 0.01, 192000: 0.01}


@pytest.mark.parametrize("fs", sorted(RESPONSE_TOL_DB))
def test_k_weighting_response_is_the_same_at_every_rate(fs):
    ref = k_weighting_sos(48000)
    sos = k_weighting_sos(fs)
    freqs = np.array([20.0, 50.0, 100.0, 500.0, 1000.0, 2000.0, 3000.0, 6000.0, 10000.0, 16000.0])
    freqs = freqs[freqs < 0.4 * fs]
    _, h_ref = signal.sosfreqz(ref, worN=freqs, fs=48000)
    _, h = signal.sosfreqz(sos, worN=freqs, fs=fs)
    db_ref, db = 20 * np.log10(np.abs(h_ref)), 20 * np.log10(np.abs(h))
    np.testing.assert_allclose(db, db_ref, atol=RESPONSE_TOL_DB[fs])
    # the low end (the high-pass) matches at every rate
    np.testing.assert_allclose(db[:3], db_ref[:3], atol=0.002)


@pytest.mark.parametrize("fs", [16000, 22050, 32000, 44100, 96000, 192000])
def test_the_same_programme_reads_the_same_at_every_rate(fs):
    rng = np.random.default_rng(5)
    base = _speech_like(48000 * 8, 48000, rng, 2).astype(np.float64)
    base = signal.sosfiltfilt(signal.butter(8, 0.4 * min(fs, 48000), fs=48000, output="sos"), base, axis=0)
    from math import gcd

    g = gcd(fs, 48000)
    other = signal.resample_poly(base, fs // g, 48000 // g, axis=0).astype(np.float32)
    at_48k = integrated_loudness(base.astype(np.float32), sample_rate=48000)
    assert integrated_loudness(other, sample_rate=fs) == pytest.approx(at_48k, abs=0.05)


@pytest.mark.parametrize("fs", [7999, 192001, 44100.5, "48k", None])
def test_unsupported_rates_raise_parameter_error(fs):
    with pytest.raises(ParameterError, match="sample_rate"):
        integrated_loudness(np.zeros((48000, 2), np.float32), sample_rate=fs)


def test_997hz_full_scale_sine_in_one_channel_reads_minus_3_01():
    fs = 48000
    x = tone(0.0, 5.0, fs, freq_hz=997.0, channels=1).astype(np.float32)
    # BS.1770's calibration is for one channel of weight 1 (a lone channel of a stereo pair)
    assert_within(integrated_loudness(x, sample_rate=fs, channel_weights=(1.0,)), -3.01, 0.01, "997 Hz, weight 1")
    left_only = np.concatenate([x, np.zeros_like(x)], axis=1)
    assert_within(integrated_loudness(left_only, sample_rate=fs), -3.01, 0.01, "997 Hz in L of a stereo pair")


# --------------------------------------------------------------------------- Tech 3341 cases 1-6


@pytest.mark.parametrize("fs", RATES)
@pytest.mark.parametrize("level", [-23.0, -33.0], ids=["case1", "case2"])
def test_tech3341_cases_1_2_steady_tone(fs, level):
    x = seq(tone(level, 20.0, fs))
    r = Meter(fs).measure(x)
    assert_within(r.integrated_lufs, level, LOUDNESS_TOL, "I")
    assert_within(r.max_momentary_lufs, level, LOUDNESS_TOL, "max M")
    assert_within(r.max_short_term_lufs, level, LOUDNESS_TOL, "max S")
    # M and S are constant once their window is full
    assert np.all(np.abs(r.momentary.lufs - level) <= LOUDNESS_TOL)
    assert np.all(np.abs(r.short_term.lufs - level) <= LOUDNESS_TOL)
    assert len(r.momentary) > 1000 and len(r.short_term) > 1000


@pytest.mark.parametrize("fs", RATES)
def test_tech3341_case3_relative_gate(fs):
    x = seq(tone(-36, 10, fs), tone(-23, 60, fs), tone(-36, 10, fs))
    assert_within(integrated_loudness(x, sample_rate=fs), -23.0, LOUDNESS_TOL, "case 3")


@pytest.mark.parametrize("fs", RATES)
def test_tech3341_case4_absolute_and_relative_gate(fs):
    x = seq(tone(-72, 10, fs), tone(-36, 10, fs), tone(-23, 60, fs), tone(-36, 10, fs), tone(-72, 10, fs))
    assert_within(integrated_loudness(x, sample_rate=fs), -23.0, LOUDNESS_TOL, "case 4")


@pytest.mark.parametrize("fs", RATES)
def test_tech3341_case5_gating_at_block_level(fs):
    x = seq(tone(-26, 20, fs), tone(-20, 20.1, fs), tone(-26, 20, fs))
    assert_within(integrated_loudness(x, sample_rate=fs), -23.0, LOUDNESS_TOL, "case 5")


def _five_channel(fs, duration_s=20.0):
    levels = [-28.0, -28.0, -24.0, -30.0, -30.0]  # L R C Ls Rs
    return np.concatenate([tone(lv, duration_s, fs, channels=1) for lv in levels], axis=1)


@pytest.mark.parametrize("fs", RATES)
def test_tech3341_case6_five_channels(fs):
    x = _five_channel(fs).astype(np.float32)
    assert_within(integrated_loudness(x, sample_rate=fs), -23.0, LOUDNESS_TOL, "case 6, 5.0")


@pytest.mark.parametrize("fs", RATES)
def test_tech3341_case6_as_5_1_with_a_silent_lfe(fs):
    five = _five_channel(fs)
    six = np.concatenate([five[:, :3], np.zeros((five.shape[0], 1)), five[:, 3:]], axis=1).astype(np.float32)
    assert_within(integrated_loudness(six, sample_rate=fs), -23.0, LOUDNESS_TOL, "case 6, 5.1")


# --------------------------------------------------------------------------- channel weights


def test_5_1_leaves_the_lfe_out_and_weights_surrounds():
    fs = 48000
    base = tone(-20.0, 5.0, fs, channels=1)[:, 0]
    n = base.shape[0]

    def only(ch):
        x = np.zeros((n, 6), np.float32)
        x[:, ch] = base
        return integrated_loudness(x, sample_rate=fs)

    left, centre, lfe, ls, rs = only(0), only(2), only(3), only(4), only(5)
    assert lfe == -math.inf
    assert abs(centre - left) < 1e-9
    assert_within(ls - left, 10 * math.log10(1.41), 1e-6, "Ls weight")
    assert_within(rs - left, 10 * math.log10(1.41), 1e-6, "Rs weight")
    # a loud LFE does not move the programme loudness
    mix = _five_channel(fs, 5.0)
    six = np.concatenate([mix[:, :3], tone(-6.0, 5.0, fs, freq_hz=60.0, channels=1), mix[:, 3:]], axis=1)
    silent_lfe = six.copy()
    silent_lfe[:, 3] = 0
    assert integrated_loudness(six.astype(np.float32), sample_rate=fs) == pytest.approx(
        integrated_loudness(silent_lfe.astype(np.float32), sample_rate=fs), abs=1e-9
    )


def test_channel_weights_table_and_unsupported_counts():
    assert channel_weights(1) == (2.0,)  # a mono file is measured as dual-mono
    assert channel_weights(3, positions=["FL", "FR", "LFE"]) == (1.0, 1.0, 0.0)
    assert channel_weights(4, positions=["FL", "FR", "SL", "SR"]) == (1.0, 1.0, 1.41, 1.41)
    with pytest.raises(ParameterError, match="position"):
        channel_weights(2, positions=["FL", "XX"])
    assert channel_weights(2) == (1.0, 1.0)
    assert channel_weights(5) == (1.0, 1.0, 1.0, 1.41, 1.41)
    assert channel_weights(6) == (1.0, 1.0, 1.0, 0.0, 1.41, 1.41)
    for n in (7, 8):
        with pytest.raises(ParameterError, match="1 to 6 channels"):
            integrated_loudness(np.zeros((48000, n), np.float32))


def test_mono_reads_as_dual_mono_and_weight_one_is_3_db_lower():
    fs = 48000
    mono = tone(-20.0, 5.0, fs, channels=1).astype(np.float32)
    stereo = np.repeat(mono, 2, axis=1)  # how a mono mix plays on a stereo pair (and how `check` up-mixes it)
    assert_within(integrated_loudness(stereo, sample_rate=fs) - integrated_loudness(mono, sample_rate=fs), 0.0, 1e-9,
                  "dual-mono - mono")
    assert_within(
        integrated_loudness(mono, sample_rate=fs) - integrated_loudness(mono, sample_rate=fs, channel_weights=(1.0,)),
        10 * math.log10(2),
        1e-6,
        "dual-mono - BS.1770 single channel",
    )


# --------------------------------------------------------------------------- Tech 3341 cases 9-14 (M and S)


@pytest.mark.parametrize("fs", RATES)
def test_tech3341_case9_short_term_constant_after_3s(fs):
    period = [tone(-20, 1.34, fs), tone(-30, 1.66, fs)]
    x = seq(*(period * 5))
    s = short_term_loudness(x, sample_rate=fs)
    assert s.times_s[0] == pytest.approx(3.0)
    assert np.all(np.abs(s.lufs - (-23.0)) <= LOUDNESS_TOL), (s.lufs.min(), s.lufs.max())


@pytest.mark.parametrize("fs", RATES)
def test_tech3341_case10_max_short_term_of_each_burst(fs):
    # 20 files, each a 3 s burst at -23 dBFS that starts at a different point of the meter's time grid
    for i in range(20):
        offset_s = 0.15 * i + 0.00137 * i
        x = seq(silence(offset_s, fs), tone(-23, 3.0, fs), silence(1.0, fs))
        r = Meter(fs).measure(x)
        assert_within(r.max_short_term_lufs, -23.0, LOUDNESS_TOL, f"case 10 segment {i + 1}")


@pytest.mark.parametrize("fs", RATES)
def test_tech3341_case11_successive_short_term_maxima(fs):
    parts, segment_s = [], 6.0
    for i in range(20):
        offset_s = 0.15 * i + 0.0011 * i
        parts += [silence(offset_s, fs), tone(-38 + i, 3.0, fs), silence(segment_s - 3.0 - offset_s, fs)]
    x = seq(*parts)
    s = short_term_loudness(x, sample_rate=fs)
    for i in range(20):
        inside = (s.times_s > i * segment_s) & (s.times_s <= (i + 1) * segment_s)
        assert_within(float(s.lufs[inside].max()), -38.0 + i, LOUDNESS_TOL, f"case 11 segment {i + 1}")


@pytest.mark.parametrize("fs", RATES)
def test_tech3341_case12_momentary_constant_after_1s(fs):
    period = [tone(-20, 0.18, fs), tone(-30, 0.22, fs)]
    x = seq(*(period * 25))
    m = momentary_loudness(x, sample_rate=fs)
    late = m.times_s >= 1.0
    assert late.sum() > 800
    assert np.all(np.abs(m.lufs[late] - (-23.0)) <= LOUDNESS_TOL), (m.lufs[late].min(), m.lufs[late].max())


@pytest.mark.parametrize("fs", RATES)
def test_tech3341_case13_max_momentary_of_each_burst(fs):
    # 20 files, each a 0.4 s burst at -23 dBFS at a different offset from the 10 ms grid;
    # a meter on a 100 ms step would read up to 0.45 LU low here
    for i in range(20):
        offset_s = 0.3 + 0.0213 * i
        x = seq(silence(offset_s, fs), tone(-23, 0.4, fs), silence(1.0, fs))
        r = Meter(fs).measure(x)
        assert_within(r.max_momentary_lufs, -23.0, LOUDNESS_TOL, f"case 13 segment {i + 1}")


@pytest.mark.parametrize("fs", RATES)
def test_tech3341_case14_successive_momentary_maxima(fs):
    parts, segment_s = [], 0.8
    for i in range(20):
        offset_s = 0.019 * i
        parts += [silence(offset_s, fs), tone(-38 + i, 0.4, fs), silence(segment_s - 0.4 - offset_s, fs)]
    x = seq(*parts)
    m = momentary_loudness(x, sample_rate=fs)
    for i in range(20):
        inside = (m.times_s > i * segment_s) & (m.times_s <= (i + 1) * segment_s + 1e-9)
        assert_within(float(m.lufs[inside].max()), -38.0 + i, LOUDNESS_TOL, f"case 14 segment {i + 1}")


def test_a_100ms_step_would_fail_case13_and_the_meter_refuses_coarser_steps():
    fs = 48000
    x = seq(silence(0.35, fs), tone(-23, 0.4, fs), silence(1.0, fs))
    fine = Meter(fs, step_ms=10).measure(x).max_momentary_lufs
    coarse = Meter(fs, step_ms=100).measure(x).max_momentary_lufs
    assert abs(fine + 23.0) <= LOUDNESS_TOL
    assert coarse < -23.0 - LOUDNESS_TOL  # the pitfall Tech 3341 guards against
    with pytest.raises(ParameterError, match="step_ms"):
        Meter(fs, step_ms=150)


# --------------------------------------------------------------------------- Tech 3341 cases 15-23 (true peak)

TP_CASES = [
    # case, frequency as a fraction of fs, phase (degrees), amplitude (FS), expected dBTP
    (15, 1 / 4, 0.0, 0.50, -6.0),
    (16, 1 / 4, 45.0, 0.50, -6.0),
    (17, 1 / 6, 60.0, 0.50, -6.0),
    (18, 1 / 8, 67.5, 0.50, -6.0),
    (19, 1 / 4, 45.0, 1.41, +3.0),
]


@pytest.mark.parametrize("fs", RATES)
@pytest.mark.parametrize("case,frac,phase,amp,expected", TP_CASES, ids=[f"case{c[0]}" for c in TP_CASES])
def test_tech3341_cases_15_to_19_true_peak(fs, case, frac, phase, amp, expected):
    x = faded(tone(20 * math.log10(amp), 1.0, fs, freq_hz=frac * fs, phase_deg=phase), fs)
    tp = true_peak_dbtp(x, sample_rate=fs)
    assert_tp(tp, expected, f"case {case}")
    report = Meter(fs).measure(x)
    assert report.true_peak_dbtp == pytest.approx(tp)
    assert report.sample_peak_dbfs <= tp + 1e-9


def test_case16_sample_peak_sits_3_db_under_the_true_peak():
    fs = 48000
    x = faded(tone(20 * math.log10(0.5), 1.0, fs, freq_hz=fs / 4, phase_deg=45.0), fs)
    assert_within(sample_peak_dbfs(x), -9.03, 0.02, "sample peak")
    assert_tp(true_peak_dbtp(x, sample_rate=fs), -6.0, "true peak")


@pytest.mark.parametrize("fs", RATES)
@pytest.mark.parametrize("offset", [0, 1, 2, 3], ids=["case20", "case21", "case22", "case23"])
def test_tech3341_cases_20_to_23_peak_between_samples(fs, offset):
    # EBU ships cases 20-23 as files: one 0 dBTP signal taken from a 4x-rate original with
    # 0, 1, 2 and 3 samples of offset, so the peak falls at four different points between the
    # samples. Rebuilt here from a signal whose continuous peak is exactly 1.0 (0 dBTP): a tone
    # at fs/6, faded in and out, sampled from the 4x grid at each offset.
    n = fs
    t = (np.arange(n) + offset / 4.0) / fs
    x = np.sin(2 * np.pi * (fs / 6.0) * t + np.deg2rad(7.5))[:, None].repeat(2, axis=1)
    x = faded(x, fs)
    assert sample_peak_dbfs(x) < -0.05  # the samples alone miss the peak
    assert_tp(true_peak_dbtp(x, sample_rate=fs), 0.0, f"case {20 + offset}")


@pytest.mark.parametrize("fs", RATES)
def test_true_peak_matches_a_64x_reconstruction_on_band_limited_noise(fs):
    rng = np.random.default_rng(7)
    for cutoff in (0.25, 0.45):
        taps = signal.firwin(255, cutoff * 2)
        for _ in range(3):
            z = signal.lfilter(taps, 1, rng.standard_normal(4096)) * np.hanning(4096)
            z = (z / np.abs(z).max() * 0.7).astype(np.float32)
            truth = 20 * math.log10(reference_true_peak(z.astype(np.float64)))
            got = true_peak_dbtp(z[:, None], sample_rate=fs)
            assert -0.05 <= got - truth <= 0.05, (cutoff, got, truth)


def test_true_peak_search_over_a_long_signal_finds_a_single_late_peak():
    # exercises the chunk skipping: only one short burst can hold the peak
    fs = 48000
    rng = np.random.default_rng(3)
    x = (rng.standard_normal((fs * 30, 2)) * 0.001).astype(np.float32)
    burst = faded(tone(20 * math.log10(0.5), 0.3, fs, freq_hz=fs / 4, phase_deg=45.0), fs, fade_s=0.05)
    start = fs * 27 + 123
    x[start : start + burst.shape[0], 1] += burst[:, 1]
    assert_tp(true_peak_dbtp(x, sample_rate=fs), -6.0, "late burst")
    assert true_peak_dbtp(x, sample_rate=fs, oversample=8) == pytest.approx(true_peak_dbtp(x, sample_rate=fs), abs=0.05)


def test_oversample_parameter_is_checked():
    x = np.zeros((4800, 1), np.float32)
    for bad in (0, 33, 2.5, True):
        with pytest.raises(ParameterError, match="oversample"):
            true_peak_dbtp(x, oversample=bad)


# --------------------------------------------------------------------------- Tech 3342 (LRA)

LRA_CASES = [
    (1, [(-20, 20), (-30, 20)], 10.0),
    (2, [(-20, 20), (-15, 20)], 5.0),
    (3, [(-40, 20), (-20, 20)], 20.0),
    (4, [(-50, 20), (-35, 20), (-20, 20), (-35, 20), (-50, 20)], 15.0),
]


@pytest.mark.parametrize("fs", RATES)
@pytest.mark.parametrize("case,parts,expected", LRA_CASES, ids=[f"case{c[0]}" for c in LRA_CASES])
def test_tech3342_cases_1_to_4_loudness_range(fs, case, parts, expected):
    x = seq(*(tone(level, dur, fs) for level, dur in parts))
    assert_within(loudness_range(x, sample_rate=fs), expected, LRA_TOL, f"Tech 3342 case {case}")


def test_lra_of_a_steady_programme_is_near_zero_and_of_silence_is_nan():
    fs = 48000
    assert loudness_range(seq(tone(-20, 30, fs)), sample_rate=fs) < 0.5
    assert math.isnan(loudness_range(np.zeros((fs * 10, 2), np.float32), sample_rate=fs))


# --------------------------------------------------------------------------- pyloudnorm cross-check


def _speech_like(n, fs, rng, channels):
    """Noise shaped like speech: 4 Hz syllable envelope, pauses, a low-passed spectrum."""
    noise = rng.standard_normal((n, channels))
    b, a = signal.butter(2, [200 / (fs / 2), min(4000, 0.45 * fs) / (fs / 2)], btype="band")
    voiced = signal.lfilter(b, a, noise, axis=0)
    t = np.arange(n) / fs
    envelope = np.clip(np.sin(2 * np.pi * 4.0 * t), 0, None) ** 2
    phrases = (np.sin(2 * np.pi * 0.2 * t) > -0.3).astype(float)  # pauses between phrases
    return (0.3 * voiced * (envelope * phrases)[:, None]).astype(np.float32)


@pytest.mark.parametrize(
    "fs,channels,kind",
    [(44100, 1, "speech"), (44100, 2, "noise"), (48000, 2, "speech"), (48000, 5, "noise"), (96000, 2, "speech"),
     (32000, 1, "noise")],
)
def test_integrated_loudness_agrees_with_pyloudnorm(fs, channels, kind):
    # pyloudnorm keeps the published high-pass numerator at every rate, so away from 48 kHz its
    # pass band drifts by a few hundredths of a dB (0.02 at 32 and 96 kHz); the tolerance allows it
    import pyloudnorm

    rng = np.random.default_rng(fs + channels)
    n = fs * 12
    if kind == "speech":
        x = _speech_like(n, fs, rng, channels)
    else:
        pink = signal.lfilter([0.049922035, -0.095993537, 0.050612699, -0.004408786],
                              [1, -2.494956002, 2.017265875, -0.522189400], rng.standard_normal((n, channels)), axis=0)
        ramp = np.linspace(0.2, 1.0, n)[:, None]  # level changes so the gates matter
        x = (0.2 * pink * ramp).astype(np.float32)
    meter = pyloudnorm.Meter(fs, filter_class="DeMan")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = meter.integrated_loudness(x.astype(np.float64))
    tol = 0.005 if fs in (44100, 48000) else 0.03
    weights = (1.0,) if channels == 1 else None  # pyloudnorm weighs a mono channel 1.0 (BS.1770), the kit 2.0
    assert integrated_loudness(x, sample_rate=fs, channel_weights=weights) == pytest.approx(expected, abs=tol)


# --------------------------------------------------------------------------- dialogue-gated loudness


def test_dialogue_gated_loudness_measures_only_where_the_dialogue_stem_speaks():
    fs = 48000
    rng = np.random.default_rng(11)
    block = 2 * fs
    speech_piece = _speech_like(block, fs, rng, 2)
    speech_piece *= 10 ** ((-20.0 - integrated_loudness(speech_piece, sample_rate=fs)) / 20)  # speech at -20 LUFS
    pattern = [True, False, True, True, False, False, True, False]
    dialogue = np.concatenate([speech_piece if on else np.zeros_like(speech_piece) for on in pattern])
    music = rng.standard_normal(dialogue.shape)
    music = (music * 10 ** ((-27.0 - integrated_loudness(music.astype(np.float32), sample_rate=fs)) / 20)).astype(
        np.float32
    )  # a music bed at -27 LUFS under everything
    mix = dialogue + music
    mask = speech_mask_from_stem(dialogue, sample_rate=fs)
    gated = gated_loudness(mix, mask=mask, sample_rate=fs)
    # the truth: the loudness of speech-plus-music stretches, measured on their own
    speech_parts = np.concatenate([mix[i * block : (i + 1) * block] for i, on in enumerate(pattern) if on])
    expected = integrated_loudness(speech_parts, sample_rate=fs)
    assert gated == pytest.approx(expected, abs=0.5)
    whole = integrated_loudness(mix, sample_rate=fs)
    music_only = integrated_loudness(music, sample_rate=fs)
    assert gated > whole + 1.0  # the music-only stretches pulled the whole-mix figure down
    assert whole > music_only
    # a per-sample mask gives the same answer as the per-block mask built from it
    sample_mask = np.repeat(np.array(pattern), block)
    assert gated_loudness(mix, mask=sample_mask, sample_rate=fs) == pytest.approx(expected, abs=0.5)


def test_gated_loudness_rejects_a_mask_of_the_wrong_length_and_handles_no_speech():
    fs = 48000
    x = seq(tone(-20, 3.0, fs))
    with pytest.raises(ParameterError, match="mask"):
        gated_loudness(x, mask=np.ones(1234, bool), sample_rate=fs)
    assert gated_loudness(x, mask=np.zeros(x.shape[0], bool), sample_rate=fs) == -math.inf
    everything = gated_loudness(x, mask=np.ones(x.shape[0], bool), sample_rate=fs)
    assert everything == pytest.approx(integrated_loudness(x, sample_rate=fs), abs=1e-9)


# --------------------------------------------------------------------------- silence, report, validation


def test_silence_reads_minus_inf_and_none_in_json():
    fs = 48000
    r = Meter(fs).measure(np.zeros((fs * 4, 2), np.float32))
    assert r.integrated_lufs == -math.inf
    assert r.true_peak_dbtp == -math.inf and r.sample_peak_dbfs == -math.inf
    assert math.isnan(r.lra_lu)
    d = r.to_dict()
    for key in ("integrated_lufs", "true_peak_dbtp", "sample_peak_dbfs", "lra_lu", "max_momentary_lufs",
                "max_short_term_lufs"):
        assert d[key] is None, key
    assert d["sample_rate"] == fs and d["channels"] == 2 and d["duration_s"] == pytest.approx(4.0)
    json.dumps(d, allow_nan=False)  # strict JSON


def test_report_fields_series_and_json_with_series():
    fs = 44100
    x = seq(tone(-18, 5.0, fs))
    r = Meter(fs).measure(x)
    assert isinstance(r, LoudnessReport)
    assert isinstance(r.momentary, LoudnessSeries) and isinstance(r.short_term, LoudnessSeries)
    assert r.momentary.times_s.shape == r.momentary.lufs.shape
    assert np.all(np.diff(r.momentary.times_s) == pytest.approx(0.01))
    assert r.short_term.times_s[0] == pytest.approx(3.0) and r.short_term.times_s[-1] == pytest.approx(5.0)
    assert r.duration_s == pytest.approx(5.0) and r.channels == 2 and r.sample_rate == fs
    d = r.to_dict(series=True)
    assert len(d["momentary"]["lufs"]) == len(r.momentary)
    json.dumps(d, allow_nan=False)
    assert "LUFS" in r.summary()


@pytest.mark.parametrize("seconds", [0.3, 0.1, 0.399])
def test_clip_shorter_than_one_block_is_measured_whole_and_flagged(seconds):
    """Policy: under 400 ms the whole clip is one block (BS.1770 gives it no value; silence still reads -inf)."""
    fs = 48000
    x = seq(tone(-20, seconds, fs))
    r = Meter(fs).measure(x)
    long = integrated_loudness(seq(tone(-20, 5.0, fs)), sample_rate=fs)
    assert r.whole_clip and r.integrated_lufs == pytest.approx(long, abs=0.05)
    assert integrated_loudness(x, sample_rate=fs) == pytest.approx(long, abs=0.05)
    assert "measured as one block" in r.summary()
    assert r.max_momentary_lufs == -math.inf
    assert len(r.short_term) == 0 and r.to_dict()["max_short_term_lufs"] is None
    assert r.to_dict()["true_peak_dbtp"] == pytest.approx(-20.0, abs=0.1)
    silent = Meter(fs).measure(np.zeros_like(x))
    assert silent.integrated_lufs == -math.inf and "n/a" in silent.summary() and "-inf" not in silent.summary()
    assert not Meter(fs).measure(seq(tone(-20, 1.0, fs))).whole_clip


@pytest.mark.parametrize(
    "bad",
    [np.zeros((0, 2), np.float32), np.full((4800, 2), np.nan, np.float32), np.zeros((2, 48000), np.float32),
     np.zeros((10, 10, 2))],
    ids=["empty", "nan", "channels-first", "3d"],
)
def test_bad_arrays_raise_audio_error(bad):
    with pytest.raises(AudioError):
        Meter(48000).measure(bad)


def test_integer_input_is_scaled_like_float():
    fs = 48000
    x = tone(-12, 3.0, fs)
    pcm = np.round(x * 32767).astype(np.int16)
    assert integrated_loudness(pcm, sample_rate=fs) == pytest.approx(
        integrated_loudness(x.astype(np.float32), sample_rate=fs), abs=0.01
    )


# --------------------------------------------------------------------------- delivery profiles


def test_profiles_hold_the_published_numbers():
    expected = {
        "streaming": (-14.0, 1.0, -1.0, False),
        "podcast": (-16.0, 1.0, -1.0, False),
        "ebu_r128": (-23.0, 0.5, -1.0, False),
        "atsc_a85": (-24.0, 2.0, -2.0, False),
        "dialogue_gated": (-27.0, 2.0, -2.0, True),
    }
    assert set(PROFILE_NAMES) == set(expected)
    for name, (target, tol, tp, gated) in expected.items():
        p = get_profile(name)
        assert isinstance(p, DeliveryProfile) and p is PROFILES[name]
        assert (p.target_lufs, p.tolerance_lu, p.max_true_peak_dbtp, p.dialogue_gated) == (target, tol, tp, gated)
        assert p.title and p.source


def test_get_profile_lists_valid_names_and_forgives_spelling():
    assert get_profile("EBU-R128").name == "ebu_r128"
    with pytest.raises(ParameterError) as err:
        get_profile("netflix")
    for name in PROFILE_NAMES:
        assert name in str(err.value)
    assert isinstance(err.value, LayerLabError)


def test_profile_check_against_measured_values():
    p = get_profile("streaming")
    ok = p.check(loudness_lufs=-14.6, true_peak_dbtp=-1.3)
    assert ok.passed and ok.gain_to_target_db == pytest.approx(0.6)
    loud = p.check(loudness_lufs=-12.0, true_peak_dbtp=-0.2)
    assert not loud.loudness_ok and not loud.true_peak_ok and loud.gain_to_target_db == pytest.approx(-2.0)
    silent = p.check(loudness_lufs=-math.inf, true_peak_dbtp=-math.inf)
    assert not silent.passed and silent.to_dict()["loudness_lufs"] is None
    json.dumps(silent.to_dict(), allow_nan=False)


def test_a_malformed_profile_table_is_refused():
    with pytest.raises(ParameterError, match="lacks"):
        load_profiles('{"profiles": [{"name": "x"}]}')
    with pytest.raises(ParameterError, match="not a profile table"):
        load_profiles("[1, 2")


def test_one_loudness_analysis_gives_the_series_and_the_integrated_loudness_of_the_two_calls():
    """``layerlab check`` K-weights the mix once for both figures (issue #17): the same numbers as the two calls,
    on EBU Tech 3341 case 1 (1 kHz stereo at -23 dBFS: -23.0 LUFS) and on a programme that steps 10 dB down."""
    from layerlab.measure.loudness import integrated_loudness, loudness_analysis, short_term_loudness

    sr = 48_000
    t = np.arange(20 * sr) / sr
    tone = np.sin(2 * np.pi * 1000.0 * t) * 10 ** (-23 / 20)
    steps = np.concatenate([tone[: 10 * sr], tone[10 * sr :] * 10 ** (-10 / 20)])
    for x, expected in ((tone, -23.0), (steps, None)):
        audio = np.stack([x, x], axis=1).astype(np.float32)
        an = loudness_analysis(audio, sample_rate=sr)
        assert an.integrated() == integrated_loudness(audio, sample_rate=sr)
        one, two = an.series("short_term"), short_term_loudness(audio, sample_rate=sr)
        np.testing.assert_array_equal(one.lufs, two.lufs)
        np.testing.assert_array_equal(one.times_s, two.times_s)
        if expected is not None:
            assert abs(an.integrated() - expected) <= 0.1
