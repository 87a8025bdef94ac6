"""Issue 15's list of small things, each with a test that fails without its fix: keyboard and
layout (Tab, minimum size, the set-up page's buttons), Re-export, file permissions, folders with
no file manager, deleting the export in use, Save's name and Markdown, a missing file's message,
the set-up page after a failure, and a model id or folder checked when it is entered."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QDesktopServices, QGuiApplication
from PySide6.QtWidgets import QFileDialog, QMessageBox, QWidget
from test_app_batch import make_folder, run_batch
from test_app_summary_pane import summarize

from engine.model_dir import export_dir
from pegasus_desktop.export_messages import ExportFailed, FailureKind
from pegasus_desktop.resources import log_dir
from pegasus_desktop.settings import Settings, load_settings, save_settings
from pegasus_desktop.settings_dialog import SettingsDialog


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield 0o644
    os.umask(old)


def test_tab_moves_the_focus_out_of_the_article(qtbot, loaded_window):
    window = loaded_window
    window.activateWindow()
    window.page.input.setPlainText("Some words.")
    window.page.input.setFocus()
    qtbot.waitUntil(window.page.input.hasFocus, timeout=5_000)
    qtbot.keyClick(window.page.input, Qt.Key.Key_Tab)
    assert window.page.input.toPlainText() == "Some words."  # no tab typed
    qtbot.waitUntil(lambda: not window.page.input.hasFocus(), timeout=5_000)
    qtbot.keyClick(QGuiApplication.focusObject(), Qt.Key.Key_Tab, Qt.KeyboardModifier.ShiftModifier)
    qtbot.waitUntil(window.page.input.hasFocus, timeout=5_000)  # and Shift+Tab comes back


def test_a_small_window_keeps_its_controls_whole(qtbot, loaded_window):
    """Shrunk as far as it goes (with Advanced open), the text boxes keep a few lines, the
    Advanced row shows its numbers whole ("128", not "12") and the buttons do not overlap."""
    window = loaded_window
    window.page.options.advanced_button.setChecked(True)
    window.page.options.max_length.setValue(128)
    window.resize(320, 240)
    qtbot.waitUntil(lambda: window.page.options.advanced.isVisible(), timeout=5_000)
    # Advanced raises the minimum size; the window grows to it once the layout has run.
    qtbot.waitUntil(lambda: window.size() == window.minimumSize().expandedTo(window.size()), timeout=5_000)
    minimum = window.minimumSize()
    assert minimum.width() >= 640 - 100 and minimum.height() >= 360, minimum
    for box in (window.page.input, window.page.output):
        assert box.height() >= 5 * box.fontMetrics().lineSpacing(), box.height()
        assert box.width() >= 14 * box.fontMetrics().averageCharWidth()
    options = window.page.options
    for spin in (options.beams, options.min_length, options.max_length, options.length_penalty,
                 options.no_repeat):
        assert spin.width() >= spin.sizeHint().width()
    page = window.page
    boxes = [w.geometry().translated(w.parentWidget().mapTo(page, w.parentWidget().rect().topLeft()))
             for w in (page.options, page.cancel_button, page.summarize_button)]
    assert not boxes[0].intersects(boxes[1]) and not boxes[1].intersects(boxes[2])


def at(widget: QWidget) -> int:
    return widget.mapTo(widget.window(), widget.rect().topLeft()).y()


def test_the_set_up_pages_buttons_stay_put_and_a_failure_stops_the_download_row(
    qtbot, make_window, tmp_path, shown_errors
):
    window = make_window(Settings(model_id="nobody-here/not-cached-pegasus",
                                  models_root=str(tmp_path / "models")))
    qtbot.waitUntil(lambda: window.stack.currentWidget() is window.first_run)
    view = window.first_run
    qtbot.wait(50)
    where = at(view.start_button), at(view.cancel_button), at(view.settings_button)
    seen = []
    view.job.progress.connect(lambda *a: seen.append((at(view.start_button), at(view.cancel_button))))
    with qtbot.waitSignal(view.job.failed, timeout=60_000):
        qtbot.mouseClick(view.start_button, Qt.MouseButton.LeftButton)
        qtbot.wait(20)
        assert view.message.isVisible()  # "Checking free disk space…" appeared…
        assert (at(view.start_button), at(view.cancel_button)) == where[:2]  # …the buttons stayed
    qtbot.wait(50)
    assert "No network connection" in view.message.text()  # a long message now…
    assert (at(view.start_button), at(view.cancel_button), at(view.settings_button)) == where
    assert all(s == where[:2] for s in seen)
    row = view.rows["download"]
    assert row.bar.maximum() > 0, "still the busy animation after the failure"
    assert row.detail.text() != "Checking the Hugging Face cache…"
    assert all(r.bar.maximum() > 0 for r in view.rows.values())


def test_the_download_row_stops_after_any_failure(qtbot, make_window, tmp_path, shown_errors):
    """The same, with the job's messages played directly: a download under way, then a failure."""
    window = make_window(Settings(model_id="acme/x", models_root=str(tmp_path / "models")))
    qtbot.waitUntil(lambda: window.stack.currentWidget() is window.first_run)
    view = window.first_run
    view.job.progress.emit("download", 0.0, 0.0, "")
    assert view.rows["download"].detail.text() == "Checking the Hugging Face cache…"
    view.job.failed.emit(ExportFailed(FailureKind.ENGINE, "acme/x is not a valid model id."))
    assert view.rows["download"].bar.maximum() == 1000
    assert view.rows["download"].detail.text() == "Stopped"
    view.job.progress.emit("download", 1_000.0, 4_000.0, "")
    view.job.failed.emit(ExportFailed(FailureKind.OFFLINE, "No connection."))
    assert view.rows["download"].detail.text() == "Stopped" and view.rows["download"].bar.value() == 250


