"""History: every finished summary, and the Batch queue, kept in one SQLite database.

The database is ``history.sqlite3`` in the user data dir (``~/.local/share/pegasus-desktop`` on
Linux). It is opened in WAL mode with full syncs, and each write is one transaction, so a crash
or a killed process loses at most the write under way, never what was stored before. The schema
is versioned with ``PRAGMA user_version``. A database that cannot be read (damaged, not a
database) or that a newer version of the app wrote is never deleted and never crashes the app:
it is renamed beside (``history-damaged-<time>.sqlite3``, ``history-newer-<time>.sqlite3``), a
new one is started, and ``problem`` says so in plain words.

This module knows nothing about Qt; the GUI thread is its only user.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import sqlite3
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from pegasus_desktop.resources import data_dir

log = logging.getLogger(__name__)

FILE_NAME = "history.sqlite3"
SCHEMA_VERSION = 1
SOURCE_WORDS = 12  # a pasted article is named by its first words

_SCHEMA = """
CREATE TABLE summaries (
    id INTEGER PRIMARY KEY,
    created TEXT NOT NULL,           -- ISO 8601, UTC
    kind TEXT NOT NULL,              -- "text" (pasted), "file" (opened) or "batch"
    source TEXT NOT NULL,            -- the file's path, or the article's first words
    article TEXT NOT NULL,
    summary TEXT NOT NULL,
    model_id TEXT NOT NULL,
    precision TEXT NOT NULL,
    options TEXT NOT NULL,           -- JSON of engine.GenerationOptions
    mode TEXT NOT NULL,              -- "whole" or "beginning"
    seconds REAL NOT NULL,
    input_tokens INTEGER NOT NULL,
    summary_tokens INTEGER NOT NULL,
    new_tokens INTEGER NOT NULL,
    parts INTEGER NOT NULL,
    truncated INTEGER NOT NULL
);
CREATE INDEX summaries_created ON summaries (created);
CREATE TABLE queue (
    position INTEGER PRIMARY KEY,
    path TEXT NOT NULL,
    status TEXT NOT NULL,
    detail TEXT NOT NULL,
    summary_id INTEGER               -- the row in summaries, for a file summarized
);
"""


class HistoryError(Exception):
    """The history database cannot be used at all (its folder cannot be written)."""


@dataclass(frozen=True)
class Entry:
    """One stored summary."""

    id: int
    created: str
    kind: str
    source: str
    article: str
    summary: str
    model_id: str
    precision: str
    options: dict
    mode: str
    seconds: float
    input_tokens: int
    summary_tokens: int
    new_tokens: int
    parts: int
    truncated: bool

    def when(self) -> str:
        """The local date and time, to the minute."""
        return datetime.fromisoformat(self.created).astimezone().strftime("%Y-%m-%d %H:%M")

    def model_name(self) -> str:
        """A hub id as it is; a local checkpoint folder by its name."""
        return Path(self.model_id).name if Path(self.model_id).is_absolute() else self.model_id


@dataclass(frozen=True)
class QueueRow:
    path: Path
    status: str
    detail: str = ""
    summary_id: int | None = None


def history_path() -> Path:
    return data_dir() / FILE_NAME


def first_words(text: str, count: int = SOURCE_WORDS) -> str:
    words = text.split()
    return " ".join(words[:count]) + ("…" if len(words) > count else "")


class _Unusable(Exception):
    def __init__(self, kind: str, why: str) -> None:
        super().__init__(why)
        self.kind, self.why = kind, why


class HistoryStore:
    def __init__(self, path: Path | None = None) -> None:
        self.path = Path(path or history_path())
        self.problem = ""  # set when an unreadable database was set aside
        self.set_aside: Path | None = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.db = self._open_or_set_aside()
        except (OSError, sqlite3.Error) as e:
            raise HistoryError(
                f"History cannot be kept: the database {self.path} could not be opened or "
                f"created ({e}). Summaries still work but are not stored; check that the folder "
                f"can be written."
            ) from e

    # -- opening

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, isolation_level=None)  # transactions are explicit
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        return db

    def _open_or_set_aside(self) -> sqlite3.Connection:
        db = None
        try:
            db = self._connect()
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise _Unusable("newer", f"a newer version of the app wrote it (schema {version})")
            check = db.execute("PRAGMA quick_check").fetchone()[0]
            if check != "ok":
                raise _Unusable("damaged", f"it is damaged ({check})")
            if version == 0:
                self._create(db)
            return db
        except (sqlite3.DatabaseError, _Unusable) as e:
            if db is not None:
                db.close()
            kind, why = (e.kind, e.why) if isinstance(e, _Unusable) else ("damaged", f"it is damaged ({e})")
        self.set_aside = self._rename_aside(kind)
        self.problem = (
            f"The History database could not be used: {why}. It was kept, renamed to "
            f"{self.set_aside.name} in {self.path.parent}, and a new, empty History was started."
            + (" Open that file with the newer version to see it again." if kind == "newer" else "")
        )
        log.warning("%s", self.problem)
        db = self._connect()
        self._create(db)
        return db

    def _rename_aside(self, kind: str) -> Path:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        aside = self.path.with_name(f"{self.path.stem}-{kind}-{stamp}{self.path.suffix}")
        n = 1
        while aside.exists():
            n += 1
            aside = self.path.with_name(f"{self.path.stem}-{kind}-{stamp}-{n}{self.path.suffix}")
        self.path.rename(aside)
        for extra in ("-wal", "-shm"):  # the journal belongs to the file it was set aside with
            companion = self.path.with_name(self.path.name + extra)
            if companion.exists():
                companion.rename(aside.with_name(aside.name + extra))
        return aside

    @staticmethod
    def _create(db: sqlite3.Connection) -> None:
        db.execute("BEGIN IMMEDIATE")
        try:
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    db.execute(statement)
            db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def close(self) -> None:
        self.db.close()

    # -- summaries

    def add(self, **values) -> int:
        """Store one summary (``Entry``'s fields but id and created); returns its id."""
        values = dict(values)
        values.setdefault("created", datetime.now(timezone.utc).isoformat(timespec="seconds"))
        values["options"] = json.dumps(values.get("options") or {}, sort_keys=True)
        values["truncated"] = int(bool(values.get("truncated")))
        names = [f.name for f in dataclasses.fields(Entry) if f.name != "id"]
        row = [values[name] for name in names]
        with self._transaction() as db:
            cursor = db.execute(
                f"INSERT INTO summaries ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})",
                row,
            )
        return int(cursor.lastrowid)

    def add_summary(
        self, article, summary, model, options, mode: str, kind: str, path: Path | None = None
    ) -> int:
        """Store an ``engine.DocumentSummary`` of ``article`` made by ``model`` (a ``ModelInfo``)."""
        return self.add(
            kind=kind,
            source=str(path) if path is not None else first_words(article),
            article=article,
            summary=summary.text,
            model_id=model.model_id,
            precision=model.precision,
            options={k: v for k, v in dataclasses.asdict(options).items() if v is not None},
            mode=mode,
            seconds=round(summary.seconds, 3),
            input_tokens=summary.input_tokens,
            summary_tokens=summary.summary_tokens,
            new_tokens=summary.new_tokens,
            parts=summary.parts,
            truncated=summary.truncated,
        )

    def search(self, text: str = "", limit: int = 1000) -> list[Entry]:
        """Newest first; ``text`` (case-insensitive) in the source, the summary or the article."""
        sql, args = "SELECT * FROM summaries", []
        if text.strip():
            pattern = "%" + text.strip().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            sql += " WHERE " + " OR ".join(
                f"{column} LIKE ? ESCAPE '\\'" for column in ("source", "summary", "article")
            )
            args = [pattern] * 3
        sql += " ORDER BY created DESC, id DESC LIMIT ?"
        return [self._entry(row) for row in self.db.execute(sql, [*args, limit])]

    def get(self, entry_id: int) -> Entry | None:
        row = self.db.execute("SELECT * FROM summaries WHERE id = ?", (entry_id,)).fetchone()
        return self._entry(row) if row else None

    def delete(self, ids: Iterable[int]) -> None:
        with self._transaction() as db:
            db.executemany("DELETE FROM summaries WHERE id = ?", [(i,) for i in ids])

    def count(self) -> int:
        return self.db.execute("SELECT COUNT(*) FROM summaries").fetchone()[0]

    @staticmethod
    def _entry(row) -> Entry:
        values = list(row)
        values[8] = json.loads(values[8])  # options
        values[15] = bool(values[15])  # truncated
        return Entry(*values)

    # -- the Batch queue

    def save_queue(self, rows: Iterable[QueueRow]) -> None:
        """Replace the stored queue with ``rows`` (one transaction: the old or the new, never half)."""
        with self._transaction() as db:
            db.execute("DELETE FROM queue")
            db.executemany(
                "INSERT INTO queue (path, status, detail, summary_id) VALUES (?, ?, ?, ?)",
                [(str(r.path), r.status, r.detail, r.summary_id) for r in rows],
            )

    def load_queue(self) -> list[QueueRow]:
        return [
            QueueRow(Path(path), status, detail, summary_id)
            for path, status, detail, summary_id in self.db.execute(
                "SELECT path, status, detail, summary_id FROM queue ORDER BY position"
            )
        ]
