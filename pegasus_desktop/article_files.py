"""Open, drop, copy and save on the Summary page: the main window's file and clipboard actions.

``ArticleFiles`` is mixed into ``MainWindow`` and uses its ``page``, ``settings`` and status bar.
Documents are read off the GUI thread; saves are atomic (``engine.files.write_atomically``). Copy
and Save act only on a summary of the article beside it (never on one marked out of date).
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, QUrl, Slot
from PySide6.QtGui import QDesktopServices, QGuiApplication
from PySide6.QtWidgets import QFileDialog, QMessageBox, QWidget

from engine.documents import SUPPORTED_SUFFIXES, DocumentError, read_document
from pegasus_desktop import errors
from pegasus_desktop.summary_page import save_text
from pegasus_desktop.tasks import run_in_background


def show_folder(parent: QWidget, folder: Path) -> bool:
    """Open ``folder`` in the file manager; when none answers, say where the folder is."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        errors.show_error(parent, "Cannot open the folder", f"{folder} cannot be created: {e}")
        return False
    if QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder))):
        return True
    box = QMessageBox(
        QMessageBox.Icon.Information,
        "No file manager",
        f"No file manager could be started to show the folder. It is:\n\n{folder}",
        QMessageBox.StandardButton.Ok,
        parent,
    )
    box.setTextInteractionFlags(box.textInteractionFlags() | Qt.TextInteractionFlag.TextSelectableByMouse)
    QGuiApplication.clipboard().setText(str(folder))
    box.setInformativeText("Its path was copied to the clipboard.")
    box.exec()
    return False


def file_dialog_filter() -> str:
    """The Open dialogs' file types: every document type, then each kind on its own."""
    patterns = " ".join(f"*{s}" for s in SUPPORTED_SUFFIXES)
    return (
        f"Documents ({patterns});;Text (*.txt *.md);;Web pages (*.html *.htm);;PDF (*.pdf);;"
        "Word (*.docx)"
    )


def markdown_summary(title: str, summary: str) -> str:
    """A Markdown file: the article's name as a heading, then the summary."""
    return f"# Summary of {title}\n\n{summary.strip()}\n"


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
        path = Path(path)
        if not path.exists():  # a name typed on the command line, a stale recent file
            errors.show_error(
                self,
                "Cannot open the file",
                f"“{path.name}” was not found in {path.parent}. Check the name and the folder."
                f"\n\nThe text already in the box was kept.",
            )
            return
        self.statusBar().showMessage(f"Reading {path.name}…")
        run_in_background(lambda: (path, read_document(path)), self._opened, self._open_failed)

    @Slot(object)
    def _opened(self, result: tuple[Path, str]) -> None:
        path, text = result
        self.page.input.setPlainText(text)  # the summary beside it is now out of date
        self.opened_file, self.opened_text = path, text
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

    def _current_summary(self) -> str:
        """The summary shown, if it is about the article beside it; else "" and a word why."""
        if self.page.has_current_summary():
            return self.page.output.toPlainText()
        if self.page.output.toPlainText():
            self.statusBar().showMessage(
                "The summary is out of date (see the note under it): summarize again first.", 5000
            )
        return ""

    def article_title(self) -> str:
        """The article's name: its file's, or its first words."""
        from pegasus_desktop.history import first_words

        if self.opened_file is not None and self.opened_text == self.page.summary_article:
            return self.opened_file.stem
        return first_words(self.page.summary_article or self.page.input.toPlainText(), 6)

    @Slot()
    def copy_summary(self) -> None:
        text = self._current_summary()
        if text:
            QGuiApplication.clipboard().setText(text)
            self.statusBar().showMessage("Summary copied.", 3000)

    @Slot()
    def save_summary(self) -> None:
        text = self._current_summary()
        if not text:
            return
        title = self.article_title()
        # A file name from the title: the ellipsis of "first words…" dropped, not made a "_".
        name = "".join(c if c.isalnum() or c in " -_.," else "_" for c in title.rstrip("…"))
        name = name.strip(" .")
        start = str(Path(self.settings.last_folder or Path.home()) / f"{name or 'summary'}.summary.txt")
        path, chosen = QFileDialog.getSaveFileName(
            self, "Save the summary", start, "Text (*.txt);;Markdown (*.md)"
        )
        if not path:
            return
        path = Path(path)
        if path.suffix.lower() not in (".txt", ".md") and chosen.startswith("Markdown"):
            path = path.with_name(path.name + ".md")
        if path.suffix.lower() == ".md":
            text = markdown_summary(title, text)
        self.write_summary(path, text)

    def write_summary(self, path: Path, text: str) -> bool:
        """Write atomically (``save_text``): a failed save leaves any older file as it was."""
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
