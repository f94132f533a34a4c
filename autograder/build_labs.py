"""Write the three lab notebooks (nbgrader source versions) from this one script.

    .venv/bin/python autograder/build_labs.py        # rewrites labs/*/<lab>.ipynb

The notebooks are the product; this script keeps their nbgrader metadata
(grade ids, points, locked cells) consistent with ``autograder/rubric.json``,
which the out-of-kernel grader reads. Solutions are between
``### BEGIN SOLUTION`` / ``### END SOLUTION``; hidden tests between
``### BEGIN HIDDEN TESTS`` / ``### END HIDDEN TESTS``; mark schemes for the
manually graded answers between ``BEGIN MARK SCHEME`` / ``END MARK SCHEME``.
"""

from __future__ import annotations

import json
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
LABS = ROOT / "labs"
RUBRIC = json.loads((ROOT / "autograder" / "rubric.json").read_text(encoding="utf-8"))


def _meta(grade_id, *, grade=False, solution=False, locked=False, points=None):
    m = {"grade": grade, "grade_id": grade_id, "locked": locked, "schema_version": 3, "solution": solution, "task": False}
    if points is not None:
        m["points"] = points
    return {"nbgrader": m}


def md(text, grade_id=None, **kw):
    cell = nbformat.v4.new_markdown_cell(text.strip("\n"))
    if grade_id:
        cell.metadata.update(_meta(grade_id, **kw))
    return cell


def code(text, grade_id=None, **kw):
    cell = nbformat.v4.new_code_cell(text.strip("\n"))
    if grade_id:
        cell.metadata.update(_meta(grade_id, **kw))
    return cell


def readonly(text, grade_id):
    return code(text, grade_id, locked=True)


def solution(text, grade_id):
    return code(text, grade_id, solution=True)


def test(text, grade_id, points):
    return code(text, grade_id, grade=True, locked=True, points=points)


def manual(text, grade_id, points):
    return md(text, grade_id, grade=True, solution=True, points=points)


def write(nb_cells, name):
    nb = nbformat.v4.new_notebook()
    nb.cells = nb_cells
    nb.metadata = {
        "kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
    }
    folder = LABS / name
    folder.mkdir(parents=True, exist_ok=True)
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"{name[:4]}-{i:02d}"
    nbformat.validate(nb)
    nbformat.write(nb, str(folder / f"{name}.ipynb"))
    return folder / f"{name}.ipynb"


def _points(assignment, grade_id):
    for it in RUBRIC["assignments"][assignment]["items"]:
        if it["grade_id"] == grade_id:
            return it["points"]
    raise KeyError(grade_id)


QUIET = "import warnings\nwarnings.simplefilter(\"ignore\")"

# ----------------------------------------------------------------------------------------- lab 1


