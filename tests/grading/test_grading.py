"""The out-of-kernel grader: strict paths, isolated re-runs, rubric scoring, self-check, summaries."""

from __future__ import annotations

import csv
import json
import os
import shutil
from pathlib import Path

import nbformat
import numpy as np
import pytest

from layerlab import grading
from layerlab.checks import CheckResult
from layerlab.grading import (
    GradingError,
    ItemGrade,
    SubmissionGrade,
    assignment_spec,
    copy_submission,
    grade_submission,
    learner_code_cells,
    load_rubric,
    resolve_inside,
    run_learner_code,
    score_answers,
    score_mix,
    strip_hidden_tests,
    write_histograms,
    write_summary_csv,
)

REPO = Path(__file__).resolve().parents[2]
RUBRIC = load_rubric(REPO / "autograder" / "rubric.json")


def _nb(*cells) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    for src, meta in cells:
        c = nbformat.v4.new_code_cell(src)
        if meta:
            c.metadata["nbgrader"] = meta
        nb.cells.append(c)
    return nb


TEST_META = {"grade": True, "solution": False, "grade_id": "t", "points": 1, "locked": True, "schema_version": 3}


# ------------------------------------------------------------------------------------ paths


def test_resolve_inside_refuses_escapes_and_symlinks(tmp_path):
    sub = tmp_path / "sub"
    (sub / "deliverable").mkdir(parents=True)
    secret = tmp_path / "secret.wav"
    secret.write_bytes(b"RIFF")
    assert resolve_inside(sub, "deliverable") == (sub / "deliverable").resolve()
    with pytest.raises(GradingError, match="stay inside"):
        resolve_inside(sub, "../secret.wav")
    with pytest.raises(GradingError, match="stay inside"):
        resolve_inside(sub, str(secret))
    (sub / "link").symlink_to(tmp_path)
    with pytest.raises(GradingError, match="symbolic link"):
        resolve_inside(sub, "link/secret.wav")


def test_copy_submission_keeps_only_regular_files(tmp_path):
    src = tmp_path / "src"
    (src / "deliverable" / "stems").mkdir(parents=True)
    (src / "lab.ipynb").write_text("{}")
    (src / "deliverable" / "mix.wav").write_bytes(b"x" * 10)
    (src / "big.bin").write_bytes(b"x" * 3_000_000)
    outside = tmp_path / "answers.json"
    outside.write_text("secret")
    (src / "deliverable" / "stems" / "dialogue.wav").symlink_to(outside)
    (src / "escape").symlink_to(tmp_path)
    (src / ".ipynb_checkpoints").mkdir()
    dst = tmp_path / "dst"
    skipped = copy_submission(src, dst, max_file_mb=1)
    assert (dst / "lab.ipynb").is_file() and (dst / "deliverable" / "mix.wav").read_bytes() == b"x" * 10
    assert not (dst / "deliverable" / "stems" / "dialogue.wav").exists()
    assert not (dst / "escape").exists() and not (dst / "big.bin").exists()
    assert set(skipped) >= {"deliverable/stems/dialogue.wav", "escape", "big.bin", ".ipynb_checkpoints"}


def test_copy_submission_can_hard_link_by_the_same_rules(tmp_path):
    src = tmp_path / "src"
    (src / "deliverable" / "stems").mkdir(parents=True)
    (src / "deliverable" / "mix.wav").write_bytes(b"x" * 10)
    (src / "deliverable" / "stems" / "music.wav").write_bytes(b"y" * 20)
    (src / "big.bin").write_bytes(b"x" * 3_000_000)
    (src / "deliverable" / "stems" / "dialogue.wav").symlink_to(src / "big.bin")
    copied = copy_submission(src, tmp_path / "copied", max_file_mb=1)
    linked = copy_submission(src, tmp_path / "linked", max_file_mb=1, link=True)
    assert linked == copied  # the same files taken, the same left out
    names = sorted(str(p.relative_to(tmp_path / "copied")) for p in (tmp_path / "copied").rglob("*"))
    assert names == sorted(str(p.relative_to(tmp_path / "linked")) for p in (tmp_path / "linked").rglob("*"))
    for rel in ("deliverable/mix.wav", "deliverable/stems/music.wav"):
        assert os.path.samefile(tmp_path / "linked" / rel, src / rel)  # a link: no byte copied
        assert not os.path.samefile(tmp_path / "copied" / rel, src / rel)
    assert not (tmp_path / "linked" / "big.bin").exists()
    assert not (tmp_path / "linked" / "deliverable" / "stems" / "dialogue.wav").exists()


# ------------------------------------------------------------------------------------ hidden tests


SRC_WITH_HIDDEN = 'assert x == 1\n### BEGIN HIDDEN TESTS\nassert secret_value == 42, "nope"\n### END HIDDEN TESTS\nprint("done")\n'


def test_strip_hidden_tests_removes_the_region_only():
    out = strip_hidden_tests(SRC_WITH_HIDDEN)
    assert "secret_value" not in out and "HIDDEN" not in out
    assert out.startswith("assert x == 1") and 'print("done")' in out
    assert strip_hidden_tests("plain") == "plain"


