# %% [markdown]
# # Lab 1 - Audit a native render
#
# A video model's *native* audio arrives as one premixed track: dialogue, sound effects, ambience
# and music baked together. Before you decide what to keep and what to replace, you **measure**
# each layer. This is the lesson-06 exercise done with numbers.
#
# Scene: **`cafe_dialogue`** - two friends at a cafe table, six lines of dialogue, a door that
# swings shut twice, two cups set down, cafe room tone and a jazz bed. You have its picture
# (`video.mp4`), its native render (`native.mp4` / `native.wav`), the post-generated layers
# (`postgen/`) and the cue sheet (when every event happens in the picture).
#
# **What is graded**
#
# | finding | how it is graded | points |
# |---|---|---|
# | each line's dialogue offset (ms, + = late, - = early) | every line within 10 ms | 2 |
# | each SFX's offset (ms, in sync or not; `None` if it is missing) | every event within 10 ms | 2 |
# | dialogue level over the music under each line (LU) | every line within 0.75 LU | 2 |
# | integrated loudness (LUFS) | within 0.2 LU (two BS.1770 meters agree to 0.1 LU) | 1 |
# | which problems the render has | per problem | 2 |
# | which layers to replace | per layer | 2 |
# | your written judgement | by an instructor, with a mark scheme | 4 |
#
# Not every layer is flawed: a render may have an SFX missing or none, music well under the
# dialogue, loudness on target. A layer with no measured flaw is kept native.
#
# The numbers are checked against the scene's true flaws by a grader that runs your code again in
# a fresh Python process - so measure honestly; the grade comes from your `findings`, not from
# what a cell prints.

# %% role="readonly" grade_id="lab1_setup"
import warnings
warnings.simplefilter("ignore")
import numpy as np
from scipy import signal
from layerlab.mix.scenes import load_scene
from layerlab.measure.loudness import integrated_loudness
from layerlab.measure.sync import dialogue_offsets
from layerlab.audit import audit_clip, pair_events, VisualEvent
from layerlab.course.variants import use_learner_variant
from layerlab.grading import check_answers

SCENE = "cafe_dialogue"
VARIANT = use_learner_variant()   # in an assessed course: your own variant, with flaws of its own (None: the teaching scene)
if VARIANT is not None:
    print("your own variant of", SCENE, "- its flaws are its own, not those of the teaching scene in the lessons")
scene = load_scene(SCENE)
cues = scene.cues
native = scene.load_native()          # (samples, 2) float32 at 48 kHz
print(cues.title, "-", cues.duration_s, "s,", len(cues.dialogue), "lines,", len(cues.events), "events")

# %% [markdown]
# ## 1. A first look: the automatic audit
#
# `audit_clip` measures the clip without a cue sheet: loudness and true peak against the streaming
# target, the occupied frequency band, the noise floor, and - from the pictures - the frames where
# something suddenly changes, paired with the nearest sound onset. It works on any MP4 (see the
# last section). Read the report and note what looks wrong.

# %% role="readonly" grade_id="lab1_audit_overview"
audit = audit_clip(scene.native_mp4_path)
print(audit.to_text())
audit.plot();

# %% [markdown]
# ## 2. Dialogue: offset against the lips
#
# The cue sheet says where each line must start (`line.start_s`); the post-generated folder has
# each line as a clean clip. `layerlab.measure.sync.dialogue_offsets(track, lines, clips)` finds each clip
# inside a track by envelope correlation and reports its offset (positive = the sound is late).
# A model's native audio can drift: each line may be off by its own amount, so measure every line.
#
# Set `dialogue_offsets_ms` to a dict `{line_id: offset_ms}` with every line of the cue sheet.

# %% role="solution" grade_id="lab1_dialogue"
### BEGIN SOLUTION
clips = {line.id: scene.load_clip(line.clip) for line in cues.dialogue}
dsync = dialogue_offsets(native, cues.dialogue, clips)
dialogue_offsets_ms = {e.id: e.offset_ms for e in dsync.events}
### END SOLUTION
print("dialogue offsets (ms):", dialogue_offsets_ms)

