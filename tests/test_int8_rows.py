"""int8 that does not depend on the batch: each token vector's activations get their own scale
(engine/export/quantize.py), so a row's result is the same, bit for bit, whatever runs beside it:
other documents, beams, padding, or drafted positions being verified."""

from __future__ import annotations

import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from builders import TINY_PEGASUS, padded_ids
from onnx import TensorProto, helper, numpy_helper

from engine import Summarizer
from engine.export.quantize import quantize_model

K, HIDDEN, VOCAB = 64, 96, 50
HELD_OUT = [json.loads(line) for line in (TINY_PEGASUS / "heldout.jsonl").read_text().splitlines()]


def _layers(seed: int = 0) -> onnx.ModelProto:
    """x (.., K) -> MatMul (K, HIDDEN) -> Relu -> MatMul (HIDDEN, K), and a Gemm lm_head with
    transB reading the same input: each quantized pattern the exporter meets."""
    rng = np.random.default_rng(seed)
    w1, w2 = (rng.standard_normal(s).astype(np.float32) * 0.1 for s in ((K, HIDDEN), (HIDDEN, K)))
    head = rng.standard_normal((VOCAB, K)).astype(np.float32) * 0.1
    nodes = [
        helper.make_node("MatMul", ["x", "w1"], ["h"], name="fc1"),
        helper.make_node("Relu", ["h"], ["r"]),
        helper.make_node("MatMul", ["r", "w2"], ["y"], name="fc2"),
        helper.make_node("Reshape", ["y", "flat"], ["y2"]),
        helper.make_node("Gemm", ["y2", "head"], ["logits"], name="lm_head", transB=1),
    ]
    graph = helper.make_graph(
        nodes, "layers", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["rows", K])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["rows", VOCAB]),
         helper.make_tensor_value_info("y", TensorProto.FLOAT, ["rows", K])],
        [numpy_helper.from_array(w1, "w1"), numpy_helper.from_array(w2, "w2"),
         numpy_helper.from_array(head, "head"), numpy_helper.from_array(np.array([-1, K], np.int64), "flat")],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


def _session(model: onnx.ModelProto) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 2
    return ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])


def _rows(seed: int, n: int) -> np.ndarray:
    """Rows of very different magnitudes, as hidden states of different documents are: with one
    scale per tensor the small rows would be quantized coarsely because of the large ones."""
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((n, K)) * rng.choice([0.01, 1.0, 30.0], size=(n, 1))).astype(np.float32)


@pytest.fixture(scope="module")
def forms():
    return {form: _session(quantize_model(_layers(), activations=form)) for form in ("rows", "tensor")}


@pytest.mark.parametrize("rows", [4, 8, 16])
def test_each_row_gives_the_same_bits_alone_and_in_any_batch(forms, rows):
    x = _rows(1, rows)
    batch_logits, batch_hidden = forms["rows"].run(None, {"x": x})
    for r in range(rows):
        alone_logits, alone_hidden = forms["rows"].run(None, {"x": x[r : r + 1]})
        np.testing.assert_array_equal(batch_logits[r], alone_logits[0])
        np.testing.assert_array_equal(batch_hidden[r], alone_hidden[0])
    shuffled = np.random.default_rng(2).permutation(rows)  # other neighbours, other order
    np.testing.assert_array_equal(forms["rows"].run(None, {"x": x[shuffled]})[0], batch_logits[shuffled])


def test_one_scale_per_tensor_does_depend_on_the_batch(forms):
    """What the per-row form fixes: the former form changes a row's result with its neighbours
    (so the test above is not passing by luck of the inputs)."""
    x = _rows(1, 8)
    batch = forms["tensor"].run(None, {"x": x})[0]
    changed = [r for r in range(8) if not np.array_equal(batch[r], forms["tensor"].run(None, {"x": x[r : r + 1]})[0][0])]
    assert changed


def test_rows_are_close_to_fp32_and_a_zero_row_stays_zero(forms):
    x = _rows(3, 8)
    x[5] = 0.0
    reference = _session(_layers()).run(None, {"x": x})[0]
    logits = forms["rows"].run(None, {"x": x})[0]
    assert np.isfinite(logits).all()
    np.testing.assert_array_equal(logits[5], reference[5])  # relu(0)=0 all the way: exactly zero
    for r in (0, 1, 2, 3, 4, 6, 7):
        error = np.abs(logits[r] - reference[r]).max() / np.abs(reference[r]).max()
        assert error < 0.05, (r, error)


def test_the_export_quantizes_per_row(trained_exports):
    [manifest] = trained_exports.rglob("int8/manifest.json")
    assert json.loads(manifest.read_text())["options"]["activations"] == "rows"
    for graph in ("encoder", "decoder"):
        nodes = onnx.load(str(manifest.parent / f"{graph}.onnx"), load_external_data=False).graph.node
        ops = {n.op_type for n in nodes}
        assert "MatMulIntegerToFloat" in ops and "DynamicQuantizeLinear" not in ops, graph


@pytest.fixture(scope="module")
def int8(trained_exports):
    return Summarizer.load(str(TINY_PEGASUS), precision="int8", root=trained_exports)


@pytest.mark.parametrize("beams", [1, 4])
def test_int8_summaries_of_a_batch_equal_each_document_alone(int8, beams):
    articles = [e["article"] for e in HELD_OUT[40:46]]
    ids, mask = padded_ids(int8.tokenizer, articles)
    batch = int8.model.generate(ids, mask, num_beams=beams, max_length=16)
    for r, article in enumerate(articles):
        alone = int8.model.generate(np.array([int8.tokenizer.encode(article)]), num_beams=beams,
                                    max_length=16)[0].tolist()
        assert batch[r, : len(alone)].tolist() == alone
        assert (batch[r, len(alone):] == 0).all()
