# %% [markdown]
# # Start here: how this kit works
#
# **Layer Lab** is a course kit about the *sound* of generated video. A video model can now hand you
# picture and sound in one go, but the sound you get is one finished track. This kit teaches you to
# take that sound apart into its layers, to judge each one, and to rebuild the ones that need it:
#
# * **lessons** (this folder) explain an idea, let you hear it, and let you change it with sliders;
# * **labs** (`labs/`) give you a scene to mix yourself; an autograder **measures** your mix;
# * the **engine**, the Python package `layerlab`, does every measurement. The lessons, the labs and
#   the grader all call the same functions, so what you see here is what you are graded on.
#
# ## Where this kit sits in the course
#
# The kit belongs to a course of ten lessons on making generative media. It covers the part about
# **sound**. Its lessons are numbered on from the course's lesson 6, which is why the notebooks here
# jump from 00 to 06:
#
# | notebook | where it comes from | what you do in it |
# |---|---|---|
# | `00_start_here` (this one) | the kit's own start | set up your listening, meet the three scenes, see how a mix is checked |
# | `06_native_vs_postgen` | the course's lesson 6 | compare a video model's own sound with sound built layer by layer, and decide when each is right |
# | `07_four_layers` | the course's lesson on the four layers | mix a scene from dialogue, effects, ambience and music in a live mixer, and export it |
# | `08_measuring_the_mix` | the kit's own | learn what each number of the grader means: loudness, true peak, sync, masking |
# | `labs/lab1_audit` | graded lab | measure what is wrong with a native render, layer by layer |
# | `labs/lab2_hybrid_mix` | graded lab | build the hybrid mix that fixes it, and hand in the exported files |
# | `labs/lab3_choose_approach` | graded lab | pick native, post-generated or hybrid for six new briefs, and defend the choice |
#
# The course's other lessons are not in this kit. One of them, lesson 5, is about lip sync; here you
# meet lip sync as a measurement (lesson 08 and lab 1).
#
# **In what order?** 00, 06, 07, 08, then lab 1, lab 2 and lab 3. Lab 1 uses the numbers lesson 08
# explains; lab 2 starts from lab 1's findings and uses lesson 07's tools; lab 3 needs only lesson 06,
# so you may also take it straight after that lesson. `lessons/README.md` has the same map.
#
# Run the cells from top to bottom (Shift+Enter). Nothing here needs the internet.

# %%
import layerlab
from layerlab.mix.scenes import list_scenes, load_scene
from layerlab.course.playback import play, ab
print("Layer Lab", layerlab.__version__, "- audio is float32 (samples, channels) at", layerlab.SAMPLE_RATE, "Hz")

# %% [markdown]
# ## How to listen
#
# Mixing is judged with the ears first, so set up your listening before anything else:
#
# 1. **Use headphones** (or decent speakers in a quiet room). Laptop speakers cannot reproduce the low
#    end of the music and ambience layers, and they hide how a voice sits against them.
# 2. **Set your volume once**, on the first player below, to a comfortable level, and then *leave it
#    alone* for the whole session. Every player in the kit is **level-true**: it plays the samples as
#    they are, with no automatic normalisation. Jupyter's usual `Audio` player scales every clip up to
#    full scale, which would make a -30 LUFS whisper and a -9 LUFS shout sound equally loud and hide
#    every level and ducking difference the lessons are about.
# 3. Long clips are written to a small WAV file beside the notebook (`_layerlab_audio/`) instead of
#    being pasted into the notebook, so notebooks stay small and players start at once.
#
# Below: the same one-second tone at three levels, 6 dB apart. You should hear three clearly
# different loudnesses. If they sound the same, your player is normalising.

# %%
import numpy as np

