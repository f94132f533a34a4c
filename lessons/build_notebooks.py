"""Build the course notebooks (lessons, nbgrader labs and their learner copies) from their jupytext sources.

Every notebook is written as a jupytext *percent* file, plain Python that editors,
linters and reviewers can read, and the ``.ipynb`` is generated from it::

    make notebooks                                       # rewrite every .ipynb from its source
    .venv/bin/python lessons/build_notebooks.py          # the same
    .venv/bin/python lessons/build_notebooks.py --check  # list the .ipynb that differ; exit 1 if any

Sources and what they become:

* ``lessons/src/<lesson>.py`` -> ``lessons/<lesson>.ipynb``
* ``autograder/src/<lab>.py`` -> ``autograder/source/<lab>/<lab>.ipynb``, the instructor notebook
  (solutions, hidden tests, mark schemes): the nbgrader ``source/`` folder of a course, which
  instructors copy as it is. The jupytext source sits outside it, because nbgrader releases every
  other file of a ``source/<lab>/`` folder to learners.
* ``autograder/source/<lab>/`` -> ``labs/<lab>/``, the **learner copy**: what nbgrader's own
  ``generate_assignment`` converter releases (``ClearSolutions``, ``ClearHiddenTests``,
  ``ClearMarkScheme``, ``LockCells``, ``ComputeChecksums``, ... with the course's
  ``autograder/nbgrader_config.py``), run in a scratch course folder. Extra files
  (``scenarios.json``) come along as nbgrader copies them.

In a source, ``# %%`` starts a code cell and ``# %% [markdown]`` a text cell (each line
commented with ``# ``); an IPython magic is written commented out (``# %matplotlib widget``).
See https://jupytext.readthedocs.io/en/latest/formats-scripts.html.

A lab cell that nbgrader must know about carries its role in the cell header::

    # %% role="readonly" grade_id="lab1_setup"            locked, not graded
    # %% role="solution" grade_id="lab1_dialogue"         ### BEGIN SOLUTION / ### END SOLUTION inside
    # %% role="test" grade_id="audit_loudness"            auto-graded; points come from rubric.json
    # %% [markdown] role="manual" grade_id="lab1_judgement" points=4   graded by an instructor

``autograder/rubric.json`` is the one source of the auto-graded points: a ``test`` cell must not
state points, its ``grade_id`` must be a rubric item of that lab, and every rubric item needs
exactly one ``test`` cell (the build stops with a one-line message otherwise). Manually graded
cells are not in the rubric, so their points are written in the header. The nbgrader metadata
(``schema_version`` 3, ``grade``/``solution``/``locked``/``task`` flags) is filled in here.

Cell ids are ``<prefix>-<index>`` (``07-03``, ``lab1-12``): the same on every build, so a
rebuild never changes a notebook whose source did not change. Notebooks are written without
outputs or execution counts.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import jupytext
import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

ROOT = Path(__file__).resolve().parent.parent
INSTRUCTOR_SRC = Path("autograder", "src")  # jupytext sources of the labs (solutions in place)
INSTRUCTOR_DIR = Path("autograder", "source")  # the nbgrader source/ folder of a course: <lab>/<lab>.ipynb + extra files
LEARNER_DIR = Path("labs")  # the released learner copies: <lab>/<lab>.ipynb + extra files

KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
ROLES = {
    # role: (cell type, nbgrader flags)
    "readonly": ("code", {"grade": False, "solution": False, "locked": True}),
    "solution": ("code", {"grade": False, "solution": True, "locked": False}),
    "test": ("code", {"grade": True, "solution": False, "locked": True}),
    "manual": ("markdown", {"grade": True, "solution": True, "locked": False}),
}
HEADER_KEYS = {"role", "grade_id", "points"}
LAYOUT_KEYS = {"lines_to_next_cell"}  # jupytext's note of extra blank lines after a cell: layout only, dropped


class SourceError(ValueError):
    """A notebook source cannot be built (unknown role, a grade id the rubric does not know, ...)."""


@dataclass(frozen=True)
class Target:
    """One notebook: its jupytext source, the ``.ipynb`` built from it, and how cells are named."""

    source: Path
    notebook: Path
    id_prefix: str
    assignment: str | None = None  # the rubric assignment of a lab, None for a lesson


def targets(root: Path = ROOT) -> list[Target]:
    """Every notebook of the kit, found from the sources under ``lessons/src`` and ``autograder/src``."""
    found = [Target(p, root / "lessons" / f"{p.stem}.ipynb", p.stem[:2]) for p in sorted((root / "lessons" / "src").glob("*.py"))]
    found += [Target(p, root / INSTRUCTOR_DIR / p.stem / f"{p.stem}.ipynb", p.stem[:4], assignment=p.stem)
              for p in sorted((root / INSTRUCTOR_SRC).glob("*.py"))]
    return found


def load_rubric(root: Path = ROOT) -> dict:
    return json.loads((root / "autograder" / "rubric.json").read_text(encoding="utf-8"))


def _rubric_points(rubric: dict, assignment: str, where: str) -> dict[str, int]:
    try:
        items = rubric["assignments"][assignment]["items"]
    except KeyError:
        raise SourceError(f"{where}: autograder/rubric.json has no assignment '{assignment}'; "
                          "add it there or rename the source after its assignment") from None
    return {it["grade_id"]: it["points"] for it in items}


def _nbgrader(meta: dict, cell_type: str, rubric_points: dict[str, int] | None, where: str) -> dict:
    unknown = set(meta) - HEADER_KEYS
    if unknown:
        raise SourceError(f"{where}: unknown cell header key(s) {sorted(unknown)}; use only role=, grade_id=, points=")
    role = meta.get("role")
    if rubric_points is None:
        raise SourceError(f"{where}: lesson cells carry no grading header; remove {sorted(meta)}")
    if role not in ROLES:
        raise SourceError(f"{where}: role={role!r} is not one of {sorted(ROLES)}")
    wanted_type, flags = ROLES[role]
    if cell_type != wanted_type:
        raise SourceError(f"{where}: a role={role!r} cell must be a {wanted_type} cell, not {cell_type}")
    grade_id = meta.get("grade_id")
    if not isinstance(grade_id, str) or not grade_id:
        raise SourceError(f"{where}: role={role!r} needs grade_id=\"...\" in the cell header")
    out = {"grade_id": grade_id, "schema_version": 3, "task": False, **flags}
    if role == "test":
        if "points" in meta:
            raise SourceError(f"{where}: a test cell takes its points from autograder/rubric.json; remove points={meta['points']}")
        if grade_id not in rubric_points:
            raise SourceError(f"{where}: grade_id '{grade_id}' is not an item of this lab in autograder/rubric.json; "
                              "add it to the rubric or fix the id")
        out["points"] = rubric_points[grade_id]
    elif role == "manual":
        if not isinstance(meta.get("points"), int) or isinstance(meta.get("points"), bool) or meta["points"] <= 0:
            raise SourceError(f"{where}: a manual cell needs points=<positive whole number> in its header")
        out["points"] = meta["points"]
    elif "points" in meta:
        raise SourceError(f"{where}: a {role} cell is not graded; remove points={meta['points']}")
    return out


def build(target: Target, rubric: dict | None = None) -> nbformat.NotebookNode:
    """The notebook of one source, with nbgrader metadata, stable ids and no outputs.

    Raises
    ------
    SourceError
        A cell header is wrong, or a lab's graded cells and ``autograder/rubric.json`` disagree.
    """
    text = jupytext.read(target.source, fmt="py:percent")
    root = target.source.parents[2]  # <root>/lessons/src/x.py or <root>/autograder/src/x.py
    rel = target.source.relative_to(root).as_posix()
    rubric_points = None
    if target.assignment is not None:
        rubric_points = _rubric_points(rubric if rubric is not None else load_rubric(root), target.assignment, rel)
    cells, graded = [], []
    for i, cell in enumerate(text.cells):
        where = f"{rel}, cell {i}"
        make = new_code_cell if cell.cell_type == "code" else new_markdown_cell
        out = make(cell.source.strip("\n"))  # blank lines around a cell are spacing in the source, not content
        meta = {k: v for k, v in cell.metadata.items() if k not in LAYOUT_KEYS}
        if meta:
            out.metadata["nbgrader"] = _nbgrader(meta, cell.cell_type, rubric_points, where)
            if meta.get("role") == "test":
                graded.append(meta["grade_id"])
        out["id"] = f"{target.id_prefix}-{i:02d}"
        cells.append(out)
    if rubric_points is not None:
        twice = sorted({g for g in graded if graded.count(g) > 1})
        missing = sorted(set(rubric_points) - set(graded))
        if twice or missing:
            raise SourceError(f"{rel}: rubric items need exactly one test cell each: "
                              f"missing {missing}, more than one {twice}; fix the source or autograder/rubric.json")
    nb = new_notebook(cells=cells)
    nb.metadata = {"kernelspec": dict(KERNELSPEC), "language_info": {"name": "python"}}
    nbformat.validate(nb)
    return nb


def render(target: Target, rubric: dict | None = None) -> str:
    """The exact text of the ``.ipynb`` built from ``target.source``."""
    text = nbformat.writes(build(target, rubric))
    return text if text.endswith("\n") else text + "\n"


# ------------------------------------------------------------------------------------------ learner copies

def _nbgrader_config(root: Path):
    """The course's ``autograder/nbgrader_config.py`` as a traitlets ``Config`` (stubs, delimiters, ignore list)."""
    from traitlets.config.loader import PyFileConfigLoader

    return PyFileConfigLoader("nbgrader_config.py", path=str(root / "autograder")).load_config()


