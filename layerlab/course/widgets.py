"""The interactive mixer of lesson 07 and the decision-table widget of lesson 06.

Two layers of code:

* :class:`MixAnalysis` - no widgets. It turns a :class:`~layerlab.mix.stack.LayerStack`
  into everything the mixer shows (the preview mix, loudness, true peak,
  dialogue-over-background levels, the masking map, waveform envelopes) and
  does it fast enough to follow a fader. Everything that does not depend on
  the faders is computed once per clip change and cached per layer:
  K-weighted layer signals reduced to 10 ms cross-products, one-third-octave
  band powers, waveform envelopes. A fader move then only re-weights those
  (loudness is a quadratic form in the layer gains), renders the mix from the
  stack's cached clip renders and finds the true peak by a bounded search
  that oversamples only the stretches that could hold the peak.
* :class:`Mixer` - ipywidgets controls (a gain slider, mute and solo per
  layer; ducking depth, threshold, attack and release; the delivery target)
  around an ipympl figure whose artists are updated in place and blitted, an
  HTML readout, a level-true player, a synced video preview and an export
  button. Every change is saved to ``session.json`` beside the notebook and
  restored on the next run.

The preview is rendered without the master section (the faders are heard as
they are); the readout says how far the master will move the level, and the
export renders with it.

Taught in ``lessons/07_four_layers.ipynb`` (the mixer) and
``lessons/06_native_vs_postgen.ipynb`` (the decision table).
"""

from __future__ import annotations

import hashlib
import html
import math
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from layerlab.io.audio import SAMPLE_RATE, ffmpeg_exe, save_audio
from layerlab.mix.ducking import Ducking, db_to_gain
from layerlab.errors import LayerLabError, ParameterError, SessionError
from layerlab.measure.true_peak import interpolation_phases as _tp_phases, refine_peak as _refine_peak
from layerlab.mix.stack import LAYERS, LayerStack

BLOCK_MS = 10.0
"""Resolution of the loudness analysis (EBU Tech 3341 asks for 10 ms or finer)."""

N_FFT = 4096
HOP = 1024
"""STFT of the masking map: the same as :func:`layerlab.measure.masking.band_audibility`."""

TORCOLI_MUSIC_LU = 10.0
TORCOLI_AMBIENCE_LU = 15.0
"""How far above music and ambience listeners want the dialogue (Torcoli et al., JAES 2019)."""

LAYER_COLOURS = {"dialogue": "#1f77b4", "sfx": "#d62728", "ambience": "#2ca02c", "music": "#9467bd"}


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
        """The readout as plain text lines."""
        t = self.target
        lines = [
            f"Integrated {_f(self.integrated_lufs, 'LUFS')} (target {t.describe()})",
            f"True peak {_f(self.true_peak_dbtp, 'dBTP')}",
            f"Max momentary {_f(self.max_momentary_lufs, 'LUFS')}, max short-term {_f(self.max_short_term_lufs, 'LUFS')}",
            f"Master gain to target {_f(self.master_gain_db, 'dB', sign=True)}",
            f"Dialogue over music {_f(self.dialogue_over_music_lu, 'LU')} (want >= {TORCOLI_MUSIC_LU:g})",
            f"Dialogue over ambience {_f(self.dialogue_over_ambience_lu, 'LU')} (want >= {TORCOLI_AMBIENCE_LU:g})",
            f"Dialogue audibility {_f(self.audibility_index, '', digits=2)}",
        ]
        if self.sfx_worst_offset_ms is not None:
            lines.append(f"SFX sync worst offset {self.sfx_worst_offset_ms:+.0f} ms ({'pass' if self.sfx_sync_passed else 'FAIL'})")
        return "\n".join(lines)

    def to_html(self) -> str:
        """The readout as a compact HTML table with pass/fail colours."""
        t = self.target

        def row(label, value, ok=None, note=""):
            colour = "" if ok is None else ("color:#17803d" if ok else "color:#c62828")
            mark = "" if ok is None else (" ✔" if ok else " ✘")
            return (f"<tr><td style='padding:1px 8px'>{html.escape(label)}</td>"
                    f"<td style='padding:1px 8px;font-family:monospace;{colour}'>{html.escape(value)}{mark}</td>"
                    f"<td style='padding:1px 8px;color:#666'>{html.escape(note)}</td></tr>")

        ok_tp = math.isfinite(self.true_peak_dbtp) and self.true_peak_dbtp <= t.max_true_peak_dbtp
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
            row("Dialogue audibility", _f(self.audibility_index, "", digits=2), _ok(self.audibility_index, 0.75),
                "0 = masked, 1 = fully audible"),
        ]
        if self.sfx_worst_offset_ms is not None:
            rows.append(row("SFX sync (worst)", f"{self.sfx_worst_offset_ms:+.0f} ms", bool(self.sfx_sync_passed),
                            "EBU R37: -40..+60 ms"))
        return "<table class='layerlab-readout' style='font-size:13px'>" + "".join(rows) + "</table>"


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
        The preview mix (no master), equal to ``stack.render(master=False).mix``.
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

    mix: np.ndarray
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
    def render(self):
        """The full preview render (mix and stems), made on first access from the stack."""
        if self._render is None:
            self._render = self.stack.render(master=False)
        return self._render

    @property
    def duration_s(self) -> float:
        """Length in seconds."""
        return self.mix.shape[0] / (self.stack.sample_rate if self.stack is not None else SAMPLE_RATE)


# ----------------------------------------------------------------------------- analysis


@dataclass
class _LayerData:
    key: object
    pre: np.ndarray
    kw: np.ndarray
    bands: np.ndarray
    columns: np.ndarray
    extra: dict = field(default_factory=dict)


class MixAnalysis:
    """Fast, fader-following measurement of a layer stack.

    Parameters
    ----------
    stack : LayerStack
    target : str or DeliveryProfile
        Delivery profile for the readout (``"streaming"`` by default).
    events : sequence of dict, optional
        Visual events (``id``, ``time_s``, ``label``) of the scene, for the SFX sync readout.
    n_columns : int
        Horizontal resolution of the waveform envelopes.

    Notes
    -----
    Accuracy against the grader's meters (checked in ``tests/course/test_widgets.py``):
    integrated and momentary loudness and the dialogue-over-background levels
    are exact without ducking and within a few hundredths of an LU with it
    (the ducking gain is averaged over 10 ms blocks); the true peak uses the
    same interpolation filter as :func:`layerlab.measure.loudness.true_peak_dbtp`;
    the masking map treats the layers as uncorrelated sources, so the index
    can differ from :func:`layerlab.measure.masking.band_audibility` by about 0.01.

    Taught in ``lessons/07_four_layers.ipynb``.
    """

    def __init__(self, stack: LayerStack, *, target="streaming", events=None, n_columns: int = 1000):
        if not isinstance(stack, LayerStack):
            raise ParameterError(f"MixAnalysis needs a LayerStack; got {type(stack).__name__}.")
        self.stack = stack
        self.target = _profile(target)
        self.events = list(events or [])
        self.n_columns = int(n_columns)
        self._layers: dict[str, _LayerData] = {}
        self._pairs: dict[tuple, np.ndarray] = {}
        self._activity = None
        self._sync = None
        self._duck = None
        self._active = None
        self._ducked_pre = {}
        self._tmp = None
        self._frac = None
        sr = stack.sample_rate
        self.block = int(round(BLOCK_MS * 1e-3 * sr))
        self._sig = None
        self.last_timings_ms: dict = {}

    # --------------------------------------------------------------- caches
    def _refresh(self):
        st = self.stack
        n = st.n_samples
        changed = []
        for name in LAYERS:
            layer = st[name]
            pre = layer.render_clips(n_samples=n, sample_rate=st.sample_rate)
            key = layer._cache_key
            cur = self._layers.get(name)
            if cur is None or cur.key != key or cur.pre is not pre:
                self._layers[name] = self._analyse_layer(key, pre)
                changed.append(name)
        if changed:
            nb = n // self.block
            for i, a in enumerate(LAYERS):
                for b in LAYERS[i:]:
                    if a in changed or b in changed or (a, b) not in self._pairs:
                        prod = np.einsum("ij,ij->i", self._layers[a].kw[: nb * self.block],
                                         self._layers[b].kw[: nb * self.block])
                        self._pairs[(a, b)] = prod.reshape(nb, self.block).sum(axis=1)
            if "dialogue" in changed:
                self._activity = None
            if "sfx" in changed:
                self._sync = None
        return changed

    def _analyse_layer(self, key, pre) -> _LayerData:
        from layerlab.measure.masking import k_weight

        sr = self.stack.sample_rate
        kw = k_weight(pre, sample_rate=sr).astype(np.float32)
        bands = _band_powers(pre, sr)
        peak = np.abs(pre).max(axis=1)
        cols = _column_reduce(peak, self.n_columns, np.max)
        return _LayerData(key=key, pre=pre, kw=kw, bands=bands, columns=cols,
                          extra={"os_max": _oversampled_block_max(pre)})

    def _dialogue_activity(self):
        if self._activity is None:
            from layerlab.measure.masking import dialogue_activity

            pre = self._layers["dialogue"].pre
            if not np.any(pre):
                mask = np.zeros(pre.shape[0], dtype=bool)
            else:
                mask = dialogue_activity(pre, sample_rate=self.stack.sample_rate).sample_mask()
            self._activity = mask
        return self._activity

    # --------------------------------------------------------------- update
    def update(self) -> MixView:
        """Render the preview and measure it.

        Returns
        -------
        MixView
        """
        t0 = time.perf_counter()
        st = self.stack
        sr = st.sample_rate
        self._refresh()
        t1 = time.perf_counter()
        n = st.n_samples
        nb = n // self.block
        gains = {name: (float(db_to_gain(st[name].gain_db)) if st.audible(name) else 0.0) for name in LAYERS}
        ducked = set(st.ducking.targets) if st.ducking is not None and st.ducking.depth_db > 0 else set()
        duck_db, duck_lin = self._duck_curve()
        mix = self._mix(gains, duck_lin)
        t2 = time.perf_counter()
        # ducking gain, linear, at 1 ms and per 10 ms block
        step = max(1, sr // 1000)
        duck_ms = duck_lin[::step].astype(np.float64)
        per_block = self.block // step
        usable = min(nb * per_block, duck_ms.size)
        nbd = usable // per_block
        e1 = np.ones(nb)
        e2 = np.ones(nb)
        if ducked and nbd:
            blk = duck_ms[: nbd * per_block].reshape(nbd, per_block)
            e1[:nbd] = blk.mean(axis=1)
            e2[:nbd] = (blk * blk).mean(axis=1)
        # K-weighted energy per 10 ms block: a quadratic form in the layer gains
        energy = np.zeros(nb)
        for i, a in enumerate(LAYERS):
            for b in LAYERS[i:]:
                ga, gb = gains[a], gains[b]
                if ga == 0.0 or gb == 0.0:
                    continue
                w = e2 if (a in ducked and b in ducked) else (e1 if (a in ducked or b in ducked) else 1.0)
                energy += (ga * gb * (1.0 if a == b else 2.0)) * w * self._pairs[(a, b)]
        energy = np.maximum(energy, 0.0)
        csum = np.concatenate([[0.0], np.cumsum(energy)])
        m_times, m_lufs = _series(csum, 40, self.block, sr)
        s_times, s_lufs = _series(csum, 300, self.block, sr)
        integrated = _integrated(csum, self.block)
        t3 = time.perf_counter()
        # bound on the oversampled mix per row-block: sum of the layers' oversampled peaks
        # (times the largest ducking gain of the block, plus 5% for the ducking's own bandwidth)
        tp_bound = None
        for name in LAYERS:
            if gains[name] == 0.0:
                continue
            b = self._layers[name].extra["os_max"] * gains[name]
            if name in ducked:
                b = b * _block_reduce_max(duck_ms, TP_ROWS // step, b.size)
            tp_bound = b if tp_bound is None else tp_bound + b
        tp = _true_peak_dbtp(mix, bound=None if tp_bound is None else tp_bound * 1.05)
        t4 = time.perf_counter()
        # dialogue over music / ambience, the way layerlab.measure.masking measures it
        mask = self._dialogue_activity() if gains["dialogue"] > 0 else np.zeros(n, dtype=bool)

        def self_energy(name):
            w = e2 if name in ducked else 1.0
            return gains[name] ** 2 * w * self._pairs[(name, name)]

        d_blocks = _blocks400(self_energy("dialogue"), self.block)
        if self._frac is None or self._frac[0] is not mask:
            self._frac = (mask, _block_fractions(mask, d_blocks.size, sr))
        over = {}
        for bed in ("music", "ambience"):
            over[bed] = _level_difference(d_blocks, _blocks400(self_energy(bed), self.block), self._frac[1])
        # masking map
        masking_map, masking_times, index = self._masking(gains, ducked, duck_ms, step, mask)
        t5 = time.perf_counter()
        # waveform views
        envelopes = {}
        duck_cols = _column_reduce(duck_ms, self.n_columns, np.mean)
        duck_max_cols = _column_reduce(duck_ms, self.n_columns, np.max)
        for name in LAYERS:
            env = self._layers[name].columns * gains[name]
            if name in ducked:
                env = env * duck_max_cols
            envelopes[name] = env.astype(np.float32)
        col_times = (np.arange(self.n_columns) + 0.5) * (n / self.n_columns) / sr
        worst, passed = self._sfx_sync(gains)
        master_gain = (self.target.target_lufs - integrated) if math.isfinite(integrated) else float("nan")
        readout = MixReadout(
            integrated_lufs=integrated, true_peak_dbtp=tp,
            max_momentary_lufs=float(np.max(m_lufs)) if m_lufs.size else -math.inf,
            max_short_term_lufs=float(np.max(s_lufs)) if s_lufs.size else -math.inf,
            target=self.target, master_gain_db=master_gain,
            dialogue_over_music_lu=over["music"], dialogue_over_ambience_lu=over["ambience"],
            audibility_index=index, sfx_worst_offset_ms=worst, sfx_sync_passed=passed,
        )
        t6 = time.perf_counter()
        self.last_timings_ms = {"analyse_clips": (t1 - t0) * 1e3, "render": (t2 - t1) * 1e3,
                                "loudness": (t3 - t2) * 1e3, "true_peak": (t4 - t3) * 1e3,
                                "masking": (t5 - t4) * 1e3, "rest": (t6 - t5) * 1e3}
        return MixView(mix=mix, duck_gain_db=duck_db, stack=st, readout=readout, column_times_s=col_times, envelopes=envelopes,
                       duck_gain=duck_cols.astype(np.float32), momentary_times_s=m_times, momentary_lufs=m_lufs,
                       short_term_times_s=s_times, short_term_lufs=s_lufs, masking_map=masking_map,
                       masking_times_s=masking_times)

    def _duck_curve(self):
        """The stack's ducking envelope (dB and linear), cached while the dialogue and the settings stay."""
        st = self.stack
        n = st.n_samples
        d = st.ducking
        if d is None or d.depth_db <= 0:
            key = None
        else:
            key = (self._layers["dialogue"].key, st["dialogue"].gain_db, repr(d.to_dict()))
        if self._duck is not None and self._duck[0] == key:
            return self._duck[1], self._duck[2]
        if key is None:
            db = np.zeros(n, dtype=np.float32)
        else:
            from layerlab.mix.ducking import sidechain_active

            akey = (self._layers["dialogue"].key, st["dialogue"].gain_db, d.threshold_db, d.hold_ms, d.lookahead_ms)
            if self._active is None or self._active[0] != akey:
                side = self._layers["dialogue"].pre * db_to_gain(st["dialogue"].gain_db)
                self._active = (akey, sidechain_active(side, threshold_db=d.threshold_db, hold_ms=d.hold_ms,
                                                       lookahead_ms=d.lookahead_ms, sample_rate=st.sample_rate))
            db = _envelope(self._active[1], d, st.sample_rate)
        # 10 ** (db / 20) in float32 (what db_to_gain returns, to float32 precision)
        lin = np.exp(db.astype(np.float32) * np.float32(math.log(10.0) / 20.0)).astype(np.float32)
        self._duck = (key, db, lin)
        self._ducked_pre = {}
        return db, lin

    def _mix(self, gains, duck_lin) -> np.ndarray:
        """Sum of the layers after fader, mute/solo and ducking, in a fresh float32 buffer."""
        st = self.stack
        n = st.n_samples
        out = None
        if self._tmp is None or self._tmp.shape != (n, 2):
            self._tmp = np.empty((n, 2), dtype=np.float32)
        ducked = set(st.ducking.targets) if st.ducking is not None else set()
        for name in LAYERS:
            g = gains[name]
            if g == 0.0:
                continue
            src = self._layers[name].pre
            if name in ducked:
                key = self._layers[name].key
                cached = self._ducked_pre.get(name)
                if cached is None or cached[0] != key:
                    cached = (key, (src * duck_lin[:, None]).astype(np.float32))
                    self._ducked_pre[name] = cached
                src = cached[1]
            if out is None:
                out = np.multiply(src, np.float32(g), dtype=np.float32)
            else:
                np.multiply(src, np.float32(g), out=self._tmp)
                out += self._tmp
        return out if out is not None else np.zeros((n, 2), dtype=np.float32)

    def _masking(self, gains, ducked, duck_ms, step, mask):
        sr = self.stack.sample_rate
        pd = self._layers["dialogue"].bands * gains["dialogue"] ** 2
        n_frames = pd.shape[1]
        centres = np.arange(n_frames) * HOP + N_FFT // 2
        times = centres / sr
        idx = np.minimum(centres // step, duck_ms.size - 1)
        frame_duck2 = duck_ms[idx] ** 2
        pr = np.zeros_like(pd)
        for name in ("sfx", "ambience", "music"):
            if gains[name] == 0.0:
                continue
            w = frame_duck2 if name in ducked else 1.0
            pr += self._layers[name].bands * (gains[name] ** 2) * w
        act = mask[np.minimum(centres, mask.size - 1)] if mask.size else np.zeros(n_frames, bool)
        floor = 10.0 ** (-100.0 / 10.0) * np.sum(np.hanning(N_FFT) ** 2)
        with np.errstate(divide="ignore", invalid="ignore"):
            snr = 10.0 * np.log10(np.maximum(pd, 1e-300) / (pr + floor))
        kmap = np.clip((snr + 15.0) / 30.0, 0.0, 1.0)
        masking_map = np.where(act[None, :], kmap, np.nan)
        if not act.any():
            return masking_map, times, float("nan")
        from layerlab.measure.masking import BAND_IMPORTANCE

        ld = pd[:, act].mean(axis=1)
        lr = pr[:, act].mean(axis=1) + floor
        per_band = np.clip((10.0 * np.log10(np.maximum(ld, 1e-300) / lr) + 15.0) / 30.0, 0.0, 1.0)
        return masking_map, times, float(np.sum(BAND_IMPORTANCE * per_band))

    def _sfx_sync(self, gains):
        if not self.events:
            return None, None
        if gains["sfx"] == 0.0 or not np.any(self._layers["sfx"].columns):
            return None, None
        if self._sync is None:
            from layerlab.measure.sync import sfx_offsets

            res = sfx_offsets(self._layers["sfx"].pre, self.events, sample_rate=self.stack.sample_rate)
            found = [e for e in res.events if e.found]
            worst = max(found, key=lambda e: abs(e.offset_ms)).offset_ms if found else None
            self._sync = (worst, res.passed, res)
        return self._sync[0], self._sync[1]

    @property
    def sync_result(self):
        """The last SFX sync measurement (a :class:`layerlab.measure.sync.SyncResult`) or None."""
        return None if self._sync is None else self._sync[2]


def _envelope(active: np.ndarray, d: Ducking, sample_rate: int) -> np.ndarray:
    """The ducking gain in dB from a sidechain activity mask (the ducker's own envelope)."""
    try:
        from layerlab.mix.ducking import _envelope_from_active
    except ImportError:  # pragma: no cover - the ducker changed; fall back to its public function
        from layerlab.mix.ducking import duck_envelope

        side = active.astype(np.float32)[:, None]
        return duck_envelope(side, depth_db=d.depth_db, threshold_db=-6.0, attack_ms=d.attack_ms,
                             release_ms=d.release_ms, sample_rate=sample_rate)
    return _envelope_from_active(active, depth_db=d.depth_db, attack_ms=d.attack_ms, release_ms=d.release_ms,
                                 sample_rate=sample_rate)


def _profile(target):
    from layerlab.measure.targets import DeliveryProfile, get_profile

    return target if isinstance(target, DeliveryProfile) else get_profile(target)


def _column_reduce(x: np.ndarray, n_cols: int, fn) -> np.ndarray:
    """Reduce a 1-D signal to ``n_cols`` columns (max or mean per column)."""
    n = x.shape[0]
    if n == 0:
        return np.zeros(n_cols)
    edges = np.linspace(0, n, n_cols + 1).astype(np.int64)
    edges = np.minimum(edges, n - 1)
    starts = edges[:-1]
    if fn is np.max:
        return np.maximum.reduceat(x, starts)
    sums = np.add.reduceat(x.astype(np.float64), starts)
    counts = np.diff(np.append(starts, n))
    counts[counts == 0] = 1
    return sums / counts


def _band_powers(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """One-third-octave band power per STFT frame, (18, n_frames), channels averaged."""
    from layerlab.measure.masking import _band_power_frames

    return _band_power_frames(audio, sample_rate, N_FFT, HOP)


def _lufs(mean_square):
    with np.errstate(divide="ignore"):
        return -0.691 + 10.0 * np.log10(np.maximum(mean_square, 0.0))


def _series(csum: np.ndarray, n_blocks: int, block: int, sr: int):
    nb = csum.size - 1
    if nb < n_blocks:
        return np.zeros(0), np.zeros(0)
    e = csum[n_blocks:] - csum[:-n_blocks]
    lufs = _lufs(e / (n_blocks * block))
    lufs = np.where(e > 0, lufs, -np.inf)
    times = (np.arange(e.size) + n_blocks) * block / sr
    return times, lufs


def _integrated(csum: np.ndarray, block: int) -> float:
    """BS.1770 gated loudness from cumulative 10 ms block energies (400 ms blocks, 100 ms step)."""
    nb = csum.size - 1
    if nb < 40:
        return -math.inf
    starts = np.arange(0, nb - 40 + 1, 10)
    p = (csum[starts + 40] - csum[starts]) / (40 * block)
    with np.errstate(divide="ignore"):
        lk = -0.691 + 10 * np.log10(np.maximum(p, 1e-300))
    keep = (p > 0) & (lk > -70.0)
    if not keep.any():
        return -math.inf
    rel = -0.691 + 10 * np.log10(p[keep].mean()) - 10.0
    keep &= lk > rel
    if not keep.any():
        return -math.inf
    return float(-0.691 + 10 * np.log10(p[keep].mean()))


def _blocks400(energy10: np.ndarray, block: int) -> np.ndarray:
    """Mean-square per 400 ms block at 100 ms steps from 10 ms block energies."""
    nb = energy10.size
    if nb < 40:
        return np.zeros(0)
    c = np.concatenate([[0.0], np.cumsum(energy10)])
    starts = np.arange(0, nb - 40 + 1, 10)
    return (c[starts + 40] - c[starts]) / (40 * block)


def _block_fractions(mask: np.ndarray, n_blocks: int, sr: int) -> np.ndarray:
    """Share of each 400 ms block (100 ms step) during which speech is active."""
    blk, step = int(round(0.4 * sr)), int(round(0.1 * sr))
    c = np.concatenate([[0], np.cumsum(mask.astype(np.int64))])
    starts = np.arange(n_blocks) * step
    return (c[np.minimum(starts + blk, mask.size)] - c[np.minimum(starts, mask.size)]) / blk


def _level_difference(pd: np.ndarray, pb: np.ndarray, frac: np.ndarray) -> float:
    """Dialogue-over-background LU as :func:`layerlab.measure.masking.dialogue_to_background_lu` measures it."""
    if pd.size == 0 or frac.size == 0 or not np.any(frac > 0):
        return float("nan")
    keep = frac >= 0.9
    if not keep.any():
        keep = frac >= 0.5
    with np.errstate(divide="ignore"):
        lk = -0.691 + 10 * np.log10(np.maximum(pd, 1e-30))
    keep &= lk > -70.0
    if keep.any():
        keep &= lk > (-0.691 + 10 * np.log10(pd[keep].mean()) - 10.0)
    if not keep.any():
        return float("nan")
    ld = -0.691 + 10 * np.log10(pd[keep].mean())
    mb = pb[keep].mean()
    if mb <= 0:
        return float("inf")
    return float(ld - (-0.691 + 10 * np.log10(mb)))


def _true_peak_dbtp(mix: np.ndarray, *, bound=None) -> float:
    """True peak of the mix with the grader's interpolation filter, oversampling only where a peak can be.

    No interpolated value can exceed the largest input magnitude within the
    filter's reach times the sum of its absolute taps, so only the rows whose
    32-sample neighbourhood holds a sample within that factor of the sample
    peak are computed. The result equals :func:`layerlab.measure.loudness.true_peak_dbtp`.
    """
    matrix = _tp_matrix()
    layer_bound = None if bound is None else np.asarray(bound, dtype=np.float64)
    x = np.asarray(mix, dtype=np.float32)
    n, n_ch = x.shape
    if n == 0:
        return -math.inf
    taps = matrix.shape[0]
    n_rows = n + taps
    if layer_bound is not None and layer_bound.size * TP_ROWS >= n_rows:
        # the layers' own oversampled peaks bound the mix: only row-blocks that could beat the sample peak
        sample_peak = float(max(x.max(), -x.min()))
        if sample_peak == 0.0:
            return -math.inf
        best = sample_peak
        sub = TP_ROWS
        cand = np.flatnonzero(layer_bound > best)
    else:
        sub = 8
        lead = taps // sub  # xp = [taps zeros, x, taps zeros]: x starts at xp sub-block `lead`
        m = -(-n // sub) * sub
        xs = x if m == n else np.concatenate([x, np.zeros((m - n, n_ch), np.float32)])
        mx = _rowmax(np.abs(xs.reshape(m // sub, sub * n_ch)))  # per 8-sample sub-block, all channels
        sample_peak = float(mx.max())
        if sample_peak == 0.0:
            return -math.inf
        weights = _tp_weights(matrix, sub)
        q = weights.size
        M = np.concatenate([np.zeros(lead), mx, np.zeros(q + 1)])
        n_blocks = -(-n_rows // sub)
        # bound of every output row of row-block j: sum_q weights[q] * M[j + q]
        bound = np.zeros(n_blocks)
        for k in range(q):
            bound += weights[k] * M[k: k + n_blocks]
        best = sample_peak
        cand = np.flatnonzero(bound * 1.02 > best)
    offsets = np.arange(taps)
    _TP_STATS["candidates"] = int(cand.size)
    if cand.size:
        rows = (cand[:, None] * sub + np.arange(sub)[None, :]).reshape(-1)
        rows = rows[rows < n_rows]
        for ch in range(n_ch):
            xp = np.zeros(n + 2 * taps, dtype=np.float32)  # silence before and after, as the meter pads
            xp[taps: taps + n] = x[:, ch]
            y = xp[rows[:, None] + offsets[None, :]] @ matrix
            k = int(np.argmax(np.abs(y)))
            if abs(float(y.flat[k])) * 1.02 <= best:
                continue
            r = int(rows[k // y.shape[1]])
            local = np.arange(max(r - 1, 0), min(r + 2, n_rows))
            yl = (xp[local[:, None] + offsets[None, :]] @ matrix).reshape(-1)
            best = max(best, _refine_peak(yl, int(np.argmax(np.abs(yl)))))
    return 20.0 * math.log10(best)


_TP_MATRIX = None
_TP_STATS = {}
TP_ROWS = 96
"""Row-block size (input samples) of the per-layer oversampled-peak bounds (a multiple of 8 and of 48)."""


def _oversampled_block_max(audio: np.ndarray) -> np.ndarray:
    """Largest 4x-oversampled magnitude per block of TP_ROWS output rows, shape (n_blocks,).

    Rows are indexed as in :func:`_true_peak_dbtp` (row r reads the padded
    samples r .. r+31), all channels together.
    """
    matrix = _tp_matrix()
    taps = matrix.shape[0]
    x = np.asarray(audio, dtype=np.float32)
    n = x.shape[0]
    n_rows = n + taps
    n_blocks = -(-n_rows // TP_ROWS)
    out = np.zeros(n_blocks)
    from numpy.lib.stride_tricks import sliding_window_view

    for ch in range(x.shape[1]):
        xp = np.zeros(n_blocks * TP_ROWS + taps, dtype=np.float32)
        xp[taps: taps + n] = x[:, ch]
        view = sliding_window_view(xp, taps)
        chunk = TP_ROWS * 512
        for r0 in range(0, n_blocks * TP_ROWS, chunk):
            r1 = min(r0 + chunk, n_blocks * TP_ROWS)
            y = np.abs(view[r0:r1] @ matrix).max(axis=1)
            blocks = _rowmax(y.reshape(-1, TP_ROWS))
            out[r0 // TP_ROWS: r1 // TP_ROWS] = np.maximum(out[r0 // TP_ROWS: r1 // TP_ROWS], blocks)
    return out


def _block_reduce_max(x: np.ndarray, per_block: int, n_blocks: int) -> np.ndarray:
    """Max of ``x`` over consecutive blocks of ``per_block`` values, padded with 1 to ``n_blocks``."""
    m = min(x.size // per_block, n_blocks)
    out = np.ones(n_blocks)
    if m:
        out[:m] = _rowmax(x[: m * per_block].reshape(m, per_block))
    return out


def _rowmax(a: np.ndarray) -> np.ndarray:
    """Row maxima of a 2-D array by halving (much faster than ``max(axis=1)`` for short rows)."""
    while a.shape[1] > 1:
        h = a.shape[1] // 2
        if a.shape[1] % 2:
            a = np.concatenate([np.maximum(a[:, :h], a[:, h:2 * h]), a[:, 2 * h:]], axis=1)
        else:
            a = np.maximum(a[:, :h], a[:, h:])
    return a[:, 0]


def _tp_matrix() -> np.ndarray:
    """The 4x interpolation filter of :mod:`layerlab.measure.loudness` as a (taps, phases) float32 matrix."""
    global _TP_MATRIX
    if _TP_MATRIX is None:
        _TP_MATRIX = np.ascontiguousarray(_tp_phases(4).astype(np.float32))
    return _TP_MATRIX


def _tp_weights(matrix: np.ndarray, sub: int) -> np.ndarray:
    """Per sub-block weights bounding the interpolation filter: rows ``sub*j .. sub*j+sub-1`` read
    sub-blocks ``j .. j+len-1``; weight q is the largest sum of absolute taps that can fall in sub-block j+q."""
    h = np.abs(matrix).max(axis=1).astype(np.float64)  # (taps,), worst phase per tap
    taps = h.size
    n_q = taps // sub + 1
    w = np.zeros(n_q)
    for t in range(sub):  # row offset inside the row-block
        for qq in range(n_q):
            lo = max(qq * sub - t, 0)
            hi = min(qq * sub - t + sub, taps)
            if hi > lo:
                w[qq] = max(w[qq], h[lo:hi].sum())
    return w


# ----------------------------------------------------------------------------- figure


class MixFigure:
    """The mixer's figure: stacked layer waveforms with the ducking envelope, a
    loudness meter over time and the masking map, updated in place.

    Parameters
    ----------
    view : MixView
        The first view to draw.
    target : DeliveryProfile
    figsize : tuple of float
    dpi : int

    Notes
    -----
    Data artists are marked animated and redrawn by blitting over a cached
    background, so an update touches only the data, not the axes, ticks
    and labels. A full draw (first display, resize) re-captures the background.

    Taught in ``lessons/07_four_layers.ipynb``.
    """

    def __init__(self, view: MixView, *, target, figsize=(9.0, 6.2), dpi: int = 72, title: str = ""):
        import matplotlib.pyplot as plt

        with plt.ioff():
            self.fig = plt.figure(figsize=figsize, dpi=dpi)
        canvas = self.fig.canvas
        for attr, value in (("header_visible", False), ("footer_visible", False), ("toolbar_visible", False),
                            ("resizable", False)):
            if hasattr(canvas, attr):
                try:
                    setattr(canvas, attr, value)
                except Exception:  # pragma: no cover - older ipympl
                    pass
        gs = self.fig.add_gridspec(3, 1, height_ratios=[2.3, 1.2, 1.2], hspace=0.45, left=0.09, right=0.98,
                                   top=0.95, bottom=0.07)
        self.ax_wave = self.fig.add_subplot(gs[0])
        self.ax_loud = self.fig.add_subplot(gs[1], sharex=self.ax_wave)
        self.ax_mask = self.fig.add_subplot(gs[2], sharex=self.ax_wave)
        duration = float(view.duration_s)
        t = view.column_times_s
        self.lanes = {name: 3 - i for i, name in enumerate(LAYERS)}
        self.wave_lines = {}
        for name, y0 in self.lanes.items():
            env = view.envelopes[name]
            up, = self.ax_wave.plot(t, y0 + 0.45 * env, color=LAYER_COLOURS[name], lw=0.8, animated=True)
            lo, = self.ax_wave.plot(t, y0 - 0.45 * env, color=LAYER_COLOURS[name], lw=0.8, animated=True)
            self.wave_lines[name] = (up, lo)
            self.ax_wave.axhline(y0, color="#cccccc", lw=0.5)
        y_m = self.lanes["music"]
        self.duck_line, = self.ax_wave.plot(t, y_m - 0.5 + view.duck_gain, color="#ff7f0e", lw=1.2, ls="--",
                                            animated=True, label="ducking gain")
        self.ax_wave.set_yticks([self.lanes[n] for n in LAYERS], list(LAYERS))
        self.ax_wave.set_ylim(-0.55, 3.55)
        self.ax_wave.set_xlim(0, duration)
        self.ax_wave.set_title(title or "Layers (peak envelope, after fader and ducking; dashed: ducking gain)",
                               fontsize=9, loc="left")
        self.ax_wave.tick_params(labelsize=8)
        # loudness
        self.ax_loud.set_ylim(-50, 0)
        self.ax_loud.set_ylabel("LUFS", fontsize=8)
        self.ax_loud.tick_params(labelsize=8)
        self.mom_line, = self.ax_loud.plot(view.momentary_times_s, _finite(view.momentary_lufs), lw=0.7,
                                           color="#888888", animated=True, label="momentary (0.4 s)")
        self.st_line, = self.ax_loud.plot(view.short_term_times_s, _finite(view.short_term_lufs), lw=1.4,
                                          color="#1f77b4", animated=True, label="short-term (3 s)")
        self.int_line = self.ax_loud.axhline(-60, color="#1f77b4", lw=1.0, ls=":", animated=True, label="integrated")
        self.target_line = self.ax_loud.axhline(target.target_lufs, color="#17803d", lw=1.0, animated=True,
                                                label="target")
        self.ax_loud.legend(loc="lower right", fontsize=7, ncol=4, frameon=False)
        self.ax_loud.set_title("Loudness of the preview mix", fontsize=9, loc="left")
        # masking map
        from layerlab.measure.masking import BAND_CENTRES_HZ

        m = np.ma.masked_invalid(view.masking_map)
        t_m = view.masking_times_s
        dt = (t_m[1] - t_m[0]) if t_m.size > 1 else 0.02
        import matplotlib

        cmap = matplotlib.colormaps["RdYlGn"].with_extremes(bad="#f0f0f0")
        self.mask_img = self.ax_mask.imshow(m, aspect="auto", origin="lower", cmap=cmap, vmin=0, vmax=1,
                                            extent=(t_m[0] - dt / 2, t_m[-1] + dt / 2, -0.5, 17.5) if t_m.size else None,
                                            interpolation="nearest", animated=True)
        ticks = [0, 4, 8, 12, 17]
        self.ax_mask.set_yticks(ticks, [f"{BAND_CENTRES_HZ[i]:g}" for i in ticks])
        self.ax_mask.set_ylabel("band (Hz)", fontsize=8)
        self.ax_mask.set_xlabel("time (s)", fontsize=8)
        self.ax_mask.tick_params(labelsize=8)
        self.ax_mask.set_title("Masking map: dialogue audibility per band while speaking (red = masked)", fontsize=9,
                               loc="left")
        self.ax_wave.set_xlim(0, duration)
        self._bg = None
        self.n_updates = 0
        self._animated = [*[a for pair in self.wave_lines.values() for a in pair], self.duck_line, self.mom_line,
                          self.st_line, self.int_line, self.target_line, self.mask_img]
        self._cid = canvas.mpl_connect("draw_event", self._on_draw)
        self.set_view(view, target=target, blit=False)
        self._agg_draw()

    @property
    def canvas(self):
        """The figure's canvas (an ipympl widget under ``%matplotlib widget``)."""
        return self.fig.canvas

    def _on_draw(self, event):
        if event is not None and event.canvas is not self.fig.canvas:
            return
        self._bg = self.fig.canvas.copy_from_bbox(self.fig.bbox)
        self._draw_animated()

    def _draw_animated(self):
        for artist in self._animated:
            artist.axes.draw_artist(artist)

    def set_view(self, view: MixView, *, target, blit: bool = True):
        """Put new data into the artists and redraw them in place.

        Parameters
        ----------
        view : MixView
        target : DeliveryProfile
        blit : bool
            Redraw now (by blitting); False only updates the artists' data.
        """
        for name, (up, lo) in self.wave_lines.items():
            y0 = self.lanes[name]
            env = view.envelopes[name]
            up.set_ydata(y0 + 0.45 * env)
            lo.set_ydata(y0 - 0.45 * env)
        self.duck_line.set_ydata(self.lanes["music"] - 0.5 + view.duck_gain)
        self.mom_line.set_data(view.momentary_times_s, _finite(view.momentary_lufs))
        self.st_line.set_data(view.short_term_times_s, _finite(view.short_term_lufs))
        integ = view.readout.integrated_lufs
        self.int_line.set_ydata([integ, integ] if math.isfinite(integ) else [-100, -100])
        self.target_line.set_ydata([target.target_lufs, target.target_lufs])
        self.mask_img.set_data(np.ma.masked_invalid(view.masking_map))
        self.n_updates += 1
        if blit:
            self.redraw()

    def _frontend_ready(self) -> bool:
        # an ipympl canvas whose browser view has not connected yet keeps `syncing_data_url` True;
        # sending it images then leaves a broken data URL in the widget state
        return not getattr(self.fig.canvas, "syncing_data_url", False)

    def _agg_draw(self):
        """Render into the pixel buffer without notifying a browser (draw_event still re-captures the background)."""
        from matplotlib.backends.backend_agg import FigureCanvasAgg

        FigureCanvasAgg.draw(self.fig.canvas)

    def redraw(self):
        """Blit the animated artists over the cached background (full draw if there is none)."""
        canvas = self.fig.canvas
        if self._bg is None:
            self._agg_draw()
        else:
            canvas.restore_region(self._bg)
            self._draw_animated()
        if self._frontend_ready():
            canvas.blit(self.fig.bbox)

    def image(self) -> np.ndarray:
        """The figure's current pixels, shape (height, width, 4), uint8 (for tests)."""
        return np.asarray(self.fig.canvas.buffer_rgba()).copy()

    def close(self):
        """Release the figure."""
        import matplotlib.pyplot as plt

        plt.close(self.fig)


def _finite(lufs: np.ndarray) -> np.ndarray:
    return np.where(np.isfinite(lufs), lufs, -120.0)


# ----------------------------------------------------------------------------- mixer


class Mixer:
    """The four-layer mixer: faders, mute/solo, ducking, live views, player, video preview, export.

    Parameters
    ----------
    stack : LayerStack
        The mix to control. If ``session_path`` exists (and matches the
        stack's length), the saved session is restored instead.
    session_path : str or Path or None
        Where every change is saved (``session.json`` beside the notebook).
        ``None`` disables saving and restoring.
    restore : bool
        Restore a saved session if there is one.
    target : str or DeliveryProfile
        Delivery target for the readout and for the master on export.
    events : sequence of dict, optional
        The scene's visual events (for the SFX sync readout).
    video_path : str or Path, optional
        The scene's picture, for the synced preview.
    title : str
    figure : bool
        Build the figure (False for a controls-and-readout-only mixer).

    Examples
    --------
    >>> mixer = Mixer(stack, events=scene_events, video_path="video.mp4")   # doctest: +SKIP
    >>> mixer                                   # shows the controls and views   # doctest: +SKIP
    >>> mixer.gain["music"].value = -18         # same as moving the slider      # doctest: +SKIP

    Notes
    -----
    Taught in ``lessons/07_four_layers.ipynb``.
    """

    GAIN_RANGE_DB = (-40.0, 12.0)

    def __init__(self, stack: LayerStack, *, session_path="session.json", restore: bool = True, target="streaming",
                 events=None, video_path=None, title: str = "", figure: bool = True):
        import ipywidgets as w

        self.session_path = Path(session_path) if session_path else None
        self.restored = False
        self.status_message = ""
        if self.session_path is not None and restore and self.session_path.exists():
            stack, note = _restore(stack, self.session_path)
            self.restored = stack is not None and note == ""
            self.status_message = note or f"Restored your settings from {self.session_path.name}."
        if not isinstance(stack, LayerStack):
            raise ParameterError(f"Mixer needs a LayerStack; got {type(stack).__name__}.")
        self.stack = stack
        self.video_path = Path(video_path) if video_path else None
        self._ducking_settings = stack.ducking or Ducking()
        self.analysis = MixAnalysis(stack, target=target, events=events)
        self._suspend = False
        self.latencies_ms: list = []
        import threading

        self._save_lock = threading.Lock()
        self._save_timer = None
        self.auto_player = True
        """Refresh the player a moment after the last change (once the mixer has been shown)."""
        self._player_shown = False

        # controls
        lay = w.Layout
        self.gain, self.mute, self.solo = {}, {}, {}
        rows = []
        for name in LAYERS:
            layer = stack[name]
            self.gain[name] = w.FloatSlider(value=float(np.clip(layer.gain_db, *self.GAIN_RANGE_DB)),
                                            min=self.GAIN_RANGE_DB[0], max=self.GAIN_RANGE_DB[1], step=0.5,
                                            description=name, continuous_update=False, readout_format=".1f",
                                            layout=lay(width="360px"))
            self.gain[name].add_class(f"layerlab-gain-{name}")
            self.mute[name] = w.ToggleButton(value=layer.mute, description="M", tooltip=f"mute {name}",
                                             layout=lay(width="34px"))
            self.solo[name] = w.ToggleButton(value=layer.solo, description="S", tooltip=f"solo {name}",
                                             layout=lay(width="34px"))
            rows.append(w.HBox([self.gain[name], w.Label("dB"), self.mute[name], self.solo[name]]))
        d = self._ducking_settings
        self.duck_on = w.Checkbox(value=stack.ducking is not None, description="duck music under dialogue",
                                  indent=False)
        self.duck_depth = w.FloatSlider(value=d.depth_db, min=0, max=30, step=0.5, description="depth dB",
                                        continuous_update=False, style={"description_width": "90px"})
        self.duck_threshold = w.FloatSlider(value=d.threshold_db, min=-70, max=-10, step=1, description="threshold dB",
                                            continuous_update=False, style={"description_width": "90px"})
        self.duck_attack = w.FloatSlider(value=d.attack_ms, min=1, max=1000, step=1, description="attack ms",
                                         continuous_update=False, style={"description_width": "90px"})
        self.duck_release = w.FloatSlider(value=d.release_ms, min=1, max=3000, step=10, description="release ms",
                                          continuous_update=False, style={"description_width": "90px"})
        from layerlab.measure.targets import PROFILE_NAMES

        self.target = w.Dropdown(options=list(PROFILE_NAMES), value=self.analysis.target.name,
                                 description="target")
        auto = lay(width="auto")
        self.export_button = w.Button(description="Export deliverable", icon="download", layout=auto)
        self.video_button = w.Button(description="Preview with video", icon="film", disabled=self.video_path is None,
                                     layout=auto)
        self.player_button = w.Button(description="Update player", icon="play", layout=auto)
        self.readout = w.HTML()
        self.readout.add_class("layerlab-readout")
        self.status = w.HTML()
        self.player = w.Output()
        self.video = w.Output()

        self.view = self.analysis.update()
        self.figure = MixFigure(self.view, target=self.analysis.target, title=title) if figure else None
        self.readout.value = self.view.readout.to_html()
        self._set_status(self.status_message)

        for name in LAYERS:
            self.gain[name].observe(self._on_change, names="value")
            self.mute[name].observe(self._on_change, names="value")
            self.solo[name].observe(self._on_change, names="value")
        for c in (self.duck_on, self.duck_depth, self.duck_threshold, self.duck_attack, self.duck_release, self.target):
            c.observe(self._on_change, names="value")
        self.export_button.on_click(lambda _b: self._guard(self.export))
        self.video_button.on_click(lambda _b: self._guard(self.preview_video))
        self.player_button.on_click(lambda _b: self._guard(self.update_player))

        ducking_box = w.VBox([self.duck_on, self.duck_depth, self.duck_threshold, self.duck_attack, self.duck_release])
        controls = w.HBox([w.VBox([w.HTML("<b>Faders</b> (M = mute, S = solo)"), *rows, self.target]),
                           w.VBox([w.HTML("<b>Ducking</b>"), ducking_box])])
        views = [self.figure.canvas] if (figure and _is_widget(self.figure.canvas)) else []
        self._static_out = None
        if figure and not views:
            self._static_out = w.Output()
            views = [self._static_out]
        buttons = w.HBox([self.player_button, self.video_button, self.export_button])
        self.widget = w.VBox([controls, w.VBox([*views]),
                              w.HTML("<b>Readout</b> (preview, before the master)"), self.readout,
                              buttons, self.status, self.player, self.video])
        self.widget.add_class("layerlab-mixer")
        self.save()

    # ------------------------------------------------------------------ display
    def _ipython_display_(self):
        from IPython.display import display

        display(self.widget)
        if self._static_out is not None:
            _show(self._static_out, self.figure.fig)
        self.update_player()

    # ------------------------------------------------------------------ state
    def _apply_controls(self):
        st = self.stack
        for name in LAYERS:
            st[name].gain_db = float(self.gain[name].value)
            st[name].mute = bool(self.mute[name].value)
            st[name].solo = bool(self.solo[name].value)
        if self.duck_on.value:
            self._ducking_settings = Ducking(depth_db=float(self.duck_depth.value),
                                             threshold_db=float(self.duck_threshold.value),
                                             attack_ms=float(self.duck_attack.value),
                                             release_ms=float(self.duck_release.value),
                                             hold_ms=self._ducking_settings.hold_ms,
                                             lookahead_ms=self._ducking_settings.lookahead_ms,
                                             targets=self._ducking_settings.targets)
            st.ducking = self._ducking_settings
        else:
            st.ducking = None
        if self.target.value != self.analysis.target.name:
            self.analysis.target = _profile(self.target.value)

    def _sync_controls(self):
        """Set the widgets from the stack (after a programmatic change)."""
        self._suspend = True
        try:
            for name in LAYERS:
                self.gain[name].value = float(np.clip(self.stack[name].gain_db, *self.GAIN_RANGE_DB))
                self.mute[name].value = self.stack[name].mute
                self.solo[name].value = self.stack[name].solo
            self.duck_on.value = self.stack.ducking is not None
        finally:
            self._suspend = False

    def _on_change(self, change=None):
        if self._suspend:
            return
        self._guard(self.refresh)

    def _guard(self, fn):
        try:
            return fn()
        except LayerLabError as exc:
            self._set_status(f"<span style='color:#c62828'>{html.escape(str(exc))}</span>", raw=True)
            return None

    def refresh(self):
        """Apply the controls to the stack, re-render, re-measure and update the views in place.

        Returns
        -------
        MixView
        """
        t0 = time.perf_counter()
        self._apply_controls()
        self.view = self.analysis.update()
        self.readout.value = self.view.readout.to_html()
        if self.figure is not None:
            self.figure.set_view(self.view, target=self.analysis.target)
        self.latencies_ms.append((time.perf_counter() - t0) * 1e3)
        self._schedule_save()
        self._player_stale = True
        return self.view

    SAVE_DELAY_S = 0.25
    """Changes are written to ``session.json`` this long after the last one (off the update path)."""

    def save(self):
        """Write the stack to ``session.json`` now (if a session path is set).

        Returns
        -------
        Path or None
        """
        timer = getattr(self, "_save_timer", None)
        if timer is not None:
            timer.cancel()
            self._save_timer = None
        if self.session_path is None:
            return None
        from layerlab.mix.session import save_session

        with self._save_lock:
            return save_session(self.stack, self.session_path)

    def _schedule_save(self):
        """Save (and refresh the player) shortly after the last change, in a background thread."""
        if self.session_path is None and not (self.auto_player and self._player_shown):
            return
        import threading

        timer = getattr(self, "_save_timer", None)
        if timer is not None:
            timer.cancel()

        def write():
            try:
                self.save()
                if self.auto_player and self._player_shown:
                    self.update_player()
            except Exception as exc:  # never let a background write raise into the kernel
                self.status.value = html.escape(f"could not save {self.session_path}: {exc}")

        self._save_timer = threading.Timer(self.SAVE_DELAY_S, write)
        self._save_timer.daemon = True
        self._save_timer.start()

    def changed_stack(self):
        """Call after changing clips on :attr:`stack` directly (swap a clip, move one): re-syncs and refreshes."""
        self._sync_controls()
        return self.refresh()

    # ------------------------------------------------------------------ outputs
    def update_player(self):
        """Show a level-true player for the current preview mix."""
        from layerlab.course.playback import play

        p = play(self.view.mix, sample_rate=self.stack.sample_rate, label="current mix (preview)")
        _show(self.player, p)
        self._player_shown = True
        self._player_stale = False
        return p

    def export(self, out_dir="deliverable") -> Path:
        """Render with the master section and write the deliverable folder.

        Parameters
        ----------
        out_dir : str or Path
            Folder for ``mix.wav``, ``stems/`` and ``session.json``.

        Returns
        -------
        Path
        """
        from layerlab.measure.loudness import Meter
        from layerlab.mix.master import Master
        from layerlab.mix.session import export_deliverable

        self._apply_controls()
        prof = self.analysis.target
        # the master follows the chosen target (0.5 dB of headroom under its true-peak ceiling)
        self.stack.master = Master(target_lufs=prof.target_lufs, ceiling_dbtp=max(-20.0, prof.max_true_peak_dbtp - 0.5))
        r = self.stack.render(master=True)
        out = export_deliverable(self.stack, out_dir, render=r)
        rep = Meter(self.stack.sample_rate).measure(r.mix)
        self._set_status(f"Exported to <code>{html.escape(str(out))}</code>: integrated "
                         f"{rep.integrated_lufs:.1f} LUFS, true peak {rep.true_peak_dbtp:.1f} dBTP "
                         f"(target {html.escape(prof.describe())}).", raw=True)
        self.save()
        return out

    def preview_video(self, path=None) -> Path:
        """Mux the current preview mix (the faders as they are, before the master) with the scene's video and show it.

        Parameters
        ----------
        path : str or Path, optional
            The MP4 to write; by default ``_layerlab_audio/preview_<hash>.mp4`` beside the notebook.

        Returns
        -------
        Path
        """
        from IPython.display import HTML

        if self.video_path is None:
            raise ParameterError("This mixer has no video: pass video_path=... (the scene's video.mp4).")
        mix = self.view.mix
        digest = hashlib.sha1(mix.tobytes()).hexdigest()[:12]
        out = Path(path) if path else Path("_layerlab_audio") / f"preview_{digest}.mp4"
        out.parent.mkdir(parents=True, exist_ok=True)
        wav = out.with_suffix(".wav")
        save_audio(wav, np.clip(mix, -1.0, 1.0), sample_rate=self.stack.sample_rate, subtype="PCM_24")
        mux_video(self.video_path, wav, out)
        wav.unlink(missing_ok=True)
        _show(self.video, HTML(f'<video controls width="560" src="{html.escape(out.as_posix())}"></video>'
                               "<br><small>picture and the current mix, muxed sample-aligned</small>"))
        return out

    def _set_status(self, text, raw=False):
        self.status.value = text if raw else html.escape(text)

    # ------------------------------------------------------------------ helpers
    def set_values(self, **values):
        """Set several controls at once with a single refresh, e.g. ``set_values(music=-20, duck_depth=12)``.

        Keys are layer names (gain in dB) and ``duck_on``, ``duck_depth``,
        ``duck_threshold``, ``duck_attack``, ``duck_release``, ``target``.
        """
        self._suspend = True
        try:
            for key, value in values.items():
                if key in self.gain:
                    self.gain[key].value = value
                elif hasattr(self, key) and key.startswith("duck_") or key == "target":
                    getattr(self, key).value = value
                else:
                    raise ParameterError(f"unknown control {key!r}; use a layer name or duck_on/duck_depth/"
                                         "duck_threshold/duck_attack/duck_release/target.")
        finally:
            self._suspend = False
        return self.refresh()


def _show(output, obj):
    """Replace an Output widget's content with one object's display (works with or without a kernel)."""
    from IPython.core.interactiveshell import InteractiveShell

    data, metadata = InteractiveShell.instance().display_formatter.format(obj)
    output.outputs = ({"output_type": "display_data", "data": data, "metadata": metadata},)


def mux_video(video_path, audio_path, out_path) -> Path:
    """Put an audio file under a video's picture (video stream copied, audio AAC), sample-aligned.

    Parameters
    ----------
    video_path, audio_path, out_path : str or Path

    Returns
    -------
    Path

    Raises
    ------
    ParameterError
        If an input is missing or ffmpeg fails (its message is included).

    Notes
    -----
    Taught in ``lessons/07_four_layers.ipynb``.
    """
    video_path, audio_path, out_path = Path(video_path), Path(audio_path), Path(out_path)
    for p in (video_path, audio_path):
        if not p.exists():
            raise ParameterError(f"{p}: file not found; cannot build the video preview.")
    cmd = [ffmpeg_exe(), "-nostdin", "-v", "error", "-y", "-i", str(video_path), "-i", str(audio_path),
           "-map", "0:v:0", "-map", "1:a:0", "-c:v", "copy", "-c:a", "aac", "-b:a", "192k", "-shortest",
           "-movflags", "+faststart", str(out_path)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0 or not out_path.exists():
        raise ParameterError(f"ffmpeg could not mux {audio_path.name} into {video_path.name}: {proc.stderr.strip()[-400:]}")
    return out_path


def _restore(stack, path: Path):
    from layerlab.mix.session import load_session

    try:
        saved = load_session(path)
    except (SessionError, LayerLabError) as exc:
        return stack, f"{path.name} could not be restored ({exc}); starting from the scene's mix."
    if stack is not None and (abs(saved.duration_s - stack.duration_s) > 1e-6 or saved.sample_rate != stack.sample_rate):
        return stack, f"{path.name} belongs to a different mix ({saved.duration_s:.1f} s); starting fresh."
    return saved, ""


def _is_widget(obj) -> bool:
    try:
        import ipywidgets

        return isinstance(obj, ipywidgets.DOMWidget)
    except ImportError:  # pragma: no cover
        return False


# ----------------------------------------------------------------------------- decision table


class DecisionWidget:
    """The lesson-06 decision table as a widget: scenario + priorities -> recommendation.

    Parameters
    ----------
    scenario : str
        Key of :data:`layerlab.course.decisions.SCENARIOS` to start with.

    Notes
    -----
    Moving a priority slider updates the recommendation; picking a scenario
    resets the sliders to that scenario's own priorities (which give the
    course text's answer). Taught in ``lessons/06_native_vs_postgen.ipynb``.
    """

    def __init__(self, scenario: str = "character_dialogue"):
        import ipywidgets as w

        from layerlab.course.decisions import PRIORITIES, SCENARIOS, get_scenario

        s = get_scenario(scenario)
        self.scenario = w.Dropdown(options=[(v.title, k) for k, v in SCENARIOS.items()], value=s.key,
                                   description="scenario", layout=w.Layout(width="420px"))
        self.sliders = {p: w.FloatSlider(value=s.priorities[p], min=0, max=1, step=0.05,
                                         description=p.replace("_", " "), continuous_update=False,
                                         style={"description_width": "110px"}) for p in PRIORITIES}
        self.answer = w.HTML()
        self.table = w.HTML()
        self._suspend = False
        self.scenario.observe(self._on_scenario, names="value")
        for sl in self.sliders.values():
            sl.observe(lambda _c: self._update(), names="value")
        self.widget = w.HBox([w.VBox([self.scenario, *self.sliders.values(), self.answer],
                                     layout=w.Layout(width="56%")), self.table])
        self._update()

    def _on_scenario(self, change):
        from layerlab.course.decisions import get_scenario

        s = get_scenario(change["new"])
        self._suspend = True
        try:
            for p, sl in self.sliders.items():
                sl.value = s.priorities[p]
        finally:
            self._suspend = False
        self._update()

    def _update(self):
        if self._suspend:
            return None
        from layerlab.course.decisions import recommend, recommendation_html, table_html

        rec = recommend(self.scenario.value, **{p: sl.value for p, sl in self.sliders.items()})
        self.recommendation = rec
        self.answer.value = recommendation_html(rec)
        self.table.value = "<b>The course table</b>" + table_html(highlight=rec.scenario)
        return rec

    def _ipython_display_(self):
        from IPython.display import display

        display(self.widget)


__all__ = ["DecisionWidget", "MixAnalysis", "MixFigure", "MixReadout", "MixView", "Mixer", "mux_video"]
