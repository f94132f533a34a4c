"""Sync offsets with known answers: SFX and dialogue placed at known offsets."""

import numpy as np
import pytest

from layerlab.errors import ParameterError
from layerlab.measure.sync import (
    EBU_R37,
    SYNC_WINDOWS,
    SyncWindow,
    detect_onsets,
    dialogue_offsets,
    get_sync_window,
    sfx_offsets,
)

import signals

SR = 48_000


def speech_like(seconds, seed, amp=0.2):
    """A mono speech-like line, 1-D (the 24-harmonic variant of :func:`signals.speech_like`)."""
    return signals.speech_like(seconds, seed=seed, amp=amp, harmonics=24, gap_s=(0.03, 0.12), syllable_gain=(0.5, 1.0))[:, 0]


def decaying_noise(ms, seed, tau_s=0.05, amp=0.3):
    g = np.random.default_rng(seed)
    n = int(SR * ms / 1000)
    return (g.standard_normal(n) * np.exp(-np.arange(n) / (tau_s * SR)) * amp).astype(np.float32)


def decaying_tone(ms, hz, amp=0.4, tau_s=0.08):
    n = int(SR * ms / 1000)
    t = np.arange(n) / SR
    return (amp * np.sin(2 * np.pi * hz * t) * np.exp(-t / tau_s)).astype(np.float32)


def place(stem, clip, start_s, gain=1.0):
    s = int(round(start_s * SR))
    c = clip[: max(0, stem.shape[0] - s)]
    stem[s : s + c.size, 0] += gain * c
    stem[s : s + c.size, 1] += 0.7 * gain * c
    return stem


# ----------------------------------------------------------------------------- windows


def test_ebu_r37_window_edges():
    assert EBU_R37.contains(-40.0) and EBU_R37.contains(60.0) and EBU_R37.contains(0.0)
    assert not EBU_R37.contains(-40.5)
    assert not EBU_R37.contains(60.5)


def test_presets_from_reference():
    assert (SYNC_WINDOWS["bt1359_detectable"].early_ms, SYNC_WINDOWS["bt1359_detectable"].late_ms) == (45, 125)
    assert (SYNC_WINDOWS["bt1359_acceptable"].early_ms, SYNC_WINDOWS["bt1359_acceptable"].late_ms) == (90, 185)
    assert (SYNC_WINDOWS["atsc_is191"].early_ms, SYNC_WINDOWS["atsc_is191"].late_ms) == (15, 45)
    assert get_sync_window("BT1359-acceptable") is SYNC_WINDOWS["bt1359_acceptable"]
    w = SyncWindow(early_ms=10, late_ms=20, name="tight")
    assert get_sync_window(w) is w


def test_bad_windows_are_refused():
    with pytest.raises(ParameterError, match="early_ms"):
        SyncWindow(early_ms=-5, late_ms=60)
    with pytest.raises(ParameterError, match="not known"):
        get_sync_window("cinema")


# ----------------------------------------------------------------------------- SFX


def test_sfx_at_known_offsets_early_late_missing():
    stem = np.zeros((SR * 14, 2), np.float32)
    cues = [1.0, 2.5, 4.0, 5.5, 7.0, 8.5, 10.0, 11.5]
    offsets_ms = [0.0, -30.0, 55.0, -60.0, 120.0, 12.5, None, 37.0]
    clips = [decaying_noise(300, 1), decaying_tone(400, 220), decaying_noise(250, 3, tau_s=0.02),
             decaying_tone(300, 900, amp=0.1), decaying_noise(500, 5, amp=0.05), decaying_tone(350, 120),
             None, decaying_noise(80, 8, tau_s=0.01)]
    for cue, off, clip in zip(cues, offsets_ms, clips):
        if off is not None:
            place(stem, clip, cue + off / 1000.0)
    events = [{"id": f"e{i}", "time_s": c, "label": f"event {i}"} for i, c in enumerate(cues)]
    r = sfx_offsets(stem, events, sample_rate=SR)
    assert [e.id for e in r.events] == [e["id"] for e in events]
    for ev, off in zip(r.events, offsets_ms):
        if off is None:
            assert not ev.found and not ev.passed and ev.offset_ms is None
            assert "no sound effect found" in ev.message and "10.000 s" in ev.message
        else:
            assert ev.found
            assert ev.offset_ms == pytest.approx(off, abs=2.0), ev.id
            assert ev.passed == EBU_R37.contains(off)
    late = r.events[4]
    assert "120 ms late" in late.message and "earlier" in late.message
    early = r.events[3]
    assert "60 ms early" in early.message and "later" in early.message
    assert not r.passed
    assert [e.id for e in r.missing] == ["e6"]
    assert r.worst.id == "e4"


