"""The engine on a worker thread: one long-lived ``Summarizer``, typed signals, a cancel flag.

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
from dataclasses import dataclass, field
from pathlib import Path

from PySide6.QtCore import QObject, Qt, QThread, Signal, Slot

from engine import EngineError, GenerationCancelled, GenerationOptions, Summarizer

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


class SummarizerWorker(QObject):
    loaded = Signal(object)  # ModelInfo
    load_failed = Signal(str, str)  # message, details
    unloaded = Signal()
    partial = Signal(int, str)  # request, best summary so far
    finished = Signal(int, object)  # request, engine.Summary
    failed = Signal(int, str, str)  # request, message, details
    cancelled = Signal(int)  # request

    def __init__(self) -> None:
        super().__init__()
        self.summarizer: Summarizer | None = None
        self.cancel_up_to = 0  # written by the GUI thread; requests <= this are cancelled

    @Slot(str, str, str, int)
    def load(self, model_id: str, precision: str, root: str, n_threads: int) -> None:
        self.summarizer = None  # free the old sessions before building new ones
        start = time.perf_counter()
        try:
            summarizer = Summarizer.load(
                model_id, precision=precision, root=root, n_threads=n_threads or None
            )
        except EngineError as e:
            log.warning("loading %s (%s) failed: %s", model_id, precision, e)
            self.load_failed.emit(str(e), "".join(traceback.format_exception(e)))
            return
        except Exception as e:
            log.exception("loading %s failed", model_id)
            self.load_failed.emit(f"The model could not be loaded: {e}", traceback.format_exc())
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
        self.loaded.emit(info)

    @Slot()
    def unload(self) -> None:
        self.summarizer = None
        self.unloaded.emit()

    @Slot(int, str, object)
    def summarize(self, request: int, text: str, options: GenerationOptions) -> None:
        if request <= self.cancel_up_to:
            self.cancelled.emit(request)
            return
        if self.summarizer is None:
            self.failed.emit(request, "No model is loaded yet.", "")
            return
        try:
            summary = self.summarizer.summarize(
                text,
                options,
                on_text=lambda best: self.partial.emit(request, best),
                should_stop=lambda: request <= self.cancel_up_to,
            )
        except GenerationCancelled:
            self.cancelled.emit(request)
            return
        except ValueError as e:  # empty text, or options the model cannot take
            self.failed.emit(request, str(e), "")
            return
        except Exception as e:
            log.exception("summarizing failed")
            self.failed.emit(request, f"Summarizing failed: {e}", traceback.format_exc())
            return
        log.info(
            "summary: %d input tokens, %d new tokens in %.2f s",
            summary.input_tokens,
            summary.new_tokens,
            summary.seconds,
        )
        self.finished.emit(request, summary)


class EngineClient(QObject):
    """The GUI thread's handle on the worker. Its signals are the worker's, re-emitted on the GUI
    thread (signal-to-signal connections are queued to this object's thread)."""

    loaded = Signal(object)
    load_failed = Signal(str, str)
    unloaded = Signal()
    partial = Signal(int, str)
    finished = Signal(int, object)
    failed = Signal(int, str, str)
    cancelled = Signal(int)

    _load = Signal(str, str, str, int)
    _unload = Signal()
    _unload_blocking = Signal()
    _summarize = Signal(int, str, object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.thread = QThread()
        self.thread.setObjectName("summarizer")
        self.worker = SummarizerWorker()
        self.worker.moveToThread(self.thread)
        self._load.connect(self.worker.load)
        self._unload.connect(self.worker.unload)
        self._unload_blocking.connect(
            self.worker.unload, Qt.ConnectionType.BlockingQueuedConnection
        )
        self._summarize.connect(self.worker.summarize)
        for name in (
            "loaded",
            "load_failed",
            "unloaded",
            "partial",
            "finished",
            "failed",
            "cancelled",
        ):
            getattr(self.worker, name).connect(getattr(self, name))
        self.thread.finished.connect(self.worker.deleteLater)
        self.thread.start()
        self._request = 0

    @property
    def current_request(self) -> int:
        return self._request

    def load(self, model_id: str, precision: str, root: Path, n_threads: int | None) -> None:
        self._load.emit(model_id, precision, str(root), n_threads or 0)

    def unload(self) -> None:
        self._unload.emit()

    def unload_now(self) -> None:
        """Cancel, then wait until the worker has dropped the model (its files can then be deleted)."""
        self.cancel()
        self._unload_blocking.emit()

    def summarize(self, text: str, options: GenerationOptions) -> int:
        self._request += 1
        self._summarize.emit(self._request, text, options)
        return self._request

    def cancel(self) -> None:
        """Cancel every request made so far; takes effect within one decoder step."""
        self.worker.cancel_up_to = self._request

    def shutdown(self, wait_ms: int = 10_000) -> None:
        self.cancel()
        self.thread.quit()
        if not self.thread.wait(wait_ms):
            log.warning("the summarizer thread did not stop in time")
