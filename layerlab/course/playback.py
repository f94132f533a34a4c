"""Level-true playback in notebooks.

``IPython.display.Audio`` peak-normalises by default, which hides every level
and ducking difference a lesson wants you to hear. The players here never
normalise, never autoplay, and serve clips longer than a few seconds from a
WAV file next to the notebook instead of embedding base64 in it (which bloats
notebooks and can hit the IOPub rate limit).

Taught in ``lessons/00_start_here.ipynb`` (how to listen).
"""

from __future__ import annotations

import base64
import hashlib
import html
import io
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from layerlab.io.audio import SAMPLE_RATE, validate_audio

EMBED_MAX_S = 5.0
"""Clips up to this length are embedded in the notebook; longer ones are served from a file."""

AUDIO_DIR = "_layerlab_audio"
"""Folder (beside the notebook, i.e. the working directory) where served clips are written.

The browser can only fetch files under the Jupyter server's root, so the
folder sits beside the notebook; it is kept small (:data:`AUDIO_DIR_MAX_BYTES`,
:data:`AUDIO_DIR_MAX_FILES`, oldest files removed first) and the course's
``nbgrader_config.py`` leaves it out of submissions."""

AUDIO_DIR_MAX_BYTES = 40_000_000
"""The served-clip folder is pruned (least recently used first) to stay under this many bytes.

nbgrader refuses to submit a folder over 100 MB (``CourseDirectory.max_dir_size``),
ignored files included; ten 20-second previews fit."""

AUDIO_DIR_MAX_FILES = 24
"""...and under this many files."""


@dataclass
class Player:
    """A level-true audio player that renders as HTML in Jupyter.

    Attributes
    ----------
    src : str
        A ``data:`` URI or a path relative to the notebook.
    label : str
    clipped_samples : int
        How many samples were beyond full scale and clipped on the way to the
        player (what you hear is what a converter would play).
    peak_dbfs : float
    path : Path or None
        The served file on disk (``None`` when embedded).
    """

    src: str
    label: str = ""
    clipped_samples: int = 0
    peak_dbfs: float = float("-inf")
    path: Path | None = None

    def _repr_html_(self) -> str:
        note = f" <b>{self.clipped_samples} samples clipped</b>" if self.clipped_samples else ""
        peak = "silence" if not np.isfinite(self.peak_dbfs) else f"peak {self.peak_dbfs:.1f} dBFS"
        label = f"<b>{html.escape(self.label)}</b> " if self.label else ""
        return (
            f'<div class="layerlab-player">{label}<audio controls preload="metadata" '
            f'src="{html.escape(self.src)}"></audio> <small>level-true, {peak}{note}</small></div>'
        )


def play(audio, *, sample_rate: int = SAMPLE_RATE, label: str = "", embed_max_s: float = EMBED_MAX_S,
         audio_dir=AUDIO_DIR, slot: str | None = None) -> Player:
    """Make a level-true player for an array.

    Parameters
    ----------
    audio : np.ndarray, shape (n_samples, n_channels)
    sample_rate : int
    label : str
        Shown beside the player.
    embed_max_s : float
        Embed clips up to this length; write longer ones to ``audio_dir``.
    audio_dir : str or Path
        Folder (relative to the notebook) for served clips. Files are named by
        content hash, so re-running a cell does not pile up copies, and the
        folder is pruned to :data:`AUDIO_DIR_MAX_BYTES` / :data:`AUDIO_DIR_MAX_FILES`
        (least recently used first).
    slot : str, optional
        Serve from ``<slot>.wav``, overwritten on every call: one file per
        player that refreshes (the mixer's preview), however often it does.
        The ``src`` carries the content hash as a query so the browser
        fetches the new audio.

    Returns
    -------
    Player
        Displays as an HTML ``<audio>`` element (no autoplay, no normalisation).

    Notes
    -----
    Taught in ``lessons/00_start_here.ipynb``.
    """
    x = validate_audio(audio, name=label or "audio")
    peak = float(np.max(np.abs(x))) if x.size else 0.0
    clipped = int(np.count_nonzero(np.abs(x) > 1.0))
    pcm = (np.clip(x, -1.0, 1.0) * 32767.0).round().astype("<i2")
    buf = io.BytesIO()
    sf.write(buf, pcm, int(sample_rate), format="WAV", subtype="PCM_16")
    data = buf.getvalue()
    peak_dbfs = 20 * np.log10(peak) if peak > 0 else float("-inf")
    if x.shape[0] / sample_rate <= embed_max_s:
        src = "data:audio/wav;base64," + base64.b64encode(data).decode("ascii")
        target = None
    else:
        folder = Path(audio_dir)
        folder.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha1(data).hexdigest()[:16]
        name = f"slot-{_safe_slot(slot)}.wav" if slot else digest + ".wav"
        target = folder / name
        if slot or not target.exists():
            _write_atomic(target, data)
        else:
            os.utime(target)  # recently used: pruned last
        src = (Path(audio_dir) / name).as_posix() + (f"?v={digest}" if slot else "")
        prune_audio_dir(folder, keep=target)
    return Player(src=src, label=label, clipped_samples=clipped, peak_dbfs=peak_dbfs, path=target)


