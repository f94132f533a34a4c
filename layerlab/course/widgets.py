"""The interactive mixer of lesson 07.

The mixer is built in four modules, each with one job:

* :mod:`layerlab.course.mix_analysis` (:class:`MixAnalysis`) - no widgets. It turns a
  :class:`~layerlab.mix.stack.LayerStack` into everything the mixer shows, from the measurement
  primitives the grader uses (so the readout equals ``layerlab check`` on the same render), caching
  per layer what the faders do not change.
* :mod:`layerlab.course.mix_view` - the results (:class:`MixView`, :class:`MixReadout`).
* :mod:`layerlab.course.mix_figure` - the ipympl figure, updated in place.
* this module - :class:`Mixer`: ipywidgets controls (a gain slider, mute and solo per layer; ducking
  depth, threshold, attack and release; the delivery target), the HTML readout, a level-true player,
  a synced video preview and an export button. Every change is saved to ``session.json`` beside the
  notebook (atomically; a file that fails to load is kept, never overwritten) and restored on the
  next run.

The preview is rendered without the master section (the faders are heard as they are); the readout
says how far the master will move the level, and the export renders with it. The lesson-06 decision
table lives in :mod:`layerlab.course.decision_widget` (also importable from here).

Taught in ``lessons/07_four_layers.ipynb``.
"""

from __future__ import annotations

import hashlib
import html
import subprocess
import time
from pathlib import Path

import numpy as np

from layerlab.io.audio import ffmpeg_exe, save_audio
from layerlab.mix.ducking import Ducking
from layerlab.errors import LayerLabError, ParameterError, SessionError
from layerlab.course.mix_analysis import MixAnalysis, delivery_profile
from layerlab.course.mix_view import MixReadout, MixView
from layerlab.mix.stack import LAYERS, LayerStack
from layerlab.course.decision_widget import DecisionWidget  # noqa: F401  (lesson 06 imports it from here)
from layerlab.course.mix_figure import MixFigure

# ----------------------------------------------------------------------------- mixer

SLIDER_CURSOR_CSS = "<style>body:not(.lm-mod-override-cursor) { cursor: auto !important; }</style>"
"""The mixer's stylesheet: the page's ``body`` keeps its cursor while a slider is dragged.

ipywidgets' sliders (noUiSlider) copy the handle's cursor onto ``body``'s inline style at the press and clear it
at the release. ``cursor`` is inherited, so each change restyled the whole JupyterLab page (about 950 elements,
median 12 ms, up to 61 ms, at the release, before the kernel's readout could be handled; issue #17); with
``body``'s computed cursor kept, a dozen elements are restyled (about 1 ms). Lumino's own drags (panel
resizing, which mark ``body`` with ``lm-mod-override-cursor``) still set the page's cursor. The one visible
difference: while a slider is dragged, the pointer off the handle shows the page's cursor, not the arrow.
"""


