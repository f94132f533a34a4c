# %% [markdown]
# # Lab 3 - Choose the approach
#
# Six new briefs, none of them from the lesson's table. For each one, an audit of the video
# model's native render is summarised per layer. Decide, **per layer**, whether to keep the
# `"native"` audio, replace it with a `"post"`-generated layer, or leave it out (`"none"`, only when
# the brief has no such layer), and name the overall approach: `"native"` (everything kept),
# `"post"` (everything replaced) or `"hybrid"` (some of each).
#
# **What is graded**: your choices, per scenario (2 points, shared by the five answers), by the
# grader; your justification for each scenario (2 points) by an instructor.

# %% role="readonly" grade_id="lab3_setup"
import warnings
warnings.simplefilter("ignore")
import json
from pathlib import Path
from layerlab.grading import check_answers

SCENARIOS = json.loads(Path("scenarios.json").read_text(encoding="utf-8"))["scenarios"]
print([s["id"] for s in SCENARIOS])

# %% [markdown]
# ## `news_explainer` - News-site explainer with a narrator
#
# A 60 s explainer for a news site: a narrator reads an approved script over generated B-roll of a harbour. It publishes tomorrow morning and will be embedded next to the article.
#
# **Audit of the native render**
#
# - **dialogue**: The native narrator mispronounces two place names and paraphrases one sentence of the approved script; voice quality is otherwise fine.
# - **sfx**: Gulls, a ship horn and rope creaks land within 20 ms of their visual events.
# - **ambience**: Harbour wind and water run continuously with no dropouts.
# - **music**: A generic synth bed sits only 4 LU under the narration and hides consonants.

# %% [markdown]
# ## `surf_reel` - Surf reel for tonight's social post
#
# A 12 s vertical reel of waves breaking on rocks, posted tonight to a surf shop's social account. No one speaks and the shop does not want music.
#
# **Audit of the native render**
#
# - **dialogue**: There is no speech in the clip and none is needed.
# - **sfx**: Each wave crash lands within 25 ms of the picture.
# - **ambience**: Continuous surf and wind, matching the picture; no gaps.
# - **music**: The native render has no music, which is what the brief asks for.

# %% [markdown]
# ## `game_trailer` - Game trailer with the studio's hero voice
#
# A 45 s trailer for a game. The hero's lines must be the studio's established character voice (a cast voice actor), over explosions and a trailer score that the publisher licensed.
#
# **Audit of the native render**
#
# - **dialogue**: The native voice does not sound like the established character, and sits 2 LU over the score.
# - **sfx**: Explosions and sword hits are within 30 ms of their frames and sound powerful.
# - **ambience**: The battlefield bed drops out for 1.2 s at the cut at 0:21, with no scene change there.
# - **music**: The native score is generic; the publisher's licensed track must be used.

# %% [markdown]
# ## `language_course` - Screen-recorded language course, three languages
#
# A 3-minute screen recording for an online language course, delivered in English, Spanish and Korean with the same picture. Every version needs the same script-exact narration, interface clicks and the course's brand music.
#
# **Audit of the native render**
#
# - **dialogue**: The native narration exists only in English and changes wording from take to take.
# - **sfx**: Three of the five interface clicks have no sound; the others are 150 ms late.
# - **ambience**: Quiet room tone, but it changes character at every regenerated segment.
# - **music**: A different melody in each render; the brand jingle is required.

# %% [markdown]
# ## `pitch_vox_pop` - Internal pitch: street vox pop concept
#
# A 20 s concept clip for an internal pitch meeting in an hour: two passers-by answer a question on a busy street. Nobody outside the team will see it.
#
# **Audit of the native render**
#
# - **dialogue**: Lip sync within 30 ms; dialogue sits 16 LU over the background and is clear.
# - **sfx**: A passing bus and a bicycle bell are in sync.
# - **ambience**: Street traffic bed, continuous and believable.
# - **music**: No music, none wanted.

# %% [markdown]
# ## `museum_installation` - Museum installation loop
#
# A 90 s loop for a museum room about a rainforest, no narration. The loop plays all day: its atmosphere must restart without an audible jump, and its music must be able to fade under a visitor-triggered voice track that is added later.
#
# **Audit of the native render**
#
# - **dialogue**: No speech in the loop.
# - **sfx**: Frog calls and a falling branch are within 20 ms of the picture.
# - **ambience**: The rainforest bed is rich and matches the picture, but it ends 3 s before the loop point and jumps by 8 dB at the restart.
# - **music**: A native score is baked into the render, so it cannot duck under the added voice track.

