"""Helpers behind the lessons' walk-throughs and demonstrations.

Everything here is what a lesson cell does in one line: load a scene into a
mixer, split a native render into its layers, compare native and
post-generated layers with the grader's own measurements, walk a hybrid mix
from the native rough cut to a final, and the small demonstrations of the
four-layer lesson (swap the music, nudge an effect, cut the ambience).

Taught in ``lessons/06_native_vs_postgen.ipynb`` and ``lessons/07_four_layers.ipynb``.
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from layerlab.io.audio import SAMPLE_RATE, save_audio, validate_audio
from layerlab.errors import ParameterError
from layerlab.mix.stack import LAYERS, LayerStack

WORK_DIR = "_layerlab_audio"
"""Folder beside the notebook where lesson helpers write the audio they make."""

_NATIVE_CACHE: dict = {}
_POSTGEN_CACHE: dict = {}


def _scene(scene):
    from layerlab.mix.scenes import Scene, load_scene

    return scene if isinstance(scene, Scene) else load_scene(scene)


def scene_events(scene) -> list[dict]:
    """The scene's visual events as dicts (``id``, ``time_s``, ``label``) for the sync measurements.

    Notes
    -----
    Taught in ``lessons/07_four_layers.ipynb``.
    """
    sc = _scene(scene)
    return [{"id": e.id, "time_s": e.time_s, "label": e.label} for e in sc.cues.events]


def scene_mixer(scene, *, session_path="session.json", restore: bool = True, target: str = "streaming", **kwargs):
    """A :class:`~layerlab.course.widgets.Mixer` on a scene's post-generated layers, with its video and cues.

    Parameters
    ----------
    scene : str or Scene
    session_path : str or Path or None
        Where the learner's settings are kept (beside the notebook).
    restore : bool
        Pick up saved settings.
    target : str
        Delivery profile.
    **kwargs
        Passed to :class:`~layerlab.course.widgets.Mixer` (``title``, ``figure``).

    Returns
    -------
    Mixer

    Notes
    -----
    Taught in ``lessons/07_four_layers.ipynb``.
    """
    from layerlab.mix.scenes import hybrid_stack
    from layerlab.course.widgets import Mixer

    sc = _scene(scene)
    stack = hybrid_stack(sc, master=False)
    return Mixer(stack, session_path=session_path, restore=restore, target=target, events=scene_events(sc),
                 video_path=sc.video_path, **kwargs)


# ----------------------------------------------------------------------------- native vs post-generated


def native_stems(scene):
    """Split a scene's native render (one premixed track) into its four layers.

    The scene's clean clips are known, so each layer can be found in the
    premix (see :func:`layerlab.measure.stems.estimate_stems`): this is what a
    stem-separation tool does for a real video model's output, done exactly.

    Returns
    -------
    layerlab.measure.stems.EstimatedStems
        ``stems`` (four (n, 2) float32 arrays), ``residual`` and ``found``.

    Notes
    -----
    Taught in ``lessons/06_native_vs_postgen.ipynb``.
    """
    from layerlab.measure.stems import estimate_stems

    sc = _scene(scene)
    key = sc.cues.scene
    if key not in _NATIVE_CACHE:
        cues = sc.cues
        lines = [(d.id, d.start_s, sc.load_clip(d.clip)) for d in cues.dialogue]
        events = [(e.id, e.time_s, sc.load_clip(e.clip)) for e in cues.events]
        beds = {name: sc.load_clip(getattr(cues, name)["clip"]) for name in ("music", "ambience")}
        _NATIVE_CACHE[key] = estimate_stems(sc.load_native(), lines=lines, events=events, beds=beds,
                                            sample_rate=SAMPLE_RATE)
    return _NATIVE_CACHE[key]


def postgen_stems(scene) -> dict:
    """The scene's post-generated layers as placed by the reference mix (no master), each (n, 2) float32.

    Rendered once per scene and kept (lesson 06 asks for them, then :func:`compare_layers` again);
    each call returns fresh copies, so changing one in place changes nothing else.

    Notes
    -----
    Taught in ``lessons/06_native_vs_postgen.ipynb``.
    """
    from layerlab.mix.scenes import hybrid_stack

    sc = _scene(scene)
    key = sc.cues.scene
    if key not in _POSTGEN_CACHE:
        _POSTGEN_CACHE[key] = dict(hybrid_stack(sc, master=False).render(master=False).stems)
    return {name: a.copy() for name, a in _POSTGEN_CACHE[key].items()}


def native_stack(scene, *, work_dir=WORK_DIR) -> LayerStack:
    """A stack whose four layers are the native render's layers (the rough cut of a hybrid workflow).

    The layers are written as WAV files under ``work_dir`` so the stack can be
    saved as a session.

    Notes
    -----
    Taught in ``lessons/06_native_vs_postgen.ipynb``.
    """
    sc = _scene(scene)
    est = native_stems(sc)
    folder = Path(work_dir) / f"native_{sc.cues.scene}"
    stack = LayerStack(duration_s=sc.cues.duration_s)
    for name in LAYERS:
        path = folder / f"{name}.wav"
        if not path.exists():
            save_audio(path, est.stems[name], subtype="FLOAT")
        stack.add(name, path, start_s=0.0, name=f"native_{name}")
    return stack


@dataclass
class LayerComparison:
    """One layer of a native render measured against its post-generated replacement.

    Attributes
    ----------
    layer : str
    measure : str
        What was measured, in words.
    native, postgen : float or None
        The two values.
    unit : str
    target : str
        What a good value looks like.
    better : str
        ``"native"``, ``"postgen"`` or ``"same"``.

    Notes
    -----
    Taught in ``lessons/06_native_vs_postgen.ipynb``.
    """

    layer: str
    measure: str
    native: float | None
    postgen: float | None
    unit: str
    target: str
    better: str


def compare_layers(scene) -> list[LayerComparison]:
    """Measure the native render's layers against the post-generated ones, layer by layer.

    Dialogue clarity (occupied band and band audibility over the rest), SFX
    timing (worst offset against the picture, missing effects), music level
    (dialogue over music during speech), ambience continuity (dropouts) and
    the loudness of the whole, with the same functions the grader uses.

    Returns
    -------
    list of LayerComparison

    Notes
    -----
    Taught in ``lessons/06_native_vs_postgen.ipynb``.
    """
    from layerlab.audit import dialogue_band
    from layerlab.checks import ambience_continuity
    from layerlab.measure.loudness import integrated_loudness
    from layerlab.measure.masking import band_audibility, dialogue_to_background_lu
    from layerlab.measure.sync import dialogue_offsets, sfx_offsets

    sc = _scene(scene)
    cues = sc.cues
    nat = native_stems(sc).stems
    post = postgen_stems(sc)
    rows = []

    def add(layer, measure, fn, unit, target, higher_is_better=True, key=None):
        a, b = fn(nat), fn(post)
        if a is None or b is None or (isinstance(a, float) and math.isnan(a)) or abs(a - b) < 1e-9:
            better = "same"
        else:
            score_a, score_b = (a, b) if key is None else (key(a), key(b))
            better = "native" if (score_a > score_b) == higher_is_better else "postgen"
        rows.append(LayerComparison(layer, measure, a, b, unit, target, better))

    def mix_of(stems):
        return sum(stems[n] for n in LAYERS)

    if cues.dialogue:
        # the voice's band as the audit measures it: the mix during the cued lines minus the beds between them
        spans = [(d.start_s, d.end_s) for d in cues.dialogue]
        native_mix = sc.load_native()
        voice_band = {}

        def band(s):
            key = id(s)
            if key not in voice_band:
                voice_band[key] = dialogue_band(native_mix if s is nat else mix_of(s), lines_s=spans)
            return voice_band[key]

        add("dialogue", "lowest frequency of the voice", lambda s: band(s)[0], "Hz",
            "full band: well under 300 Hz", higher_is_better=False)
        add("dialogue", "highest frequency of the voice", lambda s: band(s)[1], "Hz",
            "full band: well over 3400 Hz")
        clips = {d.id: sc.load_clip(d.clip) for d in cues.dialogue}
        lines = [{"id": d.id, "start_s": d.start_s, "text": d.text} for d in cues.dialogue]

        def worst_line(s):
            res = dialogue_offsets(s["dialogue"], lines, clips)
            found = [e.offset_ms for e in res.events if e.found]
            return max(found, key=abs) if found else None

        add("dialogue", "worst lip-sync offset", worst_line, "ms", "within -40..+60 ms (EBU R37)",
            higher_is_better=False, key=abs)
        add("dialogue", "band audibility over the rest",
            lambda s: band_audibility(s["dialogue"], mix_of(s) - s["dialogue"]).index, "", ">= 0.75")
        add("music", "dialogue over music during speech",
            lambda s: dialogue_to_background_lu(s["dialogue"], s["music"]).lu, "LU", ">= 10 LU")
    if cues.events:
        events = scene_events(sc)
        placed = {}  # one sfx_offsets per set of stems: the worst offset and the missing count read the same result

        def offsets(s):
            if id(s) not in placed:
                placed[id(s)] = sfx_offsets(s["sfx"], events)
            return placed[id(s)]

        def worst_sfx(s):
            found = [e.offset_ms for e in offsets(s).events if e.found]
            return max(found, key=abs) if found else None

        def missing(s):
            return float(len(offsets(s).missing))

        add("sfx", "worst effect offset against the picture", worst_sfx, "ms", "within -40..+60 ms (EBU R37)",
            higher_is_better=False, key=abs)
        add("sfx", "effects missing", missing, "", "0", higher_is_better=False)
    add("ambience", "dropouts in the bed",
        lambda s: float(len(ambience_continuity(s["ambience"], scene_changes_s=cues.scene_changes).dropouts)),
        "", "0", higher_is_better=False)
    add("mix", "integrated loudness", lambda s: integrated_loudness(mix_of(s)), "LUFS", "-14 LUFS (streaming)",
        key=lambda v: -abs(v + 14.0))
    return rows


def comparison_html(rows: list[LayerComparison]) -> str:
    """The layer comparison as an HTML table (the better value in bold).

    Notes
    -----
    Taught in ``lessons/06_native_vs_postgen.ipynb``.
    """
    import html

    def fmt(v, unit):
        if v is None or (isinstance(v, float) and math.isnan(v)):
            return "n/a"
        return f"{v:.2f}" if unit == "" else f"{v:.1f} {unit}"

    out = ["<table><tr><th>layer</th><th>measure</th><th>native</th><th>post-generated</th><th>good is</th></tr>"]
    for r in rows:
        a, b = fmt(r.native, r.unit), fmt(r.postgen, r.unit)
        if r.better == "native":
            a = f"<b>{a}</b>"
        elif r.better == "postgen":
            b = f"<b>{b}</b>"
        out.append(f"<tr><td>{r.layer}</td><td>{html.escape(r.measure)}</td><td>{a}</td><td>{b}</td>"
                   f"<td>{html.escape(r.target)}</td></tr>")
    return "".join(out) + "</table>"


# ----------------------------------------------------------------------------- hybrid walk-through


@dataclass
class HybridStep:
    """One step of the hybrid walk-through and what the grader's checks say about it.

    Attributes
    ----------
    name : str
    description : str
    stack : LayerStack
    report : layerlab.checks.CheckReport
    values : dict of str to float
        The headline numbers (check name -> measured value).
    passed : int
        How many checks passed.
    total : int
    mix : np.ndarray or None, shape (n_samples, 2), float32
        The mix exported at this step, as rendered (before the 24-bit ``mix.wav`` rounds and clips
        it): the same as ``stack.render().mix``, kept so that hearing a step renders nothing again.

    Notes
    -----
    Taught in ``lessons/06_native_vs_postgen.ipynb``.
    """

    name: str
    description: str
    stack: LayerStack
    report: object
    values: dict = field(default_factory=dict)
    passed: int = 0
    total: int = 0
    mix: np.ndarray | None = field(default=None, repr=False)


HYBRID_STEPS = (
    ("native rough cut", "the video model's own audio, all four layers as it made them"),
    ("replace the dialogue", "post-generated lines, full-band and placed on their cues"),
    ("replace the music", "the post-generated score at its level, ducked under the dialogue"),
    ("replace the SFX", "post-generated effects, each on its visual event"),
    ("master to target", "loudness normalised to the delivery target, true peak limited"),
)
"""The walk-through's steps: from the native rough cut, replace one layer at a time, then master."""


