"""Bytes to text: BOMs, an HTML page's declared charset, UTF-8, then charset-normalizer's guess;
bytes that do not decode to text are refused as binary. And ``tidy``, the whitespace every
reader's text ends with. Knows nothing of file types beyond "this is a web page".

charset-normalizer (the ``documents`` extra) is imported only for text that is neither
UTF-8 nor marked by a BOM.
"""

from __future__ import annotations

import codecs
import re
import unicodedata

from engine.errors import DocumentError

_BOMS = (  # UTF-32 first: its little-endian BOM starts with UTF-16's
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
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

