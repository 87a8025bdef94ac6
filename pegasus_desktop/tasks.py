"""Run a short blocking function (reading a PDF, checking a token) off the GUI thread.

The result comes back on the GUI thread through a queued signal. Receivers should be bound
methods of QObjects, so that a closed window simply never gets the call.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

from pegasus_desktop.signals import emit

log = logging.getLogger(__name__)
_pending: set[_Signals] = set()


class _Signals(QObject):
    done = Signal(object)
    error = Signal(object, str)  # the exception, its traceback


class _Task(QRunnable):
    def __init__(self, fn: Callable[[], object], signals: _Signals) -> None:
        super().__init__()
        self.fn = fn
        self.signals = signals

    def run(self) -> None:
        try:
            result = self.fn()
        except Exception as e:  # noqa: BLE001 - handed to the caller's error slot
            emit(self.signals.error, e, traceback.format_exc())
        else:
            emit(self.signals.done, result)


def run_in_background(
    fn: Callable[[], object],
    on_done: Callable[[object], None],
    on_error: Callable[[Exception, str], None],
) -> None:
    signals = _Signals()
    _pending.add(signals)
    signals.done.connect(on_done)
    signals.error.connect(on_error)
    signals.done.connect(lambda *_: _pending.discard(signals))
    signals.error.connect(lambda *_: _pending.discard(signals))
    QThreadPool.globalInstance().start(_Task(fn, signals))
