"""Audit any clip's native audio: levels, band limits, noise, and sound-to-picture offsets.

:func:`audit_clip` takes an MP4 from any video model (or a scene's
``native.mp4``) and measures what lab 1 asks a learner to document:

- integrated loudness and true peak against a delivery target;
- the occupied band of the foreground (telephone-like dialogue shows as
  energy only from ~300 Hz to ~3.4 kHz), from a fine spectrum and an
  energy-percentile rule; given the cue sheet's lines (``dialogue_lines_s``,
  ``layerlab audit --cues cues.json``), the voice's own band: the spectrum
  during the lines minus the beds' between them;
- the noise floor (the quiet frames) and the active frames' level over it;
- dropouts: stretches of at least 1 s where the ambience bed (measured between the other sounds,
  octave by octave) falls 10 dB or more under its usual level;
- visual events found by frame differencing of the decoded frames, placed at
  their real presentation times (variable frame rates, late streams), and
  audio onsets (``librosa.onset`` with backtracking), paired one to one by an
  optimal assignment so each visual event gets an offset (positive: the sound
  is late), flagged against EBU R37.

It refuses what it cannot judge, and says why: no sync verdict on a silent or
steady track (noise, hum, a held tone: nothing rises 6 dB over the floor),
no voice band from cued lines on a steady track, no band-limit verdict on a
clip shorter than the band spectrum's segment (0.34 s) or on a few pure tones
(too little spectral spread); a clip under one 400 ms block carries
``layerlab measure``'s whole-clip flag. A cue sheet that is not the clip's
(another length, lines past its end) is refused (:mod:`~layerlab.audit.cues`).

The package: :mod:`~layerlab.audit.report` (results), :mod:`~layerlab.audit.picture`,
:mod:`~layerlab.audit.sound`, :mod:`~layerlab.audit.pairing`, :mod:`~layerlab.audit.cues`; decoding is
:mod:`layerlab.io.video`.

Everything here is an estimate made without a cue sheet; on the kit's own
scenes the cue sheet holds the true values to compare with.

Taught in ``labs/lab1_audit/lab1_audit.ipynb`` (the lesson-06 exercise, "audit a native render").
"""

from __future__ import annotations

import contextlib
import io
import warnings
from pathlib import Path

import numpy as np

from layerlab.errors import AudioError, InputError, LayerLabError
from layerlab.io.audio import SAMPLE_RATE, load_audio, validate_audio
from layerlab.io.video import VIDEO_SUFFIXES, audio_start_s, read_clip_audio, read_video
from layerlab.measure.sync import EBU_R37, get_sync_window
from layerlab.audit.pairing import pair_events
from layerlab.audit.picture import detect_visual_events, read_video_frames
from layerlab.audit.report import AudioOnset, AuditReport, EventOffset, VisualEvent
from layerlab.audit.cues import CueLines, read_cue_lines
from layerlab.audit.sound import (BAND_SEGMENT, LINE_RISE_DB, MIN_SPREAD_BANDS, SPREAD_RANGE_DB, band_cliffs, band_limits, bed_dropouts,
                                  detect_audio_onsets, dialogue_band, foreground_band_limits, has_distinct_sounds,
                                  noise_floor, spectral_spread_bands)

__all__ = ["VisualEvent", "AudioOnset", "EventOffset", "AuditReport", "audit_clip", "audit_audio",
           "detect_visual_events", "detect_audio_onsets", "band_limits", "band_cliffs", "bed_dropouts", "dialogue_band", "foreground_band_limits", "noise_floor",
           "has_distinct_sounds", "spectral_spread_bands", "pair_events", "read_video_frames", "CueLines", "read_cue_lines"]


MIN_SAMPLES = 4096
"""The shortest audio the audit measures (85 ms at 48 kHz): one spectrum frame of its band and onset measures."""