def test_feedback_preprocessor_scrubs_sources_and_outputs_that_quote_hidden_tests():
    nb = _nb((SRC_WITH_HIDDEN, dict(TEST_META)))
    nb.cells[0].outputs = [nbformat.v4.new_output(
        "error", ename="AssertionError", evalue="nope",
        traceback=["----> 3 assert secret_value == 42, \"nope\"", "AssertionError: nope"])]
    nb.cells.append(nbformat.v4.new_code_cell("y = 2"))
    nb.cells[1].outputs = [nbformat.v4.new_output("stream", name="stdout", text="fine\n")]
    pre = grading.ScrubHiddenTests()
    nb, _ = pre.preprocess(nb, {})
    blob = json.dumps(nb)
    assert "secret_value" not in blob and "HIDDEN TESTS" not in blob
    assert nb.cells[1].outputs[0]["text"] == "fine\n"


# ------------------------------------------------------------------------------------ answers


def test_score_answers_number_numbers_and_choices():
    spec = {"kind": "answers", "notebook": "x", "items": [
        {"grade_id": "a", "answer": "f.offset", "type": "number", "expected": 125.0, "tolerance": 20, "points": 2},
        {"grade_id": "b", "answer": "f.sfx", "type": "numbers", "expected": {"door": 0.0, "cup": 80.0, "gone": "missing", "x": 5},
         "tolerance": 10, "points": 4},
        {"grade_id": "c", "answer": "f.layers", "type": "choices", "expected": {"dialogue": "post", "music": "native"}, "points": 1},
        {"grade_id": "d", "answer": "f.absent", "type": "number", "expected": 1.0, "tolerance": 1, "points": 3},
    ]}
    answers = {"f": {"offset": 140.0, "sfx": {"door": 4.0, "cup": 95.0, "gone": None, "x": 5}, "layers": {"dialogue": "Post-generated", "music": "keep"}}}
    got = {i.grade_id: i for i in score_answers(answers, spec)}
    assert got["a"].points == 2 and got["a"].passed
    assert got["b"].points == pytest.approx(3.0) and not got["b"].passed and "cup" in got["b"].message
    assert got["c"].points == 1 and got["c"].passed
    assert got["d"].points == 0 and "f['absent']" in got["d"].message
    # just outside the tolerance: no points
    answers["f"]["offset"] = 145.5
    assert score_answers(answers, spec)[0].points == 0


def test_truth_comes_from_the_scene_cue_sheet():
    spec = assignment_spec("lab1_audit", RUBRIC)
    cues = grading.scene_cues("cafe_dialogue")
    flaw = next(f for f in cues["native"]["flaws"] if f["kind"] == "sfx_late")
    truth = grading.derived_truth("sfx_offsets_ms", cues)
    assert truth[flaw["event"]] == flaw["offset_ms"]
    assert all(v == 0.0 for k, v in truth.items() if k != flaw["event"])
    late = next(f for f in cues["native"]["flaws"] if f["kind"] == "dialogue_late")["offset_ms"]
    assert grading.derived_truth("dialogue_offsets_ms", cues) == {d["id"]: late for d in cues["dialogue"]}
    by_line = cues["native"]["truth"]["dialogue_to_music_lu_by_line"]
    assert grading.derived_truth("dialogue_to_music_lu", cues) == by_line and set(by_line) == {d["id"] for d in cues["dialogue"]}
    music = {k: v + 0.7 for k, v in by_line.items()} | {"l3": by_line["l3"] + 0.8}  # one line 0.8 LU off: no points
    findings = {"dialogue_offsets_ms": {d["id"]: late + 8 for d in cues["dialogue"]}, "sfx_offsets_ms": truth,
                "dialogue_to_music_lu": music,
                "integrated_lufs": cues["native"]["integrated_lufs"], "issues": grading.derived_truth("issues", cues),
                "replace": {"dialogue": "post", "sfx": "post", "ambience": "native", "music": "post"}}
    got = {i.grade_id: i.points for i in score_answers({"findings": findings}, spec)}
    full = {it["grade_id"]: it["points"] for it in spec["items"]}
    assert got == {**full, "audit_music_level": 0.0}


def test_rubric_and_notebooks_agree():
    for name, spec in RUBRIC["assignments"].items():
        nb = nbformat.read(str(REPO / "autograder" / "source" / name / f"{spec['notebook']}.ipynb"), as_version=4)
        cells = {c.metadata["nbgrader"]["grade_id"]: c.metadata["nbgrader"] for c in nb.cells if "nbgrader" in c.metadata}
        for it in spec["items"]:
            meta = cells[it["grade_id"]]
            assert meta["grade"] and not meta["solution"] and meta["points"] == it["points"], it["grade_id"]
        assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), f"{name} has outputs"


def test_bad_rubric_is_a_clear_error(tmp_path):
    p = tmp_path / "rubric.json"
    p.write_text('{"assignments": {"x": {"kind": "quiz", "notebook": "x", "items": []}}}')
    with pytest.raises(GradingError, match="kind 'mix' or 'answers'"):
        load_rubric(p)
    p.write_text("not json")
    with pytest.raises(GradingError, match="JSON"):
        load_rubric(p)
    with pytest.raises(GradingError, match="not in the rubric"):
        assignment_spec("lab9", RUBRIC)
    p.write_text('{"assignments": {"x": {"kind": "answers", "notebook": "x", "timeout_s": "soon", '
                 '"items": [{"grade_id": "a", "points": 1}]}}}')
    with pytest.raises(GradingError, match="'timeout_s' of 'x' must be a number of seconds"):
        load_rubric(p)


