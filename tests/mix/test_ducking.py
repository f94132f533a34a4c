"""Ducking reaches its depth with the attack and release it was given, smoothly."""

import numpy as np
import pytest

from layerlab import ParameterError
from layerlab.mix.ducking import Ducking, duck, duck_envelope, sidechain_active
from layerlab.mix.stack import LayerStack

SR = 48_000


def burst(duration_s=4.0, on=(1.0, 2.0), level=0.3):
    x = np.zeros((int(duration_s * SR), 1), np.float32)
    a, b = (int(t * SR) for t in on)
    t = np.arange(b - a) / SR
    x[a:b, 0] = level * np.sin(2 * np.pi * 220 * t)
    return x


@pytest.mark.parametrize("depth_db,attack_ms,release_ms", [(12.0, 50.0, 300.0), (6.0, 10.0, 800.0), (20.0, 200.0, 100.0)])
def test_depth_attack_and_release_times(depth_db, attack_ms, release_ms):
    sc = burst()
    g = duck_envelope(sc, depth_db=depth_db, threshold_db=-30.0, attack_ms=attack_ms, release_ms=release_ms, sample_rate=SR)
    assert g.min() == pytest.approx(-depth_db, abs=1e-4) and g.max() == 0.0
    start = np.flatnonzero(g < -1e-3)[0]
    full = np.flatnonzero(g <= -depth_db + 1e-3)[0]
    assert abs((full - start) / SR * 1000 - attack_ms) < 2.0
    last_full = np.flatnonzero(g <= -depth_db + 1e-3)[-1]
    back = np.flatnonzero(g < -1e-3)[-1]
    assert abs((back - last_full) / SR * 1000 - release_ms) < 2.0
    # the duck starts where the dialogue starts (within the 10 ms detector window)
    assert abs(start / SR - 1.0) < 0.006


def test_hold_bridges_short_pauses_and_lookahead_starts_early():
    sc = burst(on=(1.0, 1.5)) + burst(on=(1.6, 2.0))
    g_no_hold = duck_envelope(sc, depth_db=10, threshold_db=-30, attack_ms=5, release_ms=20, hold_ms=0, sample_rate=SR)
    g_hold = duck_envelope(sc, depth_db=10, threshold_db=-30, attack_ms=5, release_ms=20, hold_ms=150, sample_rate=SR)
    gap = slice(int(1.53 * SR), int(1.57 * SR))
    assert g_no_hold[gap].max() > -1.0  # recovers in the pause
    assert np.all(g_hold[gap] == pytest.approx(-10.0))  # held down through it
    g_ahead = duck_envelope(sc, depth_db=10, threshold_db=-30, attack_ms=5, release_ms=20, lookahead_ms=100, sample_rate=SR)
    assert abs(np.flatnonzero(g_ahead < -1e-3)[0] / SR - 0.9) < 0.006


def test_envelope_has_no_steps_that_click():
    rng = np.random.default_rng(1)
    sc = np.zeros((3 * SR, 1), np.float32)
    for t in rng.uniform(0.1, 2.8, 12):
        i = int(t * SR)
        sc[i : i + int(0.05 * SR)] = 0.3
    d = Ducking(depth_db=15, attack_ms=20, release_ms=200, hold_ms=0, lookahead_ms=0)
    g = d.envelope(sc)
    step = np.max(np.abs(np.diff(g)))
    assert step <= 15 / (0.020 * SR) + 1e-6  # never faster than the attack slope


def test_duck_applies_the_envelope_and_returns_it():
    music = np.full((4 * SR, 2), 0.2, np.float32)
    res = duck(music, burst(), depth_db=12, threshold_db=-30, attack_ms=20, release_ms=100, hold_ms=0, lookahead_ms=0)
    assert res.audio.shape == music.shape and res.gain_db.shape == (4 * SR,)
    inside = res.audio[int(1.5 * SR), 0]
    assert 20 * np.log10(inside / 0.2) == pytest.approx(-12.0, abs=0.01)
    assert res.audio[int(0.5 * SR), 0] == pytest.approx(0.2)
    assert res.active[int(1.5 * SR)] and not res.active[int(0.5 * SR)]


def test_quiet_sidechain_does_not_duck():
    g = duck_envelope(burst(level=0.001), depth_db=12, threshold_db=-40, attack_ms=10, release_ms=10, sample_rate=SR)
    assert not np.any(g)
    assert not sidechain_active(np.zeros((SR, 2), np.float32), threshold_db=-60).any()


def test_stack_ducks_music_under_dialogue_only():
    stack = LayerStack(duration_s=4.0, ducking=Ducking(depth_db=9, attack_ms=20, release_ms=100, hold_ms=0, lookahead_ms=0))
    stack.add("dialogue", burst())
    stack.add("music", np.full((4 * SR, 2), 0.2, np.float32))
    stack.add("ambience", np.full((4 * SR, 2), 0.05, np.float32))
    r = stack.render()
    mid = int(1.5 * SR)
    assert 20 * np.log10(r.stems["music"][mid, 0] / 0.2) == pytest.approx(-9.0, abs=0.01)
    assert r.stems["ambience"][mid, 0] == pytest.approx(0.05)
    assert r.duck_gain_db[mid] == pytest.approx(-9.0)
    # muting dialogue still keys the duck (the sidechain is taken before mute)
    stack["dialogue"].mute = True
    assert stack.render().stems["music"][mid, 0] == pytest.approx(r.stems["music"][mid, 0])
    stack.ducking = Ducking(depth_db=9, targets=("music", "ambience"))
    assert stack.render().stems["ambience"][mid, 0] < 0.05 * 10 ** (-8.9 / 20)


@pytest.mark.parametrize(
    "kwargs,pattern",
    [
        (dict(depth_db=-3), "depth_db"),
        (dict(attack_ms=0.1), "attack_ms"),
        (dict(release_ms=float("nan")), "release_ms"),
        (dict(hold_ms=-1), "hold_ms"),
        (dict(targets=("dialogue",)), "targets"),
    ],
)
def test_bad_settings_are_rejected(kwargs, pattern):
    with pytest.raises(ParameterError, match=pattern):
        Ducking(**kwargs)


def test_sidechain_must_line_up():
    with pytest.raises(ParameterError, match="line up"):
        duck(np.zeros((100, 2), np.float32), np.zeros((50, 1), np.float32))