def hybrid_steps(scene, *, out_dir=WORK_DIR, steps: int | None = None, target: str = "streaming",
                 check_threads: int | None = None) -> list[HybridStep]:
    """Walk a scene from the native rough cut to a hybrid final, measuring every step with the grader's checks.

    Parameters
    ----------
    scene : str or Scene
    out_dir : str or Path
        Each step's deliverable is written to ``out_dir/hybrid_<scene>/<k>_<name>/``.
    steps : int, optional
        Stop after this many steps (all of :data:`HYBRID_STEPS` by default).
    target : str
        Delivery profile of the checks and the master.
    check_threads : int, optional
        How many steps are checked at once, each :func:`~layerlab.checks.run_checks` on a thread of
        its own while the next step is built and exported (by default 2, or 1 on a one-core machine;
        1 checks each step in turn). The reports are the same either way: each check reads its own
        step's folder, and the measurements spend most of their time in NumPy, SciPy and libsndfile,
        which release the GIL (issue #17: lesson 06's Run All).

    Returns
    -------
    list of HybridStep
        In the order of :data:`HYBRID_STEPS`; each with its exported ``mix``.

    Raises
    ------
    SceneError
        ``scene`` is a learner's assessed variant (see :func:`layerlab.mix.scenes.refuse_assessed`).
    ParameterError
        ``steps`` or ``check_threads`` is out of range.

    Notes
    -----
    Taught in ``lessons/06_native_vs_postgen.ipynb``.
    """
    from layerlab.checks import run_checks, usable_cores
    from layerlab.mix.ducking import Ducking
    from layerlab.mix.master import Master
    import warnings

    from layerlab.mix.session import ClippedExportWarning, export_deliverable
    from layerlab.measure.targets import get_profile

    from layerlab.mix.scenes import refuse_assessed

    sc = _scene(scene)
    refuse_assessed(sc)  # a learner's assessed variant: the kit makes no reference mix of it
    cues = sc.cues
    prof = get_profile(target)
    n_steps = len(HYBRID_STEPS) if steps is None else int(steps)
    if not 1 <= n_steps <= len(HYBRID_STEPS):
        raise ParameterError(f"steps must be between 1 and {len(HYBRID_STEPS)}; got {steps}.")
    threads = min(2, usable_cores()) if check_threads is None else int(check_threads)
    if threads < 1:
        raise ParameterError(f"check_threads must be 1 or more; got {check_threads}.")
    stack = native_stack(sc, work_dir=out_dir)
    base = Path(out_dir) / f"hybrid_{cues.scene}"
    built, results = [], []
    pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="layerlab-checks")
    try:
        for k, (name, description) in enumerate(HYBRID_STEPS[:n_steps]):
            if name == "replace the dialogue":
                _clear(stack, "dialogue")
                for d in cues.dialogue:
                    stack.add("dialogue", sc.clip_path(d.clip), start_s=d.start_s, gain_db=d.gain_db, name=d.id)
            elif name == "replace the music":
                _clear(stack, "music")
                stack.add("music", sc.clip_path(cues.music["clip"]), gain_db=float(cues.music.get("gain_db", 0.0)),
                          fade_in_ms=500.0, fade_out_ms=1000.0, name=Path(cues.music["clip"]).stem)
                duck_db = float(cues.music.get("duck_db", 0.0))
                if cues.dialogue and duck_db > 0:
                    stack.ducking = Ducking(depth_db=duck_db, targets=("music",))
            elif name == "replace the SFX":
                _clear(stack, "sfx")
                for e in cues.events:
                    stack.add("sfx", sc.clip_path(e.clip), start_s=e.time_s, gain_db=e.gain_db, name=e.id)
            elif name == "master to target":
                stack.master = Master(target_lufs=prof.target_lufs, ceiling_dbtp=prof.max_true_peak_dbtp - 0.3)
            folder = base / f"{k}_{name.replace(' ', '_')}"
            rendered = stack.render()
            with warnings.catch_warnings():  # the rough cuts clip on purpose: the checks below report it
                warnings.simplefilter("ignore", ClippedExportWarning)
                export_deliverable(stack, folder, render=rendered)
            # checked on a thread while the next step is built; the stack goes on changing, the folder does not
            checked = pool.submit(run_checks, folder, scene=cues.scene, target=prof)
            built.append((name, description, _copy_stack(stack), rendered.mix, checked))
        for name, description, snapshot, mix, checked in built:
            report = checked.result()
            values = {c.name: c.value for c in report.checks}
            passed = sum(1 for c in report.checks if c.passed)
            results.append(HybridStep(name, description, snapshot, report, values, passed, len(report.checks), mix=mix))
    except BaseException:  # an error or the learner's interrupt: drop the checks not started, do not wait for the others
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown()
    return results


