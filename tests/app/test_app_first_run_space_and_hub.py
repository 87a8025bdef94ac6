"""The first-run page as the README describes it: it refuses, before anything is written, an
export the disk has no room for, and it downloads a model from a hub, exports it and summarizes
with it, end to end (the hub is a local stand-in on 127.0.0.1; no other network)."""

from __future__ import annotations

import json
import re

from hub_server import LocalHub
from PySide6.QtCore import Qt

from engine.export.space import checkpoint_weights_bytes, export_bytes_needed
from engine.files import human_size
from engine.model_dir import export_dir
from pegasus_desktop.settings import Settings


def _first_run(qtbot, make_window, model_id: str, root):
    window = make_window(Settings(model_id=model_id, models_root=str(root)))
    qtbot.waitUntil(lambda: window.stack.currentWidget() is window.first_run)
    return window, window.first_run


def test_too_little_free_space_is_refused_on_the_page_and_the_export_never_starts(
    qtbot, make_window, app_checkpoint, tmp_path, shown_errors, monkeypatch
):
    """The export child's free-space check (engine.files.free_space) sees 1,000 bytes free: the
    page says how much is needed and how little is free, and nothing is converted or written."""
    from children import little_space

    from pegasus_desktop import export_child

    monkeypatch.setattr(export_child, "run_export", little_space.run_export)  # the spawned target
    root = tmp_path / "models"
    window, view = _first_run(qtbot, make_window, str(app_checkpoint), root)
    reports = []
    view.job.progress.connect(lambda stage, done, total, detail: reports.append(stage))
    view.job.info.connect(reports.append)
    qtbot.mouseClick(view.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not view.job.is_running(), timeout=60_000)

    # A local folder is on this machine already: the room asked for is the export's copies alone.
    needed = export_bytes_needed(checkpoint_weights_bytes(app_checkpoint), "int8", download=False)
    text = view.message.text()
    assert text.startswith(
        f"Not enough disk space. Preparing this model needs about {human_size(needed)} of free disk space "
        f"(for the converted copies of"
    ), text
    assert f"but {root} has only {human_size(little_space.FREE)} free" in text
    assert text.endswith("Nothing was kept. Fix the problem and try again.")
    assert view.message.isVisibleTo(view)
    assert [(title, details) for title, _, details in shown_errors] == [("Not enough disk space", "")]
    assert reports == []  # no "Needs about … free" info, no stage: the export never began
    assert all(row.detail.text() != "Done" for row in view.rows.values())
    assert not root.exists()
    assert view.start_button.text() == "Try again" and view.start_button.isEnabled()
    assert not view.cancel_button.isEnabled()
    assert window.stack.currentWidget() is view and window.model is None


def test_first_run_downloads_from_a_hub_exports_and_summarizes(
    qtbot, make_window, app_checkpoint, app_exports, tmp_path, monkeypatch, article, shown_errors
):
    """A hub id, served by a local hub: Start downloads the checkpoint into the Hugging Face
    cache, the export child converts it, the page says Ready, and the window summarizes with it."""
    model_id = "acme/tiny-pegasus"
    hub = LocalHub({model_id: app_checkpoint})
    try:
        cache = tmp_path / "hf"
        hub.point_huggingface_hub_at(monkeypatch, cache / "hub")  # the page's size check, here
        for key, value in hub.env({}, cache).items():  # the spawned export child's hub
            monkeypatch.setenv(key, value)
        root = tmp_path / "models"
        window, view = _first_run(qtbot, make_window, model_id, root)
        assert "downloads <b>acme/tiny-pegasus</b> from the Hugging Face Hub" in view.intro.text()
        download = []
        view.job.progress.connect(
            lambda stage, done, total, detail: download.append((done, total)) if stage == "download" else None
        )
        ready = []
        view.ready.connect(ready.append)
        qtbot.mouseClick(view.start_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: not view.job.is_running(), timeout=180_000)  # done, or failed
        assert shown_errors == []
        folder = export_dir(model_id, "int8", root)
        qtbot.waitUntil(lambda: ready == [str(folder)])  # emitted right after the job ends
        assert view.message.text() == "Ready."
        assert {"config.json", "model.safetensors", "tokenizer.json"} <= {
            name for repo, name in hub.sent if repo == model_id
        }, hub.sent
        weights = (app_checkpoint / "model.safetensors").stat().st_size
        assert download and max(done for done, _ in download) >= weights, download
        row = view.rows["download"]
        assert row.bar.value() == 1000 and re.fullmatch(r"(\d.* [KMG]B) of \1", row.detail.text()), row.detail.text()
        assert list((cache / "hub").glob("models--acme--tiny-pegasus/snapshots/*/model.safetensors"))
        manifest = json.loads((folder / "manifest.json").read_text())
        assert manifest["source"] == {"model_id": model_id, "revision": hub.commits[model_id]}
        local = export_dir(str(app_checkpoint), "int8", app_exports)  # the same weights, from the folder
        assert (folder / "weights.bin").read_bytes() == (local / "weights.bin").read_bytes()

        qtbot.waitUntil(lambda: window.model is not None, timeout=30_000)
        assert window.stack.currentWidget() is window.page
        requests = len(hub.requests)
        window.page.input.setPlainText(article)
        with qtbot.waitSignal(window.engine.finished, timeout=60_000):
            window.summarize()
        assert window.page.output.toPlainText().strip()
        assert len(hub.requests) == requests  # summarizing asks the hub nothing
    finally:
        hub.close()