def test_onset_over_the_tail_of_an_earlier_sound():
    stem = np.zeros((SR * 4, 2), np.float32)
    place(stem, decaying_noise(1500, 1, tau_s=0.6, amp=0.05), 0.5)  # long ringing tail
    place(stem, decaying_noise(200, 2, tau_s=0.03, amp=0.5), 1.2 + 0.025)  # 25 ms late, over the tail
    r = sfx_offsets(stem, [{"id": "a", "time_s": 0.5}, {"id": "b", "time_s": 1.2}], sample_rate=SR)
    assert r.events[0].offset_ms == pytest.approx(0.0, abs=2.0)
    assert r.events[1].offset_ms == pytest.approx(25.0, abs=2.0)
    assert r.passed


def test_multi_hit_effect_is_timed_from_its_first_hit():
    # a latch click then a slam 200 ms later, all placed 150 ms early: the cue is for the first hit
    clip = np.concatenate([decaying_noise(60, 1, tau_s=0.01, amp=0.2), np.zeros(int(0.14 * SR), np.float32),
                           decaying_noise(300, 2, tau_s=0.05, amp=0.6)])
    stem = np.zeros((SR * 3, 2), np.float32)
    place(stem, clip, 1.0 - 0.150)
    r = sfx_offsets(stem, [{"id": "door", "time_s": 1.0}], sample_rate=SR)
    assert r.events[0].offset_ms == pytest.approx(-150.0, abs=2.0)
    assert not r.passed


def test_each_onset_belongs_to_one_event_only():
    stem = np.zeros((SR * 3, 2), np.float32)
    place(stem, decaying_noise(200, 1), 1.0)
    r = sfx_offsets(stem, [{"id": "a", "time_s": 1.0}, {"id": "b", "time_s": 1.2}], sample_rate=SR)
    assert r.events[0].found and r.events[0].offset_ms == pytest.approx(0.0, abs=2.0)
    assert not r.events[1].found


def test_configurable_window_and_search_range():
    stem = np.zeros((SR * 3, 2), np.float32)
    place(stem, decaying_noise(200, 1), 1.1)  # 100 ms late
    ev = [{"id": "a", "time_s": 1.0}]
    assert not sfx_offsets(stem, ev, sample_rate=SR).passed
    assert sfx_offsets(stem, ev, sample_rate=SR, window="bt1359_detectable").passed
    r = sfx_offsets(stem, ev, sample_rate=SR, search_window_ms=50)
    assert not r.events[0].found


def test_detect_onsets_in_silence_and_quiet_noise():
    assert detect_onsets(np.zeros((SR, 2), np.float32), sample_rate=SR) == []
    g = np.random.default_rng(0)
    stem = (g.standard_normal((SR * 2, 2)) * 1e-4).astype(np.float32)  # -80 dBFS hiss
    place(stem, decaying_noise(200, 1), 1.0)
    on = detect_onsets(stem, sample_rate=SR)
    assert len(on) == 1
    assert on[0].time_s == pytest.approx(1.0, abs=0.002)


def test_events_need_times():
    with pytest.raises(ParameterError, match="time_s"):
        sfx_offsets(np.zeros((SR, 2), np.float32), [{"id": "x"}], sample_rate=SR)


# ----------------------------------------------------------------------------- dialogue


