"""Logging for the app: a rotating file in the user log dir, and stdio that is never None.

A windowed build (pythonw, PyInstaller --windowed) starts with ``sys.stdout`` and ``sys.stderr``
set to None; tqdm, logging and print would then crash. ``guard_stdio`` gives them a sink first.
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


def guard_stdio() -> None:
    for name in ("stdout", "stderr"):
        if getattr(sys, name) is None:
            setattr(sys, name, open(os.devnull, "w", encoding="utf-8"))  # noqa: SIM115


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