# %% [markdown]
# ## Your choices
#
# Fill in every scenario: `approach` and the four layers.

# %% role="solution" grade_id="lab3_choices"
### BEGIN SOLUTION
choices = {
    "news_explainer": {"approach": "hybrid", "dialogue": "post", "sfx": "native", "ambience": "native", "music": "post"},
    "surf_reel": {"approach": "native", "dialogue": "none", "sfx": "native", "ambience": "native", "music": "none"},
    "game_trailer": {"approach": "hybrid", "dialogue": "post", "sfx": "native", "ambience": "post", "music": "post"},
    "language_course": {"approach": "post", "dialogue": "post", "sfx": "post", "ambience": "post", "music": "post"},
    "pitch_vox_pop": {"approach": "native", "dialogue": "native", "sfx": "native", "ambience": "native", "music": "none"},
    "museum_installation": {"approach": "hybrid", "dialogue": "none", "sfx": "native", "ambience": "post", "music": "post"},
}
### END SOLUTION

# %% [markdown]
# ### Self-check
#
# Complete and well-formed? Working on your own, without an instructor? Add `grade=True` to see the grader's verdict on each scenario.

# %% role="readonly" grade_id="lab3_selfcheck"
check_answers({"choices": choices}, assignment="lab3_choose_approach");

# %% [markdown]
# ### Graded: choices for `news_explainer`

# %% role="test" grade_id="choice_news_explainer"
assert isinstance(choices["news_explainer"], dict), 'choices["news_explainer"] must be a dict'
### BEGIN HIDDEN TESTS
from layerlab.grading import assignment_spec as _spec, score_answers as _score
_item = {i.grade_id: i for i in _score({"choices": choices}, _spec("lab3_choose_approach"))}["choice_news_explainer"]
assert _item.passed, _item.message
### END HIDDEN TESTS

# %% [markdown]
# **Justify your choices for `news_explainer`** (cite the audit; 2-4 sentences).

# %% [markdown] role="manual" grade_id="justify_news_explainer" points=2
# YOUR ANSWER HERE
#
# BEGIN MARK SCHEME
# 2 points: 1 for tying each replaced layer to a measured problem or a hard requirement of the brief,
# 1 for explaining why the kept layers are good enough (or why speed wins). Expected reasoning:
# Script control decides the narration (post); SFX and ambience already measure well (keep native); music masks the narration at 4 LU and cannot be re-balanced in a premix (post). Hybrid.
# END MARK SCHEME

# %% [markdown]
# ### Graded: choices for `surf_reel`

# %% role="test" grade_id="choice_surf_reel"
assert isinstance(choices["surf_reel"], dict), 'choices["surf_reel"] must be a dict'
### BEGIN HIDDEN TESTS
from layerlab.grading import assignment_spec as _spec, score_answers as _score
_item = {i.grade_id: i for i in _score({"choices": choices}, _spec("lab3_choose_approach"))}["choice_surf_reel"]
assert _item.passed, _item.message
### END HIDDEN TESTS

# %% [markdown]
# **Justify your choices for `surf_reel`** (cite the audit; 2-4 sentences).

# %% [markdown] role="manual" grade_id="justify_surf_reel" points=2
# YOUR ANSWER HERE
#
# BEGIN MARK SCHEME
# 2 points: 1 for tying each replaced layer to a measured problem or a hard requirement of the brief,
# 1 for explaining why the kept layers are good enough (or why speed wins). Expected reasoning:
# No speech, no music wanted; the SFX and ambience are in sync and continuous; tonight's deadline favours speed. Native.
# END MARK SCHEME

# %% [markdown]
# ### Graded: choices for `game_trailer`

# %% role="test" grade_id="choice_game_trailer"
assert isinstance(choices["game_trailer"], dict), 'choices["game_trailer"] must be a dict'
### BEGIN HIDDEN TESTS
from layerlab.grading import assignment_spec as _spec, score_answers as _score
_item = {i.grade_id: i for i in _score({"choices": choices}, _spec("lab3_choose_approach"))}["choice_game_trailer"]
assert _item.passed, _item.message
### END HIDDEN TESTS

