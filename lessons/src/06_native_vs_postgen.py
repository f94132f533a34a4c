# %% [markdown]
# # Lesson 06 - Native audio vs post-generated audio
#
# *About 30 minutes. You will compare a video model's own sound with sound made layer by layer, decide
# when each is the right choice, and walk a mix from one to the other.*
#
# **In one line:** sound generated *with* the picture (Veo 3, Runway Gen-4.5) is quick and fits the
# scene; a chain of specialised tools (ElevenLabs, Suno, Cartesia and the like) gives higher quality;
# in 2026 the usual answer is a **hybrid** of the two.

# %% [markdown]
# ## A mental model: live capture vs studio overdub
#
# Think of two ways to shoot a band's music video.
#
# * **Live capture.** The band plays and the camera rolls at the same moment. Picture and sound are
#   recorded together, so they are in sync by construction, and the sound belongs to that room.
# * **Studio overdub.** The picture is shot first; a track recorded separately in a studio is laid
#   over it afterwards.
#
# Both give you a finished music video, but they feel different, and each has its strengths: the
# first is immediate and coherent, the second is polished and controlled.
#
# A video model that generates its own audio works like **live capture**. Making the audio afterwards
# with separate tools works like a **studio overdub**.

# %% [markdown]
# ## Native audio: what a video model gives you
#
# Google's **Veo 3** made the news in **May 2025** as the first major video model to generate
# **synchronized audio natively**, together with the picture. It makes three kinds of sound at once:
#
# 1. **Dialogue and speech.** Characters talk with lip-synced voices; a voice suits the look of the
#    character who speaks; several speakers can be told apart.
# 2. **Sound effects and ambience.** Footsteps, creaking doors, rain, traffic, birdsong: sounds that fit
#    the place and what happens on screen.
# 3. **Background music.** A score whose emotion follows the tone and the pace of the generated
#    pictures.
#
# The catch: all three arrive **already mixed into one track**. Listen to the native render of the
# café scene and look at what the kit's cue sheet says is wrong with it.

# %%
# %matplotlib widget
import matplotlib.pyplot as plt
import numpy as np
from IPython.display import HTML, display

from layerlab.mix.scenes import load_scene
from layerlab.course.playback import play, ab

scene = load_scene("cafe_dialogue")
display(play(scene.load_native(), label="native render (one premixed track)"))
for flaw in scene.cues.flaws:
    print(f"- {flaw.kind}: {flaw.get('description', '')}")

# %% [markdown]
# ## Post-generated audio: one specialised tool per layer
#
# The alternative builds each layer separately, each with the tool that is best at it:
#
# | layer | typical tools | what the tool gives you |
# |---|---|---|
# | dialogue | **ElevenLabs**, **OpenAI TTS** (also Cartesia) | the best voice quality, and full control over delivery and wording |
# | sound effects | dedicated **SFX generators** or **SFX libraries** | exact choice of each sound and exact timing |
# | music | **Suno**, **Udio**, or a **licensed track** | complete control over the composition |
# | ambience | **environmental sound libraries** or **ambience generators** | a bed that says where we are |
#
# Every piece is made on its own; then everything is **mixed and synchronised** in a DAW (digital
# audio workstation) or in a video editor. In this kit, `layerlab.mix.stack.LayerStack` plays the DAW's
# part and lesson 07's mixer is its mixing desk.
#
# **Question.** Which of the four layers do you expect a video model to get right most often, and which
# least often? Keep your guess; the measurements below will tell.

# %% [markdown]
# ## A/B, layer by layer
#
# A native render is one track, but because the kit knows exactly which clips went into it, it can
# **split the render into its four layers** (the job a stem-separation tool would do on a real
# model's output). Then each native layer can be heard and measured against its post-generated
# replacement with the very functions the grader uses.
#
# Pick a layer, listen to A (native) and B (post-generated), and compare their loudness.

# %%
from layerlab.course.lessons import compare_layers, comparison_html, native_stems, postgen_stems

native = native_stems(scene).stems
post = postgen_stems(scene)
for layer in ("dialogue", "sfx", "music"):
    display(HTML(f"<b>{layer}</b>"))
    display(ab(native[layer], post[layer], labels=[f"A: native {layer}", f"B: post-generated {layer}"]))

# %% [markdown]
# **What do you hear?** Is the native dialogue thinner, like a phone call? Do the cups land in the same
# place in both? Which music is louder against the voices?
#
# Now the numbers. Bold marks the better value of each pair.

# %%
rows = compare_layers(scene)
display(HTML(comparison_html(rows)))

# %%
from scipy.signal import welch

fig, axes = plt.subplots(1, 2, figsize=(7.5, 2.8), layout="constrained")   # fits a notebook beside the file browser
for ax, (name, stems) in zip(axes, (("native", native), ("post-generated", post))):
    f, p = welch(stems["dialogue"][:, 0], fs=48000, nperseg=4096)
    ax.semilogx(f[1:], 10 * np.log10(p[1:] + 1e-20))
    ax.axvspan(300, 3400, color="orange", alpha=0.15, label="telephone band")
    ax.set_title(f"{name} dialogue spectrum", fontsize=9)
    ax.set_xlabel("Hz"); ax.set_ylim(-150, -40); ax.legend(fontsize=7)

