"""A scene of their own for each learner: per-learner variants of the assessed labs.

nbgrader gives every learner the same files (its issue #1153), so one learner's
deliverable, session or findings could be handed round the class. For the
assessed labs the kit therefore derives, from a course secret and the learner's
id, a variant of the lab's scene:

- ``lab1_audit``: which layers of the native render carry a flaw and how big it
  is (each dialogue line's offset, an SFX late or missing, the music's level under
  each line, integrated loudness, a dialogue band limit, an ambience dropout);
- ``lab2_hybrid_mix``: the learner's own takes of every clip, the clip levels of each layer and the times of the
  picture events and dialogue cues (the picture is redrawn for each variant).

Parameters come from HMAC-SHA256(course secret, "<lab>:<student id>") (RFC 2104),
so the same secret and id always give byte-identical files, and nobody without
the secret can predict a variant. Each variant has a **public** folder the
learner receives (audio, video, a cue sheet without gains or true values) and a
``truth.json`` that stays in the instructor's course folder.

Course layout (``layerlab variants build LAB --course DIR``)::

    DIR/variants/secret                                the course secret (mode 0600)
    DIR/variants/<lab>/<student>/truth.json            the complete cue sheet (instructor only)
    DIR/variants/<lab>/<student>/public/scenes/<scene>/   the public variant (the grader's copy)
    EXCHANGE/<course id>/layerlab-variants/<lab>/<student>/scenes/<scene>/   published for the learner

Nothing of a variant is in ``source/`` or ``release/``: nbgrader's release, fetch and
submit carry only the lab's notebook and shared files. The public variants are
published to nbgrader's own exchange (``c.Exchange.root``, per course id), with the
permissions nbgrader gives its ``outbound/`` (folders 0755, files 0644: readable by
learners, writable by the instructor only). A lab's set-up cell calls
:func:`learner_scene_root`, which copies the learner's own published variant into the
learner's cache (``$XDG_CACHE_HOME/layerlab``, else ``~/.cache/layerlab``: outside the
assignment folder, so ``nbgrader submit`` never carries it back). The grader
(:mod:`layerlab.grading.batch`) re-runs and measures each submission against the variant
of the student id in the gradebook, never one named by the submission. Documented for
instructors in ``autograder/README.md``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import secrets
import shutil
import struct
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

from layerlab.errors import InputError
from layerlab.paths import REPO_ROOT

ASSESSED = {"lab1_audit": "cafe_dialogue", "lab2_hybrid_mix": "cafe_dialogue"}
"""The labs that have per-learner variants, and the scene each starts from."""

VARIANT_FORMAT = 5
"""Bumped when the derivation or the synthesis changes (cached variants are rebuilt)."""

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,127}$")


class VariantError(InputError):
    """A variant cannot be derived or found (unknown lab, bad student id, missing secret)."""


class _Draw:
    """Uniform draws from an HMAC-SHA256 key stream (counter mode): portable and exact."""

    def __init__(self, key: bytes, label: str):
        self.key, self.label, self.n = key, label.encode(), 0

    def u(self) -> float:
        """A number in [0, 1) from the next 53 bits of the stream."""
        block = hmac.new(self.key, self.label + struct.pack(">Q", self.n), hashlib.sha256).digest()
        self.n += 1
        return (int.from_bytes(block[:8], "big") >> 11) / float(1 << 53)

    def uniform(self, lo: float, hi: float, step: float) -> float:
        k = int((hi - lo) / step + 1e-9) + 1
        return round(lo + step * min(k - 1, int(self.u() * k)), 6)

    def integer(self, lo: int, hi: int) -> int:
        return lo + min(hi - lo, int(self.u() * (hi - lo + 1)))

    def chance(self, p: float) -> bool:
        return self.u() < p

    def choice(self, seq):
        return seq[min(len(seq) - 1, int(self.u() * len(seq)))]


@dataclass(frozen=True)
class VariantParams:
    """The drawn parameters of one learner's variant.

    Attributes
    ----------
    lab, student_id, scene : str
    digest : str
        Hex HMAC-SHA256 of the lab and id under the course secret (names the variant).
    event_shift_frames, line_shift_frames : dict
        Frames (at the scene's 24 fps) each picture event / dialogue cue moves.
    level_db : dict
        Gain in dB applied to each layer's clips ("dialogue", "sfx", "ambience", "music").
    native : dict
        The native render's flaws (keys of ``assets.build.SceneSpec.native``).
    takes : dict
        Lab 2: the learner's own takes, synthesised for the variant (so no clip is the kit's clip):
        ``music`` {"seed", "bpm", "transpose", "swing"}, ``ambience`` {"seed"}, ``sfx`` {"seed",
        "pitch_semitones", "door_thump_hz" (as heard, after the pitch shift; the kit's door: 72 Hz)},
        ``dialogue`` {line id: {"pitch_delta", "rate_delta_wpm"}} (eSpeak NG pitch 0-100 scale, words
        per minute). Empty for lab 1 (its native render uses the kit's clips).
    """

    lab: str
    student_id: str
    scene: str
    digest: str
    event_shift_frames: dict = field(default_factory=dict)
    line_shift_frames: dict = field(default_factory=dict)
    level_db: dict = field(default_factory=dict)
    native: dict = field(default_factory=dict)
    takes: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        """Plain JSON data (tuples become lists), as recorded in ``truth.json``."""
        return json.loads(json.dumps({**asdict(self), "format": VARIANT_FORMAT}))


_CAFE_EVENTS = {"door": 48, "cup_a": 126, "cup_b": 333, "door_2": 456}
_CAFE_LINES = {"l1": (57, 2.535), "l2": (132, 2.224), "l3": (195, 2.530), "l4": (264, 2.557), "l5": (339, 2.392), "l6": (405, 1.969)}


_LAB1_FLAW_MS = (60.0, 300.0)
"""|offset| of a flawed dialogue (ms): outside the EBU R37 window (+40 ms early, -60 ms late) either way."""
_LAB1_SFX_FLAW_MS = (60.0, 250.0)
"""|offset| of a flawed SFX (ms): inside the lab's matched-filter search (-300 to +400 ms)."""
_LAB1_IN_SYNC_MS = (5.0, 35.0)
"""|offset| of an in-sync layer (ms): inside the lab's 40 ms threshold (and the R37 window), but never exactly 0
(a shared 0 would be copyable)."""
LAB1_FLAW_THRESHOLD_MS = 40.0
"""A lab 1 offset counts as a flaw above this magnitude (the lab's own threshold; R37 allows +40/-60 ms)."""
LAB1_MUSIC_MIN_LU = 10.0
"""Dialogue at least this many LU over the music: no ``music_masks_dialogue`` flaw (the lab's guideline)."""
LAB1_LOUDNESS_WINDOW_LU = 1.0
"""Integrated loudness within this many LU of the -14 LUFS streaming target: no ``loudness_off_target`` flaw."""
LAB1_ON_TARGET_LUFS = (-14.85, -13.15)
"""Where an on-target native render's loudness is drawn (LUFS): 0.15 LU inside the lab's -14 +/- 1 window."""
_LAB1_P = {"dialogue_late": 0.65, "band": 0.35, "sfx_layer": 0.65, "sfx_missing": 0.5, "loudness_off_target": 0.75,
           "music_masks_dialogue": 0.55, "ambience_dropout": 0.4}
"""Odds that a learner's native render has each flaw (the SFX layer: any; then, of a flawed one, a missing effect)."""


def _signed(r: "_Draw", lo: float, hi: float) -> float:
    """A signed value with magnitude in [lo, hi] on a 1 ms step."""
    mag = r.uniform(lo, hi, 1.0)
    return -mag if r.chance(0.5) else mag


def _check_id(student_id: str) -> str:
    if not isinstance(student_id, str) or not _ID.match(student_id):
        raise VariantError(f"student id {student_id!r}: use 1-128 letters, digits, '.', '_', '@', '+' or '-', starting "
                           "with a letter or digit (the nbgrader student id).")
    return student_id


MIN_SECRET_BITS = 128
"""A course secret must carry at least this many bits (estimated by :func:`secret_bits`)."""

_MAKE_SECRET = ('python -c "import secrets; print(secrets.token_hex(32))"', "`layerlab variants build` writes one to variants/secret")


def secret_bits(secret: bytes) -> float:
    """A conservative estimate of the entropy of a course secret, in bits.

    Length times log2 of the alphabet its characters are drawn from (hex digits, decimal
    digits, lower or upper case letters, letters and digits, printable ASCII, any byte),
    counting a secret that is one short unit repeated (``abcabcabc...``) as that unit
    only, and never more than 8 bits per distinct byte. This follows the "length times
    log2(alphabet)" estimate of NIST SP 800-63B's discussion of memorised secrets; a
    secret from ``secrets.token_hex(32)`` scores 256 bits, ``"password" * 4`` about 38.
    """
    import math

    b = bytes(secret)
    if not b:
        return 0.0
    for n in range(1, len(b) // 2 + 1):  # a repeated unit carries only the unit's entropy
        if len(b) % n == 0 and b == b[:n] * (len(b) // n):
            b = b[:n]
            break
    text = b.decode("ascii", errors="replace") if all(32 < c < 127 for c in b) else None
    if text is None:
        alphabet = 256
    elif all(c in "0123456789abcdef" for c in text) or all(c in "0123456789ABCDEF" for c in text):
        alphabet = 16
    elif text.isdigit():
        alphabet = 10
    elif text.isalpha() and (text.islower() or text.isupper()):
        alphabet = 26
    elif text.isalnum():
        alphabet = 62 if not (text.islower() or text.isupper()) else 36
    else:
        alphabet = 94
    distinct = len(set(b))
    return round(min(len(b) * math.log2(alphabet), len(b) * math.log2(max(2, distinct)) + 8.0 * distinct), 1)


def _key(course_secret, *, source: str = "course secret") -> bytes:
    key = course_secret.encode() if isinstance(course_secret, str) else bytes(course_secret or b"")
    how = f"make one with `{_MAKE_SECRET[0]}` ({_MAKE_SECRET[1]})"
    if len(key) < 16:
        raise VariantError(f"{source}: needs at least 16 bytes; {how}, or set variants.secret in the course's layerlab.json.")
    bits = secret_bits(key)
    if len(set(key)) < 8 or bits < MIN_SECRET_BITS:
        raise VariantError(f"{source}: too easy to guess (about {bits:.0f} bits, {len(set(key))} distinct characters; "
                           f"needs {MIN_SECRET_BITS} bits of random characters, not words or repeats); {how}.")
    return key


def derive_variant(lab: str, *, course_secret, student_id: str) -> VariantParams:
    """Draw the parameters of a learner's variant of an assessed lab.

    Parameters
    ----------
    lab : str
        ``"lab1_audit"`` or ``"lab2_hybrid_mix"`` (see :data:`ASSESSED`).
    course_secret : str or bytes
        The course's secret (at least 16 bytes), kept in ``variants/secret``.
    student_id : str
        The learner's nbgrader id (on JupyterHub, the hub user name).

    Returns
    -------
    VariantParams
        Same secret and id: the same parameters; any other id: other parameters.

    Raises
    ------
    VariantError
        An unknown lab, a malformed id or a short secret.

    Notes
    -----
    The draws are HMAC-SHA256 (RFC 2104) in counter mode, so they do not depend on
    numpy's generators. Lab 2 moves each event by 6-16 frames (250-667 ms) either
    way, so two learners' events differ by far more than the EBU R37 sync window
    unless they drew the same shift. Lab 1 draws each flaw on its own (odds in
    ``_LAB1_P``), so each graded answer key (every issue, every layer's native or
    post) is true for some learners and false for others: a layer with no flaw is
    kept native; values stay clear of the lab's thresholds (40 ms, 10 LU, -14 +/- 1 LUFS).
    Each dialogue line has its own offset, and the music its own level under each line
    (``native["dialogue_late_ms"]`` and ``native["dialogue_to_music_lu"]`` are dicts by
    line id), so a classmate's findings match on every line only by a rare chance.
    """
    if lab not in ASSESSED:
        raise VariantError(f"lab {lab!r} has no variants; the assessed labs are {', '.join(ASSESSED)}.")
    key = _key(course_secret)
    _check_id(student_id)
    label = f"{lab}:{student_id}"
    digest = hmac.new(key, label.encode(), hashlib.sha256).hexdigest()
    r = _Draw(key, label)
    if lab == "lab2_hybrid_mix":
        ev = {}
        for eid in _CAFE_EVENTS:
            mag = r.integer(6, 16)
            sign = -1 if r.chance(0.5) else 1
            if eid == "door_2":  # stays inside the scene, its door opening before the slam
                sign = -1
            if eid == "door":  # the door opens at the very start: late slams only
                sign = 1
            ev[eid] = sign * mag
        takes = _draw_takes(r)
        lines = _draw_lines(r, {lid: dur * _BASE_RATE_WPM / (_BASE_RATE_WPM + takes["dialogue"][lid]["rate_delta_wpm"])
                                * 1.03 + 0.02 for lid, (_, dur) in _CAFE_LINES.items()})
        level = {"dialogue": r.uniform(-8.0, 4.0, 0.5), "sfx": r.uniform(-6.0, 3.0, 0.5),
                 "ambience": r.uniform(-6.0, 6.0, 0.5), "music": r.uniform(-6.0, 8.0, 0.5)}
        return VariantParams(lab, student_id, ASSESSED[lab], digest, ev, lines, level, {}, takes)
    # lab 1: the native render's flaws. Every measured value is drawn for each learner from a wide
    # signed range at a fine step, never a shared "no flaw" 0, so a classmate's numbers miss
    # (see _LAB1_* and the rubric's tolerances; the copy odds are quoted in autograder/README.md).
    # Each flaw is drawn on its own, so every graded answer key (each issue, each layer's keep or
    # replace) is true for some learners and false for others: a layer with no flaw is kept native.
    # the dialogue: each line its own offset (a model's drift), all late or all early by 60-300 ms when flawed,
    # each 5-35 ms either way when in sync; a classmate's six numbers must all land within the tolerance to score
    flawed = r.chance(_LAB1_P["dialogue_late"])
    if flawed:
        sign = -1.0 if r.chance(0.5) else 1.0
        late = {lid: sign * r.uniform(*_LAB1_FLAW_MS, 1.0) for lid in _CAFE_LINES}
    else:
        late = {lid: _signed(r, *_LAB1_IN_SYNC_MS) for lid in _CAFE_LINES}
    band = (r.choice([200.0, 250.0, 300.0, 400.0]), r.choice([3000.0, 3400.0, 4000.0])) if r.chance(_LAB1_P["band"]) else None
    events = list(_CAFE_EVENTS)
    missing: list = []
    sfx_flawed = {eid: False for eid in events}
    if r.chance(_LAB1_P["sfx_layer"]):  # the SFX layer has a flaw: an effect left out, late ones, or both
        if r.chance(_LAB1_P["sfx_missing"]):
            # never the last slam: in the scene's final second the taught matched filter finds a false match where
            # door_2 is left out (normalised correlation 0.28, above the 0.22 of a cup that is there)
            missing = [r.choice([e for e in events if e != "door_2"])]
        sfx_flawed = {eid: eid not in missing and r.chance(0.5) for eid in events}
        if not missing and not any(sfx_flawed.values()):
            sfx_flawed[r.choice(events)] = True
    sfx_off = {}
    for eid in events:
        lo, hi = _LAB1_SFX_FLAW_MS if sfx_flawed[eid] else _LAB1_IN_SYNC_MS
        if eid == "door_2" and sfx_flawed[eid]:
            hi = min(hi, 160.0)  # the last slam stays inside the scene when late
        off = _signed(r, lo, hi)
        if eid not in missing:  # a missing effect has no offset (drawn anyway: the stream stays aligned)
            sfx_off[eid] = off
    if r.chance(_LAB1_P["loudness_off_target"]):
        # too quiet, or too loud; never louder than -9.5 LUFS: the premix's limiter would then crush the dialogue
        # under a loud music bed until the taught envelope correlation finds no line at all
        loud = r.uniform(-40.0, -17.0, 0.05) if r.chance(0.8) else r.uniform(-11.0, -9.5, 0.05)
    else:
        loud = r.uniform(*LAB1_ON_TARGET_LUFS, 0.05)
    # the music rides under the dialogue at its own level under each line: 2-8 LU under every line (masking) or
    # 12-20 LU; masking music stays at least 2 LU under the dialogue (louder, the taught measurement of the
    # dialogue offsets fails)
    masking = r.chance(_LAB1_P["music_masks_dialogue"])
    music_lu = {lid: r.uniform(*((2.0, 8.0) if masking else (12.0, 20.0)), 0.05) for lid in _CAFE_LINES}
    native = {
        "dialogue_late_ms": late,
        "band": band,
        "sfx_late": sfx_off,
        "sfx_missing": missing,
        "dialogue_to_music_lu": music_lu,
        "ambience_gain_db": -6.0,
        "integrated_lufs": loud,
    }
    if r.chance(_LAB1_P["ambience_dropout"]):
        start = r.uniform(3.0, 15.0, 0.25)
        native["ambience_dropout"] = (start, round(start + r.uniform(1.0, 2.0, 0.25), 6))
    return VariantParams(lab, student_id, ASSESSED[lab], digest, {}, {}, {}, native)


_BASE_RATE_WPM = 172
"""The slower of the cafe voices' eSpeak rates: a line's length scales about as base / (base + delta)."""


def _draw_takes(r: _Draw) -> dict:
    """The learner's own takes of lab 2's clips (see :class:`VariantParams`).

    Each line's pitch moves -6..+6 and its rate -10..+8 words per minute (in steps of 2), drawn per
    line, so two learners' takes of a line are alike (within one pitch step and one rate step) in
    about 1 line in 14; the music moves -3..+3 semitones (never 0) and to 90-102 BPM; the SFX are
    other props (other noise seeds), pitched 1-3 semitones up or down.
    """
    seed = lambda: r.integer(0, 2**31 - 1)  # noqa: E731
    music = {"seed": seed(), "bpm": r.uniform(90.0, 102.0, 2.0), "transpose": r.choice([-3, -2, -1, 1, 2, 3]),
             "swing": r.uniform(0.0, 0.12, 0.02)}
    dialogue = {lid: {"pitch_delta": r.integer(-6, 6), "rate_delta_wpm": 2 * r.integer(-5, 4)} for lid in _CAFE_LINES}
    sfx = {"seed": seed(), "pitch_semitones": (1 if r.chance(0.5) else -1) * r.uniform(1.0, 3.0, 0.25),
           "door_thump_hz": r.choice([48.0, 52.0, 56.0, 86.0, 90.0, 94.0, 98.0])}
    return {"music": music, "ambience": {"seed": seed()}, "sfx": sfx, "dialogue": dialogue}


def _draw_lines(r: _Draw, durations_s: dict | None = None) -> dict:
    """Move each dialogue cue by up to 6 frames, keeping 0.1 s between lines and 0.3 s before the end.

    ``durations_s`` (line id to seconds, at most the take's length) replaces the kit's line lengths.
    """
    for _ in range(64):
        shift = {lid: r.integer(-6, 6) for lid in _CAFE_LINES}
        prev_end, ok = -1.0, True
        for lid, (frame, dur_s) in _CAFE_LINES.items():
            dur_s = (durations_s or {}).get(lid, dur_s)
            start = (frame + shift[lid]) / 24
            if start < prev_end + 0.1 or start + dur_s > 20.0 - 0.3:
                ok = False
                break
            prev_end = start + dur_s
        if ok and any(shift.values()):
            return shift
    return {lid: 0 for lid in _CAFE_LINES}  # pragma: no cover - 64 failed draws in a row


# ------------------------------------------------------------------------------ building


def _assets_variants():
    """The synthesis module ``assets/variants.py`` of the kit's checkout."""
    root = str(REPO_ROOT)
    if root not in sys.path:
        sys.path.insert(0, root)
    try:
        from assets import variants as synth_variants
    except ImportError as exc:  # pragma: no cover - an installed kit without its assets/
        raise VariantError(f"variants are built from the kit's assets/ folder, not found next to {REPO_ROOT} ({exc}).") from None
    return synth_variants


def public_dir(course, lab: str, student_id: str) -> Path:
    """The learner's public variant in the course folder: ``variants/<lab>/<id>/public/`` (never released).

    The grader copies it into its re-run; :func:`publish_variant` copies it to the exchange.
    """
    return Path(course) / "variants" / lab / _check_id(student_id) / "public"


PUBLISHED = "layerlab-variants"
"""The folder of the course's published variants in nbgrader's exchange: ``<root>/<course id>/layerlab-variants/``."""

_DIR_MODE, _FILE_MODE = 0o755, 0o644
"""Permissions of the published variants: those nbgrader 0.9 gives its ``outbound/`` (release_assignment.py)."""


@dataclass(frozen=True)
class ExchangeSettings:
    """Where nbgrader's exchange is, as nbgrader would read it from the folder's configuration.

    Attributes
    ----------
    root : Path
        ``c.Exchange.root``.
    course_id : str
        ``c.CourseDirectory.course_id``.
    source : str
        The configuration files read (or the environment defaults used).
    """

    root: Path
    course_id: str
    source: str

    def variants_dir(self, lab: str) -> Path:
        """``<root>/<course id>/layerlab-variants/<lab>/``: one folder per learner."""
        return self.root / self.course_id / PUBLISHED / lab


def exchange_settings(folder=".") -> ExchangeSettings:
    """nbgrader's exchange root and course id for a folder, read as nbgrader's commands read them.

    nbgrader loads ``nbgrader_config.py`` from Jupyter's config path (``jupyter --paths``) and
    from the folder it runs in; a lab runs in its own folder (``class/<lab>/``), so the nearest
    ``nbgrader_config.py`` in the folder or a parent (the kit's, or the course's) is read last and
    wins. Without any setting, the kit's conventions apply: ``$LAYERLAB_EXCHANGE`` else
    ``/srv/nbgrader/exchange``, course ``$LAYERLAB_COURSE_ID`` else ``layerlab`` (as the kit's
    ``nbgrader_config.py`` files say).

    Raises
    ------
    VariantError
        A configuration file that cannot be read (one line naming it).
    """
    from jupyter_core.paths import jupyter_config_path
    from traitlets.config.loader import Config, PyFileConfigLoader

    folder = Path(folder).resolve()
    dirs = [Path(d) for d in jupyter_config_path()][::-1]  # lowest priority first
    near = next((d for d in (folder, *folder.parents) if (d / "nbgrader_config.py").is_file()), None)
    if near is not None:
        dirs.append(near)
    cfg, used = Config(), []
    for d in dict.fromkeys(dirs):
        f = d / "nbgrader_config.py"
        if not f.is_file():
            continue
        try:
            cfg.merge(PyFileConfigLoader(f.name, path=str(d)).load_config())
        except Exception as exc:  # a config file is the user's code: any failure is named in one line
            raise VariantError(f"{f}: nbgrader cannot read this configuration ({type(exc).__name__}: "
                               f"{str(exc).splitlines()[0] if str(exc) else ''}); fix it.") from None
        used.append(str(f))
    root = cfg.Exchange.root if "root" in cfg.Exchange else os.environ.get("LAYERLAB_EXCHANGE", "/srv/nbgrader/exchange")
    course_id = (cfg.CourseDirectory.course_id if "course_id" in cfg.CourseDirectory
                 else os.environ.get("LAYERLAB_COURSE_ID", "layerlab"))
    return ExchangeSettings(Path(root), str(course_id), ", ".join(used) or "LAYERLAB_EXCHANGE / LAYERLAB_COURSE_ID")


def _same_tree(a: Path, b: Path) -> bool:
    """Whether two variant folders hold the same files (names and sizes) and the same cue sheet."""
    def listing(root):
        return {str(p.relative_to(root)): p.stat().st_size for p in root.rglob("*") if p.is_file()}

    if not b.is_dir():
        return False
    la, lb = listing(a), listing(b)
    if la != lb:
        return False
    return all((a / k).read_bytes() == (b / k).read_bytes() for k in la if k.endswith("cues.json"))


def _replace_tree(src: Path, dest: Path, *, dir_mode: int | None = None, file_mode: int | None = None) -> None:
    """Copy ``src`` to ``dest`` through a temporary sibling, so a reader never sees half a variant."""
    import tempfile

    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    try:
        shutil.copytree(src, tmp / "v", symlinks=False)
        if dir_mode is not None:
            for p in sorted((tmp / "v").rglob("*"), reverse=True):
                os.chmod(p, file_mode if p.is_file() else dir_mode)
            os.chmod(tmp / "v", dir_mode)
        old = None
        if dest.exists():
            old = tmp / "old"
            os.replace(dest, old)
        os.replace(tmp / "v", dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def publish_variant(course, lab: str, student_id: str, *, exchange: ExchangeSettings | None = None) -> Path:
    """Publish a learner's public variant to nbgrader's exchange, readable by learners.

    Copies :func:`public_dir` to ``<exchange root>/<course id>/layerlab-variants/<lab>/<id>/``
    with the permissions nbgrader 0.9 gives its ``outbound/`` release (folders 0755, files
    0644: learners read, only the instructor writes). An identical published copy is left alone.

    Returns
    -------
    Path
        The published folder.

    Raises
    ------
    VariantError
        The variant is not built, or the exchange root does not exist or is not writable.
    """
    exchange = exchange or exchange_settings(course)
    src = public_dir(course, lab, student_id)
    if not (src / "scenes").is_dir():
        raise VariantError(f"{src}: no variant of {lab} for {student_id!r} to publish; build it with "
                           f"`layerlab variants build {lab} --course {course} --students {student_id}`.")
    if not exchange.root.is_dir() or not os.access(exchange.root, os.W_OK | os.X_OK):
        raise VariantError(f"{exchange.root}: nbgrader's exchange (c.Exchange.root, from {exchange.source}) does not exist "
                           "or is not writable; create it as for `nbgrader release_assignment`, or set LAYERLAB_EXCHANGE.")
    dest = exchange.variants_dir(lab) / student_id
    for d in (exchange.root / exchange.course_id, exchange.root / exchange.course_id / PUBLISHED, exchange.variants_dir(lab)):
        if not d.is_dir():
            d.mkdir()
            os.chmod(d, _DIR_MODE)
    if not _same_tree(src, dest):
        _replace_tree(src, dest, dir_mode=_DIR_MODE, file_mode=_FILE_MODE)
    return dest


def truth_path(course, lab: str, student_id: str) -> Path:
    """The variant's truth, in the instructor's course folder only: ``variants/<lab>/<id>/truth.json``."""
    return Path(course) / "variants" / lab / _check_id(student_id) / "truth.json"


def course_secret(course, *, create: bool = False) -> bytes:
    """The course secret: ``variants.secret`` of ``<course>/layerlab.json``, else ``<course>/variants/secret``.

    With ``create``, a missing secret file is made (32 random bytes, hex, mode 0600).
    """
    course = Path(course)
    cfg = course / "layerlab.json"
    if cfg.is_file():
        try:
            s = (json.loads(cfg.read_text()).get("variants") or {}).get("secret")
        except (json.JSONDecodeError, AttributeError) as exc:
            raise VariantError(f"{cfg}: not a JSON object with a 'variants' object ({exc}); fix or remove it.") from None
        if s:
            return _key(s, source=f"{cfg} (variants.secret)")
    path = course / "variants" / "secret"
    if not path.is_file():
        if not create:
            raise VariantError(f"{path}: no course secret; build the variants first (`layerlab variants build LAB --course {course}`).")
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32) + "\n")
    os.chmod(path, 0o600)
    return _key(path.read_text().strip(), source=str(path))


@dataclass
class BuiltVariant:
    """One built (or cached) variant: where its files are and whether it was rebuilt."""

    student_id: str
    public: Path
    truth: Path
    rebuilt: bool
    seconds: float = 0.0
    bytes: int = 0
    published: Path | None = None


def _tree_bytes(p: Path) -> int:
    return sum(f.stat().st_size for f in p.rglob("*") if f.is_file())


def build_variant(lab: str, student_id: str, *, course, secret: bytes | None = None, force: bool = False) -> BuiltVariant:
    """Build (or reuse) one learner's variant in a course folder.

    Writes the public scene to :func:`public_dir` (``.../scenes/<scene>/``) and the
    truth to :func:`truth_path`; a variant whose truth records the same parameters
    and :data:`VARIANT_FORMAT` is up to date and left alone.

    Returns
    -------
    BuiltVariant
    """
    import time

    t0 = time.monotonic()
    secret = secret if secret is not None else course_secret(course, create=True)
    params = derive_variant(lab, course_secret=secret, student_id=student_id).to_dict()
    pub, truth = public_dir(course, lab, student_id), truth_path(course, lab, student_id)
    scene_dir = pub / "scenes" / params["scene"]
    if not force and truth.is_file() and (scene_dir / "cues.json").is_file():
        try:
            if json.loads(truth.read_text()).get("params") == params:
                return BuiltVariant(student_id, pub, truth, False, 0.0, _tree_bytes(pub))
        except json.JSONDecodeError:
            pass
    if pub.exists():
        shutil.rmtree(pub)
    doc = _assets_variants().render_variant(params, scene_dir)
    truth.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(truth.parent.parent.parent, 0o700)  # variants/: the instructor's only
    tmp = truth.with_suffix(".tmp")
    tmp.write_text(json.dumps({"params": params, "cues": doc}, indent=1) + "\n")
    os.replace(tmp, truth)
    return BuiltVariant(student_id, pub, truth, True, round(time.monotonic() - t0, 3), _tree_bytes(pub))


def build_variants(lab: str, students, *, course, jobs: int | None = None, force: bool = False, progress: bool = True,
                   publish: bool = False) -> list:
    """Build every listed learner's variant in parallel (processes), with a tqdm progress bar.

    With ``publish``, each one is then published to the exchange (:func:`publish_variant`).
    A ``source/<lab>/variants/`` left by an older kit (which released every learner's variant)
    is removed, so the release carries none.

    Returns
    -------
    list of BuiltVariant
        In the order of ``students``; ``published`` is set when published.
    """
    from concurrent.futures import ProcessPoolExecutor

    students = [_check_id(s) for s in dict.fromkeys(students)]
    secret = course_secret(course, create=True)
    jobs = max(1, min(len(students) or 1, jobs or os.cpu_count() or 1))
    done: dict[str, BuiltVariant] = {}
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(students), desc=f"variants of {lab}", unit="learner")
    if jobs == 1:
        for s in students:
            done[s] = build_variant(lab, s, course=course, secret=secret, force=force)
            bar and bar.update(1)
    else:
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            futs = {pool.submit(build_variant, lab, s, course=course, secret=secret, force=force): s for s in students}
            from concurrent.futures import as_completed

            for f in as_completed(futs):
                done[futs[f]] = f.result()
                bar and bar.update(1)
    if bar is not None:
        bar.close()
    stale = Path(course) / "source" / lab / "variants"
    if stale.is_dir():
        shutil.rmtree(stale)
    out = [done[s] for s in students]
    if publish:
        exchange = exchange_settings(course)
        for b in out:
            b.published = publish_variant(course, lab, b.student_id, exchange=exchange)
    return out


def load_truth(course, lab: str, student_id: str) -> dict | None:
    """The complete cue sheet of a learner's variant (``truth.json`` > ``cues``), or None if there is none."""
    p = truth_path(course, lab, student_id)
    if not p.is_file():
        return None
    return json.loads(p.read_text())["cues"]


# ------------------------------------------------------------------------------ the learner's side


def current_student(default: str = "") -> str:
    """The learner's id as the lab sees it: ``$LAYERLAB_STUDENT``, ``$JUPYTERHUB_USER``, else the Unix user."""
    for k in ("LAYERLAB_STUDENT", "JUPYTERHUB_USER"):
        if os.environ.get(k):
            return os.environ[k]
    try:
        import getpass

        return getpass.getuser()
    except (KeyError, OSError):  # pragma: no cover
        return default


def learner_scene_root(folder=".", *, student_id: str | None = None) -> Path | None:
    """The scene library a lab should load: the learner's own variant, if their course has one.

    The one lookup of the set-up cell, ``self_check()`` and ``layerlab check``. In order:

    1. ``<folder>/variants/<id>/scenes``: a copy next to the notebook (a self-paced ``practice``
       variant; the grader's re-run, where ``layerlab grade`` leaves the graded learner's own
       variant, the only one, under ``LAYERLAB_GRADING=1``);
    2. in ``nbgrader autograde``'s ``<course>/autograded/<id>/<lab>/``: the course folder's own
       copy of that learner's variant (:func:`public_dir`);
    3. the learner's folder in nbgrader's exchange (:func:`exchange_settings`),
       ``<root>/<course id>/layerlab-variants/<lab>/<id>/``, for a folder named after an assessed
       lab, copied into the learner's cache (:func:`variant_cache_dir`), outside the assignment
       folder, so ``nbgrader submit`` never carries it back.

    The id is :func:`current_student` (``$LAYERLAB_STUDENT``, ``$JUPYTERHUB_USER``, the Unix user).

    Returns
    -------
    Path or None
        A folder to use as ``LAYERLAB_ASSETS``; None when the course has no variants of this lab
        (a teaching copy: the kit's own scenes are used).

    Raises
    ------
    VariantError
        The lab has variants but none for this learner: one line naming the id and what to ask.
    """
    found = _find_variant(folder, student_id=student_id)
    if found is None or found[0] != "exchange":
        return None if found is None else found[1]
    _, published, lab, sid, exchange = found
    cached = variant_cache_dir(exchange.course_id, lab, sid)
    if not _same_tree(published, cached):
        _replace_tree(published, cached)
    return cached.resolve()


def variant_cache_dir(course_id: str, lab: str, student_id: str) -> Path:
    """Where a learner's published variant is copied: ``$XDG_CACHE_HOME/layerlab/variants/<course>/<lab>/<id>/``.

    ``$XDG_CACHE_HOME`` defaults to ``~/.cache`` (XDG Base Directory specification): outside any
    assignment folder, so nbgrader's ``submit`` does not carry the variant back, whatever the
    learner's ``CourseDirectory.ignore``.
    """
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "layerlab" / "variants" / course_id / lab / _check_id(student_id)


def _find_variant(folder=".", *, student_id: str | None = None):
    """Where the variant of a lab folder is: ("local" | "course", Path), ("exchange", published, lab, id, settings), or None."""
    folder = Path(folder)
    root = folder / "variants"
    if root.is_dir():
        have = sorted(p.name for p in root.iterdir() if (p / "scenes").is_dir())
        if os.environ.get("LAYERLAB_GRADING") == "1" and len(have) == 1:
            return "local", (root / have[0]).resolve()
        auto = _autograded(folder)  # a submission of an older kit brought the whole class's variants along
        sid = student_id or (auto[1] if auto else None) or current_student()
        if sid in have:
            return "local", (root / sid).resolve()
        assessed = [h for h in have if h != "practice"]
        if assessed:  # a variant next to the notebook for someone else: never fall back on a practice variant
            raise VariantError(f"{root}: no variant for student {sid!r} (the id is $LAYERLAB_STUDENT, else $JUPYTERHUB_USER, "
                               "else your user name); set LAYERLAB_STUDENT to your course id, or ask your instructor.")
        if "practice" in have:
            return "local", (root / "practice").resolve()
    if os.environ.get("LAYERLAB_GRADING") == "1":  # the grader's re-run: only what the grader put there
        return None
    auto = _autograded(folder)
    if auto is not None:
        course, sid, lab = auto
        if (Path(course) / "variants" / lab).is_dir():
            pub = public_dir(course, lab, sid)
            if not (pub / "scenes").is_dir():
                raise VariantError(f"{course}: no variant of {lab} for student {sid!r}; build it with "
                                   f"`layerlab variants build {lab} --course {course} --students {sid}`.")
            return "course", pub.resolve()
        return None
    lab = folder.resolve().name
    if lab not in ASSESSED:
        return None
    exchange = exchange_settings(folder)
    published = exchange.variants_dir(lab)
    if not published.is_dir():  # this course has no variants of the lab (or no exchange here): the teaching scene
        return None
    sid = student_id or current_student()
    mine = published / sid
    try:
        ok = _ID.match(sid) and (mine / "scenes").is_dir()
    except OSError:
        ok = False
    if not ok:
        raise VariantError(f"no variant of {lab} for student {sid!r} in the course exchange ({published}); the id is "
                           "$LAYERLAB_STUDENT, else $JUPYTERHUB_USER, else your user name: set LAYERLAB_STUDENT to your "
                           f"course id, or ask your instructor to run `layerlab variants build {lab} --course <course folder> --students {sid}`.")
    return "exchange", mine, lab, sid, exchange


def _autograded(folder) -> tuple[Path, str, str] | None:
    """(course, student id, lab) of an nbgrader ``<course>/autograded/<id>/<lab>/`` folder (``nbgrader autograde``
    runs the notebook there as the instructor's user), else None."""
    parts = Path(folder).resolve().parts
    if len(parts) >= 4 and parts[-3] == "autograded" and parts[-1] in ASSESSED:
        return Path(*parts[:-3]), parts[-2], parts[-1]
    return None


def assessed_variants(folder=".") -> list[str]:
    """The assessed variants a lab folder would load: next to it (``variants/<id>/scenes``, not a self-paced
    ``practice`` one), or the learner's own, published in the course exchange.

    A non-empty list means the folder is a course copy of an assessed lab: the kit then
    shows no worked solution (:func:`layerlab.grading.solutions.write_solution`).
    """
    root = Path(folder) / "variants"
    local = sorted(p.name for p in root.iterdir() if p.name != "practice" and (p / "scenes").is_dir()) if root.is_dir() else []
    if local or (root / "practice").is_dir():
        return local
    try:
        found = _find_variant(folder)
    except VariantError:  # the course has variants of this lab, but not (yet) this learner's
        return [current_student()]
    return [found[3]] if found is not None and found[0] == "exchange" else []


def use_learner_variant(folder=".", *, student_id: str | None = None) -> Path | None:
    """Point the kit at the learner's own variant (sets ``LAYERLAB_ASSETS``) and return its root, or None."""
    root = learner_scene_root(folder, student_id=student_id)
    if root is not None:
        os.environ["LAYERLAB_ASSETS"] = str(root)
    return root


def scene_in_use(folder=".", *, scene: str = "cafe_dialogue", student_id: str | None = None) -> tuple[Path | None, str]:
    """Point the kit at the scene a lab folder's work is measured against, and say which it is, in one line.

    The one place the lab's set-up cell, ``self_check()`` in a terminal and ``layerlab check``
    find the learner's variant: :func:`use_learner_variant` on the lab folder.

    Parameters
    ----------
    folder : str or Path
        The learner's lab folder (named after the lab; see :func:`learner_scene_root`).
    scene : str
        The scene id, named in the line.

    Returns
    -------
    (Path or None, str)
        The variant root (None: the kit's teaching scene) and a line such as
        ``"Measured against your variant 'ann' of cafe_dialogue (~/.cache/layerlab/variants/layerlab/lab1_audit/ann)."``.

    Raises
    ------
    VariantError
        The folder has variants but none for this learner.
    """
    root = use_learner_variant(folder, student_id=student_id)
    if root is None:
        if os.environ.get("LAYERLAB_ASSETS"):  # set by the lab's set-up cell (or by hand): that library is used
            from layerlab.paths import assets_dir

            found = assets_dir()
            if _variant_name(found):
                return found, f"Measured against {_variant_kind(found)} of {scene} ({found})."
            return None, f"Measured against {scene} of the scene library {found} (LAYERLAB_ASSETS)."
        here = Path(folder).resolve()
        if here.name not in ASSESSED:  # not a lab folder (the kit's root, a scratch folder): nothing to say of variants
            return None, f"Measured against the teaching scene {scene}."
        return None, f"Measured against the teaching scene {scene} (no variant of this lab for {here})."
    return root, f"Measured against {_variant_kind(root)} of {scene} ({root})."


def _variant_name(root: Path) -> str | None:
    """The id of a variant folder (next to a notebook, in the cache, or a course's ``<id>/public``), else None."""
    if root.name == "public" and root.parent.parent.parent.name == "variants":
        return root.parent.name
    if root.parent.name == "variants" or root.parent.name in ASSESSED:
        return root.name
    return None


def _variant_kind(root: Path) -> str:
    name = _variant_name(root) or root.name
    return "your practice variant" if name == "practice" else f"your variant {name!r}"


def build_practice(lab: str, folder=".") -> Path:
    """A self-paced learner's practice variant, made locally: ``<folder>/variants/practice/``.

    Its truth is kept next to it (``variants/practice.truth.json``) for the learner's
    own self-check: working alone, checking is on your honour.
    """
    folder = Path(folder)
    if assessed_variants(folder):
        raise VariantError(f"{folder.resolve()} is a course release of {lab} (your course has assessed variants of it): "
                           "the grader uses your course variant; practise in a copy of the lab outside this course.")
    secret = secrets.token_hex(32)
    params = derive_variant(lab, course_secret=secret, student_id="practice").to_dict()
    pub = folder / "variants" / "practice"
    if pub.exists():
        shutil.rmtree(pub)
    doc = _assets_variants().render_variant(params, pub / "scenes" / params["scene"])
    (folder / "variants" / "practice.truth.json").write_text(json.dumps({"params": params, "cues": doc}, indent=1) + "\n")
    return pub


def local_truth(scene_id: str | None):
    """The truth a learner's own self-check may use for the scene the kit currently loads.

    Returns
    -------
    dict, None or False
        The practice variant's complete cue sheet (``variants/practice.truth.json``,
        made by :func:`build_practice`); None for a teaching scene (its own cue sheet
        is complete); False for an assessed variant (its truth is the instructor's).
    """
    from layerlab.paths import assets_dir, scenes_dir

    if not scene_id:
        return None
    cues = scenes_dir() / str(scene_id) / "cues.json"
    try:
        public = json.loads(cues.read_text()) if cues.is_file() else {}
    except json.JSONDecodeError:
        return None
    if not (public.get("variant") or {}).get("assessed"):
        return None
    root = assets_dir()
    practice = root.parent / f"{root.name}.truth.json"
    if root.name == "practice" and practice.is_file():
        return json.loads(practice.read_text())["cues"]
    return False
