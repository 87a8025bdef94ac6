"""Long documents on the Summary page (whole or beginning only) and the Batch view: queue, drop,
run on the worker thread, failures, cancel, export. With the trained fixture model."""

from __future__ import annotations

import csv
import errno
import gc
import json
import sys
import threading
from pathlib import Path
from unittest import mock

from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent
from test_app_window import hold_at, slow_down
from test_long_document import EXAMPLES, long_document

from engine import Summarizer
from engine.batch import SummaryTable
from engine.files import human_duration
from engine.long_document import summarize_document
from pegasus_desktop.batch import CANCELLED, DONE, FAILED, QUEUED
from pegasus_desktop.settings import load_settings


def engine_for(app_checkpoint, app_exports) -> Summarizer:
    return Summarizer.load(str(app_checkpoint), precision="int8", root=app_exports)


# -- long documents on the Summary page


def test_a_long_article_is_summarized_whole_part_by_part(
    qtbot, loaded_window, app_checkpoint, app_exports
):
    window = loaded_window
    text, stories = long_document(3)
    assert window.page.options.document_mode() == "whole"
    notes, partials, chunks = [], [], []
    window.engine.chunk.connect(lambda request, chunk: notes.append(window.page.summary_note.text()))
    window.engine.chunk.connect(lambda request, chunk: chunks.append(chunk))
    window.engine.partial.connect(lambda request, text: partials.append(text))
    window.page.input.setPlainText(text)
    with qtbot.waitSignal(window.engine.finished, timeout=30_000) as finished:
        window.summarize()
    summary = finished.args[1]
    expected = summarize_document(engine_for(app_checkpoint, app_exports), text)
    assert summary.text == expected.text == "\n\n".join(stories)
    assert window.page.output.toPlainText() == summary.text
    assert [(c.index, c.count) for c in chunks if c.summary is not None] == [(0, 3), (1, 3), (2, 3)]
    assert "Summarizing part 3 of 3…" in notes  # shown while the last part was read
    assert any(p.startswith(stories[0] + "\n\n") for p in partials)  # part 1 stays while 2 grows
    assert window.page.summary_note.text() == "Read in 3 parts, each summarized."
    assert "3 parts" in window.status.text()


def test_beginning_only_is_a_persisted_choice(
    qtbot, make_window, settings_for, app_checkpoint, app_exports
):
    window = make_window(settings_for(document_mode="beginning"))
    qtbot.waitUntil(lambda: window.model is not None, timeout=20_000)
    assert window.page.options.document_mode() == "beginning"
    text, _ = long_document(3)
    window.page.input.setPlainText(text)
    with qtbot.waitSignal(window.engine.finished, timeout=30_000) as finished:
        window.summarize()
    assert finished.args[1].text == engine_for(app_checkpoint, app_exports).summarize(text).text
    assert window.page.summary_note.text().startswith("Only the first 256 of")
    window.page.options.set_document_mode("whole")
    window.save()
    assert load_settings().document_mode == "whole"
    window.page.options.set_document_mode("beginning")
    window.close()
    assert load_settings().document_mode == "beginning"


def test_cancel_between_the_parts_of_a_long_article(qtbot, loaded_window, monkeypatch):
    window = loaded_window
    hold = hold_at(window, monkeypatch, part=2, step=1)  # part 1 done, part 2 begun
    done = []
    window.engine.chunk.connect(lambda r, chunk: chunk.summary is not None and done.append(chunk))
    window.page.input.setPlainText(long_document(3)[0])
    window.summarize()
    try:
        qtbot.waitUntil(lambda: hold.reached.is_set() and len(done) == 1, timeout=60_000)
        with qtbot.waitSignal(window.engine.cancelled, timeout=60_000):
            window.cancel_action.trigger()
            hold.release()
    finally:
        hold.release()
    assert len(done) == 1  # the part being read stops within a step; no part starts after
    assert hold.steps[-1] in ((2, 1), (2, 2)), hold.steps[-3:]
    assert "Cancelled" in window.page.summary_note.text()
    assert window.page.output.toPlainText().startswith(done[0].text)


# -- the Batch view


