"""What the audit found: visual events, audio onsets, their offsets, and the report.

Taught in ``labs/lab1_audit/lab1_audit.ipynb``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from layerlab.measure.loudness import WHOLE_CLIP_NOTE
from layerlab.measure.sync import EBU_R37, SyncWindow

__all__ = ["VisualEvent", "AudioOnset", "EventOffset", "AuditReport", "clean_json"]


@dataclass
class VisualEvent:
    """A burst of change in part of the picture.

    Attributes
    ----------
    time_s : float
        Presentation time of the first frame of the burst (the frame's pts).
    frame : int
        That frame's index (0-based, in decoding order).
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
    """A sound onset found in the (mixed) audio.

    Attributes
    ----------
    time_s : float
        Where the sound starts rising out of what was before it.
    strength : float
        How far the level rises at the onset, in dB (50 ms after against 50 ms before).
    """

    time_s: float
    strength: float


@dataclass
class EventOffset:
    """A visual event and the audio onset paired with it.

    Attributes
    ----------
    event_time_s : float
    frame : int
    onset_time_s : float or None
        None when no onset lies inside the pairing window: the event has no sound.
    offset_ms : float or None
        Sound minus picture (positive: the sound is late).
    in_window : bool or None
        The offset is inside the sync window (EBU R37: -40..+60 ms); None when missing.
    """

    event_time_s: float
    frame: int
    onset_time_s: float | None
    offset_ms: float | None
    in_window: bool | None = None

    @property
    def missing(self) -> bool:
        """No sound was paired with the event."""
        return self.onset_time_s is None


def clean_json(v):
    """Make a value JSON-safe: numpy scalars to Python, non-finite floats to None."""
    if isinstance(v, dict):
        return {k: clean_json(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [clean_json(x) for x in v]
    if isinstance(v, (np.bool_, bool)):
        return bool(v)
    if isinstance(v, (np.floating, float)):
        f = float(v)
        return f if math.isfinite(f) else None
    if isinstance(v, np.integer):
        return int(v)
    return v


@dataclass
class AuditReport:
    """What :func:`layerlab.audit.audit_clip` measured.

    Attributes
    ----------
    path : str
    duration_s : float
    integrated_lufs, true_peak_dbtp : float
    target_lufs, max_true_peak_dbtp : float
        The delivery target compared against.
    band_low_hz, band_high_hz : float
        Edges of the occupied band of the foreground (what rises over the quiet
        frames): where 1% and 99% of its energy lie below. With the cue sheet's
        lines (``band_of_voice``), the voice's: the lines' spectrum minus the beds'
        between them (:func:`layerlab.audit.sound.dialogue_band`).
    band_of_voice : bool
        True when the band was measured on the cued lines against the beds.
    noise_floor_dbfs, snr_db : float
        Level of the quiet frames, and the active frames' level over it.
    fps : float or None
        The container's nominal frame rate (frame times are the real pts).
    variable_frame_rate : bool
    audio_start_s : float
        Where the audio stream starts on the picture's clock (0 for most clips).
    band_low_cliff_hz, band_high_cliff_hz : float or None
        Edges where the spectrum falls off a cliff (:func:`layerlab.audit.sound.band_cliffs`);
        None where it rolls off naturally. Either one makes the clip ``band_limited``.
    dropouts : list of dict
        ``start_s``, ``end_s``, ``depth_db``, ``band_hz`` of each stretch of 1 s or
        more where the ambience bed falls 10 dB or more under its usual level
        (:func:`layerlab.audit.sound.bed_dropouts`).
    visual_events : list of VisualEvent
    onsets : list of AudioOnset
    offsets : list of EventOffset
        One per visual event.
    sync_window : SyncWindow
        The window offsets are flagged against (EBU R37).
    whole_clip : bool
        The clip is shorter than one 400 ms block: its loudness is the whole clip's, measured as one block (the
        flag of ``layerlab measure``, :attr:`layerlab.measure.loudness.LoudnessAnalysis.whole_clip`).
    silent : bool
        Digital silence: no sound to pair with the picture events, so no offsets (no sync verdict).
    steady : bool
        A steady track (noise, hum, a held tone): no 20 ms frame rises 6 dB over the floor
        (:func:`layerlab.audit.sound.has_distinct_sounds`) and no audio onset was found; no offsets, and no
        voice band from the cued lines.
    band_unjudged : str
        Why no band-limit verdict was made ("" when one was): a clip too short for the band spectrum, or too
        little spectral spread (a few pure tones).
    voice_unjudged : str
        Why the cued lines gave no voice band ("" when they did, or none were given).
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
    variable_frame_rate: bool = False
    audio_start_s: float = 0.0
    band_low_cliff_hz: float | None = None
    band_high_cliff_hz: float | None = None
    band_of_voice: bool = False
    dropouts: list = field(default_factory=list)
    visual_events: list = field(default_factory=list)
    onsets: list = field(default_factory=list)
    offsets: list = field(default_factory=list)
    sync_window: SyncWindow = EBU_R37
    whole_clip: bool = False
    silent: bool = False
    steady: bool = False
    band_unjudged: str = ""
    voice_unjudged: str = ""

    @property
    def sync_judged(self) -> bool:
        """False when the track has no sound (silence) or no distinct sound (steady): then no offsets."""
        return not (self.silent or self.steady)

    @property
    def band_limited(self) -> bool:
        """True when the spectrum has a band edge (a cliff), as telephone-like dialogue does."""
        return self.band_low_cliff_hz is not None or self.band_high_cliff_hz is not None

    @property
    def loudness_error_lu(self) -> float:
        """Integrated loudness minus the target (positive: too loud)."""
        return self.integrated_lufs - self.target_lufs

    def to_dict(self) -> dict:
        """JSON-ready dictionary of every field, plus ``loudness_error_lu``, ``band_limited`` and ``sync_judged``."""
        d = asdict(self)
        d["sync_window"] = self.sync_window.describe()
        d["loudness_error_lu"] = self.loudness_error_lu
        d["band_limited"] = self.band_limited
        d["sync_judged"] = self.sync_judged
        return clean_json(d)

    def to_text(self) -> str:
        """A plain-text report, one line per measurement and per visual event."""
        band_limited = self.band_limited
        if math.isfinite(self.integrated_lufs):
            loudness = (f"{self.integrated_lufs:6.1f} LUFS (target {self.target_lufs:g}; "
                        f"{self.loudness_error_lu:+.1f} LU)") + (f" ({WHOLE_CLIP_NOTE})" if self.whole_clip else "")
        else:
            loudness = f"   n/a (nothing above BS.1770's -70 LUFS gate; target {self.target_lufs:g} LUFS)"
        if math.isfinite(self.true_peak_dbtp):
            peak = f"{self.true_peak_dbtp:6.1f} dBTP (ceiling {self.max_true_peak_dbtp:g})"
        else:
            peak = f"   n/a (digital silence; ceiling {self.max_true_peak_dbtp:g} dBTP)"
        if math.isfinite(self.band_low_hz) and math.isfinite(self.band_high_hz):
            side = " and ".join(n for n, v in (("low", self.band_low_cliff_hz), ("high", self.band_high_cliff_hz))
                                if v is not None)
            band = f"{self.band_low_hz:.0f}-{self.band_high_hz:.0f} Hz" + (
                " (the voice: cued lines minus the beds between them" + (
                    ")" if band_limited else "; no cliff: where it ends it sinks under the beds)")
                if self.band_of_voice else "") + (
                f"  <- band-limited (telephone-like?): the spectrum falls off a cliff at its {side} edge"
                if band_limited else "") + (
                f" (no band-limit verdict: {self.band_unjudged})" if self.band_unjudged else "") + (
                f" (no voice band from the cued lines: {self.voice_unjudged})" if self.voice_unjudged else "")
        else:
            band = "n/a (no sound)"
        # the dB conversion floors silence at -200 dBFS (layerlab.measure.envelopes): not a level to print
        if math.isfinite(self.noise_floor_dbfs) and self.noise_floor_dbfs > -199.0:
            noise = f"floor {self.noise_floor_dbfs:.1f} dBFS, signal-to-noise " + (
                f"{self.snr_db:.1f} dB" if math.isfinite(self.snr_db) else "n/a")
        else:
            noise = "n/a (digital silence)"
        lines = [f"Audit of {Path(self.path).name} ({self.duration_s:.1f} s)",
                 f"  loudness   {loudness}",
                 f"  true peak  {peak}",
                 f"  band       {band}",
                 f"  noise      {noise}"]
        if self.steady:
            lines.append("  sound      steady throughout, no distinct sounds: no 20 ms frame rises 6 dB over the floor "
                         "and no onset (noise, hum or a held tone)")
        for d in self.dropouts:
            where = f" (octave at {d['band_hz']:g} Hz)" if d.get("band_hz") else ""
            lines.append(f"  dropout    {d['start_s']:.2f}-{d['end_s']:.2f} s: the ambience bed falls "
                         f"{d['depth_db'] if d['depth_db'] is not None else 'all the way'} dB{where} under its usual level")
        if self.fps:
            rate = f"{self.fps:g} fps" + (" (variable frame rate: real frame times used)" if self.variable_frame_rate else "")
            lines.append(f"  picture    {rate}, {len(self.visual_events)} visual events, {len(self.onsets)} audio onsets")
            if self.audio_start_s:
                lines.append(f"  audio      stream starts at {self.audio_start_s:.3f} s; aligned to the picture")
        w = self.sync_window
        if self.fps and not self.visual_events:
            lines.append("  sync       no verdict: no picture events (nothing in the picture changes abruptly) to check "
                         "the sound against")
        elif not self.sync_judged:
            why = "no sound" if self.silent else "no distinct sounds"
            lines.append(f"  sync       no verdict: {why} to pair with the {len(self.visual_events)} picture events")
        for o in self.offsets:
            if o.missing:
                lines.append(f"    event at {o.event_time_s:6.3f} s (frame {o.frame}): no sound found near it")
            else:
                flag = "" if o.in_window else f"  <- outside {w.name} (-{w.early_ms:g}..+{w.late_ms:g} ms)"
                lines.append(f"    event at {o.event_time_s:6.3f} s (frame {o.frame}): sound at {o.onset_time_s:6.3f} s, "
                             f"offset {o.offset_ms:+.0f} ms{flag}")
        return "\n".join(lines)

    def plot(self, ax=None):
        """Timeline of visual events and audio onsets with their offsets.

        Events out of the sync window are marked with a cross and their offset
        in bold, not by colour alone. Returns the figure.
        """
        import matplotlib.pyplot as plt

        if ax is None:
            fig, ax = plt.subplots(figsize=(9, 2.6))
        else:
            fig = ax.figure
        for ev in self.visual_events:
            ax.axvline(ev.time_s, color="#0072b2", lw=1.5)
        if self.onsets:
            t = [o.time_s for o in self.onsets]
            ax.vlines(t, 0, [o.strength for o in self.onsets], color="#e69f00", lw=1)
        for o in self.offsets:
            if o.missing:
                ax.annotate("no sound", (o.event_time_s, 1.02), xycoords=("data", "axes fraction"), fontsize=7,
                            ha="center", fontweight="bold")
            else:
                ax.annotate(f"{o.offset_ms:+.0f} ms" + ("" if o.in_window else " ✗"), (o.event_time_s, 1.02),
                            xycoords=("data", "axes fraction"), fontsize=7, ha="center",
                            fontweight="normal" if o.in_window else "bold")
        ax.set_xlim(0, self.duration_s)
        ax.set_xlabel("time (s)")
        ax.set_ylabel("onset rise (dB)")
        ax.set_title("visual events (blue lines) and audio onsets (orange); ✗ = outside "
                     f"{self.sync_window.describe()}", fontsize=9)
        return fig
