# Titik: `make run` brings the demo box up, `make test` runs every test.
# Each target does its own set-up on a fresh Debian machine with Python 3.11.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-dev
SHARED ?= ../shared
DEMO_CONFIG := firmware_config/example/box.toml

.PHONY: setup system-deps run test bench model lint clean check-aarch64

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

system-deps:
	bash firmware_config/install-system-deps.sh

setup: $(STAMP) system-deps

run: setup
	$(BIN)/titik demo run --config $(DEMO_CONFIG)

test: setup
	$(BIN)/python -m pytest

bench: setup
	$(BIN)/python -m bench

model: setup
	$(BIN)/pip install -q -e '.[train]'
	$(BIN)/python -m vision.train --shared $(SHARED) --out vision/models

check-aarch64: setup
	bash firmware_config/check-aarch64.sh

lint: $(STAMP)
	$(BIN)/ruff check vision gateway sync tests bench
	$(BIN)/mypy

clean:
	rm -rf $(VENV) .demo-data .pytest_cache .mypy_cache .ruff_cache .aarch64