def make_folder(tmp_path):
    folder = tmp_path / "articles"
    folder.mkdir()
    for i, name in enumerate(("a.txt", "b.md", "c.html")):
        body = EXAMPLES[i]["article"]
        (folder / name).write_text(f"<p>{body}</p>" if name.endswith("html") else body)
    (folder / "broken.txt").write_bytes(bytes(range(256)) * 8)
    (folder / "notes.log").write_text("not a document")
    return folder


def run_batch(qtbot, window):
    batch = window.batch
    assert batch.start_button.isEnabled()
    with qtbot.waitSignal(batch.running_changed, timeout=5_000):
        qtbot.mouseClick(batch.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not batch.queue.running, timeout=60_000)


def test_a_folder_is_queued_summarized_on_the_worker_and_shown(
    qtbot, loaded_window, tmp_path, monkeypatch
):
    window = loaded_window
    window.batch_view_action.trigger()
    assert window.stack.currentWidget() is window.batch
    summarizer = window.engine.worker.summarizer
    threads = set()
    real = summarizer.summarize

    def recording(*args, **kwargs):
        threads.add(threading.current_thread())
        return real(*args, **kwargs)

    monkeypatch.setattr(summarizer, "summarize", recording)
    messages = []
    window.batch.message.connect(messages.append)
    window.batch.add_paths([make_folder(tmp_path)])
    table = window.batch.table
    assert [table.item(r, 0).text() for r in range(table.rowCount())] == [
        "a.txt", "b.md", "broken.txt", "c.html"
    ]
    suffixes = ".txt, .text, .md, .markdown, .html, .htm, .pdf, .docx"
    assert messages == [f"Added 4 files; skipped 1 (already queued, missing, or not {suffixes})."]
    run_batch(qtbot, window)
    items = window.batch.queue.items
    assert [i.status for i in items] == [DONE, DONE, FAILED, DONE]
    assert [i.summary.text for i in items if i.summary] == [e["summary"] for e in EXAMPLES[:3]]
    assert "does not look like text" in items[2].detail
    assert table.item(0, 1).text() == "Done" and table.item(0, 2).text() == human_duration(items[0].summary.seconds)
    assert table.item(2, 1).text().startswith("Failed: ") and table.item(2, 2).text() == ""
    assert window.batch.progress.text() == "4 of 4 done · 1 failed"
    table.selectRow(1)
    assert window.batch.preview.toPlainText() == EXAMPLES[1]["summary"]
    table.selectRow(2)
    assert "does not look like text" in window.batch.preview.toPlainText()
    assert threads and threading.main_thread() not in threads  # the engine ran on the worker
    assert window.engine.worker.summarizer is summarizer  # the same long-lived model
    assert window.summarize_action.isEnabled()


