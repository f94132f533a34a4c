"""Playback in notebooks is level-true, never autoplays, and serves long clips from files."""

import base64
import io
import re

import numpy as np
import pytest
import soundfile as sf

from layerlab.course.playback import ab, play
from signals import tone

SR = 48_000


def decode(player, folder):
    if player.src.startswith("data:"):
        data = base64.b64decode(player.src.split(",", 1)[1])
    else:
        data = (folder / player.src).read_bytes()
    return sf.read(io.BytesIO(data), dtype="float32")[0]


def test_short_clip_is_embedded_at_its_true_level(tmp_path):
    p = play(tone(1.0, amp=0.1, freq_hz=440.0, channels=1), audio_dir=tmp_path / "a")
    html = p._repr_html_()
    assert p.src.startswith("data:audio/wav;base64,")
    assert "autoplay" not in html and "<audio controls" in html
    y = decode(p, tmp_path)
    assert np.max(np.abs(y)) == pytest.approx(0.1, abs=1e-3)  # not normalised to full scale
    assert "-20.0 dBFS" in html


def test_long_clip_is_served_from_a_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    p = play(tone(8.0, amp=0.05, freq_hz=440.0, channels=1))
    assert not p.src.startswith("data:") and p.src.startswith("_layerlab_audio/")
    assert (tmp_path / p.src).exists()
    assert np.max(np.abs(decode(p, tmp_path))) == pytest.approx(0.05, abs=1e-3)
    again = play(tone(8.0, amp=0.05, freq_hz=440.0, channels=1))
    assert again.src == p.src and len(list((tmp_path / "_layerlab_audio").iterdir())) == 1
    assert len(p._repr_html_()) < 1000  # nothing embedded


def test_overs_are_clipped_and_reported(tmp_path):
    p = play(tone(0.5, amp=1.5, freq_hz=440.0, channels=1), audio_dir=tmp_path)
    assert p.clipped_samples > 0 and "samples clipped" in p._repr_html_()


def test_ab_shows_both_versions_with_their_loudness(tmp_path):
    player = ab(tone(1.0, amp=0.1, freq_hz=440.0, channels=1), tone(1.0, amp=0.2, freq_hz=440.0, channels=1), labels=("native", "hybrid"), audio_dir=tmp_path)
    html = player._repr_html_()
    assert "native" in html and "hybrid" in html and html.count("<audio") == 2
    levels = [float(v) for v in re.findall(r"integrated (-?\d+\.\d) LUFS", html)]
    assert len(levels) == 2 and levels[1] - levels[0] == pytest.approx(6.02, abs=0.1)


def test_a_refreshing_player_keeps_one_file(tmp_path, monkeypatch):
    """60 fader moves used to leave 60 preview WAVs (119 MB) in the assignment folder."""
    monkeypatch.chdir(tmp_path)
    srcs = set()
    for i in range(60):
        p = play(tone(6.0, amp=0.01 + 0.001 * i, freq_hz=440.0, channels=1), slot="mixer preview")
        srcs.add(p.src)
    files = list((tmp_path / "_layerlab_audio").iterdir())
    assert [f.name for f in files] == ["slot-mixer_preview.wav"]
    assert len(srcs) == 60  # each version has its own URL, so the browser never plays a stale one
    assert p.src.startswith("_layerlab_audio/slot-mixer_preview.wav?v=")
    # the file holds the last version, at its true level
    y = sf.read(p.path, dtype="float32")[0]
    assert np.max(np.abs(y)) == pytest.approx(0.069, abs=1e-3)


def test_served_clips_are_bounded_least_recently_used_first(tmp_path):
    from layerlab.course import playback

    folder = tmp_path / "served"
    folder.mkdir()
    (folder / "cd_rate.wav").write_bytes(b"a lesson's own file")  # not a served clip: never pruned
    first = play(tone(6.0, amp=0.5, freq_hz=440.0, channels=1), audio_dir=folder)
    players = [play(tone(6.0, amp=0.01 * (i + 1), freq_hz=440.0, channels=1), audio_dir=folder) for i in range(playback.AUDIO_DIR_MAX_FILES + 5)]
    files = [f for f in folder.iterdir() if f.name != "cd_rate.wav"]
    assert (folder / "cd_rate.wav").exists()
    total = sum(f.stat().st_size for f in files)
    assert len(files) <= playback.AUDIO_DIR_MAX_FILES and total <= playback.AUDIO_DIR_MAX_BYTES
    assert players[-1].path.exists() and not first.path.exists()  # the oldest went first
    # a byte budget too: 6 s of 16-bit mono is 576 kB, so a 1.2 MB budget keeps two
    removed = playback.prune_audio_dir(folder, max_bytes=1_200_000, keep=players[-3].path)
    left = sorted(f for f in folder.iterdir() if f.name != "cd_rate.wav")
    assert len(left) == 2 and players[-3].path in left and players[-1].path in left
    assert len(removed) == len(files) - 2
