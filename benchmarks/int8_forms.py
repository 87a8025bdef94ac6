"""The int8 forms that ``experiments int8-rows`` times side by side, as graphs written to disk.

- ``tensor``: one activation scale per tensor (``DynamicQuantizeMatMul``): the export's former form,
  whose rows depend on each other.
- ``rows``: one scale per row, fused by us into ``MatMulIntegerToFloat`` (what exports use now).
- ``rows-unfused``: the same arithmetic as ``MatMulInteger -> Cast -> Mul(weight scales) ->
  Mul(row scales)``, standard operators only.
- ``nbits8``: onnxruntime's ``MatMulNBits``, 8-bit weights with one scale per block of 32 along K,
  int8 activations quantized per block of each row inside the kernel (accuracy level 4).
- ``nbits4``: the same with 4-bit weights, one scale per block of 128 (the 4-bit decoder of
  ``experiments four-bit-decoder``): not int8, timed here for whether its rows stay independent.

This module knows nothing about timing.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

FORMS = ("tensor", "rows", "rows-unfused", "nbits8", "nbits4")
NBITS = {"nbits8": (8, 32), "nbits4": (4, 128)}  # (bits, block size)
D_MODEL, FFN, VOCAB, LAYERS = 1024, 4096, 96103, 16  # pegasus-cnn_dailymail's decoder


def linear_layers(layers: int = LAYERS, seed: int = 0) -> onnx.ModelProto:
    """A decoder's linear layers without its attention, fp32, (rows, 1024) -> (rows, vocab): per
    layer LayerNorm, fused QKV (1024 x 3072, its first third kept), out, cross-attention query and
    out (1024 x 1024 each), LayerNorm, fc1 (1024 x 4096), ReLU, fc2 (4096 x 1024), residual adds;
    then the lm_head (96103 x 1024, ``Gemm`` with ``transB`` as in our decoder). Random weights at
    transformers' init scale, each layer its own: every run reads all of them from memory."""
    rng = np.random.default_rng(seed)
    inits, nodes = [], []

    def weight(name: str, shape: tuple[int, ...]) -> str:
        inits.append(numpy_helper.from_array((rng.standard_normal(shape, np.float32) * 0.02), name))
        return name

    ones, zeros = "ln.ones", "ln.zeros"
    inits += [numpy_helper.from_array(np.ones(D_MODEL, np.float32), ones),
              numpy_helper.from_array(np.zeros(D_MODEL, np.float32), zeros)]

    def op(op_type: str, *inputs: str, **attributes) -> str:
        out = f"{op_type}_{len(nodes)}"
        nodes.append(helper.make_node(op_type, list(inputs), [out], name=out, **attributes))
        return out

    def norm(x: str) -> str:
        return op("LayerNormalization", x, ones, zeros, axis=-1, epsilon=1e-5)

    x = "x"
    for i in range(layers):
        qkv = op("MatMul", norm(x), weight(f"l{i}.qkv", (D_MODEL, 3 * D_MODEL)))
        query = op("Slice", qkv, "start", "width", "axis")  # stands for attention's output
        x = op("Add", x, op("MatMul", query, weight(f"l{i}.out", (D_MODEL, D_MODEL))))
        cross = op("MatMul", norm(x), weight(f"l{i}.cross_q", (D_MODEL, D_MODEL)))
        x = op("Add", x, op("MatMul", cross, weight(f"l{i}.cross_out", (D_MODEL, D_MODEL))))
        hidden = op("Relu", op("MatMul", norm(x), weight(f"l{i}.fc1", (D_MODEL, FFN))))
        x = op("Add", x, op("MatMul", hidden, weight(f"l{i}.fc2", (FFN, D_MODEL))))
    logits = op("Gemm", norm(x), weight("lm_head", (VOCAB, D_MODEL)), transB=1)
    inits += [numpy_helper.from_array(np.array([v], np.int64), n)
              for n, v in (("start", 0), ("width", D_MODEL), ("axis", 1))]
    graph = helper.make_graph(
        nodes, "linear_layers", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["rows", D_MODEL])],
        [helper.make_tensor_value_info(logits, TensorProto.FLOAT, ["rows", VOCAB])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


def in_form(model: onnx.ModelProto, form: str) -> onnx.ModelProto:
    """``model`` (fp32, its weights in memory) quantized in ``form``."""
    from engine.export.quantize import quantize_model

    if form in NBITS:
        from benchmarks.four_bit import _lm_head_as_matmul, nbits

        _lm_head_as_matmul(model)
        bits, block_size = NBITS[form]
        return nbits(model, bits=bits, block_size=block_size)
    quantized = quantize_model(model, activations="tensor" if form == "tensor" else "rows")
    return unfuse(quantized) if form == "rows-unfused" else quantized


def decoder_in_form(fp32_export: Path, form: str, out: Path) -> Path:
    """The fp32 export's decoder graph in ``form``, written under ``out`` (with the weights it reads
    from disk beside it); returns the graph's path."""
    from engine.export.quantize import quantize_folder

    out.mkdir(parents=True, exist_ok=True)
    if form in NBITS:
        return save(in_form(onnx.load(str(fp32_export / "decoder.onnx")), form), out / "decoder.onnx")
    quantize_folder(fp32_export, out, ("decoder",), activations="tensor" if form == "tensor" else "rows")
    if form == "rows-unfused":
        from engine.export.weights import load_graph

        path = out / "decoder.onnx"
        onnx.save_model(unfuse(load_graph(path)), str(path))
    return out / "decoder.onnx"


def unfuse(model: onnx.ModelProto) -> onnx.ModelProto:
    """Each ``MatMulIntegerToFloat`` of the per-row form as standard operators, in place:
    the integer product, then the weights' per-column scales, then the rows' scales."""
    nodes = []
    for node in model.graph.node:
        if node.op_type != "MatMulIntegerToFloat":
            nodes.append(node)
            continue
        x_q, weight, row_scale, weight_scale, x_zero, weight_zero = node.input
        p = node.name
        nodes += [
            helper.make_node("MatMulInteger", [x_q, weight, x_zero, weight_zero], [f"{p}/int"]),
            helper.make_node("Cast", [f"{p}/int"], [f"{p}/float"], to=TensorProto.FLOAT),
            helper.make_node("Mul", [f"{p}/float", weight_scale], [f"{p}/columns"]),
            helper.make_node("Mul", [f"{p}/columns", row_scale], list(node.output), name=p),
        ]
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    return model


def save(model: onnx.ModelProto, path: Path) -> Path:
    """One file (each form's int8 weights fit a protobuf), weights inline."""
    onnx.save_model(model, str(path))
    return path
