"""Pass and fail readable without colour vision (issue #17): the mixer's masking map, its readout, lesson 06's table.

The masking map uses cividis (0 masked, dark .. 1 audible, light; as the feedback figure) and strikes
masked cells through; every pass/fail colour in the readout and the walk-through table comes with a
symbol or a word, in a blue/vermillion pair instead of green/red.
"""

import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest

from layerlab.course.mix_figure import MixFigure
from layerlab.course.mix_view import MixReadout, MixView
from layerlab.io.audio import SAMPLE_RATE
from layerlab.measure.targets import get_profile
from layerlab.mix.stack import LAYERS

DURATION_S = 10.0
FRAME_S = 0.02
N_FRAMES = int(DURATION_S / FRAME_S)
RED_GREEN = {"#17803d", "#c62828", "#176d2b", "#b3261e", "green", "red"}
SAFE_PAIR = {"#0072b2", "#b34700"}  # Okabe-Ito blue; Okabe-Ito vermillion darkened to 5.5:1 on white (WCAG AA)


def _readout(**kw) -> MixReadout:
    values = dict(integrated_lufs=-18.5, true_peak_dbtp=-2.1, max_momentary_lufs=-15.5, max_short_term_lufs=-17.6,
                  target=get_profile("streaming"), master_gain_db=4.5, dialogue_over_music_lu=1.6,
                  dialogue_over_ambience_lu=17.1, audibility_index=0.86)
    values.update(kw)
    return MixReadout(**values)


def _view(masking_map: np.ndarray) -> MixView:
    """A view of a silent 10 s scene carrying the given masking map (18 bands x 500 frames of 20 ms)."""
    cols = np.linspace(0.0, DURATION_S, 400)
    lufs_t = np.arange(0.4, DURATION_S, 0.1)
    return MixView(mix_source=np.zeros((int(DURATION_S * SAMPLE_RATE), 2), np.float32),
                   duck_gain_db=np.zeros(int(DURATION_S * SAMPLE_RATE), np.float32), readout=_readout(),
                   column_times_s=cols, envelopes={n: np.zeros(cols.size) for n in LAYERS}, duck_gain=np.ones(cols.size),
                   momentary_times_s=lufs_t, momentary_lufs=np.full(lufs_t.size, -20.0),
                   short_term_times_s=lufs_t, short_term_lufs=np.full(lufs_t.size, -20.0),
                   masking_map=masking_map, masking_times_s=(np.arange(N_FRAMES) + 0.5) * FRAME_S)


def _clean_map() -> np.ndarray:
    m = np.full((18, N_FRAMES), 0.9)
    m[:, :50] = np.nan  # nobody speaks in the first second
    return m


MASKED_BANDS = slice(3, 6)
MASKED_FRAMES = slice(200, 300)  # 4-6 s


def _masked_map() -> np.ndarray:
    m = _clean_map()
    m[MASKED_BANDS, MASKED_FRAMES] = 0.1
    return m


@pytest.fixture(scope="module")
def figure():
    f = MixFigure(_view(_clean_map()), target=get_profile("streaming"))
    yield f
    f.close()


def _pixels(figure, masking_map):
    figure.set_view(_view(masking_map), target=get_profile("streaming"))  # blits, as a fader move does
    return figure.image()


def _box(figure, t0_s, t1_s, band0, band1, inset_px=2):
    """Pixel rows/columns (top-left origin) of a time x band rectangle of the map, a few pixels narrower
    (the cells' edges fall between pixels) and a pixel taller (the bands around it are not masked)."""
    ax = figure.ax_mask
    (x0, y0), (x1, y1) = ax.transData.transform([(t0_s, band0 - 0.5), (t1_s, band1 + 0.5)])
    h = figure.fig.bbox.height
    return (slice(int(h - y1) - 1, int(np.ceil(h - y0)) + 1),
            slice(int(np.ceil(x0)) + inset_px, int(x1) - inset_px))


def _white(px):
    return np.all(px[..., :3] == 255, axis=-1)


def test_masking_map_pixels_are_cividis_with_masked_cells_struck_through(figure):
    m = _masked_map()
    m[10, 400:410] = 0.5  # on the line: audible enough, not struck
    m[11, 400:410] = 0.499  # just under it: masked
    figure.set_view(_view(m), target=get_profile("streaming"))
    img = figure.mask_img.get_array()
    assert img.shape == (18 * 3, N_FRAMES, 4)
    from matplotlib.colors import Normalize, to_rgba_array

    # matplotlib's cividis for the masked float map on a 0..1 scale (what an imshow of the map shows), grey without speech
    cividis = matplotlib.colormaps["cividis"](Normalize(0.0, 1.0)(np.ma.masked_invalid(m)), bytes=True)
    no_speech = np.isnan(m)
    cividis[no_speech] = np.round(to_rgba_array("#f0f0f0")[0] * 255).astype(np.uint8)
    assert np.array_equal(img[0::3], cividis) and np.array_equal(img[2::3], cividis)
    masked = m < 0.5
    middle = img[1::3]
    assert np.array_equal(middle[~masked], cividis[~masked])
    assert np.all(middle[masked] == 255)  # white stripe through each masked cell
    assert masked[11, 400] and not masked[10, 400] and not masked[no_speech].any()


