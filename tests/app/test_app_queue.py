"""The Batch queue is kept: its files, their status and finished summaries come back after a
restart (a file interrupted mid-summary is queued again); one file can be removed or retried
alone; a double-click opens a file's summary on the Summary page beside its article."""

from __future__ import annotations

from PySide6.QtGui import QKeySequence
from test_app_batch import make_folder, run_batch
from test_app_history import double_click
from test_app_window import hold_at
from test_long_document import EXAMPLES

from engine.files import human_duration
from pegasus_desktop import quitting
from pegasus_desktop.batch import DONE, FAILED, QUEUED, RUNNING


def statuses(window) -> list[tuple[str, str]]:
    return [(i.path.name, i.status) for i in window.batch.queue.items]


def restart(qtbot, window, make_window, settings_for, monkeypatch):
    """Close the window (quitting without asking) and open a new one on the same user dirs."""
    monkeypatch.setattr(quitting, "confirm_quit", lambda parent, reasons: True)
    window.close()
    assert not window.isVisible()
    again = make_window(settings_for())
    qtbot.waitUntil(lambda: again.model is not None, timeout=20_000)
    return again


def test_the_queue_and_its_summaries_come_back_after_a_restart(
    qtbot, make_window, settings_for, tmp_path, monkeypatch
):
    window = make_window(settings_for())
    qtbot.waitUntil(lambda: window.model is not None, timeout=20_000)
    window.batch.add_paths([make_folder(tmp_path)])
    run_batch(qtbot, window)
    before = [(i.path, i.status, i.detail, i.summary.text if i.summary else None)
              for i in window.batch.queue.items]
    again = restart(qtbot, window, make_window, settings_for, monkeypatch)
    items = again.batch.queue.items
    assert [(i.path, i.status, i.detail, i.summary.text if i.summary else None) for i in items] == before
    assert [i.status for i in items] == [DONE, DONE, FAILED, DONE]
    assert [i.summary.text for i in items if i.summary] == [e["summary"] for e in EXAMPLES[:3]]
    table = again.batch.table
    assert table.item(0, 1).text() == "Done" and table.item(0, 2).text() == human_duration(items[0].summary.seconds)
    assert table.item(2, 1).text().startswith("Failed: ")
    assert again.batch.progress.text() == "4 of 4 done · 1 failed"
    table.selectRow(1)
    assert again.batch.preview.toPlainText() == EXAMPLES[1]["summary"]
    assert again.batch.export_button.isEnabled()


def test_a_file_interrupted_by_quitting_is_queued_again_at_the_next_start(
    qtbot, make_window, settings_for, tmp_path, monkeypatch
):
    window = make_window(settings_for())
    qtbot.waitUntil(lambda: window.model is not None, timeout=20_000)
    hold = hold_at(window, monkeypatch)
    folder = make_folder(tmp_path)
    (folder / "broken.txt").unlink()
    window.batch.add_paths([folder])
    window.batch.queue.start()
    try:
        qtbot.waitUntil(hold.reached.is_set, timeout=60_000)
        assert statuses(window)[0] == ("a.txt", RUNNING)
        monkeypatch.setattr(quitting, "confirm_quit", lambda parent, reasons: True)
        window.close()
    finally:
        hold.release()
    again = make_window(settings_for())
    qtbot.waitUntil(lambda: again.model is not None, timeout=20_000)
    assert statuses(again) == [("a.txt", QUEUED), ("b.md", QUEUED), ("c.html", QUEUED)]
    run_batch(qtbot, again)
    assert [i.status for i in again.batch.queue.items] == [DONE] * 3


def test_remove_one_file_and_it_stays_removed(
    qtbot, make_window, settings_for, tmp_path, monkeypatch
):
    window = make_window(settings_for())
    qtbot.waitUntil(lambda: window.model is not None, timeout=20_000)
    window.batch.add_paths([make_folder(tmp_path)])
    run_batch(qtbot, window)
    batch = window.batch
    assert batch.remove_action.shortcut() == QKeySequence("Del")
    assert not batch.remove_action.isEnabled()  # nothing selected
    batch.table.selectRow(1)
    assert batch.remove_action.isEnabled()
    batch.remove_action.trigger()
    assert statuses(window) == [("a.txt", DONE), ("broken.txt", FAILED), ("c.html", DONE)]
    assert [batch.table.item(r, 0).text() for r in range(batch.table.rowCount())] == [
        "a.txt", "broken.txt", "c.html"
    ]
    assert len(window.history.search()) == 3  # its summary stays in History
    again = restart(qtbot, window, make_window, settings_for, monkeypatch)
    assert statuses(again) == [("a.txt", DONE), ("broken.txt", FAILED), ("c.html", DONE)]


def test_retry_one_file_alone(qtbot, loaded_window, tmp_path):
    window = loaded_window
    folder = make_folder(tmp_path)
    window.batch.add_paths([folder])
    run_batch(qtbot, window)
    batch = window.batch
    kept = [(i.entry_id, i.summary) for i in batch.queue.items]
    (folder / "broken.txt").write_text(EXAMPLES[4]["article"])  # the user fixed the file
    batch.table.selectRow(2)
    assert batch.retry_action.isEnabled()
    batch.retry_action.trigger()
    qtbot.waitUntil(lambda: batch.queue.items[2].status == DONE, timeout=60_000)
    qtbot.waitUntil(lambda: not batch.queue.running, timeout=10_000)
    items = batch.queue.items
    assert items[2].summary.text == EXAMPLES[4]["summary"] and items[2].entry_id is not None
    assert [(i.entry_id, i.summary) for i in items[:2] + items[3:]] == kept[:2] + kept[3:]
    assert batch.progress.text() == "4 of 4 done"
    # A file already done can be summarized again too; only it runs.
    starts = []
    batch.queue.changed.connect(lambda row: starts.append(row) if items[row].status == "Summarizing" else None)
    batch.table.selectRow(0)
    batch.retry_action.trigger()
    qtbot.waitUntil(lambda: not batch.queue.running and items[0].status == DONE, timeout=60_000)
    assert set(starts) == {0}
    assert items[0].entry_id != kept[0][0]


def test_double_click_opens_a_files_summary_on_the_summary_page(qtbot, loaded_window, tmp_path):
    window = loaded_window
    folder = make_folder(tmp_path)
    window.batch.add_paths([folder])
    run_batch(qtbot, window)
    window.batch_view_action.trigger()
    messages = []
    window.batch.message.connect(messages.append)
    double_click(qtbot, window.batch.table, 1)
    assert window.tabs.currentIndex() == 0 and window.stack.currentWidget() is window.page
    assert window.page.input.toPlainText() == EXAMPLES[1]["article"]
    assert window.page.output.toPlainText() == EXAMPLES[1]["summary"]
    assert window.page.summary_note.text().startswith("From History: ")
    assert window.page.has_current_summary()
    assert window.opened_file == folder / "b.md"
    # A file that failed has no summary to open: the page stays, and the status line says why.
    window.batch_view_action.trigger()
    double_click(qtbot, window.batch.table, 2)
    assert window.stack.currentWidget() is window.batch
    assert messages and "broken.txt has no summary yet (failed)" in messages[-1]
