"""Menu plumbing: actions with their shortcuts (Qt lists them in the menus) and the About box.
(Opening a folder in the file manager is ``article_files.show_folder``.)"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMenuBar, QMessageBox, QWidget

from pegasus_desktop import __version__
from pegasus_desktop.resources import APP_TITLE, config_dir, log_dir


def make_action(
    window: QWidget, text: str, slot: Callable, shortcuts: Sequence[str] = (), tip: str = ""
) -> QAction:
    action = QAction(text, window)
    action.setShortcuts([QKeySequence(s) for s in shortcuts])
    action.setStatusTip(tip)
    action.triggered.connect(slot)
    window.addAction(action)  # the shortcut works wherever the focus is in the window
    return action


def fill_menus(bar: QMenuBar, menus: Sequence[tuple[str, Sequence[QAction | None]]]) -> None:
    """``(title, actions)`` pairs; None in the actions is a separator."""
    for title, actions in menus:
        menu = bar.addMenu(title)
        for action in actions:
            if action is None:
                menu.addSeparator()
            else:
                menu.addAction(action)


def show_about(parent: QWidget, models_root: Path) -> None:
    QMessageBox.about(
        parent,
        f"About {APP_TITLE}",
        f"<b>{APP_TITLE}</b> {__version__}<br>Offline summaries with Pegasus on this computer's "
        f"processor.<br><br>Models: {models_root}<br>Settings: {config_dir()}<br>Logs: {log_dir()}",
    )
