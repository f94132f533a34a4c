# %% [markdown]
# # Lab 2 - Build the hybrid mix
#
# In lab 1 you found what the native render of `cafe_dialogue` gets wrong: late, telephone-like
# dialogue; a cup that lands 80 ms after its frame; music that buries the words; a level far under
# the delivery target. Now you fix it: keep what works, replace what does not with the
# post-generated clips in `postgen/` (dialogue lines, SFX at their events, room tone, music), duck
# the music under the dialogue, hit the streaming target, and export the deliverable folder.
#
# **What is graded** - the grader measures your exported files (`deliverable/mix.wav` and the four
# stems), in its own process; each check is worth:
#
# | check | passes when | points |
# |---|---|---|
# | `sync` | every sound effect, your scene's own clip (gain, EQ and pan are yours; a re-pitched effect is another sound), within the EBU R37 window (-40..+60 ms) of its visual event | 2 |
# | `dialogue_sync` | every line within the EBU R37 window of its cue | 2 |
# | `loudness` | integrated loudness -14 LUFS ±1 (streaming) | 2 |
# | `true_peak` | true peak at or under -1 dBTP | 1 |
# | `masking` | dialogue at least 10 LU over the music and 15 LU over the ambience | 2 |
# | `band_audibility` | dialogue audible over the rest in the speech bands (index at least 0.75) | 1 |
# | `ducking` | music at least 6 dB down under dialogue, with no gain steps | 2 |
# | `ambience_continuity` | the room tone runs without dropouts or jumps | 2 |
# | `dialogue_noise_floor` | a clean dialogue stem: quiet between lines, never clipped | 1 |
#
# If the files are unreadable, the wrong format, or the stems do not add up to the mix, nothing
# else can be trusted and every check scores zero.
#
# **Self-check**: `self_check()` runs the grader's checks on your current deliverable and shows
# the same report - use it as often as you like.

# %% role="readonly" grade_id="lab2_setup"
import warnings
warnings.simplefilter("ignore")
import numpy as np
from layerlab.mix.scenes import load_scene
from layerlab.mix.stack import LayerStack
from layerlab.mix.ducking import Ducking
from layerlab.mix.master import Master
from layerlab.mix.session import export_deliverable
from layerlab.measure.loudness import integrated_loudness
from layerlab.course.variants import use_learner_variant
from layerlab.grading import self_check

SCENE = "cafe_dialogue"
DELIVERABLE = "deliverable"
VARIANT = use_learner_variant()   # in an assessed course: your own variant of the scene (None: the teaching scene)
if VARIANT is not None:
    print("your own variant of", SCENE, "- its event times and clip levels are its own, not those of the teaching scene")
scene = load_scene(SCENE)
cues = scene.cues
for line in cues.dialogue:
    print(f"{line.start_s:6.3f} s  {line.id}  {line.text}")
for ev in cues.events:
    print(f"{ev.time_s:6.3f} s  {ev.id}  {ev.label}")

# %% [markdown]
# ## 1. Keep or replace?
#
# The native render is one premixed track, so it cannot be kept layer by layer: anything you keep
# from it brings its late dialogue and its loud music along. In this scene the audit found a
# problem in every layer except the room tone - and the post-generated room tone has the same
# character, on its own stem, where you can set its level. Build the mix from the post-generated
# layers, and use the native render as your reference for timing and feel.
#
# ## 2. Build the stack
#
# Place every dialogue line at its `start_s`, every sound effect at its event's `time_s`, the room
# tone and the music under the whole scene. Then set ducking (music under dialogue) and the master
# (loudness target and true-peak ceiling). Your stack must be called `stack`.
#
# The tools (lesson 07 shows each one):
#
# ```python
# stack = LayerStack(duration_s=cues.duration_s)
# stack.add("sfx", scene.clip_path(ev.clip), start_s=ev.time_s, gain_db=-12.0, name=ev.id)
# integrated_loudness(scene.load_clip(line.clip))  # a clip's level in LUFS (mono counts as dual-mono)
# stack.add("music", scene.clip_path(cues.music["clip"]), start_s=0.0, gain_db=-10.0, fade_in_ms=500.0)
# stack["music"].gain_db = -3.0                    # a layer's fader
# stack.ducking = Ducking(depth_db=..., threshold_db=..., attack_ms=..., release_ms=..., hold_ms=..., lookahead_ms=...)
# stack.master = Master(target_lufs=..., ceiling_dbtp=...)
# ```
#
# The clips come at their own levels and the cue sheet suggests no gains: measure each clip
# (`integrated_loudness`, or its peak for a short effect) and set its gain for the level you want. Listen
# (`layerlab.course.playback.play(stack.render().mix)`), self-check, adjust.

