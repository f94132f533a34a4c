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
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from layerlab.io.audio import SAMPLE_RATE, validate_audio

EMBED_MAX_S = 5.0
"""Clips up to this length are embedded in the notebook; longer ones are served from a file."""

AUDIO_DIR = "_layerlab_audio"
"""Folder (beside the notebook, i.e. the working directory) where served clips are written."""


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
    """

    src: str
    label: str = ""
    clipped_samples: int = 0
    peak_dbfs: float = float("-inf")

    def _repr_html_(self) -> str:
        note = f" <b>{self.clipped_samples} samples clipped</b>" if self.clipped_samples else ""
        peak = "silence" if not np.isfinite(self.peak_dbfs) else f"peak {self.peak_dbfs:.1f} dBFS"
        label = f"<b>{html.escape(self.label)}</b> " if self.label else ""
        return (
            f'<div class="layerlab-player">{label}<audio controls preload="metadata" '
            f'src="{html.escape(self.src)}"></audio> <small>level-true, {peak}{note}</small></div>'
        )


def play(audio, *, sample_rate: int = SAMPLE_RATE, label: str = "", embed_max_s: float = EMBED_MAX_S,
         audio_dir=AUDIO_DIR) -> Player:
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
        content hash, so re-running a cell does not pile up copies.

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
    else:
        folder = Path(audio_dir)
        folder.mkdir(parents=True, exist_ok=True)
        name = hashlib.sha1(data).hexdigest()[:16] + ".wav"
        target = folder / name
        if not target.exists():
            target.write_bytes(data)
        src = (Path(audio_dir) / name).as_posix()
    return Player(src=src, label=label, clipped_samples=clipped, peak_dbfs=peak_dbfs)


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
