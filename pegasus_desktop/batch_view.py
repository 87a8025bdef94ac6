"""The Batch view: drop files or folders (or add them), summarize them all, export the summaries.

A table lists the queue (file, status, time); the selected file's summary, or why it failed,
shows underneath. Double-click (or Enter) opens a file's summary on the Summary page; the context
menu also removes one file or retries it alone (Delete removes). The length and options are the
Summary page's. ``BatchQueue`` does the work; this module is widgets and dialogs only.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtGui import QAction, QDragEnterEvent, QDropEvent, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMenu,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from engine import GenerationOptions
from engine.documents import SUPPORTED_SUFFIXES
from engine.files import human_duration
from pegasus_desktop import errors
from pegasus_desktop.article_files import file_dialog_filter
from pegasus_desktop.batch import CANCELLED, DONE, FAILED, QUEUED, RUNNING, BatchQueue
from pegasus_desktop.history import HistoryStore
from pegasus_desktop.signals import emit
from pegasus_desktop.worker import EngineClient

# (menu text, format, whether it asks for a folder)
EXPORTS = (
    ("Text files in a folder…", "txt", True),
    ("Markdown files in a folder…", "md", True),
    ("One CSV file…", "csv", False),
    ("One JSON Lines file…", "jsonl", False),
)


def dropped_paths(mime) -> list[Path]:
    return [
        Path(u.toLocalFile()) for u in (mime.urls() if mime.hasUrls() else ()) if u.isLocalFile()
    ]


class BatchView(QWidget):
    running_changed = Signal(bool)
    message = Signal(str)  # for the status bar
    open_summary = Signal(object)  # a history.Entry, for the Summary page

    def __init__(
        self,
        engine: EngineClient,
        options: Callable[[], tuple[GenerationOptions, str]],
        parent: QWidget | None = None,
        store: HistoryStore | None = None,
        model: Callable[[], object] = lambda: None,
    ) -> None:
        super().__init__(parent)
        self.store = store
        self.queue = BatchQueue(engine, options, self, store=store, model=model)
        self.last_folder = ""
        self._ready = False
        self.setAcceptDrops(True)

        self.add_files_button = QPushButton("Add files…")
        self.add_folder_button = QPushButton("Add folder…")
        self.clear_button = QPushButton("Clear")
        top = QHBoxLayout()
        heading = QLabel(
            "<b>Batch</b>: drop files or folders here, or add them. The length and "
            "options are the Summary page's."
        )
        heading.setWordWrap(True)
        top.addWidget(heading, 1)
        for button in (self.add_files_button, self.add_folder_button, self.clear_button):
            top.addWidget(button)

        self.table = QTableWidget(0, 3)
        self.table.setObjectName("batchTable")
        self.table.setHorizontalHeaderLabels(["File", "Status", "Time"])
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().setVisible(False)
        self.table.setWordWrap(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for column in (1, 2):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        self.preview = QPlainTextEdit()
        self.preview.setObjectName("batchPreview")
        self.preview.setReadOnly(True)
        self.preview.setPlaceholderText("Select a file to see its summary.")
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.table)
        splitter.addWidget(self.preview)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 1)

        self.progress = QLabel("")
        self.progress.setObjectName("batchProgress")
        self.cancel_button = QPushButton("Cancel")
        self.start_button = QPushButton("Summarize all")
        self.start_button.setObjectName("batchStart")
        self.export_button = QPushButton("Export all…")
        self.export_menu = QMenu(self)
        for text, fmt, folder in EXPORTS:
            self.export_menu.addAction(text, lambda f=fmt, d=folder: self.choose_export(f, d))
        self.export_button.setMenu(self.export_menu)
        bottom = QHBoxLayout()
        bottom.addWidget(self.progress, 1)
        for button in (self.export_button, self.cancel_button, self.start_button):
            bottom.addWidget(button)

        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(splitter, 1)
        layout.addLayout(bottom)

        self.add_files_button.clicked.connect(self.choose_files)
        self.add_folder_button.clicked.connect(self.choose_folder)
        self.clear_button.clicked.connect(self.queue.clear)
        self.start_button.clicked.connect(self.queue.start)
        self.cancel_button.clicked.connect(self.queue.cancel)
        self.table.itemSelectionChanged.connect(self.show_selected)
        self.table.doubleClicked.connect(lambda index: self.open_row(index.row()))
        self.table.activated.connect(lambda index: self.open_row(index.row()))
        self.table.setContextMenuPolicy(Qt.ContextMenuPolicy.ActionsContextMenu)
        self.open_action = self._row_action("Open in the Summary page", self.open_row)
        self.retry_action = self._row_action("Summarize this file again", self.queue.retry)
        self.remove_action = self._row_action("Remove from the queue", self.remove_row, "Del")
        self.queue.message.connect(self.message)
        self.queue.reset.connect(self.refill)
        self.queue.changed.connect(self.update_row)
        self.queue.running_changed.connect(self._running_changed)
        self.refill()

    def _row_action(self, text: str, slot: Callable[[int], object], key: str = "") -> QAction:
        action = QAction(text, self.table)
        if key:
            action.setShortcut(QKeySequence(key))
            action.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
        action.triggered.connect(lambda: self.selected_row() >= 0 and slot(self.selected_row()))
        self.table.addAction(action)
        return action

    def selected_row(self) -> int:
        rows = self.table.selectionModel().selectedRows()
        return rows[0].row() if rows and rows[0].row() < len(self.queue.items) else -1

    def remove_row(self, row: int) -> None:
        if not self.queue.remove(row):
            emit(self.message, "The file being summarized cannot be removed; cancel it first.")

    def open_row(self, row: int) -> None:
        """Open a file's summary (from History, with the article it was made from)."""
        if not 0 <= row < len(self.queue.items):
            return
        item = self.queue.items[row]
        entry = None
        if item.entry_id is not None and self.store is not None:
            entry = self.store.get(item.entry_id)
        if entry is not None:
            emit(self.open_summary, entry)
        elif item.status == DONE:
            emit(self.message, f"The summary of {item.path.name} is no longer in History.")
        else:
            emit(self.message, f"{item.path.name} has no summary yet ({item.status.lower()}).")

    # -- adding files

    def add_paths(self, paths: list[Path]) -> None:
        added, skipped = self.queue.add(paths)
        note = f"Added {added} file{'s' if added != 1 else ''}"
        if skipped:
            note += f"; skipped {skipped} (already queued, missing, or not {', '.join(SUPPORTED_SUFFIXES)})"
        emit(self.message, note + ".")
        if paths:
            self.last_folder = str(paths[0].parent if paths[0].is_file() else paths[0])
        self.update_buttons()

    @Slot()
    def choose_files(self) -> None:
        names, _ = QFileDialog.getOpenFileNames(
            self, "Add files to the batch", self.last_folder, file_dialog_filter()
        )
        if names:
            self.add_paths([Path(n) for n in names])

    @Slot()
    def choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(
            self, "Add a folder's documents", self.last_folder
        )
        if folder:
            self.add_paths([Path(folder)])

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if dropped_paths(event.mimeData()):
            event.acceptProposedAction()

    def dragMoveEvent(self, event) -> None:
        if dropped_paths(event.mimeData()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        paths = dropped_paths(event.mimeData())
        if paths:
            event.acceptProposedAction()
            self.add_paths(paths)

    # -- the table

    @Slot()
    def refill(self) -> None:
        self.table.setRowCount(len(self.queue.items))
        for row, item in enumerate(self.queue.items):
            name = QTableWidgetItem(item.path.name)
            name.setToolTip(str(item.path))
            self.table.setItem(row, 0, name)
            self.update_row(row)
        self.update_buttons()

    @Slot(int)
    def update_row(self, row: int) -> None:
        item = self.queue.items[row]
        detail = item.detail.strip().splitlines()[0] if item.detail.strip() else ""
        status = item.status + (f": {detail}" if detail else "")
        if item.status == RUNNING:
            status += "…"
        cell = QTableWidgetItem(status)
        cell.setToolTip(item.detail)
        self.table.setItem(row, 1, cell)
        seconds = human_duration(item.summary.seconds) if item.summary is not None else ""
        self.table.setItem(row, 2, QTableWidgetItem(seconds))
        if row in {i.row() for i in self.table.selectionModel().selectedRows()}:
            self.show_selected()
        self.update_buttons()

    @Slot()
    def show_selected(self) -> None:
        row = self.selected_row()
        self.update_row_actions()
        if row < 0:
            self.preview.clear()
            return
        item = self.queue.items[row]
        if item.summary is not None:
            self.preview.setPlainText(item.summary.text)
        else:
            self.preview.setPlainText(item.detail if item.status == FAILED else "")

    # -- running and exporting

    @property
    def running(self) -> bool:
        """A batch is being summarized (``running_changed`` says when this changes)."""
        return self.queue.running

    def counts(self) -> dict[str, int]:
        """The queue's files by status (``batch.QUEUED``, ``DONE``...)."""
        return self.queue.counts()

    @Slot()
    def cancel(self) -> None:
        """Stop the file being summarized; it and the files after it stay queued."""
        self.queue.cancel()

    def set_ready(self, ready: bool) -> None:
        """The model is loaded and the Summary page is not summarizing."""
        self._ready = ready
        self.update_buttons()

    def update_row_actions(self) -> None:
        row = self.selected_row()
        item = self.queue.items[row] if row >= 0 else None
        self.open_action.setEnabled(item is not None and item.entry_id is not None)
        self.retry_action.setEnabled(
            item is not None and item.status != RUNNING and self._ready and not self.queue.running
        )
        self.remove_action.setEnabled(item is not None and item.status != RUNNING)

    def update_buttons(self) -> None:
        self.update_row_actions()
        counts = self.queue.counts()
        waiting = counts[QUEUED] + counts[CANCELLED]
        running = self.queue.running
        self.start_button.setEnabled(self._ready and not running and waiting > 0)
        self.cancel_button.setEnabled(running)
        self.export_button.setEnabled(counts[DONE] + counts[FAILED] > 0)
        self.clear_button.setEnabled(bool(self.queue.items))
        total = len(self.queue.items)
        if total:
            done = counts[DONE] + counts[FAILED]
            text = f"{done} of {total} done"
            if counts[FAILED]:
                text += f" · {counts[FAILED]} failed"
            if counts[CANCELLED]:
                text += f" · {counts[CANCELLED]} cancelled"
            self.progress.setText(text)
        else:
            self.progress.setText("No files yet.")

    @Slot(bool)
    def _running_changed(self, running: bool) -> None:
        self.update_buttons()
        emit(self.running_changed, running)

    def choose_export(self, fmt: str, folder: bool) -> None:
        start = self.last_folder or str(Path.home())
        if folder:
            target = QFileDialog.getExistingDirectory(
                self, "Export the summaries to a folder", start
            )
        else:
            target, _ = QFileDialog.getSaveFileName(
                self,
                "Export the summaries",
                str(Path(start) / f"summaries.{fmt}"),
                f"{fmt.upper()} (*.{fmt})",
            )
            if target and not target.lower().endswith(f".{fmt}"):
                target += f".{fmt}"
        if target:
            self.export(Path(target), fmt)

    def export(self, target: Path, fmt: str) -> bool:
        try:
            written = self.queue.export(target, fmt)
        except (OSError, ValueError) as e:
            errors.show_error(
                self, "Not exported", f"The summaries could not be written to {target}: {e}"
            )
            return False
        emit(
            self.message, f"Exported {written} summar{'ies' if written != 1 else 'y'} to {target}."
        )
        return True