def lab1():
    a = "lab1_audit"
    cells = [
        md("""
# Lab 1 - Audit a native render

A video model's *native* audio arrives as one premixed track: dialogue, sound effects, ambience
and music baked together. Before you decide what to keep and what to replace, you **measure**
each layer. This is the lesson-06 exercise done with numbers.

Scene: **`cafe_dialogue`** - two friends at a cafe table, six lines of dialogue, a door that
swings shut twice, two cups set down, cafe room tone and a jazz bed. You have its picture
(`video.mp4`), its native render (`native.mp4` / `native.wav`), the post-generated layers
(`postgen/`) and the cue sheet (when every event happens in the picture).

**What is graded**

| finding | how it is graded | points |
|---|---|---|
| dialogue offset (ms, + = late) | within 20 ms of the true offset | 2 |
| each SFX's offset (ms) | within 20 ms, shared per event | 2 |
| dialogue level over the music (LU) | within 1.5 LU | 2 |
| integrated loudness (LUFS) | within 0.5 LU | 1 |
| which problems the render has | per problem | 2 |
| which layers to replace | per layer | 2 |
| your written judgement | by an instructor, with a mark scheme | 4 |

The numbers are checked against the scene's true flaws by a grader that runs your code again in
a fresh Python process - so measure honestly; the grade comes from your `findings`, not from
what a cell prints.
"""),
        readonly(f"""
{QUIET}
import numpy as np
from layerlab.mix.scenes import load_scene
from layerlab.measure.loudness import integrated_loudness
from layerlab.measure.sync import dialogue_offsets
from layerlab.audit import audit_clip, pair_events, VisualEvent
from layerlab.grading import check_answers

SCENE = "cafe_dialogue"
scene = load_scene(SCENE)
cues = scene.cues
native = scene.load_native()          # (samples, 2) float32 at 48 kHz
print(cues.title, "-", cues.duration_s, "s,", len(cues.dialogue), "lines,", len(cues.events), "events")
""", "lab1_setup"),
        md("""
## 1. A first look: the automatic audit

`audit_clip` measures the clip without a cue sheet: loudness and true peak against the streaming
target, the occupied frequency band, the noise floor, and - from the pictures - the frames where
something suddenly changes, paired with the nearest sound onset. It works on any MP4 (see the
last section). Read the report and note what looks wrong.
"""),
        readonly("""
audit = audit_clip(scene.native_mp4_path)
print(audit.to_text())
audit.plot();
""", "lab1_audit_overview"),
        md("""
## 2. Dialogue: offset against the lips

The cue sheet says where each line must start (`line.start_s`); the post-generated folder has
each line as a clean clip. `layerlab.measure.sync.dialogue_offsets(track, lines, clips)` finds each clip
inside a track by envelope correlation and reports its offset (positive = the sound is late).

Set `dialogue_offset_ms` to the typical offset of the lines in the native render.
"""),
        solution("""
### BEGIN SOLUTION
clips = {line.id: scene.load_clip(line.clip) for line in cues.dialogue}
dsync = dialogue_offsets(native, cues.dialogue, clips)
line_offsets = [e.offset_ms for e in dsync.events if e.offset_ms is not None]
dialogue_offset_ms = float(np.median(line_offsets))
### END SOLUTION
print("dialogue offset:", dialogue_offset_ms, "ms")
""", "lab1_dialogue"),
        md("""
## 3. Sound effects: is each one on its frame?

For each visual event of the cue sheet, find the sound that starts near it in the native render.
The audit's onset detector (`audit.onsets`) works on a full mix; `pair_events` pairs each event
with the strongest onset from 200 ms before to 400 ms after it.

Set `sfx_offsets_ms` to a dict `{event_id: offset_ms}` (use `None` for an event with no sound).
"""),
        solution("""
### BEGIN SOLUTION
cue_events = [VisualEvent(time_s=e.time_s, frame=e.frame, strength=0.0) for e in cues.events]
paired = pair_events(cue_events, audit.onsets)
sfx_offsets_ms = {e.id: (None if p.missing else round(p.offset_ms, 1)) for e, p in zip(cues.events, paired)}
### END SOLUTION
print(sfx_offsets_ms)
""", "lab1_sfx"),
        md("""
## 4. Music against dialogue

Listeners want dialogue at least **10 LU** over the music. In a premix you cannot solo the music,
but you have the same music (and room tone) as clean clips: find how much of each is in the
native track (a least-squares fit of the clips to the track), take it out, and compare the
loudness of what is left (mostly dialogue) with the loudness of the fitted music.

Set `dialogue_to_music_lu` (dialogue loudness minus music loudness, in LU).
"""),
        solution("""
### BEGIN SOLUTION
mid = native.mean(axis=1).astype(np.float64)
music = scene.load_clip(cues.music["clip"])[: mid.size, 0].astype(np.float64)
room = scene.load_clip(cues.ambience["clip"])[: mid.size, 0].astype(np.float64)
beds = np.stack([music, room], axis=1)
gains, *_ = np.linalg.lstsq(beds, mid, rcond=None)
rest = (mid - beds @ gains)[:, None].astype(np.float32)
dialogue_to_music_lu = float(integrated_loudness(rest) - integrated_loudness((gains[0] * music)[:, None].astype(np.float32)))
### END SOLUTION
print("dialogue over music:", round(dialogue_to_music_lu, 1), "LU")
""", "lab1_music"),
        md("""
## 5. Loudness against the delivery target

Measure the integrated loudness (BS.1770) of the native render. The streaming target is
-14 LUFS ±1.
"""),
        solution("""
### BEGIN SOLUTION
integrated_lufs = float(integrated_loudness(native))
### END SOLUTION
print("integrated loudness:", round(integrated_lufs, 2), "LUFS")
""", "lab1_loudness"),
        md("""
## 6. Your findings

Collect what you measured, tick which problems the render has (`True`/`False` for each), and
decide per layer whether to keep the `"native"` audio or replace it with a `"post"`-generated
layer. Listen before you decide: `scene.native_wav_path` and the clips in `postgen/`.
"""),
        solution("""
### BEGIN SOLUTION
findings = {
    "dialogue_offset_ms": dialogue_offset_ms,
    "sfx_offsets_ms": sfx_offsets_ms,
    "dialogue_to_music_lu": dialogue_to_music_lu,
    "integrated_lufs": integrated_lufs,
    "issues": {
        "dialogue_late": True,
        "dialogue_band_limited": True,
        "sfx_late": True,
        "sfx_missing": False,
        "music_masks_dialogue": True,
        "loudness_off_target": True,
        "ambience_dropout": False,
    },
    "replace": {"dialogue": "post", "sfx": "post", "ambience": "native", "music": "post"},
}
### END SOLUTION
""", "lab1_findings"),
        md("""
### Self-check

Checks that the grader can read your findings (complete, right types). Working on your own,
without an instructor? Add `grade=True` to see the grader's verdict on each finding (it never
shows the true values).
"""),
        readonly("""check_answers({"findings": findings}, assignment="lab1_audit");""", "lab1_selfcheck"),
        md("### Graded: dialogue offset"),
        test(_answer_test(a, "audit_dialogue_offset", 'findings["dialogue_offset_ms"]', "number"), "audit_dialogue_offset",
             _points(a, "audit_dialogue_offset")),
        md("### Graded: SFX offsets"),
        test(_answer_test(a, "audit_sfx_offsets", 'findings["sfx_offsets_ms"]', "dict"), "audit_sfx_offsets",
             _points(a, "audit_sfx_offsets")),
        md("### Graded: dialogue over music"),
        test(_answer_test(a, "audit_music_level", 'findings["dialogue_to_music_lu"]', "number"), "audit_music_level",
             _points(a, "audit_music_level")),
        md("### Graded: integrated loudness"),
        test(_answer_test(a, "audit_loudness", 'findings["integrated_lufs"]', "number"), "audit_loudness",
             _points(a, "audit_loudness")),
        md("### Graded: problems found"),
        test(_answer_test(a, "audit_issues", 'findings["issues"]', "dict"), "audit_issues", _points(a, "audit_issues")),
        md("### Graded: layers to replace"),
        test(_answer_test(a, "audit_replace", 'findings["replace"]', "dict"), "audit_replace", _points(a, "audit_replace")),
        md("""
## 7. Your judgement (graded by an instructor)

In a short paragraph per layer (dialogue, SFX, ambience, music) say what the native render does
well or badly - cite your numbers - and whether you keep it or replace it, and why. End with one
sentence on the loudness.
"""),
        manual("""
YOUR ANSWER HERE

BEGIN MARK SCHEME
4 points, 1 per criterion:
- Dialogue: names the ~125 ms late start (3 frames at 24 fps, outside the EBU R37 window of
  +60 ms) and the telephone-like band (no body under ~300 Hz, no air over ~3.4 kHz); replaces it.
- SFX: names the cup at 5.25 s as ~80 ms late while the doors and the second cup are on their
  frames; replaces the SFX layer (or re-times that one effect) rather than regenerating everything.
- Music: dialogue only ~3 LU over the music (the guideline is at least 10 LU), so words are
  masked; a premix cannot be re-balanced, so the music is replaced and ducked.
- Ambience and loudness: the room tone has no measured problem (keeping it is defensible if the
  learner explains how, e.g. as the native bed under new layers, or notes that a premix cannot be
  split cleanly); the render is ~4 LU under the -14 LUFS target and is fixed at the master.
END MARK SCHEME
""", "lab1_judgement", 4),
        md("""
## Audit your own clip (not graded)

Generate a short clip with native audio in any video model (Veo, Runway, Kling, Sora ...),
download the MP4 and put its path below. The same audit runs on it: loudness and true peak,
band limits, noise floor, and each visual event with the offset of the nearest sound. On your
own clip there is no cue sheet, so these are estimates - check them by ear and eye.
"""),
        code("""
MY_CLIP = None   # e.g. "my_veo_clip.mp4"
if MY_CLIP:
    mine = audit_clip(MY_CLIP)
    print(mine.to_text())
    mine.plot();
"""),
    ]
    return write(cells, a)


