"""Offline text-to-speech through eSpeak NG, driven with ctypes.

The ``espeakng-loader`` package (PyPI) ships ``libespeak-ng`` and its voice
data, so no Debian package is needed. eSpeak NG is a formant synthesiser: the
same text, voice and parameters give the same samples on every run.

The library renders 16-bit mono at 22050 Hz; :func:`speak` resamples to
48 kHz with :func:`layerlab.resample_audio`.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass

import numpy as np

from layerlab import SAMPLE_RATE, resample_audio

_AUDIO_OUTPUT_SYNCHRONOUS = 2
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_PARAM = {"rate": 1, "volume": 2, "pitch": 3, "range": 4}

_SYNTH_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)


@dataclass(frozen=True)
class Voice:
    """An eSpeak NG voice setting.

    Attributes
    ----------
    name : str
        Voice and variant as eSpeak names them, e.g. ``"en-us+m3"``.
    rate_wpm : int
        Speaking rate in words per minute.
    pitch : int
        Base pitch, 0-100 (eSpeak's scale, 50 is the voice default).
    pitch_range : int
        Intonation range, 0-100.
    """

    name: str
    rate_wpm: int = 160
    pitch: int = 50
    pitch_range: int = 50


class _Engine:
    def __init__(self) -> None:
        import espeakng_loader

        self.lib = ctypes.cdll.LoadLibrary(str(espeakng_loader.get_library_path()))
        self.lib.espeak_Initialize.restype = ctypes.c_int
        self.lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        self.lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        self.lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        self.lib.espeak_Synth.argtypes = [
            ctypes.c_void_p,
            ctypes.c_size_t,
            ctypes.c_uint,
            ctypes.c_int,
            ctypes.c_uint,
            ctypes.c_uint,
            ctypes.c_void_p,
            ctypes.c_void_p,
        ]
        data = str(espeakng_loader.get_data_path()).encode()
        rate = self.lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, data, 0)
        if rate <= 0:
            raise RuntimeError("eSpeak NG failed to initialise; check the espeakng-loader installation.")
        self.rate = int(rate)
        self._chunks: list[np.ndarray] = []

        def collect(wav, n, events):  # noqa: ARG001 - signature fixed by eSpeak
            if n > 0 and wav:
                self._chunks.append(np.ctypeslib.as_array(wav, shape=(n,)).copy())
            return 0

        self._callback = _SYNTH_CALLBACK(collect)
        self.lib.espeak_SetSynthCallback(self._callback)

    def synth(self, text: str, voice: Voice) -> np.ndarray:
        if self.lib.espeak_SetVoiceByName(voice.name.encode()) != 0:
            raise RuntimeError(f"eSpeak NG has no voice {voice.name!r}.")
        self.lib.espeak_SetParameter(_PARAM["rate"], int(voice.rate_wpm), 0)
        self.lib.espeak_SetParameter(_PARAM["pitch"], int(voice.pitch), 0)
        self.lib.espeak_SetParameter(_PARAM["range"], int(voice.pitch_range), 0)
        self.lib.espeak_SetParameter(_PARAM["volume"], 100, 0)
        self.lib.espeak_ng_SetRandSeed(1)  # the breath noise of some variants is random
        self._chunks = []
        raw = text.encode("utf-8") + b"\0"
        buf = ctypes.create_string_buffer(raw)
        err = self.lib.espeak_Synth(buf, len(raw), 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None)
        if err != 0:
            raise RuntimeError(f"eSpeak NG could not synthesise {text!r} (error {err}).")
        self.lib.espeak_Synchronize()
        if not self._chunks:
            raise RuntimeError(f"eSpeak NG returned no audio for {text!r}.")
        return np.concatenate(self._chunks)


def _synth_fresh(text: str, voice: Voice) -> tuple[np.ndarray, int]:
    """Run eSpeak NG in a fresh process.

    The library keeps state between calls (random noise seeds, intonation
    history), so the same line can come out a few samples different the second
    time in one process. A fresh process per line makes every line repeatable.
    """
    import json
    import subprocess
    import sys

    from layerlab.paths import REPO_ROOT

    request = json.dumps({"text": text, "voice": voice.__dict__})
    proc = subprocess.run(
        [sys.executable, "-m", "assets.tts"],
        input=request.encode(),
        capture_output=True,
        cwd=str(REPO_ROOT),
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"eSpeak NG worker failed for {text!r}: {proc.stderr.decode(errors='replace')[-400:]}")
    rate = int.from_bytes(proc.stdout[:4], "little")
    return np.frombuffer(proc.stdout[4:], dtype="<i2").astype(np.float32) / 32768.0, rate


def speak(text: str, voice: Voice, *, sample_rate: int = SAMPLE_RATE, trim_db: float = -45.0) -> np.ndarray:
    """Synthesise one line of speech.

    Parameters
    ----------
    text : str
        What to say.
    voice : Voice
    sample_rate : int
        Output rate in Hz.
    trim_db : float
        Leading and trailing parts quieter than this (dBFS, 5 ms windows) are cut,
        so the speech starts at the file's first sample.

    Returns
    -------
    np.ndarray, shape (n_samples, 1), float32
    """
    y, rate = _synth_fresh(text, voice)
    y = resample_audio(y[:, None], from_rate=rate, to_rate=sample_rate)
    return trim_silence(y, threshold_db=trim_db, sample_rate=sample_rate)


def speak_many(requests, *, sample_rate: int = SAMPLE_RATE, trim_db: float = -45.0) -> list:
    """Synthesise several lines in one fresh eSpeak NG process, in the order given.

    Cheaper than :func:`speak` per line (one process start instead of one per line) and just
    as repeatable: the same requests in the same order give the same samples on every run
    (the library's state carries over between the lines of one process, the same way each time).
    A line may come out a few samples different from :func:`speak` of the same line alone, so the
    kit's teaching scenes keep :func:`speak`; per-learner takes (``assets/variants.py``) use this.

    Parameters
    ----------
    requests : sequence of (str, Voice)
        Each line's text and voice.
    sample_rate, trim_db
        As in :func:`speak`.

    Returns
    -------
    list of np.ndarray, each shape (n_samples, 1), float32
    """
    import json
    import subprocess
    import sys

    from layerlab.paths import REPO_ROOT

    request = json.dumps([{"text": t, "voice": v.__dict__} for t, v in requests])
    proc = subprocess.run([sys.executable, "-m", "assets.tts"], input=request.encode(), capture_output=True,
                          cwd=str(REPO_ROOT), check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"eSpeak NG worker failed: {proc.stderr.decode(errors='replace')[-400:]}")
    out, buf, pos = [], proc.stdout, 0
    for _ in requests:
        rate = int.from_bytes(buf[pos : pos + 4], "little")
        m = int.from_bytes(buf[pos + 4 : pos + 12], "little")
        y = np.frombuffer(buf[pos + 12 : pos + 12 + 2 * m], dtype="<i2").astype(np.float32) / 32768.0
        pos += 12 + 2 * m
        y = resample_audio(y[:, None], from_rate=rate, to_rate=sample_rate)
        out.append(trim_silence(y, threshold_db=trim_db, sample_rate=sample_rate))
    return out


def trim_silence(y: np.ndarray, *, threshold_db: float, sample_rate: int, keep_ms: float = 2.0) -> np.ndarray:
    """Cut leading and trailing silence, keeping ``keep_ms`` before the first loud window."""
    win = int(sample_rate * 0.005)
    mono = y[:, 0]
    n = len(mono) // win
    rms = np.sqrt(np.mean(mono[: n * win].reshape(n, win) ** 2, axis=1) + 1e-20)
    loud = np.flatnonzero(20 * np.log10(rms) > threshold_db)
    if loud.size == 0:
        return y
    start = loud[0] * win
    # refine: first sample above the threshold inside the first loud window
    thr = 10 ** (threshold_db / 20)
    above = np.flatnonzero(np.abs(mono[start : start + win]) > thr)
    start = max(0, start + (int(above[0]) if above.size else 0) - int(keep_ms * sample_rate / 1000))
    end = min(len(mono), (loud[-1] + 1) * win + int(0.03 * sample_rate))
    out = y[start:end].copy()
    fade = int(0.01 * sample_rate)
    out[-fade:] *= np.linspace(1, 0, fade, dtype=np.float32)[:, None]
    return out


def _worker() -> None:
    import json
    import sys

    request = json.loads(sys.stdin.buffer.read().decode())
    engine = _Engine()
    if isinstance(request, list):  # speak_many: rate, sample count, samples, per line in order
        for r in request:
            pcm = engine.synth(r["text"], Voice(**r["voice"])).astype("<i2")
            sys.stdout.buffer.write(int(engine.rate).to_bytes(4, "little") + int(pcm.size).to_bytes(8, "little")
                                    + pcm.tobytes())
        return
    pcm = engine.synth(request["text"], Voice(**request["voice"])).astype("<i2")
    sys.stdout.buffer.write(int(engine.rate).to_bytes(4, "little") + pcm.tobytes())


if __name__ == "__main__":
    _worker()
