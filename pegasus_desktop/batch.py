"""The Batch view's queue: files waiting, one summarized at a time on the engine's worker thread.

``BatchQueue`` holds the items and sends them, one by one, to the window's ``EngineClient`` (the
same long-lived model as the Summary page): the worker reads each file with the app's document
reader and summarizes it. A file that fails is marked and the queue goes on; Cancel stops the
file being summarized within a decoder step and leaves the rest queued. No widgets here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QObject, Signal, Slot

from engine import ChunkSummary, DocumentSummary, GenerationOptions
from engine.batch import BatchResult, collect_inputs, open_output
from pegasus_desktop.documents import SUPPORTED_SUFFIXES
from pegasus_desktop.signals import emit
from pegasus_desktop.worker import EngineClient

QUEUED, RUNNING, DONE, FAILED, CANCELLED = "Queued", "Summarizing", "Done", "Failed", "Cancelled"


@dataclass
class BatchItem:
    path: Path
    status: str = QUEUED
    detail: str = ""  # the part being read, or why it failed
    summary: DocumentSummary | None = None

    def result(self) -> BatchResult:
        if self.summary is not None:
            return BatchResult.from_summary(self.path, self.summary)
        return BatchResult(
            self.path, "failed" if self.status == FAILED else "cancelled", error=self.detail
        )


class BatchQueue(QObject):
    changed = Signal(int)  # an item's row
    reset = Signal()  # items were added or removed
    running_changed = Signal(bool)

    def __init__(
        self,
        engine: EngineClient,
        options: Callable[[], tuple[GenerationOptions, str]],
        parent: QObject | None = None,
    ) -> None:
        """``options`` gives the generation options and the document mode when a file starts."""
        super().__init__(parent)
        self.engine = engine
        self.options = options
        self.items: list[BatchItem] = []
        self.request = 0  # the engine request of the item being summarized, 0 for none
        self.current = -1
        self.stopping = False
        engine.chunk.connect(self._chunk)
        engine.finished.connect(self._finished)
        engine.failed.connect(self._failed)
        engine.cancelled.connect(self._cancelled)

    @property
    def running(self) -> bool:
        return self.current >= 0

    def add(self, paths: Iterable[Path]) -> tuple[int, int]:
        """Queue files, and the documents of folders; (added, skipped: other types or already queued)."""
        paths = [Path(p) for p in paths]
        existing = [p for p in paths if p.exists()]
        found = collect_inputs(existing, SUPPORTED_SUFFIXES)
        queued = {item.path.absolute() for item in self.items if item.status in (QUEUED, RUNNING)}
        added = 0
        for path in found:
            if path.suffix.lower() in SUPPORTED_SUFFIXES and path.absolute() not in queued:
                self.items.append(BatchItem(path))
                added += 1
        other_types = sum(
            1
            for folder in existing
            if folder.is_dir()
            for p in folder.iterdir()
            if p.is_file()
            and not p.name.startswith(".")
            and p.suffix.lower() not in SUPPORTED_SUFFIXES
        )
        skipped = len(paths) - len(existing) + len(found) - added + other_types
        if added:
            emit(self.reset)
        return added, skipped

    def clear(self) -> None:
        """Remove every item but the one being summarized."""
        self.items = [item for item in self.items if item.status == RUNNING]
        self.current = 0 if self.items else -1
        emit(self.reset)

    def counts(self) -> dict[str, int]:
        counts = dict.fromkeys((QUEUED, RUNNING, DONE, FAILED, CANCELLED), 0)
        for item in self.items:
            counts[item.status] += 1
        return counts

    # -- running

    def start(self) -> None:
        """Summarize every queued (or cancelled) file, in order."""
        if self.running:
            return
        for row, item in enumerate(self.items):
            if item.status == CANCELLED:
                item.status, item.detail = QUEUED, ""
                emit(self.changed, row)
        self.stopping = False
        self._next()

    def cancel(self) -> None:
        if self.running:
            self.stopping = True
            self.engine.cancel()

    def _next(self) -> None:
        row = next((i for i, item in enumerate(self.items) if item.status == QUEUED), -1)
        was_running = self.running
        if row < 0 or self.stopping:
            self.current, self.request = -1, 0
            if was_running:
                emit(self.running_changed, False)
            return
        options, mode = self.options()
        item = self.items[row]
        item.status, item.detail = RUNNING, ""
        self.current = row
        self.request = self.engine.summarize_file(item.path, options, mode)
        emit(self.changed, row)
        if not was_running:
            emit(self.running_changed, True)

    def _item(self, request: int) -> BatchItem | None:
        return self.items[self.current] if request == self.request and self.running else None

    @Slot(int, object)
    def _chunk(self, request: int, chunk: ChunkSummary) -> None:
        item = self._item(request)
        if item is not None and chunk.count > 1 and chunk.summary is None:
            stage = "part" if chunk.round == 1 else "combining"
            item.detail = f"{stage} {chunk.index + 1} of {chunk.count}"
            emit(self.changed, self.current)

    @Slot(int, object)
    def _finished(self, request: int, summary: DocumentSummary) -> None:
        self._done(request, DONE, "", summary)

    @Slot(int, str, str)
    def _failed(self, request: int, message: str, details: str) -> None:
        self._done(request, FAILED, message)

    @Slot(int)
    def _cancelled(self, request: int) -> None:
        if self._item(request) is not None:
            self.stopping = True
        self._done(request, CANCELLED, "")

    def _done(self, request: int, status: str, detail: str, summary=None) -> None:
        item = self._item(request)
        if item is None:
            return
        item.status, item.detail, item.summary = status, detail, summary
        emit(self.changed, self.current)
        self._next()

    # -- results

    def export(self, target: Path, fmt: str = "txt") -> int:
        """Write the summaries to a folder (``fmt`` "txt" or "md"), or to one .csv or .jsonl file
        with a row per finished file (failed ones with their error). Returns the files summarized."""
        finished = [item for item in self.items if item.status in (DONE, FAILED)]
        output = open_output(target, fmt)
        try:
            for item in finished:
                output.write(item.result())
        except BaseException:
            output.discard()  # a failure (a full disk) leaves no half table where the last one was
            raise
        output.close()
        return sum(1 for item in finished if item.status == DONE)
