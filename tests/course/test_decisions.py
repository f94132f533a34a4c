"""The lesson-06 decision table: text defaults, priority effects, bad input."""

import html

import pytest

from layerlab.course.decisions import (
    SCENARIOS,
    TEXT_SCENARIOS,
    decision_table,
    get_scenario,
    recommend,
    recommendation_html,
    table_html,
)
from layerlab.errors import LayerLabError

# The course text's table, read from the seed text (scenario title -> approach).
COURSE_TABLE = {
    "Quick social media clip": "native",
    "Professional narration video": "postgen",
    "Product demo with voiceover": "postgen",
    "Atmospheric scene / B-roll": "native",
    "Character dialogue scene": "either",
    "Music video or scored content": "postgen",
    "Prototype / concept pitch": "native",
}


def test_seven_rows_of_the_text_in_order():
    rows = decision_table()
    assert [r["scenario"] for r in rows] == list(COURSE_TABLE)
    assert len(TEXT_SCENARIOS) == 7
    assert {r["scenario"]: r["approach"] for r in rows} == COURSE_TABLE


@pytest.mark.parametrize("title", list(COURSE_TABLE))
def test_neutral_priorities_give_the_texts_answer(title):
    rec = recommend(title)
    assert rec.approach == COURSE_TABLE[title]
    assert rec.matches_text
    assert get_scenario(title).text_reason in rec.reason


@pytest.mark.parametrize("key", list(SCENARIOS))
def test_every_scenario_including_kit_scenes_reproduces_its_default(key):
    rec = recommend(key)
    assert rec.approach == SCENARIOS[key].text_approach
    assert set(rec.per_layer) == {"dialogue", "sfx", "ambience", "music"}


def test_raising_voice_quality_turns_a_toss_up_into_a_hybrid():
    neutral = recommend("character_dialogue")
    assert neutral.per_layer["dialogue"] == "either"
    rec = recommend("character_dialogue", voice_quality=0.95)
    assert rec.per_layer["dialogue"] == "postgen"
    assert rec.per_layer["ambience"] == "native"
    assert rec.approach == "hybrid"
    assert not rec.matches_text
    assert "voice quality" in rec.reason


def test_speed_pulls_everything_back_to_native():
    rec = recommend("narration", speed=1.0)
    assert rec.approach == "native"
    assert all(v == "native" for v in rec.per_layer.values())


def test_timing_precision_only_moves_the_sfx_layer():
    base = recommend("social_clip")
    rec = recommend("social_clip", timing_precision=1.0)
    assert base.per_layer["sfx"] == "native" and rec.per_layer["sfx"] == "postgen"
    assert rec.per_layer["dialogue"] == base.per_layer["dialogue"] == "native"
    assert rec.approach == "hybrid"


def test_budget_pressure_keeps_ambience_native():
    assert recommend("narration").per_layer["ambience"] == "postgen"
    assert recommend("narration", budget=0.6).per_layer["ambience"] == "native"


@pytest.mark.parametrize("kwargs", [dict(speed=1.5), dict(budget=-0.1), dict(music_control="lots")])
def test_bad_priorities_raise_clear_errors(kwargs):
    with pytest.raises(LayerLabError) as info:
        recommend("prototype", **kwargs)
    assert list(kwargs)[0] in str(info.value)


def test_unknown_scenario_lists_the_choices():
    with pytest.raises(LayerLabError, match="social_clip"):
        recommend("wedding video")


def test_html_views_show_the_answer_and_highlight_the_row():
    rec = recommend("cafe_dialogue")
    text = recommendation_html(rec)
    assert "Hybrid" in text and "postgen" in text and "native" in text
    assert html.escape(get_scenario("cafe_dialogue").text_reason) in text
    table = table_html(highlight="broll")
    assert table.count("<tr") == 1 + len(SCENARIOS)
    assert "background:#ffe9a8" in table.split("Atmospheric scene")[0].rsplit("<tr", 1)[1]
