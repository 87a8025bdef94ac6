"""Summarize and Cancel on the Summary page: the main window's side of one summary.

``Summarizing`` is mixed into ``MainWindow``: the state it works on is the window's own (the model
loaded, the summary under way, which model wrote the summary shown), which loading a model, the
settings, History and quitting read and change too. What it uses of the window is declared on the
class. The summary pane is always about the article beside it:
a new summary clears the old one and its note, and an edit of the article (or a new model) marks
the summary shown as out of date (``SummaryPage.mark_out_of_date``). Every finished summary is
kept in History.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from PySide6.QtCore import Slot

from engine import ChunkSummary, DocumentSummary
from engine.documents import MAX_TEXT_CHARS, too_long
from engine.files import human_duration
from pegasus_desktop import errors
from pegasus_desktop.options_panel import SEARCHES
from pegasus_desktop.summary_page import count_text, progress_note, status_text, summary_note

if TYPE_CHECKING:
    from PySide6.QtGui import QAction
    from PySide6.QtWidgets import QLabel

    from engine import GenerationOptions
    from engine.tokenizer import TextTokenizer
    from pegasus_desktop.article_files import ArticleFiles
    from pegasus_desktop.batch_view import BatchView
    from pegasus_desktop.history import HistoryStore
    from pegasus_desktop.summary_page import SummaryPage
    from pegasus_desktop.worker import EngineClient, ModelInfo

log = logging.getLogger(__name__)


def search_times(seconds: dict[str, float]) -> str:
    """The last time of each search kind used, for the status line: " · Best 2.41 s, Fast 1.12 s"."""
    times = [f"{label} {human_duration(seconds[search])}" for label, search in SEARCHES if search in seconds]
    return f" · {', '.join(times)}" if times else ""


class Summarizing:
    # The window's, set in MainWindow.__init__ (widgets in _build_widgets, actions in _build_actions).
    page: SummaryPage
    engine: EngineClient
    batch: BatchView  # asked whether a batch is running; Cancel stops it too
    files: ArticleFiles  # which file the article came from, for History
    history: HistoryStore | None
    model: ModelInfo | None
    tokenizer: TextTokenizer | None
    request: int  # the summary being written, 0 for none
    request_options: tuple[GenerationOptions, str] | None  # its options and document mode
    request_search: str  # and its search kind
    request_model: ModelInfo | None  # and the model writing it (the window may load another meanwhile)
    search_seconds: dict[str, float]  # each search kind's last time, with the model in use only
    model_of_summary: tuple[str, str] | None  # (model id, precision) of the summary shown
    status: QLabel
    summarize_action: QAction
    cancel_action: QAction

    @Slot()
    def summarize(self) -> None:
        if self.model is None or self.request or self.batch.running:
            return
        text = self.page.input.toPlainText()
        if not text.strip():
            self.statusBar().showMessage("Paste or open an article first.", 5000)
            return
        if len(text) > MAX_TEXT_CHARS:
            errors.show_error(
                self, "No summary", f"{too_long(len(text))}\n\nThe text in the box was kept."
            )
            return
        self.page.begin_summary(text)
        self.request_model = self.model
        self.model_of_summary = (self.model.model_id, self.model.precision)
        self.page.set_busy(True)
        self.summarize_action.setEnabled(False)
        self.status.setText(
            f"{status_text(self.model.model_id, self.model.precision)} · summarizing…"
        )
        options = self.page.options
        self.request_options = (options.options(), options.document_mode())
        self.request_search = options.search_mode()
        self.request = self.engine.summarize(text, *self.request_options)
        self._set_ready(True)
        self.update_cancel()

    @Slot()
    def cancel(self) -> None:
        """Esc and Summary → Cancel: stop the summary being written, or the batch."""
        if self.request:
            self.engine.cancel()
        self.batch.cancel()

    def update_cancel(self) -> None:
        # One job runs at a time; Esc, Summary → Cancel and the page's button all stop it,
        # a batch included (Summarize is off meanwhile, so Cancel is the button that makes sense).
        running = bool(self.request) or self.batch.running
        self.cancel_action.setEnabled(running)
        self.page.cancel_button.setEnabled(running)

    def _done(self) -> None:
        self.request = 0
        self.page.set_busy(False)
        self._set_ready(self.model is not None)
        self.update_cancel()

    @Slot(int, str)
    def _partial(self, request: int, text: str) -> None:
        if request == self.request:
            self.page.show_text(text)

    @Slot(int, object)
    def _chunk(self, request: int, chunk: ChunkSummary) -> None:
        if request == self.request and chunk.summary is None and not self.page.stale:
            self.page.summary_note.setText(progress_note(chunk))

    @Slot(int, object)
    def _finished(self, request: int, summary: DocumentSummary) -> None:
        if request != self.request:
            return
        model = self.request_model
        self._done()
        self.page.show_text(summary.text)
        if not self.page.stale:
            self.page.summary_note.setText(summary_note(summary, model.max_input_tokens))
        if model is self.model:  # else another model is loading, and the status line says so
            self.search_seconds[self.request_search] = summary.seconds
            self.status.setText(f"{status_text(model.model_id, model.precision, summary)}"
                                f"{search_times(self.search_seconds)}")
        self.keep_in_history(summary, model)

    def keep_in_history(self, summary: DocumentSummary, model: ModelInfo) -> None:
        """Store the finished summary with its article, source, the model that wrote it and options."""
        if self.history is None:
            return
        article = self.page.summary_article or ""
        options, mode = self.request_options
        source = self.files.source_of(article)
        try:
            self.history.add_summary(
                article, summary, model, options, mode, kind="file" if source else "text",
                path=source,
            )
        except Exception as e:  # noqa: BLE001 - the summary on screen stays; the user is told
            log.exception("the summary was not stored in History")
            self.statusBar().showMessage(f"This summary could not be kept in History: {e}", 10000)

    @Slot(int)
    def _cancelled(self, request: int) -> None:
        if request != self.request:
            return
        model = self.request_model
        self._done()
        if not self.page.stale:
            self.page.summary_note.setText("Cancelled: this is the summary so far.")
        if model is self.model:  # else another model is loading, and the status line says so
            self.status.setText(f"{status_text(model.model_id, model.precision)} · cancelled")

    @Slot(int, str, str)
    def _failed(self, request: int, message: str, details: str) -> None:
        if request != self.request:
            return
        self._done()
        errors.show_error(self, "No summary", message, details)

    @Slot()
    def update_count(self) -> None:
        """The line under the article. Bounded work on the GUI thread, whatever is in the box: a
        text over ``MAX_TEXT_CHARS`` is not tokenized, a long one only until it passes the model's
        limit (the rest is estimated)."""
        text = self.page.input.toPlainText()
        if len(text) > MAX_TEXT_CHARS:
            self.page.count.setText(f"⚠ {too_long(len(text))}")
            return
        tokens, exact, limit = None, True, 0
        if self.tokenizer is not None and self.model is not None:
            limit = self.model.max_input_tokens
            tokens, exact = self.tokenizer.count(text, limit) if text.strip() else (0, True)
        mode = self.page.options.document_mode()
        self.page.count.setText(count_text(len(text.split()), tokens, limit, mode, exact))

    @Slot(str)
    def _input_refused(self, message: str) -> None:
        errors.show_error(self, "Not pasted", f"{message}\n\nThe text already in the box was kept.")
