# Layer Lab: two commands take a fresh clone to a running lab or a full test run.
#   make lab    set up .venv and open JupyterLab on the lessons
#   make test   set up .venv (and the browser the UI test drives) and run every test
#   make notebooks  rebuild lessons/*.ipynb and labs/*/*.ipynb from their sources in lessons/src and labs/src
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PORT   ?= 8888
# JupyterLab refuses to run as root (containers, Binder-like machines) unless told it may
ALLOW_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root,)
LAB_ARGS ?=

.PHONY: setup lab test bench assets notebooks clean

$(VENV)/.installed: pyproject.toml scripts/setup.sh
	PYTHON=$(PYTHON) bash scripts/setup.sh

setup: $(VENV)/.installed

lab: setup
	cd $(CURDIR) && PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/jupyter lab --port=$(PORT) $(ALLOW_ROOT) $(LAB_ARGS) \
		--ServerApp.root_dir="$(CURDIR)" --LabApp.default_url=/lab/tree/lessons/00_start_here.ipynb

test: setup
	bash scripts/system-deps.sh
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m pytest

bench: setup
	for b in benchmarks/bench_*.py; do PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python $$b || exit 1; done

assets: setup
	$(BIN)/python -m assets.build

notebooks: setup
	$(BIN)/python lessons/build_notebooks.py

clean:
	rm -rf $(VENV) .pytest_cache test-artifacts