# %% [markdown]
# ## 3. Sound effects: is each one on its frame?
#
# For each visual event of the cue sheet, find the sound that starts near it in the native render.
# The audit's onset detector (`audit.onsets`) works on a full mix; `pair_events` pairs each event
# with an onset from 200 ms before to 250 ms after it - but a word or a beat starting
# nearby can be stronger than a cup. You have each effect as a clean clip, so you can do better:
# slide the clip along the track near its event and take the lag where they match best (normalised
# cross-correlation, a matched filter). A match near 0 means the sound is not there.
#
# Set `sfx_offsets_ms` to a dict `{event_id: offset_ms}` (use `None` for an event with no sound).

# %% role="solution" grade_id="lab1_sfx"
### BEGIN SOLUTION
SR = 48_000
mid = native.mean(axis=1).astype(np.float64)
sfx_offsets_ms = {}
for e in cues.events:
    clip = scene.load_clip(e.clip)[:, 0].astype(np.float64)
    i0 = max(0, int((e.time_s - 0.3) * SR))
    seg = np.concatenate([mid, np.zeros(clip.size)])[i0:int((e.time_s + 0.4) * SR) + clip.size]  # a late sound may run past the end
    xc = signal.correlate(seg, clip, mode="valid", method="fft")
    energy = np.convolve(seg ** 2, np.ones(clip.size), mode="valid")
    ncc = xc / (np.sqrt(energy * (clip @ clip)) + 1e-20)
    k = int(np.argmax(ncc))
    sfx_offsets_ms[e.id] = None if ncc[k] < 0.1 else round(((i0 + k) / SR - e.time_s) * 1000, 1)
### END SOLUTION
print(sfx_offsets_ms)

# %% [markdown]
# ## 4. Music against dialogue
#
# Listeners want dialogue at least **10 LU** over the music, under every line. In a premix you
# cannot solo the music, but you have the same music (and room tone, effects and lines) as clean
# clips: find how much of each is in the native track (a least-squares fit of the clips to the
# track), take the beds out, and compare the loudness of what is left (mostly dialogue) with the
# loudness of the fitted music. A model may ride the music up and down: it holds a level under each
# line and changes it in the middle of the gaps between lines. So fit the music line by line, from
# the middle of the gap before a line to the middle of the gap after it (where section 2 found the
# lines); put the line's clean clip in the fit too, so that the words do not pull the music's gain,
# and the effects you found in section 3, so that a cup is not counted as speech. Then compare the
# loudness of what is left with the fitted music's over the line's own samples.
#
# Set `dialogue_to_music_lu` to a dict `{line_id: LU}` (dialogue loudness minus music loudness
# under that line).

# %% role="solution" grade_id="lab1_music"
### BEGIN SOLUTION
SR = 48_000
mid = native.mean(axis=1).astype(np.float64)
music = scene.load_clip(cues.music["clip"])[: mid.size, 0].astype(np.float64)
room = scene.load_clip(cues.ambience["clip"])[: mid.size, 0].astype(np.float64)

def placed(clip, start_s):
    """A mono clip placed at ``start_s`` in a track as long as the native render."""
    out = np.zeros(mid.size)
    i = int(round(start_s * SR))
    a, b = max(0, i), min(mid.size, i + clip.shape[0])
    if b > a:
        out[a:b] = clip[a - i:b - i, 0]
    return out

effects = [placed(scene.load_clip(e.clip), e.time_s + sfx_offsets_ms[e.id] / 1000)
           for e in cues.events if sfx_offsets_ms[e.id] is not None]
spans = {}                                         # each line's samples in the render, where section 2 found it
for line in cues.dialogue:
    i0 = int(round((line.start_s + dialogue_offsets_ms[line.id] / 1000) * SR))
    spans[line.id] = (max(0, i0), min(mid.size, i0 + clips[line.id].shape[0]))
