"""The four-layer stack: dialogue, SFX, ambience and music on one timeline.

A :class:`LayerStack` holds four :class:`Layer` objects in priority order.
Each layer holds :class:`Clip` objects placed on the timeline and behaves like
a list of them (``stack["sfx"].append(clip)``, ``len(stack["sfx"])``,
``del stack["sfx"][0]``). Rendering places every clip to the sample, applies
fades, clip and layer gains, mute and solo, ducks music under the dialogue,
and masters the result, returning the mix and one stem per layer.

The same master gain is applied to every stem, so the stems always add up to
the mix.

Taught in ``lessons/07_four_layers.ipynb``.
"""

from __future__ import annotations

from collections.abc import MutableSequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from layerlab.io.audio import SAMPLE_RATE, load_audio, remix_channels, validate_audio
from layerlab.mix.ducking import Ducking, db_to_gain
from layerlab.errors import ParameterError

LAYERS = ("dialogue", "sfx", "ambience", "music")
"""The four layers, highest priority first."""

LAYER_ROLES = {
    "dialogue": "always on top: clear, clean and in sync with the lips",
    "sfx": "tied to visible events: each sound on its frame",
    "ambience": "continuous bed that says where we are; never cut abruptly",
    "music": "emotional tone underneath; ducks under dialogue",
}

_CHANNELS = 2