# %% [markdown]
# Reading the table:
#
# * **Dialogue clarity.** The native voice fills only about 300-3200 Hz, the telephone band: no body
#   under 300 Hz, no "air" over 3.4 kHz. (The band is measured as `layerlab audit --cues` does: the
#   spectrum during the cued lines minus the beds' between them, so the music's lows are not counted
#   as the voice's.) It is also late against the lips by 125 ms, three frames at 24 fps. The
#   post-generated lines are full-band and on their cues.
# * **SFX timing.** One native cup lands 80 ms after the picture, outside the EBU R37 window (at most
#   60 ms late); the post-generated effects start on their frames.
# * **Music level.** In the native render the music sits only about 3 LU under the dialogue (listeners
#   want at least 10); placed and ducked separately it sits far lower.
# * **Ambience.** Here the native bed is fine, which is typical: room tone is what a video model
#   matches best.
#
# This is the **quality vs convenience trade-off** in numbers. The native track came from one prompt,
# with everything matched to the picture. The separate layers took more tools and more work, but each
# one could be **perfected on its own**: the voice redone, exactly the right music chosen, each effect
# placed on its frame, and every level set deliberately.

# %% [markdown]
# ## When to use which: the decision table
#
# Set a scenario, then move the priorities. The recommendation is given per layer, with the reason,
# next to the course's table. With a scenario's own priorities you get the table's answer; change what
# matters and watch it turn into a hybrid.

# %%
from layerlab.course.widgets import DecisionWidget

decision = DecisionWidget("character_dialogue")
decision

# %% [markdown]
# The table, in short: **native** for a quick social clip (fast and good enough), for atmospheric
# scenes and B-roll (the ambience already fits) and for prototypes and pitches (speed beats polish);
# **post-generated** for professional narration (the voice is the product), product demos with a
# voice-over (the script must be said exactly) and music videos or scored pieces (the music must be
# controlled); **either** for a character dialogue scene (native when you need speed, post-generated
# when you need quality).
#
# **Try this.**
# 1. Choose *Character dialogue scene*, then raise *voice quality* to 0.9. Which layers change?
# 2. Choose *Music video or scored content* and push *speed* to 1.0. Why does the music stay a toss-up?
# 3. Choose the kit scene *forest B-roll*. Which slider would have to move most for the SFX to be
#    replaced? (Hint: look at the forest scene's late bird in its cue sheet.)

# %%
# the same answers without the widget, for the record
from layerlab.course.decisions import SCENARIOS, recommend

for key, s in SCENARIOS.items():
    r = recommend(key)
    print(f"{s.title:34s} -> {r.approach:8s} {r.per_layer}")

# %% [markdown]
# ## Hybrid: the rough cut goes native, the final gets replacements
#
# In practice most 2026 workflows mix the two approaches: native audio carries the **rough cut and the
# concept** stage, and the elements that fall short are **replaced one by one** with post-generated
# versions for the **final**.
#
# Below, the café scene walks that path. Each step exports a deliverable and runs the grader's checks
# on it: watch the ✘ marks turn to ✔. (It takes ten to twenty seconds, longer on a busy machine.)

# %%
from layerlab.course.lessons import HYBRID_STEPS, hybrid_steps, hybrid_table_html

steps = hybrid_steps(scene)
display(HTML(hybrid_table_html(steps)))

# %%
labels = [s.name for s in steps]
fig, axes = plt.subplots(1, 3, figsize=(7.5, 2.6), layout="constrained")   # 750 px: fits beside the file browser
for ax, (check, good, title) in zip(axes, (("masking", 10.0, "dialogue over music (LU)"),
                                           ("dialogue_sync", 60.0, "worst lip-sync offset (ms)"),
                                           ("loudness", -14.0, "integrated loudness (LUFS)"))):
    ax.plot(range(len(steps)), [s.values[check] for s in steps], "o-")
    ax.axhline(good, color="green", ls="--", lw=1)
    ax.set_xticks(range(len(steps)), [str(i) for i in range(len(steps))])
    ax.set_title(title, fontsize=9)
    ax.set_xlabel("step")
for i, s in enumerate(steps):
    print(i, s.name, "-", s.description)

# %%
display(ab(steps[0].mix, steps[-1].mix,   # each step keeps the mix it exported and checked
           labels=["A: native rough cut", "B: hybrid final"]))

# %% [markdown]
# **What changed, and what did not?** Replacing the dialogue fixed the lip sync and the telephone
# sound but, for a moment, made the masking *worse* (the new voice is quieter than the native one and
# the loud native music is still there). Replacing the music fixed that. The native **ambience was
# never replaced**, and the final report still flags it: the grader wants dialogue 15 LU over the
# ambience. That is a hybrid's job too: keep a layer, but adjust it (try it in lesson 07's mixer).
#
# ## Key takeaways
#
# * A video model with native audio (Veo 3 was first) makes dialogue, effects and music **together
#   with the picture**: quick, and coherent with the scene.
# * The post-generated route uses a **specialised tool for each layer**: better quality, but a longer
#   and more complex workflow.
# * Native audio is the right call when **speed, prototyping or atmosphere** matter most.
# * Post-generated audio wins when **voice quality, precise timing or control of the music** matter.
# * **Hybrid** workflows (native for rough cuts, specialised tools for the final) are becoming the
#   standard way of working.
#
# ## Exercise: audit a native render
#
# Take a clip generated **with native audio** (Veo 3, Runway Gen-4.5, or this kit's `native.mp4`
# files). Write down, **separately**, how good its **dialogue**, its **effects** and its **music** are,
# and decide **which of them you would replace** with a specialised tool, and why.
#
# The lab `labs/lab1_audit/lab1_audit.ipynb` walks you through exactly this audit with
# `layerlab.audit.audit_clip` (levels, band limits, noise, effect timing against the picture); take
# it after lessons 07 and 08, which explain the numbers it uses. `labs/lab2_hybrid_mix` then has you
# build the hybrid final yourself. `labs/lab3_choose_approach` asks you to defend choices like the
# decision table's, and needs only this lesson: you can take it now.
