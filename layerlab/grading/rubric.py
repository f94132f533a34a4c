"""The rubric (points per check, as data) and how results become points.

:func:`score_mix` turns measured checks into points; :func:`score_answers` compares a
lab's answers with the truth (the scene's cue sheet or the rubric). Taught in
``labs/lab1_audit/lab1_audit.ipynb`` and ``labs/lab3_choose_approach/lab3_choose_approach.ipynb``;
the rubric schema is in ``autograder/README.md``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from layerlab.errors import GradingError, LayerLabError
from layerlab.grading.results import ItemGrade, fmt, jsonable
from layerlab.paths import REPO_ROOT, scenes_dir

RUBRIC_FILE = "rubric.json"
KIT_RUBRIC = REPO_ROOT / "autograder" / RUBRIC_FILE


def load_rubric(path=None, *, course=None) -> dict:
    """Load the grading rubric (points per check, as data).

    Parameters
    ----------
    path : str or Path, optional
        A ``rubric.json``. Default: ``<course>/rubric.json`` if ``course`` is given and holds
        one, else the kit's ``autograder/rubric.json``.
    course : str or Path, optional
        An nbgrader course root.

    Returns
    -------
    dict
        ``{"assignments": {name: {...}}}``; see ``autograder/README.md`` for the schema.
    """
    if path is None:
        candidates = [Path(course) / RUBRIC_FILE] if course else []
        candidates.append(KIT_RUBRIC)
        path = next((p for p in candidates if p.is_file()), None)
        if path is None:
            raise GradingError(f"No rubric found (looked for {', '.join(map(str, candidates))}). "
                               "Copy autograder/rubric.json into the course folder.")
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise GradingError(f"rubric {path}: cannot read it as JSON ({exc}).") from None
    if not isinstance(data, dict) or not isinstance(data.get("assignments"), dict):
        raise GradingError(f"rubric {path}: expected an object with an 'assignments' mapping.")
    for name, spec in data["assignments"].items():
        if spec.get("kind") not in ("mix", "answers"):
            raise GradingError(f"rubric {path}: assignment {name!r} needs kind 'mix' or 'answers'.")
        if not spec.get("notebook") or not isinstance(spec.get("items"), list) or not spec["items"]:
            raise GradingError(f"rubric {path}: assignment {name!r} needs a 'notebook' and a non-empty 'items' list.")
        t = spec.get("timeout_s")
        if t is not None and (isinstance(t, bool) or not isinstance(t, (int, float)) or not 0 < t <= 24 * 3600):
            raise GradingError(f"rubric {path}: 'timeout_s' of {name!r} must be a number of seconds above 0 ({t!r}).")
        c = spec.get("cpu_s")
        if c is not None and (isinstance(c, bool) or not isinstance(c, (int, float)) or not 0 < c <= 24 * 3600):
            raise GradingError(f"rubric {path}: 'cpu_s' of {name!r} must be a number of CPU seconds above 0 ({c!r}); "
                               "leave it out for the default (timeout_s + 10 s in the sandbox).")
        for it in spec["items"]:
            if "grade_id" not in it or "points" not in it:
                raise GradingError(f"rubric {path}: every item of {name!r} needs 'grade_id' and 'points' ({it}).")
    data["_path"] = str(path)
    return data


def assignment_spec(assignment: str, rubric: dict | None = None) -> dict:
    """The rubric entry of one assignment (raises GradingError naming the known ones)."""
    rubric = rubric or load_rubric()
    try:
        return rubric["assignments"][assignment]
    except KeyError:
        known = ", ".join(sorted(rubric["assignments"]))
        raise GradingError(f"assignment {assignment!r} is not in the rubric {rubric.get('_path', '')} (known: {known}).") from None


FIGURE_FOR_CHECK = {
    "loudness": "loudness", "true_peak": "true_peak", "sync": "sync", "dialogue_sync": "dialogue_sync",
    "masking": "masking", "band_audibility": "band_audibility", "ducking": "ducking",
}
"""Which of ``CheckReport.figures()`` illustrates each check."""


def score_mix(results: dict, figs: dict, spec: dict) -> list[ItemGrade]:
    """Turn check results into points: full points for a passed check, none for a failed one.

    A failed gate check (``spec["gates"]``, e.g. ``format``, ``stems_sum``) means the
    stems cannot be trusted, so every item scores zero.
    """
    gates_failed = [g for g in spec.get("gates", []) if g in results and not results[g].passed]
    gates_missing = [g for g in spec.get("gates", []) if g not in results]
    items = []
    for it in spec["items"]:
        name = it["check"]
        r = results.get(name)
        pts = float(it["points"])
        if r is None:
            items.append(ItemGrade(it["grade_id"], name, 0.0, pts, False, message=f"The check {name!r} did not run on this deliverable."))
            continue
        passed = bool(r.passed) and not gates_failed and not gates_missing
        msg = str(getattr(r, "message", ""))
        if gates_failed and r.passed:
            msg = (f"Not scored: the deliverable failed {', '.join(gates_failed)} ("
                   + "; ".join(str(results[g].message) for g in gates_failed) + "). " + msg)
        items.append(ItemGrade(it["grade_id"], name, pts if passed else 0.0, pts, passed, jsonable(getattr(r, "value", None)),
                               str(getattr(r, "unit", "") or ""), jsonable(getattr(r, "target", None)), msg,
                               figs.get(name) or figs.get(FIGURE_FOR_CHECK.get(name, ""), "")))
    return items


def dig_answer(data, dotted: str):
    """Follow ``a.b.c`` into nested dicts; ``flaws[kind=sfx_late]`` picks the list item with that field."""
    cur = data
    for part in dotted.split("."):
        select = None
        if part.endswith("]") and "[" in part:
            part, sel = part[:-1].split("[", 1)
            select = sel.split("=", 1) if "=" in sel else None
        if isinstance(cur, dict) and part in cur:
            cur = cur[part]
        else:
            raise KeyError(dotted)
        if select is not None:
            key, want = select
            hits = [x for x in cur if isinstance(x, dict) and str(x.get(key)) == want] if isinstance(cur, list) else []
            if not hits:
                raise KeyError(dotted)
            cur = hits[0]
    return cur


def derived_truth(name: str, cues: dict):
    """Truths computed from a cue sheet's ``native.flaws`` (true values of the native render).

    ``dialogue_offsets_ms`` per line: its true offset (``native.truth``; in a lab 1 variant each line has its
                            own, in or out of sync, never 0), else the dialogue_late flaw's, else 0.
    ``sfx_offsets_ms``      per event: its true offset (``native.truth``; in a lab 1 variant every event has
                            one, in or out of sync), else its sfx_late offset, ``"missing"`` for sfx_missing, else 0.
    ``dialogue_to_music_lu`` per line: the true dialogue-over-music ratio under that line (``native.truth``'s
                            ``dialogue_to_music_lu_by_line``, in the delivered file; in a lab 1 variant also when the
                            music is no flaw).
    ``issues``              per flaw kind: whether the native render has it.
    ``replace``             per layer: "post" when the native render has a flaw in it, else "native".
    """
    flaws = (cues.get("native") or {}).get("flaws") or []
    measured = (cues.get("native") or {}).get("truth") or {}
    if name == "dialogue_offsets_ms":
        out = {d["id"]: 0.0 for d in cues.get("dialogue", [])}
        late = next((f for f in flaws if f.get("kind") == "dialogue_late"), None)
        if late is not None:
            out.update({lid: float((late.get("offsets_ms") or {}).get(lid, late["offset_ms"])) for lid in out})
        out.update({k: float(v) for k, v in (measured.get("dialogue_offset_ms") or {}).items() if k in out})
        return out
    if name == "dialogue_to_music_lu":
        by_line = measured.get("dialogue_to_music_lu_by_line")
        if not by_line:
            raise KeyError("native.truth.dialogue_to_music_lu_by_line")
        return {k: float(v) for k, v in by_line.items()}
    if name == "sfx_offsets_ms":
        out = {e["id"]: 0.0 for e in cues.get("events", [])}
        out.update({k: float(v) for k, v in (measured.get("sfx_offset_ms") or {}).items() if k in out})
        for f in flaws:
            if f.get("kind") == "sfx_late":
                out[f["event"]] = float(f["offset_ms"])
            elif f.get("kind") == "sfx_missing":
                out[f["event"]] = "missing"
        return out
    if name == "replace":
        kinds = {f.get("kind") for f in flaws}
        bad = {"dialogue": {"dialogue_late", "dialogue_band_limited"}, "sfx": {"sfx_late", "sfx_missing"},
               "ambience": {"ambience_dropout"}, "music": {"music_masks_dialogue"}}
        return {layer: "post" if kinds & k else "native" for layer, k in bad.items()}
    if name == "issues":
        from layerlab.mix.scenes import FLAW_KINDS

        kinds = {f.get("kind") for f in flaws}
        return {k: k in kinds for k in FLAW_KINDS}
    raise KeyError(f"derived:{name}")


_KEYS_OF = {"dialogue_offsets_ms": "dialogue", "dialogue_to_music_lu": "dialogue", "sfx_offsets_ms": "events"}


def answer_keys(it: dict, cues: dict | None) -> list[str] | None:
    """The keys a ``numbers`` or ``choices`` answer must have, from public data only; None when unknown.

    Parameters
    ----------
    it : dict
        A rubric item.
    cues : dict or None
        The scene's cue sheet as the learner has it (a variant's public cue sheet is enough: the keys
        are its line and event ids, never true values).

    Returns
    -------
    list of str or None
        ``expected``'s keys, else the item's ``keys``, else for ``derived:issues`` the flaw kinds, for
        ``derived:dialogue_offsets_ms`` and ``derived:dialogue_to_music_lu`` the cue sheet's line ids and
        for ``derived:sfx_offsets_ms`` its event ids. Used by the self-check (``check_answers``, lab 1).
    """
    if isinstance(it.get("expected"), dict):
        return [str(k) for k in it["expected"]]
    if it.get("keys"):
        return [str(k) for k in it["keys"]]
    name = str(it.get("truth", "")).removeprefix("derived:")
    if name == "issues":  # every flaw kind a native render can list (the keys of derived_truth("issues"))
        from layerlab.mix.scenes import FLAW_KINDS

        return list(FLAW_KINDS)
    if name in _KEYS_OF and isinstance(cues, dict):
        return [str(x["id"]) for x in cues.get(_KEYS_OF[name]) or [] if isinstance(x, dict) and "id" in x]
    return None


def finite_number(v):
    """``v`` as a finite float, else None (also when converting it raises anything: a huge int, a hostile ``__float__``).

    A number is what the grader's export keeps as one (:func:`layerlab.grading.results.jsonable`): an int,
    a float or a numpy number. Text (``"125"``), a Decimal or a Fraction (exported as text) is None, so the
    self-check, which reads the kernel's values, and the grader, which reads the export, agree.
    """
    j = jsonable(v)
    if isinstance(j, bool) or not isinstance(j, (int, float)):
        return None
    return float(j) if math.isfinite(j) else None


def scene_cues(scene: str) -> dict:
    """The scene's cue sheet as its JSON document, read and validated by :func:`layerlab.io.cuesheet.load_cues`."""
    from layerlab.io.cuesheet import load_cues

    path = scenes_dir() / scene / "cues.json"
    if not path.is_file():
        raise GradingError(f"scene {scene!r}: cannot read its cue sheet {path} (no such file). Build the scenes with `make assets`.")
    try:
        return load_cues(path).raw
    except LayerLabError as exc:
        raise GradingError(f"scene {scene!r}: cannot read its cue sheet {path} ({exc}). Build the scenes with `make assets`.") from None


