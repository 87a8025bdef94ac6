"""The fast-Pegasus entry points as the README shows them: ``export_and_get_onnx_model`` from a
checkpoint folder (int8 and fp32, into a custom folder) and from a model already loaded in torch,
and ``get_onnx_model`` loading what it exported without exporting again."""

from __future__ import annotations

import hashlib
import warnings

import pytest
import torch
from builders import random_model, save_checkpoint
from transformers import PegasusForConditionalGeneration

from engine import EngineError, OnnxPegasus, export_and_get_onnx_model, get_onnx_model
from engine.model_dir import export_dir


def _sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _reference(folder):
    return PegasusForConditionalGeneration.from_pretrained(folder, attn_implementation="eager").eval()


def test_export_and_get_onnx_model_from_a_folder_gives_transformers_tokens(tmp_path):
    folder = save_checkpoint(random_model(seed=3, init_std=0.3), tmp_path / "ckpt")
    out = tmp_path / "out"
    model = export_and_get_onnx_model(str(folder), str(out), quantized=False)
    assert isinstance(model, OnnxPegasus)
    assert (export_dir(str(folder), "fp32", out) / "manifest.json").is_file()
    ids = torch.tensor([[5, 9, 12, 30, 1]])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = _reference(folder).generate(input_ids=ids, num_beams=2, max_length=12)
    got = model.generate(input_ids=ids, num_beams=2, max_length=12)
    assert isinstance(got, torch.Tensor) and got.tolist() == expected.tolist()
    again = get_onnx_model(str(folder), str(out), quantized=False)  # loads, never re-exports
    assert again.generate(input_ids=ids, num_beams=2, max_length=12).tolist() == expected.tolist()
    with pytest.raises(EngineError, match="No exported model"):  # int8, the default, was not exported
        get_onnx_model(str(folder), str(out))


def test_a_model_loaded_in_torch_exports_the_same_bytes_as_its_folder(tmp_path):
    folder = save_checkpoint(random_model(seed=4, init_std=0.3), tmp_path / "ckpt")
    from_folder = export_and_get_onnx_model(str(folder), str(tmp_path / "a"), quantized=True)
    loaded = _reference(folder)
    from_object = export_and_get_onnx_model(loaded, str(tmp_path / "b"), quantized=True)
    a, b = from_folder.folder, from_object.folder
    assert _sha256(a / "weights.bin") == _sha256(b / "weights.bin")
    ids = [[5, 9, 12, 30, 1]]
    assert from_folder.generate(ids, max_length=10).tolist() == from_object.generate(ids, max_length=10).tolist()
    assert from_object.name == str(folder)  # named by the checkpoint it came from, not its module tree
