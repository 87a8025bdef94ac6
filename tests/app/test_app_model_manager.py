"""The model manager in Settings: the curated models with a one-line description, their download
size and what of each is on this computer (exported int8/fp32, in the Hugging Face cache, or not
yet); a one-click Use for an installed export; the Hugging Face downloads with their sizes, each
deletable; a model id or folder checked when it is entered, in plain words."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from builders import hub_layout_checkpoint
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox

from engine.files import human_size
from engine.model_dir import MANIFEST, export_dir
from pegasus_desktop.download_size import USUAL_SIZES
from pegasus_desktop.resources import folder_size
from pegasus_desktop.settings import CURATED_MODELS, Settings
from pegasus_desktop.settings_dialog import SettingsDialog


@pytest.fixture
def hub_cache(tmp_path, monkeypatch) -> Path:
    from huggingface_hub import constants

    cache = tmp_path / "hf-cache"
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    return cache


def cache_model(cache: Path, model_id: str) -> Path:
    """A model in the Hugging Face cache's layout (blobs are plain files here)."""
    commit = "5" * 40
    repo = cache / ("models--" + model_id.replace("/", "--"))
    hub_layout_checkpoint(repo / "snapshots" / commit)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    return repo


def fake_export(root: Path, model_id: str, precision: str) -> Path:
    """Only what the listing reads: a finished export's manifest."""
    folder = export_dir(model_id, precision, root)
    folder.mkdir(parents=True)
    (folder / MANIFEST).write_text(json.dumps({"source": {"model_id": model_id}}))
    (folder / "weights.bin").write_bytes(bytes(1000))
    return folder


def rows(dialog) -> dict[str, list[str]]:
    tree = dialog.curated
    return {
        tree.topLevelItem(i).text(0): [tree.topLevelItem(i).text(c) for c in range(1, 4)]
        for i in range(tree.topLevelItemCount())
    }


def make_dialog(qtbot, settings, delete_export=lambda folder: None, parent=None, **kwargs):
    dialog = SettingsDialog(settings, delete_export, parent, **kwargs)
    qtbot.addWidget(dialog)
    return dialog


def test_curated_models_show_what_they_are_for_their_size_and_not_yet(qtbot, tmp_path, hub_cache):
    dialog = make_dialog(qtbot, Settings(models_root=str(tmp_path / "models")))
    shown = rows(dialog)
    assert list(shown) == [m for m, _ in CURATED_MODELS]
    for model_id, description in CURATED_MODELS:
        what, size, state = shown[model_id]
        assert what == description and len(description.split()) >= 2
        assert size == f"≈ {human_size(USUAL_SIZES[model_id])}"
        assert state == "Not yet"
        assert dialog.curated.use_widget(model_id) is None  # nothing to use yet
    assert shown["google/pegasus-xsum"][1] == "≈ 2.3 GB"
    assert shown["sshleifer/distill-pegasus-xsum-16-4"][1] == "≈ 1.5 GB"


def test_installed_state_says_exported_or_downloaded(qtbot, tmp_path, hub_cache):
    root = tmp_path / "models"
    fake_export(root, "google/pegasus-xsum", "int8")
    fake_export(root, "google/pegasus-xsum", "fp32")
    fake_export(root, "google/pegasus-arxiv", "fp32")
    repo = cache_model(hub_cache, "sshleifer/distill-pegasus-xsum-16-4")
    cache_model(hub_cache, "google/pegasus-arxiv")
    dialog = make_dialog(qtbot, Settings(models_root=str(root)))
    shown = rows(dialog)
    size = human_size(folder_size(repo))
    assert shown["google/pegasus-xsum"][2] == "Exported (int8, fp32)"
    assert shown["sshleifer/distill-pegasus-xsum-16-4"][2] == f"In the Hugging Face cache ({size})"
    assert shown["google/pegasus-arxiv"][2].startswith("Exported (fp32); In the Hugging Face cache (")
    assert shown["google/pegasus-cnn_dailymail"][2] == "Not yet"


def test_use_switches_to_an_installed_export_in_one_click(qtbot, tmp_path, hub_cache):
    root = tmp_path / "models"
    fake_export(root, "google/pegasus-arxiv", "fp32")  # only fp32, while int8 is chosen
    fake_export(root, "google/pegasus-xsum", "int8")
    dialog = make_dialog(qtbot, Settings(models_root=str(root), precision="int8"))
    arxiv = dialog.curated.use_widget("google/pegasus-arxiv")
    assert arxiv.text() == "Use (fp32)"
    assert dialog.curated.use_widget("google/pegasus-xsum").text() == "Use (int8)"
    qtbot.mouseClick(arxiv, Qt.MouseButton.LeftButton)
    assert dialog.result() == SettingsDialog.DialogCode.Accepted
    chosen = dialog.result_settings()
    assert (chosen.model_id, chosen.precision) == ("google/pegasus-arxiv", "fp32")


