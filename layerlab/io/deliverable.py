"""Read a learner's deliverable folder robustly, one status per file.

A deliverable is what :func:`layerlab.mix.session.export_deliverable` writes::

    mix.wav
    stems/dialogue.wav  stems/sfx.wav  stems/ambience.wav  stems/music.wav
    session.json        (optional for grading)

Reading never stops at the first problem: every file gets a
:class:`FileStatus` listing its :class:`Problem` s (empty, not audio, truncated,
NaN, silent, wrong rate or channel count, 8-bit or 64-bit samples, too long,
clipped, wrong length), each with a message that names the file and says how
to fix it. Files that can still be analysed are converted for analysis
(resampled to 48 kHz, remixed to stereo, padded or cut to the mix's length) so
the other checks still run; the problems stay on record for the ``format``
check.

Taught in ``lessons/07_four_layers.ipynb`` (exporting a deliverable); used
by ``layerlab check`` and the autograder.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf

from layerlab.io.audio import (MAX_CHANNELS, SAMPLE_RATE, WAV_FORMATS, misnamed_wav_message, remix_channels,
                               resample_audio, wav_layout)
from layerlab.errors import SessionError

__all__ = [
    "STEM_NAMES",
    "MAX_DURATION_S",
    "SCENE_SLACK_S",
    "scene_cap_s",
    "Problem",
    "FileStatus",
    "Deliverable",
    "read_deliverable",
    "find_clipping",
]

STEM_NAMES = ("dialogue", "sfx", "ambience", "music")
"""The four stems of a deliverable, in layer order."""

MAX_DURATION_S = 600.0
"""Files longer than this (from the header) are refused before decoding."""
SCENE_SLACK_S = 30.0
"""With the scene's length known, a file may declare (from its header) at most ``max(2 x scene, scene + SCENE_SLACK_S)``
seconds, and at most that many seconds of 48 kHz audio in :data:`MAX_CHANNELS` channels (frames x channels), before
it is refused undecoded; a file a little off the scene's length is still read (the length check says by how much)."""


def scene_cap_s(duration_s: float | None, *, max_duration_s: float = MAX_DURATION_S) -> float:
    """The longest a deliverable file may declare itself, in seconds, before it is refused undecoded.

    Parameters
    ----------
    duration_s : float or None
        The scene's length in seconds (None: unknown, only ``max_duration_s`` bounds it).
    max_duration_s : float
        The absolute cap in seconds.

    Returns
    -------
    float
        ``min(max_duration_s, max(2 x duration_s, duration_s + SCENE_SLACK_S))``. The declared samples
        (frames x channels) are capped at this many seconds of 48 kHz audio in :data:`MAX_CHANNELS` channels.

    Notes
    -----
    Used by :func:`read_deliverable`, taught in ``lessons/07_four_layers.ipynb``.
    """
    if duration_s is None:
        return float(max_duration_s)
    return float(min(max_duration_s, max(2.0 * duration_s, duration_s + SCENE_SLACK_S)))


