"""Open, drop, copy and save on the Summary page: the main window's file and clipboard actions.

``ArticleFiles`` is mixed into ``MainWindow`` and uses its ``page``, ``settings`` and status bar.
Documents are read off the GUI thread; saves are atomic (``QSaveFile``).
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Slot
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QFileDialog

from pegasus_desktop import errors
from pegasus_desktop.documents import DocumentError, file_dialog_filter, read_document
from pegasus_desktop.summary_page import save_text
from pegasus_desktop.tasks import run_in_background


class ArticleFiles:
    @Slot()
    def open_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Open an article", self.settings.last_folder, file_dialog_filter()
        )
        if path:
            self.open_path(Path(path))

    @Slot(Path)
    def open_path(self, path: Path) -> None:
        self.statusBar().showMessage(f"Reading {path.name}…")
        run_in_background(lambda: (path, read_document(path)), self._opened, self._open_failed)

    @Slot(object)
    def _opened(self, result: tuple[Path, str]) -> None:
        path, text = result
        self.page.input.setPlainText(text)
        self.settings.last_folder = str(path.parent)
        self.statusBar().showMessage(f"Opened {path.name}.", 5000)

    @Slot(object, str)
    def _open_failed(self, error: Exception, details: str) -> None:
        self.statusBar().clearMessage()
        if isinstance(error, DocumentError):
            errors.show_error(
                self, "Cannot open the file", f"{error}\n\nThe text already in the box was kept."
            )
        else:
            errors.show_error(
                self, "Cannot open the file", f"Reading the file failed: {error}", details
            )

    @Slot()
    def copy_summary(self) -> None:
        text = self.page.output.toPlainText()
        if text:
            QGuiApplication.clipboard().setText(text)
            self.statusBar().showMessage("Summary copied.", 3000)

    @Slot()
    def save_summary(self) -> None:
        text = self.page.output.toPlainText()
        if not text:
            return
        start = str(Path(self.settings.last_folder or Path.home()) / "summary.txt")
        path, _ = QFileDialog.getSaveFileName(
            self, "Save the summary", start, "Text (*.txt);;Markdown (*.md)"
        )
        if path:
            self.write_summary(Path(path), text)

    def write_summary(self, path: Path, text: str) -> bool:
        """Write atomically (QSaveFile): a failed save leaves any older file as it was."""
        if path.suffix.lower() not in (".txt", ".md"):
            path = path.with_name(path.name + ".txt")
        problem = save_text(path, text)
        if problem:
            errors.show_error(
                self, "Not saved", f"The summary could not be saved to {path}: {problem}."
            )
            return False
        self.settings.last_folder = str(path.parent)
        self.statusBar().showMessage(f"Saved {path.name}.", 5000)
        return True
