"""What the listener hears: each layer as it sits in ``mix.wav``, found by its content, not by its stem.

The stems say which layer a sound belongs to, but a learner can write stems that still add up to
``mix.wav`` while the music stem looks well ducked and the excess music sits on another stem. The
listener hears the mix. So the level checks (masking, ducking, band audibility) judge the layers
*as found in the mix*:

- a bed (music, ambience) is the part of ``mix.wav`` that the scene's own clip explains: the clip
  placed where the stem (else the mix) has it, followed by a least-squares gain per channel in
  300 ms windows (the ducking, fades, a dropout);
- the dialogue is the dialogue stem with whatever in it the beds explain taken out, at the gain the
  mix gives it (a least-squares gain in 300 ms windows).

- this scene's own dialogue (:func:`found_dialogue`): each cued line's clip found in ``mix.wav``
  near its cue. Masking is judged against it, so music written onto the dialogue stem is not taken
  for dialogue, and a mix whose lines are not this scene's (a classmate's takes) fails masking.

Anything a clip explains counts as that layer, whichever stem it was written on. The checks then
judge the worse of the stems' figure and the mix's: the projection misses what a learner's EQ
changes, so it is lenient there and the stem is exact; where stems were relabelled, the stem is
lenient and the mix exact. A bed the scene's clip does not explain (the learner brought other
music) is judged on its stem.

Used by the checks taught in ``lessons/08_measuring_the_mix.ipynb``; not taught on its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from layerlab.io.audio import SAMPLE_RATE
from layerlab.measure.envelopes import channel_mean, channel_sum
from layerlab.checks.context import CheckContext, SceneClip, find_lag, key_lock, scene_clip_of, stem_clip_lag

__all__ = ["HeardLayers", "heard_layers", "heard_activity", "windowed_gain", "GAIN_WINDOW_MS", "FoundDialogue",
           "found_dialogue", "found_activity", "found_rest", "MIN_LINE_CORRELATION", "find_clip_near"]

GAIN_WINDOW_MS = 300.0
"""Window of the least-squares gains (long enough that a louder layer leaks little into the estimate)."""


@dataclass
class HeardLayers:
    """The layers as the listener hears them in ``mix.wav``.

    Attributes
    ----------
    dialogue : np.ndarray, shape (n_samples, n_channels)
        The dialogue stem without what the beds' clips explain, at its gain in the mix.
    dialogue_clean : np.ndarray, shape (n_samples, n_channels)
        The dialogue stem without what the beds' clips explain (stem gain).
    beds : dict of str to np.ndarray, shape (n_samples, n_channels)
        ``music`` / ``ambience`` as found in the mix (only the beds whose scene clip was found).
    references : dict of str to np.ndarray, shape (n_samples, n_channels)
        Each found bed's clip, placed (one clip channel per mix channel): the bed's gain over time
        is the level of ``beds[k]`` minus the level of ``references[k]``.
    notes : dict of str to str
        Per layer, where its figure comes from (for the report).
    """

    dialogue: np.ndarray
    dialogue_clean: np.ndarray
    beds: dict = field(default_factory=dict)
    references: dict = field(default_factory=dict)
    notes: dict = field(default_factory=dict)


def windowed_gain(target: np.ndarray, y: np.ndarray, *, sample_rate: int = SAMPLE_RATE,
                  window_ms: float = GAIN_WINDOW_MS, hop_ms: float = 10.0) -> np.ndarray:
    """Least-squares gain of ``y`` inside ``target`` in sliding windows, per sample.

    Parameters
    ----------
    target, y : np.ndarray, shape (n_samples, n_channels)
    sample_rate : int
    window_ms, hop_ms : float

    Returns
    -------
    np.ndarray, shape (n_samples,), float64
        ``sum(target * y) / sum(y * y)`` over the window centred on each hop, linearly
        interpolated between hops; 0 where ``y`` is silent.
    """
    n = y.shape[0]
    w = max(1, int(round(window_ms * sample_rate / 1000.0)))
    hop = max(1, int(round(hop_ms * sample_rate / 1000.0)))
    cn = np.concatenate([[0.0], np.cumsum(_sum_channels(target * y))])
    cd = np.concatenate([[0.0], np.cumsum(_sum_channels(y * y))])
    centres = np.arange(0, n, hop)
    a = np.clip(centres - w // 2, 0, n)
    b = np.clip(centres + w // 2, 0, n)
    num, den = cn[b] - cn[a], cd[b] - cd[a]
    floor = 1e-9 * max(float(den.max()), 1e-30)
    g = np.where(den > floor, num / np.maximum(den, 1e-30), 0.0)
    return _interp_uniform(g, hop, n)


def _sum_channels(a: np.ndarray) -> np.ndarray:
    """:func:`channel_sum` of a fresh product, without copying a single channel again (the same numbers)."""
    return a[:, 0] if a.ndim == 2 and a.shape[1] == 1 else channel_sum(a)


def _interp_uniform(g: np.ndarray, hop: int, n: int) -> np.ndarray:
    """``np.interp(np.arange(n), np.arange(0, n, hop), g)`` bit for bit, without its per-sample search.

    The knots are evenly spaced, so each run of ``hop`` samples is ``slope * offset + g[k]`` with
    numpy's own ``slope = (g[k+1] - g[k]) / hop`` and the same float64 operations in the same order;
    after the last knot the value is ``g[-1]``, as ``np.interp`` holds it.
    """
    out = np.empty(n)
    k = g.size - 1
    if k > 0:
        slope = (g[1:] - g[:-1]) / float(hop)
        body = out[: k * hop].reshape(k, hop)
        np.multiply(slope[:, None], np.arange(hop, dtype=np.float64)[None, :], out=body)
        body += g[:-1, None]
    out[k * hop :] = g[-1]
    return out


MIN_STEM_CORRELATION = 0.5
"""A stem whose waveform correlates less than this with the scene's clip (at the best lag) does not use it."""
MIN_MIX_CORRELATION = 0.15
"""The same for mix.wav, where the other layers dilute the correlation."""


