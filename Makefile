# Two entry points: `make demo` (the main job) and `make test` (the test suite).
# Both build .venv on first use: torch==2.13.0 (CPU build) first, then this package.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test install clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

# DATA: the CamVid folder (default ../shared/camvid); IMAGE: an image to segment without CamVid;
# LIMIT: segment only the first N val frames (default all 101).
DATA ?=
IMAGE ?=
LIMIT ?=

demo: $(STAMP)
	$(BIN)/segnet demo $(if $(DATA),--data $(DATA)) $(if $(IMAGE),--image $(IMAGE)) $(if $(LIMIT),--limit $(LIMIT))

test: $(STAMP)
	$(BIN)/python -m pytest -q tests

clean:
	rm -rf $(VENV) build src/*.egg-info
