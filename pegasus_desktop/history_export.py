"""Write History entries to one file: plain text, Markdown, CSV or JSON Lines.

The file is written beside its target and renamed over it when complete, so a failure (a full
disk) leaves any older file as it was. A new file gets the user's default permissions (0o666 less
the umask, like Save…); a file replaced keeps its own. This module knows nothing about Qt.
"""

from __future__ import annotations

import csv
import io
import json
import os
import secrets
import stat
from collections.abc import Sequence
from pathlib import Path

from pegasus_desktop.history import Entry

FORMATS = ("txt", "md", "csv", "jsonl")
CSV_COLUMNS = (
    "id", "created", "kind", "source", "model_id", "precision", "mode", "seconds",
    "input_tokens", "summary_tokens", "parts", "truncated", "summary",
)


def _heading(entry: Entry) -> str:
    return f"{entry.when()} · {entry.model_name()} ({entry.precision}) · {entry.seconds:.1f} s"


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
    write_file(Path(target), render(entries, fmt))


def write_file(path: Path, text: str) -> None:
    """Atomic, with the user's default permissions for a new file (not mkstemp's 0600)."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except OSError:
        mode = None
    tmp = path.with_name(f".{path.name}-{secrets.token_hex(6)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            if mode is not None and hasattr(os, "fchmod"):
                os.fchmod(f.fileno(), mode)
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
