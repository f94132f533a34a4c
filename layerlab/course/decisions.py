"""Native, post-generated or hybrid? The lesson-06 decision table as data.

A video model that makes its own sound (the "live capture" approach) gives
all four layers at once: quick, and matched to the picture, but mixed
together. A chain of specialised tools (the "studio overdub" approach) makes
each layer separately: more work and more tools, but every layer can be
perfected, timed and levelled on its own. Most finished work sits between the
two: native sound for the rough cut, specialised replacements for the final.

This module holds the seven scenarios of the course text with the approach
the text recommends and why, plus the kit's own scenes, each described by how
much it cares about five priorities (0 = not at all, 1 = above all):

``speed``
    getting a result quickly (one prompt, one output);
``voice_quality``
    a voice that can be perfected and scripted exactly;
``timing_precision``
    sound effects landing exactly on their visual events;
``music_control``
    choosing and shaping the score;
``budget``
    keeping cost and effort low (fewer tools, no editing session).

:func:`recommend` turns the priorities into an approach per layer: a layer is
worth replacing when the need for control on that layer clearly outweighs the
pull of convenience (the larger of ``speed`` and ``budget``). With a
scenario's own priorities (leave every priority at ``None``) the result is the
course text's recommendation.

Taught in ``lessons/06_native_vs_postgen.ipynb``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from layerlab.errors import ParameterError

PRIORITIES = ("speed", "voice_quality", "timing_precision", "music_control", "budget")
"""The five priorities a learner can weigh, each in 0..1."""

APPROACHES = ("native", "postgen", "hybrid", "either")
"""Overall answers: all layers native, all post-generated, a mix, or a genuine toss-up."""

LAYER_NEEDS = {"dialogue": "voice_quality", "sfx": "timing_precision", "music": "music_control"}
"""Which priority argues for replacing each layer (ambience follows the rest of the chain)."""

TIE_MARGIN = 0.05
"""When need and convenience are closer than this, the layer could go either way."""

APPROACH_LABELS = {
    "native": "Native (the video model's own audio)",
    "postgen": "Post-generated (a specialised tool per layer)",
    "hybrid": "Hybrid (native where it is good enough, replaced where it is not)",
    "either": "Either (native for speed, post-generated for quality)",
}

TOOLS = {
    "dialogue": "a text-to-speech or voice tool (ElevenLabs, OpenAI TTS): the best voice quality and control",
    "sfx": "an SFX generator or a sound-effects library: exact timing and choice of each sound",
    "ambience": "an environmental-sound library or an ambience generator",
    "music": "a music generator (Suno, Udio) or a licensed track: full control of the composition",
}
"""The specialised tool the course text names for each layer of a post-generated chain."""


@dataclass(frozen=True)
class Scenario:
    """One row of the decision table.

    Attributes
    ----------
    key : str
        Identifier (``"social_clip"``, ``"cafe_dialogue"``, ...).
    title : str
        The scenario in words.
    text_approach : str
        What the course text recommends: ``"native"``, ``"postgen"`` or
        ``"either"`` (kit scenes may say ``"hybrid"``).
    text_reason : str
        The text's short reason, in the kit's words.
    priorities : dict of str to float
        How much the scenario cares about each of :data:`PRIORITIES` (0..1).
    from_text : bool
        True for the seven rows of the course text, False for the kit's scenes.

    Notes
    -----
    Taught in ``lessons/06_native_vs_postgen.ipynb``.
    """

    key: str
    title: str
    text_approach: str
    text_reason: str
    priorities: dict = field(default_factory=dict)
    from_text: bool = True


SCENARIOS: dict[str, Scenario] = {
    s.key: s
    for s in (
        Scenario("social_clip", "Quick social media clip", "native", "fast, and good enough for the feed",
                 dict(speed=0.9, voice_quality=0.4, timing_precision=0.3, music_control=0.3, budget=0.8)),
        Scenario("narration", "Professional narration video", "postgen", "the quality of the voice is the product",
                 dict(speed=0.3, voice_quality=0.9, timing_precision=0.5, music_control=0.6, budget=0.3)),
        Scenario("product_voiceover", "Product demo with voiceover", "postgen",
                 "the script must be said exactly, and clicks must land on the UI",
                 dict(speed=0.3, voice_quality=0.8, timing_precision=0.8, music_control=0.6, budget=0.4)),
        Scenario("broll", "Atmospheric scene / B-roll", "native", "the model's ambience already matches the picture",
                 dict(speed=0.7, voice_quality=0.1, timing_precision=0.3, music_control=0.4, budget=0.6)),
        Scenario("character_dialogue", "Character dialogue scene", "either",
                 "native when speed matters, post-generated when the voices must be perfect",
                 dict(speed=0.6, voice_quality=0.6, timing_precision=0.4, music_control=0.4, budget=0.5)),
        Scenario("music_video", "Music video or scored content", "postgen", "control of the music is the point",
                 dict(speed=0.3, voice_quality=0.5, timing_precision=0.7, music_control=0.95, budget=0.4)),
        Scenario("prototype", "Prototype / concept pitch", "native", "speed matters more than polish",
                 dict(speed=0.95, voice_quality=0.3, timing_precision=0.3, music_control=0.3, budget=0.7)),
        # the kit's scenes
        Scenario("cafe_dialogue", "Kit scene: café dialogue", "hybrid",
                 "keep the model's café ambience and cup sounds, replace the voices and the music",
                 dict(speed=0.5, voice_quality=0.8, timing_precision=0.4, music_control=0.6, budget=0.5), from_text=False),
        Scenario("product_demo", "Kit scene: product demo", "postgen",
                 "a scripted voiceover with UI clicks on their frames: every layer under control",
                 dict(speed=0.3, voice_quality=0.8, timing_precision=0.8, music_control=0.6, budget=0.4), from_text=False),
        Scenario("forest_broll", "Kit scene: forest B-roll", "native",
                 "no dialogue; the model's forest ambience fits the picture",
                 dict(speed=0.7, voice_quality=0.1, timing_precision=0.3, music_control=0.4, budget=0.6), from_text=False),
    )
}
"""The seven scenarios of the course text, then the kit's three scenes."""