# ------------------------------------------------------------------------------------ mix scoring


def _result(name, passed, value=1.0):
    return CheckResult(name, value, "dB", "target", passed, f"{name} message", {})


def test_score_mix_full_points_per_passed_check_and_gates():
    spec = assignment_spec("lab2_hybrid_mix", RUBRIC)
    names = [it["check"] for it in spec["items"]]
    results = {n: _result(n, True) for n in names + ["format", "stems_sum"]}
    results["sync"] = _result("sync", False, 120.0)
    items = score_mix(results, {"sync": "iVBOR"}, spec)
    pts = {i.name: i.points for i in items}
    assert pts["sync"] == 0 and sum(pts.values()) == sum(it["points"] for it in spec["items"]) - 2
    assert next(i for i in items if i.name == "sync").figure_png == "iVBOR"
    results["stems_sum"] = _result("stems_sum", False, -3.0)
    items = score_mix(results, {}, spec)
    assert all(i.points == 0 for i in items)
    assert "stems_sum" in next(i for i in items if i.name == "loudness").message


# ------------------------------------------------------------------------------------ running learner code


def test_learner_code_runs_isolated_and_exports_json(tmp_path):
    nb = _nb(
        ("%matplotlib inline\nimport numpy as np\nanswer = {'x': np.float32(1.5), 'arr': np.arange(3)}", None),
        ("raise RuntimeError('boom')", None),
        ("answer['after_error'] = True\nnp.allclose = lambda *a, **k: True", None),
        ("answer['from_test_cell'] = True", dict(TEST_META)),
    )
    nbformat.write(nb, str(tmp_path / "lab.ipynb"))
    values, log = run_learner_code(tmp_path / "lab.ipynb", tmp_path, exports=["answer", "missing"], timeout_s=120)
    assert values == {"answer": {"x": 1.5, "arr": [0, 1, 2], "after_error": True}}
    assert "RuntimeError: boom" in log
    assert np.allclose(np.zeros(2), np.ones(2)) is False  # the learner's patch lived in another process


def test_runaway_learner_code_is_stopped(tmp_path):
    nb = _nb(("answer = 1", None), ("while True:\n    pass", None))
    nbformat.write(nb, str(tmp_path / "lab.ipynb"))
    values, log = run_learner_code(tmp_path / "lab.ipynb", tmp_path, exports=["answer"], timeout_s=3)
    assert values == {}
    assert "did not finish within 3 s" in log


def test_learner_code_cells_skip_grade_cells():
    nb = _nb(("a = 1", None), ("assert a == 1", dict(TEST_META)),
             ("b = 2", {**TEST_META, "solution": True, "grade": True}))
    assert learner_code_cells(nb) == ["a = 1", "b = 2"]


def _lab3_submission(folder: Path, *, extra: str = "") -> Path:
    src = REPO / "autograder" / "source" / "lab3_choose_approach"
    folder.mkdir(parents=True)
    shutil.copy(src / "scenarios.json", folder / "scenarios.json")
    nb = nbformat.read(str(src / "lab3_choose_approach.ipynb"), as_version=4)
    if extra:
        nb.cells.append(nbformat.v4.new_code_cell(extra))
    nbformat.write(nb, str(folder / "lab3_choose_approach.ipynb"))
    return folder


def test_grade_submission_answers_lab_and_patched_grader_in_learner_code(tmp_path):
    full = sum(it["points"] for it in assignment_spec("lab3_choose_approach", RUBRIC)["items"])
    sub = _lab3_submission(tmp_path / "alice" / "lab3_choose_approach")
    g = grade_submission(sub, assignment="lab3_choose_approach", rubric=RUBRIC)
    assert g.score == full and g.student == "alice" and not g.error
    # a learner who changes an answer and patches the grader's scoring in their own process
    cheat = _lab3_submission(tmp_path / "mallory" / "lab3_choose_approach", extra=(
        "choices['surf_reel'] = {'approach': 'post', 'dialogue': 'post', 'sfx': 'post', 'ambience': 'post', 'music': 'post'}\n"
        "import layerlab.grading as G\n"
        "G.score_answers = lambda *a, **k: []\n"
        "open('results.json', 'w').write('{\"score\": 999}')\n"))
    g2 = grade_submission(cheat, assignment="lab3_choose_approach", rubric=RUBRIC)
    assert g2.item("choice_surf_reel").points == 0.0
    assert g2.score == full - 2


def test_the_rubric_sets_how_long_learner_code_may_run(tmp_path):
    rubric = json.loads(json.dumps(RUBRIC))
    rubric["assignments"]["lab3_choose_approach"]["timeout_s"] = 2
    sub = _lab3_submission(tmp_path / "dave" / "lab3_choose_approach", extra="while True:\n    pass")
    g = grade_submission(sub, assignment="lab3_choose_approach", rubric=rubric)
    assert "did not finish within 2 s" in g.log
    assert g.score == sum(it["points"] for it in rubric["assignments"]["lab3_choose_approach"]["items"])  # earlier cells count
    g = grade_submission(sub, assignment="lab3_choose_approach", rubric=rubric, timeout_s=1)  # the caller's value wins
    assert "did not finish within 1 s" in g.log