@dataclass
class Clip:
    """A piece of audio placed on a layer's timeline.

    Parameters
    ----------
    audio : np.ndarray, shape (n_samples, n_channels), or None
        The samples at 48 kHz. Mono clips are up-mixed to stereo on render.
        Give either ``audio`` or ``path``.
    path : str or Path, optional
        A WAV/FLAC/MP3 file, loaded (and resampled/up-mixed explicitly) on first use.
    start_s : float
        Where the clip's first (kept) sample lands on the timeline, in seconds.
        Negative values start the clip before the timeline (its head is cut).
    gain_db : float
        Clip gain.
    fade_in_ms, fade_out_ms : float
        Raised-cosine fades at the clip's ends (after trimming).
    trim_start_s : float
        Skip this much of the source's head.
    trim_end_s : float or None
        Stop at this time in the source (None: play to the end).
    name : str
        A label (a cue id such as ``"door"`` or ``"l1"``).

    Notes
    -----
    Taught in ``lessons/07_four_layers.ipynb``.
    """

    audio: np.ndarray | None = None
    path: str | None = None
    start_s: float = 0.0
    gain_db: float = 0.0
    fade_in_ms: float = 0.0
    fade_out_ms: float = 0.0
    trim_start_s: float = 0.0
    trim_end_s: float | None = None
    name: str = ""
    _source: np.ndarray | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self):
        if self.audio is None and self.path is None:
            raise ParameterError("A Clip needs audio (an array) or a path to an audio file.")
        if self.audio is not None:
            self._source = remix_channels(validate_audio(self.audio, name=f"clip {self.name or ''}".strip()), channels=_CHANNELS)
            self.audio = None
        if self.path is not None:
            self.path = str(self.path)
        for attr in ("start_s", "gain_db", "fade_in_ms", "fade_out_ms", "trim_start_s"):
            value = float(getattr(self, attr))
            if not np.isfinite(value):
                raise ParameterError(f"clip {self.name!r}: {attr} must be a finite number, got {value}.")
            setattr(self, attr, value)
        if self.fade_in_ms < 0 or self.fade_out_ms < 0 or self.trim_start_s < 0:
            raise ParameterError(f"clip {self.name!r}: fades and trim_start_s cannot be negative.")
        if self.trim_end_s is not None and self.trim_end_s <= self.trim_start_s:
            raise ParameterError(f"clip {self.name!r}: trim_end_s ({self.trim_end_s}) must be after trim_start_s ({self.trim_start_s}).")
        if not self.name:
            self.name = Path(self.path).stem if self.path else "clip"

    @property
    def source(self) -> np.ndarray:
        """The untrimmed source samples, shape (n_samples, 2), float32 (loaded once)."""
        if self._source is None:
            self._source = load_audio(self.path, channels=_CHANNELS, resample=True, remix=True)
        return self._source

    def rendered(self, *, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
        """The clip after trim, fades and clip gain, shape (n_samples, 2), float32."""
        src = self.source
        a = int(round(self.trim_start_s * sample_rate))
        b = src.shape[0] if self.trim_end_s is None else min(src.shape[0], int(round(self.trim_end_s * sample_rate)))
        out = src[a:b].copy()
        n = out.shape[0]
        for ms, head in ((self.fade_in_ms, True), (self.fade_out_ms, False)):
            k = min(n, int(round(ms * 1e-3 * sample_rate)))
            if k > 0:
                ramp = (0.5 - 0.5 * np.cos(np.pi * (np.arange(k) + 0.5) / k)).astype(np.float32)
                if head:
                    out[:k] *= ramp[:, None]
                else:
                    out[n - k :] *= ramp[::-1, None]
        if self.gain_db:
            out *= db_to_gain(self.gain_db)
        return out

    def duration_s(self, *, sample_rate: int = SAMPLE_RATE) -> float:
        """Length after trimming, in seconds."""
        n = self.source.shape[0]
        a = int(round(self.trim_start_s * sample_rate))
        b = n if self.trim_end_s is None else min(n, int(round(self.trim_end_s * sample_rate)))
        return max(0, b - a) / sample_rate

    def _key(self):
        return (id(self._source) if self.path is None else self.path, self.start_s, self.gain_db, self.fade_in_ms,
                self.fade_out_ms, self.trim_start_s, self.trim_end_s)


class Layer(MutableSequence):
    """One of the four layers: a list of clips plus a fader, mute and solo.

    Parameters
    ----------
    name : str
        One of :data:`LAYERS`.
    gain_db : float
        Layer fader.
    mute, solo : bool

    Notes
    -----
    Taught in ``lessons/07_four_layers.ipynb``.
    """

    def __init__(self, name: str, *, gain_db: float = 0.0, mute: bool = False, solo: bool = False, clips=()):
        if name not in LAYERS:
            raise ParameterError(f"unknown layer {name!r}; the layers are {', '.join(LAYERS)}.")
        self.name = name
        self.gain_db = float(gain_db)
        self.mute = bool(mute)
        self.solo = bool(solo)
        self._clips: list[Clip] = []
        self._cache_key = None
        self._cache = None
        for c in clips:
            self.append(c)

    def __getitem__(self, i):
        return self._clips[i]

    def __setitem__(self, i, clip):
        self._clips[i] = _as_clip(clip)

    def __delitem__(self, i):
        del self._clips[i]

    def __len__(self):
        return len(self._clips)

    def insert(self, i, clip):
        self._clips.insert(i, _as_clip(clip))

    def __repr__(self):
        flags = "".join([" muted" if self.mute else "", " solo" if self.solo else ""])
        return f"<Layer {self.name}: {len(self)} clips, {self.gain_db:+.1f} dB{flags}>"

    def render_clips(self, *, n_samples: int, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
        """Sum of the layer's clips before the fader, shape (n_samples, 2), float32.

        The result is cached until a clip changes, so moving a fader does not
        re-render the clips.
        """
        key = (n_samples, sample_rate, tuple(c._key() for c in self._clips))
        if key == self._cache_key and self._cache is not None:
            return self._cache
        buf = np.zeros((n_samples, _CHANNELS), dtype=np.float32)
        for clip in self._clips:
            audio = clip.rendered(sample_rate=sample_rate)
            start = int(round(clip.start_s * sample_rate))
            src_lo = max(0, -start)
            dst_lo = max(0, start)
            length = min(audio.shape[0] - src_lo, n_samples - dst_lo)
            if length > 0:
                buf[dst_lo : dst_lo + length] += audio[src_lo : src_lo + length]
        self._cache_key, self._cache = key, buf
        return buf


@dataclass(frozen=True)
class Render:
    """The result of :meth:`LayerStack.render`.

    Attributes
    ----------
    mix : np.ndarray, shape (n_samples, 2), float32
        The sum of the stems.
    stems : dict of str to np.ndarray, each shape (n_samples, 2), float32
        One stem per layer, after fader, mute/solo, ducking and master gain.
    duck_gain_db : np.ndarray, shape (n_samples,), float32
        The ducking envelope applied to the ducked layers (zeros without ducking).
    dialogue_active : np.ndarray, shape (n_samples,), bool
        Where the ducker heard dialogue.
    master_gain_db : np.ndarray, shape (n_samples,), float32
        The master gain (loudness normalisation + limiter) applied to every stem.
    sample_rate : int
    """

    mix: np.ndarray
    stems: dict
    duck_gain_db: np.ndarray
    dialogue_active: np.ndarray
    master_gain_db: np.ndarray
    sample_rate: int = SAMPLE_RATE

    @property
    def duration_s(self) -> float:
        """Length in seconds."""
        return self.mix.shape[0] / self.sample_rate

    @property
    def times_s(self) -> np.ndarray:
        """Time of each sample in seconds, shape (n_samples,)."""
        return np.arange(self.mix.shape[0]) / self.sample_rate


class LayerStack:
    """Dialogue, SFX, ambience and music on one timeline, rendered to a mix and stems.

    Parameters
    ----------
    duration_s : float
        Length of the timeline (the scene's length).
    sample_rate : int
        48000; other rates are accepted for experiments.
    ducking : Ducking or None
        Dialogue-keyed ducking of music (and optionally ambience).
    master : Master or None
        Loudness normalisation and true-peak limiting of the mix.

    Examples
    --------
    >>> stack = LayerStack(duration_s=20.0)
    >>> stack.add("dialogue", "l1.wav", start_s=5.0)          # doctest: +SKIP
    >>> stack["music"].gain_db = -6
    >>> r = stack.render()                                     # doctest: +SKIP

    Notes
    -----
    Taught in ``lessons/07_four_layers.ipynb``.
    """

    def __init__(self, *, duration_s: float, sample_rate: int = SAMPLE_RATE, ducking: Ducking | None = None, master=None):
        if not np.isfinite(duration_s) or duration_s <= 0 or duration_s > 3 * 3600:
            raise ParameterError(f"duration_s must be a positive number of seconds (at most 3 hours); got {duration_s}.")
        if sample_rate < 8000 or sample_rate > 192000:
            raise ParameterError(f"sample_rate must be between 8000 and 192000 Hz; got {sample_rate}.")
        self.duration_s = float(duration_s)
        self.sample_rate = int(sample_rate)
        self.layers = {name: Layer(name) for name in LAYERS}
        self.ducking = ducking
        self.master = master
        self._duck_cache = None

    def __getitem__(self, name: str) -> Layer:
        try:
            return self.layers[name]
        except KeyError:
            raise ParameterError(f"unknown layer {name!r}; the layers are {', '.join(LAYERS)}.") from None

    def __iter__(self):
        return iter(self.layers.values())

    def __repr__(self):
        inner = ", ".join(f"{layer.name}={len(layer)}" for layer in self)
        return f"<LayerStack {self.duration_s:.2f} s: {inner}>"

    @property
    def n_samples(self) -> int:
        """Length of the timeline in samples."""
        return int(round(self.duration_s * self.sample_rate))

    def add(self, layer: str, audio_or_path, *, start_s: float = 0.0, gain_db: float = 0.0, fade_in_ms: float = 0.0,
            fade_out_ms: float = 0.0, trim_start_s: float = 0.0, trim_end_s: float | None = None, name: str = "") -> Clip:
        """Place a clip on a layer and return it.

        Parameters
        ----------
        layer : {"dialogue", "sfx", "ambience", "music"}
        audio_or_path : np.ndarray, shape (n_samples, n_channels), or str or Path
        start_s, gain_db, fade_in_ms, fade_out_ms, trim_start_s, trim_end_s, name
            See :class:`Clip`.

        Returns
        -------
        Clip
        """
        if isinstance(audio_or_path, (str, Path)):
            clip = Clip(path=str(audio_or_path), start_s=start_s, gain_db=gain_db, fade_in_ms=fade_in_ms,
                        fade_out_ms=fade_out_ms, trim_start_s=trim_start_s, trim_end_s=trim_end_s, name=name)
        else:
            clip = Clip(audio=audio_or_path, start_s=start_s, gain_db=gain_db, fade_in_ms=fade_in_ms,
                        fade_out_ms=fade_out_ms, trim_start_s=trim_start_s, trim_end_s=trim_end_s, name=name)
        self[layer].append(clip)
        return clip

    def audible(self, name: str) -> bool:
        """Whether a layer is heard in the mix, given mute and solo."""
        any_solo = any(layer.solo for layer in self)
        layer = self[name]
        return (layer.solo or not any_solo) and not layer.mute

    def render(self, *, master: bool = True) -> Render:
        """Render the stack.

        Parameters
        ----------
        master : bool
            Apply :attr:`master` (if set). Turn it off for a quick preview while
            a slider moves.

        Returns
        -------
        Render
            The mix, one stem per layer, the ducking and master envelopes.
        """
        n = self.n_samples
        sr = self.sample_rate
        pre = {name: self[name].render_clips(n_samples=n, sample_rate=sr) for name in LAYERS}
        dialogue_pre = pre["dialogue"] * db_to_gain(self["dialogue"].gain_db)
        duck_gain_db = np.zeros(n, dtype=np.float32)
        active = np.zeros(n, dtype=bool)
        if self.ducking is not None and self.ducking.depth_db > 0:
            duck_gain_db, active = self._duck(dialogue_pre)
        duck_lin = db_to_gain(duck_gain_db)[:, None] if self.ducking is not None else None
        stems = {}
        for name in LAYERS:
            if not self.audible(name):
                stems[name] = np.zeros((n, _CHANNELS), dtype=np.float32)
                continue
            stem = dialogue_pre if name == "dialogue" else pre[name] * db_to_gain(self[name].gain_db)
            if duck_lin is not None and name in self.ducking.targets:
                stem = stem * duck_lin
            stems[name] = stem.astype(np.float32, copy=False)
        mix = np.sum([stems[name] for name in LAYERS], axis=0, dtype=np.float32)
        master_gain_db = np.zeros(n, dtype=np.float32)
        if master and self.master is not None:
            result = self.master.process(mix, sample_rate=sr)
            master_gain_db = result.gain_db
            g = db_to_gain(master_gain_db)[:, None]
            stems = {name: (s * g).astype(np.float32) for name, s in stems.items()}
            mix = np.sum([stems[name] for name in LAYERS], axis=0, dtype=np.float32)
        return Render(mix=mix, stems=stems, duck_gain_db=duck_gain_db, dialogue_active=active,
                      master_gain_db=master_gain_db, sample_rate=sr)

    def _duck(self, sidechain: np.ndarray):
        """Ducking envelope and activity for the current dialogue, cached while neither changes."""
        from layerlab.mix.ducking import gain_and_activity

        d = self.ducking
        key = (self["dialogue"]._cache_key, self["dialogue"].gain_db, repr(d.to_dict()))
        if self._duck_cache is not None and self._duck_cache[0] == key:
            return self._duck_cache[1], self._duck_cache[2]
        gain_db, active = gain_and_activity(sidechain, depth_db=d.depth_db, threshold_db=d.threshold_db,
                                             attack_ms=d.attack_ms, release_ms=d.release_ms, hold_ms=d.hold_ms,
                                             lookahead_ms=d.lookahead_ms, sample_rate=self.sample_rate)
        self._duck_cache = (key, gain_db, active)
        return gain_db, active


def _as_clip(clip) -> Clip:
    if not isinstance(clip, Clip):
        raise ParameterError(f"layers hold Clip objects; got {type(clip).__name__}. Use stack.add(...) or Clip(...).")
    return clip
