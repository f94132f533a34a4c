"""The mix checks end to end: real deliverable folders written with the engine, known answers.

The first part builds a small synthetic scene (cue sheet + clips in tmp_path) and mixes it with
:class:`layerlab.mix.stack.LayerStack`; the last part runs the kit's real scenes: their native renders
must fail the checks their listed flaws predict, and a correct post-generated mix must pass all.
"""

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from layerlab.checks import (
    CHECK_NAMES,
    ambience_continuity,
    load_cues,
    measure_ducking,
    run_checks,
)
from layerlab.mix.ducking import Ducking, duck
from layerlab.errors import SceneError, SessionError
from layerlab.measure.masking import dialogue_activity
from layerlab.measure.targets import get_profile
from layerlab.measure.true_peak import true_peak_dbtp
from layerlab.mix.master import Master
from layerlab.mix.session import export_deliverable
from layerlab.mix.stack import LayerStack
from signals import speech_like

SR = 48_000
DUR = 12.0


# ----------------------------------------------------------------------------- a synthetic scene


def hit(seconds, seed, tau_s=0.05, amp=0.5):
    g = np.random.default_rng(seed)
    n = int(seconds * SR)
    return (g.standard_normal(n) * np.exp(-np.arange(n) / (tau_s * SR)) * amp).astype(np.float32)[:, None]


def bed_noise(seconds, seed, amp, lowpass_hz=3000.0):
    from scipy.signal import butter, sosfilt

    g = np.random.default_rng(seed)
    x = g.standard_normal(int(seconds * SR))
    x = sosfilt(butter(2, lowpass_hz, fs=SR, output="sos"), x)
    return (x / np.sqrt(np.mean(x**2)) * amp).astype(np.float32)[:, None]


def chords(seconds, seed, amp=0.1):
    g = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    y = np.zeros(t.size)
    for f0 in (110.0, 138.6, 164.8):
        for k in range(1, 6):
            y += np.sin(2 * np.pi * f0 * k * t + g.uniform(0, 6.28)) / k
    return (y / np.sqrt(np.mean(y**2)) * amp).astype(np.float32)[:, None]


LINES = [("l1", 1.5, 2.2), ("l2", 5.0, 2.4), ("l3", 8.6, 2.0)]
EVENTS = [("door", 0.75, "door closes"), ("cup", 4.25, "cup set down"), ("knock", 7.75, "knock"), ("drop", 11.0, "drop")]


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    """A 12 s scene folder: cues.json + postgen clips, like the kit's scenes."""
    root = tmp_path_factory.mktemp("scene")
    clips = {}
    for i, (lid, start, dur) in enumerate(LINES):
        clips[f"postgen/dialogue/{lid}.wav"] = speech_like(dur, seed=100 + i)
    for i, (eid, _, _) in enumerate(EVENTS):
        clips[f"postgen/sfx/{eid}.wav"] = hit(0.4, 200 + i, tau_s=0.03 + 0.02 * i)
    clips["postgen/ambience/room.wav"] = bed_noise(DUR, 300, 0.02)
    clips["postgen/music/bed.wav"] = chords(DUR, 301)
    for rel, a in clips.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        sf.write(root / rel, a, SR, subtype="FLOAT")
    cues = {
        "scene": "synthetic", "title": "test scene", "scenario": "Character dialogue scene", "fps": 24,
        "sample_rate": SR, "duration_s": DUR,
        "events": [{"id": e, "time_s": t, "frame": round(t * 24), "label": lab, "clip": f"postgen/sfx/{e}.wav"}
                   for e, t, lab in EVENTS],
        "dialogue": [{"id": lid, "speaker": "A", "start_s": s, "end_s": s + d, "text": f"line {lid}",
                      "clip": f"postgen/dialogue/{lid}.wav"} for lid, s, d in LINES],
        "ambience": {"clip": "postgen/ambience/room.wav"}, "music": {"clip": "postgen/music/bed.wav"},
        "scene_changes": [], "native": {"flaws": []},
    }
    (root / "cues.json").write_text(json.dumps(cues))
    return root


def build(scene, out, *, sfx_offsets_ms=None, drop_events=(), music_gain_db=-8.0, ambience_gain_db=-6.0,
          ducking=True, master=True, ambience_gap=None, dialogue_offset_ms=0.0, music_start_s=0.0, music_fade_in_s=0.0,
          duck_depth_db=12.0, duck_attack_ms=80.0, duck_release_ms=400.0, sfx_gain_db=-6.0, sfx_fn=None,
          extra_sfx=()):
    """Mix the synthetic scene with the engine and export a deliverable folder (``sfx_fn``: applied to each SFX clip)."""
    sfx_offsets_ms = sfx_offsets_ms or {}
    st = LayerStack(duration_s=DUR)
    for lid, start, _ in LINES:
        st.add("dialogue", scene / f"postgen/dialogue/{lid}.wav", start_s=start + dialogue_offset_ms / 1000, name=lid)
    for eid, t, _ in EVENTS:
        if eid in drop_events:
            continue
        clip = scene / f"postgen/sfx/{eid}.wav"
        if sfx_fn is not None:
            clip = sfx_fn(sf.read(clip, dtype="float32", always_2d=True)[0]).astype(np.float32)
        st.add("sfx", clip, start_s=t + sfx_offsets_ms.get(eid, 0.0) / 1000, gain_db=sfx_gain_db, name=eid)
    for k, (y, start_s, gain_db) in enumerate(extra_sfx):  # (audio, start_s, gain_db): sounds layered on the SFX
        st.add("sfx", y, start_s=start_s, gain_db=gain_db, name=f"extra{k}")
    amb = sf.read(scene / "postgen/ambience/room.wav", dtype="float32", always_2d=True)[0]
    if ambience_gap is not None:
        amb = amb.copy()
        amb[int(ambience_gap[0] * SR) : int(ambience_gap[1] * SR)] = 0.0
    st.add("ambience", amb, start_s=0.0, gain_db=ambience_gain_db, name="room")
    music = sf.read(scene / "postgen/music/bed.wav", dtype="float32", always_2d=True)[0]
    music = music[: int((DUR - music_start_s) * SR)].copy()
    if music_fade_in_s:
        music[: int(music_fade_in_s * SR)] *= np.linspace(0, 1, int(music_fade_in_s * SR), dtype=np.float32)[:, None]
    st.add("music", music, start_s=music_start_s, gain_db=music_gain_db, name="bed")
    if ducking:
        st.ducking = Ducking(depth_db=duck_depth_db, attack_ms=duck_attack_ms, release_ms=duck_release_ms,
                             targets=("music",))
    if master:
        st.master = Master(target_lufs=-14.0, ceiling_dbtp=-1.0)
    export_deliverable(st, out)
    return out


@pytest.fixture(scope="module")
def good(scene, tmp_path_factory):
    out = build(scene, tmp_path_factory.mktemp("good") / "deliverable")
    return out, run_checks(out, scene=scene / "cues.json")


def test_a_correct_mix_passes_every_check(good):
    _, report = good
    assert [c.name for c in report.checks] == list(CHECK_NAMES)
    failed = {c.name: c.message for c in report.checks if not c.passed}
    assert failed == {}
    assert report.passed
    assert report["loudness"].value == pytest.approx(-14.0, abs=0.3)
    assert report["true_peak"].value <= -1.0
    assert abs(report["sync"].value) < 2.0 and abs(report["dialogue_sync"].value) < 2.0
    assert report["ducking"].value == pytest.approx(12.0, abs=1.0)
    assert report["masking"].value >= 10.0


def test_json_and_text_reports(good):
    _, report = good
    d = json.loads(report.to_json())
    assert d["scene"] == "synthetic" and d["target"] == "streaming"
    assert [c["name"] for c in d["checks"]] == list(CHECK_NAMES)
    for c in d["checks"]:
        assert set(c) >= {"name", "passed", "value", "unit", "target", "message", "details"}
        assert isinstance(c["message"], str) and c["message"]
    sync = next(c for c in d["checks"] if c["name"] == "sync")
    assert [e["id"] for e in sync["details"]["events"]] == [e for e, _, _ in EVENTS]
    bands = next(c for c in d["checks"] if c["name"] == "band_audibility")["details"]["bands"]
    assert len(bands) == 18 and bands[0]["centre_hz"] == 160
    text = report.to_text()
    assert text.count("PASS") == len(CHECK_NAMES) and "11/11 checks passed" in text


def test_figures_are_explicit_figure_objects(good, tmp_path):
    from matplotlib.figure import Figure

    _, report = good
    figs = report.figures()
    measured = {"loudness", "true_peak", "sync", "dialogue_sync", "masking", "band_audibility", "ducking"}
    assert set(figs) == measured  # one figure per measured quantity, keyed by its check
    assert all(isinstance(f, Figure) for f in figs.values())
    assert len({id(f) for f in figs.values()}) == len(figs)  # no figure shown twice
    assert figs["band_audibility"].axes[0].images[0].get_cmap().name == "cividis"
    assert "Peaks" in figs["true_peak"].axes[0].get_title()
    paths = report.save_figures(tmp_path / "figs")
    assert len(paths) == 7 and all(p.stat().st_size > 5000 for p in paths)


