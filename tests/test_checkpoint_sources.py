"""Where checkpoints come from: the Hugging Face cache (offline), local folders, and bad sources."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from engine import EngineError, OfflineError, get_onnx_model
from engine.export.pipeline import export

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def _lay_out_hub_cache(checkpoint, model_id: str):
    """Put a checkpoint where huggingface_hub keeps downloads: models--org--name/snapshots/<commit>."""
    from huggingface_hub import constants

    repo = Path(constants.HF_HUB_CACHE) / f"models--{model_id.replace('/', '--')}"
    shutil.copytree(checkpoint, repo / "snapshots" / COMMIT)
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(COMMIT)
    return repo


def test_hub_id_exports_offline_from_the_hugging_face_cache(tiny_checkpoint, tmp_path):
    repo = _lay_out_hub_cache(tiny_checkpoint, "acme/tiny-pegasus")
    try:
        paths = export("acme/tiny-pegasus", tmp_path, precision="int8")
    finally:
        shutil.rmtree(repo)
    manifest = json.loads((paths.folder / "manifest.json").read_text())
    assert manifest["source"] == {"model_id": "acme/tiny-pegasus", "revision": COMMIT}
    assert paths.folder.parent.name == "acme--tiny-pegasus"
    assert get_onnx_model("acme/tiny-pegasus", tmp_path).generate([[5, 6, 1]], max_length=5).shape[0] == 1


def test_unknown_model_offline_names_the_cache_and_local_folders(tmp_path):
    from huggingface_hub import constants

    with pytest.raises(OfflineError, match="Hugging Face cache") as info:
        export("acme/does-not-exist", tmp_path)
    assert "local checkpoint folder" in str(info.value) and constants.HF_HUB_CACHE in str(info.value)
    assert not any(tmp_path.iterdir())


def test_checkpoint_that_is_not_pegasus_is_refused(tiny_checkpoint, tmp_path):
    other = tmp_path / "bert"
    shutil.copytree(tiny_checkpoint, other)
    config = json.loads((other / "config.json").read_text())
    (other / "config.json").write_text(json.dumps(config | {"model_type": "bert"}))
    with pytest.raises(EngineError, match="not a Pegasus"):
        export(str(other), tmp_path / "models")


def test_missing_local_folder_is_reported(tmp_path):
    with pytest.raises(EngineError, match="not a folder"):
        export(str(tmp_path / "nowhere" / "model.bin"), tmp_path)
