"""Sound synthesis for the scene library: SFX one-shots, ambience beds, music beds.

Everything here is plain NumPy/SciPy: additive and subtractive synthesis,
shaped noise and envelopes. Every random source is a ``numpy.random.Generator``
seeded from a fixed integer, so the same call gives the same samples on every
run. All functions return ``float32`` arrays shaped ``(n_samples, 1)`` at 48 kHz.

SFX one-shots start at their first sample (attack of at most 0.5 ms), so a clip
placed at ``start_s`` is heard at ``start_s``.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np
from scipy import signal

SR = 48_000


def rng(name: str) -> np.random.Generator:
    """A generator seeded from a name, so each sound has its own fixed noise."""
    return np.random.default_rng(zlib.crc32(name.encode()))


def t_axis(dur_s: float) -> np.ndarray:
    return np.arange(int(round(dur_s * SR))) / SR


def exp_env(n: int, tau_s: float, attack_s: float = 0.0005) -> np.ndarray:
    """Fast linear attack then exponential decay with time constant ``tau_s``."""
    t = np.arange(n) / SR
    env = np.exp(-t / tau_s)
    a = max(1, int(attack_s * SR))
    env[:a] *= np.linspace(0.15, 1.0, a)
    return env


def adsr(n: int, a_s: float, d_s: float, s_lvl: float, r_s: float) -> np.ndarray:
    env = np.full(n, s_lvl, dtype=np.float64)
    a, d, r = int(a_s * SR), int(d_s * SR), int(r_s * SR)
    a = min(a, n)
    env[:a] = np.linspace(0, 1, a, endpoint=False)
    d_end = min(n, a + d)
    env[a:d_end] = np.linspace(1, s_lvl, d_end - a, endpoint=False)
    r = min(r, n)
    if r > 0:
        env[n - r :] *= np.linspace(1, 0, r)
    return env


def bandpass(x: np.ndarray, lo: float, hi: float, order: int = 2) -> np.ndarray:
    sos = signal.butter(order, [lo, hi], btype="bandpass", fs=SR, output="sos")
    return signal.sosfilt(sos, x)


def lowpass(x: np.ndarray, f: float, order: int = 2) -> np.ndarray:
    return signal.sosfilt(signal.butter(order, f, btype="lowpass", fs=SR, output="sos"), x)


def highpass(x: np.ndarray, f: float, order: int = 2) -> np.ndarray:
    return signal.sosfilt(signal.butter(order, f, btype="highpass", fs=SR, output="sos"), x)


def pink(n: int, g: np.random.Generator) -> np.ndarray:
    """Pink (1/f) noise by spectral shaping, unit RMS."""
    white = g.standard_normal(n)
    spec = np.fft.rfft(white)
    f = np.fft.rfftfreq(n, 1 / SR)
    f[0] = f[1]
    spec /= np.sqrt(f)
    y = np.fft.irfft(spec, n)
    return y / np.sqrt(np.mean(y**2))


def time_varying_lowpass(x: np.ndarray, cutoff_hz: np.ndarray) -> np.ndarray:
    """One-pole low-pass whose cutoff follows ``cutoff_hz`` (per sample), run in blocks of 256."""
    out = np.empty_like(x)
    zi = 0.0
    block = 256
    for i in range(0, len(x), block):
        fc = float(cutoff_hz[min(i, len(cutoff_hz) - 1)])
        a = np.exp(-2 * np.pi * fc / SR)
        seg, zf = signal.lfilter([1 - a], [1, -a], x[i : i + block], zi=[zi * a])
        out[i : i + block] = seg
        zi = seg[-1] if len(seg) else zi
    return out


def smooth_random(n: int, g: np.random.Generator, rate_hz: float) -> np.ndarray:
    """A slowly varying random curve in [0, 1] (cubic-interpolated control points)."""
    from scipy.interpolate import CubicSpline

    k = max(4, int(n / SR * rate_hz) + 4)
    pts = g.random(k)
    xs = np.linspace(0, n, k)
    return np.clip(CubicSpline(xs, pts)(np.arange(n)), 0, 1)


def finish(y: np.ndarray, *, peak_db: float | None = None) -> np.ndarray:
    """Return ``(n, 1)`` float32, optionally peak-normalised to ``peak_db`` dBFS."""
    y = np.asarray(y, dtype=np.float64)
    if peak_db is not None:
        y = y / (np.max(np.abs(y)) + 1e-12) * 10 ** (peak_db / 20)
    return y.astype(np.float32)[:, None]


def sine_partials(t: np.ndarray, partials: list[tuple[float, float, float]]) -> np.ndarray:
    """Sum of decaying sines: (frequency Hz, amplitude, decay time constant s)."""
    y = np.zeros_like(t)
    for f, a, tau in partials:
        y += a * np.sin(2 * np.pi * f * t) * np.exp(-t / tau)
    return y


# ---------------------------------------------------------------- SFX one-shots


def sfx_door_close(name: str = "door", *, thump_hz: float = 72.0) -> np.ndarray:
    """A wooden door swinging shut: body thump (``thump_hz``, another door: another value), latch click, short rattle."""
    g = rng(name)
    t = t_axis(0.9)
    n = len(t)
    thump = np.sin(2 * np.pi * (thump_hz * t + 40 * (1 - np.exp(-t / 0.02)) * 0.02)) * exp_env(n, 0.09)
    body = lowpass(g.standard_normal(n), 900, 4) * exp_env(n, 0.05)
    latch = np.zeros(n)
    k = int(0.012 * SR)
    click = bandpass(g.standard_normal(int(0.015 * SR)), 2500, 6000) * exp_env(int(0.015 * SR), 0.003)
    latch[k : k + len(click)] += click
    rattle = bandpass(g.standard_normal(n), 400, 2500) * exp_env(n, 0.12) * (0.5 + 0.5 * np.sin(2 * np.pi * 23 * t))
    room = lowpass(g.standard_normal(n), 3000) * exp_env(n, 0.25) * 0.05
    y = 1.0 * thump + 0.8 * body + 0.6 * latch + 0.15 * rattle + room
    return finish(y * _onset_guard(n), peak_db=-3.0)


def sfx_cup_down(name: str = "cup") -> np.ndarray:
    """A ceramic cup set on a saucer: bright inharmonic clink over a soft knock."""
    g = rng(name)
    t = t_axis(0.7)
    n = len(t)
    detune = 1 + 0.03 * (g.random() - 0.5)
    clink = sine_partials(
        t,
        [(f * detune, a, tau) for f, a, tau in [(2150, 1.0, 0.12), (3370, 0.7, 0.08), (5230, 0.5, 0.05), (7710, 0.3, 0.03), (9900, 0.15, 0.02)]],
    )
    knock = lowpass(g.standard_normal(n), 1200, 2) * exp_env(n, 0.012)
    second = np.zeros(n)  # a tiny bounce 28 ms later
    k = int(0.028 * SR)
    second[k:] = 0.35 * clink[: n - k]
    y = 0.6 * clink + 0.9 * knock + second
    return finish(y * _onset_guard(n), peak_db=-6.0)


def sfx_click(name: str = "click") -> np.ndarray:
    """A UI mouse click: two close transients (press), bandpassed."""
    g = rng(name)
    n = int(0.08 * SR)
    y = np.zeros(n)
    for off, amp in [(0, 1.0), (int(0.004 * SR), 0.5)]:
        m = int(0.01 * SR)
        burst = bandpass(g.standard_normal(m), 1800, 9000, 2) * exp_env(m, 0.0015)
        y[off : off + m] += amp * burst
    tick = np.sin(2 * np.pi * 3100 * np.arange(n) / SR) * exp_env(n, 0.006)
    y += 0.4 * tick
    return finish(y * _onset_guard(n), peak_db=-6.0)


def sfx_whoosh(name: str = "whoosh", dur_s: float = 0.55, rising: bool = True) -> np.ndarray:
    """A fast whoosh: band-limited noise sweeping in frequency, sharp attack, long tail."""
    g = rng(name)
    n = int(dur_s * SR)
    t = np.arange(n) / SR
    noise = g.standard_normal(n)
    sweep = np.linspace(0, 1, n) ** 0.6
    fc = 600 + 5000 * (sweep if rising else 1 - sweep)
    a = time_varying_lowpass(noise, fc)
    b = time_varying_lowpass(a, fc * 1.3)
    hp = highpass(b, 250)
    env = np.minimum(1.0, t / 0.004 + 0.6) * np.exp(-np.maximum(0, t - 0.06) / (dur_s / 3.5))
    return finish(hp * env * _onset_guard(n), peak_db=-6.0)


def sfx_chime(name: str = "chime") -> np.ndarray:
    """A bright two-note success chime (additive bell partials)."""
    t = t_axis(1.2)
    n = len(t)
    y = np.zeros(n)
    for k, f0 in enumerate([1046.5, 1568.0]):
        off = int(k * 0.11 * SR)
        tt = t[: n - off]
        bell = sine_partials(tt, [(f0, 1.0, 0.4), (f0 * 2.0, 0.35, 0.25), (f0 * 2.76, 0.2, 0.15), (f0 * 5.4, 0.08, 0.05)])
        y[off:] += bell * (0.8 if k == 0 else 1.0)
    return finish(y * _onset_guard(n), peak_db=-6.0)


def sfx_typing(name: str = "typing", dur_s: float = 1.2) -> np.ndarray:
    """Keyboard typing: a run of short key clicks at irregular intervals."""
    g = rng(name)
    n = int(dur_s * SR)
    y = np.zeros(n)
    pos = 0
    while pos < n - int(0.03 * SR):
        m = int(0.02 * SR)
        key = bandpass(g.standard_normal(m), 1200 + 800 * g.random(), 7000, 2) * exp_env(m, 0.004)
        y[pos : pos + m] += (0.6 + 0.4 * g.random()) * key
        pos += int(SR * (0.07 + 0.09 * g.random()))
    return finish(y * _onset_guard(n), peak_db=-8.0)


def sfx_bird(name: str = "bird", n_chirps: int = 3) -> np.ndarray:
    """A songbird call: frequency-modulated chirps (3-6 kHz) with harmonics, plus a wing flutter."""
    g = rng(name)
    n = int(1.0 * SR)
    y = np.zeros(n)
    pos = 0
    base = 3400 + 800 * g.random()
    for i in range(n_chirps):
        dur = 0.07 + 0.04 * g.random()
        m = int(dur * SR)
        tt = np.arange(m) / SR
        f = base * (1 + 0.45 * np.sin(np.pi * tt / dur) * (1 if i % 2 == 0 else -0.6)) + 900 * tt / dur
        ph = 2 * np.pi * np.cumsum(f) / SR
        env = np.sin(np.pi * np.minimum(1, tt / dur)) ** 0.5
        env[: int(0.0005 * SR)] = np.maximum(env[: int(0.0005 * SR)], np.linspace(0.3, 1, int(0.0005 * SR)))
        chirp = env * (np.sin(ph) + 0.25 * np.sin(2 * ph))
        if pos + m > n:
            break
        y[pos : pos + m] += chirp * (1.0 - 0.15 * i)
        pos += m + int((0.04 + 0.05 * g.random()) * SR)
    flutter_n = int(0.5 * SR)
    tt = np.arange(flutter_n) / SR
    flutter = bandpass(g.standard_normal(flutter_n), 300, 3000) * (0.5 + 0.5 * np.sin(2 * np.pi * 14 * tt)) ** 2 * np.exp(-tt / 0.25)
    y[:flutter_n] += 0.25 * flutter
    return finish(y * _onset_guard(n), peak_db=-6.0)


def sfx_thunder(name: str = "thunder") -> np.ndarray:
    """A close thunder crack: sharp broadband attack, then a long low rumble."""
    g = rng(name)
    t = t_axis(3.5)
    n = len(t)
    crack = highpass(g.standard_normal(n), 800) * exp_env(n, 0.05)
    rumble_src = lowpass(g.standard_normal(n), 180, 4)
    rumble = rumble_src / (np.std(rumble_src) + 1e-12) * (1 - np.exp(-t / 0.15)) * np.exp(-t / 1.2)
    rumble *= 0.6 + 0.4 * smooth_random(n, g, 6)
    mid = bandpass(g.standard_normal(n), 120, 900) * exp_env(n, 0.4)
    y = 0.8 * crack + 1.0 * rumble + 0.4 * mid
    return finish(y * _onset_guard(n), peak_db=-3.0)


def sfx_branch(name: str = "branch") -> np.ndarray:
    """A dead branch hitting the forest floor: crackle of twigs and a dull thud."""
    g = rng(name)
    t = t_axis(0.8)
    n = len(t)
    thud = np.sin(2 * np.pi * 95 * t) * exp_env(n, 0.06) + lowpass(g.standard_normal(n), 500, 2) * exp_env(n, 0.04)
    crackle = np.zeros(n)
    for _ in range(14):
        off = int(g.random() ** 2 * 0.35 * SR)
        m = int(0.006 * SR)
        crackle[off : off + m] += (0.3 + 0.7 * g.random()) * bandpass(g.standard_normal(m), 1500, 8000) * exp_env(m, 0.0015)
    crackle[: int(0.006 * SR)] += bandpass(g.standard_normal(int(0.006 * SR)), 1500, 8000) * exp_env(int(0.006 * SR), 0.0015)
    rustle = bandpass(g.standard_normal(n), 2000, 9000) * exp_env(n, 0.15) * 0.15
    y = 1.0 * thud + 0.7 * crackle + rustle
    return finish(y * _onset_guard(n), peak_db=-4.0)


def _onset_guard(n: int) -> np.ndarray:
    """0.25 ms rise from the first sample (no DC step click), 20 ms fade at the end."""
    w = np.ones(n)
    a = int(0.00025 * SR)
    w[:a] = np.linspace(0.25, 1, a)
    f = int(0.02 * SR)
    w[-f:] *= np.linspace(1, 0, f)
    return w


# ---------------------------------------------------------------- ambience beds


def ambience_cafe(dur_s: float, name: str = "cafe_room") -> np.ndarray:
    """Cafe room tone: low HVAC rumble, a murmur of distant voices, sparse far-off clinks."""
    g = rng(name)
    n = int(dur_s * SR)
    t = np.arange(n) / SR
    hvac = lowpass(pink(n, g), 250, 2) * 0.5
    murmur = np.zeros(n)
    for k in range(7):  # several talkers: speech-band noise, syllable-rate modulation
        carrier = bandpass(g.standard_normal(n), 250 + 60 * k, 2200, 2)
        syll = smooth_random(n, g, 4.5 + 0.5 * k) ** 2
        phrase = (smooth_random(n, g, 0.4) > 0.35).astype(float)
        phrase = lowpass(phrase, 8, 1)
        murmur += carrier * syll * phrase
    murmur = lowpass(murmur, 1800, 2)
    clinks = np.zeros(n)
    for start in np.sort(g.random(9)) * (dur_s - 0.5):
        c = sfx_cup_down(f"{name}_clink_{start:.3f}")[:, 0] * 0.08
        i = int(start * SR)
        clinks[i : i + len(c)] += c[: n - i]
    y = hvac / np.std(hvac) * 0.3 + murmur / np.std(murmur) * 0.5 + lowpass(clinks, 5000) * 3
    return _level_bed(y, n)


def ambience_office(dur_s: float, name: str = "office_hum") -> np.ndarray:
    """Quiet studio/office: air conditioning hiss, mains hum, a far keyboard now and then."""
    g = rng(name)
    n = int(dur_s * SR)
    t = np.arange(n) / SR
    air = lowpass(pink(n, g), 3000, 2) * (0.9 + 0.1 * smooth_random(n, g, 0.3))
    hum = 0.05 * np.sin(2 * np.pi * 50 * t) + 0.03 * np.sin(2 * np.pi * 100 * t) + 0.01 * np.sin(2 * np.pi * 150 * t)
    keys = np.zeros(n)
    for start in [2.5, 9.0, 15.5]:
        if start + 1.2 < dur_s:
            k = sfx_typing(f"{name}_keys_{start}", 1.2)[:, 0]
            i = int(start * SR)
            keys[i : i + len(k)] += lowpass(k, 3000) * 0.12
    y = air / np.std(air) * 0.35 + hum + keys
    return _level_bed(y, n)


def ambience_forest(dur_s: float, name: str = "forest_wind") -> np.ndarray:
    """Forest in the wind: gusting broadband wind, leaf rustle, distant birds."""
    g = rng(name)
    n = int(dur_s * SR)
    gust = 0.35 + 0.65 * smooth_random(n, g, 0.35)
    wind = time_varying_lowpass(pink(n, g), 250 + 900 * gust) * gust
    leaves = bandpass(g.standard_normal(n), 2500, 9000) * (0.2 + gust**3) * 0.4
    leaves *= 0.6 + 0.4 * smooth_random(n, g, 9)
    birds = np.zeros(n)
    for k, start in enumerate(np.sort(g.random(7)) * (dur_s - 1.2)):
        b = sfx_bird(f"{name}_far_{k}", n_chirps=2 + k % 3)[:, 0]
        b = lowpass(b, 4500) * 0.06
        i = int(start * SR)
        birds[i : i + len(b)] += b[: n - i]
    y = wind / np.std(wind) * 0.6 + leaves / np.std(leaves) * 0.12 + birds
    return _level_bed(y, n)


def _level_bed(y: np.ndarray, n: int) -> np.ndarray:
    fade = int(0.05 * SR)
    y = np.asarray(y, dtype=np.float64)
    y[:fade] *= np.linspace(0, 1, fade)
    y[-fade:] *= np.linspace(1, 0, fade)
    return finish(y[:n], peak_db=-12.0)


# ---------------------------------------------------------------- music


def midi_hz(m: float) -> float:
    return 440.0 * 2 ** ((m - 69) / 12)


@dataclass(frozen=True)
class Note:
    """One note of a score: start and length in beats, MIDI pitch, velocity 0-1, instrument."""

    beat: float
    beats: float
    pitch: int
    vel: float
    inst: str


def _inst(inst: str, f: float, n: int, vel: float, g: np.random.Generator) -> np.ndarray:
    t = np.arange(n) / SR
    if inst == "keys":  # electric-piano-like: FM bell tine + warm body
        mod = np.sin(2 * np.pi * f * t) * 1.2 * np.exp(-t / 0.3)
        y = np.sin(2 * np.pi * f * t + mod) * np.exp(-t / 1.2) + 0.3 * np.sin(2 * np.pi * 2 * f * t) * np.exp(-t / 0.4)
        return y * adsr(n, 0.003, 0.1, 0.8, 0.12) * vel
    if inst == "bass":
        y = np.sin(2 * np.pi * f * t) + 0.35 * np.sin(2 * np.pi * 2 * f * t) * np.exp(-t / 0.15)
        return y * adsr(n, 0.006, 0.2, 0.7, 0.06) * vel
    if inst == "pad":  # detuned sawtooth voices (additive, band-limited), slow attack
        y = np.zeros(n)
        for det in (-0.006, 0.0, 0.0065):
            ff = f * (1 + det)
            for h in range(1, int(min(14, 6000 / ff)) + 1):
                y += np.sin(2 * np.pi * h * ff * t + h * det * 100) / h * (0.85 ** h)
        return y / 3 * adsr(n, 0.6, 0.3, 0.8, 0.7) * vel
    if inst == "pluck":  # bright pluck: harmonics decay faster the higher they are
        y = np.zeros(n)
        for h in range(1, 10):
            y += np.sin(2 * np.pi * h * f * t) / h * np.exp(-t * (3 + 4 * h))
        return y * adsr(n, 0.002, 0.05, 1.0, 0.03) * vel
    if inst == "piano":
        y = np.zeros(n)
        for h, a in enumerate([1.0, 0.5, 0.3, 0.15, 0.1, 0.05], start=1):
            y += a * np.sin(2 * np.pi * h * f * 1.0005**h * t) * np.exp(-t * (0.8 + 0.9 * h))
        return y * adsr(n, 0.002, 0.05, 1.0, 0.2) * vel
    if inst == "kick":
        ph = 2 * np.pi * np.cumsum(45 + 110 * np.exp(-t / 0.03)) / SR
        return np.sin(ph) * np.exp(-t / 0.18) * vel
    if inst == "hat":
        return highpass(g.standard_normal(n), 7000, 2) * np.exp(-t / 0.03) * vel
    if inst == "snare":
        return (bandpass(g.standard_normal(n), 1200, 7000) * np.exp(-t / 0.08) + 0.5 * np.sin(2 * np.pi * 190 * t) * np.exp(-t / 0.05)) * vel
    raise ValueError(f"unknown instrument {inst!r}")


_INST_GAIN = {"keys": 0.35, "bass": 0.5, "pad": 0.22, "pluck": 0.3, "piano": 0.4, "kick": 0.7, "hat": 0.12, "snare": 0.25}


def render_score(notes: list[Note], *, bpm: float, dur_s: float, name: str) -> np.ndarray:
    """Render a list of notes to a mono bed of ``dur_s`` seconds (notes past the end are cut)."""
    g = rng(name)
    n_total = int(dur_s * SR)
    y = np.zeros(n_total)
    spb = 60.0 / bpm
    for note in notes:
        start = int(round(note.beat * spb * SR))
        if start >= n_total:
            continue
        tail = 1.5 if note.inst in ("keys", "piano", "pad") else 0.4
        n = min(int((note.beats * spb + tail) * SR), n_total - start)
        held = int(note.beats * spb * SR)
        sound = _inst(note.inst, midi_hz(note.pitch), n, note.vel, g)
        if note.inst in ("keys", "bass", "pad", "pluck", "piano") and held < n:
            rel = np.ones(n)
            r = n - held
            rel[held:] = np.exp(-np.arange(r) / SR / (0.35 if note.inst == "pad" else 0.12))
            sound = sound * rel
        y[start : start + n] += _INST_GAIN[note.inst] * sound
    return y


def _chord_notes(chords, beat0, beats_each, inst, vel, octave_shift=0):
    out = []
    for i, chord in enumerate(chords):
        for p in chord:
            out.append(Note(beat0 + i * beats_each, beats_each, p + octave_shift, vel, inst))
    return out


_KEYS = ["C", "Db", "D", "Eb", "E", "F", "Gb", "G", "Ab", "A", "Bb", "B"]


def music_cafe(dur_s: float = 20.0, *, bpm: float = 96.0, transpose: int = 0, name: str = "music_cafe",
               swing: float = 0.0) -> tuple[np.ndarray, dict]:
    """Laid-back cafe jazz (96 BPM, F major): keys intro, walking bass verse, a bridge, a held ending.

    The keyword arguments make another *take* of the same arrangement (per-learner variants,
    ``assets/variants.py``): another tempo, key (``transpose`` semitones), noise seed (``name``) and
    a swing of the walking bass (``swing``: fraction of a beat the off-beat notes are delayed). The
    defaults give the kit's own clip.
    """
    spb = 60 / bpm
    # Fmaj7 Dm7 Gm7 C7 | Bbmaj7 Am7 Gm7 C7
    tr = int(transpose)
    prog = [[p + tr for p in c] for c in [[53, 57, 60, 64], [50, 53, 57, 60], [55, 58, 62, 65], [48, 52, 55, 58]]]
    bridge = [[p + tr for p in c] for c in [[58, 62, 65, 69], [57, 60, 64, 67], [55, 58, 62, 65], [48, 52, 55, 58]]]
    roots = [r + tr for r in [41, 38, 43, 36]]
    roots_b = [r + tr for r in [46, 45, 43, 36]]
    notes: list[Note] = []
    notes += _chord_notes(prog[:2], 0, 2, "keys", 0.5)  # intro: 4 beats, keys alone
    for rep in range(2):  # verse: 16 beats with walking bass and brushed hats
        b0 = 4 + rep * 8
        notes += _chord_notes(prog, b0, 2, "keys", 0.6)
        for i, r in enumerate(roots):
            for k, step in enumerate([0, 7, 12, 7]):
                notes.append(Note(b0 + i * 2 + k * 0.5 + (swing if k % 2 else 0.0), 0.45, r + step, 0.8, "bass"))
        for k in range(8):
            notes.append(Note(b0 + k + 0.5, 0.1, 0, 0.5 if k % 2 else 0.3, "hat"))
    b0 = 20  # bridge: 8 beats, new chords, held bass
    notes += _chord_notes(bridge, b0, 2, "keys", 0.6)
    for i, r in enumerate(roots_b):
        notes.append(Note(b0 + i * 2, 1.8, r, 0.8, "bass"))
    notes += [Note(b0 + k + 0.5, 0.1, 0, 0.4, "hat") for k in range(8)]
    notes += _chord_notes([[p + tr for p in (53, 57, 60, 64, 69)]], 28, 4, "keys", 0.45)  # outro: held Fmaj9
    notes.append(Note(28, 3.5, 41 + tr, 0.7, "bass"))
    y = render_score(notes, bpm=bpm, dur_s=dur_s, name=name)
    sections = [("intro", 0, 4), ("verse", 4, 20), ("bridge", 20, 28), ("outro", 28, dur_s / spb)]
    return _music_out(y, dur_s, bpm, f"{_KEYS[(5 + tr) % 12]} major", sections)


def music_demo(dur_s: float = 20.0) -> tuple[np.ndarray, dict]:
    """Upbeat product-demo music (120 BPM, C major): pluck arpeggio intro, drums + bass verse, a lift, a button ending."""
    bpm = 120.0
    spb = 60 / bpm
    prog = [[60, 64, 67], [57, 60, 64], [53, 57, 60], [55, 59, 62]]  # C Am F G
    roots = [36, 33, 41, 43]
    notes: list[Note] = []

    def arp(b0, bars, vel):
        out = []
        for bar in range(bars):
            chord = prog[bar % 4]
            for k in range(8):
                p = chord[k % 3] + (12 if k >= 4 else 0)
                out.append(Note(b0 + bar * 4 + k * 0.5, 0.4, p, vel, "pluck"))
        return out

    notes += arp(0, 2, 0.6)  # intro: 8 beats, pluck only
    notes += _chord_notes(prog[:2], 0, 4, "pad", 0.4)
    notes += arp(8, 4, 0.7)  # verse: 16 beats
    notes += _chord_notes(prog, 8, 4, "pad", 0.5)
    for bar in range(4):
        b0 = 8 + bar * 4
        notes += [Note(b0 + k, 0.9, roots[bar], 0.9, "bass") for k in range(4)]
        notes += [Note(b0 + k, 0.2, 0, 1.0, "kick") for k in (0, 2)]
        notes += [Note(b0 + k, 0.2, 0, 0.8, "snare") for k in (1, 3)]
        notes += [Note(b0 + k * 0.5, 0.1, 0, 0.6, "hat") for k in range(8)]
    notes += arp(24, 3, 0.8)  # lift: 12 beats, up a step in energy (octave pad, 16th hats)
    notes += _chord_notes(prog[:3], 24, 4, "pad", 0.6, octave_shift=12)
    for bar in range(3):
        b0 = 24 + bar * 4
        notes += [Note(b0 + k * 0.5, 0.4, roots[bar] + (12 if k % 2 else 0), 0.9, "bass") for k in range(8)]
        notes += [Note(b0 + k, 0.2, 0, 1.0, "kick") for k in range(4)]
        notes += [Note(b0 + k * 0.25, 0.05, 0, 0.5, "hat") for k in range(16)]
    notes += [Note(36, 3.0, p, 0.8, "pluck") for p in (60, 64, 67, 72)]  # button ending
    notes += [Note(36, 0.2, 0, 1.0, "kick"), Note(36, 3.0, 36, 0.9, "bass")]
    y = render_score(notes, bpm=bpm, dur_s=dur_s, name="music_demo")
    sections = [("intro", 0, 8), ("verse", 8, 24), ("lift", 24, 36), ("outro", 36, dur_s / spb)]
    return _music_out(y, dur_s, bpm, "C major", sections)


def music_forest(dur_s: float = 20.0) -> tuple[np.ndarray, dict]:
    """Slow ambient score (60 BPM, D minor): pad swell, sparse piano theme, a held final chord."""
    bpm = 60.0
    notes: list[Note] = []
    notes += _chord_notes([[50, 57, 62], [46, 53, 58]], 0, 3, "pad", 0.45)  # intro pad: 6 beats
    pads = [[50, 57, 62, 65], [46, 53, 58, 62], [48, 55, 60, 64], [45, 52, 57, 61]]
    notes += _chord_notes(pads, 6, 2.5, "pad", 0.55)  # theme: 10 beats
    theme = [(6, 74), (7, 72), (8, 69), (9.5, 70), (11, 69), (12, 67), (13, 65), (14.5, 64)]
    notes += [Note(b, 1.2, p, 0.55, "piano") for b, p in theme]
    notes += [Note(16, 4, p, 0.5, "pad") for p in (50, 57, 62, 65)]  # outro: held Dm
    notes += [Note(16, 3, 62, 0.45, "piano"), Note(16.5, 3, 69, 0.4, "piano")]
    y = render_score(notes, bpm=bpm, dur_s=dur_s, name="music_forest")
    sections = [("intro", 0, 6), ("theme", 6, 16), ("outro", 16, dur_s)]
    return _music_out(y, dur_s, bpm, "D minor", sections)


def _music_out(y, dur_s, bpm, key, sections):
    n = len(y)
    fade = int(1.0 * SR)
    y[-fade:] *= np.linspace(1, 0, fade) ** 2
    spb = 60.0 / bpm
    meta = {
        "tempo_bpm": bpm,
        "key": key,
        "sections": [
            {"name": s, "start_s": round(a * spb, 4), "end_s": round(min(b * spb, dur_s), 4)} for s, a, b in sections
        ],
    }
    return finish(y[:n], peak_db=-6.0), meta
