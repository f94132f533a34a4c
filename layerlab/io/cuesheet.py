"""A scene's cue sheet (``cues.json``): when every event, line and bed happens.

Taught in ``lessons/07_four_layers.ipynb``; the checks read it through :func:`load_cues`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from layerlab.errors import SessionError
from layerlab.io.audio import SAMPLE_RATE
from layerlab.paths import scenes_dir

__all__ = ["SceneCues", "load_cues"]

@dataclass
class SceneCues:
    """The parts of a scene's ``cues.json`` the checks use.

    Attributes
    ----------
    scene : str
    folder : Path or None
        Where the cue sheet lives (clip paths are relative to it).
    fps : float
    sample_rate : int
    duration_s : float
    events : list of dict
        ``id``, ``time_s``, ``label``, ``clip``.
    dialogue : list of dict
        ``id``, ``start_s``, ``end_s``, ``text``, ``speaker``, ``clip``.
    scene_changes_s : list of float
    has_music, has_ambience : bool
    raw : dict
        The whole cue sheet.
    """

    scene: str
    folder: Path | None
    fps: float
    sample_rate: int
    duration_s: float
    events: list
    dialogue: list
    scene_changes_s: list
    has_music: bool
    has_ambience: bool
    raw: dict

    def clip_path(self, rel) -> Path | None:
        """Resolve a clip path of the cue sheet (None if it does not exist)."""
        if not rel or self.folder is None:
            return None
        p = (self.folder / rel)
        return p if p.is_file() else None


def _scene_change_times(items) -> list[float]:
    out = []
    for it in items or []:
        if isinstance(it, (int, float)):
            out.append(float(it))
        elif isinstance(it, dict):
            for k in ("time_s", "start_s", "at_s"):
                if k in it:
                    out.append(float(it[k]))
                    break
    return out


def load_cues(scene) -> SceneCues:
    """Load a scene's cue sheet.

    Parameters
    ----------
    scene : str, Path, dict, Scene or SceneCues
        A scene id (looked up under :func:`layerlab.paths.scenes_dir`), a path
        to a ``cues.json`` or to its folder, a :class:`layerlab.mix.scenes.Scene`,
        or an already parsed cue sheet.

    Returns
    -------
    SceneCues

    Raises
    ------
    SessionError
        If the scene is unknown or the cue sheet is malformed.

    Notes
    -----
    Taught in ``lessons/08_measuring_the_mix.ipynb``.
    """
    if isinstance(scene, SceneCues):
        return scene
    folder = None
    if hasattr(scene, "cues") and isinstance(getattr(scene.cues, "raw", None), dict) and hasattr(scene, "path"):
        # a layerlab.mix.scenes.Scene
        data, folder = scene.cues.raw, Path(scene.path)
    elif hasattr(scene, "raw") and isinstance(scene.raw, dict) and not isinstance(scene, dict):
        data = scene.raw  # a layerlab.mix.scenes.Cues (clip paths cannot be resolved without its folder)
    elif isinstance(scene, dict):
        data = scene
    else:
        p = Path(str(scene)).expanduser()
        if p.is_dir():
            p = p / "cues.json"
        if not p.is_file():
            cand = scenes_dir() / str(scene) / "cues.json"
            if cand.is_file():
                p = cand
            else:
                known = sorted(d.name for d in scenes_dir().iterdir() if (d / "cues.json").is_file()) if scenes_dir().is_dir() else []
                raise SessionError(
                    f"scene {scene!r}: no cues.json found (neither a file nor a scene id). "
                    + (f"Known scenes: {', '.join(known)}." if known else f"No scenes found under {scenes_dir()}.")
                )
        try:
            data = json.loads(p.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise SessionError(f"{p}: not valid JSON ({exc}).") from exc
        folder = p.parent
    if not isinstance(data, dict):
        raise SessionError("cue sheet: expected a JSON object.")
    try:
        duration_s = float(data["duration_s"])
    except (KeyError, TypeError, ValueError) as exc:
        raise SessionError(f"cue sheet of {data.get('scene', '?')}: needs a numeric duration_s.") from exc
    events = []
    for k, ev in enumerate(data.get("events") or []):
        if "time_s" not in ev:
            raise SessionError(f"cue sheet of {data.get('scene', '?')}: event {k} has no time_s.")
        events.append(dict(ev))
    lines = []
    for k, ln in enumerate(data.get("dialogue") or []):
        if "start_s" not in ln:
            raise SessionError(f"cue sheet of {data.get('scene', '?')}: dialogue line {k} has no start_s.")
        lines.append(dict(ln))
    return SceneCues(
        scene=str(data.get("scene") or (folder.name if folder else "scene")),
        folder=folder,
        fps=float(data.get("fps") or 24.0),
        sample_rate=int(data.get("sample_rate") or SAMPLE_RATE),
        duration_s=duration_s,
        events=events,
        dialogue=lines,
        scene_changes_s=_scene_change_times(data.get("scene_changes")),
        has_music=bool(data.get("music")),
        has_ambience=bool(data.get("ambience")),
        raw=data,
    )


