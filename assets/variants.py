"""Per-learner variants of an assessed scene, made from the built scene library.

``layerlab variants build`` (:mod:`layerlab.course.variants`) draws the parameters
of each learner's variant from the course secret and the learner's id and calls
:func:`render_variant`, which writes two things:

- the **public** scene folder the learner receives: ``video.mp4``, ``native.wav``,
  ``native.mp4``, ``postgen/`` and a ``cues.json`` holding only what the learner
  must know (picture events, dialogue cue times, the delivery target; no mix
  gains, no duck depth, no native flaws or their true values);
- the **truth**: the complete cue sheet of the variant (what ``assets/build.py``
  writes for a teaching scene: suggested gains, duck depth, ``native.truth`` and
  ``native.flaws``), returned as a dict for the instructor's course folder only.

Without ``takes`` (lab 1), the variant re-uses the base scene's speech, SFX and
beds (``assets/scenes/<scene>/postgen``). With ``takes`` (lab 2), every clip is
the learner's own take, synthesised here (:func:`take_clips`): the music in
another key, tempo and swing, the ambience and SFX from other noise seeds, each
dialogue line spoken by eSpeak NG at another pitch and rate. So no variant clip
is a kit clip times a gain (comparing the two recovers nothing), and a
classmate's deliverable does not hold this learner's dialogue. Then the clips
are re-levelled, the picture events and dialogue cues moved, the picture
redrawn when they moved, and the native premix rendered with the variant's
flaws (:func:`assets.build.render_native`). Deterministic: the same parameters
give the same bytes.
"""

from __future__ import annotations

import copy
import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import resample_poly

from assets import build, synth, video
from assets.tts import speak_many

PUBLIC_EVENT_KEYS = ("id", "time_s", "frame", "label", "clip", "pan", "region")
PUBLIC_LINE_KEYS = ("id", "speaker", "start_s", "end_s", "frame", "text", "clip", "region")


def _spec(scene_id: str) -> build.SceneSpec:
    for s in build.scene_specs():
        if s.scene_id == scene_id:
            return s
    raise ValueError(f"no scene spec {scene_id!r} in assets/build.py")


def _read(path: Path) -> np.ndarray:
    x, sr = sf.read(str(path), dtype="float32", always_2d=True)
    assert sr == build.SR
    return x


def _shift_timeline(tl: dict, event_shift: dict) -> dict:
    """The cafe picture timeline with each event's animation moved with its frame."""
    out = copy.deepcopy(tl)
    door = list(out["door"])
    for k, eid in enumerate(("door", "door_2")):
        s = event_shift.get(eid, 0)
        a, b, slam = door[k]
        door[k] = (a + s, b + s, slam + s)
    out["door"] = door
    cups = dict(out["cups"])
    for who, eid in (("A", "cup_a"), ("B", "cup_b")):
        s = event_shift.get(eid, 0)
        a, b, down = cups[who]
        cups[who] = (a + s, b + s, down + s) if a >= 0 else (a, b, down + s)  # a cup raised from frame 0 stays raised
    out["cups"] = cups
    return out


_TAKE_SFX = {"door": synth.sfx_door_close, "cup": synth.sfx_cup_down}
_KIT_DOOR_THUMP_HZ = 72.0


