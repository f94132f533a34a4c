"""End to end: a scene of their own for each learner, through nbgrader and the kit's grader.

One module-scoped run builds a course whose assessed labs have per-learner variants
(``layerlab variants build``, which publishes each learner's to the exchange's
``layerlab/layerlab-variants/<lab>/<id>/``; the release holds none), releases, fetches
and submits through a local exchange (each learner's lab copies their own variant into
their cache, outside the lab folder),
collects, autogrades and runs ``layerlab grade``. Three learners submit the reference
solution, each on their own variant; one submits a classmate's work (lab 2: ann's
exported stems as their own layers; lab 1: ann's findings, as numbers); one hands in
the untouched release copy (blank work).

Reuses the helpers of ``test_nbgrader_e2e.py``.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import nbformat
import pytest

import importlib.util

_spec = importlib.util.spec_from_file_location("_nbgrader_e2e_helpers", Path(__file__).with_name("test_nbgrader_e2e.py"))
_e2e = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_e2e)
LAB1, LAB2, REPO, VENV_BIN = _e2e.LAB1, _e2e.LAB2, _e2e.REPO, _e2e.VENV_BIN
_env, _fill, _nbgrader, _points, _run = _e2e._env, _e2e._fill, _e2e._nbgrader, _e2e._points, _e2e._run
_scores_from_gradebook, _student_points = _e2e._scores_from_gradebook, _e2e._student_points

pytestmark = pytest.mark.slow

REFS = ("ann", "ben", "cat")
COPIER, BLANK = "dan", "eve"
LEARNERS = (*REFS, COPIER, BLANK)
LABS = (LAB2, LAB1)
E2E_SECRET = "e2e-course-secret-5f0c9a3e71d24b68a0e9c4d1"

# lab 2: dan mixes ann's exported stems (the classmate's deliverable, brought along in ann_deliverable/)
COPY_LAB2 = ("stack = LayerStack(duration_s=cues.duration_s)\n"
             "for _layer in ('dialogue', 'sfx', 'ambience', 'music'):\n"
             "    stack.add(_layer, f'ann_deliverable/stems/{_layer}.wav', start_s=0.0, gain_db=0.0, name=_layer)\n")


def _set_solutions(nb_path: Path, sources: dict, default: str) -> None:
    """Replace every solution code cell: ``sources[grade_id]``, else ``default``."""
    nb = nbformat.read(str(nb_path), as_version=4)
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type == "code" and meta.get("solution"):
            cell.source = sources.get(meta.get("grade_id"), default)
    nbformat.write(nb, str(nb_path))


def _learner_env(env: dict, sid: str, tmp: Path) -> dict:
    """A learner's environment: their id, and their own cache (``~/.cache`` of a separate user)."""
    return {**env, "LAYERLAB_STUDENT": sid, "XDG_CACHE_HOME": str(tmp / "students" / sid / ".cache")}


def _cache(tmp: Path, sid: str, lab: str) -> Path:
    return tmp / "students" / sid / ".cache" / "layerlab" / "variants" / "layerlab" / lab


def _published(tmp: Path, lab: str) -> Path:
    return tmp / "exchange" / "layerlab" / "layerlab-variants" / lab


def _run_reference_here(folder: Path, lab: str, student: str, env: dict) -> None:
    """Run a lab's set-up, solution and export cells as ``student`` in ``folder`` (a learner working in their copy)."""
    nb = nbformat.read(str(folder / f"{lab}.ipynb"), as_version=4)
    code = [c.source for c in nb.cells if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("grade_id", "").startswith(("lab2_", "lab1_"))
            and not c.metadata["nbgrader"]["grade_id"].endswith("selfcheck")]
    script = folder / "_run_reference.py"
    script.write_text("import json\n" + "\n".join(code) + "\nif 'findings' in globals():\n"
                      "    json.dump(findings, open('findings.json', 'w'))\n")
    _run([str(VENV_BIN / "python"), script.name], cwd=folder, env=env, timeout=900)
    script.unlink()