def _answer_test(assignment, grade_id, expr, kind):
    what = "a number" if kind == "number" else "a dict"
    check = f"isinstance({expr}, (int, float)) and not isinstance({expr}, bool)" if kind == "number" else f"isinstance({expr}, dict)"
    visible = f"assert {check}, {repr(expr + ' must be ' + what)}"
    var = expr.split("[", 1)[0]
    return f"""
{visible}
### BEGIN HIDDEN TESTS
from layerlab.grading import assignment_spec as _spec, score_answers as _score
_item = {{i.grade_id: i for i in _score({{"{var}": {var}}}, _spec("{assignment}"))}}["{grade_id}"]
assert _item.passed, _item.message
### END HIDDEN TESTS
"""


# ----------------------------------------------------------------------------------------- lab 2

LAB2_SOLUTION = """
### BEGIN SOLUTION
# Levels relative to the cue sheet's suggested gains, in dB
SFX_TRIM_DB = -6.0          # the doors are loud: keep the master limiter gentle
AMBIENCE_TRIM_DB = -3.0     # room tone at least 15 LU under the dialogue
MUSIC_TRIM_DB = 0.0
SFX_NUDGE_S = {}            # per-event timing corrections in seconds, e.g. {"cup_a": -0.01}
DUCK = True
TARGET_LUFS = -14.0         # streaming delivery

stack = LayerStack(duration_s=cues.duration_s)
for line in cues.dialogue:
    stack.add("dialogue", scene.clip_path(line.clip), start_s=line.start_s, gain_db=line.gain_db, name=line.id)
for ev in cues.events:
    stack.add("sfx", scene.clip_path(ev.clip), start_s=ev.time_s + SFX_NUDGE_S.get(ev.id, 0.0),
              gain_db=ev.gain_db + SFX_TRIM_DB, name=ev.id)
stack.add("ambience", scene.clip_path(cues.ambience["clip"]), start_s=0.0, gain_db=cues.ambience["gain_db"] + AMBIENCE_TRIM_DB, name="room")
stack.add("music", scene.clip_path(cues.music["clip"]), start_s=0.0, gain_db=cues.music["gain_db"] + MUSIC_TRIM_DB,
          fade_in_ms=500.0, fade_out_ms=1000.0, name="score")
stack.ducking = Ducking(depth_db=10.0, threshold_db=-40.0, attack_ms=80.0, release_ms=400.0, hold_ms=250.0,
                        lookahead_ms=40.0) if DUCK else None
stack.master = Master(target_lufs=TARGET_LUFS, ceiling_dbtp=-1.5, attack_ms=5.0, release_ms=1500.0)
### END SOLUTION
"""