def take_clips(takes: dict, spec: build.SceneSpec, full: dict) -> tuple[dict, dict]:
    """Synthesise a learner's own takes of the scene's clips (cafe_dialogue only).

    Parameters
    ----------
    takes : dict
        ``VariantParams.takes``: ``music`` {seed, bpm, transpose, swing}, ``ambience`` {seed},
        ``sfx`` {seed, pitch_semitones, door_thump_hz}, ``dialogue`` {line id: {pitch_delta, rate_delta_wpm}}.
    spec : build.SceneSpec
        The base scene (its line texts and voices).
    full : dict
        The base scene's complete cue sheet (its clip paths).

    Returns
    -------
    (dict, dict)
        Clip path (relative to the scene folder) to float32 ``(samples, 1)`` audio at 48 kHz, levelled
        as the kit levels its own clips (lines at -23 LUFS, ambience -30, music -23; SFX to their
        synthesis peak); and the music's metadata (tempo_bpm, key, sections) of the take.

    Raises
    ------
    ValueError
        A scene other than cafe_dialogue (only its synthesis is parameterised).
    """
    if spec.scene_id != "cafe_dialogue":
        raise ValueError(f"takes of {spec.scene_id!r} are not supported (only cafe_dialogue)")
    clips = {}
    m = takes["music"]
    mus, meta = synth.music_cafe(build.DUR_S, bpm=float(m["bpm"]), transpose=int(m["transpose"]),
                                 name=f"music_cafe/take{int(m['seed'])}", swing=float(m.get("swing", 0.0)))
    clips[full["music"]["clip"]] = build.q16(build.norm_lufs(mus, build.MUSIC_LUFS))
    clips[full["ambience"]["clip"]] = build.q16(build.norm_lufs(
        synth.ambience_cafe(build.DUR_S, name=f"cafe_room/take{int(takes['ambience']['seed'])}"), build.AMBIENCE_LUFS))
    seed = int(takes["sfx"]["seed"])
    # another prop: other noise, and pitched up or down (polyphase resampling keeps the onset on sample 0)
    up = 1000
    down = int(round(up * 2 ** (float(takes["sfx"].get("pitch_semitones", 0.0)) / 12)))
    for e in full["events"]:
        if e["clip"] not in clips:
            stem = Path(e["clip"]).stem
            kind = stem.split("_")[0]
            if kind == "door":  # another door: its thump (after the pitch shift) at least 14 Hz from the kit's
                y = synth.sfx_door_close(f"{stem}/take{seed}", thump_hz=float(takes["sfx"].get(
                    "door_thump_hz", _KIT_DOOR_THUMP_HZ)) * up / down)
            else:
                y = _TAKE_SFX[kind](f"{stem}/take{seed}")
            if down != up:
                y = resample_poly(y.astype(np.float64), up, down, axis=0).astype(np.float32)
            clips[e["clip"]] = build.q16(y)
    texts = {ln.id: ln for ln in spec.lines}
    reqs = []
    for d in full["dialogue"]:
        ln, t = texts[d["id"]], takes["dialogue"][d["id"]]
        v = spec.voices[ln.speaker]["voice"]
        reqs.append((ln.text, replace(v, pitch=int(v.pitch) + int(t["pitch_delta"]),
                                      rate_wpm=int(v.rate_wpm) + int(t["rate_delta_wpm"]))))
    for d, y in zip(full["dialogue"], speak_many(reqs)):
        clips[d["clip"]] = build.q16(build.norm_lufs(y, build.LINE_LUFS))
    return clips, meta


