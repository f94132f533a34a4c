"""Audit any clip's native audio: levels, band limits, noise, and sound-to-picture offsets.

:func:`audit_clip` takes an MP4 from any video model (or a scene's
``native.mp4``) and measures what lab 1 asks a learner to document:

- integrated loudness and true peak against a delivery target;
- a spectral band-limit estimate (telephone-like dialogue shows as missing
  energy under ~300 Hz and over ~3.4 kHz);
- a noise-floor / signal-to-noise estimate from the level distribution;
- visual events found by frame differencing of the video (bursts of change
  in a small part of the picture) and audio onsets (spectral flux), paired up
  so each visual event gets an offset (positive: the sound is late).

Everything here is an estimate made without a cue sheet; on the kit's own
scenes the cue sheet holds the true values to compare with.

Taught in ``labs/lab1_audit/lab1_audit.ipynb`` (the lesson-06 exercise, "audit a native render").
"""

from __future__ import annotations

import contextlib
import io
import math
import subprocess
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from layerlab.io.audio import SAMPLE_RATE, ffmpeg_exe, load_audio, validate_audio
from layerlab.errors import AudioError, ParameterError

__all__ = ["VisualEvent", "AudioOnset", "EventOffset", "AuditReport", "audit_clip", "audit_audio",
           "detect_visual_events", "detect_audio_onsets", "band_limits", "noise_floor", "read_video_frames"]

_VIDEO_W, _VIDEO_H, _BLOCK = 160, 90, 8


@dataclass
class VisualEvent:
    """A burst of change in part of the picture.

    Attributes
    ----------
    time_s : float
        Time of the frame with the most change in the burst.
    frame : int
        That frame's index (0-based).
    strength : float
        How far the change stands out from that block's usual change (robust z-score).
    box : tuple of int
        ``(x0, y0, x1, y1)`` of the most-changed block, in source-video pixels.
    """

    time_s: float
    frame: int
    strength: float
    box: tuple = ()


@dataclass
class AudioOnset:
    """A sound onset found in the (mixed) audio by spectral flux."""

    time_s: float
    strength: float


@dataclass
class EventOffset:
    """A visual event and the audio onset paired with it (``offset_ms`` = sound - picture)."""

    event_time_s: float
    frame: int
    onset_time_s: float | None
    offset_ms: float | None

    @property
    def missing(self) -> bool:
        return self.onset_time_s is None


