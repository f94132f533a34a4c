"""The lesson-07 mixer's speed shortcuts, each against a fresh measurement of the rendered mix by the engine's meters.

:class:`layerlab.course.mix_analysis.MixAnalysis` does not re-measure the mix on a control change: it
combines per-layer caches. Each shortcut is checked here against ``layerlab.measure`` on
``view.mix`` (the preview mix the stack renders), within the tolerance the module states.
"""

import numpy as np
import pytest

from layerlab.course.mix_analysis import DUCKED_LOUDNESS_TOLERANCE_LU, MixAnalysis
from layerlab.measure.loudness import Meter
from layerlab.measure.masking import band_audibility
from layerlab.mix.ducking import Ducking
from layerlab.mix.scenes import hybrid_stack, load_scene
from layerlab.mix.stack import LayerStack


@pytest.fixture(scope="module")
def _cafe():
    stack = hybrid_stack(load_scene("cafe_dialogue"))
    return stack, MixAnalysis(stack)


@pytest.fixture
def cafe(_cafe):
    """The cafe scene's stack and its analysis (made once), given back with its faders and ducking as found."""
    stack, _ = _cafe
    gains, ducking = {name: stack[name].gain_db for name in ("dialogue", "sfx", "ambience", "music")}, stack.ducking
    yield _cafe
    for name, gain_db in gains.items():
        stack[name].gain_db = gain_db
    stack.ducking = ducking


def _loudness_errors(view):
    ro, m = view.readout, Meter(48000).measure(view.mix)
    return (abs(ro.integrated_lufs - m.integrated_lufs), abs(ro.max_momentary_lufs - m.max_momentary_lufs),
            abs(ro.max_short_term_lufs - m.max_short_term_lufs)), m


@pytest.mark.parametrize("scene_id,ducking", [
    # the sliders' extremes: full depth with 1 ms ramps (the fastest the mixer allows) and the slowest ramps
    ("cafe_dialogue", dict(depth_db=30.0, attack_ms=1.0, release_ms=1.0, threshold_db=-60.0, targets=("music", "ambience"))),
    ("cafe_dialogue", dict(depth_db=30.0, attack_ms=1000.0, release_ms=3000.0, threshold_db=-40.0, targets=("music",))),
    ("product_demo", dict(depth_db=30.0, attack_ms=1.0, release_ms=1.0, threshold_db=-40.0, targets=("music",))),
])
def test_ducked_loudness_from_block_means_is_the_meters_within_the_stated_tolerance(scene_id, ducking):
    # Shortcut: a ducked layer's gain enters the cached K-weighted block products as its 10 ms block means.
    stack = hybrid_stack(load_scene(scene_id))
    stack.ducking = Ducking(**ducking)
    view = MixAnalysis(stack).update()
    assert view.duck_gain.min() < 10 ** (-20 / 20)  # the beds really duck, deeply
    errors, meter = _loudness_errors(view)
    assert max(errors) <= DUCKED_LOUDNESS_TOLERANCE_LU, errors
    assert view.readout.true_peak_dbtp == pytest.approx(meter.true_peak_dbtp, abs=1e-6)  # exact search, no shortcut


def test_a_dialogue_fader_move_keeps_loudness_peak_and_masking_equal_to_the_engine(cafe):
    # A dialogue fader move scales the dialogue's cached K-weighted products and band powers by gain**2 and
    # moves the ducker's threshold over kept detector sums; nothing is filtered again.
    stack, analysis = cafe
    stack.ducking = Ducking(depth_db=12.0, targets=("music",))
    for gain_db in (-6.0, 4.5):
        stack["dialogue"].gain_db = gain_db
        view = analysis.update()
        errors, meter = _loudness_errors(view)
        assert max(errors) <= DUCKED_LOUDNESS_TOLERANCE_LU, (gain_db, errors)
        assert view.readout.true_peak_dbtp == pytest.approx(meter.true_peak_dbtp, abs=1e-6)
        stems = view.render.stems
        fresh = band_audibility(stems["dialogue"], view.mix - stems["dialogue"]).index
        assert view.readout.audibility_index == pytest.approx(fresh, abs=0.01), gain_db


def test_without_ducking_the_fader_shortcut_is_the_meter_to_rounding(cafe):
    # Shortcut: the loudness is a quadratic form in the fader gains over per-block products; with no ducking
    # it is exact (no block means involved).
    stack, analysis = cafe
    stack.ducking = None
    for name, gain_db in (("music", -3.0), ("dialogue", 2.0), ("ambience", -9.5)):
        stack[name].gain_db = gain_db
        errors, _ = _loudness_errors(analysis.update())
        assert max(errors) <= 1e-6, (name, errors)