# %% role="solution" grade_id="lab2_mix"
### BEGIN SOLUTION
# Levels: measure each clip and give it the gain that puts it at its level in the mix
# (the clips of an assessed variant come at their own levels; the cue sheet suggests no gains)
LINE_LUFS = -20.0           # each dialogue line (a mono clip measures as dual-mono)
SFX_PEAK_DBFS = {"door": -11.0, "door_2": -11.0, "cup_a": -18.0, "cup_b": -18.0}
AMBIENCE_LUFS = -37.0       # room tone before its trim
MUSIC_LUFS = -30.0          # music bed before ducking
SFX_TRIM_DB = -6.0          # the doors are loud: keep the master limiter gentle
AMBIENCE_TRIM_DB = -3.0     # room tone at least 15 LU under the dialogue
MUSIC_TRIM_DB = 0.0
SFX_NUDGE_S = {}            # per-event timing corrections in seconds, e.g. {"cup_a": -0.01}
DUCK = True
TARGET_LUFS = -14.0         # streaming delivery

def gain_to_lufs(rel, lufs):
    return lufs - integrated_loudness(scene.load_clip(rel))

def gain_to_peak(rel, peak_dbfs):
    return peak_dbfs - 20 * np.log10(np.abs(scene.load_clip(rel)).max())

AMBIENCE_GAIN_DB = gain_to_lufs(cues.ambience["clip"], AMBIENCE_LUFS)
MUSIC_GAIN_DB = gain_to_lufs(cues.music["clip"], MUSIC_LUFS)
stack = LayerStack(duration_s=cues.duration_s)
for line in cues.dialogue:
    stack.add("dialogue", scene.clip_path(line.clip), start_s=line.start_s, gain_db=gain_to_lufs(line.clip, LINE_LUFS), name=line.id)
for ev in cues.events:
    stack.add("sfx", scene.clip_path(ev.clip), start_s=ev.time_s + SFX_NUDGE_S.get(ev.id, 0.0),
              gain_db=gain_to_peak(ev.clip, SFX_PEAK_DBFS.get(ev.id, -18.0)) + SFX_TRIM_DB, name=ev.id)
stack.add("ambience", scene.clip_path(cues.ambience["clip"]), start_s=0.0, gain_db=AMBIENCE_GAIN_DB + AMBIENCE_TRIM_DB, name="room")
stack.add("music", scene.clip_path(cues.music["clip"]), start_s=0.0, gain_db=MUSIC_GAIN_DB + MUSIC_TRIM_DB,
          fade_in_ms=500.0, fade_out_ms=1000.0, name="score")
stack.ducking = Ducking(depth_db=10.0, threshold_db=-40.0, attack_ms=80.0, release_ms=400.0, hold_ms=250.0,
                        lookahead_ms=40.0) if DUCK else None
stack.master = Master(target_lufs=TARGET_LUFS, ceiling_dbtp=-1.5, attack_ms=5.0, release_ms=1500.0)
### END SOLUTION

# %% [markdown]
# ## 3. Export the deliverable

# %% role="readonly" grade_id="lab2_export"
render = stack.render()
export_deliverable(stack, DELIVERABLE, render=render)
print("exported", DELIVERABLE, "-", render.duration_s, "s")