@pytest.mark.parametrize("offset_ms", [0.0, 125.0, -70.0, 33.3, -41.0])
def test_dialogue_offset_read_back(offset_ms):
    line = speech_like(2.0, seed=11)
    other = speech_like(1.5, seed=12)
    stem = np.zeros((SR * 8, 2), np.float32)
    place(stem, line, 2.0 + offset_ms / 1000.0, gain=0.6)  # the learner turned it down
    place(stem, other, 5.0)
    g = np.random.default_rng(3)
    stem += (g.standard_normal(stem.shape) * 1e-3).astype(np.float32)
    lines = [{"id": "l1", "start_s": 2.0, "text": "first line"}, {"id": "l2", "start_s": 5.0}]
    r = dialogue_offsets(stem, lines, {"l1": line[:, None], "l2": other[:, None]}, sample_rate=SR)
    l1, l2 = r.events
    assert l1.found and l1.offset_ms == pytest.approx(offset_ms, abs=1.0)
    assert l1.passed == EBU_R37.contains(offset_ms)
    assert l2.offset_ms == pytest.approx(0.0, abs=1.0) and l2.passed
    assert l1.confidence > 0.8


def test_missing_dialogue_line_fails_with_its_own_message():
    line = speech_like(2.0, seed=1)
    stem = np.zeros((SR * 6, 2), np.float32)
    place(stem, line, 1.0)
    lines = [{"id": "l1", "start_s": 1.0}, {"id": "l2", "start_s": 4.0}]
    r = dialogue_offsets(stem, lines, {"l1": line[:, None], "l2": speech_like(1.0, seed=2)[:, None]}, sample_rate=SR)
    assert r.events[0].passed
    assert not r.events[1].found
    assert "l2" in r.events[1].message and "4.000 s" in r.events[1].message
    assert not r.passed


def test_wrong_line_is_not_taken_for_the_right_one():
    # a different line sits at the cue: correlation with the expected clip stays low
    stem = np.zeros((SR * 4, 2), np.float32)
    place(stem, speech_like(2.0, seed=5), 1.0)
    r = dialogue_offsets(stem, [{"id": "l1", "start_s": 1.0}], {"l1": speech_like(2.0, seed=6)[:, None]},
                         sample_rate=SR)
    assert not r.events[0].found


def test_dialogue_without_clip_uses_onsets():
    line = speech_like(1.5, seed=4)
    stem = np.zeros((SR * 4, 2), np.float32)
    place(stem, line, 1.08)
    r = dialogue_offsets(stem, [{"id": "l1", "start_s": 1.0}], {}, sample_rate=SR)
    # speech can start softly, so without the clean line the reading is a few ms late
    assert r.events[0].offset_ms == pytest.approx(80.0, abs=10.0)
    assert not r.events[0].passed


def test_to_dict_is_json_ready():
    import json

    stem = np.zeros((SR * 2, 2), np.float32)
    place(stem, decaying_noise(200, 1), 1.01)
    d = sfx_offsets(stem, [{"id": "a", "time_s": 1.0, "label": "door"}], sample_rate=SR).to_dict()
    text = json.dumps(d)
    assert d["events"][0]["offset_ms"] == pytest.approx(10.0, abs=2.0)
    assert d["window"]["late_ms"] == 60
    assert "door" in text


@pytest.mark.parametrize("rate", [48_000, 44_100, 22_050])
def test_dialogue_on_its_cue_at_40_s_reads_zero_at_every_rate(rate):
    """The envelope hop is sr // 1000 samples (44 at 44.1 kHz, not 1 ms): frames must map to time by the hop."""
    g = np.random.default_rng(21)
    line = speech_like(1.5, seed=13)
    t = np.arange(line.size) / SR  # resample the line by index: its content does not matter, its start does
    line_r = np.interp(np.arange(int(1.5 * rate)) / rate, t, line).astype(np.float32)
    stem = (g.standard_normal((rate * 43, 2)) * 1e-3).astype(np.float32)
    s = 40 * rate
    stem[s : s + line_r.size, 0] += line_r
    stem[s : s + line_r.size, 1] += line_r
    r = dialogue_offsets(stem, [{"id": "l1", "start_s": 40.0}], {"l1": line_r[:, None]}, sample_rate=rate)
    (ev,) = r.events
    assert ev.found and ev.offset_ms == pytest.approx(0.0, abs=1000.0 / rate + 1e-9)
    assert ev.passed