def test_broken_submissions_score_zero_with_a_reason(tmp_path):
    empty = tmp_path / "bob" / "lab2_hybrid_mix"
    empty.mkdir(parents=True)
    g = grade_submission(empty, assignment="lab2_hybrid_mix", rubric=RUBRIC)
    assert g.score == 0 and "lab2_hybrid_mix.ipynb is missing" in g.error
    assert len(g.items) == len(assignment_spec("lab2_hybrid_mix", RUBRIC)["items"])
    # a notebook whose "deliverable" is a symlink to files outside the submission
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    sub = tmp_path / "eve" / "lab2_hybrid_mix"
    sub.mkdir(parents=True)
    nb = _nb((f"import os\nos.symlink({str(outside)!r}, 'deliverable')", None))
    nbformat.write(nb, str(sub / "lab2_hybrid_mix.ipynb"))
    g = grade_submission(sub, assignment="lab2_hybrid_mix", rubric=RUBRIC)
    assert g.score == 0 and "symbolic link" in g.error


# ------------------------------------------------------------------------------------ reports


def _grades():
    spec = assignment_spec("lab2_hybrid_mix", RUBRIC)
    out = []
    for k, student in enumerate(["amy", "ben", "cat"]):
        items = [ItemGrade(it["grade_id"], it["check"], float(it["points"]) if (j + k) % 3 else 0.0, float(it["points"]),
                           bool((j + k) % 3), 1.0, "dB", "t", "msg") for j, it in enumerate(spec["items"])]
        out.append(SubmissionGrade("lab2_hybrid_mix", student, items))
    return spec, out


def test_summary_csv_and_histograms(tmp_path):
    spec, grades = _grades()
    p = write_summary_csv(tmp_path / "summary.csv", spec, grades)
    with open(p, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["student"] for r in rows] == ["amy", "ben", "cat"]
    for r, g in zip(rows, grades):
        assert float(r["score"]) == g.score
        assert float(r["sync"]) == g.item("sync").points
    png = write_histograms(tmp_path / "h.png", spec, grades, assignment="lab2_hybrid_mix")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_submission_grade_round_trip_and_reports():
    _, grades = _grades()
    g = grades[0]
    back = SubmissionGrade.from_dict(json.loads(json.dumps(g.to_dict())))
    assert back.to_dict() == g.to_dict()
    assert "<table>" in g.to_html() and "| sync |" in g.to_markdown()
    assert f"{g.score:g}/" in g.to_text().replace(".0/", "/") or str(int(g.score)) in g.to_text()


# ------------------------------------------------------------------------------------ self-check


@pytest.fixture(scope="module")
def deliverables(tmp_path_factory):
    """The reference mix of lab 2 and the same mix 6 LU too quiet, exported by the engine."""
    from layerlab.mix.ducking import Ducking
    from layerlab.mix.master import Master
    from layerlab.mix.scenes import load_scene
    from layerlab.mix.session import export_deliverable
    from layerlab.mix.stack import LayerStack
    from layerlab.measure.loudness import integrated_loudness

    nb = nbformat.read(str(REPO / "autograder" / "source" / "lab2_hybrid_mix" / "lab2_hybrid_mix.ipynb"), as_version=4)
    sol = next(c.source for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "lab2_mix")
    scene = load_scene("cafe_dialogue")
    out = {}
    for name, src in (("ref", sol), ("quiet", sol.replace("TARGET_LUFS = -14.0", "TARGET_LUFS = -20.0"))):
        ns = dict(LayerStack=LayerStack, Ducking=Ducking, Master=Master, scene=scene, cues=scene.cues, np=np,
                  integrated_loudness=integrated_loudness)
        exec(src, ns)
        out[name] = export_deliverable(ns["stack"], tmp_path_factory.mktemp(name) / "deliverable")
    return out


def test_self_check_reports_what_the_grader_gives_without_stderr(deliverables, capfd):
    spec = assignment_spec("lab2_hybrid_mix", RUBRIC)
    g = grading.self_check(deliverable=deliverables["ref"], figures=False)
    out, err = capfd.readouterr()
    assert err == ""
    assert g.score == sum(it["points"] for it in spec["items"]) and all(i.passed for i in g.items)
    assert "[PASS] loudness" in out
    # one check, as a grade cell runs it: fails with the advice as the assertion message
    with pytest.raises(AssertionError, match="loudness: integrated loudness is -20"):
        grading.self_check("loudness", deliverable=deliverables["quiet"], figures=False)
    out, err = capfd.readouterr()
    assert err == "" and "[FAIL] loudness" in out
    q = grading.self_check(deliverable=deliverables["quiet"], figures=False, show=False)
    assert q.item("loudness").points == 0 and q.score == g.score - q.item("loudness").max_points
    with pytest.raises(GradingError, match="no deliverable folder"):
        grading.self_check(deliverable=deliverables["ref"].parent / "nothing", show=False)


