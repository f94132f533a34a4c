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
import math
import os
import re
import sys
import warnings
from pathlib import Path

import numpy as np

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
EXIT_BAD_SESSION = 2
"""Exit status of ``layerlab render`` when the session is missing or invalid (nothing is written)."""

MAX_SESSION_PROBLEMS = 12
"""At most this many problems are listed (one line each) when a session is refused."""


def _number(minimum=None, maximum=None, *, exclusive_min=False, exclusive_max=False, null=False, unit=""):
    schema = {"type": ["number", "null"] if null else "number"}
    if minimum is not None:
        schema["exclusiveMinimum" if exclusive_min else "minimum"] = minimum
    if maximum is not None:
        schema["exclusiveMaximum" if exclusive_max else "maximum"] = maximum
    lo = "" if minimum is None else f"{'above' if exclusive_min else 'from'} {minimum:g}"
    hi = "" if maximum is None else f"{'below' if exclusive_max else 'to'} {maximum:g}"
    text = "a number" + (f" {lo}" if lo else "") + (f" {hi}" if hi else "") + (f" {unit}" if unit else "")
    schema["allowed"] = text + (", or null" if null else "")
    return schema


_BOOL = {"type": "boolean", "allowed": "true or false (JSON booleans, without quotes)"}


def _session_schema() -> dict:
    """The one JSON Schema (draft 2020-12) every ``session.json`` is checked against."""
    from layerlab.measure.targets import PROFILE_NAMES

    clip = {
        "type": "object", "required": ["source"], "additionalProperties": False,
        "properties": {
            "name": {"type": "string", "allowed": "a string"},
            "source": {"type": ["string", "object"], "minProperties": 1, "additionalProperties": False,
                       "properties": {"scene": {"type": "string", "allowed": "a scene id"},
                                      "path": {"type": "string", "allowed": "a path inside the scene folder"},
                                      "file": {"type": "string", "allowed": "a file path"}},
                       "dependentRequired": {"scene": ["path"], "path": ["scene"]},
                       "allowed": 'a file path, {"file": path} or {"scene": id, "path": path}'},
            "start_s": _number(-3 * 3600, 3 * 3600, unit="s"),
            "gain_db": _number(-120, 24, unit="dB"),
            "fade_in_ms": _number(0, 600_000, unit="ms"),
            "fade_out_ms": _number(0, 600_000, unit="ms"),
            "trim_start_s": _number(0, 3 * 3600, unit="s"),
            "trim_end_s": _number(0, 3 * 3600, exclusive_min=True, null=True, unit="s"),
        },
        "allowed": 'a clip object, e.g. {"source": {"file": "door.wav"}, "start_s": 2.5}',
    }
    layer = {
        "type": "object", "additionalProperties": False,
        "properties": {"gain_db": _number(-120, 24, unit="dB"), "mute": _BOOL, "solo": _BOOL,
                       "clips": {"type": "array", "items": clip, "allowed": "a list of clips"}},
        "allowed": "an object of layer settings (gain_db, mute, solo, clips)",
    }
    ducking = {
        "type": ["object", "null"], "additionalProperties": False,
        "properties": {
            "depth_db": _number(0, 60, unit="dB"), "threshold_db": _number(-120, 0, unit="dBFS"),
            "attack_ms": _number(1, 10_000, unit="ms"), "release_ms": _number(1, 10_000, unit="ms"),
            "hold_ms": _number(0, 5000, unit="ms"), "lookahead_ms": _number(0, 5000, unit="ms"),
            "targets": {"type": "array", "uniqueItems": True,
                        "items": {"enum": ["music", "ambience", "sfx"], "allowed": '"music", "ambience" or "sfx"'},
                        "allowed": 'a list of "music", "ambience", "sfx"'},
        },
        "allowed": "an object of ducking settings, or null for no ducking",
    }
    master = {
        "type": ["object", "null"], "additionalProperties": False,
        "properties": {
            "target_lufs": _number(-70, 0, exclusive_min=True, exclusive_max=True, null=True, unit="LUFS"),
            "ceiling_dbtp": _number(-20, 0, unit="dBTP"), "attack_ms": _number(0.1, 1000, unit="ms"),
            "release_ms": _number(1, 10_000, unit="ms"), "max_gain_db": _number(0, 60, unit="dB"),
        },
        "allowed": "an object of master settings, or null for no master",
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object", "required": ["duration_s", "layers"], "additionalProperties": False,
        "properties": {
            "layerlab_session": {"enum": [SESSION_VERSION], "allowed": f"{SESSION_VERSION} (the session format version)"},
            "duration_s": _number(0, 3 * 3600, exclusive_min=True, unit="s"),
            "sample_rate": {"type": "integer", "minimum": 8000, "maximum": 192000,
                            "allowed": "a whole number of Hz from 8000 to 192000 (48000)"},
            "target": {"enum": [*PROFILE_NAMES, None], "allowed": "one of " + ", ".join(map(repr, PROFILE_NAMES)) + ", or null"},
            "layers": {"type": "object", "propertyNames": {"enum": list(LAYERS)},
                       "additionalProperties": layer, "allowed": "an object keyed by layer name"},
            "ducking": ducking,
            "master": master,
        },
        "allowed": "a session object",
    }


