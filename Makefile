# Two commands set everything up on a fresh machine (a virtual environment in .venv):
#   make run    set up, then start the desktop app on examples/article.txt with the repo's trained tiny model
#   make test   set up, then run the whole test suite (it builds the desktop bundle and runs it)
#   make package   build the desktop bundle into dist/pegasus-desktop (packaging/build.py)
# Both first install the system packages they need when missing (tools/system-deps.sh: Qt's xcb
# libraries for the window; Xvfb and xdotool for the tests), with apt-get as root on Debian or
# Ubuntu; elsewhere they print the packages to install and stop.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test package system-app system-test

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# The [test] extra pulls the export extra: torch is pinned to the CPU build (pyproject.toml).
$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

# Checked on every run, not once: a package removed since the last run is installed again.
system-app:
	@tools/system-deps.sh app

system-test:
	@tools/system-deps.sh test

# In the app: Start on the first-run page exports the model (once); then Summarize (Ctrl+Enter).
run: system-app $(VENV)/.installed-test
	$(BIN)/pegasus-desktop --model tests/fixtures/tiny-pegasus examples/article.txt

test: system-test $(VENV)/.installed-test
	$(BIN)/python -m pytest

# The bundle carries Qt's xcb libraries from this machine (packaging/build.py checks it).
package: system-app $(VENV)/.installed-test
	$(BIN)/python packaging/build.py