@pytest.fixture(scope="module")
def vcourse(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("variants_e2e")
    env = _env(tmp)
    env["LAYERLAB_EXCHANGE"] = str(tmp / "exchange")  # the course config's exchange: this course's own
    root = tmp / "course"
    (root / "source").mkdir(parents=True)
    (tmp / "exchange").mkdir()
    shutil.copy(REPO / "autograder" / "nbgrader_config.py", root / "nbgrader_config.py")
    shutil.copy(REPO / "autograder" / "rubric.json", root / "rubric.json")
    # a fixed course secret keeps the run reproducible (the first one tried; ann's and dan's lab 1 values are
    # 60 ms, 4.75 LU and 10.8 LU apart). How often two random learners collide: test_variants.py's copy odds.
    (root / "variants").mkdir()
    (root / "variants" / "secret").write_text(E2E_SECRET + "\n")
    (root / "variants" / "secret").chmod(0o600)
    for lab in LABS:
        shutil.copytree(REPO / "autograder" / "source" / lab, root / "source" / lab)
        _run([str(VENV_BIN / "layerlab"), "variants", "build", lab, "--course", str(root), "--students", ",".join(LEARNERS),
              "--jobs", "2"], cwd=root, env=env, timeout=1800)
    fetched_dirs, found = {}, {}
    for lab in LABS:
        _nbgrader("generate_assignment", lab, "--force", cwd=root, env=env)
        _nbgrader("release_assignment", lab, "--force", cwd=root, env=env)
        fetched = tmp / "fetched" / lab
        fetched.mkdir(parents=True)
        _nbgrader("fetch_assignment", lab, "--course=layerlab", f"--Exchange.root={tmp / 'exchange'}", cwd=fetched, env=env)
        fetched_dirs[lab] = fetched / lab
        ann_home = tmp / "students" / "ann"
        for sid in LEARNERS:
            home = tmp / "students" / sid
            home.mkdir(parents=True, exist_ok=True)
            shutil.copytree(fetched / lab, home / lab)
            if sid in REFS:
                _fill(home / lab / f"{lab}.ipynb", lab, [])
        # each learner's set-up finds their own variant (the lookup the lab's set-up cell and self_check() make)
        for sid in LEARNERS:
            cp = _run([str(VENV_BIN / "python"), "-c", "from layerlab.course.variants import scene_in_use; "
                       "print(scene_in_use('.')[1])"], cwd=tmp / "students" / sid / lab, env=_learner_env(env, sid, tmp))
            found[(lab, sid)] = cp.stdout.strip()
        # ann works in her copy first; dan takes what she made
        _run_reference_here(ann_home / lab, lab, "ann", _learner_env(env, "ann", tmp))
        dan = tmp / "students" / COPIER / lab
        if lab == LAB2:
            shutil.copytree(ann_home / lab / "deliverable", dan / "ann_deliverable")
            _set_solutions(dan / f"{lab}.ipynb", {"lab2_mix": COPY_LAB2}, "pass")
        else:
            ann_findings = json.loads((ann_home / lab / "findings.json").read_text())
            _set_solutions(dan / f"{lab}.ipynb", {"lab1_findings": f"findings = {ann_findings!r}"},
                           "dialogue_offsets_ms = sfx_offsets_ms = dialogue_to_music_lu = integrated_lufs = None")
        for sid in LEARNERS:
            home = tmp / "students" / sid
            _nbgrader("submit", lab, "--course=layerlab", f"--Exchange.root={tmp / 'exchange'}", f"--student={sid}",
                      f"--Exchange.cache={home / '.nbgrader_cache'}", cwd=home, env=env)
        _nbgrader("collect", lab, cwd=root, env=env)
        _nbgrader("autograde", lab, "--create", "--force", cwd=root, env=env, timeout=1800)
        _run([str(VENV_BIN / "layerlab"), "grade", lab, "--course", str(root), "--jobs", "2"], cwd=root, env=env, timeout=1800)
    return {"root": root, "tmp": tmp, "final": _scores_from_gradebook(root), "fetched": fetched_dirs, "found": found}


def _truth(root: Path, lab: str, sid: str) -> dict:
    return json.loads((root / "variants" / lab / sid / "truth.json").read_text())


@pytest.mark.parametrize("lab", LABS)
def test_each_learner_gets_a_different_variant(vcourse, lab):
    root, pub = vcourse["root"], _published(vcourse["tmp"], lab)
    assert sorted(p.name for p in pub.iterdir()) == sorted(LEARNERS)  # one published folder per learner
    cues = {sid: (pub / sid / "scenes" / "cafe_dialogue" / "cues.json").read_bytes() for sid in LEARNERS}
    natives = {sid: (pub / sid / "scenes" / "cafe_dialogue" / "native.wav").read_bytes() for sid in LEARNERS}
    assert len(set(natives.values())) == len(LEARNERS)
    if lab == LAB2:
        assert len(set(cues.values())) == len(LEARNERS)
    assert len({json.dumps(_truth(root, lab, sid)["params"], sort_keys=True) for sid in LEARNERS}) == len(LEARNERS)


def _files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()]


