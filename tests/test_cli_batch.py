"""pegasus-summarize summarize FILE... | DIR: one summary per input, failures reported, long files
read whole, with the trained fixture model."""

from __future__ import annotations

import csv
import json

import pytest
from builders import TINY_PEGASUS

from engine import GenerationOptions, Summarizer
from engine.cli import main
from engine.long_document import summarize_document

EXAMPLES = [json.loads(line) for line in (TINY_PEGASUS / "heldout.jsonl").read_text().splitlines()]


@pytest.fixture
def run(trained_exports, capsys):
    """run(args...) -> (exit code, stdout, stderr), with the fixture model."""

    def run_(*args):
        code = main(["summarize", *map(str, args), "--model", str(TINY_PEGASUS),
                     "--models-dir", str(trained_exports)])
        out, err = capsys.readouterr()
        return code, out, err

    return run_


@pytest.fixture(scope="module")
def summarizer(trained_exports) -> Summarizer:
    return Summarizer.load(str(TINY_PEGASUS), root=trained_exports)


@pytest.fixture
def articles(tmp_path):
    """A folder of three held-out articles (.txt, .md, .html) and a file of another type."""
    folder = tmp_path / "articles"
    folder.mkdir()
    (folder / "a.txt").write_text(EXAMPLES[0]["article"], encoding="utf-8")
    (folder / "b.md").write_text(f"# News\n\n{EXAMPLES[1]['article']}", encoding="utf-8")
    (folder / "c.html").write_text(f"<html><body><p>{EXAMPLES[2]['article']}</p></body></html>")
    (folder / "notes.log").write_text("not an article")
    (folder / ".hidden.txt").write_text("hidden")
    return folder


def test_a_folder_to_a_folder_of_text_files(run, articles, tmp_path):
    out = tmp_path / "summaries"
    code, stdout, stderr = run(articles, "--out", out)
    assert code == 0 and stdout == ""
    written = sorted(p.name for p in out.iterdir())
    assert written == ["a.summary.txt", "b.summary.txt", "c.summary.txt"]
    for name, example in zip(written, EXAMPLES):
        assert (out / name).read_text(encoding="utf-8") == example["summary"] + "\n"
    assert "3/3" in stderr and "100%" in stderr  # the progress bar
    assert f"Summarized 3 of 3 files to {out}" in stderr


def test_markdown_files_carry_the_file_name(run, articles, tmp_path):
    out = tmp_path / "md"
    assert run(articles / "a.txt", articles / "b.md", "--out", out, "--format", "md")[0] == 0
    assert (out / "a.summary.md").read_text() == f"# a.txt\n\n{EXAMPLES[0]['summary']}\n"
    assert (out / "b.summary.md").read_text() == f"# b.md\n\n{EXAMPLES[1]['summary']}\n"


@pytest.mark.parametrize("table", ["out.csv", "out.jsonl"])
def test_one_table_with_times_and_token_counts(run, articles, tmp_path, summarizer, table):
    path = tmp_path / table
    assert run(articles / "a.txt", articles / "c.html", "--out", path)[0] == 0
    if table.endswith(".csv"):
        with path.open(encoding="utf-8", newline="") as f:
            rows = list(csv.DictReader(f))
    else:
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert [r["file"] for r in rows] == [str(articles / "a.txt"), str(articles / "c.html")]
    for row, example in zip(rows, (EXAMPLES[0], EXAMPLES[2])):
        expected = summarizer.summarize(example["article"])
        assert row["status"] == "ok" and row["summary"] == example["summary"] and row["error"] == ""
        assert float(row["seconds"]) > 0
        assert int(row["input_tokens"]) == expected.input_tokens
        assert int(row["summary_tokens"]) == expected.new_tokens and int(row["parts"]) == 1


def test_a_failure_is_reported_and_the_rest_go_on(run, articles, tmp_path):
    (articles / "broken.txt").write_bytes(bytes(range(256)) * 8)
    missing = tmp_path / "gone.txt"
    out = tmp_path / "out.csv"
    code, _, stderr = run(articles, missing, "--out", out)
    assert code == 1
    with out.open(encoding="utf-8", newline="") as f:
        rows = {r["file"]: r for r in csv.DictReader(f)}
    assert len(rows) == 5
    assert rows[str(articles / "broken.txt")]["status"] == "failed"
    assert "binary" in rows[str(articles / "broken.txt")]["error"]
    assert rows[str(missing)]["status"] == "failed" and rows[str(missing)]["error"]
    assert [r["summary"] for r in rows.values() if r["status"] == "ok"] == [
        e["summary"] for e in EXAMPLES[:3]
    ]
    assert "Summarized 3 of 5 files" in stderr and "2 failed" in stderr
    assert f"error: {articles / 'broken.txt'}" in stderr and str(missing) in stderr


def test_several_files_without_out_go_to_stdout_under_their_names(run, articles):
    code, stdout, _ = run(articles / "a.txt", articles / "b.md")
    assert code == 0
    assert stdout == (
        f"==> {articles / 'a.txt'} <==\n{EXAMPLES[0]['summary']}\n\n"
        f"==> {articles / 'b.md'} <==\n{EXAMPLES[1]['summary']}\n\n"
    )


