"""Signal generators with known answers, shared by every test folder.

``tests/conftest.py`` puts this folder on ``sys.path``, so a test writes
``from signals import tone, noise, speech_like``. Every generator returns a
float array shaped ``(samples, channels)`` (the kit's convention) and is
deterministic (seeded).
"""

from __future__ import annotations

import numpy as np

SR = 48_000


def tone(seconds: float, *, freq_hz: float = 1000.0, level_dbfs: float | None = None, amp: float | None = None,
         channels: int = 2, sample_rate: int = SR, phase_deg: float = 0.0, dtype=np.float32) -> np.ndarray:
    """A sine of peak ``level_dbfs`` (or linear peak ``amp``), the same in every channel.

    A 997 Hz or 1 kHz sine at 0 dBFS in one channel reads -3.01 LUFS (BS.1770); the EBU Tech 3341
    cases are built from it.
    """
    if (level_dbfs is None) == (amp is None):
        raise TypeError("give exactly one of level_dbfs and amp")
    peak = 10 ** (level_dbfs / 20) if level_dbfs is not None else amp
    t = np.arange(int(round(seconds * sample_rate))) / sample_rate
    x = peak * np.sin(2 * np.pi * freq_hz * t + np.deg2rad(phase_deg))
    return np.repeat(x[:, None], channels, axis=1).astype(dtype)


def noise(seconds: float, seed: int = 0, amp: float = 0.1, *, channels: int = 2, sample_rate: int = SR,
          dtype=np.float32) -> np.ndarray:
    """White Gaussian noise of standard deviation ``amp``."""
    g = np.random.default_rng(seed)
    return (g.standard_normal((int(seconds * sample_rate), channels)) * amp).astype(dtype)


def burst(seconds: float = 4.0, *, on_s: tuple[float, float] = (1.0, 2.0), amp: float = 0.3, freq_hz: float = 220.0,
          channels: int = 1, sample_rate: int = SR) -> np.ndarray:
    """Silence with one sine burst from ``on_s[0]`` to ``on_s[1]`` seconds: a known activity span."""
    x = np.zeros((int(seconds * sample_rate), channels), np.float32)
    a, b = (int(t * sample_rate) for t in on_s)
    t = np.arange(b - a) / sample_rate
    x[a:b, :] = (amp * np.sin(2 * np.pi * freq_hz * t))[:, None]
    return x


def speech_like(seconds: float, *, seed: int, amp: float = 0.2, harmonics: int = 29,
                gap_s: tuple[float, float] = (0.03, 0.1), syllable_gain: tuple[float, float] = (0.6, 1.0),
                sample_rate: int = SR) -> np.ndarray:
    """Voiced syllables (harmonics of a wandering f0 under a syllable envelope) with short pauses, mono.

    Onsets are sharp and the spectrum is voice-like (110-190 Hz f0, harmonics falling 1/k), so sync
    and masking measurements behave as on speech.
    """
    g = np.random.default_rng(seed)
    out, n, total = [], 0, int(seconds * sample_rate)
    while n < total:
        syl = int(g.uniform(0.12, 0.26) * sample_rate)
        t = np.arange(syl) / sample_rate
        f0 = g.uniform(110, 190) * (1 + 0.05 * np.sin(2 * np.pi * g.uniform(2, 5) * t))
        phase = 2 * np.pi * np.cumsum(f0) / sample_rate
        x = sum((1.0 / k) * np.sin(k * phase + g.uniform(0, 6.28)) for k in range(1, harmonics + 1))
        out.append(x * np.hanning(syl) ** 0.5 * amp * g.uniform(*syllable_gain))
        gap = int(g.uniform(*gap_s) * sample_rate)
        out.append(np.zeros(gap))
        n += syl + gap
    y = np.concatenate(out)[:total]
    y[:48] *= np.linspace(0, 1, 48)
    return y.astype(np.float32)[:, None]


def sine_dbfs(level_dbfs: float, seconds: float, sample_rate: int, *, freq_hz: float = 1000.0, channels: int = 2,
              phase_deg: float = 0.0, dtype=np.float64) -> np.ndarray:
    """The EBU Tech 3341/3342 way of writing a test sine: peak level, duration, rate (float64 by default).

    ``sine_dbfs(-23, 20, 48000)`` is Tech 3341 case 1's stereo 1 kHz sine (reads -23.0 LUFS).
    """
    return tone(seconds, freq_hz=freq_hz, level_dbfs=level_dbfs, channels=channels, sample_rate=sample_rate,
                phase_deg=phase_deg, dtype=dtype)