def learner_copy(root: Path, lab: str, instructor_text: str | None = None) -> dict[str, bytes]:
    """The released version of one lab, made by nbgrader's ``generate_assignment`` preprocessors.

    Parameters
    ----------
    root : Path
        The kit's root (holding ``autograder/`` and ``labs/``).
    lab : str
        The assignment (``lab2_hybrid_mix``).
    instructor_text : str, optional
        The instructor notebook's text (as :func:`render` builds it); by default the one in
        ``autograder/source/<lab>/``.

    Returns
    -------
    dict
        ``{path inside labs/<lab>/: bytes}``: the notebook without solutions, hidden tests or mark
        schemes, with locked cells and checksums as nbgrader releases them, and every extra file
        of the lab (``scenarios.json``) that the course's ``CourseDirectory.ignore`` lets through.

    Notes
    -----
    The notebook goes through nbgrader's ``GenerateAssignment.preprocessors``, in nbgrader's
    order and with the course's ``autograder/nbgrader_config.py`` (``IncludeHeaderFooter``,
    ``InstantiateTests``, ``LockCells``, ``ClearSolutions``, ``ClearOutput``, ``CheckCellMetadata``,
    ``ComputeChecksums``, ``ClearHiddenTests``, ``ClearMarkScheme``, ``ComputeChecksums``,
    ``CheckCellMetadata``), through nbconvert's ``NotebookExporter`` as ``nbgrader
    generate_assignment`` runs them. Only ``SaveCells``, which records the cells in a course's
    gradebook and does not change the notebook, is left out: the kit has no gradebook.
    ``tests/grading/test_nbgrader_e2e.py`` checks that a real ``nbgrader generate_assignment``
    releases the same bytes.
    """
    import logging

    from nbconvert.exporters import NotebookExporter
    from nbgrader.converters import GenerateAssignment
    from nbgrader.coursedir import CourseDirectory
    from nbgrader.preprocessors import SaveCells
    from nbgrader.utils import find_all_files

    source = root / INSTRUCTOR_DIR / lab
    cfg = _nbgrader_config(root)
    log = logging.getLogger("build_notebooks.nbgrader")
    log.setLevel(logging.WARNING)
    coursedir = CourseDirectory(config=cfg, log=log)
    exporter = NotebookExporter(config=cfg, log=log)
    for pp in GenerateAssignment(coursedir=coursedir, config=cfg, log=log).preprocessors:
        if not (isinstance(pp, type) and issubclass(pp, SaveCells)):
            exporter.register_preprocessor(pp)
    text = instructor_text if instructor_text is not None else (source / f"{lab}.ipynb").read_text(encoding="utf-8")
    nb = nbformat.reads(text, as_version=4)
    resources = {"unique_key": lab, "output_files_dir": f"{lab}_files", "metadata": {"path": str(source)},
                 "nbgrader": {"student": ".", "assignment": lab, "notebook": lab, "db_url": ""}}
    output, _ = exporter.from_notebook_node(nb, resources=resources)
    files = {f"{lab}.ipynb": output.encode("utf-8")}
    for path in find_all_files(str(source), list(cfg.CourseDirectory.ignore) + ["*.ipynb"]):
        files[Path(path).relative_to(source).as_posix()] = Path(path).read_bytes()
    return dict(sorted(files.items()))


