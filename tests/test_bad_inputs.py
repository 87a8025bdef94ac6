"""Bad inputs, each with a clear message and no crash: files people open, text, model ids,
checkpoints and generation options. ``BAD_INPUTS`` below counts them for the README."""

from __future__ import annotations

import builtins
import errno
import json
import os
import shutil
import subprocess
import time
import tracemalloc
from pathlib import Path

import children
import pytest

from engine import EngineError, GenerationOptions, OfflineError, Summarizer
from engine.documents import MAX_TEXT_CHARS, DocumentError, limits, read_document
from engine.export.pipeline import export

REPO = Path(__file__).resolve().parents[1]
TEXT = "Café owners in Zürich said the naïve plan would cost 1.5 million.\n\nIt was approved on Friday."


def _pdf(path: Path, text: str | None) -> Path:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    if text is None:
        pdf.rect(10, 10, 50, 50)  # a drawing, no text: as a scanned page
    else:
        pdf.set_font("helvetica", size=12)
        pdf.multi_cell(0, 8, text)
    pdf.output(str(path))
    return path


def _docx(path: Path, text: str) -> Path:
    import docx

    document = docx.Document()
    document.add_paragraph(text)
    document.save(str(path))
    return path


# -- files


def test_empty_and_whitespace_only_files(tmp_path):
    for name, data in (
        ("empty.txt", b""),
        ("blank.md", b"  \n\t\n \r\n"),
        ("blank.html", b"<p> </p>"),
    ):
        (tmp_path / name).write_bytes(data)
        with pytest.raises(DocumentError, match="has no text in it"):
            read_document(tmp_path / name)


def test_a_50_mb_text_is_refused_at_once_without_reading_it(tmp_path):
    path = tmp_path / "huge.txt"
    with open(path, "wb") as f:
        f.truncate(50 * 1000 * 1000)  # sparse: 50 MB without writing them
        f.seek(0)
        f.write(b"The council met on Monday. " * 100)
    tracemalloc.start()
    start = time.perf_counter()
    with pytest.raises(DocumentError) as info:
        read_document(path)
    seconds = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert "50.0 MB of text" in str(info.value) and "1 million characters" in str(info.value)
    assert "Split it into parts" in str(info.value)
    assert seconds < 1.0 and peak < 1_000_000, (seconds, peak)