@dataclass
class AuditReport:
    """What :func:`audit_clip` measured.

    Attributes
    ----------
    path : str
    duration_s : float
    integrated_lufs, true_peak_dbtp : float
    target_lufs, max_true_peak_dbtp : float
        The delivery target compared against.
    band_low_hz, band_high_hz : float
        Estimated edges of the occupied band (-30 dB re. the 300-3000 Hz level).
    noise_floor_dbfs, snr_db : float
        10th-percentile level of 50 ms frames and its distance to the 95th percentile.
    fps : float or None
    visual_events : list of VisualEvent
    onsets : list of AudioOnset
    offsets : list of EventOffset
        One per visual event.
    """

    path: str
    duration_s: float
    integrated_lufs: float
    true_peak_dbtp: float
    target_lufs: float
    max_true_peak_dbtp: float
    band_low_hz: float
    band_high_hz: float
    noise_floor_dbfs: float
    snr_db: float
    fps: float | None = None
    visual_events: list = field(default_factory=list)
    onsets: list = field(default_factory=list)
    offsets: list = field(default_factory=list)

    @property
    def loudness_error_lu(self) -> float:
        """Integrated loudness minus the target (positive: too loud)."""
        return self.integrated_lufs - self.target_lufs

    def to_dict(self) -> dict:
        d = asdict(self)
        d["loudness_error_lu"] = self.loudness_error_lu
        return _clean(d)

    def to_text(self) -> str:
        lines = [f"Audit of {Path(self.path).name} ({self.duration_s:.1f} s)",
                 f"  loudness   {self.integrated_lufs:6.1f} LUFS (target {self.target_lufs:g}; {self.loudness_error_lu:+.1f} LU)",
                 f"  true peak  {self.true_peak_dbtp:6.1f} dBTP (ceiling {self.max_true_peak_dbtp:g})",
                 f"  band       {self.band_low_hz:.0f}-{self.band_high_hz:.0f} Hz"
                 + ("  <- band-limited (telephone-like?)" if self.band_low_hz > 200 or self.band_high_hz < 6000 else ""),
                 f"  noise      floor {self.noise_floor_dbfs:.1f} dBFS, signal-to-noise {self.snr_db:.1f} dB"]
        if self.fps:
            lines.append(f"  picture    {self.fps:g} fps, {len(self.visual_events)} visual events, {len(self.onsets)} audio onsets")
        for o in self.offsets:
            if o.missing:
                lines.append(f"    event at {o.event_time_s:6.3f} s (frame {o.frame}): no sound found near it")
            else:
                lines.append(f"    event at {o.event_time_s:6.3f} s (frame {o.frame}): sound at {o.onset_time_s:6.3f} s, "
                             f"offset {o.offset_ms:+.0f} ms")
        return "\n".join(lines)

    def plot(self, ax=None):
        """Timeline: audio onset strength, visual events and their offsets. Returns the figure."""
        import matplotlib.pyplot as plt

        if ax is None:
            fig, ax = plt.subplots(figsize=(9, 2.6))
        else:
            fig = ax.figure
        for ev in self.visual_events:
            ax.axvline(ev.time_s, color="#4c72b0", lw=1.5)
        if self.onsets:
            t = [o.time_s for o in self.onsets]
            ax.vlines(t, 0, [o.strength for o in self.onsets], color="#dd8452", lw=1)
        for o in self.offsets:
            if not o.missing:
                ax.annotate(f"{o.offset_ms:+.0f} ms", (o.event_time_s, 1.02), xycoords=("data", "axes fraction"),
                            fontsize=7, ha="center")
        ax.set_xlim(0, self.duration_s)
        ax.set_xlabel("time (s)")
        ax.set_ylabel("onset strength")
        ax.set_title("visual events (blue) and audio onsets (orange)", fontsize=9)
        return fig