order = sorted(spans, key=lambda lid: spans[lid][0])
ramp = int(0.025 * SR)                             # stay clear of the level change in the middle of a gap
dialogue_to_music_lu = {}
for k, lid in enumerate(order):
    i0, i1 = spans[lid]
    a = 0 if k == 0 else (spans[order[k - 1]][1] + i0) // 2 + ramp                  # the music holds its level from
    b = mid.size if k == len(order) - 1 else (i1 + spans[order[k + 1]][0]) // 2 - ramp  # gap to gap
    words = placed(clips[lid], i0 / SR)
    cols = [music, room, words] + [fx for fx in effects if fx[a:b].any()]
    gains, *_ = np.linalg.lstsq(np.stack([c[a:b] for c in cols], axis=1), mid[a:b], rcond=None)
    rest = (mid[i0:i1] - gains[0] * music[i0:i1] - gains[1] * room[i0:i1])[:, None].astype(np.float32)
    fitted_music = (gains[0] * music[i0:i1])[:, None].astype(np.float32)
    dialogue_to_music_lu[lid] = round(float(integrated_loudness(rest) - integrated_loudness(fitted_music)), 2)
### END SOLUTION
print("dialogue over music (LU):", dialogue_to_music_lu)

# %% [markdown]
# ## 5. Loudness against the delivery target
#
# Measure the integrated loudness (BS.1770) of the native render. The streaming target is
# -14 LUFS ±1.

# %% role="solution" grade_id="lab1_loudness"
### BEGIN SOLUTION
integrated_lufs = float(integrated_loudness(native))
### END SOLUTION
print("integrated loudness:", round(integrated_lufs, 2), "LUFS")

# %% [markdown]
# ## 6. Band limits and dropouts
#
# Two problems hide in a premix: dialogue cut to a narrow band (telephone-like), and room tone that
# vanishes for a moment. You have the clean layers, so fit them to the native track **band by
# band**: in a band where the native dialogue was cut away, the clean lines fit with a gain far
# under their gain in the speech band. For the room tone, fit its gain in short sliding windows
# (music and dialogue taken out first): where it drops out, the gain falls to about zero.
#
# Set `band_low_db` and `band_high_db` (the dialogue's gain under 170 Hz and over 5.5 kHz, relative
# to the speech band, in dB) and `dropouts_s` (a list of `(start_s, end_s)`).

# %% role="solution" grade_id="lab1_band_dropout"
### BEGIN SOLUTION
SR = 48_000
dlg = np.zeros(mid.size)
for line in cues.dialogue:
    y = clips[line.id][:, 0].astype(np.float64)
    i = int(round((line.start_s + dialogue_offsets_ms[line.id] / 1000) * SR))
    dlg[i:i + y.size] += y[: max(0, mid.size - i)]

def band_gain_db(lo_hz, hi_hz):
    sos = signal.butter(4, [lo_hz, hi_hz], btype="bandpass", fs=SR, output="sos")
    A = np.stack([signal.sosfiltfilt(sos, r) for r in (dlg, music, room)], axis=1)
    g, *_ = np.linalg.lstsq(A, signal.sosfiltfilt(sos, mid), rcond=None)
    return 20 * np.log10(abs(g[0]) + 1e-9)

speech_db = band_gain_db(800.0, 2000.0)
band_low_db, band_high_db = band_gain_db(90.0, 170.0) - speech_db, band_gain_db(5500.0, 8000.0) - speech_db

g3, *_ = np.linalg.lstsq(np.stack([music, room, dlg], axis=1), mid, rcond=None)
left = mid - g3[0] * music - g3[2] * dlg                      # room tone, SFX and what the fit missed
win, hop = int(0.25 * SR), int(0.05 * SR)
starts = np.arange(0, left.size - win, hop)
room_gain = np.array([left[i:i + win] @ room[i:i + win] / (room[i:i + win] @ room[i:i + win] + 1e-20) for i in starts])
gone = np.diff(np.concatenate([[0], (room_gain < 0.3 * np.median(room_gain)).astype(int), [0]]))
dropouts_s = [(round(starts[a] / SR, 2), round((starts[b - 1] + win) / SR, 2))
              for a, b in zip(np.flatnonzero(gone == 1), np.flatnonzero(gone == -1)) if (b - a) * hop / SR >= 0.5]
### END SOLUTION
print(f"dialogue under 170 Hz: {band_low_db:+.1f} dB, over 5.5 kHz: {band_high_db:+.1f} dB; room tone gone: {dropouts_s}")

