"""Write the lesson notebooks (for maintainers; learners open the .ipynb files).

Run ``.venv/bin/python lessons/build_notebooks.py`` after editing the text
below. Notebooks are written without outputs or execution counts, as the
repository keeps them.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent


def md(text: str):
    return new_markdown_cell(text.strip("\n"))


def code(text: str):
    return new_code_cell(text.strip("\n"))


def write(name: str, cells: list) -> None:
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    for i, c in enumerate(nb.cells):
        c["id"] = f"{name[:2]}-{i:02d}"
    nbformat.validate(nb)
    nbformat.write(nb, HERE / f"{name}.ipynb")


# ----------------------------------------------------------------------------- 00 start here

START = [
    md("""
# Start here: how this kit works

**Layer Lab** is a course kit about the *sound* of generated video. A video model can now hand you
picture and sound in one go, but the sound you get is one finished track. This kit teaches you to
take that sound apart into its layers, to judge each one, and to rebuild the ones that need it:

* **lessons** (this folder) explain an idea, let you hear it, and let you change it with sliders;
* **labs** (`labs/`) give you a scene to mix yourself; an autograder **measures** your mix;
* the **engine**, the Python package `layerlab`, does every measurement. The lessons, the labs and
  the grader all call the same functions, so what you see here is what you are graded on.

Run the cells from top to bottom (Shift+Enter). Nothing here needs the internet.
"""),
    code("""
import layerlab
from layerlab.mix.scenes import list_scenes, load_scene
from layerlab.course.playback import play, ab
print("Layer Lab", layerlab.__version__, "- audio is float32 (samples, channels) at", layerlab.SAMPLE_RATE, "Hz")
"""),
    md("""
## How to listen

Mixing is judged with the ears first, so set up your listening before anything else:

1. **Use headphones** (or decent speakers in a quiet room). Laptop speakers cannot reproduce the low
   end of the music and ambience layers, and they hide how a voice sits against them.
2. **Set your volume once**, on the first player below, to a comfortable level, and then *leave it
   alone* for the whole session. Every player in the kit is **level-true**: it plays the samples as
   they are, with no automatic normalisation. Jupyter's usual `Audio` player scales every clip up to
   full scale, which would make a -30 LUFS whisper and a -9 LUFS shout sound equally loud and hide
   every level and ducking difference the lessons are about.
3. Long clips are written to a small WAV file beside the notebook (`_layerlab_audio/`) instead of
   being pasted into the notebook, so notebooks stay small and players start at once.

Below: the same one-second tone at three levels, 6 dB apart. You should hear three clearly
different loudnesses. If they sound the same, your player is normalising.
"""),
    code("""
import numpy as np

sr = layerlab.SAMPLE_RATE
t = np.arange(sr) / sr
tone = (0.25 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[:, None]
ab(tone, tone * 0.5, tone * 0.25, labels=["tone", "-6 dB", "-12 dB"])
"""),
    md("""
**Try this.** Play the three tones in turn. Is the step from the first to the second as big as the
step from the second to the third? (It should be: each is the same ratio, 6 dB.)

## The scenes

The kit ships three short scenes made entirely by code, so their "truth" is known: every visual
event, every line of dialogue and every flaw of the native render is written down in a cue sheet.
Each scene matches one row of the decision table you will meet in lesson 06.
"""),
    code("""
for scene_id in list_scenes():
    s = load_scene(scene_id)
    c = s.cues
    print(f"{scene_id:15s} {c.duration_s:4.0f} s  '{c.title}'  -> decision-table row: {c.scenario}")
    print(f"{'':15s} {len(c.dialogue)} dialogue lines, {len(c.events)} visual events,",
          f"native render flaws: {', '.join(f.kind for f in c.flaws)}")
"""),
    md("""
Each scene folder holds:

* `video.mp4`: the picture only;
* `native.wav` / `native.mp4`: what a video model's own ("native") audio would give you: **one
  premixed track**, with the typical flaws listed in the cue sheet;
* `postgen/`: the **separate layers** made by specialised tools (dialogue lines, sound effects, an
  ambience bed, a music bed) for you to mix;
* `cues.json`: when everything has to happen.

Listen to the café scene's native render (its flaws are audible: the voices sound like a telephone,
the music is too loud against them):
"""),
    code("""