class _NonFinite:
    """NaN or Infinity in a session file: JSON has no such numbers. Not a number to the schema, so it is reported by key."""

    def __init__(self, text: str):
        self.text = text

    def __repr__(self):
        return self.text


def _key_path(path) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _show(value) -> str:
    if isinstance(value, _NonFinite):
        return repr(value)
    text = re.sub(r'"\\u0000nonfinite:([-A-Za-z]+)"', r"\1", json.dumps(_marked(value)))
    return text if len(text) <= 60 else text[:57] + "..."


def _marked(value):
    """``value`` with each NaN/Infinity replaced by a marker string :func:`_show` turns back into NaN/Infinity."""
    if isinstance(value, _NonFinite):
        return f"\0nonfinite:{value.text}"
    if isinstance(value, dict):
        return {k: _marked(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_marked(v) for v in value]
    return value


def session_problems(data) -> list:
    """Check a parsed ``session.json`` against the session schema.

    Parameters
    ----------
    data : object
        The parsed JSON (``json.loads`` output).

    Returns
    -------
    list of str
        One line per problem, naming the key, its value and what is allowed,
        e.g. ``layers.music.mute = "false": must be true or false (JSON
        booleans, without quotes)``. Empty when the session is valid.

    Notes
    -----
    The schema is JSON Schema draft 2020-12, checked with ``jsonschema-rs``
    (a Rust validator: ``jsonschema`` took ~3 s CPU to import):
    strict types (``"false"`` is not a boolean, ``1`` is not ``true``), no
    NaN or Infinity, ranges, unknown keys named. Taught in
    ``lessons/07_four_layers.ipynb`` (the session file).
    """
    from jsonschema_rs import Draft202012Validator

    schema = _session_schema()
    nonfinite = {}
    checked = _without_nonfinite(data, (), nonfinite)
    found = []  # (sort key, rank within the key, line)
    for err in Draft202012Validator(schema).iter_errors(checked):
        at = tuple(err.instance_path)
        if at in nonfinite:
            continue  # reported below, once, as a non-number
        spath = list(err.schema_path)
        cut = spath.index("propertyNames") if "propertyNames" in spath else len(spath) - 1
        keyword, sub = spath[cut], _schema_at(schema, spath[:cut])
        rank = list(sub).index(keyword) if keyword in sub else len(sub)
        where, value = _key_path(at), _value_at(data, at)
        key = [str(p) for p in at]
        if keyword == "additionalProperties" and sub.get("additionalProperties") is False:
            known = ", ".join(sub.get("properties", {})) or "none"
            for extra in sorted(set(value) - set(sub.get("properties", {}))):
                found.append((key, rank, f"{_key_path([*at, extra])}: unknown key; the keys allowed here are {known} (check the spelling)."))
        elif keyword == "propertyNames":
            name = err.kind.as_dict()["error"].instance
            found.append((key, rank, f"{where}: unknown layer {_show(name)}; the layers are {', '.join(LAYERS)}."))
        elif keyword == "required":
            found.append((key, rank, f"{where}: the key {err.kind.as_dict()['property']!r} is missing."))
        elif keyword == "dependentRequired":
            found.append((key, rank, f"{where}: a scene source needs both \"scene\" and \"path\"."))
        elif keyword == "uniqueItems":
            found.append((key, rank, f"{where} = {_show(value)}: a layer is listed twice."))
        else:
            found.append((key, rank, f"{where} = {_show(value)}: must be {sub.get('allowed') or err.message}."))
    for at, value in nonfinite.items():
        sub = _schema_for_value(schema, data, at)
        if sub is not None:
            allowed = sub.get("allowed") or "a finite number"
            found.append(([str(p) for p in at], -1, f"{_key_path(at)} = {value!r}: not a number JSON allows; must be {allowed}."))
    found.sort(key=lambda item: (item[0], item[1]))
    return [line for _, _, line in found]


def _without_nonfinite(value, at: tuple, found: dict):
    """``value`` with each NaN/Infinity (``_NonFinite``) replaced by a unique string, their key paths in ``found``.

    ``jsonschema_rs`` takes only JSON values (it would read a float NaN as null), so a
    non-number is hidden from it and reported by :func:`session_problems` itself.
    """
    if isinstance(value, _NonFinite):
        found[at] = value
        return f"\0layerlab-nonfinite-{len(found)}"
    if isinstance(value, dict):
        return {k: _without_nonfinite(v, (*at, k), found) for k, v in value.items()}
    if isinstance(value, list):
        return [_without_nonfinite(v, (*at, i), found) for i, v in enumerate(value)]
    return value


def _schema_at(schema: dict, path) -> dict:
    for part in path:
        schema = schema[part]
    return schema if isinstance(schema, dict) else {}


def _value_at(data, path):
    for part in path:
        data = data[part]
    return data


def _schema_for_value(schema: dict, data, path):
    """The subschema that checks the value at ``path`` (None where no schema looks at it, e.g. under an unknown key)."""
    for part in path:
        if isinstance(data, dict):
            props = schema.get("properties", {})
            nxt = props[part] if part in props else schema.get("additionalProperties")
        elif isinstance(data, list) and "items" in schema:
            nxt = schema["items"]
        else:
            return None
        if not isinstance(nxt, dict):
            return None
        schema, data = nxt, data[part]
    return schema


def _check_session(data, name: str) -> None:
    if not isinstance(data, dict) or not ("layers" in data or "duration_s" in data or "layerlab_session" in data):
        raise SessionError(f"{name}: not a Layer Lab session (needs 'duration_s' and 'layers'). "
                           "Export the session again from the mixer.")
    problems = session_problems(data)
    if problems:
        more = len(problems) - MAX_SESSION_PROBLEMS
        lines = [f"{name}: {p}" for p in problems[:MAX_SESSION_PROBLEMS]]
        if more > 0:
            lines.append(f"{name}: ... and {more} more problem{'s' if more > 1 else ''}.")
        err = SessionError("\n".join(lines))
        err.problems = problems
        raise err


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
                _save_clip(path, clip)
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
        "target": getattr(stack, "delivery_target", None),
        "layers": layers,
        "ducking": stack.ducking.to_dict() if stack.ducking is not None else None,
        "master": stack.master.to_dict() if stack.master is not None else None,
    }


