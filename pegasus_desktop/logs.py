"""Logging for the app: a rotating file in the user log dir, and stdio that is never None.

A windowed build (pythonw, PyInstaller --windowed) starts with ``sys.stdout`` and ``sys.stderr``
set to None (file descriptors 1 and 2 are closed); tqdm, logging and print would then crash, and a
spawned child would inherit whatever took those numbers. ``guard_stdio`` gives them a sink first.
"""

from __future__ import annotations

import logging
import os
import sys
from logging.handlers import RotatingFileHandler
from pathlib import Path

from pegasus_desktop.resources import log_dir

LOG_FILE = "pegasus-desktop.log"
_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# ``log.error(message, extra=FILE_ONLY)``: for a message the caller already printed plainly.
FILE_ONLY = {"file_only": True}


def _fd_is_open(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True


def _fileno(stream) -> int | None:
    try:
        return stream.fileno()
    except (AttributeError, OSError, ValueError):  # io.UnsupportedOperation is both
        return None  # no descriptor, like pytest's capture


def _fill_with_null(fd: int) -> None:
    """Open the null device as ``fd`` (inheritable when it is stdio, as stdio is)."""
    null = os.open(os.devnull, os.O_RDWR)  # the lowest free number: fd itself, or one below
    if null != fd:
        os.dup2(null, fd, inheritable=fd <= 2)
        os.close(null)
    elif fd <= 2:
        os.set_inheritable(fd, True)


def guard_stdio() -> None:
    """Give missing stdio a sink (the null device), in this process and in the ones it spawns.

    Closed file descriptors 0-2 get the null device: otherwise the next file or pipe opened
    takes that number, and a spawned child (the export) takes that pipe for its stderr, which
    multiprocessing then closes under it. A stream whose descriptor is gone gets the null device
    under the same number (a new stream would take that number, and the old one, when collected,
    would close it under the new one).
    """
    for fd in (0, 1, 2):
        if not _fd_is_open(fd):
            _fill_with_null(fd)
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if stream is None or stream.closed:
            setattr(sys, name, open(os.devnull, "w", encoding="utf-8"))  # noqa: SIM115
        elif (fd := _fileno(stream)) is not None and not _fd_is_open(fd):
            _fill_with_null(fd)


def setup_logging(level: int = logging.INFO) -> Path | None:
    """Log to ``<user log dir>/pegasus-desktop.log`` (1 MB × 4 files) and to stderr; return the file."""
    root = logging.getLogger()
    root.setLevel(level)
    path: Path | None = log_dir() / LOG_FILE
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = RotatingFileHandler(path, maxBytes=1_000_000, backupCount=3, encoding="utf-8")
        handler.setFormatter(logging.Formatter(_FORMAT))
        root.addHandler(handler)
    except OSError as e:  # a read-only home still gets a working app
        path = None
        print(f"pegasus-desktop: cannot write the log file: {e}", file=sys.stderr)
    console = logging.StreamHandler(sys.stderr)
    console.setLevel(logging.WARNING)
    console.addFilter(lambda record: not getattr(record, "file_only", False))
    console.setFormatter(logging.Formatter(_FORMAT))
    root.addHandler(console)
    _route_qt_messages()
    return path


def _route_qt_messages() -> None:
    from PySide6.QtCore import QtMsgType, qInstallMessageHandler

    qt_log = logging.getLogger("qt")
    levels = {
        QtMsgType.QtDebugMsg: logging.DEBUG,
        QtMsgType.QtInfoMsg: logging.INFO,
        QtMsgType.QtWarningMsg: logging.WARNING,
        QtMsgType.QtCriticalMsg: logging.ERROR,
        QtMsgType.QtFatalMsg: logging.CRITICAL,
    }

    def handler(mode, context, message) -> None:
        qt_log.log(levels.get(mode, logging.WARNING), message)

    qInstallMessageHandler(handler)