_GOOD_SUBTYPES = {"PCM_16", "PCM_24", "PCM_32", "FLOAT"}
_KNOWN = {"mix.wav", "session.json", "stems"} | {f"stems/{s}.wav" for s in STEM_NAMES}
_IGNORED_NAMES = {".DS_Store", "Thumbs.db", "desktop.ini", ".ipynb_checkpoints", "__MACOSX"}


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a deliverable.

    Attributes
    ----------
    file : str
        Path relative to the deliverable folder (``"stems/music.wav"``), or
        ``"."`` for the folder itself.
    code : str
        Short machine-readable kind: ``missing``, ``empty``, ``not_audio``,
        ``not_wav`` (another format under a ``.wav`` name), ``format``,
        ``truncated``, ``too_long`` (past :data:`MAX_DURATION_S`, or
        :func:`scene_cap_s` for the scene), ``nan``, ``silent``, ``sample_rate``,
        ``channels``, ``bit_depth``, ``length``, ``clipping``, ``over_full_scale``,
        ``extra_file``, ``misplaced``.
    severity : {"error", "warning"}
        Errors fail the ``format`` check; warnings are reported only.
    message : str
        What is wrong and how to fix it.
    """

    file: str
    code: str
    severity: str
    message: str

    def to_dict(self) -> dict:
        """JSON-ready dictionary."""
        return {"file": self.file, "code": self.code, "severity": self.severity, "message": self.message}


@dataclass
class FileStatus:
    """What was found in one expected file.

    Attributes
    ----------
    name : str
        ``"mix"`` or a stem name.
    relpath : str
        Expected path inside the folder.
    path : Path or None
        Where it was actually found (None when missing).
    audio : np.ndarray, shape (n_samples, 2), float32, or None
        The samples converted for analysis (48 kHz stereo, the deliverable's
        common length); None when the file cannot be used.
    sample_rate, channels, n_frames : int or None
        As stored in the file.
    subtype : str or None
        Sample format as soundfile names it.
    problems : list of Problem
    """

    name: str
    relpath: str
    path: Path | None = None
    audio: np.ndarray | None = None
    sample_rate: int | None = None
    channels: int | None = None
    n_frames: int | None = None
    subtype: str | None = None
    problems: list[Problem] = field(default_factory=list)

    @property
    def usable(self) -> bool:
        """True when there are samples to analyse."""
        return self.audio is not None

    @property
    def errors(self) -> list[Problem]:
        """Problems of severity ``error``."""
        return [p for p in self.problems if p.severity == "error"]

    @property
    def duration_s(self) -> float | None:
        """Length in seconds as stored in the file."""
        if self.n_frames is None or not self.sample_rate:
            return None
        return self.n_frames / self.sample_rate

    def why_unusable(self) -> str:
        """One sentence on why the file cannot be analysed ('' if it can)."""
        if self.usable:
            return ""
        errs = self.errors
        return errs[0].message if errs else f"{self.relpath}: cannot be read."

    def to_dict(self) -> dict:
        """JSON-ready summary (without samples)."""
        return {
            "file": self.relpath,
            "found": self.path is not None,
            "usable": self.usable,
            "sample_rate": self.sample_rate,
            "channels": self.channels,
            "n_frames": self.n_frames,
            "subtype": self.subtype,
            "problems": [p.to_dict() for p in self.problems],
        }


@dataclass
class Deliverable:
    """A deliverable folder as read for grading.

    Attributes
    ----------
    path : Path
    files : dict of str to FileStatus
        Keys ``"mix"``, ``"dialogue"``, ``"sfx"``, ``"ambience"``, ``"music"``.
    folder_problems : list of Problem
        Problems not tied to one expected file (extra files).
    n_samples : int
        The common analysis length (the mix's, or the scene's if the mix is unusable).
    sample_rate : int
        Always 48000: the analysis rate.
    estimated : bool
        True when the stems' samples were estimated from the mix
        (:func:`layerlab.measure.stems.estimate_stems`) because the submission had none.
    """

    path: Path
    files: dict[str, FileStatus]
    folder_problems: list[Problem]
    n_samples: int
    sample_rate: int = SAMPLE_RATE
    estimated: bool = False

    @property
    def problems(self) -> list[Problem]:
        """Every problem, file by file, then the folder's."""
        out = []
        for st in self.files.values():
            out.extend(st.problems)
        return out + list(self.folder_problems)

    @property
    def errors(self) -> list[Problem]:
        """Problems of severity ``error``."""
        return [p for p in self.problems if p.severity == "error"]

    def audio(self, name: str) -> np.ndarray | None:
        """Analysis samples of ``"mix"`` or a stem, shape (n_samples, 2), or None."""
        st = self.files.get(name)
        return None if st is None else st.audio

    def stems_usable(self, *names: str) -> bool:
        """True when all named files can be analysed."""
        return all(self.files[n].usable for n in names)

    def missing_message(self, *names: str) -> str:
        """Why some of the named files cannot be analysed, one sentence each."""
        return " ".join(self.files[n].why_unusable() for n in names if not self.files[n].usable)

    def to_dict(self) -> dict:
        """JSON-ready summary."""
        return {
            "path": str(self.path),
            "files": {k: v.to_dict() for k, v in self.files.items()},
            "folder_problems": [p.to_dict() for p in self.folder_problems],
        }