def test_drop_files_and_folders_onto_the_batch_view(qtbot, loaded_window, tmp_path):
    folder = make_folder(tmp_path)
    extra = tmp_path / "extra.txt"
    extra.write_text(EXAMPLES[5]["article"])
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(folder)), QUrl.fromLocalFile(str(extra))])
    event = QDropEvent(
        QPointF(10, 10), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    loaded_window.batch.dropEvent(event)
    names = [i.path.name for i in loaded_window.batch.queue.items]
    assert names == ["a.txt", "b.md", "broken.txt", "c.html", "extra.txt"]
    loaded_window.batch.dropEvent(event)  # the same files again: already queued
    assert len(loaded_window.batch.queue.items) == 5


def test_cancel_a_batch_then_resume_it(qtbot, loaded_window, tmp_path, monkeypatch):
    window = loaded_window
    hold = hold_at(window, monkeypatch)  # the first item is under way until the click
    folder = make_folder(tmp_path)
    (folder / "broken.txt").unlink()
    window.batch.add_paths([folder])
    window.batch.queue.start()
    assert not window.summarize_action.isEnabled()  # one job at a time on the worker
    assert not window.page.summarize_button.isEnabled()
    try:
        qtbot.waitUntil(
            lambda: hold.reached.is_set() and window.batch.cancel_button.isEnabled(),
            timeout=60_000,
        )
        with qtbot.waitSignal(window.batch.running_changed, timeout=60_000) as stopped:
            qtbot.mouseClick(window.batch.cancel_button, Qt.MouseButton.LeftButton)
            hold.release()
    finally:
        hold.release()
    assert stopped.args == [False]
    statuses = [i.status for i in window.batch.queue.items]
    assert CANCELLED in statuses and statuses.count(QUEUED) >= 1 and "Summarizing" not in statuses
    assert window.summarize_action.isEnabled()
    run_batch(qtbot, window)
    assert [i.status for i in window.batch.queue.items] == [DONE, DONE, DONE]


def test_a_summary_running_disables_the_batch_start(qtbot, loaded_window, tmp_path, monkeypatch):
    window = loaded_window
    slow_down(window, monkeypatch)
    window.batch.add_paths([make_folder(tmp_path)])
    assert window.batch.start_button.isEnabled()
    window.page.input.setPlainText(EXAMPLES[0]["article"])
    with qtbot.waitSignal(window.engine.finished, timeout=30_000):
        window.summarize()
        assert not window.batch.start_button.isEnabled()
    assert window.batch.start_button.isEnabled()


def test_export_all_to_a_folder_and_to_csv(qtbot, loaded_window, tmp_path, shown_errors):
    window = loaded_window
    window.batch.add_paths([make_folder(tmp_path)])
    assert not window.batch.export_button.isEnabled()
    run_batch(qtbot, window)
    assert [a.text() for a in window.batch.export_menu.actions()] == [
        "Text files in a folder…", "Markdown files in a folder…", "One CSV file…",
        "One JSON Lines file…",
    ]
    out = tmp_path / "summaries"
    assert window.batch.export(out, "md")
    assert sorted(p.name for p in out.iterdir()) == ["a.summary.md", "b.summary.md", "c.summary.md"]
    assert (out / "b.summary.md").read_text() == f"# b.md\n\n{EXAMPLES[1]['summary']}\n"
    table = tmp_path / "all.csv"
    assert window.batch.export(table, "csv")
    with table.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [(r["status"], r["summary"]) for r in rows] == [
        ("ok", EXAMPLES[0]["summary"]), ("ok", EXAMPLES[1]["summary"]), ("failed", ""),
        ("ok", EXAMPLES[2]["summary"]),
    ]
    assert all(float(r["seconds"]) > 0 and int(r["input_tokens"]) > 0 for r in rows if r["status"] == "ok")
    exported = table.read_bytes()
    full_disk = OSError(errno.ENOSPC, "No space left on device")
    with mock.patch.object(SummaryTable, "write", side_effect=[table, full_disk]):
        assert not window.batch.export(table, "csv")
    assert shown_errors[-1][0] == "Not exported"
    assert table.read_bytes() == exported, "a failed export leaves the earlier file as it was"
    assert sorted(p.name for p in tmp_path.glob("*.csv")) == ["all.csv"], "and no partial file"
    lines = tmp_path / "all.jsonl"
    assert window.batch.export(lines, "jsonl")
    assert json.loads(lines.read_text().splitlines()[3])["summary"] == EXAMPLES[2]["summary"]
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    assert not window.batch.export(blocker / "inside", "txt")
    assert shown_errors and shown_errors[-1][0] == "Not exported"


def test_emitting_signals_does_not_wear_out_true(qtbot, loaded_window, tmp_path):
    """PySide6 6.12.0's emit() drops a reference to True each call; a process has a few thousand,
    then CPython aborts. The app's emits give it back, so a long batch cannot crash the app."""
    window = loaded_window
    for i in range(40):
        (tmp_path / f"{i:02}.txt").write_text(EXAMPLES[i]["article"])
    window.batch.add_paths([tmp_path])
    gc.collect()  # garbage freed during the batch would lower the count without any emit
    before = sys.getrefcount(True)
    run_batch(qtbot, window)
    gc.collect()
    assert [i.status for i in window.batch.queue.items] == [DONE] * 40
    emitted = sum(i.summary.new_tokens for i in window.batch.queue.items)  # a partial each step
    assert emitted >= 400
    assert sys.getrefcount(True) > before - 50


def test_the_app_emits_signals_only_through_the_helper():
    """Any ``signal.emit(...)`` written in the app would drop a reference to True each call."""
    import pegasus_desktop

    direct = [
        f"{path.name}:{number}"
        for path in sorted(Path(pegasus_desktop.__file__).parent.glob("*.py"))
        if path.name != "signals.py"
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if ".emit(" in line
    ]
    assert direct == []