def _learner_differs(root: Path, lab: str, files: dict[str, bytes]) -> list[Path]:
    dest = root / LEARNER_DIR / lab
    return [dest / rel for rel, data in files.items() if not (dest / rel).is_file() or (dest / rel).read_bytes() != data]


def stale(root: Path = ROOT, *, learner_copies: bool = True) -> list[Path]:
    """The notebooks (and learner-copy files) that differ from what their source builds.

    Files a learner adds to ``labs/<lab>/`` (``deliverable/``, a worked solution, notes) are
    never reported nor touched; ``tests/project/test_learner_copies.py`` checks that the
    files committed there are exactly the release.
    """
    rubric = load_rubric(root)
    out = []
    for t in targets(root):
        text = render(t, rubric)
        if not t.notebook.exists() or t.notebook.read_text(encoding="utf-8") != text:
            out.append(t.notebook)
        if learner_copies and t.assignment is not None:
            files = learner_copy(root, t.assignment, text)
            out += _learner_differs(root, t.assignment, files)
    return out


def write_all(root: Path = ROOT, *, learner_copies: bool = True) -> list[Path]:
    """Rewrite every notebook (and learner copy) from its source; return the files whose content changed."""
    rubric = load_rubric(root)
    changed = []
    for t in targets(root):
        text = render(t, rubric)
        if not t.notebook.exists() or t.notebook.read_text(encoding="utf-8") != text:
            t.notebook.parent.mkdir(parents=True, exist_ok=True)
            t.notebook.write_text(text, encoding="utf-8")
            changed.append(t.notebook)
        if learner_copies and t.assignment is not None:
            files = learner_copy(root, t.assignment)
            for path in _learner_differs(root, t.assignment, files):
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(files[path.relative_to(root / LEARNER_DIR / t.assignment).as_posix()])
                changed.append(path)
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build lessons/*.ipynb, autograder/source/*/*.ipynb and the learner copies labs/*/ from their jupytext sources.")
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if a notebook differs from its source")
    args = parser.parse_args(argv)
    try:
        paths = stale() if args.check else write_all()
    except SourceError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    for p in paths:
        print(("differs from its source: " if args.check else "wrote ") + p.relative_to(ROOT).as_posix())
    if args.check and paths:
        print("run `make notebooks` and commit the result", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