def find_clipping(audio: np.ndarray, *, level: float = 0.999, min_run: int = 3,
                  flat_tol: float | None = 1e-6) -> tuple[int, int, int | None]:
    """Find hard clipping: flat-topped runs of consecutive samples at or beyond full scale.

    Parameters
    ----------
    audio : np.ndarray, shape (n_samples, n_channels)
    level : float
        Magnitude counted as full scale.
    min_run : int
        Shortest run of such samples that counts as a clipped stretch.
    flat_tol : float or None
        A sample counts only if it is within this of its neighbour: the run is
        flat-topped. Float data a little over full scale is a smooth over (not
        clipping) and is left out; ``None`` counts every sample at ``level``.

    Returns
    -------
    (n_runs, n_samples_clipped, first_sample)
        ``first_sample`` is None when nothing clipped.

    Notes
    -----
    Taught in ``lessons/08_measuring_the_mix.ipynb`` (why peaks are measured as true peak).
    """
    n_runs = 0
    n_clip = 0
    first = None
    for ch in range(audio.shape[1]):
        over = np.abs(audio[:, ch]) >= level
        if not over.any():  # nothing at full scale: the flatness test below could only remove samples
            continue
        if flat_tol is not None:
            x = audio[:, ch]
            flat = np.zeros(x.size, bool)
            same = np.abs(np.diff(x)) <= flat_tol
            flat[1:] |= same
            flat[:-1] |= same
            over &= flat
        if not over.any():
            continue
        a = np.concatenate([[0], over.astype(np.int8), [0]])
        d = np.diff(a)
        starts = np.nonzero(d == 1)[0]
        ends = np.nonzero(d == -1)[0]
        lengths = ends - starts
        keep = lengths >= min_run
        n_runs += int(keep.sum())
        n_clip += int(lengths[keep].sum())
        if keep.any():
            s = int(starts[keep][0])
            first = s if first is None else min(first, s)
    return n_runs, n_clip, first


def _rel(p: Path, root: Path) -> str:
    try:
        return p.relative_to(root).as_posix()
    except ValueError:
        return str(p)


def _locate(root: Path, relpath: str, status: FileStatus) -> Path | None:
    """Find an expected file; tolerate a different case or a stem at the top level (with a warning)."""
    exact = root / relpath
    if exact.is_file():
        return exact
    parent = exact.parent
    want = exact.name.lower()
    if parent.is_dir():
        for cand in parent.iterdir():
            if cand.is_file() and cand.name.lower() == want:
                status.problems.append(Problem(relpath, "misplaced", "warning",
                                               f"{_rel(cand, root)}: found instead of {relpath}; name it exactly {relpath}."))
                return cand
    if relpath.startswith("stems/") and root.is_dir():
        for cand in root.iterdir():
            if cand.is_file() and cand.name.lower() == want:
                status.problems.append(Problem(relpath, "misplaced", "warning",
                                               f"{cand.name}: found at the top of the folder; put it in stems/ as {relpath}."))
                return cand
    return None


def _wav_data_shortfall(path: Path) -> int:
    """Bytes the WAV ``data`` chunk announces beyond the end of the file (0 if complete or not a WAV)."""
    return wav_layout(path).missing_bytes


wav_data_shortfall = _wav_data_shortfall  # public name: layerlab measure flags truncated WAVs with it


