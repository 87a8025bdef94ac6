"""Quitting asks while a summary or a batch runs, and not when the app is idle; Keep working is
the default answer. Esc and Summary → Cancel stop a running batch, as the Batch tab's Cancel does."""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication, QMessageBox
from test_app_batch import make_folder
from test_app_window import hold_at

from pegasus_desktop import quitting
from pegasus_desktop.batch import CANCELLED, DONE, QUEUED


def record_questions(monkeypatch, answer: bool) -> list[list[str]]:
    asked: list[list[str]] = []
    monkeypatch.setattr(
        quitting, "confirm_quit", lambda parent, reasons: asked.append(reasons) or answer
    )
    return asked


def test_quitting_an_idle_window_does_not_ask(qtbot, loaded_window, article, monkeypatch):
    window = loaded_window
    asked = record_questions(monkeypatch, answer=False)
    window.page.input.setPlainText(article)
    with qtbot.waitSignal(window.engine.finished, timeout=30_000):
        window.summarize()  # a summary made and finished: nothing left to lose
    window.quit_action.trigger()  # Ctrl+Q
    assert asked == [] and not window.isVisible()


def test_quitting_while_a_summary_is_written_asks_and_keep_working_keeps_it(
    qtbot, loaded_window, article, monkeypatch
):
    window = loaded_window
    hold = hold_at(window, monkeypatch, step=2)
    window.page.input.setPlainText(article)
    window.summarize()
    try:
        qtbot.waitUntil(hold.reached.is_set, timeout=60_000)
        asked = record_questions(monkeypatch, answer=False)
        window.quit_action.trigger()
        assert len(asked) == 1 and "A summary is being written" in asked[0][0]
        assert window.isVisible() and window.request  # still summarizing
    finally:
        hold.release()
    qtbot.waitUntil(lambda: window.request == 0, timeout=60_000)
    assert window.page.output.toPlainText() and "Cancelled" not in window.page.summary_note.text()
    asked = record_questions(monkeypatch, answer=True)
    window.close()
    assert asked == [] and not window.isVisible()  # done now: no question


def test_quitting_during_a_batch_asks_and_quit_quits(qtbot, loaded_window, tmp_path, monkeypatch):
    window = loaded_window
    hold = hold_at(window, monkeypatch)
    window.batch.add_paths([make_folder(tmp_path)])
    window.batch.queue.start()
    try:
        qtbot.waitUntil(hold.reached.is_set, timeout=60_000)
        asked = record_questions(monkeypatch, answer=False)
        window.close()
        assert window.isVisible() and window.batch.queue.running
        assert len(asked) == 1
        assert "The batch is running (0 done, 4 to go)" in asked[0][0]
        assert "kept in History" in asked[0][0] and "stay queued" in asked[0][0]
        asked = record_questions(monkeypatch, answer=True)
        window.close()
        assert len(asked) == 1 and not window.isVisible()
    finally:
        hold.release()


def test_the_question_defaults_to_keep_working(qtbot):
    """The real dialog: Enter or Esc keeps working; only the Quit button quits."""
    seen = {}

    def answer(key):
        box = QApplication.activeModalWidget()
        assert isinstance(box, QMessageBox)
        seen["default"] = box.defaultButton().text()
        seen["text"] = box.informativeText()
        qtbot.keyClick(box, key)

    for key in (Qt.Key.Key_Return, Qt.Key.Key_Escape):
        QTimer.singleShot(0, lambda k=key: answer(k))
        assert quitting.confirm_quit(None, ["A summary is being written; it would be lost."]) is False
        assert seen["default"] == "Keep working" and "it would be lost" in seen["text"]

    def click_quit():
        box = QApplication.activeModalWidget()
        quit_button = next(b for b in box.buttons() if b.text() == "Quit")
        qtbot.mouseClick(quit_button, Qt.MouseButton.LeftButton)

    QTimer.singleShot(0, click_quit)
    assert quitting.confirm_quit(None, ["x"]) is True


def cancel_a_running_batch(qtbot, window, tmp_path, monkeypatch, how) -> None:
    hold = hold_at(window, monkeypatch)
    folder = make_folder(tmp_path)
    (folder / "broken.txt").unlink()
    window.batch.add_paths([folder])
    window.batch.queue.start()
    try:
        qtbot.waitUntil(hold.reached.is_set, timeout=60_000)
        assert window.cancel_action.isEnabled()
        with qtbot.waitSignal(window.batch.running_changed, timeout=60_000) as stopped:
            how()
            hold.release()
    finally:
        hold.release()
    assert stopped.args == [False]
    assert [i.status for i in window.batch.queue.items] == [CANCELLED, QUEUED, QUEUED]
    assert not window.cancel_action.isEnabled()


def test_esc_cancels_a_running_batch(qtbot, loaded_window, tmp_path, monkeypatch):
    window = loaded_window
    window.batch_view_action.trigger()
    cancel_a_running_batch(
        qtbot, window, tmp_path, monkeypatch,
        lambda: qtbot.keyClick(window.batch.table, Qt.Key.Key_Escape),
    )


def test_summary_menu_cancel_cancels_a_running_batch(qtbot, loaded_window, tmp_path, monkeypatch):
    window = loaded_window
    menu = next(m for m in window.menuBar().actions() if m.text() == "&Summary").menu()
    cancel = next(a for a in menu.actions() if a.text() == "&Cancel")
    cancel_a_running_batch(qtbot, window, tmp_path, monkeypatch, cancel.trigger)


def test_the_summary_pages_cancel_button_cancels_a_running_batch(
    qtbot, loaded_window, tmp_path, monkeypatch
):
    window = loaded_window

    def click():
        assert window.page.cancel_button.isEnabled()
        qtbot.mouseClick(window.page.cancel_button, Qt.MouseButton.LeftButton)

    cancel_a_running_batch(qtbot, window, tmp_path, monkeypatch, click)


def test_quitting_asks_when_history_could_not_keep_the_batch_summaries(
    qtbot, loaded_window, tmp_path, monkeypatch
):
    """With History, finished batch summaries are stored and quitting an idle window asks nothing;
    when History could not be opened they live only in the window, so quitting asks first."""
    window = loaded_window
    window.batch.add_paths([make_folder(tmp_path)])
    window.batch.queue.start()
    qtbot.waitUntil(lambda: not window.batch.queue.running, timeout=120_000)
    done = window.batch.queue.counts()[DONE]
    assert done
    window.history = None  # as when History could not be opened at start
    asked = record_questions(monkeypatch, answer=False)
    window.close()
    assert window.isVisible() and len(asked) == 1
    assert f"{done} batch summar" in asked[0][0] and "Export all" in asked[0][0]


def test_the_unstored_reason_names_the_count_and_the_way_out():
    [reason] = quitting.work_in_progress(False, None, unstored_summaries=1)
    assert reason.startswith("1 batch summary is not stored") and "Export all" in reason
    assert quitting.work_in_progress(False, None) == []
