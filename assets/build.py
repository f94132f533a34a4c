"""Build the Layer Lab scene library: ``python -m assets.build [--scene ID ...] [--no-video]``.

Everything in ``assets/scenes/`` is made here, from nothing but code:

- dialogue lines with eSpeak NG (the ``espeakng-loader`` PyPI package ships the
  library and voices; no Debian package is needed),
- SFX, ambience and music by synthesis (:mod:`assets.synth`),
- the picture by drawing flat shapes (:mod:`assets.video`), encoded with the
  static ffmpeg of ``imageio-ffmpeg``,
- ``native.wav``/``native.mp4``: a premix of the same material with the flaws a
  video model's native audio typically has, each flaw written with its true
  value into ``cues.json``,
- a contact sheet and a waveform/spectrogram plot per scene, ``README.md`` and
  ``LICENSE``.

The build is deterministic: seeded noise, eSpeak NG run in a fresh process per
line with a fixed random seed, single-threaded bit-exact x264/AAC encoding and
PNG files written without timestamps. Running it twice gives the same bytes.

Requirements: the project's virtual environment (numpy, scipy, soundfile,
pyloudnorm, matplotlib, Pillow, imageio-ffmpeg, espeakng-loader). No Debian
packages.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyloudnorm
import soundfile as sf
from scipy import signal

from assets import synth, video
from assets.tts import Voice, speak

SR = 48_000
FPS = 24
DUR_S = 20.0
N_FRAMES = int(DUR_S * FPS)
ASSETS = Path(__file__).resolve().parent
SCENES = ASSETS / "scenes"


# ---------------------------------------------------------------- scene specs


@dataclass
class LineSpec:
    id: str
    speaker: str
    text: str
    frame: int  # start frame; start_s = frame / 24


@dataclass
class EventSpec:
    id: str
    frame: int
    label: str
    sfx: str  # name of the synth function's output file (without .wav)
    gain_db: float
    pan: float = 0.0  # -1 left .. +1 right
    region: str = ""
    native_gain_db: float | None = None


@dataclass
class SceneSpec:
    scene_id: str
    title: str
    scenario: str
    description: str
    voices: dict
    lines: list
    events: list
    ambience: tuple  # (name, function, suggested gain dB, description)
    music: tuple  # (name, function, suggested gain dB, duck dB)
    native: dict
    timeline: dict = field(default_factory=dict)


SFX_FUNCS = {
    "door": synth.sfx_door_close,
    "door_2": lambda: synth.sfx_door_close("door_2"),
    "cup_a": lambda: synth.sfx_cup_down("cup_a"),
    "cup_b": lambda: synth.sfx_cup_down("cup_b"),
    "click": synth.sfx_click,
    "whoosh_in": lambda: synth.sfx_whoosh("whoosh_in", 0.55, rising=True),
    "whoosh_out": lambda: synth.sfx_whoosh("whoosh_out", 0.5, rising=False),
    "chime": synth.sfx_chime,
    "bird_1": lambda: synth.sfx_bird("bird_1", 3),
    "bird_2": lambda: synth.sfx_bird("bird_2", 4),
    "thunder": synth.sfx_thunder,
    "branch": synth.sfx_branch,
}

LINE_LUFS = -23.0
AMBIENCE_LUFS = -30.0
MUSIC_LUFS = -23.0


def scene_specs() -> list[SceneSpec]:
    cafe = SceneSpec(
        scene_id="cafe_dialogue",
        title="Two friends at a cafe table",
        scenario="Character dialogue scene",
        description=(
            "Two people talk at a cafe table: six short lines, the street door swinging shut twice, "
            "two cups set down on saucers, cafe room tone and a light jazz bed."
        ),
        voices={
            "A": {"name": "Maya", "voice": Voice("en-us+f3", rate_wpm=178, pitch=62, pitch_range=60)},
            "B": {"name": "Tom", "voice": Voice("en-us+m3", rate_wpm=172, pitch=38, pitch_range=45)},
        },
        lines=[
            LineSpec("l1", "A", "Sorry I'm late. The door sticks when it rains.", 57),
            LineSpec("l2", "B", "No worries. I ordered you a flat white.", 132),
            LineSpec("l3", "A", "Thanks. So, did you read the script?", 195),
            LineSpec("l4", "B", "Twice. The second act still needs work.", 264),
            LineSpec("l5", "A", "Then let's fix it before the shoot on Friday.", 339),
            LineSpec("l6", "B", "Deal. I'll bring my notes tomorrow.", 405),
        ],
        events=[
            EventSpec("door", 48, "street door swings shut", "door", -8.0, -0.6, "door"),
            EventSpec("cup_a", 126, "Maya sets her cup down", "cup_a", -12.0, -0.2, "cup_A"),
            EventSpec("cup_b", 333, "Tom sets his cup down", "cup_b", -12.0, 0.2, "cup_B"),
            EventSpec("door_2", 456, "the door swings shut again", "door_2", -8.0, -0.6, "door"),
        ],
        ambience=("cafe_room", synth.ambience_cafe, -10.0, "cafe room tone: HVAC rumble, distant murmur, far-off cups"),
        music=("cafe_jazz", synth.music_cafe, -10.0, 8.0),
        native={
            "dialogue_late_ms": 125.0,
            "band": (300.0, 3400.0),
            "sfx_late": {"cup_a": 80.0},
            "sfx_missing": [],
            "dialogue_to_music_lu": 3.0,
            "ambience_gain_db": -6.0,
            "integrated_lufs": -18.0,
        },
        timeline={"door": [(-10, -1, 48), (384, 408, 456)], "cups": {"A": (-2, -1, 126), "B": (186, 204, 333)}},
    )
    demo = SceneSpec(
        scene_id="product_demo",
        title="Layer Lab Studio product demo",
        scenario="Product demo with voiceover",
        description=(
            "A screen recording of an audio app: a narrator explains while the cursor clicks Import, "
            "Enhance, Export and Done; panels whoosh in and out, a chime marks the finished job; "
            "quiet office air and an upbeat music bed."
        ),
        voices={"N": {"name": "Narrator", "voice": Voice("en+m7", rate_wpm=165, pitch=45, pitch_range=55)}},
        lines=[
            LineSpec("n1", "N", "Meet Layer Lab, the quick way to fix the sound of a generated clip.", 9),
            LineSpec("n2", "N", "Import your video, and every layer gets its own track.", 129),
            LineSpec("n3", "N", "One click cleans the dialogue and levels the music.", 228),
            LineSpec("n4", "N", "Then export a mix that is ready for every platform.", 333),
            LineSpec("n5", "N", "Try it today.", 426),
        ],
        events=[
            EventSpec("click_import", 105, "cursor clicks Import", "click", -10.0, 0.0, "click_import"),
            EventSpec("whoosh_panel", 114, "layers panel slides in", "whoosh_in", -12.0, 0.3, "panel"),
            EventSpec("click_enhance", 210, "cursor clicks Enhance", "click", -10.0, 0.0, "click_enhance"),
            EventSpec("chime_done", 279, "green check appears: enhance finished", "chime", -14.0, 0.3, "badge"),
            EventSpec("click_export", 306, "cursor clicks Export", "click", -10.0, 0.0, "click_export"),
            EventSpec("whoosh_toast", 315, "export card pops up", "whoosh_in", -12.0, 0.0, "toast"),
            EventSpec("click_done", 402, "cursor clicks Done", "click", -10.0, 0.1, "click_done"),
            EventSpec("whoosh_out", 420, "export card is swiped away", "whoosh_out", -12.0, 0.0, "toast"),
        ],
        ambience=("office_air", synth.ambience_office, -10.0, "quiet office: air conditioning, mains hum, a far keyboard"),
        music=("demo_upbeat", synth.music_demo, -10.0, 10.0),
        native={
            "dialogue_late_ms": 0.0,
            "band": None,
            "sfx_late": {},
            "sfx_missing": ["click_enhance"],
            "dialogue_to_music_lu": 5.0,
            "ambience_gain_db": -8.0,
            "integrated_lufs": -9.0,
        },
        timeline={
            "clicks": {"import": 105, "enhance": 210, "export": 306, "done": 402},
            "panel_in": 114,
            "progress": (216, 276),
            "badge": 279,
            "toast_in": 315,
            "toast_out": 420,
            "cursor": [
                (0, 520, 250), (60, 520, 250), (95, 100, 92), (170, 100, 92), (200, 102, 132),
                (260, 102, 132), (296, 100, 172), (350, 100, 172), (390, 398, 262), (440, 398, 262), (475, 560, 240),
            ],
        },  # fmt: skip
    )
    forest = SceneSpec(
        scene_id="forest_broll",
        title="Windy forest edge at dusk",
        scenario="Atmospheric scene / B-roll",
        description=(
            "A forest edge at dusk in the wind, no speech: a bird takes off, lightning flashes over the hills, "
            "a second bird flies, a dead branch drops to the ground; wind-and-birds ambience, a slow ambient score."
        ),
        voices={},
        lines=[],
        events=[
            EventSpec("bird_1", 72, "bird takes off from the bare tree", "bird_1", -8.0, 0.5, "bird1"),
            EventSpec("thunder", 192, "lightning flash over the hills", "thunder", -2.0, 0.2, "sky"),
            EventSpec("bird_2", 282, "second bird takes off", "bird_2", -8.0, -0.6, "bird2"),
            EventSpec("branch", 390, "dead branch lands on the ground", "branch", -6.0, 0.0, "branch"),
        ],
        ambience=("forest_wind", synth.ambience_forest, 4.0, "wind gusts in the trees, leaf rustle, distant birds"),
        music=("forest_ambient", synth.music_forest, -6.0, 0.0),
        native={
            "dialogue_late_ms": 0.0,
            "band": None,
            "sfx_late": {"bird_2": 200.0},
            "sfx_missing": [],
            "dialogue_to_music_lu": None,
            "music_gain_db": -10.0,
            "ambience_gain_db": 0.0,
            "ambience_dropout": (13.0, 14.5),
            "integrated_lufs": -30.0,
        },
        timeline={"bird1": 72, "bird2": 282, "flash": 192, "branch": 390},
    )
    return [cafe, demo, forest]


# ---------------------------------------------------------------- helpers


def meter() -> pyloudnorm.Meter:
    """BS.1770 meter; pyloudnorm's "DeMan" filter matches the standard's K-weighting."""
    return pyloudnorm.Meter(SR, filter_class="DeMan")


def lufs(x: np.ndarray) -> float:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(meter().integrated_loudness(np.asarray(x, dtype=np.float64)))


def norm_lufs(x: np.ndarray, target: float) -> np.ndarray:
    return (x * 10 ** ((target - lufs(x)) / 20)).astype(np.float32)


def q16(x: np.ndarray) -> np.ndarray:
    """Round to what a 16-bit WAV will hold, so what is measured is what is stored."""
    return (np.round(np.clip(x, -1, 32767 / 32768) * 32768) / 32768).astype(np.float32)


def write16(path: Path, x: np.ndarray) -> None:
    """16-bit PCM: WAV, or FLAC (lossless, about half the bytes) for the long beds."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fmt = "FLAC" if path.suffix == ".flac" else "WAV"
    sf.write(str(path), q16(x), SR, subtype="PCM_16", format=fmt)


