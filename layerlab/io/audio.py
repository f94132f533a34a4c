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
import struct
import subprocess
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from layerlab.errors import AudioError, MissingToolError, ParameterError

SAMPLE_RATE = 48_000
"""The engine's sample rate in Hz."""

MAX_CHANNELS = 8

SPEAKER_POSITIONS = ("FL", "FR", "FC", "LFE", "BL", "BR", "FLC", "FRC", "BC", "SL", "SR",
                     "TC", "TFL", "TFC", "TFR", "TBL", "TBC", "TBR")
"""Loudspeaker positions in the bit order of the WAVE_FORMAT_EXTENSIBLE ``dwChannelMask``
(Microsoft, *KSAUDIO_CHANNEL_CONFIG* / ``SPEAKER_FRONT_LEFT`` = bit 0 ...). Channels
in a WAV file appear in this order, keeping only the positions whose bit is set."""

DEFAULT_LAYOUTS = {
    1: ("FC",),
    2: ("FL", "FR"),
    3: ("FL", "FR", "FC"),
    4: ("FL", "FR", "BL", "BR"),
    5: ("FL", "FR", "FC", "BL", "BR"),
    6: ("FL", "FR", "FC", "LFE", "BL", "BR"),
    7: ("FL", "FR", "FC", "LFE", "BC", "SL", "SR"),
    8: ("FL", "FR", "FC", "LFE", "BL", "BR", "SL", "SR"),
}
"""Layouts assumed for a file without a channel mask (mono, stereo, 3.0, quad, 5.0, 5.1, 6.1, 7.1),
the orders SMPTE ST 2036-2 / ITU-R BS.2051 and the WAV mask use."""