def test_duck_block_means_read_from_the_envelope_shape_equal_the_gains_means():
    # Shortcut: blocks wholly at 0 dB or wholly fully ducked are written from the envelope's shape, not read.
    from layerlab.course import mix_analysis as ma

    sr = 48000
    n = 3 * sr + 123  # and a partial last block
    stack = LayerStack(duration_s=n / sr)
    analysis = MixAnalysis(stack)
    for runs, depth, attack, release in (([(1000, 30000), (40000, 41000), (90000, 140000)], 18.0, 20.0, 300.0),
                                         ([(0, n)], 30.0, 1.0, 1.0), ([], 12.0, 10.0, 100.0),
                                         ([(480, 960), (1440, 100000)], 6.0, 1.0, 3000.0)):
        starts = np.array([a for a, _ in runs], dtype=np.int64)
        ends = np.array([b for _, b in runs], dtype=np.int64)
        db, lin, shape = ma._duck_gain_from_runs(starts, ends, n, depth_db=depth, attack_ms=attack,
                                                 release_ms=release, sample_rate=sr)
        analysis._duck = ("test", db, lin, lin.min(), shape)
        analysis._duck_blocks = None
        nb = n // 480
        w1, w2 = analysis._duck_block_means(lin, nb)
        blocks = lin[: nb * 480].astype(np.float64).reshape(nb, 480)
        assert np.allclose(w1, blocks.mean(axis=1), rtol=1e-12, atol=0), runs
        assert np.allclose(w2, np.square(blocks).mean(axis=1), rtol=1e-12, atol=0), runs


