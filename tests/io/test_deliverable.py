"""Reading deliverable folders: every kind of broken file becomes a clear problem, the rest still reads."""

import numpy as np
import pytest
import soundfile as sf

from layerlab.io.deliverable import (
    STEM_NAMES,
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


def test_a_flac_named_mix_wav_is_refused_before_it_is_decoded(tmp_path):
    write_good(tmp_path, seconds=2.0)
    (tmp_path / "mix.wav").unlink()
    # ten minutes of silence: about 110 KB as FLAC, 230 MB once decoded as 64-bit floats
    sf.write(tmp_path / "mix.wav", np.zeros((600 * SR, 2), np.float32), SR, format="FLAC", subtype="PCM_16")
    assert (tmp_path / "mix.wav").stat().st_size < 1_000_000
    dl = read_deliverable(tmp_path, duration_s=2.0, fps=24)
    mix = [p for p in dl.problems if p.file == "mix.wav"]
    # refused from its header: nothing found by decoding (silent), only the length the header declares
    assert [(p.code, p.severity) for p in mix] == [("not_wav", "error"), ("length", "error")]
    assert "\n" not in mix[0].message and "mix.wav" in mix[0].message and "FLAC" in mix[0].message
    assert "export it again as a WAV" in mix[0].message
    assert not dl.files["mix"].usable and dl.audio("mix") is None
    assert all(dl.files[s].usable for s in STEM_NAMES)  # the stems are still read and measured


def test_a_file_far_longer_than_the_scene_is_refused_from_its_header(tmp_path):
    write_good(tmp_path, seconds=2.0)
    sf.write(tmp_path / "stems" / "music.wav", np.zeros((120 * SR, 2), np.float32), SR, subtype="PCM_16")
    # 10 s, within the scene's cap in time, but 8 channels at 192 kHz: more samples than 32 s of 48 kHz in 8 channels
    sf.write(tmp_path / "stems" / "sfx.wav", np.zeros((10 * 192_000, 8), np.int16), 192_000, subtype="PCM_16")
    dl = read_deliverable(tmp_path, duration_s=2.0, fps=24)
    for rel, what in (("stems/music.wav", "5760000 frames x 2 channels"), ("stems/sfx.wav", "1920000 frames x 8 channels")):
        found = [p for p in dl.problems if p.file == rel]
        assert [(p.code, p.severity) for p in found] == [("too_long", "error")], rel
        assert what in found[0].message and "\n" not in found[0].message and "export it again" in found[0].message
    assert dl.audio("music") is None and dl.audio("sfx") is None
    # a little longer than the scene, or a 5.1 stem of its length, is still read and measured (the length and
    # channels checks then say what is off)
    sf.write(tmp_path / "stems" / "music.wav", np.zeros((3 * SR, 2), np.float32), SR, subtype="PCM_16")
    sf.write(tmp_path / "stems" / "sfx.wav", np.zeros((2 * SR, 6), np.float32), SR, subtype="PCM_16")
    dl = read_deliverable(tmp_path, duration_s=2.0, fps=24)
    assert dl.files["music"].usable and dl.files["sfx"].usable


def test_a_stem_with_more_channels_than_can_be_down_mixed_is_a_problem_not_a_crash(tmp_path):
    write_good(tmp_path, seconds=2.0)
    sf.write(tmp_path / "stems" / "sfx.wav", np.zeros((SR // 10, 16), np.float32), SR, subtype="PCM_16")
    dl = read_deliverable(tmp_path, duration_s=2.0, fps=24)
    found = [p for p in dl.problems if p.file == "stems/sfx.wav"]
    assert [(p.code, p.severity) for p in found] == [("channels", "error")]
    assert "16 channels" in found[0].message and "stereo WAV" in found[0].message
    assert dl.audio("sfx") is None and dl.files["mix"].usable


def test_a_lone_mix_in_another_format_is_named_for_what_it_is(tmp_path):
    # a mix given on its own by a name of its own (mix.flac) is read, with a warning that says what it is; it used to
    # claim the file had a .wav name
    f = tmp_path / "mix.flac"
    sf.write(f, np.zeros((48000, 2), np.float32), 48000, format="FLAC")
    d = read_deliverable(f)
    warnings = [p.message for st in d.files.values() for p in st.problems if p.code == "format"]
    assert warnings == ["mix.flac: is a FLAC file, not a WAV; export a real WAV."]
