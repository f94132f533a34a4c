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

DECISION_TABLE = {
    "Quick social media clip": "Native (fast, good enough)",
    "Professional narration video": "Post-gen (voice quality matters)",
    "Product demo with voiceover": "Post-gen (precise script control)",
    "Atmospheric scene / B-roll": "Native (ambient sound matches)",
    "Character dialogue scene": "Either (native for speed, post for quality)",
    "Music video or scored content": "Post-gen (music control matters)",
    "Prototype / concept pitch": "Native (speed over polish)",
}
"""Lesson 06's decision table: scenario -> recommended approach."""

SCENARIOS = tuple(DECISION_TABLE)

FLAW_KINDS = {
    "dialogue_late": ("lines", "offset_ms"),
    "dialogue_band_limited": ("lines", "low_hz", "high_hz"),
    "sfx_late": ("event", "offset_ms"),
    "sfx_missing": ("event",),
    "music_masks_dialogue": ("dialogue_to_music_lu",),
    "loudness_off_target": ("integrated_lufs",),
    "ambience_dropout": ("start_s", "end_s"),
}
"""Every flaw kind a native render can list, with the fields it must carry."""



@dataclass(frozen=True)
class Event:
    """A visual event that needs a sound effect.

    Attributes
    ----------
    id : str
    time_s : float
        Where the SFX must start to be in sync (``frame / fps``).
    frame : int
        The video frame on which the event happens.
    label : str
    clip : str
        The SFX file, relative to the scene folder.
    gain_db : float
        Suggested clip gain for a reference mix.
    pan : float
        Suggested stereo position, -1 (left) to +1 (right).
    region : tuple of int or None
        ``(x0, y0, x1, y1)`` pixel box where the event is visible.
    """

    id: str
    time_s: float
    frame: int
    label: str
    clip: str
    gain_db: float = 0.0
    pan: float = 0.0
    region: tuple | None = None


@dataclass(frozen=True)
class DialogueLine:
    """One line of dialogue or voice-over.

    Attributes
    ----------
    id, speaker, text : str
    start_s, end_s : float
        Where the clip must start to be in sync with the mouth (or caption),
        and where it ends.
    clip : str
        The line's WAV file, relative to the scene folder.
    gain_db : float
    frame : int or None
        ``start_s`` as a frame number.
    region : tuple of int or None
        Where the mouth (or caption) is drawn.
    """

    id: str
    speaker: str
    start_s: float
    end_s: float
    text: str
    clip: str
    gain_db: float = 0.0
    frame: int | None = None
    region: tuple | None = None

    @property
    def duration_s(self) -> float:
        """Length of the line in seconds."""
        return self.end_s - self.start_s


@dataclass(frozen=True)
class Flaw:
    """One flaw of the native render, with its true values in ``values``."""

    kind: str
    values: dict

    def __getitem__(self, key):
        return self.values[key]

    def get(self, key, default=None):
        """Dictionary-style access to a value."""
        return self.values.get(key, default)


@dataclass(frozen=True)
class Cues:
    """A parsed, validated cue sheet.

    Attributes
    ----------
    scene, title, scenario : str
    fps : int
    sample_rate : int
    duration_s : float
    events : tuple of Event
    dialogue : tuple of DialogueLine
    ambience, music : dict
        ``clip`` plus suggested ``gain_db``; music also has ``duck_db``,
        ``tempo_bpm`` and ``sections`` (name, start_s, end_s).
    scene_changes : tuple of float
        Times of picture cuts (empty for one continuous shot).
    native : dict
        ``clip``, ``video``, ``integrated_lufs``.
    flaws : tuple of Flaw
        The native render's flaws with their true values.
    raw : dict
        The whole JSON document.
    """

    scene: str
    title: str
    scenario: str
    fps: int
    sample_rate: int
    duration_s: float
    events: tuple
    dialogue: tuple
    ambience: dict
    music: dict
    scene_changes: tuple
    native: dict
    flaws: tuple
    raw: dict = field(repr=False, default_factory=dict)

    def event(self, event_id: str) -> Event:
        """Return the event called ``event_id`` (SceneError listing the ids if there is none)."""
        for e in self.events:
            if e.id == event_id:
                return e
        raise SceneError(f"{self.scene}: no event {event_id!r}; events are {', '.join(e.id for e in self.events)}.")

    def line(self, line_id: str) -> DialogueLine:
        """Return the dialogue line called ``line_id``."""
        for d in self.dialogue:
            if d.id == line_id:
                return d
        ids = ", ".join(d.id for d in self.dialogue) or "none"
        raise SceneError(f"{self.scene}: no dialogue line {line_id!r}; lines are {ids}.")

    def flaws_of(self, kind: str) -> list:
        """Every flaw of one kind (possibly none)."""
        return [f for f in self.flaws if f.kind == kind]


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


