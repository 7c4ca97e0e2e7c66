# icefall_lite: environments, tests, docs.
#   make test   creates both environments when missing, then runs the whole suite (and the
#               doctests); the corpus tests read DL_DIR (passed on as ICEFALL_LITE_DL_DIR)
#   make docs   builds the Sphinx docs with warnings as errors
#   make yesno  the main job: egs/yesno/ASR/run.sh end to end on DL_DIR (default ../shared/download)
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c

VENV    ?= .venv
VENV_K2 ?= .venv-k2
PY311   ?= $(shell for p in python3.11 $$HOME/.pyenv/versions/3.11*/bin/python3.11; do \
             $$p -c '' >/dev/null 2>&1 && { echo $$p; break; }; done)
PY310   ?= $(shell for p in python3.10 $$HOME/.pyenv/versions/3.10*/bin/python3.10; do \
             $$p -c '' >/dev/null 2>&1 && { echo $$p; break; }; done)
PIP_FLAGS ?= -q --disable-pip-version-check
BUILD_DIR ?= build
PYBIND11_VERSION ?= 3.0.4
KALDIFEAT_VERSION ?= 1.24
K2_VERSION ?= 1.23.4
PYTEST_FLAGS ?= -q -ra

DL_DIR  ?= $(CURDIR)/../shared/download

.PHONY: all env test test-main test-k2 lint docs clean-env yesno an4
all: test

env: $(VENV)/.ready $(VENV_K2)/.ready

$(VENV)/.ready: requirements.txt pyproject.toml
	@test -n "$(PY311)" || { echo "python3.11 not found (needed for the main environment)"; exit 1; }
	@command -v dot >/dev/null || { echo "installing graphviz (dot) through apt"; \
	  (apt-get update -qq && apt-get install -y -qq graphviz) >/dev/null; }
	test -x $(VENV)/bin/python || $(PY311) -m venv $(VENV)
	$(VENV)/bin/pip install $(PIP_FLAGS) -r requirements.txt
	$(MAKE) --no-print-directory kaldifeat
	$(VENV)/bin/pip install $(PIP_FLAGS) --no-deps -e .
	touch $@

# kaldifeat ships only an sdist whose CMake fetches pybind11 from the web: hand it pybind11's sdist
# from the registry instead. It builds against the installed torch (hence no build isolation).
.PHONY: kaldifeat
kaldifeat:
	@if $(VENV)/bin/python -c 'import kaldifeat' 2>/dev/null; then echo "kaldifeat already installed"; else \
	  mkdir -p $(BUILD_DIR) && \
	  $(VENV)/bin/pip download $(PIP_FLAGS) --no-deps --no-binary pybind11 \
	    pybind11==$(PYBIND11_VERSION) -d $(BUILD_DIR) && \
	  tar -xzf $(BUILD_DIR)/pybind11-$(PYBIND11_VERSION).tar.gz -C $(BUILD_DIR) && \
	  echo "building kaldifeat $(KALDIFEAT_VERSION) (a few minutes)" && \
	  KALDIFEAT_CMAKE_ARGS="-DFETCHCONTENT_SOURCE_DIR_PYBIND11=$(CURDIR)/$(BUILD_DIR)/pybind11-$(PYBIND11_VERSION) -DCMAKE_CXX_STANDARD=17 -DCMAKE_BUILD_TYPE=Release" \
	  KALDIFEAT_MAKE_ARGS="-j$$(nproc)" \
	  $(VENV)/bin/pip install $(PIP_FLAGS) --no-build-isolation kaldifeat==$(KALDIFEAT_VERSION); \
	fi

$(VENV_K2)/.ready: requirements-k2.txt tools/install_k2_wheel.py pyproject.toml
	@test -n "$(PY310)" || { echo "python3.10 not found (needed for the k2 environment)"; exit 1; }
	test -x $(VENV_K2)/bin/python || $(PY310) -m venv $(VENV_K2)
	$(VENV_K2)/bin/pip install $(PIP_FLAGS) -r requirements-k2.txt
	@# pip alone cannot tell k2's per-Python wheels apart: the helper picks this Python's build
	$(VENV_K2)/bin/python tools/install_k2_wheel.py $(K2_VERSION)
	$(VENV_K2)/bin/python -c 'import k2' || { echo "k2 does not import in $(VENV_K2) (see tools/install_k2_wheel.py)"; exit 1; }
	$(VENV_K2)/bin/pip install $(PIP_FLAGS) --no-deps -e .
	touch $@

lint: $(VENV)/.ready
	$(VENV)/bin/ruff check .

test-main: $(VENV)/.ready
	@echo "== main environment: $$($(VENV)/bin/python -c 'import sys, torch; from icefall_lite import k2; print(f"python {sys.version.split()[0]}, torch {torch.__version__}, k2 backend: {k2.backend}")')"
	ICEFALL_LITE_DL_DIR="$(abspath $(DL_DIR))" $(VENV)/bin/python -m pytest $(PYTEST_FLAGS) -m "not k2" tests

test-k2: $(VENV_K2)/.ready
	@echo "== k2 environment: $$($(VENV_K2)/bin/python -c 'import sys, torch; from icefall_lite import k2; print(f"python {sys.version.split()[0]}, torch {torch.__version__}, k2 backend: {k2.backend}")')"
	$(VENV_K2)/bin/python -m pytest $(PYTEST_FLAGS) -m k2 tests

test: env
	$(MAKE) --no-print-directory lint
	$(MAKE) --no-print-directory docs
	$(MAKE) --no-print-directory test-main
	$(MAKE) --no-print-directory test-k2
	@echo "== make test: all passed (main: built-in backend, k2 env: real k2 vs built-in parity)"

docs: $(VENV)/.ready
	$(VENV)/bin/python -m sphinx -W --keep-going -b html -q docs docs/_build/html

# The main job: a recipe end to end (prepare -> train -> decode with every method -> WER table)
# on a corpus under DL_DIR (read-only).
yesno an4: $(VENV)/.ready
	egs/$@/ASR/run.sh --dl-dir "$(abspath $(DL_DIR))"

clean-env:
	rm -rf $(VENV) $(VENV_K2) $(BUILD_DIR)
