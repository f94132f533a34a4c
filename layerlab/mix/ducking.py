"""Sidechain ducking: music (and optionally ambience) steps aside for dialogue.

The ducker listens to a *sidechain* (the dialogue layer). While its level is
above ``threshold_db`` the target is turned down by ``depth_db``; the gain
moves down over ``attack_ms`` and back up over ``release_ms``, as straight
lines in dB, so the envelope is continuous and never clicks. ``hold_ms`` keeps
the duck through short pauses between words, and ``lookahead_ms`` starts it a
little before the first syllable so the onset is not masked.

Everything is vectorised: the rate-limited envelope is computed with running
minima/maxima (a min-plus convolution with a straight line), so a minute of
audio ducks in a few milliseconds.

Taught in ``lessons/07_four_layers.ipynb`` (the mixer's ducking controls).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from layerlab.measure.envelopes import dilate_runs

from layerlab.io.audio import SAMPLE_RATE, validate_audio
from layerlab.errors import ParameterError

DETECTOR_WINDOW_MS = 10.0
"""Length of the RMS window the detector uses to read the sidechain level."""


@dataclass
class Ducking:
    """Settings of the dialogue-keyed ducker a :class:`~layerlab.mix.stack.LayerStack` applies.

    Parameters
    ----------
    depth_db : float
        How far the targets go down while dialogue is active, as a positive
        number of dB (12 means -12 dB).
    threshold_db : float
        Sidechain RMS level (dBFS, 10 ms window) above which dialogue counts as active.
    attack_ms, release_ms : float
        Time to go fully down and fully back up. At least 1 ms each.
    hold_ms : float
        How long the duck stays down after the dialogue drops under the threshold.
    lookahead_ms : float
        How early the duck starts before the dialogue crosses the threshold.
    targets : tuple of str
        Layers that duck: ``("music",)`` or ``("music", "ambience")``.

    Notes
    -----
    Taught in ``lessons/07_four_layers.ipynb``. Defaults follow common editors
    (Audacity's Auto Duck: -12 dB, threshold -30 dB, 0.5 s fades) with faster
    attack so the first word stays clear.
    """

    depth_db: float = 12.0
    threshold_db: float = -40.0
    attack_ms: float = 80.0
    release_ms: float = 400.0
    hold_ms: float = 250.0
    lookahead_ms: float = 40.0
    targets: tuple = field(default_factory=lambda: ("music",))

    def __post_init__(self):
        self.targets = tuple(self.targets)
        _check_settings(
            depth_db=self.depth_db,
            attack_ms=self.attack_ms,
            release_ms=self.release_ms,
            hold_ms=self.hold_ms,
            lookahead_ms=self.lookahead_ms,
        )
        if isinstance(self.threshold_db, bool) or not isinstance(self.threshold_db, (int, float, np.number)) \
                or not np.isfinite(self.threshold_db) or not -120.0 <= self.threshold_db <= 0.0:
            raise ParameterError(f"threshold_db must be a number from -120 to 0 dBFS; got {self.threshold_db!r} "
                                 "(NaN would switch the ducking off).")
        for t in self.targets:
            if t not in ("music", "ambience", "sfx"):
                raise ParameterError(f"Ducking targets must be 'music', 'ambience' or 'sfx'; got {t!r}.")

    def to_dict(self) -> dict:
        """Return the settings as a JSON-ready dict."""
        d = asdict(self)
        d["targets"] = list(self.targets)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "Ducking":
        """Build settings from :meth:`to_dict` output.

        Raises
        ------
        ParameterError
            For a key that is not a setting, or a value out of range.
        """
        unknown = sorted(set(d) - set(cls.__dataclass_fields__))
        if unknown:
            raise ParameterError(f"ducking: unknown setting {unknown[0]!r}; the settings are "
                                 f"{', '.join(cls.__dataclass_fields__)}.")
        return cls(**d)

    def gain_and_activity(self, sidechain, *, sample_rate: int = SAMPLE_RATE) -> tuple[np.ndarray, np.ndarray]:
        """The ducking gain in dB, shape (n_samples,), and where the sidechain is active, shape (n_samples,), bool.

        For a sidechain already checked with :func:`~layerlab.io.audio.validate_audio`
        (the stack's dialogue layer); one pass, no copies.
        """
        return _gain_and_activity(sidechain, depth_db=self.depth_db, threshold_db=self.threshold_db,
                                  attack_ms=self.attack_ms, release_ms=self.release_ms, hold_ms=self.hold_ms,
                                  lookahead_ms=self.lookahead_ms, sample_rate=sample_rate)

    def envelope(self, sidechain, *, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
        """Gain envelope in dB for a sidechain; see :func:`duck_envelope`."""
        return duck_envelope(
            sidechain,
            depth_db=self.depth_db,
            threshold_db=self.threshold_db,
            attack_ms=self.attack_ms,
            release_ms=self.release_ms,
            hold_ms=self.hold_ms,
            lookahead_ms=self.lookahead_ms,
            sample_rate=sample_rate,
        )


@dataclass(frozen=True)
class DuckResult:
    """Output of :func:`duck`.

    Attributes
    ----------
    audio : np.ndarray, shape (n_samples, n_channels), float32
        The ducked signal.
    gain_db : np.ndarray, shape (n_samples,), float32
        The gain applied at each sample (0 = untouched, ``-depth_db`` = fully ducked).
    active : np.ndarray, shape (n_samples,), bool
        Where the sidechain was judged active (after hold and lookahead).
    """

    audio: np.ndarray
    gain_db: np.ndarray
    active: np.ndarray


def sidechain_active(
    sidechain,
    *,
    threshold_db: float,
    hold_ms: float = 0.0,
    lookahead_ms: float = 0.0,
    sample_rate: int = SAMPLE_RATE,
) -> np.ndarray:
    """Where a sidechain is active: RMS over 10 ms above a threshold, with hold and lookahead.

    Parameters
    ----------
    sidechain : np.ndarray, shape (n_samples, n_channels)
    threshold_db : float
        dBFS level above which the sidechain is active.
    hold_ms, lookahead_ms : float
        Extend every active run by ``hold_ms`` after it and ``lookahead_ms`` before it.
    sample_rate : int

    Returns
    -------
    np.ndarray, shape (n_samples,), bool

    Notes
    -----
    Taught in ``lessons/07_four_layers.ipynb``.
    """
    x = validate_audio(sidechain, name="sidechain", allow_empty=True)
    n = x.shape[0]
    if n == 0:
        return np.zeros(0, dtype=bool)
    power = np.square(x[:, 0]) if x.shape[1] == 1 else np.mean(np.square(x), axis=1)
    win = max(1, int(round(DETECTOR_WINDOW_MS * 1e-3 * sample_rate)))
    half = win // 2
    csum = np.cumsum(power, dtype=np.float64)
    # centred moving sum over `win` samples (the window is cut at the ends)
    padded = np.concatenate([np.zeros(half + 1), csum, np.full(win - half, csum[-1])])
    window_sum = padded[win : win + n] - padded[:n]
    active = window_sum > win * 10.0 ** (threshold_db / 10.0)
    hold = int(round(hold_ms * 1e-3 * sample_rate))
    ahead = int(round(lookahead_ms * 1e-3 * sample_rate))
    if hold or ahead:
        active = dilate_runs(active, before=ahead, after=hold)
    return active


def duck_envelope(
    sidechain,
    *,
    depth_db: float,
    threshold_db: float,
    attack_ms: float,
    release_ms: float,
    hold_ms: float = 0.0,
    lookahead_ms: float = 0.0,
    sample_rate: int = SAMPLE_RATE,
) -> np.ndarray:
    """Compute the ducking gain in dB that a sidechain produces.

    Parameters
    ----------
    sidechain : np.ndarray, shape (n_samples, n_channels)
        The signal that keys the duck (the dialogue layer).
    depth_db : float
        Attenuation while active, positive dB.
    threshold_db, attack_ms, release_ms, hold_ms, lookahead_ms : float
        See :class:`Ducking`.
    sample_rate : int

    Returns
    -------
    np.ndarray, shape (n_samples,), float32
        Gain in dB, between ``-depth_db`` and 0. It falls at ``depth_db /
        attack_ms`` dB per ms and rises at ``depth_db / release_ms`` dB per ms.

    Notes
    -----
    Taught in ``lessons/07_four_layers.ipynb``.
    """
    _check_settings(depth_db=depth_db, attack_ms=attack_ms, release_ms=release_ms, hold_ms=hold_ms, lookahead_ms=lookahead_ms)
    return _gain_and_activity(sidechain, depth_db=depth_db, threshold_db=threshold_db, attack_ms=attack_ms,
                              release_ms=release_ms, hold_ms=hold_ms, lookahead_ms=lookahead_ms,
                              sample_rate=sample_rate)[0]


def duck(
    audio,
    sidechain,
    *,
    depth_db: float = 12.0,
    threshold_db: float = -40.0,
    attack_ms: float = 80.0,
    release_ms: float = 400.0,
    hold_ms: float = 250.0,
    lookahead_ms: float = 40.0,
    sample_rate: int = SAMPLE_RATE,
) -> DuckResult:
    """Duck ``audio`` under ``sidechain``.

    Parameters
    ----------
    audio : np.ndarray, shape (n_samples, n_channels)
        What gets turned down (music).
    sidechain : np.ndarray, shape (n_samples, m_channels)
        What keys the duck (dialogue); same number of samples as ``audio``.
    depth_db, threshold_db, attack_ms, release_ms, hold_ms, lookahead_ms : float
        See :class:`Ducking`.
    sample_rate : int

    Returns
    -------
    DuckResult
        The processed audio and the gain envelope (for plotting).

    Notes
    -----
    Taught in ``lessons/07_four_layers.ipynb``.
    """
    x = validate_audio(audio, name="audio")
    sc = validate_audio(sidechain, name="sidechain")
    if sc.shape[0] != x.shape[0]:
        raise ParameterError(f"audio has {x.shape[0]} samples but sidechain has {sc.shape[0]}; they must line up.")
    _check_settings(depth_db=depth_db, attack_ms=attack_ms, release_ms=release_ms, hold_ms=hold_ms, lookahead_ms=lookahead_ms)
    gain_db, active = _gain_and_activity(sc, depth_db=depth_db, threshold_db=threshold_db, attack_ms=attack_ms,
                                         release_ms=release_ms, hold_ms=hold_ms, lookahead_ms=lookahead_ms,
                                         sample_rate=sample_rate)
    out = x * db_to_gain(gain_db)[:, None]
    return DuckResult(audio=out.astype(np.float32), gain_db=gain_db, active=active)


def db_to_gain(gain_db) -> np.ndarray:
    """Convert dB to linear amplitude gain (float32)."""
    from layerlab.measure.envelopes import gain_from_db

    return gain_from_db(gain_db).astype(np.float32)


def _gain_and_activity(sidechain, *, depth_db, threshold_db, attack_ms, release_ms, hold_ms, lookahead_ms,
                       sample_rate) -> tuple[np.ndarray, np.ndarray]:
    """The ducking gain (dB) and where the sidechain is active, for settings already checked."""
    active = sidechain_active(sidechain, threshold_db=threshold_db, hold_ms=hold_ms, lookahead_ms=lookahead_ms,
                              sample_rate=sample_rate)
    gain_db = envelope_from_active(active, depth_db=depth_db, attack_ms=attack_ms, release_ms=release_ms,
                                    sample_rate=sample_rate)
    return gain_db, active


def envelope_from_active(active: np.ndarray, *, depth_db: float, attack_ms: float, release_ms: float,
                         sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """The ducking gain in dB from a sidechain activity mask: straight lines in dB, exact attack and release.

    Parameters
    ----------
    active : np.ndarray, shape (n,), bool
        Where the sidechain (the dialogue) is active, per sample.
    depth_db : float
        Attenuation while active, dB (positive).
    attack_ms, release_ms : float
        Time to fall by ``depth_db`` and to recover from it, ms.
    sample_rate : int
        Hz.

    Returns
    -------
    np.ndarray, shape (n,), float32
        Gain in dB, between ``-depth_db`` and 0.

    Notes
    -----
    Computed with running minima and maxima (no per-sample loop), so every ramp is slew-limited
    exactly: the gain never steps. Taught in ``lessons/07_four_layers.ipynb``.
    """
    n = active.shape[0]
    if n == 0 or depth_db == 0:
        return np.zeros(n, dtype=np.float32)
    target = np.where(active, -float(depth_db), 0.0)
    k = np.arange(n, dtype=np.float64)
    down = depth_db / (attack_ms * 1e-3 * sample_rate)  # dB per sample
    up = depth_db / (release_ms * 1e-3 * sample_rate)
    # Rising edges limited to `up` dB/sample: g[n] = min_{k<=n} (t[k] + up*(n-k)).
    g = np.minimum.accumulate(target - up * k) + up * k
    # Falling edges limited to `down` dB/sample: h[n] = max_{k<=n} (g[k] - down*(n-k)).
    h = np.maximum.accumulate(g + down * k) - down * k
    return np.clip(h, -depth_db, 0.0).astype(np.float32)


def _check_settings(*, depth_db, attack_ms, release_ms, hold_ms, lookahead_ms):
    if not np.isfinite(depth_db) or depth_db < 0 or depth_db > 60:
        raise ParameterError(f"depth_db must be between 0 and 60 dB (a positive attenuation); got {depth_db}.")
    for name, value in (("attack_ms", attack_ms), ("release_ms", release_ms)):
        if not np.isfinite(value) or value < 1.0:
            raise ParameterError(f"{name} must be at least 1 ms (shorter gain changes click); got {value}.")
    for name, value in (("hold_ms", hold_ms), ("lookahead_ms", lookahead_ms)):
        if not np.isfinite(value) or value < 0 or value > 5000:
            raise ParameterError(f"{name} must be between 0 and 5000 ms; got {value}.")