LAB2_CHECKS = [
    ("check_sync", "sync", "every sound effect within the EBU R37 window (-40..+60 ms) of its visual event"),
    ("check_dialogue_sync", "dialogue_sync", "every line within the EBU R37 window of its cue"),
    ("check_loudness", "loudness", "integrated loudness -14 LUFS ±1 (streaming)"),
    ("check_true_peak", "true_peak", "true peak at or under -1 dBTP"),
    ("check_masking", "masking", "dialogue at least 10 LU over the music and 15 LU over the ambience"),
    ("check_band_audibility", "band_audibility", "dialogue audible over the rest in the speech bands (index at least 0.75)"),
    ("check_ducking", "ducking", "music at least 6 dB down under dialogue, with no gain steps"),
    ("check_ambience_continuity", "ambience_continuity", "the room tone runs without dropouts or jumps"),
    ("check_dialogue_noise_floor", "dialogue_noise_floor", "a clean dialogue stem: quiet between lines, never clipped"),
]


def lab2():
    a = "lab2_hybrid_mix"
    rows = "\n".join(f"| `{name}` | {what} | {_points(a, gid)} |" for gid, name, what in LAB2_CHECKS)
    cells = [
        md(f"""
# Lab 2 - Build the hybrid mix

In lab 1 you found what the native render of `cafe_dialogue` gets wrong: late, telephone-like
dialogue; a cup that lands 80 ms after its frame; music that buries the words; a level far under
the delivery target. Now you fix it: keep what works, replace what does not with the
post-generated clips in `postgen/` (dialogue lines, SFX at their events, room tone, music), duck
the music under the dialogue, hit the streaming target, and export the deliverable folder.

**What is graded** - the grader measures your exported files (`deliverable/mix.wav` and the four
stems), in its own process; each check is worth:

| check | passes when | points |
|---|---|---|
{rows}

If the files are unreadable, the wrong format, or the stems do not add up to the mix, nothing
else can be trusted and every check scores zero.

**Self-check**: `self_check()` runs the grader's checks on your current deliverable and shows
the same report - use it as often as you like.
"""),
        readonly(f"""
{QUIET}
from layerlab.mix.scenes import load_scene
from layerlab.mix.stack import LayerStack
from layerlab.mix.ducking import Ducking
from layerlab.mix.master import Master
from layerlab.mix.session import export_deliverable
from layerlab.grading import self_check

SCENE = "cafe_dialogue"
DELIVERABLE = "deliverable"
scene = load_scene(SCENE)
cues = scene.cues
for line in cues.dialogue:
    print(f"{{line.start_s:6.3f}} s  {{line.id}}  {{line.text}}")
for ev in cues.events:
    print(f"{{ev.time_s:6.3f}} s  {{ev.id}}  {{ev.label}}")
""", "lab2_setup"),
        md("""
## 1. Keep or replace?

The native render is one premixed track, so it cannot be kept layer by layer: anything you keep
from it brings its late dialogue and its loud music along. In this scene the audit found a
problem in every layer except the room tone - and the post-generated room tone has the same
character, on its own stem, where you can set its level. Build the mix from the post-generated
layers, and use the native render as your reference for timing and feel.

## 2. Build the stack

Place every dialogue line at its `start_s`, every sound effect at its event's `time_s`, the room
tone and the music under the whole scene. Then set ducking (music under dialogue) and the master
(loudness target and true-peak ceiling). Your stack must be called `stack`.

The tools (lesson 07 shows each one):

```python
stack = LayerStack(duration_s=cues.duration_s)
stack.add("sfx", scene.clip_path(ev.clip), start_s=ev.time_s, gain_db=ev.gain_db, name=ev.id)
stack.add("music", scene.clip_path(cues.music["clip"]), start_s=0.0, gain_db=-10.0, fade_in_ms=500.0)
stack["music"].gain_db = -3.0                    # a layer's fader
stack.ducking = Ducking(depth_db=..., threshold_db=..., attack_ms=..., release_ms=..., hold_ms=..., lookahead_ms=...)
stack.master = Master(target_lufs=..., ceiling_dbtp=...)
```

The cue sheet's `gain_db` values are a starting point, not the answer: listen
(`layerlab.course.playback.play(stack.render().mix)`), self-check, adjust.
"""),
        solution(LAB2_SOLUTION, "lab2_mix"),
        md("## 3. Export the deliverable"),
        readonly("""
render = stack.render()
export_deliverable(stack, DELIVERABLE, render=render)
print("exported", DELIVERABLE, "-", render.duration_s, "s")
""", "lab2_export"),
        md("""
## 4. Self-check

The same checks and figures the grader uses. Fix what fails, re-run the cells above, check again.
"""),
        code("report = self_check(deliverable=DELIVERABLE)"),
    ]
    for gid, name, what in LAB2_CHECKS:
        cells.append(md(f"### Graded: `{name}` - {what}"))
        cells.append(test(f"""
self_check("{name}", deliverable=DELIVERABLE, figures=True)
### BEGIN HIDDEN TESTS
assert self_check("{name}", deliverable=DELIVERABLE, show=False).items[0].passed
### END HIDDEN TESTS
""", gid, _points(a, gid)))
    return write(cells, a)