cafe = load_scene("cafe_dialogue")
play(cafe.load_native(), label="cafe_dialogue: native render")
"""),
    md("""
## How self-checking works

You never have to guess whether a mix is "good enough". The grader measures a delivered mix (the
folder `deliverable/` with `mix.wav` and one stem per layer) against the scene's cue sheet:

* **loudness and true peak** against a delivery target (lesson 08),
* **sync** of every effect and every line against the picture,
* **masking**: is the dialogue on top of the music and ambience,
* **ducking**, **ambience continuity** and the **dialogue noise floor**.

Each check prints what to change in plain words. Here is the grader run on the café scene's
reference mix, built from the post-generated layers (it should pass):
"""),
    code("""
from layerlab.checks import run_checks
from layerlab.mix.scenes import hybrid_stack
from layerlab.mix.session import export_deliverable

reference = export_deliverable(hybrid_stack(cafe), "_layerlab_audio/reference_cafe")
report = run_checks(reference, scene="cafe_dialogue", target="streaming")
print(report.to_text())
"""),
    md("""
The same `run_checks` runs in three places: in the lessons (like above), in the labs' **self-check**
cells (run them as often as you like before you submit), and in the autograder, which runs it on
your exported files outside your notebook. From a terminal, `layerlab check deliverable --scene
cafe_dialogue` prints the same report.

## When something is wrong

The kit never guesses silently. A file at another sample rate is not resampled behind your back, a
mono file is not quietly spread to stereo, and broken audio is refused with a message that names the
file, says what is wrong and how to fix it. Here are three common mistakes and what the kit says:
"""),
    code("""
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
"""),
    md("""
The grader works the same way: a missing stem or a broken file fails only the checks that need it,
with a message that says which file to export again, and every other check is still measured.

**What next?** Lesson 06 compares a video model's native audio with post-generated layers, lesson
07 gives you the mixer, lesson 08 explains every number the grader prints.
"""),
]

# ----------------------------------------------------------------------------- 06 native vs postgen

NATIVE = [
    md("""
# Lesson 06 - Native audio vs post-generated audio

*About 30 minutes. You will compare a video model's own sound with sound made layer by layer, decide
when each is the right choice, and walk a mix from one to the other.*

**In one line:** sound generated *with* the picture (Veo 3, Runway Gen-4.5) is quick and fits the
scene; a chain of specialised tools (ElevenLabs, Suno, Cartesia and the like) gives higher quality;
in 2026 the usual answer is a **hybrid** of the two.
"""),
    md("""
## A mental model: live capture vs studio overdub

Think of two ways to shoot a band's music video.

* **Live capture.** The band plays and the camera rolls at the same moment. Picture and sound are
  recorded together, so they are in sync by construction, and the sound belongs to that room.
* **Studio overdub.** The picture is shot first; a track recorded separately in a studio is laid
  over it afterwards.

Both give you a finished music video, but they feel different, and each has its strengths: the
first is immediate and coherent, the second is polished and controlled.

A video model that generates its own audio works like **live capture**. Making the audio afterwards
with separate tools works like a **studio overdub**.
"""),
    md("""
## Native audio: what a video model gives you

Google's **Veo 3** made the news in **May 2025** as the first major video model to generate
**synchronized audio natively**, together with the picture. It makes three kinds of sound at once:

1. **Dialogue and speech.** Characters talk with lip-synced voices; a voice suits the look of the
   character who speaks; several speakers can be told apart.
2. **Sound effects and ambience.** Footsteps, creaking doors, rain, traffic, birdsong: sounds that fit
   the place and what happens on screen.
3. **Background music.** A score whose emotion follows the tone and the pace of the generated
   pictures.

The catch: all three arrive **already mixed into one track**. Listen to the native render of the
café scene and look at what the kit's cue sheet says is wrong with it.
"""),
    code("""
%matplotlib widget
import matplotlib.pyplot as plt
import numpy as np
from IPython.display import HTML, display

from layerlab.mix.scenes import load_scene
from layerlab.course.playback import play, ab

scene = load_scene("cafe_dialogue")
display(play(scene.load_native(), label="native render (one premixed track)"))
for flaw in scene.cues.flaws:
    print(f"- {flaw.kind}: {flaw.get('description', '')}")