def test_the_stated_limit_of_the_ducked_shortcut_on_a_gated_low_tone():
    # The shortcut takes K(d x) as d K(x). A pure 30 Hz tone (which K-weighting's high-pass attenuates)
    # ducked 30 dB with 1 ms ramps spreads energy upwards that the meter hears and the shortcut does not:
    # the module documents this case as reading up to 0.5 LU low. Programme material stays far inside
    # DUCKED_LOUDNESS_TOLERANCE_LU (the test above).
    sr, n = 48000, 8 * 48000
    t = np.arange(n) / sr
    tone = np.repeat((0.5 * np.sin(2 * np.pi * 30.0 * t))[:, None], 2, axis=1).astype(np.float32)
    gate = (np.arange(n) % (sr // 5)) < sr // 10
    voice = (np.random.default_rng(5).standard_normal((n, 2)) * 0.1 * gate[:, None]).astype(np.float32)
    stack = LayerStack(duration_s=8.0)
    stack.add("dialogue", voice)
    stack.add("music", tone)
    stack.ducking = Ducking(depth_db=30.0, attack_ms=1.0, release_ms=1.0, threshold_db=-40.0, hold_ms=0.0,
                            lookahead_ms=0.0, targets=("music",))
    errors, _ = _loudness_errors(MixAnalysis(stack).update())
    assert DUCKED_LOUDNESS_TOLERANCE_LU < max(errors) <= 0.5, errors


def test_true_peak_pruned_by_kept_layer_window_peaks_is_the_meters():
    # Shortcut: the true-peak search skips windows whose sum of per-layer interpolated peaks (kept per layer)
    # cannot reach the best value, and starts from the windows that held the last peaks. Tech 3341 case-16-like
    # content (a tone at fs/4 sampled 45 degrees off its crests: the true peak sits 3 dB over the samples),
    # ducked with ramps by a bursty voice, under noise: after each change the value is the meter's.
    from layerlab.measure.true_peak import peaks_linear

    sr, n = 48000, 4 * 48000
    k = np.arange(n)
    tone = (0.6 * np.sin(2 * np.pi * k / 4 + np.pi / 4)).astype(np.float32)
    bursts = (k % sr) < sr // 3
    voice = (np.random.default_rng(2).standard_normal((n, 2)) * 0.2 * bursts[:, None]).astype(np.float32)
    noise = (np.random.default_rng(3).standard_normal((n, 2)) * 0.05).astype(np.float32)
    stack = LayerStack(duration_s=4.0)
    stack.add("dialogue", voice)
    stack.add("music", np.stack([tone, 0.7 * tone], axis=1))
    stack.add("ambience", noise)
    stack.ducking = Ducking(depth_db=10.0, attack_ms=30.0, release_ms=200.0, targets=("music",))
    analysis = MixAnalysis(stack)
    for change in ({}, {"music": 3.0}, {"depth_db": 4.0}, {"dialogue": -12.0}, {"ambience": 12.0}, {"release_ms": 20.0}):
        for key, value in change.items():
            if key in ("music", "dialogue", "ambience"):
                stack[key].gain_db = value
            else:
                stack.ducking = Ducking(**{**stack.ducking.to_dict(), key: value})
        view = analysis.update()
        sample_peak, true_peak = peaks_linear(view.mix)
        assert 20 * np.log10(max(true_peak, sample_peak)) == pytest.approx(view.readout.true_peak_dbtp, abs=1e-6), change
    assert true_peak > sample_peak * 1.05  # the last mix still peaks between samples


def test_figure_lines_left_alone_when_their_data_stays_show_the_same_pixels_as_a_fresh_figure(cafe):
    # Shortcut: the figure re-sets only the waveform and ducking lines whose data changed. After a sequence of
    # changes that each leave some lines alone, its pixels equal those of a new figure drawn from the same view.
    import matplotlib

    matplotlib.use("Agg")
    from layerlab.course.mix_figure import MixFigure

    stack, analysis = cafe
    stack.ducking = Ducking(depth_db=10.0, targets=("music",))
    figure = MixFigure(analysis.update(), target=analysis.target)
    try:
        for name, gain_db in (("music", -8.0), ("sfx", 4.0), ("dialogue", -3.0), ("music", 2.0)):
            stack[name].gain_db = gain_db
            view = analysis.update()
            figure.set_view(view, target=analysis.target)
        fresh = MixFigure(view, target=analysis.target)
        try:
            assert np.array_equal(figure.image(), fresh.image())
        finally:
            fresh.close()
    finally:
        figure.close()


@pytest.mark.parametrize("n", [1, 2, 511, 512, 513, 5000, 48000 + 7])
def test_sidechain_crossings_from_kept_block_extremes_equal_every_sample_compared(n):
    # Shortcut: a dialogue fader or threshold move finds where the detector crosses the threshold from kept
    # per-block extremes, reading only the blocks that straddle it.
    from layerlab.course import mix_analysis as ma

    rng = np.random.default_rng(n)
    x = np.cumsum(rng.standard_normal(n))  # wanders across thresholds many times
    x[: n // 3] = x[0]  # and a flat stretch (blocks that never cross)
    kept = {}
    for threshold in (x.min() - 1, x.max(), float(np.median(x)), float(x[0]), float(x[-1]), 0.0):
        raw = x > threshold
        want = np.flatnonzero(raw[1:] != raw[:-1]) + 1
        assert np.array_equal(ma._crossings(x, threshold, kept), want), (n, threshold)


def test_recycled_ducking_buffers_never_change_a_view_someone_still_holds(cafe):
    # Shortcut: the ducking gain's two 30 s arrays are written again only when nothing refers to them; a view
    # kept by the caller keeps its gain and its (lazily summed) mix through later ducking changes.
    stack, _ = cafe
    analysis = MixAnalysis(stack)
    stack.ducking = Ducking(depth_db=9.0, targets=("music",))
    kept = analysis.update()
    kept_db = kept.duck_gain_db.copy()
    reference = stack.render(master=False).mix
    for depth in (15.0, 3.0, 21.0, 6.0, 12.0):
        stack.ducking = Ducking(depth_db=depth, targets=("music",))
        analysis.update()  # views not kept: their arrays are free for the next change
    # the kept view's pair, and two that took turns (not a new pair per change, which would push it out)
    assert len(analysis._duck_pool) == 3 and any(db is kept.duck_gain_db for db, _ in analysis._duck_pool)
    assert np.array_equal(kept.duck_gain_db, kept_db)
    assert np.allclose(kept.mix, reference, atol=2e-6, rtol=0)  # summed only now, from its own gain


def test_moving_a_clip_sums_its_layers_pairs_again(cafe):
    # Shortcut: the K-weighted pair sums are kept per clip set and the K-weighted signals let go; moving a clip
    # makes its layer's pairs stale, and they are summed again from the new samples.
    stack, analysis = cafe
    stack.ducking = None
    analysis.update()
    clip = stack["sfx"][0]
    start = clip.start_s
    try:
        clip.start_s = start + 1.5
        errors, _ = _loudness_errors(analysis.update())
        assert max(errors) <= 1e-6, errors
        clip.gain_db += 12.0  # loud enough to move the loudness for sure
        errors, _ = _loudness_errors(analysis.update())
        assert max(errors) <= 1e-6, errors
    finally:
        clip.start_s = start
        clip.gain_db -= 12.0


def test_true_peak_inside_a_ducking_ramp_is_found_where_the_gain_unmasks_it():
    # Shortcut: a ducked layer's window bound is its gain's largest value times its own interpolated peak only
    # where the gain is flat; where it ramps, the bound falls back to the filter's sum of |taps| times the
    # segment peaks. Here the music is the signal (found by linear programming) whose own interpolated values
    # never exceed 1 while the ramp's gain, cutting its later samples, lifts the interpolated mix at the ramp's
    # start above 1.05: the tighter bound would prune that window and report the ambience's lower peak.
    from scipy.optimize import linprog

    from layerlab.measure.true_peak import TAPS_PER_PHASE, interpolation_phases, peaks_linear

    sr, n = 48000, 2 * 48000
    voice = np.zeros((n, 2), np.float32)
    voice[sr:] = np.random.default_rng(4).standard_normal((n - sr, 2)) * 0.02  # -34 dBFS: over the threshold
    stack = LayerStack(duration_s=2.0)
    stack.add("dialogue", voice)
    stack.ducking = Ducking(depth_db=30.0, attack_ms=1.0, release_ms=1.0, threshold_db=-40.0, hold_ms=0.0,
                            lookahead_ms=0.0, targets=("music",))
    db = MixAnalysis(stack).update().duck_gain_db
    start = int(np.flatnonzero(db < 0)[0]) - 1  # the last sample at 0 dB
    gain = 10.0 ** (db.astype(np.float64) / 20)
    # samples start - 40 ... start + 39 of the music; every interpolated value that reads them stays within +-1
    phases, taps, m = interpolation_phases(4), TAPS_PER_PHASE, 80
    rows = np.zeros(((m + taps - 1) * 4, m))
    for r in range(-(taps - 1), m):
        k = np.arange(max(0, -r), min(taps, m - r))
        rows[(r + taps - 1) * 4 : (r + taps) * 4, r + k] = phases[k].T
    aim = rows[(40 - taps // 2 + taps - 1) * 4 + 1] * gain[start - 40 : start + 40]  # the row centred on the start
    lp = linprog(-aim, A_ub=np.vstack([rows, -rows]), b_ub=np.ones(2 * rows.shape[0]), bounds=[(-1, 1)] * m,
                 method="highs")
    assert lp.status == 0 and -lp.fun > 1.1
    music = np.zeros((n, 2), np.float32)
    music[start - 40 : start + 40] = 0.5 * lp.x[:, None]
    t = np.arange(n) / sr
    ambience = np.zeros((n, 2), np.float32)
    ambience[: sr // 2] = (0.53 * np.sin(2 * np.pi * 50.0 * t[: sr // 2]))[:, None]  # 0.53: over the music's own peaks
    stack.add("music", music)
    stack.add("ambience", ambience)
    view = MixAnalysis(stack).update()
    sample_peak, true_peak = peaks_linear(view.mix)
    assert true_peak > 0.5 * 1.05 and true_peak > 1.03 * peaks_linear(ambience)[1]  # the ramp holds the peak
    assert 20 * np.log10(max(true_peak, sample_peak)) == pytest.approx(view.readout.true_peak_dbtp, abs=1e-6)


def test_waveform_lines_restored_from_a_snapshot_show_the_same_pixels_as_a_fresh_figure(cafe):
    # Shortcut: the waveform axes' leading line groups whose data stayed are restored from a snapshot, not drawn
    # again. After each change (one that keeps the snapshot, one that moves it earlier, one that invalidates it, a
    # full redraw) the pixels equal a new figure's drawn from the same view.
    import matplotlib

    matplotlib.use("Agg")
    from layerlab.course.mix_figure import MixFigure

    stack, analysis = cafe
    stack.ducking = Ducking(depth_db=10.0, targets=("music",))
    figure = MixFigure(analysis.update(), target=analysis.target)
    levels = []
    try:
        for step, (name, gain_db) in enumerate((("music", -8.0), ("music", -2.0), ("ambience", 4.0), ("music", 1.0),
                                                ("dialogue", -3.0), ("music", -5.0))):
            if step == 4:
                figure.fig.canvas.draw()  # a full draw takes a new background: the snapshot goes
            stack[name].gain_db = gain_db
            view = analysis.update()
            figure.set_view(view, target=analysis.target)
            levels.append(figure._wave_snap[0] if figure._wave_snap else 0)
            fresh = MixFigure(view, target=analysis.target)
            try:
                assert np.array_equal(figure.image(), fresh.image()), (name, gain_db)
            finally:
                fresh.close()
    finally:
        figure.close()
    assert levels == [3, 3, 2, 3, 0, 3]  # music: three lanes kept; ambience: two; dialogue (and its ducking): none
