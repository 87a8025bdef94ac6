"""The first-run page when an export is busy: a second window waits for the export another
process is writing. (pytorch_model.bin checkpoints, which once needed the user's confirmation,
are exported with no question: see test_app_first_run.py.)"""

from __future__ import annotations

import multiprocessing
from pathlib import Path

from engine.model_dir import export_dir, model_folder_lock
from pegasus_desktop.first_run import FirstRunView
from pegasus_desktop.settings import Settings


def _first_run(qtbot, make_window, model_id: str, root: Path) -> FirstRunView:
    window = make_window(Settings(model_id=model_id, models_root=str(root)))
    qtbot.waitUntil(lambda: window.stack.currentWidget() is window.first_run)
    return window.first_run


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
