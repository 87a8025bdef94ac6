"""The History view: every finished summary, newest first, searchable.

A search box filters by the source, the summary or the article; the table lists when, what and
with which model; the selected summary shows underneath. Open puts a summary back on the Summary
page beside its own article (double-click or Enter does the same); Copy, Export… (text,
Markdown, CSV or JSON Lines: the selected entries, or every one listed) and Delete… act on the
selection. ``HistoryStore`` keeps the data; this module is widgets and dialogs only.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Signal, Slot
from PySide6.QtGui import QGuiApplication, QKeySequence, QShortcut, QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMenu,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from engine.files import human_duration
from pegasus_desktop import errors
from pegasus_desktop.history import Entry, HistoryStore
from pegasus_desktop.history_export import export_entries
from pegasus_desktop.signals import emit

# (menu text, format)
EXPORTS = (
    ("Text file…", "txt"),
    ("Markdown file…", "md"),
    ("CSV file…", "csv"),
    ("JSON Lines file…", "jsonl"),
)


def entry_note(entry: Entry) -> str:
    """The note under a summary reopened from History."""
    note = f"From History: {entry.when()}, {entry.model_name()} ({entry.precision}), {human_duration(entry.seconds)}."
    if entry.truncated:
        note += " Only the beginning of the article was read."
    elif entry.parts > 1:
        note += f" Read in {entry.parts} parts."
    return note


class HistoryView(QWidget):
    reopen = Signal(object)  # the Entry to show on the Summary page
    message = Signal(str)  # for the status bar

    def __init__(self, store: HistoryStore | None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.store = store
        self.entries: list[Entry] = []
        self.last_folder = ""

        self.search = QLineEdit()
        self.search.setObjectName("historySearch")
        self.search.setPlaceholderText("Search the summaries, their articles and file names")
        self.search.setClearButtonEnabled(True)
        self.search_timer = QTimer(self, singleShot=True, interval=200)
        self.search.textChanged.connect(self.search_timer.start)
        self.search_timer.timeout.connect(self.refresh)
        top = QHBoxLayout()
        top.addWidget(QLabel("<b>History</b>"))
        top.addWidget(self.search, 1)

        self.table = QTableWidget(0, 4)
        self.table.setObjectName("historyTable")
        self.table.setHorizontalHeaderLabels(["When", "Article", "Model", "Summary"])
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.verticalHeader().setVisible(False)
        self.table.setWordWrap(False)
        header = self.table.horizontalHeader()
        for column in (0, 2):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Interactive)
        header.setSectionResizeMode(3, QHeaderView.ResizeMode.Stretch)
        header.resizeSection(1, 260)
        self.preview = QPlainTextEdit()
        self.preview.setObjectName("historyPreview")
        self.preview.setReadOnly(True)
        self.preview.setPlaceholderText("Select a summary to read it here.")
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.table)
        splitter.addWidget(self.preview)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 1)

        self.count = QLabel("")
        self.count.setObjectName("historyCount")
        self.open_button = QPushButton("Open in Summary page")
        self.copy_button = QPushButton("Copy")
        self.export_button = QPushButton("Export…")
        self.export_menu = QMenu(self)
        for text, fmt in EXPORTS:
            self.export_menu.addAction(text, lambda f=fmt: self.choose_export(f))
        self.export_button.setMenu(self.export_menu)
        self.delete_button = QPushButton("Delete…")
        bottom = QHBoxLayout()
        bottom.addWidget(self.count, 1)
        for button in (self.delete_button, self.export_button, self.copy_button, self.open_button):
            bottom.addWidget(button)

        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(splitter, 1)
        layout.addLayout(bottom)

        self.table.itemSelectionChanged.connect(self.show_selected)
        self.table.doubleClicked.connect(lambda _: self.open_selected())
        self.table.activated.connect(lambda _: self.open_selected())
        self.open_button.clicked.connect(self.open_selected)
        self.copy_button.clicked.connect(self.copy_selected)
        self.delete_button.clicked.connect(self.delete_selected)
        delete_key = QShortcut(QKeySequence.StandardKey.Delete, self.table)
        delete_key.setContext(Qt.ShortcutContext.WidgetShortcut)
        delete_key.activated.connect(self.delete_selected)
        if store is None:
            self.search.setEnabled(False)
            self.count.setText("History is not available (see the message at start).")
        self.show_selected()

    def showEvent(self, event: QShowEvent) -> None:
        self.refresh()
        super().showEvent(event)

    # -- the list

    @Slot()
    def refresh(self) -> None:
        """Read the entries again (newest first, filtered by the search), keeping the selection."""
        if self.store is None:
            return
        kept = {e.id for e in self.selected()}
        self.entries = self.store.search(self.search.text())
        self.table.setRowCount(len(self.entries))
        for row, entry in enumerate(self.entries):
            source = QTableWidgetItem(Path(entry.source).name if entry.kind != "text" else entry.source)
            source.setToolTip(entry.source)
            summary = QTableWidgetItem(" ".join(entry.summary.split()))
            summary.setToolTip(entry.summary)
            cells = (QTableWidgetItem(entry.when()), source, QTableWidgetItem(entry.model_name()), summary)
            for column, cell in enumerate(cells):
                self.table.setItem(row, column, cell)
        self.table.clearSelection()
        for row, entry in enumerate(self.entries):
            if entry.id in kept:
                self.table.selectRow(row)
        total = self.store.count()
        shown = len(self.entries)
        if self.search.text().strip():
            self.count.setText(f"{shown} of {total} summaries match.")
        else:
            self.count.setText(f"{total} summar{'y' if total == 1 else 'ies'}.")
        self.show_selected()

    def selected(self) -> list[Entry]:
        rows = sorted({i.row() for i in self.table.selectionModel().selectedRows()})
        return [self.entries[r] for r in rows if r < len(self.entries)]

    @Slot()
    def show_selected(self) -> None:
        chosen = self.selected()
        self.preview.setPlainText(chosen[0].summary if len(chosen) == 1 else "")
        self.open_button.setEnabled(len(chosen) == 1)
        self.copy_button.setEnabled(bool(chosen))
        self.delete_button.setEnabled(bool(chosen))
        self.export_button.setEnabled(bool(self.entries))

    # -- actions

    @Slot()
    def open_selected(self) -> None:
        chosen = self.selected()
        if len(chosen) == 1:
            emit(self.reopen, chosen[0])

    @Slot()
    def copy_selected(self) -> None:
        chosen = self.selected()
        if chosen:
            QGuiApplication.clipboard().setText("\n\n".join(e.summary.strip() for e in chosen))
            emit(self.message, f"Copied {len(chosen)} summar{'y' if len(chosen) == 1 else 'ies'}.")

    @Slot()
    def delete_selected(self) -> None:
        chosen = self.selected()
        if not chosen or self.store is None:
            return
        what = "this summary" if len(chosen) == 1 else f"these {len(chosen)} summaries"
        if not errors.confirm(
            self,
            "Delete from History?",
            f"Delete {what} from History? This cannot be undone.",
        ):
            return
        try:
            self.store.delete(e.id for e in chosen)
        except Exception as e:  # noqa: BLE001 - told to the user; nothing was deleted
            errors.show_error(self, "Not deleted", f"History could not be changed: {e}")
        self.refresh()

    def choose_export(self, fmt: str) -> None:
        chosen = self.selected() or self.entries
        start = Path(self.last_folder or Path.home()) / f"summaries.{fmt}"
        target, _ = QFileDialog.getSaveFileName(
            self, "Export summaries", str(start), f"{fmt.upper()} (*.{fmt})"
        )
        if target:
            if not target.lower().endswith(f".{fmt}"):
                target += f".{fmt}"
            self.export(chosen, Path(target), fmt)

    def export(self, entries: list[Entry], target: Path, fmt: str) -> bool:
        try:
            export_entries(entries, target, fmt)
        except (OSError, ValueError) as e:
            errors.show_error(
                self, "Not exported", f"The summaries could not be written to {target}: {e}"
            )
            return False
        self.last_folder = str(target.parent)
        emit(self.message, f"Exported {len(entries)} summar{'ies' if len(entries) != 1 else 'y'} to {target}.")
        return True