def stack_from_dict(data: dict, *, base_dir=None, name: str = "session") -> LayerStack:
    """Rebuild a stack from :func:`stack_to_dict` output, after checking it against the session schema.

    Parameters
    ----------
    data : dict
        Parsed ``session.json``.
    base_dir : str or Path, optional
        Folder that relative clip paths are resolved against.
    name : str
        What to call the session in messages (its path).

    Returns
    -------
    LayerStack
        With ``delivery_target`` set from the session's ``"target"``.

    Raises
    ------
    SessionError
        Listing every problem, one line each (key, value, what is allowed; see
        :func:`session_problems`), or naming a clip file that is missing.
    """
    _check_session(data, name)
    try:
        stack = LayerStack(duration_s=float(data["duration_s"]), sample_rate=int(data.get("sample_rate", 48000)))
        stack.delivery_target = data.get("target")
        if data.get("ducking") is not None:
            stack.ducking = Ducking.from_dict(data["ducking"])
        if data.get("master") is not None:
            stack.master = Master.from_dict(data["master"])
        for layer_name, spec in data["layers"].items():
            layer = stack[layer_name]
            layer.gain_db = float(spec.get("gain_db", 0.0))
            layer.mute = spec.get("mute", False)
            layer.solo = spec.get("solo", False)
            for i, c in enumerate(spec.get("clips", [])):
                path = _resolve_source(c["source"], base_dir)
                if not path.exists():
                    raise SessionError(f"{name}: layers.{layer_name}.clips[{i}] ({c.get('name')!r}): file {path} not found; "
                                       "put the file back or edit its \"source\".")
                layer.append(Clip(path=str(path), start_s=c.get("start_s", 0.0), gain_db=c.get("gain_db", 0.0),
                                  fade_in_ms=c.get("fade_in_ms", 0.0), fade_out_ms=c.get("fade_out_ms", 0.0),
                                  trim_start_s=c.get("trim_start_s", 0.0), trim_end_s=c.get("trim_end_s"),
                                  name=c.get("name", "")))
    except SessionError:
        raise
    except (KeyError, TypeError, ValueError) as exc:  # a combination the schema cannot express (trim_end_s <= trim_start_s)
        raise SessionError(f"{name}: {exc}") from exc
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
    write_atomic(path, json.dumps(data, indent=2, allow_nan=False))
    return path


