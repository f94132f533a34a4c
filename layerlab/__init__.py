"""Layer Lab: the engine behind the lessons, labs and grader.

One convention everywhere: audio is a float32 array shaped
``(samples, channels)`` at 48 kHz (:data:`SAMPLE_RATE`).
"""

from layerlab.io.audio import (
    SAMPLE_RATE,
    AudioFile,
    from_librosa,
    from_pydub,
    load_audio,
    read_audio,
    remix_channels,
    resample_audio,
    save_audio,
    to_librosa,
    to_pydub,
    validate_audio,
)
from layerlab.errors import AudioError, GraderError, InputError, LayerLabError, ParameterError, SessionError
from layerlab.mix.scenes import Scene, SceneError, list_scenes, load_scene

__version__ = "0.1.0"

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
