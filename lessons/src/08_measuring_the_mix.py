# %% [markdown]
# # Lesson 08 - Measuring the mix
#
# *About 30 minutes. Every number the grader prints, where it comes from, and why it matters, with the
# grader's own functions, on signals whose right answer is known.*

# %%
# %matplotlib widget
import numpy as np
import matplotlib.pyplot as plt
from IPython.display import HTML, display

import layerlab
from layerlab.measure.loudness import Meter, integrated_loudness, true_peak_dbtp, momentary_loudness, short_term_loudness
from layerlab.measure.targets import PROFILES, get_profile

sr = layerlab.SAMPLE_RATE
t = np.arange(20 * sr) / sr

# %% [markdown]
# ## 1. Loudness in LUFS
#
# Peak meters say how close a signal gets to full scale; they say little about how **loud** it
# sounds. Loudness in **LUFS** (ITU-R BS.1770) weights the signal the way the ear does (the
# *K-weighting*: a gentle boost of the highs and a cut of the deepest lows), averages its energy over
# 400 ms blocks, and **gates** out silence: blocks under -70 LUFS, then blocks more than 10 LU under
# the average of the rest. One **LU** is one dB of loudness.
#
# A known answer: a 1 kHz sine at -23 dBFS in both channels measures **-23.0 LUFS**.

# %%
sine = (10 ** (-23 / 20) * np.sin(2 * np.pi * 1000 * t)).astype(np.float32)
stereo = np.stack([sine, sine], axis=1)
print(f"integrated: {integrated_loudness(stereo):.2f} LUFS (expected -23.00)")
quieter = np.concatenate([stereo, stereo * 10 ** (-10 / 20)])
print(f"20 s at -23 then 20 s at -33: {integrated_loudness(quieter):.2f} LUFS")

# %% [markdown]
# Besides the **integrated** value (the whole programme), meters show **momentary** (400 ms window) and
# **short-term** (3 s window) loudness over time; the mixer in lesson 07 draws both.
#
# **Question.** Why is the second value above -28 LUFS, the plain average of -23 and -33? (Hint:
# loudness averages *energy*, not dB.)

# %%
from layerlab.mix.scenes import hybrid_stack
reference = hybrid_stack("cafe_dialogue")   # the scene's reference mix, mastered
rendered = reference.render()
mix = rendered.mix
report = Meter().measure(mix)
print(report.summary())
fig, ax = plt.subplots(figsize=(7.5, 2.6), layout="constrained")
ax.plot(report.momentary.times_s, report.momentary.lufs, lw=0.7, label="momentary")
ax.plot(report.short_term.times_s, report.short_term.lufs, lw=1.5, label="short-term")
ax.axhline(report.integrated_lufs, ls=":", label="integrated")
ax.set_ylim(-50, 0); ax.set_xlabel("s"); ax.set_ylabel("LUFS")
ax.legend(fontsize=8);   # the ';' keeps the notebook from printing the Legend object

# %% [markdown]
# ## 2. True peak
#
# Digital samples are points on a curve; the analogue signal rebuilt from them can rise **between**
# the samples. A sine at a quarter of the sample rate, sampled 45 degrees off its crests, has every
# sample at 0.707 of its real height: the sample peak reads 3 dB low. **True peak** (dBTP) is measured
# on a 4x oversampled signal so such peaks are caught. Delivery specs limit the true peak, never the
# sample peak.

# %%
n = np.arange(sr)
quarter = (0.5 * np.sin(2 * np.pi * n / 4 + np.pi / 4)).astype(np.float32)
x = np.stack([quarter, quarter], axis=1)
print(f"sample peak {20 * np.log10(np.abs(x).max()):6.2f} dBFS")
print(f"true peak   {true_peak_dbtp(x):6.2f} dBTP (the real crest is at -6.02)")

# %% [markdown]
# ## 3. Delivery targets
#
# Each destination asks for its own loudness, with a tolerance, and a true-peak ceiling. The master
# section of the kit (used when you export) brings a mix to the chosen target.

# %%
rows = "".join(f"<tr><td>{p.name}</td><td>{p.title}</td><td>{p.describe()}</td><td>{p.source}</td></tr>"
               for p in PROFILES.values())
display(HTML("<table><tr><th>name</th><th>destination</th><th>rule</th><th>source</th></tr>" + rows + "</table>"))

# %% [markdown]
# **Dialogue-gated** loudness (the drama-streaming row) only counts the moments when someone speaks. With
# separate stems that is easy to do exactly: the dialogue stem says when speech is present.
#
# ## 4. Sync: how far off is too far?
#
# The grader measures each effect's **offset**: the time the sound starts minus the time of its visual
# event; positive means the sound is late. People forgive late sound (it happens naturally: sound is
# slower than light) far more than early sound. The pass window is **EBU R37**: at most 40 ms early
# and 60 ms late. ITU-R **BT.1359** measured when viewers *detect* an error (45 ms early, 125 ms late)
# and when they find it *unacceptable* (90 ms early, 185 ms late). At 24 fps one frame lasts 41.7 ms.

# %%
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

# %% [markdown]
# **Question.** Would the late cup pass under the BT.1359 *detectability* limit? Would a viewer notice it?
#
# ## 5. Masking: is the dialogue on top?
#
# Two measurements, both taken only while someone speaks:
#
# * **Dialogue over background** in LU. A study of listeners' preferences (Torcoli et al., 2019)
#   found people want speech at least **10 LU above music** and **15 LU above ambience**, and
#   non-experts want about 4 LU more than experts.
# * **Band audibility**, built like the Speech Intelligibility Index (ANSI S3.5): in 18
#   one-third-octave bands from 160 Hz to 8 kHz, the dialogue's level over everything else is turned
#   into an audibility between 0 (covered) and 1 (clear), and the bands are weighted by how much they
#   matter for understanding speech (most around 1 to 4 kHz). The masking map shows this per moment.

# %%
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

# %% [markdown]
# ## 6. The whole report
#
# `run_checks` puts every measurement together on a deliverable folder. If you exported your mix in
# lesson 07, it is measured here; otherwise the reference mix is.

# %%
from pathlib import Path
from layerlab.checks import run_checks
from layerlab.mix.session import export_deliverable

yours = Path("deliverable")
folder = yours if (yours / "mix.wav").exists() else export_deliverable(reference, "_layerlab_audio/reference_cafe",
                                                                      render=rendered)   # rendered in section 1
report = run_checks(folder, scene="cafe_dialogue", target="streaming")
print("measured:", folder)
print(report.to_text())

# %% [markdown]
# **Try this.** Go back to lesson 07, make the music deliberately too loud, export, and run the cell
# above again. Which checks fail, and do their messages tell you what to change?
