"""Audio in and out, in the one convention the engine uses.

Inside Layer Lab every signal is a ``float32`` NumPy array shaped
``(samples, channels)`` at 48 kHz. This module converts at the edges: files
(WAV, FLAC, MP3, the audio track of an MP4), pydub ``AudioSegment`` objects and
librosa/IPython's ``(channels, samples)`` order.

Nothing is converted silently: a file at another sample rate or with another
channel count raises :class:`~layerlab.errors.AudioError` unless the caller
asks for ``resample=True`` or ``remix=True``.

Taught in ``lessons/00_start_here.ipynb`` (listening and loading).
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from layerlab.errors import AudioError, ParameterError

SAMPLE_RATE = 48_000
"""The engine's sample rate in Hz."""

MAX_CHANNELS = 8
_FFMPEG_SUFFIXES = {".mp3", ".mp4", ".m4a", ".mov", ".aac", ".mkv", ".webm", ".ogg", ".opus"}
_WRITE_SUBTYPES = {"PCM_16": "PCM_16", "PCM_24": "PCM_24", "FLOAT": "FLOAT", "16": "PCM_16", "24": "PCM_24", "float": "FLOAT"}


@dataclass(frozen=True)
class AudioFile:
    """An audio file as it is on disk, before any conversion.

    Attributes
    ----------
    path : Path
        Where it was read from.
    samples : np.ndarray, shape (n_samples, n_channels), float32
        The decoded samples, in the file's own rate and channel count.
    sample_rate : int
        The file's sample rate in Hz.
    subtype : str
        The sample format as soundfile names it (``"PCM_16"``, ``"FLOAT"``, ...),
        or ``"ffmpeg"`` for compressed formats decoded through ffmpeg.
    """

    path: Path
    samples: np.ndarray
    sample_rate: int
    subtype: str

    @property
    def channels(self) -> int:
        """Number of channels."""
        return int(self.samples.shape[1])

    @property
    def duration_s(self) -> float:
        """Length in seconds."""
        return self.samples.shape[0] / self.sample_rate


def ffmpeg_exe() -> str:
    """Return the path of the static ffmpeg binary shipped by ``imageio-ffmpeg``."""
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def validate_audio(audio, *, name: str = "audio", allow_empty: bool = False) -> np.ndarray:
    """Check an array against the engine's convention and return it as float32.

    Parameters
    ----------
    audio : array_like, shape (n_samples,) or (n_samples, n_channels)
        A 1-D array is taken as mono and becomes ``(n_samples, 1)``.
    name : str
        What to call the array in error messages (a file name, a layer name).
    allow_empty : bool
        Accept zero samples.

    Returns
    -------
    np.ndarray, shape (n_samples, n_channels), float32

    Raises
    ------
    AudioError
        If the array is not 1-D or 2-D, has no samples, more than eight
        channels, or holds NaN or infinite values.

    Notes
    -----
    Taught in ``lessons/00_start_here.ipynb``.
    """
    try:
        arr = np.asarray(audio)
    except Exception as exc:  # pragma: no cover - numpy accepts nearly anything
        raise AudioError(f"{name}: cannot be read as an array of samples ({exc}).") from exc
    if arr.dtype.kind not in "fiub":
        raise AudioError(f"{name}: samples must be numbers, got dtype {arr.dtype}.")
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise AudioError(f"{name}: expected shape (samples, channels), got {arr.shape}.")
    if arr.shape[1] > MAX_CHANNELS and arr.shape[0] <= MAX_CHANNELS:
        raise AudioError(
            f"{name}: shape {arr.shape} looks like (channels, samples); "
            "Layer Lab uses (samples, channels). Transpose it with .T (or use layerlab.from_librosa)."
        )
    if arr.shape[1] == 0 or arr.shape[1] > MAX_CHANNELS:
        raise AudioError(f"{name}: {arr.shape[1]} channels is not supported (1 to {MAX_CHANNELS}).")
    if arr.shape[0] == 0 and not allow_empty:
        raise AudioError(f"{name}: has no samples (zero length). Check that the file or clip is not empty.")
    if arr.dtype.kind in "iu":
        info = np.iinfo(arr.dtype)
        arr = arr.astype(np.float64) / max(abs(info.min), info.max)
    arr = arr.astype(np.float32, copy=False)
    if arr.size and not np.isfinite(arr).all():
        bad = int(np.count_nonzero(~np.isfinite(arr)))
        first = int(np.argwhere(~np.isfinite(arr))[0][0])
        raise AudioError(
            f"{name}: {bad} sample{' is' if bad == 1 else 's are'} NaN or infinite (first at sample {first}). "
            "Find the step that produced them (a division by zero, a log of zero) and fix it before mixing."
        )
    return arr