def _placed_clip(ctx: CheckContext, layer: str, stem: np.ndarray | None, mix: np.ndarray):
    """The scene's ``layer`` clip placed where the stem (else the mix) has it; (None, why) if not found."""
    clip, lag, corr = stem_clip_lag(ctx, layer, stem) if stem is not None else (None, 0, 0.0)
    ref = scene_clip_of(ctx.cues, (ctx.cues.raw.get(layer) or {}).get("clip"))
    if clip is None:
        clip = None if ref is None else ref.audio
    if clip is None:
        return None, f"no scene {layer} clip to find in the mix"
    if corr < MIN_STEM_CORRELATION:  # not on its stem (or relabelled away): look for it in the mix
        lag, corr = find_lag(channel_mean(mix), ref, sample_rate=SAMPLE_RATE)
        if corr < MIN_MIX_CORRELATION:
            return None, f"the scene's {layer} clip is not in the mix"
    n = mix.shape[0]
    placed = np.zeros((n, clip.shape[1]))
    a0, b0 = max(0, lag), max(0, -lag)
    m = min(n - a0, clip.shape[0] - b0)
    if m > 0:
        placed[a0 : a0 + m] = clip[b0 : b0 + m]
    return placed, f"mix.wav (the scene's {layer} clip found in it at {lag / SAMPLE_RATE:+.3f} s)"


def heard_layers(ctx: CheckContext) -> HeardLayers | None:
    """The dialogue, music and ambience as heard in ``mix.wav`` (computed once per run, kept in the context).

    Parameters
    ----------
    ctx : CheckContext

    Returns
    -------
    HeardLayers or None
        None when ``mix.wav`` or the dialogue stem cannot be read, or the stems are estimates of a
        premix (then the estimate already comes from the mix).

    Notes
    -----
    See the module's docstring. A layer the scene's clip explains counts as that layer wherever the
    learner wrote it, so stems can say which layer is at fault but cannot excuse what the mix has.
    """
    with key_lock(ctx, "heard"):
        return _heard_layers(ctx)