# %% [markdown]
# ## 4. Self-check
#
# The same checks and figures the grader uses. Fix what fails, re-run the cells above, check again.

# %%
report = self_check(deliverable=DELIVERABLE)

# %% [markdown]
# ### Graded: `sync` - every sound effect within the EBU R37 window (-40..+60 ms) of its visual event

# %% role="test" grade_id="check_sync"
self_check("sync", deliverable=DELIVERABLE, figures=True);
### BEGIN HIDDEN TESTS
assert self_check("sync", deliverable=DELIVERABLE, show=False).items[0].passed
### END HIDDEN TESTS

# %% [markdown]
# ### Graded: `dialogue_sync` - every line within the EBU R37 window of its cue

# %% role="test" grade_id="check_dialogue_sync"
self_check("dialogue_sync", deliverable=DELIVERABLE, figures=True);
### BEGIN HIDDEN TESTS
assert self_check("dialogue_sync", deliverable=DELIVERABLE, show=False).items[0].passed
### END HIDDEN TESTS

# %% [markdown]
# ### Graded: `loudness` - integrated loudness -14 LUFS ±1 (streaming)

# %% role="test" grade_id="check_loudness"
self_check("loudness", deliverable=DELIVERABLE, figures=True);
### BEGIN HIDDEN TESTS
assert self_check("loudness", deliverable=DELIVERABLE, show=False).items[0].passed
### END HIDDEN TESTS

# %% [markdown]
# ### Graded: `true_peak` - true peak at or under -1 dBTP

# %% role="test" grade_id="check_true_peak"
self_check("true_peak", deliverable=DELIVERABLE, figures=True);
### BEGIN HIDDEN TESTS
assert self_check("true_peak", deliverable=DELIVERABLE, show=False).items[0].passed
### END HIDDEN TESTS

# %% [markdown]
# ### Graded: `masking` - dialogue at least 10 LU over the music and 15 LU over the ambience

# %% role="test" grade_id="check_masking"
self_check("masking", deliverable=DELIVERABLE, figures=True);
### BEGIN HIDDEN TESTS
assert self_check("masking", deliverable=DELIVERABLE, show=False).items[0].passed
### END HIDDEN TESTS

# %% [markdown]
# ### Graded: `band_audibility` - dialogue audible over the rest in the speech bands (index at least 0.75)

# %% role="test" grade_id="check_band_audibility"
self_check("band_audibility", deliverable=DELIVERABLE, figures=True);
### BEGIN HIDDEN TESTS
assert self_check("band_audibility", deliverable=DELIVERABLE, show=False).items[0].passed
### END HIDDEN TESTS

# %% [markdown]
# ### Graded: `ducking` - music at least 6 dB down under dialogue, with no gain steps

# %% role="test" grade_id="check_ducking"
self_check("ducking", deliverable=DELIVERABLE, figures=True);
### BEGIN HIDDEN TESTS
assert self_check("ducking", deliverable=DELIVERABLE, show=False).items[0].passed
### END HIDDEN TESTS

# %% [markdown]
# ### Graded: `ambience_continuity` - the room tone runs without dropouts or jumps

# %% role="test" grade_id="check_ambience_continuity"
self_check("ambience_continuity", deliverable=DELIVERABLE, figures=True);
### BEGIN HIDDEN TESTS
assert self_check("ambience_continuity", deliverable=DELIVERABLE, show=False).items[0].passed
### END HIDDEN TESTS

# %% [markdown]
# ### Graded: `dialogue_noise_floor` - a clean dialogue stem: quiet between lines, never clipped

# %% role="test" grade_id="check_dialogue_noise_floor"
self_check("dialogue_noise_floor", deliverable=DELIVERABLE, figures=True);
### BEGIN HIDDEN TESTS
assert self_check("dialogue_noise_floor", deliverable=DELIVERABLE, show=False).items[0].passed
### END HIDDEN TESTS
