"""The export, run in a spawned child process: checkpoint -> ONNX -> int8 -> a verified folder.

The GUI process starts ``run_export`` with ``multiprocessing`` (spawn) and reads messages from the
pipe: ``("info", text)``, ``("progress", stage, done, total, detail)``, then exactly one of
``("done", folder)`` or ``("error", kind, message, details)``. torch and transformers are imported
only here, so their memory goes back to the system when the process ends, and killing the
process (Cancel) is immediate. This module knows nothing about Qt.

Error kinds: ``"offline"`` (no network and not cached), ``"disk"`` (too little room before, or a
full disk during, the export), ``"missing-extra"``, ``"engine"`` (any other ``EngineError``, a
refused checkpoint among them) and ``"crash"`` (a bug: details carry the traceback).
"""

from __future__ import annotations

import logging
import time
import traceback
from pathlib import Path

# Exception class names (anywhere in the cause chain) that mean "no network / not cached".
_OFFLINE_ERRORS = {
    "LocalEntryNotFoundError",
    "OfflineModeIsEnabled",
    "ConnectError",
    "ConnectTimeout",
    "ConnectionError",
    "NameResolutionError",
    "MaxRetryError",
}


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


def is_offline_error(error: BaseException) -> bool:
    from engine.errors import OfflineError

    if isinstance(error, OfflineError):
        return True
    seen = set()  # errors raised outside the engine's download step, by class name
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if any(cls.__name__ in _OFFLINE_ERRORS for cls in type(error).__mro__):
            return True
        error = error.__cause__ or error.__context__
    return False


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
            (
                "progress",
                progress.stage,
                float(progress.done),
                float(progress.total),
                progress.detail,
            )
        )


def run_export(model_id: str, root: str, precision: str, conn) -> None:
    """The child's target. Never raises: every outcome is a message on ``conn``."""
    _guard_stdio()
    _log_to_file()
    log = logging.getLogger("pegasus_desktop.export")
    log.info("exporting %s (%s) into %s", model_id, precision, root)
    try:
        from pegasus_desktop.disk import DiskSpaceError, check_free_space, checkpoint_bytes

        try:
            conn.send(("info", check_free_space(checkpoint_bytes(model_id), Path(root))))
        except DiskSpaceError as e:
            conn.send(("error", "disk", str(e), ""))
            return
        from engine.errors import DiskFullError, EngineError
        from engine.export.pipeline import export

        try:
            paths = export(model_id, root, precision=precision, on_progress=_Sender(conn))
        except EngineError as e:
            log.warning("export failed: %s", e)
            if isinstance(e, DiskFullError):
                kind = "disk"
            else:
                kind = "offline" if is_offline_error(e) else "engine"
            conn.send(("error", kind, str(e), "".join(traceback.format_exception(e))))
            return
        except ImportError as e:  # torch or transformers are imported only now, by the export
            log.warning("export components missing: %s", e)
            conn.send(
                (
                    "error",
                    "missing-extra",
                    (
                        "Preparing a model needs the export components (torch and transformers), which are "
                        "not installed. Install them with: pip install 'pegasus-desktop[export]'"
                    ),
                    str(e),
                )
            )
            return
        conn.send(("done", str(paths.folder)))
        log.info("exported to %s", paths.folder)
    except BaseException as e:
        log.exception("export crashed")
        try:
            conn.send(("error", "crash", f"{type(e).__name__}: {e}", traceback.format_exc()))
        except (OSError, ValueError):
            pass
    finally:
        conn.close()
