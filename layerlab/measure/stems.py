"""Stems estimated from a premixed track (a video model's native render) with the scene's own clips.

A native render comes as one track; matching the scene's post-generated clips inside it (normalised
cross-correlation near each cue, then a least-squares filter per STFT bin, which recovers
band-limiting and level) splits it into the four layers well enough to measure each one.

Taught in ``lessons/06_native_vs_postgen.ipynb`` (auditing a native render layer by layer).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from layerlab.io.audio import SAMPLE_RATE
from layerlab.measure.correlation import sliding_ncc

__all__ = ["EstimatedStems", "estimate_stems"]


@dataclass
class EstimatedStems:
    """Stems estimated from a premixed track with the scene's own clips.

    Attributes
    ----------
    stems : dict of str to np.ndarray, shape (n_samples, 2), float32
        ``dialogue``, ``sfx``, ``ambience``, ``music``.
    residual : np.ndarray, shape (n_samples, 2)
        What no clip explains (the mix minus the four estimates).
    found : dict
        Per clip id: where it was found (``start_s``) and how well it matched
        (``correlation``), or None if it was not found.
    """

    stems: dict
    residual: np.ndarray
    found: dict


def _fit_filtered(mix: np.ndarray, clip: np.ndarray, start: int, *, nperseg: int = 2048) -> np.ndarray:
    """Least-squares linear filter (per STFT bin, per channel) taking ``clip`` at ``start`` to the mix.

    Returns the filtered clip as it sits in the mix, shape (len, n_channels), placed from ``start``.
    """
    from scipy.signal import istft, stft

    n = mix.shape[0]
    a0, a1 = max(0, start), min(n, start + clip.size)
    if a1 - a0 < nperseg:
        return np.zeros((0, mix.shape[1]))
    x = clip[a0 - start : a1 - start]
    hop = nperseg // 4
    _, _, X = stft(x, nperseg=nperseg, noverlap=nperseg - hop, boundary="even")
    out = []
    for ch in range(mix.shape[1]):
        _, _, Y = stft(mix[a0:a1, ch], nperseg=nperseg, noverlap=nperseg - hop, boundary="even")
        k = min(X.shape[1], Y.shape[1])
        num = np.sum(Y[:, :k] * np.conj(X[:, :k]), axis=1)
        den = np.sum(np.abs(X[:, :k]) ** 2, axis=1)
        # bins where the clip has (almost) nothing are left out: their "gain" would only be leakage
        h = np.where(den > 1e-4 * max(den.max(), 1e-30), num / np.maximum(den, 1e-30), 0.0)
        _, y = istft(h[:, None] * X, nperseg=nperseg, noverlap=nperseg - hop, boundary=True)
        y = y[: a1 - a0]
        if y.size < a1 - a0:
            y = np.concatenate([y, np.zeros(a1 - a0 - y.size)])
        out.append(y)
    return np.stack(out, axis=1)


def estimate_stems(mix, *, lines=(), events=(), beds=None, sample_rate: int = SAMPLE_RATE,
                   search_window_ms: float = 500.0, window_ms: float = 100.0,
                   min_correlation: float = 0.4) -> EstimatedStems:
    """Estimate the four stems of a premixed track (a native render) from the scene's clips.

    A video model's native audio comes as one premixed track, but the scene's
    clean clips are known, so each layer can be found in it: every dialogue
    line by correlation near its cue and a least-squares filter (which also
    recovers band-limiting), the beds by least-squares gains in 100 ms
    windows (so a dropout shows), and every SFX by a matched filter near its
    cue on what is left.

    Parameters
    ----------
    mix : np.ndarray, shape (n_samples, n_channels)
    lines : sequence of (id, start_s, clip)
        Dialogue lines: the cue time and the clean clip, shape (m,) or (m, ch).
    events : sequence of (id, time_s, clip)
        Visual events and their SFX clips.
    beds : dict, optional
        ``{"music": clip, "ambience": clip}``, each laid from 0 s.
    sample_rate : int
    search_window_ms : float
        How far from its cue a line or an effect is looked for.
    window_ms : float
        Bed gain resolution.
    min_correlation : float
        Matched-filter score under which an effect counts as absent.

    Returns
    -------
    EstimatedStems

    Notes
    -----
    Used by :func:`layerlab.checks.run_checks` when a submission has only a
    mix (a native render). Taught in ``lessons/06_native_vs_postgen.ipynb``.
    """
    sr = int(sample_rate)
    x = np.asarray(mix, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]
    n, nch = x.shape
    found: dict = {}
    sw = int(round(search_window_ms * sr / 1000.0))

    def mono(c):
        c = np.asarray(c, dtype=np.float64)
        return c.reshape(len(c), -1).mean(axis=1)

    def match(signal_mono, clip, time_s, threshold):
        """Best start (samples) of ``clip`` within the search window around ``time_s``, or None."""
        cue = int(round(float(time_s) * sr))
        lo = max(0, cue - sw)
        hi = min(n, cue + sw + clip.size)
        seg = signal_mono[lo:hi]
        tpl = clip[: max(0, min(clip.size, seg.size - 1))]
        xc = sliding_ncc(seg, tpl)
        if xc.size == 0:
            return None, 0.0
        k = int(np.argmax(xc))
        return (lo + k, float(xc[k])) if xc[k] >= threshold else (None, float(xc[k]))

    # dialogue: matched filter near each cue, then a least-squares filter (recovers band-limiting)
    dlg = np.zeros_like(x)
    xm = x.mean(axis=1)
    for lid, start_s, clip in lines:
        c = mono(clip)
        start, score = match(xm, c, start_s, min_correlation * 0.75)
        if start is None:
            found[str(lid)] = None
            continue
        y = _fit_filtered(x - dlg, c, start)
        if y.size:
            dlg[start : start + y.shape[0]] += y
        found[str(lid)] = {"start_s": start / sr, "correlation": score}

    names = [k for k in ("music", "ambience") if beds and beds.get(k) is not None]
    refs = []
    for k in names:
        c = mono(beds[k])
        ref = np.zeros(n)
        m = min(n, c.size)
        ref[:m] = c[:m]
        refs.append(ref)

    def fit_beds(rest):
        """Joint least-squares gains of the beds, per window and channel, interpolated per sample."""
        out = {}
        if not names:
            return out
        w = max(1, int(round(window_ms * sr / 1000.0)))
        n_win = int(np.ceil(n / w))
        gains = np.zeros((len(names), nch, n_win))
        for j in range(n_win):
            s0, s1 = j * w, min(n, (j + 1) * w)
            A = np.stack([r[s0:s1] for r in refs], axis=1)
            ata = A.T @ A
            tr = float(np.trace(ata))
            if tr <= 0:
                continue
            ata = ata + 1e-9 * tr * np.eye(len(names))
            for ch in range(nch):
                gains[:, ch, j] = np.maximum(np.linalg.solve(ata, A.T @ rest[s0:s1, ch]), 0.0)
        centres = np.arange(n_win) * w + w / 2.0
        t = np.arange(n)
        for k_i, k in enumerate(names):
            est = np.zeros_like(x)
            for ch in range(nch):
                est[:, ch] = np.interp(t, centres, gains[k_i, ch]) * refs[k_i]
            out[k] = est
            found[k] = {"start_s": 0.0, "median_gain_db": float(20 * np.log10(max(np.median(gains[k_i]), 1e-12)))}
        return out

    # beds, then SFX on what is left, then the beds again without the SFX in the way
    stems_beds = fit_beds(x - dlg)
    rest = x - dlg - sum(stems_beds.values(), np.zeros_like(x))
    sfx = np.zeros_like(x)
    rmono = rest.mean(axis=1)
    for eid, time_s, clip in events:
        c = mono(clip)
        start, score = match(rmono, c, time_s, min_correlation)
        if start is None:
            found[str(eid)] = None
            continue
        m = min(c.size, n - start)
        cc = c[:m]
        e = float(np.sum(cc * cc))
        for ch in range(nch):
            g = float(np.sum(rest[start : start + m, ch] * cc) / e) if e > 0 else 0.0
            sfx[start : start + m, ch] += g * cc
        found[str(eid)] = {"start_s": start / sr, "correlation": score}
    stems_beds = fit_beds(x - dlg - sfx)
    rest = x - dlg - sfx - sum(stems_beds.values(), np.zeros_like(x))

    def two(a):
        a = np.asarray(a, dtype=np.float32)
        return np.repeat(a, 2, axis=1) if a.shape[1] == 1 else a[:, :2]

    stems = {
        "dialogue": two(dlg),
        "sfx": two(sfx),
        "ambience": two(stems_beds.get("ambience", np.zeros_like(x))),
        "music": two(stems_beds.get("music", np.zeros_like(x))),
    }
    return EstimatedStems(stems=stems, residual=two(rest), found=found)