class Mixer:
    """The four-layer mixer: faders, mute/solo, ducking, live views, player, video preview, export.

    Parameters
    ----------
    stack : LayerStack
        The mix to control. If ``session_path`` exists (and matches the
        stack's length), the saved session is restored instead.
    session_path : str or Path or None
        Where every change is saved (``session.json`` beside the notebook,
        written atomically). ``None`` disables saving and restoring. A file
        that cannot be restored (invalid, a clip moved, another mix) is never
        overwritten: it is renamed to ``session.unloaded-<UTC time>.json``
        beside it, and the status line says so.
    restore : bool
        Restore a saved session if there is one.
    target : str or DeliveryProfile
        Delivery target for the readout and for the master on export. A
        restored session's saved target takes its place.
    events : sequence of dict, optional
        The scene's visual events (for the SFX sync readout).
    video_path : str or Path, optional
        The scene's picture, for the synced preview.
    title : str
    figure : bool
        Build the figure (False for a controls-and-readout-only mixer).

    Examples
    --------
    >>> mixer = Mixer(stack, events=scene_events, video_path="video.mp4")   # doctest: +SKIP
    >>> mixer                                   # shows the controls and views   # doctest: +SKIP
    >>> mixer.gain["music"].value = -18         # same as moving the slider      # doctest: +SKIP

    A value saved outside a slider's usual range (a fader at -60 dB written
    by hand) widens that slider instead of being clamped, so the learner's
    value is kept and saved back unchanged.

    Notes
    -----
    Taught in ``lessons/07_four_layers.ipynb``.
    """

    GAIN_RANGE_DB = (-40.0, 12.0)

    def __init__(self, stack: LayerStack, *, session_path="session.json", restore: bool = True, target="streaming",
                 events=None, video_path=None, title: str = "", figure: bool = True):
        import ipywidgets as w

        self.session_path = Path(session_path) if session_path else None
        self.restored = False
        self.status_message = ""
        self.unloaded_session = None
        """Where a session that could not be restored was kept (``None`` if there was none)."""
        if not isinstance(stack, LayerStack):
            raise ParameterError(f"Mixer needs a LayerStack; got {type(stack).__name__}.")
        if self.session_path is not None and restore and self.session_path.exists():
            saved, problem = _restore(stack, self.session_path)
            if problem:
                self.unloaded_session, self.status_message = _keep_unloaded(self.session_path, problem)
                if self.unloaded_session is None:  # could not move it aside: never write over it
                    self.session_path = None
            else:
                stack, self.restored = saved, True
                self.status_message = f"Restored your settings from {self.session_path.name}."
        if self.restored and stack.delivery_target:
            target = stack.delivery_target  # the learner's last choice
        self.stack = stack
        self.video_path = Path(video_path) if video_path else None
        self._ducking_settings = stack.ducking or Ducking()
        self.analysis = MixAnalysis(stack, target=target, events=events)
        stack.delivery_target = self.analysis.target.name
        self._suspend = False
        self.latencies_ms: list = []
        import threading

        self._save_lock = threading.Lock()
        self._save_cond = threading.Condition()
        self._save_due = None  # time.monotonic() at which the pending save is due, or None
        self._save_thread = None  # the background writer while saves come (see _schedule_save, SAVE_IDLE_S)
        self._save_stop = False
        self.auto_player = True
        """Refresh the player a moment after the last change (once the mixer has been shown)."""
        self._player_shown = False
        key = str(self.session_path.resolve()) if self.session_path is not None else f"{id(self)}"
        self._player_slot = "mixer_" + hashlib.sha1(key.encode()).hexdigest()[:10]
        """One served file per mixer, overwritten at each refresh (see :func:`layerlab.course.playback.play`)."""

        # controls
        lay = w.Layout
        self.gain, self.mute, self.solo = {}, {}, {}
        rows = []
        for name in LAYERS:
            layer = stack[name]
            lo, hi = _range_holding(layer.gain_db, *self.GAIN_RANGE_DB)
            self.gain[name] = w.FloatSlider(value=float(layer.gain_db), min=lo, max=hi, step=0.5,
                                            description=name, continuous_update=False, readout_format=".1f",
                                            layout=lay(width="360px"))
            self.gain[name].add_class(f"layerlab-gain-{name}")
            self.mute[name] = w.ToggleButton(value=layer.mute, description="M", tooltip=f"mute {name}",
                                             layout=lay(width="34px"))
            self.solo[name] = w.ToggleButton(value=layer.solo, description="S", tooltip=f"solo {name}",
                                             layout=lay(width="34px"))
            rows.append(w.HBox([self.gain[name], w.Label("dB"), self.mute[name], self.solo[name]]))
        d = self._ducking_settings
        self.duck_on = w.Checkbox(value=stack.ducking is not None, description="duck music under dialogue",
                                  indent=False)
        def duck_slider(value, lo, hi, step, description):
            lo, hi = _range_holding(value, lo, hi)
            return w.FloatSlider(value=float(value), min=lo, max=hi, step=step, description=description,
                                 continuous_update=False, style={"description_width": "90px"})

        self.duck_depth = duck_slider(d.depth_db, 0, 30, 0.5, "depth dB")
        self.duck_threshold = duck_slider(d.threshold_db, -70, -10, 1, "threshold dB")
        self.duck_attack = duck_slider(d.attack_ms, 1, 1000, 1, "attack ms")
        self.duck_release = duck_slider(d.release_ms, 1, 3000, 10, "release ms")
        for key in ("depth", "threshold", "attack", "release"):  # for browser tests and benchmarks
            getattr(self, f"duck_{key}").add_class(f"layerlab-duck-{key}")
        from layerlab.measure.targets import PROFILE_NAMES

        self.target = w.Dropdown(options=list(PROFILE_NAMES), value=self.analysis.target.name,
                                 description="target")
        auto = lay(width="auto")
        self.export_button = w.Button(description="Export deliverable", icon="download", layout=auto)
        self.video_button = w.Button(description="Preview with video", icon="film", disabled=self.video_path is None,
                                     layout=auto)
        self.player_button = w.Button(description="Update player", icon="play", layout=auto)
        self.readout = w.HTML()
        self.readout.add_class("layerlab-readout")
        self.status = w.HTML()
        self.player = w.Output()
        self.video = w.Output()

        self.view = self.analysis.update()
        self.figure = MixFigure(self.view, target=self.analysis.target, title=title) if figure else None
        self.readout.value = self.view.readout.to_html()
        self._set_status(self.status_message)

        for name in LAYERS:
            self.gain[name].observe(self._on_change, names="value")
            self.mute[name].observe(self._on_change, names="value")
            self.solo[name].observe(self._on_change, names="value")
        for c in (self.duck_on, self.duck_depth, self.duck_threshold, self.duck_attack, self.duck_release, self.target):
            c.observe(self._on_change, names="value")
        self.export_button.on_click(lambda _b: self._guard(self.export))
        self.video_button.on_click(lambda _b: self._guard(self.preview_video))
        self.player_button.on_click(lambda _b: self._guard(self.update_player))

        ducking_box = w.VBox([self.duck_on, self.duck_depth, self.duck_threshold, self.duck_attack, self.duck_release])
        controls = w.HBox([w.VBox([w.HTML("<b>Faders</b> (M = mute, S = solo)"), *rows, self.target]),
                           w.VBox([w.HTML("<b>Ducking</b>"), ducking_box])])
        views = [self.figure.canvas] if (figure and _is_widget(self.figure.canvas)) else []
        self._static_out = None
        if figure and not views:
            self._static_out = w.Output()
            views = [self._static_out]
        buttons = w.HBox([self.player_button, self.video_button, self.export_button])
        self.widget = w.VBox([controls, w.VBox([*views]),
                              w.HTML("<b>Readout</b> (preview, before the master)"), self.readout,
                              buttons, self.status, self.player, self.video])
        self.widget.add_class("layerlab-mixer")
        from IPython.display import HTML

        self._stylesheet = w.Output(layout=lay(display="none"))  # see SLIDER_CURSOR_CSS
        self._stylesheet.append_display_data(HTML(SLIDER_CURSOR_CSS))
        self.widget.children = (*self.widget.children, self._stylesheet)
        self.save()

    # ------------------------------------------------------------------ display
    def _ipython_display_(self):
        from IPython.display import display

        display(self.widget)
        if self._static_out is not None:
            _show(self._static_out, self.figure.fig)
        self.update_player()

    # ------------------------------------------------------------------ state
    def _apply_controls(self):
        st = self.stack
        for name in LAYERS:
            st[name].gain_db = float(self.gain[name].value)
            st[name].mute = bool(self.mute[name].value)
            st[name].solo = bool(self.solo[name].value)
        if self.duck_on.value:
            self._ducking_settings = Ducking(depth_db=float(self.duck_depth.value),
                                             threshold_db=float(self.duck_threshold.value),
                                             attack_ms=float(self.duck_attack.value),
                                             release_ms=float(self.duck_release.value),
                                             hold_ms=self._ducking_settings.hold_ms,
                                             lookahead_ms=self._ducking_settings.lookahead_ms,
                                             targets=self._ducking_settings.targets)
            st.ducking = self._ducking_settings
        else:
            st.ducking = None
        if self.target.value != self.analysis.target.name:
            self.analysis.target = delivery_profile(self.target.value)
        st.delivery_target = self.target.value

    def _sync_controls(self):
        """Set the widgets from the stack (after a programmatic change)."""
        self._suspend = True
        try:
            for name in LAYERS:
                _set_holding(self.gain[name], self.stack[name].gain_db)
                self.mute[name].value = self.stack[name].mute
                self.solo[name].value = self.stack[name].solo
            self.duck_on.value = self.stack.ducking is not None
            if self.stack.ducking is not None:
                d = self._ducking_settings = self.stack.ducking
                for slider, value in ((self.duck_depth, d.depth_db), (self.duck_threshold, d.threshold_db),
                                      (self.duck_attack, d.attack_ms), (self.duck_release, d.release_ms)):
                    _set_holding(slider, value)
        finally:
            self._suspend = False

    def _on_change(self, change=None):
        if self._suspend:
            return
        self._guard(self.refresh)

    def _guard(self, fn):
        try:
            return fn()
        except LayerLabError as exc:
            self._set_status(f"<span style='color:#c62828'>{html.escape(str(exc))}</span>", raw=True)
            return None

    def refresh(self):
        """Apply the controls to the stack, re-render, re-measure and update the views in place.

        Returns
        -------
        MixView
        """
        t0 = time.perf_counter()
        self._apply_controls()
        self.view = self.analysis.update()
        self.readout.value = self.view.readout.to_html()
        if self.figure is not None:
            self.figure.set_view(self.view, target=self.analysis.target)
        self.latencies_ms.append((time.perf_counter() - t0) * 1e3)
        self._schedule_save()
        self._player_stale = True
        return self.view

    SAVE_DELAY_S = 0.25
    """Changes are written to ``session.json`` this long after the last one (off the update path)."""

    def save(self):
        """Write the stack to ``session.json`` now (if a session path is set).

        Returns
        -------
        Path or None
        """
        with self._save_cond:  # this write is the pending one
            self._save_due = None
        if self.session_path is None:
            return None
        from layerlab.mix.session import save_session

        with self._save_lock:
            return save_session(self.stack, self.session_path)

    def _schedule_save(self):
        """Save (and refresh the player) shortly after the last change, in a background thread.

        One writer thread waits for the deadline; a change only moves the deadline and notifies it.
        (A new ``threading.Timer`` per change waited for its thread to start: 10-25 ms of a loaded
        machine's wall clock on every fader move.)
        """
        if self.session_path is None and not (self.auto_player and self._player_shown):
            return
        import threading

        with self._save_cond:
            self._save_due = time.monotonic() + float(self.SAVE_DELAY_S)
            self._save_stop = False
            self._save_cond.notify()
            if self._save_thread is None:  # started under the lock: an idle writer ends under it too
                self._save_thread = threading.Thread(target=self._save_loop, name="layerlab-mixer-save", daemon=True)
                self._save_thread.start()

    SAVE_IDLE_S = 30.0
    """Seconds the writer thread waits with nothing to save before it ends (the next change starts another), so a
    learner who runs the mixer cell again and again does not collect one waiting thread per old mixer."""

    def _save_loop(self):
        """The writer thread: wait for the due time of the pending save, write, wait again; end on close() or when idle."""
        while True:
            with self._save_cond:
                while not self._save_stop and (self._save_due is None or self._save_due > time.monotonic()):
                    if self._save_due is None:
                        if not self._save_cond.wait(self.SAVE_IDLE_S) and self._save_due is None:
                            self._save_thread = None
                            return
                    else:
                        self._save_cond.wait(max(0.0, self._save_due - time.monotonic()))
                if self._save_stop:
                    return
                self._save_due = None
            try:
                self.save()
                if self.auto_player and self._player_shown:
                    self.update_player()
            except Exception as exc:  # never let a background write raise into the kernel
                self.status.value = html.escape(f"could not save {self.session_path}: {exc}")

    def close(self):
        """Write a pending save now, stop the background writer and close the figure.

        The writer otherwise saves a moment after the last change, and writes
        relative to the working directory of that moment.

        Returns
        -------
        Path or None
            The session file written, if any.
        """
        thread = getattr(self, "_save_thread", None)
        written = None
        if thread is not None:
            with self._save_cond:
                pending = self._save_due is not None
                self._save_due = None
                self._save_stop = True
                self._save_cond.notify()
            thread.join()  # at most the end of a write already under way
            self._save_thread = None
            if pending:
                written = self.save()
        if self.figure is not None:
            self.figure.close()
            self.figure = None
        return written

    def changed_stack(self):
        """Call after changing clips on :attr:`stack` directly (swap a clip, move one): re-syncs and refreshes."""
        self._sync_controls()
        return self.refresh()

    # ------------------------------------------------------------------ outputs
    def update_player(self):
        """Show a level-true player for the current preview mix."""
        from layerlab.course.playback import play

        p = play(self.view.mix, sample_rate=self.stack.sample_rate, label="current mix (preview)", slot=self._player_slot)
        _show(self.player, p)
        self._player_shown = True
        self._player_stale = False
        return p

    def export(self, out_dir="deliverable") -> Path:
        """Render with the master section and write the deliverable folder.

        Parameters
        ----------
        out_dir : str or Path
            Folder for ``mix.wav``, ``stems/`` and ``session.json``.

        Returns
        -------
        Path
        """
        from layerlab.measure.loudness import Meter
        from layerlab.mix.master import Master
        from layerlab.mix.session import export_deliverable

        self._apply_controls()
        prof = self.analysis.target
        # the master follows the chosen target (0.5 dB of headroom under its true-peak ceiling)
        self.stack.master = Master(target_lufs=prof.target_lufs, ceiling_dbtp=max(-20.0, prof.max_true_peak_dbtp - 0.5))
        r = self.stack.render(master=True)
        out = export_deliverable(self.stack, out_dir, render=r)
        rep = Meter(self.stack.sample_rate).measure(r.mix)
        self._set_status(f"Exported to <code>{html.escape(str(out))}</code>: integrated "
                         f"{rep.integrated_lufs:.1f} LUFS, true peak {rep.true_peak_dbtp:.1f} dBTP "
                         f"(target {html.escape(prof.describe())}).", raw=True)
        self.save()
        return out

    def preview_video(self, path=None) -> Path:
        """Mux the current preview mix (the faders as they are, before the master) with the scene's video and show it.

        Parameters
        ----------
        path : str or Path, optional
            The MP4 to write; by default ``_layerlab_audio/preview_<hash>.mp4`` beside the notebook.

        Returns
        -------
        Path
        """
        from IPython.display import HTML

        if self.video_path is None:
            raise ParameterError("This mixer has no video: pass video_path=... (the scene's video.mp4).")
        mix = self.view.mix
        digest = hashlib.sha1(mix.tobytes()).hexdigest()[:12]
        out = Path(path) if path else Path("_layerlab_audio") / f"preview_{digest}.mp4"
        out.parent.mkdir(parents=True, exist_ok=True)
        wav = out.with_suffix(".wav")
        save_audio(wav, np.clip(mix, -1.0, 1.0), sample_rate=self.stack.sample_rate, subtype="PCM_24")
        mux_video(self.video_path, wav, out)
        wav.unlink(missing_ok=True)
        _show(self.video, HTML(f'<video controls width="560" src="{html.escape(out.as_posix())}"></video>'
                               "<br><small>picture and the current mix, muxed sample-aligned</small>"))
        return out

    def _set_status(self, text, raw=False):
        self.status.value = text if raw else html.escape(text)

    # ------------------------------------------------------------------ helpers
    def set_values(self, **values):
        """Set several controls at once with a single refresh, e.g. ``set_values(music=-20, duck_depth=12)``.

        Keys are layer names (gain in dB) and ``duck_on``, ``duck_depth``,
        ``duck_threshold``, ``duck_attack``, ``duck_release``, ``target``.
        """
        self._suspend = True
        try:
            for key, value in values.items():
                if key in self.gain:
                    self.gain[key].value = value
                elif hasattr(self, key) and key.startswith("duck_") or key == "target":
                    getattr(self, key).value = value
                else:
                    raise ParameterError(f"unknown control {key!r}; use a layer name or duck_on/duck_depth/"
                                         "duck_threshold/duck_attack/duck_release/target.")
        finally:
            self._suspend = False
        return self.refresh()


