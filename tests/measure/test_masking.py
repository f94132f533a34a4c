"""Masking measures with known answers: level differences, band SNRs, speech activity."""

import warnings

import numpy as np
import pytest

from layerlab.errors import ParameterError
from layerlab.measure.masking import (
    BAND_CENTRES_HZ,
    BAND_IMPORTANCE,
    band_audibility,
    dialogue_activity,
    dialogue_to_background_lu,
    k_weight,
)

SR = 48_000


def shaped_noise(n, seed, *, slope=1.0, knee_hz=500.0, channels=2):
    """Speech-shaped noise: flat to the knee, then falling ``slope`` x 6 dB/octave; nothing under 80 Hz."""
    g = np.random.default_rng(seed)
    x = g.standard_normal((n, channels))
    X = np.fft.rfft(x, axis=0)
    f = np.fft.rfftfreq(n, 1 / SR)
    gain = np.where(f < knee_hz, 1.0, (knee_hz / np.maximum(f, 1.0)) ** slope)
    gain[f < 80] = 0.0
    y = np.fft.irfft(X * gain[:, None], n=n, axis=0)
    return (y / np.sqrt(np.mean(y**2)) * 0.05).astype(np.float32)


def music_like(n, seed):
    """A steady chord (harmonic partials) over soft pink-ish noise, stereo."""
    g = np.random.default_rng(seed)
    t = np.arange(n) / SR
    y = np.zeros(n)
    for f0 in (110.0, 138.6, 164.8, 220.0):
        for k in range(1, 8):
            y += np.sin(2 * np.pi * f0 * k * t + g.uniform(0, 6.28)) / k
    y = y / np.sqrt(np.mean(y**2)) * 0.05
    y = y[:, None] + shaped_noise(n, seed + 100, slope=1.5, knee_hz=200.0) * 0.3
    return np.repeat(y[:, :1], 2, axis=1).astype(np.float32) if y.shape[1] == 1 else y.astype(np.float32)


def pyloudnorm_lufs(x):
    import pyloudnorm as pyln

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pyln.Meter(SR, filter_class="DeMan").integrated_loudness(x.astype(np.float64))


def scale_to(x, lufs):
    return (x * 10 ** ((lufs - pyloudnorm_lufs(x)) / 20)).astype(np.float32)


LINES = [(1.0, 3.5), (4.5, 7.0), (8.0, 11.0)]


def dialogue_lines(n, seed, lufs=-20.0):
    """Speech-shaped noise during LINES, silence between; scaled so the active parts read ``lufs``."""
    src = shaped_noise(n, seed)
    active = np.zeros(n, bool)
    for s, e in LINES:
        active[int(s * SR) : int(e * SR)] = True
    src = scale_to(src[active], lufs)
    d = np.zeros((n, 2), np.float32)
    d[active] = src
    return d, active


# ----------------------------------------------------------------------------- K-weighting


def test_k_weighting_reads_997_hz_at_minus_3_01_lufs():
    t = np.arange(SR * 5) / SR
    x = np.zeros((t.size, 2), np.float32)
    x[:, 0] = np.sin(2 * np.pi * 997 * t)
    y = k_weight(x, sample_rate=SR)
    lufs = -0.691 + 10 * np.log10(np.sum(np.mean(y[SR:] ** 2, axis=0)))
    assert lufs == pytest.approx(-3.01, abs=0.02)


def test_k_weighting_at_44_1_khz_matches_48_khz():
    def read(rate):
        t = np.arange(rate * 4) / rate
        x = np.sin(2 * np.pi * 100 * t)[:, None].astype(np.float32)
        y = k_weight(x, sample_rate=rate)
        return 10 * np.log10(np.mean(y[rate:] ** 2))

    assert read(44_100) == pytest.approx(read(48_000), abs=0.02)


# ----------------------------------------------------------------------------- activity


def test_activity_finds_the_lines():
    n = SR * 12
    d, _ = dialogue_lines(n, 1)
    a = dialogue_activity(d, sample_rate=SR)
    segs = a.segments()
    assert len(segs) == len(LINES)
    for (s, e), (ts, te) in zip(segs, LINES):
        assert s == pytest.approx(ts, abs=0.12)
        assert e == pytest.approx(te, abs=0.12)
    m = a.sample_mask()
    assert m.shape == (n,) and m[int(2 * SR)] and not m[int(3.9 * SR)]


def test_activity_ignores_a_hiss_floor_and_finds_nothing_in_silence():
    n = SR * 12
    d, _ = dialogue_lines(n, 2, lufs=-18.0)
    g = np.random.default_rng(0)
    d = d + (g.standard_normal(d.shape) * 10 ** (-50 / 20)).astype(np.float32)  # hiss at -50 dBFS
    a = dialogue_activity(d, sample_rate=SR)
    assert len(a.segments()) == 3
    assert not a.active_at([0.5, 3.95, 7.5]).any()
    silent = dialogue_activity(np.zeros((SR, 2), np.float32), sample_rate=SR)
    assert not silent.active.any() and silent.fraction == 0.0


