"""The ``layerlab`` command line.

Each subcommand lives in the module that does the work; this file only wires
them up. A module listed in ``_COMMANDS`` provides ``configure(parser)`` and
``run(args) -> int``. Bad input ends with a one-line message on stderr and a
non-zero exit status, never a traceback.

Exit status:

* 0 - done;
* 1 - an error reported in one line (bad input such as an unknown scene or an
  unreadable file, a missing tool such as ffmpeg, a file that cannot be written);
* 2 - ``layerlab render``: the session is missing or invalid (one line per
  problem, nothing written); also argparse's usage errors;
* 3 - ``layerlab measure --target``: the file misses the target;
* 130 - interrupted.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from layerlab.errors import LayerLabError

# (subcommand, module, one-line help)
_COMMANDS = [
    ("render", "layerlab.mix.session", "render a session.json to a deliverable folder (mix + stems)"),
    ("check", "layerlab.cli.check", "measure a deliverable against a scene: sync, masking, ducking, loudness, format"),
    ("measure", "layerlab.cli.measure", "measure loudness, loudness range, true peak and sample peak of an audio file"),
    ("scenes", "layerlab.mix.scenes", "list the scene library, show a scene's cues and native flaws, render its reference mix"),
    ("audit", "layerlab.audit", "audit a clip's native audio: loudness, band limits, noise, visual events vs sound onsets"),
    ("grade", "layerlab.cli.grade", "grade every collected submission of a lab out of the learner's kernel; write the class summary"),
    ("variants", "layerlab.cli.variants", "per-learner variants of an assessed lab: build them for a course (secret + student id) or make a practice one"),
    ("gradebook", "layerlab.cli.gradebook", "show a course's gradebook URL; copy a SQLite gradebook into PostgreSQL"),
    ("solution", "layerlab.cli.solution", "write a lab's worked solution next to your copy, after asking (self-checking is on your honour)"),
]


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """Return the top-level argument parser.

    Parameters
    ----------
    command : str, optional
        Import and configure only this subcommand's module (the others are
        listed with their help line), so ``layerlab measure`` does not pay for
        importing the grader. ``None`` configures every subcommand.
    """
    parser = argparse.ArgumentParser(
        prog="layerlab",
        description="Layer Lab: build, measure and grade the four-layer sound of a generated video.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module_name, help_text in _COMMANDS:
        p = sub.add_parser(name, help=help_text, description=help_text)
        if command is None or name == command:
            module = importlib.import_module(module_name)
            module.configure(p)
            p.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the process exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    names = {name for name, _, _ in _COMMANDS}
    chosen = next((a for a in argv if not a.startswith("-")), None)
    parser = build_parser(chosen if chosen in names else "")
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    try:
        return int(args._run(args) or 0)
    except BrokenPipeError:
        # the reader stopped early (`layerlab audit ... | head`): end quietly, as Python's signal docs advise, with
        # stdout pointed at devnull so the interpreter's own flush at exit finds nothing to complain about
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    except (LayerLabError, OSError) as exc:
        print(f"layerlab {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        hint = ("; what was graded before the interrupt is stored: run the same command with --resume to go on from there"
                if args.command == "grade" else "")
        print(f"layerlab {args.command}: interrupted{hint}", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