def _plain_python(code: str, cwd):
    """Run ``code`` in a plain Python interpreter (no IPython kernel), as a learner in a terminal would."""
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def test_self_check_in_a_terminal_prints_text_and_saves_its_figures(deliverables, tmp_path):
    """Issue #17: no "<IPython.core.display.Image object>" lines; the figures are saved and the report says where."""
    folder = deliverables["quiet"]
    cp = _plain_python(f"from layerlab.grading import self_check; self_check(deliverable={str(folder)!r})", tmp_path)
    assert cp.returncode == 0 and cp.stderr == "", cp.stderr
    assert "IPython" not in cp.stdout and "[FAIL] loudness" in cp.stdout
    # the engine's post-generated lines are digitally silent between them: said so, not "-200 dBFS"
    floor = next(ln for ln in cp.stdout.splitlines() if "dialogue_noise_floor:" in ln)
    assert floor.startswith("[PASS] dialogue_noise_floor: - (target") and "-200" not in cp.stdout, floor  # "-": no level
    assert "silent between lines" in cp.stdout
    saved = folder.parent / "self_check_figures"
    line = next(ln for ln in cp.stdout.splitlines() if ln.startswith("Figures saved in "))
    assert line.startswith(f"Figures saved in {saved.resolve()}: ")
    names = sorted(p.name for p in saved.glob("*.png"))
    assert {"loudness.png", "masking.png", "sync.png", "ducking.png"} <= set(names)
    assert all((saved / n).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for n in names)


def test_self_check_before_any_export_says_one_clear_line(tmp_path):
    """Issue #17: no traceback into the grader, one line that says how to export."""
    cp = _plain_python("from layerlab.grading import self_check; r = self_check(); assert r.error and not r.items", tmp_path)
    assert cp.returncode == 0 and cp.stderr == "", cp.stderr
    assert cp.stdout.splitlines() == ["deliverable: no deliverable folder yet. Export one with "
                                      "export_deliverable(stack, 'deliverable'), then run self_check() again."]


def test_grade_assignment_batch_goes_on_past_broken_submissions_and_resumes(tmp_path):
    course = tmp_path / "course"
    _lab3_submission(course / "submitted" / "alice" / "lab3_choose_approach")
    (course / "submitted" / "bob" / "lab3_choose_approach").mkdir(parents=True)  # handed in nothing
    full = sum(it["points"] for it in assignment_spec("lab3_choose_approach", RUBRIC)["items"])
    s = grading.grade_assignment("lab3_choose_approach", course=course, jobs=2, gradebook=False, feedback=False,
                                 progress=False)
    by = {g.student: g for g in s.grades}
    assert by["alice"].score == full and by["bob"].score == 0 and "missing" in by["bob"].error
    with open(s.summary_csv, newline="") as fh:
        assert [r["student"] for r in csv.DictReader(fh)] == ["alice", "bob"]
    assert (s.report_dir / "alice.html").is_file() and s.histograms_png.is_file()
    # resume: unchanged submissions reuse their stored result
    again = grading.grade_assignment("lab3_choose_approach", course=course, gradebook=False, feedback=False,
                                     resume=True, progress=False)
    assert {g.student: g.elapsed_s for g in again.grades} == {g.student: g.elapsed_s for g in s.grades}
    # grading one learner keeps the whole class in the summary
    one = grading.grade_assignment("lab3_choose_approach", course=course, students=["bob"], gradebook=False,
                                   feedback=False, progress=False)
    assert [g.student for g in one.grades] == ["bob"]
    with open(one.summary_csv, newline="") as fh:
        assert [r["student"] for r in csv.DictReader(fh)] == ["alice", "bob"]
    with pytest.raises(GradingError, match="no collected submission"):
        grading.grade_assignment("lab3_choose_approach", course=course, students=["carol"], gradebook=False, progress=False)


def _spans(grades) -> dict:
    out = {}
    for g in grades:
        line = next(x for x in g.log.splitlines() if x.startswith("span "))
        _, ns, start, end = line.split()
        out[g.student] = (ns, float(start), float(end))
    return out


def _most_at_once(spans) -> int:
    return max(sum(1 for _, s, e in spans.values() if s <= start < e) for _, start, _ in spans.values())


@pytest.mark.parametrize("jobs", [1, 3, None])
def test_jobs_sets_how_many_submissions_run_at_once_each_in_its_own_process(tmp_path, jobs):
    course = tmp_path / "course"
    for name in ("ann", "ben", "cat"):
        _lab3_submission(course / "submitted" / name / "lab3_choose_approach", extra=(
            "import os, time\nt0 = time.time()\ntime.sleep(1.5)\nprint('span', os.readlink('/proc/self/ns/pid'), t0, time.time())"))
    s = grading.grade_assignment("lab3_choose_approach", course=course, jobs=jobs, gradebook=False, feedback=False,
                                 progress=False)
    spans = _spans(s.grades)
    # a sandbox (PID namespace) per submission, none of them the grader's; two running at once never share one
    # (the kernel may reuse a finished namespace's number for the next)
    assert os.readlink("/proc/self/ns/pid") not in {ns for ns, _, _ in spans.values()}
    for a in spans.values():
        for b in spans.values():
            if a is not b and a[1] < b[2] and b[1] < a[2]:
                assert a[0] != b[0]
    assert _most_at_once(spans) == min(3, jobs or os.cpu_count())  # default: one per core


