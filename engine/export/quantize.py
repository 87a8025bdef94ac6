"""Quantize exported graphs to int8: weights per output channel, activations dynamically.

Each ``MatMul`` by a constant weight (K, N) becomes the pattern onnxruntime fuses into
``DynamicQuantizeMatMul``::

    x_q, x_scale, x_zero = DynamicQuantizeLinear(x)
    y = Cast(MatMulInteger(x_q, W_q, x_zero, 0)) * (x_scale * W_scale)     # W_scale: (N,)

We write this pass ourselves rather than call ``quantize_dynamic`` because the tied embedding is
one matrix with two uses: the decoder's lm_head multiplies by it and both graphs look tokens up
in its columns. ``quantize_dynamic`` would quantize the lm_head and keep a second, fp32 copy for
the lookups (or, through the ``Transpose`` that other exporters emit, skip the lm_head entirely).
Here a weight's columns are quantized once, the lookups ``Gather`` the int8 columns and scale
them, and the fp32 matrix is dropped, so the int8 export holds one 1-byte copy of it.

Weights are symmetric with a 7-bit range by default: on x86 CPUs without VNNI, onnxruntime's
u8 x s8 kernel adds pairs of products in 16 bits, which 8-bit weights can saturate.

This module knows nothing about torch, Pegasus or where exports live.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from engine.export.weights import load_graph, save_graphs, tensor_array


def quantize_columns(weight: np.ndarray, bits: int) -> tuple[np.ndarray, np.ndarray]:
    """(K, N) float -> (K, N) int8 and (N,) float32 scales, symmetric per column."""
    limit = 2 ** (bits - 1) - 1
    scale = np.abs(weight).max(axis=0).astype(np.float32) / limit  # (N,)
    scale[scale == 0] = 1.0
    q = np.clip(np.rint(weight / scale), -limit, limit).astype(np.int8)
    return q, scale


class _GraphQuantizer:
    def __init__(self, model: onnx.ModelProto, base_dir: Path, bits: int, keep: Callable[[str], bool]):
        self.model, self.graph = model, model.graph
        self.base_dir, self.bits, self.keep = base_dir, bits, keep
        self.inits = {t.name: t for t in self.graph.initializer}
        self.quantized: dict[str, tuple[str, str]] = {}  # weight -> (int8 name, scale name)
        self.new_inits: list[TensorProto] = []
        self.zero_points: set[str] = set()

    def _quantized(self, name: str) -> tuple[str, str]:
        if name not in self.quantized:
            q, scale = quantize_columns(tensor_array(self.inits[name], self.base_dir), self.bits)
            q_name, s_name = f"{name}_int8", f"{name}_scale"
            self.new_inits += [numpy_helper.from_array(q, q_name), numpy_helper.from_array(scale, s_name)]
            self.quantized[name] = (q_name, s_name)
        return self.quantized[name]

    def _zero_point(self, name: str) -> str:
        """The weight's (N,) int8 zero point: zeros, since the weights are symmetric."""
        zero_name = f"{name}_zero"
        if zero_name not in self.zero_points:
            self.zero_points.add(zero_name)
            columns = self.inits[name].dims[1]
            self.new_inits.append(numpy_helper.from_array(np.zeros(columns, np.int8), zero_name))
        return zero_name

    def _is_float_matrix(self, name: str) -> bool:
        t = self.inits.get(name)
        return t is not None and t.data_type == TensorProto.FLOAT and len(t.dims) == 2

    def _matmul(self, node: onnx.NodeProto) -> list[onnx.NodeProto]:
        x, w = node.input
        q_name, s_name = self._quantized(w)
        zero_name = self._zero_point(w)
        p = node.name or node.output[0]
        return [
            helper.make_node("DynamicQuantizeLinear", [x], [f"{p}/x_q", f"{p}/x_scale", f"{p}/x_zero"]),
            helper.make_node("MatMulInteger", [f"{p}/x_q", q_name, f"{p}/x_zero", zero_name], [f"{p}/int"]),
            helper.make_node("Cast", [f"{p}/int"], [f"{p}/float"], to=TensorProto.FLOAT),
            helper.make_node("Mul", [f"{p}/x_scale", s_name], [f"{p}/scale"]),
            helper.make_node("Mul", [f"{p}/float", f"{p}/scale"], list(node.output), name=p),
        ]

    def _column_gather(self, node: onnx.NodeProto) -> list[onnx.NodeProto]:
        """Gather(W, ids, axis=1) -> Gather(W_q, ids, axis=1) * Gather(W_scale, ids)."""
        w, ids = node.input
        q_name, s_name = self._quantized(w)
        p = node.name or node.output[0]
        return [
            helper.make_node("Gather", [q_name, ids], [f"{p}/q"], axis=1),
            helper.make_node("Cast", [f"{p}/q"], [f"{p}/float"], to=TensorProto.FLOAT),
            helper.make_node("Gather", [s_name, ids], [f"{p}/scale"], axis=0),
            helper.make_node("Mul", [f"{p}/float", f"{p}/scale"], list(node.output), name=p),
        ]

    def _rewrite(self, node: onnx.NodeProto) -> list[onnx.NodeProto]:
        if node.op_type == "MatMul" and self._is_float_matrix(node.input[1]) and not self.keep(node.input[1]):
            return self._matmul(node)
        is_column_gather = node.op_type == "Gather" and any(a.name == "axis" and a.i == 1 for a in node.attribute)
        if is_column_gather and self._is_float_matrix(node.input[0]) and not self.keep(node.input[0]):
            return self._column_gather(node)
        return [node]

    def run(self) -> onnx.ModelProto:
        nodes = [new for node in self.graph.node for new in self._rewrite(node)]
        del self.graph.node[:]
        self.graph.node.extend(nodes)
        used = {name for node in nodes for name in node.input}
        kept = [t for t in self.graph.initializer if t.name in used]
        del self.graph.initializer[:]
        self.graph.initializer.extend(kept + self.new_inits)
        return self.model


def quantize_model(
    model: onnx.ModelProto,
    base_dir: Path | None = None,
    *,
    bits: int = 7,
    keep_fp32: Callable[[str], bool] = lambda weight: False,
) -> onnx.ModelProto:
    """Quantize one graph in place and return it; ``base_dir`` holds its external data, if any."""
    if bits not in (7, 8):
        raise ValueError(f"bits must be 7 or 8, got {bits!r}")
    return _GraphQuantizer(model, base_dir or Path("."), bits, keep_fp32).run()


def quantize_folder(
    fp32_dir: Path,
    out_dir: Path,
    names: tuple[str, ...] = ("encoder", "decoder"),
    *,
    bits: int = 7,
    keep_fp32: Callable[[str], bool] = lambda weight: False,
    on_graph: Callable[[str], None] | None = None,
) -> list[Path]:
    """Quantize ``fp32_dir/<name>.onnx`` graphs into ``out_dir`` (shared weights, stored once)."""
    graphs = {}
    for name in names:
        if on_graph:
            on_graph(name)
        graphs[name] = quantize_model(load_graph(fp32_dir / f"{name}.onnx"), fp32_dir, bits=bits, keep_fp32=keep_fp32)
    return save_graphs(graphs, fp32_dir, out_dir)
