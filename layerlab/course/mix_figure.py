"""The lesson-07 mixer's figure: layer waveforms with the ducking gain, loudness over time and the masking map.

Its artists are updated in place (ipympl, blitted) as the faders move. Taught in ``lessons/07_four_layers.ipynb``.
"""

from __future__ import annotations

import math

import numpy as np

from layerlab.course.mix_view import MixView
from layerlab.mix.stack import LAYERS

LAYER_COLOURS = {"dialogue": "#1f77b4", "sfx": "#d62728", "ambience": "#2ca02c", "music": "#9467bd"}

MASKED_BELOW = 0.5
"""Audibility under which a cell of the masking map counts as masked: the line the feedback figure
outlines (:func:`layerlab.checks.plots.plot_masking_map`) and the band check counts against."""
MASK_ROWS_PER_BAND = 3
"""Pixel rows per band in the map's image: a masked cell's middle row is the white stripe."""
MASK_STRIPE_RGBA = (255, 255, 255, 255)


# ----------------------------------------------------------------------------- figure


class MixFigure:
    """The mixer's figure: stacked layer waveforms with the ducking envelope, a
    loudness meter over time and the masking map, updated in place.

    Parameters
    ----------
    view : MixView
        The first view to draw.
    target : DeliveryProfile
    figsize : tuple of float
    dpi : int

    Notes
    -----
    Data artists are marked animated and redrawn by blitting over a cached
    background, so an update touches only the data, not the axes, ticks
    and labels. A full draw (first display, resize) re-captures the background.

    The masking map is drawn in cividis, 0 (masked, dark) .. 1 (audible, light),
    as the feedback figure (:func:`layerlab.checks.plots.plot_masking_map`), and a
    cell under ``MASKED_BELOW`` (0.5) is struck through by a white line, so the map
    reads the same without colour vision (issue #17).

    Taught in ``lessons/07_four_layers.ipynb``.
    """

    def __init__(self, view: MixView, *, target, figsize=(9.0, 6.2), dpi: int = 72, title: str = ""):
        import matplotlib.pyplot as plt

        with plt.ioff():
            self.fig = plt.figure(figsize=figsize, dpi=dpi)
        canvas = self.fig.canvas
        for attr, value in (("header_visible", False), ("footer_visible", False), ("toolbar_visible", False),
                            ("resizable", False)):
            if hasattr(canvas, attr):
                try:
                    setattr(canvas, attr, value)
                except Exception:  # pragma: no cover - older ipympl
                    pass
        gs = self.fig.add_gridspec(3, 1, height_ratios=[2.3, 1.2, 1.2], hspace=0.45, left=0.09, right=0.98,
                                   top=0.95, bottom=0.07)
        self.ax_wave = self.fig.add_subplot(gs[0])
        self.ax_loud = self.fig.add_subplot(gs[1], sharex=self.ax_wave)
        self.ax_mask = self.fig.add_subplot(gs[2], sharex=self.ax_wave)
        duration = float(view.duration_s)
        t = view.column_times_s
        self.lanes = {name: 3 - i for i, name in enumerate(LAYERS)}
        self.wave_lines = {}
        for name, y0 in self.lanes.items():
            env = view.envelopes[name]
            up, = self.ax_wave.plot(t, y0 + 0.45 * env, color=LAYER_COLOURS[name], lw=0.8, animated=True)
            lo, = self.ax_wave.plot(t, y0 - 0.45 * env, color=LAYER_COLOURS[name], lw=0.8, animated=True)
            self.wave_lines[name] = (up, lo)
            self.ax_wave.axhline(y0, color="#cccccc", lw=0.5)
        y_m = self.lanes["music"]
        self.duck_line, = self.ax_wave.plot(t, y_m - 0.5 + view.duck_gain, color="#ff7f0e", lw=1.2, ls="--",
                                            animated=True, label="ducking gain")
        self.ax_wave.set_yticks([self.lanes[n] for n in LAYERS], list(LAYERS))
        self.ax_wave.set_ylim(-0.55, 3.55)
        self.ax_wave.set_xlim(0, duration)
        self.ax_wave.set_title(title or "Layers (peak envelope, after fader and ducking; dashed: ducking gain)",
                               fontsize=9, loc="left")
        self.ax_wave.tick_params(labelsize=8)
        # loudness
        self.ax_loud.set_ylim(-50, 0)
        self.ax_loud.set_ylabel("LUFS", fontsize=8)
        self.ax_loud.tick_params(labelsize=8)
        self.mom_line, = self.ax_loud.plot(view.momentary_times_s, _finite(view.momentary_lufs), lw=0.7,
                                           color="#888888", animated=True, label="momentary (0.4 s)")
        self.st_line, = self.ax_loud.plot(view.short_term_times_s, _finite(view.short_term_lufs), lw=1.4,
                                          color="#1f77b4", animated=True, label="short-term (3 s)")
        self.int_line = self.ax_loud.axhline(-60, color="#1f77b4", lw=1.0, ls=":", animated=True, label="integrated")
        self.target_line = self.ax_loud.axhline(target.target_lufs, color="#17803d", lw=1.0, animated=True,
                                                label="target")
        self.ax_loud.legend(loc="lower right", fontsize=7, ncol=4, frameon=False)
        self.ax_loud.set_title("Loudness of the preview mix", fontsize=9, loc="left")
        # masking map
        from layerlab.measure.masking import BAND_CENTRES_HZ

        t_m = view.masking_times_s
        dt = (t_m[1] - t_m[0]) if t_m.size > 1 else 0.02
        import matplotlib

        # cividis, 0 masked (dark) .. 1 audible (light), as the feedback figure (checks/plots.py): readable
        # without telling red from green; masked cells are also struck through (see _mask_rgba)
        self.mask_cmap = matplotlib.colormaps["cividis"].with_extremes(bad="#f0f0f0")
        # the map is coloured here (values 0..1 straight into the colour map; no data: the 'bad' colour) and
        # drawn as RGBA: the same pixels as a colour-mapped float image, at a third of the cost per update
        self.mask_img = self.ax_mask.imshow(self._mask_rgba(view.masking_map), aspect="auto", origin="lower",
                                            extent=(t_m[0] - dt / 2, t_m[-1] + dt / 2, -0.5, 17.5) if t_m.size else None,
                                            interpolation="nearest", animated=True)
        ticks = [0, 4, 8, 12, 17]
        self.ax_mask.set_yticks(ticks, [f"{BAND_CENTRES_HZ[i]:g}" for i in ticks])
        self.ax_mask.set_ylabel("band (Hz)", fontsize=8)
        self.ax_mask.set_xlabel("time (s)", fontsize=8)
        self.ax_mask.tick_params(labelsize=8)
        self.ax_mask.set_title("Masking map: dialogue audibility per band while speaking (dark, struck through: masked)",
                               fontsize=9, loc="left")
        self.ax_wave.set_xlim(0, duration)
        self._bg = None
        self._shown: dict = {}  # data last put into the waveform and ducking lines
        self.n_updates = 0
        # the waveform axes' lines in drawing order, by group (a lane's two lines; the ducking line last), and the
        # pixels of its axes after the first groups whose data stayed (see _draw_animated)
        self._wave_groups = [*self.wave_lines.values(), (self.duck_line,)]
        self._wave_snap = None  # (groups drawn, BufferRegion of ax_wave over the background)
        self._unchanged_groups = 0  # leading groups whose data the last set_view left alone
        self._animated = [self.mom_line, self.st_line, self.int_line, self.target_line, self.mask_img]
        self._cid = canvas.mpl_connect("draw_event", self._on_draw)
        self.set_view(view, target=target, blit=False)
        self._agg_draw()

    def _mask_rgba(self, masking_map: np.ndarray) -> np.ndarray:
        """The masking map's pixels, (bands * 3, frames, 4) uint8: audibility 0..1 through the colour map, NaN grey,
        each band three rows high; a masked cell (under ``MASKED_BELOW``) has a white middle row, a mark that does
        not depend on colour vision."""
        rgba = np.repeat(self.mask_cmap(np.clip(masking_map, 0.0, 1.0), bytes=True), MASK_ROWS_PER_BAND, axis=0)
        rgba[MASK_ROWS_PER_BAND // 2 :: MASK_ROWS_PER_BAND][masking_map < MASKED_BELOW] = MASK_STRIPE_RGBA
        return rgba

    @property
    def canvas(self):
        """The figure's canvas (an ipympl widget under ``%matplotlib widget``)."""
        return self.fig.canvas

    def _on_draw(self, event):
        if event is not None and event.canvas is not self.fig.canvas:
            return
        self._bg = self.fig.canvas.copy_from_bbox(self.fig.bbox)
        self._wave_snap = None
        self._draw_animated()

    def _draw_animated(self):
        """Draw the animated artists over the background (just restored).

        The waveform axes' line groups whose data stayed since a snapshot of that axes was taken are not drawn
        again: the snapshot (those groups drawn over the background, in the same order) is restored and only the
        later groups are drawn, so the pixels are those of drawing every line (a music or ducking change draws 3
        lines there instead of 9). Lines are clipped to their axes, so the snapshot holds all they touched.
        """
        canvas = self.fig.canvas
        start = 0
        if self._wave_snap is not None:
            start = self._wave_snap[0]
            canvas.restore_region(self._wave_snap[1])
        keep = self._unchanged_groups
        for i, group in enumerate(self._wave_groups):
            if i == keep and keep > start and hasattr(canvas, "copy_from_bbox"):
                self._wave_snap = (keep, canvas.copy_from_bbox(self.ax_wave.bbox.expanded(1.0, 1.0).padded(2)))
            if i >= start:
                for artist in group:
                    self.ax_wave.draw_artist(artist)
        if keep == len(self._wave_groups) and keep > start and hasattr(canvas, "copy_from_bbox"):
            self._wave_snap = (keep, canvas.copy_from_bbox(self.ax_wave.bbox.expanded(1.0, 1.0).padded(2)))
        for artist in self._animated:
            artist.axes.draw_artist(artist)

    def set_view(self, view: MixView, *, target, blit: bool = True):
        """Put new data into the artists and redraw them in place.

        Parameters
        ----------
        view : MixView
        target : DeliveryProfile
        blit : bool
            Redraw now (by blitting); False only updates the artists' data.
        """
        # a line whose data did not change keeps its cached path (set_ydata makes matplotlib rebuild it)
        changed = []
        for name, (up, lo) in self.wave_lines.items():
            y0 = self.lanes[name]
            env = view.envelopes[name]
            changed.append(not _same(self._shown.get(name), env))
            if changed[-1]:
                up.set_ydata(y0 + 0.45 * env)
                lo.set_ydata(y0 - 0.45 * env)
                self._shown[name] = env
        changed.append(not _same(self._shown.get("duck"), view.duck_gain))
        if changed[-1]:
            self.duck_line.set_ydata(self.lanes["music"] - 0.5 + view.duck_gain)
            self._shown["duck"] = view.duck_gain
        self._unchanged_groups = changed.index(True) if any(changed) else len(changed)
        if self._wave_snap is not None and self._wave_snap[0] > self._unchanged_groups:
            self._wave_snap = None  # it shows a group whose data changed
        self.mom_line.set_data(*_thin(view.momentary_times_s, _finite(view.momentary_lufs)))
        self.st_line.set_data(*_thin(view.short_term_times_s, _finite(view.short_term_lufs)))
        integ = view.readout.integrated_lufs
        self.int_line.set_ydata([integ, integ] if math.isfinite(integ) else [-100, -100])
        self.target_line.set_ydata([target.target_lufs, target.target_lufs])
        self.mask_img.set_data(self._mask_rgba(view.masking_map))
        self.n_updates += 1
        if blit:
            self.redraw()

    def _frontend_ready(self) -> bool:
        # an ipympl canvas whose browser view has not connected yet keeps `syncing_data_url` True;
        # sending it images then leaves a broken data URL in the widget state
        return not getattr(self.fig.canvas, "syncing_data_url", False)

    def _agg_draw(self):
        """Render into the pixel buffer without notifying a browser (draw_event still re-captures the background)."""
        from matplotlib.backends.backend_agg import FigureCanvasAgg

        FigureCanvasAgg.draw(self.fig.canvas)

    def redraw(self):
        """Blit the animated artists over the cached background (full draw if there is none)."""
        canvas = self.fig.canvas
        if self._bg is None:
            self._agg_draw()
        else:
            canvas.restore_region(self._bg)
            self._draw_animated()
        if self._frontend_ready():
            canvas.blit(self.fig.bbox)

    def image(self) -> np.ndarray:
        """The figure's current pixels, shape (height, width, 4), uint8 (for tests)."""
        return np.asarray(self.fig.canvas.buffer_rgba()).copy()

    def close(self):
        """Release the figure."""
        import matplotlib.pyplot as plt

        plt.close(self.fig)


MAX_LINE_POINTS = 800
"""Points drawn per loudness line: more than the axes' width in pixels; a 30 s series on the 10 ms grid
has 3000, and drawing them all costs the blit a few ms on every fader move."""


def _thin(times_s: np.ndarray, lufs: np.ndarray, max_points: int = MAX_LINE_POINTS):
    """At most ``max_points`` points of a loudness series: the loudest of each run of neighbours (peaks stay)."""
    n = lufs.shape[0]
    k = -(-n // max_points)
    if k <= 1:
        return times_s, lufs
    m = n // k
    t = times_s[: m * k].reshape(m, k)
    v = lufs[: m * k].reshape(m, k)
    j = v.argmax(axis=1)
    rows = np.arange(m)
    t_out, v_out = t[rows, j], v[rows, j]
    if m * k < n:  # the last, partial group
        r = m * k + int(np.argmax(lufs[m * k :]))
        t_out, v_out = np.append(t_out, times_s[r]), np.append(v_out, lufs[r])
    return t_out, v_out


def _same(a, b) -> bool:
    """Whether two arrays (or None) hold the same values."""
    return a is not None and b is not None and a.shape == b.shape and np.array_equal(a, b)


def _finite(lufs: np.ndarray) -> np.ndarray:
    return np.where(np.isfinite(lufs), lufs, -120.0)