def read_audio(path) -> AudioFile:
    """Read an audio file as it is, without resampling or remixing.

    Parameters
    ----------
    path : str or Path
        WAV, FLAC, OGG (through libsndfile) or MP3/MP4/M4A (through ffmpeg).

    Returns
    -------
    AudioFile

    Raises
    ------
    AudioError
        If the file is missing, empty, not audio, has no audio track, or holds
        NaN/inf samples.

    Notes
    -----
    Taught in ``lessons/00_start_here.ipynb``.
    """
    path = Path(path)
    if not path.exists():
        raise AudioError(f"{path}: file not found.")
    if path.is_dir():
        raise AudioError(f"{path}: is a folder, expected an audio file.")
    if path.stat().st_size == 0:
        raise AudioError(f"{path}: the file is empty (0 bytes). Export it again.")
    if path.suffix.lower() in _FFMPEG_SUFFIXES:
        samples, rate = _decode_with_ffmpeg(path)
        subtype = "ffmpeg"
    else:
        try:
            info = sf.info(str(path))
            samples, rate = sf.read(str(path), dtype="float32", always_2d=True)
        except Exception as exc:
            raise AudioError(
                f"{path}: not a readable audio file ({_short(exc)}). "
                "Export it as a WAV (16/24-bit PCM or 32-bit float)."
            ) from exc
        subtype = info.subtype
    samples = validate_audio(samples, name=str(path))
    return AudioFile(path=path, samples=samples, sample_rate=int(rate), subtype=subtype)


def load_audio(
    path,
    *,
    sample_rate: int = SAMPLE_RATE,
    channels: int | None = None,
    resample: bool = False,
    remix: bool = False,
) -> np.ndarray:
    """Load an audio file into the engine's convention.

    Parameters
    ----------
    path : str or Path
        WAV, FLAC, MP3, or a video file whose audio track is used.
    sample_rate : int
        The rate the caller needs, 48000 by default.
    channels : int or None
        The channel count the caller needs; ``None`` keeps the file's.
    resample : bool
        Resample a file at another rate (polyphase, high quality). Without it,
        a different rate is an error.
    remix : bool
        Up-mix mono to stereo (copy) or down-mix to mono (average). Without it,
        a different channel count is an error.

    Returns
    -------
    np.ndarray, shape (n_samples, n_channels), float32

    Raises
    ------
    AudioError
        For unreadable files, and for a rate or channel count that differs
        from the one asked for when conversion was not requested.

    Notes
    -----
    Taught in ``lessons/00_start_here.ipynb``.
    """
    f = read_audio(path)
    audio = f.samples
    if f.sample_rate != sample_rate:
        if not resample:
            raise AudioError(
                f"{f.path}: sample rate is {f.sample_rate} Hz, Layer Lab works at {sample_rate} Hz. "
                f"Pass resample=True, or export the file at {sample_rate} Hz."
            )
        audio = resample_audio(audio, from_rate=f.sample_rate, to_rate=sample_rate)
    if channels is not None and audio.shape[1] != channels:
        if not remix:
            raise AudioError(
                f"{f.path}: has {audio.shape[1]} channel(s), {channels} needed. "
                "Pass remix=True to up-mix or down-mix it."
            )
        audio = remix_channels(audio, channels=channels, name=str(f.path))
    return audio


def resample_audio(audio, *, from_rate: int, to_rate: int) -> np.ndarray:
    """Resample with a polyphase filter.

    Parameters
    ----------
    audio : np.ndarray, shape (n_samples, n_channels)
    from_rate, to_rate : int
        Sample rates in Hz.

    Returns
    -------
    np.ndarray, shape (m_samples, n_channels), float32
    """
    from math import gcd

    from scipy.signal import resample_poly

    audio = validate_audio(audio)
    if from_rate == to_rate:
        return audio
    if from_rate <= 0 or to_rate <= 0:
        raise ParameterError(f"sample rates must be positive, got {from_rate} and {to_rate}.")
    g = gcd(int(from_rate), int(to_rate))
    out = resample_poly(audio, int(to_rate) // g, int(from_rate) // g, axis=0)
    return out.astype(np.float32)


def remix_channels(audio, *, channels: int, name: str = "audio") -> np.ndarray:
    """Up-mix or down-mix between mono and stereo, explicitly.

    Parameters
    ----------
    audio : np.ndarray, shape (n_samples, n_channels)
    channels : {1, 2}
        Target channel count. Mono is copied to both sides; stereo and
        multichannel are averaged to mono, and multichannel becomes stereo
        by the ITU down-mix (L + 0.707 C + 0.707 Ls, ...), LFE left out.

    Returns
    -------
    np.ndarray, shape (n_samples, channels), float32
    """
    audio = validate_audio(audio, name=name)
    n = audio.shape[1]
    if n == channels:
        return audio
    if channels == 2:
        if n == 1:
            return np.repeat(audio, 2, axis=1)
        if n == 6:  # L R C LFE Ls Rs
            k = np.float32(0.70710677)
            left = audio[:, 0] + k * audio[:, 2] + k * audio[:, 4]
            right = audio[:, 1] + k * audio[:, 2] + k * audio[:, 5]
            return np.stack([left, right], axis=1).astype(np.float32)
    if channels == 1:
        return audio.mean(axis=1, keepdims=True, dtype=np.float32)
    raise AudioError(f"{name}: cannot remix {n} channels to {channels}; supported: mono<->stereo and 5.1->stereo/mono.")


def save_audio(path, audio, *, sample_rate: int = SAMPLE_RATE, subtype: str = "PCM_24") -> Path:
    """Write a WAV file.

    Parameters
    ----------
    path : str or Path
        Destination; parent folders are created.
    audio : np.ndarray, shape (n_samples, n_channels)
    sample_rate : int
    subtype : {"PCM_16", "PCM_24", "FLOAT"}
        Sample format. PCM formats clip at full scale; use ``"FLOAT"`` to keep
        overs (the stems of a deliverable use it so they add up exactly).

    Returns
    -------
    Path
    """
    if subtype not in _WRITE_SUBTYPES:
        raise ParameterError(f"subtype must be one of PCM_16, PCM_24, FLOAT; got {subtype!r}.")
    audio = validate_audio(audio, name=str(path))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), audio, int(sample_rate), subtype=_WRITE_SUBTYPES[subtype], format="WAV")
    return path