def test_activity_of_continuous_speech():
    a = dialogue_activity(shaped_noise(SR * 3, 3), sample_rate=SR)
    assert a.fraction > 0.97


# ----------------------------------------------------------------------------- level difference


@pytest.mark.parametrize("ld", [4.2, 10.0, 15.0, 22.0])
def test_music_at_known_level_under_dialogue(ld):
    n = SR * 12
    d, active = dialogue_lines(n, 5, lufs=-20.0)
    m = scale_to(music_like(n, 6), -20.0 - ld)
    r = dialogue_to_background_lu(d, m, sample_rate=SR)
    assert r.lu == pytest.approx(ld, abs=0.5)
    assert r.dialogue_lufs == pytest.approx(-20.0, abs=0.5)
    assert r.n_blocks > 40


def test_background_only_counted_during_speech():
    # the music is loud only between the lines: during speech it is 12 LU under
    n = SR * 12
    d, active = dialogue_lines(n, 7, lufs=-20.0)
    m = scale_to(music_like(n, 8), -32.0)
    m[~active] *= 10  # +20 dB between lines
    r = dialogue_to_background_lu(d, m, sample_rate=SR, active=active)
    assert r.lu == pytest.approx(12.0, abs=0.6)


def test_silent_background_reads_infinite_and_no_speech_reads_nan():
    n = SR * 12
    d, _ = dialogue_lines(n, 9)
    r = dialogue_to_background_lu(d, np.zeros_like(d), sample_rate=SR)
    assert r.lu == float("inf")
    r = dialogue_to_background_lu(np.zeros_like(d), d, sample_rate=SR)
    assert np.isnan(r.lu) and r.n_blocks == 0


def test_length_mismatch_is_an_error():
    with pytest.raises(ParameterError, match="same length"):
        dialogue_to_background_lu(np.zeros((SR, 2)), np.zeros((SR + 1, 2)), sample_rate=SR)


# ----------------------------------------------------------------------------- band audibility


def test_band_tables():
    assert BAND_CENTRES_HZ.size == 18 and BAND_CENTRES_HZ[0] == 160 and BAND_CENTRES_HZ[-1] == 8000
    assert BAND_IMPORTANCE.sum() == pytest.approx(1.0, abs=1e-3)


@pytest.mark.parametrize("snr_db", [-10.0, -5.0, 0.0, 5.0, 10.0])
def test_uniform_band_snr_reads_back(snr_db):
    n = SR * 6
    speech = shaped_noise(n, 21)
    background = shaped_noise(n, 22) * 10 ** (-snr_db / 20)
    r = band_audibility(speech, background, sample_rate=SR)
    assert r.index == pytest.approx((snr_db + 15) / 30, abs=0.03)
    assert np.allclose(r.band_snr_db, snr_db, atol=1.0)


def test_index_saturates_at_the_ends():
    n = SR * 4
    speech = shaped_noise(n, 1)
    assert band_audibility(speech, shaped_noise(n, 2) * 10, sample_rate=SR).index == pytest.approx(0.0, abs=0.01)
    assert band_audibility(speech, shaped_noise(n, 2) * 0.01, sample_rate=SR).index == pytest.approx(1.0, abs=0.01)
    assert band_audibility(speech, np.zeros_like(speech), sample_rate=SR).index == pytest.approx(1.0, abs=0.01)


def test_masking_in_one_region_shows_in_those_bands():
    # background = strong low-frequency noise: low bands masked, high bands clear
    n = SR * 4
    speech = shaped_noise(n, 3)
    g = np.random.default_rng(4)
    x = g.standard_normal((n, 2))
    X = np.fft.rfft(x, axis=0)
    f = np.fft.rfftfreq(n, 1 / SR)
    X[f > 500] = 0
    low = np.fft.irfft(X, n=n, axis=0).astype(np.float32)
    low = low / np.sqrt(np.mean(low**2)) * 0.5
    r = band_audibility(speech, low, sample_rate=SR)
    assert r.per_band[0] < 0.1 and r.per_band[-1] > 0.9
    assert r.weakest_bands and r.weakest_bands[0] <= 500


def test_masking_map_shape_and_inactive_frames():
    n = SR * 12
    d, active = dialogue_lines(n, 11)
    r = band_audibility(d, scale_to(music_like(n, 12), -32.0), sample_rate=SR)
    assert r.masking_map.shape == (18, r.times_s.size)
    inactive = ~r.active
    assert inactive.any() and np.isnan(r.masking_map[:, inactive]).all()
    assert np.nanmin(r.masking_map) >= 0 and np.nanmax(r.masking_map) <= 1
    # frames in the middle of a line were counted
    assert r.active[np.argmin(np.abs(r.times_s - 2.0))]


