"""The engine's one exception family. Caller mistakes raise built-in errors (ValueError)."""

from __future__ import annotations


class EngineError(Exception):
    """Something went wrong that the user can act on: the message says what and what to do."""


class GenerationCancelled(EngineError):
    """``should_stop`` returned True between two decoder steps."""


class OfflineError(EngineError):
    """A model had to be downloaded, but there is no network (or ``HF_HUB_OFFLINE`` is set)."""


class DiskFullError(EngineError):
    """The disk filled up while an export was written; the message says how much room it needs."""


class ExportBusyError(EngineError):
    """Another process is writing the same model's export, and waiting for it timed out."""


class UnsafeCheckpointError(EngineError):
    """The checkpoint would need code execution to load: pickle-only weights, or its own Python code.

    Pickle-only weights can be allowed explicitly (``ExportOptions(allow_pickle=True)``, the CLI's
    ``--allow-pickle``, or the app's confirmation); remote code never is.
    """

    def __init__(self, message: str, *, pickle: bool = False) -> None:
        super().__init__(message)
        self.pickle = pickle  # True when confirming (allow_pickle) would let the export go on