"""),
    md("""
## Post-generated audio: one specialised tool per layer

The alternative builds each layer separately, each with the tool that is best at it:

| layer | typical tools | what the tool gives you |
|---|---|---|
| dialogue | **ElevenLabs**, **OpenAI TTS** (also Cartesia) | the best voice quality, and full control over delivery and wording |
| sound effects | dedicated **SFX generators** or **SFX libraries** | exact choice of each sound and exact timing |
| music | **Suno**, **Udio**, or a **licensed track** | complete control over the composition |
| ambience | **environmental sound libraries** or **ambience generators** | a bed that says where we are |

Every piece is made on its own; then everything is **mixed and synchronised** in a DAW (digital
audio workstation) or in a video editor. In this kit, `layerlab.mix.stack.LayerStack` plays the DAW's
part and lesson 07's mixer is its mixing desk.

**Question.** Which of the four layers do you expect a video model to get right most often, and which
least often? Keep your guess; the measurements below will tell.
"""),
    md("""
## A/B, layer by layer

A native render is one track, but because the kit knows exactly which clips went into it, it can
**split the render into its four layers** (the job a stem-separation tool would do on a real
model's output). Then each native layer can be heard and measured against its post-generated
replacement with the very functions the grader uses.

Pick a layer, listen to A (native) and B (post-generated), and compare their loudness.
"""),
    code("""
from layerlab.course.lessons import compare_layers, comparison_html, native_stems, postgen_stems

native = native_stems(scene).stems
post = postgen_stems(scene)
for layer in ("dialogue", "sfx", "music"):
    display(HTML(f"<b>{layer}</b>"))
    display(ab(native[layer], post[layer], labels=[f"A: native {layer}", f"B: post-generated {layer}"]))
"""),
    md("""
**What do you hear?** Is the native dialogue thinner, like a phone call? Do the cups land in the same
place in both? Which music is louder against the voices?

Now the numbers. Bold marks the better value of each pair.
"""),
    code("""
rows = compare_layers(scene)
display(HTML(comparison_html(rows)))
"""),
    code("""
fig, axes = plt.subplots(1, 2, figsize=(9, 3))
from scipy.signal import welch
for ax, (name, stems) in zip(axes, (("native", native), ("post-generated", post))):
    f, p = welch(stems["dialogue"][:, 0], fs=48000, nperseg=4096)
    ax.semilogx(f[1:], 10 * np.log10(p[1:] + 1e-20))
    ax.axvspan(300, 3400, color="orange", alpha=0.15, label="telephone band")
    ax.set_title(f"{name} dialogue spectrum", fontsize=9)
    ax.set_xlabel("Hz"); ax.set_ylim(-150, -40); ax.legend(fontsize=7)
fig.tight_layout()
"""),
    md("""
Reading the table:

* **Dialogue clarity.** The native voice stops a little above 3.4 kHz (no "air") and is late against
  the lips by 125 ms, three frames at 24 fps. The post-generated lines are full-band and on their cues.
* **SFX timing.** One native cup lands 80 ms after the picture, outside the EBU R37 window (at most
  60 ms late); the post-generated effects start on their frames.
* **Music level.** In the native render the music sits only about 3 LU under the dialogue (listeners
  want at least 10); placed and ducked separately it sits far lower.
* **Ambience.** Here the native bed is fine, which is typical: room tone is what a video model
  matches best.

This is the **quality vs convenience trade-off** in numbers. The native track came from one prompt,
with everything matched to the picture. The separate layers took more tools and more work, but each
one could be **perfected on its own**: the voice redone, exactly the right music chosen, each effect
placed on its frame, and every level set deliberately.
"""),
    md("""
## When to use which: the decision table

Set a scenario, then move the priorities. The recommendation is given per layer, with the reason,
next to the course's table. With a scenario's own priorities you get the table's answer; change what
matters and watch it turn into a hybrid.
"""),
    code("""
from layerlab.course.widgets import DecisionWidget

decision = DecisionWidget("character_dialogue")
decision
"""),
    md("""
The table, in short: **native** for a quick social clip (fast and good enough), for atmospheric
scenes and B-roll (the ambience already fits) and for prototypes and pitches (speed beats polish);
**post-generated** for professional narration (the voice is the product), product demos with a
voice-over (the script must be said exactly) and music videos or scored pieces (the music must be
controlled); **either** for a character dialogue scene (native when you need speed, post-generated
when you need quality).

**Try this.**
1. Choose *Character dialogue scene*, then raise *voice quality* to 0.9. Which layers change?
2. Choose *Music video or scored content* and push *speed* to 1.0. Why does the music stay a toss-up?
3. Choose the kit scene *forest B-roll*. Which slider would have to move most for the SFX to be
   replaced? (Hint: look at the forest scene's late bird in its cue sheet.)
"""),
    code("""
# the same answers without the widget, for the record
from layerlab.course.decisions import SCENARIOS, recommend

for key, s in SCENARIOS.items():
    r = recommend(key)
    print(f"{s.title:34s} -> {r.approach:8s} {r.per_layer}")
"""),
    md("""
## Hybrid: the rough cut goes native, the final gets replacements

In practice most 2026 workflows mix the two approaches: native audio carries the **rough cut and the
concept** stage, and the elements that fall short are **replaced one by one** with post-generated
versions for the **final**.

Below, the café scene walks that path. Each step exports a deliverable and runs the grader's checks
on it: watch the numbers turn green. (It takes about half a minute.)
"""),
    code("""
from layerlab.course.lessons import HYBRID_STEPS, hybrid_steps, hybrid_table_html

steps = hybrid_steps(scene)
display(HTML(hybrid_table_html(steps)))
"""),
    code("""
labels = [s.name for s in steps]
fig, axes = plt.subplots(1, 3, figsize=(10, 2.8))
for ax, (check, good, title) in zip(axes, (("masking", 10.0, "dialogue over music (LU)"),
                                           ("dialogue_sync", 60.0, "worst lip-sync offset (ms)"),
                                           ("loudness", -14.0, "integrated loudness (LUFS)"))):
    ax.plot(range(len(steps)), [s.values[check] for s in steps], "o-")
    ax.axhline(good, color="green", ls="--", lw=1)
    ax.set_xticks(range(len(steps)), [str(i) for i in range(len(steps))])
    ax.set_title(title, fontsize=9)
    ax.set_xlabel("step")
fig.tight_layout()
for i, s in enumerate(steps):
    print(i, s.name, "-", s.description)
"""),
    code("""
display(ab(steps[0].stack.render(master=False).mix, steps[-1].stack.render().mix,
           labels=["A: native rough cut", "B: hybrid final"]))
"""),
    md("""
**What changed, and what did not?** Replacing the dialogue fixed the lip sync and the telephone
sound but, for a moment, made the masking *worse* (the new voice is quieter than the native one and
the loud native music is still there). Replacing the music fixed that. The native **ambience was
never replaced**, and the final report still flags it: the grader wants dialogue 15 LU over the
ambience. That is a hybrid's job too: keep a layer, but adjust it (try it in lesson 07's mixer).

## Key takeaways

* A video model with native audio (Veo 3 was first) makes dialogue, effects and music **together
  with the picture**: quick, and coherent with the scene.
* The post-generated route uses a **specialised tool for each layer**: better quality, but a longer
  and more complex workflow.
* Native audio is the right call when **speed, prototyping or atmosphere** matter most.
* Post-generated audio wins when **voice quality, precise timing or control of the music** matter.
* **Hybrid** workflows (native for rough cuts, specialised tools for the final) are becoming the
  standard way of working.

## Exercise: audit a native render

Take a clip generated **with native audio** (Veo 3, Runway Gen-4.5, or this kit's `native.mp4`
files). Write down, **separately**, how good its **dialogue**, its **effects** and its **music** are,
and decide **which of them you would replace** with a specialised tool, and why.

The lab `labs/lab1_audit/lab1_audit.ipynb` walks you through exactly this audit with
`layerlab.audit.audit_clip` (levels, band limits, noise, effect timing against the picture), and
`labs/lab3_choose_approach` asks you to defend a choice from the decision table. Then
`labs/lab2_hybrid_mix` has you build the hybrid final yourself.
"""),
]

# ----------------------------------------------------------------------------- 07 four layers

FOUR = [
    md("""
# Lesson 07 - The four layers

*About 40 minutes. You will mix a scene from its four layers, hear what each one does, and export a
deliverable for the labs.*

**In one line:** professional sound has four layers, from the top: **dialogue**, then **SFX**, then
**ambience**, then **music** at the bottom, ducking under the voice. Even when you start from native
audio, the standard practice is to swap or fix it **layer by layer**.

## The mental model: a layered file

A film's soundtrack is never "one sound". It is a stack of **independent layers**, like an image
file with separate layers for the background, the subject and the text. Sound designers work with
**four main layers**, each with its own job; thinking in these layers is the basis of professional
generative media.
"""),
    code("""
%matplotlib widget
import numpy as np
import matplotlib.pyplot as plt
from IPython.display import HTML, display

from layerlab.mix.stack import LAYERS, LAYER_ROLES
from layerlab.mix.scenes import load_scene
from layerlab.course.playback import play, ab
from layerlab.course.lessons import scene_mixer

for priority, name in enumerate(LAYERS, start=1):
    print(f"{priority}. {name:9s} {LAYER_ROLES[name]}")
"""),
    md("""
## The stack and its priorities

```
priority   layer                      example                            how it behaves
highest    1  DIALOGUE / VOICE        "Welcome to our product demo..."   always on top
           2  SOUND EFFECTS           [click] [whoosh] [typing]          synced to visual events
           3  AMBIENCE                ~ office hum, distant traffic ~    continuous background
lowest     4  MUSIC / SCORE           gentle corporate background        ducks under dialogue
```

**1. Dialogue / voice.** The most important layer, because people attend to speech before any other
sound. It has to be **clear**, **well timed** and carry the **right emotion**. In generative media it
comes from text-to-speech, a cloned voice, or the video model's native audio. It always **sits on
top**: the other layers support it and never cover it. It must be **clean** (no background noise or
artefacts in the recording), and its **timing against the picture** is critical (lesson 05 covers
lip sync).

**2. Sound effects (SFX).** Distinct sounds tied to something **visible**: footsteps, doors, typing,
glasses clinking, explosions. They make what we see feel physical and weighty. Each must be **in sync
with its event** (the door shuts on the frame where the sound starts). **Subtle** effects (clothes
rustling, keys clicking) add a realism viewers *feel* without noticing it. Effects can be generated,
taken from a library, or **extracted from native audio**.

**3. Ambience / room tone.** The background atmosphere: café chatter, insects in a forest, city
traffic, the hum of air conditioning. It tells us **where we are** and fills the space between
events. It must be **continuous and consistent**: an abrupt cut breaks the illusion. A **change** of
ambience between scenes tells the viewer the **location changed**. It is the layer people forget
most often, and its absence leaves an eerie **"vacuum"**.

**4. Music / score.** Sets the emotional tone (tension, joy, wonder, nostalgia) and steers how the
viewer feels, **independently of the picture**. It should **support, not compete with**, the
dialogue: with **ducking** it drops automatically while someone speaks and comes back up when only
the picture talks. Its **style must match the look** of the film (cinematic pictures with a lo-fi
hip-hop beat are a mismatch).
"""),
    md("""
## The mixer

Below is the café scene built from its post-generated layers. Every control acts on the mix at once:

* a **gain slider** per layer (dB), **M** to mute it and **S** to solo it;
* **ducking**: on/off, **depth** (how far the music drops under speech), **threshold** (how loud the
  voice must be to trigger it), **attack** and **release** (how fast it goes down and comes back);
* the **target** the readout compares with (lesson 08 explains them).

The views update in place: the four layers' waveforms with the ducking gain (dashed), the loudness
over time, and the **masking map**, which shows, band by band, whether the dialogue is heard over
everything else while someone speaks (green: audible, red: masked). The readout below the figure
gives the numbers.

Your settings are saved to `session.json` next to this notebook after every change, and come back
when you run the notebook again, even after a kernel restart. **Preview with video** muxes the
current mix with the scene's picture; **Export deliverable** writes the folder the labs grade.
"""),
    code("""
scene = load_scene("cafe_dialogue")
mixer = scene_mixer(scene, session_path="session.json", title="cafe_dialogue: your mix")
mixer
"""),
    md("""
**Try this.**
1. Pull the **music** down until the readout's "dialogue over music" passes 10 LU. How many dB did
   it take? Then turn it up until the words get hard to follow: what does the masking map show?
2. **Solo** each layer in turn and listen (the player below the mixer follows your changes a moment
   after you let go of a control). Which layer would you miss most if it were gone?
3. Set the ducking **attack** to 1000 ms. Where do you hear the first syllables of each line
   disappear under the music?
"""),
    code("""
# Your current settings, as numbers (run again after moving the sliders)
print(mixer.view.readout.to_text())
print("saved in", mixer.session_path)
"""),
    md("""
## Demonstrations

Each demonstration below works on a **separate copy** of the scene, so your own mix above is not
touched. Run the cells in order; listen before you read the numbers.

### 1. Swap the music, and only the music

With one premixed track you cannot change the music without regenerating everything, even when the
voice is perfect. With layers you just replace one. Here the café's jazz is swapped for the forest
scene's slow ambient score: dialogue, effects and ambience are untouched, but does the new music
match a café?
"""),
    code("""
from layerlab.course.lessons import swap_music, other_scene_music

demo = scene_mixer(scene, session_path=None, title="demonstrations (a copy of the scene)")
before = demo.view.render
swap_music(demo.stack, other_scene_music(scene), gain_db=-10.0)
after = demo.changed_stack().render
same = {name: bool(np.array_equal(before.stems[name], after.stems[name])) for name in ("dialogue", "sfx", "ambience")}
print("other layers unchanged:", same)
display(ab(before.mix, after.mix, labels=["A: café jazz", "B: forest score (style mismatch)"]))
demo
"""),
    md("""
### 2. Nudge an effect off its event

Move one cup 120 ms late. The readout's "SFX sync" turns red: EBU R37 allows at most 60 ms late.
If the native effect were still underneath, you would hear both: a **flam**, two attacks where the
picture shows one.
"""),
    code("""
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
"""),
    md("""
**What do you hear?** At 20 ms the two hits fuse into one slightly thicker sound; somewhere between
about 40 and 60 ms they start to separate; at 120 ms they are clearly two.

### 3. Cut the ambience: the vacuum

Take the music out first, so the room can be heard on its own, then mute the room tone and listen
to the gaps between the lines. The number is the mix's level in its quietest moments (the 10th
percentile of the momentary loudness): with the ambience it sits at the level of the room; without
it, the gaps fall to digital silence.
"""),
    code("""
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
"""),
    md("""