def _children(pid: int) -> list[int]:
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if int((d / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    out.append(int(d.name))
            except (OSError, IndexError, ValueError):
                pass
    return out


def _zygote_killer(killed: list):
    """A started thread that SIGKILLs the shared zygote once, as the kernel's OOM killer would, while it runs a task."""
    import signal
    import threading
    import time

    from layerlab.grading import zygote as zmod

    def kill_once():
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not killed:
            z = zmod._shared
            if z is not None and z.alive and _children(z._proc.pid):
                os.kill(z._proc.pid, signal.SIGKILL)
                killed.append(z)
            time.sleep(0.02)

    thread = threading.Thread(target=kill_once)
    thread.start()
    return thread


def test_a_grader_interpreter_that_dies_during_the_set_up_probe_is_replaced_not_blamed_on_the_set_up(monkeypatch):
    """An OOM kill of the warm interpreter while it runs the probe is the grader's accident, not a broken set-up."""

    from layerlab.grading import batch
    from layerlab.grading import zygote as zmod

    slow = {"cells": [nbformat.v4.new_code_cell("import time\ntime.sleep(2)")], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    monkeypatch.setattr(batch, "PROBE_NOTEBOOK", json.loads(nbformat.writes(nbformat.from_dict(slow))))
    killed = []
    killer = _zygote_killer(killed)
    batch.probe_grader(sandbox=False)  # no GraderSetupError: the probe ran again in a new interpreter
    killer.join()
    assert killed, "the zygote was never seen running the probe"
    assert zmod._shared is not killed[0] and zmod._shared.alive


def test_a_grader_interpreter_that_dies_mid_batch_costs_no_grade(tmp_path):
    from layerlab.grading import zygote as zmod

    course = tmp_path / "course"
    for name in ("ann", "ben"):
        _lab3_submission(course / "submitted" / name / "lab3_choose_approach", extra="import time\ntime.sleep(2)")
    killed = []
    killer = _zygote_killer(killed)
    # without the sandbox the learner's code is a zygote task too (with it, only measuring is: lab 2's case)
    with pytest.warns(UserWarning, match="without the OS sandbox"):
        s = grading.grade_assignment("lab3_choose_approach", course=course, jobs=2, gradebook=False, feedback=False,
                                     progress=False, sandbox=False)
    killer.join()
    assert killed, "the zygote was never seen running a task"
    full = sum(it["points"] for it in assignment_spec("lab3_choose_approach", RUBRIC)["items"])
    for g in s.grades:  # re-graded with a new zygote: full marks, nothing blamed on the learner
        assert not g.incomplete and g.score == full and "stopped early" not in g.log, (g.student, g.error, g.log)
    assert zmod._shared is not killed[0] and zmod._shared.alive


def test_learner_code_cannot_write_huge_files(tmp_path):
    nb = _nb(("import os\ntry:\n    with open('big.bin', 'wb') as fh:\n        fh.truncate(0)\n"
              "        fh.seek(int(300e6))\n        fh.write(b'x')\n    ok = 'wrote'\nexcept OSError as exc:\n    ok = 'refused'", None))
    nbformat.write(nb, str(tmp_path / "lab.ipynb"))
    values, log = run_learner_code(tmp_path / "lab.ipynb", tmp_path, exports=["ok"], timeout_s=60)
    assert values == {"ok": "refused"}
    assert not (tmp_path / "big.bin").exists() or (tmp_path / "big.bin").stat().st_size <= grading.MAX_FILE_MB * 1e6


def test_check_answers_reports_shape_problems_and_optionally_the_verdict(capsys):
    spec = assignment_spec("lab3_choose_approach", RUBRIC)
    expected = {it["label"]: dict(it["expected"]) for it in spec["items"]}
    problems = grading.check_answers({"choices": {"surf_reel": {"approach": "maybe"}}}, assignment="lab3_choose_approach")
    assert any("news_explainer" in p for p in problems)
    assert any("'maybe'" in p and "choose one of" in p for p in problems)
    assert "Fix before submitting" in capsys.readouterr().out
    expected["surf_reel"]["music"] = "post"
    assert grading.check_answers({"choices": expected}, assignment="lab3_choose_approach", grade=True) == []
    out = capsys.readouterr().out
    assert "[FAIL] surf_reel" in out and "Reconsider: music" in out and "[PASS] news_explainer" in out


def test_locked_cells_are_restored_from_the_source_notebook(tmp_path):
    src_dir = REPO / "autograder" / "source" / "lab3_choose_approach"
    sub = _lab3_submission(tmp_path / "trent" / "lab3_choose_approach")
    nb = nbformat.read(str(sub / "lab3_choose_approach.ipynb"), as_version=4)
    for c in nb.cells:  # as nbgrader releases it: no hidden tests
        c.source = grading.strip_hidden_tests(c.source)
    # the learner rewrites the locked setup cell (which loads the scenarios) and deletes the self-check cell
    setup = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "lab3_setup")
    setup.source = "raise SystemExit('setup disabled')"
    nb.cells = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") != "lab3_selfcheck"]
    nbformat.write(nb, str(sub / "lab3_choose_approach.ipynb"))
    copy = tmp_path / "copy.ipynb"
    shutil.copy(sub / "lab3_choose_approach.ipynb", copy)
    restored = grading.restore_locked_cells(copy, src_dir / "lab3_choose_approach.ipynb")
    assert set(restored) == {"lab3_setup", "lab3_selfcheck"}
    fixed = nbformat.read(str(copy), as_version=4)
    ids = [c.metadata.get("nbgrader", {}).get("grade_id") for c in fixed.cells]
    assert ids.index("lab3_selfcheck") == ids.index("lab3_choices") + 1  # back after the graded cell before it
    assert "HIDDEN TESTS" not in copy.read_text(encoding="utf-8")  # put back as released: the learner's code reads it
    g = grade_submission(sub, assignment="lab3_choose_approach", rubric=RUBRIC,
                         source_notebook=src_dir / "lab3_choose_approach.ipynb")
    assert g.score == sum(it["points"] for it in assignment_spec("lab3_choose_approach", RUBRIC)["items"])


# ------------------------------------------------------------------ lab 1: one value per line, in a wrong shape

class _HostileValue:
    def __float__(self):
        raise RuntimeError("hostile __float__")

    def __repr__(self):
        raise RuntimeError("hostile __repr__")


def _lab1_right_findings():
    cues = grading.scene_cues("cafe_dialogue")
    return cues, {"dialogue_offsets_ms": grading.derived_truth("dialogue_offsets_ms", cues),
                  "dialogue_to_music_lu": grading.derived_truth("dialogue_to_music_lu", cues),
                  "integrated_lufs": cues["native"]["integrated_lufs"]}


_LINES = ("l1", "l2", "l3", "l4", "l5", "l6")
_BAD_PER_LINE = {  # answer -> what the one-line message must say (besides naming the item's key)
    "the old single number": (lambda t: 125.0, "not a dict"),
    "a list": (lambda t: list(t.values()), "not a dict"),
    "a string": (lambda t: "125 ms", "not a dict"),
    "a hostile object": (lambda t: _HostileValue(), "not a dict"),
    "a line missing": (lambda t: {k: v for k, v in t.items() if k != "l3"}, "no entry for l3"),
    "int keys": (lambda t: {i + 1: v for i, v in enumerate(t.values())}, "no entry for l1"),
    "NaN values": (lambda t: {k: float("nan") for k in t}, "not a number"),
    "inf values": (lambda t: {k: float("inf") for k in t}, "not a number"),
    "numeric strings": (lambda t: {k: str(v) for k, v in t.items()}, "not a number"),
    "nested dicts": (lambda t: {k: {"value": v} for k, v in t.items()}, "not a number"),
    "None values": (lambda t: {k: None for k in t}, "not a number"),
    "hostile values": (lambda t: {k: _HostileValue() for k in t}, "not a number"),
}


@pytest.mark.parametrize("case", list(_BAD_PER_LINE))
@pytest.mark.parametrize("item", ["dialogue_offsets_ms", "dialogue_to_music_lu"])
def test_a_lab1_per_line_answer_in_a_wrong_shape_costs_only_its_item_in_one_line_naming_the_key(item, case):
    cues, right = _lab1_right_findings()
    spec = assignment_spec("lab1_audit", RUBRIC)
    make, says = _BAD_PER_LINE[case]
    findings = dict(right, **{item: make(right[item])})
    got = {i.grade_id: i for i in score_answers({"findings": findings}, spec)}
    gid = {"dialogue_offsets_ms": "audit_dialogue_offsets", "dialogue_to_music_lu": "audit_music_level"}[item]
    other = ({"audit_dialogue_offsets", "audit_music_level"} - {gid}).pop()
    assert got[gid].points == 0.0 and not got[gid].passed
    assert got[other].points == got[other].max_points and got["audit_loudness"].points == 1.0  # only this item pays
    msg = got[gid].message
    assert "\n" not in msg and f"findings[{item!r}]" in msg and says in msg, msg
    assert isinstance(got[gid].to_text(), str)
    truth_values = {f"{v:g}" for v in right[item].values()}
    assert not any(v in msg for v in truth_values if len(v) > 2), msg  # no true value given away


def test_check_answers_tells_a_learner_with_an_old_lab1_notebook_to_give_one_value_per_line():
    _, right = _lab1_right_findings()
    old = {"dialogue_offset_ms": 125.0, "dialogue_to_music_lu": 3.0, "integrated_lufs": right["integrated_lufs"]}
    problems = grading.check_answers({"findings": old}, assignment="lab1_audit", show=False)
    offsets = next(p for p in problems if "dialogue_offsets_ms" in p)
    assert "dialogue_offset_ms" in offsets.replace("dialogue_offsets_ms", "") and all(k in offsets for k in _LINES), offsets
    music = next(p for p in problems if "dialogue_to_music_lu" in p)
    assert "dict" in music and all(k in music for k in _LINES), music


def test_check_answers_names_missing_unknown_and_non_numeric_keys_of_a_per_line_answer():
    _, right = _lab1_right_findings()
    findings = dict(right, dialogue_offsets_ms={"l1": 10.0, "l2": "12", "l3": float("nan"), "l4": None, "L5": 3.0, "l6": 1.0},
                    sfx_offsets_ms={"door": 1.0, "cup_a": None, "cup_b": 2.0, "door_2": 3.0})
    problems = grading.check_answers({"findings": findings}, assignment="lab1_audit", show=False)
    said = " | ".join(p for p in problems if "dialogue_offsets_ms" in p)
    for key in ("'l2'", "'l3'", "'l4'", "'L5'", "l5"):
        assert key in said, said
    assert "'l1'" not in said and "'l6'" not in said
    assert not any("sfx_offsets_ms" in p for p in problems), problems  # None is how a missing SFX is answered
    assert grading.check_answers({"findings": dict(right, sfx_offsets_ms={"door": 1.0, "cup_a": None, "cup_b": 2.0, "door_2": 3.0})},
                                 assignment="lab1_audit", show=False) == [p for p in problems if "dialogue_offsets_ms" not in p]


def test_an_sfx_marked_missing_where_the_render_has_it_is_told_so_not_called_a_non_number():
    cues = grading.scene_cues("cafe_dialogue")
    spec = dict(assignment_spec("lab1_audit", RUBRIC))
    spec["items"] = [it for it in spec["items"] if it["grade_id"] == "audit_sfx_offsets"]
    truth = grading.derived_truth("sfx_offsets_ms", cues)
    got = score_answers({"findings": {"sfx_offsets_ms": dict(truth, cup_b=None)}}, spec)[0]
    assert got.points == 0 and "None (no sound) for cup_b" in got.message and "not a number" not in got.message, got.message
    assert "\n" not in got.message


def test_check_answers_names_the_problem_keys_of_lab1s_issues():
    """The self-check names the seven problems the grader reads (the cue sheet's flaw kinds) when they are missing or
    misspelt, and a tick that is not True or False; the grade never learns anything from it."""
    from layerlab.mix.scenes import FLAW_KINDS

    cues, right = _lab1_right_findings()
    right["issues"] = grading.derived_truth("issues", cues)
    assert not [p for p in grading.check_answers({"findings": right}, assignment="lab1_audit", show=False) if "issues" in p]
    empty = " | ".join(p for p in grading.check_answers({"findings": dict(right, issues={})}, assignment="lab1_audit",
                                                          show=False) if "issues" in p)
    assert all(k in empty for k in FLAW_KINDS), empty
    guessed = dict(right["issues"], dialogue_sync=True)
    del guessed["dialogue_late"]
    guessed["sfx_late"] = "maybe"
    said = " | ".join(p for p in grading.check_answers({"findings": dict(right, issues=guessed)}, assignment="lab1_audit",
                                                         show=False) if "issues" in p)
    assert "dialogue_sync" in said and "dialogue_late" in said and "'maybe'" in said, said


def test_check_answers_on_a_hostile_findings_mapping_reports_instead_of_raising():
    class Findings(dict):
        def __iter__(self):
            raise RuntimeError("hostile __iter__")

        def keys(self):
            raise RuntimeError("hostile keys")

    problems = grading.check_answers({"findings": Findings(integrated_lufs=-14.0)}, assignment="lab1_audit", show=False)
    assert any("dialogue_offsets_ms is missing" in p for p in problems), problems


def test_the_self_check_and_the_grader_agree_on_what_is_a_number():
    """The grader scores the exported JSON (``jsonable``: a Decimal or Fraction becomes text); the self-check
    scores the kernel's values. Both must see the same numbers, or the self-check promises points the grader
    does not give."""
    from decimal import Decimal
    from fractions import Fraction

    from layerlab.grading.results import jsonable

    cues, right = _lab1_right_findings()
    spec = assignment_spec("lab1_audit", RUBRIC)
    for odd in (Decimal, lambda v: Fraction(v).limit_denominator(1000)):
        findings = dict(right, dialogue_offsets_ms={k: odd(v) for k, v in right["dialogue_offsets_ms"].items()},
                        integrated_lufs=odd(right["integrated_lufs"]))
        kernel = {i.grade_id: i.points for i in score_answers({"findings": findings}, spec)}
        exported = {i.grade_id: i.points for i in score_answers(jsonable({"findings": findings}), spec)}
        assert kernel == exported, (kernel, exported)
        problems = grading.check_answers({"findings": findings}, assignment="lab1_audit", show=False)
        assert any("dialogue_offsets_ms" in p and "plain numbers" in p for p in problems), problems
        assert any("integrated_lufs" in p for p in problems), problems
    # numpy numbers are plain numbers to both
    findings = dict(right, dialogue_offsets_ms={k: np.float32(v) for k, v in right["dialogue_offsets_ms"].items()},
                    integrated_lufs=np.float64(right["integrated_lufs"]))
    kernel = {i.grade_id: i.points for i in score_answers({"findings": findings}, spec)}
    assert kernel["audit_dialogue_offsets"] == 2.0 and kernel["audit_loudness"] == 1.0
    assert kernel == {i.grade_id: i.points for i in score_answers(jsonable({"findings": findings}), spec)}
    assert not [p for p in grading.check_answers({"findings": findings}, assignment="lab1_audit", show=False)
                if "dialogue_offsets_ms" in p or "integrated_lufs" in p]
