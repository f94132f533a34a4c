# %% [markdown]
# # Lesson 07 - The four layers
#
# *About 40 minutes. You will mix a scene from its four layers, hear what each one does, and export a
# deliverable for the labs.*
#
# **In one line:** professional sound has four layers, from the top: **dialogue**, then **SFX**, then
# **ambience**, then **music** at the bottom, ducking under the voice. Even when you start from native
# audio, the standard practice is to swap or fix it **layer by layer**.
#
# ## The mental model: a layered file
#
# A film's soundtrack is never "one sound". It is a stack of **independent layers**, like an image
# file with separate layers for the background, the subject and the text. Sound designers work with
# **four main layers**, each with its own job; thinking in these layers is the basis of professional
# generative media.

# %%
# %matplotlib widget
import numpy as np
import matplotlib.pyplot as plt
from IPython.display import HTML, display

from layerlab.mix.stack import LAYERS, LAYER_ROLES
from layerlab.mix.scenes import load_scene
from layerlab.course.playback import play, ab
from layerlab.course.lessons import scene_mixer

for priority, name in enumerate(LAYERS, start=1):
    print(f"{priority}. {name:9s} {LAYER_ROLES[name]}")

# %% [markdown]
# ## The stack and its priorities
#
# ```
# priority   layer                      example                            how it behaves
# highest    1  DIALOGUE / VOICE        "Welcome to our product demo..."   always on top
#            2  SOUND EFFECTS           [click] [whoosh] [typing]          synced to visual events
#            3  AMBIENCE                ~ office hum, distant traffic ~    continuous background
# lowest     4  MUSIC / SCORE           gentle corporate background        ducks under dialogue
# ```
#
# **1. Dialogue / voice.** The most important layer, because people attend to speech before any other
# sound. It has to be **clear**, **well timed** and carry the **right emotion**. In generative media it
# comes from text-to-speech, a cloned voice, or the video model's native audio. It always **sits on
# top**: the other layers support it and never cover it. It must be **clean** (no background noise or
# artefacts in the recording), and its **timing against the picture** is critical. Lip sync has a
# lesson of its own in the full course (lesson 5, not part of this kit); here, lesson 08 shows how far
# off is too far, and lab 1 measures the lip-sync offset of a native render.
#
# **2. Sound effects (SFX).** Distinct sounds tied to something **visible**: footsteps, doors, typing,
# glasses clinking, explosions. They make what we see feel physical and weighty. Each must be **in sync
# with its event** (the door shuts on the frame where the sound starts). **Subtle** effects (clothes
# rustling, keys clicking) add a realism viewers *feel* without noticing it. Effects can be generated,
# taken from a library, or **extracted from native audio**.
#
# **3. Ambience / room tone.** The background atmosphere: café chatter, insects in a forest, city
# traffic, the hum of air conditioning. It tells us **where we are** and fills the space between
# events. It must be **continuous and consistent**: an abrupt cut breaks the illusion. A **change** of
# ambience between scenes tells the viewer the **location changed**. It is the layer people forget
# most often, and its absence leaves an eerie **"vacuum"**.
#
# **4. Music / score.** Sets the emotional tone (tension, joy, wonder, nostalgia) and steers how the
# viewer feels, **independently of the picture**. It should **support, not compete with**, the
# dialogue: with **ducking** it drops automatically while someone speaks and comes back up when only
# the picture talks. Its **style must match the look** of the film (cinematic pictures with a lo-fi
# hip-hop beat are a mismatch).

# %% [markdown]
# ## The mixer
#
# Below is the café scene built from its post-generated layers. Every control acts on the mix at once:
#
# * a **gain slider** per layer (dB), **M** to mute it and **S** to solo it;
# * **ducking**: on/off, **depth** (how far the music drops under speech), **threshold** (how loud the
#   voice must be to trigger it), **attack** and **release** (how fast it goes down and comes back);
# * the **target** the readout compares with (lesson 08 explains them).
#
# The views update in place: the four layers' waveforms with the ducking gain (dashed), the loudness
# over time, and the **masking map**, which shows, band by band, whether the dialogue is heard over
# everything else while someone speaks (light: audible; dark and struck through by a white line: masked).
# The readout below the figure gives the numbers, each pass marked ✔ and each fail ✘.
#
# Your settings are saved to `session.json` next to this notebook after every change, and come back
# when you run the notebook again, even after a kernel restart. **Preview with video** muxes the
# current mix with the scene's picture; **Export deliverable** writes the folder the labs grade.

# %%
scene = load_scene("cafe_dialogue")
mixer = scene_mixer(scene, session_path="session.json", title="cafe_dialogue: your mix")
mixer

# %% [markdown]
# **Try this.**
# 1. Pull the **music** down until the readout's "dialogue over music" passes 10 LU. How many dB did
#    it take? Then turn it up until the words get hard to follow: what does the masking map show?
# 2. **Solo** each layer in turn and listen (the player below the mixer follows your changes a moment
#    after you let go of a control). Which layer would you miss most if it were gone?
# 3. Set the ducking **attack** to 1000 ms. Where do you hear the first syllables of each line
#    disappear under the music?

# %%
# Your current settings, as numbers (run again after moving the sliders)
print(mixer.view.readout.to_text())
print("saved in", mixer.session_path)

