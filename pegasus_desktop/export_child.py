"""The export, run in a spawned child process: checkpoint -> ONNX -> int8 -> a verified folder.

The GUI process starts ``run_export`` with ``multiprocessing`` (spawn) and reads the messages of
``export_messages`` from the pipe: an ``ExportInfo``, ``Progress`` reports, then exactly one of
``ExportDone`` or ``ExportFailed`` (whose ``FailureKind`` ``export_messages.classify`` chooses
from the exception). The export's packages (onnx, safetensors, huggingface_hub; never torch or
transformers) are imported only here, so their memory goes back to the system when the process
ends, and killing the process (Cancel) is immediate. This module
knows nothing about Qt.
"""

from __future__ import annotations

import logging
import time
import traceback
from pathlib import Path

from pegasus_desktop.export_messages import (
    ExportDone,
    ExportFailed,
    ExportInfo,
    FailureKind,
    Progress,
    failure_from,
)


def _guard_stdio() -> None:
    """A windowed build's child has no stderr: give tqdm and logging somewhere to write."""
    from pegasus_desktop.logs import guard_stdio

    guard_stdio()


def _log_to_file() -> None:
    from logging.handlers import RotatingFileHandler

    from pegasus_desktop.resources import log_dir

    try:
        log_dir().mkdir(parents=True, exist_ok=True)
        handler = RotatingFileHandler(
            log_dir() / "export.log", maxBytes=1_000_000, backupCount=2, encoding="utf-8"
        )
    except OSError:
        return
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s")
    )
    logging.basicConfig(level=logging.INFO, handlers=[handler], force=True)


class _Sender:
    """Forwards engine progress to the pipe, at most ten times a second per stage."""

    def __init__(self, conn) -> None:
        self.conn = conn
        self.last: tuple[str, float] = ("", 0.0)

    def __call__(self, progress) -> None:
        now = time.monotonic()
        stage, last_time = self.last
        finished = progress.total and progress.done >= progress.total
        if stage == progress.stage and not finished and now - last_time < 0.1:
            return
        self.last = (progress.stage, now)
        self.conn.send(
            Progress(progress.stage, float(progress.done), float(progress.total), progress.detail)
        )


def run_export(model_id: str, root: str, precision: str, conn) -> None:
    """The child's target. Never raises: every outcome is a message on ``conn``."""
    _guard_stdio()
    _log_to_file()
    log = logging.getLogger("pegasus_desktop.export")
    log.info("exporting %s (%s) into %s", model_id, precision, root)
    try:
        from engine.errors import DiskFullError
        from pegasus_desktop.disk import check_free_space, checkpoint_bytes, needs_download

        try:
            room = check_free_space(checkpoint_bytes(model_id), Path(root), precision=precision,
                                    download=needs_download(model_id))
        except DiskFullError as e:  # refused before anything was written: no traceback to show
            conn.send(failure_from(e, with_details=False))
            return
        conn.send(ExportInfo(room))
        from engine.export.pipeline import export

        paths = export(model_id, root, precision=precision, on_progress=_Sender(conn))
        conn.send(ExportDone(str(paths.folder)))
        log.info("exported to %s", paths.folder)
    except BaseException as e:
        try:
            failure = failure_from(e)
        except Exception:  # noqa: BLE001 - whatever happens, the parent hears of it
            failure = ExportFailed(
                FailureKind.CRASH, f"{type(e).__name__}: {e}", "".join(traceback.format_exception(e))
            )
        if failure.kind is FailureKind.CRASH:
            log.exception("export crashed")
        else:
            log.warning("export failed (%s): %s", failure.kind.value, e)
        try:
            conn.send(failure)
        except (OSError, ValueError):
            pass
    finally:
        conn.close()
