"""Figures of the mix checks, one per measured quantity: loudness, true peak, sync, masking, audibility, ducking.

Colours are colour-blind safe (Okabe-Ito; the audibility map uses cividis with
one 0..1 scale, the same as the audibility index), and a failure is always
marked by shape and text too, never by colour alone.

Every function builds an explicit :class:`matplotlib.figure.Figure` (never
pyplot's global state), so the figures work headless, in the grader, and
inside ipywidgets/ipympl. Save one with ``fig.savefig("x.png")`` or show it in
a notebook by leaving it as the cell's last expression. Each is laid out when built, with
fixed margins sized from the font and its tick labels (no layout engine), so saving it draws
it once; a figure changed afterwards (a longer title, another axes) must make its own room.

Taught in ``lessons/08_measuring_the_mix.ipynb``.
"""

from __future__ import annotations

import matplotlib as mpl
import numpy as np
from matplotlib.figure import Figure

__all__ = ["plot_loudness", "plot_true_peak", "plot_masking_levels", "plot_masking_map", "plot_sync_timeline",
           "plot_ducking"]

PASS_COLOUR = "#0072b2"  # Okabe-Ito blue
FAIL_COLOUR = "#d55e00"  # Okabe-Ito vermillion

_SPEECH_COLOUR = "#f2c14e"


# ----------------------------------------------------------------------------- a fixed layout, sized from the font


def _font_in(size) -> float:
    """A font size (points, or a name such as ``"large"``) in inches, at the current rcParams."""
    from matplotlib.font_manager import FontProperties

    return FontProperties(size=size).get_size_in_points() / 72.0


def _text_width_in(text: str, size, weight: str = "normal") -> float:
    """Width of ``text`` in inches, from the font's metrics (no figure drawn)."""
    from matplotlib.font_manager import FontProperties
    from matplotlib.textpath import TextToPath

    prop = FontProperties(size=size, weight=weight)
    return TextToPath().get_text_width_height_descent(text, prop, ismath=False)[0] / 72.0


def _widest_ytick_in(ax) -> float:
    """Width (inches) of the widest y tick label ``ax`` will draw at its present limits."""
    axis = ax.yaxis
    lo, hi = sorted(ax.get_ylim())
    locs = [v for v in axis.get_major_locator()() if lo - 1e-9 * (hi - lo) <= v <= hi + 1e-9 * (hi - lo)]
    labels = axis.get_major_formatter().format_ticks(locs) if locs else []
    size = mpl.rcParams["ytick.labelsize"]
    return max((_text_width_in(t, size) for t in labels if t), default=0.0)


def _lay_out(fig: Figure, ax, *, right_in: float = 0.2, colorbar: bool = False,
             xlabel: bool = True, ylabel: bool = True, title: bool = True, title_pad_pt: float = 0.0) -> None:
    """Fixed margins, in inches from the font and the tick labels, instead of a layout engine.

    Call it once the axes' limits and tick labels are set.

    Parameters
    ----------
    fig : Figure
        A figure with the one axes ``ax`` (and a colorbar added after this call, :func:`_colorbar_axes`).
    ax : Axes
    right_in : float
        Room right of the axes (inches), for text written past its last value.
    colorbar : bool
        Leave room for a colorbar with tick labels "0.0".."1.0" and a label on the right.
    xlabel, ylabel, title : bool
        Whether an x label / a y label / a title take room.
    title_pad_pt : float
        Extra room between the axes and the title, points (for text written above the axes' top); pass the
        title as much more ``pad``.

    Notes
    -----
    Matplotlib's constrained layout measured every text of a figure before it was drawn (the grader's seven
    PNGs of the cafe reference: 1.7-2.0 s CPU with it, laid out once; 1.2-1.3 s with fixed margins, old and
    new alternated in one process on a loaded machine). Here the margins come from the font sizes of the tick
    labels, axis labels and title and the width of the y tick labels drawn (font metrics, nothing drawn), so
    the same text fits the canvas (``tests/checks/test_checks.py::test_figures_keep_all_text_inside_the_canvas``).
    """
    tick = _font_in(mpl.rcParams["ytick.labelsize"])
    label = 1.2 * _font_in(mpl.rcParams["axes.labelsize"]) + mpl.rcParams["axes.labelpad"] / 72.0  # a label's line
    ticks_in = (mpl.rcParams["ytick.major.size"] + mpl.rcParams["ytick.major.pad"]) / 72.0
    pad = 0.05
    w, h = fig.get_size_inches()
    bottom = pad + 1.2 * tick + ticks_in + (label if xlabel else 0.0)
    top = pad + ((1.2 * _font_in(mpl.rcParams["axes.titlesize"]) + (mpl.rcParams["axes.titlepad"] + title_pad_pt) / 72.0)
                 if title else 0)
    right = right_in
    if colorbar:
        right = max(right, pad + label + _text_width_in("0.0", mpl.rcParams["ytick.labelsize"]) + ticks_in
                    + _COLORBAR_IN + _COLORBAR_PAD_IN)
    fig.subplots_adjust(bottom=bottom / h, top=1.0 - top / h, right=1.0 - right / w)
    # the y ticks a locator picks depend on the axes' height (set above), their labels' width on the ticks
    left = pad + (label if ylabel else 0.0) + 1.05 * _widest_ytick_in(ax) + ticks_in  # 5%: hinting at low dpi
    fig.subplots_adjust(left=left / w)