def place(n: int, clip: np.ndarray, start: int) -> np.ndarray:
    """Mono clip placed at sample ``start`` in an ``n``-sample buffer."""
    out = np.zeros(n, dtype=np.float64)
    c = clip[:, 0] if clip.ndim == 2 else clip
    a, b = max(0, start), min(n, start + len(c))
    if b > a:
        out[a:b] = c[a - start : b - start]
    return out


def band_limit(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Zero-phase 4th-order Butterworth band-pass (what the cue sheet states for the flaw)."""
    sos = signal.butter(4, [lo, hi], btype="bandpass", fs=SR, output="sos")
    return signal.sosfiltfilt(sos, x)


def limiter(x: np.ndarray, ceiling: float = 0.977, lookahead: int = 96, release_s: float = 0.08) -> np.ndarray:
    """A simple look-ahead peak limiter (stereo-linked), like the one a model's audio ends with."""
    peak = np.max(np.abs(x), axis=1)
    need = np.minimum(1.0, ceiling / np.maximum(peak, 1e-9))
    from scipy.ndimage import minimum_filter1d

    g = minimum_filter1d(need, size=2 * lookahead + 1, mode="nearest")
    a = np.exp(-1.0 / (release_s * SR))
    # release smoothing (gain may drop at once, recovers slowly), then a short attack smoother
    sm = signal.lfilter([1 - a], [1, -a], g - 1.0) + 1.0
    sm = np.minimum(sm, g)
    b = np.exp(-1.0 / (0.0008 * SR))
    sm = signal.filtfilt([1 - b], [1, -b], sm)
    sm = np.minimum(sm, 1.0)
    return x * sm[:, None], sm


def mouth_track(audio: np.ndarray, start_frame: int, n_frames: int) -> np.ndarray:
    """Per-frame mouth openness for one line: 1.0 on the first frame, then the syllable envelope."""
    y = audio[:, 0].astype(np.float64)
    spf = SR // FPS
    k = int(np.ceil(len(y) / spf))
    pad = np.zeros(k * spf)
    pad[: len(y)] = y
    rms = np.sqrt(np.mean(pad.reshape(k, spf) ** 2, axis=1))
    ref = np.percentile(rms[rms > 0], 90) if np.any(rms > 0) else 1.0
    openness = np.clip(rms / ref, 0, 1) ** 0.7
    openness = np.where(openness < 0.12, 0.12, openness)  # lips stay parted during a line
    openness[0] = 1.0
    out = np.zeros(n_frames)
    end = min(n_frames, start_frame + k)
    out[start_frame:end] = openness[: end - start_frame]
    return out


# ---------------------------------------------------------------- building one scene


def build_scene(spec: SceneSpec, *, with_video: bool = True, log=print) -> dict:
    out = SCENES / spec.scene_id
    pg = out / "postgen"
    if pg.exists():
        shutil.rmtree(pg)
    n = int(DUR_S * SR)

    # dialogue
    lines_audio: dict[str, np.ndarray] = {}
    dialogue_cues = []
    regions = {"cafe_dialogue": video.cafe_regions, "product_demo": video.demo_regions, "forest_broll": video.forest_regions}[spec.scene_id]()
    prev_end = -1.0
    for ln in spec.lines:
        log(f"  tts {spec.scene_id}/{ln.id}: {ln.text}")
        y = norm_lufs(speak(ln.text, spec.voices[ln.speaker]["voice"]), LINE_LUFS)
        y = q16(y)
        lines_audio[ln.id] = y
        start_s = ln.frame / FPS
        end_s = start_s + len(y) / SR
        if start_s < prev_end + 0.1 or end_s > DUR_S - 0.3:
            raise RuntimeError(f"{spec.scene_id}/{ln.id}: line {start_s:.2f}-{end_s:.2f} s overlaps or runs past the end")
        prev_end = end_s
        rel = f"postgen/dialogue/{ln.id}.wav"
        write16(out / rel, y)
        region = regions[f"mouth_{ln.speaker}"] if f"mouth_{ln.speaker}" in regions else regions["caption"]
        dialogue_cues.append(
            {
                "id": ln.id,
                "speaker": ln.speaker,
                "start_s": round(start_s, 6),
                "end_s": round(end_s, 6),
                "frame": ln.frame,
                "text": ln.text,
                "clip": rel,
                "gain_db": 0.0,
                "region": list(regions[f"mouth_{ln.speaker}"] if spec.scene_id == "cafe_dialogue" else region),
            }
        )

    # SFX
    sfx_audio: dict[str, np.ndarray] = {}
    event_cues = []
    for ev in spec.events:
        if ev.sfx not in sfx_audio:
            sfx_audio[ev.sfx] = q16(SFX_FUNCS[ev.sfx]())
            write16(out / f"postgen/sfx/{ev.sfx}.wav", sfx_audio[ev.sfx])
        event_cues.append(
            {
                "id": ev.id,
                "time_s": round(ev.frame / FPS, 6),
                "frame": ev.frame,
                "label": ev.label,
                "clip": f"postgen/sfx/{ev.sfx}.wav",
                "gain_db": ev.gain_db,
                "pan": ev.pan,
                "region": list(regions[ev.region]),
            }
        )

    # beds
    amb_name, amb_fn, amb_gain, amb_desc = spec.ambience
    amb = q16(norm_lufs(amb_fn(DUR_S), AMBIENCE_LUFS))
    write16(out / f"postgen/ambience/{amb_name}.flac", amb)
    mus_name, mus_fn, mus_gain, duck_db = spec.music
    mus, mus_meta = mus_fn(DUR_S)
    mus = q16(norm_lufs(mus, MUSIC_LUFS))
    write16(out / f"postgen/music/{mus_name}.flac", mus)

    # native render
    native, flaws, native_info = render_native(spec, lines_audio, dialogue_cues, sfx_audio, event_cues, amb, mus, n)
    write16(out / "native.wav", native)

    cues = {
        "scene": spec.scene_id,
        "title": spec.title,
        "scenario": spec.scenario,
        "description": spec.description,
        "fps": FPS,
        "sample_rate": SR,
        "duration_s": DUR_S,
        "n_frames": N_FRAMES,
        "width": video.W,
        "height": video.H,
        "speakers": {k: {"name": v["name"], "voice": v["voice"].name} for k, v in spec.voices.items()},
        "events": event_cues,
        "dialogue": dialogue_cues,
        "ambience": {"clip": f"postgen/ambience/{amb_name}.flac", "gain_db": amb_gain, "description": amb_desc, "integrated_lufs": AMBIENCE_LUFS},
        "music": {"clip": f"postgen/music/{mus_name}.flac", "gain_db": mus_gain, "duck_db": duck_db, "integrated_lufs": MUSIC_LUFS, **mus_meta},
        "scene_changes": [],
        "mix_target": {"integrated_lufs": -14.0, "true_peak_dbtp": -1.0},
        "native": {"clip": "native.wav", "video": "native.mp4", **native_info, "flaws": flaws},
        "notes": {
            "time_s": "where the SFX must start to be in sync with the picture (frame / fps)",
            "start_s": "where the dialogue clip must start; end_s = start_s + clip length",
            "region": "[x0, y0, x1, y1] pixel box where the visual event happens (for frame differencing)",
            "gain_db": "suggested clip gain for a reference mix (before ducking and mastering)",
        },
    }
    (out / "cues.json").write_text(json.dumps(cues, indent=2) + "\n")

    if with_video:
        tl = dict(spec.timeline)
        if spec.scene_id == "cafe_dialogue":
            mouths = {s: np.zeros(N_FRAMES) for s in ("A", "B")}
            for ln in spec.lines:
                mouths[ln.speaker] = np.maximum(mouths[ln.speaker], mouth_track(lines_audio[ln.id], ln.frame, N_FRAMES))
            tl["mouth"] = mouths
            draw = video.draw_cafe
        elif spec.scene_id == "product_demo":
            tl["captions"] = [(d["frame"], int(round(d["end_s"] * FPS)), d["text"]) for d in dialogue_cues]
            draw = video.draw_demo
        else:
            draw = video.draw_forest
        log(f"  video {spec.scene_id}: {N_FRAMES} frames")
        video.encode((draw(f, tl) for f in range(N_FRAMES)), out / "video.mp4", n_frames=N_FRAMES)
        video.mux(out / "video.mp4", out / "native.wav", out / "native.mp4")
    return cues


MUSIC_RIDE_RAMP_MS = 50.0
"""How long the native render's music takes to change level between two lines (a linear ramp, ms)."""


def music_ride(music: np.ndarray, dlg: np.ndarray, spans: dict, over_lu: dict) -> np.ndarray:
    """Gain (linear, per sample) that puts the music ``over_lu[line]`` LU under each line's dialogue.

    The level holds over each line and changes in the middle of the gap before the next one,
    with a ramp of ``MUSIC_RIDE_RAMP_MS``: before the first line and after the last, the nearest
    line's level. Both loudnesses are BS.1770 over the line's own samples (``spans``).
    """
    order = sorted(spans, key=lambda lid: spans[lid][0])
    gains_db = [lufs(dlg[spans[lid][0]:spans[lid][1]]) - over_lu[lid] - lufs(music[spans[lid][0]:spans[lid][1]]) for lid in order]
    x = [0.0]
    y = [gains_db[0]]
    half = int(MUSIC_RIDE_RAMP_MS / 2000 * SR)
    for k in range(1, len(order)):
        mid = (spans[order[k - 1]][1] + spans[order[k]][0]) // 2
        x += [mid - half, mid + half]
        y += [gains_db[k - 1], gains_db[k]]
    x.append(float(music.size))
    y.append(gains_db[-1])
    return 10 ** (np.interp(np.arange(music.size), x, y) / 20)


def render_native(spec, lines_audio, dialogue_cues, sfx_audio, event_cues, amb, mus, n):
    """Premix everything the way a video model's native audio would, with the spec's flaws."""
    nat = spec.native
    flaws = []
    # dialogue layer: one offset for every line (a number), or each line its own (a dict: a model's drift)
    dlg = np.zeros(n)
    late_ms = nat["dialogue_late_ms"]
    line_late_ms = {d["id"]: float(late_ms[d["id"]] if isinstance(late_ms, dict) else late_ms) for d in dialogue_cues}
    spans = {}  # each line's samples in the render, as placed
    for d in dialogue_cues:
        y = lines_audio[d["id"]][:, 0].astype(np.float64)
        if nat["band"]:
            y = band_limit(y, *nat["band"])
        i0 = int(round(d["start_s"] * SR)) + int(round(line_late_ms[d["id"]] * SR / 1000))
        spans[d["id"]] = (max(0, i0), min(n, i0 + y.size))
        dlg += place(n, y, i0)
    if isinstance(late_ms, dict) and any(line_late_ms.values()):
        typical = float(np.median(list(line_late_ms.values())))
        flaws.append(
            {
                "kind": "dialogue_late",
                "lines": [d["id"] for d in dialogue_cues],
                "offset_ms": round(typical, 3),
                "offsets_ms": line_late_ms,
                "frames": round(typical / 1000 * FPS, 3),
                "description": f"the lines start {'late' if typical > 0 else 'early'} against the mouth movement, each by its "
                               "own amount (offset_ms is the median)",
            }
        )
    elif not isinstance(late_ms, dict) and int(round(late_ms * SR / 1000)) and dialogue_cues:
        flaws.append(
            {
                "kind": "dialogue_late",
                "lines": [d["id"] for d in dialogue_cues],
                "offset_ms": nat["dialogue_late_ms"],
                "frames": round(nat["dialogue_late_ms"] / 1000 * FPS, 3),
                "description": f"every line starts {'late' if late_ms > 0 else 'early'} against the mouth movement",
            }
        )
    if nat["band"] and dialogue_cues:
        flaws.append(
            {
                "kind": "dialogue_band_limited",
                "lines": [d["id"] for d in dialogue_cues],
                "low_hz": nat["band"][0],
                "high_hz": nat["band"][1],
                "filter": "Butterworth band-pass, order 4, zero phase",
                "description": "telephone-like dialogue: no body below the low edge, no air above the high edge",
            }
        )
    # SFX layer (stereo, panned)
    sfx_l, sfx_r = np.zeros(n), np.zeros(n)
    for e in event_cues:
        if e["id"] in nat["sfx_missing"]:
            continue
        off = nat["sfx_late"].get(e["id"], 0.0)
        y = place(n, sfx_audio[e["clip"].split("/")[-1][:-4]], int(round((e["time_s"] + off / 1000) * SR)))
        g = 10 ** ((e["gain_db"] + 2.0) / 20)
        p = (e["pan"] + 1) * np.pi / 4
        sfx_l += y * g * np.cos(p) * np.sqrt(2)
        sfx_r += y * g * np.sin(p) * np.sqrt(2)
    for eid, off in nat["sfx_late"].items():
        flaws.append({"kind": "sfx_late", "event": eid, "offset_ms": off, "description": "sound starts after the visual event" if off > 0 else "sound starts before the visual event"})
    for eid in nat["sfx_missing"]:
        flaws.append({"kind": "sfx_missing", "event": eid, "description": "the visual event has no sound at all"})
    # ambience
    a = amb[:, 0].astype(np.float64) * 10 ** (nat["ambience_gain_db"] / 20)
    if "ambience_dropout" in nat:
        s0, s1 = nat["ambience_dropout"]
        i0, i1 = int(s0 * SR), int(s1 * SR)
        f = int(0.01 * SR)
        a[i0 : i0 + f] *= np.linspace(1, 0, f)
        a[i0 + f : i1 - f] = 0.0
        a[i1 - f : i1] *= np.linspace(0, 1, f)
        flaws.append(
            {"kind": "ambience_dropout", "start_s": s0, "end_s": s1, "description": "the ambience vanishes for a moment (10 ms fades)"}
        )
    # music: level set from the dialogue-to-music ratio the flaw states: one for the whole render (a number), or
    # one under each line (a dict: the model rides the music up and down, changing level in the gaps between lines)
    # A ridden music is aimed again at what the delivered file holds: the limiter of a loud master takes more off
    # the dialogue's peaks than off the music, so each line's ratio is measured after mastering and the ride corrected.
    dtm = nat.get("dialogue_to_music_lu")
    ask = dict(dtm) if isinstance(dtm, dict) else None
    for _ in range(6 if ask else 1):
        m = mus[:, 0].astype(np.float64)
        if ask:
            m = m * music_ride(m, dlg, spans, ask)
        elif dtm is not None:
            target = lufs(dlg) - dtm
            m = m * 10 ** ((target - lufs(m)) / 20)
        else:
            m = m * 10 ** (nat.get("music_gain_db", 0.0) / 20)
        mix = np.stack([dlg + sfx_l + a + m, dlg + sfx_r + a + m], axis=1)
        # master to the stated loudness (limit peaks, iterate until the stored 16-bit file measures right)
        target = nat["integrated_lufs"]
        gain_db = target - lufs(mix)
        for _ in range(8):
            out, lim_gain = limiter(mix * 10 ** (gain_db / 20))
            got = lufs(q16(out))
            if abs(got - target) < 0.005:
                break
            gain_db += target - got
        g_lin = 10 ** (gain_db / 20)
        # the layers as they are in the delivered file: after the master gain and the limiter
        by_line = ({lid: lufs((dlg * g_lin * lim_gain)[i0:i1]) - lufs((m * g_lin * lim_gain)[i0:i1]) for lid, (i0, i1) in spans.items()}
                   if dialogue_cues and (dtm is not None or nat.get("music_gain_db") is not None) else None)
        if not ask or max(abs(dtm[k] - by_line[k]) for k in dtm) < 0.02:
            break
        ask = {k: ask[k] + dtm[k] - by_line[k] for k in ask}
    out = q16(out)
    measured = lufs(out)
    by_line = {k: round(v, 2) for k, v in by_line.items()} if by_line else by_line
    if dtm is not None:
        ratio = lufs(dlg * g_lin * lim_gain) - lufs(m * g_lin * lim_gain)
        flaw = {
            "kind": "music_masks_dialogue",
            "dialogue_to_music_lu": round(ratio, 2),
            "recommended_min_lu": 10.0,
            "description": "music sits only a few LU under the dialogue and covers words",
        }
        if isinstance(dtm, dict):
            flaw["by_line_lu"] = by_line
            flaw["description"] = "music rides a few LU under the dialogue, by its own amount under each line, and covers words"
        flaws.append(flaw)
    flaws.append(
        {
            "kind": "loudness_off_target",
            "integrated_lufs": round(measured, 2),
            "target_lufs": -14.0,
            "description": "loudness far from the streaming delivery target",
        }
    )
    ratio_flaw = [f for f in flaws if f["kind"] == "music_masks_dialogue"]
    dropout = nat.get("ambience_dropout")
    info = {
        "integrated_lufs": round(measured, 2),
        # the true answers of an audit of this render, as flat mappings a grader can point at
        "truth": {
            "dialogue_offset_ms": dict(line_late_ms),
            "sfx_offset_ms": {e["id"]: nat["sfx_late"].get(e["id"], 0.0) for e in event_cues if e["id"] not in nat["sfx_missing"]},
            "sfx_missing": list(nat["sfx_missing"]),
            "integrated_lufs": round(measured, 2),
            "dialogue_to_music_lu": ratio_flaw[0]["dialogue_to_music_lu"] if ratio_flaw else None,
            "dialogue_to_music_lu_by_line": by_line,
            "dialogue_band_hz": list(nat["band"]) if nat["band"] and dialogue_cues else None,
            "ambience_dropout_s": list(dropout) if dropout else None,
        },
    }
    return out, flaws, info


# ---------------------------------------------------------------- figures, README, LICENSE


def contact_sheet(scene_id: str, cues: dict) -> Path:
    """A grid of frames: evenly spaced ones and every event frame, each with its timestamp."""
    from PIL import Image, ImageDraw

    vid = SCENES / scene_id / "video.mp4"
    frames = video.decode_rgb(vid)
    picks = [(f, "") for f in (0, N_FRAMES // 2, N_FRAMES - 1)]
    picks += [(d["frame"] + 2, d["id"]) for d in cues["dialogue"]][:3]
    picks += [(e["frame"], e["id"]) for e in cues["events"]]
    picks += [(f, "") for f in range(N_FRAMES // 8, N_FRAMES, N_FRAMES // 8)]
    keep: dict[int, str] = {}
    for f, lab in picks:
        if len(keep) < 16 and all(abs(f - g) > 2 for g in keep):
            keep[f] = lab
    picks = sorted(keep.items())
    cols, tw, th = 4, 320, 180
    rows = (len(picks) + cols - 1) // cols
    sheet = Image.new("RGB", (cols * tw, rows * (th + 18)), (255, 255, 255))
    d = ImageDraw.Draw(sheet)
    for i, (f, lab) in enumerate(picks):
        im = Image.fromarray(frames[f]).resize((tw, th), Image.BILINEAR)
        x, y = (i % cols) * tw, (i // cols) * (th + 18)
        sheet.paste(im, (x, y + 18))
        d.text((x + 4, y + 2), f"frame {f}  {f / FPS:.3f} s  {lab}", font=video.font(12), fill=(0, 0, 0))
    out = ASSETS / "figures" / f"{scene_id}_contact.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(out, optimize=True)
    return out


def native_plot(scene_id: str, cues: dict) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x, _ = sf.read(str(SCENES / scene_id / "native.wav"), dtype="float32", always_2d=True)
    t = np.arange(len(x)) / SR
    fig, (a1, a2) = plt.subplots(2, 1, figsize=(10, 5.2), sharex=True, gridspec_kw={"height_ratios": [1, 1.4]})
    step = 40
    a1.plot(t[::step], x[::step, 0], lw=0.4, color="tab:blue", label="L")
    a1.plot(t[::step], x[::step, 1], lw=0.4, color="tab:orange", alpha=0.6, label="R")
    a1.set_ylim(-1.05, 1.05)
    a1.set_ylabel("amplitude")
    for e in cues["events"]:
        a1.axvline(e["time_s"], color="k", lw=0.8, ls="--")
        a1.text(e["time_s"], 1.07, e["id"], fontsize=7, rotation=30, ha="left", va="bottom")
    for dl in cues["dialogue"]:
        a1.axvspan(dl["start_s"], dl["end_s"], color="tab:green", alpha=0.12)
    flaws = "; ".join(_flaw_text(f) for f in cues["native"]["flaws"])
    a1.set_title(f"{scene_id}: native render ({cues['native']['integrated_lufs']} LUFS)\n{flaws}", fontsize=8, pad=26)
    f, tt, S = signal.spectrogram(x.mean(axis=1), fs=SR, nperseg=2048, noverlap=1536)
    a2.pcolormesh(tt, f / 1000, 10 * np.log10(S + 1e-12), shading="auto", cmap="magma", vmin=-130, vmax=-40, rasterized=True)
    a2.set_ylim(0, 12)
    a2.set_ylabel("kHz")
    a2.set_xlabel("time (s)  -  dashed: visual events, green: dialogue cues")
    for e in cues["events"]:
        a2.axvline(e["time_s"], color="w", lw=0.6, ls="--")
    fig.tight_layout()
    out = ASSETS / "figures" / f"{scene_id}_native.png"
    fig.savefig(out, dpi=72, metadata={"Software": None})
    plt.close(fig)
    return out


def _flaw_text(f: dict) -> str:
    k = f["kind"]
    if k == "dialogue_late":
        return f"dialogue late {f['offset_ms']:g} ms"
    if k == "sfx_late":
        return f"{f['event']} late {f['offset_ms']:g} ms"
    if k == "sfx_missing":
        return f"{f['event']} missing"
    if k == "dialogue_band_limited":
        return f"dialogue {f['low_hz']:g}-{f['high_hz']:g} Hz"
    if k == "music_masks_dialogue":
        return f"dialogue only {f['dialogue_to_music_lu']:g} LU over music"
    if k == "ambience_dropout":
        return f"ambience drops out {f['start_s']:g}-{f['end_s']:g} s"
    if k == "loudness_off_target":
        return f"{f['integrated_lufs']:g} LUFS (target {f['target_lufs']:g})"
    return k


LICENSE_TEXT = """Layer Lab scene library - licence
=================================

Everything under assets/scenes/ and assets/figures/ was generated by the
build script in this folder (python -m assets.build) from code alone:

- speech: eSpeak NG formant synthesis (espeakng-loader package), text written
  for this project;
- sound effects, ambience and music: additive/subtractive synthesis and shaped
  noise in assets/synth.py;
- pictures: flat shapes drawn with Pillow in assets/video.py; captions and
  labels are rendered with the DejaVu Sans font shipped with matplotlib (its
  licence allows rendering text with it in any document or image).

No recordings, samples, stock media or model outputs were used. eSpeak NG
itself is GPL-3.0 software used as a tool; the speech it renders from the
project's own text is not covered by its licence.

The generated media (WAV, MP4, PNG, JSON) are dedicated to the public domain
under CC0 1.0 Universal: https://creativecommons.org/publicdomain/zero/1.0/
To the extent possible under law, the Layer Lab authors have waived all
copyright and related or neighbouring rights to them.

The build scripts themselves (*.py in this folder) are part of Layer Lab and
under the project's MIT licence.
"""


def write_readme(all_cues: list[dict]) -> None:
    parts = [
        "# Layer Lab scene library",
        "",
        "Three 20-second scenes made entirely by code (`python -m assets.build`, under a minute),",
        "each matching a row of the lesson's decision table. Licence: CC0 (see `LICENSE`).",
        "",
        "Every scene folder `scenes/<scene_id>/` holds:",
        "",
        "- `video.mp4` - the picture only (640x360, 24 fps, H.264). Every visual event in the cue sheet",
        "  changes a small pixel box (`region`) on its cue frame, so frame differencing finds it.",
        "- `native.wav` / `native.mp4` - what a video model's native audio would give: one premixed",
        "  stereo 48 kHz track with flaws. `cues.json` lists each flaw with its true value.",
        "- `postgen/` - the separate layers a learner mixes: `dialogue/` (one eSpeak NG line per file,",
        "  -23 LUFS), `sfx/` (one-shots starting at their first sample), `ambience/` (a bed as long as the",
        "  scene, -30 LUFS) and `music/` (a structured bed, -23 LUFS). All mono 16-bit 48 kHz: WAV for",
        "  lines and one-shots, FLAC (lossless, half the bytes) for the 20-second beds, which",
        "  `layerlab.load_audio`, `LayerStack.add` and soundfile read directly.",
        "- `cues.json` - scenario, events (`time_s`, `frame`, `region`, `clip`, suggested `gain_db`, `pan`),",
        "  dialogue (`start_s`, `end_s`, `text`, `speaker`), beds, music sections, `scene_changes`,",
        "  the delivery target and the native render's flaws.",
        "",
        "Use them from Python or the command line:",
        "",
        "```python",
        "from layerlab.mix.scenes import list_scenes, load_scene, hybrid_stack",
        "scene = load_scene(\"cafe_dialogue\")        # cue sheet parsed and validated",
        "door = scene.load_clip(scene.cues.event(\"door\").clip)   # (n, 1) float32, 48 kHz",
        "reference = hybrid_stack(scene).render()    # every clip on its cue, music ducked, -14 LUFS",
        "```",
        "",
        "`layerlab scenes` lists the library; `layerlab scenes cafe_dialogue` prints its cues and flaws;",
        "`--reference OUT_DIR` writes the reference mix as a deliverable folder.",
        "",
        "`cues.json` > `native.truth` repeats the flaws as flat mappings an audit can be graded against:",
        "`dialogue_offset_ms` and `sfx_offset_ms` per cue (positive = late; missing SFX are listed in",
        "`sfx_missing` instead), `integrated_lufs`, `dialogue_to_music_lu` (and `dialogue_to_music_lu_by_line`,",
        "under each line's own samples), `dialogue_band_hz`,",
        "`ambience_dropout_s`. `tests/project/test_assets.py` measures each of them on the committed files.",
        "",
        "Rebuild: `.venv/bin/python -m assets.build` (all scenes) or `--scene product_demo`. The build is",
        "deterministic (same bytes on every run) and needs no Debian package: speech comes from the",
        "`espeakng-loader` PyPI package, video encoding from `imageio-ffmpeg`'s static ffmpeg.",
        "",
    ]
    for c in all_cues:
        sid = c["scene"]
        parts += [f"## `{sid}` - {c['title']}", "", f"Decision-table row: **{c['scenario']}**.", "", c["description"], ""]
        parts += ["| cue | time | what |", "|---|---|---|"]
        rows = [(e["time_s"], f"`{e['id']}`", e["label"] + f" (`{e['clip']}`)") for e in c["events"]]
        rows += [(d["start_s"], f"`{d['id']}` ({d['speaker']})", f"\"{d['text']}\" ({d['end_s'] - d['start_s']:.2f} s)") for d in c["dialogue"]]
        for t, a, b in sorted(rows):
            parts.append(f"| {a} | {t:.3f} s | {b} |")
        secs = ", ".join(f"{s['name']} {s['start_s']:g}-{s['end_s']:g} s" for s in c["music"]["sections"])
        parts += [
            "",
            f"Ambience: {c['ambience']['description']}. Music: {c['music']['tempo_bpm']:g} BPM, {c['music']['key']}; {secs}.",
            "",
            f"Native render flaws ({c['native']['integrated_lufs']} LUFS integrated):",
            "",
        ]
        parts += [f"- `{f['kind']}`: {_flaw_text(f)} - {f['description']}" for f in c["native"]["flaws"]]
        parts += [
            "",
            f"![{sid} contact sheet](figures/{sid}_contact.png)",
            "",
            f"![{sid} native render](figures/{sid}_native.png)",
            "",
        ]
    (ASSETS / "README.md").write_text("\n".join(parts))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m assets.build", description=__doc__.splitlines()[0])
    p.add_argument("--scene", action="append", help="build only this scene (repeatable)")
    p.add_argument("--no-video", action="store_true", help="skip drawing/encoding the picture (audio and cues only)")
    p.add_argument("--docs-only", action="store_true", help="only rewrite README.md and LICENSE from the committed cue sheets")
    args = p.parse_args(argv)
    if args.docs_only:
        args.scene = []
    specs = [s for s in scene_specs() if not args.scene or s.scene_id in args.scene]
    if args.scene and len(specs) != len(args.scene):
        known = ", ".join(s.scene_id for s in scene_specs())
        print(f"unknown scene in {args.scene}; known: {known}", file=sys.stderr)
        return 2
    for spec in specs if not args.docs_only else []:
        print(f"building {spec.scene_id}")
        cues = build_scene(spec, with_video=not args.no_video)
        if not args.no_video:
            contact_sheet(spec.scene_id, cues)
        native_plot(spec.scene_id, cues)
    all_cues = [json.loads((SCENES / s.scene_id / "cues.json").read_text()) for s in scene_specs() if (SCENES / s.scene_id / "cues.json").exists()]
    write_readme(all_cues)
    (ASSETS / "LICENSE").write_text(LICENSE_TEXT)
    return 0


if __name__ == "__main__":
    sys.exit(main())
