#!/usr/bin/env bash
# Create .venv and install Layer Lab with its test tools. Uses uv when it is on PATH, pip otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
"$PYTHON" - <<'PY'
import sys
if not ((3, 10) <= sys.version_info[:2] <= (3, 12)):
    sys.exit(f"Layer Lab needs Python 3.10 to 3.12; {sys.executable} is {sys.version.split()[0]}. "
             "Run with PYTHON=/path/to/python3.11 make ...")
PY
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
if command -v uv >/dev/null 2>&1; then
  uv pip install --python .venv/bin/python -e ".[test,assets]"
else
  .venv/bin/python -m pip install --upgrade --quiet pip
  .venv/bin/python -m pip install -e ".[test,assets]"
fi
# widgets, ipympl and nbgrader ship prebuilt JupyterLab extensions; make sure they are enabled
.venv/bin/jupyter labextension list 2>&1 | grep -E "jupyter-matplotlib|jupyter-widgets|nbgrader" || true
touch .venv/.installed
echo "Layer Lab is set up in .venv"