def audit_audio(audio, *, sample_rate: int = SAMPLE_RATE, target: str = "streaming", path: str = "",
                dialogue_lines_s=None) -> AuditReport:
    """Audit an audio array (no picture): loudness, true peak, band limits, noise, onsets.

    Parameters
    ----------
    audio : np.ndarray, shape (n_samples, n_channels)
    sample_rate : int
    target : str
        Delivery profile (``layerlab.measure.targets.get_profile``).
    path : str
        Where the audio came from, for the report.
    dialogue_lines_s : sequence of (float, float), optional
        The lines' (start_s, end_s) from a cue sheet: the band is then the voice's
        (:func:`~layerlab.audit.sound.dialogue_band`: the lines' spectrum minus the beds' between them),
        and a cliff in it also makes the clip band-limited. Without it, the band of whatever rises
        over the quiet frames.

    Returns
    -------
    AuditReport

    Raises
    ------
    InputError
        Audio that is not finite, or shorter than :data:`MIN_SAMPLES` (85 ms at 48 kHz), in one line naming
        ``path``.

    Notes
    -----
    What cannot be judged is not: a clip under one 400 ms block carries the meter's whole-clip flag
    (``whole_clip``, the analysis ``layerlab measure`` uses); digital silence is ``silent``; a track with no
    frame 6 dB over its floor and no onset is ``steady`` (:func:`~layerlab.audit.sound.has_distinct_sounds`) and
    gives no voice band from cued lines, nor do lines that hold nothing
    :data:`~layerlab.audit.sound.LINE_RISE_DB` over the bed (``voice_unjudged`` says why); a clip shorter than one band-spectrum segment
    (:data:`~layerlab.audit.sound.BAND_SEGMENT`, 0.34 s) or with too little spectral spread
    (:func:`~layerlab.audit.sound.spectral_spread_bands`: a few pure tones) gets no band-limit verdict, and
    ``band_unjudged`` says why.
    """
    from layerlab.measure.loudness import analyse, true_peak_dbtp
    from layerlab.measure.targets import get_profile

    x = validate_audio(audio, name=path or "audio")
    if x.shape[0] < MIN_SAMPLES:  # the band, onset and spectrum measures all need one 4096-point frame
        raise InputError(f"{path or 'audio'}: {x.shape[0] / sample_rate * 1000:.0f} ms of audio, too short to audit "
                         f"(it needs at least {MIN_SAMPLES} samples: {MIN_SAMPLES / sample_rate * 1000:.0f} ms); "
                         "give the whole clip.")
    prof = get_profile(target)
    silent = not bool(np.any(x))
    with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")
        meter = analyse(x, int(sample_rate))  # the meter's own analysis: its loudness and its whole-clip flag
        lufs, whole_clip = float(meter.integrated()), bool(meter.whole_clip)
        tp = float(true_peak_dbtp(x, sample_rate=sample_rate))
        onsets, _, _ = detect_audio_onsets(x, sample_rate=sample_rate)
        nf, snr = noise_floor(x, sample_rate=sample_rate)
        # steady: no frame stands 6 dB out of the floor (has_distinct_sounds: the floor's signal-to-noise is then 0)
        # and no onset rises 6 dB in any band the onset detector watches (a limited music bed's hi-hats may rise
        # only over 1 kHz): nothing to pair a picture event with
        steady = not silent and not onsets and snr == 0.0
        lo, hi = foreground_band_limits(x, sample_rate=sample_rate)
        lo_cliff, hi_cliff = band_cliffs(x, sample_rate=sample_rate)
        voice, voice_unjudged = False, ""
        if dialogue_lines_s and steady:
            voice_unjudged = "the track is steady, nothing in the lines stands out of the bed"
        elif dialogue_lines_s:
            v_lo, v_hi, v_lo_cliff, v_hi_cliff = dialogue_band(x, lines_s=dialogue_lines_s, sample_rate=sample_rate,
                                                               with_cliffs=True)
            voice = v_lo == v_lo and v_hi == v_hi  # not NaN: the voice was measured
            if not voice:  # else the foreground band would be printed where a voice band was asked for, unexplained
                voice_unjudged = (f"nothing in the cued lines stands over the bed between them by "
                                  f"{LINE_RISE_DB:g} dB or more (or no line is a whole {MIN_SAMPLES / SAMPLE_RATE * 1000:.0f} "
                                  "ms spectrum frame long)")
            if voice:
                lo, hi = v_lo, v_hi
                lo_cliff = lo_cliff if v_lo_cliff is None else v_lo_cliff
                hi_cliff = hi_cliff if v_hi_cliff is None else v_hi_cliff
        band_unjudged = ""
        if not silent and x.shape[0] < BAND_SEGMENT:
            band_unjudged = (f"too short to judge ({x.shape[0] / sample_rate:.2f} s; the band spectrum needs "
                             f"{BAND_SEGMENT / sample_rate:.2f} s)")
        elif not silent:
            spread = spectral_spread_bands(x, sample_rate=sample_rate)
            if spread < MIN_SPREAD_BANDS:
                band_unjudged = (f"too little spectral spread ({spread} 1/12-octave bands within "
                                 f"{SPREAD_RANGE_DB:g} dB of the loudest, under an octave's {MIN_SPREAD_BANDS}): "
                                 "a few pure tones have no band to judge")
        if band_unjudged:
            lo_cliff = hi_cliff = None
        dropouts = bed_dropouts(x, sample_rate=sample_rate)
    return AuditReport(path=str(path), duration_s=x.shape[0] / sample_rate, integrated_lufs=lufs, true_peak_dbtp=tp,
                       target_lufs=float(prof.target_lufs), max_true_peak_dbtp=float(prof.max_true_peak_dbtp),
                       band_low_hz=lo, band_high_hz=hi, noise_floor_dbfs=nf, snr_db=snr, onsets=onsets,
                       dropouts=dropouts, band_low_cliff_hz=lo_cliff, band_high_cliff_hz=hi_cliff, band_of_voice=voice,
                       whole_clip=whole_clip, silent=silent, steady=steady, band_unjudged=band_unjudged,
                       voice_unjudged=voice_unjudged)


