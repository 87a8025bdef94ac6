"""The main page: the article (paste, open, drop) on the left, the summary on the right, the
options and Summarize / Cancel underneath. Widgets only; ``MainWindow`` drives them."""

from __future__ import annotations

import math
from pathlib import Path

from PySide6.QtCore import QMimeData, Qt, Signal
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QFont, QPalette
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from engine import ChunkSummary, DocumentSummary
from engine.documents import MAX_TEXT_CHARS, SUPPORTED_SUFFIXES, too_long
from engine.files import human_duration, three_figures, write_atomically
from pegasus_desktop.options_panel import OptionsPanel
from pegasus_desktop.signals import emit


def dropped_file(mime) -> Path | None:
    """The first local file of a drag, if it is one we read."""
    for url in mime.urls() if mime.hasUrls() else ():
        if url.isLocalFile():
            return Path(url.toLocalFile())
    return None


def model_name(model_id: str) -> str:
    path = Path(model_id).expanduser()
    return path.name if path.is_dir() else model_id


def status_text(model_id: str, precision: str, summary: DocumentSummary | None = None) -> str:
    parts = [model_name(model_id), precision]
    if summary is not None:
        parts.append(f"{summary.input_tokens:,} input tokens")
        if summary.parts > 1:
            parts.append(f"{summary.parts} parts")
        parts += [human_duration(summary.seconds), f"{three_figures(summary.tokens_per_second)} tokens/s"]
    return " · ".join(parts)


def count_text(words: int, tokens: int | None, limit: int, mode: str, exact: bool = True) -> str:
    """The line under the article: its length, and what happens to a text the model cannot read
    at once (``tokens`` is None until a model is loaded, and an estimate unless ``exact``)."""
    if tokens is None:
        return f"{words:,} words"
    message = f"{words:,} words · {'' if exact else 'about '}{tokens:,} tokens"
    if tokens <= limit:
        return message
    if mode == "beginning":
        kept = int(words * limit / tokens)
        return (
            f"⚠ {message}: longer than the {limit:,} tokens this model reads. Only the "
            f"first {limit:,} tokens (about the first {kept:,} words) will be summarized; "
            f"the rest is ignored."
        )
    return (
        f"{message}: longer than the {limit:,} tokens this model reads at once, so it will be "
        f"summarized in about {math.ceil(tokens / limit)} parts and their summaries combined."
    )


def progress_note(chunk: ChunkSummary) -> str:
    """What is being summarized, when a text is read in parts."""
    if chunk.count == 1 and chunk.round == 1:
        return ""
    if chunk.round == 1:
        return f"Summarizing part {chunk.index + 1} of {chunk.count}…"
    return f"Combining the parts' summaries ({chunk.index + 1} of {chunk.count})…"


def summary_note(summary: DocumentSummary, limit: int) -> str:
    if summary.truncated:
        return f"Only the first {limit:,} of {summary.input_tokens:,} tokens were read."
    if summary.parts > 1:
        combined = ", then combined" if summary.rounds > 1 else ""
        return f"Read in {summary.parts} parts, each summarized{combined}."
    return ""


def save_text(path: Path, text: str) -> str:
    """Write ``text`` (UTF-8, one final newline) atomically; return "" or the error, for people."""
    try:
        write_atomically(path, text.rstrip() + "\n")
    except OSError as e:
        return e.strerror or str(e)
    return ""


class InputEdit(QPlainTextEdit):
    """A plain-text box that also takes dropped files (it reports them instead of their path).

    Tab and Shift+Tab move the focus on (keyboard users are not stuck in the box); a tab character
    can still be pasted.

    Text pasted or dropped that would make the article longer than the app summarizes at a time
    (``MAX_TEXT_CHARS``) is not inserted: the text already here stays as it was, and ``refused``
    says why. Qt never has to lay out megabytes the app would refuse anyway.
    """

    file_dropped = Signal(Path)
    refused = Signal(str)  # the message for the user

    def insertFromMimeData(self, source: QMimeData) -> None:
        if source.hasText():
            added = len(source.text()) - len(self.textCursor().selectedText())
            length = len(self.toPlainText()) + added
            if added > 0 and length > MAX_TEXT_CHARS:
                emit(self.refused, str(too_long(length, holds="would then hold")))
                return
        super().insertFromMimeData(source)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if dropped_file(event.mimeData()) is not None:
            event.acceptProposedAction()
        else:
            super().dragEnterEvent(event)

    def dragMoveEvent(self, event) -> None:
        if dropped_file(event.mimeData()) is not None:
            event.acceptProposedAction()
        else:
            super().dragMoveEvent(event)

    def dropEvent(self, event: QDropEvent) -> None:
        path = dropped_file(event.mimeData())
        if path is None:
            super().dropEvent(event)
            return
        event.acceptProposedAction()
        emit(self.file_dropped, path)


def _heading(text: str) -> QLabel:
    label = QLabel(text)
    font = label.font()
    font.setBold(True)
    label.setFont(font)
    return label