def _truth(it: dict, spec: dict, cues_cache: dict):
    if "expected" in it:
        return it["expected"]
    scene = it.get("scene") or spec.get("scene")
    if scene not in cues_cache:
        cues_cache[scene] = scene_cues(scene)
    if it["truth"].startswith("derived:"):
        return derived_truth(it["truth"].split(":", 1)[1], cues_cache[scene])
    return dig_answer(cues_cache[scene], it["truth"])


def score_answers(answers: dict, spec: dict, *, cues: dict | None = None) -> list[ItemGrade]:
    """Compare a learner's answers with the truth (cue sheet or rubric) and award points.

    ``cues``, when given, is the complete cue sheet the truths are read from instead of
    the scene's: the learner's own variant (``truth.json`` of :mod:`layerlab.course.variants`).

    Item types (``item["type"]``):

    ``number``   one value within ``tolerance`` of the truth: all points or none.
    ``numbers``  a mapping (e.g. offset per SFX event): points shared equally by the keys
                 of the truth, each earned within ``tolerance``; with ``"all_keys": true``
                 all points only when every key is within ``tolerance`` (lab 1's SFX offsets:
                 a classmate's dict, right on one event by chance, earns nothing).
    ``choices``  a mapping of categorical answers (e.g. per-layer native/post): points shared
                 equally by the expected keys; comparison ignores case and spaces.

    Taught in ``labs/lab1_audit/lab1_audit.ipynb`` and ``labs/lab3_choose_approach/lab3_choose_approach.ipynb``.
    """
    cues_cache: dict = {spec.get("scene"): cues} if cues is not None else {}
    items = []
    for it in spec["items"]:
        pts = float(it["points"])
        name = it.get("label") or it["answer"]
        try:
            truth = _truth(it, spec, cues_cache)
        except (KeyError, GradingError) as exc:
            items.append(ItemGrade(it["grade_id"], name, 0.0, pts, False, message=f"The grader has no true value for this item ({exc})."))
            continue
        kind = it.get("type", "number")
        if kind not in ("number", "numbers", "choices"):
            raise GradingError(f"rubric item {it['grade_id']}: unknown type {kind!r}.")
        try:
            answer = dig_answer(answers, it["answer"])
        except KeyError:
            items.append(ItemGrade(it["grade_id"], name, 0.0, pts, False, target=None,
                                   message=f"No answer found: set {_answer_ref(it['answer'])} in the answer cell and run the notebook."))
            continue
        except Exception as exc:  # noqa: BLE001 - a learner's container that fails while read costs only this answer
            items.append(_unreadable(it, name, pts, exc))
            continue
        try:
            items.append(_score_item(it, kind, name, pts, answer, truth))
        except GradingError:
            raise
        except Exception as exc:  # noqa: BLE001 - a hostile answer (huge int, raising __float__) costs only itself
            items.append(_unreadable(it, name, pts, exc))
    return items


