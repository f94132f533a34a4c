"""``layerlab check SUBMISSION_DIR --scene SCENE``: the checks of :mod:`layerlab.checks`, on the learner's own variant.

In a course with per-learner variants the deliverable is measured against the scene the
lab's set-up cell loads: :func:`layerlab.course.variants.scene_in_use` on the folder that
holds the deliverable (the lab folder), the one place the kit finds a learner's variant.
The first line says which scene or variant is used (on stderr with ``--json``).
"""

from __future__ import annotations

import sys
from pathlib import Path

from layerlab import checks
from layerlab.errors import LayerLabError


def configure(parser) -> None:
    checks.configure(parser)


def run(args) -> int:
    scene = str(args.scene)
    if not (scene.endswith(".json") or Path(scene).is_dir()):  # a scene id: the learner's variant of it, if any
        from layerlab.course.variants import scene_in_use

        try:
            _, using = scene_in_use(Path(args.submission).resolve().parent, scene=scene)
        except LayerLabError as exc:
            print(f"layerlab check: error: {exc}", file=sys.stderr)
            return 2
        print(using, file=sys.stderr if args.json else sys.stdout, flush=True)
    return checks.run(args)
