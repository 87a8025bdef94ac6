"""Open, drop, copy and save on the Summary page: the main window's file and clipboard actions.

``ArticleFiles`` is a small object the main window owns: it is given the window (for its
dialogs), the Summary page and the folder to start in, and reports to the status bar through a
signal. It remembers which file the article came from (for History and the name Save suggests).
Documents are read off the GUI thread; saves are atomic (``engine.files.write_atomically``). Copy
and Save act only on a summary of the article beside it (never on one marked out of date).
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, Qt, QUrl, Signal, Slot
from PySide6.QtGui import QDesktopServices, QGuiApplication
from PySide6.QtWidgets import QFileDialog, QMessageBox, QWidget

from engine.documents import SUPPORTED_SUFFIXES, DocumentError, read_document
from pegasus_desktop import errors
from pegasus_desktop.history import first_words
from pegasus_desktop.signals import emit
from pegasus_desktop.summary_page import SummaryPage, save_text
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


class ArticleFiles(QObject):
    """Open, copy and save for the Summary page, and which file the article in it came from.

    Everything it works on is given: ``window`` (the parent of its dialogs), the ``page`` whose
    article box it fills and whose summary it copies and saves, and ``last_folder`` (where Open…
    and Save… start; the window keeps it in Settings). It tells the status bar through
    ``message``.
    """

    message = Signal(str, int)  # for the status bar: the text, for how many ms (0: until replaced)

    def __init__(self, window: QWidget, page: SummaryPage, last_folder: str = "") -> None:
        super().__init__(window)
        self.window = window
        self.page = page
        self.last_folder = last_folder
        self.opened_file: Path | None = None  # the file last opened, and its text
        self.opened_text: str | None = None

    def _say(self, text: str, ms: int = 0) -> None:
        emit(self.message, text, ms)

    # -- the article's file

    def set_opened(self, path: Path | None, text: str) -> None:
        """The article shown now is ``text``, read from ``path`` (None: not from a file)."""
        self.opened_file, self.opened_text = path, text

    def source_of(self, article: str | None) -> Path | None:
        """The file ``article`` was read from, when it is the one opened last (unedited)."""
        if self.opened_file is not None and self.opened_text == article:
            return self.opened_file
        return None

    @Slot()
    def open_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self.window, "Open an article", self.last_folder, file_dialog_filter()
        )
        if path:
            self.open_path(Path(path))

    @Slot(Path)
    def open_path(self, path: Path) -> None:
        path = Path(path)
        if not path.exists():  # a name typed on the command line, a stale recent file
            errors.show_error(
                self.window,
                "Cannot open the file",
                f"“{path.name}” was not found in {path.parent}. Check the name and the folder."
                f"\n\nThe text already in the box was kept.",
            )
            return
        self._say(f"Reading {path.name}…")
        run_in_background(lambda: (path, read_document(path)), self._opened, self._open_failed)

    @Slot(object)
    def _opened(self, result: tuple[Path, str]) -> None:
        path, text = result
        self.page.input.setPlainText(text)  # the summary beside it is now out of date
        self.set_opened(path, text)
        self.last_folder = str(path.parent)
        self._say(f"Opened {path.name}.", 5000)

    @Slot(object, str)
    def _open_failed(self, error: Exception, details: str) -> None:
        self._say("")
        if isinstance(error, DocumentError):
            errors.show_error(
                self.window,
                "Cannot open the file",
                f"{error}\n\nThe text already in the box was kept.",
            )
        else:
            errors.show_error(
                self.window, "Cannot open the file", f"Reading the file failed: {error}", details
            )

    # -- the summary beside it

    def _current_summary(self) -> str:
        """The summary shown, if it is about the article beside it; else "" and a word why."""
        if self.page.has_current_summary():
            return self.page.output.toPlainText()
        if self.page.output.toPlainText():
            self._say(
                "The summary is out of date (see the note under it): summarize again first.", 5000
            )
        return ""

    def article_title(self) -> str:
        """The article's name: its file's, or its first words."""
        source = self.source_of(self.page.summary_article)
        if source is not None:
            return source.stem
        return first_words(self.page.summary_article or self.page.input.toPlainText(), 6)

    @Slot()
    def copy_summary(self) -> None:
        text = self._current_summary()
        if text:
            QGuiApplication.clipboard().setText(text)
            self._say("Summary copied.", 3000)

    @Slot()
    def save_summary(self) -> None:
        text = self._current_summary()
        if not text:
            return
        title = self.article_title()
        # A file name from the title: the ellipsis of "first words…" dropped, not made a "_".
        name = "".join(c if c.isalnum() or c in " -_.," else "_" for c in title.rstrip("…"))
        name = name.strip(" .")
        start = str(Path(self.last_folder or Path.home()) / f"{name or 'summary'}.summary.txt")
        path, chosen = QFileDialog.getSaveFileName(
            self.window, "Save the summary", start, "Text (*.txt);;Markdown (*.md)"
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
                self.window, "Not saved", f"The summary could not be saved to {path}: {problem}."
            )
            return False
        self.last_folder = str(path.parent)
        self._say(f"Saved {path.name}.", 5000)
        return True
