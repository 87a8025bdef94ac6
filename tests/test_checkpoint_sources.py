"""Where checkpoints come from: the Hugging Face cache (offline), local folders, and bad sources."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import children
import pytest
from builders import SPIECE_TEXT, hub_layout_checkpoint
from hub_server import LocalHub

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


# -- the default models' layout: pytorch_model.bin and spiece.model only


def test_a_repo_laid_out_as_the_default_models_exports_and_summarizes_offline_from_the_cache(tmp_path):
    """google/pegasus-cnn_dailymail and co. keep their weights only in pytorch_model.bin and their
    tokenizer only in spiece.model: from the Hugging Face cache, offline, that exports with no
    option and no question, and summarizes as transformers does."""
    import torch

    from engine import Summarizer

    checkpoint, model = hub_layout_checkpoint(tmp_path / "repo")
    assert sorted(p.name for p in checkpoint.iterdir()) == [
        "config.json", "generation_config.json", "pytorch_model.bin", "spiece.model"
    ]
    repo = _lay_out_hub_cache(checkpoint, "acme/pegasus-bin")
    try:
        export("acme/pegasus-bin", tmp_path / "models", precision="fp32")
        paths = export("acme/pegasus-bin", tmp_path / "models", precision="int8")
    finally:
        shutil.rmtree(repo)
    manifest = json.loads((paths.folder / "manifest.json").read_text())
    assert manifest["source"] == {"model_id": "acme/pegasus-bin", "revision": COMMIT}
    ids = [[8, 9, 10, 11, 12, 1]]
    ours = get_onnx_model("acme/pegasus-bin", tmp_path / "models", quantized=False).generate(ids, max_length=10)
    with torch.no_grad():
        reference = model.generate(torch.tensor(ids), max_length=10, num_beams=1, do_sample=False)
    assert ours.tolist() == reference.tolist()
    summarizer = Summarizer.load("acme/pegasus-bin", precision="int8", root=tmp_path / "models")
    summary = summarizer.summarize(SPIECE_TEXT.format(i=7))
    assert isinstance(summary.text, str) and summary.token_ids


def _serve(tmp_path, **repos) -> LocalHub:
    """``repo_name=layout`` -> acme/<repo_name> on a local hub: "bin" (the default models' layout),
    "both" (safetensors beside a pytorch_model.bin)."""
    folders = {}
    for name, layout in repos.items():
        folder, model = hub_layout_checkpoint(tmp_path / "repos" / name)
        if layout == "both":
            model.save_pretrained(tmp_path / "saved" / name)
            shutil.move(tmp_path / "saved" / name / "model.safetensors", folder / "model.safetensors")
        folders[f"acme/{name.replace('_', '-')}"] = folder
    return LocalHub(folders)


def _sizes(folder: Path, names) -> int:
    return sum((folder / name).stat().st_size for name in names)


def test_download_size_is_what_the_hub_reports_for_the_files_a_download_takes(tmp_path, monkeypatch):
    from engine.export.checkpoint import download_size, is_cached

    hub = _serve(tmp_path, bin_only="bin", both="both")
    try:
        hub.point_huggingface_hub_at(monkeypatch, tmp_path / "cache")
        bin_only = download_size("acme/bin-only")
        both = download_size("acme/both")
        assert download_size("acme/no-such-repo") is None
    finally:
        hub.close()
    folder = tmp_path / "repos"
    everything = ["config.json", "generation_config.json", "spiece.model"]
    assert bin_only.total == bin_only.to_fetch == _sizes(folder / "bin_only", everything + ["pytorch_model.bin"])
    assert both.total == both.to_fetch == _sizes(folder / "both", everything + ["model.safetensors"])
    assert hub.sent == []  # asked, not downloaded
    assert not is_cached("acme/bin-only")


def test_download_size_counts_only_what_the_cache_lacks_and_none_offline(tmp_path, monkeypatch):
    from huggingface_hub import constants

    from engine.export.checkpoint import download_size, is_cached

    hub = _serve(tmp_path, bin_only="bin")
    try:
        hub.point_huggingface_hub_at(monkeypatch, tmp_path / "cache")
        from huggingface_hub import snapshot_download

        snapshot_download("acme/bin-only")  # the whole repo is now in the cache
        assert download_size("acme/bin-only").to_fetch == 0
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
        assert download_size("acme/bin-only") is None  # offline: the hub cannot be asked
        assert is_cached("acme/bin-only")
    finally:
        hub.close()


def test_download_from_the_hub_fetches_pytorch_model_bin_only_when_there_are_no_safetensors(tmp_path):
    """Online (a local stand-in for the hub), a repo with only pytorch_model.bin is downloaded
    with byte progress and exported with no option; a repo with both gets only its safetensors."""
    import os
    import subprocess

    hub = _serve(tmp_path, bin_only="bin", both="both")
    try:
        run = subprocess.run(
            children.command("export_from_hub", tmp_path / "models", "acme/bin-only", "acme/both"),
            env=children.env(hub.env(os.environ, tmp_path / "hf-home")), cwd=Path(__file__).parents[1],
            capture_output=True, text=True, timeout=600, check=False,
        )
    finally:
        hub.close()
    assert run.returncode == 0, run.stderr[-3000:]
    results = {r["repo"]: r for r in map(json.loads, run.stdout.strip().splitlines())}
    fetched = {repo: sorted(name for r, name in hub.sent if r == repo) for repo in results}
    assert fetched["acme/bin-only"] == [
        "config.json", "generation_config.json", "pytorch_model.bin", "spiece.model"
    ]
    assert fetched["acme/both"] == ["config.json", "generation_config.json", "model.safetensors", "spiece.model"]
    weights = (tmp_path / "repos" / "bin_only" / "pytorch_model.bin").stat().st_size
    downloads = results["acme/bin-only"]["downloads"]
    assert any(total >= weights and done == total for _, done, total in downloads), downloads
    for result in results.values():
        assert (Path(result["folder"]) / "manifest.json").is_file()
