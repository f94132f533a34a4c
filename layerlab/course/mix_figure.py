"""The lesson-07 mixer's figure: layer waveforms with the ducking gain, loudness over time and the masking map.

Its artists are updated in place (ipympl, blitted) as the faders move. Taught in ``lessons/07_four_layers.ipynb``.
"""

from __future__ import annotations

import functools
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
        self.mask_img.__class__ = _gathered_image_class()  # the same pixels, drawn as a gather (see _GatheredImage)
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


@functools.cache
def _byte_round_trip() -> np.ndarray:
    """What matplotlib's RGBA path does to each byte value: ``b / 255`` in float32, then ``* 255`` truncated."""
    return (np.divide(np.arange(256), 0xFF, dtype=np.float32) * 255).astype(np.uint8)


@functools.cache
def _gathered_image_class():
    from matplotlib.image import AxesImage

    class GatheredImage(AxesImage):
        """An opaque uint8 RGBA image drawn with ``interpolation="nearest"``, resampled as a gather.

        Matplotlib resamples such an image through float32 (``b / 255``, Agg's nearest-neighbour copy,
        ``* 255`` truncated to bytes): each output pixel is one input pixel's bytes passed through that
        round trip. Which input pixel depends only on the geometry, so it is learnt once per geometry by
        letting matplotlib resample a probe whose bytes encode each pixel's row and column, checked on the
        first real frame against matplotlib's own result (any difference: matplotlib's path from then on),
        and every later frame is ``round_trip[A][rows, cols]``: the same pixels at a tenth of the cost
        (the mixer's masking map, 54 x 1500 pixels, on every fader move).
        """

        _gather = None  # (geometry key, rows, cols, outside) or (key, None) where the gather does not hold

        def _make_image(self, A, in_bbox, out_bbox, clip_bbox, magnification=1.0, unsampled=False,
                        round_to_pixel_border=True):
            slow = super()._make_image
            if np.ma.is_masked(A):
                return slow(A, in_bbox, out_bbox, clip_bbox, magnification, unsampled, round_to_pixel_border)
            A = np.ma.getdata(A)  # set_data keeps a masked array (nothing masked in bytes): its indexing is slow
            args = (in_bbox, out_bbox, clip_bbox, magnification, unsampled, round_to_pixel_border)
            if (unsampled or A.dtype != np.uint8 or A.ndim != 3 or A.shape[2] != 4 or self.get_alpha() is not None
                    or self.get_interpolation() != "nearest" or A.shape[0] > 127 or A.shape[1] > 127 * 127
                    or not np.all(A[..., 3] == 255)):
                return slow(A, *args)
            key = (A.shape, self.origin, tuple(in_bbox.extents), tuple(out_bbox.extents),
                   tuple(clip_bbox.extents), magnification, round_to_pixel_border)
            gather = self._gather
            if gather is None or gather[0] != key:
                gather = self._gather = (key, *self._learn(A, args))
                if gather[1] is None:
                    return slow(A, *args)
                out = slow(A, *args)
                if out[0] is None or not np.array_equal(out[0], self._gathered(A)):
                    self._gather = (key, None)
                return out
            if gather[1] is None:
                return slow(A, *args)
            return (self._gathered(A), *self._placement)

        def _learn(self, A, args):
            h, w = A.shape[:2]
            trip = _byte_round_trip()
            even = trip[0:256:2]
            if np.unique(even).size != even.size:
                return None, None, None
            decode = np.full(256, -1)
            decode[even] = np.arange(even.size)
            rows, cols = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
            probe = np.stack([2 * (cols % 127), 2 * (cols // 127), 2 * rows, np.full_like(rows, 255)], axis=-1)
            out, x, y, t = super()._make_image(probe.astype(np.uint8), *args)
            if out is None:
                return None, None, None
            alpha = out[..., 3]
            lo, hi, r = decode[out[..., 0]], decode[out[..., 1]], decode[out[..., 2]]
            inside = alpha == 255
            if not np.all((alpha == 0) | inside) or np.any(out[~inside] != 0) or np.any((lo < 0) | (hi < 0) | (r < 0)):
                return None, None, None
            self._placement = (x, y, t)
            rows, cols = np.where(inside, r, 0), np.where(inside, hi * 127 + lo, 0)
            if inside.all() and np.all(rows == rows[:, :1]) and np.all(cols == cols[:1]):
                rows, cols = rows[:, :1], cols[0]  # separable (the usual case): a row pick, then a column pick
            return rows, cols, ~inside

        def _gathered(self, A):
            _, rows, cols, outside = self._gather
            # the four bytes of a pixel move as one uint32
            pixels = np.ascontiguousarray(A).view(np.uint32).reshape(A.shape[:2])
            picked = pixels[rows[:, 0]][:, cols] if rows.shape[1] == 1 else pixels[rows, cols]
            picked = np.ascontiguousarray(picked)
            out = _byte_round_trip()[picked.view(np.uint8).reshape(*picked.shape, 4)]
            out[outside] = 0
            return out

    return GatheredImage


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