def test_re_export_asks_first_and_its_page_does_not_say_first_run(
    qtbot, loaded_window, monkeypatch
):
    window = loaded_window
    dialog = SettingsDialog(window.settings, window.delete_export, window)
    qtbot.addWidget(dialog)
    requested, asked = [], []
    dialog.reexport_requested.connect(lambda: requested.append(True))
    answer = QMessageBox.StandardButton.No
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: asked.append(a[2]) or answer)
    dialog._reexport()
    assert requested == [] and dialog.result() != SettingsDialog.DialogCode.Accepted
    assert asked and "replacing its export" in asked[0] and "current export is kept" in asked[0]
    answer = QMessageBox.StandardButton.Yes
    dialog._reexport()
    assert requested == [True] and dialog.result() == SettingsDialog.DialogCode.Accepted
    window.show_first_run(reexport=True)
    intro = window.first_run.intro.text()
    assert window.first_run.title.text() == "Re-export the model"
    assert "Before the first summary" not in intro and "This happens once" not in intro
    assert "again and replaces its export" in intro and "nothing is changed" in intro
    window.show_first_run()
    assert "Before the first summary" in window.first_run.intro.text()


def test_export_all_text_and_markdown_files_get_the_users_permissions(
    qtbot, loaded_window, tmp_path, umask_022
):
    window = loaded_window
    window.batch.add_paths([make_folder(tmp_path)])
    run_batch(qtbot, window)
    for fmt in ("txt", "md"):
        out = tmp_path / f"out-{fmt}"
        assert window.batch.export(out, fmt)
        modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in out.iterdir()}
        assert len(modes) == 3 and set(modes.values()) == {umask_022}, modes
    private = tmp_path / "out-txt" / "a.summary.txt"
    private.chmod(0o600)  # a file the user made private stays private when replaced
    assert window.batch.export(tmp_path / "out-txt", "txt")
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    table = tmp_path / "all.csv"
    assert window.batch.export(table, "csv")
    assert stat.S_IMODE(table.stat().st_mode) == umask_022