def hybrid_table_html(steps: list[HybridStep], *, checks=("loudness", "true_peak", "sync", "dialogue_sync",
                                                        "masking", "band_audibility", "ducking")) -> str:
    """The walk-through's measurements as an HTML table, one row per step (failing values marked ✘, in vermillion).

    Notes
    -----
    Taught in ``lessons/06_native_vs_postgen.ipynb``.
    """
    import html

    head = "".join(f"<th>{html.escape(c)}</th>" for c in checks)
    out = [f"<table><tr><th>step</th>{head}<th>checks passed</th></tr>"]
    for s in steps:
        cells = []
        for c in checks:
            res = next((r for r in s.report.checks if r.name == c), None)
            if res is None:
                cells.append("<td></td>")
                continue
            # Okabe-Ito blue / darkened vermillion and a ✔ / ✘: readable without telling red from green (issue #17)
            colour, mark = ("#0072B2", "✔") if res.passed else ("#B34700", "✘")
            cells.append(f"<td style='color:{colour}' title='{html.escape(res.message, quote=True)}'>"
                         f"{html.escape(res.value_text())} {mark}</td>")
        out.append(f"<tr><td><b>{html.escape(s.name)}</b></td>{''.join(cells)}<td>{s.passed}/{s.total}</td></tr>")
    out.append("</table>")
    if steps:
        failing = [r for r in steps[-1].report.checks if not r.passed]
        if failing:
            items = "".join(f"<li><b>{html.escape(r.name)}</b>: {html.escape(r.message)}</li>" for r in failing)
            out.append(f"<p>Still failing after <i>{html.escape(steps[-1].name)}</i>:</p><ul>{items}</ul>")
    return "".join(out)


