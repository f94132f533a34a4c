"""Self-check inside a lab: the grader's checks and verdicts, on the learner's own work, without an instructor.

Taught in ``labs/lab2_hybrid_mix/lab2_hybrid_mix.ipynb`` (self_check) and
``labs/lab1_audit/lab1_audit.ipynb``, ``labs/lab3_choose_approach/lab3_choose_approach.ipynb`` (check_answers).
"""

from __future__ import annotations

import base64
import contextlib
import os
from pathlib import Path

from layerlab.errors import GradingError
from layerlab.grading.measuring import measure_deliverable, quiet
from layerlab.grading.results import ItemGrade, SubmissionGrade, one_line
from layerlab.grading.rubric import (
    answer_keys,
    assignment_spec,
    dig_answer,
    finite_number,
    none_means_missing,
    normalise_choice,
    scene_cues,
    score_answers,
    score_mix,
)

_SELF_CACHE: dict = {}


def self_check(check: str | None = None, *, deliverable="deliverable", assignment: str = "lab2_hybrid_mix",
               scene: str | None = None, target: str | None = None, show: bool = True, figures: bool = True,
               strict: bool = True) -> SubmissionGrade:
    """Run the grader's checks on your current deliverable and show the same report.

    Parameters
    ----------
    check : str, optional
        One check (``"sync"``, ``"loudness"``...) to report on; by default all of them.
    deliverable : str or Path
        Your exported folder (``export_deliverable(stack, "deliverable")``).
    assignment : str
        The lab whose rubric gives the points.
    scene, target : str, optional
        Override the lab's scene and delivery target.
    show : bool
        Display the report: its text, and its figures inline in a notebook. In a plain Python or
        IPython terminal the figures are saved as PNGs in ``self_check_figures/`` beside the
        deliverable folder, and the report says where.
    strict : bool
        With ``check`` given, raise AssertionError when it fails (what a grade cell does).

    Returns
    -------
    SubmissionGrade
        Points as the grader would give them (the grader recomputes them itself). Before any
        export, ``self_check()`` (all checks, ``show=True``) prints one line saying how to export
        and returns a grade with no items and that line as its ``error``.

    Raises
    ------
    GradingError
        No deliverable folder yet, when a single ``check`` is asked for or ``show=False``.

    Notes
    -----
    Warnings and stderr are silenced (nbgrader zeroes a test cell that writes to stderr).
    While the out-of-kernel grader re-runs a notebook (``LAYERLAB_GRADING=1``) it does
    nothing and returns None: the grader measures the deliverable itself.
    Taught in ``labs/lab2_hybrid_mix/lab2_hybrid_mix.ipynb``.
    """
    if os.environ.get("LAYERLAB_GRADING") == "1":
        return None
    with quiet():
        try:
            spec = dict(assignment_spec(assignment))
        except GradingError:
            spec = {"kind": "mix", "notebook": assignment, "scene": scene, "target": target or "streaming",
                    "gates": ["format", "stems_sum"], "items": []}
        scene = scene or spec.get("scene")
        target = target or spec.get("target", "streaming")
        folder = Path(deliverable)
        # the scene the lab's set-up cell measures against (the learner's own variant), found the same way
        from layerlab.course.variants import VariantError, scene_in_use

        try:
            _, using = scene_in_use(folder.resolve().parent, scene=str(scene))
        except VariantError as exc:
            if show and check is None:
                print(exc)
                return SubmissionGrade(assignment, "self-check", [], error=str(exc))
            raise
        if not folder.is_dir():
            missing = (f"{folder}: no deliverable folder yet. Export one with "
                       f"export_deliverable(stack, {str(deliverable)!r}), then run self_check() again.")
            if show and check is None:  # a learner asking for the report: one clear line, no traceback
                print(missing)
                return SubmissionGrade(assignment, "self-check", [], error=missing)
            raise GradingError(missing)
        if show:  # which scene the report is about: the learner's own variant or the teaching scene
            print(using)
        key = (str(folder.resolve()), os.environ.get("LAYERLAB_ASSETS"), scene, target, _tree_stamp(folder))
        if key not in _SELF_CACHE:
            _SELF_CACHE.clear()
            _SELF_CACHE[key] = measure_deliverable(folder, scene=scene, target=target, figures=figures)
        results, figs = _SELF_CACHE[key]
        if not spec["items"]:
            spec["items"] = [{"check": n, "grade_id": n, "points": 1} for n in results]
        items = score_mix(results, figs, spec)
        if check is not None:
            items = [it for it in items if it.name == check] or [
                ItemGrade(check, check, 0.0, 0.0, False, message=f"No check named {check!r} (known: {', '.join(results)}).")]
        grade = SubmissionGrade(assignment, "self-check", items)
    if show:
        _show(grade, folder)
    if check is not None and strict and not all(it.passed for it in items):
        raise AssertionError(f"{check}: " + items[0].message)
    return grade


