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


def test_beams_1_is_greedy_search_with_copy_drafting_as_its_help_says(trained_exports, tmp_path, capsys,
                                                                      monkeypatch):
    import json

    from builders import TINY_PEGASUS

    from engine.model import OnnxPegasus
    from engine.summarizer import DRAFT_TOKENS

    with pytest.raises(SystemExit):
        main(["summarize", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "1 is greedy search with copy drafting" in help_text
    assert "the same tokens as plain greedy search" in help_text

    text = json.loads((TINY_PEGASUS / "heldout.jsonl").read_text().splitlines()[0])["article"]
    article = tmp_path / "article.txt"
    article.write_text(text)
    seen, real = [], OnnxPegasus.generate

    def spy(self, *args, options=None, **kwargs):
        seen.append(options)
        return real(self, *args, options=options, **kwargs)

    monkeypatch.setattr(OnnxPegasus, "generate", spy)
    assert main(["summarize", str(article), "--model", str(TINY_PEGASUS), "--models-dir", str(trained_exports),
                 "--beams", "1"]) == 0
    assert seen and all(o.num_beams == 1 and o.prompt_lookup_num_tokens == DRAFT_TOKENS for o in seen)
    with Summarizer.load(str(TINY_PEGASUS), root=trained_exports) as summarizer:
        plain = summarizer.summarize(text, GenerationOptions(num_beams=1, prompt_lookup_num_tokens=0))
    assert capsys.readouterr().out == plain.text + "\n"  # plain greedy's summary, token for token


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


def test_a_missing_file_is_named_plainly(tiny_exports, tiny_checkpoint, tmp_path, capsys):
    missing = tmp_path / "artcle.txt"
    assert main(["summarize", str(missing), "--model", str(tiny_checkpoint), "--models-dir", str(tiny_exports)]) == 1
    assert capsys.readouterr().err == f"error: {missing}: No such file or directory\n"


def test_bad_option_is_an_error_not_a_crash(tiny_exports, tiny_checkpoint, tmp_path, capsys):
    article = tmp_path / "a.txt"
    article.write_text("w5 w6")
    assert main(["summarize", str(article), "--model", str(tiny_checkpoint), "--models-dir", str(tiny_exports),
                 "--beams", "0"]) == 1
    assert "num_beams" in capsys.readouterr().err


def test_unknown_precision_is_rejected_by_the_parser(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["export", "x", "--precision", "int4"])
    assert exit_.value.code == 2  # argparse's usage error
    assert "invalid choice: 'int4'" in capsys.readouterr().err


def _huge_text_file(path, size: int):
    with open(path, "wb") as f:
        f.truncate(size)  # sparse: the size without writing it
        f.seek(0)
        f.write(b"The council met on Monday. " * 100)
    return path


def test_a_50_mb_file_is_refused_unread_with_the_apps_message(tmp_path, capsys):
    import tracemalloc

    huge = _huge_text_file(tmp_path / "huge.txt", 50 * 1000 * 1000)
    tracemalloc.start()
    try:
        code = main(["summarize", str(huge), "--model", "acme/none", "--models-dir", str(tmp_path)])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    err = capsys.readouterr().err
    assert code == 1
    assert "“huge.txt” holds 50.0 MB of text, more than the 1 million characters" in err
    assert "Split it into parts" in err and "pegasus-summarize export" not in err  # before the model
    assert peak < 1_000_000, peak  # not read


def test_text_over_the_character_limit_is_refused_after_decoding(tmp_path, capsys):
    from engine.documents import MAX_TEXT_CHARS, MAX_TEXT_FILE_BYTES

    long = tmp_path / "long.txt"
    long.write_text("The council met on Monday and agreed. " * (MAX_TEXT_CHARS // 38 + 100))
    assert long.stat().st_size < MAX_TEXT_FILE_BYTES
    assert main(["summarize", str(long), "--model", "acme/none", "--models-dir", str(tmp_path)]) == 1
    assert "“long.txt” holds 1.0 million characters of text, more than" in capsys.readouterr().err


def test_too_much_text_on_stdin_is_refused(tmp_path, monkeypatch, capsys):
    import io
    import types

    monkeypatch.setattr("sys.stdin", types.SimpleNamespace(buffer=io.BytesIO(b"word " * 1_000_000)))
    assert main(["summarize", "-", "--model", "acme/none", "--models-dir", str(tmp_path)]) == 1
    assert "“standard input” holds 4.0 MB of text, more than" in capsys.readouterr().err


def test_reading_files_for_the_cli_does_not_import_qt(tmp_path):
    import subprocess

    huge = _huge_text_file(tmp_path / "huge.txt", 50 * 1000 * 1000)
    (tmp_path / "ok.txt").write_text("The council met on Monday.")
    import children

    result = subprocess.run(children.command("cli_read_text", tmp_path / "ok.txt", huge), env=children.env(),
                            check=False, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    refusal, qt_modules = result.stdout.splitlines()[-2:]
    assert "“huge.txt” holds 50.0 MB of text" in refusal and qt_modules == "[]"


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16", "utf-16-be", "utf-32", "utf-32-be"])
def test_text_with_any_unicode_bom_is_read_as_the_app_reads_it(tmp_path, encoding):
    """A UTF-32 file's BOM begins with UTF-16's: the CLI once read such a file as '\\x00S\\x00u…'."""
    from engine.cli import read_text
    from engine.documents import decode_text

    text = "Summaries copy: «déjà vu» — 42 €."
    data = text.encode(encoding)
    if encoding.endswith("-be"):
        data = {"utf-16-be": b"\xfe\xff", "utf-32-be": b"\x00\x00\xfe\xff"}[encoding] + data
    path = tmp_path / "article.txt"
    path.write_bytes(data)
    assert read_text(str(path)) == text == decode_text(data)


def test_a_cancelled_generation_exits_130_and_says_cancelled(monkeypatch, capsys):
    """GenerationCancelled is an EngineError: it must not be reported as an error (exit 1)."""
    import engine.cli as cli
    from engine.errors import GenerationCancelled

    def cancelled(args):
        raise GenerationCancelled("stopped")

    parser = cli.build_parser()
    args = parser.parse_args(["summarize", "-"])
    args.run = cancelled
    monkeypatch.setattr(cli, "build_parser", lambda: type("P", (), {"parse_args": lambda self, argv: args})())
    assert cli.main(["summarize", "-"]) == 130
    assert capsys.readouterr().err.strip() == "cancelled"
