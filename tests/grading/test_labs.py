"""The labs' reference solutions, graded by the out-of-kernel grader without nbgrader.

The source notebooks (solutions in place) are graded as if a learner had handed them in:
each must earn every auto-graded point. A learner's untouched release copy is covered by
``test_nbgrader_e2e.py``.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import nbformat
import pytest

from layerlab.grading import assignment_spec, grade_submission, load_rubric

REPO = Path(__file__).resolve().parents[2]
RUBRIC = load_rubric(REPO / "autograder" / "rubric.json")


@pytest.mark.parametrize("lab", ["lab1_audit", "lab2_hybrid_mix", "lab3_choose_approach"])
def test_reference_solution_earns_every_point(lab, tmp_path):
    sub = tmp_path / "reference" / lab
    shutil.copytree(REPO / "autograder" / "source" / lab, sub)
    g = grade_submission(sub, assignment=lab, rubric=RUBRIC, timeout_s=300)
    spec = assignment_spec(lab, RUBRIC)
    assert not g.error, g.error
    failed = {i.name: i.message for i in g.items if not i.passed}
    assert not failed, failed
    assert g.score == sum(it["points"] for it in spec["items"])
    if spec["kind"] == "mix":
        figured = {i.name for i in g.items if i.figure_png}
        assert {"sync", "loudness", "masking", "ducking"} <= figured


def _builder():
    import importlib.util
    import sys

    spec = importlib.util.spec_from_file_location("build_notebooks", REPO / "lessons" / "build_notebooks.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


LABS = ["lab1_audit", "lab2_hybrid_mix", "lab3_choose_approach"]
FLAGS = {  # nbgrader's flags per kind of cell, as nbgrader's own "create assignment" toolbar sets them
    "readonly": {"grade": False, "solution": False, "locked": True},
    "solution": {"grade": False, "solution": True, "locked": False},
    "test": {"grade": True, "solution": False, "locked": True},
    "manual": {"grade": True, "solution": True, "locked": False},
}


def _nbgrader_cells(lab):
    nb = nbformat.read(REPO / "autograder" / "source" / lab / f"{lab}.ipynb", as_version=4)
    return [(c, c.metadata["nbgrader"]) for c in nb.cells if "nbgrader" in c.metadata]


def _kind(meta):
    return next(k for k, f in FLAGS.items() if all(meta[key] == v for key, v in f.items()))


def test_committed_lab_notebooks_are_built_from_their_sources():
    build = _builder()
    labs = [t for t in build.targets() if t.assignment]
    assert sorted(t.assignment for t in labs) == LABS
    instructor = REPO / "autograder" / "source"
    assert [p for p in build.stale(learner_copies=False) if instructor in p.parents] == [], "run `make notebooks` and commit the result"


@pytest.mark.parametrize("lab", LABS)
def test_auto_graded_cells_carry_the_rubric_grade_ids_and_points(lab):
    rubric_points = {it["grade_id"]: it["points"] for it in assignment_spec(lab, RUBRIC)["items"]}
    cells = _nbgrader_cells(lab)
    for cell, meta in cells:
        assert meta["schema_version"] == 3 and meta["task"] is False
        assert set(meta) - {"points"} == {"grade", "grade_id", "locked", "schema_version", "solution", "task"}
        kind = _kind(meta)
        assert ("points" in meta) == (kind in ("test", "manual")), meta["grade_id"]
        assert cell.cell_type == ("markdown" if kind == "manual" else "code"), meta["grade_id"]
    tests = {m["grade_id"]: m["points"] for _, m in cells if _kind(m) == "test"}
    assert tests == rubric_points
    ids = [m["grade_id"] for _, m in cells]
    assert len(ids) == len(set(ids)), "grade ids must be unique in a notebook"


@pytest.mark.parametrize("lab", LABS)
def test_solutions_hidden_tests_and_mark_schemes_are_delimited(lab):
    for cell, meta in _nbgrader_cells(lab):
        kind, src = _kind(meta), cell.source
        if kind == "solution":
            assert src.count("### BEGIN SOLUTION") == 1 == src.count("### END SOLUTION"), meta["grade_id"]
            assert src.index("### BEGIN SOLUTION") < src.index("### END SOLUTION")
        elif kind == "test":
            assert src.count("### BEGIN HIDDEN TESTS") == 1 == src.count("### END HIDDEN TESTS"), meta["grade_id"]
            assert src.index("### BEGIN HIDDEN TESTS") < src.index("### END HIDDEN TESTS")
        elif kind == "manual":
            assert src.startswith("YOUR ANSWER HERE"), meta["grade_id"]
            assert src.index("BEGIN MARK SCHEME") < src.index("END MARK SCHEME"), meta["grade_id"]


def _copy_kit(tmp_path):
    root = tmp_path / "kit"
    shutil.copytree(REPO / "autograder", root / "autograder", ignore=shutil.ignore_patterns("deliverable", "__pycache__"))
    (root / "lessons").mkdir()
    return root


def test_the_build_takes_points_from_the_rubric_and_refuses_disagreement(tmp_path):
    import json

    build = _builder()
    root = _copy_kit(tmp_path)
    rubric_path = root / "autograder" / "rubric.json"
    rubric = json.loads(rubric_path.read_text())
    items = rubric["assignments"]["lab2_hybrid_mix"]["items"]
    next(it for it in items if it["grade_id"] == "check_ducking")["points"] = 7
    rubric_path.write_text(json.dumps(rubric))
    lab2 = next(t for t in build.targets(root) if t.assignment == "lab2_hybrid_mix")
    ducking = [c for c in build.build(lab2).cells if c.metadata.get("nbgrader", {}).get("grade_id") == "check_ducking"]
    assert [c.metadata["nbgrader"]["points"] for c in ducking] == [7]

    # a rubric item without a test cell
    items.append({"grade_id": "check_extra", "check": "sync", "points": 1})
    rubric_path.write_text(json.dumps(rubric))
    with pytest.raises(build.SourceError, match=r"lab2_hybrid_mix.py: rubric items need exactly one test cell each: missing \['check_extra'\]"):
        build.build(lab2)
    items.pop()
    rubric_path.write_text(json.dumps(rubric))

    # a test cell the rubric does not know, and points written in a test cell's header
    src = root / "autograder" / "src" / "lab2_hybrid_mix.py"
    text = src.read_text()
    src.write_text(text.replace('grade_id="check_sync"', 'grade_id="check_synk"'))
    with pytest.raises(build.SourceError, match=r"cell \d+: grade_id 'check_synk' is not an item of this lab in autograder/rubric.json"):
        build.build(lab2)
    src.write_text(text.replace('grade_id="check_sync"', 'grade_id="check_sync" points=2'))
    with pytest.raises(build.SourceError, match=r"a test cell takes its points from autograder/rubric.json; remove points=2"):
        build.build(lab2)
    src.write_text(text.replace('role="solution"', 'role="soluton"'))
    with pytest.raises(build.SourceError, match=r"role='soluton' is not one of"):
        build.build(lab2)


def _table_points(markdown):
    """(first column, points) of each row of a markdown table whose last column is a number."""
    rows = re.findall(r"^\|(.+?)\|.*\|\s*(\d+)\s*\|$", markdown, flags=re.M)
    return [(first.strip(), int(points)) for first, points in rows]


def test_the_graded_tables_in_the_lab_texts_agree_with_the_rubric():
    intro2 = nbformat.read(REPO / "autograder" / "source" / "lab2_hybrid_mix" / "lab2_hybrid_mix.ipynb", as_version=4).cells[0].source
    checks = {f"`{it['check']}`": it["points"] for it in assignment_spec("lab2_hybrid_mix", RUBRIC)["items"]}
    assert dict(_table_points(intro2)) == checks
    # lab 1 lists the auto-graded findings in rubric order, then the written judgement
    intro1 = nbformat.read(REPO / "autograder" / "source" / "lab1_audit" / "lab1_audit.ipynb", as_version=4).cells[0].source
    auto = [it["points"] for it in assignment_spec("lab1_audit", RUBRIC)["items"]]
    manual = [m["points"] for _, m in _nbgrader_cells("lab1_audit") if _kind(m) == "manual"]
    assert [p for _, p in _table_points(intro1)] == auto + manual


def test_lab3_briefs_are_the_ones_in_scenarios_json():
    import json

    data = json.loads((REPO / "autograder" / "source" / "lab3_choose_approach" / "scenarios.json").read_text(encoding="utf-8"))
    nb = nbformat.read(REPO / "autograder" / "source" / "lab3_choose_approach" / "lab3_choose_approach.ipynb", as_version=4)
    texts = [c.source for c in nb.cells if c.cell_type == "markdown"]
    for s in data["scenarios"]:
        cell = next((t for t in texts if t.startswith(f"## `{s['id']}` - {s['title']}")), None)
        assert cell is not None, f"no brief for {s['id']}"
        assert s["brief"] in cell
        for layer in data["layers"]:
            assert f"- **{layer}**: {s['audit'][layer]}" in cell


def test_lab1_names_every_problem_key_the_grader_reads():
    """The findings table of lab 1 lists the issue keys: the flaw kinds a native render can list (one source)."""
    from layerlab.mix.scenes import FLAW_KINDS

    text = (REPO / "autograder" / "src" / "lab1_audit.py").read_text(encoding="utf-8")
    table = text[text.index("# | `issues` |"):].splitlines()[0]
    assert all(f"`{k}`" in table for k in FLAW_KINDS), table
