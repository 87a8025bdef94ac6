"""Progress reports of the export pipeline, for a progress bar in the CLI or the app."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

# "wait": another process is exporting the same model; this one waits for its lock (no bar).
STAGES = ("wait", "download", "load", "export", "quantize", "verify")


@dataclass(frozen=True)
class Progress:
    """``stage`` is one of STAGES; ``done`` of ``total`` units (bytes for download, else steps).

    ``total`` is 0 when it is not known yet. ``detail`` names the part being worked on.
    """

    stage: str
    done: float
    total: float
    detail: str = ""

    @property
    def fraction(self) -> float | None:
        return min(1.0, self.done / self.total) if self.total else None


ProgressCallback = Callable[[Progress], None]


def report(on_progress: ProgressCallback | None, stage: str, done: float, total: float, detail: str = "") -> None:
    if on_progress is not None:
        on_progress(Progress(stage, done, total, detail))
