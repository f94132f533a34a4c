"""The loudness meter: every figure of a programme at once, from an array or streamed from a file.

:class:`Meter` measures integrated loudness, the momentary and short-term
series and their maxima, loudness range, true peak and sample peak in one pass
and returns a :class:`LoudnessReport`. :func:`measure_file` streams a file
through it in blocks (:meth:`soundfile.SoundFile.blocks`): memory holds one
block and the per-step series, never the programme, so a two-hour file
measures on a laptop. This is what ``layerlab measure`` runs.

The figures are those of :mod:`layerlab.measure.loudness` (gating, the LUFS
formula, LRA), :mod:`layerlab.measure.kweighting` (filter, channel weights,
the dual-mono policy) and :mod:`layerlab.measure.true_peak`; nothing is
computed here twice.

Taught in ``lessons/08_measuring_the_mix.ipynb``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from layerlab.errors import AudioError, ParameterError
from layerlab.io.audio import SAMPLE_RATE, validate_audio
from layerlab.measure.kweighting import check_sample_rate, resolve_weights
from layerlab.measure.loudness import (
    LRA_STABLE_AFTER_S,
    WHOLE_CLIP_NOTE,
    LoudnessSeries,
    LoudnessAnalysis,
    analyse,
    check_step_ms,
    PROCESS_BLOCK,
)
from layerlab.measure.true_peak import DEFAULT_OVERSAMPLE, TruePeakMeter, check_oversample, db_from_peak

__all__ = ["LoudnessReport", "Meter", "measure_file"]


@dataclass(frozen=True, eq=False)
class LoudnessReport:
    """Every loudness figure of one programme.

    Attributes
    ----------
    integrated_lufs : float
        Gated integrated loudness (``-inf`` if nothing passes the gates).
    true_peak_dbtp : float
        Maximum true peak over all channels (``-inf`` for digital silence).
    sample_peak_dbfs : float
        Maximum absolute sample value in dBFS (``-inf`` for digital silence).
    lra_lu : float
        Loudness range in LU (``nan`` under 3 s or if no short-term value passes the gates).
    max_momentary_lufs, max_short_term_lufs : float
        Maxima of the two series (``-inf`` if silent or shorter than the window).
    sample_rate : int
    channels : int
    duration_s : float
    momentary, short_term : LoudnessSeries
        The series behind the maxima.
    whole_clip : bool
        The clip is shorter than one 400 ms block: its integrated loudness is
        the whole clip measured as one block (the kit's policy; BS.1770 has none).
    lra_stable : bool
        False for programmes under 60 s, where Tech 3341 (2016) asks meters to
        flag LRA as not stable (indicative only).
    problems : tuple of str
        One line per problem found with the file itself (e.g. truncated).
    """

    integrated_lufs: float
    true_peak_dbtp: float
    sample_peak_dbfs: float
    lra_lu: float
    max_momentary_lufs: float
    max_short_term_lufs: float
    sample_rate: int
    channels: int
    duration_s: float
    momentary: LoudnessSeries = field(repr=False)
    short_term: LoudnessSeries = field(repr=False)
    whole_clip: bool = False
    lra_stable: bool = True
    problems: tuple = ()

    _SCALARS = (
        "integrated_lufs",
        "true_peak_dbtp",
        "sample_peak_dbfs",
        "lra_lu",
        "max_momentary_lufs",
        "max_short_term_lufs",
        "sample_rate",
        "channels",
        "duration_s",
    )

    def to_dict(self, *, series: bool = False) -> dict:
        """Return the figures as a JSON-safe dict.

        Parameters
        ----------
        series : bool
            Also include the momentary and short-term series as lists.

        Returns
        -------
        dict
            Keys ``integrated_lufs, true_peak_dbtp, sample_peak_dbfs, lra_lu,
            max_momentary_lufs, max_short_term_lufs, sample_rate, channels,
            duration_s`` (a value that does not exist is ``None``), then
            ``whole_clip``, ``lra_stable`` (bool) and ``problems`` (list of str).
        """
        out = {}
        for key in self._SCALARS:
            value = getattr(self, key)
            if key in ("sample_rate", "channels"):
                out[key] = int(value)
            else:
                out[key] = _json_float(value)
        out["whole_clip"] = bool(self.whole_clip)
        out["lra_stable"] = bool(self.lra_stable)
        out["problems"] = list(self.problems)
        if series:
            for name in ("momentary", "short_term"):
                s = getattr(self, name)
                out[name] = {
                    "window_s": s.window_s,
                    "times_s": [round(float(t), 6) for t in s.times_s],
                    "lufs": [_json_float(v) for v in s.lufs],
                }
        return out

    def summary(self) -> str:
        """Return a short human-readable summary (what ``layerlab measure`` prints)."""

        def fmt(value, unit, why):
            return f"{value:.1f} {unit}" if math.isfinite(value) else f"n/a ({why})"

        integrated = fmt(self.integrated_lufs, "LUFS", "silence: nothing above -70 LUFS")
        if self.whole_clip and math.isfinite(self.integrated_lufs):
            integrated += f" ({WHOLE_CLIP_NOTE})"
        lra = fmt(self.lra_lu, "LU", "needs 3 s or more of sound")
        if math.isfinite(self.lra_lu) and not self.lra_stable:
            lra += " (indicative: under 60 s, not stable per EBU Tech 3341)"
        lines = [f"Problem             : {p}" for p in self.problems]
        lines += [
            f"Integrated loudness : {integrated}",
            f"True peak           : {fmt(self.true_peak_dbtp, 'dBTP', 'digital silence')}",
            f"Sample peak         : {fmt(self.sample_peak_dbfs, 'dBFS', 'digital silence')}",
            f"Loudness range      : {lra}",
            f"Max momentary       : {fmt(self.max_momentary_lufs, 'LUFS', 'silence or under 0.4 s')}",
            f"Max short-term      : {fmt(self.max_short_term_lufs, 'LUFS', 'silence or under 3 s')}",
            f"Format              : {self.sample_rate} Hz, {self.channels} ch, {self.duration_s:.2f} s",
        ]
        return "\n".join(lines)


def _json_float(value) -> float | None:
    value = float(value)
    return round(value, 4) if math.isfinite(value) else None


# --------------------------------------------------------------------------- public API


class Meter:
    """A loudness meter for one sample rate.

    Parameters
    ----------
    sample_rate : int
        8000 to 192000 Hz. Measure a file at its own rate.
    step_ms : float
        Step of the momentary and short-term series and of the short-term
        values behind the loudness range (10 ms by default; at most 100 ms).
    oversample : int
        True-peak oversampling factor (4 by default, what BS.1770 asks for;
        see :mod:`layerlab.measure.true_peak`).
    channel_weights : sequence of float, optional
        One weight per channel, overriding the default for the channel count
        (:func:`layerlab.measure.kweighting.channel_weights`, which also maps
        WAVE_FORMAT_EXTENSIBLE channel positions to weights).

    Examples
    --------
    >>> report = Meter(48000).measure(audio)          # doctest: +SKIP
    >>> report.integrated_lufs, report.true_peak_dbtp  # doctest: +SKIP

    Notes
    -----
    Taught in ``lessons/08_measuring_the_mix.ipynb``.
    """

    def __init__(
        self,
        sample_rate: int = SAMPLE_RATE,
        *,
        step_ms: float = 10.0,
        oversample: int = DEFAULT_OVERSAMPLE,
        channel_weights=None,
    ):
        self.sample_rate = check_sample_rate(sample_rate)
        self.step_ms = check_step_ms(step_ms)
        self.oversample = check_oversample(oversample)
        self.channel_weights = None if channel_weights is None else tuple(float(w) for w in channel_weights)

    def __repr__(self) -> str:
        return f"Meter(sample_rate={self.sample_rate}, step_ms={self.step_ms}, oversample={self.oversample})"

    def _weights(self, channels: int) -> np.ndarray:
        return resolve_weights(channels, self.channel_weights)

    def _analysis(self, audio, name="audio"):
        x = validate_audio(audio, name=name)
        return x, analyse(x, self.sample_rate, self._weights(x.shape[1]), self.step_ms)

    def _report(self, an: LoudnessAnalysis, peaks: TruePeakMeter, channels: int, problems=()) -> LoudnessReport:
        momentary = an.series("momentary")
        short_term = an.series("short_term")
        sample_peak, true_peak = peaks.finish()
        duration = an.plan.n / self.sample_rate
        return LoudnessReport(
            integrated_lufs=an.integrated(),
            true_peak_dbtp=db_from_peak(true_peak),
            sample_peak_dbfs=db_from_peak(sample_peak),
            lra_lu=an.lra(),
            max_momentary_lufs=momentary.max_lufs,
            max_short_term_lufs=short_term.max_lufs,
            sample_rate=self.sample_rate,
            channels=int(channels),
            duration_s=duration,
            momentary=momentary,
            short_term=short_term,
            whole_clip=an.whole_clip,
            lra_stable=duration >= LRA_STABLE_AFTER_S,
            problems=tuple(problems),
        )

    def measure(self, audio, *, name: str = "audio") -> LoudnessReport:
        """Measure everything at once.

        Parameters
        ----------
        audio : np.ndarray, shape (n_samples, n_channels)
            1 to 6 channels at ``self.sample_rate``.
        name : str
            What to call the audio in error messages.

        Returns
        -------
        LoudnessReport

        Raises
        ------
        AudioError
            Empty, NaN or badly shaped audio.
        ParameterError
            Unsupported channel count or weights.
        """
        x, an = self._analysis(audio, name=name)
        peaks = TruePeakMeter(x.shape[1], self.oversample)
        peaks.add(x)
        return self._report(an, peaks, x.shape[1])

    def measure_blocks(self, blocks, *, n_samples: int, channels: int, name: str = "audio", problems=()) -> LoudnessReport:
        """Measure audio that arrives in blocks, in memory bounded by the block size.

        Parameters
        ----------
        blocks : iterable of np.ndarray, each shape (samples, channels)
            Consecutive blocks; their lengths must add up to ``n_samples``.
        n_samples : int
            Total length (the window plan is made before the first block).
        channels : int
        name : str
            What to call the audio in error messages.
        problems : sequence of str
            Carried into :attr:`LoudnessReport.problems`.

        Returns
        -------
        LoudnessReport

        Raises
        ------
        AudioError
            A block holds NaN or infinite samples, or the blocks do not add up to ``n_samples``.
        """
        an = LoudnessAnalysis(int(n_samples), self.sample_rate, self._weights(int(channels)), self.step_ms)
        peaks = TruePeakMeter(int(channels), self.oversample)
        seen = 0
        for block in blocks:
            if block.shape[0] == 0:
                continue
            if not math.isfinite(peaks.add(block)):
                raise AudioError(
                    f"{name}: holds NaN or infinite samples (in the block starting at {seen / self.sample_rate:.3f} s); "
                    "export it again from the step that produced it."
                )
            an.feed(block)
            seen += block.shape[0]
        if seen != n_samples:
            raise AudioError(f"{name}: {seen} samples were read, {n_samples} were announced.")
        return self._report(an, peaks, channels, problems)

    def integrated(self, audio) -> float:
        """Gated integrated loudness in LUFS (``-inf`` if nothing passes the gates)."""
        return self._analysis(audio)[1].integrated()


def measure_file(
    path, *, step_ms: float = 10.0, oversample: int = DEFAULT_OVERSAMPLE, channel_weights=None
) -> LoudnessReport:
    """Read an audio file at its own rate, block by block, and measure it.

    Parameters
    ----------
    path : str or Path
        WAV, FLAC or OGG (streamed through libsndfile), or MP3 or a video file
        (decoded whole through ffmpeg; its first audio track is measured).
    step_ms, oversample, channel_weights
        As for :class:`Meter`. Without ``channel_weights``, a multichannel file whose
        WAVE_FORMAT_EXTENSIBLE channel mask names every channel is weighted by those positions
        (front 1.0, surrounds 1.41, LFE left out; :func:`layerlab.io.audio.wav_layout`), otherwise
        by its channel count; a mono file follows the dual-mono policy.

    Returns
    -------
    LoudnessReport
        ``problems`` names a WAV cut short (its header announces more audio
        than the file holds); what is there is measured.

    Raises
    ------
    AudioError
        If the file is missing, empty, not audio or holds NaN samples.
    ParameterError
        If its sample rate or channel count cannot be measured.

    Notes
    -----
    Memory holds one block of ``2 ** 16`` samples and the per-step series, not
    the programme. Taught in ``lessons/08_measuring_the_mix.ipynb``.
    """
    import soundfile as sf

    from layerlab.io.audio import read_audio

    p = Path(path)
    try:
        handle = sf.SoundFile(str(p)) if p.is_file() and p.stat().st_size > 0 else None
    except Exception:  # not a libsndfile format: decode it whole (ffmpeg) below
        handle = None
    if handle is None:
        f = read_audio(p)
        weights = channel_weights or _weights_from_positions(f.channels, f.channel_positions)
        meter = _file_meter(f.path, f.sample_rate, f.channels, step_ms, oversample, weights)
        return meter.measure(f.samples, name=str(f.path))
    with handle:
        weights = channel_weights
        if weights is None and handle.format in ("WAV", "WAVEX", "RF64"):
            from layerlab.io.audio import wav_layout

            weights = _weights_from_positions(handle.channels, wav_layout(p).positions)
        meter = _file_meter(p, handle.samplerate, handle.channels, step_ms, oversample, weights)
        frames = _readable_frames(handle)
        if frames == 0:
            raise AudioError(f"{p}: holds no samples. Export it again.")
        problems = _file_problems(p, handle, frames)
        handle.seek(0)
        blocks = handle.blocks(blocksize=PROCESS_BLOCK, dtype="float32", always_2d=True, frames=frames)
        return meter.measure_blocks(blocks, n_samples=frames, channels=handle.channels, name=str(p), problems=problems)


def _weights_from_positions(channels: int, positions) -> tuple | None:
    """BS.1770 weights from the positions a file's channel mask names (None: no complete mask, use the count)."""
    from layerlab.measure.kweighting import channel_weights as weights_for

    positions = tuple(positions or ())
    if channels < 2 or len(positions) != channels or not all(positions):
        return None
    return weights_for(channels, positions=positions)


def _file_meter(path, rate, channels, step_ms, oversample, weights) -> Meter:
    try:
        meter = Meter(rate, step_ms=step_ms, oversample=oversample, channel_weights=weights)
        meter._weights(int(channels))
    except ParameterError as exc:
        raise ParameterError(f"{path}: {exc}") from None
    return meter


def _readable_frames(handle) -> int:
    """Frames libsndfile can actually deliver (a cut-short file can announce more)."""
    frames = int(handle.frames)
    if frames <= 0:
        return 0
    try:
        handle.seek(frames - 1)
        if handle.read(1, dtype="float32", always_2d=True).shape[0] == 1:
            return frames
    except Exception:
        pass
    handle.seek(0)
    n = 0
    for block in handle.blocks(blocksize=PROCESS_BLOCK, dtype="float32", always_2d=True):
        n += block.shape[0]
    return n


def _file_problems(path: Path, handle, frames: int) -> list[str]:
    from layerlab.io.deliverable import wav_data_shortfall

    short = wav_data_shortfall(path) if handle.format in ("WAV", "WAVEX") else 0
    if short or frames < int(handle.frames):
        missing = max(short // max(1, handle.channels * _bytes_per_sample(handle.subtype)), int(handle.frames) - frames)
        return [
            f"{path}: is cut short: its header announces {missing} more samples per channel than the file holds "
            f"(about {missing / handle.samplerate:.3f} s missing); only the {frames / handle.samplerate:.3f} s that "
            "are there were measured. Copy or export the file again."
        ]
    return []


def _bytes_per_sample(subtype: str) -> int:
    return {"PCM_16": 2, "PCM_24": 3, "PCM_32": 4, "FLOAT": 4, "DOUBLE": 8, "PCM_U8": 1, "PCM_S8": 1}.get(subtype, 2)
