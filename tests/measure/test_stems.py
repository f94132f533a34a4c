"""Stems from a premix: each clip of a known premix is found at its true place."""

import numpy as np
import pytest

from layerlab.measure.stems import estimate_stems

SR = 48_000

def test_estimate_stems_finds_each_layer_of_a_premix():
    n = 6 * SR
    g = np.random.default_rng(1)
    line = (g.standard_normal(int(1.5 * SR)) * np.hanning(int(1.5 * SR)) * 0.2)
    click = g.standard_normal(2400) * np.exp(-np.arange(2400) / 300.0) * 0.5
    music = np.sin(2 * np.pi * 220 * np.arange(n) / SR) * 0.1 + g.standard_normal(n) * 0.01
    amb = g.standard_normal(n) * 0.03
    mix = np.zeros((n, 2))
    s_line = int((1.0 + 0.125) * SR)  # the line 125 ms late
    mix[s_line : s_line + line.size] += line[:, None]
    s_click = int((4.0 + 0.08) * SR)  # the effect 80 ms late
    mix[s_click : s_click + click.size] += click[:, None]
    mix += music[:, None] * 0.5
    amb_part = amb.copy()
    amb_part[int(3.0 * SR) : int(3.5 * SR)] = 0  # a dropout
    mix += amb_part[:, None]
    est = estimate_stems(mix, lines=[("l1", 1.0, line)], events=[("c", 4.0, click), ("gone", 5.0, click)],
                         beds={"music": music, "ambience": amb}, sample_rate=SR)
    assert est.found["l1"]["start_s"] == pytest.approx(1.125, abs=1e-3)
    assert est.found["c"]["start_s"] == pytest.approx(4.08, abs=1e-3)
    assert est.found["gone"] is None
    assert est.found["music"]["median_gain_db"] == pytest.approx(20 * np.log10(0.5), abs=0.3)
    a = est.stems["ambience"][:, 0]
    assert np.sqrt(np.mean(a[int(3.1 * SR) : int(3.4 * SR)] ** 2)) < 0.1 * np.sqrt(np.mean(a[: 2 * SR] ** 2))
    resid = 10 * np.log10(np.sum(est.residual**2) / np.sum(mix**2))
    assert resid < -20