def audit_clip(path, *, target: str = "streaming", min_event_strength: float = 45.0, sync_window=EBU_R37,
               dialogue_lines_s=None, cues: CueLines | None = None) -> AuditReport:
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
    sync_window : SyncWindow or str
        Window the offsets are flagged against (EBU R37: -40..+60 ms).
    dialogue_lines_s : sequence of (float, float), optional
        The cue sheet's lines (start_s, end_s): the band reported is the voice's (see :func:`audit_audio`).
    cues : CueLines, optional
        A cue sheet read with :func:`~layerlab.audit.cues.read_cue_lines` (instead of ``dialogue_lines_s``):
        its lines are used once it is known to fit the clip (:meth:`CueLines.check_fits`).

    Returns
    -------
    AuditReport

    Raises
    ------
    AudioError
        The file is missing, is a folder, has no audio track, or cannot be decoded.
    InputError
        ``cues`` that are not this clip's (another length, or lines past its end); audio under 85 ms.

    Notes
    -----
    With no sound (digital silence) or no distinct sound (a steady track, see
    :func:`~layerlab.audit.sound.has_distinct_sounds`) there is nothing to pair the picture events with:
    no offsets, and the report says why (``sync_judged`` is False).
    Picture and sound are put on one clock: frames carry their presentation
    times and the audio is padded to the picture's time 0 when its stream
    starts later (:mod:`layerlab.io.video`).
    Taught in ``labs/lab1_audit/lab1_audit.ipynb`` ("audit your own clip").
    """
    path = Path(path)
    if path.is_dir():  # a folder named take1.mp4 exists: "no such video file" would send the learner looking for it
        raise AudioError(f"{path}: is a folder, not a clip; pass the video or audio file inside it.")
    window = get_sync_window(sync_window)
    if path.suffix.lower() not in VIDEO_SUFFIXES:
        audio = load_audio(path, sample_rate=SAMPLE_RATE, resample=True)
        dialogue_lines_s = _fitting_lines(cues, audio, dialogue_lines_s)
        report = audit_audio(audio, target=target, path=str(path), dialogue_lines_s=dialogue_lines_s)
        report.sync_window = window
        return report
    audio = read_clip_audio(path, sample_rate=SAMPLE_RATE)
    dialogue_lines_s = _fitting_lines(cues, audio, dialogue_lines_s)
    report = audit_audio(audio, target=target, path=str(path), dialogue_lines_s=dialogue_lines_s)
    del audio  # the sound is measured before the picture is decoded: a 10-minute clip's frames take 1 GB
    video = read_video(path)
    report.audio_start_s = audio_start_s(path)
    events = detect_visual_events(video.frames, fps=video.nominal_fps, times_s=video.times_s,
                                  source_size=video.source_size, min_strength=min_event_strength)
    report.fps = video.nominal_fps
    report.variable_frame_rate = video.variable_rate
    report.visual_events = events
    report.sync_window = window
    report.offsets = pair_events(events, report.onsets, window=window) if report.sync_judged else []
    return report


def _fitting_lines(cues, audio, dialogue_lines_s):
    """The cue sheet's line spans once it is known to fit the clip (else ``dialogue_lines_s``)."""
    if cues is None:
        return dialogue_lines_s
    cues.check_fits(audio.shape[0] / SAMPLE_RATE)
    return cues.spans_s


