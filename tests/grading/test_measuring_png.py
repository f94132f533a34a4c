"""The grader's figure PNGs: laid out once (``measuring._png``), the same pixels as matplotlib's own two-pass save."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")
from matplotlib.figure import Figure  # noqa: E402

from layerlab.grading import measuring  # noqa: E402


def _figure(layout):
    """A figure shaped like the kit's check figures: two axes, long tick labels, an image, a colorbar, a legend."""
    t = np.linspace(0.0, 20.0, 2000)
    fig = Figure(figsize=(7, 4), layout=layout)
    ax1, ax2 = fig.subplots(2, 1, sharex=True)
    ax1.plot(t, -23.0 + 6.0 * np.sin(t), label="short-term loudness (LUFS)")
    ax1.axhspan(-16.0, -12.0, alpha=0.2, label="target -14 LUFS +- 2 LU")
    ax1.set(ylabel="loudness (LUFS)", title="loudness: integrated -14.2 LUFS, target -14.0")
    ax1.legend(loc="lower right")
    im = ax2.imshow(np.outer(np.hanning(40), np.hanning(200)), aspect="auto", extent=(0, 20, 0, 40))
    ax2.set(xlabel="time (s)", ylabel="band (Bark)")
    fig.colorbar(im, ax=ax2, label="masking margin (dB)")
    return fig


def _plain_png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=measuring._PNG_DPI)
    return buf.getvalue()


@pytest.mark.parametrize("layout", ["constrained", None])
def test_png_laid_out_once_is_pixel_identical(layout):
    expected = _plain_png(_figure(layout))
    fig = _figure(layout)
    got = base64.b64decode(measuring._png(fig))
    assert got[:8] == b"\x89PNG\r\n\x1a\n"
    assert got == expected
    if layout == "constrained":  # the layout was frozen: a second save does not lay it out (or draw it) twice
        assert fig.get_layout_engine() is None


def test_png_layout_once_moves_the_axes_as_constrained_layout_does():
    fig = _figure("constrained")
    before = [ax.get_position().bounds for ax in fig.axes[:2]]  # the plots (a colorbar's axes are placed as it draws)
    measuring._lay_out_once(fig, measuring._PNG_DPI)
    after = [ax.get_position().bounds for ax in fig.axes[:2]]
    assert after != before  # the layout ran: the axes left room for their labels and the colorbar
    ref = _figure("constrained")
    ref.set_dpi(measuring._PNG_DPI)
    ref.draw_without_rendering()
    assert np.allclose(after, [ax.get_position().bounds for ax in ref.axes[:2]], atol=1e-12)
