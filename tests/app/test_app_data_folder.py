"""Settings → Storage → Change… moves where exports are kept: the choice is saved, the model is
loaded again from the new folder, and a folder without the export shows the set-up page for it."""

from __future__ import annotations

import shutil
from pathlib import Path

from PySide6.QtWidgets import QFileDialog

from pegasus_desktop.settings import load_settings
from pegasus_desktop.settings_dialog import SettingsDialog


def _change_data_folder(window, monkeypatch, folder: Path) -> None:
    """What a user does: Settings, Storage → Change…, pick ``folder``, OK."""
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(folder))
    dialog = SettingsDialog(window.settings, window.delete_export, window, in_use=Path(window.model.folder))
    dialog._change_root()
    assert str(folder) in dialog.root_label.text()
    window.apply_settings(dialog.result_settings())
    dialog.deleteLater()


def test_a_new_data_folder_holding_the_export_is_used_and_remembered(
    qtbot, loaded_window, app_exports, tmp_path, monkeypatch
):
    window = loaded_window
    moved = tmp_path / "moved-models"
    shutil.copytree(app_exports, moved)
    _change_data_folder(window, monkeypatch, moved)
    qtbot.waitUntil(lambda: window.model is not None and Path(window.model.folder).is_relative_to(moved),
                    timeout=30_000)
    assert load_settings().models_root == str(moved)


def test_an_empty_data_folder_asks_to_set_the_model_up_there(qtbot, loaded_window, tmp_path, monkeypatch):
    window = loaded_window
    empty = tmp_path / "empty-models"
    empty.mkdir()
    _change_data_folder(window, monkeypatch, empty)
    qtbot.waitUntil(lambda: window.stack.currentWidget() is window.first_run, timeout=30_000)
    assert window.model is None
    assert str(empty) in window.first_run.intro.text()  # "The result goes to <the new folder>"