def _clear(stack: LayerStack, layer: str):
    del stack[layer][:]


def _copy_stack(stack: LayerStack) -> LayerStack:
    """A snapshot of a stack: its faders, ducking, master and clips (each clip copied, its decoded source shared).

    Not a round trip through ``session.json``: that validates against the session schema (with
    ``jsonschema-rs`` now; ``jsonschema`` used to cost seconds to import) and decodes every clip again.
    """
    import copy

    snap = LayerStack(duration_s=stack.duration_s, sample_rate=stack.sample_rate)
    snap.delivery_target = getattr(stack, "delivery_target", None)
    if stack.ducking is not None:
        snap.ducking = type(stack.ducking).from_dict(stack.ducking.to_dict())
    if stack.master is not None:
        snap.master = type(stack.master).from_dict(stack.master.to_dict())
    for layer in stack:
        new = snap[layer.name]
        new.gain_db, new.mute, new.solo = layer.gain_db, layer.mute, layer.solo
        for clip in layer:
            new.append(copy.copy(clip))
    return snap


# ----------------------------------------------------------------------------- lesson 07 demonstrations


def swap_music(stack: LayerStack, audio_or_path, *, gain_db: float = 0.0, fade_in_ms: float = 500.0,
               fade_out_ms: float = 1000.0, name: str = "new_music"):
    """Replace every clip on the music layer with another piece, leaving the other layers untouched.

    Parameters
    ----------
    stack : LayerStack
    audio_or_path : np.ndarray, shape (n_samples, n_channels), or str or Path
    gain_db, fade_in_ms, fade_out_ms : float
    name : str

    Returns
    -------
    Clip
        The new music clip.

    Notes
    -----
    Taught in ``lessons/07_four_layers.ipynb``.
    """
    _clear(stack, "music")
    return stack.add("music", audio_or_path, start_s=0.0, gain_db=gain_db, fade_in_ms=fade_in_ms,
                     fade_out_ms=fade_out_ms, name=name)