def _need(doc: dict, key: str, kind, where: str):
    if key not in doc:
        raise SceneError(f"{where}: missing field {key!r}.")
    value = doc[key]
    if kind is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    elif kind is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    else:
        ok = isinstance(value, kind)
    if not ok:
        name = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
        raise SceneError(f"{where}: field {key!r} must be a {name}, got {value!r}.")
    return value


def _region(value, where: str):
    if value is None:
        return None
    if not (isinstance(value, (list, tuple)) and len(value) == 4 and all(isinstance(v, (int, float)) for v in value)):
        raise SceneError(f"{where}: 'region' must be [x0, y0, x1, y1], got {value!r}.")
    x0, y0, x1, y1 = (int(v) for v in value)
    if x1 <= x0 or y1 <= y0:
        raise SceneError(f"{where}: 'region' {value!r} is empty (x1 must exceed x0, y1 exceed y0).")
    return (x0, y0, x1, y1)


def validate_cues(doc: dict, *, name: str = "cues.json") -> Cues:
    """Check a cue sheet and parse it into :class:`Cues`.

    Parameters
    ----------
    doc : dict
        The JSON document (see ``assets/README.md`` for its fields).
    name : str
        What to call it in error messages.

    Returns
    -------
    Cues

    Raises
    ------
    SceneError
        Naming the field that is missing or wrong: an unknown scenario, a
        frame that does not match ``time_s * fps``, an event outside the
        scene, overlapping or reversed dialogue, a flaw without its values.
    """
    if not isinstance(doc, dict):
        raise SceneError(f"{name}: expected a JSON object, got {type(doc).__name__}.")
    scene = _need(doc, "scene", str, name)
    _need(doc, "title", str, name)
    scenario = _need(doc, "scenario", str, name)
    if scenario not in DECISION_TABLE:
        raise SceneError(f"{name}: scenario {scenario!r} is not a row of the decision table; use one of: {'; '.join(SCENARIOS)}.")
    fps = _need(doc, "fps", int, name)
    rate = _need(doc, "sample_rate", int, name)
    if rate != SAMPLE_RATE:
        raise SceneError(f"{name}: sample_rate is {rate}, Layer Lab scenes are {SAMPLE_RATE} Hz.")
    if fps <= 0:
        raise SceneError(f"{name}: fps must be positive, got {fps}.")
    dur = float(_need(doc, "duration_s", float, name))
    if dur <= 0:
        raise SceneError(f"{name}: duration_s must be positive, got {dur}.")

    events = []
    seen = set()
    for i, e in enumerate(_need(doc, "events", list, name)):
        where = f"{name}: events[{i}]"
        if not isinstance(e, dict):
            raise SceneError(f"{where}: expected an object.")
        eid = _need(e, "id", str, where)
        if eid in seen:
            raise SceneError(f"{where}: duplicate event id {eid!r}.")
        seen.add(eid)
        t = float(_need(e, "time_s", float, where))
        frame = _need(e, "frame", int, where)
        if not 0 <= t < dur:
            raise SceneError(f"{where} ({eid}): time_s {t} is outside the scene (0 to {dur} s).")
        if abs(frame - t * fps) > 0.5:
            raise SceneError(f"{where} ({eid}): frame {frame} does not match time_s {t} at {fps} fps (expected {round(t * fps)}).")
        events.append(
            Event(
                id=eid,
                time_s=t,
                frame=frame,
                label=str(e.get("label", "")),
                clip=_need(e, "clip", str, where),
                gain_db=float(e.get("gain_db", 0.0)),
                pan=float(e.get("pan", 0.0)),
                region=_region(e.get("region"), where),
            )
        )

    lines = []
    prev_end = -math.inf
    for i, d in enumerate(_need(doc, "dialogue", list, name)):
        where = f"{name}: dialogue[{i}]"
        if not isinstance(d, dict):
            raise SceneError(f"{where}: expected an object.")
        lid = _need(d, "id", str, where)
        if lid in seen:
            raise SceneError(f"{where}: duplicate id {lid!r}.")
        seen.add(lid)
        start = float(_need(d, "start_s", float, where))
        end = float(_need(d, "end_s", float, where))
        if not 0 <= start < end <= dur:
            raise SceneError(f"{where} ({lid}): needs 0 <= start_s < end_s <= {dur}, got {start} to {end}.")
        if start < prev_end:
            raise SceneError(f"{where} ({lid}): starts at {start} s, before the previous line ends ({prev_end} s); list lines in order without overlap.")
        prev_end = end
        frame = d.get("frame")
        lines.append(
            DialogueLine(
                id=lid,
                speaker=_need(d, "speaker", str, where),
                start_s=start,
                end_s=end,
                text=_need(d, "text", str, where),
                clip=_need(d, "clip", str, where),
                gain_db=float(d.get("gain_db", 0.0)),
                frame=int(frame) if frame is not None else None,
                region=_region(d.get("region"), where),
            )
        )

    beds = {}
    for key in ("ambience", "music"):
        bed = _need(doc, key, dict, name)
        _need(bed, "clip", str, f"{name}: {key}")
        beds[key] = dict(bed)

    changes = doc.get("scene_changes", [])
    if not isinstance(changes, list) or not all(isinstance(c, (int, float)) and 0 <= c <= dur for c in changes):
        raise SceneError(f"{name}: scene_changes must be a list of times in seconds within the scene, got {changes!r}.")

    native = _need(doc, "native", dict, name)
    flaws = []
    for i, f in enumerate(_need(native, "flaws", list, f"{name}: native")):
        where = f"{name}: native.flaws[{i}]"
        if not isinstance(f, dict):
            raise SceneError(f"{where}: expected an object.")
        kind = _need(f, "kind", str, where)
        if kind not in FLAW_KINDS:
            raise SceneError(f"{where}: unknown flaw kind {kind!r}; known kinds: {', '.join(FLAW_KINDS)}.")
        for key in FLAW_KINDS[kind]:
            if key not in f:
                raise SceneError(f"{where} ({kind}): missing its true value {key!r}.")
        ref = f.get("event")
        if ref is not None and ref not in {e.id for e in events}:
            raise SceneError(f"{where} ({kind}): names event {ref!r}, which is not in the events list.")
        for lid in f.get("lines", []):
            if lid not in {d.id for d in lines}:
                raise SceneError(f"{where} ({kind}): names line {lid!r}, which is not in the dialogue list.")
        flaws.append(Flaw(kind=kind, values={k: v for k, v in f.items() if k != "kind"}))

    return Cues(
        scene=scene,
        title=doc["title"],
        scenario=scenario,
        fps=fps,
        sample_rate=rate,
        duration_s=dur,
        events=tuple(events),
        dialogue=tuple(lines),
        ambience=beds["ambience"],
        music=beds["music"],
        scene_changes=tuple(float(c) for c in changes),
        native={k: v for k, v in native.items() if k != "flaws"},
        flaws=tuple(flaws),
        raw=doc,
    )


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

        out = export_deliverable(hybrid_stack(scene), args.reference)
        print(f"reference mix of {scene.scene_id} written to {out}")
    return 0
