"""The export without torch (issue 16): a checkpoint read with numpy gives the same files as the
same checkpoint loaded in torch, whatever its weights' format, and the app's export child never
imports torch or transformers."""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from builders import TINY_PEGASUS, hub_layout_checkpoint, save_torch_weights, with_torch_weights
from export_child_imports import export_and_report_modules
from safetensors.torch import load_file, save_file
from transformers import (
    AutoTokenizer,
    GenerationConfig,
    PegasusConfig,
    PegasusForConditionalGeneration,
)

from engine.export.pegasus_weights import (
    LAYER_NORM_EPS,
    PEGASUS_DEFAULTS,
    PegasusWeights,
    sinusoidal_positions,
)
from engine.export.pipeline import export
from engine.model import OnnxPegasus
from engine.tokenizer import TextTokenizer
from pegasus_desktop.export_messages import ExportDone

TEXTS = ["the cat number 3 sat on the mat", "  Ünïcode — digits 12345 and   spaces ", "", "w5 w6 w7", "<unk> </s>"]


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _digests(folder: Path) -> dict[str, str]:
    """What must match between two exports: the weights, the graphs and the tokenizer, byte for byte."""
    return {name: _sha(folder / name) for name in ("weights.bin", "encoder.onnx", "decoder.onnx", "embedding.json",
                                                   "tokenizer.json")}


def _loaded(folder: Path) -> PegasusForConditionalGeneration:
    model = PegasusForConditionalGeneration.from_pretrained(folder, dtype=torch.float32)
    model.config._name_or_path = str(folder)  # where export() finds the tokenizer
    return model


@pytest.mark.parametrize("dim", [32, 33, 1024])
def test_sinusoidal_positions_are_transformers_bytes(dim):
    from transformers.models.pegasus.modeling_pegasus import PegasusSinusoidalPositionalEmbedding

    theirs = PegasusSinusoidalPositionalEmbedding(70, dim).create_weight().numpy()
    assert sinusoidal_positions(70, dim).tobytes() == theirs.tobytes()


def test_defaults_and_constants_are_transformers():
    theirs = PegasusConfig().to_dict()
    assert {k: theirs[k] for k in PEGASUS_DEFAULTS} == PEGASUS_DEFAULTS
    model = PegasusForConditionalGeneration(PegasusConfig(d_model=8, encoder_layers=1, decoder_layers=1,
                                                          encoder_attention_heads=2, decoder_attention_heads=2,
                                                          encoder_ffn_dim=8, decoder_ffn_dim=8, vocab_size=10))
    norms = [m for m in model.modules() if isinstance(m, torch.nn.LayerNorm)]
    assert norms and {m.eps for m in norms} == {LAYER_NORM_EPS}


def test_weights_by_name_equal_the_loaded_model(tiny_checkpoint):
    """Every tensor the graphs read, by name: the numpy reader's equal torch's, tied and computed ones too."""
    ours, theirs = PegasusWeights.from_checkpoint(tiny_checkpoint), PegasusWeights.from_model(_loaded(tiny_checkpoint))
    model = _loaded(tiny_checkpoint)
    names = [*model.state_dict(), "model.encoder.embed_positions.weight", "model.decoder.embed_positions.weight"]
    for name in names:
        assert ours[name].dtype == np.float32
        assert ours[name].tobytes() == theirs[name].tobytes(), name
    assert ours["lm_head.weight"].tobytes() == model.lm_head.weight.detach().numpy().tobytes()
    assert ours.embed_scale() == model.model.encoder.embed_scale


@pytest.mark.parametrize("precision", ["fp32", "int8"])
def test_checkpoint_and_loaded_model_give_the_same_export(tmp_path, precision):
    """The trained fixture: exported from its folder with numpy, and from the model loaded in torch."""
    from_folder = export(TINY_PEGASUS, tmp_path / "folder", precision=precision).folder
    from_model = export(_loaded(TINY_PEGASUS), tmp_path / "model", precision=precision).folder
    assert _digests(from_folder) == _digests(from_model)
    with OnnxPegasus(from_folder) as a, OnnxPegasus(from_model) as b:
        assert a.generation_defaults == b.generation_defaults