def _read_one(root: Path, name: str, relpath: str, max_duration_s: float,
              given: Path | None = None, cap_s: float | None = None) -> tuple[FileStatus, np.ndarray | None]:
    st = FileStatus(name=name, relpath=relpath)
    export_hint = "Export the deliverable again (layerlab.mix.session.export_deliverable writes every file)."
    if given is not None:
        st.relpath = relpath = given.name
    path = given if given is not None else _locate(root, relpath, st)
    if path is None:
        if (root / relpath).is_dir():
            st.problems.append(Problem(relpath, "not_audio", "error", f"{relpath}: is a folder, expected a WAV file. {export_hint}"))
        else:
            what = "the mix" if name == "mix" else f"the {name} stem"
            st.problems.append(Problem(relpath, "missing", "error", f"{relpath}: missing ({what}). {export_hint}"))
        return st, None
    st.path = path
    size = path.stat().st_size
    if size == 0:
        st.problems.append(Problem(relpath, "empty", "error", f"{relpath}: the file is empty (0 bytes). {export_hint}"))
        return st, None
    with open(path, "rb") as fh:
        head = fh.read(12)
    try:
        info = sf.info(str(path))
    except Exception as exc:  # libsndfile's errors are plain RuntimeErrors
        if head[:4] in (b"RIFF", b"RF64", b"RIFX") and head[8:12] == b"WAVE":
            msg = f"{relpath}: the WAV header is damaged or cut short ({str(exc).strip().splitlines()[-1]}). {export_hint}"
            st.problems.append(Problem(relpath, "truncated", "error", msg))
        else:
            st.problems.append(Problem(relpath, "not_audio", "error",
                                       f"{relpath}: is not a WAV audio file (it starts with {head[:8]!r}). "
                                       f"Save it as a WAV (24-bit PCM or 32-bit float). {export_hint}"))
        return st, None
    st.sample_rate = int(info.samplerate)
    st.channels = int(info.channels)
    st.subtype = str(info.subtype)
    st.n_frames = int(info.frames)
    misnamed = misnamed_wav_message(relpath, str(info.format), str(info.format_info))
    if misnamed is not None:  # decoding by content would let a small compressed file cost minutes and gigabytes
        st.problems.append(Problem(relpath, "not_wav", "error", misnamed))
        return st, None
    if info.format not in WAV_FORMATS:  # a lone file given by a name of its own (not .wav)
        st.problems.append(Problem(relpath, "format", "warning",
                                   f"{relpath}: is a {info.format} file, not a WAV; export a real WAV."))
    duration = info.frames / info.samplerate if info.samplerate else 0.0
    if duration > max_duration_s:
        st.problems.append(Problem(relpath, "too_long", "error",
                                   f"{relpath}: is {duration / 60:.1f} minutes long (the header says {info.frames} samples); "
                                   f"files over {max_duration_s / 60:g} minutes are refused. Export only the scene."))
        return st, None
    if cap_s is not None and (duration > cap_s or info.frames * info.channels > cap_s * SAMPLE_RATE * MAX_CHANNELS):
        st.problems.append(Problem(relpath, "too_long", "error",
                                   f"{relpath}: its header declares {info.frames} frames x {info.channels} channels "
                                   f"({duration:.1f} s at {info.samplerate} Hz), more than the scene can need (at most "
                                   f"{cap_s:g} s, of 48 kHz audio in up to {MAX_CHANNELS} channels); it is refused before "
                                   "decoding. Check the render's length and export it again as a 48 kHz stereo WAV of the "
                                   "scene only."))
        return st, None
    if info.channels > MAX_CHANNELS:
        st.problems.append(Problem(relpath, "channels", "error",
                                   f"{relpath}: has {info.channels} channels (at most {MAX_CHANNELS} can be down-mixed); "
                                   "it is refused before decoding. Export it again as a stereo WAV."))
        return st, None
    if info.frames == 0:
        st.problems.append(Problem(relpath, "empty", "error", f"{relpath}: holds no samples (a header only). {export_hint}"))
        return st, None
    if st.subtype in ("PCM_U8", "PCM_S8"):
        st.problems.append(Problem(relpath, "bit_depth", "error",
                                   f"{relpath}: is 8-bit, which adds audible noise (about -48 dBFS); export 24-bit PCM or 32-bit float."))
    elif st.subtype == "DOUBLE":
        st.problems.append(Problem(relpath, "bit_depth", "error",
                                   f"{relpath}: is 64-bit float, which many players and DAWs cannot open; export 24-bit PCM or 32-bit float."))
    elif st.subtype not in _GOOD_SUBTYPES:
        st.problems.append(Problem(relpath, "bit_depth", "error",
                                   f"{relpath}: sample format {st.subtype} is not accepted; export 24-bit PCM or 32-bit float."))
    try:
        data, rate = sf.read(str(path), dtype="float64", always_2d=True)
    except Exception as exc:
        st.problems.append(Problem(relpath, "truncated", "error",
                                   f"{relpath}: the audio data cannot be decoded ({str(exc).strip().splitlines()[-1]}). {export_hint}"))
        return st, None
    if data.shape[0] == 0:
        st.problems.append(Problem(relpath, "empty", "error", f"{relpath}: holds no samples. {export_hint}"))
        return st, None
    short = _wav_data_shortfall(path)
    if data.shape[0] < info.frames or short:
        st.problems.append(Problem(relpath, "truncated", "error",
                                   f"{relpath}: is cut short: its header announces {short} more bytes of audio than the file "
                                   f"holds (only {data.shape[0] / rate:.3f} s are there). The copy or export was interrupted; {export_hint[0].lower()}{export_hint[1:]}"))
    st.n_frames = int(data.shape[0])
    bad = ~np.isfinite(data)
    if bad.any():
        first = int(np.argwhere(bad)[0][0])
        st.problems.append(Problem(relpath, "nan", "error",
                                   f"{relpath}: {int(bad.sum())} samples are NaN or infinite (first at {first / rate:.3f} s); "
                                   "find the processing step that produced them (a division by zero, a log of zero) and export again."))
        return st, None
    peak = float(np.max(np.abs(data)))
    if peak == 0.0:
        if name == "mix":
            st.problems.append(Problem(relpath, "silent", "error", f"{relpath}: is completely silent (every sample is zero). {export_hint}"))
        else:
            st.problems.append(Problem(relpath, "silent", "warning",
                                       f"{relpath}: is completely silent; if the scene has {name}, put it on the {name} layer."))
    runs, n_clip, first = find_clipping(data, level=0.999)  # flat-topped runs only: a float over is not a clip
    if runs:
        sev = "error"
        st.problems.append(Problem(relpath, "clipping", sev,
                                   f"{relpath}: hard clipping: {n_clip} samples in {runs} flat-topped runs at full scale "
                                   f"(first at {first / rate:.3f} s); lower the level before the master or use a limiter "
                                   "with a ceiling of -1 dBTP."))
    elif peak > 1.0:
        # float data over full scale is intact; the true-peak check judges the mix's peaks
        st.problems.append(Problem(relpath, "over_full_scale", "warning",
                                   f"{relpath}: peaks at {20 * np.log10(peak):+.1f} dBFS, over full scale; it will clip when "
                                   "converted to PCM or played. Lower the gain or limit the master."))
    if st.sample_rate != SAMPLE_RATE:
        st.problems.append(Problem(relpath, "sample_rate", "error",
                                   f"{relpath}: is {st.sample_rate} Hz; deliverables are 48000 Hz. Export at 48 kHz "
                                   "(it was resampled here only to measure the rest)."))
    if st.channels != 2:
        kind = {1: "mono", 6: "5.1 (6 channels)"}.get(st.channels, f"{st.channels} channels")
        st.problems.append(Problem(relpath, "channels", "error",
                               f"{relpath}: is {kind}; deliverables are stereo (2 channels). Export a stereo file."))
    audio = data.astype(np.float32)
    if st.sample_rate != SAMPLE_RATE:
        audio = resample_audio(audio, from_rate=st.sample_rate, to_rate=SAMPLE_RATE)
    if audio.shape[1] != 2:  # measured as its stereo down-mix, by the positions in the WAV's channel mask
        positions = wav_layout(path).positions
        audio = remix_channels(audio, channels=2, positions=positions if len(positions) == audio.shape[1] else None,
                               name=relpath)
    return st, audio


