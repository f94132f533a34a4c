"""The decision table of lesson 06 as a widget: pick a scenario, weigh the priorities, read the recommendation.

Taught in ``lessons/06_native_vs_postgen.ipynb``.
"""

from __future__ import annotations

class DecisionWidget:
    """The lesson-06 decision table as a widget: scenario + priorities -> recommendation.

    Parameters
    ----------
    scenario : str
        Key of :data:`layerlab.course.decisions.SCENARIOS` to start with.

    Notes
    -----
    Moving a priority slider updates the recommendation; picking a scenario
    resets the sliders to that scenario's own priorities (which give the
    course text's answer). Taught in ``lessons/06_native_vs_postgen.ipynb``.
    """

    def __init__(self, scenario: str = "character_dialogue"):
        import ipywidgets as w

        from layerlab.course.decisions import PRIORITIES, SCENARIOS, get_scenario

        s = get_scenario(scenario)
        self.scenario = w.Dropdown(options=[(v.title, k) for k, v in SCENARIOS.items()], value=s.key,
                                   description="scenario", layout=w.Layout(width="auto", max_width="420px"))
        self.sliders = {p: w.FloatSlider(value=s.priorities[p], min=0, max=1, step=0.05,
                                         description=p.replace("_", " "), continuous_update=False,
                                         style={"description_width": "110px"}) for p in PRIORITIES}
        self.answer = w.HTML()
        self.table = w.HTML()
        self._suspend = False
        self.scenario.observe(self._on_scenario, names="value")
        for sl in self.sliders.values():
            sl.observe(lambda _c: self._update(), names="value")
        # the controls' column keeps at least the dropdown's width; the course table takes what is left
        # and wraps below the controls in a narrow window (it used to squeeze the column under the dropdown)
        self.table.layout = w.Layout(flex="1 1 0", min_width="320px")
        column = w.VBox([self.scenario, *self.sliders.values(), self.answer],
                        layout=w.Layout(min_width="430px", flex="0 0 auto", margin="0 12px 0 0"))
        self.widget = w.HBox([column, self.table], layout=w.Layout(flex_flow="row wrap"))
        self._update()

    def _on_scenario(self, change):
        from layerlab.course.decisions import get_scenario

        s = get_scenario(change["new"])
        self._suspend = True
        try:
            for p, sl in self.sliders.items():
                sl.value = s.priorities[p]
        finally:
            self._suspend = False
        self._update()

    def _update(self):
        if self._suspend:
            return None
        from layerlab.course.decisions import recommend, recommendation_html, table_html

        rec = recommend(self.scenario.value, **{p: sl.value for p, sl in self.sliders.items()})
        self.recommendation = rec
        self.answer.value = recommendation_html(rec)
        self.table.value = "<b>The course table</b>" + table_html(highlight=rec.scenario)
        return rec

    def _ipython_display_(self):
        from IPython.display import display

        display(self.widget)