def _tree_stamp(folder: Path) -> tuple:
    out = []
    for p in sorted(folder.rglob("*")):
        with contextlib.suppress(OSError):
            st = p.stat()
            out.append((str(p), st.st_size, st.st_mtime_ns))
    return tuple(out)


def _show(grade: SubmissionGrade, folder: Path) -> None:
    """The report's text, then its figures: inline in a Jupyter kernel, else as PNGs beside the deliverable."""
    print(grade.to_text())
    figures = [it for it in grade.items if it.figure_png]
    if not figures:
        return
    if _in_kernel():
        from IPython.display import Image, display

        for it in figures:
            display(Image(data=base64.b64decode(it.figure_png)))
        return
    # a terminal cannot show an image (IPython would print "<IPython.core.display.Image object>")
    out = folder.resolve().parent / "self_check_figures"
    try:
        out.mkdir(exist_ok=True)
        for it in figures:
            (out / f"{it.name}.png").write_bytes(base64.b64decode(it.figure_png))
    except OSError as err:
        print(f"Figures not saved: {out} cannot be written ({err.strerror}); run self_check() in a notebook to see them.")
        return
    print(f"Figures saved in {out}: " + ", ".join(f"{it.name}.png" for it in figures))


def _in_kernel() -> bool:
    """True inside a Jupyter kernel (rich display); False in a plain Python or IPython terminal."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def _shown(v) -> str:
    try:
        return one_line(repr(v), limit=80)
    except Exception:  # noqa: BLE001 - a learner's __repr__ that raises
        return f"<{type(v).__name__}>"


def _per_key(keys) -> str:
    return f"one value for each of {', '.join(keys)}" if keys else "one value per key"


def _unknown_keys(it: dict, a: dict, keys) -> list[str]:
    """The line naming the keys of a dict answer the grader does not read (none when the keys are unknown)."""
    unknown = [_shown(k) for k in a if str(k) not in keys] if keys else []
    return [f"{it['answer']} has keys the grader does not read: {', '.join(unknown[:8])} "
            f"(the keys are {', '.join(keys)})"] if unknown else []


def _shape_problems(it: dict, a, keys=None) -> list[str]:
    problems = []
    kind = it.get("type", "number")
    if kind == "number" and finite_number(a) is None:
        problems.append(f"{it['answer']} should be a number, got {_shown(a)}")
    elif kind in ("numbers", "choices") and not isinstance(a, dict):
        problems.append(f"{it['answer']} should be a dict with {_per_key(keys)}, got {type(a).__name__} {_shown(a)}")
    elif kind == "numbers":
        may_be_none = none_means_missing(it)  # None: that SFX is missing from the render
        problems += _unknown_keys(it, a, keys)
        not_number = [f"{_shown(k)}: {_shown(v)}" for k, v in a.items()
                      if (keys is None or str(k) in keys) and finite_number(v) is None and not (v is None and may_be_none)]
        if not_number:
            problems.append(f"{it['answer']} needs plain numbers, not {', '.join(not_number[:8])}")
        given = {str(k) for k in a}
        absent = [k for k in keys or [] if k not in given]
        if absent:
            problems.append(f"{it['answer']} has no entry for {', '.join(absent)}")
    elif kind == "choices":
        allowed = it.get("allowed")
        if allowed:
            for k, v in a.items():
                if normalise_choice(v) not in {normalise_choice(x) for x in allowed}:
                    problems.append(f"{it['answer']}[{_shown(k)}] = {_shown(v)}: "
                                    f"choose one of {allowed}")
        keys = keys if keys is not None else it.get("keys", [])
        problems += _unknown_keys(it, a, keys)
        for k in keys:
            if k not in a:
                problems.append(f"{it['answer']} has no entry for {k!r}")
    return problems


def _renamed(it: dict, holder, rest: str, keys) -> str:
    """For a missing answer: the learner's key with a near name (an older notebook's), and what is asked instead."""
    if not isinstance(holder, dict) or not rest or "." in rest:
        return ""
    import difflib

    try:
        theirs = [k for k in list(holder)[:200] if isinstance(k, str)]
    except Exception:  # noqa: BLE001 - a learner's mapping that fails while read: no hint, no traceback
        return ""
    near = difflib.get_close_matches(rest, theirs, n=1, cutoff=0.8)
    if not near:
        return ""
    what = f"a dict with {_per_key(keys)}" if it.get("type") in ("numbers", "choices") else "a number"
    var = it["answer"].split(".", 1)[0]
    return f" (you set {var}[{near[0]!r}], which the grader does not read: give {var}[{rest!r}], {what})"


def check_answers(answers: dict, *, assignment: str, show: bool = True, grade: bool = False) -> list[str]:
    """Check that a lab's answers have the shape the grader reads; optionally, grade them.

    Parameters
    ----------
    answers : dict
        The lab's answer variables by name, e.g. ``{"findings": findings}``.
    assignment : str
    show : bool
        Print the result.
    grade : bool
        Also show the grader's verdict per item (points and advice; true values are
        never shown). For self-paced learners; a course may leave it off.

    Returns
    -------
    list of str
        The problems found (empty when the answers are complete).

    Notes
    -----
    While the out-of-kernel grader re-runs a notebook (``LAYERLAB_GRADING=1``) it does
    nothing and returns an empty list: the grader compares the answers itself, and the
    learner's code may not read the rubric.

    Taught in ``labs/lab1_audit/lab1_audit.ipynb`` and ``labs/lab3_choose_approach/lab3_choose_approach.ipynb``.
    """
    if os.environ.get("LAYERLAB_GRADING") == "1":
        return []
    spec = assignment_spec(assignment)
    problems = []
    try:  # the learner's own cue sheet (a variant's public one): the line and event ids a dict answer needs
        cues = scene_cues(spec["scene"]) if spec.get("scene") else None
    except GradingError:
        cues = None
    for it in spec["items"]:
        path = it["answer"].split(".", 1)
        var, rest = path[0], (path[1] if len(path) > 1 else "")
        holder = answers.get(var) if var in answers else None
        if holder is None:
            problems.append(f"{var} is not defined")
            continue
        try:
            a = dig_answer(holder, rest) if rest else holder
        except KeyError:
            problems.append(f"{it['answer']} is missing" + _renamed(it, holder, rest, answer_keys(it, cues)))
            continue
        except Exception as exc:  # noqa: BLE001 - a container that fails while read: this answer only
            problems.append(f"{it['answer']} could not be read ({type(exc).__name__})")
            continue
        try:
            problems += _shape_problems(it, a, answer_keys(it, cues))
        except Exception as exc:  # noqa: BLE001 - a hostile value (huge int, raising __float__): this answer only
            problems.append(f"{it['answer']} could not be read ({type(exc).__name__}); give a plain number, text or dict")
    if show:
        print("Answers are complete: the grader can read them." if not problems else
              "Fix before submitting:\n  - " + "\n  - ".join(problems))
    if grade:
        from layerlab.course.variants import local_truth, scene_in_use

        if spec.get("scene"):  # a lab on one scene: say which (the learner's own variant, or the teaching scene)
            _, using = scene_in_use(".", scene=str(spec["scene"]))
            if show:
                print(using)
        truth = local_truth(spec.get("scene"))
        if truth is False:
            if show:
                print("This is your assessed variant: its true values are with your instructor, who grades it.")
            return problems
        with quiet():
            items = score_answers(answers, spec, cues=truth)
        result = SubmissionGrade(assignment, "self-check", items)
        if show:
            print(result.to_text())
    return problems