# %% [markdown]
# ## 7. Your findings
#
# Collect what you measured, tick which problems the render has (`True`/`False` for each), and
# decide per layer whether to keep the `"native"` audio or replace it with a `"post"`-generated
# layer. Listen before you decide: `scene.native_wav_path` and the clips in `postgen/`.
#
# `findings` is a dict with these keys (the self-check below tells you if one is missing or misspelt):
#
# | key | value |
# |---|---|
# | `dialogue_offsets_ms` | `{line_id: ms}` for every line (section 2) |
# | `sfx_offsets_ms` | `{event_id: ms or None}` for every event (section 3) |
# | `dialogue_to_music_lu` | `{line_id: LU}` for every line (section 4) |
# | `integrated_lufs` | a number (section 5) |
# | `issues` | `True`/`False` for each of `dialogue_late`, `dialogue_band_limited`, `sfx_late`, `sfx_missing`, `music_masks_dialogue`, `loudness_off_target`, `ambience_dropout` |
# | `replace` | `"native"` or `"post"` for each of `dialogue`, `sfx`, `ambience`, `music` |

# %% role="solution" grade_id="lab1_findings"
### BEGIN SOLUTION
issues = {
    "dialogue_late": any(abs(v) > 40.0 for v in dialogue_offsets_ms.values()),   # outside the EBU R37 window
    "dialogue_band_limited": min(band_low_db, band_high_db) < -15.0,
    "sfx_late": any(v is not None and abs(v) > 40.0 for v in sfx_offsets_ms.values()),
    "sfx_missing": any(v is None for v in sfx_offsets_ms.values()),
    "music_masks_dialogue": min(dialogue_to_music_lu.values()) < 10.0,
    "loudness_off_target": abs(integrated_lufs - (-14.0)) > 1.0,
    "ambience_dropout": bool(dropouts_s),
}
issues = {k: bool(v) for k, v in issues.items()}  # plain True/False (numpy comparisons give numpy booleans)
findings = {
    "dialogue_offsets_ms": dialogue_offsets_ms,
    "sfx_offsets_ms": sfx_offsets_ms,
    "dialogue_to_music_lu": dialogue_to_music_lu,
    "integrated_lufs": integrated_lufs,
    "issues": issues,
    "replace": {
        "dialogue": "post" if issues["dialogue_late"] or issues["dialogue_band_limited"] else "native",
        "sfx": "post" if issues["sfx_late"] or issues["sfx_missing"] else "native",
        "ambience": "post" if issues["ambience_dropout"] else "native",
        "music": "post" if issues["music_masks_dialogue"] else "native",
    },
}
### END SOLUTION

# %% [markdown]
# ### Self-check
#
# Checks that the grader can read your findings (complete, right types). Working on your own,
# without an instructor? Add `grade=True` to see the grader's verdict on each finding (it never
# shows the true values).

# %% role="readonly" grade_id="lab1_selfcheck"
check_answers({"findings": findings}, assignment="lab1_audit");

# %% [markdown]
# ### Graded: dialogue offsets

# %% role="test" grade_id="audit_dialogue_offsets"
assert isinstance(findings.get("dialogue_offsets_ms"), dict), 'findings["dialogue_offsets_ms"] must be a dict {line_id: offset_ms}, one offset per line (not one number)'
### BEGIN HIDDEN TESTS
from layerlab.grading import assignment_spec as _spec, score_answers as _score
_item = {i.grade_id: i for i in _score({"findings": findings}, _spec("lab1_audit"))}["audit_dialogue_offsets"]
assert _item.passed, _item.message
### END HIDDEN TESTS

# %% [markdown]
# ### Graded: SFX offsets

# %% role="test" grade_id="audit_sfx_offsets"
assert isinstance(findings["sfx_offsets_ms"], dict), 'findings["sfx_offsets_ms"] must be a dict'
### BEGIN HIDDEN TESTS
from layerlab.grading import assignment_spec as _spec, score_answers as _score
_item = {i.grade_id: i for i in _score({"findings": findings}, _spec("lab1_audit"))}["audit_sfx_offsets"]
assert _item.passed, _item.message
### END HIDDEN TESTS

# %% [markdown]
# ### Graded: dialogue over music