def test_same_names_from_two_folders_do_not_overwrite_each_other(run, tmp_path):
    for folder, example in (("one", EXAMPLES[0]), ("two", EXAMPLES[1])):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "x.txt").write_text(example["article"])
    (tmp_path / "one" / "x.md").write_text(EXAMPLES[2]["article"])
    out = tmp_path / "out"
    assert run(tmp_path / "one" / "x.txt", tmp_path / "two" / "x.txt", tmp_path / "one" / "x.md",
               "--out", out)[0] == 0
    assert (out / "x.summary.txt").read_text().strip() == EXAMPLES[0]["summary"]
    assert (out / "x.txt.summary.txt").read_text().strip() == EXAMPLES[1]["summary"]
    assert (out / "x.md.summary.txt").read_text().strip() == EXAMPLES[2]["summary"]


def long_article() -> str:
    fillers = [s for e in EXAMPLES[100:130] for s in e["article"].split(". ") if "Top story" not in s]
    sections = [" ".join([EXAMPLES[i]["article"], *(f.rstrip(".") + "." for f in fillers[12 * i : 12 * i + 12])])
                for i in range(3)]
    return "\n\n".join(sections)


def test_one_long_file_is_summarized_whole_with_its_parts_on_stderr(run, tmp_path, summarizer):
    path = tmp_path / "long.txt"
    path.write_text(long_article())
    code, stdout, stderr = run(path)
    expected = summarize_document(summarizer, long_article())
    assert code == 0 and expected.parts == 3
    assert stdout == expected.text + "\n"
    for chunk in expected.chunks:
        assert f"[part {chunk.index + 1}/3] {chunk.text}" in stderr
    code, stdout, stderr = run(path, "--beginning-only")
    assert code == 0 and stdout == summarizer.summarize(long_article()).text + "\n"
    assert "reads the first 256" in stderr and "[part" not in stderr


def test_the_batch_progress_names_the_part_being_read(run, tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "long.txt").write_text(long_article())
    code, _, stderr = run(tmp_path / "in", "--out", tmp_path / "out")
    assert code == 0 and "long.txt: part 3/3" in stderr


def test_an_interrupted_batch_keeps_the_rows_it_finished(run, articles, tmp_path, monkeypatch):
    calls = []
    real = Summarizer.summarize_batch

    def interrupted(self, texts, *args, **kwargs):
        calls.append(texts)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(self, texts, *args, **kwargs)

    monkeypatch.setattr(Summarizer, "summarize_batch", interrupted)
    out = tmp_path / "out.jsonl"
    code, _, stderr = run(articles, "--out", out, "--batch-size", "1")
    assert code == 130 and "cancelled" in stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    # One file was done (the longest first); its row is kept, and the rows follow the files' order.
    assert len(rows) == 1 and rows[0]["status"] == "ok"
    assert rows[0]["summary"] in [e["summary"] for e in EXAMPLES[:3]]


def test_the_batch_size_changes_no_summary_and_keeps_the_order(run, articles, tmp_path):
    for n, example in enumerate(EXAMPLES[3:12]):
        (articles / f"d{n}.txt").write_text(example["article"])
    tables = {}
    for size in ("1", "3", "8"):
        out = tmp_path / f"out{size}.jsonl"
        code, _, stderr = run(articles, "--out", out, "--batch-size", size)
        assert code == 0 and "12/12" in stderr
        tables[size] = [json.loads(line) for line in out.read_text().splitlines()]
    files = [r["file"] for r in tables["1"]]
    assert files == sorted(files, key=lambda f: f.rsplit("/", 1)[-1].lower())  # the folder's order
    for size in ("3", "8"):
        assert [(r["file"], r["summary"], r["input_tokens"], r["summary_tokens"]) for r in tables[size]] == [
            (r["file"], r["summary"], r["input_tokens"], r["summary_tokens"]) for r in tables["1"]
        ]
    with pytest.raises(SystemExit):
        run(articles, "--batch-size", "0")


def test_nothing_to_read_and_stdin_in_a_batch_are_errors(run, tmp_path):
    (tmp_path / "empty").mkdir()
    code, _, stderr = run(tmp_path / "empty", "--out", tmp_path / "out")
    assert code == 1 and "no files to summarize" in stderr
    code, _, stderr = run("-", tmp_path / "x.txt")
    assert code == 1 and "stdin" in stderr


def test_bad_options_fail_before_any_file_is_written(run, articles, tmp_path):
    out = tmp_path / "out"
    code, _, stderr = run(articles, "--out", out, "--beams", "0")
    assert code == 1 and "num_beams" in stderr and not out.exists()


def test_a_docx_in_a_folder_is_read_with_the_app_reader(run, tmp_path, summarizer):
    import docx

    (tmp_path / "in").mkdir()
    document = docx.Document()
    document.add_paragraph(EXAMPLES[3]["article"])
    document.save(str(tmp_path / "in" / "memo.docx"))
    code, stdout, _ = run(tmp_path / "in")
    assert code == 0 and EXAMPLES[3]["summary"] in stdout
    assert summarizer.summarize(EXAMPLES[3]["article"], GenerationOptions()).text == EXAMPLES[3]["summary"]
