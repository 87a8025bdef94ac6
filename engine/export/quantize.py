"""Quantize exported graphs to int8: weights per output channel, activations per row, dynamically.

Each ``MatMul`` by a constant weight (K, N) becomes, for its activation ``x`` (.., K)::

    row_max = Max(ReduceMax(Abs(x), axes=[-1]), tiny)                      # (.., 1): one per token vector
    x_q = QuantizeLinear(x / row_max, 1/127, 128)                          # u8 in [1, 255], zero point 128
    y = MatMulIntegerToFloat(x_q, W_q, row_max, W_scale / 127, 128, 0)     # W_scale: (N,)

Every token vector (each position of each row of the batch) gets its own scale, so a row's result
is the same whatever other rows, beams, padded documents or positions run beside it in the tensor:
the integer product is exact and everything else is elementwise within the row. One activation
feeding several weights (the encoder's output, read by every layer's cross-attention K/V) is
quantized once. ``activations="tensor"`` gives the former form, one scale for the whole tensor
(``DynamicQuantizeLinear -> MatMulInteger -> Cast -> Mul``, which onnxruntime fuses into
``DynamicQuantizeMatMul``): a little faster at 16 rows and more, but a row's result then depends on
its neighbours; the benchmark keeps it for comparison (``benchmarks/NOTES.md``).

A ``Gemm`` by a constant ``(N, K)`` weight with ``transB`` (the lm_head) becomes the same pattern on
the transposed int8 weight, quantized per row of the ``(N, K)`` matrix. ``quantize_folder`` also
quantizes the export's token embedding (read outside the graphs, see ``engine/embedding.py``) per
row, so when it is the lm_head's matrix their int8 bytes are equal and the writer stores them once.

We write this pass ourselves rather than call ``quantize_dynamic`` because the tied embedding is
one matrix with two uses: ``quantize_dynamic`` would quantize the lm_head and keep a second, fp32
copy for the lookups (or, through the ``Transpose`` that other exporters emit, skip the lm_head
entirely). Here the int8 export holds one 1-byte copy of it and no fp32 one.

Weights are symmetric with a 7-bit range by default: on x86 CPUs without VNNI, onnxruntime's
u8 x s8 kernel adds pairs of products of the stored bytes in 16 bits. The activations' bytes reach
255 (zero point 128 + 127), and 2 x 255 x 63 = 32,130 fits in an int16 where 2 x 255 x 127 would
not. With VNNI (and AMX) the products are summed in 32 bits, so the result is the same integer on
every CPU.

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

# Elements a step works on (16 MB of float32): a big matrix (the 96103 x 1024 lm_head) is
# quantized a block of rows at a time, so its float temporaries never exceed this.
_BLOCK = 1 << 22


def _row_blocks(weight: np.ndarray) -> range:
    rows = max(1, _BLOCK // max(1, weight.shape[1]))
    return range(0, weight.shape[0], rows)


def _scales(peak: np.ndarray, bits: int) -> np.ndarray:
    scale = peak.astype(np.float32) / (2 ** (bits - 1) - 1)
    scale[scale == 0] = 1.0
    return scale


def _rounded(weight: np.ndarray, scale: np.ndarray, bits: int, rows: range, *, per_row: bool) -> np.ndarray:
    """int8 ``clip(rint(weight / scale))``, block by block; ``scale`` is (N,) per column or per row."""
    limit = 2 ** (bits - 1) - 1
    q = np.empty(weight.shape, np.int8)
    for start in rows:
        block = slice(start, start + rows.step)
        q[block] = np.clip(np.rint(weight[block] / (scale[block, None] if per_row else scale)), -limit, limit)
    return q


def quantize_columns(weight: np.ndarray, bits: int) -> tuple[np.ndarray, np.ndarray]:
    """(K, N) float -> (K, N) int8 and (N,) float32 scales, symmetric per column."""
    rows = _row_blocks(weight)
    peak = np.zeros(weight.shape[1], dtype=weight.dtype)
    for start in rows:
        np.maximum(peak, np.abs(weight[start:start + rows.step]).max(axis=0), out=peak)
    scale = _scales(peak, bits)  # (N,)
    return _rounded(weight, scale, bits, rows, per_row=False), scale


def quantize_rows(weight: np.ndarray, bits: int) -> tuple[np.ndarray, np.ndarray]:
    """(N, K) float -> (N, K) int8 and (N,) float32 scales, symmetric per row."""
    rows = _row_blocks(weight)
    peak = np.concatenate([np.abs(weight[start:start + rows.step]).max(axis=1) for start in rows])  # (N,)
    scale = _scales(peak, bits)
    return _rounded(weight, scale, bits, rows, per_row=True), scale


ACTIVATIONS = ("rows", "tensor")  # one scale per token vector (exported), or per tensor (benchmarked)
ACTIVATION_LIMIT = 127  # |x| / row_max * 127 around the zero point 128: bytes 1 .. 255
MS_DOMAIN = "com.microsoft"


class _GraphQuantizer:
    def __init__(self, model: onnx.ModelProto, base_dir: Path, bits: int, activations: str,
                 keep: Callable[[str], bool]):
        self.model, self.graph = model, model.graph
        self.base_dir, self.bits, self.activations, self.keep = base_dir, bits, activations, keep
        self.inits = {t.name: t for t in self.graph.initializer}
        self.quantized: dict[str, tuple[str, str]] = {}  # weight -> (int8 name, scale name)
        self.layouts: dict[str, bool] = {}  # weight -> quantized by rows (N, K) rather than columns
        self.new_inits: list[TensorProto] = []
        self.zero_points: set[str] = set()
        self.constants: set[str] = set()  # names of the scalars added once (row_quantize/...)
        self.row_quantized: dict[str, tuple[str, str]] = {}  # activation -> (u8 name, row max name)

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
            if self.activations == "rows":  # the activations' 1/127 joins the weight's scales
                scale = (scale / np.float32(ACTIVATION_LIMIT)).astype(np.float32)
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

    def _constant(self, name: str, value: np.ndarray) -> str:
        if name not in self.constants:
            self.new_inits.append(numpy_helper.from_array(value, name))
            self.constants.add(name)
        return name

    def _quantize_rows(self, x: str) -> tuple[list[onnx.NodeProto], str, str]:
        """Nodes quantizing ``x`` (.., K) to u8, one symmetric scale per row of its last axis; once
        per activation, however many weights read it. Returns (nodes, x_q, row_max)."""
        if x in self.row_quantized:
            return [], *self.row_quantized[x]
        p = f"{x}/rows"
        # The smallest normal float: an all-zero row divides by it instead of by zero.
        tiny = self._constant("row_quantize/tiny", np.array(np.finfo(np.float32).tiny, np.float32))
        step = self._constant("row_quantize/step", np.array(1 / ACTIVATION_LIMIT, np.float32))
        zero = self._constant("row_quantize/zero_point", np.array(128, np.uint8))
        nodes = [
            helper.make_node("Abs", [x], [f"{p}/abs"]),
            helper.make_node("ReduceMax", [f"{p}/abs"], [f"{p}/abs_max"], axes=[-1], keepdims=1),
            helper.make_node("Max", [f"{p}/abs_max", tiny], [f"{p}/max"]),
            helper.make_node("Div", [x, f"{p}/max"], [f"{p}/unit"]),  # each row in [-1, 1]
            helper.make_node("QuantizeLinear", [f"{p}/unit", step, zero], [f"{p}/q"]),
        ]
        self.row_quantized[x] = (f"{p}/q", f"{p}/max")
        return nodes, f"{p}/q", f"{p}/max"

    def _integer_matmul(self, node, x: str, q_name: str, s_name: str, zero_name: str) -> list[onnx.NodeProto]:
        p = node.name or node.output[0]
        if self.activations == "rows":
            nodes, x_q, row_max = self._quantize_rows(x)
            zero = self._constant("row_quantize/zero_point", np.array(128, np.uint8))
            return [*nodes, helper.make_node("MatMulIntegerToFloat", [x_q, q_name, row_max, s_name, zero, zero_name],
                                             list(node.output), name=p, domain=MS_DOMAIN)]
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
        if not any(o.domain == MS_DOMAIN for o in self.model.opset_import):
            self.model.opset_import.append(helper.make_opsetid(MS_DOMAIN, 1))
        return self.model


def quantize_model(
    model: onnx.ModelProto,
    base_dir: Path | None = None,
    *,
    bits: int = 7,
    activations: str = "rows",
    keep_fp32: Callable[[str], bool] = lambda weight: False,
) -> onnx.ModelProto:
    """Quantize one graph in place and return it; ``base_dir`` holds its external data, if any.

    ``activations``: "rows" (one scale per token vector, what exports use) or "tensor" (one per
    tensor: a row's result then depends on the other rows; kept for the benchmark)."""
    if bits not in (7, 8):
        raise ValueError(f"bits must be 7 or 8, got {bits!r}")
    if activations not in ACTIVATIONS:
        raise ValueError(f"activations must be one of {', '.join(ACTIVATIONS)}; got {activations!r}")
    return _GraphQuantizer(model, base_dir or Path("."), bits, activations, keep_fp32).run()


def quantize_folder(
    fp32_dir: Path,
    out_dir: Path,
    names: tuple[str, ...] = ("encoder", "decoder"),
    *,
    bits: int = 7,
    activations: str = "rows",
    keep_fp32: Callable[[str], bool] = lambda weight: False,
    on_graph: Callable[[str], None] | None = None,
) -> list[Path]:
    """Quantize ``fp32_dir/<name>.onnx`` graphs and the token embedding into ``out_dir``.

    The embedding's rows are quantized as the lm_head's are, so a tied pair is stored once. Each
    graph is quantized when ``save_graphs`` comes to it and written before the next, and each
    weight is read when its turn comes, so memory holds one int8 graph, not the model.
    """
    def quantized(name: str) -> Callable[[], onnx.ModelProto]:
        def load() -> onnx.ModelProto:
            if on_graph:
                on_graph(name)
            return quantize_model(load_graph(fp32_dir / f"{name}.onnx"), fp32_dir, bits=bits,
                                  activations=activations, keep_fp32=keep_fp32)
        return load

    graphs = {name: quantized(name) for name in names}
    records = json.loads((fp32_dir / EMBEDDING_FILE).read_text(encoding="utf-8"))
    arrays, done = {}, {}
    for stack, record in records.items():
        rows = record["rows"]
        where = (record["file"], rows["offset"])
        if where not in done:  # the encoder's and the decoder's tables are one when tied
            table = np.fromfile(fp32_dir / record["file"], dtype=np.float32, count=int(np.prod(rows["shape"])),
                                offset=rows["offset"]).reshape(rows["shape"])
            done[where] = quantize_rows(table, bits)
            del table
        arrays[f"{stack}.rows"], arrays[f"{stack}.scales"] = done[where]
    paths, offsets = save_graphs(graphs, fp32_dir, out_dir, arrays=arrays)
    int8_records = {
        stack: embedding_record(WEIGHTS_FILE, (offsets[f"{stack}.rows"], arrays[f"{stack}.rows"].shape, "int8"),
                                (offsets[f"{stack}.scales"], "float32"), record["multiplier"])
        for stack, record in records.items()
    }
    (out_dir / EMBEDDING_FILE).write_text(json.dumps(int8_records, indent=2), encoding="utf-8")
    return paths