def _band_power_frames_all_bins(audio, sample_rate, n_fft, hop):
    """``band_power_frames`` as it was before it squared only the bins inside the bands (every bin, then summed)."""
    from layerlab.measure.masking import _band_matrix

    x = audio.astype(np.float64)
    n = x.shape[0]
    if n < n_fft:
        x = np.concatenate([x, np.zeros((n_fft - n, x.shape[1]))])
        n = n_fft
    n_frames = 1 + (n - n_fft) // hop
    win = np.hanning(n_fft)
    bands = _band_matrix(n_fft, sample_rate)
    counts = bands.sum(axis=1).astype(np.int64)
    first = np.argmax(bands > 0, axis=1)
    edges = np.stack([first, first + counts], axis=1).reshape(-1)
    out = np.zeros((bands.shape[0], n_frames))
    frames = [np.lib.stride_tricks.sliding_window_view(np.ascontiguousarray(x[:, ch]), n_fft)[::hop]
              for ch in range(x.shape[1])]
    for c0 in range(0, n_frames, 256):
        c1 = min(n_frames, c0 + 256)
        acc = None
        for view in frames:
            spec = np.fft.rfft(view[c0:c1] * win, axis=1)
            pw = spec.real**2 + spec.imag**2
            acc = pw if acc is None else acc + pw
        acc = np.concatenate([acc, np.zeros((acc.shape[0], 1))], axis=1)
        sums = np.add.reduceat(acc, edges, axis=1)[:, 0::2]
        sums[:, counts == 0] = 0.0
        out[:, c0:c1] = (sums / x.shape[1]).T
    return out


@pytest.mark.parametrize("n_fft, hop, channels, seconds", [(4096, 1024, 2, 7.0), (4096, 1024, 1, 0.05),
                                                           (1024, 256, 2, 1.0), (256, 128, 1, 0.5)])
def test_band_power_frames_equal_those_of_every_bin(n_fft, hop, channels, seconds):
    """Squaring only the bins inside the bands gives the same band powers, bit for bit (also where a short
    STFT leaves the lowest bands without a bin, and for a signal shorter than one frame)."""
    from layerlab.measure.masking import band_power_frames

    x = shaped_noise(int(seconds * SR), 11, channels=channels)
    got = band_power_frames(x, SR, n_fft, hop)
    assert np.array_equal(got, _band_power_frames_all_bins(x, SR, n_fft, hop))
    from layerlab.measure.masking import _band_matrix

    empty = _band_matrix(n_fft, SR).sum(axis=1) == 0
    assert got.shape[0] == 18 and np.all(got[empty] == 0.0) and np.all(got[~empty] > 0)
    assert empty.any() == (n_fft == 256)  # at 187.5 Hz spacing the lowest bands hold no bin: their power is 0


@pytest.mark.parametrize("n_fft, hop, channels, seconds", [(4096, 1024, 2, 7.0), (4096, 1024, 1, 0.05),
                                                           (1024, 256, 2, 3.0)])
def test_band_power_frames_of_chosen_frames_equal_those_of_every_frame(n_fft, hop, channels, seconds):
    """Computing only the frames where speech is active (issue #17) gives those frames bit for bit, and 0 elsewhere;
    band audibility, which now asks only for those, is unchanged."""
    from layerlab.measure.masking import band_audibility, band_power_frames

    x = shaped_noise(int(seconds * SR), 12, channels=channels)
    full = band_power_frames(x, SR, n_fft, hop)
    rng = np.random.default_rng(3)
    for want in (rng.random(full.shape[1]) < 0.4, np.zeros(full.shape[1], bool), np.ones(full.shape[1], bool)):
        got = band_power_frames(x, SR, n_fft, hop, frames=want)
        assert np.array_equal(got[:, want], full[:, want])
        assert np.all(got[:, ~want] == 0.0)
    if seconds < 1.0:
        return
    # band audibility against the one computed from every frame (the former code path, spelled out)
    d, r = x, shaped_noise(x.shape[0], 13, channels=channels) * 0.3
    active = np.zeros(x.shape[0], bool)
    active[int(0.4 * x.shape[0]) : int(0.9 * x.shape[0])] = True
    ba = band_audibility(d, r, sample_rate=SR, active=active, n_fft=n_fft, hop=hop)
    pd, pr = band_power_frames(d, SR, n_fft, hop), band_power_frames(r, SR, n_fft, hop)
    act = active[np.minimum(np.arange(pd.shape[1]) * hop + n_fft // 2, active.size - 1)]
    floor = 10.0 ** (-100.0 / 10.0) * np.sum(np.hanning(n_fft) ** 2)  # threshold_db=-100, as band_audibility
    snr = 10.0 * np.log10(np.maximum(pd[:, act].mean(axis=1), 1e-300) / (pr[:, act].mean(axis=1) + floor))
    np.testing.assert_array_equal(ba.band_snr_db, snr)
    k_frames = np.clip((10.0 * np.log10(np.maximum(pd, 1e-300) / (pr + floor)) + 15.0) / 30.0, 0.0, 1.0)
    np.testing.assert_array_equal(ba.masking_map, np.where(act[None, :], k_frames, np.nan))
