"""The Batch view's queue: files waiting, summarized in groups on the engine's worker thread.

``BatchQueue`` holds the items and sends them, a group at a time, to the window's ``EngineClient``
(the same long-lived model as the Summary page). A group's files are read with the app's document
reader off the GUI thread, then summarized on the worker together (``EngineClient.summarize_many``:
their pieces several per generate() call, each file getting exactly the summary it gets alone).
The first group of a run is one file, so the first summary shows after one file's time; the next
ones hold ``batch_size`` files. Each file keeps its own status and request: a file that fails is
marked and the others go on; Cancel stops the group being summarized within a decoder step (its
unfinished files are marked cancelled) and leaves the rest queued. One file can be removed, or
retried alone.

With a ``HistoryStore``, every finished summary is kept in History (with its article), and the
queue itself (files, status, which History entry holds each summary) is stored at every change,
so a restart, even after a crash, finds it as it was; a file that was being summarized is queued
again. No widgets here.
"""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QObject, Signal, Slot

from engine import ChunkSummary, DocumentSummary, GenerationOptions
from engine.batch import BatchResult, collect_inputs, open_output
from engine.documents import SUPPORTED_SUFFIXES, DocumentError, read_document
from engine.summarizer import DEFAULT_BATCH_SIZE
from pegasus_desktop.history import Entry, HistoryStore, QueueRow
from pegasus_desktop.signals import emit
from pegasus_desktop.tasks import run_in_background
from pegasus_desktop.worker import EngineClient

log = logging.getLogger(__name__)

QUEUED, RUNNING, DONE, FAILED, CANCELLED = "Queued", "Summarizing", "Done", "Failed", "Cancelled"


@dataclass(frozen=True)
class StoredSummary:
    """A summary read back from History (what the queue shows and exports of it)."""

    text: str
    seconds: float
    input_tokens: int
    summary_tokens: int
    new_tokens: int
    parts: int

    @classmethod
    def from_entry(cls, entry: Entry) -> StoredSummary:
        return cls(
            entry.summary, entry.seconds, entry.input_tokens, entry.summary_tokens,
            entry.new_tokens, entry.parts,
        )


