"""Errors reach people: the error dialog (copyable details), the uncaught-exception hook, logs."""

from __future__ import annotations

import logging
import sys
import threading

from PySide6.QtGui import QGuiApplication

from pegasus_desktop import errors
from pegasus_desktop.logs import LOG_FILE, setup_logging


def test_error_dialog_copies_message_and_details(qtbot):
    dialog = errors.ErrorDialog(None, "Cannot open the file", "It is not text.", "Traceback: boom")
    qtbot.addWidget(dialog)
    assert dialog.text.text() == "It is not text." and not dialog.details_box.isVisible()
    dialog.show()
    dialog.toggle.click()
    assert dialog.details_box.isVisible() and dialog.details_box.toPlainText() == "Traceback: boom"
    dialog.copy()
    assert QGuiApplication.clipboard().text() == "It is not text.\n\nTraceback: boom"


def test_uncaught_exceptions_are_logged_and_shown(qtbot, shown_errors, caplog, monkeypatch):
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)
    monkeypatch.setattr(threading, "excepthook", threading.excepthook)
    errors.install_excepthook()
    try:
        raise RuntimeError("kaboom")
    except RuntimeError:
        with caplog.at_level(logging.CRITICAL):
            sys.excepthook(*sys.exc_info())
    assert (
        shown_errors[-1][0] == "Unexpected error" and "RuntimeError: kaboom" in shown_errors[-1][1]
    )
    assert "Traceback" in shown_errors[-1][2] and "kaboom" in caplog.text

    def fail():
        raise ValueError("from a thread")

    shown_on = []
    monkeypatch.setattr(
        errors, "show_error", lambda *args: shown_on.append((threading.current_thread(), args))
    )
    thread = threading.Thread(target=fail)
    thread.start()
    thread.join()
    qtbot.waitUntil(lambda: bool(shown_on))
    on_thread, args = shown_on[0]
    assert on_thread is threading.main_thread() and "ValueError: from a thread" in args[2]


def test_log_file_goes_to_the_user_log_dir(user_dirs):
    root = logging.getLogger()
    before = list(root.handlers)
    try:
        path = setup_logging()
        logging.getLogger("pegasus_desktop.test").warning("hello log")
        for handler in root.handlers:
            handler.flush()
        assert path == user_dirs / "xdg_state_home" / "pegasus-desktop" / "log" / LOG_FILE
        assert "hello log" in path.read_text()
    finally:
        for handler in root.handlers[:]:
            if handler not in before:
                root.removeHandler(handler)
                handler.close()