sr = layerlab.SAMPLE_RATE
t = np.arange(sr) / sr
tone = (0.25 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[:, None]
ab(tone, tone * 0.5, tone * 0.25, labels=["tone", "-6 dB", "-12 dB"])

# %% [markdown]
# **Try this.** Play the three tones in turn. Is the step from the first to the second as big as the
# step from the second to the third? (It should be: each is the same ratio, 6 dB.)
#
# ## The scenes
#
# The kit ships three short scenes made entirely by code, so their "truth" is known: every visual
# event, every line of dialogue and every flaw of the native render is written down in a cue sheet.
# Each scene matches one row of the decision table you will meet in lesson 06.

# %%
for scene_id in list_scenes():
    s = load_scene(scene_id)
    c = s.cues
    print(f"{scene_id:15s} {c.duration_s:4.0f} s  '{c.title}'  -> decision-table row: {c.scenario}")
    print(f"{'':15s} {len(c.dialogue)} dialogue lines, {len(c.events)} visual events,",
          f"native render flaws: {', '.join(f.kind for f in c.flaws)}")

# %% [markdown]
# Each scene folder holds:
#
# * `video.mp4`: the picture only;
# * `native.wav` / `native.mp4`: what a video model's own ("native") audio would give you: **one
#   premixed track**, with the typical flaws listed in the cue sheet;
# * `postgen/`: the **separate layers** made by specialised tools (dialogue lines, sound effects, an
#   ambience bed, a music bed) for you to mix;
# * `cues.json`: when everything has to happen.
#
# Listen to the café scene's native render (its flaws are audible: the voices sound like a telephone,
# the music is too loud against them):

# %%
cafe = load_scene("cafe_dialogue")
play(cafe.load_native(), label="cafe_dialogue: native render")

# %% [markdown]
# ## How self-checking works
#
# You never have to guess whether a mix is "good enough". The grader measures a delivered mix (the
# folder `deliverable/` with `mix.wav` and one stem per layer) against the scene's cue sheet:
#
# * **loudness and true peak** against a delivery target (lesson 08),
# * **sync** of every effect and every line against the picture,
# * **masking**: is the dialogue on top of the music and ambience,
# * **ducking**, **ambience continuity** and the **dialogue noise floor**.
#
# Each check prints what to change in plain words. Here is the grader run on the café scene's
# reference mix, built from the post-generated layers (it should pass):

# %%
from layerlab.checks import run_checks
from layerlab.mix.scenes import hybrid_stack
from layerlab.mix.session import export_deliverable

reference = export_deliverable(hybrid_stack(cafe), "_layerlab_audio/reference_cafe")
report = run_checks(reference, scene="cafe_dialogue", target="streaming")
print(report.to_text())

# %% [markdown]
# The same `run_checks` runs in three places: in the lessons (like above), in the labs' **self-check**
# cells (run them as often as you like before you submit), and in the autograder, which runs it on
# your exported files outside your notebook. From a terminal in the lab's folder (`cd labs/lab2_hybrid_mix`),
# `layerlab check deliverable --scene cafe_dialogue` prints the same report.
#
# ## When something is wrong
#
# The kit never guesses silently. A file at another sample rate is not resampled behind your back, a
# mono file is not quietly spread to stereo, and broken audio is refused with a message that names the
# file, says what is wrong and how to fix it. Here are three common mistakes and what the kit says:

# %%
import soundfile as sf
from pathlib import Path

Path("_layerlab_audio").mkdir(exist_ok=True)
sf.write("_layerlab_audio/cd_rate.wav", tone, 44_100)          # exported at the CD rate
Path("_layerlab_audio/empty.wav").write_bytes(b"")             # an export that failed
broken = tone.copy(); broken[100] = np.nan                     # a division by zero upstream

for attempt in (lambda: layerlab.load_audio("_layerlab_audio/cd_rate.wav"),
                lambda: layerlab.load_audio("_layerlab_audio/empty.wav"),
                lambda: layerlab.validate_audio(broken, name="my music bed")):
    try:
        attempt()
    except layerlab.LayerLabError as err:
        print("-", err)

fixed = layerlab.load_audio("_layerlab_audio/cd_rate.wav", resample=True)   # the explicit conversion
print("resampled on request:", fixed.shape[0], "samples at", layerlab.SAMPLE_RATE, "Hz")

# %% [markdown]
# The grader works the same way: a missing stem or a broken file fails only the checks that need it,
# with a message that says which file to export again, and every other check is still measured.
#
# **What next?** Lesson 06 compares a video model's native audio with post-generated layers, lesson
# 07 gives you the mixer, lesson 08 explains every number the grader prints; then the labs (the map
# at the top of this notebook gives the order).
