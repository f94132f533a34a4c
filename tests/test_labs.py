"""The labs' reference solutions, graded by the out-of-kernel grader without nbgrader.

The source notebooks (solutions in place) are graded as if a learner had handed them in:
each must earn every auto-graded point. A learner's untouched release copy is covered by
``test_nbgrader_e2e.py``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from layerlab.grading import assignment_spec, grade_submission, load_rubric

REPO = Path(__file__).resolve().parent.parent
RUBRIC = load_rubric(REPO / "autograder" / "rubric.json")


@pytest.mark.parametrize("lab", ["lab1_audit", "lab2_hybrid_mix", "lab3_choose_approach"])
def test_reference_solution_earns_every_point(lab, tmp_path):
    sub = tmp_path / "reference" / lab
    shutil.copytree(REPO / "labs" / lab, sub)
    g = grade_submission(sub, assignment=lab, rubric=RUBRIC, timeout_s=300)
    spec = assignment_spec(lab, RUBRIC)
    assert not g.error, g.error
    failed = {i.name: i.message for i in g.items if not i.passed}
    assert not failed, failed
    assert g.score == sum(it["points"] for it in spec["items"])
    if spec["kind"] == "mix":
        figured = {i.name for i in g.items if i.figure_png}
        assert {"sync", "loudness", "masking", "ducking"} <= figured
