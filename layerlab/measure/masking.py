"""Is the dialogue heard over everything else? Level differences and band audibility.

Three measurements, all on arrays, all over the moments the dialogue stem
says someone is speaking:

* :func:`dialogue_activity` finds those moments from the dialogue stem alone.
* :func:`dialogue_to_background_lu` is the loudness difference (K-weighted,
  BS.1770 400 ms blocks) between the dialogue and a background layer. Torcoli
  et al. (JAES 2019) found listeners want speech at least 10 LU over music and
  15 LU over ambience.
* :func:`band_audibility` is an index in 0..1 built the way ANSI S3.5 builds
  the Speech Intelligibility Index: 18 one-third-octave bands from 160 Hz to
  8 kHz, per-band dialogue-to-rest SNR clipped to ±15 dB and mapped to 0..1,
  weighted by the standard band importances. It also returns a band × time
  map of that audibility for plots.

Taught in ``lessons/08_measuring_the_mix.ipynb`` (dialogue on top).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from layerlab.io.audio import SAMPLE_RATE, validate_audio
from layerlab.measure.envelopes import channel_power, channel_sum, db_from_power, dilate_runs, frame_power
from layerlab.errors import ParameterError

__all__ = [
    "BAND_CENTRES_HZ",
    "BAND_IMPORTANCE",
    "Activity",
    "LevelDifference",
    "BandAudibility",
    "dialogue_activity",
    "dialogue_to_background_lu",
    "band_audibility",
    "k_weight",
    "k_weighted_block_power",
]

BAND_CENTRES_HZ = np.array(
    [160, 200, 250, 315, 400, 500, 630, 800, 1000, 1250, 1600, 2000, 2500, 3150, 4000, 5000, 6300, 8000],
    dtype=float,
)
"""Nominal centre frequencies of the 18 one-third-octave bands (ANSI S3.5-1997, Table 3)."""

BAND_IMPORTANCE = np.array(
    [0.0083, 0.0095, 0.0150, 0.0289, 0.0440, 0.0578, 0.0653, 0.0711, 0.0818,
     0.0844, 0.0882, 0.0898, 0.0868, 0.0844, 0.0771, 0.0527, 0.0364, 0.0185]
)
"""ANSI S3.5-1997 one-third-octave band importance function (average speech), sums to 1.0."""

_EXACT_CENTRES = 1000.0 * 2.0 ** (np.arange(-8, 10) / 3.0)  # base-2 exact centres for band edges


@dataclass
class Activity:
    """When someone is speaking, from the dialogue stem.

    Attributes
    ----------
    times_s : np.ndarray, shape (n_frames,)
        Start time of each analysis frame.
    active : np.ndarray of bool, shape (n_frames,)
    frame_s : float
        Frame length (10 ms).
    n_samples : int
        Length of the stem the frames cover.
    sample_rate : int
    threshold_db : float
        The level (dBFS, RMS over a frame) above which a frame counted as speech.
    """

    times_s: np.ndarray
    active: np.ndarray
    frame_s: float
    n_samples: int
    sample_rate: int
    threshold_db: float

    def sample_mask(self) -> np.ndarray:
        """Bool per sample, shape (n_samples,): True where speech is active."""
        hop = int(round(self.frame_s * self.sample_rate))
        m = np.repeat(self.active, hop)
        if m.size < self.n_samples:
            tail = self.active[-1] if self.active.size else False
            m = np.concatenate([m, np.full(self.n_samples - m.size, tail)])
        return m[: self.n_samples]

    @property
    def fraction(self) -> float:
        """Share of the stem's duration during which speech is active."""
        return float(self.active.mean()) if self.active.size else 0.0

    def segments(self) -> list[tuple[float, float]]:
        """Active stretches as (start_s, end_s) pairs."""
        out = []
        a = np.concatenate([[False], self.active, [False]]).astype(np.int8)
        d = np.diff(a)
        starts = np.nonzero(d == 1)[0]
        ends = np.nonzero(d == -1)[0]
        for s, e in zip(starts, ends):
            out.append((s * self.frame_s, min(e * self.frame_s, self.n_samples / self.sample_rate)))
        return out

    def active_at(self, times_s) -> np.ndarray:
        """Bool per time in ``times_s``: was speech active at that moment."""
        idx = np.clip((np.asarray(times_s, dtype=float) / self.frame_s).astype(int), 0, max(self.active.size - 1, 0))
        return self.active[idx] if self.active.size else np.zeros(np.shape(times_s), bool)


