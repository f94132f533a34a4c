"""Clips made here with ffmpeg, with known answers: flash-and-beep at common frame rates and sample
rates, a variable-frame-rate clip, and a clip whose audio stream starts after its picture (issue #15)."""

from __future__ import annotations

import subprocess
from fractions import Fraction

import numpy as np
import pytest
import soundfile as sf

from layerlab.audit import audit_clip
from layerlab.io.audio import ffmpeg_exe
from layerlab.io.video import read_clip_audio, read_video

W, H = 64, 36


def beep(sr, seconds=0.12, hz=1000.0, amp=0.5):
    t = np.arange(int(seconds * sr)) / sr
    env = np.minimum(1.0, t / 0.001) * np.exp(-t / 0.05)
    return amp * np.sin(2 * np.pi * hz * t) * env


def make_clip(path, *, fps, sr=48_000, duration_s=4.0, flash_frames=(), sound_offsets_ms=None, audio_start_s=0.0,
              keep=None, hum=True, audio=None):
    """Write an MP4: a grey picture with a white square on ``flash_frames``, and a beep for each flash.

    ``fps`` may be a Fraction (30000/1001). Frame k is shown at k / fps; its beep starts at
    k / fps + offset. ``keep`` (an ffmpeg ``select`` expression of n) drops frames to make a variable rate,
    keeping each remaining frame's own time. ``audio_start_s`` makes the audio stream start that late.
    ``audio`` (mono, at ``sr``) replaces the hum and beeps: a clip with any sound track.
    Returns the picture times of the flashes in seconds.
    """
    fps = Fraction(fps).limit_denominator(1001)
    n = int(duration_s * fps)
    frames = np.full((n, H, W), 60, np.uint8)
    frames += np.random.default_rng(0).integers(0, 4, frames.shape, dtype=np.uint8)  # a little sensor noise
    for k in flash_frames:
        frames[k, 4:16, 4:16] = 250
    times = [float(k / fps) for k in flash_frames]
    offs = sound_offsets_ms or [0.0] * len(times)
    a = np.zeros(int(duration_s * sr) + sr)
    if hum:
        a += 0.003 * np.sin(2 * np.pi * 60 * np.arange(a.size) / sr)
    for t, o in zip(times, offs):
        i = int(round((t + o / 1000.0 - audio_start_s) * sr))
        b = beep(sr)
        a[i : i + b.size] += b
    a = a[: int((duration_s - audio_start_s) * sr)]
    if audio is not None:
        a = np.asarray(audio, np.float64)
    wav = path.with_suffix(".wav")
    sf.write(wav, np.repeat(a[:, None], 2, axis=1).astype(np.float32), sr, subtype="FLOAT")
    vf = []
    if keep is not None:
        vf = ["-vf", f"select='{keep}'", "-fps_mode", "vfr"]
    cmd = [ffmpeg_exe(), "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "gray", "-s", f"{W}x{H}",
           "-framerate", f"{fps.numerator}/{fps.denominator}", "-i", "-"]
    if audio_start_s:
        cmd += ["-itsoffset", f"{audio_start_s}"]
    cmd += ["-i", str(wav), *vf, "-c:v", "libx264", "-pix_fmt", "yuv420p", "-crf", "18", "-c:a", "aac", "-b:a", "192k",
            "-ar", str(sr), str(path)]
    done = subprocess.run(cmd, input=frames.tobytes(), capture_output=True)
    assert done.returncode == 0, done.stderr.decode()[-500:]
    return times


FLASHES = (24, 50, 77)  # frames: about 1.0, 2.1 and 3.2 s at 24 fps


@pytest.mark.parametrize("fps", [24, 25, Fraction(30000, 1001), 30, 60])
@pytest.mark.parametrize("sr", [44_100, 48_000])
def test_flash_and_beep_offsets_within_5_ms(tmp_path, fps, sr):
    flashes = tuple(int(round(f * float(fps) / 24)) for f in FLASHES)
    offsets = [0.0, 80.0, -30.0]
    times = make_clip(tmp_path / "c.mp4", fps=fps, sr=sr, flash_frames=flashes, sound_offsets_ms=offsets)
    r = audit_clip(tmp_path / "c.mp4")
    assert [round(e.time_s, 4) for e in r.visual_events] == pytest.approx(times, abs=1e-3)
    got = [o.offset_ms for o in r.offsets]
    assert got == pytest.approx(offsets, abs=5.0)
    flags = [o.in_window for o in r.offsets]
    assert flags == [True, False, True]  # +80 ms is outside EBU R37 (-40..+60 ms)
    assert "outside EBU R37" in r.to_text()


def test_variable_frame_rate_clip_uses_real_frame_times(tmp_path):
    """60 fps with two of every five frames dropped: frame index / rate would drift; pts does not."""
    keep = "eq(mod(n\\,5)\\,0)+eq(mod(n\\,5)\\,1)+eq(mod(n\\,5)\\,3)"  # frames 0, 1, 3, 5, 6, 8, ...: 16.7 and 33.3 ms apart
    times = make_clip(tmp_path / "v.mp4", fps=60, flash_frames=(70, 151, 233), keep=keep)
    v = read_video(tmp_path / "v.mp4")
    assert v.variable_rate
    assert v.times_s[-1] < 4.0  # no frame placed past the end of the clip
    r = audit_clip(tmp_path / "v.mp4")
    assert [e.time_s for e in r.visual_events] == pytest.approx(times, abs=1e-3)
    assert [o.offset_ms for o in r.offsets] == pytest.approx([0.0, 0.0, 0.0], abs=5.0)


def test_audio_stream_that_starts_late_is_aligned_by_its_start_time(tmp_path):
    """The audio stream starts 0.5 s after the picture; every beep is exactly on its flash."""
    times = make_clip(tmp_path / "late.mp4", fps=25, flash_frames=(25, 50, 80), audio_start_s=0.5)
    a = read_clip_audio(tmp_path / "late.mp4")
    assert np.max(np.abs(a[: int(0.45 * 48_000)])) == 0.0  # silence before the stream starts
    r = audit_clip(tmp_path / "late.mp4")
    assert [e.time_s for e in r.visual_events] == pytest.approx(times, abs=1e-3)
    assert [o.offset_ms for o in r.offsets] == pytest.approx([0.0, 0.0, 0.0], abs=5.0)


def test_a_steady_tone_has_no_onsets_and_a_clean_clip_a_true_snr(tmp_path):
    """10 s of a steady 440 Hz tone: no onsets. Short beeps 37 dB over a hum: signal-to-noise about 37 dB."""
    from layerlab.audit import audit_audio, noise_floor

    sr = 48_000
    t = np.arange(10 * sr) / sr
    tone = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[:, None]
    assert audit_audio(np.repeat(tone, 2, axis=1)).onsets == []
    hum = 10 ** (-57 / 20) * np.sqrt(2) * np.sin(2 * np.pi * 60 * t)  # -57 dBFS RMS
    x = hum.copy()
    for s in np.arange(0.5, 10, 1.5):  # 100 ms beeps: 7% of the time, under the 95th percentile
        i = int(s * sr)
        x[i : i + int(0.1 * sr)] += 10 ** (-20 / 20) * np.sqrt(2) * np.sin(2 * np.pi * 1000 * t[: int(0.1 * sr)])
    floor, snr = noise_floor(x.astype(np.float32)[:, None])
    assert floor == pytest.approx(-57.0, abs=1.0)
    assert snr == pytest.approx(37.0, abs=1.5)