def test_masked_cells_are_marked_by_a_stripe_on_screen(figure):
    clean = _pixels(figure, _clean_map())
    rows, cols = _box(figure, MASKED_FRAMES.start * FRAME_S, MASKED_FRAMES.stop * FRAME_S,
                      MASKED_BANDS.start, MASKED_BANDS.stop - 1)
    assert not _white(clean[rows, cols]).any()  # nothing masked: no stripe
    masked = _pixels(figure, _masked_map())
    box = _white(masked[rows, cols])
    # each of the three masked bands shows a white line across the whole masked stretch, between rows of map colour
    full_rows = np.flatnonzero(box.all(axis=1))
    assert len(np.split(full_rows, np.flatnonzero(np.diff(full_rows) > 1) + 1)) == 3
    assert not box.any(axis=1).all()
    # and the map outside the masked cells is as it was
    outside = np.ones(masked.shape[:2], bool)
    outside[rows.start - 4: rows.stop + 4, cols.start - 4: cols.stop + 4] = False
    assert np.array_equal(masked[outside], clean[outside])


def test_masking_map_title_names_the_non_colour_mark(figure):
    title = figure.ax_mask.get_title(loc="left")
    assert "struck through" in title and "red" not in title and "green" not in title


def test_readout_text_says_pass_or_fail_for_every_checked_figure():
    lines = _readout(sfx_worst_offset_ms=120.0, sfx_sync_passed=False).to_text().splitlines()

    def line(start):
        return next(ln for ln in lines if ln.startswith(start))

    assert line("True peak").endswith("PASS")  # -2.1 dBTP under -1
    assert line("Dialogue over music").endswith("FAIL")  # 1.6 LU, want 10
    assert line("Dialogue over ambience").endswith("PASS")  # 17.1 LU, want 15
    assert line("Dialogue audibility").endswith("PASS")  # 0.86, want 0.75
    assert not line("Integrated").endswith(("PASS", "FAIL"))  # the preview is not judged: the master sets it
    assert lines[-1].startswith("SFX sync") and lines[-1].endswith("FAIL")
    unmeasured = _readout(dialogue_over_music_lu=float("nan"), audibility_index=float("nan")).to_text()
    music = next(ln for ln in unmeasured.splitlines() if "music" in ln)
    assert "n/a" in music and "PASS" not in music and "FAIL" not in music  # nothing measured: no verdict


def _coloured_cells(html_text):
    return re.findall(r"<td[^>]*color:\s*(#[0-9a-fA-F]{6}|[a-z]+)[^>]*>(.*?)</td>", html_text)


def test_readout_html_marks_every_pass_and_fail_by_symbol_in_a_colour_blind_safe_pair():
    text = _readout(sfx_worst_offset_ms=120.0, sfx_sync_passed=False).to_html()
    cells = [(c.lower(), body) for c, body in _coloured_cells(text) if c.lower() != "#666"]
    assert len(cells) == 5  # true peak, music, ambience, audibility, SFX sync
    marks = {c: ("✔" in body, "✘" in body) for c, body in cells}
    assert set(marks) == SAFE_PAIR and not RED_GREEN & set(marks)
    passes = [body for c, body in cells if "✔" in body]
    fails = [body for c, body in cells if "✘" in body]
    assert len(passes) == 3 and len(fails) == 2 and not set(passes) & set(fails)
    # in words too, for a screen reader or a hover
    assert all("title='pass'" in b for b in passes) and all("title='fail'" in b for b in fails)


def test_walkthrough_table_marks_pass_and_fail_by_symbol():
    from layerlab.checks.report import CheckReport, CheckResult
    from layerlab.course.lessons import HybridStep, hybrid_table_html

    checks = [CheckResult("loudness", -14.2, "LUFS", "-14 ±1 LUFS", True, "ok"),
              CheckResult("true_peak", -0.2, "dBTP", "≤ -1 dBTP", False, "too hot")]
    step = HybridStep("a step", "what it does", None, CheckReport("cafe", "streaming", Path("x"), checks), passed=1, total=2)
    text = hybrid_table_html([step], checks=("loudness", "true_peak"))
    cells = _coloured_cells(text)
    assert len(cells) == 2
    (c_ok, ok), (c_bad, bad) = cells
    assert "✔" in ok and "✘" not in ok and "✘" in bad and "✔" not in bad
    assert {c_ok.lower(), c_bad.lower()} == SAFE_PAIR


def test_grade_report_html_says_passed_or_failed_in_a_colour_blind_safe_pair():
    from layerlab.grading.results import ItemGrade, SubmissionGrade

    grade = SubmissionGrade("lab2_hybrid_mix", "ada", [ItemGrade("g1", "loudness", 2.0, 2.0, True, -14.1, "LUFS", "-14 ±1"),
                                                      ItemGrade("g2", "true_peak", 0.0, 2.0, False, -0.2, "dBTP", "≤ -1")])
    text = grade.to_html()
    assert "<tr class='pass'><td>loudness</td><td>passed</td>" in text
    assert "<tr class='fail'><td>true_peak</td><td>failed</td>" in text
    css = dict(re.findall(r"tr\.(pass|fail) td:nth-child\(2\)\{color:(#[0-9a-fA-F]{6})\}", text))
    assert {k: v.lower() for k, v in css.items()} == {"pass": "#0072b2", "fail": "#b34700"}
