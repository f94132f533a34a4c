"""What one update of the lesson-07 mixer shows: the readout and the views (results only, no DSP).

:class:`MixReadout` holds the figures next to their targets (and renders them as
an HTML table); :class:`MixView` holds everything one update produced.
Both are filled by :class:`layerlab.course.mix_analysis.MixAnalysis`.

Taught in ``lessons/07_four_layers.ipynb``.
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass, field

import numpy as np

from layerlab.io.audio import SAMPLE_RATE

__all__ = ["TORCOLI_MUSIC_LU", "TORCOLI_AMBIENCE_LU", "MixReadout", "MixView"]

TORCOLI_MUSIC_LU = 10.0
TORCOLI_AMBIENCE_LU = 15.0
"""How far above music and ambience listeners want the dialogue (Torcoli et al., JAES 2019)."""
AUDIBILITY_MIN = 0.75
"""The band audibility index the readout marks as passing (the band check's ``BAND_AUDIBILITY_MIN``)."""
PASS_COLOUR = "#0072B2"
"""Okabe-Ito blue (5.2:1 on white)."""
FAIL_COLOUR = "#B34700"
"""Okabe-Ito vermillion (#D55E00) darkened to 5.5:1 on white, for small text (WCAG 2.1 AA asks 4.5:1)."""

# ----------------------------------------------------------------------------- results


@dataclass
class MixReadout:
    """The numbers the mixer shows for the current settings.

    Attributes
    ----------
    integrated_lufs, true_peak_dbtp, max_momentary_lufs, max_short_term_lufs : float
        Of the preview mix (before the master section).
    target : DeliveryProfile
        The chosen delivery target.
    master_gain_db : float
        The static gain the master will apply on export to reach the target
        (``nan`` for a silent mix).
    dialogue_over_music_lu, dialogue_over_ambience_lu : float
        Loudness of the dialogue over each bed while someone speaks
        (``nan`` without speech, ``inf`` when the bed is silent).
    audibility_index : float
        SII-style band audibility of the dialogue over the rest, 0..1.
    sfx_worst_offset_ms : float or None
        The SFX sync offset furthest from zero (positive = late), when cues are known.
    sfx_sync_passed : bool or None
    mastered : bool
        False for the preview.

    Notes
    -----
    Taught in ``lessons/07_four_layers.ipynb``; every number is explained in
    ``lessons/08_measuring_the_mix.ipynb``.
    """

    integrated_lufs: float
    true_peak_dbtp: float
    max_momentary_lufs: float
    max_short_term_lufs: float
    target: object
    master_gain_db: float
    dialogue_over_music_lu: float
    dialogue_over_ambience_lu: float
    audibility_index: float
    sfx_worst_offset_ms: float | None = None
    sfx_sync_passed: bool | None = None
    mastered: bool = False

    def to_dict(self) -> dict:
        """JSON-ready figures (``None`` for values that do not exist)."""
        out = {}
        for k in ("integrated_lufs", "true_peak_dbtp", "max_momentary_lufs", "max_short_term_lufs", "master_gain_db",
                  "dialogue_over_music_lu", "dialogue_over_ambience_lu", "audibility_index", "sfx_worst_offset_ms"):
            v = getattr(self, k)
            out[k] = None if v is None or not math.isfinite(v) else round(float(v), 3)
        out["target"] = getattr(self.target, "name", str(self.target))
        out["sfx_sync_passed"] = self.sfx_sync_passed
        out["mastered"] = self.mastered
        return out

    def to_text(self) -> str:
        """The readout as plain text lines; a figure with a pass condition ends in ``PASS`` or ``FAIL``."""
        t = self.target
        ok_tp = self._true_peak_ok()
        lines = [
            f"Integrated {_f(self.integrated_lufs, 'LUFS')} (target {t.describe()})",
            f"True peak {_f(self.true_peak_dbtp, 'dBTP')} (max {t.max_true_peak_dbtp:g}){_verdict(ok_tp)}",
            f"Max momentary {_f(self.max_momentary_lufs, 'LUFS')}, max short-term {_f(self.max_short_term_lufs, 'LUFS')}",
            f"Master gain to target {_f(self.master_gain_db, 'dB', sign=True)}",
            f"Dialogue over music {_f(self.dialogue_over_music_lu, 'LU')} (want >= {TORCOLI_MUSIC_LU:g})"
            f"{_verdict(_ok(self.dialogue_over_music_lu, TORCOLI_MUSIC_LU))}",
            f"Dialogue over ambience {_f(self.dialogue_over_ambience_lu, 'LU')} (want >= {TORCOLI_AMBIENCE_LU:g})"
            f"{_verdict(_ok(self.dialogue_over_ambience_lu, TORCOLI_AMBIENCE_LU))}",
            f"Dialogue audibility {_f(self.audibility_index, '', digits=2)} (want >= {AUDIBILITY_MIN:g})"
            f"{_verdict(_ok(self.audibility_index, AUDIBILITY_MIN))}",
        ]
        if self.sfx_worst_offset_ms is not None:
            lines.append(f"SFX sync worst offset {self.sfx_worst_offset_ms:+.0f} ms (EBU R37: -40..+60 ms)"
                         f"{_verdict(bool(self.sfx_sync_passed))}")
        return "\n".join(lines)

    def _true_peak_ok(self) -> bool:
        return math.isfinite(self.true_peak_dbtp) and self.true_peak_dbtp <= self.target.max_true_peak_dbtp

    def to_html(self) -> str:
        """The readout as a compact HTML table; a pass is marked ✔ and a fail ✘ (with a ``title``), in a
        colour-blind-safe blue / vermillion pair (Okabe & Ito), so no verdict rests on colour alone."""
        t = self.target

        def row(label, value, ok=None, note=""):
            colour = "" if ok is None else f"color:{PASS_COLOUR if ok else FAIL_COLOUR}"
            mark = "" if ok is None else (" <span title='pass'>✔</span>" if ok else " <span title='fail'>✘</span>")
            return (f"<tr><td style='padding:1px 8px'>{html.escape(label)}</td>"
                    f"<td style='padding:1px 8px;font-family:monospace;{colour}'>{html.escape(value)}{mark}</td>"
                    f"<td style='padding:1px 8px;color:#666'>{html.escape(note)}</td></tr>")

        ok_tp = self._true_peak_ok()
        rows = [
            row("Integrated (preview)", _f(self.integrated_lufs, "LUFS"), None,
                f"target {t.target_lufs:g} ±{t.tolerance_lu:g}; master adds {_f(self.master_gain_db, 'dB', sign=True)}"),
            row("True peak (preview)", _f(self.true_peak_dbtp, "dBTP"), ok_tp, f"max {t.max_true_peak_dbtp:g} dBTP"),
            row("Max momentary", _f(self.max_momentary_lufs, "LUFS")),
            row("Max short-term", _f(self.max_short_term_lufs, "LUFS")),
            row("Dialogue over music", _f(self.dialogue_over_music_lu, "LU"),
                _ok(self.dialogue_over_music_lu, TORCOLI_MUSIC_LU), f"want ≥ {TORCOLI_MUSIC_LU:g} LU"),
            row("Dialogue over ambience", _f(self.dialogue_over_ambience_lu, "LU"),
                _ok(self.dialogue_over_ambience_lu, TORCOLI_AMBIENCE_LU), f"want ≥ {TORCOLI_AMBIENCE_LU:g} LU"),
            row("Dialogue audibility", _f(self.audibility_index, "", digits=2), _ok(self.audibility_index, AUDIBILITY_MIN),
                "0 = masked, 1 = fully audible"),
        ]
        if self.sfx_worst_offset_ms is not None:
            rows.append(row("SFX sync (worst)", f"{self.sfx_worst_offset_ms:+.0f} ms", bool(self.sfx_sync_passed),
                            "EBU R37: -40..+60 ms"))
        return "<table class='layerlab-readout' style='font-size:13px'>" + "".join(rows) + "</table>"


def _verdict(ok) -> str:
    return "" if ok is None else (": PASS" if ok else ": FAIL")


def _ok(value, minimum):
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return bool(value >= minimum)


def _f(value, unit, *, digits=1, sign=False):
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if math.isinf(value):
        return ("+inf" if value > 0 else "-inf") + (f" {unit}" if unit else "")
    s = f"{value:+.{digits}f}" if sign else f"{value:.{digits}f}"
    return f"{s} {unit}".strip()


@dataclass
class MixView:
    """Everything one update of :class:`MixAnalysis` produces.

    Attributes
    ----------
    mix : np.ndarray, shape (n_samples, 2), float32
        The preview mix (no master), equal to ``stack.render(master=False).mix``; summed on first
        access (the readout does not need it), from ``mix_source``.
    mix_source : np.ndarray or callable
        The mix, or a function of no arguments that returns it.
    duck_gain_db : np.ndarray, shape (n_samples,), float32
        The ducking envelope applied to the ducked layers.
    readout : MixReadout
    column_times_s : np.ndarray, shape (n_columns,)
    envelopes : dict of str to np.ndarray, each shape (n_columns,)
        Peak amplitude of each layer per column, after fader, mute/solo and ducking.
    duck_gain : np.ndarray, shape (n_columns,)
        The ducking gain (linear, 1 = untouched) per column.
    momentary_times_s, momentary_lufs : np.ndarray, shape (n_m,)
    short_term_times_s, short_term_lufs : np.ndarray, shape (n_s,)
    masking_map : np.ndarray, shape (18, n_frames)
        Band audibility of the dialogue per frame (NaN where nobody speaks).
    masking_times_s : np.ndarray, shape (n_frames,)
    render : Render
        ``stack.render(master=False)`` (the stems too), computed on first access.

    Notes
    -----
    Taught in ``lessons/07_four_layers.ipynb``.
    """

    mix_source: object
    duck_gain_db: np.ndarray
    readout: MixReadout
    column_times_s: np.ndarray
    envelopes: dict
    duck_gain: np.ndarray
    momentary_times_s: np.ndarray
    momentary_lufs: np.ndarray
    short_term_times_s: np.ndarray
    short_term_lufs: np.ndarray
    masking_map: np.ndarray
    masking_times_s: np.ndarray
    stack: object = field(default=None, repr=False)
    _render: object = field(default=None, repr=False)

    @property
    def mix(self) -> np.ndarray:
        """The preview mix, shape (n_samples, 2), float32 (summed on first access)."""
        if callable(self.mix_source):
            self.mix_source = self.mix_source()
        return self.mix_source

    @property
    def render(self):
        """The full preview render (mix and stems), made on first access from the stack."""
        if self._render is None:
            self._render = self.stack.render(master=False)
        return self._render

    @property
    def duration_s(self) -> float:
        """Length in seconds."""
        return self.mix.shape[0] / (self.stack.sample_rate if self.stack is not None else SAMPLE_RATE)
