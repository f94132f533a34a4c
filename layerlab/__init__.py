"""Layer Lab: the engine behind the lessons, labs and grader.

One convention everywhere: audio is a float32 array shaped
``(samples, channels)`` at 48 kHz (:data:`SAMPLE_RATE`).

The names below are imported on first use (module ``__getattr__``), so
``layerlab measure`` does not pay for the scene library or the decoders it
does not need.
"""

from layerlab.errors import AudioError, GraderError, InputError, LayerLabError, ParameterError, SessionError

__version__ = "0.1.0"

SAMPLE_RATE = 48_000

_LAZY = {
    "AudioFile": "layerlab.io.audio",
    "from_librosa": "layerlab.io.audio",
    "from_pydub": "layerlab.io.audio",
    "load_audio": "layerlab.io.audio",
    "read_audio": "layerlab.io.audio",
    "remix_channels": "layerlab.io.audio",
    "resample_audio": "layerlab.io.audio",
    "save_audio": "layerlab.io.audio",
    "to_librosa": "layerlab.io.audio",
    "to_pydub": "layerlab.io.audio",
    "validate_audio": "layerlab.io.audio",
    "Scene": "layerlab.mix.scenes",
    "SceneError": "layerlab.mix.scenes",
    "list_scenes": "layerlab.mix.scenes",
    "load_scene": "layerlab.mix.scenes",
}

__all__ = [
    "SAMPLE_RATE",
    "AudioFile",
    "AudioError",
    "LayerLabError",
    "InputError",
    "GraderError",
    "ParameterError",
    "SessionError",
    "Scene",
    "SceneError",
    "list_scenes",
    "load_scene",
    "from_librosa",
    "from_pydub",
    "load_audio",
    "read_audio",
    "remix_channels",
    "resample_audio",
    "save_audio",
    "to_librosa",
    "to_pydub",
    "validate_audio",
]


def __getattr__(name):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'layerlab' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
