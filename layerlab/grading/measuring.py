"""Measuring a deliverable with the kit's checks, in a process the learner's code never touched.

Documented for instructors in ``autograder/README.md``.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import warnings
from dataclasses import asdict
from pathlib import Path

from layerlab.errors import GradingError, LayerLabError
from layerlab.grading.results import ItemGrade
from layerlab.grading.rubric import score_mix
from layerlab.grading.runner import DEFAULT_MEMORY_MB, apply_limits, write_private


def _check_results(report) -> dict:
    """Map check name -> CheckResult for a ``layerlab.checks.CheckReport``."""
    for attr in ("results", "checks"):
        seq = getattr(report, attr, None)
        if seq is not None:
            break
    else:
        seq = list(report)
    if isinstance(seq, dict):
        return dict(seq)
    return {r.name: r for r in seq}


def _figures(report) -> dict:
    try:
        figs = report.figures()
    except Exception:  # noqa: BLE001 - a figure must never cost points
        return {}
    if isinstance(figs, dict):
        return figs
    out = {}
    for f in figs or []:
        if isinstance(f, tuple) and len(f) == 2:
            out[f[0]] = f[1]
    return out


_PNG_DPI = 80


def _lay_out_once(fig, dpi: float) -> None:
    """Run a figure's layout engine once, at the dpi it is saved at, then freeze the layout.

    The kit's check figures have no layout engine (fixed margins sized from the font,
    :mod:`layerlab.checks.plots`), so they are drawn once and left alone here; this is for a
    figure that has one. ``savefig`` on a figure with a layout engine (e.g. matplotlib's
    constrained layout) draws it twice, a first pass without output so that the layout
    can measure the text, then the real one, and runs the layout again in each: some
    half of the CPU time the grader spent per figure. Laying it out here once, with the
    renderer ``savefig`` would use (same figure size and dpi), and then removing the
    engine leaves the axes where the layout put them, so ``savefig`` draws once and
    the PNG is the same, pixel for pixel (checked in ``tests/grading/test_measuring_png.py``).
    A figure without a layout engine is left alone.
    """
    engine = fig.get_layout_engine()
    if engine is None or not fig.axes:
        return
    old_dpi = fig.dpi
    try:
        fig.dpi = dpi
        engine.execute(fig)
    finally:
        fig.dpi = old_dpi
    fig._layout_engine = None  # set_layout_engine(None) would consult rcParams and may pick an engine again


def _png(fig) -> str:
    if fig is None:
        return ""
    try:
        buf = io.BytesIO()
        _lay_out_once(fig, _PNG_DPI)
        fig.savefig(buf, format="png", dpi=_PNG_DPI)  # the kit's figures are laid out when built; no "tight" pass
        plt = sys.modules.get("matplotlib.pyplot")  # the kit's figures are not pyplot's; close only if it made them
        if plt is not None:
            plt.close(fig)
        return base64.b64encode(buf.getvalue()).decode("ascii")
    except Exception:  # noqa: BLE001
        return ""


def quiet():
    """Silence warnings and stderr (nbgrader zeroes a test cell that writes to stderr)."""
    stack = contextlib.ExitStack()
    stack.enter_context(warnings.catch_warnings())
    warnings.simplefilter("ignore")
    stack.enter_context(contextlib.redirect_stderr(io.StringIO()))
    return stack


def measure_deliverable(deliverable, *, scene: str, target: str = "streaming", figures: bool = True):
    """Run the kit's checks on a deliverable folder (in this process).

    Returns
    -------
    (dict, dict)
        check name -> CheckResult, and check name -> base64 PNG figure.
    """
    from layerlab.checks import run_checks

    with quiet():
        report = run_checks(deliverable, scene=scene, target=target)
        results = _check_results(report)
        figs = {}
        if figures:
            for name, fig in _figures(report).items():
                figs[name] = _png(fig)
    return results, figs


MEASURE_TIMEOUT_S = 300.0
"""Seconds the grader allows itself to measure one deliverable."""


def measure_task(args: dict) -> int:
    """Zygote task (in a forked measuring process): measure a deliverable and score it against the rubric items."""
    apply_limits(float(args["memory_mb"]))
    os.environ.update(args.get("env") or {})
    try:
        results, figs = measure_deliverable(args["deliverable"], scene=args["scene"], target=args["target"],
                                            figures=bool(args["figures"]))
        payload = {"items": [asdict(it) for it in score_mix(results, figs, args["spec"])]}
    except LayerLabError as exc:
        payload = {"error": str(exc)}
    write_private(args["out"], json.dumps(payload))
    return 0


def measure_in_child(deliverable, spec: dict, *, figures: bool = True, memory_mb: float = DEFAULT_MEMORY_MB,
                     timeout_s: float = MEASURE_TIMEOUT_S, zygote=None) -> list[ItemGrade]:
    """Measure and score a deliverable in a separate process (a crash or a hang there costs only this submission).

    Parameters
    ----------
    deliverable : str or Path
        The exported folder (``mix.wav``, ``stems/``, ``session.json``).
    spec : dict
        The assignment's rubric entry (:func:`assignment_spec`).
    zygote : layerlab.grading.zygote.Zygote, optional
        The warm interpreter to fork from (default: the process-wide one).

    Returns
    -------
    list of ItemGrade
        As :func:`score_mix` returns them.

    Raises
    ------
    GradingError
        When the deliverable cannot be measured at all, in words for the learner.
    """
    from layerlab.grading import zygote as _zygote

    out_dir = Path(tempfile.mkdtemp(prefix="layerlab-measure-"))
    out, log = out_dir / "items.json", out_dir / "log.txt"
    args = {"deliverable": str(deliverable), "scene": spec["scene"], "target": spec.get("target", "streaming"),
            "figures": bool(figures), "spec": {k: spec[k] for k in ("items", "gates") if k in spec}, "out": str(out),
            "memory_mb": float(memory_mb), "env": {k: v for k, v in os.environ.items() if k.startswith("LAYERLAB_")}}
    try:
        fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            task = (zygote or _zygote.shared()).spawn("measure", args, output_fd=fd)
        finally:
            os.close(fd)
        try:
            returncode = task.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            task.kill()
            task.wait()
            raise GradingError(f"Measuring the deliverable took over {timeout_s:.0f} s and was stopped. Export a mix "
                               "as long as the scene (mix.wav and each stem), then submit again.") from None
        if returncode != 0 or not out.is_file():
            tail = log.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-1:] if log.is_file() else []
            why = "it ran out of memory or was killed" if returncode == -int(signal.SIGKILL) else f"status {returncode}"
            raise GradingError(f"The grader could not measure the deliverable: its measuring process stopped ({why}"
                               + (f"; {tail[0][:200]}" if tail else "") + "). Check that mix.wav and the stems "
                               "open in an audio player, export them again and submit again.")
        payload = json.loads(out.read_text(encoding="utf-8"))
    finally:
        shutil.rmtree(out_dir, ignore_errors=True)
    if "error" in payload:
        raise GradingError(payload["error"])
    return [ItemGrade(**it) for it in payload["items"]]