def prefetch_bed_lags(ctx: CheckContext) -> None:
    """Find the ambience as heard in ``mix.wav``, and where the music stem has its clip, ahead of :func:`heard_layers`.

    :func:`heard_layers` (which masking, band audibility, ducking and sync all wait for) finds each bed in
    turn: where its stem has the scene's clip (:func:`~layerlab.checks.context.stem_clip_lag`, an FFT
    correlation over +-5 s) and its gain in the mix. :func:`layerlab.checks.run_checks` starts this on its
    second thread while the first finds the SFX onsets and then the music, so the two beds are found at once.
    Each piece is kept in the context under the lock and key :func:`heard_layers` uses, so the report is the
    same as when the checks run in turn (issue #17).
    """
    dl = ctx.deliverable
    if not (dl.files["mix"].usable and dl.files["dialogue"].usable and not dl.estimated) or "heard" in ctx.data:
        return
    _heard_bed(ctx, "ambience")  # heard_layers takes the music first: the first thread finds that one
    lk = key_lock(ctx, ("heard_bed", "music"))
    if lk.acquire(blocking=False):  # the music too, unless the first thread is already on it
        try:
            if dl.files["music"].usable:
                n = min(dl.audio("mix").shape[0], dl.audio("dialogue").shape[0])
                stem_clip_lag(ctx, "music", dl.audio("music")[:n])
        finally:
            lk.release()


def _heard_inputs(ctx: CheckContext):
    """``(mix, dialogue, n)``: both as float64, cut to their common length ``n`` (kept in the context)."""
    with key_lock(ctx, "heard_inputs"):
        if "heard_inputs" not in ctx.data:
            dl = ctx.deliverable
            mix = dl.audio("mix").astype(np.float64)
            dlg = dl.audio("dialogue").astype(np.float64)
            n = min(mix.shape[0], dlg.shape[0])
            ctx.data["heard_inputs"] = (mix[:n], dlg[:n], n)
        return ctx.data["heard_inputs"]


def _heard_bed(ctx: CheckContext, layer: str):
    """One bed as heard in the mix: ``(note, bed, reference, on_dialogue)`` (``bed`` None where its clip is not found).

    ``on_dialogue`` is what of the bed the dialogue stem holds (to take out of it), or None. Computed once per run.
    """
    with key_lock(ctx, ("heard_bed", layer)):
        with ctx.lock:
            kept = ctx.data.setdefault("heard_beds", {})
        if layer in kept:
            return kept[layer]
        if "heard" in ctx.data:  # the heard layers were made meanwhile (a prefetch that came late): nothing to find
            return (None, None, None, None)
        mix, dlg, n = _heard_inputs(ctx)
        dl = ctx.deliverable
        stem = dl.audio(layer)[:n] if dl.files[layer].usable else None
        placed, note = _placed_clip(ctx, layer, stem, mix)
        if placed is None:
            out = (note, None, None, None)
        else:
            y = placed[:, [c % placed.shape[1] for c in range(mix.shape[1])]]
            g = np.stack([windowed_gain(mix[:, c : c + 1], y[:, c : c + 1]) for c in range(y.shape[1])], axis=1)
            on_dialogue = None
            # a bed written on the dialogue stem is that bed, not dialogue
            ym, dm = channel_mean(y), channel_mean(dlg)
            den = float(np.sqrt(np.sum(ym * ym) * np.sum(dm * dm)))
            if den > 0 and abs(float(np.sum(ym * dm))) / den >= 0.05:
                on_dialogue = np.stack([windowed_gain(dlg[:, c : c + 1], y[:, c : c + 1]) for c in range(y.shape[1])],
                                       axis=1) * y
            out = (note, (g * y).astype(np.float32), y.astype(np.float32), on_dialogue)
        with ctx.lock:
            kept[layer] = out
        return out