# %% role="test" grade_id="audit_music_level"
assert isinstance(findings.get("dialogue_to_music_lu"), dict), 'findings["dialogue_to_music_lu"] must be a dict {line_id: LU}, one level per line (not one number)'
### BEGIN HIDDEN TESTS
from layerlab.grading import assignment_spec as _spec, score_answers as _score
_item = {i.grade_id: i for i in _score({"findings": findings}, _spec("lab1_audit"))}["audit_music_level"]
assert _item.passed, _item.message
### END HIDDEN TESTS

# %% [markdown]
# ### Graded: integrated loudness

# %% role="test" grade_id="audit_loudness"
assert isinstance(findings["integrated_lufs"], (int, float)) and not isinstance(findings["integrated_lufs"], bool), 'findings["integrated_lufs"] must be a number'
### BEGIN HIDDEN TESTS
from layerlab.grading import assignment_spec as _spec, score_answers as _score
_item = {i.grade_id: i for i in _score({"findings": findings}, _spec("lab1_audit"))}["audit_loudness"]
assert _item.passed, _item.message
### END HIDDEN TESTS

# %% [markdown]
# ### Graded: problems found

# %% role="test" grade_id="audit_issues"
assert isinstance(findings["issues"], dict), 'findings["issues"] must be a dict'
### BEGIN HIDDEN TESTS
from layerlab.grading import assignment_spec as _spec, score_answers as _score
_item = {i.grade_id: i for i in _score({"findings": findings}, _spec("lab1_audit"))}["audit_issues"]
assert _item.passed, _item.message
### END HIDDEN TESTS

# %% [markdown]
# ### Graded: layers to replace

# %% role="test" grade_id="audit_replace"
assert isinstance(findings["replace"], dict), 'findings["replace"] must be a dict'
### BEGIN HIDDEN TESTS
from layerlab.grading import assignment_spec as _spec, score_answers as _score
_item = {i.grade_id: i for i in _score({"findings": findings}, _spec("lab1_audit"))}["audit_replace"]
assert _item.passed, _item.message
### END HIDDEN TESTS

# %% [markdown]
# ## 8. Your judgement (graded by an instructor)
#
# In a short paragraph per layer (dialogue, SFX, ambience, music) say what the native render does
# well or badly - cite your numbers - and whether you keep it or replace it, and why. End with one
# sentence on the loudness.

# %% [markdown] role="manual" grade_id="lab1_judgement" points=4
# YOUR ANSWER HERE
#
# BEGIN MARK SCHEME
# 4 points, 1 per criterion. The values below are the teaching scene's; in a course with variants,
# each learner's true values are in the course folder's variants/lab1_audit/<student>/truth.json
# (native.truth and native.flaws), and the grader's report shows how each finding scored.
# - Dialogue: names the late start if there is one (teaching scene ~125 ms, 3 frames at 24 fps,
#   outside the EBU R37 window of +60 ms) and the telephone-like band if there is one (no body under
#   the low edge, no air over the high edge); replaces a flawed dialogue layer.
# - SFX: names the late effects (teaching scene: the cup at 5.25 s, ~80 ms late) while the others
#   are on their frames; replaces the SFX layer (or re-times those effects) rather than regenerating everything.
# - SFX, when none is late or missing: all on their frames (within 40 ms); the layer is kept native.
# - Music: dialogue only a few LU over the music (teaching scene ~3 LU; the guideline is at least
#   10 LU), so words are masked; a premix cannot be re-balanced, so the music is replaced and ducked.
#   Music 10 LU or more under the dialogue masks nothing and is kept native.
# - Ambience and loudness: a room tone without a dropout has no measured problem (keeping it is
#   defensible if the learner explains how); one with a dropout is replaced; the render's distance
#   from the -14 LUFS target (teaching scene ~4 LU under) is fixed at the master; a render within
#   1 LU of it is on target (nothing to fix).
# END MARK SCHEME

# %% [markdown]
# ## Audit your own clip (not graded)
#
# Generate a short clip with native audio in any video model (Veo, Runway, Kling, Sora ...),
# download the MP4 and put its path below. The same audit runs on it: loudness and true peak,
# band limits, noise floor, and each visual event with the offset of the nearest sound. On your
# own clip there is no cue sheet, so these are estimates - check them by ear and eye.

# %%
MY_CLIP = None   # e.g. "my_veo_clip.mp4"
if MY_CLIP:
    mine = audit_clip(MY_CLIP)
    print(mine.to_text())
    mine.plot();
