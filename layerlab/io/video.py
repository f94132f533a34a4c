"""Decode a clip's picture with the real time of every frame, and its audio on the same clock.

Video models write MP4s with variable frame rates, audio streams that start
later than the picture (a non-zero start time or an edit list), and 29.97 fps.
Placing events by ``frame_index / nominal_fps`` drifts on all of these; this
module gives each decoded frame its presentation time (pts) and returns the
audio padded or trimmed so that sample 0 is time 0 of the picture's clock.

Both go through the ``ffmpeg`` binary shipped by ``imageio-ffmpeg`` (no
system ffmpeg needed). Frames come from one ``rawvideo`` pass with
``-fps_mode passthrough`` (no frame is duplicated or dropped to force a
constant rate) and the ``showinfo`` filter, which prints each frame's
``pts_time``; the audio from one pass with ``aresample=async=1:first_pts=0``,
which pads the gap before a late audio stream with silence.

Taught in ``labs/lab1_audit/lab1_audit.ipynb`` (audit your own clip).
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from layerlab.errors import AudioError
from layerlab.io.audio import SAMPLE_RATE, ffmpeg_exe

__all__ = ["VideoFrames", "read_video", "read_clip_audio", "audio_start_s", "VIDEO_SUFFIXES"]

VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv", ".webm", ".m4v", ".avi")
"""File endings treated as video clips."""

_PTS = re.compile(r"\bn:\s*(\d+).*?\bpts_time:\s*(-?[0-9.]+(?:e[-+]?\d+)?)")


@dataclass
class VideoFrames:
    """Decoded grey frames and when each one is shown.

    Attributes
    ----------
    frames : np.ndarray, shape (n_frames, height, width), float32
        Grey levels 0..255, scaled down to ``width`` x ``height``.
    times_s : np.ndarray, shape (n_frames,), float64
        Presentation time of each frame in seconds, on the clip's clock (the
        earliest stream starts at 0). Not necessarily evenly spaced.
    nominal_fps : float
        The rate the container announces (for messages; use ``times_s`` for timing).
    source_size : tuple of int
        ``(width, height)`` of the source picture.
    """

    frames: np.ndarray
    times_s: np.ndarray
    nominal_fps: float
    source_size: tuple

    @property
    def variable_rate(self) -> bool:
        """True when frame intervals differ by more than 1 ms."""
        if self.times_s.size < 3:
            return False
        d = np.diff(self.times_s)
        return bool(d.max() - d.min() > 1e-3)


def _probe(path: Path) -> tuple[float, tuple[int, int], bool]:
    """(nominal fps, source size, has audio) from ``ffmpeg -i``'s stream listing."""
    text = subprocess.run([ffmpeg_exe(), "-hide_banner", "-i", str(path)], capture_output=True, text=True).stderr
    fps, size, video, audio = 0.0, (0, 0), False, False
    for line in text.splitlines():
        if "Stream #" in line and "Video:" in line and not video:
            video = True
            m = re.search(r"(\d+(?:\.\d+)?) fps", line) or re.search(r"(\d+(?:\.\d+)?)k? tbr", line)
            s = re.search(r"\b(\d{2,5})x(\d{2,5})\b", line)
            fps = float(m.group(1)) if m else 0.0
            size = (int(s.group(1)), int(s.group(2))) if s else (0, 0)
        elif "Stream #" in line and "Audio:" in line:
            audio = True
    if not video:
        if "Invalid data" in text or "could not find codec" in text.lower():
            raise AudioError(f"{path}: not a video ffmpeg can read; export it again as an MP4 (H.264 + AAC).")
        raise AudioError(f"{path}: no video stream found; audit needs an MP4/MOV with picture (or pass an audio file).")
    return fps, size, audio


