"""Text out of the files people open or drop: .txt, .md, .html/.htm, .pdf and .docx.

Pure functions without Qt. Every failure is a ``DocumentError`` whose message says, in plain
words, what is wrong with the file. Plain-text encodings are detected (a BOM, then UTF-8, then
charset-normalizer); bytes that do not decode to text are refused as binary.

Work is bounded: a file is read once, whole, only when it is small enough to hold at most
``MAX_TEXT_CHARS`` of text (more would take seconds and hundreds of MB just to tokenize), and PDF
pages are extracted only until that much text has come out. The same limit holds for the
article pasted into the app and the plain-text files the CLI reads (``read_limited``,
``check_length``).
"""

from __future__ import annotations

import codecs
import io
import os
import re
import unicodedata
from html.parser import HTMLParser
from pathlib import Path
from typing import BinaryIO

TEXT_SUFFIXES = (".txt", ".text")
MARKDOWN_SUFFIXES = (".md", ".markdown")
HTML_SUFFIXES = (".html", ".htm")
SUPPORTED_SUFFIXES = TEXT_SUFFIXES + MARKDOWN_SUFFIXES + HTML_SUFFIXES + (".pdf", ".docx")
MAX_BYTES = 200 * 1024 * 1024  # a PDF or Word file this large is refused without reading it
# About 400 pages, 170,000 words. Tokenizing 1 M characters takes about a second and 100 MB of
# memory, summarizing it whole a few minutes; 50 MB would take a minute and gigabytes.
MAX_TEXT_CHARS = 1_000_000
# A plain-text file larger than this is refused unread: 4 bytes per character at most (UTF-32).
MAX_TEXT_FILE_BYTES = 4 * MAX_TEXT_CHARS
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # the container of encrypted Office files and .doc

