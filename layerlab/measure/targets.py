"""Delivery loudness targets: what each destination expects of a finished mix.

A :class:`DeliveryProfile` says how loud a mix must measure (integrated
loudness, or dialogue-gated loudness for drama specs) and how high its true
peak may go. The numbers live in one place, ``layerlab/data/profiles.json``;
this module loads them into :data:`PROFILES`.

======================  ============================  ==========  ================
name                    integrated                    true peak   measured on
======================  ============================  ==========  ================
``streaming``           -14 LUFS ±1                   -1 dBTP     whole mix
``podcast``             -16 LUFS ±1                   -1 dBTP     whole mix
``ebu_r128``            -23 LUFS ±0.5                 -1 dBTP     whole mix
``atsc_a85``            -24 LKFS ±2                   -2 dBTP     whole mix
``dialogue_gated``      -27 LKFS ±2                   -2 dBTP     dialogue only
======================  ============================  ==========  ================

Taught in ``lessons/08_measuring_the_mix.ipynb``.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

from layerlab.errors import ParameterError
from layerlab.paths import PACKAGE_DIR

__all__ = ["DeliveryProfile", "TargetCheck", "PROFILES", "PROFILE_NAMES", "get_profile", "load_profiles"]


@dataclass(frozen=True)
class DeliveryProfile:
    """One delivery destination's loudness rules.

    Attributes
    ----------
    name : str
        Short key (``"streaming"``, ``"ebu_r128"``, ...).
    title : str
        Human-readable name.
    target_lufs : float
        Integrated (or dialogue-gated) loudness to aim for, in LUFS.
    tolerance_lu : float
        Allowed distance from the target, in LU, either way.
    max_true_peak_dbtp : float
        Highest allowed true peak, in dBTP.
    dialogue_gated : bool
        Measure loudness only where dialogue is present
        (:func:`layerlab.measure.loudness.gated_loudness`).
    source : str
        Where the numbers come from.
    """

    name: str
    title: str
    target_lufs: float
    tolerance_lu: float
    max_true_peak_dbtp: float
    dialogue_gated: bool
    source: str

    @property
    def min_lufs(self) -> float:
        """Lowest loudness that still passes."""
        return self.target_lufs - self.tolerance_lu

    @property
    def max_lufs(self) -> float:
        """Highest loudness that still passes."""
        return self.target_lufs + self.tolerance_lu

    def describe(self) -> str:
        """One line such as ``"-14 LUFS ±1 LU, true peak ≤ -1 dBTP"``."""
        gated = " (dialogue-gated)" if self.dialogue_gated else ""
        return (
            f"{self.target_lufs:g} LUFS ±{self.tolerance_lu:g} LU{gated}, "
            f"true peak ≤ {self.max_true_peak_dbtp:g} dBTP"
        )

    def check(self, *, loudness_lufs: float, true_peak_dbtp: float) -> "TargetCheck":
        """Compare measured values with this profile.

        Parameters
        ----------
        loudness_lufs : float
            Integrated loudness, or dialogue-gated loudness when
            :attr:`dialogue_gated` is true. ``-inf``/``None`` (silence) fails.
        true_peak_dbtp : float
            Measured true peak.

        Returns
        -------
        TargetCheck
        """
        lufs = -math.inf if loudness_lufs is None else float(loudness_lufs)
        tp = -math.inf if true_peak_dbtp is None else float(true_peak_dbtp)
        if math.isnan(lufs) or math.isnan(tp):
            raise ParameterError("loudness_lufs and true_peak_dbtp must be numbers, got NaN.")
        loud_ok = math.isfinite(lufs) and self.min_lufs <= lufs <= self.max_lufs
        peak_ok = tp <= self.max_true_peak_dbtp
        gain = self.target_lufs - lufs if math.isfinite(lufs) else None
        return TargetCheck(
            profile=self.name,
            loudness_lufs=lufs,
            true_peak_dbtp=tp,
            loudness_ok=loud_ok,
            true_peak_ok=peak_ok,
            gain_to_target_db=gain,
        )

    def to_dict(self) -> dict:
        """Return the profile as a plain dict (JSON-safe)."""
        return asdict(self)


@dataclass(frozen=True)
class TargetCheck:
    """Result of :meth:`DeliveryProfile.check`.

    Attributes
    ----------
    profile : str
    loudness_lufs, true_peak_dbtp : float
        The values that were checked.
    loudness_ok, true_peak_ok : bool
    gain_to_target_db : float or None
        Gain that would put the loudness on target (``None`` for silence).
        Raising the gain raises the true peak by the same amount.
    """

    profile: str
    loudness_lufs: float
    true_peak_dbtp: float
    loudness_ok: bool
    true_peak_ok: bool
    gain_to_target_db: float | None

    @property
    def passed(self) -> bool:
        """Both loudness and true peak are within the profile."""
        return self.loudness_ok and self.true_peak_ok

    def to_dict(self) -> dict:
        """JSON-safe dict (non-finite numbers become ``None``)."""

        def clean(v):
            return v if v is None or math.isfinite(v) else None

        return {
            "profile": self.profile,
            "loudness_lufs": clean(self.loudness_lufs),
            "true_peak_dbtp": clean(self.true_peak_dbtp),
            "loudness_ok": self.loudness_ok,
            "true_peak_ok": self.true_peak_ok,
            "passed": self.passed,
            "gain_to_target_db": clean(self.gain_to_target_db),
        }


_FIELDS = ("name", "title", "target_lufs", "tolerance_lu", "max_true_peak_dbtp", "dialogue_gated", "source")


def load_profiles(text: str | None = None) -> dict[str, DeliveryProfile]:
    """Parse the profile table (the packaged ``data/profiles.json`` by default).

    Parameters
    ----------
    text : str, optional
        JSON text in the same layout, to load another table.

    Returns
    -------
    dict of str to DeliveryProfile

    Raises
    ------
    ParameterError
        If the table is malformed.
    """
    if text is None:
        text = (PACKAGE_DIR / "data" / "profiles.json").read_text(encoding="utf-8")
    try:
        raw = json.loads(text)
        entries = raw["profiles"]
    except (ValueError, KeyError, TypeError) as exc:
        raise ParameterError(f"profiles.json: not a profile table ({exc}).") from None
    out: dict[str, DeliveryProfile] = {}
    for i, entry in enumerate(entries):
        missing = [f for f in _FIELDS if f not in entry]
        if missing:
            raise ParameterError(f"profiles.json: profile #{i + 1} lacks {', '.join(missing)}.")
        try:
            prof = DeliveryProfile(
                name=str(entry["name"]),
                title=str(entry["title"]),
                target_lufs=float(entry["target_lufs"]),
                tolerance_lu=float(entry["tolerance_lu"]),
                max_true_peak_dbtp=float(entry["max_true_peak_dbtp"]),
                dialogue_gated=bool(entry["dialogue_gated"]),
                source=str(entry["source"]),
            )
        except (TypeError, ValueError) as exc:
            raise ParameterError(f"profiles.json: profile #{i + 1} has a bad value ({exc}).") from None
        if prof.name in out:
            raise ParameterError(f"profiles.json: profile name {prof.name!r} appears twice.")
        if not prof.tolerance_lu > 0:
            raise ParameterError(f"profiles.json: {prof.name}: tolerance_lu must be positive.")
        out[prof.name] = prof
    return out


PROFILES: dict[str, DeliveryProfile] = load_profiles()
"""Every known profile by name, in table order."""

PROFILE_NAMES: tuple[str, ...] = tuple(PROFILES)


def get_profile(name) -> DeliveryProfile:
    """Return a delivery profile by name.

    Parameters
    ----------
    name : str or DeliveryProfile
        One of :data:`PROFILE_NAMES` (case and dashes are forgiven:
        ``"EBU-R128"`` works). A profile is returned as it is.

    Returns
    -------
    DeliveryProfile

    Raises
    ------
    ParameterError
        For an unknown name; the message lists the valid ones.

    Notes
    -----
    Taught in ``lessons/08_measuring_the_mix.ipynb``.
    """
    if isinstance(name, DeliveryProfile):
        return name
    key = str(name).strip().lower().replace("-", "_").replace(" ", "_")
    if key in PROFILES:
        return PROFILES[key]
    raise ParameterError(
        f"unknown delivery profile {name!r}; valid profiles: {', '.join(PROFILE_NAMES)}."
    )
