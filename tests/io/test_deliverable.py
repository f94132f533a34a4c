"""Reading deliverable folders: every kind of broken file becomes a clear problem, the rest still reads."""

import numpy as np
import pytest
import soundfile as sf

from layerlab.io.deliverable import (
    STEM_NAMES,
    estimate_stems,
    find_clipping,
    read_deliverable,
)
from layerlab.errors import SessionError
from signals import noise

SR = 48_000


def write_good(folder, seconds=2.0):
    (folder / "stems").mkdir(parents=True, exist_ok=True)
    stems = {s: noise(seconds, i, 0.05) for i, s in enumerate(STEM_NAMES)}
    mix = sum(stems.values())
    sf.write(folder / "mix.wav", mix, SR, subtype="PCM_24")
    for s, a in stems.items():
        sf.write(folder / "stems" / f"{s}.wav", a, SR, subtype="FLOAT")
    return mix, stems


def codes(dl, file=None):
    return {p.code for p in dl.problems if file is None or p.file == file}


def test_good_deliverable_has_no_problems(tmp_path):
    mix, stems = write_good(tmp_path)
    (tmp_path / "session.json").write_text("{}")
    dl = read_deliverable(tmp_path, duration_s=2.0, fps=24)
    assert dl.problems == []
    assert dl.n_samples == 2 * SR
    assert np.allclose(dl.audio("mix"), mix, atol=1e-6)
    assert np.array_equal(dl.audio("music"), stems["music"])
    assert all(dl.files[s].usable for s in STEM_NAMES)


def test_missing_folder_and_missing_stem(tmp_path):
    with pytest.raises(SessionError, match="not found"):
        read_deliverable(tmp_path / "nope")
    write_good(tmp_path)
    (tmp_path / "stems" / "music.wav").unlink()
    dl = read_deliverable(tmp_path, duration_s=2.0)
    assert not dl.files["music"].usable
    assert codes(dl, "stems/music.wav") == {"missing"}
    assert "stems/music.wav" in dl.files["music"].why_unusable()
    assert dl.files["dialogue"].usable and dl.files["mix"].usable