def no_file_manager(monkeypatch) -> list[tuple[str, str]]:
    shown = []
    monkeypatch.setattr(QDesktopServices, "openUrl", lambda url: False)
    monkeypatch.setattr(QMessageBox, "exec", lambda box: shown.append((box.text(), box.informativeText())))
    return shown


def test_show_log_folder_without_a_file_manager_says_where_it_is(qtbot, loaded_window, monkeypatch):
    shown = no_file_manager(monkeypatch)
    loaded_window.log_action.trigger()
    assert len(shown) == 1 and str(log_dir()) in shown[0][0] and "No file manager" in shown[0][0]
    assert QGuiApplication.clipboard().text() == str(log_dir())
    assert "copied to the clipboard" in shown[0][1]


def test_storage_open_folder_without_a_file_manager_says_where_it_is(qtbot, tmp_path, monkeypatch):
    shown = no_file_manager(monkeypatch)
    dialog = SettingsDialog(Settings(models_root=str(tmp_path / "models")), lambda folder: None)
    qtbot.addWidget(dialog)
    dialog._open_root()
    assert len(shown) == 1 and str(tmp_path / "models") in shown[0][0]
    assert QGuiApplication.clipboard().text() == str(tmp_path / "models")


def test_deleting_the_export_in_use_is_warned_and_delete_needs_a_selection(
    qtbot, make_window, app_checkpoint, app_exports, tmp_path, monkeypatch
):
    import shutil

    root = tmp_path / "models"
    shutil.copytree(app_exports, root)
    window = make_window(Settings(model_id=str(app_checkpoint), models_root=str(root)))
    qtbot.waitUntil(lambda: window.model is not None, timeout=20_000)
    dialog = SettingsDialog(window.settings, window.delete_export, window,
                            in_use=Path(window.model.folder))
    qtbot.addWidget(dialog)
    assert not dialog.delete_button.isEnabled()  # nothing selected
    items = {dialog.exports.topLevelItem(i).text(1): dialog.exports.topLevelItem(i) for i in range(2)}
    asked = []
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: asked.append(a[2]) or QMessageBox.StandardButton.No)
    dialog.exports.setCurrentItem(items["fp32"])
    assert dialog.delete_button.isEnabled()
    dialog._delete_selected()
    assert "in use" not in asked[-1]
    dialog.exports.setCurrentItem(items["int8"])
    dialog._delete_selected()
    assert "This is the model in use now" in asked[-1] and "nothing can be summarized" in asked[-1]
    assert export_dir(str(app_checkpoint), "int8", root).is_dir()  # answered No
    dialog.exports.clearSelection()
    assert not dialog.delete_button.isEnabled()


def test_save_suggests_the_articles_name_and_markdown_is_markdown(
    qtbot, loaded_window, article, tmp_path, monkeypatch
):
    window = loaded_window
    source = tmp_path / "Quarterly Report.txt"
    source.write_text(article, encoding="utf-8")
    window.open_path(source)
    qtbot.waitUntil(lambda: window.opened_file == source, timeout=10_000)
    text = summarize(qtbot, window, window.page.input.toPlainText())
    offered = []

    def save_as(answer):
        def dialog(parent, caption, start, filters):
            offered.append(start)
            return answer
        return dialog

    monkeypatch.setattr(QFileDialog, "getSaveFileName", save_as((str(tmp_path / "s"), "Markdown (*.md)")))
    window.save_summary()
    assert Path(offered[-1]).name == "Quarterly Report.summary.txt"
    assert (tmp_path / "s.md").read_text(encoding="utf-8") == f"# Summary of Quarterly Report\n\n{text}\n"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", save_as((str(tmp_path / "s.txt"), "Text (*.txt)")))
    window.save_summary()
    assert (tmp_path / "s.txt").read_text(encoding="utf-8") == text + "\n"
    # Pasted text: the suggestion is the article's first words.
    summarize(qtbot, window, "Anna repaired 12 bikes in Oslo on Monday. Ben sold 3 lamps.")
    window.save_summary()
    assert Path(offered[-1]).name == "Anna repaired 12 bikes in Oslo.summary.txt"


