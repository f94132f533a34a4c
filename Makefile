# Layer Lab: two commands take a fresh clone to a running lab or a full test run.
#   make lab    set up .venv and open JupyterLab on the lessons
#   make test   set up .venv (and the Debian packages the tests drive) and run every test
# `make help` lists every target and setting.
#   make notebooks  rebuild lessons/*.ipynb and the labs (autograder/source/*/*.ipynb for instructors, labs/*/ for learners)
#                   from their sources in lessons/src and autograder/src
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PORT   ?= 8888
# JupyterLab refuses to run as root (containers, Binder-like machines) unless told it may
ALLOW_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root,)
LAB_ARGS ?=
# --port given inside LAB_ARGS wins over PORT
PORT_ARG := $(if $(findstring --port,$(LAB_ARGS)),,--port=$(PORT))

.PHONY: help setup lab test bench assets notebooks clean
.DEFAULT_GOAL := help

help:
	@echo "Layer Lab - make targets:"
	@echo "  make lab      set up .venv (first time only) and open JupyterLab on lessons/00_start_here.ipynb (labs in labs/, no solutions)"
	@echo "  make test     set up .venv, install the Debian packages the tests need (root or sudo), run every test (what CI runs)"
	@echo "  make bench    run every benchmark in benchmarks/ (timings and ratios against a peer)"
	@echo "  make assets   rebuild the scenes in assets/scenes byte for byte"
	@echo "  make notebooks  rebuild the lessons, the instructor labs (autograder/source) and the learner copies (labs/,"
	@echo "                  overwritten: nbgrader's release) from lessons/src and autograder/src"
	@echo "  make setup    only create .venv and install the kit"
	@echo "  make clean    remove .venv and test artefacts"
	@echo "Settings (make VAR=value TARGET):"
	@echo "  PORT=8888     port JupyterLab listens on (make lab PORT=9999)"
	@echo "  LAB_ARGS=...  extra jupyter lab arguments, e.g. LAB_ARGS='--no-browser --ip=0.0.0.0' (a --port here wins over PORT)"
	@echo "  PYTHON=python3  interpreter that creates .venv (3.10 to 3.12)"

$(VENV)/.installed: pyproject.toml scripts/setup.sh
	PYTHON=$(PYTHON) bash scripts/setup.sh

setup: $(VENV)/.installed

# the kernels' transport encryption is in the environment's server config (scripts/setup.sh)
lab: setup
	cd $(CURDIR) && PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/jupyter lab $(PORT_ARG) $(ALLOW_ROOT) $(LAB_ARGS) \
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