def write_atomic(path, text: str) -> Path:
    """Write a text file so that a reader sees the old or the new content, never half of it.

    The text goes to a temporary file in the same folder, is flushed to disk,
    and replaces ``path`` with :func:`os.replace` (atomic on POSIX and Windows).

    Returns
    -------
    Path
    """
    import tempfile

    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=str(path.parent))
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load_session(path) -> LayerStack:
    """Load a stack from a ``session.json`` (or a deliverable folder containing one).

    Raises
    ------
    SessionError
        If the file is missing, not JSON, or not a valid session (every
        problem listed, one line each: see :func:`session_problems`).

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
        data = json.loads(path.read_text(), parse_constant=_NonFinite)
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

    Warns
    -----
    ClippedExportWarning
        If the mix goes over full scale, so the 24-bit ``mix.wav`` clips
        (one line: the peak, how many samples, how to fix it).

    Notes
    -----
    Taught in ``lessons/07_four_layers.ipynb``; used by the hybrid-mix lab.
    """
    out = Path(out_dir)
    (out / STEMS_DIR).mkdir(parents=True, exist_ok=True)
    r = render if render is not None else stack.render()
    over = int(np.count_nonzero(np.abs(r.mix) > 1.0))
    if over:
        peak_db = 20 * math.log10(float(np.max(np.abs(r.mix))))
        warnings.warn(ClippedExportWarning(
            f"{out / MIX_FILE}: the mix peaks at {peak_db:+.1f} dBFS and {over} samples are over full scale; "
            "the 24-bit mix.wav clips them (the float stems keep them). Lower the faders or set "
            "stack.master = Master() (a true-peak limiter) before exporting."), stacklevel=2)
    save_audio(out / MIX_FILE, r.mix, sample_rate=r.sample_rate, subtype="PCM_24")
    for name in LAYERS:
        save_audio(out / STEMS_DIR / f"{name}.wav", r.stems[name], sample_rate=r.sample_rate, subtype="FLOAT")
    save_session(stack, out / SESSION_FILE)
    return out


class ClippedExportWarning(UserWarning):
    """An exported mix went over full scale and its PCM ``mix.wav`` clips."""


def configure(parser) -> None:
    """Arguments of ``layerlab render``."""
    parser.add_argument("session", help="a session.json (or a folder containing one)")
    parser.add_argument("out_dir", help="folder to write mix.wav, stems/ and session.json to")


def run(args) -> int:
    """``layerlab render SESSION.json OUT_DIR``.

    Exit status 0 when rendered, :data:`EXIT_BAD_SESSION` (2) when the session
    is missing or invalid (every problem on its own line, nothing written).
    A mix that clips is rendered with a one-line warning on stderr.
    """
    try:
        stack = load_session(args.session)
    except SessionError as exc:
        for line in str(exc).splitlines():
            print(f"layerlab render: error: {line}", file=sys.stderr)
        return EXIT_BAD_SESSION
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ClippedExportWarning)
        out = export_deliverable(stack, args.out_dir)
    for w in caught:
        print(f"layerlab render: warning: {w.message}", file=sys.stderr)
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


def _save_clip(path: Path, clip: Clip) -> None:
    """Write an in-memory clip's samples (float, its own rate) atomically, and only when they changed.

    The mixer saves after every change: rewriting unchanged clip files each
    time would be slow and would leave a window where a file is half written.
    """
    import hashlib

    audio = clip.native
    digest = hashlib.sha1(audio.tobytes() + str(clip.sample_rate).encode()).hexdigest()
    stamp = getattr(clip, "_saved_as", None)
    if stamp == (str(path.resolve()), digest) and path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp.wav")
    try:
        save_audio(tmp, audio, sample_rate=clip.sample_rate, subtype="FLOAT")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    clip._saved_as = (str(path.resolve()), digest)


def _safe(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in name)[:40] or "clip"


__all__ = ["ClippedExportWarning", "export_deliverable", "load_session", "save_session", "session_problems",
           "stack_from_dict", "stack_to_dict", "write_atomic"]
