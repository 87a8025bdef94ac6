"""The engine on a worker thread: one long-lived ``Summarizer``, typed signals, a cancel flag.

Every request goes through ``engine.summarize_document`` (a long text whole, in parts, or only its
beginning); a batch item also reads its file here, off the GUI thread. The Batch view sends a
group of texts at once (``summarize_many``): they go through ``engine.summarize_documents``, their
pieces summarized several per generate() call, and each text keeps its own request number, so
its progress, result, failure and cancelling are reported exactly as for a text sent alone.

``EngineClient`` lives on the GUI thread. It owns a ``QThread`` and a ``SummarizerWorker`` moved to
it, and talks to the worker only through queued signals. Cancelling writes a request number that
the worker's ``should_stop`` reads between decoder steps, so it takes effect within one step even
though the worker's event loop is busy. The model is loaded once and kept until the model,
precision or thread count changes.
"""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from PySide6.QtCore import QObject, Qt, QThread, Signal, Slot

from engine import EngineError, GenerationCancelled, GenerationOptions, Summarizer
from engine.documents import DocumentError, read_document
from engine.long_document import summarize_document, summarize_documents
from pegasus_desktop.signals import emit

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelInfo:
    """What the GUI needs to know about the loaded model."""

    model_id: str
    precision: str
    folder: Path
    max_input_tokens: int
    generation_defaults: dict = field(default_factory=dict)
    seconds: float = 0.0


class EngineSignals(QObject):
    """What the engine reports, declared once: the worker emits these on its thread, and the
    ``EngineClient`` re-emits each on the GUI thread (``ENGINE_SIGNALS`` wires them by name)."""

    loaded = Signal(object)  # ModelInfo
    load_failed = Signal(str, str)  # message, details
    partial = Signal(int, str)  # request, best summary so far
    chunk = Signal(int, object)  # request, engine.ChunkSummary (a part started, or is done)
    finished = Signal(int, object)  # request, engine.DocumentSummary
    failed = Signal(int, str, str)  # request, message, details
    cancelled = Signal(int)  # request


ENGINE_SIGNALS = ("loaded", "load_failed", "partial", "chunk", "finished", "failed", "cancelled")


class SummarizerWorker(EngineSignals):

    def __init__(self) -> None:
        super().__init__()
        self.summarizer: Summarizer | None = None
        self.cancel_up_to = 0  # written by the GUI thread; requests <= this are cancelled

    @Slot(str, str, str, int)
    def load(self, model_id: str, precision: str, root: str, n_threads: int) -> None:
        self.unload()  # free the old sessions and files before building new ones
        start = time.perf_counter()
        try:
            summarizer = Summarizer.load(
                model_id, precision=precision, root=root, n_threads=n_threads or None
            )
        except EngineError as e:
            log.warning("loading %s (%s) failed: %s", model_id, precision, e)
            emit(self.load_failed, str(e), "".join(traceback.format_exception(e)))
            return
        except Exception as e:
            log.exception("loading %s failed", model_id)
            emit(self.load_failed, f"The model could not be loaded: {e}", traceback.format_exc())
            return
        self.summarizer = summarizer
        info = ModelInfo(
            model_id,
            precision,
            summarizer.model.folder,
            summarizer.max_input_tokens,
            dict(summarizer.model.generation_defaults),
            time.perf_counter() - start,
        )
        log.info("loaded %s (%s) from %s in %.2f s", model_id, precision, info.folder, info.seconds)
        emit(self.loaded, info)

    @Slot()
    def unload(self) -> None:
        """Close the model now (sessions and weights.bin), not at garbage collection."""
        if self.summarizer is not None:
            self.summarizer.close()
            self.summarizer = None

    @Slot(int, str, object, str)
    def summarize(self, request: int, text: str, options: GenerationOptions, mode: str) -> None:
        self._summarize(request, lambda: text, options, mode)

    @Slot(int, list, object, str, int)
    def summarize_many(
        self, first: int, texts: list, options: GenerationOptions, mode: str, batch_size: int
    ) -> None:
        """Summarize ``texts`` (request numbers first, first + 1, ...) in generate() calls of
        ``batch_size``; each text's signals are those of a request of its own."""
        if len(texts) == 1:
            self._summarize(first, lambda: texts[0], options, mode)
            return
        requests = range(first, first + len(texts))
        if requests[-1] <= self.cancel_up_to:
            for request in requests:
                emit(self.cancelled, request)
            return
        if self.summarizer is None:
            for request in requests:
                emit(self.failed, request, "No model is loaded yet.", "")
            return
        pending = set(requests)
        try:
            for index, outcome in summarize_documents(
                self.summarizer,
                texts,
                options,
                mode=mode,
                batch_size=batch_size,
                on_chunk=lambda index, chunk: emit(self.chunk, first + index, chunk),
                should_stop=lambda: first <= self.cancel_up_to,
            ):
                pending.discard(first + index)
                if isinstance(outcome, Exception):
                    self._report_failure(first + index, outcome)
                else:
                    emit(self.finished, first + index, outcome)
        except GenerationCancelled:
            for request in sorted(pending):
                emit(self.cancelled, request)
        except Exception as e:  # bad options: every text not done fails with the same reason
            for request in sorted(pending):
                self._report_failure(request, e)

    def _report_failure(self, request: int, error: Exception) -> None:
        if isinstance(error, (ValueError, DocumentError)):  # empty text, bad options, unreadable
            emit(self.failed, request, str(error), "")
        else:
            log.error("summarizing failed", exc_info=error)
            details = "".join(traceback.format_exception(error))
            emit(self.failed, request, f"Summarizing failed: {error}", details)

    @Slot(int, str, object, str)
    def summarize_file(
        self, request: int, path: str, options: GenerationOptions, mode: str
    ) -> None:
        """Read a document (the app's reader), then summarize it: one item of a batch."""
        self._summarize(request, lambda: read_document(path), options, mode)

    def _summarize(
        self, request: int, read: Callable[[], str], options: GenerationOptions, mode: str
    ) -> None:
        if request <= self.cancel_up_to:
            emit(self.cancelled, request)
            return
        if self.summarizer is None:
            emit(self.failed, request, "No model is loaded yet.", "")
            return
        try:
            summary = summarize_document(
                self.summarizer,
                read(),
                options,
                mode=mode,
                on_chunk=lambda chunk: emit(self.chunk, request, chunk),
                on_text=lambda best: emit(self.partial, request, best),
                should_stop=lambda: request <= self.cancel_up_to,
            )
        except GenerationCancelled:
            emit(self.cancelled, request)
            return
        except (ValueError, DocumentError) as e:  # empty text, bad options, an unreadable file
            emit(self.failed, request, str(e), "")
            return
        except Exception as e:
            log.exception("summarizing failed")
            emit(self.failed, request, f"Summarizing failed: {e}", traceback.format_exc())
            return
        log.info(
            "summary: %d input tokens in %d part(s), %d new tokens in %.2f s",
            summary.input_tokens,
            summary.parts,
            summary.new_tokens,
            summary.seconds,
        )
        emit(self.finished, request, summary)