### 4. Turn the ducking off and watch the masking map fill

Raise the music a little, then switch the ducking off. Look at the masking map of the demonstration
mixer: the red spreads across the speech bands, and the audibility index falls.
"""),
    code("""
demo.set_values(music=6.0)
ducked = demo.view.readout
demo.duck_on.value = False
flat = demo.view.readout
masked = lambda view: float(np.nanmean(view.masking_map < 0.5))
print(f"ducking on : audibility {ducked.audibility_index:.2f}, dialogue over music {ducked.dialogue_over_music_lu:5.1f} LU")
print(f"ducking off: audibility {flat.audibility_index:.2f}, dialogue over music {flat.dialogue_over_music_lu:5.1f} LU")
print(f"share of the map that is masked now: {masked(demo.view):.0%}")
"""),
    md("""
## Why layers matter for generative media

Generating everything in one pass gives you all four layers **baked together**: convenient, but
rigid. If the voice is perfect and the music is wrong, the only way to change the music is to
regenerate the whole thing. Generating the layers separately gives you **full control of the mix**:
the dialogue level, the choice of music, the timing of each effect, the character of the room. The
price is more work; what you buy is control.

## Export your mix for the labs

When your readout is green, export. The folder `deliverable/` (mix + four stems + `session.json`) is
what the labs' self-check and the autograder measure. The export applies the master section: it
brings the mix to the target loudness and keeps the true peak under the ceiling.
"""),
    code("""
