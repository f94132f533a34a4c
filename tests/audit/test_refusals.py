"""The audit refuses what it cannot judge (issue #13, a careless user's inputs).

Each input is made here with a known answer: white noise (no distinct sound to pair with a picture event),
0.3 s of a tone (shorter than one 400 ms block), digital silence, a cue sheet of another clip, a broken cue
sheet, and one pure tone in two containers.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from scipy import signal

from layerlab.audit import audit_audio, audit_clip
from layerlab.io.audio import ffmpeg_exe, save_audio
from test_media import make_clip

SR = 48_000


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "layerlab.cli", "audit", *map(str, args)], capture_output=True,
                          text=True, timeout=600)


def _tone(seconds, hz=440.0, amp=0.1):
    return amp * np.sin(2 * np.pi * hz * np.arange(int(seconds * SR)) / SR)


def _stereo(x):
    return np.repeat(np.asarray(x, np.float32)[:, None], 2, axis=1)


def test_white_noise_is_steady_with_no_sync_and_no_voice_band_claim(tmp_path):
    """2 s of white noise under a picture with one flash: no 20 ms frame rises over the others, so there is no
    distinct sound: no "no sound found near it" sync verdict, and with cue lines no voice band (the old audit
    read 3469-17062 Hz). Beeps over a hum (a control) are not steady."""
    noise = 0.2 * np.random.default_rng(1).standard_normal(2 * SR)
    make_clip(tmp_path / "noise.mp4", fps=25, duration_s=2.0, flash_frames=(25,), audio=noise)
    r = audit_clip(tmp_path / "noise.mp4", dialogue_lines_s=[(0.2, 0.9), (1.2, 1.8)])
    text = r.to_text()
    assert len(r.visual_events) == 1
    assert r.steady and r.offsets == [], text
    assert "no distinct sounds" in text and "no sound found near it" not in text
    assert not r.band_of_voice and "the voice" not in text and not r.band_limited
    beeps = 0.003 * np.sin(2 * np.pi * 60 * np.arange(2 * SR) / SR)
    beeps[SR : SR + 4800] += 0.5 * np.sin(2 * np.pi * 1000 * np.arange(4800) / SR)
    assert not audit_audio(_stereo(beeps)).steady
    # a held chord with soft hi-hats: no 20 ms frame rises 6 dB, but each hat rises over 1 kHz: six onsets, not steady
    rng = np.random.default_rng(3)
    t = np.arange(3 * SR) / SR
    hats = signal.sosfilt(signal.butter(4, 3000.0, btype="highpass", fs=SR, output="sos"), rng.standard_normal(t.size))
    decay = np.zeros(t.size)
    for s in np.arange(0.25, 3.0, 0.5):
        i = int(s * SR)
        decay[i : i + 1440] = np.exp(-np.arange(1440) / (0.008 * SR))
    chord = _stereo(0.3 * np.sin(2 * np.pi * 110 * t) + 0.2 * np.sin(2 * np.pi * 220 * t) + 0.05 * hats * decay)
    from layerlab.audit import has_distinct_sounds

    r = audit_audio(chord)
    assert not has_distinct_sounds(chord) and len(r.onsets) == 6 and not r.steady


def test_a_clip_shorter_than_one_block_says_so_and_makes_no_band_or_onset_claim(tmp_path):
    """0.3 s of a 440 Hz tone in an MP4: measured as one block (the wording of ``layerlab measure``), no band-limit
    verdict on a spectrum too coarse to read, and no onset where the tone is cut off at the clip's end."""
    from layerlab.measure.loudness import WHOLE_CLIP_NOTE

    make_clip(tmp_path / "short.mp4", fps=25, duration_s=0.3, audio=_tone(0.3))
    r = audit_clip(tmp_path / "short.mp4")
    text = r.to_text()
    assert r.whole_clip and WHOLE_CLIP_NOTE in text.splitlines()[1], text
    assert not r.band_limited and "band-limited" not in text
    assert "too short" in text.splitlines()[3], text
    assert r.onsets == []
    cp = subprocess.run([sys.executable, "-m", "layerlab.cli", "measure", str(tmp_path / "short.mp4")],
                        capture_output=True, text=True, timeout=300)
    assert WHOLE_CLIP_NOTE in cp.stdout  # the same flag, in the same words, as layerlab measure


def test_a_silent_clip_has_no_sync_verdict(tmp_path):
    """Digital silence under a picture with one flash: no sound to pair with it, so no sync verdict (the old audit
    reported the flash as a sync flaw); exit 0, as for any report."""
    make_clip(tmp_path / "silent.mp4", fps=25, duration_s=2.0, flash_frames=(25,), audio=np.zeros(2 * SR))
    r = audit_clip(tmp_path / "silent.mp4")
    assert len(r.visual_events) == 1 and r.offsets == []
    cp = _cli(tmp_path / "silent.mp4")
    assert cp.returncode == 0 and cp.stderr == ""
    assert "no sound to pair with the 1 picture events" in cp.stdout and "no sound found near it" not in cp.stdout