def test_sfx_early_late_and_missing(scene, tmp_path):
    out = build(scene, tmp_path / "d", sfx_offsets_ms={"door": -30.0, "cup": 90.0, "knock": -55.0},
                drop_events=("drop",))
    report = run_checks(out, scene=scene / "cues.json")
    assert [c.name for c in report.failed] == ["sync"]  # the flaw fails exactly its own check
    r = report["sync"]
    assert not r.passed
    ev = {e["id"]: e for e in r.details["events"]}
    assert ev["door"]["offset_ms"] == pytest.approx(-30.0, abs=2.0) and ev["door"]["passed"]
    assert ev["cup"]["offset_ms"] == pytest.approx(90.0, abs=2.0) and not ev["cup"]["passed"]
    assert ev["knock"]["offset_ms"] == pytest.approx(-55.0, abs=2.0) and not ev["knock"]["passed"]
    assert not ev["drop"]["found"] and ev["drop"]["offset_ms"] is None
    assert "1 missing" in r.message and "90 ms late" in r.message and "55 ms early" in r.message
    assert r.value == pytest.approx(90.0, abs=2.0)


def test_configurable_sync_window(scene, tmp_path):
    out = build(scene, tmp_path / "d", sfx_offsets_ms={"cup": 90.0})
    assert not run_checks(out, scene=scene / "cues.json")["sync"].passed
    r = run_checks(out, scene=scene / "cues.json", sync_window="bt1359_detectable")["sync"]
    assert r.passed and "BT.1359" in r.target


def test_late_dialogue(scene, tmp_path):
    out = build(scene, tmp_path / "d", dialogue_offset_ms=125.0)
    report = run_checks(out, scene=scene / "cues.json")
    assert [c.name for c in report.failed] == ["dialogue_sync"]
    r = report["dialogue_sync"]
    assert not r.passed and r.value == pytest.approx(125.0, abs=1.0)
    assert "125 ms late" in r.message


def test_loud_music_without_ducking_fails_masking_and_ducking(scene, tmp_path):
    out = build(scene, tmp_path / "d", music_gain_db=6.0, ducking=False)
    r = run_checks(out, scene=scene / "cues.json")
    assert {c.name for c in r.failed} == {"masking", "band_audibility", "ducking"}
    assert not r["masking"].passed and r["masking"].value < 10.0
    assert "pull it down or duck deeper" in r["masking"].message
    assert not r["ducking"].passed and abs(r["ducking"].value) < 1.0
    assert not r["band_audibility"].passed