_TITLE_Y = 1.0
"""Titles sit on the axes' top (plus their pad), where matplotlib would put them: none of these axes has tick labels,
an offset text or a label above it. Given explicitly, the title's place is not searched for at each draw (which
measures every y tick label again, a sixth of a figure's drawing time)."""

_COLORBAR_IN = 0.16
"""Width of a colorbar, inches."""
_COLORBAR_PAD_IN = 0.1
"""Gap between the axes and its colorbar, inches."""


def _colorbar_axes(fig: Figure, ax):
    """An axes for a colorbar right of ``ax`` (laid out by :func:`_lay_out` with ``colorbar=True``)."""
    w, _ = fig.get_size_inches()
    x0, y0, width, height = ax.get_position().bounds
    cb, gap = _COLORBAR_IN / w, _COLORBAR_PAD_IN / w
    return fig.add_axes((x0 + width + gap, y0, cb, height))


def _inside_edges(ax, *, edge: float = 0.12) -> None:
    """Centred annotations near the axes' left or right edge are aligned to end inside it (no text off the canvas)."""
    x0, x1 = sorted(ax.get_xlim())
    span = (x1 - x0) or 1.0
    for t in ax.texts:
        if t.get_horizontalalignment() != "center" or not hasattr(t, "xy"):
            continue
        f = (float(t.xy[0]) - x0) / span
        if f > 1.0 - edge:
            t.set_horizontalalignment("right")
        elif f < edge:
            t.set_horizontalalignment("left")


def _shade_activity(ax, activity, *, label: str = "dialogue active"):
    if activity is None:
        return
    first = True
    for s, e in activity.segments():
        ax.axvspan(s, e, color=_SPEECH_COLOUR, alpha=0.25, lw=0, label=label if first else None)
        first = False


def plot_loudness(series, *, profile, integrated_lufs: float | None = None, figsize=(9, 3.2)) -> Figure:
    """Short-term loudness over time with the profile's target band.

    Parameters
    ----------
    series : LoudnessSeries
        ``times_s`` and ``lufs`` arrays (from :func:`layerlab.measure.loudness.short_term_loudness`).
    profile : DeliveryProfile
        Its ``target_lufs ± tolerance_lu`` is drawn as a band.
    integrated_lufs : float, optional
        Drawn as a dashed line.

    Returns
    -------
    matplotlib.figure.Figure

    Notes
    -----
    Taught in ``lessons/08_measuring_the_mix.ipynb``.
    """
    fig = Figure(figsize=figsize)
    ax = fig.add_subplot()
    t = np.asarray(series.times_s, dtype=float)
    l = np.asarray(series.lufs, dtype=float)
    l = np.where(np.isfinite(l), l, np.nan)
    ax.plot(t, l, color="#2b6cb0", lw=1.3, label="short-term loudness (3 s)")
    lo = profile.target_lufs - profile.tolerance_lu
    hi = profile.target_lufs + profile.tolerance_lu
    ax.axhspan(lo, hi, color="#48bb78", alpha=0.25, label=f"{profile.title}: {profile.target_lufs:g} ±{profile.tolerance_lu:g} LUFS")
    if integrated_lufs is not None and np.isfinite(integrated_lufs):
        ax.axhline(integrated_lufs, color="#2d3748", ls="--", lw=1, label=f"integrated {integrated_lufs:.1f} LUFS")
    finite = l[np.isfinite(l)]
    bottom = min(lo - 6, float(np.nanpercentile(finite, 2)) - 2) if finite.size else lo - 20
    top = max(hi + 4, float(np.nanmax(finite)) + 2) if finite.size else hi + 4
    ax.set_ylim(bottom, top)
    _lay_out(fig, ax)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("loudness (LUFS)")
    ax.set_title("Loudness over time", y=_TITLE_Y)
    ax.legend(loc="lower right", fontsize=8)
    ax.grid(alpha=0.3)
    return fig