def _beeps_wav(tmp_path, seconds=2.0):
    x = 0.003 * np.sin(2 * np.pi * 60 * np.arange(int(seconds * SR)) / SR)
    x[SR // 2 : SR // 2 + 4800] += 0.5 * np.sin(2 * np.pi * 1000 * np.arange(4800) / SR)
    return save_audio(tmp_path / "clip.wav", _stereo(x))


def test_a_cue_sheet_with_lines_past_the_clips_end_is_refused(tmp_path):
    """Line "b" ends at 3.5 s in a 2.0 s clip: refused in one line naming the file, the line and the clip's length
    (the old audit dropped it without a word)."""
    clip = _beeps_wav(tmp_path)
    cues = tmp_path / "mine.json"
    cues.write_text(json.dumps({"dialogue": [{"id": "a", "start_s": 0.2, "end_s": 0.9},
                                             {"id": "b", "start_s": 1.2, "end_s": 3.5}]}))
    cp = _cli(clip, "--cues", cues)
    assert cp.returncode == 2 and cp.stdout == ""
    (line,) = cp.stderr.strip().splitlines()
    assert str(cues) in line and "'b'" in line and "3.5" in line and "2.0 s" in line and "--cues" in line
    cues.write_text(json.dumps({"dialogue": [{"id": "a", "start_s": 0.2, "end_s": 1.95}]}))  # inside: used
    assert _cli(clip, "--cues", cues).returncode == 0


def test_the_cue_sheet_of_another_scene_beside_the_clip_is_refused(tmp_path):
    """A 20 s scene's cue sheet beside a 2 s clip: refused in one line naming the scene, both lengths and the fix
    (the old audit used it silently)."""
    clip = _beeps_wav(tmp_path)
    (tmp_path / "cues.json").write_text(json.dumps({"scene": "cafe_dialogue", "duration_s": 20.0,
                                                    "dialogue": [{"id": "A1", "start_s": 0.5, "end_s": 1.5}]}))
    cp = _cli(clip)
    assert cp.returncode == 2 and cp.stdout == ""
    (line,) = cp.stderr.strip().splitlines()
    assert str(tmp_path / "cues.json") in line and "cafe_dialogue" in line and "20.0 s" in line and "2.0 s" in line
    assert "--cues" in line and "--no-cues" in line
    cp = _cli(clip, "--no-cues")
    assert cp.returncode == 0 and "Audit of clip.wav" in cp.stdout


def test_a_broken_cue_sheet_is_named_as_not_valid_json(tmp_path):
    """Invalid JSON beside the clip: one line on stderr says it was not used and where the JSON breaks; the audit
    goes on. With --cues: exit 2, "not valid JSON" with line and column (not "needs a 'dialogue' list")."""
    clip = _beeps_wav(tmp_path)
    bad = tmp_path / "cues.json"
    bad.write_text('{"dialogue": [ oops\n')
    cp = _cli(clip)
    assert cp.returncode == 0 and "Audit of clip.wav" in cp.stdout
    (line,) = cp.stderr.strip().splitlines()
    assert str(bad) in line and "not valid JSON" in line and "line 1 column 16" in line and "not used" in line
    cp = _cli(clip, "--cues", bad)
    assert cp.returncode == 2 and cp.stdout == ""
    (line,) = cp.stderr.strip().splitlines()
    assert str(bad) in line and "not valid JSON" in line and "line 1 column 16" in line and "dialogue" not in line


def _m4a(tmp_path, name, x):
    wav = save_audio(tmp_path / f"{name}.wav", _stereo(x))
    out = tmp_path / f"{name}.m4a"
    done = subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-i", str(wav), "-c:a", "aac", "-b:a", "128k", str(out)],
                          capture_output=True)
    assert done.returncode == 0, done.stderr.decode()[-300:]
    return wav, out


def test_one_tone_has_no_band_limit_in_either_container_but_a_telephone_voice_has_one_in_both(tmp_path):
    """A 440 Hz tone: no band to judge, so no band-limit claim as WAV or as AAC (.m4a flipped it before). Speech-like
    noise band-passed to 300-3400 Hz is band-limited in both; full-band speech-like noise is not, in either: AAC's
    own low-pass (15-20 kHz) lies above the 6 kHz the high-edge search stops at."""
    for wav_or_m4a in reversed(_m4a(tmp_path, "tone", _tone(2.0))):  # the .m4a first: it read band-limited
        r = audit_clip(wav_or_m4a)
        assert not r.band_limited and "spectral spread" in r.to_text().splitlines()[3], (wav_or_m4a, r.to_text())
    triad = _stereo(_tone(2.0, 440.0) + _tone(2.0, 554.37) + _tone(2.0, 659.26))  # a few pure tones: no band either
    r = audit_audio(triad)
    assert not r.band_limited and "spectral spread" in r.to_text().splitlines()[3], r.to_text()
    rng = np.random.default_rng(5)
    voice = signal.lfilter([1.0], [1.0, -np.exp(-2 * np.pi * 500 / SR)], rng.standard_normal(3 * SR))
    voice *= (0.6 + 0.4 * np.sin(2 * np.pi * 4 * np.arange(voice.size) / SR)) * 0.05 / voice.std()
    tel = signal.sosfiltfilt(signal.butter(4, [300.0, 3400.0], btype="bandpass", fs=SR, output="sos"), voice)
    for wav_or_m4a in _m4a(tmp_path, "tel", tel):
        r = audit_clip(wav_or_m4a)
        assert r.band_limited and r.band_high_cliff_hz == pytest.approx(3400.0, rel=0.1), (wav_or_m4a, r.to_text())
    white = 0.1 * rng.standard_normal(2 * SR)
    for wav_or_m4a in _m4a(tmp_path, "full", voice) + _m4a(tmp_path, "white", white):
        r = audit_clip(wav_or_m4a)
        assert not r.band_limited and "spectral spread" not in r.to_text(), (wav_or_m4a, r.to_text())
