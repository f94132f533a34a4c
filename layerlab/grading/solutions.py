"""Worked solutions for self-paced learners, shown only when asked for.

The learner copies in ``labs/<lab>/`` hold no solutions (nbgrader's release). The instructor
notebooks in ``autograder/source/<lab>/`` do; a learner working alone can ask for one with
``layerlab solution LAB``, which asks first and writes the worked notebook *next to* the
learner's own (``<lab>_solution.ipynb``, or ``<lab>_solution_2.ipynb`` ... when that exists),
never over it. Self-checking is on the learner's honour: the kit cannot tell who looked.

Taught in ``lessons/00_start_here.ipynb`` (how self-checking works).
"""

from __future__ import annotations

from pathlib import Path

from layerlab.errors import InputError
from layerlab.grading.preprocessors import strip_hidden_tests
from layerlab.paths import REPO_ROOT

INSTRUCTOR_SOURCE = REPO_ROOT / "autograder" / "source"
LEARNER_LABS = REPO_ROOT / "labs"


def solution_prompt(lab: str) -> str:
    """The question ``layerlab solution`` asks before it shows anything."""
    return (f"This shows the worked solution of {lab}; self-checking is on your honour. "
            "Show it? [y/N] ")


def available_labs(source: Path = INSTRUCTOR_SOURCE) -> list[str]:
    """The labs with a worked solution in the kit (folders of ``autograder/source``)."""
    return sorted(p.name for p in source.iterdir() if (p / f"{p.name}.ipynb").is_file()) if source.is_dir() else []


def refuse_assessed_release(lab: str, folder) -> None:
    """Raise InputError when ``folder`` is a course release of an assessed lab (it holds learners' variants).

    Raises
    ------
    InputError
        One line: why, and what remains (the instructor's feedback; a practice variant when working alone).
    """
    from layerlab.course.variants import assessed_variants

    if assessed_variants(folder):
        raise InputError(f"{Path(folder)}: this copy of {lab} is an assessed course release (you have a variant of your own of it); "
                         "its worked solution is not shown while it is assessed - your instructor's feedback explains "
                         "your marks (working alone? use a copy with `layerlab variants practice`).")


def solution_notebook(lab: str, *, source: Path = INSTRUCTOR_SOURCE):
    """The worked solution of a lab: the instructor notebook without its hidden tests.

    Parameters
    ----------
    lab : str
        The lab (``lab2_hybrid_mix``).
    source : Path
        The folder of instructor notebooks (``autograder/source`` of the kit).

    Returns
    -------
    nbformat.NotebookNode
        The notebook, opening with a note that it is the worked solution; solutions and mark
        schemes in place, hidden-test regions cut (nbgrader's ``ClearHiddenTests``), no nbgrader
        metadata (so nothing is locked).

    Raises
    ------
    InputError
        The lab is unknown, or the kit has no ``autograder/source`` (installed without it).
    """
    import nbformat

    labs = available_labs(source)
    if lab not in labs:
        where = source.as_posix()
        if not labs:
            raise InputError(f"{where}: no worked solutions here; run `layerlab solution` from a checkout of the kit")
        raise InputError(f"unknown lab '{lab}'; choose one of {', '.join(labs)}")
    nb = nbformat.read(str(source / lab / f"{lab}.ipynb"), as_version=4)
    for cell in nb.cells:
        cell.source = _strip_solution_markers(strip_hidden_tests(cell.source))
        cell.metadata.pop("nbgrader", None)
    note = nbformat.v4.new_markdown_cell(
        f"**Worked solution of `{lab}`**, shown because you asked for it (`layerlab solution {lab}`). "
        f"Your own work is in `{lab}.ipynb`, next to this file; this copy changes nothing there. "
        "Self-checking is on your honour: compare after you have tried, and check your own work with "
        "`self_check()` / `check_answers()`.")
    note["id"] = "solution-note"
    nb.cells.insert(0, note)
    return nb


_SOLUTION_MARKERS = ("### BEGIN SOLUTION", "### END SOLUTION")


def _strip_solution_markers(source: str) -> str:
    """The cell without nbgrader's ``### BEGIN SOLUTION`` / ``### END SOLUTION`` lines (the code between stays)."""
    return "\n".join(line for line in source.split("\n") if line.strip() not in _SOLUTION_MARKERS)


def write_solution(lab: str, dest_dir: str | Path | None = None, *, source: Path = INSTRUCTOR_SOURCE) -> Path:
    """Write the worked solution next to the learner's copy of a lab, never over a file.

    Parameters
    ----------
    lab : str
        The lab (``lab2_hybrid_mix``).
    dest_dir : str or Path, optional
        The folder of the learner's copy (default: the kit's ``labs/<lab>/``).
    source : Path
        The folder of instructor notebooks.

    Returns
    -------
    Path
        The file written: ``<lab>_solution.ipynb``, or ``<lab>_solution_<n>.ipynb`` (n = 2, 3, ...)
        when that name is taken.

    Raises
    ------
    InputError
        Unknown lab; ``dest_dir`` is a file; or it holds an assessed variant (a course release: no
        worked solution while the lab is assessed; a ``practice`` variant is fine). A ``dest_dir``
        that does not exist yet is made.
    """
    import nbformat

    nb = solution_notebook(lab, source=source)
    dest = Path(dest_dir) if dest_dir is not None else LEARNER_LABS / lab
    refuse_assessed_release(lab, dest)
    if dest.exists() and not dest.is_dir():
        raise InputError(f"{dest}: not a folder; give the folder that holds your {lab}.ipynb with --dir")
    dest.mkdir(parents=True, exist_ok=True)
    n = 1
    while True:
        path = dest / (f"{lab}_solution.ipynb" if n == 1 else f"{lab}_solution_{n}.ipynb")
        try:
            with open(path, "x", encoding="utf-8") as fh:  # "x": never replaces an existing file
                nbformat.write(nb, fh)
            return path
        except FileExistsError:
            n += 1