def to_librosa(audio) -> np.ndarray:
    """Convert ``(samples, channels)`` to librosa/IPython order.

    Returns
    -------
    np.ndarray, shape (n_samples,) for mono or (n_channels, n_samples)
    """
    audio = validate_audio(audio)
    return audio[:, 0].copy() if audio.shape[1] == 1 else np.ascontiguousarray(audio.T)


def from_librosa(y) -> np.ndarray:
    """Convert librosa's ``(n_samples,)`` or ``(channels, samples)`` to the engine's order.

    Returns
    -------
    np.ndarray, shape (n_samples, n_channels), float32
    """
    y = np.asarray(y)
    if y.ndim == 2:
        y = y.T
    return validate_audio(y, name="librosa array")


def to_pydub(audio, *, sample_rate: int = SAMPLE_RATE):
    """Convert to a 16-bit ``pydub.AudioSegment`` (samples beyond ±1 are clipped).

    Parameters
    ----------
    audio : np.ndarray, shape (n_samples, n_channels)

    Returns
    -------
    pydub.AudioSegment
    """
    AudioSegment = _pydub_segment_class()
    audio = validate_audio(audio)
    pcm = (np.clip(audio, -1.0, 1.0) * 32767.0).round().astype("<i2")
    return AudioSegment(pcm.tobytes(), frame_rate=int(sample_rate), sample_width=2, channels=audio.shape[1])


def from_pydub(segment) -> np.ndarray:
    """Convert a ``pydub.AudioSegment`` to the engine's convention (rate unchanged).

    Returns
    -------
    np.ndarray, shape (n_samples, n_channels), float32
        Check ``segment.frame_rate`` and resample with :func:`resample_audio`
        if it is not 48000.
    """
    width = segment.sample_width
    dtype = {1: np.int8, 2: "<i2", 4: "<i4"}.get(width)
    if dtype is None:
        raise AudioError(f"pydub segment: sample width {width} bytes is not supported.")
    raw = np.frombuffer(segment.raw_data, dtype=dtype).reshape(-1, segment.channels)
    full_scale = float(2 ** (8 * width - 1))
    return validate_audio(raw.astype(np.float64) / full_scale, name="pydub segment")


def _pydub_segment_class():
    """Import pydub quietly and point it at the bundled ffmpeg (pydub warns when none is on PATH)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # RuntimeWarning (no ffmpeg on PATH), DeprecationWarning (audioop)
        from pydub import AudioSegment
    AudioSegment.converter = ffmpeg_exe()
    return AudioSegment


def _decode_with_ffmpeg(path: Path) -> tuple[np.ndarray, int]:
    """Decode a compressed or video file's first audio track to float samples."""
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "decoded.wav")
        cmd = [ffmpeg_exe(), "-nostdin", "-v", "error", "-i", str(path), "-map", "0:a:0", "-c:a", "pcm_f32le", out]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0 or not os.path.exists(out):
            err = proc.stderr.strip().splitlines()
            reason = err[-1] if err else "ffmpeg could not decode it"
            if "matches no streams" in proc.stderr:
                reason = "it has no audio track"
            raise AudioError(f"{path}: cannot read audio ({reason}).")
        samples, rate = sf.read(out, dtype="float32", always_2d=True)
    return samples, int(rate)


def _short(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[-1] if text else type(exc).__name__