def drop_working_data(ctx: CheckContext) -> None:
    """Forget the float64 mix and dialogue and the beds found for :func:`heard_layers` (called once the checks are done).

    :func:`heard_layers` drops them when it has made the layers; a bed found ahead on the second check thread
    (:func:`prefetch_bed_lags`) for a run where no check asks for the heard layers, or found after they were
    made, would otherwise stay in the report (lesson 06 keeps five reports).
    """
    with ctx.lock:
        ctx.data.pop("heard_inputs", None)
        ctx.data.pop("heard_beds", None)


def _heard_layers(ctx: CheckContext) -> HeardLayers | None:
    if "heard" in ctx.data:
        return ctx.data["heard"]
    dl = ctx.deliverable
    out = None
    if dl.files["mix"].usable and dl.files["dialogue"].usable and not dl.estimated:
        mix, dlg, n = _heard_inputs(ctx)
        beds, refs, notes = {}, {}, {}
        clean = dlg.copy()
        for layer in ("music", "ambience"):  # each found once per run (_heard_bed), maybe on the other thread
            note, bed, ref, on_dialogue = _heard_bed(ctx, layer)
            notes[layer] = note if bed is not None else f"stems/{layer}.wav ({note})"
            if bed is None:
                continue
            beds[layer] = bed
            refs[layer] = ref
            if on_dialogue is not None:
                clean -= on_dialogue
        gd = windowed_gain(mix, clean) if np.any(clean) else np.zeros(n)
        notes["dialogue"] = "the dialogue stem at its gain in mix.wav"
        out = HeardLayers((gd[:, None] * clean).astype(np.float32), clean.astype(np.float32), beds, refs, notes)
    ctx.data["heard"] = out
    drop_working_data(ctx)  # the float64 pieces are not kept with the report (lesson 06 keeps five)
    return out


def heard_activity(ctx: CheckContext):
    """When the dialogue speaks: from the dialogue stem without what the beds' clips explain.

    Returns
    -------
    Activity or None
        The stem's own activity (:func:`layerlab.checks.context.get_activity`) when the beds
        explain less than 1% of its energy, else the activity of the cleaned stem (music written
        on the dialogue stem must not read as speech). None without a dialogue stem.
    """
    with key_lock(ctx, "heard_activity"):
        return _heard_activity(ctx)


def _heard_activity(ctx: CheckContext):
    from layerlab.checks.context import get_activity
    from layerlab.measure.masking import dialogue_activity

    if "heard_activity" in ctx.data:
        return ctx.data["heard_activity"]
    act = get_activity(ctx)
    heard = heard_layers(ctx)
    if act is not None and heard is not None:
        stem = ctx.deliverable.audio("dialogue")[: heard.dialogue_clean.shape[0]].astype(np.float64)
        e_stem = float(np.sum(stem * stem))
        e_removed = float(np.sum((stem - heard.dialogue_clean) ** 2))
        if e_stem > 0 and e_removed > 0.01 * e_stem:
            act = dialogue_activity(heard.dialogue_clean, sample_rate=SAMPLE_RATE)
    ctx.data["heard_activity"] = act
    return act