@pytest.mark.parametrize("layout", ["zip", "legacy", "sharded"])
def test_safetensors_and_pickle_give_the_same_weights(tmp_path, tiny_checkpoint, layout):
    pickled = with_torch_weights(tiny_checkpoint, tmp_path / layout, layout)
    a = export(tiny_checkpoint, tmp_path / "a", precision="int8").folder
    b = export(pickled, tmp_path / "b", precision="int8").folder
    assert _sha(a / "weights.bin") == _sha(b / "weights.bin")


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_checkpoints_widen_as_torch_does(tmp_path, tiny_checkpoint, dtype):
    """A checkpoint stored in fp16 or bf16 (safetensors and .bin): the numpy path widens each value
    as transformers does when it loads it in fp32."""
    state = {k: v.to(dtype) for k, v in load_file(tiny_checkpoint / "model.safetensors").items()}
    half = tmp_path / "half"
    shutil.copytree(tiny_checkpoint, half, ignore=shutil.ignore_patterns("*.safetensors"))
    save_file(state, half / "model.safetensors", metadata={"format": "pt"})
    pickled = tmp_path / "half-bin"
    shutil.copytree(half, pickled, ignore=shutil.ignore_patterns("*.safetensors"))
    save_torch_weights(state, pickled)

    exports = [export(half, tmp_path / "a").folder, export(pickled, tmp_path / "b").folder,
               export(_loaded(half), tmp_path / "c").folder]
    assert len({_sha(folder / "weights.bin") for folder in exports}) == 1
    widened = PegasusWeights.from_checkpoint(half)["model.shared.weight"]
    assert widened.tobytes() == state["model.shared.weight"].float().numpy().tobytes()


def test_hub_layout_gives_transformers_tokenizer_and_generation_config(tmp_path):
    """A checkpoint as google/pegasus-* ship: pytorch_model.bin and spiece.model only. The export's
    tokenizer gives transformers' ids, its generation defaults are transformers', and the weights
    equal those of the model loaded in torch."""
    checkpoint, model = hub_layout_checkpoint(tmp_path / "hub")
    ours = export(checkpoint, tmp_path / "a").folder
    model.config._name_or_path = str(checkpoint)
    assert _sha(ours / "weights.bin") == _sha(export(model, tmp_path / "b").folder / "weights.bin")

    reference = AutoTokenizer.from_pretrained(checkpoint)
    tokenizer = TextTokenizer(ours, eos_token_id=1)
    for text in TEXTS:
        assert tokenizer.encode(text) == reference(text).input_ids, text
    with OnnxPegasus(ours) as loaded:
        theirs = GenerationConfig.from_pretrained(checkpoint).to_dict()
        for key, value in loaded.generation_defaults.items():
            assert theirs.get(key) == value, key
    config = json.loads((ours / "config.json").read_text())
    assert {k: config[k] for k in ("d_model", "vocab_size", "decoder_layers")} == {
        "d_model": model.config.d_model, "vocab_size": model.config.vocab_size,
        "decoder_layers": model.config.decoder_layers}


def test_a_checkpoint_missing_a_tensor_is_refused_clearly(tmp_path, tiny_checkpoint):
    from engine.errors import EngineError

    state = load_file(tiny_checkpoint / "model.safetensors")
    del state["model.decoder.layers.1.fc2.weight"]
    broken = tmp_path / "broken"
    shutil.copytree(tiny_checkpoint, broken, ignore=shutil.ignore_patterns("*.safetensors"))
    save_file(state, broken / "model.safetensors")
    with pytest.raises(EngineError, match="no tensor 'model.decoder.layers.1.fc2.weight'"):
        export(broken, tmp_path / "out")
    assert not any((tmp_path / "out").rglob("weights.bin"))  # nothing half-written was published


