"""The shared primitives (one per concept) against direct, slow computations with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from layerlab.measure.correlation import correlate_lags, lagged_pearson, sliding_ncc
from layerlab.measure.envelopes import channel_mean, channel_power, channel_sum, db_from_power, frame_power, gain_from_db
from layerlab.measure.loudness import gate_blocks, integrated_from_blocks, lufs_from_power, power_from_lufs
from layerlab.measure.masking import audibility_from_snr_db


def test_lagged_pearson_equals_the_lag_loop_and_finds_a_known_delay():
    rng = np.random.default_rng(5)
    y = rng.standard_normal(700)
    x = np.concatenate([rng.standard_normal(37) * 0.1, y + 0.05 * rng.standard_normal(700), rng.standard_normal(20)])
    xc = lagged_pearson(x, y, max_lag=60, min_overlap=100)
    for lag, r in zip(xc.lags, xc.r):
        a0, b0 = max(0, lag), max(0, -lag)
        m = min(x.size - a0, y.size - b0)
        u, v = x[a0 : a0 + m] - x[a0 : a0 + m].mean(), y[b0 : b0 + m] - y[b0 : b0 + m].mean()
        assert r == pytest.approx(np.sum(u * v) / np.sqrt(np.sum(u * u) * np.sum(v * v)), abs=1e-9)
    lag, r = xc.best()
    assert lag == 37 and r > 0.99
    assert xc.lags.min() == -60 and xc.lags.max() == 60


def test_sliding_ncc_is_one_where_the_template_sits_and_equals_the_definition():
    rng = np.random.default_rng(6)
    seg = rng.standard_normal(500)
    tpl = 3.0 * seg[123:223] + 2.0  # gain and offset do not matter to a normalised correlation
    out = sliding_ncc(seg, tpl)
    assert out.shape == (401,) and int(np.argmax(out)) == 123 and out[123] == pytest.approx(1.0, abs=1e-12)
    k = 300
    assert out[k] == pytest.approx(np.corrcoef(seg[k : k + 100], tpl)[0, 1], abs=1e-9)
    assert sliding_ncc(seg, np.ones(10)).max() == 0.0  # a constant template correlates with nothing


@pytest.mark.parametrize("n, m, lag_min, lag_max", [
    (300, 40, None, None),  # the full correlation, short template (direct)
    (300, 40, 0, 260),  # the "valid" lags, direct
    (1000, 1200, -150, 170),  # a longer y, a few lags either side (FFT, wrap-around must not leak)
    (1500, 900, -2000, 2000),  # lags wider than the overlap: clipped to -(m - 1) .. n - 1
    (800, 600, 50, 120),  # positive lags only
    (800, 600, -120, -50),  # negative lags only
])
def test_correlate_lags_equals_the_direct_full_correlation(n, m, lag_min, lag_max):
    rng = np.random.default_rng(n + m)
    x, y = rng.standard_normal(n), rng.standard_normal(m)
    full = np.correlate(x, y, mode="full")  # lag L = k - (m - 1), by definition sum(x[i + L] * y[i])
    all_lags = np.arange(-(m - 1), n)
    lags, c = correlate_lags(x, y, lag_min=lag_min, lag_max=lag_max)
    lo = -(m - 1) if lag_min is None else max(lag_min, -(m - 1))
    hi = n - 1 if lag_max is None else min(lag_max, n - 1)
    assert lags[0] == lo and lags[-1] == hi and np.array_equal(lags, np.arange(lo, hi + 1))
    np.testing.assert_allclose(c, full[(all_lags >= lo) & (all_lags <= hi)], rtol=0, atol=1e-9 * np.abs(full).max())
    assert correlate_lags(x, y, lag_min=5, lag_max=4)[0].size == 0


def test_correlate_lags_finds_a_known_delay():
    rng = np.random.default_rng(11)
    y = rng.standard_normal(5000)
    x = np.concatenate([np.zeros(1234), 0.5 * y, np.zeros(300)]) + 0.01 * rng.standard_normal(6534)
    lags, c = correlate_lags(x, y, lag_min=-2000, lag_max=2000)
    assert int(lags[np.argmax(c)]) == 1234


def test_channel_sum_and_mean_equal_numpy_bit_for_bit():
    rng = np.random.default_rng(12)
    for ch in (1, 2, 3, 6):
        for dtype in (np.float32, np.float64):
            a = rng.standard_normal((1001, ch)).astype(dtype)
            assert channel_sum(a).dtype == dtype and np.array_equal(channel_sum(a), np.sum(a, axis=1))
            assert channel_mean(a).dtype == dtype and np.array_equal(channel_mean(a), np.mean(a, axis=1))
            assert np.array_equal(channel_power(a), np.mean(a.astype(np.float64) ** 2, axis=1))
    assert np.array_equal(channel_mean(a[::3, ::2]), np.mean(a[::3, ::2], axis=1))  # a strided view


def test_frame_power_hops_and_partial_frames():
    p = np.arange(10, dtype=float)
    assert np.allclose(frame_power(p, 4), [1.5, 5.5])
    assert np.allclose(frame_power(p, 4, partial=True), [1.5, 5.5, 8.5])
    assert frame_power(p[:3], 4).size == 0


def test_db_and_gain_and_lufs_round_trips():
    assert gain_from_db(-6.0206) == pytest.approx(0.5, abs=1e-5)
    assert db_from_power(0.0) == pytest.approx(-200.0)
    assert lufs_from_power(1.0) == pytest.approx(-0.691)
    assert float(power_from_lufs(lufs_from_power(0.123))) == pytest.approx(0.123)


def test_gating_keeps_blocks_strictly_above_both_gates():
    loud = power_from_lufs(np.array([-20.0, -20.0, -29.99, -30.0, -75.0]))
    kept = gate_blocks(loud)  # relative gate: 10 LU under the mean of the blocks above -70 LUFS
    ungated = float(lufs_from_power(loud[:4].mean()))
    assert list(kept) == [True, True, ungated - 10 < -29.99, ungated - 10 < -30.0, False]
    assert integrated_from_blocks(np.zeros(3)) == -np.inf


def test_band_audibility_mapping_ansi_s3_5():
    assert np.allclose(audibility_from_snr_db([-20, -15, 0, 15, 30]), [0.0, 0.0, 0.5, 1.0, 1.0])
