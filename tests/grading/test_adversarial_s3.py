"""Third hostile review (issues #12, #14): each attack as a test; those that still work are strict xfails naming their fault.

Each test turns red (XPASS, strict) once its fault is fixed; then drop the marker.
"""

from __future__ import annotations

import pytest

from layerlab.course import variants as V
from layerlab.grading.rubric import assignment_spec, derived_truth, load_rubric, score_answers

SECRET = b"hostile-review-s3-course-secret-0123456789"

# lab 1, answered without opening the scene: the likeliest value of every key over the variants' draws
FIXED_FINDINGS = {"findings": {
    "dialogue_offsets_ms": {lid: 180.0 for lid in ("l1", "l2", "l3", "l4", "l5", "l6")},
    "sfx_offsets_ms": {"door": 0.0, "cup_a": 0.0, "cup_b": 0.0, "door_2": 0.0},
    "dialogue_to_music_lu": {lid: 3.5 for lid in ("l1", "l2", "l3", "l4", "l5", "l6")},
    "integrated_lufs": -8.5,
    "issues": {"dialogue_late": True, "dialogue_band_limited": False, "sfx_late": True, "sfx_missing": False,
               "music_masks_dialogue": True, "loudness_off_target": True, "ambience_dropout": False},
    "replace": {"dialogue": "post", "sfx": "post", "ambience": "native", "music": "post"},
}}


