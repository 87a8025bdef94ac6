"""Text out of the files people summarize: .txt, .md, .html/.htm, .pdf and .docx.

``read_document(path)`` is the one reader the CLI, the app and batches use. Every failure is a
``DocumentError`` (an ``EngineError``) whose message says, in plain words, what is wrong with the
file. One module per concern:

- ``limits``: how much text a document may hold, and reading bytes within that;
- ``text``: bytes to text (BOMs, charset detection, refusing binary files) and ``tidy``;
- ``markdown``: markup removed;
- ``web``: a web page's main article (trafilatura), or its visible text;
- ``office``: PDF and Word files.

The readers' packages (charset-normalizer, trafilatura, pypdf, python-docx: the ``documents``
extra) are imported only when a file needs them. Pure functions; nothing here knows of Qt.
"""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

from engine.documents.limits import (
    MAX_BYTES,
    MAX_TEXT_CHARS,
    MAX_TEXT_FILE_BYTES,
    check_length,
    read_file_bytes,
    read_limited,
    too_long,
)
from engine.documents.markdown import markdown_to_text
from engine.documents.office import docx_to_text, pdf_to_text
from engine.documents.text import decode_text, tidy
from engine.documents.web import html_to_text
from engine.errors import DocumentError

__all__ = [
    "DocumentError",
    "HTML_SUFFIXES",
    "MARKDOWN_SUFFIXES",
    "MAX_BYTES",
    "MAX_TEXT_CHARS",
    "MAX_TEXT_FILE_BYTES",
    "SUPPORTED_SUFFIXES",
    "TEXT_SUFFIXES",
    "check_length",
    "decode_text",
    "docx_to_text",
    "html_to_text",
    "markdown_to_text",
    "pdf_to_text",
    "read_document",
    "read_limited",
    "read_plain_text",
    "tidy",
    "too_long",
]

TEXT_SUFFIXES = (".txt", ".text")
MARKDOWN_SUFFIXES = (".md", ".markdown")
HTML_SUFFIXES = (".html", ".htm")
SUPPORTED_SUFFIXES = TEXT_SUFFIXES + MARKDOWN_SUFFIXES + HTML_SUFFIXES + (".pdf", ".docx")


def read_document(path: str | Path) -> str:
    """The text of a supported file, with runs of blank lines collapsed."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise DocumentError(
            f"“{path.name}” is not a file type this app reads. Open a .txt, .md, .html, .pdf or "
            f".docx file, or paste the text."
        )
    is_text = suffix not in (".pdf", ".docx")
    data = read_file_bytes(path, MAX_TEXT_FILE_BYTES if is_text else MAX_BYTES)
    if suffix == ".pdf":
        text = pdf_to_text(path, data)
    elif suffix == ".docx":
        text = docx_to_text(path, data)
    else:
        text = decode_text(data, path.name, html=suffix in HTML_SUFFIXES)
        if suffix in HTML_SUFFIXES:
            text = html_to_text(text)
        elif suffix in MARKDOWN_SUFFIXES:
            text = markdown_to_text(text)
    text = tidy(text)
    if not text:
        raise DocumentError(f"“{path.name}” has no text in it.")
    check_length(text, path.name)
    return text


def read_plain_text(f: BinaryIO, name: str) -> str:
    """The text of an open binary file or pipe (standard input), as it is: decoded, within the
    limits, whitespace untouched. ``name`` is what messages call it."""
    text = decode_text(read_limited(f, name), name)
    check_length(text, name)
    return text
