# Two commands set everything up on a fresh machine (a virtual environment in .venv):
#   make run    set up, then start the desktop app on examples/article.txt with the repo's trained tiny model
#   make test   set up, then run the whole test suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# The [test] extra pulls the export extra: torch is pinned to the CPU build (pyproject.toml).
$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

# In the app: Start on the first-run page exports the model (once); then Summarize (Ctrl+Enter).
run: $(VENV)/.installed-test
	$(BIN)/pegasus-desktop --model tests/fixtures/tiny-pegasus examples/article.txt

test: $(VENV)/.installed-test
	$(BIN)/python -m pytest