def prune_audio_dir(folder=AUDIO_DIR, *, keep=None, max_bytes: int = AUDIO_DIR_MAX_BYTES,
                    max_files: int = AUDIO_DIR_MAX_FILES) -> list:
    """Remove the least recently used served files until the folder is within its bounds.

    Parameters
    ----------
    folder : str or Path
        The served-clip folder (:data:`AUDIO_DIR`).
    keep : Path, optional
        A file never removed (the one just written).
    max_bytes, max_files : int
        The bounds.

    Returns
    -------
    list of Path
        The files removed.

    Notes
    -----
    Only the files players serve are considered (``<16 hex digits>.wav``,
    ``slot-<name>.wav`` and the mixer's ``preview_<hash>.mp4``), directly in
    ``folder``: anything else a lesson or learner put there is left alone. A
    player whose file was pruned plays again when its cell is re-run. Taught in
    ``lessons/00_start_here.ipynb`` (how to listen).
    """
    folder = Path(folder)
    keep = Path(keep).resolve() if keep is not None else None
    try:
        entries = [(p.stat().st_mtime, p.stat().st_size, p) for p in folder.iterdir()
                   if p.is_file() and _SERVED.match(p.name)]
    except OSError:
        return []
    entries.sort(key=lambda e: e[0])
    total = sum(e[1] for e in entries)
    count = len(entries)
    removed = []
    for _mtime, size, p in entries:
        if total <= max_bytes and count <= max_files:
            break
        if keep is not None and p.resolve() == keep:
            continue
        try:
            p.unlink()
        except OSError:
            continue
        removed.append(p)
        total -= size
        count -= 1
    return removed


_SERVED = re.compile(r"^(?:[0-9a-f]{16}\.wav|slot-[A-Za-z0-9_-]+\.wav|preview_[0-9a-f]{12}\.(?:mp4|wav))$")


def _safe_slot(slot: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in str(slot))[:60] or "player"


def _write_atomic(path: Path, data: bytes) -> None:
    """Write bytes through a temporary file and ``os.replace``, so a player never fetches half a file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


@dataclass
class ABPlayer:
    """Two (or more) level-true players side by side, with their loudness, for comparison.

    Attributes
    ----------
    players : list of Player
    loudness_lufs : list of float
    """

    players: list
    loudness_lufs: list

    def _repr_html_(self) -> str:
        cells = []
        for p, lufs in zip(self.players, self.loudness_lufs):
            level = f"{lufs:.1f} LUFS" if np.isfinite(lufs) else "silence"
            cells.append(f'<td style="padding:4px 12px">{p._repr_html_()}<small>integrated {level}</small></td>')
        return '<table class="layerlab-ab"><tr>' + "".join(cells) + "</tr></table>"


def ab(a, b, *more, labels=("A", "B"), sample_rate: int = SAMPLE_RATE, audio_dir=AUDIO_DIR) -> ABPlayer:
    """Level-true A/B (or A/B/C...) players with each version's integrated loudness.

    Parameters
    ----------
    a, b, *more : np.ndarray, shape (n_samples, n_channels)
        The versions to compare.
    labels : sequence of str
        One label per version.
    sample_rate : int
    audio_dir : str or Path
        Where long clips are written (see :func:`play`).

    Returns
    -------
    ABPlayer

    Notes
    -----
    Taught in ``lessons/06_native_vs_postgen.ipynb``.
    """
    from layerlab.measure.loudness import integrated_loudness

    versions = (a, b, *more)
    labels = list(labels) + [chr(ord("A") + i) for i in range(len(labels), len(versions))]
    players, levels = [], []
    for audio, label in zip(versions, labels):
        players.append(play(audio, sample_rate=sample_rate, label=label, audio_dir=audio_dir))
        levels.append(integrated_loudness(validate_audio(audio, name=label), sample_rate=sample_rate))
    return ABPlayer(players=players, loudness_lufs=levels)
