"""Quantize exported graphs to int8: weights per output channel, activations dynamically.

Each ``MatMul`` by a constant weight (K, N) becomes the pattern onnxruntime fuses into
``DynamicQuantizeMatMul``::

    x_q, x_scale, x_zero = DynamicQuantizeLinear(x)
    y = Cast(MatMulInteger(x_q, W_q, x_zero, 0)) * (x_scale * W_scale)     # W_scale: (N,)

A ``Gemm`` by a constant ``(N, K)`` weight with ``transB`` (the lm_head) becomes the same pattern on
the transposed int8 weight, quantized per row of the ``(N, K)`` matrix. ``quantize_folder`` also
quantizes the export's token embedding (read outside the graphs, see ``engine/embedding.py``) per
row, so when it is the lm_head's matrix their int8 bytes are equal and the writer stores them once.

We write this pass ourselves rather than call ``quantize_dynamic`` because the tied embedding is
one matrix with two uses: ``quantize_dynamic`` would quantize the lm_head and keep a second, fp32
copy for the lookups (or, through the ``Transpose`` that other exporters emit, skip the lm_head
entirely). Here the int8 export holds one 1-byte copy of it and no fp32 one.

Weights are symmetric with a 7-bit range by default: on x86 CPUs without VNNI, onnxruntime's
u8 x s8 kernel adds pairs of products in 16 bits, which 8-bit weights can saturate.

This module knows nothing about torch, Pegasus or where exports live.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from engine.embedding import EMBEDDING_FILE, embedding_record
from engine.export.weights import WEIGHTS_FILE, load_graph, save_graphs, tensor_array


def quantize_columns(weight: np.ndarray, bits: int) -> tuple[np.ndarray, np.ndarray]:
    """(K, N) float -> (K, N) int8 and (N,) float32 scales, symmetric per column."""
    limit = 2 ** (bits - 1) - 1
    scale = np.abs(weight).max(axis=0).astype(np.float32) / limit  # (N,)
    scale[scale == 0] = 1.0
    q = np.clip(np.rint(weight / scale), -limit, limit).astype(np.int8)
    return q, scale


def quantize_rows(weight: np.ndarray, bits: int) -> tuple[np.ndarray, np.ndarray]:
    """(N, K) float -> (N, K) int8 and (N,) float32 scales, symmetric per row."""
    q, scale = quantize_columns(weight.T, bits)
    return np.ascontiguousarray(q.T), scale


class _GraphQuantizer:
    def __init__(self, model: onnx.ModelProto, base_dir: Path, bits: int, keep: Callable[[str], bool]):
        self.model, self.graph = model, model.graph
        self.base_dir, self.bits, self.keep = base_dir, bits, keep
        self.inits = {t.name: t for t in self.graph.initializer}
        self.quantized: dict[str, tuple[str, str]] = {}  # weight -> (int8 name, scale name)
        self.layouts: dict[str, bool] = {}  # weight -> quantized by rows (N, K) rather than columns
        self.new_inits: list[TensorProto] = []
        self.zero_points: set[str] = set()

    def _quantized(self, name: str, *, by_rows: bool = False) -> tuple[str, str]:
        """The int8 copy of a weight and its scales: per column of (K, N), or per row of (N, K)."""
        if self.layouts.setdefault(name, by_rows) != by_rows:
            raise ValueError(f"{name} is used both as a (K, N) and as an (N, K) weight; quantize one copy of each")
        if name not in self.quantized:
            weight = tensor_array(self.inits[name], self.base_dir)
            if by_rows:
                q, scale = quantize_rows(weight, self.bits)
            else:
                q, scale = quantize_columns(weight, self.bits)
            q_name, s_name = f"{name}_int8", f"{name}_scale"
            self.new_inits += [numpy_helper.from_array(q, q_name), numpy_helper.from_array(scale, s_name)]
            self.quantized[name] = (q_name, s_name)
        return self.quantized[name]

    def _zero_point(self, name: str, *, by_rows: bool = False) -> str:
        """The weight's (N,) int8 zero point: zeros, since the weights are symmetric."""
        zero_name = f"{name}_zero"
        if zero_name not in self.zero_points:
            self.zero_points.add(zero_name)
            columns = self.inits[name].dims[0 if by_rows else 1]
            self.new_inits.append(numpy_helper.from_array(np.zeros(columns, np.int8), zero_name))
        return zero_name

    def _is_float_matrix(self, name: str) -> bool:
        t = self.inits.get(name)
        return t is not None and t.data_type == TensorProto.FLOAT and len(t.dims) == 2

    def _matmul(self, node: onnx.NodeProto) -> list[onnx.NodeProto]:
        x, w = node.input
        q_name, s_name = self._quantized(w)
        return self._integer_matmul(node, x, q_name, s_name, self._zero_point(w))

    def _gemm_trans_b(self, node: onnx.NodeProto) -> list[onnx.NodeProto]:
        """Gemm(x, W, transB=1) with W (N, K): the same pattern on Transpose(W's int8 rows).

        onnxruntime folds the Transpose when it loads the graph, pre-packs the result and then
        frees it, so the (N, K) int8 matrix stays on disk, free for row lookups of the same bytes.
        (``QGemm``, which takes ``transB`` itself, kept an extra copy of the weight in memory.)
        """
        x, w = node.input
        q_name, s_name = self._quantized(w, by_rows=True)
        p = node.name or node.output[0]
        transpose = helper.make_node("Transpose", [q_name], [f"{p}/weight_int8"], perm=[1, 0])
        return [transpose, *self._integer_matmul(node, x, f"{p}/weight_int8", s_name,
                                                 self._zero_point(w, by_rows=True))]

    def _integer_matmul(self, node, x: str, q_name: str, s_name: str, zero_name: str) -> list[onnx.NodeProto]:
        p = node.name or node.output[0]
        return [
            helper.make_node("DynamicQuantizeLinear", [x], [f"{p}/x_q", f"{p}/x_scale", f"{p}/x_zero"]),
            helper.make_node("MatMulInteger", [f"{p}/x_q", q_name, f"{p}/x_zero", zero_name], [f"{p}/int"]),
            helper.make_node("Cast", [f"{p}/int"], [f"{p}/float"], to=TensorProto.FLOAT),
            helper.make_node("Mul", [f"{p}/x_scale", s_name], [f"{p}/scale"]),
            helper.make_node("Mul", [f"{p}/float", f"{p}/scale"], list(node.output), name=p),
        ]

    def _rewrite(self, node: onnx.NodeProto) -> list[onnx.NodeProto]:
        attributes = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        if node.op_type == "MatMul" and self._quantizable(node.input[1]):
            return self._matmul(node)
        is_plain_gemm = len(node.input) == 2 and attributes.get("transA", 0) == 0 and \
            attributes.get("alpha", 1.0) == 1.0
        if node.op_type == "Gemm" and is_plain_gemm and attributes.get("transB") == 1 and self._quantizable(node.input[1]):
            return self._gemm_trans_b(node)
        return [node]

    def _quantizable(self, name: str) -> bool:
        return self._is_float_matrix(name) and not self.keep(name)

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
    """Quantize ``fp32_dir/<name>.onnx`` graphs and the token embedding into ``out_dir``.

    The embedding's rows are quantized as the lm_head's are, so a tied pair is stored once.
    """
    graphs = {}
    for name in names:
        if on_graph:
            on_graph(name)
        graphs[name] = quantize_model(load_graph(fp32_dir / f"{name}.onnx"), fp32_dir, bits=bits, keep_fp32=keep_fp32)
    records = json.loads((fp32_dir / EMBEDDING_FILE).read_text(encoding="utf-8"))
    arrays = {}
    for stack, record in records.items():
        rows = record["rows"]
        table = np.memmap(fp32_dir / record["file"], dtype=np.float32, mode="r", offset=rows["offset"],
                          shape=tuple(rows["shape"]))
        arrays[f"{stack}.rows"], arrays[f"{stack}.scales"] = quantize_rows(np.asarray(table), bits)
        del table
    paths, offsets = save_graphs(graphs, fp32_dir, out_dir, arrays=arrays)
    int8_records = {
        stack: embedding_record(WEIGHTS_FILE, (offsets[f"{stack}.rows"], arrays[f"{stack}.rows"].shape, "int8"),
                                (offsets[f"{stack}.scales"], "float32"), record["multiplier"])
        for stack, record in records.items()
    }
    (out_dir / EMBEDDING_FILE).write_text(json.dumps(int8_records, indent=2), encoding="utf-8")
    return paths