TEXT_SCENARIOS = tuple(k for k, s in SCENARIOS.items() if s.from_text)
"""Keys of the seven rows of the course text, in the text's order."""


@dataclass(frozen=True)
class Recommendation:
    """What :func:`recommend` advises.

    Attributes
    ----------
    scenario : str
        The scenario key.
    approach : str
        One of :data:`APPROACHES`.
    per_layer : dict of str to str
        ``"native"``, ``"postgen"`` or ``"either"`` for each of dialogue, sfx,
        ambience and music.
    reason : str
        Why, in a sentence or two.
    priorities : dict of str to float
        The priorities that were used (scenario defaults where none were given).
    matches_text : bool
        Whether the answer equals the course text's (or the kit scene's) default.

    Notes
    -----
    Taught in ``lessons/06_native_vs_postgen.ipynb``.
    """

    scenario: str
    approach: str
    per_layer: dict
    reason: str
    priorities: dict
    matches_text: bool

    @property
    def label(self) -> str:
        """The approach in words."""
        return APPROACH_LABELS[self.approach]


def get_scenario(scenario) -> Scenario:
    """Look a scenario up by key or title (case-insensitive).

    Raises
    ------
    ParameterError
        If there is no such scenario; the message lists the keys.

    Notes
    -----
    Taught in ``lessons/06_native_vs_postgen.ipynb``.
    """
    if isinstance(scenario, Scenario):
        return scenario
    text = str(scenario).strip().lower()
    for s in SCENARIOS.values():
        if text in (s.key, s.title.lower()):
            return s
    raise ParameterError(f"unknown scenario {scenario!r}; choose one of: {', '.join(SCENARIOS)}.")


def recommend(scenario, *, speed=None, voice_quality=None, timing_precision=None, music_control=None,
              budget=None) -> Recommendation:
    """Recommend native, post-generated or hybrid audio, layer by layer.

    Parameters
    ----------
    scenario : str or Scenario
        A key of :data:`SCENARIOS` (or a title).
    speed, voice_quality, timing_precision, music_control, budget : float or None
        Priorities in 0..1. ``None`` keeps the scenario's own value, so with
        every priority left at ``None`` the answer is the course text's.

    Returns
    -------
    Recommendation

    Raises
    ------
    ParameterError
        For an unknown scenario or a priority outside 0..1.

    Notes
    -----
    Rules: convenience is the larger of ``speed`` and ``budget``. Dialogue,
    SFX and music are post-generated when their need (``voice_quality``,
    ``timing_precision``, ``music_control``) beats convenience by more than
    :data:`TIE_MARGIN`, kept native when it loses by more, and "either"
    in between. Ambience, which a video model usually gets right, is replaced
    only when at least two other layers are and convenience is below 0.5 (a
    full specialised chain). The overall approach is "either" if any layer
    is a toss-up, otherwise "native", "postgen" or "hybrid".

    Taught in ``lessons/06_native_vs_postgen.ipynb``.
    """
    s = get_scenario(scenario)
    given = dict(speed=speed, voice_quality=voice_quality, timing_precision=timing_precision,
                 music_control=music_control, budget=budget)
    p = {}
    for name in PRIORITIES:
        value = s.priorities[name] if given[name] is None else given[name]
        try:
            value = float(value)
        except (TypeError, ValueError):
            raise ParameterError(f"{name} must be a number between 0 and 1; got {given[name]!r}.") from None
        if not 0.0 <= value <= 1.0:
            raise ParameterError(f"{name} must be between 0 (does not matter) and 1 (matters most); got {value}.")
        p[name] = value
    convenience = max(p["speed"], p["budget"])
    per_layer = {}
    why = []
    for layer, need_name in LAYER_NEEDS.items():
        need = p[need_name]
        nice = need_name.replace("_", " ")
        if need > convenience + TIE_MARGIN:
            per_layer[layer] = "postgen"
            why.append(f"{layer}: {nice} ({need:.2f}) outweighs convenience ({convenience:.2f}), so use {TOOLS[layer]}")
        elif need < convenience - TIE_MARGIN:
            per_layer[layer] = "native"
            why.append(f"{layer}: convenience ({convenience:.2f}) outweighs {nice} ({need:.2f}); the native track will do")
        else:
            per_layer[layer] = "either"
            why.append(f"{layer}: {nice} and convenience are balanced ({need:.2f} vs {convenience:.2f}); "
                       "native for a quick cut, replace it for the final")
    n_post = sum(v == "postgen" for v in per_layer.values())
    if n_post >= 2 and convenience < 0.5:
        per_layer["ambience"] = "postgen"
        why.append("ambience: with most layers rebuilt, a library or generated bed keeps the chain consistent")
    else:
        per_layer["ambience"] = "native"
        why.append("ambience: the model's own room tone already matches the picture")
    per_layer = {k: per_layer[k] for k in ("dialogue", "sfx", "ambience", "music")}
    values = set(per_layer.values())
    if "either" in values:
        approach = "either"
    elif values == {"native"}:
        approach = "native"
    elif values == {"postgen"}:
        approach = "postgen"
    else:
        approach = "hybrid"
    if approach == s.text_approach and _same(p, s.priorities):
        reason = f"{APPROACH_LABELS[approach]}: {s.text_reason}. " + "; ".join(why) + "."
    else:
        reason = f"{APPROACH_LABELS[approach]}. " + "; ".join(why) + "."
    return Recommendation(scenario=s.key, approach=approach, per_layer=per_layer, reason=reason, priorities=p,
                          matches_text=approach == s.text_approach)


