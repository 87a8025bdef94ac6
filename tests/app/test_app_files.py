"""The Summary page's file actions on their own (``ArticleFiles``): open a file into the page,
copy and save the summary (atomically), and the errors it shows. No model, no main window (but
for the last test, which checks the window's wiring)."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QFileDialog, QWidget

from pegasus_desktop import article_files
from pegasus_desktop.article_files import ArticleFiles
from pegasus_desktop.summary_page import SummaryPage

ARTICLE = "The new bridge opened in Lisbon on Monday after five years of work."
SUMMARY = "A bridge opened in Lisbon."


class Setup:
    def __init__(self, qtbot, folder: Path) -> None:
        self.window = QWidget()
        qtbot.addWidget(self.window)
        self.page = SummaryPage(self.window)
        self.files = ArticleFiles(self.window, self.page, str(folder))
        self.said: list[tuple[str, int]] = []  # what it told the status bar
        self.files.message.connect(lambda text, ms: self.said.append((text, ms)))

    def show_summary(self, article: str = ARTICLE, summary: str = SUMMARY) -> None:
        """As after Summarize: the article in the box, its summary beside it."""
        self.page.input.setPlainText(article)
        self.page.begin_summary(article)
        self.page.show_text(summary)


@pytest.fixture
def setup(qtbot, tmp_path) -> Setup:
    return Setup(qtbot, tmp_path / "start")


def answer_save_dialog(monkeypatch, path: Path | str, chosen: str = "Text (*.txt)") -> list:
    """The Save dialog answers ``path``; returns the (parent, start) it was opened with."""
    asked = []

    def dialog(parent, caption, start, filters):
        asked.append((parent, start))
        return str(path), chosen

    monkeypatch.setattr(QFileDialog, "getSaveFileName", dialog)
    return asked


# -- opening


def test_open_a_file_fills_the_page_and_remembers_where_it_came_from(qtbot, setup, tmp_path):
    path = tmp_path / "docs" / "bridge.md"
    path.parent.mkdir()
    path.write_text(f"# News\n\n{ARTICLE}", encoding="utf-8")
    setup.files.open_path(path)
    assert setup.said == [("Reading bridge.md…", 0)]  # at once; the file is read in background
    qtbot.waitUntil(lambda: setup.page.input.toPlainText() != "", timeout=10_000)
    assert setup.page.input.toPlainText() == f"News\n\n{ARTICLE}"
    assert setup.said[-1] == ("Opened bridge.md.", 5000)
    assert setup.files.opened_file == path
    assert setup.files.source_of(setup.page.input.toPlainText()) == path
    assert setup.files.source_of(ARTICLE + " Edited.") is None  # not what the file holds
    assert setup.files.last_folder == str(path.parent)  # the next Open… and Save… start there


def test_open_asks_for_a_file_from_the_last_folder(qtbot, setup, tmp_path, monkeypatch):
    path = tmp_path / "a.txt"
    path.write_text(ARTICLE, encoding="utf-8")
    asked = []

    def dialog(parent, caption, start, filters):
        asked.append((parent, start, filters))
        return (str(path) if len(asked) == 2 else ""), ""

    monkeypatch.setattr(QFileDialog, "getOpenFileName", dialog)
    setup.files.open_file()  # cancelled: nothing happens
    assert setup.said == [] and setup.page.input.toPlainText() == ""
    setup.files.open_file()
    qtbot.waitUntil(lambda: setup.page.input.toPlainText() == ARTICLE, timeout=10_000)
    assert asked[0][:2] == (setup.window, str(tmp_path / "start"))
    assert "*.docx" in asked[0][2] and "*.pdf" in asked[0][2]


def test_a_binary_file_is_refused_and_the_text_is_kept(qtbot, setup, tmp_path, shown_errors):
    setup.page.input.setPlainText("My own text.")
    path = tmp_path / "archive.txt"
    path.write_bytes(bytes(range(256)) * 20)
    setup.files.open_path(path)
    qtbot.waitUntil(lambda: bool(shown_errors), timeout=10_000)
    title, message, details = shown_errors[-1]
    assert title == "Cannot open the file"
    assert "“archive.txt” does not look like text" in message
    assert message.endswith("The text already in the box was kept.") and details == ""
    assert setup.page.input.toPlainText() == "My own text."
    assert setup.files.opened_file is None and setup.files.last_folder == str(tmp_path / "start")
    assert setup.said[-1] == ("", 0)  # "Reading archive.txt…" is taken off the status bar


def test_a_folder_is_not_a_file(qtbot, setup, tmp_path, shown_errors):
    folder = tmp_path / "notes.txt"
    folder.mkdir()
    setup.files.open_path(folder)
    qtbot.waitUntil(lambda: bool(shown_errors), timeout=10_000)
    assert shown_errors[-1][:2] == (
        "Cannot open the file",
        "“notes.txt” is a folder, not a file.\n\nThe text already in the box was kept.",
    )


def test_a_file_that_cannot_be_read_says_why(qtbot, setup, tmp_path, shown_errors, monkeypatch):
    """A file without read permission (simulated: the tests may run as root, who reads anyway)."""
    from engine.documents import limits

    path = tmp_path / "private.txt"
    path.write_text(ARTICLE, encoding="utf-8")

    def refused(file, mode="r", *args, **kwargs):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(file))

    monkeypatch.setattr(limits, "open", refused, raising=False)
    setup.page.input.setPlainText("Kept.")
    setup.files.open_path(path)
    qtbot.waitUntil(lambda: bool(shown_errors), timeout=10_000)
    title, message, _ = shown_errors[-1]
    assert title == "Cannot open the file"
    assert message.startswith("“private.txt” cannot be read: Permission denied.")
    assert "kept" in message and setup.page.input.toPlainText() == "Kept."


def test_an_unexpected_failure_shows_its_details(qtbot, setup, tmp_path, shown_errors, monkeypatch):
    path = tmp_path / "a.txt"
    path.write_text(ARTICLE, encoding="utf-8")

    def broken(path):
        raise RuntimeError("the reader broke")

    monkeypatch.setattr(article_files, "read_document", broken)
    setup.files.open_path(path)
    qtbot.waitUntil(lambda: bool(shown_errors), timeout=10_000)
    title, message, details = shown_errors[-1]
    assert (title, message) == ("Cannot open the file", "Reading the file failed: the reader broke")
    assert "Traceback" in details and "RuntimeError: the reader broke" in details


def test_a_missing_file_is_reported_at_once(setup, tmp_path, shown_errors):
    setup.page.input.setPlainText("Kept.")
    setup.files.open_path(tmp_path / "never-there.txt")
    assert shown_errors == [
        (
            "Cannot open the file",
            f"“never-there.txt” was not found in {tmp_path}. Check the name and the folder."
            "\n\nThe text already in the box was kept.",
            "",
        )
    ]
    assert setup.said == [] and setup.page.input.toPlainText() == "Kept."


# -- copying and saving


def test_copy_puts_the_summary_on_the_clipboard(setup):
    QGuiApplication.clipboard().setText("before")
    setup.show_summary()
    setup.files.copy_summary()
    assert QGuiApplication.clipboard().text() == SUMMARY
    assert setup.said == [("Summary copied.", 3000)]


def test_a_summary_out_of_date_is_neither_copied_nor_saved(setup, monkeypatch):
    QGuiApplication.clipboard().setText("before")
    asked = answer_save_dialog(monkeypatch, "/nowhere/s.txt")
    setup.show_summary()
    setup.page.input.setPlainText(ARTICLE + " An edit.")
    setup.page.mark_out_of_date("the article has changed")
    setup.files.copy_summary()
    setup.files.save_summary()
    assert QGuiApplication.clipboard().text() == "before" and asked == []
    out_of_date = (
        "The summary is out of date (see the note under it): summarize again first.",
        5000,
    )
    assert setup.said == [out_of_date, out_of_date]


def test_save_names_the_file_after_the_article_and_writes_it(qtbot, setup, tmp_path, monkeypatch):
    source = tmp_path / "Quarterly Report.txt"
    source.write_text(ARTICLE, encoding="utf-8")
    setup.files.open_path(source)
    qtbot.waitUntil(lambda: setup.files.opened_file == source, timeout=10_000)
    setup.show_summary(setup.page.input.toPlainText())
    target = tmp_path / "out" / "s.txt"
    target.parent.mkdir()
    asked = answer_save_dialog(monkeypatch, target)
    setup.files.save_summary()
    assert asked == [(setup.window, str(tmp_path / "Quarterly Report.summary.txt"))]
    assert target.read_bytes() == (SUMMARY + "\n").encode()
    assert setup.said[-1] == ("Saved s.txt.", 5000)
    assert setup.files.last_folder == str(target.parent)
    # Markdown: a heading with the article's name; the suffix added when the name has none.
    answer_save_dialog(monkeypatch, tmp_path / "out" / "s", "Markdown (*.md)")
    setup.files.save_summary()
    assert (tmp_path / "out" / "s.md").read_text(encoding="utf-8") == (
        f"# Summary of Quarterly Report\n\n{SUMMARY}\n"
    )
    assert sorted(p.name for p in target.parent.iterdir()) == ["s.md", "s.txt"]  # no temp files


def test_pasted_text_is_saved_under_its_first_words(setup, tmp_path, monkeypatch):
    setup.show_summary("Anna repaired 12 bikes in Oslo on Monday. Ben sold 3 lamps.")
    asked = answer_save_dialog(monkeypatch, "")  # the dialog is cancelled: nothing is written
    setup.files.save_summary()
    assert Path(asked[0][1]) == tmp_path / "start" / "Anna repaired 12 bikes in Oslo.summary.txt"
    assert setup.said == [] and not (tmp_path / "start").exists()


def test_a_failed_save_leaves_the_old_file_as_it_was(setup, tmp_path, shown_errors, monkeypatch):
    target = tmp_path / "summary.txt"
    target.write_text("An older summary.\n", encoding="utf-8")
    setup.show_summary()
    answer_save_dialog(monkeypatch, target)

    def disk_full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with monkeypatch.context() as m:
        m.setattr(os, "fsync", disk_full)  # the disk fills while the new file is written
        setup.files.save_summary()
    assert shown_errors == [
        ("Not saved", f"The summary could not be saved to {target}: No space left on device.", "")
    ]
    assert target.read_text(encoding="utf-8") == "An older summary.\n"
    assert [p.name for p in tmp_path.iterdir() if p.name != "home"] == ["summary.txt"]
    assert setup.files.last_folder == str(tmp_path / "start") and setup.said == []
    setup.files.save_summary()  # the disk has room again: the same save replaces the old file
    assert target.read_text(encoding="utf-8") == SUMMARY + "\n"


def test_write_summary_gives_a_name_without_a_type_the_txt_suffix(setup, tmp_path, shown_errors):
    assert setup.files.write_summary(tmp_path / "plain", "Text")
    assert (tmp_path / "plain.txt").read_bytes() == b"Text\n"
    assert not setup.files.write_summary(tmp_path / "missing-folder" / "x.txt", "Text")
    assert shown_errors[-1][0] == "Not saved" and "No such file or directory" in shown_errors[-1][1]


# -- in the main window


def test_the_window_shows_its_messages_and_keeps_its_folder(
    qtbot, make_window, app_checkpoint, tmp_path
):
    from pegasus_desktop.settings import Settings, load_settings

    # No export yet: the first-run page, and nothing to download (a local checkpoint).
    window = make_window(Settings(model_id=str(app_checkpoint), models_root=str(tmp_path / "m")))
    path = tmp_path / "docs" / "a.txt"
    path.parent.mkdir()
    path.write_text(ARTICLE, encoding="utf-8")
    window.open_path(path)
    qtbot.waitUntil(lambda: window.opened_file == path, timeout=10_000)
    assert window.statusBar().currentMessage() == "Opened a.txt."
    window.save()
    assert load_settings().last_folder == str(path.parent)
