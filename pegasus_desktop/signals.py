"""``emit(signal, *args)``: emit a Qt signal from Python without wearing out ``True``.

PySide6 6.12.0 (on CPython 3.11) returns ``True`` from ``SignalInstance.emit()`` without owning a
reference to it, so every emit from Python drops one reference to ``True``. A process starts with
a couple of thousand; once they are gone CPython aborts ("bool_dealloc: deallocating True or
False"). The worker emits once per decoder step, so an app session would crash after a few dozen
summaries. ``emit`` gives the reference back, but only when a first probe shows that this PySide6
takes it (a fixed PySide6 is left alone).
"""

from __future__ import annotations

import ctypes
import sys
import threading

from PySide6.QtCore import QObject, Signal

_lock = threading.Lock()
_leaks: bool | None = None  # does emit() drop a reference to True? Probed on first use.
_incref = ctypes.PYFUNCTYPE(None, ctypes.py_object)(("Py_IncRef", ctypes.pythonapi))


class _Probe(QObject):
    ping = Signal()


def emit_drops_true() -> bool:
    """Whether this PySide6's emit() drops a reference to True (measured once, then cached)."""
    global _leaks
    with _lock:
        if _leaks is None:
            probe = _Probe()
            rounds = 200
            before = sys.getrefcount(True)
            for _ in range(rounds):
                probe.ping.emit()
            dropped = before - sys.getrefcount(True)
            _leaks = dropped >= rounds // 2  # other threads may move the count a little
            if _leaks:
                for _ in range(dropped):
                    _incref(True)
        return _leaks


def emit(signal, *args) -> None:
    """``signal.emit(*args)``, giving back the reference to True that PySide6 6.12 drops."""
    if signal.emit(*args) is True and emit_drops_true():
        _incref(True)
