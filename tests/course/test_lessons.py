"""The lesson helpers' speed-ups (issue #17) change no figure a lesson prints or plays.

``hybrid_steps`` checks each step on a thread while the next one is exported, and keeps each
step's exported mix; the reports must be the grader's own, as ``run_checks`` gives them when run on
its own on the same folder, and the kept mix must be what the lesson rendered before.
"""

import numpy as np
import pytest

from layerlab.checks import run_checks
from layerlab.errors import ParameterError
from layerlab.mix.scenes import load_scene


@pytest.fixture(scope="module")
def scene():
    return load_scene("cafe_dialogue")


@pytest.fixture(scope="module")
def walk(scene, tmp_path_factory):
    from layerlab.course.lessons import hybrid_steps

    out = tmp_path_factory.mktemp("steps")
    return out, hybrid_steps(scene, out_dir=out, check_threads=2)


def _figures(report):
    return [(c.name, c.value, c.unit, c.passed, c.message) for c in report.checks]


def test_steps_checked_on_threads_report_what_run_checks_reports_alone(scene, walk):
    from layerlab.course.lessons import HYBRID_STEPS

    out, steps = walk
    assert [s.name for s in steps] == [name for name, _ in HYBRID_STEPS]
    # the rough cut (clips, fails sync), the SFX replaced (no master) and the master: three different reports
    for k in (0, 3, 4):
        folder = out / f"hybrid_{scene.cues.scene}" / f"{k}_{steps[k].name.replace(' ', '_')}"
        alone = run_checks(folder, scene=scene.cues.scene, target="streaming")
        assert _figures(steps[k].report) == _figures(alone)
        assert steps[k].values == {c.name: c.value for c in alone.checks}
        assert steps[k].passed == sum(c.passed for c in alone.checks) and steps[k].total == len(alone.checks)
    assert _figures(steps[0].report) != _figures(steps[4].report)  # each step got its own folder's report


def test_each_step_keeps_the_mix_the_lesson_used_to_render_again(walk):
    _, steps = walk
    # lesson 06's last cell played steps[0].stack.render(master=False).mix and steps[-1].stack.render().mix
    np.testing.assert_array_equal(steps[0].mix, steps[0].stack.render(master=False).mix)
    np.testing.assert_array_equal(steps[-1].mix, steps[-1].stack.render().mix)
    assert steps[-1].mix.dtype == np.float32 and steps[-1].mix.shape == steps[0].mix.shape
    assert not np.array_equal(steps[0].mix, steps[-1].mix)


def test_no_threads_is_refused_in_one_line(scene, tmp_path):
    from layerlab.course.lessons import hybrid_steps

    with pytest.raises(ParameterError, match="check_threads must be 1 or more; got 0") as err:
        hybrid_steps(scene, out_dir=tmp_path, check_threads=0)
    assert "\n" not in str(err.value)
    assert not any(tmp_path.iterdir())  # refused before anything is written


def test_lesson08_exports_its_section1_render_sample_for_sample_as_a_fresh_export(scene, tmp_path):
    """Lesson 08 hands the render of its first section to ``export_deliverable`` instead of rendering again.

    The files are compared sample for sample, not byte for byte: libsndfile stamps the time of writing
    into a float WAV's PEAK chunk.
    """
    import soundfile as sf

    from layerlab.mix.scenes import hybrid_stack
    from layerlab.mix.session import export_deliverable

    reference = hybrid_stack("cafe_dialogue")  # as lesson 08 section 1 builds it
    rendered = reference.render()
    reused = export_deliverable(reference, tmp_path / "reused", render=rendered)
    fresh = export_deliverable(hybrid_stack(scene), tmp_path / "fresh")  # what the lesson exported before
    files = sorted(p.relative_to(fresh) for p in fresh.rglob("*") if p.is_file())
    assert len(files) == 6  # mix.wav, session.json and the four stems
    assert files == sorted(p.relative_to(reused) for p in reused.rglob("*") if p.is_file())
    for rel in files:
        if rel.suffix == ".wav":
            a, sr_a = sf.read(reused / rel, dtype="float32" if rel.parent.name == "stems" else "int32")
            b, sr_b = sf.read(fresh / rel, dtype="float32" if rel.parent.name == "stems" else "int32")
            assert sr_a == sr_b == 48000 and a.shape == b.shape and np.array_equal(a, b), rel
        else:
            assert (reused / rel).read_bytes() == (fresh / rel).read_bytes(), rel


def test_compare_layers_measures_each_sfx_stem_once_and_reports_what_sfx_offsets_finds(scene, monkeypatch):
    """The effect rows (worst offset, effects missing) come from one ``sfx_offsets`` per set of stems, not two."""
    import layerlab.measure.sync as sync
    from layerlab.course.lessons import compare_layers, native_stems, postgen_stems, scene_events

    calls = []
    real = sync.sfx_offsets

    def counted(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(sync, "sfx_offsets", counted)
    rows = {r.measure: r for r in compare_layers(scene) if r.layer == "sfx"}
    assert len(calls) == 2  # native and post-generated
    events = scene_events(scene)
    for side, stems in (("native", native_stems(scene).stems), ("postgen", postgen_stems(scene))):
        res = real(stems["sfx"], events)
        found = [e.offset_ms for e in res.events if e.found]
        assert getattr(rows["worst effect offset against the picture"], side) == max(found, key=abs)
        assert getattr(rows["effects missing"], side) == float(len(res.missing))
    # the native render's late cup (the scene's sfx_late flaw); the post-generated effects sit on their frames
    cup_ms = next(f for f in scene.cues.flaws if f.kind == "sfx_late")["offset_ms"]
    assert rows["worst effect offset against the picture"].native == pytest.approx(cup_ms, abs=3.0)
    assert rows["worst effect offset against the picture"].postgen == pytest.approx(0.0, abs=3.0)


def test_one_check_thread_reports_every_step_as_two_do(scene, walk, tmp_path):
    """Two steps checked at once on threads, or one after another: the same reports, details and mixes at every step."""
    from layerlab.course.lessons import hybrid_steps

    _, steps = walk
    alone = hybrid_steps(scene, out_dir=tmp_path, check_threads=1)
    assert len(alone) == len(steps) == 5
    for a, b in zip(alone, steps):
        assert _figures(a.report) == _figures(b.report)
        assert [c.details for c in a.report.checks] == [c.details for c in b.report.checks]
        np.testing.assert_array_equal(a.mix, b.mix)