def test_a_file_that_never_existed_is_reported_as_not_found(
    qtbot, loaded_window, tmp_path, shown_errors
):
    window = loaded_window
    window.page.input.setPlainText("Kept.")
    window.open_path(tmp_path / "never-there.txt")
    title, message, _ = shown_errors[-1]
    assert title == "Cannot open the file"
    assert "“never-there.txt” was not found in" in message and str(tmp_path) in message
    assert "moved or deleted" not in message
    assert window.page.input.toPlainText() == "Kept."


def test_an_invalid_hub_id_is_refused_in_settings_in_plain_words(qtbot, tmp_path, shown_errors):
    dialog = SettingsDialog(Settings(), delete_export=lambda folder: None)
    qtbot.addWidget(dialog)
    dialog.show()
    dialog.hub_radio.setChecked(True)
    qtbot.keyClicks(dialog.hub_id, "not a valid id!!")
    problem = dialog.model_problem.text()
    assert dialog.model_problem.isVisible()
    assert "“not a valid id!!” is not a Hugging Face model id" in problem and "owner/name" in problem
    assert "HFValidationError" not in problem and "Repo id must" not in problem
    assert not dialog.accept_if_valid() and shown_errors[-1][1] == problem.removeprefix("⚠ ")
    dialog.hub_id.setText("acme/pegasus-legal")
    assert not dialog.model_problem.isVisible()
    dialog.folder_radio.setChecked(True)
    dialog.folder.setText(str(tmp_path / "nowhere"))
    assert "does not exist" in dialog.model_problem.text()
    dialog.folder.setText(str(tmp_path))
    assert "is not a model checkpoint" in dialog.model_problem.text()


def test_model_on_the_command_line_is_checked_and_a_bad_one_not_remembered(
    qtbot, tmp_path, app_checkpoint, shown_errors, monkeypatch
):
    from pegasus_desktop import app as app_module
    from pegasus_desktop import errors, main_window

    save_settings(Settings(model_id="google/pegasus-xsum"))
    windows = []

    class FakeApp:
        def __init__(self, argv):
            self.argv = argv

        def arguments(self):
            return self.argv

        def exec(self):
            return 0

    class FakeWindow(QWidget):
        def __init__(self, settings):
            super().__init__()
            self.settings = settings
            windows.append(self)

    monkeypatch.setattr(app_module, "_can_open_a_window", lambda argv: True)
    monkeypatch.setattr(app_module, "create_application", FakeApp)
    monkeypatch.setattr(app_module, "_quit_on_ctrl_c", lambda window: None)
    monkeypatch.setattr(errors, "install_excepthook", lambda: None)
    monkeypatch.setattr(main_window, "MainWindow", FakeWindow)

    not_a_checkpoint = tmp_path / "some-folder"
    not_a_checkpoint.mkdir()
    assert app_module.run(["pegasus-desktop", "--model", str(not_a_checkpoint)]) == 0
    assert load_settings().model_id == "google/pegasus-xsum"  # not remembered
    assert windows[-1].settings.model_id == "google/pegasus-xsum"
    qtbot.waitUntil(lambda: bool(shown_errors), timeout=5_000)
    assert shown_errors[-1][0] == "Model not used"
    assert "is not a model checkpoint" in shown_errors[-1][1] and "google/pegasus-xsum" in shown_errors[-1][1]

    assert app_module.run(["pegasus-desktop", "--model", "not a valid id!!"]) == 0
    assert load_settings().model_id == "google/pegasus-xsum"
    qtbot.waitUntil(lambda: len(shown_errors) == 2, timeout=5_000)
    assert "is not a Hugging Face model id" in shown_errors[-1][1]

    assert app_module.run(["pegasus-desktop", "--model", str(app_checkpoint)]) == 0
    assert load_settings().model_id == str(app_checkpoint.resolve())  # a real one is remembered
    for window in windows:
        window.deleteLater()