@pytest.mark.parametrize("lab", LABS)
def test_the_release_a_fetch_and_a_submission_carry_no_variant_of_any_learner(vcourse, lab):
    root, tmp = vcourse["root"], vcourse["tmp"]
    media = {p.name for sid in LEARNERS for p in _files(root / "variants" / lab / sid / "public")}  # native.wav, video.mp4 ...
    exchange = tmp / "exchange" / "layerlab"
    carried = {"release": root / "release" / lab, "outbound": exchange / "outbound" / lab, "fetched": vcourse["fetched"][lab]}
    carried |= {f"inbound {p.name}": p for p in (exchange / "inbound").iterdir() if p.name.split("+")[1] == lab}
    carried |= {f"submitted {sid}": root / "submitted" / sid / lab for sid in LEARNERS}
    carried |= {f"autograded {sid}": root / "autograded" / sid / lab for sid in LEARNERS}
    assert len([k for k in carried if k.startswith("inbound")]) == len(LEARNERS)
    for what, folder in carried.items():
        files = _files(folder)
        assert files and any(p.suffix == ".ipynb" for p in files), what
        for p in files:
            rel = p.relative_to(folder)
            assert not {"variants", "scenes"} & set(rel.parts), (what, rel)
            # dan brought ann's deliverable (his own doing): stems, never a variant's media
            assert rel.parts[0] == "ann_deliverable" or p.name not in media or p.name == "mix.wav", (what, rel)
    assert not (root / "source" / lab / "variants").exists()


@pytest.mark.parametrize("lab", LABS)
def test_each_learners_set_up_finds_their_own_variant_in_their_cache(vcourse, lab):
    root, tmp = vcourse["root"], vcourse["tmp"]
    for sid in LEARNERS:
        line = vcourse["found"][(lab, sid)]
        assert line.startswith(f"Measured against your variant {sid!r} of cafe_dialogue"), line
        assert [p.name for p in _cache(tmp, sid, lab).iterdir()] == [sid]  # only their own, outside the lab folder
        own = root / "variants" / lab / sid / "public"
        assert {str(p.relative_to(own)): p.read_bytes() for p in _files(own)} == \
            {str(p.relative_to(_cache(tmp, sid, lab) / sid)): p.read_bytes() for p in _files(_cache(tmp, sid, lab) / sid)}


@pytest.mark.parametrize("lab", LABS)
def test_the_reference_solution_on_each_learners_own_variant_earns_full_marks(vcourse, lab):
    for sid in REFS:
        assert _student_points(vcourse["final"], sid, lab) == _points(lab), sid