def find_clip_near(x: np.ndarray, clip: np.ndarray, *, cue: int, window: int,
                   min_overlap_s: float = 0.5) -> tuple[int, float]:
    """Where a clip sits in a signal near its cue, and how well it matches there: the one measure of "is this
    scene's own clip here" that the dialogue found in the mix and the SFX sync check share.

    Parameters
    ----------
    x : np.ndarray, shape (n,)
        The mix or a stem, mono (float64).
    clip : np.ndarray, shape (m,), or SceneClip
        The scene's clip, mono (float64), or as kept decoded (:func:`layerlab.checks.context.scene_clip`).
    cue : int
        Where the clip should start in ``x``, in samples.
    window : int
        Samples searched on either side of the cue.
    min_overlap_s : float
        Shortest overlap of clip and segment considered (:func:`layerlab.checks.context.find_lag`).

    Returns
    -------
    (int, float)
        The sample of ``x`` where the clip starts at the best lag, and the normalised waveform
        correlation there (``sum(x * clip) / sqrt(sum(x**2) * sum(clip**2))`` over the overlap: 1 for
        the clip itself at any gain, about 0 for another take of the same sound). ``(cue, 0.0)``
        when less than 100 ms of ``x`` lies around the cue.

    Notes
    -----
    :func:`layerlab.checks.context.find_lag` on ``x[cue - window : cue + m + window]``: an FFT of a
    few thousand points per cue, never of the whole file. Taught with masking and sync in
    ``lessons/08_measuring_the_mix.ipynb``.
    """
    n, m = x.size, (clip.mono if isinstance(clip, SceneClip) else clip).size
    a = max(0, cue - window)
    b = min(n, cue + m + window)
    if b - a < SAMPLE_RATE // 10:
        return cue, 0.0
    lag, corr = find_lag(x[a:b], clip, sample_rate=SAMPLE_RATE, max_lag_s=(cue - a + window) / SAMPLE_RATE,
                         min_overlap_s=min_overlap_s)
    return a + lag, corr


MIN_LINE_CORRELATION = 0.5
"""A cued line whose clip correlates less than this with mix.wav (minus the found beds) near its cue is not there.

A line at its cue in an honest mix correlates 0.7-1 (0.58 under other music 3 dB louder than it); another eSpeak
take of the same words (pitch and rate moved, as in a classmate's variant) correlates 0.1-0.35 at its best lag."""


@dataclass
class FoundDialogue:
    """The scene's own dialogue clips as found in ``mix.wav``.

    Attributes
    ----------
    dialogue : np.ndarray, shape (n_samples, n_channels)
        The found lines' clips placed where the mix has them, at their gain in the mix (least squares
        in 300 ms windows): the dialogue the listener hears, whatever stem it was written on, and
        nothing else (music written on the dialogue stem is not in it).
    found : dict of str to float
        Line id to where it was found, in ms after its cue.
    missing : list of str
        Cued lines starting inside mix.wav whose clip is not in it within the search window of their cue.
    correlation : dict of str to float
        Line id to the normalised waveform correlation at the best lag.
    """

    dialogue: np.ndarray
    found: dict = field(default_factory=dict)
    missing: list = field(default_factory=list)
    correlation: dict = field(default_factory=dict)

    @property
    def n_cued(self) -> int:
        return len(self.found) + len(self.missing)

    @property
    def is_this_scenes(self) -> bool:
        """At least half of the cued lines (and at least one) are found: the mix carries this scene's dialogue."""
        return bool(self.found) and len(self.found) >= 0.5 * self.n_cued


def found_dialogue(ctx: CheckContext) -> FoundDialogue | None:
    """Find each cued dialogue line's own clip in ``mix.wav`` near its cue (computed once per run).

    Parameters
    ----------
    ctx : CheckContext
        Its ``search_window_ms`` bounds the search on either side of each cue.

    Returns
    -------
    FoundDialogue or None
        None without a usable ``mix.wav``, for estimated stems, or when no cued line has a readable clip.

    Notes
    -----
    Each line's clip is cross-correlated (waveforms, :func:`layerlab.checks.context.find_lag`) with
    ``mix.wav`` less the beds found by :func:`heard_layers`, over lags of ± the search window around
    its cue. A line is found when the normalised correlation reaches :data:`MIN_LINE_CORRELATION`.
    Where it sits is left to the ``dialogue_sync`` check; here it says *what* is heard as this
    scene's dialogue. In an assessed variant each learner's lines are their own takes, so a
    classmate's dialogue is not found at all. Taught with masking in ``lessons/08_measuring_the_mix.ipynb``.
    """
    with key_lock(ctx, "found_dialogue"):
        return _found_dialogue(ctx)