def plot_masking_map(ba, *, figsize=(9, 3.6)) -> Figure:
    """Band × time map of how audible the dialogue is over the rest of the mix.

    Parameters
    ----------
    ba : BandAudibility
        From :func:`layerlab.measure.masking.band_audibility`.

    Returns
    -------
    matplotlib.figure.Figure
        0 (masked, dark) .. 1 (clearly audible, light) on the cividis scale, the
        same 0..1 scale as the index; blank where nobody speaks. Cells under 0.5
        are outlined (white contour), and the per-band mean is written on the right.

    Notes
    -----
    Taught in ``lessons/08_measuring_the_mix.ipynb``.
    """
    fig = Figure(figsize=figsize)
    ax = fig.add_subplot()
    m = np.ma.masked_invalid(np.asarray(ba.masking_map, dtype=float))
    t = np.asarray(ba.times_s, dtype=float)
    nb = m.shape[0]
    if t.size > 1:
        dt = t[1] - t[0]
        extent = (t[0] - dt / 2, t[-1] + dt / 2, -0.5, nb - 0.5)
    else:
        extent = (0, 1, -0.5, nb - 0.5)
    im = ax.imshow(m, aspect="auto", origin="lower", extent=extent, cmap="cividis", vmin=0, vmax=1,
                   interpolation="nearest")
    if t.size > 1 and np.isfinite(m.filled(np.nan)).any():
        xs = np.linspace(extent[0], extent[1], m.shape[1])
        ax.contour(xs, np.arange(nb), m.filled(1.0), levels=[0.5], colors="white", linewidths=0.8)
    ticks = list(range(0, nb, 2))
    ax.set_yticks(ticks)
    ax.set_yticklabels([f"{ba.band_centres_hz[i]:g}" for i in ticks])
    ax.set_ylabel("band centre (Hz)")
    ax.set_xlabel("time (s)")
    idx = ba.index
    ax.set_title("Dialogue audibility per band" + (f" (index {idx:.2f}; white outline: under 0.5, masked)"
                                                   if np.isfinite(idx) else ""), y=_TITLE_Y)
    _lay_out(fig, ax, colorbar=True)
    cb = fig.colorbar(im, cax=_colorbar_axes(fig, ax))
    cb.set_label("audibility (0 masked .. 1 clear)")
    return fig


