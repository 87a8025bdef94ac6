"""History: every finished summary is kept in SQLite (WAL, user_version, a transaction per write)
with its source, model, precision, options, time and date; the History view lists them newest
first, searches, reopens one on the Summary page, copies, exports (txt/md/CSV/JSONL) and deletes;
it survives a restart and a crash; a damaged or newer database is set aside with a message and
the app still starts and summarizes."""

from __future__ import annotations

import csv
import json
import sqlite3
import stat
import subprocess
from datetime import datetime, timezone
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QFileDialog, QMessageBox
from test_app_summary_pane import second_article, summarize

from pegasus_desktop.history import (
    SCHEMA_VERSION,
    HistoryStore,
    QueueRow,
    first_words,
    history_path,
)


def entry_values(**overrides) -> dict:
    values = dict(
        kind="text", source="An article", article="An article.", summary="A summary.",
        model_id="google/pegasus-xsum", precision="int8", options={"num_beams": 2}, mode="whole",
        seconds=1.5, input_tokens=10, summary_tokens=4, new_tokens=5, parts=1, truncated=False,
    )
    values.update(overrides)
    return values


def history_window(qtbot, window):
    window.history_view_action.trigger()
    assert window.stack.currentWidget() is window.history_view
    view = window.history_view
    view.refresh()
    return view


def double_click(qtbot, table, row: int) -> None:
    """As a user does: a press, then the double-click (Qt opens only an item pressed first)."""
    where = table.visualRect(table.model().index(row, 0)).center()
    qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, pos=where)
    qtbot.mouseDClick(table.viewport(), Qt.MouseButton.LeftButton, pos=where)


def column(view, index: int) -> list[str]:
    return [view.table.item(r, index).text() for r in range(view.table.rowCount())]


# -- the database


def test_the_database_is_wal_versioned_and_writes_in_one_transaction(user_dirs):
    store = HistoryStore()
    assert store.path == history_path() and str(store.path).startswith(str(user_dirs))
    assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION >= 1
    statements = []
    store.db.set_trace_callback(statements.append)
    store.add(**entry_values())
    assert statements[0] == "BEGIN IMMEDIATE" and statements[-1] == "COMMIT"
    assert sum(s.startswith("INSERT") for s in statements) == 1
    # A write that fails half-way changes nothing: the queue is the old one, never half a new one.
    store.save_queue([QueueRow(Path("/a.txt"), "Done", "", 1)])
    with pytest.raises(sqlite3.IntegrityError):
        store.save_queue([QueueRow(Path("/b.txt"), "Queued"), QueueRow(Path("/c.txt"), None)])
    assert store.load_queue() == [QueueRow(Path("/a.txt"), "Done", "", 1)]
    assert not store.db.in_transaction
    store.close()


def test_a_summary_written_survives_a_crash_of_the_process(user_dirs, tmp_path):
    """A child process stores a summary and dies without closing anything (os._exit)."""
    import children

    result = subprocess.run(children.command("history_crash"), env=children.env(), timeout=60)
    assert result.returncode == 9
    store = HistoryStore()
    assert [e.summary for e in store.search()] == ["Kept after a crash."]
    assert store.problem == ""


def test_search_is_newest_first_and_matches_source_summary_or_article(user_dirs):
    store = HistoryStore()
    day = datetime(2026, 11, 3, 9, 0, tzinfo=timezone.utc)
    store.add(**entry_values(source="/docs/budget.txt", kind="file", summary="Taxes rise."),
              created=day.replace(day=1).isoformat())
    store.add(**entry_values(source="Pasted words", summary="Rain in Vienna.", article="100% wet"),
              created=day.replace(day=3).isoformat())
    store.add(**entry_values(source="Other", summary="Bikes sold.", article="David sold bikes."),
              created=day.replace(day=2).isoformat())
    assert [e.summary for e in store.search()] == ["Rain in Vienna.", "Bikes sold.", "Taxes rise."]
    assert [e.summary for e in store.search("BUDGET")] == ["Taxes rise."]  # the file's name
    assert [e.summary for e in store.search("vienna")] == ["Rain in Vienna."]  # the summary
    assert [e.summary for e in store.search("david")] == ["Bikes sold."]  # the article
    assert [e.summary for e in store.search("100%")] == ["Rain in Vienna."]  # % is literal
    assert store.search("_") == []  # and so is _
    assert first_words("one two three", 2) == "one two…"


# -- the app keeps every summary