@dataclass
class BatchItem:
    path: Path
    status: str = QUEUED
    detail: str = ""  # the part being read, or why it failed
    summary: DocumentSummary | StoredSummary | None = None
    entry_id: int | None = None  # its summary in History
    article: str | None = None  # the text read, while it is summarized

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

    message = Signal(str)  # for the status bar

    def __init__(
        self,
        engine: EngineClient,
        options: Callable[[], tuple[GenerationOptions, str]],
        parent: QObject | None = None,
        store: HistoryStore | None = None,
        model: Callable[[], object] = lambda: None,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> None:
        """``options`` gives the generation options and the document mode when a group starts;
        ``model`` the loaded ``ModelInfo`` (for History); ``batch_size`` the files of a group."""
        super().__init__(parent)
        self.engine = engine
        self.options = options
        self.store = store
        self.model = model
        self.batch_size = batch_size
        self.items: list[BatchItem] = []
        self._running = False  # from start (or retry) until the last group is done
        self.active: list[BatchItem] = []  # the group's files still being read or summarized
        self.requests: dict[int, BatchItem] = {}  # engine request -> its item, while summarized
        self.stopping = False
        self.first_group = True  # the run's first group is one file (its summary shows soon)
        self.only: BatchItem | None = None  # a file retried alone
        self.reads = 0  # numbers the reads, so a late one is recognised
        self.running_options: tuple[GenerationOptions, str] | None = None
        engine.chunk.connect(self._chunk)
        engine.finished.connect(self._finished)
        engine.failed.connect(self._failed)
        engine.cancelled.connect(self._cancelled)
        self.changed.connect(self._store)
        self.reset.connect(self._store)
        self._restore()

    # -- kept across restarts

    def _restore(self) -> None:
        if self.store is None:
            return
        for row in self.store.load_queue():
            item = BatchItem(row.path, row.status, row.detail, entry_id=row.summary_id)
            if item.status == RUNNING:  # interrupted by a quit or a crash: do it again
                item.status, item.detail = QUEUED, ""
            if item.status == DONE:
                entry = self.store.get(row.summary_id) if row.summary_id is not None else None
                if entry is None:
                    item.status, item.detail, item.entry_id = QUEUED, "", None
                else:
                    item.summary = StoredSummary.from_entry(entry)
            self.items.append(item)

    def _store(self, *_row) -> None:
        if self.store is None:
            return
        try:
            self.store.save_queue(
                QueueRow(i.path, i.status, i.detail, i.entry_id) for i in self.items
            )
        except Exception as e:  # noqa: BLE001 - the queue on screen stays; the user is told
            log.exception("the batch queue was not stored")
            emit(self.message, f"The queue could not be stored for the next start: {e}")

    @property
    def running(self) -> bool:
        return self._running

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
        emit(self.reset)

    def remove(self, row: int) -> bool:
        """Take one file off the queue (not the one being summarized); its summary stays in
        History."""
        if not 0 <= row < len(self.items) or self.items[row].status == RUNNING:
            return False
        del self.items[row]
        emit(self.reset)
        return True

    def retry(self, row: int) -> bool:
        """Summarize this one file again (alone, when the queue is idle)."""
        if not 0 <= row < len(self.items) or self.items[row].status == RUNNING:
            return False
        item = self.items[row]
        item.status, item.detail, item.summary, item.entry_id = QUEUED, "", None, None
        emit(self.changed, row)
        if not self.running:
            self.only = item
            self.stopping = False
            self.first_group = True
            self._next()
        return True

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
        self.only = None
        self.first_group = True
        self._next()

    def cancel(self) -> None:
        if self.running:
            self.stopping = True
            self.engine.cancel()

    def _next(self) -> None:
        """Start the next group: up to ``batch_size`` queued files (one for a run's first)."""
        was_running = self.running
        if self.stopping:
            group = []
        elif self.only is not None:
            group = [self.only] if self.only in self.items and self.only.status == QUEUED else []
        else:
            size = 1 if self.first_group else self.batch_size
            group = [item for item in self.items if item.status == QUEUED][:size]
        self.active, self.requests = list(group), {}
        self._running = bool(group)
        if not group:
            self.only = None
            if was_running:
                emit(self.running_changed, False)
            return
        self.first_group = False
        for item in group:
            item.status, item.detail = RUNNING, ""
        self.reads += 1
        read, paths = self.reads, [item.path for item in group]
        run_in_background(lambda: _read(read, paths), self._read_done, self._read_failed)
        for item in group:
            emit(self.changed, self.items.index(item))
        if not was_running:
            emit(self.running_changed, True)

    @Slot(object)
    def _read_done(self, result: tuple[int, list[tuple[str | None, str]]]) -> None:
        read, texts = result
        if read != self.reads or not self.running:
            return
        readable = []
        for item, (text, problem) in zip(list(self.active), texts):
            if self.stopping:
                self._settle(item, CANCELLED, "")
            elif text is None:
                self._settle(item, FAILED, problem)
            else:
                item.article = text
                readable.append(item)
        if readable:
            self.running_options = self.options()
            requests = self.engine.summarize_many(
                [item.article for item in readable], *self.running_options, self.batch_size
            )
            self.requests = dict(zip(requests, readable))
        else:
            self._next()

    @Slot(object, str)
    def _read_failed(self, error: Exception, details: str) -> None:
        log.error("reading a batch file failed\n%s", details)
        if self.running and not self.requests:
            for item in list(self.active):
                self._settle(item, FAILED, f"Reading the file failed: {error}")
            self._next()

    def _item(self, request: int) -> BatchItem | None:
        return self.requests.get(request)

    @Slot(int, object)
    def _chunk(self, request: int, chunk: ChunkSummary) -> None:
        item = self._item(request)
        if item is not None and chunk.count > 1 and chunk.summary is None:
            stage = "part" if chunk.round == 1 else "combining"
            item.detail = f"{stage} {chunk.index + 1} of {chunk.count}"
            emit(self.changed, self.items.index(item))

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
        item = self.requests.pop(request, None)
        if item is None:
            return
        self._settle(item, status, detail, summary)
        if not self.requests:  # the whole group is done
            self._next()

    def _settle(self, item: BatchItem, status: str, detail: str, summary=None) -> None:
        """One file of the group is done (or failed, or was cancelled)."""
        item.status, item.detail, item.summary = status, detail, summary
        if summary is not None:
            item.entry_id = self._keep(item, summary)
        item.article = None
        if item is self.only:
            self.stopping = True
        if item in self.active:
            self.active.remove(item)
        if item in self.items:
            emit(self.changed, self.items.index(item))

    def _keep(self, item: BatchItem, summary: DocumentSummary) -> int | None:
        """Store a finished file's summary in History; its id, or None when it could not be."""
        model = self.model()
        if self.store is None or model is None or self.running_options is None:
            return None
        try:
            return self.store.add_summary(
                item.article or "", summary, model, *self.running_options, kind="batch",
                path=item.path,
            )
        except Exception as e:  # noqa: BLE001 - the summary stays in the queue; the user is told
            log.exception("a batch summary was not stored in History")
            emit(self.message, f"The summary of {item.path.name} could not be kept in History: {e}")
            return None

    # -- results

    def export(self, target: Path, fmt: str = "txt") -> int:
        """Write the summaries to a folder (``fmt`` "txt" or "md"), or to one .csv or .jsonl file
        with a row per finished file (failed ones with their error). Returns the files summarized."""
        finished = [item for item in self.items if item.status in (DONE, FAILED)]
        modes = _modes_in(Path(target)) if fmt in ("txt", "md") else {}
        output = open_output(target, fmt)
        try:
            for item in finished:
                written = output.write(item.result())
                if written is not None and fmt in ("txt", "md"):
                    # The writer's temporary file is private (0600); a summary file gets the
                    # user's default permissions, or keeps those of the file it replaced.
                    os.chmod(written, modes.get(Path(written).name, _default_mode()))
        except BaseException:
            output.discard()  # a failure (a full disk) leaves no half table where the last one was
            raise
        output.close()
        return sum(1 for item in finished if item.status == DONE)


def _read(read: int, paths: list[Path]) -> tuple[int, list[tuple[str | None, str]]]:
    """(read number, per file: the document's text or None, why it cannot be read): off the GUI
    thread."""
    texts = []
    for path in paths:
        try:
            texts.append((read_document(path), ""))
        except DocumentError as e:
            texts.append((None, str(e)))
    return read, texts


def _modes_in(folder: Path) -> dict[str, int]:
    try:
        return {p.name: stat.S_IMODE(p.stat().st_mode) for p in folder.iterdir() if p.is_file()}
    except OSError:
        return {}


def _default_mode() -> int:
    """0o666 less the umask: what a file the user creates gets."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return 0o666 & ~int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask
