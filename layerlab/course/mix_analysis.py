"""What the lesson-07 mixer measures: a layer stack's preview, re-measured as the faders move.

:class:`MixAnalysis` renders the preview mix from cached per-layer renders and
measures it with the same primitives the grader uses: loudness
(:func:`layerlab.measure.loudness.analyse`: K-weighting, 400 ms gating, the
LUFS formula, momentary and short-term series) and true peak
(:func:`layerlab.measure.true_peak.peaks_linear`) run on the rendered mix
itself, so the mixer's readout and ``layerlab check`` agree to rounding
(tested to 1e-6 LU and dB) without ducking; a ducked layer's gain enters the
loudness as its means over 10 ms blocks (within
:data:`DUCKED_LOUDNESS_TOLERANCE_LU`, tested). The dialogue-over-background
levels and the masking map come from cached per-layer K-weighted block
energies and band powers (:func:`layerlab.measure.masking.band_power_frames`).

This module holds no widgets; :mod:`layerlab.course.widgets` draws its results.

Taught in ``lessons/07_four_layers.ipynb``.
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass, field

import numpy as np

from layerlab.errors import ParameterError
from layerlab.measure.kweighting import k_weighting_sos, sosfilt
from layerlab.measure.loudness import (
    BLOCK_S,
    BLOCK_STEP_S,
    LoudnessSeries,
    analyse,
    integrated_from_blocks,
    lufs_from_power,
)
from layerlab.measure.masking import audibility_from_snr_db, band_power_frames
from layerlab.measure.true_peak import TAPS_PER_PHASE, db_from_peak, interpolation_phases, refine_peak
from layerlab.mix.ducking import Ducking, db_to_gain
from layerlab.course.mix_view import MixReadout, MixView
from layerlab.mix.stack import LAYERS, LayerStack

__all__ = ["BLOCK_MS", "DUCKED_LOUDNESS_TOLERANCE_LU", "N_FFT", "HOP", "MixAnalysis", "delivery_profile"]

BLOCK_MS = 10.0
"""Resolution of the loudness analysis (EBU Tech 3341 asks for 10 ms or finer)."""

N_FFT = 4096
HOP = 1024
"""STFT of the masking map: the same as :func:`layerlab.measure.masking.band_audibility`."""

DUCKED_LOUDNESS_TOLERANCE_LU = 0.01
"""How far the readout's integrated, momentary and short-term loudness may sit from the grader's meter on
the rendered mix while a layer is ducked, for programme material (tested on the course's scenes at the
sliders' extremes: at most 6e-4 LU). Without ducking they agree to rounding. The limit of the shortcut
(:meth:`MixAnalysis._block_energy10`): a ducked layer that is a pure tone below about 60 Hz, which
K-weighting's high-pass attenuates, ducked with ramps under about 40 ms, reads up to 0.5 LU low (tested),
because the meter hears the ramps' spread of that tone into higher frequencies."""



# ----------------------------------------------------------------------------- analysis


@dataclass
class _LayerData:
    key: object
    pre: np.ndarray
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
    Accuracy against the grader's meters (checked in ``tests/course/test_widgets.py`` and
    ``tests/course/test_mixer_speed_shortcuts.py``): the true peak equals the grader's meter on the
    rendered preview mix to 1e-6 dB after any sequence of control changes (an exact candidate search
    over the mix summed at a few windows only; the mix itself is summed when first asked for).
    Integrated, momentary and short-term loudness come from cached per-10 ms products of the layers'
    K-weighted signals, combined per update as a quadratic form in the fader gains: equal to the
    meter to 1e-6 LU without ducking; a ducked layer's gain enters as its 10 ms block means, within
    :data:`DUCKED_LOUDNESS_TOLERANCE_LU` (``K(d x)`` taken as ``d K(x)``).
    The dialogue-over-background levels average the ducking gain over 10 ms
    blocks (within a few hundredths of an LU); the masking map treats the
    layers as uncorrelated sources, so the index can differ from
    :func:`layerlab.measure.masking.band_audibility` by about 0.01.

    Taught in ``lessons/07_four_layers.ipynb``.
    """

    def __init__(self, stack: LayerStack, *, target="streaming", events=None, n_columns: int = 1000):
        if not isinstance(stack, LayerStack):
            raise ParameterError(f"MixAnalysis needs a LayerStack; got {type(stack).__name__}.")
        self.stack = stack
        self.target = delivery_profile(target)
        self.events = list(events or [])
        self.n_columns = int(n_columns)
        self._layers: dict[str, _LayerData] = {}
        self._activity = None
        self._sync = None
        self._duck = None
        self._kpairs: dict[tuple, tuple] = {}  # (a, b) -> ((key a, key b), per-10 ms sums of their K-weighted product)
        self._duck_blocks = None  # (duck_lin, per-10 ms means of the ducking gain and of its square)
        self._duck_pool: list = []  # recycled (dB, linear) arrays of the ducking gain (:meth:`_duck_buffers`)
        self._peak_windows: list = []  # true-peak search windows that held the last update's peaks (searched first)
        self._frac = None
        sr = stack.sample_rate
        self.block = int(round(BLOCK_MS * 1e-3 * sr))
        self._sig = None
        self._duck_seg = None
        self._runs = None  # (key, (starts, ends)) of the sidechain's active runs
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
            if "dialogue" in changed:
                self._activity = None
            if "sfx" in changed:
                self._sync = None
        return changed

    def _analyse_layer(self, key, pre) -> _LayerData:
        sr = self.stack.sample_rate
        bands = band_power_frames(pre, sr, N_FFT, HOP)
        peak = np.abs(pre).max(axis=1)
        cols = _column_reduce(peak, self.n_columns, np.max)
        return _LayerData(key=key, pre=pre, bands=bands, columns=cols)

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
        # the preview mix itself is summed only when asked for (player, video, tests): the meters below
        # read the layers' cached products and, for the true peak, the mix at a few candidate windows
        mix_of = _LazyMix(self, gains, duck_lin, ducked)
        t2 = time.perf_counter()
        # ducking gain, linear, at 1 ms (masking frames, waveform columns) and its means per 10 ms block
        step = max(1, sr // 1000)
        duck_ms = duck_lin[::step].astype(np.float64)
        w1, w2 = self._duck_block_means(duck_lin, nb)
        e2 = w2 if ducked else np.ones(nb)
        # Loudness: the grader's gating and LUFS formula on 10 ms block energies of the K-weighted mix, a
        # quadratic form in the fader gains over cached per-block products of the layers' K-weighted signals
        # (:meth:`_block_energy10`: the grader's meter to rounding without ducking; with it, within
        # DUCKED_LOUDNESS_TOLERANCE_LU for programme material).
        energy = self._block_energy10(gains, ducked, w1, w2, nb)
        if energy is None:  # a rate without whole 10 ms blocks: measure the render itself
            analysis = analyse(mix_of(), sr)
            momentary, short_term = analysis.series("momentary"), analysis.series("short_term")
            integrated = analysis.integrated()
        else:
            momentary, short_term, integrated = _loudness_from_blocks10(energy, self.block, sr)
        m_times, m_lufs = momentary.times_s, momentary.lufs
        s_times, s_lufs = short_term.times_s, short_term.lufs
        t3 = time.perf_counter()
        tp = db_from_peak(self._true_peak(gains, duck_lin, ducked))
        t4 = time.perf_counter()
        # dialogue over music / ambience, the way layerlab.measure.masking measures it
        mask = self._dialogue_activity() if gains["dialogue"] > 0 else np.zeros(n, dtype=bool)

        def self_energy(name):
            w = e2 if name in ducked else 1.0
            return gains[name] ** 2 * w * self._pair_sums(name, name, nb)

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
        return MixView(mix_source=mix_of, duck_gain_db=duck_db, stack=st, readout=readout, column_times_s=col_times, envelopes=envelopes,
                       duck_gain=duck_cols.astype(np.float32), momentary_times_s=m_times, momentary_lufs=m_lufs,
                       short_term_times_s=s_times, short_term_lufs=s_lufs, masking_map=masking_map,
                       masking_times_s=masking_times)

    def _true_peak(self, gains, duck_lin, ducked) -> float:
        """Linear true peak of the preview mix (:func:`_true_peak_of_sum`), from per-layer segment peaks.

        The search's candidate windows are pruned with per-layer window peaks (:meth:`_window_peaks`):
        the interpolated mix is a sum of the layers' interpolated signals times their gains, so the sum of
        each layer's gain times its own largest interpolated value in a window bounds the mix there (where
        a ducked layer's gain is not constant over the window, its term falls back to the filter's sum of
        ``|taps|`` times its segment peaks). Only a bound changes: the value found is the same.
        """
        parts, seg_bound, terms = [], None, []
        for name in LAYERS:
            g = gains[name]
            if g == 0.0:
                continue
            data = self._layers[name]
            pk = data.extra.get("segment_peaks")
            if pk is None:
                pk = data.extra["segment_peaks"] = _segment_peaks(data.pre)
            lin = duck_lin if name in ducked else None
            g32 = float(np.float32(g))
            if lin is not None:
                if self._duck_seg is None or self._duck_seg[0] is not duck_lin:
                    shape = self._duck[4] if self._duck is not None and self._duck[2] is duck_lin else None
                    self._duck_seg = (duck_lin, _duck_segment_max(duck_lin, shape), _duck_segment_min(duck_lin, shape))
                term = pk * self._duck_seg[1] * g32
            else:
                term = pk * g32
            seg_bound = term if seg_bound is None else seg_bound + term
            parts.append((data.pre, g, lin))
            terms.append((name, g32, lin is not None, pk))
        if seg_bound is None:
            return 0.0

        def tighten(windows: np.ndarray, reach: np.ndarray) -> np.ndarray:
            total = np.zeros(windows.size)
            for name, g32, is_ducked, pk in terms:
                tp = self._window_peaks(name, windows)
                if not is_ducked:
                    total += g32 * tp
                    continue
                # window w reads segments w - 1 and w: the ducking gain's range over them
                smax = np.concatenate([[0.0], self._duck_seg[1], [0.0]])
                smin = np.concatenate([[np.inf], self._duck_seg[2], [np.inf]])
                dmax = np.maximum(smax[windows], smax[windows + 1])
                flat = dmax == np.minimum(smin[windows], smin[windows + 1])
                pkp = np.concatenate([[0.0], pk, [0.0]])
                crude = _TAPS_ABS_SUM[0] * np.maximum(pkp[windows], pkp[windows + 1])
                total += g32 * dmax * np.where(flat, tp, crude)
            # float32 products and sums in the mix: margins far above their rounding keep it a bound
            return total * (1.0 + 1e-5) + 1e-6 * reach

        # float32 sums of float32 products: a relative margin far above their rounding keeps it a bound
        return _true_peak_of_sum(_SumSamples(parts, self.stack.n_samples), seg_bound * (1.0 + 1e-5), tighten=tighten,
                                 hint=self._peak_windows)

    def _window_peaks(self, name: str, windows: np.ndarray) -> np.ndarray:
        """Largest ``|interpolated sample|`` (4x, all channels) of one layer alone in each true-peak search window.

        Kept per layer and clip set, computed the first time a window is asked for (a search window ``w`` is
        32 interpolated rows reading the layer's 32-sample segments ``w - 1`` and ``w``).
        """
        data = self._layers[name]
        n_win = -(-self.stack.n_samples // _SEG) + 2
        kept = data.extra.get("window_peaks")
        if kept is None:
            kept = data.extra["window_peaks"] = np.full(n_win, np.nan)
        got = kept[windows]
        missing = np.isnan(got)
        if missing.any():
            todo = windows[missing]
            kept[todo] = _window_peaks_of(_SumSamples([(data.pre, 1.0, None)], self.stack.n_samples), todo)
            got = kept[windows]
        return got

    def _block_energy10(self, gains, ducked, w1, w2, nb):
        """K-weighted energy of the mix per 10 ms block (sum over channels), or None if blocks are not whole.

        K-weighting is linear, so the K-weighted mix is the sum of the layers' K-weighted signals ``Y_i``
        times their fader gains, and its energy per block a quadratic form in the gains over cached
        per-block sums of ``Y_i * Y_j`` (all ten pairs of the four layers, summed once per clip set). The
        ducking gain ``d`` of a ducked layer enters as its mean over the block (``w1``; ``w2``, the mean of
        ``d**2``, where both sides are ducked): that takes ``K(d * x)`` as ``d * K(x)`` and ``d`` as
        constant within 10 ms, so a ducking change costs a few array products over 10 ms blocks
        instead of K-weighting the ducked layer again. Without ducking the result equals the grader's
        meter on the rendered mix to rounding; with it, within :data:`DUCKED_LOUDNESS_TOLERANCE_LU` for
        programme material (its note gives the limit; ``tests/course/test_mixer_speed_shortcuts.py``).
        """
        sr = self.stack.sample_rate
        if sr % 100 or self.block * 100 != sr:
            return None
        names = [name for name in LAYERS if gains[name] != 0.0]
        energy = np.zeros(nb)
        for i, a in enumerate(names):
            for b in names[i:]:
                k = (a in ducked) + (b in ducked)
                w = 1.0 if k == 0 else (w1 if k == 1 else w2)
                energy += (gains[a] * gains[b] * (1.0 if a == b else 2.0)) * (w * self._pair_sums(a, b, nb))
        return np.maximum(energy, 0.0)

    def _pair_sums(self, a: str, b: str, nb: int) -> np.ndarray:
        """Per-10 ms-block sums over channels and samples of ``K(a) * K(b)`` (the layers before fader and ducking).

        All ten pairs are summed together whenever a layer's clips change, from the layers' K-weighted
        signals, which are then let go: the sums are all an update needs, and four float64 copies of a
        30 s stereo scene would hold 90 MB for nothing.
        """
        keys = {name: self._layers[name].key for name in LAYERS}
        cur = self._kpairs.get((a, b))
        if cur is None or cur[0] != (keys[a], keys[b]) or cur[1].size != nb:
            sr, blk = self.stack.sample_rate, self.block
            kweighted = {}
            for i, x in enumerate(LAYERS):
                for y in LAYERS[i:]:
                    kept = self._kpairs.get((x, y))
                    if kept is not None and kept[0] == (keys[x], keys[y]) and kept[1].size == nb:
                        continue
                    for name in (x, y):
                        if name not in kweighted:
                            k = np.array(self._layers[name].pre.T, dtype=np.float64, order="C")
                            sosfilt(k_weighting_sos(sr), k, np.zeros((k.shape[0], 2, 2)))
                            kweighted[name] = k
                    self._kpairs[(x, y)] = ((keys[x], keys[y]), _block_products(
                        kweighted[x][:, : nb * blk], kweighted[y][:, : nb * blk], blk))
            cur = self._kpairs[(a, b)]
        return cur[1]

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
            lin = np.ones(n, dtype=np.float32)
            shape = ([], [])
        else:
            rkey = (self._layers["dialogue"].key, st["dialogue"].gain_db, d.threshold_db, d.hold_ms, d.lookahead_ms)
            if self._runs is None or self._runs[0] != rkey:  # a depth or time change keeps where the sidechain is active
                self._runs = (rkey, self._active_runs(d))
            starts, ends = self._runs[1]
            db, lin, shape = _duck_gain_from_runs(starts, ends, n, depth_db=d.depth_db, attack_ms=d.attack_ms,
                                                  release_ms=d.release_ms, sample_rate=st.sample_rate,
                                                  out=self._duck_buffers(n))
        full = lin[0] if key is None or n == 0 else np.exp(np.float32(-d.depth_db) * np.float32(math.log(10.0) / 20.0))
        self._duck = (key, db, lin, np.float32(full), shape)
        return db, lin

    def _duck_block_means(self, lin: np.ndarray, nb: int):
        """Means of the ducking gain ``lin`` and of its square per 10 ms block, (nb,) float64 each.

        Blocks wholly at 0 dB or wholly fully ducked are written from the envelope's shape
        (:func:`_duck_gain_from_runs`); only blocks touching a ramp or an edge of the fully ducked
        stretches are read from ``lin`` (the same values).
        """
        cur = self._duck_blocks
        if cur is not None and cur[0] is lin and cur[1].size == nb:
            return cur[1], cur[2]
        blk = self.block
        w1, w2 = np.ones(nb), np.ones(nb)
        shape = self._duck[4] if self._duck is not None and self._duck[2] is lin else None
        if shape is None:
            touched = [(0, nb)]
        else:
            ramps, fulls = shape
            touched = []
            for a, b in fulls:
                b0, b1 = -(-a // blk), min(b // blk, nb)  # blocks wholly inside
                if b1 > b0:
                    w1[b0:b1] = float(lin[a])
                    w2[b0:b1] = float(lin[a]) ** 2
                touched += [(a // blk, a // blk + 1), ((b - 1) // blk, (b - 1) // blk + 1)]
            touched += [(a // blk, (b - 1) // blk + 1) for a, b in ramps if b > a]
        for b0, b1 in _merge_ranges(touched):
            b1 = min(b1, nb)
            if b1 > b0:
                x = lin[b0 * blk : b1 * blk].astype(np.float64).reshape(b1 - b0, blk)
                w1[b0:b1] = x.mean(axis=1)
                w2[b0:b1] = np.square(x).mean(axis=1)
        self._duck_blocks = (lin, w1, w2)
        return w1, w2

    def _duck_buffers(self, n: int) -> tuple:
        """Two float32 (n,) arrays for a new ducking gain, recycled from an earlier update when nothing holds them.

        A view keeps the ducking gain it was made with (its ``duck_gain_db`` and the mix it sums on
        demand), so a pair is written again only when no view, cache or caller refers to it any more; a
        fresh 30 s pair costs its page faults (1-2 ms) on every ducking change.
        """
        # an array only the pool holds counts its tuple, the loop's name and getrefcount's argument: measured on
        # a probe held the same way (not a constant: it depends on the interpreter)
        free = max(sys.getrefcount(a) for a in (np.empty(0),))
        for pair in self._duck_pool:
            if pair[0].size == n and all(sys.getrefcount(a) <= free for a in pair):
                return pair
        pair = (np.empty(n, dtype=np.float32), np.empty(n, dtype=np.float32))
        self._duck_pool = (self._duck_pool + [pair])[-3:]
        return pair

    def _active_runs(self, d: Ducking):
        """Where the ducker's sidechain (the dialogue after its fader) is active, as sorted runs ``(starts, ends)``.

        The detector of :func:`layerlab.mix.ducking.sidechain_active` (10 ms RMS over a threshold, then
        hold and look-ahead): its window sums of the dialogue before the fader are kept, so a fader or
        threshold change only moves the threshold (``sum * gain**2 > threshold``).
        """
        from layerlab.mix.ducking import DETECTOR_WINDOW_MS

        st = self.stack
        sr, n = st.sample_rate, st.n_samples
        layer = self._layers["dialogue"]
        win = max(1, int(round(DETECTOR_WINDOW_MS * 1e-3 * sr)))
        sums = layer.extra.get("detector_sums")
        if sums is None:
            x = layer.pre
            power = np.square(x[:, 0]) if x.shape[1] == 1 else np.mean(np.square(x), axis=1)
            half = win // 2
            csum = np.cumsum(power, dtype=np.float64)
            padded = np.concatenate([np.zeros(half + 1), csum, np.full(win - half, csum[-1] if n else 0.0)])
            sums = layer.extra["detector_sums"] = padded[win : win + n] - padded[:n]
        g = float(db_to_gain(st["dialogue"].gain_db))
        if g == 0.0 or n == 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        threshold = win * 10.0 ** (d.threshold_db / 10.0) / (g * g)
        edges = _crossings(sums, threshold, layer.extra)
        bounds = np.concatenate([[0] if sums[0] > threshold else [], edges,
                                 [n] if sums[-1] > threshold else []]).astype(np.int64)
        starts, ends = bounds[0::2], bounds[1::2]
        hold = int(round(d.hold_ms * 1e-3 * sr))
        ahead = int(round(d.lookahead_ms * 1e-3 * sr))
        starts, ends = np.maximum(starts - ahead, 0), np.minimum(ends + hold, n)
        if starts.size > 1:  # runs that now touch or overlap are one run (as dilate_runs makes them)
            keep = starts[1:] > ends[:-1]
            starts = np.concatenate([starts[:1], starts[1:][keep]])
            ends = np.concatenate([ends[:-1][keep], ends[-1:]])
        return starts, ends

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
        kmap = audibility_from_snr_db(snr)
        masking_map = np.where(act[None, :], kmap, np.nan)
        if not act.any():
            return masking_map, times, float("nan")
        from layerlab.measure.masking import BAND_IMPORTANCE

        ld = pd[:, act].mean(axis=1)
        lr = pr[:, act].mean(axis=1) + floor
        per_band = audibility_from_snr_db(10.0 * np.log10(np.maximum(ld, 1e-300) / lr))
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


class _LazyMix:
    """The preview mix of one update, summed on first call (then kept).

    Holds the arrays of that update (layer samples, gains, ducking gain), so a later update does not
    change what an earlier view returns.
    """

    def __init__(self, analysis: "MixAnalysis", gains: dict, duck_lin: np.ndarray, ducked: set):
        self._parts = [(analysis._layers[name].pre, gains[name], duck_lin if name in ducked else None)
                       for name in LAYERS]
        self._n = analysis.stack.n_samples
        self._mix = None

    def __call__(self) -> np.ndarray:
        if self._mix is None:
            out = None
            for pre, g, lin in self._parts:
                if g == 0.0:
                    continue
                src = pre if lin is None else np.multiply(pre, lin[:, None], dtype=np.float32)
                term = np.multiply(src, np.float32(g), dtype=np.float32)
                if out is None:
                    out = term
                else:
                    out += term
            self._mix = out if out is not None else np.zeros((self._n, 2), dtype=np.float32)
            self._parts = None
        return self._mix


_CROSS_BLOCK = 512
"""Samples per block of :func:`_crossings`' kept extremes."""


def _crossings(x: np.ndarray, threshold: float, kept: dict) -> np.ndarray:
    """Indices ``i`` (ascending) where ``x[i] > threshold`` differs from ``x[i - 1] > threshold``, int64.

    The same as ``np.flatnonzero(raw[1:] != raw[:-1]) + 1`` with ``raw = x > threshold``, read from the
    blocks of :data:`_CROSS_BLOCK` samples whose extremes (kept in ``kept``) straddle the threshold, and
    from block boundaries, instead of from every sample.
    """
    n = x.shape[0]
    blk = _CROSS_BLOCK
    ext = kept.get("crossing_extremes")
    if ext is None or ext[0] is not x:
        nbk = -(-n // blk)
        padded = np.concatenate([x, np.full(nbk * blk - n, x[-1] if n else 0.0)]).reshape(nbk, blk)
        ext = kept["crossing_extremes"] = (x, padded.min(axis=1), padded.max(axis=1))
    _, lo, hi = ext
    nbk = lo.size
    if n < 2:
        return np.zeros(0, dtype=np.int64)
    first = x[np.arange(nbk) * blk] > threshold
    last = x[np.minimum(np.arange(1, nbk + 1) * blk, n) - 1] > threshold
    out = [(np.flatnonzero(last[:-1] != first[1:]) + 1) * blk]  # between blocks
    mixed = np.flatnonzero((lo <= threshold) & (hi > threshold))  # inside blocks (the padding repeats x[-1])
    if mixed.size:
        idx = mixed[:, None] * blk + np.arange(blk)
        raw = x[np.minimum(idx, n - 1)] > threshold
        r, j = np.nonzero(raw[:, 1:] != raw[:, :-1])
        out.append(idx[r, j + 1])
    edges = np.concatenate(out).astype(np.int64)
    edges.sort()
    return edges[edges < n]


def _loudness_from_blocks10(energy10: np.ndarray, block: int, sr: int):
    """Momentary and short-term series and integrated loudness from 10 ms block energies.

    The windows are the grader's (:class:`layerlab.measure.loudness.LoudnessAnalysis`): 400 ms gating
    blocks on a 100 ms step, momentary 400 ms and short-term 3 s windows ending on the 10 ms grid.
    """
    nb = energy10.size
    csum = np.concatenate([[0.0], np.cumsum(energy10)])

    def series(n_blocks, window_s):
        if nb < n_blocks:
            return LoudnessSeries(np.zeros(0), np.zeros(0), window_s)
        ends = np.arange(n_blocks, nb + 1)
        e = np.maximum((csum[ends] - csum[ends - n_blocks]) / (n_blocks * block), 0.0)
        return LoudnessSeries(ends * block / sr, lufs_from_power(e), window_s)

    per_block = int(round(BLOCK_S * 100))  # 10 ms blocks per gating block
    per_step = int(round(BLOCK_STEP_S * 100))
    starts = np.arange(0, nb - per_block + 1, per_step) if nb >= per_block else np.zeros(0, dtype=np.int64)
    gating = np.maximum((csum[starts + per_block] - csum[starts]) / (per_block * block), 0.0)
    return series(per_block, BLOCK_S), series(300, 3.0), integrated_from_blocks(gating)


def _block_products(a: np.ndarray, b: np.ndarray, block: int) -> np.ndarray:
    """Per-block sums over channels and samples of ``a * b``, both (ch, k * block) float64."""
    ch, m = a.shape
    k = m // block
    a3, b3 = a[:, : k * block].reshape(ch, k, block), b[:, : k * block].reshape(ch, k, block)
    if _VECDOT is not None:  # numpy >= 2: a third faster than einsum here
        return _VECDOT(a3, b3).sum(axis=0)
    return np.einsum("cbk,cbk->b", a3, b3)


_VECDOT = getattr(np, "vecdot", None)


def _merge_ranges(ranges, *, gap: int = 0) -> list:
    """Sorted, non-overlapping union of ``[start, end)`` ranges; ranges ``gap`` or less apart are joined."""
    out = []
    for a, b in sorted(ranges):
        if out and a <= out[-1][1] + gap:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def _duck_gain_from_runs(starts, ends, n: int, *, depth_db: float, attack_ms: float, release_ms: float,
                         sample_rate: int, out=None):
    """The ducking gain, dB and linear (both (n,) float32), from the sidechain's active runs, and where it ramps.

    The envelope of :func:`layerlab.mix.ducking.envelope_from_active` (target ``-depth_db`` while
    active, 0 otherwise; falls at most ``depth_db / attack`` and rises at most ``depth_db / release``
    dB per sample), written run by run: inside a run ``h = max(-depth, h0 - down * j)``; after it
    ``h = max(min(0, -depth + up * j), h0 - down * j)``. Only the ramps are computed; the rest is 0 or
    ``-depth_db``. Equal to the running-extremum form to float64 rounding; the linear gain is
    ``10 ** (dB / 20)`` in float32, as the mixer applies it. The third value is ``(ramps, fulls)``:
    sorted ``[start, end)`` ranges computed on a ramp and ranges held at ``-depth_db`` (everything else is 0 dB).
    ``out``: two float32 (n,) arrays to write the dB and linear gains into (new ones by default).
    """
    depth = float(depth_db)
    if out is None:
        db, lin = np.zeros(n, dtype=np.float32), np.ones(n, dtype=np.float32)
    else:
        db, lin = out
        db.fill(0.0)
        lin.fill(1.0)
    ramps, fulls = [], []  # [start, end) of the samples computed on a ramp, and of those at -depth_db
    if n == 0 or depth == 0 or len(starts) == 0:
        return db, lin, (ramps, fulls)
    c = np.float32(math.log(10.0) / 20.0)

    def to_lin(x):
        return np.exp(x.astype(np.float32) * c).astype(np.float32)

    full = to_lin(np.array([-depth]))[0]
    down = depth / (attack_ms * 1e-3 * sample_rate)
    up = depth / (release_ms * 1e-3 * sample_rate)
    h = 0.0 if starts[0] > 0 else -depth  # the envelope before sample 0 (the meter starts ducked if active)
    prev_end = None
    for s0, e0 in zip(list(starts) + [n], list(ends) + [n]):
        s0, e0 = int(s0), int(e0)
        if prev_end is not None and s0 > prev_end:  # the gap after a run: release (and any attack still going)
            length = s0 - prev_end
            m = min(length, int(math.ceil(depth / up)) + 1)
            j = np.arange(1, m + 1, dtype=np.float64)
            ramp = np.clip(np.maximum(np.minimum(0.0, -depth + up * j), h - down * j), -depth, 0.0)
            db[prev_end : prev_end + m] = ramp
            lin[prev_end : prev_end + m] = to_lin(ramp)
            ramps.append((prev_end, prev_end + m))
            h = float(ramp[-1]) if m == length else 0.0
        if s0 >= n:
            break
        length = e0 - s0  # a run: attack from where the envelope stands
        m = min(length, max(0, int(math.ceil((h + depth) / down)) + 1))
        last = -depth
        if m:
            j = np.arange(1, m + 1, dtype=np.float64)
            ramp = np.clip(np.maximum(-depth, h - down * j), -depth, 0.0)
            db[s0 : s0 + m] = ramp
            lin[s0 : s0 + m] = to_lin(ramp)
            ramps.append((s0, s0 + m))
            last = float(ramp[-1])
        db[s0 + m : e0] = -depth
        lin[s0 + m : e0] = full
        if e0 > s0 + m:
            fulls.append((s0 + m, e0))
        h = last if m == length else -depth
        prev_end = e0
    return db, lin, (ramps, fulls)


def delivery_profile(target):
    """A :class:`layerlab.measure.targets.DeliveryProfile` from itself or its name."""
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


# ----------------------------------------------------------------------------- true peak of a sum of layers

_SEG = 32  # samples per bound segment: a window of 32 interpolation rows reads two segments (TAPS_PER_PHASE = 32)


def _segment_peaks(x: np.ndarray) -> np.ndarray:
    """Largest ``|sample|`` over all channels of each 32-sample segment of ``x`` (n, ch), float64."""
    n = x.shape[0]
    s = -(-n // _SEG)
    out = np.zeros(s)
    whole = n // _SEG
    if whole:
        seg = x[: whole * _SEG].reshape(whole, _SEG * x.shape[1])
        out[:whole] = np.maximum(seg.max(axis=1), -seg.min(axis=1))
    if whole < s:
        rest = x[whole * _SEG :]
        out[whole] = max(float(rest.max()), -float(rest.min()))
    return out


def _segment_max_1d(x: np.ndarray, *, smallest: bool = False) -> np.ndarray:
    """Largest (``smallest=True``: smallest) value of each 32-sample segment of a 1-D array, float64."""
    n = x.shape[0]
    whole = n // _SEG
    reduce = np.min if smallest else np.max
    out = reduce(x[: whole * _SEG].reshape(whole, _SEG), axis=1).astype(np.float64)
    if whole * _SEG < n:
        out = np.append(out, float(reduce(x[whole * _SEG :])))
    return out


def _duck_segment_max(lin: np.ndarray, shape, *, smallest: bool = False) -> np.ndarray:
    """:func:`_segment_max_1d` of a ducking gain, read only where it is not flat.

    ``shape`` is ``(ramps, fulls)`` of :func:`_duck_gain_from_runs`: the gain is 1 outside them and the
    fully ducked value inside ``fulls``, so only segments touching a ramp or an edge of ``fulls`` are
    read (the same values; ``shape=None`` reads everything). ``smallest=True``: the smallest value instead.
    """
    if shape is None:
        return _segment_max_1d(lin, smallest=smallest)
    ramps, fulls = shape
    n = lin.shape[0]
    out = np.ones(-(-n // _SEG))
    touched = []
    for a, b in fulls:
        s0, s1 = -(-a // _SEG), b // _SEG  # segments wholly inside
        if s1 > s0:
            out[s0:s1] = float(lin[a])
        touched += [(a // _SEG, a // _SEG + 1), ((b - 1) // _SEG, (b - 1) // _SEG + 1)]
    touched += [(a // _SEG, (b - 1) // _SEG + 1) for a, b in ramps if b > a]
    for s0, s1 in _merge_ranges(touched):
        out[s0:s1] = _segment_max_1d(lin[s0 * _SEG : min(s1 * _SEG, n)], smallest=smallest)
    return out


def _duck_segment_min(lin: np.ndarray, shape) -> np.ndarray:
    """Smallest value of each 32-sample segment of a ducking gain (see :func:`_duck_segment_max`)."""
    return _duck_segment_max(lin, shape, smallest=True)


_BANDED: dict = {}
_TAPS_ABS_SUM = [max(1.0, float(np.abs(interpolation_phases(4)).sum(axis=0).max())) * (1.0 + 1e-9)]
"""The 4x interpolation filter's largest sum of ``|taps|`` over its phases (a window's bound per segment peak)."""


def _window_peaks_of(samples: "_SumSamples", windows: np.ndarray, oversample: int = 4) -> np.ndarray:
    """Largest ``|interpolated value|`` over all channels in each true-peak search window of ``samples``, float64."""
    band = _banded_phases(oversample)
    taps = TAPS_PER_PHASE
    out = np.zeros(windows.size)
    for pos in range(0, windows.size, 2048):
        part = windows[pos : pos + 2048]
        need = np.union1d(part - 1, part)
        segs = samples.segments(need)
        at = np.searchsorted(need, part - 1)
        vals = np.concatenate([segs[at], segs[at + 1, : taps - 1]], axis=1)  # (k, 63, ch)
        peak = np.zeros(part.size)
        for c in range(samples.channels):
            seg = vals[:, :, c].astype(np.float64)
            y = np.concatenate([np.abs(seg[r : r + 16] @ band).max(axis=1) for r in range(0, seg.shape[0], 16)])
            peak = np.maximum(peak, y)
        out[pos : pos + part.size] = peak
    return out


def _banded_phases(oversample: int) -> np.ndarray:
    """The interpolation filter as a (63, 32 * oversample) matrix: column ``4r + p`` is row ``r``, phase ``p``."""
    if oversample not in _BANDED:
        phases = interpolation_phases(oversample)
        m = np.zeros((_SEG + TAPS_PER_PHASE - 1, _SEG * oversample))
        for r in range(_SEG):
            m[r : r + TAPS_PER_PHASE, r * oversample : (r + 1) * oversample] = phases
        _BANDED[oversample] = m
    return _BANDED[oversample]


class _SumSamples:
    """Samples of the preview mix at chosen indices, computed exactly as :meth:`MixAnalysis._mix` does.

    ``parts`` is a list of ``(pre, gain, lin)`` in mix order: the layer's samples (n, 2) float32, its
    fader gain and its ducking gain (n,) float32 or None. Each value is the same float32 arithmetic as
    the full mix (ducking product, fader product, sums in layer order), so equal to it bit for bit.
    """

    def __init__(self, parts, n: int, channels: int = 2):
        self.parts = parts
        self.n = n
        self.channels = channels

    def at(self, idx: np.ndarray) -> np.ndarray:
        """Mix samples at ``idx`` (any shape, indices outside 0..n-1 read silence), shape idx.shape + (ch,)."""
        flat = idx.reshape(-1)
        inside = (flat >= 0) & (flat < self.n)
        safe = np.where(inside, flat, 0)
        out = None
        for pre, gain, lin in self.parts:
            v = pre[safe]
            if lin is not None:
                v = np.multiply(v, lin[safe][:, None], dtype=np.float32)
            v = np.multiply(v, np.float32(gain), dtype=np.float32)
            out = v if out is None else np.add(out, v, dtype=np.float32)
        if out is None:
            out = np.zeros((flat.size, self.channels), dtype=np.float32)
        out[~inside] = 0.0
        return out.reshape(idx.shape + (self.channels,))

    def segments(self, seg: np.ndarray) -> np.ndarray:
        """Mix samples of whole 32-sample segments ``seg`` (segment k = samples 32k .. 32k+31; others read silence).

        Returns
        -------
        np.ndarray, shape (len(seg), 32, ch), float32
        """
        n, ch = self.n, self.channels
        whole = n // _SEG
        q = np.asarray(seg, dtype=np.int64)
        inside = (q >= 0) & (q < whole)
        safe = np.where(inside, q, 0)
        out = None
        for pre, gain, lin in self.parts:
            v = pre[: whole * _SEG].reshape(whole, _SEG, ch)[safe] if whole else np.zeros((q.size, _SEG, ch), np.float32)
            if lin is not None and whole:
                v = np.multiply(v, lin[: whole * _SEG].reshape(whole, _SEG)[safe][:, :, None], dtype=np.float32)
            v = np.multiply(v, np.float32(gain), dtype=np.float32)
            out = v if out is None else np.add(out, v, dtype=np.float32)
        if out is None:
            return np.zeros((q.size, _SEG, ch), dtype=np.float32)
        out[~inside] = 0.0
        partial = np.flatnonzero(q == whole)
        if partial.size and n > whole * _SEG:  # the last, incomplete segment
            out[partial] = self.at(np.arange(whole * _SEG, (whole + 1) * _SEG))
        return out


def _true_peak_of_sum(samples: _SumSamples, seg_bound: np.ndarray, oversample: int = 4, *, tighten=None,
                      hint=None) -> float:
    """Linear true peak (never below the sample peak) of the preview mix, without rendering it.

    The same value as :func:`layerlab.measure.true_peak.peaks_linear` on the rendered mix (its
    interpolation filter, its first-largest-value rule and its parabola refinement), found by the
    same provably exact candidate search, bounded per 32-sample segment by ``seg_bound`` (an upper
    bound of ``|mix|`` there: the sum of each layer's gain times its own segment peak) instead of the
    mix's own samples, so only the candidate windows (a few per cent) are ever summed.

    ``tighten(windows, reach)``, if given, returns tighter upper bounds of the interpolated mix's
    ``|value|`` in those search windows (``reach``: the bounds from ``seg_bound``); windows whose
    bound, or whose samples' bound, is under the best value found among the loudest 64 are not summed.
    With ``tighten``, the first windows searched are the 16 loudest bounds and ``hint`` (a list the
    function fills with the windows that held the peaks: pass the same list again on the next update),
    whose values usually prune every other window.
    """
    phases = interpolation_phases(oversample)  # kept by the meter: the Kaiser window and sinc once per factor
    taps = TAPS_PER_PHASE
    bound = max(1.0, float(np.abs(phases).sum(axis=0).max())) * (1.0 + 1e-9)
    band = _banded_phases(oversample)
    # segments of the padded signal xp = [32 zeros, x, 32 zeros (and beyond)]
    b = np.concatenate([[0.0], seg_bound, [0.0, 0.0]])
    reach = np.maximum(b[:-1], b[1:]) * bound  # window w: rows 32w .. 32w+31 of xp, reading segments w, w+1
    ch = samples.channels
    best = [(0.0, -1) for _ in range(ch)]  # per channel: (|y|, oversampled index in xp rows)
    sample_peak = 0.0

    def search(batch):
        nonlocal sample_peak
        for pos in range(0, batch.size, 2048):  # bounded memory for a loud, dense mix
            part = batch[pos : pos + 2048]
            # window w reads segments w and w + 1 of xp = [32 zeros, x, ...]: segments w - 1 and w of x
            need = np.union1d(part - 1, part)
            segs = samples.segments(need)
            pos = np.searchsorted(need, part - 1)
            vals = np.concatenate([segs[pos], segs[pos + 1, : taps - 1]], axis=1)  # (k, 63, ch)
            sample_peak = max(sample_peak, float(np.abs(vals).max()))
            for c in range(ch):
                seg = vals[:, :, c].astype(np.float64)
                # all 32 rows of a window in one product with the banded (63, 32 * oversample) matrix; 16
                # windows per product so OpenBLAS stays on one thread (on a loaded 2-core machine its
                # threads slow it down by an order of magnitude)
                y = np.concatenate([np.abs(seg[r : r + 16] @ band).reshape(-1) for r in range(0, seg.shape[0], 16)])
                value = float(y.max())
                # the first largest value in time (the meter's rule); windows are not in time order here
                where = np.flatnonzero(y == value)
                index = int(np.min(part[where // (_SEG * oversample)] * (_SEG * oversample) + where % (_SEG * oversample)))
                if value > best[c][0] or (value == best[c][0] and index < best[c][1]):
                    best[c] = (value, index)

    live = np.flatnonzero(reach > 0.0)
    if live.size:
        # the loudest bounds first: their values prune the rest, which are then searched in one go
        k = 64 if tighten is None else 16
        first = live[np.argpartition(-reach[live], k - 1)[:k]] if live.size > k else live
        if tighten is not None and hint:
            first = np.union1d(first, [w for w in hint if 0 <= w < reach.size and reach[w] > 0.0])
        search(first)
        floor = min(v for v, _ in best)
        cand = np.flatnonzero(reach >= floor)
        if tighten is not None and cand.size:
            # the window's samples are bounded by its segments' bounds (reach / bound): a sample peak above
            # every interpolated value must still be found
            tight = np.maximum(tighten(cand, reach[cand]), reach[cand] / bound)
            cand = cand[tight >= floor]
        rest = np.setdiff1d(cand, first, assume_unique=True)
        if rest.size:
            search(rest)
    if hint is not None:
        hint[:] = sorted({index // (_SEG * oversample) for _, index in best if index >= 0})
    peak = 0.0
    for c in range(ch):
        value, index = best[c]
        if index < 0:
            continue
        row, phase = divmod(index, oversample)
        context = samples.at(np.arange(row - 1, row + taps + 1) - taps)[:, c].astype(np.float64)
        around = (np.lib.stride_tricks.sliding_window_view(context, taps) @ phases).reshape(-1)
        peak = max(peak, refine_peak(around, oversample + phase))
    return max(peak, sample_peak)