def test_text_over_the_limit_that_fits_the_byte_cap_is_refused_after_decoding(tmp_path):
    path = tmp_path / "long.txt"
    path.write_text("The council met on Monday and agreed. " * (MAX_TEXT_CHARS // 38 + 100))
    with pytest.raises(
        DocumentError, match=r"1\.0 million characters of text, more than the 1 million"
    ):
        read_document(path)
    ok = tmp_path / "ok.txt"
    ok.write_text("The council met on Monday and agreed. " * (MAX_TEXT_CHARS // 40))
    assert len(read_document(ok)) < MAX_TEXT_CHARS


def test_binary_file(tmp_path):
    path = tmp_path / "program.txt"
    path.write_bytes(bytes(range(256)) * 64)
    with pytest.raises(DocumentError, match="does not look like text"):
        read_document(path)


@pytest.mark.parametrize(
    "name, data, expected",
    [
        ("utf16-bom.txt", TEXT.encode("utf-16"), TEXT),
        ("utf16be-bom.txt", b"\xfe\xff" + TEXT.encode("utf-16-be"), TEXT),
        ("latin1.txt", TEXT.encode("latin-1"), TEXT),
    ],
)
def test_text_encodings(tmp_path, name, data, expected):
    (tmp_path / name).write_bytes(data)
    assert read_document(tmp_path / name) == expected


def test_invalid_utf8_is_read_not_refused(tmp_path):
    # UTF-8 text with a few bytes that are not UTF-8 (a truncated character, a stray 0xff).
    data = TEXT.encode("utf-8") + b" Sales rose \xff\xfe by 4%.\n\nThe end \xe2\x82 of it."
    (tmp_path / "broken.txt").write_bytes(data)
    text = read_document(tmp_path / "broken.txt")
    assert "Sales rose" in text and "The end" in text and "approved on Friday" in text


def test_pdf_without_a_text_layer(tmp_path):
    with pytest.raises(DocumentError, match="no text layer.*OCR"):
        read_document(_pdf(tmp_path / "scan.pdf", None))


@pytest.mark.parametrize("algorithm", ["RC4-128", "AES-256"])
def test_password_protected_pdf(tmp_path, algorithm):
    from pypdf import PdfWriter

    writer = PdfWriter(clone_from=_pdf(tmp_path / "plain.pdf", "The secret plan was approved."))
    writer.encrypt(user_password="secret", owner_password="owner", algorithm=algorithm)
    writer.write(tmp_path / "locked.pdf")
    with pytest.raises(DocumentError, match="protected by a password"):
        read_document(tmp_path / "locked.pdf")
    # Only an owner password (printing or copying restrictions): it opens without one.
    writer = PdfWriter(clone_from=tmp_path / "plain.pdf")
    writer.encrypt(user_password="", owner_password="owner", algorithm=algorithm)
    writer.write(tmp_path / "restricted.pdf")
    assert read_document(tmp_path / "restricted.pdf") == "The secret plan was approved."


def test_password_protected_docx(tmp_path):
    from msoffcrypto.format.ooxml import OOXMLFile

    plain = _docx(tmp_path / "plain.docx", "The secret plan was approved.")
    with open(plain, "rb") as source, open(tmp_path / "locked.docx", "wb") as out:
        OOXMLFile(source).encrypt("secret", out)
    with pytest.raises(DocumentError, match="protected by a password"):
        read_document(tmp_path / "locked.docx")
    assert read_document(plain) == "The secret plan was approved."


def test_old_word_document_renamed_docx(tmp_path):
    path = tmp_path / "old.docx"
    path.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(4000))  # an OLE container: a .doc
    with pytest.raises(DocumentError, match=r"old Word document \(\.doc\)"):
        read_document(path)


def test_file_deleted_before_it_is_read(tmp_path):
    with pytest.raises(DocumentError, match="no longer there"):
        read_document(tmp_path / "gone.txt")


@pytest.mark.parametrize("suffix", [".txt", ".pdf", ".docx"])
def test_file_that_disappears_while_being_opened(tmp_path, monkeypatch, suffix):
    path = tmp_path / f"vanishing{suffix}"
    path.write_bytes(b"whatever")
    real_open = builtins.open

    def open_after_it_vanished(file, *args, **kwargs):
        if Path(file) == path:
            path.unlink()  # deleted by someone else between choosing it and reading it
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(limits, "open", open_after_it_vanished, raising=False)
    with pytest.raises(DocumentError, match="no longer there: it was moved or deleted"):
        read_document(path)


def test_file_whose_drive_goes_away_while_being_read(tmp_path, monkeypatch):
    path = tmp_path / "on-usb-stick.txt"
    path.write_text(TEXT)
    real_open = builtins.open

    class DyingFile:
        def __init__(self, f):
            self.f = f

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()

        def fileno(self):
            return self.f.fileno()

        def read(self, *args):
            raise OSError(errno.EIO, os.strerror(errno.EIO))

    monkeypatch.setattr(
        limits, "open", lambda file, *a, **k: DyingFile(real_open(file, *a, **k)), raising=False
    )
    with pytest.raises(DocumentError, match="cannot be read: Input/output error.*still connected"):
        read_document(path)


def test_folder_with_a_document_name(tmp_path):
    (tmp_path / "notes.txt").mkdir()
    with pytest.raises(DocumentError, match="is a folder"):
        read_document(tmp_path / "notes.txt")


# -- the engine


@pytest.fixture(scope="module")
def summarizer(tiny_exports, tiny_checkpoint):
    return Summarizer.load(str(tiny_checkpoint), root=tiny_exports)


@pytest.mark.parametrize("text", ["", "   ", "\n\t \r\n"])
def test_empty_or_whitespace_text(summarizer, text):
    with pytest.raises(ValueError, match="no text to summarize"):
        summarizer.summarize(text)


@pytest.mark.parametrize(
    "options, message",
    [
        ({"num_beams": 0}, "num_beams"),
        ({"num_beams": -3}, "num_beams"),
        ({"max_length": 0}, "max_length"),
        ({"min_length": 40, "max_length": 10}, "min_length"),
        ({"length_penalty": "long"}, "length_penalty"),
        ({"no_repeat_ngram_size": -1}, "no_repeat_ngram_size"),
        ({"repetition_penalty": 0.0}, "repetition_penalty"),
        ({"do_sample": True, "temperature": 0.0}, "temperature"),
        ({"do_sample": True, "top_p": 1.5}, "top_p"),
        ({"do_sample": True, "top_k": -1}, "top_k"),
        ({"num_beams": 2, "num_return_sequences": 5}, "num_return_sequences"),
    ],
)
def test_generation_options_out_of_range(summarizer, options, message):
    with pytest.raises(ValueError, match=message):
        summarizer.summarize("w5 w6 w7 w8", GenerationOptions(**options))


def test_nonexistent_model_id_offline(tmp_path):
    with pytest.raises(OfflineError, match="not in the Hugging Face cache"):
        export("acme/no-such-pegasus", tmp_path)
    with pytest.raises(EngineError, match="No exported model"):
        Summarizer.load("acme/no-such-pegasus", root=tmp_path)


def test_nonexistent_model_id_on_the_hub(tmp_path):
    """A hub (here a local stand-in at HF_ENDPOINT) that answers 'no such repository'."""
    env = {**os.environ, "HF_HUB_OFFLINE": "0"}
    env.pop("HF_ENDPOINT", None)
    result = subprocess.run(
        children.command("hub_404", tmp_path / "models"),
        env=env,
        cwd=REPO,
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert (
        "There is no model called 'acme/no-such-pegasus' on the Hugging Face Hub" in result.stdout
    ), result
    assert (
        "request /api/models/acme/no-such-pegasus" in result.stderr
    )  # it asked HF_ENDPOINT, nothing else
    assert not (tmp_path / "models").exists()


def test_checkpoint_that_is_not_pegasus(tiny_checkpoint, tmp_path):
    other = tmp_path / "bart"
    shutil.copytree(tiny_checkpoint, other)
    config = json.loads((other / "config.json").read_text())
    (other / "config.json").write_text(json.dumps(config | {"model_type": "bart"}))
    with pytest.raises(EngineError, match="holds a 'bart' model, not a Pegasus one"):
        export(str(other), tmp_path / "models")
    (other / "config.json").unlink()
    with pytest.raises(EngineError, match="has no config.json"):
        export(str(other), tmp_path / "models")
    assert not (tmp_path / "models").exists()