def render_variant(params: dict, out_dir, *, base_scenes=None, with_video: bool = True) -> dict:
    """Write a learner's public scene folder and return the variant's complete (true) cue sheet.

    Parameters
    ----------
    params : dict
        As drawn by :func:`layerlab.course.variants.derive_variant` (``VariantParams.to_dict()``):
        ``scene``, ``event_shift_frames`` {event id: frames}, ``line_shift_frames``
        {line id: frames}, ``level_db`` {"dialogue", "sfx", "ambience", "music": dB},
        ``native`` (the flaws of the native render, as in ``SceneSpec.native``), and for lab 2
        ``takes`` (the learner's own takes, :func:`take_clips`).
    out_dir : str or Path
        The public scene folder to (re)write, e.g. ``.../scenes/cafe_dialogue``.
    base_scenes : Path, optional
        The built scene library to start from (default ``assets/scenes``).
    with_video : bool
        Redraw the picture when events moved (else the base picture is copied).

    Returns
    -------
    dict
        The complete cue sheet of the variant (the truth; never written to ``out_dir``).
    """
    scene_id = params["scene"]
    spec = _spec(scene_id)
    base = Path(base_scenes or build.SCENES) / scene_id
    full = json.loads((base / "cues.json").read_text())
    out = Path(out_dir)
    if out.exists():
        shutil.rmtree(out)
    (out / "postgen").mkdir(parents=True)
    n = int(build.DUR_S * build.SR)
    ev_shift = {k: int(v) for k, v in params.get("event_shift_frames", {}).items()}
    ln_shift = {k: int(v) for k, v in params.get("line_shift_frames", {}).items()}
    lv = params.get("level_db", {})
    takes, music_meta = ({}, {})
    if params.get("takes"):
        takes, music_meta = take_clips(params["takes"], spec, full)

    def scaled(rel: str, layer: str) -> np.ndarray:
        y = takes[rel] if rel in takes else _read(base / rel)
        g = float(lv.get(layer, 0.0))
        y = build.q16(y * 10 ** (g / 20)) if g else y
        build.write16(out / rel, y)
        return y

    # clips, re-levelled per layer (the truth's suggested gains compensate, so the reference mix is unchanged)
    lines_audio, dialogue_cues = {}, []
    for d in full["dialogue"]:
        y = scaled(d["clip"], "dialogue")
        lines_audio[d["id"]] = y
        frame = int(d["frame"]) + ln_shift.get(d["id"], 0)
        if dialogue_cues and frame / build.FPS < dialogue_cues[-1]["end_s"] + 0.1 or frame / build.FPS + len(y) / build.SR > build.DUR_S - 0.3:
            raise ValueError(f"{scene_id}/{d['id']}: the take at frame {frame} overlaps the line before or runs past the end")
        dd = dict(d, frame=frame, start_s=round(frame / build.FPS, 6),
                  end_s=round(frame / build.FPS + len(y) / build.SR, 6),
                  gain_db=round(float(d.get("gain_db", 0.0)) - float(lv.get("dialogue", 0.0)), 3))
        dialogue_cues.append(dd)
    sfx_audio, event_cues = {}, []
    for e in full["events"]:
        name = Path(e["clip"]).stem
        if name not in sfx_audio:
            sfx_audio[name] = scaled(e["clip"], "sfx")
        frame = int(e["frame"]) + ev_shift.get(e["id"], 0)
        event_cues.append(dict(e, frame=frame, time_s=round(frame / build.FPS, 6),
                               gain_db=round(float(e["gain_db"]) - float(lv.get("sfx", 0.0)), 3)))
    amb = scaled(full["ambience"]["clip"], "ambience")
    mus = scaled(full["music"]["clip"], "music")

    # the native render: the base scene's clip levels (a model's premix does not know our re-levelling)
    def unlevel(y, layer):
        return y * 10 ** (-float(lv.get(layer, 0.0)) / 20)

    native_spec = replace(spec, native=dict(params.get("native") or spec.native))
    ns = native_spec.native
    for key in ("band", "ambience_dropout"):
        if ns.get(key) is not None:
            ns[key] = tuple(ns[key])
        elif key == "ambience_dropout":
            ns.pop(key, None)
    native, flaws, info = build.render_native(
        native_spec, {k: unlevel(v, "dialogue") for k, v in lines_audio.items()}, dialogue_cues,
        {k: unlevel(v, "sfx") for k, v in sfx_audio.items()}, event_cues, unlevel(amb, "ambience"), unlevel(mus, "music"), n)
    build.write16(out / "native.wav", native)
    # lab 1 draws an offset for every layer (never a shared 0); one inside the sync window is measured but is no flaw
    # likewise music at least 10 LU under the dialogue and loudness within 1 LU of -14 LUFS are measured but no flaw
    # (the lab's own thresholds, defined once in layerlab.course.variants)
    from layerlab.course.variants import LAB1_FLAW_THRESHOLD_MS as in_sync
    from layerlab.course.variants import LAB1_LOUDNESS_WINDOW_LU as loudness_window_lu
    from layerlab.course.variants import LAB1_MUSIC_MIN_LU as music_min_lu

    def no_flaw(f: dict) -> bool:
        kind = f.get("kind")
        if kind in ("dialogue_late", "sfx_late"):  # dialogue: every line in sync
            return max(abs(float(v)) for v in (f.get("offsets_ms") or {"": f["offset_ms"]}).values()) <= in_sync
        if kind == "music_masks_dialogue":  # every line with the music far enough under it
            return min(float(v) for v in (f.get("by_line_lu") or {"": f["dialogue_to_music_lu"]}).values()) >= music_min_lu
        if kind == "loudness_off_target":
            return abs(float(f["integrated_lufs"]) - float(f.get("target_lufs", -14.0))) <= loudness_window_lu
        return False

    flaws = [f for f in flaws if not no_flaw(f)]

    truth = dict(full)
    truth["events"] = event_cues
    truth["dialogue"] = dialogue_cues
    truth["ambience"] = dict(full["ambience"], gain_db=round(float(full["ambience"]["gain_db"]) - float(lv.get("ambience", 0.0)), 3),
                             integrated_lufs=round(float(full["ambience"]["integrated_lufs"]) + float(lv.get("ambience", 0.0)), 3))
    truth["music"] = dict(full["music"], **music_meta, gain_db=round(float(full["music"]["gain_db"]) - float(lv.get("music", 0.0)), 3),
                          integrated_lufs=round(float(full["music"]["integrated_lufs"]) + float(lv.get("music", 0.0)), 3))
    truth["native"] = {"clip": "native.wav", "video": "native.mp4", **info, "flaws": flaws}

    moved = any(ev_shift.values()) or any(ln_shift.values())
    if with_video and moved and scene_id == "cafe_dialogue":
        tl = _shift_timeline(spec.timeline, ev_shift)
        mouths = {s: np.zeros(build.N_FRAMES) for s in ("A", "B")}
        for d in dialogue_cues:
            mouths[d["speaker"]] = np.maximum(mouths[d["speaker"]], build.mouth_track(lines_audio[d["id"]], d["frame"], build.N_FRAMES))
        tl["mouth"] = mouths
        video.encode((video.draw_cafe(f, tl) for f in range(build.N_FRAMES)), out / "video.mp4", n_frames=build.N_FRAMES)
    elif moved and scene_id != "cafe_dialogue":
        raise ValueError(f"moving the picture events of {scene_id!r} is not supported (only cafe_dialogue)")
    else:
        shutil.copyfile(base / "video.mp4", out / "video.mp4")
    video.mux(out / "video.mp4", out / "native.wav", out / "native.mp4")
    (out / "cues.json").write_text(json.dumps(public_cues(truth), indent=2) + "\n")
    return truth


