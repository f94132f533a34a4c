"""``layerlab solution LAB [--yes] [--dir DIR]``: show a lab's worked solution, on purpose.

Asks first; writes ``<lab>_solution.ipynb`` next to the learner's copy, never over it.
The logic is in :mod:`layerlab.grading.solutions`.
"""

from __future__ import annotations

import sys

from layerlab.grading.solutions import available_labs, solution_prompt, write_solution


def configure(parser) -> None:
    labs = ", ".join(available_labs()) or "none in this installation"
    parser.add_argument("lab", help=f"the lab ({labs})")
    parser.add_argument("--yes", action="store_true", help="do not ask (you have decided to look)")
    parser.add_argument("--dir", default=None,
                        help="folder of your copy of the lab (default: the kit's labs/LAB/; made if missing); the solution is written there. "
                             "Refused where the folder holds an assessed variant (a course release)")


def _confirmed(lab: str) -> bool:
    print(solution_prompt(lab), end="", flush=True)
    answer = sys.stdin.readline()
    if not answer:  # no terminal, no answer: no
        print()
    return answer.strip().lower() in ("y", "yes")


def run(args) -> int:
    from layerlab.grading.solutions import LEARNER_LABS, refuse_assessed_release, solution_notebook

    solution_notebook(args.lab)  # an unknown lab, or an assessed release, fails before the question is asked
    refuse_assessed_release(args.lab, args.dir if args.dir is not None else LEARNER_LABS / args.lab)
    if not args.yes and not _confirmed(args.lab):
        print("Not shown; nothing written.")
        return 0
    path = write_solution(args.lab, args.dir)
    print(f"wrote {path} (your own {args.lab}.ipynb is unchanged)")
    return 0