@pytest.mark.parametrize("lab", LABS)
def test_a_classmates_work_scores_no_more_than_blank_work_on_the_copied_checks(vcourse, lab):
    # lab 2: a classmate's deliverable holds their cue times and their own takes of the lines, so the copier's
    # sync and masking (judged against the copier's own lines, found in the mix) earn no more than blank work
    copied = {LAB2: ("check_sync", "check_dialogue_sync", "check_masking"),
              LAB1: ("audit_dialogue_offsets", "audit_sfx_offsets", "audit_music_level", "audit_loudness")}[lab]
    dan = _student_points(vcourse["final"], COPIER, lab)
    eve = _student_points(vcourse["final"], BLANK, lab)
    ann = _student_points(vcourse["final"], "ann", lab)
    assert set(dan) == set(eve) == set(_points(lab))
    for gid in copied:
        assert ann[gid] == _points(lab)[gid]  # what was copied earned full marks for its author ...
        assert dan[gid] <= eve[gid], (gid, dan, eve)  # ... and nothing more than blank work for the copier


def test_the_grader_measured_the_copier_against_the_copiers_own_variant(vcourse):
    root = vcourse["root"]
    report = (root / "reports" / LAB2 / f"{COPIER}.md").read_text(encoding="utf-8")
    own = _truth(root, LAB2, COPIER)["cues"]
    ann = _truth(root, LAB2, "ann")["cues"]
    # the sync verdict names the cue times of dan's own variant, not ann's
    own_times = {f"{e['time_s']:.3f} s" for e in own["events"] + [{"time_s": d["start_s"]} for d in own["dialogue"]]}
    ann_times = {f"{e['time_s']:.3f} s" for e in ann["events"] + [{"time_s": d["start_s"]} for d in ann["dialogue"]]}
    assert any(t in report for t in own_times - ann_times), report[:2000]


@pytest.mark.parametrize("lab", LABS)
def test_the_files_each_learner_receives_contain_none_of_the_true_values(vcourse, lab):
    root, tmp = vcourse["root"], vcourse["tmp"]
    # what learners receive: the release, the exchange's outbound copy, a fetched copy, the published variants
    # and each learner's cached copy
    received = [vcourse["fetched"][lab], tmp / "exchange" / "layerlab" / "outbound" / lab, root / "release" / lab,
                _published(tmp, lab), *(_cache(tmp, sid, lab) for sid in LEARNERS)]
    assert all(folder.is_dir() for folder in received), received
    texts = []
    for folder in received:
        for p in folder.rglob("*"):
            if p.is_file():
                assert p.name not in ("truth.json", "secret"), p
                if p.suffix in (".json", ".ipynb", ".txt", ".md", ".py"):
                    texts.append((p, p.read_text(encoding="utf-8", errors="replace")))
    assert any(p.name == "cues.json" for p, _ in texts)
    secret = (root / "variants" / "secret").read_text().strip()
    for sid in LEARNERS:
        t = _truth(root, lab, sid)
        cues = t["cues"]
        needles = [secret, t["params"]["digest"], '"truth"', '"duck_db"', '"gain_db"',
                   f'"integrated_lufs": {json.dumps(cues["native"]["integrated_lufs"])}']
        for f in cues["native"]["flaws"]:
            for k, v in f.items():
                if k not in ("kind", "description", "lines", "event", "filter") and isinstance(v, (int, float)):
                    needles.append(f'"{k}": {json.dumps(v)}')
        for p, text in texts:
            if p.name == "cues.json":  # a public cue sheet: no flaws at all, whatever its times
                assert json.loads(text).get("native", {}).get("flaws", []) == [], p
            for n in needles:
                # a flaw's time may equal a public cue time by chance (a dropout starting on a line's cue)
                if p.name == "cues.json" and n.startswith(('"start_s"', '"end_s"', '"time_s"')):
                    continue
                assert n not in text, (sid, n, p)
