"""``ExportJob``: runs ``export_child.run_export`` in a spawned process and turns its messages
(``export_messages``) into Qt signals. Cancel terminates the process at once, then removes what it left behind.

The GUI polls the pipe with a timer, so nothing here blocks the event loop.
"""

from __future__ import annotations

import logging
import multiprocessing
import shutil
from pathlib import Path

from PySide6.QtCore import QObject, QTimer, Signal, Slot

from engine.model_dir import export_dir, model_folder_if_free, remove_stale_staging
from pegasus_desktop import export_child
from pegasus_desktop.export_messages import (
    ExportDone,
    ExportFailed,
    ExportInfo,
    ExportMessage,
    FailureKind,
    Progress,
)
from pegasus_desktop.signals import emit

log = logging.getLogger(__name__)


def remove_leftovers(model_id: str, precision: str, root: Path) -> None:
    """Delete the hidden folders a killed export leaves in the model's folder, and the folder if
    nothing else is in it. A published export is never touched, and nothing is touched while
    another process (a second window, the CLI) holds the folder's export lock."""
    try:
        model_folder = export_dir(model_id, precision, root).parent
    except ValueError:
        return
    if not model_folder.is_dir():
        return
    with model_folder_if_free(model_folder) as free:
        if not free:
            log.info("%s is being exported by another process; leaving it alone", model_folder)
            return
        remove_stale_staging(model_folder)  # puts back an old export a kill left mid-publish
        for leftover in model_folder.glob(".trace-*"):  # from versions that traced beside it
            shutil.rmtree(leftover, ignore_errors=True)
        try:
            model_folder.rmdir()  # only succeeds when empty
        except OSError:
            pass


class ExportJob(QObject):
    """One export at a time. Signals arrive on the GUI thread."""

    info = Signal(str)
    progress = Signal(str, float, float, str)  # stage, done, total, detail
    succeeded = Signal(str)  # the published folder
    failed = Signal(object)  # an ExportFailed
    cancelled = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._process = None
        self._conn = None
        self._job: tuple[str, str, Path] | None = None
        self._timer = QTimer(self)
        self._timer.setInterval(100)
        self._timer.timeout.connect(self._poll)

    def is_running(self) -> bool:
        return self._process is not None

    def start(self, model_id: str, precision: str, root: Path) -> None:
        """Export in a new process."""
        if self.is_running():
            raise RuntimeError("an export is already running")
        remove_leftovers(model_id, precision, Path(root))  # from an app that was killed mid-export
        context = multiprocessing.get_context("spawn")
        receiver, sender = context.Pipe(duplex=False)
        self._process = context.Process(
            target=export_child.run_export,
            args=(model_id, str(root), precision, sender),
            name="pegasus-export",
            daemon=True,
        )
        self._job = (model_id, precision, Path(root))
        self._process.start()
        sender.close()  # the child holds the only writing end, so EOF means it is gone
        self._conn = receiver
        log.info("export of %s (%s) started in process %s", model_id, precision, self._process.pid)
        self._timer.start()

    @Slot()
    def cancel(self) -> None:
        """Stop the export now. Safe to call when nothing runs."""
        if not self.is_running():
            return
        log.info("cancelling the export in process %s", self._process.pid)
        self._process.terminate()
        self._process.join(5)
        if self._process.is_alive():
            self._process.kill()
            self._process.join(5)
        self._finish()
        emit(self.cancelled)

    def _finish(self) -> None:
        self._timer.stop()
        if self._conn is not None:
            self._conn.close()
        if self._process is not None:
            self._process.join(0.5)
        if self._job is not None:
            remove_leftovers(*self._job)
        self._process = self._conn = self._job = None

    @Slot()
    def _poll(self) -> None:
        if self._conn is None:
            return
        try:
            while self._conn is not None and self._conn.poll():
                message = self._conn.recv()
                if self._handle(message) or self._conn is None:  # over, or cancelled by a receiver
                    return
        except (EOFError, OSError):
            pass
        else:
            if self._process is not None and self._process.is_alive():
                return
        code = self._process.exitcode if self._process is not None else None
        self._finish()
        emit(
            self.failed,
            ExportFailed(
                FailureKind.CRASH,
                f"The export process stopped unexpectedly (exit code {code}). It may have run out "
                f"of memory. Nothing was kept; try again, or choose a smaller model.",
            ),
        )

    def _handle(self, message: ExportMessage) -> bool:
        """Emit one message; True once the job is over."""
        match message:
            case Progress(stage=stage, done=done, total=total, detail=detail):
                emit(self.progress, stage, done, total, detail)
            case ExportInfo(text=text):
                emit(self.info, text)
            case ExportDone(folder=folder):
                self._finish()
                emit(self.succeeded, folder)
                return True
            case ExportFailed():
                self._finish()
                emit(self.failed, message)
                return True
            case _:
                log.warning("unknown message from the export process: %r", message)
        return False
