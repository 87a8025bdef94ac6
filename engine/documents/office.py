"""PDF and Word (.docx) files to text. pypdf and python-docx (the ``documents`` extra) are
imported only when such a file is read, so the engine and the CLI start without them.

PDF pages are extracted only until ``MAX_TEXT_CHARS`` of text has come out. Knows nothing of
decoding or HTML.
"""

from __future__ import annotations

import io
from pathlib import Path

from engine.documents.limits import MAX_BYTES, MAX_TEXT_CHARS, read_file_bytes, too_long_error
from engine.errors import DocumentError

_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # the container of encrypted Office files and .doc


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
                raise too_long_error(
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
    """The paragraphs of a .docx, then its tables (a row per line, cells joined by " | ")."""
    import zipfile

    import docx
    from docx.opc.exceptions import PackageNotFoundError

    if data is None:
        data = read_file_bytes(path, MAX_BYTES)
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