class SummaryPage(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        # The article
        self.input = InputEdit()
        self.input.setObjectName("input")
        self.input.setTabChangesFocus(True)
        self.input.setPlaceholderText(
            "Paste an article here, or open a file (Ctrl+O) or drop one here: "
            + ", ".join(SUPPORTED_SUFFIXES)
        )
        self.open_button = QPushButton("Open…")
        self.count = QLabel("")
        self.count.setObjectName("count")
        self.count.setWordWrap(True)
        left_top = QHBoxLayout()
        left_top.addWidget(_heading("Article"))
        left_top.addStretch(1)
        left_top.addWidget(self.open_button)
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addLayout(left_top)
        left_layout.addWidget(self.input, 1)
        left_layout.addWidget(self.count)

        # The summary
        self.output = QPlainTextEdit()
        self.output.setObjectName("output")
        self.output.setReadOnly(True)
        self.output.setPlaceholderText("The summary appears here as it is written.")
        font = QFont(self.output.font())
        font.setPointSizeF(font.pointSizeF() * 1.15)
        self.output.setFont(font)
        self.copy_button = QPushButton("Copy")
        self.save_button = QPushButton("Save…")
        right_top = QHBoxLayout()
        right_top.addWidget(_heading("Summary"))
        right_top.addStretch(1)
        right_top.addWidget(self.copy_button)
        right_top.addWidget(self.save_button)
        self.summary_note = QLabel("")
        self.summary_note.setObjectName("summaryNote")
        self.summary_note.setWordWrap(True)
        self._fresh_palette = QPalette(self.output.palette())
        self.summary_article: str | None = None  # the article the summary shown is about
        self.stale = False  # the article or the model changed since the summary was written
        self.output.textChanged.connect(self._update_summary_buttons)
        self.input.textChanged.connect(self.article_edited)
        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        right_layout.addLayout(right_top)
        right_layout.addWidget(self.output, 1)
        right_layout.addWidget(self.summary_note)

        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(left)
        self.splitter.addWidget(right)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 2)
        self.splitter.setChildrenCollapsible(False)

        # Options and the two buttons
        self.options = OptionsPanel()
        self.cancel_button = QPushButton("Cancel")
        self.summarize_button = QPushButton("Summarize")
        self.summarize_button.setObjectName("summarize")
        self.summarize_button.setDefault(True)
        bottom = QHBoxLayout()
        bottom.addWidget(self.options, 1)
        buttons = QVBoxLayout()
        row = QHBoxLayout()
        row.addWidget(self.cancel_button)
        row.addWidget(self.summarize_button)
        buttons.addLayout(row)
        buttons.addWidget(self.options.mode)
        buttons.addStretch(1)
        bottom.addLayout(buttons)

        # The window cannot be made so small that the text boxes vanish or controls overlap:
        # each box keeps a few lines and words, and the layout sums these into the window's
        # minimum size.
        for box in (self.input, self.output):
            lines = box.fontMetrics().lineSpacing()
            box.setMinimumSize(14 * box.fontMetrics().averageCharWidth(), 5 * lines)

        layout = QVBoxLayout(self)
        layout.addWidget(self.splitter, 1)
        layout.addLayout(bottom)
        self.set_busy(False)
        self._update_summary_buttons()

    # -- the summary: always about the article beside it

    def begin_summary(self, article: str) -> None:
        """A new summary of ``article`` starts: the old one and its note go."""
        self.summary_article = article
        self._set_stale(False)
        self.output.clear()
        self.summary_note.setText("")

    def show_text(self, text: str) -> None:
        """Show the summary so far (or the final one) without losing the reader's place: the view
        follows the end while it is at the end, stays where the reader scrolled to otherwise, and
        never jumps back to the top."""
        bar = self.output.verticalScrollBar()
        at_end = bar.value() >= bar.maximum() - 2
        position = bar.value()
        self.output.setPlainText(text)
        bar.setValue(bar.maximum() if at_end else min(position, bar.maximum()))

    def show_stored(self, article: str, text: str, note: str) -> None:
        """Show a summary kept earlier (History, the Batch queue) beside its own article."""
        self.input.setPlainText(article)
        self.begin_summary(article)
        self.output.setPlainText(text)
        self.summary_note.setText(note)

    def mark_out_of_date(self, why: str) -> None:
        """The summary shown is no longer about what is beside it: dim it, say so, and turn off
        Copy and Save (a summary being written goes on, and stays marked)."""
        if self.stale or not self.output.toPlainText():
            return
        self._set_stale(True)
        self.summary_note.setText(f"⚠ Out of date: {why}. Summarize again for a new summary.")

    def article_edited(self) -> None:
        if self.summary_article is not None and not self.stale:
            if self.input.toPlainText() != self.summary_article:
                self.mark_out_of_date("the article has changed since this summary was written")

    def has_current_summary(self) -> bool:
        return bool(self.output.toPlainText()) and not self.stale

    def _set_stale(self, stale: bool) -> None:
        self.stale = stale
        palette = QPalette(self._fresh_palette)
        if stale:
            palette.setColor(QPalette.ColorRole.Text, palette.color(QPalette.ColorRole.PlaceholderText))
        self.output.setPalette(palette)
        self._update_summary_buttons()

    def _update_summary_buttons(self) -> None:
        current = self.has_current_summary()
        self.copy_button.setEnabled(current)
        self.save_button.setEnabled(current)

    def set_busy(self, busy: bool) -> None:
        self.summarize_button.setEnabled(not busy)
        self.cancel_button.setEnabled(busy)
        self.options.setEnabled(not busy)
        self.options.mode.setEnabled(not busy)
