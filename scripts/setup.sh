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
# Every Jupyter server of this environment (make lab; an instructor's `jupyter lab` in the course folder, for
# formgrader) gives its kernels CurveZMQ keys: they talk to the server over local TCP, and ipykernel (>= 7.2) warns
# "Kernel is running over TCP without encryption" in the terminal otherwise ("auto": for every kernelspec that
# declares curve support, as ipykernel's python3 does; autograde's kernels: autograder/nbgrader_config.py)
# (the environment's jupyter_server_config.json: the server reads its .d folder only to enable extensions)
mkdir -p .venv/etc/jupyter
cat > .venv/etc/jupyter/jupyter_server_config.json <<'JSON'
{"KernelManager": {"transport_encryption": "auto"}}
JSON
touch .venv/.installed
echo "Layer Lab is set up in .venv"