def no_answers_note(answers: dict, spec: dict) -> str:
    """One line when none of the assignment's answers was found (an untouched notebook), else "".

    Each item's verdict says "No answer found: set ..."; this is the grade's one-line reason for the class summary
    and ``layerlab grade``'s line: "No answers found: findings was never set (the notebook did not fill in its answers)."
    """
    refs = []
    for it in spec["items"]:
        try:
            dig_answer(answers, it["answer"])
            return ""
        except KeyError:
            refs.append(_answer_ref(it["answer"]))
        except Exception:  # noqa: BLE001 - an answer that is there but cannot be read: not "no answers"
            return ""
    if not refs:
        return ""
    never = [str(n) for n in spec.get("exports", []) if n not in answers]
    if never and all(r.split("[", 1)[0] in never for r in refs):
        return (f"No answers found: {', '.join(never)} {'was' if len(never) == 1 else 'were'} never set "
                "(the notebook did not fill in its answers).")
    return (f"No answers found: {', '.join(refs[:4])}{', ...' if len(refs) > 4 else ''} not set "
            "(the notebook did not fill in its answers).")


def manual_points(source_notebook, spec: dict) -> float | None:
    """Points of the assignment graded by hand in formgrader (not in the grader's scores), from its source notebook.

    The rubric lists the auto-graded cells only; a manually graded cell's points live in the instructor's source
    notebook: nbgrader metadata ``grade: true`` with ``solution: true`` (a written answer) or ``task: true``. Cells
    the rubric scores are not counted. None when the source notebook cannot be read (nothing known, nothing said).
    """
    try:
        nb = json.loads(Path(source_notebook).read_text(encoding="utf-8"))
        auto = {str(it["grade_id"]) for it in spec["items"]}
        total = 0.0
        for cell in nb.get("cells", []):
            meta = (cell.get("metadata") or {}).get("nbgrader") or {}
            if meta.get("grade_id") not in auto and ((meta.get("grade") and meta.get("solution")) or meta.get("task")):
                total += float(meta.get("points") or 0.0)
        return total
    except (OSError, ValueError, TypeError, AttributeError, RecursionError):
        return None