@dataclass
class LevelDifference:
    """Loudness of dialogue over a background layer while dialogue is active.

    Attributes
    ----------
    lu : float
        ``dialogue_lufs - background_lufs``; ``inf`` when the background is
        silent during speech, ``nan`` when there is no speech.
    dialogue_lufs, background_lufs : float
        Loudness of each over the kept blocks (``-inf`` if silent).
    n_blocks : int
        Number of 400 ms blocks where dialogue was active.
    """

    lu: float
    dialogue_lufs: float
    background_lufs: float
    n_blocks: int


@dataclass
class BandAudibility:
    """SII-style audibility of the dialogue over the rest of the mix.

    Attributes
    ----------
    index : float
        Importance-weighted audibility, 0 (inaudible) .. 1 (fully audible);
        ``nan`` when no speech is active.
    per_band : np.ndarray, shape (18,)
        Audibility of each band, 0..1, from the long-term band SNR over the
        active frames.
    band_snr_db : np.ndarray, shape (18,)
        Long-term dialogue-to-rest SNR per band over the active frames.
    masking_map : np.ndarray, shape (18, n_frames)
        Per-frame audibility (0..1) per band; NaN where speech is not active.
    band_centres_hz : np.ndarray, shape (18,)
    times_s : np.ndarray, shape (n_frames,)
        Centre time of each STFT frame.
    active : np.ndarray of bool, shape (n_frames,)
        Frames that counted.
    """

    index: float
    per_band: np.ndarray
    band_snr_db: np.ndarray
    masking_map: np.ndarray
    band_centres_hz: np.ndarray
    times_s: np.ndarray
    active: np.ndarray

    @property
    def weakest_bands(self) -> list[float]:
        """Centre frequencies of the bands that lose the most importance-weighted audibility, worst first."""
        loss = BAND_IMPORTANCE * (1.0 - np.nan_to_num(self.per_band, nan=0.0))
        order = np.argsort(-loss)
        return [float(self.band_centres_hz[i]) for i in order[:3] if loss[i] > 0.005]


# ----------------------------------------------------------------------------- activity


def _close_gaps(active: np.ndarray, max_gap: int) -> np.ndarray:
    """Fill runs of False shorter than ``max_gap`` frames that lie between True runs."""
    out = active.copy()
    idx = np.nonzero(active)[0]
    if idx.size < 2:
        return out
    gaps = np.diff(idx)
    for k in np.nonzero((gaps > 1) & (gaps <= max_gap + 1))[0]:
        out[idx[k] : idx[k + 1]] = True
    return out


def dialogue_activity(
    dialogue_stem,
    *,
    sample_rate: int = SAMPLE_RATE,
    frame_ms: float = 10.0,
    relative_db: float = 30.0,
    floor_margin_db: float = 10.0,
    absolute_db: float = -70.0,
    bridge_ms: float = 300.0,
    hangover_ms: float = 100.0,
) -> Activity:
    """Find when dialogue is active from the dialogue stem.

    Parameters
    ----------
    dialogue_stem : np.ndarray, shape (n_samples, n_channels)
    sample_rate : int
    frame_ms : float
        Analysis frame (RMS, channels averaged).
    relative_db : float
        A frame is speech if it is within this many dB of the stem's loud
        level (95th percentile of non-silent frames) ...
    floor_margin_db : float
        ... and this far above the stem's noise floor (10th percentile), ...
    absolute_db : float
        ... and above this absolute level in dBFS.
    bridge_ms : float
        Pauses shorter than this inside speech count as speech.
    hangover_ms : float
        Speech is extended by this much at both ends (syllable tails).

    Returns
    -------
    Activity

    Notes
    -----
    Taught in ``lessons/08_measuring_the_mix.ipynb``.
    """
    stem = validate_audio(dialogue_stem, name="dialogue stem")
    sr = int(sample_rate)
    hop = max(1, int(round(frame_ms * sr / 1000.0)))
    lv = db_from_power(frame_power(channel_power(stem), hop, partial=True))
    loud = lv[lv > absolute_db]
    if loud.size == 0:
        thr = float("inf")
        active = np.zeros(lv.size, bool)
    else:
        ref = float(np.percentile(loud, 95))
        floor = float(np.percentile(lv, 10))
        # the noise-floor rule only applies when the stem has quieter stretches at all
        thr = max(ref - relative_db, min(floor + floor_margin_db, ref - 6.0), absolute_db)
        active = lv > thr
        active = _close_gaps(active, int(round(bridge_ms / frame_ms)))
        h = int(round(hangover_ms / frame_ms))
        active = dilate_runs(active, before=h, after=h)
    times = np.arange(lv.size) * hop / sr
    return Activity(times, active, hop / sr, stem.shape[0], sr, thr)


