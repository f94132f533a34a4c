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

REPO = Path(__file__).resolve().parents[2]
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


def test_committed_notebooks_match_their_builder(tmp_path, monkeypatch):
    """Grade ids and points in the notebooks come from rubric.json through autograder/build_labs.py."""
    import importlib.util
    import json

    spec = importlib.util.spec_from_file_location("build_labs", REPO / "autograder" / "build_labs.py")
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)
    (tmp_path / "lab3_choose_approach").mkdir()
    shutil.copy(REPO / "labs" / "lab3_choose_approach" / "scenarios.json", tmp_path / "lab3_choose_approach")
    monkeypatch.setattr(build, "LABS", tmp_path)
    for make in (build.lab1, build.lab2, build.lab3):
        fresh = make()
        committed = REPO / "labs" / fresh.parent.name / fresh.name
        assert json.loads(fresh.read_text()) == json.loads(committed.read_text()), (
            f"{committed} differs from what autograder/build_labs.py writes; run it and commit the result")
