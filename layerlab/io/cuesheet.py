"""A scene's cue sheet (``cues.json``): the one typed model every layer reads.

:func:`validate_cues` checks a JSON document and parses it into :class:`Cues`
(events, dialogue lines, beds, scene changes, the native render's flaws);
:func:`load_cues` finds one from a scene id, a path, a dict or a scene object.
``layerlab.mix.scenes`` re-exports these names, the checks use them, and the
grader reads the truth from them (``layerlab.grading.scene_cues``).

Taught in ``lessons/07_four_layers.ipynb``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, replace
from pathlib import Path

from layerlab.errors import SceneError, SessionError
from layerlab.io.audio import SAMPLE_RATE
from layerlab.paths import scenes_dir

__all__ = ["DECISION_TABLE", "SCENARIOS", "FLAW_KINDS", "Event", "DialogueLine", "Flaw", "Cues", "SceneCues",
           "validate_cues", "load_cues"]

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



class _ItemAccess:
    """``item["time_s"]`` and ``item.get("clip")`` on a typed cue, like on its JSON object."""

    def __getitem__(self, key):
        try:
            return getattr(self, key)
        except AttributeError:
            raise KeyError(key) from None

    def get(self, key, default=None):
        """Dictionary-style access to a field."""
        return getattr(self, key, default)


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
class Event(_ItemAccess):
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
class DialogueLine(_ItemAccess):
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
    folder : Path or None
        Where the cue sheet lives (clip paths are relative to it); None for a
        document given as a dict.
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
    folder: Path | None = None

    @property
    def scene_changes_s(self) -> list:
        """Times of picture cuts in seconds (a list)."""
        return list(self.scene_changes)

    @property
    def has_music(self) -> bool:
        """The scene has a music bed."""
        return bool(self.music)

    @property
    def has_ambience(self) -> bool:
        """The scene has an ambience bed."""
        return bool(self.ambience)

    def clip_path(self, rel) -> Path | None:
        """Resolve a clip path of the cue sheet (None if there is no folder or the file does not exist)."""
        if not rel or self.folder is None:
            return None
        p = self.folder / rel
        return p if p.is_file() else None

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




SceneCues = Cues
"""The name the checks used for their own cue-sheet model; now the same :class:`Cues`."""


def load_cues(scene) -> Cues:
    """Load and validate a scene's cue sheet.

    Parameters
    ----------
    scene : str, Path, dict, Scene or Cues
        A scene id (looked up under :func:`layerlab.paths.scenes_dir`), a path
        to a ``cues.json`` or to its folder, a parsed JSON document, a
        :class:`layerlab.mix.scenes.Scene`, or :class:`Cues` (returned as is).

    Returns
    -------
    Cues
        With ``folder`` set when the cue sheet came from a file or a scene.

    Raises
    ------
    SessionError
        The scene is unknown or its file is not valid JSON.
    SceneError
        The cue sheet is malformed (naming the field, see :func:`validate_cues`).

    Notes
    -----
    Taught in ``lessons/08_measuring_the_mix.ipynb``.
    """
    if isinstance(scene, Cues):
        return scene
    if hasattr(scene, "cues") and isinstance(getattr(scene, "cues", None), Cues) and hasattr(scene, "path"):
        return replace(scene.cues, folder=Path(scene.path))
    if isinstance(scene, dict):
        return validate_cues(scene, name=f"cue sheet of {scene.get('scene', '?')}")
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
        data = json.loads(p.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise SessionError(f"{p}: not valid JSON ({exc}).") from exc
    return replace(validate_cues(data, name=str(p)), folder=p.parent)
