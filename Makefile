# Two commands set everything up on a fresh machine (a virtual environment in .venv):
#   make run    set up, then start the desktop app on examples/article.txt with the repo's trained tiny model
#   make test   set up, then run the whole test suite (it builds the desktop bundle and runs it)
#   make package   build the desktop bundle into dist/pegasus-desktop (packaging/build.py)
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test package x11-tools

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

# tests/test_packaging.py starts the frozen GUI under Xvfb and presses Ctrl+Q with xdotool:
# Debian packages, installed with apt-get when missing (as root, as on CI).
x11-tools:
	@command -v Xvfb >/dev/null && command -v xdotool >/dev/null || { \
	  echo "installing xvfb and xdotool (Debian packages) for the packaging test"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends xvfb xdotool; }

test: $(VENV)/.installed-test x11-tools
	$(BIN)/python -m pytest

package: $(VENV)/.installed-test
	$(BIN)/python packaging/build.py