def plot_sync_timeline(*, sfx=None, dialogue=None, duration_s: float | None = None, figsize=(9, 3.0)) -> Figure:
    """Cue times against detected onsets, one row for SFX and one for dialogue.

    Parameters
    ----------
    sfx, dialogue : SyncResult, optional
        From :func:`layerlab.measure.sync.sfx_offsets` / :func:`layerlab.measure.sync.dialogue_offsets`.
    duration_s : float, optional
        The scene's length (x-axis limit).

    Returns
    -------
    matplotlib.figure.Figure
        Cues are black ticks; detected starts are blue dots inside the pass
        window and vermillion squares marked FAIL outside; a missing sound is a
        cross marked "missing" on its cue.

    Notes
    -----
    Taught in ``lessons/08_measuring_the_mix.ipynb``.
    """
    fig = Figure(figsize=figsize)
    ax = fig.add_subplot()
    rows = [(r, name) for r, name in ((sfx, "SFX"), (dialogue, "dialogue")) if r is not None]
    window = None
    for y, (res, name) in enumerate(rows):
        window = res.window
        for ev in res.events:
            ax.plot([ev.cue_s, ev.cue_s], [y - 0.3, y + 0.3], color="black", lw=1.2)
            if ev.found:
                c = PASS_COLOUR if ev.passed else FAIL_COLOUR
                ax.plot([ev.cue_s, ev.detected_s], [y, y], color=c, lw=2)
                ax.plot(ev.detected_s, y, "o" if ev.passed else "s", color=c, ms=6)
                ax.annotate(f"{ev.offset_ms:+.0f} ms" + ("" if ev.passed else " FAIL"), (ev.detected_s, y + 0.33),
                            ha="center", fontsize=7, color=c, fontweight="normal" if ev.passed else "bold")
            else:
                ax.plot(ev.cue_s, y, "x", color=FAIL_COLOUR, ms=9, mew=2)
                ax.annotate("missing", (ev.cue_s, y + 0.33), ha="center", fontsize=7, color=FAIL_COLOUR,
                            fontweight="bold")
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels([name for _, name in rows])
    ax.set_ylim(-0.7, max(len(rows), 1) - 0.3)
    if duration_s:
        ax.set_xlim(0, duration_s)
    ax.set_xlabel("time (s)")
    title = ("SFX sync" if sfx is not None and dialogue is None else "Dialogue sync" if dialogue is not None and sfx is None
             else "Sync") + ": cues (|) vs detected starts (o)"
    if window is not None:
        title += f", pass window {window.describe()}"
    _lay_out(fig, ax, ylabel=False)
    _inside_edges(ax)
    ax.set_title(title, y=_TITLE_Y)
    ax.grid(axis="x", alpha=0.3)
    return fig


def plot_ducking(dm, *, activity=None, figsize=(9, 3.0)) -> Figure:
    """The music's level (its gain envelope as heard) under the dialogue activity.

    Parameters
    ----------
    dm : DuckingMeasure
        From :func:`layerlab.checks.measure_ducking`.
    activity : Activity, optional
        Shaded where dialogue is active.

    Returns
    -------
    matplotlib.figure.Figure

    Notes
    -----
    Taught in ``lessons/08_measuring_the_mix.ipynb``.
    """
    fig = Figure(figsize=figsize)
    ax = fig.add_subplot()
    _shade_activity(ax, activity)
    g = np.where(np.asarray(dm.gain_db) > -80, dm.gain_db, np.nan)
    ax.plot(dm.times_s, g, color="#805ad5", lw=1.2, label="music level re. between lines (dB)")
    if dm.depth_db is not None:
        ax.axhline(-dm.depth_db, color="#805ad5", ls="--", lw=1, label=f"measured duck {dm.depth_db:.1f} dB")
    if dm.step_time_s is not None and dm.max_step_db > 0:
        ax.axvline(dm.step_time_s, color=FAIL_COLOUR, lw=0.8, ls=":", label=f"fastest change {dm.max_step_db:.1f} dB/10 ms")
    _lay_out(fig, ax)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("dB")
    ax.set_title("Music level under the dialogue", y=_TITLE_Y)
    ax.legend(loc="lower right", fontsize=8)
    ax.grid(alpha=0.3)
    return fig


def plot_true_peak(peaks, *, ceiling_dbtp: float, figsize=(9, 3.0)) -> Figure:
    """Peaks of the mix over time against the true-peak ceiling.

    Parameters
    ----------
    peaks : dict
        ``times_s`` and ``peak_dbfs`` (sample peak per 50 ms block), and
        ``true_peak_dbtp`` with ``true_peak_time_s`` (the highest inter-sample peak).
    ceiling_dbtp : float

    Returns
    -------
    matplotlib.figure.Figure
        Block peaks as a line, the ceiling dashed, blocks over it marked with
        triangles, and the true peak written where it is.

    Notes
    -----
    Taught in ``lessons/08_measuring_the_mix.ipynb`` (why peaks are measured as true peak).
    """
    fig = Figure(figsize=figsize)
    ax = fig.add_subplot()
    t = np.asarray(peaks["times_s"], float)
    p = np.asarray(peaks["peak_dbfs"], float)
    p = np.where(np.isfinite(p), p, np.nan)
    ax.plot(t, p, color=PASS_COLOUR, lw=1, label="sample peak per 50 ms (dBFS)")
    ax.axhline(ceiling_dbtp, color="black", ls="--", lw=1, label=f"ceiling {ceiling_dbtp:g} dBTP")
    over = p > ceiling_dbtp
    if over.any():
        ax.plot(t[over], p[over], "^", color=FAIL_COLOUR, ms=5, label="over the ceiling")
    tp, tt = peaks.get("true_peak_dbtp"), peaks.get("true_peak_time_s")
    if tp is not None and np.isfinite(tp) and tt is not None:
        ok = tp <= ceiling_dbtp
        ax.plot([tt], [tp], "o" if ok else "X", color=PASS_COLOUR if ok else FAIL_COLOUR, ms=8)
        ax.annotate(f"true peak {tp:.1f} dBTP" + ("" if ok else " FAIL"), (tt, tp), textcoords="offset points",
                    xytext=(0, 6), ha="center", fontsize=8, fontweight="normal" if ok else "bold")
    finite = p[np.isfinite(p)]
    ax.set_ylim(max(-60.0, float(np.nanmin(finite)) - 3) if finite.size else -60, max(ceiling_dbtp, np.nanmax(finite) if finite.size else 0) + 3)
    _lay_out(fig, ax, title_pad_pt=8.0)
    _inside_edges(ax)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("dBFS / dBTP")
    ax.set_title("Peaks against the true-peak ceiling", pad=mpl.rcParams["axes.titlepad"] + 8.0, y=_TITLE_Y)
    ax.legend(loc="lower right", fontsize=8)
    ax.grid(alpha=0.3)
    return fig


