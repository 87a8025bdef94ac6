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
    """Loading the checkpoint would run code: it asks for its own Python code (``auto_map``), or
    a weights file holds something other than tensors. Refused, always; nothing of it runs."""


class DocumentError(EngineError):
    """A file cannot be turned into text (``engine.documents``); the message says why, for the user."""