def _same(a: dict, b: dict) -> bool:
    return all(abs(a[k] - b[k]) < 1e-9 for k in PRIORITIES)


def decision_table(*, include_scenes: bool = False) -> list[dict]:
    """The course text's table as rows of ``{"scenario", "approach", "reason"}``.

    Parameters
    ----------
    include_scenes : bool
        Append the kit's three scenes after the seven rows of the text.

    Returns
    -------
    list of dict

    Notes
    -----
    Taught in ``lessons/06_native_vs_postgen.ipynb``.
    """
    rows = []
    for s in SCENARIOS.values():
        if s.from_text or include_scenes:
            rows.append({"key": s.key, "scenario": s.title, "approach": s.text_approach, "reason": s.text_reason})
    return rows


def table_html(*, highlight: str | None = None, include_scenes: bool = True) -> str:
    """The decision table as an HTML table, with one row highlighted.

    Notes
    -----
    Taught in ``lessons/06_native_vs_postgen.ipynb``.
    """
    import html

    short = {"native": "Native", "postgen": "Post-gen", "either": "Either", "hybrid": "Hybrid"}
    out = ['<table class="layerlab-decisions" style="border-collapse:collapse">',
           "<tr><th style='text-align:left;padding:2px 8px'>Scenario</th>"
           "<th style='text-align:left;padding:2px 8px'>Best approach</th></tr>"]
    for row in decision_table(include_scenes=include_scenes):
        style = "background:#ffe9a8;font-weight:bold" if row["key"] == highlight else ""
        out.append(f"<tr style='{style}'><td style='padding:2px 8px'>{html.escape(row['scenario'])}</td>"
                   f"<td style='padding:2px 8px'>{short[row['approach']]} ({html.escape(row['reason'])})</td></tr>")
    out.append("</table>")
    return "".join(out)


def recommendation_html(rec: Recommendation) -> str:
    """A recommendation as HTML: the approach, a per-layer table and the reasons.

    Notes
    -----
    Taught in ``lessons/06_native_vs_postgen.ipynb``.
    """
    import html

    colours = {"native": "#d6ecff", "postgen": "#ffd9c2", "either": "#eeeeee"}
    cells = "".join(
        f"<td style='padding:4px 10px;background:{colours[v]}'><b>{layer}</b><br>{v}</td>"
        for layer, v in rec.per_layer.items()
    )
    reasons = "".join(f"<li>{html.escape(r.strip())}</li>" for r in rec.reason.split(". ", 1)[-1].rstrip(".").split("; "))
    agree = ("matches the course table" if rec.matches_text else "differs from the course table: your priorities changed it")
    headline = rec.reason.split(". ", 1)[0]  # the approach, and the table's reason when it applies
    return (f"<div class='layerlab-recommendation'><div style='font-size:1.1em'><b>{html.escape(headline)}</b>"
            f" <small>({agree})</small></div><table style='margin:6px 0'><tr>{cells}</tr></table>"
            f"<ul style='margin:0'>{reasons}</ul></div>")


__all__ = [
    "APPROACHES",
    "APPROACH_LABELS",
    "LAYER_NEEDS",
    "PRIORITIES",
    "SCENARIOS",
    "TEXT_SCENARIOS",
    "TOOLS",
    "Recommendation",
    "Scenario",
    "decision_table",
    "get_scenario",
    "recommend",
    "recommendation_html",
    "table_html",
]