def plot_masking_levels(levels, *, figsize=(6, 2.6)) -> Figure:
    """How far the dialogue sits over the music and over the ambience, against the thresholds.

    Parameters
    ----------
    levels : dict
        ``{"music": (lu, min_lu), "ambience": (lu, min_lu)}``; ``lu`` may be
        ``inf`` (nothing plays under the dialogue).

    Returns
    -------
    matplotlib.figure.Figure
        One bar per layer, the threshold as a black tick, and PASS/FAIL written
        at the end of each bar (failing bars also hatched).

    Notes
    -----
    Taught in ``lessons/08_measuring_the_mix.ipynb``.
    """
    fig = Figure(figsize=figsize)
    ax = fig.add_subplot()
    names = list(levels)
    x_end = 48.0  # the axis ends here: dialogue this far over a layer is plenty
    for y, name in enumerate(names):
        lu, need = levels[name]
        shown = 40.0 if lu is None or not np.isfinite(lu) else float(lu)
        ok = lu is not None and lu >= need
        ax.barh(y, shown, color=PASS_COLOUR if ok else FAIL_COLOUR, hatch=None if ok else "//", edgecolor="white")
        ax.plot([need, need], [y - 0.4, y + 0.4], color="black", lw=2)
        txt = ("no " + name if lu is not None and np.isinf(lu) else f"{shown:.1f} LU") + ("  PASS" if ok else "  FAIL")
        # a bar past the axis end (a near-silent layer reads a huge finite LU) has its verdict written at the edge
        ax.annotate(txt, (min(max(shown, 0), x_end), y), textcoords="offset points", xytext=(4, -3), fontsize=8,
                    fontweight="normal" if ok else "bold")
    ax.set_yticks(range(len(names)))
    ax.set_yticklabels([f"over {n}" for n in names])
    ax.set_xlabel("dialogue over the layer during speech (LU); black tick: the minimum")
    ax.set_title("Masking: dialogue-to-background level", y=_TITLE_Y)
    x0, x1 = min(0.0, *[float(v[0]) for v in levels.values() if v[0] is not None and np.isfinite(v[0])]) - 1, x_end
    ax.set_xlim(x0, x1)
    # room on the right for the PASS/FAIL text written after each bar's end: ``right`` solves
    # text + gap <= (x1 - end) / span * (width - left - right) + right for every bar (the axes' left from a first pass)
    _lay_out(fig, ax, ylabel=False)
    width_in = fig.get_size_inches()[0]
    left_in = fig.subplotpars.left * width_in
    right_in = 0.2
    for t in ax.texts:
        q = (x1 - float(t.xy[0])) / (x1 - x0)
        need = _text_width_in(t.get_text(), t.get_fontsize(), t.get_fontweight()) + 4.0 / 72.0 + 0.1  # + hinting, a gap
        right_in = max(right_in, (need - q * (width_in - left_in)) / (1.0 - q))
    _lay_out(fig, ax, ylabel=False, right_in=right_in)
    return fig
