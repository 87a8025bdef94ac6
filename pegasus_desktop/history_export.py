"""Write History entries to one file: plain text, Markdown, CSV or JSON Lines.

The file is written through ``engine.files.write_atomically``: beside its target and renamed over
it when complete, so a failure (a full disk) leaves any older file as it was; a new file gets the
user's default permissions, a file replaced keeps its own. This module knows nothing about Qt.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from pathlib import Path

from engine.files import human_duration, write_atomically
from pegasus_desktop.history import Entry

FORMATS = ("txt", "md", "csv", "jsonl")
CSV_COLUMNS = (
    "id", "created", "kind", "source", "model_id", "precision", "mode", "seconds",
    "input_tokens", "summary_tokens", "parts", "truncated", "summary",
)


def _heading(entry: Entry) -> str:
    return f"{entry.when()} · {entry.model_name()} ({entry.precision}) · {human_duration(entry.seconds)}"


def render(entries: Sequence[Entry], fmt: str) -> str:
    if fmt == "txt":
        return "\n\n".join(
            f"{e.source}\n{_heading(e)}\n\n{e.summary.strip()}" for e in entries
        ) + "\n"
    if fmt == "md":
        return "\n\n".join(
            f"## {e.source}\n\n*{_heading(e)}*\n\n{e.summary.strip()}" for e in entries
        ) + "\n"
    if fmt == "csv":
        out = io.StringIO(newline="")
        writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        for e in entries:
            writer.writerow({c: getattr(e, c) for c in CSV_COLUMNS})
        return out.getvalue()
    if fmt == "jsonl":
        return "".join(
            json.dumps(
                {c: getattr(e, c) for c in (*CSV_COLUMNS, "options", "article")},
                ensure_ascii=False,
            )
            + "\n"
            for e in entries
        )
    raise ValueError(f"the format must be one of {', '.join(FORMATS)}; got {fmt!r}")


def export_entries(entries: Sequence[Entry], target: Path, fmt: str) -> None:
    """Write ``entries`` (in order) to ``target`` in ``fmt``."""
    write_atomically(Path(target), render(entries, fmt))