class EngineClient(EngineSignals):
    """The GUI thread's handle on the worker. Its signals are the worker's, re-emitted on the GUI
    thread (signal-to-signal connections are queued to this object's thread)."""

    _load = Signal(str, str, str, int)
    _unload_blocking = Signal()
    _summarize = Signal(int, str, object, str)
    _summarize_file = Signal(int, str, object, str)
    _summarize_many = Signal(int, list, object, str, int)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.thread = QThread()
        self.thread.setObjectName("summarizer")
        self.worker = SummarizerWorker()
        self.worker.moveToThread(self.thread)
        self._load.connect(self.worker.load)
        self._unload_blocking.connect(
            self.worker.unload, Qt.ConnectionType.BlockingQueuedConnection
        )
        self._summarize.connect(self.worker.summarize)
        self._summarize_file.connect(self.worker.summarize_file)
        self._summarize_many.connect(self.worker.summarize_many)
        for name in ENGINE_SIGNALS:
            getattr(self.worker, name).connect(getattr(self, name))
        self.thread.finished.connect(self.worker.deleteLater)
        self.thread.start()
        self._request = 0

    def load(self, model_id: str, precision: str, root: Path, n_threads: int | None) -> None:
        emit(self._load, model_id, precision, str(root), n_threads or 0)

    def unload_now(self) -> None:
        """Cancel, then wait until the worker has dropped the model (its files can then be deleted)."""
        self.cancel()
        emit(self._unload_blocking)

    def summarize(self, text: str, options: GenerationOptions, mode: str = "whole") -> int:
        """Summarize ``text`` (``mode``: "whole" or "beginning"); returns the request number."""
        self._request += 1
        emit(self._summarize, self._request, text, options, mode)
        return self._request

    def summarize_file(self, path: Path, options: GenerationOptions, mode: str = "whole") -> int:
        """Read a document on the worker thread, then summarize it; returns the request number."""
        self._request += 1
        emit(self._summarize_file, self._request, str(path), options, mode)
        return self._request

    def summarize_many(
        self, texts: list[str], options: GenerationOptions, mode: str, batch_size: int
    ) -> list[int]:
        """Summarize ``texts`` together, several per generate() call; returns each text's request
        number (consecutive). Each is reported as a request of its own."""
        first = self._request + 1
        self._request += len(texts)
        emit(self._summarize_many, first, list(texts), options, mode, batch_size)
        return list(range(first, first + len(texts)))

    def cancel(self) -> None:
        """Cancel every request made so far; takes effect within one decoder step."""
        self.worker.cancel_up_to = self._request

    def shutdown(self, wait_ms: int = 10_000) -> None:
        self.cancel()
        self.thread.quit()
        if not self.thread.wait(wait_ms):
            log.warning("the summarizer thread did not stop in time")
            return  # it may still be generating: its model stays open until the process ends
        self.worker.unload()  # the thread has stopped: nothing else touches the model now
