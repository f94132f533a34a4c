"""Check results and the report: text, JSON and figures.

:class:`CheckResult` is one check's verdict; :class:`CheckReport` gathers them
for one deliverable. Taught in ``lessons/08_measuring_the_mix.ipynb``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = ["CHECK_NAMES", "CheckResult", "CheckReport", "clean_json"]

CHECK_NAMES = (
    "format",
    "stems_sum",
    "loudness",
    "true_peak",
    "sync",
    "dialogue_sync",
    "masking",
    "band_audibility",
    "ducking",
    "ambience_continuity",
    "dialogue_noise_floor",
)
"""Every check :func:`run_checks` runs, in report order."""


# ----------------------------------------------------------------------------- results


def clean_json(v):
    """Make a value JSON-safe: numpy scalars to Python, non-finite floats to None."""
    if isinstance(v, dict):
        return {str(k): clean_json(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [clean_json(x) for x in v]
    if isinstance(v, np.ndarray):
        return [clean_json(x) for x in v.tolist()]
    if isinstance(v, (np.bool_, bool)):
        return bool(v)
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        f = float(v)
        return round(f, 4) if math.isfinite(f) else None
    if isinstance(v, Path):
        return str(v)
    return v


@dataclass
class CheckResult:
    """The outcome of one check.

    Attributes
    ----------
    name : str
        One of :data:`CHECK_NAMES`.
    value : float or None
        The measured number (None when it could not be measured; ``inf``
        when, e.g., the background is silent under dialogue).
    unit : str
        ``"LUFS"``, ``"dBTP"``, ``"ms"``, ``"LU"``, ``"dB"``, ``"dBFS"``, ...
    target : str
        The pass condition in words (``"-14 ±1 LUFS"``).
    passed : bool
    message : str
        What was found and what to change.
    details : dict
        Per cue, per band, per file: JSON-ready.
    """

    name: str
    value: float | None
    unit: str
    target: str
    passed: bool
    message: str
    details: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        """JSON-ready dictionary with the keys ``name, passed, value, unit, target, message, details``."""
        return {
            "name": self.name,
            "passed": bool(self.passed),
            "value": clean_json(self.value),
            "unit": self.unit,
            "target": self.target,
            "message": self.message,
            "details": clean_json(self.details),
        }

    def value_text(self) -> str:
        """The value with its unit, for text reports."""
        if self.value is None:
            return "n/a"
        v = float(self.value)
        if not math.isfinite(v):  # silence has no loudness and no peak: "n/a", as `layerlab measure` says
            return "n/a"
        if self.unit in ("", "index"):
            return f"{v:.2f}"
        return f"{v:.1f} {self.unit}"


@dataclass
class CheckReport:
    """All check results for one deliverable.

    Attributes
    ----------
    scene : str
    target : str
        The delivery profile's name.
    submission : Path
    checks : list of CheckResult
    data : dict
        Measurements kept for figures (not serialized).
    """

    scene: str
    target: str
    submission: Path
    checks: list[CheckResult]
    data: dict = field(default_factory=dict, repr=False)

    def __getitem__(self, name: str) -> CheckResult:
        for c in self.checks:
            if c.name == name:
                return c
        raise KeyError(f"no check named {name!r}; checks are {', '.join(c.name for c in self.checks)}")

    @property
    def passed(self) -> bool:
        """True when every check passed."""
        return all(c.passed for c in self.checks)

    @property
    def failed(self) -> list[CheckResult]:
        """The checks that failed."""
        return [c for c in self.checks if not c.passed]

    def to_dict(self) -> dict:
        """``{"scene", "target", "submission", "passed", "checks": [...]}``."""
        return {
            "scene": self.scene,
            "target": self.target,
            "submission": str(self.submission),
            "passed": self.passed,
            "checks": [c.to_dict() for c in self.checks],
        }

    def to_json(self, *, indent: int | None = 2) -> str:
        """The report as strict JSON (non-finite numbers become null)."""
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False)

    def to_text(self) -> str:
        """A plain-text report: one line per check, then what to change."""
        prof = self.data.get("profile")
        head = f"Layer Lab check: scene {self.scene}, target {self.target}"
        if prof is not None:
            head += f" ({prof.target_lufs:g} LUFS ±{prof.tolerance_lu:g}, true peak ≤ {prof.max_true_peak_dbtp:g} dBTP)"
        lines = [head, f"submission: {self.submission}", ""]
        for c in self.checks:
            mark = "PASS" if c.passed else "FAIL"
            lines.append(f"{mark}  {c.name:<21} {c.value_text():>14}   target {c.target}")
            lines.append(f"      {c.message}")
        n = sum(c.passed for c in self.checks)
        lines += ["", f"{n}/{len(self.checks)} checks passed."]
        return "\n".join(lines)

    def figures(self) -> dict:
        """One figure per measured quantity, keyed by the check it illustrates (only those measured).

        Returns
        -------
        dict of str to matplotlib.figure.Figure
            ``"loudness"`` (short-term loudness against the target),
            ``"true_peak"`` (peaks against the ceiling), ``"sync"`` (SFX cues),
            ``"dialogue_sync"`` (dialogue lines), ``"masking"`` (dialogue over
            music and ambience), ``"band_audibility"`` (the band x time map)
            and ``"ducking"`` (the music's gain).
        """
        from layerlab.checks import plots

        out = {}
        d = self.data
        if d.get("loudness_series") is not None and d.get("profile") is not None:
            out["loudness"] = plots.plot_loudness(d["loudness_series"], profile=d["profile"],
                                                  integrated_lufs=d.get("integrated_lufs"))
        if d.get("peaks") is not None and d.get("profile") is not None:
            out["true_peak"] = plots.plot_true_peak(d["peaks"], ceiling_dbtp=d["profile"].max_true_peak_dbtp)
        if d.get("sfx_sync") is not None:
            out["sync"] = plots.plot_sync_timeline(sfx=d["sfx_sync"], duration_s=d.get("duration_s"))
        if d.get("dialogue_sync") is not None:
            out["dialogue_sync"] = plots.plot_sync_timeline(dialogue=d["dialogue_sync"], duration_s=d.get("duration_s"))
        if d.get("masking_lu") is not None:
            out["masking"] = plots.plot_masking_levels(d["masking_lu"])
        if d.get("band_audibility") is not None:
            out["band_audibility"] = plots.plot_masking_map(d["band_audibility"])
        if d.get("ducking") is not None:
            out["ducking"] = plots.plot_ducking(d["ducking"], activity=d.get("activity"))
        return out

    def save_figures(self, out_dir) -> list[Path]:
        """Save :meth:`figures` as PNG files in ``out_dir``; return their paths."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        paths = []
        for name, fig in self.figures().items():
            p = out / f"{name}.png"
            fig.savefig(p, dpi=110)
            paths.append(p)
        return paths