_LEFT = {"FL", "FLC", "BL", "SL", "TFL", "TBL"}
_RIGHT = {"FR", "FRC", "BR", "SR", "TFR", "TBR"}
_CENTRE = {"FC", "BC", "TC", "TFC", "TBC"}
_FRONT = {"FL", "FR"}
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
    channel_positions : tuple of str
        The loudspeaker position of each channel, in file order, with the
        WAVE_FORMAT_EXTENSIBLE names (``"FL"``, ``"FR"``, ``"FC"``, ``"LFE"``,
        ``"BL"``, ``"BR"``, ``"SL"``, ``"SR"``, ...; see :data:`SPEAKER_POSITIONS`).
        Read from the WAV's channel mask when it has one; otherwise the usual
        layout for the channel count (:data:`DEFAULT_LAYOUTS`). A channel the
        mask leaves unassigned is ``""``.
    truncated : bool
        The WAV header announces more audio than the file holds (a copy or
        export was cut short); only the samples that are there were read.
    """

    path: Path
    samples: np.ndarray
    sample_rate: int
    subtype: str
    channel_positions: tuple = ()
    truncated: bool = False

    @property
    def channels(self) -> int:
        """Number of channels."""
        return int(self.samples.shape[1])

    @property
    def duration_s(self) -> float:
        """Length in seconds."""
        return self.samples.shape[0] / self.sample_rate


def ffmpeg_exe(*, needed_for: str = "this") -> str:
    """Return the path of the ffmpeg binary (the static one shipped by ``imageio-ffmpeg``).

    Parameters
    ----------
    needed_for : str
        What ffmpeg is needed for (``"reading song.mp3"``), for the error message.

    Returns
    -------
    str

    Raises
    ------
    MissingToolError
        If no usable ffmpeg binary is found (``imageio-ffmpeg`` missing or
        broken, or ``IMAGEIO_FFMPEG_EXE`` pointing at a missing file). WAV and
        FLAC never need ffmpeg.
    """
    hint = (f"ffmpeg is needed for {needed_for} but was not found; install it with "
            "'pip install imageio-ffmpeg' (or 'conda install -c conda-forge ffmpeg' and set IMAGEIO_FFMPEG_EXE "
            "to its path), or convert the file to WAV or FLAC, which need no ffmpeg.")
    try:
        import imageio_ffmpeg

        exe = imageio_ffmpeg.get_ffmpeg_exe()
    except Exception as exc:  # ImportError, or RuntimeError when the package has no binary
        raise MissingToolError(hint) from exc
    if not exe or not (os.path.isfile(exe) and os.access(exe, os.X_OK)):
        from shutil import which

        if not exe or which(exe) is None:
            raise MissingToolError(hint + f" (IMAGEIO_FFMPEG_EXE or imageio-ffmpeg gave {exe!r}.)")
    return exe


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
        With the channel positions read from a WAV's channel mask, and
        ``truncated`` set when the file is cut short (a
        :class:`TruncatedAudioWarning` says so in one line too).

    Raises
    ------
    AudioError
        If the file is missing, empty, not audio, has no audio track, or holds
        NaN/inf samples.
    MissingToolError
        If an MP3/MP4/... needs ffmpeg and none is available (WAV and FLAC do not).

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
    decoded_positions = ()
    if path.suffix.lower() in _FFMPEG_SUFFIXES:
        samples, rate, decoded_positions = _decode_with_ffmpeg(path)
        subtype = "ffmpeg"
    else:
        try:
            info = sf.info(str(path))
        except Exception as exc:
            raise AudioError(
                f"{path}: not a readable audio file ({_short(exc)}). "
                "Export it as a WAV (16/24-bit PCM or 32-bit float)."
            ) from exc
        refuse_misnamed_wav(path, info.format, info.format_info)
        try:
            samples, rate = sf.read(str(path), dtype="float32", always_2d=True)
        except Exception as exc:
            raise AudioError(
                f"{path}: not a readable audio file ({_short(exc)}). "
                "Export it as a WAV (16/24-bit PCM or 32-bit float)."
            ) from exc
        subtype = info.subtype
    samples = validate_audio(samples, name=str(path))
    layout = wav_layout(path) if subtype != "ffmpeg" else WavLayout(positions=decoded_positions)
    positions = layout.positions if layout.positions else DEFAULT_LAYOUTS.get(samples.shape[1], ())
    if len(positions) != samples.shape[1]:
        positions = DEFAULT_LAYOUTS.get(samples.shape[1], ())
    truncated = layout.missing_bytes > 0 or (subtype != "ffmpeg" and samples.shape[0] < info.frames)
    if truncated:
        warnings.warn(TruncatedAudioWarning(
            f"{path}: is cut short: its header announces {layout.missing_bytes} more bytes of audio than the file holds "
            f"(only {samples.shape[0] / rate:.3f} s are there). Copy or export it again."), stacklevel=2)
    return AudioFile(path=path, samples=samples, sample_rate=int(rate), subtype=subtype,
                     channel_positions=tuple(positions), truncated=bool(truncated))


WAV_FORMATS = frozenset({"WAV", "WAVEX", "RF64"})
"""The container formats, as soundfile names them, that a file named ``.wav`` may hold."""


def misnamed_wav_message(name, container: str, description: str = "") -> str | None:
    """One line saying a ``.wav``-named file holds another format (None when the name and the content agree).

    Parameters
    ----------
    name : str or Path
        The file's name or path, as the message should show it.
    container : str
        Its format as ``soundfile.info(...).format`` names it (read from the header, before decoding).
    description : str, optional
        ``soundfile.info(...).format_info`` (e.g. ``"FLAC (Free Lossless Audio Codec)"``).

    Returns
    -------
    str or None
    """
    if not str(name).lower().endswith(".wav") or container in WAV_FORMATS:
        return None
    what = description if description.startswith(container) else f"{container} ({description})" if description else container
    return (f"{name}: is not a WAV file but {what} with a .wav name; it is refused before decoding "
            "(a small compressed file can hold hours of audio). Open it in your editor and export it again as a WAV "
            "(24-bit PCM or 32-bit float).")


def refuse_misnamed_wav(path, container: str, description: str = "") -> None:
    """Raise :class:`AudioError` when a ``.wav``-named file holds another format (see :func:`misnamed_wav_message`)."""
    msg = misnamed_wav_message(path, container, description)
    if msg is not None:
        raise AudioError(msg)


class TruncatedAudioWarning(UserWarning):
    """A WAV file holds less audio than its header announces (the message says where and how much)."""


@dataclass(frozen=True)
class WavLayout:
    """What a WAV header says beyond what soundfile reports.

    Attributes
    ----------
    channel_mask : int or None
        The WAVE_FORMAT_EXTENSIBLE ``dwChannelMask`` (``None``: not an extensible WAV).
    positions : tuple of str
        The positions the mask assigns, in channel order (empty without a mask
        or with mask 0); ``""`` for channels beyond the mask's bits.
    missing_bytes : int
        How many bytes the ``data`` chunk announces beyond the end of the file (0: complete).
    """

    channel_mask: int | None = None
    positions: tuple = ()
    missing_bytes: int = 0


def wav_layout(path) -> WavLayout:
    """Read the channel mask and completeness of a RIFF/RF64 WAV from its chunks.

    soundfile (libsndfile) reads the samples but does not expose the
    WAVE_FORMAT_EXTENSIBLE channel mask, so the ``fmt `` chunk is parsed here
    (Microsoft *WAVEFORMATEXTENSIBLE*: the mask is the 32-bit word at byte 20
    of the chunk, after ``cbSize`` and ``wValidBitsPerSample``).

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    WavLayout
        Empty (no mask, nothing missing) for files that are not WAV.
    """
    path = Path(path)
    mask = None
    n_channels = 0
    missing = 0
    try:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            head = fh.read(12)
            if head[:4] not in (b"RIFF", b"RF64") or head[8:12] != b"WAVE":
                return WavLayout()
            rf64_data = None
            pos = 12
            while pos + 8 <= size:
                fh.seek(pos)
                cid, clen = struct.unpack("<4sI", fh.read(8))
                if cid == b"ds64":
                    body = fh.read(min(clen, 28))
                    if len(body) >= 16:
                        rf64_data = struct.unpack("<Q", body[8:16])[0]
                elif cid == b"fmt ":
                    body = fh.read(min(clen, 40))
                    if len(body) >= 4:
                        tag, n_channels = struct.unpack("<HH", body[:4])
                        if tag == 0xFFFE and len(body) >= 24:
                            mask = struct.unpack("<I", body[20:24])[0]
                elif cid == b"data":
                    if clen == 0xFFFFFFFF and rf64_data is not None:
                        clen = rf64_data
                    if clen not in (0, 0xFFFFFFFF):
                        missing = max(0, clen - (size - pos - 8))
                    break
                pos += 8 + clen + (clen & 1)
    except (OSError, struct.error):
        return WavLayout()
    positions: tuple = ()
    if mask:
        named = [SPEAKER_POSITIONS[b] for b in range(len(SPEAKER_POSITIONS)) if mask >> b & 1]
        positions = tuple((named + [""] * n_channels)[:n_channels])
    return WavLayout(channel_mask=mask, positions=positions, missing_bytes=int(missing))


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
        audio = remix_channels(audio, channels=channels, positions=f.channel_positions or None, name=str(f.path))
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


def remix_channels(audio, *, channels: int, positions=None, name: str = "audio") -> np.ndarray:
    """Up-mix or down-mix to mono or stereo, explicitly, by loudspeaker position.

    Parameters
    ----------
    audio : np.ndarray, shape (n_samples, n_channels)
    channels : {1, 2}
        Target channel count.
    positions : sequence of str, optional
        The position of each input channel (``AudioFile.channel_positions``,
        e.g. ``("FL", "FR", "FC", "BL", "BR", "BC")``). ``None`` assumes the
        usual layout for the channel count (:data:`DEFAULT_LAYOUTS`: 5.1 is
        ``FL FR FC LFE BL BR``, 7.1 ``FL FR FC LFE BL BR SL SR``).
    name : str
        What to call the audio in error messages.

    Returns
    -------
    np.ndarray, shape (n_samples, channels), float32

    Raises
    ------
    AudioError
        If ``channels`` is not 1 or 2, or ``positions`` does not name every channel.

    Notes
    -----
    Mono is copied to both sides. Stereo becomes mono by the average. More
    channels become stereo by the ITU-R BS.775 down-mix: left-side channels
    (FL, BL, SL, FLC, ...) go to the left at 1.0 for FL and 0.7071 (-3 dB)
    for the others, right-side ones likewise, centre channels (FC, BC, ...)
    to both at 0.7071, and the LFE is left out (BS.775 and ATSC A/52 drop it
    from the down-mix). A channel with no position is treated as centre.
    Multichannel to mono is the average of that stereo down-mix. Taught in
    ``lessons/00_start_here.ipynb``.
    """
    audio = validate_audio(audio, name=name)
    n = audio.shape[1]
    if channels not in (1, 2):
        raise AudioError(f"{name}: cannot remix to {channels} channels; Layer Lab remixes to 1 (mono) or 2 (stereo).")
    if n == channels:
        return audio
    if n == 1:
        return np.repeat(audio, 2, axis=1)
    if n == 2:
        return audio.mean(axis=1, keepdims=True, dtype=np.float32)
    if positions is None:
        positions = DEFAULT_LAYOUTS.get(n)
    positions = tuple(positions)
    if len(positions) != n:
        raise AudioError(f"{name}: {len(positions)} channel positions given for {n} channels; "
                         "pass one position per channel (AudioFile.channel_positions).")
    k = np.float32(0.70710677)
    weights = np.zeros((n, 2), dtype=np.float32)
    for i, pos in enumerate(positions):
        pos = str(pos).upper()
        if pos == "LFE":
            continue
        if pos in _LEFT:
            weights[i, 0] = 1.0 if pos in _FRONT else k
        elif pos in _RIGHT:
            weights[i, 1] = 1.0 if pos in _FRONT else k
        else:  # FC, BC, top centre, or unassigned
            weights[i] = k
    stereo = (audio @ weights).astype(np.float32)
    if channels == 2:
        return stereo
    return stereo.mean(axis=1, keepdims=True, dtype=np.float32)


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
    try:
        AudioSegment.converter = ffmpeg_exe(needed_for="pydub's file export")
    except MissingToolError:  # raw PCM conversion needs no ffmpeg; pydub says so itself if a file needs it
        pass
    return AudioSegment


def _decode_with_ffmpeg(path: Path) -> tuple[np.ndarray, int, tuple]:
    """Decode a compressed or video file's first audio track to float samples, its rate and channel positions.

    ffmpeg writes the decoded WAV with a WAVE_FORMAT_EXTENSIBLE channel mask
    for more than two channels, so a 5.1(side) AAC keeps its SL/SR positions.
    """
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "decoded.wav")
        cmd = [ffmpeg_exe(needed_for=f"reading {path.name} ({path.suffix.lower()} files)"), "-nostdin", "-v", "error",
               "-i", str(path), "-map", "0:a:0", "-c:a", "pcm_f32le", out]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0 or not os.path.exists(out):
            err = proc.stderr.strip().splitlines()
            reason = err[-1] if err else "ffmpeg could not decode it"
            if "matches no streams" in proc.stderr:
                reason = "it has no audio track"
            raise AudioError(f"{path}: cannot read audio ({reason}).")
        samples, rate = sf.read(out, dtype="float32", always_2d=True)
        positions = wav_layout(out).positions
    return samples, int(rate), positions


def _short(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[-1] if text else type(exc).__name__