def test_music_at_known_levels_under_dialogue(scene, tmp_path):
    """Stems written directly: music a known number of LU under the dialogue while it speaks."""
    import pyloudnorm as pyln
    import warnings

    n = int(DUR * SR)
    dlg = np.zeros((n, 2), np.float32)
    for lid, start, _ in LINES:
        c = sf.read(scene / f"postgen/dialogue/{lid}.wav", dtype="float32")[0]
        s = int(start * SR)
        dlg[s : s + c.size] += c[:, None]
    music = np.repeat(chords(DUR, 7), 2, axis=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        meter = pyln.Meter(SR, filter_class="DeMan")
        d_lufs = meter.integrated_loudness(dlg.astype(np.float64))  # gated: pauses drop out
        m_lufs = meter.integrated_loudness(music.astype(np.float64))
    for ld in (4.0, 12.0):
        m = music * 10 ** ((d_lufs - ld - m_lufs) / 20)
        out = tmp_path / f"ld{ld:g}"
        (out / "stems").mkdir(parents=True)
        amb = np.repeat(bed_noise(DUR, 9, 1e-4), 2, axis=1)
        sfx = np.zeros_like(dlg)
        for s, a in {"dialogue": dlg, "music": m, "ambience": amb, "sfx": sfx}.items():
            sf.write(out / "stems" / f"{s}.wav", a, SR, subtype="FLOAT")
        sf.write(out / "mix.wav", dlg + m + amb, SR, subtype="FLOAT")
        r = run_checks(out, scene=scene / "cues.json")["masking"]
        assert r.value == pytest.approx(ld, abs=0.5)
        assert r.passed == (ld >= 10)


@pytest.mark.parametrize("depth_db", [4.0, 8.0, 12.0, 18.0])
def test_known_ducking_depths(depth_db):
    n = 10 * SR
    music = np.repeat(chords(10.0, 3), 2, axis=1)
    sc = np.zeros((n, 1), np.float32)
    for s, e in ((2.0, 4.5), (6.0, 8.0)):
        sc[int(s * SR) : int(e * SR)] = speech_like(e - s, seed=int(s))
    r = duck(music, sc, depth_db=depth_db, threshold_db=-40.0, attack_ms=50.0, release_ms=300.0, hold_ms=100.0,
             lookahead_ms=20.0, sample_rate=SR)
    act = dialogue_activity(sc, sample_rate=SR)
    with_ref = measure_ducking(r.audio, act, sample_rate=SR, reference=music)
    without = measure_ducking(r.audio, act, sample_rate=SR)
    assert with_ref.depth_db == pytest.approx(depth_db, abs=0.5)
    assert without.depth_db == pytest.approx(depth_db, abs=0.7)
    assert with_ref.max_step_db < 6.0 and without.max_step_db < 6.0


def test_a_ducking_step_is_caught():
    n = 8 * SR
    music = np.repeat(chords(8.0, 4), 2, axis=1)
    sc = np.zeros((n, 1), np.float32)
    sc[3 * SR : 5 * SR] = speech_like(2.0, seed=5)
    gain = np.ones(n, np.float32)
    gain[3 * SR : 5 * SR] = 10 ** (-12 / 20)  # hard switch, no ramp
    act = dialogue_activity(sc, sample_rate=SR)
    m = measure_ducking(music * gain[:, None], act, sample_rate=SR, reference=music)
    assert m.depth_db == pytest.approx(12.0, abs=0.5)
    assert m.max_step_db > 9.0 and m.step_time_s == pytest.approx(3.0, abs=0.05)
    # without the clip to compare with, a step on a steady bed is still caught
    bed = np.repeat(bed_noise(8.0, 6, 0.05), 2, axis=1)
    m = measure_ducking(bed * gain[:, None], act, sample_rate=SR)
    assert m.depth_db == pytest.approx(12.0, abs=0.5)
    assert m.max_step_db > 9.0 and m.step_time_s == pytest.approx(3.0, abs=0.05)


def test_ambience_with_a_gap(scene, tmp_path):
    out = build(scene, tmp_path / "d", ambience_gap=(6.0, 6.3))
    report = run_checks(out, scene=scene / "cues.json")
    assert [c.name for c in report.failed] == ["ambience_continuity"]
    r = report["ambience_continuity"]
    assert not r.passed and r.value >= 1
    drop = r.details["dropouts"][0]
    assert drop["start_s"] == pytest.approx(6.0, abs=0.03) and drop["end_s"] == pytest.approx(6.3, abs=0.03)
    assert "drops out from 6.0" in r.message


def test_ambience_jump_and_scene_change():
    amb = np.repeat(bed_noise(10.0, 1, 0.02), 2, axis=1)
    amb[5 * SR :] *= 10 ** (10 / 20)  # +10 dB cut at 5 s
    r = ambience_continuity(amb, sample_rate=SR)
    assert len(r.jumps) == 1 and r.jumps[0]["time_s"] == pytest.approx(5.0, abs=0.05)
    assert r.jumps[0]["change_db"] == pytest.approx(10.0, abs=1.0)
    assert ambience_continuity(amb, sample_rate=SR, scene_changes_s=[5.0]).passed
    # a slow swell over 3 s is not a jump
    swell = np.repeat(bed_noise(10.0, 2, 0.02), 2, axis=1)
    swell *= np.interp(np.arange(10 * SR), [0, 3 * SR, 6 * SR, 10 * SR], [1, 1, 4, 4])[:, None].astype(np.float32)
    assert ambience_continuity(swell, sample_rate=SR).passed


def test_clipped_mix(scene, tmp_path):
    out = build(scene, tmp_path / "d")
    mix, _ = sf.read(out / "mix.wav", dtype="float32", always_2d=True)
    sf.write(out / "mix.wav", np.clip(mix * 4.0, -1.0, 1.0), SR, subtype="PCM_24")
    r = run_checks(out, scene=scene / "cues.json")
    assert not r["format"].passed and "clipping" in r["format"].message
    assert not r["true_peak"].passed and "hard-clipped" in r["true_peak"].message
    assert not r["stems_sum"].passed
    assert r["sync"].passed and r["dialogue_sync"].passed  # the stems are still fine


def test_clipped_dialogue_stem_and_noisy_dialogue(scene, tmp_path):
    out = build(scene, tmp_path / "d")
    d, _ = sf.read(out / "stems/dialogue.wav", dtype="float32", always_2d=True)
    g = np.random.default_rng(0)
    noisy = d + (g.standard_normal(d.shape) * 10 ** (-45 / 20)).astype(np.float32)
    sf.write(out / "stems/dialogue.wav", noisy, SR, subtype="FLOAT")
    r = run_checks(out, scene=scene / "cues.json")["dialogue_noise_floor"]
    assert not r.passed and r.value == pytest.approx(-45.0, abs=1.0)
    sf.write(out / "stems/dialogue.wav", np.clip(d * 8, -1, 1), SR, subtype="FLOAT")
    r = run_checks(out, scene=scene / "cues.json")["dialogue_noise_floor"]
    assert not r.passed and "hard-clipped" in r.message


def test_stems_that_do_not_add_up(scene, tmp_path):
    out = build(scene, tmp_path / "d")
    mix, _ = sf.read(out / "mix.wav", dtype="float32", always_2d=True)
    sf.write(out / "mix.wav", mix * 10 ** (-3 / 20), SR, subtype="PCM_24")
    r = run_checks(out, scene=scene / "cues.json")["stems_sum"]
    assert not r.passed and "-3.0 dB gain" in r.message
    assert r.details["mix_over_stems_gain_db"] == pytest.approx(-3.0, abs=0.05)


def test_missing_and_broken_files_fail_only_the_checks_that_need_them(scene, tmp_path):
    out = build(scene, tmp_path / "d")
    (out / "stems/music.wav").unlink()
    (out / "stems/sfx.wav").write_bytes(b"not audio at all")
    r = run_checks(out, scene=scene / "cues.json")
    assert not r["format"].passed and "stems/music.wav: missing" in r["format"].message
    assert not r["sync"].passed and "stems/sfx.wav" in r["sync"].message and r["sync"].value is None
    assert not r["masking"].passed and "needs stems/music.wav" in r["masking"].message
    assert not r["ducking"].passed
    assert not r["stems_sum"].passed
    for name in ("loudness", "true_peak", "dialogue_sync", "ambience_continuity", "dialogue_noise_floor",
                 "band_audibility"):
        assert r[name].passed, (name, r[name].message)
    json.loads(r.to_json())


def test_nan_mix_still_lets_the_stem_checks_run(scene, tmp_path):
    out = build(scene, tmp_path / "d")
    mix, _ = sf.read(out / "mix.wav", dtype="float32", always_2d=True)
    mix[100] = np.nan
    sf.write(out / "mix.wav", mix, SR, subtype="FLOAT")
    r = run_checks(out, scene=scene / "cues.json")
    assert not r["loudness"].passed and "NaN" in r["loudness"].message
    assert not r["true_peak"].passed
    assert r["sync"].passed and r["masking"].passed and r["ducking"].passed


def test_an_unexpected_error_in_one_check_does_not_stop_the_others(scene, good, monkeypatch):
    import layerlab.checks.ducking as ducking_check

    def boom(*a, **k):
        raise RuntimeError("simulated failure")

    monkeypatch.setattr(ducking_check, "measure_ducking", boom)
    r = run_checks(good[0], scene=scene / "cues.json")
    assert not r["ducking"].passed and "simulated failure" in r["ducking"].message
    assert sum(c.passed for c in r.checks) == len(CHECK_NAMES) - 1


def test_dialogue_gated_profile(scene, good):
    r = run_checks(good[0], scene=scene / "cues.json", target="dialogue_gated")
    loud = r["loudness"]
    assert loud.details["dialogue_gated"] and "dialogue-gated" in loud.target
    assert loud.value == pytest.approx(loud.details["dialogue_gated_lufs"])
    assert not loud.passed  # a -14 LUFS streaming master is far above -27 LKFS
    assert r.target == "dialogue_gated"


def test_unknown_scene_and_profile(good, scene):
    with pytest.raises(SessionError, match="no cues.json"):
        run_checks(good[0], scene="no_such_scene")
    with pytest.raises(ValueError):
        run_checks(good[0], scene=scene / "cues.json", target="cinema")


def test_command_line(scene, good, tmp_path):
    exe = [sys.executable, "-m", "layerlab.cli", "check"]
    p = subprocess.run(exe + [str(good[0]), "--scene", str(scene / "cues.json"), "--json",
                              "--figures", str(tmp_path / "figs")], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    d = json.loads(p.stdout)
    assert [c["name"] for c in d["checks"]] == list(CHECK_NAMES)
    assert (tmp_path / "figs" / "band_audibility.png").exists()
    bad = build(scene, tmp_path / "bad", sfx_offsets_ms={"cup": 150.0})
    p = subprocess.run(exe + [str(bad), "--scene", str(scene / "cues.json")], capture_output=True, text=True)
    assert p.returncode == 1 and "FAIL  sync" in p.stdout and p.stderr == ""
    p = subprocess.run(exe + [str(bad), "--scene", "no_such_scene"], capture_output=True, text=True)
    assert p.returncode == 2 and "no_such_scene" in p.stderr


def test_check_command_does_not_import_scipy_signal_or_plotting(scene, good):
    """Issue #17: ``import scipy.signal`` alone costs about a second of a learner's ``layerlab check``."""
    code = ("import sys\nfrom layerlab.cli import main\n"
            f"rc = main(['check', {str(good[0])!r}, '--scene', {str(scene / 'cues.json')!r}])\n"
            "heavy = sorted(m for m in ('scipy.signal', 'scipy.stats', 'matplotlib', 'librosa') if m in sys.modules)\n"
            "print('HEAVY', heavy, rc)")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert "HEAVY [] 0" in p.stdout, p.stdout[-400:]


def test_find_lag_equals_the_full_scipy_correlation_it_replaced():
    """find_lag correlates only the searched lags now; the lag and the normalised correlation are unchanged."""
    from scipy.signal import correlate, correlation_lags

    from layerlab.checks.context import find_lag

    def reference(x, clip, max_lag):  # the former implementation: the full FFT correlation, then the lags kept
        n, m = x.size, clip.size
        xc = correlate(x, clip, mode="full", method="fft")
        lags = correlation_lags(n, m, mode="full")
        keep = np.abs(lags) <= max_lag
        xc, lags = xc[keep], lags[keep]
        cx, cc = np.concatenate([[0.0], np.cumsum(x * x)]), np.concatenate([[0.0], np.cumsum(clip * clip)])
        a, b = np.clip(lags, 0, n), np.clip(lags + m, 0, n)
        ca = np.clip(-lags, 0, m)
        ex, ec = cx[b] - cx[a], cc[np.clip(ca + (b - a), 0, m)] - cc[ca]
        raw = np.where((b - a) >= SR // 2, xc, -np.inf)
        near = np.nonzero(raw >= 0.99 * raw.max())[0]
        k = int(near[np.argmin(np.abs(lags[near]))])
        return int(lags[k]), float(xc[k] / np.sqrt(ex[k] * ec[k]))

    # a broadband bed with chords in it (chords alone fit equally well a few samples off, and find_lag
    # then takes the lag nearest 0 of those within 1%: a tie rule, not an error)
    clip = bed_noise(6.0, 4, 0.1)[:, 0].astype(np.float64) + 0.5 * chords(6.0, seed=3)[:, 0]
    rng = np.random.default_rng(7)
    for lag_s in (0.0, 0.7331, -1.25):
        lag = int(round(lag_s * SR))
        x = np.zeros(int(5.0 * SR))
        a0, b0 = max(0, lag), max(0, -lag)
        m = min(x.size - a0, clip.size - b0)
        ramp = np.linspace(1.0, 0.3, m)  # a ducking-like gain change
        x[a0 : a0 + m] = clip[b0 : b0 + m] * ramp
        x += 0.01 * rng.standard_normal(x.size)
        got = find_lag(x, clip, sample_rate=SR, max_lag_s=2.0)
        want = reference(x, clip, 2 * SR)
        assert got[0] == want[0] == lag
        assert got[1] == pytest.approx(want[1], abs=1e-9) and got[1] > 0.5


def _age(path, seconds=60.0):
    """Set a file's modification time ``seconds`` in the past (older than the clip cache's racy window)."""
    import os
    import time

    t = time.time() - seconds
    os.utime(path, (t, t))


def test_a_scene_clip_is_decoded_once_read_only_and_afresh_once_its_file_changes(tmp_path):
    """The clip cache (issue #17): an unchanged clip is decoded once and cannot be written to; a clip rewritten in
    place (same path, same size) or replaced is read again, so no stale or foreign clip is ever served."""
    from layerlab.checks.context import find_lag, scene_clip

    p = tmp_path / "bed.wav"
    first = chords(2.0, seed=1)
    sf.write(p, first, SR, subtype="FLOAT")
    _age(p)
    a = scene_clip(p)
    assert scene_clip(p) is a  # kept: not decoded again
    np.testing.assert_array_equal(a.audio, first)
    for arr in (a.audio, a.mono, a.energy_cumsum(), a.conj_spectrum(4096)):
        assert not arr.flags.writeable
        with pytest.raises(ValueError):
            arr[0] = 1.0
    other = bed_noise(2.0, 5, 0.1)  # the same length and format: the same file size
    sf.write(p, other, SR, subtype="FLOAT")
    _age(p)  # even with an old modification time again, its change time moved
    b = scene_clip(p)
    assert b is not a
    np.testing.assert_array_equal(b.audio, other)
    # a file rewritten a moment ago is decoded but not kept (file times tick in steps of milliseconds)
    sf.write(p, first, SR, subtype="FLOAT")
    c = scene_clip(p)
    np.testing.assert_array_equal(c.audio, first)
    assert scene_clip(p) is not c
    # find_lag with the kept clip (its spectrum and energies reused) gives the numbers of the plain array
    x = np.zeros(3 * SR)
    x[SR // 3 : SR // 3 + 2 * SR] = 0.5 * other[:, 0]
    assert find_lag(x, b, max_lag_s=1.0) == find_lag(x, b.mono.copy(), max_lag_s=1.0)
    assert find_lag(x, b, max_lag_s=1.0)[0] == SR // 3
    assert scene_clip(tmp_path / "missing.wav") is None


def test_run_checks_sees_a_scene_clip_replaced_between_two_runs(scene, good, tmp_path):
    """Two runs in one process (lesson 06 checks five mixes of one scene): replacing the scene's music clip on disk
    changes the second run's verdicts, exactly as a run with nothing kept from the first."""
    import json

    from layerlab.checks.context import clear_clip_cache

    out, _ = good
    copy = _scene_with(scene, tmp_path / "scene", {})
    for f in copy.rglob("*.wav"):
        _age(f)
    r1 = run_checks(out, scene=copy / "cues.json")
    assert r1["ducking"].passed and "scene's music clip" in json.dumps(r1["ducking"].details)
    sf.write(copy / "postgen/music/bed.wav", other_music(DUR), SR, subtype="FLOAT")
    _age(copy / "postgen/music/bed.wav")
    r2 = run_checks(out, scene=copy / "cues.json")
    clear_clip_cache()
    r3 = run_checks(out, scene=copy / "cues.json")

    def seen(r):
        return [(c.name, c.value, c.passed, c.message) for c in r.checks]

    assert seen(r2) == seen(r3)
    assert seen(r2) != seen(r1)
    assert "scene's music clip" not in json.dumps(r2["ducking"].details)


def test_the_checks_on_two_threads_report_what_they_report_in_turn(scene, good, loud_unducked, monkeypatch):
    """run_checks runs the checks on two threads where it can (issue #17); on one core they run in turn. Both give
    the same report, values, messages and details, for a passing and a failing mix."""
    import json

    import layerlab.checks as checks

    def seen(r):
        return [(c.name, c.value, c.passed, c.message, json.dumps(c.details, sort_keys=True, default=str))
                for c in r.checks]

    threaded = {}
    monkeypatch.setattr(checks, "usable_cores", lambda: 2)
    for name, (out, _) in (("good", good), ("loud", loud_unducked)):
        threaded[name] = seen(run_checks(out, scene=scene / "cues.json"))
    monkeypatch.setattr(checks, "usable_cores", lambda: 1)
    for name, (out, _) in (("good", good), ("loud", loud_unducked)):
        assert seen(run_checks(out, scene=scene / "cues.json")) == threaded[name], name
    assert any(not passed for _, _, passed, _, _ in threaded["loud"])
    # where no thread can be started (a process limit in a grader's measuring process), the checks run in turn
    import concurrent.futures

    def no_thread(*args, **kwargs):
        raise RuntimeError("can't start new thread")

    monkeypatch.setattr(checks, "usable_cores", lambda: 2)
    monkeypatch.setattr(concurrent.futures.ThreadPoolExecutor, "submit", no_thread)
    assert seen(run_checks(good[0], scene=scene / "cues.json")) == threaded["good"]


def _context(out, scene):
    """A CheckContext as run_checks makes one (the deliverable read, the cue sheet, the streaming profile)."""
    from layerlab.checks.context import CheckContext
    from layerlab.io.deliverable import read_deliverable
    from layerlab.measure.sync import EBU_R37, get_sync_window

    cues = load_cues(scene / "cues.json")
    prof = get_profile("streaming")
    dl = read_deliverable(out, duration_s=cues.duration_s, fps=cues.fps)
    return CheckContext(dl, cues, prof, get_sync_window(EBU_R37), 500.0, {"profile": prof, "duration_s": cues.duration_s})


def test_the_beds_found_ahead_on_the_second_thread_are_the_ones_the_heard_layers_use(scene, good, monkeypatch):
    """run_checks' second thread first finds the ambience as heard in the mix and where the music stem has its clip
    (issue #17: the heard layers that masking, band audibility and ducking wait for): heard_layers then correlates no
    bed again, finds the same layers to the last bit as without that head start, and a threaded run correlates each
    bed stem once."""
    import layerlab.checks as checks
    import layerlab.checks.context as context
    from layerlab.checks.heard import heard_layers, prefetch_bed_lags

    real, calls = context.find_lag, []

    def counted(x, clip, **kwargs):
        calls.append(x.size)
        return real(x, clip, **kwargs)

    monkeypatch.setattr(context, "find_lag", counted)
    n = int(DUR * SR)
    context.clear_clip_cache()  # nor are the lags kept from another run (context.memo)
    ahead = _context(good[0], scene)
    prefetch_bed_lags(ahead)
    assert calls == [n, n]  # the ambience and music stems, whole
    heard = heard_layers(ahead)
    assert calls == [n, n] and set(heard.beds) == {"music", "ambience"}  # nothing correlated again
    context.clear_clip_cache()
    fresh = heard_layers(_context(good[0], scene))
    assert calls == [n, n, n, n]
    for k in ("music", "ambience"):
        assert np.array_equal(heard.beds[k], fresh.beds[k]) and np.array_equal(heard.references[k], fresh.references[k])
    assert np.array_equal(heard.dialogue, fresh.dialogue)
    calls.clear()
    context.clear_clip_cache()
    monkeypatch.setattr(checks, "usable_cores", lambda: 2)
    report = run_checks(good[0], scene=scene / "cues.json")
    assert calls.count(n) == 2 and report.passed


def test_a_report_keeps_none_of_the_heard_layers_working_data(tmp_path, monkeypatch):
    """The second check thread finds a bed ahead of the heard layers; when no check then asks for them (the forest
    scene has no dialogue lines, and here no SFX stem), or it finds it after they were made, its float64 copies of
    the mix and dialogue must not stay in the report (lesson 06 keeps five reports)."""
    import layerlab.checks as checks
    from layerlab.mix.scenes import hybrid_stack
    from layerlab.mix.session import export_deliverable

    monkeypatch.setattr(checks, "usable_cores", lambda: 2)
    out = export_deliverable(hybrid_stack("forest_broll"), tmp_path / "deliverable")
    (out / "stems" / "sfx.wav").unlink()
    report = run_checks(out, scene="forest_broll")
    left = {k for k in ("heard_inputs", "heard_beds") if k in report.data}
    assert not left, f"{left} left in the report"


def test_measurements_kept_by_content_are_made_once_and_never_served_for_other_samples(scene, good, tmp_path,
                                                                                       monkeypatch):
    """Lesson 06 checks five mixes in one kernel and a layer it does not replace keeps its samples (issue #17): the
    onsets of an SFX stem and where a bed stem has its clip are measured once per content. The same stems in another
    folder give the same report without measuring them again; an SFX stem rewritten with every sound 200 ms later, at
    the same size and modification time (a file's identity unchanged), is measured afresh: its onsets move 200 ms."""
    import os

    import layerlab.checks.context as context
    import layerlab.measure.sync as msync

    for p in (scene / "postgen").rglob("*.wav"):
        _age(p)  # older than the clip cache's racy window: the clips are kept, and their lags with them
    monkeypatch.setattr(context, "KEEP_BY_CONTENT", True)
    context.clear_clip_cache()
    onsets, lags, n = [], [], int(DUR * SR)
    real_onsets, real_lag = msync.detect_onsets, context.find_lag
    monkeypatch.setattr(msync, "detect_onsets", lambda x, **kw: onsets.append(x.shape) or real_onsets(x, **kw))
    monkeypatch.setattr(context, "find_lag", lambda x, clip, **kw: lags.append(x.size) or real_lag(x, clip, **kw))
    first = run_checks(good[0], scene=scene / "cues.json")
    assert len(onsets) == 1 and lags.count(n) == 2
    copy = tmp_path / "copy"
    shutil.copytree(good[0], copy)
    again = run_checks(copy, scene=scene / "cues.json")
    assert len(onsets) == 1 and lags.count(n) == 2  # nothing measured again
    assert _as_compared(again) == _as_compared(first) == _as_compared(good[1])
    sfx = copy / "stems" / "sfx.wav"
    st, sub = sfx.stat(), sf.info(sfx).subtype
    y, sr = sf.read(sfx, dtype="float32", always_2d=True)
    late = np.zeros_like(y)
    late[int(0.2 * sr) :] = y[: -int(0.2 * sr)]
    sf.write(sfx, late, sr, subtype=sub)
    os.utime(sfx, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert sfx.stat().st_size == st.st_size and sfx.stat().st_mtime_ns == st.st_mtime_ns
    moved = run_checks(copy, scene=scene / "cues.json")
    assert len(onsets) == 2
    was = [o.time_s for o in first.data["sfx_onsets"]]
    now = [o.time_s for o in moved.data["sfx_onsets"]]
    assert len(now) == len(was) == len(EVENTS) and np.allclose(now, np.add(was, 0.2), atol=1e-3)


def test_windowed_gain_equals_the_per_sample_interp_it_replaced():
    """The heard layers' gain curve is filled between hops without np.interp's search: the same bits."""
    from layerlab.checks.heard import GAIN_WINDOW_MS, windowed_gain

    rng = np.random.default_rng(11)
    y = bed_noise(3.0, 5, 0.2).astype(np.float64)
    gain = np.linspace(0.2, 1.5, y.shape[0])[:, None]  # a fader ride the curve must follow
    target = gain * y + 0.01 * rng.standard_normal(y.shape)
    for n in (y.shape[0], y.shape[0] - 123, 481, 480, 1):
        t, yy = target[:n], y[:n]
        hop, w = 480, int(round(GAIN_WINDOW_MS * SR / 1000))  # 10 ms hops, the default window
        got = windowed_gain(t, yy, sample_rate=SR, hop_ms=10.0)
        # the former implementation, recomputed from its definition
        cn = np.concatenate([[0.0], np.cumsum(np.sum(t * yy, axis=1))])
        cd = np.concatenate([[0.0], np.cumsum(np.sum(yy * yy, axis=1))])
        centres = np.arange(0, n, hop)
        a, b = np.clip(centres - w // 2, 0, n), np.clip(centres + w // 2, 0, n)
        num, den = cn[b] - cn[a], cd[b] - cd[a]
        g = np.where(den > 1e-9 * max(float(den.max()), 1e-30), num / np.maximum(den, 1e-30), 0.0)
        want = np.interp(np.arange(n), centres, g)
        assert np.array_equal(got, want), n
    assert got.shape == (1,)
    mid = windowed_gain(target, y, sample_rate=SR)[y.shape[0] // 2]
    assert mid == pytest.approx(gain[y.shape[0] // 2, 0], abs=0.02)


def test_shared_k_weighted_blocks_give_the_same_masking_figures(scene, good):
    """check_masking K-weights each signal once (k_blocks); its figures equal comparisons computed afresh."""
    from layerlab.checks.context import CheckContext
    from layerlab.checks.heard import found_activity, found_dialogue, heard_activity, heard_layers
    from layerlab.io.deliverable import read_deliverable
    from layerlab.measure.masking import dialogue_to_background_lu, k_weighted_block_power

    rng = np.random.default_rng(3)
    x, bgd = rng.standard_normal((SR * 3, 2)), 0.1 * rng.standard_normal((SR * 3, 2))
    fresh = dialogue_to_background_lu(x, bgd, sample_rate=SR)
    shared = dialogue_to_background_lu(x, bgd, sample_rate=SR, dialogue_power=k_weighted_block_power(x, sample_rate=SR),
                                       background_power=k_weighted_block_power(bgd, sample_rate=SR))
    assert shared == fresh and fresh.lu == pytest.approx(20.0, abs=0.3)  # white noises 20 dB apart
    with pytest.raises(ValueError, match="background_power"):
        dialogue_to_background_lu(x, bgd, sample_rate=SR, dialogue_power=np.ones(3), background_power=np.ones(4))

    out, report = good
    details = report["masking"].details
    ctx = CheckContext(read_deliverable(out), load_cues(scene / "cues.json"), None, None, 500.0, {})  # run_checks' search
    heard, act = heard_layers(ctx), heard_activity(ctx)
    assert heard is not None
    dl, n = ctx.deliverable, heard.dialogue.shape[0]
    stem_d = dl.audio("dialogue")[:n]
    for k in ("music", "ambience"):
        assert details[f"stems_over_{k}_lu"] == dialogue_to_background_lu(stem_d, dl.audio(k)[:n], sample_rate=SR,
                                                                         active=act).lu
        assert details[f"mix_over_{k}_lu"] == dialogue_to_background_lu(heard.dialogue, heard.beds[k], sample_rate=SR,
                                                                       active=act).lu
    rest = dl.audio("mix")[:n] - heard.dialogue
    assert details["over_all_background_lu"] == dialogue_to_background_lu(heard.dialogue, rest, sample_rate=SR,
                                                                          active=act).lu
    assert 10.0 <= details["over_music_lu"] < 40.0
    # this scene's lines as found in mix.wav, K-weighted once for both beds (the beds' blocks shared with the above)
    fdl, act_l = found_dialogue(ctx).dialogue[:n], found_activity(ctx)
    for k in ("music", "ambience"):
        fresh = dialogue_to_background_lu(fdl, heard.beds[k], sample_rate=SR, active=act_l).lu
        assert details[f"lines_over_{k}_lu"] == fresh and np.isfinite(fresh)


# ----------------------------------------------------------------------------- the kit's scenes

FLAW_CHECKS = {
    "dialogue_late": ["dialogue_sync"],
    "dialogue_band_limited": ["band_audibility"],
    "sfx_late": ["sync"],
    "sfx_missing": ["sync"],
    "music_masks_dialogue": ["masking", "band_audibility"],
    "loudness_off_target": ["loudness"],
    "ambience_dropout": ["ambience_continuity"],
}


def _scene_ids():
    from layerlab.mix.scenes import list_scenes

    return list_scenes()


@pytest.mark.slow
@pytest.mark.parametrize("scene_id", _scene_ids())
def test_native_render_fails_what_its_flaws_predict(scene_id, tmp_path):
    cues = load_cues(scene_id)
    flaws = cues.raw["native"]["flaws"]
    assert flaws
    sub = tmp_path / "native"
    sub.mkdir()
    shutil.copy(cues.folder / cues.raw["native"]["clip"], sub / "mix.wav")
    r = run_checks(sub, scene=scene_id)
    assert not r["format"].passed  # a premix has no stems
    for flaw in flaws:
        for name in FLAW_CHECKS[flaw["kind"]]:
            assert not r[name].passed, (flaw["kind"], name, r[name].message)
            assert "could not be measured" not in r[name].message
        if flaw["kind"] in ("sfx_late", "sfx_missing"):
            ev = {e["id"]: e for e in r["sync"].details["events"]}[flaw["event"]]
            if flaw["kind"] == "sfx_late":
                assert ev["offset_ms"] == pytest.approx(flaw["offset_ms"], abs=3.0)
            else:
                assert not ev["found"]
            others = [e for e in r["sync"].details["events"] if e["id"] != flaw["event"]
                      and not any(f.get("event") == e["id"] for f in flaws)]
            assert all(e["passed"] for e in others)
        if flaw["kind"] == "dialogue_late":
            for e in r["dialogue_sync"].details["events"]:
                assert e["offset_ms"] == pytest.approx(flaw["offset_ms"], abs=3.0)
        if flaw["kind"] == "music_masks_dialogue":
            assert r["masking"].value == pytest.approx(flaw["dialogue_to_music_lu"], abs=1.5)
        if flaw["kind"] == "loudness_off_target":
            assert r["loudness"].value == pytest.approx(flaw["integrated_lufs"], abs=0.2)
        if flaw["kind"] == "ambience_dropout":
            d = r["ambience_continuity"].details["dropouts"][0]
            assert d["start_s"] == pytest.approx(flaw["start_s"], abs=0.1)
            assert d["end_s"] == pytest.approx(flaw["end_s"], abs=0.1)
    # checks no flaw points at measure as a correct premix would
    flawed = {n for f in flaws for n in FLAW_CHECKS[f["kind"]]}
    if cues.dialogue and "dialogue_sync" not in flawed:
        assert r["dialogue_sync"].passed, r["dialogue_sync"].message
    if "ambience_continuity" not in flawed:
        assert r["ambience_continuity"].passed, r["ambience_continuity"].message
    if cues.dialogue:  # a premix has no dialogue stem to find noise between the lines in
        assert not r["dialogue_noise_floor"].passed and "premix" in r["dialogue_noise_floor"].message


@pytest.mark.slow
@pytest.mark.parametrize("scene_id", _scene_ids())
def test_reference_mix_of_each_scene_passes_every_check(scene_id, tmp_path):
    """Post-generated clips at their cue times, music ducked, mastered to -14 LUFS / -1 dBTP."""
    from layerlab.mix.scenes import hybrid_stack

    stack = hybrid_stack(scene_id)
    out = export_deliverable(stack, tmp_path / "deliverable")
    r = run_checks(out, scene=scene_id)
    failed = {c.name: c.message for c in r.checks if not c.passed}
    assert failed == {}
    assert all(e["passed"] for e in r["sync"].details["events"])
    assert abs(r["loudness"].value + 14.0) < 0.5


def test_load_cues_accepts_ids_paths_dicts_and_scenes(scene, tmp_path):
    from layerlab.mix.scenes import list_scenes, load_scene

    a = load_cues(scene / "cues.json")
    b = load_cues(scene)
    c = load_cues(json.loads((scene / "cues.json").read_text()))
    assert a.scene == b.scene == c.scene == "synthetic" and a.duration_s == DUR
    assert a.clip_path(a.dialogue[0]["clip"]).is_file() and c.clip_path(c.dialogue[0]["clip"]) is None
    sid = list_scenes()[0]
    d, e = load_cues(sid), load_cues(load_scene(sid))
    assert d.scene == e.scene == sid and d.folder == e.folder
    (tmp_path / "cues.json").write_text("{not json")
    with pytest.raises(SessionError, match="not valid JSON"):
        load_cues(tmp_path / "cues.json")
    # one model: the checks read the same validated Cues as the scene library and the grader
    from layerlab.io.cuesheet import Cues
    from layerlab.mix.scenes import Cues as SceneLibraryCues

    assert SceneLibraryCues is Cues and isinstance(a, Cues) and a.events[0]["time_s"] == a.events[0].time_s
    doc = json.loads((scene / "cues.json").read_text())
    with pytest.raises(SceneError, match="duration_s"):
        load_cues({k: v for k, v in doc.items() if k != "duration_s"})
    bad = dict(doc, events=[{k: v for k, v in doc["events"][0].items() if k != "time_s"}])
    with pytest.raises(SceneError, match="time_s"):
        load_cues(bad)


@pytest.mark.parametrize("reduction_db, ok", [(3.0, True), (20.0, False)])
def test_stems_sum_tolerates_a_gentle_master_limiter(scene, tmp_path, reduction_db, ok):
    """Stems exported before a master limiter: a few dB of peak limiting still adds up, heavy limiting does not."""
    from layerlab.measure.loudness import true_peak_dbtp
    from layerlab.mix.master import limiter_gain_db

    out = build(scene, tmp_path / "d", master=False)
    stems = {s: sf.read(out / "stems" / f"{s}.wav", dtype="float32", always_2d=True)[0]
             for s in ("dialogue", "sfx", "ambience", "music")}
    total = sum(stems.values())
    ceiling = true_peak_dbtp(total, sample_rate=SR) - reduction_db
    g = limiter_gain_db(total, ceiling_dbtp=ceiling, sample_rate=SR)
    assert g.min() < -0.7 * reduction_db  # the limiter really worked that hard on the peaks
    sf.write(out / "mix.wav", total * 10 ** (g[:, None] / 20), SR, subtype="FLOAT")
    r = run_checks(out, scene=scene / "cues.json")["stems_sum"]
    assert r.passed == ok, r.message


def test_an_empty_folder_fails_every_check_that_needs_audio_and_still_reports(scene, tmp_path):
    r = run_checks(tmp_path, scene=scene / "cues.json")
    assert [c.name for c in r.checks] == list(CHECK_NAMES)
    assert not any(c.passed for c in r.checks)
    assert all("missing" in c.message or "needs" in c.message for c in r.checks)
    assert r.figures() == {}
    assert json.loads(r.to_json())["passed"] is False


# ----------------------------------------------------------------------------- verdicts of issue #13


def test_a_float_over_full_scale_is_not_called_clipping(scene, tmp_path):
    """A smooth float over (+0.4 dBFS) is intact data: the format gate passes with a note; true peak fails it."""
    out = build(scene, tmp_path / "d")
    sfx, _ = sf.read(out / "stems/sfx.wav", dtype="float32", always_2d=True)
    mix, _ = sf.read(out / "mix.wav", dtype="float32", always_2d=True)
    t = np.arange(int(0.2 * SR)) / SR
    burst = (1.05 * np.sin(2 * np.pi * 200 * t) * np.hanning(t.size)).astype(np.float32)[:, None]
    i = int(6.5 * SR)
    sfx[i : i + burst.shape[0]] += burst
    mix[i : i + burst.shape[0]] += burst
    sf.write(out / "stems/sfx.wav", sfx, SR, subtype="FLOAT")
    sf.write(out / "mix.wav", mix, SR, subtype="FLOAT")
    r = run_checks(out, scene=scene / "cues.json")
    assert r["format"].passed, r["format"].message
    assert "over full scale" in r["format"].message and "clipping" not in r["format"].message
    assert not r["true_peak"].passed and "hard-clipped" not in r["true_peak"].message
    assert r["stems_sum"].passed


def _mix_only(out, fn):
    """Change mix.wav alone (the stems stay as they were)."""
    mix, _ = sf.read(out / "mix.wav", dtype="float32", always_2d=True)
    sf.write(out / "mix.wav", fn(mix.copy()), SR, subtype="FLOAT")


def test_a_cup_late_only_in_the_mix_fails_and_names_the_sfx_layer(scene, tmp_path):
    out = build(scene, tmp_path / "d")
    late = build(scene, tmp_path / "late", sfx_offsets_ms={"cup": 120.0})
    late_mix, _ = sf.read(late / "mix.wav", dtype="float32", always_2d=True)
    _mix_only(out, lambda m: late_mix)
    r = run_checks(out, scene=scene / "cues.json")
    s = r["stems_sum"]
    assert not s.passed and "sfx layer" in s.message, s.message
    (where,) = s.details["local"]
    assert 4.2 <= where["start_s"] <= 4.3 and where["layer"] == "sfx"
    # the listener hears a late cup: sync fails too, naming the cup, on what mix.wav holds
    sync = r["sync"]
    assert not sync.passed and "cup" in sync.message and "120 ms late" in sync.message, sync.message
    cup = {e["id"]: e for e in sync.details["events"]}["cup"]
    assert cup["offset_ms"] == pytest.approx(120.0, abs=2.0) and cup["measured_on"] == "mix.wav"
    assert cup["stem_offset_ms"] == pytest.approx(0.0, abs=2.0)
    assert [c.name for c in r.failed] == ["stems_sum", "sync"]


def test_an_ambience_dropout_only_in_the_mix_fails_and_names_the_ambience_layer(scene, tmp_path):
    out = build(scene, tmp_path / "d")
    amb, _ = sf.read(out / "stems/ambience.wav", dtype="float32", always_2d=True)

    def drop(m):
        m[3 * SR : 9 * SR] -= amb[3 * SR : 9 * SR]
        return m

    _mix_only(out, drop)
    report = run_checks(out, scene=scene / "cues.json")
    r = report["stems_sum"]
    assert not r.passed and "ambience layer" in r.message, r.message
    assert r.details["local"][0]["start_s"] == pytest.approx(3.0, abs=0.05)
    assert r.details["local"][-1]["end_s"] == pytest.approx(9.0, abs=0.05)
    # the listener hears the dropout: ambience continuity fails on what mix.wav holds
    c = report["ambience_continuity"]
    assert not c.passed and "in mix.wav" in c.message, c.message
    (d,) = c.details["dropouts"]
    assert d["start_s"] == pytest.approx(3.0, abs=0.05) and d["end_s"] == pytest.approx(9.0, abs=0.05)
    assert d["measured_on"] == "mix.wav"
    # taking the room tone out can also lift a peak the limiter had brought to the ceiling (the bed partly cancelled
    # it): then the doctored mix.wav really is over, and true_peak must say so, as the grader's meter reads it
    tp = report["true_peak"]
    over = true_peak_dbtp(sf.read(out / "mix.wav", dtype="float32", always_2d=True)[0]) > get_profile("streaming").max_true_peak_dbtp
    assert tp.passed is not over, tp.message
    assert [x.name for x in report.failed] == ["stems_sum"] + (["true_peak"] if over else []) + ["ambience_continuity"]


def test_a_mix_of_another_scene_fails_as_not_this_scene(scene, good, tmp_path):
    """The synthetic scene's good mix checked against a scene of the same length with no dialogue and other events."""
    cues = json.loads((scene / "cues.json").read_text())
    other = dict(cues, scene="other_scene", dialogue=[],
                 events=[dict(e, time_s=t, frame=round(t * 24)) for e, t in zip(cues["events"], (2.875, 6.25, 9.875, 10.375))])
    (tmp_path / "cues.json").write_text(json.dumps(other))
    r = run_checks(good[0], scene=tmp_path / "cues.json")
    f = r["format"]
    assert not f.passed and "this does not look like scene other_scene" in f.message
    assert "dialogue where the cue sheet has none" in f.message and "cued events" in f.message
    assert good[1]["format"].passed and good[1]["format"].details["scene_misfit"] == []


@pytest.mark.slow
def test_the_cafe_reference_mix_checked_as_another_kit_scene_fails_the_format_gate(tmp_path):
    """Issue #13: the cafe mix checked as forest_broll scored 10/11."""
    from layerlab.mix.scenes import hybrid_stack

    out = export_deliverable(hybrid_stack("cafe_dialogue"), tmp_path / "deliverable")
    r = run_checks(out, scene="forest_broll")
    assert not r["format"].passed and "this does not look like scene forest_broll" in r["format"].message
    assert "dialogue where the cue sheet has none" in r["format"].message


def test_when_only_the_ambience_masks_the_headline_is_the_ambience_figure(scene, tmp_path):
    out = build(scene, tmp_path / "d", ambience_gain_db=6.0)
    r = run_checks(out, scene=scene / "cues.json")["masking"]
    assert not r.passed and r.details["headline"] == "ambience"
    assert r.value == pytest.approx(r.details["over_ambience_lu"]) and r.value < 15.0
    assert r.details["over_music_lu"] >= 10.0 and "ambience" in r.message and "music" not in r.message


@pytest.mark.parametrize("variant", [
    {"music_fade_in_s": 2.0},
    {"music_start_s": 1.0},
    {"music_start_s": 2.5},
    {"music_gain_db": -13.0},  # music 5 dB lower than the reference mix
    {"music_gain_db": -11.0},  # 3 dB lower
    {"duck_depth_db": 8.0},
    {"duck_attack_ms": 400.0, "duck_release_ms": 1500.0},  # a slow duck
])
def test_good_and_creative_music_choices_pass_ducking(scene, tmp_path, variant):
    """Fades, late entries, a quieter bed and another duck depth are all correct ducking."""
    out = build(scene, tmp_path / "d", **variant)
    r = run_checks(out, scene=scene / "cues.json")
    d = r["ducking"]
    assert d.passed, d.message
    assert d.value == pytest.approx(variant.get("duck_depth_db", 12.0), abs=1.5)
    assert "clip" in d.details["gain_from"]
    # the same depth in what mix.wav holds (the scene's music clip found in it) as on the stem
    assert d.details["mix_depth_db"] == pytest.approx(d.details["stem_depth_db"], abs=1.5)
    failed = {c.name: c.message for c in r.checks if not c.passed}
    assert failed == {}


def _gain_all(out, gain_db, names=("mix", "dialogue", "sfx", "ambience", "music")):
    """Apply one gain envelope (dB per sample) to the named files of a deliverable."""
    for name in names:
        path = out / ("mix.wav" if name == "mix" else f"stems/{name}.wav")
        x, _ = sf.read(path, dtype="float32", always_2d=True)
        sf.write(path, (x * 10 ** (gain_db[:, None] / 20)).astype(np.float32), SR, subtype="FLOAT")


def _grab(start_s, depth_db, hold_s=0.6, release_s=0.3):
    """A fast limiter's gain: down by depth_db in 1 ms at start_s, held, released linearly in dB."""
    t = np.arange(int(DUR * SR)) / SR
    return -depth_db * np.interp(t, [start_s, start_s + 0.001, start_s + hold_s, start_s + hold_s + release_s],
                                 [0, 1, 1, 0], left=0, right=0).astype(np.float32)


def test_a_master_limiter_grab_is_not_blamed_on_the_ambience(scene, tmp_path):
    out = build(scene, tmp_path / "d")
    _gain_all(out, _grab(6.6, 8.0))
    r = run_checks(out, scene=scene / "cues.json")["ambience_continuity"]
    assert r.passed, r.message
    (m,) = r.details["master_gain_changes"]
    assert m["time_s"] == pytest.approx(6.6, abs=0.05) and m["change_db"] < -6.0
    assert "master" in r.message


def test_a_jump_in_the_ambience_alone_is_still_the_ambience(scene, tmp_path):
    out = build(scene, tmp_path / "d")
    _gain_all(out, _grab(6.6, 8.0, hold_s=3.0), names=("mix", "ambience"))
    r = run_checks(out, scene=scene / "cues.json")["ambience_continuity"]
    assert not r.passed and "jumps" in r.message and not r.details.get("master_gain_changes")


# ----------------------------------------------------------------------------- judged on what the listener hears


def _lab2_points(report):
    """Points lab 2's rubric gives this report (a failed gate zeroes every item)."""
    from pathlib import Path

    from layerlab.grading.rubric import assignment_spec, load_rubric, score_mix

    spec = assignment_spec("lab2_hybrid_mix", load_rubric(Path(__file__).resolve().parents[2] / "autograder" / "rubric.json"))
    return sum(it.points for it in score_mix({c.name: c for c in report.checks}, {}, spec))


def _relabelled(honest_dir, out, into, scene):
    """The stem-relabelling attack on a copy of ``honest_dir``: mix.wav untouched; stems/music.wav ducked 12 dB
    and 10 dB quieter, the music taken out of it written onto the ``into`` stem, so the stems still add up."""
    shutil.copytree(honest_dir, out)
    stems = {s: sf.read(out / "stems" / f"{s}.wav", dtype="float32", always_2d=True)[0]
             for s in ("dialogue", "sfx", "ambience", "music")}
    looks_good = duck(stems["music"] * 10 ** (-10 / 20), stems["dialogue"], depth_db=12.0, sample_rate=SR).audio
    stems[into] = stems[into] + (stems["music"] - looks_good)
    stems["music"] = looks_good
    for s, a in stems.items():
        sf.write(out / "stems" / f"{s}.wav", a, SR, subtype="FLOAT")
    return run_checks(out, scene=scene / "cues.json")


@pytest.fixture(scope="module")
def loud_unducked(scene, tmp_path_factory):
    """An honest flawed mix: the music 14 dB louder than the reference and not ducked."""
    out = build(scene, tmp_path_factory.mktemp("loud") / "deliverable", music_gain_db=6.0, ducking=False)
    return out, run_checks(out, scene=scene / "cues.json")


@pytest.mark.parametrize("into", ["sfx", "ambience", "dialogue"])
def test_relabelled_stems_score_no_more_than_the_honest_flawed_mix(scene, loud_unducked, tmp_path, into):
    """The attack: mix.wav untouched; stems/music.wav ducked 12 dB and less loud, the music taken out of it
    moved onto another stem, so the stems still add up to the mix. The listener hears the same loud,
    unducked music: masking and ducking must still fail, and the score must not rise."""
    honest_dir, honest = loud_unducked
    out = tmp_path / "relabelled"
    r = _relabelled(honest_dir, out, into, scene)
    assert not honest["masking"].passed and not honest["ducking"].passed
    assert not r["masking"].passed, r["masking"].message
    assert not r["ducking"].passed, r["ducking"].message
    assert r["masking"].value == pytest.approx(honest["masking"].value, abs=1.0)
    assert r["ducking"].value == pytest.approx(honest["ducking"].value, abs=1.0)
    assert _lab2_points(r) <= _lab2_points(honest)


# ----------------------------------------------------------------------------- this scene's own dialogue, found in the mix


def _scene_with(scene, dest, clips):
    """A copy of the scene folder with some clips replaced (another take, another piece of music)."""
    shutil.copytree(scene, dest)
    for rel, a in clips.items():
        sf.write(dest / rel, a, SR, subtype="FLOAT")
    return dest


def test_a_mix_of_other_takes_of_the_lines_fails_masking_as_not_this_scenes_dialogue(scene, tmp_path):
    """A classmate's deliverable: the same words at the same cue times, but their takes (other voices). The
    scene's own lines are not in mix.wav, so masking cannot pass, and says why in one line."""
    other = _scene_with(scene, tmp_path / "other", {f"postgen/dialogue/{lid}.wav": speech_like(dur, seed=900 + i)
                                                    for i, (lid, _, dur) in enumerate(LINES)})
    out = build(other, tmp_path / "d")
    r = run_checks(out, scene=scene / "cues.json")
    assert not r["masking"].passed
    assert "this scene's dialogue is not in mix.wav: 3 of 3 cued lines" in r["masking"].message
    assert "\n" not in r["masking"].message
    own = run_checks(out, scene=other / "cues.json")  # the same mix checked against its own scene passes
    assert own["masking"].passed, own["masking"].message
    assert own["masking"].details["lines_missing"] == [] and len(own["masking"].details["lines_found_ms"]) == 3


def test_the_good_mix_finds_every_line_at_its_cue(good):
    _, report = good
    d = report["masking"].details
    assert d["lines_missing"] == []
    assert all(abs(v) < 1.0 for v in d["lines_found_ms"].values()), d["lines_found_ms"]
    # the lines as found give about the stems' figure on an honest mix (their speech blocks differ a little)
    assert d["lines_over_music_lu"] == pytest.approx(d["stems_over_music_lu"], abs=1.5)


def other_music(seconds, amp=0.1):
    """Music that is not the scene's: other chords (G, B, D partials) than :func:`chords`."""
    t = np.arange(int(seconds * SR)) / SR
    y = np.zeros(t.size)
    for f0 in (98.0, 123.5, 146.8):
        for k in range(1, 6):
            y += np.sin(2 * np.pi * f0 * k * t) / k * (0.6 + 0.4 * np.sin(2 * np.pi * 0.5 * t + f0))
    return (y / np.sqrt(np.mean(y**2)) * amp).astype(np.float32)[:, None]


@pytest.fixture(scope="module")
def foreign_loud(scene, tmp_path_factory):
    """An honest flawed mix with music that is not the scene's clip: 14 dB louder than the reference, not ducked."""
    root = tmp_path_factory.mktemp("foreign")
    other = _scene_with(scene, root / "scene", {"postgen/music/bed.wav": other_music(DUR)})
    out = build(other, root / "deliverable", music_gain_db=6.0, ducking=False)
    return out, run_checks(out, scene=scene / "cues.json")


def test_foreign_music_with_its_excess_on_the_dialogue_stem_scores_no_more_than_the_honest_flawed_mix(
        scene, foreign_loud, tmp_path):
    """The attack: mix.wav untouched; the foreign music stem ducked 12 dB and 10 dB quieter, the music taken out of
    it written onto the dialogue stem, so the stems add up. The dialogue is found from the scene's own clips in
    the mix, not trusted from the dialogue stem: masking and ducking still fail."""
    honest_dir, honest = foreign_loud
    out = tmp_path / "attack"
    r = _relabelled(honest_dir, out, "dialogue", scene)
    assert not honest["masking"].passed and not honest["ducking"].passed
    assert not r["masking"].passed, r["masking"].message
    assert not r["ducking"].passed, r["ducking"].message
    assert r["masking"].value == pytest.approx(honest["masking"].value, abs=1.5)
    assert _lab2_points(r) <= _lab2_points(honest)


def test_foreign_music_at_a_good_level_and_ducked_still_passes(scene, tmp_path):
    """Bringing other music is a creative choice, not a fault: at the reference level and ducked it passes."""
    other = _scene_with(scene, tmp_path / "scene", {"postgen/music/bed.wav": other_music(DUR)})
    out = build(other, tmp_path / "d")
    r = run_checks(out, scene=scene / "cues.json")
    for name in ("masking", "ducking", "band_audibility"):
        assert r[name].passed, (name, r[name].message)


# ----------------------------------------------------------------------------- this scene's own SFX takes


def test_find_clip_near_gives_the_true_offset_of_a_take_and_tells_it_from_another():
    """A known answer: a noise burst placed 37.5 ms after its cue under louder noise is found within 1 ms and
    correlates well; another take (another seed) at the same place does not."""
    from layerlab.checks.heard import find_clip_near

    own, other = hit(0.4, 11)[:, 0].astype(np.float64), hit(0.4, 12)[:, 0].astype(np.float64)
    cue = 2 * SR
    for take, expect_high in ((own, True), (other, False)):
        x = np.random.default_rng(5).standard_normal(4 * SR) * 0.02
        at = cue + int(0.0375 * SR)
        x[at : at + take.size] += 0.5 * take
        start, corr = find_clip_near(x, own, cue=cue, window=SR // 2, min_overlap_s=own.size / SR)
        if expect_high:
            assert abs(1000.0 * (start - cue) / SR - 37.5) < 1.0 and corr > 0.9, (start, corr)
        else:
            assert corr < 0.2, corr


def test_a_mix_of_other_sfx_takes_at_the_right_times_fails_sync_as_not_this_scenes_effects(scene, tmp_path):
    """A classmate's deliverable re-timed to this scene's events: a sound at every cue, but not this scene's effect."""
    other = _scene_with(scene, tmp_path / "other", {f"postgen/sfx/{eid}.wav": hit(0.4, 700 + i, tau_s=0.03 + 0.02 * i)
                                                    for i, (eid, _, _) in enumerate(EVENTS)})
    out = build(other, tmp_path / "d")
    r = run_checks(out, scene=scene / "cues.json")["sync"]
    assert not r.passed and "4 of 4 SFX cues out of sync (4 missing)" in r.message, r.message
    assert "the sound at the door cue (0.750 s) is not this scene's door effect" in r.message and "\n" not in r.message
    for e in r.details["events"]:
        assert not e["found"] and e["take_correlation"]["stems/sfx.wav"] < 0.3, e
    own = run_checks(out, scene=other / "cues.json")["sync"]  # the same mix checked against its own scene passes
    assert own.passed, own.message


def test_a_late_take_is_measured_from_its_match(scene, good, tmp_path):
    """The offset comes from where this scene's clip matches: exact to the sample on the stem."""
    out = build(scene, tmp_path / "d", sfx_offsets_ms={"knock": 72.5})
    ev = {e["id"]: e for e in run_checks(out, scene=scene / "cues.json")["sync"].details["events"]}
    assert ev["knock"]["offset_ms"] == pytest.approx(72.5, abs=1.0) and not ev["knock"]["passed"]
    _, report = good
    for e in report["sync"].details["events"]:
        assert abs(e["offset_ms"]) < 1.0 and e["take_correlation"]["stems/sfx.wav"] > 0.95, e


def _treble_cut(y):
    """A mild EQ: -6 dB above 4 kHz (a 2nd-order shelf). A steep low-pass of these white-noise hits would take 5/6 of
    their energy and fail, as any waveform match would; the kit's real effects keep 0.87-0.94 under a 4 kHz low-pass."""
    from scipy.signal import butter, sosfilt

    return y - 0.5 * sosfilt(butter(2, 4000, "highpass", fs=SR, output="sos"), y, axis=0)


def _presence(y):
    from scipy.signal import butter, sosfilt

    return y + (10 ** (4 / 20) - 1) * sosfilt(butter(2, 2000, "highpass", fs=SR, output="sos"), y, axis=0)


@pytest.mark.parametrize("choice", [dict(sfx_gain_db=0.0), dict(sfx_gain_db=-12.0),  # +-6 dB from the usual -6
                                    dict(sfx_fn=_treble_cut), dict(sfx_fn=_presence),
                                    dict(ambience_gain_db=4.0)],  # ambience 10 dB louder, over every effect
                         ids=["plus6db", "minus6db", "treble_cut", "presence4db", "loud_ambience"])
def test_honest_creative_sfx_choices_still_pass_sync(scene, tmp_path, choice):
    out = build(scene, tmp_path / "d", **choice)
    r = run_checks(out, scene=scene / "cues.json")["sync"]
    assert r.passed, r.message
    for e in r.details["events"]:
        assert abs(e["offset_ms"]) < 1.0 and e["take_correlation"]["stems/sfx.wav"] >= 0.6, e


def test_an_extra_sound_layered_on_an_effect_still_passes_sync(scene, tmp_path):
    """A learner sweetens the cup with a second hit of their own on the SFX stem, 10 ms after it, 3 dB under it."""
    cup = dict((e, t) for e, t, _ in EVENTS)["cup"]
    out = build(scene, tmp_path / "d", extra_sfx=[(hit(0.3, 4242, tau_s=0.04, amp=0.5), cup + 0.01, -9.0)])
    r = run_checks(out, scene=scene / "cues.json")["sync"]
    assert r.passed, r.message
    ev = {e["id"]: e for e in r.details["events"]}
    assert abs(ev["cup"]["offset_ms"]) < 1.0 and 0.6 <= ev["cup"]["take_correlation"]["stems/sfx.wav"] < 0.99, ev["cup"]


# ----------------------------------------------------------------------------- figures: a fixed layout that fits


FIGURE_SIZES_IN = {"loudness": (9, 3.2), "true_peak": (9, 3.0), "sync": (9, 3.0), "dialogue_sync": (9, 3.0),
                   "masking": (6, 2.6), "band_audibility": (9, 3.6), "ducking": (9, 3.0)}


def _text_outside_canvas(fig, dpi):
    """Every drawn text of ``fig`` (tick labels, axis labels, titles, annotations, legends) that leaves the canvas."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.text import Text

    FigureCanvasAgg(fig)
    fig.set_dpi(dpi)
    renderer = fig.canvas.get_renderer()
    fig.draw(renderer)
    canvas = fig.bbox
    out = []
    for ax in fig.axes:  # tick labels: only those drawn (inside the view limits), via the axes' tight bbox
        bb = ax.get_tightbbox(renderer)
        if bb.x0 < canvas.x0 - 0.5 or bb.y0 < canvas.y0 - 0.5 or bb.x1 > canvas.x1 + 0.5 or bb.y1 > canvas.y1 + 0.5:
            out.append(("axes", ax.get_title(), tuple(round(v) for v in bb.extents)))
    texts = [t for ax in fig.axes for t in (ax.title, ax.xaxis.label, ax.yaxis.label, *ax.texts)]
    texts += [t for leg in (ax.get_legend() for ax in fig.axes) if leg is not None for t in leg.get_texts()]
    for t in texts:
        assert isinstance(t, Text)
        if not t.get_visible() or not t.get_text().strip():
            continue
        bb = t.get_window_extent(renderer)
        if bb.x0 < canvas.x0 - 0.5 or bb.y0 < canvas.y0 - 0.5 or bb.x1 > canvas.x1 + 0.5 or bb.y1 > canvas.y1 + 0.5:
            out.append((t.get_text(), tuple(round(v) for v in bb.extents)))
    return out


def _edge_cases():
    """Figures at their extremes: failing marks at the very start and end, long labels, negative and infinite LU."""
    from layerlab.checks import plots
    from layerlab.measure.sync import EventOffset, SyncResult, get_sync_window

    w = get_sync_window("ebu_r37")
    events = [EventOffset("a", "door", "sfx", 0.05, 0.2, 150.0, True, False, 1.0, "late"),
              EventOffset("b", "cup", "sfx", 6.0, None, None, False, False, 0.0, "missing"),
              EventOffset("c", "drop", "sfx", 11.95, 11.8, -150.0, True, False, 1.0, "early")]
    lines = [EventOffset("l1", "line one", "dialogue", 0.0, 0.125, 125.0, True, False, 1.0, "late"),
             EventOffset("l2", "line two", "dialogue", 11.9, 11.9, 0.0, True, True, 1.0, "ok")]
    t = np.arange(0.0, 12.0, 0.05)
    peaks = {"times_s": t, "peak_dbfs": np.where(t > 11.5, 0.5, -12.0), "true_peak_dbtp": 1.4, "true_peak_time_s": 11.98}
    return {
        "sync": plots.plot_sync_timeline(sfx=SyncResult(events, w), duration_s=12.0),
        "dialogue_sync": plots.plot_sync_timeline(dialogue=SyncResult(lines, w), duration_s=12.0),
        "both": plots.plot_sync_timeline(sfx=SyncResult(events, w), dialogue=SyncResult(lines, w)),
        "true_peak": plots.plot_true_peak(peaks, ceiling_dbtp=-1.0),
        "true_peak_start": plots.plot_true_peak({**peaks, "true_peak_time_s": 0.0}, ceiling_dbtp=-1.0),
        "masking": plots.plot_masking_levels({"music": (-12.5, 10.0), "ambience": (float("inf"), 15.0)}),
        "masking_high": plots.plot_masking_levels({"music": (47.0, 10.0), "ambience": (39.9, 15.0)}),
    }


@pytest.mark.parametrize("dpi", [80, 110])
def test_figures_keep_all_text_inside_the_canvas(good, loud_unducked, dpi):
    """The figures are laid out with fixed margins sized from the font (no layout engine, so a PNG is drawn once):
    at the grader's 80 dpi and the CLI's 110 dpi, no tick label, axis label, title, annotation or legend text
    leaves the canvas, on a passing mix, a failing one and at the plots' extremes; the sizes are as before."""
    for report in (good[1], loud_unducked[1]):
        figs = report.figures()
        assert set(figs) == set(FIGURE_SIZES_IN)
        for name, fig in figs.items():
            assert tuple(fig.get_size_inches()) == FIGURE_SIZES_IN[name]
            assert fig.get_layout_engine() is None
            assert _text_outside_canvas(fig, dpi) == [], name
    for name, fig in _edge_cases().items():
        assert _text_outside_canvas(fig, dpi) == [], name
        texts = [t.get_text() for t in fig.axes[0].texts]
        if name in ("sync", "dialogue_sync", "true_peak", "masking"):
            assert any("FAIL" in s for s in texts), (name, texts)  # the failure is written, not only coloured


@pytest.mark.parametrize("lu", [60.0, 200.0, 1e4])
def test_a_level_past_the_masking_axis_keeps_the_axes_wide_and_its_verdict_written(lu):
    from layerlab.checks import plots

    # an ambience stem at dither level reads a huge but finite LU over the dialogue: its bar runs past the axis end
    # (48 LU); the verdict is written at the edge, and the plot keeps its width instead of giving it to the margin
    fig = plots.plot_masking_levels({"music": (14.0, 10.0), "ambience": (lu, 15.0)})
    ax = fig.axes[0]
    assert ax.get_position().width >= 0.5
    assert _text_outside_canvas(fig, 80) == []
    fig.canvas.draw()
    drawn = [t.get_text() for t in ax.texts if t.get_visible() and t.get_window_extent().width > 0 and t._check_xy(None)]
    assert any(f"{lu:.1f} LU  PASS" in s for s in drawn), drawn


def test_the_audibility_colorbar_sits_right_of_the_map_with_the_index_scale(good):
    _, report = good
    fig = report.figures()["band_audibility"]
    ax, cax = fig.axes
    assert ax.images[0].get_cmap().name == "cividis" and ax.images[0].get_clim() == (0, 1)
    a, c = ax.get_position(), cax.get_position()
    assert c.x0 > a.x1 and c.y0 == pytest.approx(a.y0) and c.height == pytest.approx(a.height)
    assert cax.get_ylabel().startswith("audibility")


def _as_compared(report):
    return [(c.name, c.value, c.unit, c.target, c.passed, c.message, repr(c.details)) for c in report.checks]


def test_every_check_result_is_byte_identical_without_the_shared_measurements(scene, good, loud_unducked, monkeypatch):
    """What one run of the checks shares (each signal K-weighted once, ``checks.context.k_blocks``) changes no
    verdict, figure or message: a run that K-weights every signal afresh for every comparison gives the same
    CheckResults, to the last bit, on a passing mix and on a failing one."""
    import layerlab.checks.masking as masking_checks
    from layerlab.measure.masking import k_weighted_block_power

    calls = []

    def afresh(ctx, key, audio):
        calls.append(key)
        return k_weighted_block_power(audio, sample_rate=SR)

    monkeypatch.setattr(masking_checks, "k_blocks", afresh)
    for out, report in (good, loud_unducked):
        again = run_checks(out, scene=scene / "cues.json")
        assert _as_compared(again) == _as_compared(report)
    assert len(calls) > len(set(calls))  # the same signals were K-weighted again: the comparison is real
