"""The Summary pane is always about the article beside it: a summary is marked out of date when
the article, the file or the model changes, Copy and Save never act on it then, and while a
summary streams the pane follows its end unless the reader scrolled up (never jumping to the top).
"""

from __future__ import annotations

import json

from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QFileDialog
from test_app_window import hold_at, long_options


def summarize(qtbot, window, text: str) -> str:
    window.page.input.setPlainText(text)
    with qtbot.waitSignal(window.engine.finished, timeout=30_000) as finished:
        window.summarize()
    return finished.args[1].text


def second_article(app_checkpoint) -> str:
    return json.loads((app_checkpoint / "heldout.jsonl").read_text().splitlines()[1])["article"]


def no_save_dialog(monkeypatch) -> list:
    asked = []
    monkeypatch.setattr(
        QFileDialog, "getSaveFileName", lambda *a, **k: asked.append(a) or ("", "")
    )
    return asked


def assert_out_of_date(window, why: str) -> None:
    note = window.page.summary_note.text()
    assert note.startswith("⚠ Out of date:") and why in note, note
    assert not window.page.copy_button.isEnabled() and not window.page.save_button.isEnabled()
    assert not window.page.has_current_summary()


def test_opening_another_file_marks_the_summary_and_copy_save_refuse(
    qtbot, loaded_window, article, app_checkpoint, tmp_path, monkeypatch
):
    window = loaded_window
    text = summarize(qtbot, window, article)
    assert window.page.copy_button.isEnabled() and window.page.has_current_summary()
    other = tmp_path / "other.txt"
    other.write_text(second_article(app_checkpoint), encoding="utf-8")
    window.open_path(other)
    qtbot.waitUntil(lambda: window.page.input.toPlainText().startswith(other.read_text()[:30]))
    assert_out_of_date(window, "the article has changed")
    assert window.page.output.toPlainText() == text  # kept, dimmed, for reference
    QGuiApplication.clipboard().setText("what the user had copied")
    asked = no_save_dialog(monkeypatch)
    window.copy_summary()
    window.save_summary()
    assert QGuiApplication.clipboard().text() == "what the user had copied"
    assert asked == []
    assert "out of date" in window.statusBar().currentMessage()
    # Summarizing the new article makes the pane current again, with no trace of the old note.
    new = summarize(qtbot, window, window.page.input.toPlainText())
    assert window.page.has_current_summary() and window.page.output.toPlainText() == new
    assert "Out of date" not in window.page.summary_note.text()
    window.copy_summary()
    assert QGuiApplication.clipboard().text() == new


def test_editing_the_article_marks_the_summary_out_of_date(qtbot, loaded_window, article):
    window = loaded_window
    summarize(qtbot, window, article)
    window.page.input.appendPlainText("One more sentence typed afterwards.")
    assert_out_of_date(window, "the article has changed")


def test_editing_while_the_summary_is_written_leaves_it_marked_at_the_end(
    qtbot, loaded_window, article, monkeypatch
):
    window = loaded_window
    hold = hold_at(window, monkeypatch, step=2)
    window.page.input.setPlainText(article)
    window.summarize()
    try:
        qtbot.waitUntil(lambda: hold.reached.is_set(), timeout=60_000)
        qtbot.waitUntil(lambda: bool(window.page.output.toPlainText()), timeout=10_000)
        window.page.input.setPlainText("A different article, pasted while the summary ran.")
    finally:
        hold.release()
    qtbot.waitUntil(lambda: window.request == 0, timeout=60_000)
    assert_out_of_date(window, "the article has changed")


def test_a_new_model_marks_the_summary_out_of_date(qtbot, loaded_window, article):
    window = loaded_window
    summarize(qtbot, window, article)
    new = window.settings.__class__(**{**window.settings.__dict__, "precision": "fp32"})
    window.apply_settings(new)
    qtbot.waitUntil(lambda: window.model is not None and window.model.precision == "fp32", timeout=30_000)
    assert_out_of_date(window, "another model")
    assert "int8" in window.page.summary_note.text()


def test_streaming_follows_the_end_unless_the_reader_scrolled_up(
    qtbot, loaded_window, article, monkeypatch
):
    """The pane is made small so the summary overflows it. First the view follows the end at
    every step; then, with the engine held mid-summary, the reader scrolls to the top, and the
    rest of the summary streams in without moving the view."""
    window = loaded_window
    long_options(window)
    window.page.output.setFixedSize(140, 60)
    bar = window.page.output.verticalScrollBar()
    seen: list[tuple[int, int]] = []
    window.engine.partial.connect(lambda request, text: seen.append((bar.value(), bar.maximum())))
    hold = hold_at(window, monkeypatch, step=30)
    window.page.input.setPlainText(article)
    window.summarize()
    try:
        # The window's own slot (connected first) has scrolled by the time ``seen`` records.
        qtbot.waitUntil(lambda: hold.reached.is_set() and len(seen) == 30, timeout=60_000)
        assert seen[-1][1] > 0, "the summary should overflow the small pane"
        assert all(value == maximum for value, maximum in seen), seen
        bar.setValue(0)  # the reader goes back to the start
        reading_at = len(seen)
    finally:
        hold.release()
    qtbot.waitUntil(lambda: window.request == 0, timeout=60_000)
    later = seen[reading_at:]
    assert later and all(value == 0 for value, _ in later), later
    assert bar.value() == 0  # the final text did not move the view either
    # Scrolled to the middle, the view stays there too (it never jumps to the top).
    summarize_again = window.page.output.toPlainText()
    bar.setValue(bar.maximum() // 2)
    middle = bar.value()
    window.request = 12345  # as if a summary were being written
    window._partial(12345, summarize_again + " And a little more.")
    assert bar.value() == middle
    bar.setValue(bar.maximum())
    window._partial(12345, summarize_again + " And a little more. " * 5)
    assert bar.value() == bar.maximum() > middle
    window.request = 0