def read_deliverable(path, *, duration_s: float | None = None, fps: float | None = None,
                     max_duration_s: float = MAX_DURATION_S) -> Deliverable:
    """Read a deliverable folder; every problem becomes a :class:`Problem`, nothing stops at the first.

    Parameters
    ----------
    path : str or Path
        The folder holding ``mix.wav`` and ``stems/``; or a single audio file,
        read as a mix without stems (a native render).
    duration_s : float, optional
        The scene's length; the mix must match it within one frame.
    fps : float, optional
        The scene's frame rate (for the one-frame tolerance; 24 if omitted).
    max_duration_s : float
        Longer files are refused from their header, before decoding.

    Returns
    -------
    Deliverable

    Raises
    ------
    SessionError
        Only when ``path`` does not exist.

    Notes
    -----
    Taught in ``lessons/07_four_layers.ipynb``.
    """
    root = Path(path)
    if not root.exists():
        raise SessionError(f"{root}: deliverable folder not found. Export it with layerlab.mix.session.export_deliverable(stack, '{root}').")
    single = None
    if root.is_file():  # a lone mix (a native render): no stems
        single, root = root, root.parent
    files: dict[str, FileStatus] = {}
    raw: dict[str, np.ndarray | None] = {}
    for name, rel in [("mix", "mix.wav")] + [(s, f"stems/{s}.wav") for s in STEM_NAMES]:
        if single is not None and name != "mix":
            st = FileStatus(name=name, relpath=rel)
            st.problems.append(Problem(rel, "missing", "error",
                                       f"{rel}: missing: only a single premixed file ({single.name}) was given. "
                                       "Hand in a deliverable folder with mix.wav and the four stems."))
            files[name], raw[name] = st, None
            continue
        st, audio = _read_one(root, name, rel, max_duration_s, given=single if name == "mix" else None,
                              cap_s=scene_cap_s(duration_s, max_duration_s=max_duration_s))
        files[name] = st
        raw[name] = audio
    folder_problems: list[Problem] = []
    used = {st.path.resolve() for st in files.values() if st.path is not None}
    for p in ([] if single is not None else sorted(root.rglob("*"))):
        rel = _rel(p, root)
        if any(part in _IGNORED_NAMES or part.startswith(".") for part in Path(rel).parts):
            continue
        if p.is_dir() or rel in _KNOWN or p.resolve() in used:
            continue
        folder_problems.append(Problem(rel, "extra_file", "warning",
                                       f"{rel}: not part of a deliverable and was ignored (expected mix.wav, stems/*.wav, session.json)."))
    # common analysis length
    frame_s = 1.0 / (fps or 24.0)
    if raw["mix"] is not None:
        n_ref = raw["mix"].shape[0]
    elif duration_s is not None:
        n_ref = int(round(duration_s * SAMPLE_RATE))
    else:
        lens = [a.shape[0] for a in raw.values() if a is not None]
        n_ref = max(lens) if lens else 0
    mix_st = files["mix"]
    if duration_s is not None and mix_st.n_frames is not None and mix_st.sample_rate:
        d = mix_st.n_frames / mix_st.sample_rate
        if abs(d - duration_s) > frame_s + 1e-9:
            mix_st.problems.append(Problem(mix_st.relpath, "length", "error",
                                           f"{mix_st.relpath}: is {d:.3f} s long, the scene is {duration_s:.3f} s "
                                           f"({(d - duration_s) * 1000:+.0f} ms, more than one frame = {frame_s * 1000:.1f} ms); "
                                           f"render exactly {duration_s:g} s."))
    for name in STEM_NAMES:
        st = files[name]
        a = raw[name]
        if a is None:
            continue
        ref_len_s = (mix_st.n_frames / mix_st.sample_rate) if (mix_st.n_frames and mix_st.sample_rate) else (
            duration_s if duration_s is not None else None)
        if ref_len_s is not None and st.n_frames is not None and st.sample_rate:
            d = st.n_frames / st.sample_rate
            diff_ms = (d - ref_len_s) * 1000.0
            if abs(diff_ms) > 0.5 * 1000.0 / SAMPLE_RATE:
                against = "mix.wav" if mix_st.n_frames else "the scene"
                st.problems.append(Problem(st.relpath, "length", "error",
                                           f"{st.relpath}: is {abs(diff_ms):.1f} ms {'longer' if diff_ms > 0 else 'shorter'} than "
                                           f"{against}; export every stem from the same render as the mix so they line up."))
    for name, a in raw.items():
        if a is None:
            continue
        if a.shape[0] < n_ref:
            a = np.concatenate([a, np.zeros((n_ref - a.shape[0], a.shape[1]), np.float32)])
        elif a.shape[0] > n_ref:
            a = a[:n_ref]
        files[name].audio = np.ascontiguousarray(a, dtype=np.float32)
    return Deliverable(path=root, files=files, folder_problems=folder_problems, n_samples=n_ref)
