"""How much a document may be, and reading its bytes within that: the one place the limits live.

Work is bounded: a file is read once, whole, only when it is small enough to hold at most
``MAX_TEXT_CHARS`` of text (more would take seconds and hundreds of MB just to tokenize). The
same limit holds for the article pasted into the app and the text the CLI reads from a file or
standard input (``read_limited``, ``check_length``). Knows nothing of file formats.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import BinaryIO

from engine.errors import DocumentError

MAX_BYTES = 200 * 1024 * 1024  # a PDF or Word file this large is refused without reading it
# About 400 pages, 170,000 words. Tokenizing 1 M characters takes about a second and 100 MB of
# memory, summarizing it whole a few minutes; 50 MB would take a minute and gigabytes.
MAX_TEXT_CHARS = 1_000_000
# A plain-text file larger than this is refused unread: 4 bytes per character at most (UTF-32).
MAX_TEXT_FILE_BYTES = 4 * MAX_TEXT_CHARS


def check_length(text: str, name: str | None = None) -> None:
    """Refuse text longer than ``MAX_TEXT_CHARS``, saying how long it is and what to do: the text
    of the file ``name``, or (None) the article typed or pasted into the app."""
    if len(text) > MAX_TEXT_CHARS:
        raise too_long(len(text), name)


def too_long(length: int, name: str | None = None, *, holds: str = "holds") -> DocumentError:
    """The error for ``length`` characters, more than ``MAX_TEXT_CHARS``: the file ``name``'s, or
    (None) the article in the app's box; ``holds="would then hold"`` for text that was kept out."""
    if name is None:
        return too_long_error("The article", f"{length / 1e6:,.1f} million characters", holds)
    return too_long_error(f"“{name}”", f"{length / 1e6:,.1f} million characters of text", holds)


def too_long_error(subject: str, what: str, holds: str = "holds") -> DocumentError:
    """The too-long error for ``subject`` (“name” or "The article"), which ``holds`` ``what``."""
    return DocumentError(
        f"{subject} {holds} {what}, more than the {MAX_TEXT_CHARS / 1e6:,.0f} million characters "
        f"(about 400 pages) this app summarizes at a time. Split it into parts, or copy the part "
        f"you want summarized and paste it."
    )


def read_file_bytes(path: Path, limit: int) -> bytes:
    """The whole file, read once; refused unread when larger than ``limit``.

    A file that disappears or fails while it is read (a removed drive, a network share that
    drops, a file deleted after it was chosen) gives a ``DocumentError`` like any other.
    """
    try:
        with open(path, "rb") as f:
            return read_limited(f, path.name, limit)
    except FileNotFoundError as e:
        raise DocumentError(
            f"“{path.name}” is no longer there: it was moved or deleted before it could be read."
        ) from e
    except IsADirectoryError as e:
        raise DocumentError(f"“{path.name}” is a folder, not a file.") from e
    except OSError as e:
        raise DocumentError(
            f"“{path.name}” cannot be read: {e.strerror or e}. If it is on a removable drive or a "
            f"network share, check that it is still connected."
        ) from e


def read_limited(f: BinaryIO, name: str, limit: int = MAX_TEXT_FILE_BYTES) -> bytes:
    """All the bytes of an open binary file (or pipe), read once. More than ``limit`` bytes is a
    ``DocumentError`` naming ``name``, raised before reading when the size is known up front."""
    try:
        size = os.fstat(f.fileno()).st_size
    except (OSError, ValueError, io.UnsupportedOperation):  # not a file on disk (BytesIO)
        size = 0
    if size > limit:
        raise _too_big(name, size, limit)
    data = f.read(limit + 1)
    if len(data) > limit:  # it grew while being read, or a pipe brought more
        raise _too_big(name, len(data), limit)
    return data


def _too_big(name: str, size: int, limit: int) -> DocumentError:
    if limit < MAX_BYTES:  # a text file: it would hold too much text
        return too_long_error(f"“{name}”", f"{size / 1e6:,.1f} MB of text")
    return DocumentError(
        f"“{name}” is {size / 1e6:,.0f} MB, too large to be a document to summarize."
    )