# ----------------------------------------------------------------------------- loudness difference


def k_weight(audio, *, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Apply the BS.1770 K-weighting filter (:func:`layerlab.measure.loudness.k_weighting_sos`).

    Parameters
    ----------
    audio : np.ndarray, shape (n_samples, n_channels)

    Returns
    -------
    np.ndarray, shape (n_samples, n_channels), float64

    Notes
    -----
    Taught in ``lessons/08_measuring_the_mix.ipynb`` (why LU, not dB).
    """
    from layerlab.measure.kweighting import sosfilt
    from layerlab.measure.loudness import k_weighting_sos

    audio = validate_audio(audio)
    sos = np.asarray(k_weighting_sos(sample_rate), dtype=np.float64)
    # scipy's own sosfilt kernel (the same numbers as scipy.signal.sosfilt) without importing scipy.signal
    x = np.ascontiguousarray(audio.T, dtype=np.float64)
    sosfilt(sos, x, np.zeros((x.shape[0], sos.shape[0], 2)))
    return x.T


def k_weighted_block_power(audio, *, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """K-weighted mean square per BS.1770 block (400 ms, 100 ms step), channels summed with weight 1.

    Parameters
    ----------
    audio : np.ndarray, shape (n_samples, n_channels)
    sample_rate : int

    Returns
    -------
    np.ndarray, shape (n_blocks,), float64
        Empty when the audio is shorter than one block. What :func:`dialogue_to_background_lu`
        computes from each signal; pass it there (``dialogue_power=``, ``background_power=``) to
        K-weight a signal used in several comparisons only once (``layerlab check`` does).

    Notes
    -----
    ITU-R BS.1770-4 K-weighting and gating blocks. Taught in ``lessons/08_measuring_the_mix.ipynb``.
    """
    return _block_power(validate_audio(audio), int(sample_rate))


def _block_power(audio: np.ndarray, sample_rate: int, block_s: float = 0.4, step_s: float = 0.1) -> np.ndarray:
    """K-weighted mean-square per 400 ms block (channels summed, weight 1), shape (n_blocks,)."""
    y = k_weight(audio, sample_rate=sample_rate)
    p = channel_sum(y * y)
    blk = int(round(block_s * sample_rate))
    step = int(round(step_s * sample_rate))
    if p.size < blk:
        return np.zeros(0)
    c = np.concatenate([[0.0], np.cumsum(p)])
    starts = np.arange(0, p.size - blk + 1, step)
    return (c[starts + blk] - c[starts]) / blk


def _lufs(power: float) -> float:
    return -0.691 + 10.0 * np.log10(power) if power > 0 else float("-inf")


def _blocks_active(mask: np.ndarray, sample_rate: int, n_blocks: int, block_s=0.4, step_s=0.1, min_fraction=0.5):
    blk = int(round(block_s * sample_rate))
    step = int(round(step_s * sample_rate))
    c = np.concatenate([[0], np.cumsum(mask.astype(np.int64))])
    starts = np.arange(n_blocks) * step
    frac = (c[np.minimum(starts + blk, mask.size)] - c[np.minimum(starts, mask.size)]) / blk
    return frac >= min_fraction


def _as_mask(active, n_samples: int) -> np.ndarray:
    if isinstance(active, Activity):
        m = active.sample_mask()
    else:
        m = np.asarray(active, dtype=bool).reshape(-1)
    if m.size != n_samples:
        raise ParameterError(f"active mask has {m.size} samples, the audio has {n_samples}; they must match.")
    return m


def dialogue_to_background_lu(
    dialogue,
    background,
    *,
    sample_rate: int = SAMPLE_RATE,
    active=None,
    dialogue_power=None,
    background_power=None,
) -> LevelDifference:
    """Loudness difference between dialogue and a background layer during speech.

    Parameters
    ----------
    dialogue : np.ndarray, shape (n_samples, n_channels)
        The dialogue stem.
    background : np.ndarray, shape (n_samples, n_channels)
        Music, ambience, or everything but dialogue.
    sample_rate : int
    active : Activity or np.ndarray of bool, shape (n_samples,), optional
        When speech is active; found with :func:`dialogue_activity` if omitted.
    dialogue_power, background_power : np.ndarray, shape (n_blocks,), optional
        :func:`k_weighted_block_power` of ``dialogue`` / ``background`` if already computed
        (the same numbers; saves K-weighting a signal again).

    Returns
    -------
    LevelDifference

    Notes
    -----
    Both signals are K-weighted and cut into BS.1770 blocks (400 ms, 100 ms
    step). Blocks at least 90% covered by speech are kept (half covered
    if no block is), then the
    dialogue's blocks are gated the BS.1770 way (absolute -70 LUFS, relative
    -10 LU) to drop pauses. The background's loudness is the mean power over
    the same blocks, ungated, so a background that is silent during speech
    reads ``-inf`` and the difference ``inf``.

    Taught in ``lessons/08_measuring_the_mix.ipynb``.
    """
    d = validate_audio(dialogue, name="dialogue")
    b = validate_audio(background, name="background")
    if d.shape[0] != b.shape[0]:
        raise ParameterError(
            f"dialogue has {d.shape[0]} samples and background {b.shape[0]}; pass stems of the same length."
        )
    sr = int(sample_rate)
    if active is None:
        active = dialogue_activity(d, sample_rate=sr)
    mask = _as_mask(active, d.shape[0])
    pd = _block_power(d, sr) if dialogue_power is None else np.asarray(dialogue_power, dtype=np.float64)
    pb = _block_power(b, sr) if background_power is None else np.asarray(background_power, dtype=np.float64)
    if pd.shape != pb.shape:
        raise ParameterError(f"dialogue_power has {pd.size} blocks and background_power {pb.size}; "
                             "compute both with k_weighted_block_power on the signals passed.")
    if pd.size == 0:
        return LevelDifference(float("nan"), float("-inf"), float("-inf"), 0)
    keep = _blocks_active(mask, sr, pd.size, min_fraction=0.9)
    if not keep.any():
        keep = _blocks_active(mask, sr, pd.size, min_fraction=0.5)
    keep &= -0.691 + 10 * np.log10(np.maximum(pd, 1e-30)) > -70.0
    if keep.any():
        rel = _lufs(float(pd[keep].mean())) - 10.0
        keep &= -0.691 + 10 * np.log10(np.maximum(pd, 1e-30)) > rel
    n = int(keep.sum())
    if n == 0:
        return LevelDifference(float("nan"), float("-inf"), float("-inf"), 0)
    ld = _lufs(float(pd[keep].mean()))
    lb = _lufs(float(pb[keep].mean()))
    diff = float("inf") if lb == float("-inf") else ld - lb
    return LevelDifference(float(diff), float(ld), float(lb), n)


# ----------------------------------------------------------------------------- band audibility


def _band_matrix(n_fft: int, sample_rate: int) -> np.ndarray:
    """(18, n_bins) 0/1 matrix summing STFT bins into one-third-octave bands."""
    freqs = np.fft.rfftfreq(n_fft, 1.0 / sample_rate)
    lo = _EXACT_CENTRES * 2.0 ** (-1.0 / 6.0)
    hi = _EXACT_CENTRES * 2.0 ** (1.0 / 6.0)
    m = (freqs[None, :] >= lo[:, None]) & (freqs[None, :] < hi[:, None])
    return m.astype(np.float64)


def audibility_from_snr_db(snr_db) -> np.ndarray:
    """Band audibility of ANSI S3.5-1997 (SII): ``K = clip((SNR + 15) / 30, 0, 1)``.

    Parameters
    ----------
    snr_db : float or np.ndarray
        Speech level minus disturbance level in each band, dB.

    Returns
    -------
    np.ndarray
        0 (inaudible, SNR <= -15 dB) to 1 (fully audible, SNR >= +15 dB), same shape.
    """
    return np.clip((np.asarray(snr_db, dtype=np.float64) + 15.0) / 30.0, 0.0, 1.0)


def band_power_frames(audio: np.ndarray, sample_rate: int, n_fft: int, hop: int, *,
                      frames: np.ndarray | None = None) -> np.ndarray:
    """One-third-octave band power per STFT frame (the SII's 18 bands, 160 Hz to 8 kHz).

    Parameters
    ----------
    audio : np.ndarray, shape (n_samples, n_channels)
    sample_rate : int
    n_fft, hop : int
        STFT length and hop in samples (Hann window).
    frames : np.ndarray of bool, shape (n_frames,), optional
        Only the frames marked True are computed (the others are 0): :func:`band_audibility` needs the
        frames where speech is active only. Each computed frame has the same value as without it.

    Returns
    -------
    np.ndarray, shape (18, n_frames), float64
        Power per band and frame, channels averaged; used by
        :func:`band_audibility` and the lesson-07 mixer's masking map.
    """
    x = audio.astype(np.float64)
    n = x.shape[0]
    if n < n_fft:
        x = np.concatenate([x, np.zeros((n_fft - n, x.shape[1]))])
        n = n_fft
    n_frames = 1 + (n - n_fft) // hop
    win = np.hanning(n_fft)
    bands = _band_matrix(n_fft, sample_rate)
    # each band is a contiguous run of bins: sum the runs (np.add.reduceat) rather than multiply by the 0/1
    # matrix, whose product OpenBLAS spreads over threads that, on a loaded 2-core machine, took 50x longer
    counts = bands.sum(axis=1).astype(np.int64)
    first = np.argmax(bands > 0, axis=1)
    # only the bins inside the bands (142 Hz to 8.98 kHz: 767 of 2049 at 4096 points) are squared and summed; an
    # empty band (a short n_fft) points anywhere valid, its sum is zeroed below
    lo = int(first[counts > 0].min()) if np.any(counts > 0) else 0
    hi = int((first + counts)[counts > 0].max()) if np.any(counts > 0) else 1
    first = np.where(counts > 0, first - lo, 0)
    edges = np.stack([first, first + counts], axis=1).reshape(-1)
    out = np.zeros((bands.shape[0], n_frames))
    # frames as strided views of each channel (no gathered copy), 256 frames at a time
    views = [np.lib.stride_tricks.sliding_window_view(np.ascontiguousarray(x[:, ch]), n_fft)[::hop]
             for ch in range(x.shape[1])]
    chunk = 256
    rows = None if frames is None else np.flatnonzero(np.asarray(frames, dtype=bool)[:n_frames])
    for c0 in range(0, n_frames if rows is None else rows.size, chunk):
        # the frames c0..c1 (or the wanted ones among them); each frame's FFT is its own row: the same values
        c1 = min(n_frames if rows is None else rows.size, c0 + chunk)
        pick = slice(c0, c1) if rows is None else rows[c0:c1]
        acc = None
        for view in views:
            spec = np.fft.rfft(view[pick] * win, axis=1)[:, lo:hi]
            pw = spec.real**2 + spec.imag**2
            acc = pw if acc is None else acc + pw
        acc = np.concatenate([acc, np.zeros((acc.shape[0], 1))], axis=1)  # reduceat needs indices < length
        sums = np.add.reduceat(acc, edges, axis=1)[:, 0::2]
        sums[:, counts == 0] = 0.0
        out[:, pick] = (sums / x.shape[1]).T
    return out


def band_audibility(
    dialogue,
    rest,
    *,
    sample_rate: int = SAMPLE_RATE,
    active=None,
    n_fft: int = 4096,
    hop: int = 1024,
    threshold_db: float = -100.0,
) -> BandAudibility:
    """SII-style audibility of the dialogue over the rest of the mix.

    Parameters
    ----------
    dialogue : np.ndarray, shape (n_samples, n_channels)
        The dialogue stem.
    rest : np.ndarray, shape (n_samples, n_channels)
        Everything else: the sum of the other stems, or the mix minus the
        dialogue stem.
    sample_rate : int
    active : Activity or np.ndarray of bool, shape (n_samples,), optional
        When speech is active; found with :func:`dialogue_activity` if omitted.
    n_fft, hop : int
        STFT size and step (Hann window). 4096 at 48 kHz resolves the
        160 Hz band with three bins.
    threshold_db : float
        A band-power floor added to the rest (a stand-in for the threshold
        of hearing), in dB relative to full scale, so bands where both are
        silent read as inaudible rather than undefined.

    Returns
    -------
    BandAudibility

    Notes
    -----
    Per band, the long-term (power-averaged over the active frames) SNR is
    clipped to ±15 dB and mapped to 0..1 by ``(SNR + 15) / 30``; the index is
    the sum of those weighted by the ANSI S3.5 one-third-octave importances.
    With speech-shaped noise over a background at a uniform band SNR, the
    index reads ``(SNR + 15) / 30``. The full ANSI S3.5 procedure also models
    the spread of masking, level distortion and the threshold of hearing, and
    reads a little lower at the same SNR (0.466 at 0 dB instead of 0.5, 0.805
    at +10 dB instead of 0.833); this index leaves those out so that it
    depends only on the mix, not on a listening level.

    Taught in ``lessons/08_measuring_the_mix.ipynb``.
    """
    d = validate_audio(dialogue, name="dialogue")
    r = validate_audio(rest, name="rest of the mix")
    if d.shape[0] != r.shape[0]:
        raise ParameterError(f"dialogue has {d.shape[0]} samples and rest {r.shape[0]}; pass signals of the same length.")
    if n_fft < 256 or hop < 1:
        raise ParameterError(f"n_fft must be >= 256 and hop >= 1, got {n_fft} and {hop}.")
    sr = int(sample_rate)
    if active is None:
        active = dialogue_activity(d, sample_rate=sr)
    mask = _as_mask(active, d.shape[0])
    n_frames = 1 + (max(d.shape[0], n_fft) - n_fft) // hop  # band_power_frames' frames
    centres = np.arange(n_frames) * hop + n_fft // 2
    times = centres / sr
    act = mask[np.minimum(centres, mask.size - 1)]
    # only the frames where speech is active enter the index and the map (the others are NaN there)
    pd = band_power_frames(d, sr, n_fft, hop, frames=act)
    pr = band_power_frames(r, sr, n_fft, hop, frames=act)
    floor = 10.0 ** (threshold_db / 10.0) * np.sum(np.hanning(n_fft) ** 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        snr_frames = 10.0 * np.log10(np.maximum(pd, 1e-300) / (pr + floor))
    k_frames = audibility_from_snr_db(snr_frames)
    masking_map = np.where(act[None, :], k_frames, np.nan)
    if not act.any():
        nan18 = np.full(18, np.nan)
        return BandAudibility(float("nan"), nan18, nan18.copy(), masking_map, BAND_CENTRES_HZ.copy(), times, act)
    ld = pd[:, act].mean(axis=1)
    lr = pr[:, act].mean(axis=1) + floor
    snr = 10.0 * np.log10(np.maximum(ld, 1e-300) / lr)
    per_band = audibility_from_snr_db(snr)
    index = float(np.sum(BAND_IMPORTANCE * per_band))
    return BandAudibility(index, per_band, snr, masking_map, BAND_CENTRES_HZ.copy(), times, act)