def test_use_on_an_export_loads_it_in_the_window(
    qtbot, make_window, app_checkpoint, app_exports, tmp_path, hub_cache
):
    """A local checkpoint's exports are in the Storage list, each with its own Use: one click
    and the window loads that export, with no set-up page."""
    root = tmp_path / "models"
    shutil.copytree(app_exports, root)
    window = make_window(Settings(model_id=str(app_checkpoint), models_root=str(root)))
    qtbot.waitUntil(lambda: window.model is not None, timeout=20_000)
    dialog = make_dialog(qtbot, window.settings, window.delete_export, window)
    items = {dialog.exports.topLevelItem(i).text(1): dialog.exports.topLevelItem(i) for i in range(2)}
    use = dialog.exports.itemWidget(items["fp32"], 3).findChild(type(dialog.downloads.delete_button))
    qtbot.mouseClick(use, Qt.MouseButton.LeftButton)
    assert dialog.result() == SettingsDialog.DialogCode.Accepted
    window.apply_settings(dialog.result_settings())
    qtbot.waitUntil(
        lambda: window.model is not None and window.model.precision == "fp32", timeout=30_000
    )
    assert window.model.model_id == str(app_checkpoint)
    assert window.stack.currentWidget() is window.page


def test_downloads_are_listed_with_their_size_and_deleted_after_asking(
    qtbot, tmp_path, hub_cache, monkeypatch
):
    root = tmp_path / "models"
    export = fake_export(root, "google/pegasus-xsum", "int8")
    xsum = cache_model(hub_cache, "google/pegasus-xsum")
    other = cache_model(hub_cache, "acme/pegasus-legal")
    dialog = make_dialog(qtbot, Settings(models_root=str(root)))
    listed = dialog.downloads.list
    found = {listed.topLevelItem(i).text(0): listed.topLevelItem(i).text(1)
             for i in range(listed.topLevelItemCount())}
    assert found == {
        "acme/pegasus-legal": human_size(folder_size(other)),
        "google/pegasus-xsum": human_size(folder_size(xsum)),
    }
    assert not dialog.downloads.delete_button.isEnabled()  # nothing selected
    item = next(listed.topLevelItem(i) for i in range(2)
                if listed.topLevelItem(i).text(0) == "google/pegasus-xsum")
    listed.setCurrentItem(item)
    assert dialog.downloads.delete_button.isEnabled()
    asked = []
    monkeypatch.setattr(QMessageBox, "question",
                        lambda *a, **k: asked.append(a[2]) or QMessageBox.StandardButton.No)
    qtbot.mouseClick(dialog.downloads.delete_button, Qt.MouseButton.LeftButton)
    assert xsum.is_dir() and "google/pegasus-xsum" in asked[-1] and "exports stay" in asked[-1]
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    qtbot.mouseClick(dialog.downloads.delete_button, Qt.MouseButton.LeftButton)
    assert not xsum.exists() and other.is_dir() and export.is_dir()  # only that download
    assert listed.topLevelItemCount() == 1 and listed.topLevelItem(0).text(0) == "acme/pegasus-legal"
    assert rows(dialog)["google/pegasus-xsum"][2] == "Exported (int8)"  # the state follows


def test_a_model_id_or_folder_is_checked_as_it_is_entered(qtbot, tmp_path, app_checkpoint, hub_cache):
    dialog = make_dialog(qtbot, Settings(models_root=str(tmp_path / "models")))
    dialog.show()
    assert not dialog.model_problem.isVisible()
    dialog.hub_radio.setChecked(True)
    for bad in ("google/", "two/slashes/here", "-acme/x", "acme/x..y"):
        dialog.hub_id.setText(bad)
        assert dialog.model_problem.isVisible(), bad
        assert "is not a Hugging Face model id" in dialog.model_problem.text()
    dialog.hub_id.setText("")
    assert "Type a Hugging Face model id" in dialog.model_problem.text()
    dialog.hub_id.setText("acme/pegasus-legal")
    assert not dialog.model_problem.isVisible()
    dialog.folder_radio.setChecked(True)
    weights_missing = tmp_path / "ckpt"
    weights_missing.mkdir()
    shutil.copy(app_checkpoint / "config.json", weights_missing / "config.json")
    dialog.folder.setText(str(weights_missing))
    assert dialog.model_problem.isVisible() and "weights" in dialog.model_problem.text().lower()
    a_file = tmp_path / "config.json"
    a_file.write_text("{}")
    dialog.folder.setText(str(a_file))
    assert "is a file, not a folder" in dialog.model_problem.text()
    dialog.folder.setText(str(app_checkpoint))
    assert not dialog.model_problem.isVisible()
    assert dialog.accept_if_valid() and dialog.result_settings().model_id == str(app_checkpoint)