# %% [markdown]
# ## Demonstrations
#
# Each demonstration below works on a **separate copy** of the scene, so your own mix above is not
# touched. Run the cells in order; listen before you read the numbers.
#
# ### 1. Swap the music, and only the music
#
# With one premixed track you cannot change the music without regenerating everything, even when the
# voice is perfect. With layers you just replace one. Here the café's jazz is swapped for the forest
# scene's slow ambient score: dialogue, effects and ambience are untouched, but does the new music
# match a café?

# %%
from layerlab.course.lessons import swap_music, other_scene_music

demo = scene_mixer(scene, session_path=None, title="demonstrations (a copy of the scene)")
before = demo.view.render
swap_music(demo.stack, other_scene_music(scene), gain_db=-10.0)
after = demo.changed_stack().render
same = {name: bool(np.array_equal(before.stems[name], after.stems[name])) for name in ("dialogue", "sfx", "ambience")}
print("other layers unchanged:", same)
display(ab(before.mix, after.mix, labels=["A: café jazz", "B: forest score (style mismatch)"]))
demo

# %% [markdown]
# ### 2. Nudge an effect off its event
#
# Move one cup 120 ms late. The readout's "SFX sync" fails (✘): EBU R37 allows at most 60 ms late.
# If the native effect were still underneath, you would hear both: a **flam**, two attacks where the
# picture shows one.

# %%
from layerlab.course.lessons import nudge_clip, flam

nudge_clip(demo.stack, "sfx", "cup_a", +120)
demo.changed_stack()
print(demo.view.readout.to_text().splitlines()[-1])
for offset in (20, 45, 120):
    f = flam(scene, "cup_a", offset)
    print(f"nudged by {offset:3d} ms -> measured offset {f.offset_ms:+.1f} ms, in sync: {f.passed}")
    display(ab(f.on_time, f.audio, labels=["on the frame", f"plus a copy {offset} ms late"]))
nudge_clip(demo.stack, "sfx", "cup_a", -120)
demo.changed_stack();

# %% [markdown]
# **What do you hear?** At 20 ms the two hits fuse into one slightly thicker sound; somewhere between
# about 40 and 60 ms they start to separate; at 120 ms they are clearly two.
#
# ### 3. Cut the ambience: the vacuum
#
# Take the music out first, so the room can be heard on its own, then mute the room tone and listen
# to the gaps between the lines. The number is the mix's level in its quietest moments (the 10th
# percentile of the momentary loudness): with the ambience it sits at the level of the room; without
# it, the gaps fall to digital silence.

# %%
from layerlab.course.lessons import quiet_level_lufs

demo.mute["music"].value = True
with_room = demo.view.mix
demo.mute["ambience"].value = True
without_room = demo.view.mix
print(f"quietest moments with ambience:    {quiet_level_lufs(with_room):6.1f} LUFS")
print(f"quietest moments without ambience: {quiet_level_lufs(without_room):6.1f} LUFS")
display(ab(with_room, without_room, labels=["A: dialogue, effects and room tone", "B: the room tone cut"]))
demo.mute["ambience"].value = False
demo.mute["music"].value = False

# %% [markdown]
# ### 4. Turn the ducking off and watch the masking map fill
#
# Raise the music a little, then switch the ducking off. Look at the masking map of the demonstration
# mixer: the dark, struck-through cells spread across the speech bands, and the audibility index falls.

# %%
demo.set_values(music=6.0)
ducked = demo.view.readout
demo.duck_on.value = False
flat = demo.view.readout
masked = lambda view: float(np.nanmean(view.masking_map < 0.5))
print(f"ducking on : audibility {ducked.audibility_index:.2f}, dialogue over music {ducked.dialogue_over_music_lu:5.1f} LU")
print(f"ducking off: audibility {flat.audibility_index:.2f}, dialogue over music {flat.dialogue_over_music_lu:5.1f} LU")
print(f"share of the map that is masked now: {masked(demo.view):.0%}")

# %% [markdown]
# ## Why layers matter for generative media
#
# Generating everything in one pass gives you all four layers **baked together**: convenient, but
# rigid. If the voice is perfect and the music is wrong, the only way to change the music is to
# regenerate the whole thing. Generating the layers separately gives you **full control of the mix**:
# the dialogue level, the choice of music, the timing of each effect, the character of the room. The
# price is more work; what you buy is control.
#
# ## Export your mix for the labs
#
# When every mark in your readout is ✔, export. The folder `deliverable/` (mix + four stems + `session.json`) is
# what the labs' self-check and the autograder measure. The export applies the master section: it
# brings the mix to the target loudness and keeps the true peak under the ceiling.

# %%
out = mixer.export("deliverable")
print(sorted(p.relative_to(out).as_posix() for p in out.rglob("*.wav")))

# %% [markdown]
# ## Key takeaways
#
# * Professional sound is built from **four layers**: dialogue, sound effects, ambience and music.
# * **Dialogue on top, music at the bottom**; effects are locked to their events; ambience fills
#   the space in between.
# * Making the layers **separately** gives the most control; **native** audio gives the most
#   convenience.
# * Even when you start from native audio, **plan to replace or adjust single layers** in
#   post-production.
