"""K-weighting and channel weighting (ITU-R BS.1770-5), the front end of every loudness figure.

* :func:`k_weighting_sos`: the two-stage K-weighting filter (a high-frequency
  shelf and a high-pass) for any rate from 8 to 192 kHz, with the same
  frequency response at every rate.
* :func:`channel_weights`: the weight of each channel, from a channel count or
  from channel positions (the WAVE_FORMAT_EXTENSIBLE channel mask).
* :func:`k_weighted_power`: the channel-weighted, K-weighted power of a block
  of samples, with filter state carried from block to block (what the
  streaming meter and every other loudness figure are built on).

**Mono.** A one-channel file is measured as *dual-mono*: its channel counts
twice (weight 2.0, +3.01 dB over BS.1770's reading of a lone channel). A mono
mix is played on both speakers of a stereo pair; that is what a viewer hears,
what ffmpeg's ``ebur128=dualmono=true`` measures, and what the deliverable
reader does when it up-mixes a mono mix to stereo (a copy in both channels),
so ``layerlab measure`` and ``layerlab check`` read the same loudness *and* the
same peak on a mono file. Pass ``channel_weights=(1.0,)`` for the strict
BS.1770 single-channel reading (997 Hz at 0 dBFS reads -3.01 LUFS).

Taught in ``lessons/08_measuring_the_mix.ipynb``.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from layerlab.errors import ParameterError

__all__ = [
    "MIN_SAMPLE_RATE",
    "MAX_SAMPLE_RATE",
    "MONO_WEIGHT",
    "SURROUND_WEIGHT",
    "check_sample_rate",
    "channel_weights",
    "k_weighting_sos",
    "sosfilt",
    "KWeightedPower",
]

MIN_SAMPLE_RATE = 8_000
MAX_SAMPLE_RATE = 192_000

# Analog prototypes of the two stages (BS.1770-5; see the shared REFERENCE.md).
_SHELF_F0_HZ = 1681.974450955533
_SHELF_GAIN_DB = 3.999843853973347
_SHELF_Q = 0.7071752369554196
# The shelf's band-pass term scales with Vh ** _SHELF_VB_EXPONENT rather than
# sqrt(Vh); this exponent makes the 48 kHz bilinear result equal the table.
_SHELF_VB_EXPONENT = 0.4996667741545416
_HIGHPASS_F0_HZ = 38.13547087602444
_HIGHPASS_Q = 0.5003270373238773
# Below this rate the bilinear transform's frequency warping bends the shelf
# (a 997 Hz sine read 0.2 LU low at 8 kHz); the shelf is then designed by
# magnitude matching instead (Vicanek 2016, "Matched Second Order Digital Filters").
_MATCHED_BELOW_HZ = 44_100

MONO_WEIGHT = 2.0
"""Weight of the channel of a one-channel file: dual-mono (see the module docstring)."""
SURROUND_WEIGHT = 1.41
"""BS.1770 weight of the surround channels (Ls, Rs and the back/side pairs)."""

_CHANNEL_WEIGHTS = {
    1: (MONO_WEIGHT,),  # mono, measured as dual-mono
    2: (1.0, 1.0),  # L R
    3: (1.0, 1.0, 1.0),  # L R C
    4: (1.0, 1.0, SURROUND_WEIGHT, SURROUND_WEIGHT),  # L R Ls Rs (quad)
    5: (1.0, 1.0, 1.0, SURROUND_WEIGHT, SURROUND_WEIGHT),  # L R C Ls Rs (5.0)
    6: (1.0, 1.0, 1.0, 0.0, SURROUND_WEIGHT, SURROUND_WEIGHT),  # L R C LFE Ls Rs (5.1)
}
# WAVE_FORMAT_EXTENSIBLE speaker positions (the names io.audio reports) -> BS.1770 weight.
_POSITION_WEIGHTS = {
    "FL": 1.0, "FR": 1.0, "FC": 1.0, "LFE": 0.0,
    "BL": SURROUND_WEIGHT, "BR": SURROUND_WEIGHT, "SL": SURROUND_WEIGHT, "SR": SURROUND_WEIGHT,
    "BC": SURROUND_WEIGHT, "FLC": 1.0, "FRC": 1.0,
}


def check_sample_rate(sample_rate) -> int:
    """Return ``sample_rate`` as an int, or raise if loudness cannot be measured at it.

    Raises
    ------
    ParameterError
        Not a whole number of Hz, or outside 8000 to 192000 Hz.
    """
    try:
        rate = float(sample_rate)
    except (TypeError, ValueError):
        raise ParameterError(f"sample_rate must be a number of Hz, got {sample_rate!r}.") from None
    if not math.isfinite(rate) or rate != int(rate):
        raise ParameterError(f"sample_rate must be a whole number of Hz, got {sample_rate!r}.")
    rate = int(rate)
    if not MIN_SAMPLE_RATE <= rate <= MAX_SAMPLE_RATE:
        raise ParameterError(
            f"sample_rate {rate} Hz is not supported for loudness measurement "
            f"({MIN_SAMPLE_RATE} to {MAX_SAMPLE_RATE} Hz). Resample the audio first "
            "(layerlab.resample_audio), keeping in mind that resampling changes the true peak."
        )
    return rate


def channel_weights(channels: int, *, positions=None) -> tuple[float, ...]:
    """Return the loudness weight of each channel.

    Parameters
    ----------
    channels : int
        1 (mono, dual-mono weight 2.0), 2 (L R), 3 (L R C), 4 (L R Ls Rs),
        5 (L R C Ls Rs) or 6 (L R C LFE Ls Rs, the LFE weight is 0).
    positions : sequence of str, optional
        The speaker position of each channel from the file's
        WAVE_FORMAT_EXTENSIBLE channel mask (``FL FR FC LFE BL BR SL SR ...``);
        when given it decides the weights (front 1.0, surrounds 1.41, LFE left
        out) for any channel count.

    Returns
    -------
    tuple of float, length ``channels``

    Raises
    ------
    ParameterError
        For an unsupported channel count or an unknown position.

    Notes
    -----
    BS.1770-5 Table 3. Taught in ``lessons/08_measuring_the_mix.ipynb``.
    """
    if positions is not None:
        names = [str(p).upper() for p in positions]
        if len(names) != channels:
            raise ParameterError(f"{len(names)} channel positions given for {channels} channels; give one per channel.")
        unknown = [p for p in names if p not in _POSITION_WEIGHTS]
        if unknown:
            raise ParameterError(
                f"unknown channel position {unknown[0]!r}; known: {' '.join(_POSITION_WEIGHTS)}."
            )
        if channels == 1:
            return (MONO_WEIGHT,)
        return tuple(_POSITION_WEIGHTS[p] for p in names)
    if channels not in _CHANNEL_WEIGHTS:
        raise ParameterError(
            f"{channels} channels cannot be measured: loudness is defined here for 1 to 6 channels "
            "(mono, stereo, L R C, quad L R Ls Rs, 5.0 L R C Ls Rs, 5.1 L R C LFE Ls Rs). "
            "Down-mix the audio first (layerlab.remix_channels)."
        )
    return _CHANNEL_WEIGHTS[channels]


def resolve_weights(channels: int, weights=None) -> np.ndarray:
    """Channel weights as a float64 array: ``weights`` checked, or the default for the count."""
    if weights is None:
        return np.asarray(channel_weights(channels), dtype=np.float64)
    w = np.asarray(weights, dtype=np.float64).reshape(-1)
    if w.shape[0] != channels or not np.all(np.isfinite(w)) or np.any(w < 0):
        raise ParameterError(
            f"channel_weights must hold {channels} non-negative numbers (one per channel), got {weights!r}."
        )
    return w


def _bilinear_shelf(fs: float) -> list[float]:
    k = math.tan(math.pi * _SHELF_F0_HZ / fs)
    vh = 10.0 ** (_SHELF_GAIN_DB / 20.0)
    vb = vh**_SHELF_VB_EXPONENT
    a0 = 1.0 + k / _SHELF_Q + k * k
    return [
        (vh + vb * k / _SHELF_Q + k * k) / a0,
        2.0 * (k * k - vh) / a0,
        (vh - vb * k / _SHELF_Q + k * k) / a0,
        1.0,
        2.0 * (k * k - 1.0) / a0,
        (1.0 - k / _SHELF_Q + k * k) / a0,
    ]


def _analog_shelf_power(f_hz: float) -> float:
    """|H(j 2 pi f)|^2 of the analog shelf prototype."""
    w0 = 2.0 * math.pi * _SHELF_F0_HZ
    s = 1j * 2.0 * math.pi * f_hz
    vh = 10.0 ** (_SHELF_GAIN_DB / 20.0)
    vb = vh**_SHELF_VB_EXPONENT
    h = (vh * s * s + vb * w0 / _SHELF_Q * s + w0 * w0) / (s * s + w0 / _SHELF_Q * s + w0 * w0)
    return float(abs(h) ** 2)


def _matched_shelf(fs: float) -> list[float]:
    """Shelf with matched-z poles and a numerator whose magnitude equals the analog one at DC, f0 and Nyquist."""
    t = 1.0 / fs
    w0 = 2.0 * math.pi * _SHELF_F0_HZ
    zeta = 1.0 / (2.0 * _SHELF_Q)
    wd = w0 * math.sqrt(1.0 - zeta * zeta)
    a1 = -2.0 * math.exp(-zeta * w0 * t) * math.cos(wd * t)
    a2 = math.exp(-2.0 * zeta * w0 * t)
    big_a = ((1.0 + a1 + a2) ** 2, (1.0 - a1 + a2) ** 2, -4.0 * a2)
    rows, rhs = [], []
    for w in (0.0, 2.0 * math.pi * _SHELF_F0_HZ / fs, math.pi):
        p1 = math.sin(w / 2.0) ** 2
        phi = (1.0 - p1, p1, 4.0 * (1.0 - p1) * p1)
        rows.append(phi)
        rhs.append(_analog_shelf_power(w * fs / (2.0 * math.pi)) * sum(x * y for x, y in zip(big_a, phi)))
    b0_, b1_, b2_ = np.linalg.solve(np.array(rows), np.array(rhs))
    w_ = 0.5 * (math.sqrt(b0_) + math.sqrt(b1_))
    b0 = 0.5 * (w_ + math.sqrt(w_ * w_ + b2_))
    b1 = 0.5 * (math.sqrt(b0_) - math.sqrt(b1_))
    b2 = -b2_ / (4.0 * b0)
    return [b0, b1, b2, 1.0, a1, a2]


@lru_cache(maxsize=32)
def _k_sos(rate: int) -> np.ndarray:
    fs = float(rate)
    shelf = _bilinear_shelf(fs) if rate >= _MATCHED_BELOW_HZ else _matched_shelf(fs)
    k = math.tan(math.pi * _HIGHPASS_F0_HZ / fs)
    a0 = 1.0 + k / _HIGHPASS_Q + k * k
    # The published high-pass numerator is [1, -2, 1] without the 1/a0 of the
    # bilinear transform, so its pass band sits a0(48 kHz) above unity
    # (+0.043 dB, absorbed by the -0.691 calibration). Keeping that same
    # pass-band gain at every rate gives the same response everywhere.
    k48 = math.tan(math.pi * _HIGHPASS_F0_HZ / 48000.0)
    g = (1.0 + k48 / _HIGHPASS_Q + k48 * k48) / a0
    highpass = [g, -2.0 * g, g, 1.0, 2.0 * (k * k - 1.0) / a0, (1.0 - k / _HIGHPASS_Q + k * k) / a0]
    sos = np.array([shelf, highpass], dtype=np.float64)
    sos.flags.writeable = False
    return sos


def k_weighting_sos(sample_rate: int = 48_000) -> np.ndarray:
    """Return the K-weighting filter for a sample rate as second-order sections.

    Parameters
    ----------
    sample_rate : int
        8000 to 192000 Hz.

    Returns
    -------
    np.ndarray, shape (2, 6), float64
        Row 0 is the high-frequency shelf, row 1 the high-pass, each
        ``[b0, b1, b2, 1, a1, a2]`` (the :func:`scipy.signal.sosfilt` layout).
        At 48 kHz this equals BS.1770-5 Tables 1 and 2.

    Raises
    ------
    ParameterError
        For a rate outside 8 to 192 kHz.

    Notes
    -----
    From 44.1 kHz up each stage is the bilinear transform of its analog
    prototype, pre-warped at its own centre frequency (at 48 kHz this is the
    published table). Below 44.1 kHz the warping near Nyquist bends the shelf,
    so the shelf is designed by magnitude matching instead (matched-z poles,
    numerator matched to the analog magnitude at DC, f0 and Nyquist; Vicanek
    2016). Integrated loudness then holds within 0.05 LU of the 48 kHz
    reading at every rate from 8 to 192 kHz.
    Taught in ``lessons/08_measuring_the_mix.ipynb``.
    """
    return _k_sos(check_sample_rate(sample_rate)).copy()


# --------------------------------------------------------------------------- filtering

_SOSFILT = None


def _load_sosfilt():
    """scipy's compiled second-order-section filter, without importing all of ``scipy.signal``.

    ``import scipy.signal`` costs about a second (it pulls in scipy.stats,
    scipy.optimize and scipy.interpolate); the compiled kernel behind
    :func:`scipy.signal.sosfilt` needs none of it. If scipy's layout ever
    changes, the public function is used instead.
    """
    global _SOSFILT
    if _SOSFILT is None:
        kernel = None
        try:
            import importlib.machinery
            import importlib.util
            import sys

            import scipy

            name = "scipy.signal._sosfilt"
            module = sys.modules.get(name)
            if module is None:
                spec = importlib.machinery.PathFinder.find_spec("_sosfilt", [f"{scipy.__path__[0]}/signal"])
                if spec is not None:
                    spec.name = name
                    module = importlib.util.module_from_spec(spec)
                    spec.loader.exec_module(module)
            kernel = getattr(module, "_sosfilt", None)
        except Exception:  # pragma: no cover - depends on scipy's private layout
            kernel = None
        if kernel is None:  # pragma: no cover
            from scipy.signal import sosfilt as public

            def kernel(sos, x, zi):
                x[...], zi[...] = public(sos, x, axis=1, zi=zi)

        _SOSFILT = kernel
    return _SOSFILT


def sosfilt(sos: np.ndarray, x: np.ndarray, zi: np.ndarray) -> np.ndarray:
    """Filter rows of ``x`` in place through second-order sections, carrying the state ``zi``.

    Parameters
    ----------
    sos : np.ndarray, shape (n_sections, 6), float64
    x : np.ndarray, shape (n_signals, n_samples), float64, C-contiguous
        Overwritten with the filtered signal.
    zi : np.ndarray, shape (n_signals, n_sections, 2), float64
        Filter state, updated in place.

    Returns
    -------
    np.ndarray
        ``x``. The same numbers as :func:`scipy.signal.sosfilt` (its kernel).
    """
    if not sos.flags.writeable or sos.dtype != np.float64:
        sos = np.array(sos, dtype=np.float64, order="C")
    _load_sosfilt()(sos, x, zi)
    return x


class KWeightedPower:
    """Channel-weighted K-weighted power of audio fed block by block.

    Parameters
    ----------
    sample_rate : int
        8000 to 192000 Hz.
    weights : np.ndarray, shape (channels,)
        Channel weights (:func:`channel_weights`); channels with weight 0 are
        not filtered at all.

    Notes
    -----
    :meth:`power` returns ``p[n] = sum_c w_c * y_c[n] ** 2`` where ``y`` is
    the K-weighted signal; the filter state carries over between calls, so
    feeding a file in blocks gives the same numbers as feeding it whole.
    """

    def __init__(self, sample_rate: int, weights: np.ndarray):
        self.sos = _k_sos(check_sample_rate(sample_rate)).copy()
        w = np.asarray(weights, dtype=np.float64)
        self.active = np.flatnonzero(w > 0)
        self.weights = np.ascontiguousarray(w[self.active])
        self.zi = np.zeros((self.active.size, 2, 2), dtype=np.float64)
        self._every = self.active.size == w.size

    def power(self, block: np.ndarray) -> np.ndarray:
        """K-weighted power of one block, shape ``(samples, channels)`` -> ``(samples,)`` float64."""
        part = block if self._every else block[:, self.active]
        y = np.array(part.T, dtype=np.float64, order="C")
        sosfilt(self.sos, y, self.zi)
        return np.einsum("cn,cn,c->n", y, y, self.weights)