def _found_dialogue(ctx: CheckContext) -> FoundDialogue | None:
    if "found_dialogue" in ctx.data:
        return ctx.data["found_dialogue"]
    dl = ctx.deliverable
    out = None
    if dl.files["mix"].usable and not dl.estimated and ctx.cues.dialogue:
        mix = dl.audio("mix").astype(np.float64)
        n, nch = mix.shape
        heard = heard_layers(ctx)
        rest = mix.copy()
        if heard is not None:
            for bed in heard.beds.values():
                rest[: bed.shape[0]] -= bed[:n]
        mono = rest.mean(axis=1)
        w = int(round(ctx.search_window_ms / 1000.0 * SAMPLE_RATE))
        placed = np.zeros((n, nch))
        found, missing, corrs = {}, [], {}
        any_clip = False
        for ln in ctx.cues.dialogue:
            lid = str(ln.get("id"))
            ref = scene_clip_of(ctx.cues, ln.get("clip"))
            try:
                cue = int(round(float(ln.get("start_s")) * SAMPLE_RATE))
            except (TypeError, ValueError):
                continue
            if ref is None or cue >= n:  # past the end of mix.wav (a cut-short file: its own gate says so)
                continue
            any_clip = True
            cm = ref.audio.astype(np.float64)
            start, corr = find_clip_near(mono, ref, cue=cue, window=w)  # ref.mono: cm.mean(axis=1)
            corrs[lid] = corr
            if corr < MIN_LINE_CORRELATION or abs(start - cue) > w:
                missing.append(lid)
                continue
            found[lid] = 1000.0 * (start - cue) / SAMPLE_RATE
            s0, c0 = max(0, start), max(0, -start)
            m = min(n - s0, cm.shape[0] - c0)
            if m > 0:
                placed[s0 : s0 + m] += cm[c0 : c0 + m][:, [c % cm.shape[1] for c in range(nch)]]
        if any_clip:
            g = np.stack([windowed_gain(rest[:, c : c + 1], placed[:, c : c + 1]) for c in range(nch)], axis=1)
            out = FoundDialogue((g * placed).astype(np.float32), found, missing, corrs)
    ctx.data["found_dialogue"] = out
    return out


def found_activity(ctx: CheckContext):
    """When this scene's dialogue speaks in ``mix.wav``: the activity of :attr:`FoundDialogue.dialogue`.

    Returns
    -------
    Activity or None
        None unless :func:`found_dialogue` finds at least half of the cued lines.
    """
    from layerlab.measure.masking import dialogue_activity

    with key_lock(ctx, "found_activity"):
        if "found_activity" not in ctx.data:
            fd = found_dialogue(ctx)
            ok = fd is not None and fd.is_this_scenes and np.any(fd.dialogue)
            ctx.data["found_activity"] = dialogue_activity(fd.dialogue, sample_rate=SAMPLE_RATE) if ok else None
        return ctx.data["found_activity"]


def found_rest(ctx: CheckContext, *, without: tuple = ("ambience",)) -> np.ndarray | None:
    """``mix.wav`` less this scene's dialogue as found and the beds named in ``without`` (those found).

    Used for music the scene's clip does not explain: whatever the mix holds besides the scene's
    dialogue (and ambience) is heard under the dialogue, whichever stem it was written on.
    Returns None unless :func:`found_dialogue` finds at least half of the cued lines.
    """
    fd = found_dialogue(ctx)
    heard = heard_layers(ctx)
    if fd is None or not fd.is_this_scenes or not ctx.deliverable.files["mix"].usable:
        return None
    mix = ctx.deliverable.audio("mix").astype(np.float64)
    n = min(mix.shape[0], fd.dialogue.shape[0])
    rest = mix[:n] - fd.dialogue[:n]
    if heard is not None:
        for k in without:
            if k in heard.beds:
                rest -= heard.beds[k][:n]
    return rest.astype(np.float32)
