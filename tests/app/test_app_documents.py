"""Reading the files people open: each supported type, encodings, and clear errors. No Qt."""

from __future__ import annotations

import os

import pytest

from engine.documents import (
    DocumentError,
    decode_text,
    html_to_text,
    markdown_to_text,
    read_document,
)

TEXT = "Café owners in Zürich said the naïve plan would cost €1.5 million.\n\nIt was approved on Friday."
LATIN1 = TEXT.replace("€", "EUR")  # Latin-1 has no euro sign


def make_pdf(path, paragraphs):
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("helvetica", size=12)
    for paragraph in paragraphs:
        pdf.multi_cell(0, 8, paragraph)
        pdf.ln(4)
    pdf.output(str(path))
    return path


def make_docx(path, paragraphs, table=None):
    import docx

    document = docx.Document()
    document.add_heading("A report", level=1)
    for paragraph in paragraphs:
        document.add_paragraph(paragraph)
    if table:
        grid = document.add_table(rows=len(table), cols=len(table[0]))
        for r, row in enumerate(table):
            for c, value in enumerate(row):
                grid.cell(r, c).text = value
    document.save(str(path))
    return path


@pytest.mark.parametrize(
    "encoding, text",
    [
        ("utf-8", TEXT),
        ("utf-8-sig", TEXT),
        ("utf-16", TEXT),
        ("utf-16-be", None),
        ("latin-1", LATIN1),
        ("cp1252", TEXT),
    ],
)
def test_txt_encodings_are_detected(tmp_path, encoding, text):
    if text is None:  # UTF-16 big-endian with a BOM written by hand
        data = b"\xfe\xff" + TEXT.encode("utf-16-be")
        text = TEXT
    else:
        data = text.encode(encoding)
    path = tmp_path / "article.txt"
    path.write_bytes(data)
    assert read_document(path) == text


def test_markdown_keeps_the_words_not_the_markup(tmp_path):
    path = tmp_path / "notes.md"
    path.write_text(
        "# Big news\n\nThe **council** voted on *Monday* ([minutes](http://x.org)).\n\n"
        "- first point\n- `second` point\n",
        encoding="utf-8",
    )
    assert (
        read_document(path)
        == "Big news\n\nThe council voted on Monday (minutes).\n\nfirst point\nsecond point"
    )


@pytest.mark.parametrize("suffix", [".html", ".htm"])
def test_html_gives_visible_text_only(tmp_path, suffix):
    page = (
        "<!doctype html><html><head><meta charset='windows-1252'><title>T</title>"
        "<style>p { color: red }</style><script>var x = '<p>no</p>';</script></head>"
        "<body><nav><a href='/'>Home</a></nav><h1>Storm &amp; flood</h1>"
        "<p>Rivers rose in <b>Köln</b> on Tuesday.</p><p>Schools closed.<br>Roads too.</p></body></html>"
    )
    path = tmp_path / f"page{suffix}"
    path.write_bytes(page.encode("cp1252"))
    assert (
        read_document(path)
        == "Storm & flood\n\nRivers rose in Köln on Tuesday.\n\nSchools closed.\nRoads too."
    )


def test_pdf_text_is_extracted(tmp_path):
    path = make_pdf(
        tmp_path / "report.pdf", ["The harbour reopened on Monday.", "Ships queued for hours."]
    )
    text = read_document(path)
    assert "The harbour reopened on Monday." in text and "Ships queued for hours." in text


def test_docx_paragraphs_and_tables_are_extracted(tmp_path):
    path = make_docx(
        tmp_path / "memo.docx",
        ["Sales rose 4% in May.", "Costs fell."],
        table=[["Region", "Sales"], ["North", "12"]],
    )
    assert (
        read_document(path)
        == "A report\n\nSales rose 4% in May.\n\nCosts fell.\n\nRegion | Sales\n\nNorth | 12"
    )


def test_binary_file_is_refused_with_a_clear_message(tmp_path):
    path = tmp_path / "photo.txt"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(4000))
    with pytest.raises(DocumentError, match="does not look like text"):
        read_document(path)


@pytest.mark.parametrize(
    "name, data, message",
    [
        ("fake.pdf", b"not a pdf at all", "cannot be read as a PDF"),
        ("fake.docx", b"PK\x03\x04 nope", "cannot be read as a Word document"),
        ("empty.txt", b"", "has no text"),
        ("picture.png", b"\x89PNG", "not a file type"),
    ],
)
def test_unreadable_files_say_why(tmp_path, name, data, message):
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(DocumentError, match=message):
        read_document(path)


def test_pdf_without_text_layer_suggests_ocr(tmp_path):
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    pdf.rect(10, 10, 50, 50)
    pdf.output(str(tmp_path / "scan.pdf"))
    with pytest.raises(DocumentError, match="no text layer"):
        read_document(tmp_path / "scan.pdf")


def test_decode_helpers():
    assert decode_text("Ça coûte cher à Noël.".encode("latin-1")) == "Ça coûte cher à Noël."
    czech = "Příliš žluťoučký kůň úpěl ďábelské ódy. " * 3
    assert decode_text(czech.encode("cp1250")) == czech
    russian = "Привет, как дела? Всё хорошо, спасибо. Мы идём домой."
    assert decode_text(russian.encode("cp1251")) == russian
    assert html_to_text("<p>a&nbsp;b &lt;c&gt;</p>") == "a b <c>"
    assert markdown_to_text("> quoted *text*") == "quoted text"
