"""Saving and loading a mix: ``session.json`` and the deliverable folder.

A learner's deliverable is a folder::

    mix.wav                 48 kHz stereo, 24-bit PCM
    stems/dialogue.wav      48 kHz stereo, 32-bit float (stems add up to the mix)
    stems/sfx.wav
    stems/ambience.wav
    stems/music.wav
    session.json            the stack: clips, gains, mute/solo, ducking, master
    clips/                  clips that existed only in memory, so the session loads back exactly

Clip paths inside a scene folder are stored as ``{"scene": id, "path": rel}``
so a session keeps working wherever the kit is checked out; other files are
stored relative to the ``session.json``.

Taught in ``lessons/07_four_layers.ipynb`` (export from the mixer) and used by
every lab.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from layerlab.io.audio import save_audio
from layerlab.mix.ducking import Ducking
from layerlab.errors import SessionError
from layerlab.mix.master import Master
from layerlab.paths import scenes_dir
from layerlab.mix.stack import LAYERS, Clip, LayerStack

SESSION_VERSION = 1
MIX_FILE = "mix.wav"
STEMS_DIR = "stems"
SESSION_FILE = "session.json"


def stack_to_dict(stack: LayerStack, *, base_dir=None, clip_dir=None) -> dict:
    """Describe a stack as a JSON-ready dict.

    Parameters
    ----------
    stack : LayerStack
    base_dir : str or Path, optional
        Folder that relative clip paths are written against (the session file's folder).
    clip_dir : str or Path, optional
        Where to write clips that have no file (in-memory arrays). Required if any exist.

    Returns
    -------
    dict
    """
    base = Path(base_dir).resolve() if base_dir else None
    layers = {}
    for layer in stack:
        clips = []
        for i, clip in enumerate(layer):
            if clip.path is None:
                if clip_dir is None:
                    raise SessionError(f"clip {clip.name!r} on {layer.name} has no file; pass clip_dir to save it.")
                path = Path(clip_dir) / f"{layer.name}_{i:02d}_{_safe(clip.name)}.wav"
                save_audio(path, clip.source, sample_rate=stack.sample_rate, subtype="FLOAT")
                source = _source_ref(path, base)
            else:
                source = _source_ref(Path(clip.path), base)
            clips.append({
                "name": clip.name, "source": source, "start_s": clip.start_s, "gain_db": clip.gain_db,
                "fade_in_ms": clip.fade_in_ms, "fade_out_ms": clip.fade_out_ms,
                "trim_start_s": clip.trim_start_s, "trim_end_s": clip.trim_end_s,
            })
        layers[layer.name] = {"gain_db": layer.gain_db, "mute": layer.mute, "solo": layer.solo, "clips": clips}
    return {
        "layerlab_session": SESSION_VERSION,
        "duration_s": stack.duration_s,
        "sample_rate": stack.sample_rate,
        "layers": layers,
        "ducking": stack.ducking.to_dict() if stack.ducking is not None else None,
        "master": stack.master.to_dict() if stack.master is not None else None,
    }


def stack_from_dict(data: dict, *, base_dir=None, name: str = "session") -> LayerStack:
    """Rebuild a stack from :func:`stack_to_dict` output.

    Raises
    ------
    SessionError
        If keys are missing, values have the wrong type, or a clip file is missing.
    """
    if not isinstance(data, dict) or "layers" not in data or "duration_s" not in data:
        raise SessionError(f"{name}: not a Layer Lab session (needs 'duration_s' and 'layers').")
    try:
        stack = LayerStack(duration_s=float(data["duration_s"]), sample_rate=int(data.get("sample_rate", 48000)))
        if data.get("ducking"):
            stack.ducking = Ducking.from_dict(data["ducking"])
        if data.get("master"):
            stack.master = Master.from_dict(data["master"])
        for layer_name, spec in data["layers"].items():
            layer = stack[layer_name]
            layer.gain_db = float(spec.get("gain_db", 0.0))
            layer.mute = bool(spec.get("mute", False))
            layer.solo = bool(spec.get("solo", False))
            for c in spec.get("clips", []):
                path = _resolve_source(c["source"], base_dir)
                if not path.exists():
                    raise SessionError(f"{name}: clip {c.get('name')!r} on {layer_name}: file {path} not found.")
                layer.append(Clip(path=str(path), start_s=c.get("start_s", 0.0), gain_db=c.get("gain_db", 0.0),
                                  fade_in_ms=c.get("fade_in_ms", 0.0), fade_out_ms=c.get("fade_out_ms", 0.0),
                                  trim_start_s=c.get("trim_start_s", 0.0), trim_end_s=c.get("trim_end_s"),
                                  name=c.get("name", "")))
    except SessionError:
        raise
    except (KeyError, TypeError, ValueError) as exc:
        raise SessionError(f"{name}: malformed session ({type(exc).__name__}: {exc}).") from exc
    return stack


def save_session(stack: LayerStack, path) -> Path:
    """Write a stack to a ``session.json`` (in-memory clips go to ``clips/`` beside it).

    Returns
    -------
    Path
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = stack_to_dict(stack, base_dir=path.parent, clip_dir=path.parent / "clips")
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=2))
    os.replace(tmp, path)
    return path


