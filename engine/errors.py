"""The engine's one exception family. Caller mistakes raise built-in errors (ValueError)."""

from __future__ import annotations


class EngineError(Exception):
    """Something went wrong that the user can act on: the message says what and what to do."""


class GenerationCancelled(EngineError):
    """``should_stop`` returned True between two decoder steps."""


class OfflineError(EngineError):
    """A model had to be downloaded, but there is no network (or ``HF_HUB_OFFLINE`` is set)."""