out = mixer.export("deliverable")
print(sorted(p.relative_to(out).as_posix() for p in out.rglob("*.wav")))
"""),
    md("""
## Key takeaways

* Professional sound is built from **four layers**: dialogue, sound effects, ambience and music.
* **Dialogue on top, music at the bottom**; effects are locked to their events; ambience fills
  the space in between.
* Making the layers **separately** gives the most control; **native** audio gives the most
  convenience.
* Even when you start from native audio, **plan to replace or adjust single layers** in
  post-production.
"""),
]

# ----------------------------------------------------------------------------- 08 measuring the mix

MEASURE = [
    md("""
# Lesson 08 - Measuring the mix

*About 30 minutes. Every number the grader prints, where it comes from, and why it matters, with the
grader's own functions, on signals whose right answer is known.*
"""),
    code("""
%matplotlib widget
import numpy as np
import matplotlib.pyplot as plt
from IPython.display import HTML, display

import layerlab
from layerlab.measure.loudness import Meter, integrated_loudness, true_peak_dbtp, momentary_loudness, short_term_loudness
from layerlab.measure.targets import PROFILES, get_profile

sr = layerlab.SAMPLE_RATE
t = np.arange(20 * sr) / sr
"""),
    md("""
## 1. Loudness in LUFS

Peak meters say how close a signal gets to full scale; they say little about how **loud** it
sounds. Loudness in **LUFS** (ITU-R BS.1770) weights the signal the way the ear does (the
*K-weighting*: a gentle boost of the highs and a cut of the deepest lows), averages its energy over
400 ms blocks, and **gates** out silence: blocks under -70 LUFS, then blocks more than 10 LU under
the average of the rest. One **LU** is one dB of loudness.

