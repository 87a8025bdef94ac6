"""Errors for people: a dialog with the message in plain words and details to copy, and the
hooks that turn an uncaught exception into such a dialog instead of a vanished window."""

from __future__ import annotations

import logging
import sys
import threading
import traceback

from PySide6.QtCore import QObject, Qt, Signal, Slot
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QApplication,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QStyle,
    QVBoxLayout,
    QWidget,
)

from pegasus_desktop.signals import emit

log = logging.getLogger(__name__)


class ErrorDialog(QDialog):
    """A message, and optional details (a traceback, a path) behind a toggle, with Copy."""

    def __init__(self, parent: QWidget | None, title: str, message: str, details: str = "") -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.message = message
        self.details = details
        icon = QLabel()
        icon.setPixmap(
            self.style().standardIcon(QStyle.StandardPixmap.SP_MessageBoxCritical).pixmap(48, 48)
        )
        icon.setAlignment(Qt.AlignmentFlag.AlignTop)
        self.text = QLabel(message)
        self.text.setObjectName("errorMessage")
        self.text.setWordWrap(True)
        self.text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.text.setMinimumWidth(420)
        top = QHBoxLayout()
        top.addWidget(icon)
        top.addWidget(self.text, 1)

        self.details_box = QPlainTextEdit(details)
        self.details_box.setReadOnly(True)
        self.details_box.setVisible(False)
        self.details_box.setMinimumHeight(160)

        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        buttons.accepted.connect(self.accept)
        copy = QPushButton("Copy details")
        copy.clicked.connect(self.copy)
        buttons.addButton(copy, QDialogButtonBox.ButtonRole.ActionRole)
        if details:
            self.toggle = QPushButton("Show details")
            self.toggle.setCheckable(True)
            self.toggle.toggled.connect(self._show_details)
            buttons.addButton(self.toggle, QDialogButtonBox.ButtonRole.ActionRole)

        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.details_box, 1)
        layout.addWidget(buttons)

    @Slot(bool)
    def _show_details(self, shown: bool) -> None:
        self.details_box.setVisible(shown)
        self.toggle.setText("Hide details" if shown else "Show details")
        self.adjustSize()

    @Slot()
    def copy(self) -> None:
        QGuiApplication.clipboard().setText(f"{self.message}\n\n{self.details}".strip())


def confirm(parent: QWidget | None, title: str, question: str) -> bool:
    """Ask Yes or No before something that cannot be undone; No is the default (Enter, Esc)."""
    answer = QMessageBox.question(
        parent, title, question,
        QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
        QMessageBox.StandardButton.No,
    )
    return answer == QMessageBox.StandardButton.Yes


def show_error(parent: QWidget | None, title: str, message: str, details: str = "") -> None:
    """Log and show an error; modal to its window."""
    log.error("%s: %s", title, message)
    ErrorDialog(parent, title, message, details).exec()


class _Relay(QObject):
    """Carries an exception from any thread to the GUI thread (where this object lives)."""

    raised = Signal(str, str)

    @Slot(str, str)
    def show(self, summary: str, details: str) -> None:
        _show_crash(summary, details)


_relay: _Relay | None = None
_showing = False


def _show_crash(summary: str, details: str) -> None:
    global _showing
    if _showing:  # an error while showing an error: logged only
        return
    _showing = True
    try:
        window = QApplication.activeWindow()
        show_error(
            window,
            "Unexpected error",
            f"Something went wrong that the app did not expect: {summary}\n\nThe app keeps running, "
            f"but if something looks wrong, restart it. The details are also in the log file "
            f"(Help → Show log folder).",
            details,
        )
    finally:
        _showing = False


def _hook(exc_type, exc, tb) -> None:
    if issubclass(exc_type, KeyboardInterrupt):
        sys.__excepthook__(exc_type, exc, tb)
        return
    details = "".join(traceback.format_exception(exc_type, exc, tb))
    log.critical("uncaught exception\n%s", details)
    summary = f"{exc_type.__name__}: {exc}"
    if _relay is None or QApplication.instance() is None:
        return
    if threading.current_thread() is threading.main_thread():
        _show_crash(summary, details)
    else:
        emit(_relay.raised, summary, details)


def _thread_hook(args) -> None:
    _hook(args.exc_type, args.exc_value, args.exc_traceback)


def install_excepthook() -> None:
    """Uncaught exceptions (in slots, in threads) are logged and shown in a dialog."""
    global _relay
    _relay = _Relay()
    _relay.raised.connect(_relay.show, Qt.ConnectionType.QueuedConnection)
    sys.excepthook = _hook
    threading.excepthook = _thread_hook