def _unreadable(it: dict, name: str, pts: float, exc: BaseException) -> ItemGrade:
    return ItemGrade(it["grade_id"], name, 0.0, pts, False, message=(
        f"Your answer to {_answer_ref(it['answer'])} could not be compared ({type(exc).__name__}); "
        "give a plain number, text or dict of them."))


def none_means_missing(it: dict) -> bool:
    """Whether ``None`` is an answer of this ``numbers`` item: for the SFX offsets, "this effect is missing"."""
    return str(it.get("truth", "")).endswith("sfx_offsets_ms")


def _score_item(it: dict, kind: str, name: str, pts: float, answer, truth) -> ItemGrade:
    tol = float(it.get("tolerance", 0.0))
    unit = it.get("unit", "")
    if kind == "number":
        a, t = finite_number(answer), finite_number(truth)
        ok = a is not None and t is not None and abs(a - t) <= tol
        msg = (f"Within {fmt(tol)} {unit} of the true value." if ok else
               f"Your answer to {_answer_ref(it['answer'])} is not a number ({_type_name(answer)}): give one plain number." if a is None else
               f"Your value {fmt(answer)} {unit} is more than {fmt(tol)} {unit} from the true value; re-measure it.")
        return ItemGrade(it["grade_id"], name, pts if ok else 0.0, pts, ok, jsonable(answer), unit, f"±{fmt(tol)}", msg)
    if not isinstance(truth, dict) or not truth:
        return ItemGrade(it["grade_id"], name, 0.0, pts, False, message="The grader's truth for this item is empty.")
    given = answer if isinstance(answer, dict) else {}
    good, bad = [], []
    # of the bad keys (a ``numbers`` item): no entry, None (for an SFX: "missing") where the truth is a number, or an
    # entry that is no number
    absent, marked_missing, not_number = [], [], []
    for key, t in truth.items():
        try:
            a = given.get(key, _ABSENT)
            ok = _key_ok(kind, None if a is _ABSENT else a, t, tol)
            if not ok and kind == "numbers":
                if a is _ABSENT:
                    absent.append(str(key))
                elif a is None and none_means_missing(it) and not (t is None or t == "missing"):
                    marked_missing.append(str(key))
                elif finite_number(a) is None and not (t is None or t == "missing"):
                    not_number.append(str(key))
        except Exception:  # noqa: BLE001 - one hostile value costs only its own key
            ok = False
            if kind == "numbers":
                not_number.append(str(key))
        (good if ok else bad).append(str(key))
    share = round(pts * len(good) / len(truth), 4)
    if it.get("all_keys") and bad:
        share = 0.0
    ref = _answer_ref(it["answer"])
    if not bad:
        msg = "All correct." if kind == "choices" else f"Every value within {fmt(tol)} {unit}."
    elif kind == "choices":
        msg = f"Reconsider: {', '.join(bad)}." + ("" if isinstance(answer, dict) else " (the answer must be a dict)")
    elif not isinstance(answer, dict):
        msg = (f"Your answer to {ref} is {_type_name(answer)}, not a dict: give one {unit + ' ' if unit else ''}value per key, "
               f"{{{', '.join(repr(k) + ': ...' for k in list(truth)[:8])}{', ...' if len(truth) > 8 else ''}}}.")
    else:
        off = [k for k in bad if k not in absent and k not in not_number and k not in marked_missing]
        parts = ([f"no entry for {', '.join(absent)}"] if absent else []) + \
                ([f"None (no sound) for {', '.join(marked_missing)}, where the grader finds a value (re-measure those)"]
                 if marked_missing else []) + \
                ([f"not a number: {', '.join(not_number)} (give plain numbers)"] if not_number else []) + \
                ([f"off by more than {fmt(tol)} {unit}: {', '.join(off)} (re-measure those)"] if off else [])
        msg = (f"{ref}: " + "; ".join(parts)
               + (". Points only when every value is right." if it.get("all_keys") else "."))
    return ItemGrade(it["grade_id"], name, share, pts, not bad, jsonable(answer), unit,
                     f"±{fmt(tol)}" if kind == "numbers" else "", msg)


def _key_ok(kind: str, a, t, tol: float) -> bool:
    if kind == "numbers" and (t is None or t == "missing"):
        return a is None or normalise_choice(a) in ("missing", "none", "nan")
    if kind == "numbers":
        av, tv = finite_number(a), finite_number(t)
        return av is not None and tv is not None and abs(av - tv) <= tol
    return a is not None and normalise_choice(a) == normalise_choice(t)


_ABSENT = object()


def _type_name(v) -> str:
    """What a learner's answer is, in words (``a float``, ``a list``); never its value (it may be hostile)."""
    name = type(v).__name__
    return f"{'an' if name[:1].lower() in 'aeiou' else 'a'} {name}"


def _answer_ref(path: str) -> str:
    head, *rest = path.split(".")
    return head + "".join(f"[{k!r}]" for k in rest)


def normalise_choice(v) -> str:
    s = str(v).strip().lower().replace("-", "").replace("_", "").replace(" ", "")
    aliases = {"postgenerated": "post", "postgen": "post", "replace": "post", "keep": "native", "yes": "true", "no": "false",
               "1": "true", "0": "false", "1.0": "true", "0.0": "false"}
    return aliases.get(s, s)