# ------------------------------------------------------------------------------ command line


def configure(parser) -> None:
    """Arguments of ``layerlab audit``."""
    parser.add_argument("clip", help="an MP4 (or other video) with an audio track, or an audio file")
    parser.add_argument("--target", default="streaming", help="delivery profile to compare the loudness with")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--cues", metavar="CUES_JSON", help="a cue sheet (cues.json): its dialogue lines' start_s/end_s "
                       "give the voice's band (the lines' spectrum minus the beds' between them); "
                       "default: the cues.json beside the clip, if there is one (a kit scene's native.mp4). "
                       "A cue sheet of another length, or with lines past the clip's end, is refused")
    which.add_argument("--no-cues", action="store_true", help="ignore a cues.json beside the clip")


def run(args) -> int:
    """``layerlab audit``: print the report; exit 0, or 2 with one line when the clip or the cue sheet cannot be used.

    A report with no verdict (no sound, or a steady track, under the picture events) exits 0 like any report.
    A cues.json beside the clip that cannot be read is not used, with one warning line on stderr.
    """
    import json
    import sys

    try:
        cues = None
        if getattr(args, "cues", None):
            cues = read_cue_lines(args.cues)
        elif not getattr(args, "no_cues", False):
            beside = Path(args.clip).parent / "cues.json"  # a kit scene's native.mp4 sits beside its cue sheet
            if beside.is_file():
                try:
                    cues = read_cue_lines(beside, fix="the cue sheet beside the clip was not used (fix it, or pass "
                                          "the right one with --cues).")
                except LayerLabError as exc:
                    print(f"layerlab audit: warning: {exc}", file=sys.stderr)
        if sys.stderr.isatty() and Path(args.clip).is_file():
            from layerlab.audit.sound import onset_detector_cached

            if not onset_detector_cached():  # else 20-35 s without a word, once per environment
                print("layerlab audit: the first audit compiles the onset detector (numba; kept for later runs): "
                      "about half a minute", file=sys.stderr, flush=True)
        report = audit_clip(args.clip, target=args.target, cues=cues)
    except LayerLabError as exc:
        print(f"layerlab audit: error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(report.to_dict(), indent=2) if args.json else report.to_text())
    return 0