_BOMS = (  # UTF-32 first: its little-endian BOM starts with UTF-16's
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


class DocumentError(Exception):
    """The file cannot be turned into text; the message says why, for the user."""


def file_dialog_filter() -> str:
    patterns = " ".join(f"*{s}" for s in SUPPORTED_SUFFIXES)
    return f"Documents ({patterns});;Text (*.txt *.md);;Web pages (*.html *.htm);;PDF (*.pdf);;Word (*.docx)"


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
    data = _read_bytes(path, MAX_TEXT_FILE_BYTES if is_text else MAX_BYTES)
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


def check_length(text: str, name: str | None = None) -> None:
    """Refuse text longer than ``MAX_TEXT_CHARS``, saying how long it is and what to do: the text
    of the file ``name``, or (None) the article typed or pasted into the app."""
    if len(text) > MAX_TEXT_CHARS:
        raise too_long(len(text), name)


def too_long(length: int, name: str | None = None, *, holds: str = "holds") -> DocumentError:
    """The error for ``length`` characters, more than ``MAX_TEXT_CHARS``: the file ``name``'s, or
    (None) the article in the app's box; ``holds="would then hold"`` for text that was kept out."""
    if name is None:
        return _too_long("The article", f"{length / 1e6:,.1f} million characters", holds)
    return _too_long(f"“{name}”", f"{length / 1e6:,.1f} million characters of text", holds)


def _too_long(subject: str, what: str, holds: str = "holds") -> DocumentError:
    return DocumentError(
        f"{subject} {holds} {what}, more than the {MAX_TEXT_CHARS / 1e6:,.0f} million characters "
        f"(about 400 pages) this app summarizes at a time. Split it into parts, or copy the part "
        f"you want summarized and paste it."
    )


def _read_bytes(path: Path, limit: int) -> bytes:
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
        return _too_long(f"“{name}”", f"{size / 1e6:,.1f} MB of text")
    return DocumentError(
        f"“{name}” is {size / 1e6:,.0f} MB, too large to be a document to summarize."
    )


def tidy(text: str) -> str:
    """Unix newlines, no trailing spaces, at most one blank line in a row."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = [line.rstrip() for line in text.split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def _looks_binary(text: str) -> bool:
    controls = sum(1 for ch in text if unicodedata.category(ch) == "Cc" and ch not in "\t\n\r\f\v")
    return controls > max(2, len(text) // 100)


def _declared_html_charset(data: bytes) -> str | None:
    match = re.search(
        rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", data[:4096], re.IGNORECASE
    )
    if match:
        name = match.group(1).decode("ascii", "ignore")
        try:
            return codecs.lookup(name).name
        except LookupError:
            return None
    return None


def decode_text(data: bytes, name: str = "the file", *, html: bool = False) -> str:
    """Bytes to text: a BOM, an HTML meta charset, UTF-8, then charset-normalizer's best guess."""
    binary = DocumentError(
        f"“{name}” does not look like text: it may be a binary file (an image, a program or an "
        f"archive) or use an encoding this app cannot recognise."
    )
    if not data:
        return ""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                return data.decode(encoding)
            except UnicodeDecodeError as e:
                raise binary from e
    candidates = []
    if html and (declared := _declared_html_charset(data)):
        candidates.append(declared)
    if b"\x00" not in data:
        candidates.append("utf-8")
    for encoding in candidates:
        try:
            text = data.decode(encoding)
        except (UnicodeDecodeError, LookupError):
            continue
        if not _looks_binary(text):
            return text
    from charset_normalizer import from_bytes

    best = _best_guess(from_bytes(data, cp_isolation=list(_CANDIDATES)))
    if best is None:
        raise binary
    # A NUL byte is legitimate only in UTF-16/32 text without a BOM.
    if b"\x00" in data and not best.encoding.startswith(("utf_16", "utf_32")):
        raise binary
    text = str(best)
    if best.coherence == 0 and best.encoding not in _PREFERRED:
        # Too short to recognise a language: Windows-1252 is the likeliest single-byte encoding.
        try:
            text = data.decode("cp1252")
        except UnicodeDecodeError:
            pass
    if _looks_binary(text):
        raise binary
    return text


# Encodings documents are written in today (DOS and exotic code pages excluded: on short texts
# charset-normalizer otherwise often prefers, say, cp775 over Windows-1252).
_CANDIDATES = (
    "utf_16",
    "utf_16_le",
    "utf_16_be",
    "utf_32",
    "cp1252",
    "latin_1",
    "iso8859_15",
    "cp1250",
    "iso8859_2",
    "cp1251",
    "koi8_r",
    "cp1253",
    "cp1254",
    "cp1255",
    "cp1256",
    "cp1257",
    "cp1258",
    "mac_roman",
    "shift_jis",
    "cp932",
    "euc_jp",
    "iso2022_jp",
    "gb18030",
    "big5",
    "euc_kr",
    "cp949",
    "tis_620",
    "cp874",
)
# When several single-byte code pages read the bytes equally well (short texts often do),
# prefer the one most legacy Western text is written in.
_PREFERRED = ("cp1252", "latin_1", "iso8859_15")


def _best_guess(matches):
    best = matches.best()
    if best is None:
        return None
    tier = [
        m for m in matches if m.chaos <= best.chaos + 0.01 and m.coherence >= best.coherence - 0.05
    ]
    for encoding in _PREFERRED:
        for match in tier:
            if match.encoding == encoding:
                return match
    return best


class _TextExtractor(HTMLParser):
    _SKIP = frozenset({"script", "style", "noscript", "template", "head", "svg", "nav", "footer"})
    _BLOCK = frozenset(
        {
            "p",
            "div",
            "br",
            "li",
            "ul",
            "ol",
            "h1",
            "h2",
            "h3",
            "h4",
            "h5",
            "h6",
            "tr",
            "table",
            "section",
            "article",
            "header",
            "blockquote",
            "pre",
            "hr",
            "dd",
            "dt",
            "figcaption",
            "title",
        }
    )

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping = 0
        self.title = ""
        self._in_title = False

    def handle_starttag(self, tag, attrs):
        if tag == "title":
            self._in_title = True
        elif tag in self._SKIP:
            self._skipping += 1
        if tag in self._BLOCK:
            self.parts.append("\n\n" if tag in ("p", "h1", "h2", "h3", "h4", "h5", "h6") else "\n")

    def handle_startendtag(self, tag, attrs):
        if tag in ("br", "hr"):
            self.parts.append("\n")

    def handle_endtag(self, tag):
        if tag == "title":
            self._in_title = False
        elif tag in self._SKIP and self._skipping:
            self._skipping -= 1
        if tag in self._BLOCK:
            self.parts.append("\n")

    def handle_data(self, data):
        if self._in_title:
            self.title += data
        elif not self._skipping:
            self.parts.append(re.sub(r"\s+", " ", data))


def html_to_text(html: str) -> str:
    """The visible text of a page: no tags, scripts, styles or navigation; entities decoded."""
    parser = _TextExtractor()
    parser.feed(html)
    parser.close()
    lines = (line.strip() for line in "".join(parser.parts).split("\n"))
    body = tidy("\n".join(lines))
    return body or parser.title.strip()


_MD_RULES = (
    (re.compile(r"^```.*$|^~~~.*$", re.MULTILINE), ""),  # code fence lines
    (re.compile(r"^[ \t]{0,3}#{1,6}[ \t]+", re.MULTILINE), ""),  # heading marks
    (re.compile(r"^[ \t]{0,3}>[ \t]?", re.MULTILINE), ""),  # block quotes
    (re.compile(r"^[ \t]*(?:[-*+]|\d+[.)])[ \t]+", re.MULTILINE), ""),  # list markers
    (re.compile(r"^[ \t]*(?:-{3,}|\*{3,}|_{3,})[ \t]*$", re.MULTILINE), ""),  # rules
    (re.compile(r"!\[([^\]]*)\]\([^)]*\)"), r"\1"),  # images -> alt text
    (re.compile(r"\[([^\]]+)\]\([^)]*\)"), r"\1"),  # links -> their text
    (re.compile(r"(\*\*|__)(.+?)\1"), r"\2"),  # bold
    (re.compile(r"(?<![\w*])\*(?!\s)(.+?)(?<!\s)\*(?![\w*])"), r"\1"),  # italics
    (re.compile(r"`([^`]*)`"), r"\1"),  # inline code
)


def markdown_to_text(markdown: str) -> str:
    """Markdown with its markup removed, so the model reads sentences, not syntax."""
    for pattern, replacement in _MD_RULES:
        markdown = pattern.sub(replacement, markdown)
    return markdown


def pdf_to_text(path: Path, data: bytes | None = None) -> str:
    """The text layer of a PDF, page by page, until ``MAX_TEXT_CHARS`` have come out."""
    from pypdf import PdfReader
    from pypdf.errors import DependencyError, FileNotDecryptedError, PyPdfError

    password = DocumentError(
        f"“{path.name}” is protected by a password. Open it in a PDF viewer that knows the "
        f"password and copy the text, or save an unprotected copy."
    )
    try:
        reader = PdfReader(io.BytesIO(data) if data is not None else path)
        if reader.is_encrypted and not reader.decrypt(""):
            raise password
        pages, length = [], 0
        for page in reader.pages:
            pages.append(page.extract_text() or "")
            length += len(pages[-1])
            if length > MAX_TEXT_CHARS:
                raise _too_long(
                    f"“{path.name}”",
                    f"more than {MAX_TEXT_CHARS / 1e6:,.0f} million characters of text",
                )
    except DocumentError:
        raise
    except FileNotDecryptedError as e:
        raise password from e
    except DependencyError as e:  # AES needs the cryptography package
        raise DocumentError(
            f"“{path.name}” is encrypted, and reading it needs the 'cryptography' package, which is "
            f"not installed (pip install cryptography). Or save an unencrypted copy."
        ) from e
    except (PyPdfError, OSError, ValueError, KeyError, TypeError) as e:
        raise DocumentError(
            f"“{path.name}” cannot be read as a PDF: it is damaged or not a PDF ({e})."
        ) from e
    text = "\n\n".join(p.strip() for p in pages)
    if not text.strip():
        raise DocumentError(
            f"“{path.name}” has no text layer: it is probably scanned pages (images). Run it through "
            f"text recognition (OCR) first, or paste the text."
        )
    return text


def docx_to_text(path: Path, data: bytes | None = None) -> str:
    import zipfile

    import docx
    from docx.opc.exceptions import PackageNotFoundError

    if data is None:
        data = _read_bytes(path, MAX_BYTES)
    if data.startswith(_OLE_MAGIC):
        # Word keeps a password-protected .docx inside an OLE container, as it keeps old .doc files.
        if "EncryptionInfo".encode("utf-16-le") in data:
            raise DocumentError(
                f"“{path.name}” is protected by a password. Open it in Word with the password and "
                f"save an unprotected copy, or copy the text and paste it."
            )
        raise DocumentError(
            f"“{path.name}” is an old Word document (.doc) with a .docx name. Save it as .docx or "
            f"as text in a word processor, or copy the text and paste it."
        )
    try:
        document = docx.Document(io.BytesIO(data))
    except (PackageNotFoundError, zipfile.BadZipFile, KeyError, ValueError, OSError) as e:
        raise DocumentError(
            f"“{path.name}” cannot be read as a Word document: it is damaged or not a .docx."
        ) from e
    parts = [p.text for p in document.paragraphs]
    for table in document.tables:
        for row in table.rows:
            parts.append(" | ".join(cell.text.strip() for cell in row.cells))
    return "\n\n".join(part for part in parts if part.strip())
