"""The first-run page says how big the download is before Start: the hub's sizes when it answers
(asked off the GUI thread), "already downloaded" from the Hugging Face cache, the usual size of a
curated model offline, else unknown; never a download, a freeze or a crash."""

from __future__ import annotations

from pathlib import Path

import pytest
from builders import hub_layout_checkpoint
from hub_server import LocalHub

from engine.files import human_size
from pegasus_desktop import download_size
from pegasus_desktop.first_run import FirstRunView
from pegasus_desktop.settings import CURATED_MODELS, Settings


def _first_run(qtbot, make_window, model_id: str, tmp_path: Path) -> FirstRunView:
    window = make_window(Settings(model_id=model_id, models_root=str(tmp_path / "models")))
    qtbot.waitUntil(lambda: window.stack.currentWidget() is window.first_run)
    return window.first_run


def _says(qtbot, view: FirstRunView, text: str) -> None:
    qtbot.waitUntil(lambda: view.download_size.text() == text, timeout=20_000)
    assert view.download_size.isVisibleTo(view)


@pytest.fixture
def hub_cache(tmp_path, monkeypatch) -> Path:
    from huggingface_hub import constants

    cache = tmp_path / "hf-cache"
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    return cache


def test_offline_a_curated_model_shows_its_usual_size(qtbot, make_window, tmp_path, hub_cache):
    view = _first_run(qtbot, make_window, "google/pegasus-cnn_dailymail", tmp_path)
    _says(
        qtbot, view,
        "Download: about 2.3 GB (this model's usual size; the Hugging Face Hub could not be asked just now).",
    )
    assert view.start_button.isEnabled() and not view.job.is_running()


def test_every_curated_model_has_a_usual_size():
    assert {model_id for model_id, _ in CURATED_MODELS} == set(download_size.USUAL_SIZES)


def test_offline_a_model_in_the_hugging_face_cache_is_already_downloaded(
    qtbot, make_window, tmp_path, hub_cache
):
    commit = "3" * 40
    repo = hub_cache / "models--acme--cached-bin"
    hub_layout_checkpoint(repo / "snapshots" / commit)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    view = _first_run(qtbot, make_window, "acme/cached-bin", tmp_path)
    _says(qtbot, view, "Download: none, the model is already in the Hugging Face cache.")


def test_offline_an_unknown_model_says_the_size_is_unknown(qtbot, make_window, tmp_path, hub_cache):
    view = _first_run(qtbot, make_window, "acme/not-anywhere", tmp_path)
    _says(qtbot, view, "Download size: unknown (the Hugging Face Hub could not tell).")


def test_a_local_folder_downloads_nothing_and_says_no_size(qtbot, make_window, app_checkpoint, tmp_path):
    view = _first_run(qtbot, make_window, str(app_checkpoint), tmp_path)
    assert not view.download_size.isVisibleTo(view)


def test_online_the_size_comes_from_the_hub_off_the_gui_thread(
    qtbot, make_window, tmp_path, monkeypatch
):
    """The hub (a local stand-in) takes its time to answer: the page says it is checking, the
    answer arrives later, and an answer for a model no longer shown is dropped."""
    slow, _ = hub_layout_checkpoint(tmp_path / "repos" / "slow")
    other, _ = hub_layout_checkpoint(tmp_path / "repos" / "other")
    (other / "pytorch_model.bin").write_bytes(bytes(3_000_000))  # only its size is asked
    sizes = {folder.name: sum(p.stat().st_size for p in folder.iterdir()) for folder in (slow, other)}
    assert human_size(sizes["slow"]) != human_size(sizes["other"])
    answers = []
    real = FirstRunView._size_known
    monkeypatch.setattr(FirstRunView, "_size_known", lambda self, answer: answers.append(answer) or real(self, answer))
    hub = LocalHub({"acme/slow": slow, "acme/other": other}, api_delay=1.0)
    try:
        hub.point_huggingface_hub_at(monkeypatch, tmp_path / "hf-cache")
        view = _first_run(qtbot, make_window, "acme/slow", tmp_path)
        assert view.download_size.text() == download_size.CHECKING  # prepare() did not wait
        view.prepare("acme/other", "int8", tmp_path / "models")  # e.g. the user chose another model
        assert view.download_size.text() == download_size.CHECKING
        qtbot.waitUntil(lambda: len(answers) == 2, timeout=30_000)
    finally:
        hub.close()
    assert sorted(text for _, text in answers) == sorted(
        f"Download: {human_size(size)}." for size in sizes.values()
    )
    assert view.download_size.text() == f"Download: {human_size(sizes['other'])}."
    assert hub.sent == []  # asked, never downloaded