def test_every_summary_is_kept_with_its_source_model_options_time_and_date(
    qtbot, loaded_window, article, app_checkpoint, tmp_path
):
    window = loaded_window
    before = datetime.now(timezone.utc).replace(microsecond=0)
    text = summarize(qtbot, window, article)
    opened = tmp_path / "second story.txt"
    opened.write_text(second_article(app_checkpoint), encoding="utf-8")
    window.open_path(opened)
    qtbot.waitUntil(lambda: window.opened_file == opened, timeout=10_000)
    second = summarize(qtbot, window, window.page.input.toPlainText())
    newest, oldest = window.history.search()
    assert (oldest.kind, oldest.source, oldest.summary, oldest.article) == (
        "text", first_words(article), text, article
    )
    assert (newest.kind, newest.source, newest.summary) == ("file", str(opened), second)
    options = window.page.options.options()
    for entry in (oldest, newest):
        assert (entry.model_id, entry.precision, entry.mode) == (str(app_checkpoint), "int8", "whole")
        assert entry.options["num_beams"] == options.num_beams
        assert entry.options["max_length"] == options.max_length
        assert entry.seconds > 0 and entry.input_tokens > 0 and entry.new_tokens > 0
        assert before <= datetime.fromisoformat(entry.created) <= datetime.now(timezone.utc)
    view = history_window(qtbot, window)
    assert column(view, 1) == ["second story.txt", first_words(article)]
    assert column(view, 2) == [app_checkpoint.name] * 2
    assert column(view, 3) == [second, text]
    assert view.count.text() == "2 summaries."


def test_search_in_the_view_filters_the_list(qtbot, loaded_window, article, app_checkpoint):
    window = loaded_window
    first = summarize(qtbot, window, article)
    second = summarize(qtbot, window, second_article(app_checkpoint))
    view = history_window(qtbot, window)
    word = next(w for w in second.split() if len(w) > 3 and w.lower() not in first.lower())
    qtbot.keyClicks(view.search, word)
    qtbot.waitUntil(lambda: column(view, 3) == [second], timeout=5_000)
    assert view.count.text() == "1 of 2 summaries match."
    view.search.clear()
    qtbot.waitUntil(lambda: column(view, 3) == [second, first], timeout=5_000)


def test_reopen_puts_the_summary_back_beside_its_article(
    qtbot, loaded_window, article, app_checkpoint
):
    window = loaded_window
    first = summarize(qtbot, window, article)
    summarize(qtbot, window, second_article(app_checkpoint))
    view = history_window(qtbot, window)
    view.table.selectRow(1)  # the older one
    assert view.preview.toPlainText() == first
    assert view.open_button.isEnabled()
    qtbot.mouseClick(view.open_button, Qt.MouseButton.LeftButton)
    assert window.tabs.currentIndex() == 0 and window.stack.currentWidget() is window.page
    assert window.page.input.toPlainText() == article
    assert window.page.output.toPlainText() == first
    assert window.page.summary_note.text().startswith("From History: ")
    assert window.page.has_current_summary()  # about the article beside it: Copy works
    window.copy_summary()
    assert QGuiApplication.clipboard().text() == first
    # Double-click does the same.
    window.history_view_action.trigger()
    double_click(qtbot, view.table, 0)
    assert window.page.input.toPlainText() == second_article(app_checkpoint)


def test_copy_the_selected_summaries(qtbot, loaded_window, article, app_checkpoint):
    window = loaded_window
    first = summarize(qtbot, window, article)
    second = summarize(qtbot, window, second_article(app_checkpoint))
    view = history_window(qtbot, window)
    assert not view.copy_button.isEnabled()  # nothing selected
    view.table.selectAll()
    qtbot.mouseClick(view.copy_button, Qt.MouseButton.LeftButton)
    assert QGuiApplication.clipboard().text() == f"{second}\n\n{first}"