def _flaws_of(native: dict) -> dict:
    """The ``native.flaws`` the variant's render records, from its drawn parameters (as ``assets/variants.render_variant``:
    an offset within the lab's 40 ms, music 10 LU or more under the dialogue, loudness within 1 LU of -14 LUFS are no flaw)."""
    flaws = []
    late = native["dialogue_late_ms"]  # one offset per line
    if max(abs(v) for v in late.values()) > V.LAB1_FLAW_THRESHOLD_MS:
        flaws.append({"kind": "dialogue_late", "offset_ms": sorted(late.values())[len(late) // 2], "offsets_ms": dict(late)})
    if native["band"]:
        flaws.append({"kind": "dialogue_band_limited"})
    flaws += [{"kind": "sfx_late", "event": e, "offset_ms": v} for e, v in native["sfx_late"].items() if abs(v) > V.LAB1_FLAW_THRESHOLD_MS]
    flaws += [{"kind": "sfx_missing", "event": e} for e in native["sfx_missing"]]
    by_line = native["dialogue_to_music_lu"]  # the music's level under each line
    if min(by_line.values()) < V.LAB1_MUSIC_MIN_LU:
        flaws.append({"kind": "music_masks_dialogue", "dialogue_to_music_lu": min(by_line.values()), "by_line_lu": dict(by_line)})
    if abs(native["integrated_lufs"] + 14.0) > V.LAB1_LOUDNESS_WINDOW_LU:
        flaws.append({"kind": "loudness_off_target", "integrated_lufs": native["integrated_lufs"]})
    if native.get("ambience_dropout"):
        flaws.append({"kind": "ambience_dropout"})
    truth = {"sfx_offset_ms": dict(native["sfx_late"]), "dialogue_offset_ms": dict(late), "dialogue_to_music_lu_by_line": dict(by_line)}
    return {"native": {"flaws": flaws, "truth": truth}, "events": [{"id": e} for e in ("door", "cup_a", "cup_b", "door_2")],
            "dialogue": [{"id": lid} for lid in late]}


def test_lab1_every_graded_answer_key_is_drawn_per_learner():
    seen: dict = {}
    for i in range(200):
        cues = _flaws_of(V.derive_variant("lab1_audit", course_secret=SECRET, student_id=f"s{i}").native)
        for name in ("sfx_offsets_ms", "dialogue_offsets_ms", "dialogue_to_music_lu", "issues", "replace"):
            for key, value in derived_truth(name, cues).items():
                seen.setdefault(f"{name}.{key}", set()).add(value)
    constant = sorted(k for k, values in seen.items() if len(values) < 2)
    assert constant == [], f"the same true answer for all 200 learners: {constant}"


@pytest.fixture(scope="module")
def lab1_truths(tmp_path_factory):
    """Four learners' lab 1 variants, built as `layerlab variants build` does; their complete cue sheets."""
    course = tmp_path_factory.mktemp("s3_lab1")
    out = {}
    for sid in ("s0", "s1", "s2", "s3"):
        V.build_variant("lab1_audit", sid, course=course, secret=SECRET)
        out[sid] = V.load_truth(course, "lab1_audit", sid)
    return out


def test_lab1_a_fixed_answer_sheet_earns_under_a_third_of_the_points(lab1_truths):
    spec = assignment_spec("lab1_audit", load_rubric())
    total = sum(float(it["points"]) for it in spec["items"])
    scores = {sid: sum(g.points for g in score_answers(FIXED_FINDINGS, spec, cues=truth)) for sid, truth in lab1_truths.items()}
    blank = {sid: sum(g.points for g in score_answers({}, spec, cues=truth)) for sid, truth in lab1_truths.items()}
    assert set(blank.values()) == {0.0}  # blank work earns nothing
    mean = sum(scores.values()) / len(scores)
    assert mean < total / 3, f"a fixed answer sheet scores {scores} (mean {mean:.2f} of {total:g})"


def _notebook(path, *sources) -> None:
    import json

    cells = [{"cell_type": "code", "metadata": {}, "source": s, "outputs": [], "execution_count": None} for s in sources]
    path.write_text(json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": cells}))


MANY_FILES = 20_000


def test_the_grader_takes_back_a_bounded_number_of_files(tmp_path):
    import os

    from layerlab.grading import sandbox as S

    work = tmp_path / "work"
    work.mkdir()
    _notebook(work / "nb.ipynb", "import os\nos.makedirs('deliverable/junk')\n"
              f"for i in range({MANY_FILES}):\n    os.close(os.open(f'deliverable/junk/{{i}}', os.O_CREAT | os.O_WRONLY, 0o600))\n")
    run = S.run_sandboxed("nb.ipynb", work, collect=["deliverable"], limits=S.SandboxLimits(timeout_s=120))
    assert run.returncode == 0 and not run.timed_out, run.log[-500:]
    back = sum(len(files) + len(dirs) for _, dirs, files in os.walk(work / "deliverable"))
    assert back <= 1000, f"{back} files and folders came back out of the sandbox into the grader's /tmp"


# ---------------------------------------------------------------- lab 2: a classmate's deliverable, re-timed

LAB2 = "lab2_hybrid_mix"
_SETUP2 = ("import numpy as np\nfrom layerlab.mix.scenes import load_scene\nfrom layerlab.mix.stack import LayerStack\n"
           "from layerlab.mix.ducking import Ducking\nfrom layerlab.mix.master import Master\n"
           "from layerlab.mix.session import export_deliverable\nfrom layerlab.measure.loudness import integrated_loudness\n"
           "scene = load_scene('cafe_dialogue')\ncues = scene.cues\n")
# dan's mix cell: the classmate's exported stems, cut halfway between the classmate's cues (their public cue sheet is
# released to the whole class) and each piece moved to dan's own cue time; no level, no ducking, no mixing decision
RETIME = """
import json
theirs = json.load(open(THEIR_CUES))
def pieces(items, key, mine, end_key=None):
    t = [float(x[key]) for x in items]
    e = [float(x[end_key]) for x in items] if end_key else t
    cuts = [0.0] + [(a + b) / 2 for a, b in zip(e, t[1:])] + [cues.duration_s]
    for x, a, b in zip(items, cuts, cuts[1:]):
        yield a, b, mine[x["id"]] - float(x[key])
stack = LayerStack(duration_s=cues.duration_s)
for layer, items, key, end_key, mine in (
        ("dialogue", theirs["dialogue"], "start_s", "end_s", {l.id: l.start_s for l in cues.dialogue}),
        ("sfx", theirs["events"], "time_s", None, {e.id: e.time_s for e in cues.events})):
    for a, b, shift in pieces(items, key, mine, end_key):
        stack.add(layer, f"{STEMS}/{layer}.wav", start_s=max(0.0, a + shift), trim_start_s=a - min(0.0, a + shift), trim_end_s=b)
stack.add("ambience", f"{STEMS}/ambience.wav")
stack.add("music", f"{STEMS}/music.wav")
stack.master = Master(target_lufs=-14.0, ceiling_dbtp=-1.5)
"""
# a mix with no decision at all: every clip at its cue time at 0 dB, the kit's default ducking and master
NAIVE = """
stack = LayerStack(duration_s=cues.duration_s, ducking=Ducking(), master=Master(target_lufs=-14.0))
for line in cues.dialogue:
    stack.add("dialogue", scene.clip_path(line.clip), start_s=line.start_s)
for ev in cues.events:
    stack.add("sfx", scene.clip_path(ev.clip), start_s=ev.time_s)
stack.add("ambience", scene.clip_path(cues.ambience["clip"]))
stack.add("music", scene.clip_path(cues.music["clip"]))
"""
PLAIN_COPY = "stack = LayerStack(duration_s=cues.duration_s)\nfor _l in ('dialogue', 'sfx', 'ambience', 'music'):\n" \
             "    stack.add(_l, f'{STEMS}/{_l}.wav')\n"


@pytest.fixture(scope="module")
def lab2_copies(tmp_path_factory):
    """ann's reference mix on her variant; dan hands it in as is, and re-timed to his own cue sheet."""
    import os

    import nbformat

    from layerlab.grading.measuring import measure_deliverable
    from layerlab.grading.rubric import score_mix
    from layerlab.grading.submission import learner_code_cells
    from layerlab.paths import REPO_ROOT

    course = tmp_path_factory.mktemp("s3_lab2")
    out_dir = tmp_path_factory.mktemp("s3_lab2_out")
    for sid in ("ann", "dan"):
        V.build_variant(LAB2, sid, course=course, secret=SECRET)
    src = REPO_ROOT / "autograder" / "source" / LAB2 / f"{LAB2}.ipynb"
    reference = next(s for s in learner_code_cells(nbformat.read(str(src), as_version=4)) if "TARGET_LUFS" in s)
    spec = assignment_spec(LAB2, load_rubric())
    scene_of = {sid: V.public_dir(course, LAB2, sid) / "scenes" / "cafe_dialogue" for sid in ("ann", "dan")}
    before = os.environ.get("LAYERLAB_ASSETS")

    def as_learner(sid, code, name, **names):
        os.environ["LAYERLAB_ASSETS"] = str(V.public_dir(course, LAB2, sid))  # what the lab's set-up cell does
        exec(_SETUP2 + code + f"\nexport_deliverable(stack, {str(out_dir / name)!r})\n", dict(names))  # noqa: S102
        results, _ = measure_deliverable(out_dir / name, scene=str(scene_of[sid]), figures=False)
        return {g.grade_id: g.points for g in score_mix(results, {}, spec)}

    try:
        stems = str(out_dir / "ann" / "stems")
        return {"ann": as_learner("ann", reference, "ann"),
                "naive": as_learner("dan", NAIVE, "naive"),
                "plain": as_learner("dan", PLAIN_COPY, "plain", STEMS=stems),
                "retimed": as_learner("dan", RETIME, "retimed", STEMS=stems, THEIR_CUES=str(scene_of["ann"] / "cues.json"))}
    finally:
        if before is None:
            os.environ.pop("LAYERLAB_ASSETS", None)
        else:
            os.environ["LAYERLAB_ASSETS"] = before


def test_lab2_reference_earns_full_marks_and_a_plain_copy_fails_sync(lab2_copies):
    assert sum(lab2_copies["ann"].values()) == 15.0, lab2_copies["ann"]
    assert lab2_copies["plain"]["check_sync"] == 0.0 and lab2_copies["plain"]["check_dialogue_sync"] == 0.0


def test_lab2_a_classmates_deliverable_retimed_fails_the_copiers_dialogue_checks(lab2_copies):
    """Cut at the classmate's cue times and moved to the copier's own: the lines are the classmate's takes, so
    dialogue_sync and masking (judged on the copier's own lines found in mix.wav) fail."""
    r = lab2_copies["retimed"]
    assert r["check_dialogue_sync"] == 0.0 and r["check_masking"] == 0.0, f"re-timed copy scores {sum(r.values())}/15: {r}"


def test_lab2_a_classmates_deliverable_retimed_fails_the_copiers_sync(lab2_copies):
    """Cut at the classmate's cue times and moved to the copier's own: a sound at every cue, but the classmate's SFX
    takes, so sync (judged on the copier's own takes found near each cue) fails."""
    r = lab2_copies["retimed"]
    assert r["check_sync"] == 0.0, f"re-timed copy scores {sum(r.values())}/15: {r}"


def test_lab2_a_mix_without_any_level_decision_does_not_earn_full_marks(lab2_copies):
    r = lab2_copies["naive"]
    assert sum(r.values()) < 15.0, f"0 dB everywhere, default ducking and master: {sum(r.values())}/15 {r}"


def test_a_submission_copy_takes_a_bounded_number_of_files(tmp_path):
    """The grader's own copy of a submitted folder stops at MAX_SUBMISSION_ENTRIES and says how much it left out."""
    import os

    from layerlab.grading.submission import MAX_SUBMISSION_ENTRIES, copy_submission

    src = tmp_path / "sub"
    (src / "deliverable" / "junk").mkdir(parents=True)
    (src / "lab.ipynb").write_text("{}")
    for i in range(MAX_SUBMISSION_ENTRIES + 500):
        (src / "deliverable" / "junk" / f"{i:05d}").touch()
    skipped = copy_submission(src, tmp_path / "copy")
    copied = sum(len(files) + len(dirs) for _, dirs, files in os.walk(tmp_path / "copy"))
    assert copied <= MAX_SUBMISSION_ENTRIES
    assert (tmp_path / "copy" / "lab.ipynb").exists()  # the top level is walked first
    assert skipped and skipped[-1].startswith(f"{MAX_SUBMISSION_ENTRIES + 500 + 3 - copied} more files and folders")


def test_resume_regrades_a_result_older_than_the_learners_variant(tmp_path):
    """A rebuilt variant (new secret, --force) makes a stored result stale: --resume must not reuse it."""
    import os

    from layerlab.course.variants import truth_path
    from layerlab.grading.batch import variant_rebuilt_since

    result = tmp_path / "reports" / "ann.json"
    result.parent.mkdir()
    result.write_text("{}")
    assert not variant_rebuilt_since(result, tmp_path, "lab2_hybrid_mix", "ann")  # no variants: nothing to compare
    truth = truth_path(tmp_path, "lab2_hybrid_mix", "ann")
    truth.parent.mkdir(parents=True)
    truth.write_text("{}")
    os.utime(truth, (1_000_000, 1_000_000))
    os.utime(result, (2_000_000, 2_000_000))
    assert not variant_rebuilt_since(result, tmp_path, "lab2_hybrid_mix", "ann")  # graded after the build: reused
    os.utime(truth, (3_000_000, 3_000_000))
    assert variant_rebuilt_since(result, tmp_path, "lab2_hybrid_mix", "ann")  # rebuilt since: graded again