A known answer: a 1 kHz sine at -23 dBFS in both channels measures **-23.0 LUFS**.
"""),
    code("""
sine = (10 ** (-23 / 20) * np.sin(2 * np.pi * 1000 * t)).astype(np.float32)
stereo = np.stack([sine, sine], axis=1)
print(f"integrated: {integrated_loudness(stereo):.2f} LUFS (expected -23.00)")
quieter = np.concatenate([stereo, stereo * 10 ** (-10 / 20)])
print(f"20 s at -23 then 20 s at -33: {integrated_loudness(quieter):.2f} LUFS")
"""),
    md("""
Besides the **integrated** value (the whole programme), meters show **momentary** (400 ms window) and
**short-term** (3 s window) loudness over time; the mixer in lesson 07 draws both.

**Question.** Why is the second value above -28 LUFS, the plain average of -23 and -33? (Hint:
loudness averages *energy*, not dB.)
"""),
    code("""
from layerlab.mix.scenes import hybrid_stack
mix = hybrid_stack("cafe_dialogue").render().mix
report = Meter().measure(mix)
print(report.summary())
fig, ax = plt.subplots(figsize=(9, 2.8))
ax.plot(report.momentary.times_s, report.momentary.lufs, lw=0.7, label="momentary")
ax.plot(report.short_term.times_s, report.short_term.lufs, lw=1.5, label="short-term")
ax.axhline(report.integrated_lufs, ls=":", label="integrated")
ax.set_ylim(-50, 0); ax.set_xlabel("s"); ax.set_ylabel("LUFS"); ax.legend(fontsize=8)
"""),
    md("""
