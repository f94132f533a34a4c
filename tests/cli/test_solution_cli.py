"""``layerlab solution LAB``: a self-paced learner sees a worked solution only on purpose, never over their work."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import pytest

from layerlab.cli import main

ROOT = Path(__file__).resolve().parents[2]
LAB = "lab2_hybrid_mix"


@pytest.fixture
def learner_dir(tmp_path):
    """A learner's copy of lab 2 with some work in it."""
    d = tmp_path / LAB
    shutil.copytree(ROOT / "labs" / LAB, d)
    mine = d / f"{LAB}.ipynb"
    mine.write_text(mine.read_text(encoding="utf-8").replace("raise NotImplementedError()", "my_attempt = 1", 1), encoding="utf-8")
    return d


def _sources(path: Path) -> str:
    return "\n".join("".join(c["source"]) for c in json.loads(path.read_text(encoding="utf-8"))["cells"])


def _run(monkeypatch, argv, answer=""):
    monkeypatch.setattr("sys.stdin", io.StringIO(answer))
    return main(argv)


@pytest.mark.parametrize("answer", ["", "n\n", "no\n", "\n", "maybe\n"])
def test_asks_first_and_writes_nothing_unless_told_yes(monkeypatch, capsys, learner_dir, answer):
    before = {p.name: p.read_bytes() for p in learner_dir.iterdir()}
    assert _run(monkeypatch, ["solution", LAB, "--dir", str(learner_dir)], answer) == 0
    out = capsys.readouterr().out
    assert f"This shows the worked solution of {LAB}; self-checking is on your honour. Show it? [y/N]" in out
    assert "nothing written" in out
    assert {p.name: p.read_bytes() for p in learner_dir.iterdir()} == before


def test_yes_writes_the_worked_solution_next_to_the_learners_copy(monkeypatch, capsys, learner_dir):
    mine = (learner_dir / f"{LAB}.ipynb").read_bytes()
    assert _run(monkeypatch, ["solution", LAB, "--dir", str(learner_dir)], "y\n") == 0
    sol = learner_dir / f"{LAB}_solution.ipynb"
    assert f"wrote {sol}" in capsys.readouterr().out
    text = _sources(sol)
    instructor = _sources(ROOT / "autograder" / "source" / LAB / f"{LAB}.ipynb")
    # the worked mix is there, the hidden tests are not, and the learner's own notebook is untouched
    body = instructor.split("### BEGIN SOLUTION", 1)[1].split("### END SOLUTION", 1)[0].strip()
    assert body and body in text
    assert "HIDDEN TESTS" not in text and "BEGIN HIDDEN" in instructor
    assert text.startswith(f"**Worked solution of `{LAB}`**")
    assert (learner_dir / f"{LAB}.ipynb").read_bytes() == mine
    assert "nbgrader" not in json.dumps([c["metadata"] for c in json.loads(sol.read_text())["cells"]])


def test_never_overwrites_an_existing_file(monkeypatch, learner_dir):
    (learner_dir / f"{LAB}_solution.ipynb").write_text("my notes on the solution")
    assert _run(monkeypatch, ["solution", LAB, "--dir", str(learner_dir), "--yes"]) == 0
    assert (learner_dir / f"{LAB}_solution.ipynb").read_text() == "my notes on the solution"
    assert json.loads((learner_dir / f"{LAB}_solution_2.ipynb").read_text())["cells"]
    assert _run(monkeypatch, ["solution", LAB, "--dir", str(learner_dir), "--yes"]) == 0
    assert (learner_dir / f"{LAB}_solution_3.ipynb").is_file()


def test_bad_input_is_one_line(monkeypatch, capsys, tmp_path):
    assert _run(monkeypatch, ["solution", "lab9", "--yes"]) == 1
    err = capsys.readouterr().err.strip()
    assert err == ("layerlab solution: error: unknown lab 'lab9'; "
                   "choose one of lab1_audit, lab2_hybrid_mix, lab3_choose_approach")
    (tmp_path / "afile").write_text("x")
    assert _run(monkeypatch, ["solution", LAB, "--yes", "--dir", str(tmp_path / "afile")]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "afile: not a folder" in err and "--dir" in err


def test_a_dir_that_does_not_exist_yet_is_made(monkeypatch, tmp_path):
    assert _run(monkeypatch, ["solution", LAB, "--yes", "--dir", str(tmp_path / "new" / "place")]) == 0
    assert (tmp_path / "new" / "place" / f"{LAB}_solution.ipynb").is_file()


def test_the_solution_keeps_the_code_but_not_the_solution_markers(monkeypatch, learner_dir):
    assert _run(monkeypatch, ["solution", LAB, "--dir", str(learner_dir), "--yes"]) == 0
    text = _sources(learner_dir / f"{LAB}_solution.ipynb")
    instructor = _sources(ROOT / "autograder" / "source" / LAB / f"{LAB}.ipynb")
    body = instructor.split("### BEGIN SOLUTION\n", 1)[1].split("### END SOLUTION", 1)[0].strip()
    assert body and body in text
    assert "BEGIN SOLUTION" not in text and "END SOLUTION" not in text


@pytest.mark.parametrize("lab", ["lab1_audit", LAB])
def test_refused_in_a_course_release_with_assessed_variants_but_not_beside_a_practice_variant(monkeypatch, capsys, tmp_path, lab):
    folder = tmp_path / lab
    (folder / "variants" / "ann" / "scenes").mkdir(parents=True)  # what a course release hands out
    assert _run(monkeypatch, ["solution", lab, "--dir", str(folder), "--yes"]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "assessed" in err and str(folder) in err
    assert not list(folder.glob("*_solution*.ipynb"))
    practice = tmp_path / "alone" / lab
    (practice / "variants" / "practice" / "scenes").mkdir(parents=True)  # `layerlab variants practice`: self-paced
    assert _run(monkeypatch, ["solution", lab, "--dir", str(practice), "--yes"]) == 0
    assert (practice / f"{lab}_solution.ipynb").is_file()