def other_scene_music(scene) -> Path:
    """The music bed of another scene (a style that does not match this picture), for the swap demonstration.

    Notes
    -----
    Taught in ``lessons/07_four_layers.ipynb``.
    """
    from layerlab.mix.scenes import list_scenes

    sc = _scene(scene)
    others = [s for s in list_scenes() if s != sc.cues.scene]
    if not others:
        raise ParameterError("no other scene to borrow music from.")
    other = _scene(others[0])
    return other.clip_path(other.cues.music["clip"])


def nudge_clip(stack: LayerStack, layer: str, name: str, offset_ms: float):
    """Move one clip later (positive) or earlier (negative) on its layer.

    Returns
    -------
    Clip

    Raises
    ------
    ParameterError
        If the layer has no clip of that name (the message lists them).

    Notes
    -----
    Taught in ``lessons/07_four_layers.ipynb``.
    """
    for clip in stack[layer]:
        if clip.name == name:
            clip.start_s += float(offset_ms) / 1000.0
            return clip
    names = ", ".join(c.name for c in stack[layer]) or "none"
    raise ParameterError(f"no clip {name!r} on the {layer} layer; its clips are: {names}.")


@dataclass
class Flam:
    """An effect played on its event and again off it: the doubled hit you hear when sync slips.

    Attributes
    ----------
    audio : np.ndarray, shape (n_samples, 2), float32
        A short excerpt around the event: the on-time hit plus the nudged copy.
    on_time : np.ndarray, shape (n_samples, 2), float32
        The same excerpt with the on-time hit only.
    offset_ms : float
        The measured offset of the nudged copy (positive = late).
    passed : bool
        Whether that offset is inside the EBU R37 window.

    Notes
    -----
    Taught in ``lessons/07_four_layers.ipynb``.
    """

    audio: np.ndarray
    on_time: np.ndarray
    offset_ms: float
    passed: bool


