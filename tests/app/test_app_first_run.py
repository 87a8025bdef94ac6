"""First run: a real export of the fixture checkpoint in a spawned process, cancel, offline."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from test_export_messages import CASES, old_message

from engine.model_dir import MANIFEST, MANIFEST_FORMAT, export_dir
from pegasus_desktop.export_messages import ExportInfo, FailureKind, Progress
from pegasus_desktop.settings import Settings


def test_first_run_exports_from_a_local_folder_then_summarizes(
    qtbot, make_window, app_checkpoint, tmp_path, article
):
    root = tmp_path / "models"
    window = make_window(Settings(model_id=str(app_checkpoint), models_root=str(root)))
    qtbot.waitUntil(lambda: window.stack.currentWidget() is window.first_run)
    view = window.first_run
    assert view.start_button.isEnabled() and not view.cancel_button.isEnabled()
    assert str(app_checkpoint) in view.intro.text()
    stages = []
    view.job.progress.connect(lambda stage, done, total, detail: stages.append(stage))
    with qtbot.waitSignal(view.ready, timeout=120_000):
        qtbot.mouseClick(view.start_button, Qt.MouseButton.LeftButton)
        assert view.cancel_button.isEnabled()
    assert {"load", "export", "quantize", "verify"} <= set(stages)
    assert all(row.bar.value() == 1000 for row in view.rows.values() if row.bar.isVisible())
    assert view.rows["download"].detail.text() == "Not needed"  # a local folder downloads nothing
    folder = export_dir(str(app_checkpoint), "int8", root)
    assert (folder / "manifest.json").is_file()
    assert not [p.name for p in folder.parent.iterdir() if p.name.startswith(".")]
    qtbot.waitUntil(lambda: window.model is not None, timeout=20_000)
    assert window.stack.currentWidget() is window.page
    window.page.input.setPlainText(article)
    with qtbot.waitSignal(window.engine.finished, timeout=30_000):
        window.summarize()
    assert window.page.output.toPlainText()


def test_cancelled_first_run_leaves_no_export_and_offers_to_try_again(
    qtbot, make_window, app_checkpoint, tmp_path
):
    """Cancel while the export process is surely mid-way: another process holds the model's
    export lock, so the export waits until it is cancelled (the tiny fixture's export is otherwise
    done before the page has read its first progress report, and a cancel could come too late)."""
    import multiprocessing

    from test_app_robust import _hold_lock

    root = tmp_path / "models"
    context = multiprocessing.get_context("spawn")
    receiver, sender = context.Pipe()
    holder = context.Process(target=_hold_lock, args=(str(export_dir(str(app_checkpoint), "int8", root).parent),
                                                      sender), daemon=True)
    holder.start()
    assert receiver.poll(60) and receiver.recv() == "locked"
    window = make_window(Settings(model_id=str(app_checkpoint), models_root=str(root)))
    qtbot.waitUntil(lambda: window.stack.currentWidget() is window.first_run)
    view = window.first_run
    seen = []

    def cancel_when_waiting(stage, done, total, detail):
        seen.append(stage)
        if stage == "wait":
            view.cancel()

    view.job.progress.connect(cancel_when_waiting)
    window.activateWindow()
    qtbot.waitUntil(view.start_button.hasFocus)  # the keyboard starts it: Return, as in a dialog
    try:
        with qtbot.waitSignal(view.job.cancelled, timeout=120_000):
            qtbot.keyClick(view.start_button, Qt.Key.Key_Return)
    finally:
        receiver.send("done")
        holder.join(10)
    assert "wait" in seen and "verify" not in seen
    assert not view.job.is_running()
    assert not export_dir(str(app_checkpoint), "int8", root).exists()
    staging = [p.name for p in export_dir(str(app_checkpoint), "int8", root).parent.glob("*") if p.name != ".lock"]
    assert not staging, staging  # no staging left either
    assert view.start_button.text() == "Try again" and view.start_button.isEnabled()
    assert view.start_button.hasFocus()  # Return tries again
    assert "Cancelled" in view.message.text()
    assert window.model is None and window.stack.currentWidget() is view


def test_offline_failure_names_the_folder_setting_and_the_hf_cache(
    qtbot, make_window, tmp_path, shown_errors
):
    assert os.environ["HF_HUB_OFFLINE"] == "1"
    root = tmp_path / "models"
    window = make_window(Settings(model_id="nobody-here/not-cached-pegasus", models_root=str(root)))
    qtbot.waitUntil(lambda: window.stack.currentWidget() is window.first_run)
    view = window.first_run
    with qtbot.waitSignal(view.job.failed, timeout=60_000) as failed:
        view.start()
    (failure,) = failed.args
    assert failure.kind is FailureKind.OFFLINE, failure
    from huggingface_hub import constants

    text = view.message.text()
    assert "No network connection" in text
    assert "Settings → Model → Folder…" in text
    assert str(Path(constants.HF_HUB_CACHE)) in text
    assert view.start_button.text() == "Try again"
    assert shown_errors and shown_errors[-1][0] == "No network connection"
    assert not root.exists() or not any(root.iterdir())


def test_damaged_export_offers_a_re_export(
    qtbot, make_window, app_checkpoint, app_exports, tmp_path, shown_errors
):
    import shutil

    root = tmp_path / "models"
    shutil.copytree(app_exports, root)
    folder = export_dir(str(app_checkpoint), "int8", root)
    (folder / "weights.bin").write_bytes(b"broken")
    window = make_window(Settings(model_id=str(app_checkpoint), models_root=str(root)))
    qtbot.waitUntil(lambda: window.stack.currentWidget() is window.first_run, timeout=20_000)
    assert window.first_run.start_button.text() == "Re-export"
    assert "weights.bin" in window.first_run.message.text()
    assert shown_errors and shown_errors[0][0] == "The model could not be loaded"


def test_an_export_from_an_older_version_says_so_and_its_re_export_works(
    qtbot, make_window, app_checkpoint, app_exports, tmp_path, shown_errors
):
    """A format 4 export (an older version's: its decoder graph does not verify drafts) cannot
    run: the first-run page says why and re-exports it, and the new export is loaded."""
    import json
    import shutil

    root = tmp_path / "models"
    shutil.copytree(app_exports, root)
    manifest_path = export_dir(str(app_checkpoint), "int8", root) / MANIFEST
    manifest = json.loads(manifest_path.read_text())
    manifest["format"] = 4
    manifest_path.write_text(json.dumps(manifest))
    window = make_window(Settings(model_id=str(app_checkpoint), models_root=str(root)))
    qtbot.waitUntil(lambda: window.stack.currentWidget() is window.first_run, timeout=20_000)
    view = window.first_run
    message = view.message.text()
    assert "made by an older version of Pegasus Desktop" in message
    assert "must be re-exported" in message
    assert view.title.text() == "Re-export the model" and view.start_button.text() == "Re-export"
    assert shown_errors and shown_errors[0][:2] == ("The model could not be loaded", message)
    with qtbot.waitSignal(window.engine.loaded, timeout=120_000):
        qtbot.mouseClick(view.start_button, Qt.MouseButton.LeftButton)
    assert window.stack.currentWidget() is window.page and window.model is not None
    assert json.loads(manifest_path.read_text())["format"] == MANIFEST_FORMAT


def test_download_progress_is_shown_in_bytes(qtbot, make_window, tmp_path):
    window = make_window(Settings(model_id="google/pegasus-xsum", models_root=str(tmp_path / "m")))
    qtbot.waitUntil(lambda: window.stack.currentWidget() is window.first_run)
    view = window.first_run
    assert "downloads <b>google/pegasus-xsum</b>" in view.intro.text()
    view.job.progress.emit("download", 0.0, 0.0, "google/pegasus-xsum")
    row = view.rows["download"]
    assert row.bar.maximum() == 0  # busy until the size is known
    view.job.progress.emit("download", 1_500_000.0, 3_000_000.0, "")
    assert row.detail.text() == "1.5 MB of 3.0 MB" and row.bar.value() == 500
    view.job.progress.emit("export", 1.0, 2.0, "decoder")
    assert row.detail.text() == "Done" and row.bar.value() == 1000
    assert view.rows["load"].detail.text() == "Not needed"
    assert view.rows["export"].detail.text() == "decoder (2 of 2)"


def test_export_progress_messages_do_not_wear_out_true(qtbot, make_window, tmp_path):
    """An export sends thousands of progress messages. PySide6 6.12.0's emit() drops a reference
    to True each call (CPython aborts once they are gone); the job's emits give it back."""
    window = make_window(Settings(model_id="google/pegasus-xsum", models_root=str(tmp_path / "m")))
    qtbot.waitUntil(lambda: window.stack.currentWidget() is window.first_run)
    job = window.first_run.job
    before = sys.getrefcount(True)
    for i in range(3000):
        job._handle(Progress("download", float(i), 3000.0, ""))
        job._handle(ExportInfo("downloading"))
    assert window.first_run.rows["download"].bar.value() == 1000 * 2999 // 3000
    assert sys.getrefcount(True) > before - 50


def test_export_process_that_dies_is_reported(
    qtbot, make_window, app_checkpoint, tmp_path, shown_errors
):
    import signal

    root = tmp_path / "models"
    window = make_window(Settings(model_id=str(app_checkpoint), models_root=str(root)))
    qtbot.waitUntil(lambda: window.stack.currentWidget() is window.first_run)
    view = window.first_run
    with qtbot.waitSignal(view.job.failed, timeout=30_000) as failed:
        view.start()
        os.kill(view.job._process.pid, signal.SIGKILL)
    (failure,) = failed.args
    assert failure.kind is FailureKind.CRASH and "stopped unexpectedly" in failure.message
    assert view.start_button.text() == "Try again" and not view.job.is_running()
    assert not export_dir(str(app_checkpoint), "int8", root).parent.exists()


def test_cancelled_re_export_keeps_and_reloads_the_old_export(
    qtbot, make_window, app_checkpoint, app_exports, tmp_path
):
    import dataclasses
    import shutil

    root = tmp_path / "models"
    shutil.copytree(app_exports, root)
    window = make_window(Settings(model_id=str(app_checkpoint), models_root=str(root)))
    qtbot.waitUntil(lambda: window.model is not None, timeout=20_000)
    window.apply_settings(dataclasses.replace(window.settings), reexport=True)
    view = window.first_run
    assert view.job.is_running() and window.stack.currentWidget() is view
    assert view.title.text() == "Re-export the model" and window.engine.worker.summarizer is None
    with qtbot.waitSignal(window.engine.loaded, timeout=20_000):
        view.cancel_button.click()
    assert window.stack.currentWidget() is window.page and window.model.precision == "int8"
    assert (export_dir(str(app_checkpoint), "int8", root) / "manifest.json").is_file()


def test_first_run_exports_a_pytorch_model_bin_checkpoint_with_no_question(
    qtbot, make_window, app_checkpoint, tmp_path, monkeypatch, shown_errors
):
    """As google/pegasus-cnn_dailymail keeps its weights: only in pytorch_model.bin."""
    from builders import with_torch_weights
    from PySide6.QtWidgets import QMessageBox

    folder = with_torch_weights(app_checkpoint, tmp_path / "bin")
    asked = []
    monkeypatch.setattr(QMessageBox, "exec", lambda box: asked.append(box.text()) or QMessageBox.StandardButton.No)
    root = tmp_path / "models"
    window = make_window(Settings(model_id=str(folder), models_root=str(root)))
    qtbot.waitUntil(lambda: window.stack.currentWidget() is window.first_run)
    with qtbot.waitSignal(window.first_run.ready, timeout=120_000):
        window.first_run.start()
    assert asked == [] and shown_errors == []
    assert (export_dir(str(folder), "int8", root) / "manifest.json").is_file()


def test_first_run_refuses_a_bin_that_would_run_code_and_runs_nothing(
    qtbot, make_window, app_checkpoint, tmp_path, shown_errors
):
    from builders import hostile_weights, with_torch_weights

    folder = with_torch_weights(app_checkpoint, tmp_path / "hostile")
    marker = tmp_path / "command-ran"
    hostile_weights(folder / "pytorch_model.bin", marker, "reduce-zip")
    root = tmp_path / "models"
    window = make_window(Settings(model_id=str(folder), models_root=str(root)))
    qtbot.waitUntil(lambda: window.stack.currentWidget() is window.first_run)
    view = window.first_run
    with qtbot.waitSignal(view.job.failed, timeout=120_000) as failed:
        view.start()
    (failure,) = failed.args
    message = failure.message
    assert failure.kind is FailureKind.REFUSED, failure
    assert f"{folder / 'pytorch_model.bin'} was refused: it holds something other than tensors" in message
    assert "Nothing in it was run" in message
    assert "The model could not be prepared" in view.message.text() and "Nothing was kept" in view.message.text()
    assert shown_errors and "something other than tensors" in shown_errors[-1][1]
    assert view.start_button.text() == "Try again"
    assert not marker.exists()
    assert not export_dir(str(folder), "int8", root).exists()


# What the page showed for each old kind of failure (a copy of its code before the messages were
# typed, as the reference the typed messages must match).
_OLD_TITLES = {
    "offline": "No network connection",
    "disk": "Not enough disk space",
    "missing-extra": "Export components missing",
    "engine": "The model could not be prepared",
    "crash": "The model could not be prepared",
}


def _old_page_text(kind: str, message: str) -> tuple[str, str]:
    from pegasus_desktop.first_run import offline_advice

    title = _OLD_TITLES.get(kind, "The model could not be prepared")
    text = f"{title}. {message}"
    if kind == "offline":
        text += "\n\n" + offline_advice()
    return title, text


@pytest.mark.parametrize("name", list(CASES))
def test_the_page_shows_each_kind_of_failure_as_before(
    qtbot, make_window, tmp_path, monkeypatch, shown_errors, name
):
    from pegasus_desktop.export_messages import failure_from

    make, kind, old_kind = CASES[name]
    error = make(tmp_path, monkeypatch)
    failure = failure_from(error)
    assert failure.kind is kind
    window = make_window(Settings(model_id="acme/x", models_root=str(tmp_path / "models")))
    qtbot.waitUntil(lambda: window.stack.currentWidget() is window.first_run)
    view = window.first_run
    view.job.failed.emit(failure)
    message, details = old_message(error, old_kind)
    title, text = _old_page_text(old_kind, message)
    assert view.message.text() == text + "\n\nNothing was kept. Fix the problem and try again."
    assert shown_errors[-1] == (title, text, details)
    assert view.start_button.text() == "Try again"
