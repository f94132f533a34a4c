"""Where the kit keeps its material on disk.

The asset folder is found next to the package in a checkout; set the
``LAYERLAB_ASSETS`` environment variable to point somewhere else.

The scenes are introduced in ``lessons/00_start_here.ipynb``.
"""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_ROOT = PACKAGE_DIR.parent


def assets_dir() -> Path:
    """Return the folder holding ``scenes/`` (``$LAYERLAB_ASSETS`` or ``<repo>/assets``)."""
    env = os.environ.get("LAYERLAB_ASSETS")
    return Path(env).expanduser().resolve() if env else REPO_ROOT / "assets"


def scenes_dir() -> Path:
    """Return the folder holding one sub-folder per scene."""
    return assets_dir() / "scenes"