def flam(scene, event_id: str, offset_ms: float, *, context_s: float = 0.6) -> Flam:
    """Build the flam demonstration: an effect on its frame, plus a copy nudged by ``offset_ms``.

    A native track that keeps its own effect under a misplaced replacement
    sounds exactly like this: two attacks where the picture shows one.

    Notes
    -----
    Taught in ``lessons/07_four_layers.ipynb``.
    """
    from layerlab.measure.sync import EBU_R37, sfx_offsets

    sc = _scene(scene)
    ev = sc.cues.event(event_id)
    clip = validate_audio(sc.load_clip(ev.clip))
    g = 10 ** (ev.gain_db / 20)
    sr = SAMPLE_RATE
    lead = int(context_s * sr)
    shift = int(round(offset_ms * sr / 1000))
    n = lead + max(shift, 0) + clip.shape[0] + lead
    on = np.zeros((n, 2), np.float32)
    on[lead: lead + clip.shape[0]] += clip[:, :1] * g
    nudged = np.zeros_like(on)
    s = lead + shift
    if s < 0:
        raise ParameterError(f"offset_ms {offset_ms} moves the effect before the excerpt; keep it above {-context_s * 1e3:.0f} ms.")
    nudged[s: s + clip.shape[0]] += clip[:, :1] * g
    res = sfx_offsets(nudged, [{"id": ev.id, "time_s": lead / sr, "label": ev.label}])
    e = res.events[0]
    off = e.offset_ms if e.found else float("nan")
    return Flam(audio=on + nudged, on_time=on, offset_ms=float(off), passed=bool(EBU_R37.contains(off)))


def quiet_level_lufs(audio, *, sample_rate: int = SAMPLE_RATE, percentile: float = 10.0) -> float:
    """The mix's level in its quietest moments: a low percentile of the momentary loudness.

    With ambience, the gaps between lines and effects sit at the room's level;
    without it they fall towards silence: the "vacuum".

    Returns
    -------
    float
        LUFS (``-inf`` when the quiet moments are digital silence).

    Notes
    -----
    Taught in ``lessons/07_four_layers.ipynb``.
    """
    from layerlab.measure.loudness import momentary_loudness

    m = momentary_loudness(validate_audio(audio), sample_rate=sample_rate, step_ms=100.0).lufs
    if m.size == 0:
        return -math.inf
    return float(np.percentile(m, percentile, method="lower"))  # no interpolation towards -inf


__all__ = [
    "HYBRID_STEPS",
    "Flam",
    "HybridStep",
    "LayerComparison",
    "compare_layers",
    "comparison_html",
    "flam",
    "hybrid_steps",
    "hybrid_table_html",
    "native_stack",
    "native_stems",
    "nudge_clip",
    "other_scene_music",
    "postgen_stems",
    "quiet_level_lufs",
    "scene_events",
    "scene_mixer",
    "swap_music",
]