def _show(output, obj):
    """Replace an Output widget's content with one object's display (works with or without a kernel)."""
    from IPython.core.interactiveshell import InteractiveShell

    data, metadata = InteractiveShell.instance().display_formatter.format(obj)
    output.outputs = ({"output_type": "display_data", "data": data, "metadata": metadata},)


def mux_video(video_path, audio_path, out_path) -> Path:
    """Put an audio file under a video's picture (video stream copied, audio AAC), sample-aligned.

    Parameters
    ----------
    video_path, audio_path, out_path : str or Path

    Returns
    -------
    Path

    Raises
    ------
    ParameterError
        If an input is missing or ffmpeg fails (its message is included).

    Notes
    -----
    Taught in ``lessons/07_four_layers.ipynb``.
    """
    video_path, audio_path, out_path = Path(video_path), Path(audio_path), Path(out_path)
    for p in (video_path, audio_path):
        if not p.exists():
            raise ParameterError(f"{p}: file not found; cannot build the video preview.")
    cmd = [ffmpeg_exe(needed_for="the video preview"), "-nostdin", "-v", "error", "-y", "-i", str(video_path), "-i", str(audio_path),
           "-map", "0:v:0", "-map", "1:a:0", "-c:v", "copy", "-c:a", "aac", "-b:a", "192k", "-shortest",
           "-movflags", "+faststart", str(out_path)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0 or not out_path.exists():
        raise ParameterError(f"ffmpeg could not mux {audio_path.name} into {video_path.name}: {proc.stderr.strip()[-400:]}")
    return out_path


def _restore(stack, path: Path):
    """Load a saved session for this stack: ``(saved_stack, "")``, or ``(None, why it cannot be used)``."""
    from layerlab.mix.session import load_session

    try:
        saved = load_session(path)
    except (SessionError, LayerLabError) as exc:
        return None, f"could not be restored ({' / '.join(str(exc).splitlines())})"
    if abs(saved.duration_s - stack.duration_s) > 1e-6 or saved.sample_rate != stack.sample_rate:
        return None, (f"belongs to a different mix ({saved.duration_s:.1f} s at {saved.sample_rate} Hz; "
                      f"this one is {stack.duration_s:.1f} s at {stack.sample_rate} Hz)")
    return saved, ""


def _keep_unloaded(path: Path, problem: str):
    """Move a session that could not be restored out of the way, never writing over it.

    Returns ``(where it was kept or None, the status line)``.
    """
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    kept = path.with_name(f"{path.stem}.unloaded-{stamp}{path.suffix}")
    n = 1
    while kept.exists():
        kept = path.with_name(f"{path.stem}.unloaded-{stamp}-{n}{path.suffix}")
        n += 1
    try:
        path.rename(kept)
    except OSError as exc:
        return None, (f"{path.name} {problem}. It is left untouched and this mixer will NOT save "
                      f"(it could not be moved aside: {exc}); starting from the scene's mix.")
    return kept, (f"{path.name} {problem}. Your file is kept, unchanged, as {kept}; starting from the scene's "
                  f"mix and saving to a new {path.name}. To go back to it, fix it and rename it to {path.name}.")


def _range_holding(value: float, lo: float, hi: float) -> tuple[float, float]:
    """A slider range that holds ``value`` (widened, never clamping what the learner wrote)."""
    value = float(value)
    return min(float(lo), value), max(float(hi), value)


def _set_holding(slider, value: float) -> None:
    """Set a slider to ``value``, widening its range first if needed (ipywidgets would clamp it)."""
    lo, hi = _range_holding(value, slider.min, slider.max)
    if hi > slider.max:
        slider.max = hi
    if lo < slider.min:
        slider.min = lo
    slider.value = float(value)


def _is_widget(obj) -> bool:
    try:
        import ipywidgets

        return isinstance(obj, ipywidgets.DOMWidget)
    except ImportError:  # pragma: no cover
        return False


__all__ = ["DecisionWidget", "MixAnalysis", "MixFigure", "MixReadout", "MixView", "Mixer", "mux_video"]
