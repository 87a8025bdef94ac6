"""The messages the export child (``export_child``) sends its parent through a pipe.

The child sends, in order: ``ExportInfo`` (what the free-space check found), any number of
``Progress`` (the engine's own progress record, from ``engine.progress``), then exactly one of
``ExportDone`` or ``ExportFailed``. The two parents, ``ExportJob`` (the first-run page) and the
self-test, match on these types. Every message is a frozen dataclass of plain values, so it
pickles across the spawn pipe.

A failure carries a ``FailureKind``, chosen once, in the child, by ``classify`` from the
exception's type (and its cause chain, for network failures). This module imports nothing heavy
(huggingface_hub and the HTTP clients only inside ``classify``) and knows nothing about Qt.
"""

from __future__ import annotations

import enum
import importlib
import traceback
from dataclasses import dataclass

from engine.errors import (
    DiskFullError,
    EngineError,
    GenerationCancelled,
    ModelNotFoundError,
    OfflineError,
    UnsafeCheckpointError,
)
from engine.progress import Progress

__all__ = [
    "ExportDone",
    "ExportFailed",
    "ExportInfo",
    "ExportMessage",
    "FailureKind",
    "Progress",
    "classify",
    "failure_from",
]

MISSING_EXTRA_MESSAGE = (
    "Preparing a model needs the export components (onnx, safetensors and huggingface_hub), "
    "which are not installed. Install them with: pip install 'pegasus-desktop[convert]'"
)


class FailureKind(enum.Enum):
    OFFLINE = "offline"  # no network, and the model is not in the Hugging Face cache
    NO_SUCH_MODEL = "no-such-model"  # no such folder, or no such repository on the hub
    DISK = "disk"  # too little room before the export, or the disk filled up during it
    REFUSED = "refused"  # the checkpoint would run code (auto_map, a pickle of more than tensors)
    CANCELLED = "cancelled"  # the engine was told to stop (GenerationCancelled)
    MISSING_EXTRA = "missing-extra"  # onnx, safetensors or huggingface_hub (the convert extra) is missing
    ENGINE = "engine"  # any other EngineError: the message says what to do
    CRASH = "crash"  # a bug, or the child died: the details carry the traceback

    @property
    def group(self) -> str:
        """The coarse kind the self-test prints (as it always has): every sort of engine error
        is "engine"."""
        if self in (FailureKind.NO_SUCH_MODEL, FailureKind.REFUSED, FailureKind.CANCELLED):
            return FailureKind.ENGINE.value
        return self.value


@dataclass(frozen=True)
class ExportInfo:
    """A line for the user before the export starts (how much room it needs, how much is free)."""

    text: str


@dataclass(frozen=True)
class ExportDone:
    """The export is published in ``folder``."""

    folder: str


@dataclass(frozen=True)
class ExportFailed:
    """Nothing was kept. ``message`` is for the user; ``details`` (a traceback) for a bug report."""

    kind: FailureKind
    message: str
    details: str = ""


ExportMessage = ExportInfo | Progress | ExportDone | ExportFailed


def _offline_types() -> tuple[type[BaseException], ...]:
    """Exceptions that mean "no network": the engine's own, the builtin one (huggingface_hub's
    ``OfflineModeIsEnabled`` is one), and those of the HTTP clients that are installed."""
    types: list[type[BaseException]] = [OfflineError, ConnectionError]
    for module, names in (
        ("huggingface_hub.errors", ("LocalEntryNotFoundError", "OfflineModeIsEnabled")),
        ("httpx2", ("ConnectError", "ConnectTimeout")),
        ("httpx", ("ConnectError", "ConnectTimeout")),
        ("requests.exceptions", ("ConnectionError",)),
        ("urllib3.exceptions", ("NameResolutionError", "MaxRetryError")),
    ):
        try:
            found = importlib.import_module(module)
        except ImportError:
            continue
        types += [getattr(found, name) for name in names if hasattr(found, name)]
    return tuple(types)


def _caused_by(error: BaseException, types: tuple[type[BaseException], ...]) -> bool:
    """Whether ``error``, or any exception in its cause (or context) chain, is one of ``types``."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, types):
            return True
        current = current.__cause__ or current.__context__
    return False


def classify(error: BaseException) -> FailureKind:
    """The kind of failure an exception raised in the export child is, from its type."""
    if isinstance(error, DiskFullError):
        return FailureKind.DISK
    if isinstance(error, ImportError):  # onnx, safetensors and co. are imported by the export
        return FailureKind.MISSING_EXTRA
    if not isinstance(error, EngineError):
        return FailureKind.CRASH
    if _caused_by(error, _offline_types()):
        return FailureKind.OFFLINE
    if isinstance(error, UnsafeCheckpointError):
        return FailureKind.REFUSED
    if isinstance(error, ModelNotFoundError):
        return FailureKind.NO_SUCH_MODEL
    if isinstance(error, GenerationCancelled):
        return FailureKind.CANCELLED
    return FailureKind.ENGINE


def failure_from(error: BaseException, *, with_details: bool = True) -> ExportFailed:
    """The message that reports ``error``: the engine's own words, a fixed advice for a missing
    extra, and the exception's type and text for anything else (a bug). ``details`` is the
    traceback, unless ``with_details`` is False (a refusal before anything ran)."""
    kind = classify(error)
    if kind is FailureKind.MISSING_EXTRA:
        return ExportFailed(kind, MISSING_EXTRA_MESSAGE, str(error))
    details = "".join(traceback.format_exception(error)) if with_details else ""
    if isinstance(error, EngineError):
        return ExportFailed(kind, str(error), details)
    return ExportFailed(kind, f"{type(error).__name__}: {error}", details)