def read_video(path, *, width: int = 160, height: int = 90) -> VideoFrames:
    """Decode a video's frames to small grey images, each with its real presentation time.

    Parameters
    ----------
    path : str or Path
        An MP4/MOV/MKV/WebM file.
    width, height : int
        Size the frames are scaled to (the audit's frame differencing needs little).

    Returns
    -------
    VideoFrames

    Raises
    ------
    AudioError
        The file is missing, has no video stream or cannot be decoded.

    Notes
    -----
    Frame times are the ``pts_time`` that ffmpeg's ``showinfo`` filter prints
    for each frame, decoded with ``-fps_mode passthrough``, so a
    variable-frame-rate clip keeps its real timing and a clip whose picture
    starts late keeps its offset.
    """
    path = Path(path)
    if not path.is_file():
        raise AudioError(f"{path}: no such video file.")
    fps, size, _ = _probe(path)
    cmd = [ffmpeg_exe(), "-hide_banner", "-nostats", "-i", str(path), "-map", "0:v:0", "-an", "-fps_mode", "passthrough",
           "-vf", f"scale={int(width)}:{int(height)},format=gray,showinfo", "-f", "rawvideo", "-pix_fmt", "gray", "-"]
    out = subprocess.run(cmd, capture_output=True)
    err = out.stderr.decode(errors="replace")
    raw = out.stdout
    if out.returncode != 0 or not raw:
        raise AudioError(f"{path}: ffmpeg could not decode its video ({err.strip()[-200:]}).")
    frame_bytes = int(width) * int(height)
    n = len(raw) // frame_bytes
    frames = np.frombuffer(raw[: n * frame_bytes], np.uint8).reshape(n, int(height), int(width)).astype(np.float32)
    pts = {}
    for line in err.splitlines():
        if "showinfo" in line:
            m = _PTS.search(line)
            if m:
                pts[int(m.group(1))] = float(m.group(2))
    if len(pts) >= n and all(k in pts for k in range(n)):
        times = np.array([pts[k] for k in range(n)], dtype=np.float64)
    else:  # showinfo missing (should not happen): fall back to the nominal rate, and say so in the rate
        times = np.arange(n, dtype=np.float64) / (fps or 25.0)
    return VideoFrames(frames=frames, times_s=times, nominal_fps=float(fps), source_size=size)


def read_clip_audio(path, *, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Decode a clip's first audio stream on the picture's clock.

    Parameters
    ----------
    path : str or Path
        A video file with an audio stream.
    sample_rate : int
        Output rate in Hz (48 kHz, the engine's convention).

    Returns
    -------
    np.ndarray, shape (n_samples, 2), float32
        Sample 0 is time 0 of the clip's clock: an audio stream that starts
        after the picture (a start time or an edit list) is preceded by silence.

    Raises
    ------
    AudioError
        The file is missing, has no audio stream or cannot be decoded.

    Notes
    -----
    Uses ``aresample=async=1:first_pts=0``: ffmpeg pads silence up to the
    audio's first timestamp, and fills gaps, so timing stays on the clock.
    """
    path = Path(path)
    if not path.is_file():
        raise AudioError(f"{path}: no such file.")
    _, _, has_audio = _probe(path)
    if not has_audio:
        raise AudioError(f"{path}: has no audio track; export the clip with its sound (MP4 with AAC audio).")
    cmd = [ffmpeg_exe(), "-hide_banner", "-nostats", "-v", "error", "-i", str(path), "-map", "0:a:0", "-vn",
           "-af", f"aresample={int(sample_rate)}:async=1:first_pts=0", "-ac", "2", "-f", "f32le", "-"]
    out = subprocess.run(cmd, capture_output=True)
    if out.returncode != 0 or not out.stdout:
        raise AudioError(f"{path}: ffmpeg could not decode its audio ({out.stderr.decode(errors='replace').strip()[-200:]}).")
    x = np.frombuffer(out.stdout, np.float32)
    return np.ascontiguousarray(x[: (x.size // 2) * 2].reshape(-1, 2))


def audio_start_s(path) -> float:
    """Where a clip's first audio stream starts on the clip's clock, in seconds.

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    float
        The first audio frame's ``pts_time`` (ffmpeg ``ashowinfo``); 0 for most
        clips, positive when the audio starts after the picture.

    Raises
    ------
    AudioError
        The file cannot be read or has no audio.
    """
    path = Path(path)
    cmd = [ffmpeg_exe(), "-hide_banner", "-nostats", "-i", str(path), "-map", "0:a:0", "-af", "ashowinfo",
           "-frames:a", "1", "-f", "null", "-"]
    out = subprocess.run(cmd, capture_output=True, text=True)
    m = re.search(r"pts_time:\s*(-?[0-9.]+)", out.stderr)
    if out.returncode != 0 or not m:
        raise AudioError(f"{path}: could not read the start of its audio stream ({out.stderr.strip()[-200:]}).")
    return float(m.group(1))
