"""The first-run page when an export is unsafe or busy: a pickle checkpoint is exported only after
the user confirms, and a second window waits for the export another process is writing."""

from __future__ import annotations

import multiprocessing
import shutil
from pathlib import Path

from PySide6.QtWidgets import QMessageBox

from engine.model_dir import export_dir, model_folder_lock
from pegasus_desktop.first_run import FirstRunView
from pegasus_desktop.settings import Settings


def _pickle_only(checkpoint: Path, folder: Path) -> Path:
    import torch
    from safetensors.torch import load_file

    shutil.copytree(checkpoint, folder, ignore=shutil.ignore_patterns("heldout.jsonl"))
    torch.save(load_file(folder / "model.safetensors"), folder / "pytorch_model.bin")
    (folder / "model.safetensors").unlink()
    return folder


def _first_run(qtbot, make_window, model_id: str, root: Path) -> FirstRunView:
    window = make_window(Settings(model_id=model_id, models_root=str(root)))
    qtbot.waitUntil(lambda: window.stack.currentWidget() is window.first_run)
    return window.first_run


def test_pickle_checkpoint_is_exported_only_after_the_user_confirms(
    qtbot, make_window, app_checkpoint, tmp_path, monkeypatch, shown_errors
):
    folder = _pickle_only(app_checkpoint, tmp_path / "pickled")
    root = tmp_path / "models"
    asked = []
    monkeypatch.setattr(
        FirstRunView, "confirm_pickle", lambda self, message: asked.append(message) or True
    )
    view = _first_run(qtbot, make_window, str(folder), root)
    with qtbot.waitSignal(view.ready, timeout=120_000):
        view.start()
    assert len(asked) == 1 and "pickle format" in asked[0] and "can run any code" in asked[0]
    assert (export_dir(str(folder), "int8", root) / "manifest.json").is_file()
    assert shown_errors == []


def test_pickle_checkpoint_declined_keeps_nothing_and_says_why(
    qtbot, make_window, app_checkpoint, tmp_path, monkeypatch, shown_errors
):
    folder = _pickle_only(app_checkpoint, tmp_path / "pickled")
    root = tmp_path / "models"
    monkeypatch.setattr(FirstRunView, "confirm_pickle", lambda self, message: False)
    view = _first_run(qtbot, make_window, str(folder), root)
    with qtbot.waitSignal(view.job.failed, timeout=60_000) as failed:
        view.start()
    assert failed.args[0] == "pickle"
    qtbot.waitUntil(lambda: not view.job.is_running())
    text = view.message.text()
    assert (
        "The model was not exported" in text
        and "pickle format" in text
        and "Nothing was kept" in text
    )
    assert view.start_button.text() == "Try again" and view.start_button.isEnabled()
    assert not export_dir(str(folder), "int8", root).exists()
    assert shown_errors == []  # the confirmation was the dialog


def test_pickle_confirmation_dialog_defaults_to_no(qtbot, monkeypatch):
    seen = {}

    def fake_exec(box):
        seen["text"] = box.text() + " " + box.informativeText()
        seen["default"] = box.defaultButton() is box.button(QMessageBox.StandardButton.No)
        return QMessageBox.StandardButton.No

    monkeypatch.setattr(QMessageBox, "exec", fake_exec)
    view = FirstRunView()
    qtbot.addWidget(view)
    assert view.confirm_pickle("acme/x has its weights only in PyTorch's pickle format.") is False
    assert seen["default"] and "can run code" in seen["text"] and "trust" in seen["text"]


def _hold_lock(model_folder: str, conn) -> None:
    with model_folder_lock(Path(model_folder)):
        conn.send("locked")
        conn.recv()


def test_second_window_waits_while_another_process_exports_the_same_model(
    qtbot, make_window, app_checkpoint, tmp_path
):
    root = tmp_path / "models"
    model_folder = export_dir(str(app_checkpoint), "int8", root).parent
    context = multiprocessing.get_context("spawn")
    receiver, sender = context.Pipe()
    other = context.Process(target=_hold_lock, args=(str(model_folder), sender), daemon=True)
    other.start()
    try:
        assert receiver.poll(60) and receiver.recv() == "locked"
        view = _first_run(qtbot, make_window, str(app_checkpoint), root)
        view.start()
        qtbot.waitUntil(
            lambda: "Another Pegasus Desktop window" in view.message.text(), timeout=60_000
        )
        assert view.job.is_running() and view.cancel_button.isEnabled()
        with qtbot.waitSignal(view.ready, timeout=120_000):
            receiver.send(
                "done"
            )  # the other process finishes (without an export): this one goes on
    finally:
        other.join(10)
        if other.is_alive():
            other.kill()
    assert (export_dir(str(app_checkpoint), "int8", root) / "manifest.json").is_file()
    assert "Another Pegasus Desktop window" not in view.message.text()
