"""Batches of files: which files a folder holds, and writing one summary per file.

Results go to a folder (one ``.txt`` or ``.md`` file per input, each written atomically) or to one
table (``.csv`` or ``.jsonl``, a row per input written as soon as it is known). A table is written
beside its target and renamed over it by ``close()``, so an interrupted batch keeps the rows it
finished, and ``discard()`` after a failure leaves an earlier table as it was. The CLI and the
app's Batch view both write through here.
This module knows nothing about Qt, terminals or models.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from engine.files import write_atomically

__all__ = [
    "FOLDER_FORMATS",
    "TABLE_FORMATS",
    "BatchResult",
    "SummaryFolder",
    "SummaryTable",
    "collect_inputs",
    "open_output",
]

FOLDER_FORMATS = ("txt", "md")
TABLE_FORMATS = ("csv", "jsonl")
COLUMNS = ("file", "status", "summary", "seconds", "input_tokens", "summary_tokens", "parts", "error")


@dataclass(frozen=True)
class BatchResult:
    """One input's outcome. ``status`` is "ok", "failed" or "cancelled"."""

    file: Path
    status: str
    summary: str = ""
    seconds: float = 0.0
    input_tokens: int = 0
    summary_tokens: int = 0
    parts: int = 0
    error: str = ""

    @classmethod
    def from_summary(cls, file: Path, summary) -> BatchResult:
        """From an ``engine.long_document.DocumentSummary``."""
        return cls(
            Path(file), "ok", summary.text, round(summary.seconds, 3), summary.input_tokens,
            summary.summary_tokens, summary.parts,
        )

    def row(self) -> dict:
        values = {name: getattr(self, name) for name in COLUMNS}
        values["file"] = str(self.file)
        return values


def collect_inputs(paths: Iterable[str | Path], suffixes: Iterable[str]) -> list[Path]:
    """Files named, and the files of folders named whose suffix is one of ``suffixes`` (hidden
    files left out), in order and without repeats. A named file is kept whatever its suffix."""
    wanted = {s.lower() for s in suffixes}
    found: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            found += sorted(
                (p for p in path.iterdir() if p.is_file() and p.suffix.lower() in wanted
                 and not p.name.startswith(".")),
                key=lambda p: p.name.lower(),
            )
        else:
            found.append(path)
    unique: dict[Path, Path] = {}
    for path in found:
        unique.setdefault(path.absolute(), path)  # named as given
    return list(unique.values())


class SummaryFolder:
    """One file per input in ``folder``: ``<stem>.summary.txt`` (or ``.md``, with the file name as
    its heading). Two inputs with the same stem get their full names, then a number."""

    def __init__(self, folder: Path, fmt: str = "txt") -> None:
        if fmt not in FOLDER_FORMATS:
            raise ValueError(f"format must be one of {', '.join(FOLDER_FORMATS)}; got {fmt!r}")
        self.folder = Path(folder)
        self.fmt = fmt
        self.written: list[Path] = []
        self.folder.mkdir(parents=True, exist_ok=True)

    def name_for(self, source: Path) -> Path:
        taken = {p.name for p in self.written}
        candidates = [f"{source.stem}.summary.{self.fmt}", f"{source.name}.summary.{self.fmt}"]
        candidates += [f"{source.name}-{n}.summary.{self.fmt}" for n in range(2, 10_000)]
        return self.folder / next(c for c in candidates if c not in taken)

    def write(self, result: BatchResult) -> Path | None:
        if result.status != "ok":
            return None
        path = self.name_for(result.file)
        text = result.summary
        if self.fmt == "md":
            text = f"# {result.file.name}\n\n{text}"
        write_atomically(path, text.rstrip() + "\n")  # one final newline
        self.written.append(path)
        return path

    def close(self) -> None:
        pass

    def discard(self) -> None:
        pass  # each file was written whole, or not at all


class SummaryTable:
    """All inputs in one ``.csv`` or ``.jsonl`` file, one row each (failed ones with their error)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.fmt = self.path.suffix.lower().lstrip(".")
        if self.fmt not in TABLE_FORMATS:
            raise ValueError(f"a table must end in .csv or .jsonl; got {self.path.name}")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._partial = self.path.with_name(f".{self.path.stem}.partial{self.path.suffix}")
        self._file = self._partial.open("w", encoding="utf-8", newline="")
        self._csv = None
        if self.fmt == "csv":
            self._csv = csv.DictWriter(self._file, fieldnames=COLUMNS)
            self._csv.writeheader()

    def write(self, result: BatchResult) -> Path:
        if self._csv is not None:
            self._csv.writerow(result.row())
        else:
            self._file.write(json.dumps(result.row(), ensure_ascii=False) + "\n")
        self._file.flush()
        return self.path

    def close(self) -> None:
        """Put the rows written so far in place of ``path``."""
        try:
            self._file.close()
            os.replace(self._partial, self.path)
        except BaseException:
            self.discard()
            raise

    def discard(self) -> None:
        """Drop the rows: whatever was at ``path`` stays as it was."""
        self._file.close()
        self._partial.unlink(missing_ok=True)


def open_output(target: str | Path, fmt: str = "txt") -> SummaryFolder | SummaryTable:
    """A table when ``target`` ends in .csv or .jsonl, else a folder of ``fmt`` files."""
    target = Path(target)
    if target.suffix.lower().lstrip(".") in TABLE_FORMATS:
        return SummaryTable(target)
    return SummaryFolder(target, fmt)
