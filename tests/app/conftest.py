"""Fixtures for the desktop app: offscreen Qt, per-test settings/data/log dirs, recorded error
dialogs, and exports of the fixture model made once per session."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from pathlib import Path

import pytest
from builders import TINY_PEGASUS

FIXTURE_MODEL = TINY_PEGASUS  # one path, so the app tests and tests/conftest.py share exports


@pytest.fixture(scope="session")
def app_checkpoint() -> Path:
    """The trained fixture model (tools/train_fixture.py): its summaries are real sentences."""
    assert (FIXTURE_MODEL / "model.safetensors").is_file(), (
        f"the fixture model is missing: {FIXTURE_MODEL}"
    )
    return FIXTURE_MODEL


@pytest.fixture(scope="session")
def app_exports(trained_exports, app_checkpoint) -> Path:
    """A models root with the checkpoint's int8 and fp32 exports (read-only for the tests)."""
    return trained_exports


@pytest.fixture(autouse=True)
def user_dirs(tmp_path, monkeypatch) -> Path:
    """Every test gets its own config, data, state (logs) and cache dirs."""
    home = tmp_path / "home"
    for var in ("XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME"):
        monkeypatch.setenv(var, str(home / var.lower()))
    return home


@pytest.fixture(autouse=True)
def shown_errors(monkeypatch) -> list[tuple[str, str, str]]:
    """Error dialogs are recorded instead of shown (a modal dialog would block the test)."""
    from pegasus_desktop import errors

    shown: list[tuple[str, str, str]] = []
    monkeypatch.setattr(
        errors,
        "show_error",
        lambda parent, title, message, details="": shown.append((title, message, details)),
    )
    return shown


@pytest.fixture
def make_window(qtbot, monkeypatch):
    """make_window(settings) -> a shown MainWindow; closed (worker thread stopped) at teardown.
    A test that failed mid-work is closed without the modal "Quit now?" question, which would
    wait for an answer forever."""
    from pegasus_desktop import quitting
    from pegasus_desktop.main_window import MainWindow

    windows = []

    def quit_without_asking(window) -> None:
        monkeypatch.setattr(quitting, "confirm_quit", lambda parent, reasons: True)

    def make(settings):
        window = MainWindow(settings)
        qtbot.addWidget(window, before_close_func=quit_without_asking)
        window.show()
        windows.append(window)
        return window

    yield make
    for window in windows:
        window.close()


@pytest.fixture
def settings_for(app_checkpoint, app_exports):
    """Settings that use the fixture model's session exports."""
    from pegasus_desktop.settings import Settings

    def make(**overrides):
        return Settings(model_id=str(app_checkpoint), models_root=str(app_exports), **overrides)

    return make


@pytest.fixture
def loaded_window(qtbot, make_window, settings_for):
    """A window with the fixture model loaded and ready to summarize."""
    window = make_window(settings_for())
    qtbot.waitUntil(lambda: window.model is not None, timeout=20_000)
    return window


@pytest.fixture
def article(app_checkpoint) -> str:
    """A held-out article of the fixture task."""
    import json

    return json.loads((app_checkpoint / "heldout.jsonl").read_text().splitlines()[0])["article"]


def pytest_collection_modifyitems(config, items):
    """A Qt warning fails an app test (the offscreen platform's one about size hints aside)."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.fspath).parents:
            item.add_marker(pytest.mark.qt_log_level_fail("WARNING"))
            item.add_marker(pytest.mark.qt_log_ignore("propagateSizeHints"))
