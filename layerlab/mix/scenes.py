"""The scene library: list scenes, load one, read its cue sheet and clips.

A scene is a folder ``assets/scenes/<scene_id>/`` (see ``assets/README.md``)
holding ``video.mp4`` (picture only), ``native.wav``/``native.mp4`` (a flawed
premix, like a video model's native audio), ``postgen/`` (the separate layers)
and ``cues.json`` (when everything must happen, and which flaws the native
render has). This module is how lessons, labs and the grader find them::

    from layerlab.mix.scenes import list_scenes, load_scene
    scene = load_scene("cafe_dialogue")
    scene.cues.events[0].time_s          # 2.0: the door shuts on frame 48
    door = scene.load_clip(scene.cues.events[0].clip)   # (n, 1) float32, 48 kHz

Taught in ``lessons/07_four_layers.ipynb`` (the four layers of a scene) and
used by every lab.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from layerlab.io.audio import SAMPLE_RATE, load_audio
from layerlab.io.cuesheet import (  # the one cue-sheet model; re-exported here
    DECISION_TABLE,
    FLAW_KINDS,
    SCENARIOS,
    Cues,
    DialogueLine,
    Event,
    Flaw,
    validate_cues,
)
from layerlab.errors import LayerLabError, SceneError
from layerlab.paths import scenes_dir

__all__ = [
    "DECISION_TABLE",
    "SCENARIOS",
    "Cues",
    "DialogueLine",
    "Event",
    "Flaw",
    "Scene",
    "SceneError",
    "hybrid_stack",
    "list_scenes",
    "load_scene",
    "validate_cues",
]

@dataclass(frozen=True)
class Scene:
    """A scene of the library on disk.

    Attributes
    ----------
    scene_id : str
    path : Path
        The scene folder.
    cues : Cues
    """

    scene_id: str
    path: Path
    cues: Cues

    @property
    def video_path(self) -> Path:
        """The picture-only video."""
        return self.path / "video.mp4"

    @property
    def native_wav_path(self) -> Path:
        """The native render as a 48 kHz stereo WAV."""
        return self.path / self.cues.native.get("clip", "native.wav")

    @property
    def native_mp4_path(self) -> Path:
        """The picture with the native render as its sound track."""
        return self.path / self.cues.native.get("video", "native.mp4")

    @property
    def duration_s(self) -> float:
        """Scene length in seconds."""
        return self.cues.duration_s

    def clip_path(self, rel) -> Path:
        """Absolute path of a file named relative to the scene folder (as in the cue sheet)."""
        rel_path = Path(str(rel))
        if rel_path.is_absolute() or ".." in rel_path.parts:
            raise SceneError(f"{self.scene_id}: clip path {rel!r} must be relative to the scene folder, without '..'.")
        path = self.path / rel_path
        if not path.is_file():
            raise SceneError(f"{self.scene_id}: clip {rel!r} not found in {self.path}. Rebuild the assets (python -m assets.build).")
        return path

    def load_clip(self, rel) -> np.ndarray:
        """Load a clip as the engine's float32 ``(n_samples, n_channels)`` array at 48 kHz.

        Parameters
        ----------
        rel : str
            Path relative to the scene folder, e.g. ``"postgen/sfx/door.wav"``.

        Returns
        -------
        np.ndarray, shape (n_samples, n_channels), float32
        """
        return load_audio(self.clip_path(rel))

    def load_native(self) -> np.ndarray:
        """The native render, shape ``(n_samples, 2)`` float32."""
        return load_audio(self.native_wav_path)


def list_scenes() -> list[str]:
    """Ids of the scenes in the library (folders with a ``cues.json``), sorted.

    Returns
    -------
    list of str
    """
    root = scenes_dir()
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if (p / "cues.json").is_file())


def load_scene(scene_id: str) -> Scene:
    """Load a scene and its validated cue sheet.

    Parameters
    ----------
    scene_id : str
        One of :func:`list_scenes`, e.g. ``"cafe_dialogue"``.

    Returns
    -------
    Scene

    Raises
    ------
    SceneError
        For an unknown id (the message lists the valid ones), a missing file
        or a malformed cue sheet.
    """
    if not isinstance(scene_id, str) or not scene_id:
        raise SceneError(f"scene_id must be a scene name such as 'cafe_dialogue', got {scene_id!r}.")
    known = list_scenes()
    if scene_id not in known:
        listed = ", ".join(known) if known else f"none (no scenes found in {scenes_dir()})"
        raise SceneError(f"unknown scene {scene_id!r}; valid scene ids: {listed}.")
    path = scenes_dir() / scene_id
    try:
        doc = json.loads((path / "cues.json").read_text())
    except json.JSONDecodeError as exc:
        raise SceneError(f"{path / 'cues.json'}: not valid JSON ({exc}).") from exc
    cues = validate_cues(doc, name=str(path / "cues.json"))
    if cues.scene != scene_id:
        raise SceneError(f"{path / 'cues.json'}: says scene {cues.scene!r} but lives in folder {scene_id!r}.")
    for f in ("video.mp4", cues.native.get("clip", "native.wav"), cues.native.get("video", "native.mp4")):
        if not (path / f).is_file():
            raise SceneError(f"scene {scene_id!r}: {f} is missing from {path}. Rebuild the assets (python -m assets.build).")
    return Scene(scene_id=scene_id, path=path, cues=cues)


def refuse_assessed(scene) -> None:
    """Raise :class:`SceneError` for a learner's assessed variant: the kit makes no reference mix of it.

    A variant's public cue sheet carries ``"variant": {"assessed": true}`` and no
    suggested gains (see ``layerlab.course.variants``); its levels are the learner's to set.
    """
    if (scene.cues.raw.get("variant") or {}).get("assessed"):
        raise SceneError(f"{scene.scene_id}: this is your assessed variant of the scene; the kit makes no reference mix "
                         "of it. Build your own stack (lab 2 shows how) and check it with self_check().")


def hybrid_stack(
    scene,
    *,
    layers=("dialogue", "sfx", "ambience", "music"),
    duck: bool = True,
    master: bool = True,
    target_lufs: float = -14.0,
    ceiling_dbtp: float = -1.0,
):
    """The reference post-generated mix of a scene as a :class:`~layerlab.mix.stack.LayerStack`.

    Every clip of ``postgen/`` is placed at its cue (each SFX at ``time_s``,
    each line at ``start_s``, the beds at 0 s) with the cue sheet's suggested
    gains; music is ducked under the dialogue by the cue sheet's ``duck_db``;
    the master brings the mix to ``target_lufs`` with a true-peak ceiling.
    Clips are added by path, so a saved session refers to the scene's files.

    Parameters
    ----------
    scene : str or Scene
        A scene id (see :func:`list_scenes`) or a loaded scene.
    layers : iterable of str
        The layers to fill (leave one out to replace it with your own).
    duck : bool
        Duck the music under the dialogue (only if the scene has dialogue).
    master : bool
        Add a :class:`~layerlab.mix.master.Master` at ``target_lufs``/``ceiling_dbtp``.
    target_lufs, ceiling_dbtp : float
        The delivery target (streaming: -14 LUFS, -1 dBTP).

    Returns
    -------
    LayerStack
        ``stack.render().mix`` is a ``(n_samples, 2)`` float32 reference mix.

    Notes
    -----
    Taught in ``lessons/07_four_layers.ipynb`` (building a scene layer by layer)
    and used by the labs as the reference to compare a learner's mix with.
    """
    from layerlab.mix.ducking import Ducking
    from layerlab.mix.master import Master
    from layerlab.mix.stack import LAYERS, LayerStack

    if not isinstance(scene, Scene):
        scene = load_scene(scene)
    refuse_assessed(scene)
    layers = tuple(layers)
    for name in layers:
        if name not in LAYERS:
            raise SceneError(f"hybrid_stack: unknown layer {name!r}; the layers are {', '.join(LAYERS)}.")
    cues = scene.cues
    stack = LayerStack(duration_s=cues.duration_s)
    if "dialogue" in layers:
        for d in cues.dialogue:
            stack.add("dialogue", scene.clip_path(d.clip), start_s=d.start_s, gain_db=d.gain_db, name=d.id)
    if "sfx" in layers:
        for e in cues.events:
            stack.add("sfx", scene.clip_path(e.clip), start_s=e.time_s, gain_db=e.gain_db, name=e.id)
    for name in ("ambience", "music"):
        if name in layers:
            bed = getattr(cues, name)
            stack.add(name, scene.clip_path(bed["clip"]), start_s=0.0, gain_db=float(bed.get("gain_db", 0.0)),
                      fade_in_ms=500.0, fade_out_ms=1000.0, name=Path(bed["clip"]).stem)
    duck_db = float(cues.music.get("duck_db", 0.0))
    if duck and duck_db > 0 and cues.dialogue and "dialogue" in layers:
        stack.ducking = Ducking(depth_db=duck_db, targets=("music",))
    if master:
        stack.master = Master(target_lufs=target_lufs, ceiling_dbtp=ceiling_dbtp)
    return stack


# ----------------------------------------------------------------------------- command line


def configure(parser) -> None:
    """Arguments of ``layerlab scenes``."""
    parser.add_argument("scene", nargs="?", help="a scene id; without it, list the library")
    parser.add_argument("--json", action="store_true", help="print the cue sheet as JSON")
    parser.add_argument(
        "--reference", metavar="OUT_DIR", help="render the reference post-generated mix (hybrid_stack) to a deliverable folder"
    )


def describe(scene: Scene) -> str:
    """A short text summary of a scene: cues in time order and the native render's flaws."""
    c = scene.cues
    rows = [(e.time_s, f"sfx       {e.id:<14} {e.label}") for e in c.events]
    rows += [(d.start_s, f"dialogue  {d.id:<14} {d.speaker}: {d.text}") for d in c.dialogue]
    out = [f"{scene.scene_id}: {c.title}", f"  scenario: {c.scenario} -> {DECISION_TABLE[c.scenario]}",
           f"  {c.duration_s:g} s at {c.fps} fps, {len(c.events)} events, {len(c.dialogue)} lines"]
    out += [f"  {t:7.3f} s  {text}" for t, text in sorted(rows)]
    out.append(f"  native render ({c.native.get('integrated_lufs')} LUFS) flaws:")
    for f in c.flaws:
        vals = ", ".join(f"{k}={v}" for k, v in f.values.items() if k != "description")
        out.append(f"    {f.kind}: {vals}")
    return "\n".join(out)


def run(args) -> int:
    """``layerlab scenes [SCENE] [--json] [--reference OUT_DIR]``."""
    if not args.scene:
        if args.reference:
            raise SceneError("--reference needs a scene id, e.g. `layerlab scenes cafe_dialogue --reference out/`.")
        for sid in list_scenes():
            sc = load_scene(sid)
            print(f"{sid:<16} {sc.cues.scenario:<30} {sc.cues.title}")
        return 0
    scene = load_scene(args.scene)
    print(json.dumps(scene.cues.raw, indent=2) if args.json else describe(scene))
    if args.reference:
        from layerlab.mix.session import export_deliverable

        refuse_assessed(scene)

        out = export_deliverable(hybrid_stack(scene), args.reference)
        print(f"reference mix of {scene.scene_id} written to {out}")
    return 0

