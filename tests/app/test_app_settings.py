"""Settings: the file, persistence across a restart of the window, the dialog, reloads, token."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import stat
from pathlib import Path

import pytest
from PySide6.QtWidgets import QMessageBox

from engine.errors import DiskFullError
from engine.model_dir import export_dir
from pegasus_desktop.disk import check_free_space
from pegasus_desktop.options_panel import length_presets
from pegasus_desktop.settings import (
    CURATED_MODELS,
    Settings,
    load_settings,
    save_settings,
    settings_path,
)
from pegasus_desktop.settings_dialog import SettingsDialog


def test_settings_file_round_trip_and_bad_values(user_dirs):
    path = settings_path()
    assert str(path).startswith(str(user_dirs / "xdg_config_home"))
    assert load_settings() == Settings()
    settings = Settings(
        model_id="google/pegasus-xsum", precision="fp32", n_threads=2, last_input="héllo"
    )
    save_settings(settings)
    assert load_settings() == settings
    path.write_text(
        json.dumps({"precision": "fp16", "n_threads": "many", "model_id": "", "unknown": 1})
    )
    assert load_settings() == Settings()
    path.write_text("{ not json")
    assert load_settings() == Settings()
    assert [p.name for p in path.parent.iterdir()] == ["settings.json"]  # no temp files left


@pytest.mark.skipif(os.name != "posix", reason="POSIX file permissions")
def test_settings_file_gets_the_users_default_permissions(user_dirs):
    path = settings_path()
    old = os.umask(0o022)
    try:
        save_settings(Settings())
        assert stat.S_IMODE(path.stat().st_mode) == 0o644
        save_settings(Settings(last_input="again"))  # replacing it keeps that
        assert stat.S_IMODE(path.stat().st_mode) == 0o644
        path.chmod(0o600)  # the user made it private: it stays private
        save_settings(Settings(last_input="private"))
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        path.unlink()
        os.umask(0o077)
        save_settings(Settings())
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    finally:
        os.umask(old)
    assert [p.name for p in path.parent.iterdir()] == ["settings.json"]


def test_length_presets_follow_the_generation_config():
    presets = length_presets({"min_length": 32, "max_length": 128}, 1024)
    assert presets == {"short": (16, 64), "medium": (32, 128), "long": (48, 256)}
    assert length_presets({"max_length": 64}, 100)["long"] == (0, 100)


def test_disk_space_check_says_how_much_is_needed(tmp_path, monkeypatch):
    from engine import files
    from pegasus_desktop import disk

    monkeypatch.setattr(files, "free_space", lambda root: 7_000_000_000)
    # 2 GB of weights: the download (2.0) + the fp32 copy (2.1) + the int8 copy (0.6) at once.
    assert "Needs about 4.7 GB; 7.0 GB free" in check_free_space(2_000_000_000, tmp_path)
    with pytest.raises(DiskFullError, match=r"needs about 7\.5 GB .* only 7\.0 GB free"):
        check_free_space(3_200_000_000, tmp_path)
    # Already on this machine: only the export's own copies count.
    assert "Needs about 5.4 GB" in check_free_space(4_000_000_000, tmp_path, download=False)
    monkeypatch.setattr(files, "free_space", lambda root: None)
    assert "unknown" in check_free_space(2_000_000_000, tmp_path)  # cannot tell: not refused
    (tmp_path / "ckpt").mkdir()
    (tmp_path / "ckpt" / "model.safetensors").write_bytes(b"x" * 1000)
    assert disk.checkpoint_bytes(str(tmp_path / "ckpt")) == 1000
    assert (
        disk.checkpoint_bytes("nobody-here/not-cached-pegasus") is None
    )  # offline: unknown, skipped


def test_settings_persist_across_a_restart_of_the_window(qtbot, make_window, settings_for, article):
    window = make_window(settings_for())
    qtbot.waitUntil(lambda: window.model is not None, timeout=20_000)
    window.resize(700, 500)
    window.page.input.setPlainText(article)
    panel = window.page.options
    panel._button("short").click()
    panel.advanced_button.setChecked(True)
    panel.no_repeat.setValue(3)
    saved_state = panel.state()
    window.close()

    settings = load_settings()
    assert settings.last_input == article and settings.options == saved_state
    again = make_window(settings)
    qtbot.waitUntil(lambda: again.model is not None, timeout=20_000)
    assert again.page.input.toPlainText() == article
    assert again.page.options.state() == saved_state
    assert again.page.options.length() == "short" and again.page.options.advanced.isVisible()
    assert (again.width(), again.height()) == (700, 500)


def test_typed_text_is_saved_without_closing(qtbot, loaded_window):
    loaded_window.page.input.setPlainText("Unsaved work survives a crash.")
    qtbot.waitUntil(
        lambda: load_settings().last_input == "Unsaved work survives a crash.", timeout=5_000
    )


def test_switching_precision_reloads_on_the_worker(
    qtbot, loaded_window, app_checkpoint, app_exports, article
):
    window = loaded_window
    assert window.model.precision == "int8"
    worker_summarizer = window.engine.worker.summarizer
    with qtbot.waitSignal(window.engine.loaded, timeout=20_000) as loaded:
        window.apply_settings(dataclasses.replace(window.settings, precision="fp32"))
        assert window.model is None and not window.page.summarize_button.isEnabled()  # not blocking
    assert loaded.args[0].precision == "fp32" and window.model.precision == "fp32"
    assert window.model.folder == export_dir(str(app_checkpoint), "fp32", app_exports)
    assert window.engine.worker.summarizer is not worker_summarizer
    assert "fp32" in window.status.text() and load_settings().precision == "fp32"
    window.page.input.setPlainText(article)
    with qtbot.waitSignal(window.engine.finished, timeout=30_000) as finished:
        window.summarize()
    assert window.page.output.toPlainText() == finished.args[1].text


def test_the_model_is_not_reloaded_per_request(qtbot, loaded_window, article):
    summarizer = loaded_window.engine.worker.summarizer
    loaded_window.page.input.setPlainText(article)
    for _ in range(2):
        with qtbot.waitSignal(loaded_window.engine.finished, timeout=30_000):
            loaded_window.summarize()
    assert loaded_window.engine.worker.summarizer is summarizer


def test_dialog_lists_curated_models_and_returns_the_choice(
    qtbot, app_checkpoint, tmp_path, shown_errors
):
    dialog = SettingsDialog(Settings(), delete_export=lambda folder: None)
    qtbot.addWidget(dialog)
    ids = [
        dialog.curated.topLevelItem(i).text(0) for i in range(dialog.curated.topLevelItemCount())
    ]
    assert ids == [m for m, _ in CURATED_MODELS] and ids[0] == "google/pegasus-cnn_dailymail"
    assert all(dialog.curated.topLevelItem(i).text(1) for i in range(len(ids)))
    assert (
        dialog.curated_radio.isChecked() and dialog.chosen_model() == "google/pegasus-cnn_dailymail"
    )

    dialog.hub_radio.setChecked(True)
    dialog.hub_id.setText("acme/pegasus-legal")
    dialog.precision.setCurrentIndex(dialog.precision.findData("fp32"))
    dialog.threads.setValue(1)
    dialog.accept()
    result = dialog.result_settings()
    assert (result.model_id, result.precision, result.n_threads) == (
        "acme/pegasus-legal",
        "fp32",
        1,
    )

    dialog = SettingsDialog(Settings(), delete_export=lambda folder: None)
    qtbot.addWidget(dialog)
    dialog.folder_radio.setChecked(True)
    dialog.folder.setText(str(tmp_path))  # no config.json
    assert not dialog.accept_if_valid()
    assert "not a model checkpoint" in shown_errors[-1][1]
    dialog.folder.setText(str(app_checkpoint))
    assert dialog.accept_if_valid() and dialog.result_settings().model_id == str(app_checkpoint)


def test_dialog_shows_data_folder_and_deletes_an_export_after_confirming(
    qtbot, make_window, app_checkpoint, app_exports, tmp_path, monkeypatch
):
    root = tmp_path / "models"
    shutil.copytree(app_exports, root)
    window = make_window(Settings(model_id=str(app_checkpoint), models_root=str(root)))
    qtbot.waitUntil(lambda: window.model is not None, timeout=20_000)
    dialog = SettingsDialog(window.settings, window.delete_export, window)
    qtbot.addWidget(dialog)
    assert dialog.root_label.text() == str(root)
    assert dialog.size_label.text().startswith("Using ") and "bytes" not in dialog.size_label.text()
    assert dialog.exports.topLevelItemCount() == 2
    int8 = export_dir(str(app_checkpoint), "int8", root)
    item = next(
        dialog.exports.topLevelItem(i)
        for i in range(2)
        if dialog.exports.topLevelItem(i).text(1) == "int8"
    )
    assert item.text(0) == str(app_checkpoint)
    dialog.exports.setCurrentItem(item)

    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.No)
    dialog._delete_selected()
    assert int8.is_dir()
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    dialog._delete_selected()
    assert not int8.exists() and export_dir(str(app_checkpoint), "fp32", root).is_dir()
    assert dialog.exports.topLevelItemCount() == 1
    assert window.model is None and window.engine.worker.summarizer is None  # unloaded first
    dialog.reject()
    window.prepare_model()
    assert window.stack.currentWidget() is window.first_run


def test_token_goes_to_huggingface_hub_not_the_settings_file(qtbot, monkeypatch):
    import huggingface_hub
    from huggingface_hub import constants

    calls = []

    def fake_login(token, add_to_git_credential):
        calls.append((token, add_to_git_credential))
        path = Path(constants.HF_TOKEN_PATH)  # where get_token() reads it
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(token)

    monkeypatch.setattr(huggingface_hub, "login", fake_login)
    dialog = SettingsDialog(Settings(), delete_export=lambda folder: None)
    qtbot.addWidget(dialog)
    assert dialog.token_status.text() == "No token is saved."
    dialog.token.setText("hf_secretsecret1234")
    dialog._save_token()
    qtbot.waitUntil(lambda: "1234" in dialog.token_status.text(), timeout=5_000)
    assert calls == [("hf_secretsecret1234", False)] and dialog.token.text() == ""
    dialog.accept()
    save_settings(dialog.result_settings())
    assert "hf_secret" not in settings_path().read_text()
    dialog._remove_token()
    assert dialog.token_status.text() == "No token is saved."


def test_a_checkpoint_already_on_this_machine_needs_no_room_for_its_download(tmp_path, tiny_checkpoint,
                                                                             monkeypatch):
    """A local folder, or a hub id whose checkpoint is in the Hugging Face cache, is not counted
    twice: the first run asks room for the export's copies only. A hub id not in the cache is."""
    from huggingface_hub import constants

    from pegasus_desktop.disk import needs_download

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))  # this test's own cache
    assert needs_download(str(tiny_checkpoint)) is False
    assert needs_download("acme/tiny-pegasus") is True
    repo = tmp_path / "hub" / "models--acme--tiny-pegasus"
    commit = "0123456789abcdef0123456789abcdef01234567"
    shutil.copytree(tiny_checkpoint, repo / "snapshots" / commit)
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    assert needs_download("acme/tiny-pegasus") is False
    (repo / "snapshots" / commit / "model.safetensors").unlink()  # an incomplete snapshot
    assert needs_download("acme/tiny-pegasus") is True
