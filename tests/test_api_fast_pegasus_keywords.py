"""fast-Pegasus's keyword names, as its users wrote them, give what our positional calls give.

Every export here is of the tiny checkpoint (well under a second), compared with the session's
``tiny_exports`` of the same checkpoint: exports are byte-for-byte reproducible."""

from __future__ import annotations

import hashlib
from types import SimpleNamespace

import numpy as np
import onnxruntime as ort
import pytest

from engine import (
    OnnxPegasus,
    export_and_get_onnx_model,
    generate_onnx_representation,
    get_onnx_model,
    get_onnx_runtime_sessions,
    quantize,
    runtime,
)
from engine.model_dir import export_dir
from engine.runtime import default_threads

IDS = np.array([[5, 9, 12, 30, 1]])


def _files(folder, skip=()) -> dict[str, str]:
    """Every published file's digest; ``.verified.json`` records when it was checked, so it is left out."""
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.iterdir()) if p.name not in (".verified.json", *skip)}


def _tokens(name, sessions) -> list:
    return OnnxPegasus(name, sessions).generate(IDS, num_beams=2, max_length=10).tolist()


def _loaded(checkpoint):
    from transformers import PegasusForConditionalGeneration

    return PegasusForConditionalGeneration.from_pretrained(checkpoint).eval()


def test_generate_onnx_representation_takes_pretrained_version(tiny_checkpoint, tiny_exports, tmp_path):
    paths = generate_onnx_representation(pretrained_version=str(tiny_checkpoint), output_path=tmp_path,
                                         input_sequence_length=512, onnx_opset_version=12)
    assert paths.folder == export_dir(str(tiny_checkpoint), "fp32", tmp_path)
    assert _files(paths.folder) == _files(export_dir(str(tiny_checkpoint), "fp32", tiny_exports))


def test_generate_onnx_representation_takes_model_alone_or_with_its_pretrained_version(
    tiny_checkpoint, tiny_exports, tmp_path
):
    loaded = _loaded(tiny_checkpoint)
    alone = generate_onnx_representation(model=loaded, output_path=tmp_path / "a")
    # fast-Pegasus needed both: pretrained_version named the files, model gave the weights.
    both = generate_onnx_representation(pretrained_version=str(tiny_checkpoint), model=loaded,
                                        output_path=tmp_path / "b")
    assert _files(alone.folder) == _files(both.folder)
    # A model object's config.json is written from its loaded config (transformers adds keys), and
    # the manifest records that file; the graphs and weights are the checkpoint's own.
    from_config = ("config.json", "manifest.json")
    expected = _files(export_dir(str(tiny_checkpoint), "fp32", tiny_exports), skip=from_config)
    assert _files(alone.folder, skip=from_config) == expected


def test_generate_onnx_representation_refuses_no_model_or_two_different_ones(tiny_checkpoint, tmp_path):
    with pytest.raises(ValueError, match=r"give a hub id .*pretrained_version=.*model="):
        generate_onnx_representation(output_path=tmp_path)
    with pytest.raises(ValueError, match="give the model once"):
        generate_onnx_representation(str(tiny_checkpoint), pretrained_version=str(tiny_checkpoint))
    with pytest.raises(ValueError, match="give the model once"):
        generate_onnx_representation(str(tiny_checkpoint), model=SimpleNamespace())
    other = SimpleNamespace(config=SimpleNamespace(_name_or_path="google/pegasus-xsum"))
    with pytest.raises(ValueError, match="not the checkpoint model= was loaded from .*pegasus-xsum"):
        generate_onnx_representation(pretrained_version=str(tiny_checkpoint), model=other)
    assert not any(tmp_path.iterdir())  # refused before anything was written


def test_quantize_takes_models_name_or_path(tiny_checkpoint, tiny_exports, tmp_path):
    fp32 = generate_onnx_representation(str(tiny_checkpoint), tmp_path)
    int8 = quantize(models_name_or_path=fp32)
    assert int8.folder == fp32.folder.with_name("int8")
    assert _files(int8.folder) == _files(export_dir(str(tiny_checkpoint), "int8", tiny_exports))


def test_get_onnx_runtime_sessions_takes_fast_pegasus_keywords(tiny_checkpoint, tiny_exports, monkeypatch):
    folder = export_dir(str(tiny_checkpoint), "int8", tiny_exports)
    # A session does not report its execution mode back, so look at the options it was given.
    given = []
    opened = runtime._session
    monkeypatch.setattr(runtime, "_session", lambda path, options: given.append(options) or opened(path, options))
    sessions = get_onnx_runtime_sessions(model_paths=folder, default=False, opt_level=99,
                                         parallel_exe_mode=True, n_threads=0,
                                         provider=["CPUExecutionProvider"])
    assert len(given) == 2 and given[0].intra_op_num_threads == default_threads()  # 0: the default
    # default= and parallel_exe_mode= change nothing: our measured settings stay.
    assert given[0].execution_mode == ort.ExecutionMode.ORT_SEQUENTIAL and given[0].inter_op_num_threads == 1
    assert sessions.encoder.get_session_options().intra_op_num_threads == default_threads()
    assert sessions.decoder.get_providers() == ["CPUExecutionProvider"]
    name = str(tiny_checkpoint)
    assert _tokens(name, sessions) == _tokens(name, get_onnx_runtime_sessions(folder))


@pytest.mark.parametrize("opt_level, level", [
    (1, ort.GraphOptimizationLevel.ORT_ENABLE_BASIC),
    (2, ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED),
    (99, ort.GraphOptimizationLevel.ORT_ENABLE_ALL),
])
def test_opt_level_reaches_both_sessions(tiny_checkpoint, tiny_exports, opt_level, level):
    folder = export_dir(str(tiny_checkpoint), "fp32", tiny_exports)
    sessions = get_onnx_runtime_sessions(folder, opt_level=opt_level, n_threads=1)
    for session in (sessions.encoder, sessions.decoder):
        assert session.get_session_options().graph_optimization_level == level
        assert session.get_session_options().intra_op_num_threads == 1


def test_get_onnx_runtime_sessions_refuses_other_providers_levels_and_keywords(tiny_checkpoint, tiny_exports):
    folder = export_dir(str(tiny_checkpoint), "fp32", tiny_exports)
    with pytest.raises(ValueError, match="CUDAExecutionProvider.*CPU only"):
        get_onnx_runtime_sessions(folder, provider=["CUDAExecutionProvider", "CPUExecutionProvider"])
    with pytest.raises(ValueError, match=r"opt_level must be one of \[1, 2, 99\].*got 3"):
        get_onnx_runtime_sessions(folder, opt_level=3)
    with pytest.raises(TypeError, match="enable_profiling"):  # an unknown keyword is never dropped silently
        get_onnx_runtime_sessions(folder, opt_level=2, enable_profiling=True)


def test_export_and_get_onnx_model_takes_fast_pegasus_keywords(tiny_checkpoint, tiny_exports, tmp_path):
    name = str(tiny_checkpoint)
    model = export_and_get_onnx_model(model_or_model_path=name, custom_output_path=tmp_path, quantized=False,
                                      input_sequence_length=512)
    reference = get_onnx_model(model_name=name, onnx_models_path=tiny_exports, quantized=False)
    assert _files(model.folder) == _files(reference.folder)
    assert _tokens(name, model.sessions) == _tokens(name, reference.sessions)