def test_empty_non_audio_and_truncated_files(tmp_path):
    write_good(tmp_path)
    (tmp_path / "stems" / "sfx.wav").write_bytes(b"")
    (tmp_path / "stems" / "ambience.wav").write_bytes(b"<html>not a wav</html>" * 10)
    raw = (tmp_path / "stems" / "music.wav").read_bytes()
    (tmp_path / "stems" / "music.wav").write_bytes(raw[:30])  # header cut short
    raw = (tmp_path / "stems" / "dialogue.wav").read_bytes()
    (tmp_path / "stems" / "dialogue.wav").write_bytes(raw[: len(raw) // 2])  # data cut short
    dl = read_deliverable(tmp_path, duration_s=2.0)
    assert codes(dl, "stems/sfx.wav") == {"empty"}
    assert codes(dl, "stems/ambience.wav") == {"not_audio"}
    assert "truncated" in codes(dl, "stems/music.wav")
    assert "truncated" in codes(dl, "stems/dialogue.wav")
    # a file whose data was cut short is still analysed (padded), the others are not
    assert dl.files["dialogue"].usable
    assert not dl.files["sfx"].usable and not dl.files["ambience"].usable and not dl.files["music"].usable
    for p in dl.problems:
        assert p.file in p.message and p.severity == "error"


def test_nan_and_silent_files(tmp_path):
    write_good(tmp_path)
    bad = noise(2.0)
    bad[1000, 0] = np.nan
    sf.write(tmp_path / "stems" / "sfx.wav", bad, SR, subtype="FLOAT")
    sf.write(tmp_path / "stems" / "music.wav", np.zeros((2 * SR, 2), np.float32), SR, subtype="PCM_24")
    dl = read_deliverable(tmp_path, duration_s=2.0)
    assert codes(dl, "stems/sfx.wav") == {"nan"} and not dl.files["sfx"].usable
    silent = [p for p in dl.problems if p.code == "silent"]
    assert silent and silent[0].severity == "warning" and dl.files["music"].usable
    sf.write(tmp_path / "mix.wav", np.zeros((2 * SR, 2), np.float32), SR, subtype="PCM_24")
    dl = read_deliverable(tmp_path, duration_s=2.0)
    assert [p.severity for p in dl.problems if p.code == "silent" and p.file == "mix.wav"] == ["error"]


def test_wrong_rate_channels_and_bit_depth_are_reported_but_analysed(tmp_path):
    write_good(tmp_path)
    sf.write(tmp_path / "stems" / "dialogue.wav", noise(2.0, channels=1)[:, 0], SR, subtype="PCM_16")
    sf.write(tmp_path / "stems" / "sfx.wav", noise(2.0, channels=6), SR, subtype="PCM_24")
    sf.write(tmp_path / "stems" / "ambience.wav", noise(2.0)[: int(2.0 * 44100)], 44100, subtype="PCM_U8")
    sf.write(tmp_path / "stems" / "music.wav", noise(2.0), SR, subtype="DOUBLE")
    dl = read_deliverable(tmp_path, duration_s=2.0)
    assert codes(dl, "stems/dialogue.wav") == {"channels"}
    assert "mono" in dl.problems[0].message
    assert codes(dl, "stems/sfx.wav") == {"channels"}
    assert codes(dl, "stems/ambience.wav") >= {"sample_rate", "bit_depth"}
    assert codes(dl, "stems/music.wav") == {"bit_depth"}
    assert any("64-bit" in p.message for p in dl.problems)
    assert any("8-bit" in p.message for p in dl.problems)
    for s in STEM_NAMES:
        assert dl.audio(s).shape == (2 * SR, 2)


def test_lengths_against_scene_and_mix(tmp_path):
    write_good(tmp_path, seconds=2.0)
    sf.write(tmp_path / "stems" / "sfx.wav", noise(1.9), SR, subtype="FLOAT")
    dl = read_deliverable(tmp_path, duration_s=2.0, fps=24)
    assert codes(dl, "stems/sfx.wav") == {"length"}
    assert "100.0 ms shorter" in [p for p in dl.problems if p.code == "length"][0].message
    assert dl.audio("sfx").shape[0] == 2 * SR
    # the mix may differ from the scene by up to one frame (41.7 ms at 24 fps), not more
    assert "length" not in codes(read_deliverable(tmp_path, duration_s=2.04, fps=24), "mix.wav")
    assert "length" in codes(read_deliverable(tmp_path, duration_s=2.05, fps=24), "mix.wav")


def test_too_long_file_is_refused_from_its_header(tmp_path):
    write_good(tmp_path)
    dl = read_deliverable(tmp_path, duration_s=2.0, max_duration_s=1.0)
    assert codes(dl, "mix.wav") == {"too_long"}
    assert not dl.files["mix"].usable
    assert "refused" in dl.files["mix"].why_unusable()


def test_clipping_and_extra_files(tmp_path):
    write_good(tmp_path)
    loud = noise(2.0, amp=0.8)
    sf.write(tmp_path / "mix.wav", np.clip(loud, -1, 1), SR, subtype="PCM_24")
    (tmp_path / "notes.txt").write_text("my notes")
    (tmp_path / ".DS_Store").write_bytes(b"x")
    dl = read_deliverable(tmp_path, duration_s=2.0)
    assert "clipping" in codes(dl, "mix.wav")
    assert [p.file for p in dl.problems if p.code == "extra_file"] == ["notes.txt"]


def test_find_clipping_counts_flat_runs():
    x = np.zeros((1000, 2), np.float32)
    x[100:110, 0] = 1.0
    x[500:502, 1] = -1.0  # two samples: not a clipped run
    x[700:705, 1] = -1.0
    runs, n, first = find_clipping(x)
    assert (runs, n, first) == (2, 15, 100)
    assert find_clipping(np.sin(np.linspace(0, 100, 48000))[:, None] * 0.99) == (0, 0, None)


def test_misplaced_and_miscased_files_are_found_with_a_warning(tmp_path):
    write_good(tmp_path)
    (tmp_path / "stems" / "music.wav").rename(tmp_path / "music.wav")
    (tmp_path / "mix.wav").rename(tmp_path / "Mix.WAV")
    dl = read_deliverable(tmp_path, duration_s=2.0)
    assert dl.files["music"].usable and dl.files["mix"].usable
    assert {p.code for p in dl.problems} == {"misplaced"}
    assert all(p.severity == "warning" for p in dl.problems)


def test_a_single_file_is_a_mix_without_stems(tmp_path):
    sf.write(tmp_path / "native.wav", noise(2.0), SR, subtype="PCM_16")
    dl = read_deliverable(tmp_path / "native.wav", duration_s=2.0)
    assert dl.files["mix"].usable and dl.files["mix"].relpath == "native.wav"
    assert {p.code for p in dl.problems} == {"missing"}
    assert not any(dl.files[s].usable for s in STEM_NAMES)


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