def test_app_export_child_imports_neither_torch_nor_transformers(tmp_path):
    """The first run's export, in the app's own child process, from a pickled checkpoint and a
    spiece.model (the hardest case): torch and transformers are never imported."""
    checkpoint, _ = hub_layout_checkpoint(tmp_path / "hub")
    context = multiprocessing.get_context("spawn")
    receiver, sender = context.Pipe(duplex=False)
    modules_in, modules_out = context.Pipe(duplex=False)
    child = context.Process(target=export_and_report_modules,
                            args=(str(checkpoint), str(tmp_path / "models"), "int8", sender, modules_out))
    child.start()
    sender.close()
    modules_out.close()
    messages = []
    while True:
        try:
            messages.append(receiver.recv())
        except EOFError:
            break
    modules = modules_in.recv()
    child.join(60)
    assert isinstance(messages[-1], ExportDone), messages[-1]
    assert "engine.export.graphs" in modules  # it did export, in this process
    assert not [m for m in modules if m.split(".")[0] in ("torch", "transformers")]


def test_cli_export_from_a_folder_imports_neither_torch_nor_transformers(tmp_path):
    """``pegasus-summarize export`` of a hub-layout checkpoint, with Python's import log on: the
    export is made, and no torch or transformers module was imported to make it."""
    import os
    import subprocess
    import sys

    checkpoint, _ = hub_layout_checkpoint(tmp_path / "hub")
    env = {**os.environ, "PYTHONPROFILEIMPORTTIME": "1"}
    done = subprocess.run([sys.executable, "-m", "engine.cli", "export", str(checkpoint), "--out",
                           str(tmp_path / "models")], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert list((tmp_path / "models").rglob("int8/weights.bin"))
    imported = {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")}
    assert "engine.export.graphs" in imported  # the log is read right
    assert not [m for m in imported if m.split(".")[0] in ("torch", "transformers")]


@pytest.mark.parametrize("shape", [(3, 5), (9000, 700), (1, 9)])
def test_quantizing_in_blocks_gives_the_one_pass_bytes(monkeypatch, shape):
    """The export quantizes a big matrix a block of rows at a time (to bound its memory); the bytes
    equal quantizing it whole, per column and per row, with a column or row of zeros."""
    from engine.export import quantize

    def whole(weight, bits):
        limit = 2 ** (bits - 1) - 1
        scale = np.abs(weight).max(axis=0).astype(np.float32) / limit
        scale[scale == 0] = 1.0
        return np.clip(np.rint(weight / scale), -limit, limit).astype(np.int8), scale

    weight = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    weight[:, 0] = weight[0] = 0
    monkeypatch.setattr(quantize, "_BLOCK", 1000)  # many blocks even for the small shapes
    for bits in (7, 8):
        for ours, theirs in ((quantize.quantize_columns(weight, bits), whole(weight, bits)),
                             (quantize.quantize_rows(weight, bits), whole(weight.T, bits))):
            q, scale = theirs
            if ours[0].shape != q.shape:
                q = q.T
            assert ours[0].tobytes() == np.ascontiguousarray(q).tobytes() and ours[1].tobytes() == scale.tobytes()


def test_the_export_cost_benchmark_times_both_ways_and_finds_the_same_bytes(tmp_path):
    """``python -m benchmarks.export_cost`` on the trained fixture: each way in its own process,
    only the loaded-model way imports torch, and both write the same weights.bin."""
    from benchmarks.export_cost import measure, table

    results = measure(TINY_PEGASUS, rounds=1, precision="int8", work=tmp_path)
    numpy_way, torch_way = results["checkpoint folder, numpy"], results["model loaded in torch"]
    assert (numpy_way["imported_torch"], torch_way["imported_torch"]) == (False, True)
    assert numpy_way["peak_rss"][0] > 0 and torch_way["seconds"][0] > 0
    assert "same weights.bin (sha256) both ways: yes" in table(results)