def load_session(path) -> LayerStack:
    """Load a stack from a ``session.json`` (or a deliverable folder containing one).

    Raises
    ------
    SessionError
        If the file is missing, not JSON, or not a valid session.

    Notes
    -----
    Taught in ``lessons/07_four_layers.ipynb``.
    """
    path = Path(path)
    if path.is_dir():
        path = path / SESSION_FILE
    if not path.exists():
        raise SessionError(f"{path}: session file not found.")
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise SessionError(f"{path}: not valid JSON ({exc}). Export the session again from the mixer.") from exc
    return stack_from_dict(data, base_dir=path.parent, name=str(path))


def export_deliverable(stack: LayerStack, out_dir, *, render=None) -> Path:
    """Render a stack and write the deliverable folder a lab hands in.

    Parameters
    ----------
    stack : LayerStack
    out_dir : str or Path
        Created if needed; existing ``mix.wav``, stems and ``session.json`` are replaced.
    render : Render, optional
        An already computed :meth:`LayerStack.render` result to write.

    Returns
    -------
    Path
        The folder.

    Notes
    -----
    Taught in ``lessons/07_four_layers.ipynb``; used by the hybrid-mix lab.
    """
    out = Path(out_dir)
    (out / STEMS_DIR).mkdir(parents=True, exist_ok=True)
    r = render if render is not None else stack.render()
    save_audio(out / MIX_FILE, r.mix, sample_rate=r.sample_rate, subtype="PCM_24")
    for name in LAYERS:
        save_audio(out / STEMS_DIR / f"{name}.wav", r.stems[name], sample_rate=r.sample_rate, subtype="FLOAT")
    save_session(stack, out / SESSION_FILE)
    return out


def configure(parser) -> None:
    """Arguments of ``layerlab render``."""
    parser.add_argument("session", help="a session.json (or a folder containing one)")
    parser.add_argument("out_dir", help="folder to write mix.wav, stems/ and session.json to")


def run(args) -> int:
    """``layerlab render SESSION.json OUT_DIR``."""
    stack = load_session(args.session)
    out = export_deliverable(stack, args.out_dir)
    print(f"rendered {stack.duration_s:.2f} s to {out}/{MIX_FILE} and {out}/{STEMS_DIR}/")
    return 0


def _source_ref(path: Path, base: Path | None) -> dict:
    path = path.resolve()
    scenes = scenes_dir().resolve()
    try:
        rel = path.relative_to(scenes)
        return {"scene": rel.parts[0], "path": str(Path(*rel.parts[1:]).as_posix())}
    except ValueError:
        pass
    if base is not None:
        try:
            return {"file": Path(os.path.relpath(path, base)).as_posix()}
        except ValueError:  # pragma: no cover - different drive on Windows
            pass
    return {"file": str(path)}


def _resolve_source(source, base_dir) -> Path:
    if isinstance(source, str):
        source = {"file": source}
    if "scene" in source:
        return scenes_dir() / source["scene"] / source["path"]
    p = Path(source["file"])
    if not p.is_absolute() and base_dir is not None:
        p = Path(base_dir) / p
    return p


def _safe(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in name)[:40] or "clip"


__all__ = ["export_deliverable", "load_session", "save_session", "stack_from_dict", "stack_to_dict"]