def public_cues(truth: dict) -> dict:
    """What the learner may see of a variant's cue sheet: picture events, dialogue cues, delivery target.

    No suggested gains, no duck depth, no clip loudness, no native flaws or true values; a
    ``variant`` marker lets the kit refuse to make a reference mix of it.
    """
    pub = {k: truth[k] for k in ("scene", "title", "scenario", "description", "fps", "sample_rate", "duration_s",
                                 "n_frames", "width", "height", "speakers")}
    pub["events"] = [{k: e[k] for k in PUBLIC_EVENT_KEYS if k in e} for e in truth["events"]]
    pub["dialogue"] = [{k: d[k] for k in PUBLIC_LINE_KEYS if k in d} for d in truth["dialogue"]]
    pub["ambience"] = {"clip": truth["ambience"]["clip"], "description": truth["ambience"].get("description", "")}
    pub["music"] = {"clip": truth["music"]["clip"], **{k: truth["music"][k] for k in ("tempo_bpm", "key", "sections") if k in truth["music"]}}
    pub["scene_changes"] = list(truth.get("scene_changes", []))
    pub["mix_target"] = dict(truth["mix_target"])
    pub["native"] = {"clip": "native.wav", "video": "native.mp4", "flaws": []}
    pub["variant"] = {"assessed": True, "note": "an assessed variant: its levels and flaws are yours to measure"}
    pub["notes"] = {
        "time_s": "where the SFX must start to be in sync with the picture (frame / fps)",
        "start_s": "where the dialogue clip must start; end_s = start_s + clip length",
        "region": "[x0, y0, x1, y1] pixel box where the visual event happens (for frame differencing)",
    }
    return pub