# ----------------------------------------------------------------------------------------- lab 3


def lab3():
    a = "lab3_choose_approach"
    data = json.loads((LABS / a / "scenarios.json").read_text(encoding="utf-8"))
    expected = {it["label"]: it["expected"] for it in RUBRIC["assignments"][a]["items"]}
    cells = [
        md("""
# Lab 3 - Choose the approach

Six new briefs, none of them from the lesson's table. For each one, an audit of the video
model's native render is summarised per layer. Decide, **per layer**, whether to keep the
`"native"` audio, replace it with a `"post"`-generated layer, or leave it out (`"none"`, only when
the brief has no such layer), and name the overall approach: `"native"` (everything kept),
`"post"` (everything replaced) or `"hybrid"` (some of each).

**What is graded**: your choices, per scenario (2 points, shared by the five answers), by the
grader; your justification for each scenario (2 points) by an instructor.
"""),
        readonly(f"""
{QUIET}
import json
from pathlib import Path
from layerlab.grading import check_answers

SCENARIOS = json.loads(Path("scenarios.json").read_text(encoding="utf-8"))["scenarios"]
print([s["id"] for s in SCENARIOS])
""", "lab3_setup"),
    ]
    for s in data["scenarios"]:
        audit = "\n".join(f"- **{layer}**: {s['audit'][layer]}" for layer in data["layers"])
        cells.append(md(f"## `{s['id']}` - {s['title']}\n\n{s['brief']}\n\n**Audit of the native render**\n\n{audit}"))
    sol = "choices = {\n" + "".join(
        f'    "{sid}": {json.dumps(exp)},\n' for sid, exp in expected.items()) + "}"
    cells += [
        md("## Your choices\n\nFill in every scenario: `approach` and the four layers."),
        solution(f"""
### BEGIN SOLUTION
{sol}
### END SOLUTION
""", "lab3_choices"),
        md("### Self-check\n\nComplete and well-formed? Working on your own, without an instructor? "
           "Add `grade=True` to see the grader's verdict on each scenario."),
        readonly("""check_answers({"choices": choices}, assignment="lab3_choose_approach");""", "lab3_selfcheck"),
    ]
    schemes = {
        "news_explainer": "Script control decides the narration (post); SFX and ambience already measure well (keep native); music masks the narration at 4 LU and cannot be re-balanced in a premix (post). Hybrid.",
        "surf_reel": "No speech, no music wanted; the SFX and ambience are in sync and continuous; tonight's deadline favours speed. Native.",
        "game_trailer": "The established character voice and the licensed score must be used (post); the SFX measure well (keep); the 1.2 s ambience dropout with no scene change breaks the bed (post). Hybrid.",
        "language_course": "Three languages with a script-exact narration, missing/late clicks, an inconsistent room tone and required brand music: every layer must be controlled and repeatable across versions. Post.",
        "pitch_vox_pop": "Internal concept, due in an hour; dialogue measures in sync and clear, SFX and ambience fine, no music. Native (speed over polish).",
        "museum_installation": "SFX measure well (keep); the bed must loop without a jump (post-generated, loopable); baked-in music cannot duck under a later voice track (post). No dialogue in the loop. Hybrid.",
    }
    for s in data["scenarios"]:
        sid = s["id"]
        cells.append(md(f"### Graded: choices for `{sid}`"))
        cells.append(test(_answer_test(a, f"choice_{sid}", f'choices["{sid}"]', "dict"), f"choice_{sid}",
                          _points(a, f"choice_{sid}")))
        cells.append(md(f"**Justify your choices for `{sid}`** (cite the audit; 2-4 sentences)."))
        cells.append(manual(f"""
YOUR ANSWER HERE

BEGIN MARK SCHEME
2 points: 1 for tying each replaced layer to a measured problem or a hard requirement of the brief,
1 for explaining why the kept layers are good enough (or why speed wins). Expected reasoning:
{schemes[sid]}
END MARK SCHEME
""", f"justify_{sid}", 2))
    return write(cells, a)


if __name__ == "__main__":
    for f in (lab1, lab2, lab3):
        print("wrote", f())