# %% [markdown]
# **Justify your choices for `game_trailer`** (cite the audit; 2-4 sentences).

# %% [markdown] role="manual" grade_id="justify_game_trailer" points=2
# YOUR ANSWER HERE
#
# BEGIN MARK SCHEME
# 2 points: 1 for tying each replaced layer to a measured problem or a hard requirement of the brief,
# 1 for explaining why the kept layers are good enough (or why speed wins). Expected reasoning:
# The established character voice and the licensed score must be used (post); the SFX measure well (keep); the 1.2 s ambience dropout with no scene change breaks the bed (post). Hybrid.
# END MARK SCHEME

# %% [markdown]
# ### Graded: choices for `language_course`

# %% role="test" grade_id="choice_language_course"
assert isinstance(choices["language_course"], dict), 'choices["language_course"] must be a dict'
### BEGIN HIDDEN TESTS
from layerlab.grading import assignment_spec as _spec, score_answers as _score
_item = {i.grade_id: i for i in _score({"choices": choices}, _spec("lab3_choose_approach"))}["choice_language_course"]
assert _item.passed, _item.message
### END HIDDEN TESTS

# %% [markdown]
# **Justify your choices for `language_course`** (cite the audit; 2-4 sentences).

# %% [markdown] role="manual" grade_id="justify_language_course" points=2
# YOUR ANSWER HERE
#
# BEGIN MARK SCHEME
# 2 points: 1 for tying each replaced layer to a measured problem or a hard requirement of the brief,
# 1 for explaining why the kept layers are good enough (or why speed wins). Expected reasoning:
# Three languages with a script-exact narration, missing/late clicks, an inconsistent room tone and required brand music: every layer must be controlled and repeatable across versions. Post.
# END MARK SCHEME

# %% [markdown]
# ### Graded: choices for `pitch_vox_pop`

# %% role="test" grade_id="choice_pitch_vox_pop"
assert isinstance(choices["pitch_vox_pop"], dict), 'choices["pitch_vox_pop"] must be a dict'
### BEGIN HIDDEN TESTS
from layerlab.grading import assignment_spec as _spec, score_answers as _score
_item = {i.grade_id: i for i in _score({"choices": choices}, _spec("lab3_choose_approach"))}["choice_pitch_vox_pop"]
assert _item.passed, _item.message
### END HIDDEN TESTS

# %% [markdown]
# **Justify your choices for `pitch_vox_pop`** (cite the audit; 2-4 sentences).

# %% [markdown] role="manual" grade_id="justify_pitch_vox_pop" points=2
# YOUR ANSWER HERE
#
# BEGIN MARK SCHEME
# 2 points: 1 for tying each replaced layer to a measured problem or a hard requirement of the brief,
# 1 for explaining why the kept layers are good enough (or why speed wins). Expected reasoning:
# Internal concept, due in an hour; dialogue measures in sync and clear, SFX and ambience fine, no music. Native (speed over polish).
# END MARK SCHEME

# %% [markdown]
# ### Graded: choices for `museum_installation`

# %% role="test" grade_id="choice_museum_installation"
assert isinstance(choices["museum_installation"], dict), 'choices["museum_installation"] must be a dict'
### BEGIN HIDDEN TESTS
from layerlab.grading import assignment_spec as _spec, score_answers as _score
_item = {i.grade_id: i for i in _score({"choices": choices}, _spec("lab3_choose_approach"))}["choice_museum_installation"]
assert _item.passed, _item.message
### END HIDDEN TESTS

# %% [markdown]
# **Justify your choices for `museum_installation`** (cite the audit; 2-4 sentences).

# %% [markdown] role="manual" grade_id="justify_museum_installation" points=2
# YOUR ANSWER HERE
#
# BEGIN MARK SCHEME
# 2 points: 1 for tying each replaced layer to a measured problem or a hard requirement of the brief,
# 1 for explaining why the kept layers are good enough (or why speed wins). Expected reasoning:
# SFX measure well (keep); the bed must loop without a jump (post-generated, loopable); baked-in music cannot duck under a later voice track (post). No dialogue in the loop. Hybrid.
# END MARK SCHEME
