"""pegasus-summarize: export and summarize from the command line."""

from __future__ import annotations

import pytest

from engine import GenerationOptions, Summarizer
from engine.cli import main


def test_export_then_summarize_a_file(tiny_checkpoint, tmp_path, capsys):
    root = tmp_path / "models"
    assert main(["export", str(tiny_checkpoint), "--out", str(root), "--precision", "fp32"]) == 0
    assert "Exported" in capsys.readouterr().err
    article = tmp_path / "article.txt"
    article.write_text("w5 w6 w7 w8 w9", encoding="utf-16")
    code = main(["summarize", str(article), "--model", str(tiny_checkpoint), "--models-dir", str(root),
                 "--precision", "fp32", "--beams", "2", "--max-length", "12"])
    assert code == 0
    expected = Summarizer.load(str(tiny_checkpoint), precision="fp32", root=root).summarize(
        "w5 w6 w7 w8 w9", GenerationOptions(num_beams=2, max_length=12)
    )
    assert capsys.readouterr().out == expected.text + "\n"


def test_summarize_without_an_export_says_how_to_export(tmp_path, capsys):
    article = tmp_path / "a.txt"
    article.write_text("some text")
    assert main(["summarize", str(article), "--model", "acme/none", "--models-dir", str(tmp_path)]) == 1
    assert "pegasus-summarize export" in capsys.readouterr().err


def test_binary_file_is_refused(tiny_exports, tiny_checkpoint, tmp_path, capsys):
    blob = tmp_path / "blob.bin"
    blob.write_bytes(bytes(range(256)) * 4)
    assert main(["summarize", str(blob), "--model", str(tiny_checkpoint), "--models-dir", str(tiny_exports)]) == 1
    assert "binary" in capsys.readouterr().err


def test_bad_option_is_an_error_not_a_crash(tiny_exports, tiny_checkpoint, tmp_path, capsys):
    article = tmp_path / "a.txt"
    article.write_text("w5 w6")
    assert main(["summarize", str(article), "--model", str(tiny_checkpoint), "--models-dir", str(tiny_exports),
                 "--beams", "0"]) == 1
    assert "num_beams" in capsys.readouterr().err


def test_unknown_precision_is_rejected_by_the_parser(capsys):
    with pytest.raises(SystemExit):
        main(["export", "x", "--precision", "int4"])