## 2. True peak

Digital samples are points on a curve; the analogue signal rebuilt from them can rise **between**
the samples. A sine at a quarter of the sample rate, sampled 45 degrees off its crests, has every
sample at 0.707 of its real height: the sample peak reads 3 dB low. **True peak** (dBTP) is measured
on a 4x oversampled signal so such peaks are caught. Delivery specs limit the true peak, never the
sample peak.
"""),
    code("""
n = np.arange(sr)
quarter = (0.5 * np.sin(2 * np.pi * n / 4 + np.pi / 4)).astype(np.float32)
x = np.stack([quarter, quarter], axis=1)
print(f"sample peak {20 * np.log10(np.abs(x).max()):6.2f} dBFS")
print(f"true peak   {true_peak_dbtp(x):6.2f} dBTP (the real crest is at -6.02)")
"""),
    md("""
## 3. Delivery targets

Each destination asks for its own loudness, with a tolerance, and a true-peak ceiling. The master
section of the kit (used when you export) brings a mix to the chosen target.
"""),
    code("""
rows = "".join(f"<tr><td>{p.name}</td><td>{p.title}</td><td>{p.describe()}</td><td>{p.source}</td></tr>"
               for p in PROFILES.values())
display(HTML("<table><tr><th>name</th><th>destination</th><th>rule</th><th>source</th></tr>" + rows + "</table>"))
"""),
    md("""