def _clean(v):
    if isinstance(v, dict):
        return {k: _clean(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_clean(x) for x in v]
    if isinstance(v, (np.floating, float)):
        f = float(v)
        return f if math.isfinite(f) else None
    if isinstance(v, np.integer):
        return int(v)
    return v


# ------------------------------------------------------------------------------ video


def read_video_frames(path, *, width: int = _VIDEO_W, height: int = _VIDEO_H) -> tuple[np.ndarray, float, tuple[int, int]]:
    """Decode a video to small grey frames.

    Returns
    -------
    (np.ndarray, float, (int, int))
        Frames shaped (n_frames, height, width) float32 in 0..255, the frame rate,
        and the source size (width, height).
    """
    path = Path(path)
    if not path.is_file():
        raise AudioError(f"{path}: no such video file.")
    probe = subprocess.run([ffmpeg_exe(), "-hide_banner", "-i", str(path)], capture_output=True, text=True)
    fps, size = _parse_stream_info(probe.stderr, path)
    out = subprocess.run([ffmpeg_exe(), "-v", "error", "-i", str(path), "-an", "-vf",
                          f"scale={width}:{height},format=gray", "-f", "rawvideo", "-"], capture_output=True)
    raw = out.stdout
    if out.returncode != 0 or not raw:
        raise AudioError(f"{path}: ffmpeg could not decode its video ({out.stderr.decode(errors='replace').strip()[-200:]}).")
    n = len(raw) // (width * height)
    frames = np.frombuffer(raw[: n * width * height], np.uint8).reshape(n, height, width).astype(np.float32)
    return frames, fps, size


def _parse_stream_info(text: str, path: Path) -> tuple[float, tuple[int, int]]:
    import re

    for line in text.splitlines():
        if "Video:" in line:
            m = re.search(r"(\d+(?:\.\d+)?) fps", line) or re.search(r"(\d+(?:\.\d+)?) tbr", line)
            s = re.search(r"(\d{2,5})x(\d{2,5})", line)
            if m:
                return float(m.group(1)), ((int(s.group(1)), int(s.group(2))) if s else (0, 0))
    raise AudioError(f"{path}: no video stream found (is it an MP4/MOV with picture?).")


def detect_visual_events(frames: np.ndarray, *, fps: float, source_size=(0, 0), min_strength: float = 45.0,
                         min_gap_s: float = 0.3) -> list[VisualEvent]:
    """Find visual events by frame differencing.

    Parameters
    ----------
    frames : np.ndarray, shape (n_frames, height, width)
        Grey frames (see :func:`read_video_frames`).
    fps : float
    min_strength : float
        How far (in robust z-units) a block's change must stand out from its usual change.
    min_gap_s : float
        Bursts closer than this are one event.

    Returns
    -------
    list of VisualEvent
        The frame of peak change in each burst, in time order.

    Notes
    -----
    The picture is cut into 8x8-pixel blocks; each block's mean absolute change
    from the previous frame is compared with that block's median change over the
    clip, so steady motion (a waving tree, talking heads) scores low and a
    sudden, local change (a door, a cup) scores high.
    """
    if frames.ndim != 3 or frames.shape[0] < 3:
        return []
    n, h, w = frames.shape
    d = np.abs(np.diff(frames, axis=0))
    hb, wb = h // _BLOCK, w // _BLOCK
    blocks = d[:, : hb * _BLOCK, : wb * _BLOCK].reshape(n - 1, hb, _BLOCK, wb, _BLOCK).mean(axis=(2, 4)).reshape(n - 1, -1)
    med = np.median(blocks, axis=0)
    mad = np.median(np.abs(blocks - med), axis=0) + 0.5
    z = (blocks - med) / mad
    score = z.max(axis=1)
    where = z.argmax(axis=1)
    above = score >= min_strength
    events: list[VisualEvent] = []
    gap = max(1, int(round(min_gap_s * fps)))
    i = 0
    while i < above.size:
        if not above[i]:
            i += 1
            continue
        j = i
        last = i
        while j < above.size and j - last <= gap:
            if above[j]:
                last = j
            j += 1
        seg = slice(i, last + 1)
        k = i + int(np.argmax(score[seg]))
        frame = k + 1  # diff k is the change into frame k+1
        b = int(where[k])
        by, bx = divmod(b, wb)
        sx = (source_size[0] / w) if source_size[0] else 1.0
        sy = (source_size[1] / h) if source_size[1] else 1.0
        box = (int(bx * _BLOCK * sx), int(by * _BLOCK * sy), int((bx + 1) * _BLOCK * sx), int((by + 1) * _BLOCK * sy))
        events.append(VisualEvent(frame / fps, frame, float(score[k]), box))
        i = last + 1
    return events


# ------------------------------------------------------------------------------ audio


def detect_audio_onsets(audio, *, sample_rate: int = SAMPLE_RATE, hop_ms: float = 2.5) -> tuple[list[AudioOnset], np.ndarray, np.ndarray]:
    """Find sound onsets in a mixed track by half-wave-rectified spectral flux.

    Returns
    -------
    (list of AudioOnset, np.ndarray, np.ndarray)
        Onsets (local maxima of the flux, back-tracked to where the rise starts),
        the flux envelope and its times in seconds.
    """
    from scipy import signal

    x = validate_audio(audio, name="audio").mean(axis=1)
    sr = int(sample_rate)
    hop = max(1, int(round(sr * hop_ms / 1000.0)))
    nfft = 1024
    f, t, Z = signal.stft(x, fs=sr, nperseg=nfft, noverlap=nfft - hop, boundary=None, padded=False)
    mag = np.log1p(1000.0 * np.abs(Z))
    # emphasise the transient band where hits, clicks and knocks live
    w = np.clip(f / 2000.0, 0.2, 1.0)[:, None]
    flux = np.maximum(np.diff(mag, axis=1), 0.0)
    flux = (flux * w).sum(axis=0)
    times = t[1:] - (nfft / 2) / sr + hop / sr  # frame centre -> frame start of the new energy
    times = np.maximum(times, 0.0)
    if flux.size < 5 or not np.any(flux > 0):
        return [], flux, times
    med = float(np.median(flux))
    mad = float(np.median(np.abs(flux - med))) + 1e-9
    peaks, _ = signal.find_peaks(flux, height=med + 6 * mad, distance=max(1, int(0.05 / (hop / sr))))
    env = _hp_envelope(x, sr)
    onsets = []
    for p in peaks:
        onsets.append(AudioOnset(_refine_onset(env, float(times[p])), float((flux[p] - med) / mad)))
    return onsets, flux, times


def _hp_envelope(x: np.ndarray, sr: int) -> np.ndarray:
    """1 ms power envelope of the signal above 1 kHz (where attacks stand out of beds)."""
    from scipy import signal

    sos = signal.butter(4, 1000.0, btype="highpass", fs=sr, output="sos")
    y = signal.sosfilt(sos, x.astype(np.float64))
    hop = sr // 1000
    n = y.size // hop
    return (y[: n * hop] ** 2).reshape(n, hop).mean(axis=1) + 1e-20


def _refine_onset(env: np.ndarray, t_s: float) -> float:
    """Move a flux peak to the first millisecond where the sound rises out of what was before it.

    The level must exceed both the median of the 60 ms before the search window
    by 10 dB and the local peak minus 15 dB.
    """
    c = int(round(t_s * 1000))
    a, b = max(0, c - 40), min(env.size, c + 40)
    if b - a < 5:
        return t_s
    seg = env[a:b]
    p = int(np.argmax(seg))
    base = float(np.median(env[max(0, a - 60): a])) if a > 5 else float(np.min(seg))
    thr = max(base * 10.0, seg[p] / 31.6)
    above = np.nonzero(seg[: p + 1] >= thr)[0]
    return (a + int(above[0])) / 1000.0 if above.size else t_s


def pair_events(events: list[VisualEvent], onsets: list[AudioOnset], *, early_s: float = 0.2, late_s: float = 0.4) -> list[EventOffset]:
    """Pair each visual event with the strongest audio onset from ``early_s`` before to ``late_s`` after it."""
    out = []
    for ev in events:
        cands = [o for o in onsets if -early_s <= o.time_s - ev.time_s <= late_s]
        if not cands:
            out.append(EventOffset(ev.time_s, ev.frame, None, None))
            continue
        best = max(cands, key=lambda o: o.strength)
        out.append(EventOffset(ev.time_s, ev.frame, best.time_s, 1000.0 * (best.time_s - ev.time_s)))
    return out


def band_limits(audio, *, sample_rate: int = SAMPLE_RATE, drop_db: float = 30.0) -> tuple[float, float]:
    """Estimate the occupied band: where the long-term spectrum falls ``drop_db`` under its 300-3000 Hz level.

    Returns
    -------
    (float, float)
        Low and high edge in Hz.
    """
    from scipy import signal

    x = validate_audio(audio, name="audio").mean(axis=1)
    sr = int(sample_rate)
    if x.size < 4096:
        raise ParameterError("audio: need at least 4096 samples to estimate the band.")
    f, p = signal.welch(x, fs=sr, nperseg=4096)
    db = 10 * np.log10(p + 1e-20)
    mid = (f >= 300) & (f <= 3000)
    ref = float(np.median(db[mid]))
    ok = db >= ref - drop_db
    lo_idx = np.where(ok & (f >= 20))[0]
    if lo_idx.size == 0:
        return float("nan"), float("nan")
    # walk outwards from the mid band until the level stays under the threshold
    i_mid = int(np.searchsorted(f, 1000.0))
    lo = i_mid
    while lo > 1 and ok[lo - 1]:
        lo -= 1
    hi = i_mid
    while hi < f.size - 1 and ok[hi + 1]:
        hi += 1
    return float(f[lo]), float(f[hi])


def noise_floor(audio, *, sample_rate: int = SAMPLE_RATE, frame_ms: float = 50.0) -> tuple[float, float]:
    """Noise floor (10th-percentile frame level, dBFS) and SNR (95th minus 10th percentile, dB)."""
    x = validate_audio(audio, name="audio")
    hop = max(1, int(round(sample_rate * frame_ms / 1000.0)))
    n = x.shape[0] // hop
    if n < 4:
        raise ParameterError("audio: too short to estimate a noise floor (need 4 frames of 50 ms).")
    p = (x[: n * hop].astype(np.float64) ** 2).mean(axis=1).reshape(n, hop).mean(axis=1)
    lv = 10 * np.log10(p + 1e-20)
    lo, hi = float(np.percentile(lv, 10)), float(np.percentile(lv, 95))
    return lo, hi - lo


# ------------------------------------------------------------------------------ entry points


def audit_audio(audio, *, sample_rate: int = SAMPLE_RATE, target: str = "streaming", path: str = "") -> AuditReport:
    """Audit an audio array (no picture): loudness, true peak, band limits, noise, onsets.

    Parameters
    ----------
    audio : np.ndarray, shape (n_samples, n_channels)
    target : str
        Delivery profile (``layerlab.measure.targets.get_profile``).
    """
    from layerlab.measure.loudness import integrated_loudness, true_peak_dbtp
    from layerlab.measure.targets import get_profile

    x = validate_audio(audio, name=path or "audio")
    prof = get_profile(target)
    with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")
        lufs = float(integrated_loudness(x, sample_rate=sample_rate))
        tp = float(true_peak_dbtp(x, sample_rate=sample_rate))
        lo, hi = band_limits(x, sample_rate=sample_rate)
        nf, snr = noise_floor(x, sample_rate=sample_rate)
        onsets, _, _ = detect_audio_onsets(x, sample_rate=sample_rate)
    return AuditReport(path=str(path), duration_s=x.shape[0] / sample_rate, integrated_lufs=lufs, true_peak_dbtp=tp,
                       target_lufs=float(prof.target_lufs), max_true_peak_dbtp=float(prof.max_true_peak_dbtp),
                       band_low_hz=lo, band_high_hz=hi, noise_floor_dbfs=nf, snr_db=snr, onsets=onsets)


def audit_clip(path, *, target: str = "streaming", min_event_strength: float = 45.0) -> AuditReport:
    """Audit the native audio of a video clip (an MP4 from any video model).

    Parameters
    ----------
    path : str or Path
        A video file with an audio track (MP4/MOV/MKV), or an audio file (then
        no visual events are detected).
    target : str
        Delivery profile the loudness is compared with (``"streaming"``: -14 LUFS, -1 dBTP).
    min_event_strength : float
        Threshold for visual events (see :func:`detect_visual_events`).

    Returns
    -------
    AuditReport

    Raises
    ------
    AudioError
        The file is missing, has no audio track, or cannot be decoded.

    Notes
    -----
    Taught in ``labs/lab1_audit/lab1_audit.ipynb`` ("audit your own clip").
    """
    path = Path(path)
    audio = load_audio(path, sample_rate=SAMPLE_RATE, resample=True)
    report = audit_audio(audio, target=target, path=str(path))
    if path.suffix.lower() in (".mp4", ".mov", ".mkv", ".webm", ".m4v", ".avi"):
        frames, fps, size = read_video_frames(path)
        events = detect_visual_events(frames, fps=fps, source_size=size, min_strength=min_event_strength)
        report.fps = fps
        report.visual_events = events
        report.offsets = pair_events(events, report.onsets)
    return report


# ------------------------------------------------------------------------------ command line


def configure(parser) -> None:
    parser.add_argument("clip", help="an MP4 (or other video) with an audio track, or an audio file")
    parser.add_argument("--target", default="streaming", help="delivery profile to compare the loudness with")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")


def run(args) -> int:
    import json

    report = audit_clip(args.clip, target=args.target)
    print(json.dumps(report.to_dict(), indent=2) if args.json else report.to_text())
    return 0
