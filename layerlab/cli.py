"""The ``layerlab`` command line.

Each subcommand lives in the module that does the work; this file only wires
them up. A module listed in ``_COMMANDS`` provides ``configure(parser)`` and
``run(args) -> int``. Bad input ends with a one-line message on stderr and a
non-zero exit status, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from .errors import LayerLabError

# (subcommand, module, one-line help)
_COMMANDS = [
    ("render", "layerlab.session", "render a session.json to a deliverable folder (mix + stems)"),
    ("check", "layerlab.checks", "measure a deliverable against a scene: sync, masking, ducking, loudness, format"),
    ("measure", "layerlab.measure", "measure loudness, loudness range, true peak and sample peak of an audio file"),
    ("scenes", "layerlab.scenes", "list the scene library, show a scene's cues and native flaws, render its reference mix"),
    ("audit", "layerlab.audit", "audit a clip's native audio: loudness, band limits, noise, visual events vs sound onsets"),
    ("grade", "layerlab.grading", "grade every collected submission of a lab out of the learner's kernel; write the class summary"),
]


def build_parser() -> argparse.ArgumentParser:
    """Return the top-level argument parser with every subcommand attached."""
    parser = argparse.ArgumentParser(
        prog="layerlab",
        description="Layer Lab: build, measure and grade the four-layer sound of a generated video.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module_name, help_text in _COMMANDS:
        module = importlib.import_module(module_name)
        p = sub.add_parser(name, help=help_text, description=help_text)
        module.configure(p)
        p.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the process exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    try:
        return int(args._run(args) or 0)
    except (LayerLabError, OSError) as exc:
        print(f"layerlab {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"layerlab {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