**Dialogue-gated** loudness (the drama-streaming row) only counts the moments when someone speaks. With
separate stems that is easy to do exactly: the dialogue stem says when speech is present.

## 4. Sync: how far off is too far?

The grader measures each effect's **offset**: the time the sound starts minus the time of its visual
event; positive means the sound is late. People forgive late sound (it happens naturally: sound is
slower than light) far more than early sound. The pass window is **EBU R37**: at most 40 ms early
and 60 ms late. ITU-R **BT.1359** measured when viewers *detect* an error (45 ms early, 125 ms late)
and when they find it *unacceptable* (90 ms early, 185 ms late). At 24 fps one frame lasts 41.7 ms.
"""),
    code("""
from layerlab.measure.sync import SYNC_WINDOWS, sfx_offsets
from layerlab.mix.scenes import load_scene

for name, w in SYNC_WINDOWS.items():
    print(f"{name:24s} {w.describe()}")

scene = load_scene("cafe_dialogue")
events = [{"id": e.id, "time_s": e.time_s, "label": e.label} for e in scene.cues.events]
stack = hybrid_stack(scene, master=False)
next(c for c in stack["sfx"] if c.name == "cup_b").start_s += 0.075   # one cup 75 ms late
result = sfx_offsets(stack.render().stems["sfx"], events)
for e in result.events:
    print(f"{e.id:8s} offset {e.offset_ms:+6.1f} ms  {'pass' if e.passed else 'FAIL'}  {e.message}")
"""),
    md("""
**Question.** Would the late cup pass under the BT.1359 *detectability* limit? Would a viewer notice it?

## 5. Masking: is the dialogue on top?

Two measurements, both taken only while someone speaks:

* **Dialogue over background** in LU. A study of listeners' preferences (Torcoli et al., 2019)
  found people want speech at least **10 LU above music** and **15 LU above ambience**, and
  non-experts want about 4 LU more than experts.
* **Band audibility**, built like the Speech Intelligibility Index (ANSI S3.5): in 18
  one-third-octave bands from 160 Hz to 8 kHz, the dialogue's level over everything else is turned
  into an audibility between 0 (covered) and 1 (clear), and the bands are weighted by how much they
  matter for understanding speech (most around 1 to 4 kHz). The masking map shows this per moment.
"""),
    code("""
from layerlab.measure.masking import band_audibility, dialogue_to_background_lu
from layerlab.checks.plots import plot_masking_map

stack = hybrid_stack(scene, master=False)
for music_db in (0.0, 14.0):
    stack["music"].gain_db = music_db
    r = stack.render()
    dm = dialogue_to_background_lu(r.stems["dialogue"], r.stems["music"])
    ba = band_audibility(r.stems["dialogue"], r.mix - r.stems["dialogue"])
    print(f"music fader {music_db:+5.1f} dB: dialogue over music {dm.lu:5.1f} LU, audibility index {ba.index:.2f}")
plot_masking_map(ba)
"""),
    md("""
## 6. The whole report

`run_checks` puts every measurement together on a deliverable folder. If you exported your mix in
lesson 07, it is measured here; otherwise the reference mix is.
"""),
    code("""
from pathlib import Path
from layerlab.checks import run_checks
from layerlab.mix.session import export_deliverable

yours = Path("deliverable")
folder = yours if (yours / "mix.wav").exists() else export_deliverable(hybrid_stack(scene), "_layerlab_audio/reference_cafe")
report = run_checks(folder, scene="cafe_dialogue", target="streaming")
print("measured:", folder)
print(report.to_text())
"""),
    md("""
**Try this.** Go back to lesson 07, make the music deliberately too loud, export, and run the cell
above again. Which checks fail, and do their messages tell you what to change?
"""),
]


def main() -> None:
    write("00_start_here", START)
    write("06_native_vs_postgen", NATIVE)
    write("07_four_layers", FOUR)
    write("08_measuring_the_mix", MEASURE)


if __name__ == "__main__":
    main()