@pytest.mark.parametrize("fmt", ["txt", "md", "csv", "jsonl"])
def test_export_in_each_format(qtbot, loaded_window, article, app_checkpoint, tmp_path, monkeypatch, fmt):
    window = loaded_window
    first = summarize(qtbot, window, article)
    second = summarize(qtbot, window, second_article(app_checkpoint))
    view = history_window(qtbot, window)
    offered = []

    def save_as(parent, caption, start, filters):
        offered.append((start, filters))
        return str(tmp_path / "out"), filters  # the suffix is added

    monkeypatch.setattr(QFileDialog, "getSaveFileName", save_as)
    action = next(a for a in view.export_menu.actions() if a.text().lower().startswith(
        {"txt": "text", "md": "markdown", "csv": "csv", "jsonl": "json lines"}[fmt]))
    action.trigger()  # nothing selected: every summary listed, newest first
    target = tmp_path / f"out.{fmt}"
    assert offered and offered[0][0].endswith(f"summaries.{fmt}")
    written = target.read_text(encoding="utf-8")
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~current_umask()
    if fmt == "txt":
        assert written.index(second) < written.index(first) and first_words(article) in written
    elif fmt == "md":
        assert written.startswith("## ") and f"## {first_words(article)}" in written
        assert written.index(second) < written.index(first)
    elif fmt == "csv":
        rows = list(csv.DictReader(written.splitlines()))
        assert [r["summary"] for r in rows] == [second, first]
        assert rows[1]["source"] == first_words(article) and rows[1]["precision"] == "int8"
        assert rows[1]["model_id"] == str(app_checkpoint) and float(rows[1]["seconds"]) > 0
    else:
        rows = [json.loads(line) for line in written.splitlines()]
        assert [r["summary"] for r in rows] == [second, first]
        assert rows[1]["article"] == article and rows[1]["options"]["num_beams"] >= 1
    # The selection alone, when there is one.
    view.table.selectRow(1)
    assert view.export([*view.selected()], tmp_path / f"one.{fmt}", fmt)
    one = (tmp_path / f"one.{fmt}").read_text(encoding="utf-8")
    assert first in one and second not in one


def current_umask() -> int:
    import os

    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def test_delete_asks_then_removes_the_selected_summaries(
    qtbot, loaded_window, article, app_checkpoint, monkeypatch
):
    window = loaded_window
    first = summarize(qtbot, window, article)
    second = summarize(qtbot, window, second_article(app_checkpoint))
    view = history_window(qtbot, window)
    assert not view.delete_button.isEnabled()
    view.table.selectRow(0)
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.No)
    qtbot.mouseClick(view.delete_button, Qt.MouseButton.LeftButton)
    assert column(view, 3) == [second, first]
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    qtbot.mouseClick(view.delete_button, Qt.MouseButton.LeftButton)
    assert column(view, 3) == [first]
    assert [e.summary for e in window.history.search()] == [first]
    assert view.count.text() == "1 summary."


def test_history_survives_a_restart(qtbot, make_window, settings_for, article):
    window = make_window(settings_for())
    qtbot.waitUntil(lambda: window.model is not None, timeout=20_000)
    text = summarize(qtbot, window, article)
    window.close()
    again = make_window(settings_for())
    view = history_window(qtbot, again)
    assert column(view, 3) == [text]
    view.table.selectRow(0)
    view.open_selected()
    assert again.page.input.toPlainText() == article and again.page.output.toPlainText() == text


# -- a database that cannot be used is set aside, never lost, never a crash


def damaged_database(path: Path) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = b"this is not an SQLite database, just some damaged bytes" * 100
    path.write_bytes(data)
    return data


def newer_database(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE future (x)")
    db.execute("INSERT INTO future VALUES ('kept')")
    db.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    db.commit()
    db.close()


@pytest.mark.parametrize("kind", ["damaged", "newer"])
def test_an_unusable_database_is_set_aside_with_a_message_and_the_app_starts(
    qtbot, make_window, settings_for, article, shown_errors, kind
):
    path = history_path()
    if kind == "damaged":
        data = damaged_database(path)
    else:
        newer_database(path)
    window = make_window(settings_for())
    qtbot.waitUntil(lambda: bool(shown_errors), timeout=10_000)
    title, message, _ = shown_errors[0]
    assert title == "History was set aside"
    aside = window.history.set_aside
    assert aside is not None and aside.name.startswith(f"history-{kind}-") and aside.is_file()
    assert aside.name in message and str(aside.parent) in message
    assert "a new, empty History was started" in message
    if kind == "damaged":
        assert "damaged" in message and aside.read_bytes() == data
    else:
        assert "newer version of the app" in message
        old = sqlite3.connect(aside)
        assert old.execute("SELECT x FROM future").fetchall() == [("kept",)]
        old.close()
    # The app works, and keeps new summaries in the new database.
    qtbot.waitUntil(lambda: window.model is not None, timeout=20_000)
    text = summarize(qtbot, window, article)
    assert [e.summary for e in window.history.search()] == [text]
    assert len(shown_errors) == 1
