"""The engine's one exception family. Caller mistakes raise built-in errors (ValueError)."""

from __future__ import annotations


class EngineError(Exception):
    """Something went wrong that the user can act on: the message says what and what to do."""


class GenerationCancelled(EngineError):
    """``should_stop`` returned True between two decoder steps."""


class OfflineError(EngineError):
    """A model had to be downloaded, but there is no network (or ``HF_HUB_OFFLINE`` is set)."""


class ModelNotFoundError(EngineError):
    """The checkpoint named does not exist: no such folder, or no such repository on the hub."""


class DiskFullError(EngineError):
    """Not enough disk space for an export: found by the check before it starts, or the disk filled
    up while it was written. The message says how much room it needs and how much is free."""


class ExportBusyError(EngineError):
    """Another process is writing the same model's export, and waiting for it timed out."""


class UnsafeCheckpointError(EngineError):
    """Loading the checkpoint would run code: it asks for its own Python code (``auto_map``), or
    a weights file holds something other than tensors. Refused, always; nothing of it runs."""


class DocumentError(EngineError):
    """A file cannot be turned into text (``engine.documents``); the message says why, for the user."""
