"""Attention written as our graphs write it, and as onnxruntime's fused ``MultiHeadAttention``.

Used by ``python -m benchmarks.experiments attention``: would the fused contrib operator make the
encoder or a decoder step faster? Each graph chains 16 layers of attention alone (no projections),
in the shapes of the cnn_dailymail checkpoint: 16 heads of 64, a 512-token source.

- ``encoder``: the encoder's self-attention over all source positions, from a fused Q/K/V tensor.
- ``cross``: a decoder step's cross-attention: the queries of one input's beams against its
  precomputed (1, heads, src, head_dim) K/V.
- ``cross_form``: that cross-attention in each of the forms the decoder has had
  (``CROSS_FORMS``), for ``python -m benchmarks.experiments cross-forms``.
- ``self``: a decoder step's self-attention: the cache's rows gathered, one position appended.

The "ours" forms copy the operator chains of ``engine/export/graphs.py``; keep them in step.
This module knows nothing about checkpoints or timing.
"""

from __future__ import annotations

import numpy as np
from onnx import TensorProto, helper, numpy_helper

HEADS, HEAD_DIM, LAYERS, SOURCE = 16, 64, 16, 512
D_MODEL = HEADS * HEAD_DIM
SCALE = HEAD_DIM**-0.5
FLOAT = TensorProto.FLOAT
MS = "com.microsoft"


def _model(nodes, inputs, outputs, constants: dict):
    inits = [numpy_helper.from_array(np.asarray(value), name) for name, value in constants.items()]
    outputs = [helper.make_tensor_value_info(name, FLOAT, None) for name in outputs]
    graph = helper.make_graph(nodes, "attention", inputs, outputs, inits)
    opsets = [helper.make_opsetid("", 17), helper.make_opsetid(MS, 1)]
    return helper.make_model(graph, opset_imports=opsets, ir_version=8)


def _node(op, inputs, outputs, **attributes):
    domain = MS if op in ("FusedMatMul", "MultiHeadAttention") else None
    return helper.make_node(op, inputs, outputs, domain=domain, **attributes)


def encoder(fused: bool):
    """16 independent layers: ``x{i}`` (1, src, 3 * d_model) -> ``o{i}`` (1, src, d_model)."""
    nodes, inputs, outputs = [], [], []
    constants = {"split_heads": np.array([0, 0, HEADS, HEAD_DIM]), "merge_heads": np.array([0, 0, D_MODEL])}
    if fused:
        inputs.append(helper.make_tensor_value_info("mask", TensorProto.INT32, [1, SOURCE]))
    else:
        constants["mask"] = np.zeros((1, 1, 1, SOURCE), np.float32)  # additive: nothing masked
    for i in range(LAYERS):
        inputs.append(helper.make_tensor_value_info(f"x{i}", FLOAT, [1, SOURCE, 3 * D_MODEL]))
        q, k, v = f"q{i}", f"k{i}", f"v{i}"
        nodes.append(_node("Split", [f"x{i}"], [q, k, v], axis=-1))
        if fused:
            nodes.append(_node("MultiHeadAttention", [q, k, v, "", "mask"], [f"o{i}"], num_heads=HEADS, scale=SCALE))
        else:
            for t in (q, k, v):
                nodes += [_node("Reshape", [t, "split_heads"], [f"{t}_r"]),
                          _node("Transpose", [f"{t}_r"], [f"{t}_t"], perm=[0, 2, 1, 3])]
            nodes += [
                _node("FusedMatMul", [f"{q}_t", f"{k}_t"], [f"s{i}"], alpha=SCALE, transB=1),
                _node("Add", [f"s{i}", "mask"], [f"m{i}"]),
                _node("Softmax", [f"m{i}"], [f"p{i}"], axis=-1),
                _node("MatMul", [f"p{i}", f"{v}_t"], [f"a{i}"]),
                _node("Transpose", [f"a{i}"], [f"a{i}_t"], perm=[0, 2, 1, 3]),
                _node("Reshape", [f"a{i}_t", "merge_heads"], [f"o{i}"]),
            ]
        outputs.append(f"o{i}")
    return _model(nodes, inputs, outputs, constants)


def cross(fused: bool):
    """16 chained layers: ``q`` (rows, d_model) of one input's beams against ``k{i}``/``v{i}``."""
    inputs = [helper.make_tensor_value_info("q", FLOAT, ["rows", D_MODEL])]
    constants = {"flat": np.array([-1, D_MODEL]), "at2": np.array([2]), "at3": np.array([3])}
    if fused:
        inputs.append(helper.make_tensor_value_info("mask", TensorProto.INT32, [1, SOURCE]))
        constants["group"] = np.array([1, -1, D_MODEL])
    else:
        constants |= {"group": np.array([1, -1, HEADS, HEAD_DIM]), "mask": np.zeros((1, 1, 1, SOURCE), np.float32)}
    nodes, previous = [], "q"
    for i in range(LAYERS):
        inputs += [helper.make_tensor_value_info(f"{t}{i}", FLOAT, [1, HEADS, SOURCE, HEAD_DIM]) for t in "kv"]
        nodes.append(_node("Reshape", [previous, "group"], [f"g{i}"]))
        if fused:
            nodes.append(_node("MultiHeadAttention", [f"g{i}", f"k{i}", f"v{i}", "", "mask"], [f"a{i}"],
                               num_heads=HEADS, scale=SCALE))
        else:
            nodes.append(_node("Transpose", [f"g{i}"], [f"g{i}_t"], perm=[0, 2, 1, 3]))
            nodes += _cross_nodes("queries-as-m", f"g{i}_t", f"k{i}", f"v{i}", "mask", f"h{i}")  # the decoder's form
            nodes.append(_node("Transpose", [f"h{i}"], [f"a{i}"], perm=[0, 2, 1, 3]))
        nodes.append(_node("Reshape", [f"a{i}", "flat"], [f"o{i}"]))
        previous = f"o{i}"
    return _model(nodes, inputs, [previous], constants)


# The decoder's cross-attention forms, (1, heads, q, head_dim) queries against (1, heads, src, head_dim)
# K/V. Scores and then probs @ value:
# "keys-as-m": key @ query.T, transposed; one M=1 product per query (the decoder until 2026-12-02);
# "queries-as-m": query @ key.T; one M=1 product per query (the decoder now, engine/export/graphs.py);
# "one-gemm": both in one product with the queries as M (a query's bits depend on the others);
# "each-query": both as one M=1 product per query.
# "keys-t-gemv": the keys stored transposed, (head_dim, src), the queries scaled first, and both
#   products one M=1 product per query with alpha 1: onnxruntime's float GEMM then takes its M=1
#   path (a plain pass over B, no packing of it), for one query as for several.
# "int8-keys": the keys stored as int8 (one scale per head and position, transposed to
#   (head_dim, src)) and the scores an integer product with the queries quantized per row (u8
#   around 128); values and probs @ value as "queries-as-m". A quarter of the keys' bytes.
# "int8-keys-values": the values too, as int8 with one scale per head and channel, and probs @ value
#   an integer product with each query's probabilities quantized to u8 (0..its largest). A quarter
#   of the K/V bytes in all; the probabilities keep 8 bits only.
CROSS_FORMS = ("keys-as-m", "queries-as-m", "one-gemm", "each-query", "keys-t-gemv", "int8-keys",
               "int8-keys-values")
INT8_FORMS = ("int8-keys", "int8-keys-values")


def _cross_nodes(form: str, q: str, k: str, v: str, mask: str, out: str) -> list:
    if form == "keys-as-m":
        nodes = [_node("FusedMatMul", [k, q], [f"{out}/st"], alpha=SCALE, transB=1),
                 _node("Transpose", [f"{out}/st"], [f"{out}/s"], perm=[0, 1, 3, 2])]
    elif form == "each-query":
        nodes = [_node("Unsqueeze", [q, "at3"], [f"{out}/q5"]), _node("Unsqueeze", [k, "at2"], [f"{out}/k5"]),
                 _node("FusedMatMul", [f"{out}/q5", f"{out}/k5"], [f"{out}/s5"], alpha=SCALE, transB=1),
                 _node("Squeeze", [f"{out}/s5", "at3"], [f"{out}/s"])]
    elif form == "keys-t-gemv":
        nodes = [_node("Mul", [q, "scale"], [f"{out}/qs"]),
                 _node("Unsqueeze", [f"{out}/qs", "at3"], [f"{out}/q5"]), _node("Unsqueeze", [k, "at2"], [f"{out}/k5"]),
                 _node("MatMul", [f"{out}/q5", f"{out}/k5"], [f"{out}/s5"]),
                 _node("Squeeze", [f"{out}/s5", "at3"], [f"{out}/s"])]
    else:
        nodes = [_node("FusedMatMul", [q, k], [f"{out}/s"], alpha=SCALE, transB=1)]
    nodes += [_node("Add", [f"{out}/s", mask], [f"{out}/m"]), _node("Softmax", [f"{out}/m"], [f"{out}/p"], axis=-1)]
    if form == "one-gemm":
        return nodes + [_node("MatMul", [f"{out}/p", v], [out])]
    return nodes + [_node("Unsqueeze", [f"{out}/p", "at3"], [f"{out}/p5"]), _node("Unsqueeze", [v, "at2"], [f"{out}/v5"]),
                    _node("MatMul", [f"{out}/p5", f"{out}/v5"], [f"{out}/o5"]),
                    _node("Squeeze", [f"{out}/o5", "at3"], [out])]


def _quantized_rows(x: str, out: str) -> list:
    """``x`` quantized per row of its last axis, u8 around 128 (as the linear layers' activations);
    ``{out}/max`` is each row's largest magnitude."""
    return [_node("Abs", [x], [f"{out}/abs"]), _node("ReduceMax", [f"{out}/abs"], [f"{out}/rmax"], axes=[-1]),
            _node("Max", [f"{out}/rmax", "tiny"], [f"{out}/max"]), _node("Div", [x, f"{out}/max"], [f"{out}/unit"]),
            _node("QuantizeLinear", [f"{out}/unit", "by127", "u128"], [out])]


def _int8_cross_nodes(form: str, k: str, v: str, out: str) -> list:
    """The int8 forms' layer, after ``_quantized_rows("q", "qu")``: ``k`` is the int8 (1, heads,
    head_dim, src) keys with scales ``{k}_scale`` (1, heads, 1, src); ``v`` the values, int8
    (1, heads, src, head_dim) with ``{v}_scale`` (1, heads, 1, head_dim) in "int8-keys-values"."""
    nodes = [_node("MatMulInteger", ["qu", k, "u128", "s0"], [f"{out}/si"]),
             _node("Cast", [f"{out}/si"], [f"{out}/sf"], to=FLOAT),
             _node("Mul", ["qu/max", "alpha127"], [f"{out}/qs"]),
             _node("Mul", [f"{out}/sf", f"{out}/qs"], [f"{out}/sq"]),
             _node("Mul", [f"{out}/sq", f"{k}_scale"], [f"{out}/s"]),
             _node("Add", [f"{out}/s", "mask"], [f"{out}/m"]), _node("Softmax", [f"{out}/m"], [f"{out}/p"], axis=-1)]
    if form == "int8-keys":
        return nodes + [_node("Unsqueeze", [f"{out}/p", "at3"], [f"{out}/p5"]),
                        _node("Unsqueeze", [v, "at2"], [f"{out}/v5"]),
                        _node("MatMul", [f"{out}/p5", f"{out}/v5"], [f"{out}/o5"]),
                        _node("Squeeze", [f"{out}/o5", "at3"], [out])]
    return nodes + [_node("ReduceMax", [f"{out}/p"], [f"{out}/pmax"], axes=[-1]),
                    _node("Div", [f"{out}/p", f"{out}/pmax"], [f"{out}/punit"]),
                    _node("QuantizeLinear", [f"{out}/punit", "by255", "u0"], [f"{out}/pu"]),
                    _node("MatMulInteger", [f"{out}/pu", v, "u0", "s0"], [f"{out}/oi"]),
                    _node("Cast", [f"{out}/oi"], [f"{out}/of"], to=FLOAT),
                    _node("Mul", [f"{out}/of", f"{out}/pmax"], [f"{out}/op"]),
                    _node("Mul", [f"{out}/op", f"{v}_scale"], [out])]


def cross_form(form: str):
    """16 independent layers of one ``form`` (``CROSS_FORMS``): ``q`` (1, heads, queries, head_dim)
    against ``k{i}``/``v{i}`` (as ``cross_form_inputs`` gives them) -> ``o{i}`` (1, heads, queries,
    head_dim)."""
    inputs = [helper.make_tensor_value_info("q", FLOAT, [1, HEADS, "queries", HEAD_DIM])]
    constants = {"mask": np.zeros((1, 1, 1, SOURCE), np.float32), "at2": np.array([2]), "at3": np.array([3]),
                 "scale": np.float32(SCALE)}
    nodes, outputs = [], []
    if form in INT8_FORMS:
        constants |= {"tiny": np.float32(1e-30), "by127": np.float32(1 / 127), "by255": np.float32(1 / 255),
                      "alpha127": np.float32(SCALE / 127), "u128": np.uint8(128), "u0": np.uint8(0),
                      "s0": np.int8(0)}
        nodes += _quantized_rows("q", "qu")
    for i in range(LAYERS):
        if form in INT8_FORMS:
            values = form == "int8-keys-values"
            inputs += [helper.make_tensor_value_info(f"k{i}", TensorProto.INT8, [1, HEADS, HEAD_DIM, SOURCE]),
                       helper.make_tensor_value_info(f"k{i}_scale", FLOAT, [1, HEADS, 1, SOURCE]),
                       helper.make_tensor_value_info(f"v{i}", TensorProto.INT8 if values else FLOAT,
                                                     [1, HEADS, SOURCE, HEAD_DIM])]
            if values:
                inputs.append(helper.make_tensor_value_info(f"v{i}_scale", FLOAT, [1, HEADS, 1, HEAD_DIM]))
            nodes += _int8_cross_nodes(form, f"k{i}", f"v{i}", f"o{i}")
        else:
            key_shape = [1, HEADS, HEAD_DIM, SOURCE] if form == "keys-t-gemv" else [1, HEADS, SOURCE, HEAD_DIM]
            inputs += [helper.make_tensor_value_info(f"k{i}", FLOAT, key_shape),
                       helper.make_tensor_value_info(f"v{i}", FLOAT, [1, HEADS, SOURCE, HEAD_DIM])]
            nodes += _cross_nodes(form, "q", f"k{i}", f"v{i}", "mask", f"o{i}")
        outputs.append(f"o{i}")
    return _model(nodes, inputs, outputs, constants)


def cross_form_inputs(form: str, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """``cross_form_feeds``' float K/V as ``form`` takes them (quantized for the int8 forms)."""
    if form == "keys-t-gemv":
        return feeds | {f"k{i}": np.ascontiguousarray(feeds[f"k{i}"].transpose(0, 1, 3, 2)) for i in range(LAYERS)}
    if form not in INT8_FORMS:
        return feeds
    out = {"q": feeds["q"]}
    for i in range(LAYERS):
        key, value = feeds[f"k{i}"], feeds[f"v{i}"]
        scale = np.maximum(np.abs(key).max(-1, keepdims=True), 1e-30) / 127  # per head and position
        out[f"k{i}"] = np.ascontiguousarray(np.round(key / scale).astype(np.int8).transpose(0, 1, 3, 2))
        out[f"k{i}_scale"] = np.ascontiguousarray(scale.transpose(0, 1, 3, 2), np.float32)
        out[f"v{i}"] = value
        if form == "int8-keys-values":
            scale = np.maximum(np.abs(value).max(2, keepdims=True), 1e-30) / 127  # per head and channel
            out[f"v{i}"] = np.round(value / scale).astype(np.int8)
            out[f"v{i}_scale"] = (scale / 255).astype(np.float32)  # with the probabilities' 1/255
    return out


def cross_form_feeds(queries: int, sets: int) -> list[dict[str, np.ndarray]]:
    """``sets`` different inputs of ``cross_form``: cycled through, their K/V (64 MB a set at the
    cnn shape) come from memory, as a decoder step's do, rather than from the CPU's caches."""
    rng = np.random.default_rng(0)
    return [{"q": rng.standard_normal((1, HEADS, queries, HEAD_DIM), np.float32)}
            | {f"{t}{i}": rng.standard_normal((1, HEADS, SOURCE, HEAD_DIM), np.float32)
               for i in range(LAYERS) for t in "kv"} for _ in range(sets)]


def self_attention(fused: bool, rows: int):
    """16 chained layers: ``q`` (rows, d_model) is the new query, key and value; ``pk{i}``/``pv{i}``
    the (rows, heads, past, head_dim) cache, gathered by rows as beam search does."""
    inputs = [helper.make_tensor_value_info("q", FLOAT, ["rows", D_MODEL])]
    constants = {"flat": np.array([-1, D_MODEL]), "cache_rows": np.arange(rows),
                 "one": np.array([-1, 1, D_MODEL]) if fused else np.array([-1, HEADS, 1, HEAD_DIM]),
                 "scores": np.array([0, 0, 1, -1])}
    nodes, outputs, previous = [], [], "q"
    for i in range(LAYERS):
        inputs += [helper.make_tensor_value_info(f"p{t}{i}", FLOAT, ["rows", HEADS, "past", HEAD_DIM]) for t in "kv"]
        nodes += [_node("Reshape", [previous, "one"], [f"n{i}"]),
                  _node("Gather", [f"pk{i}", "cache_rows"], [f"gk{i}"], axis=0),
                  _node("Gather", [f"pv{i}", "cache_rows"], [f"gv{i}"], axis=0)]
        if fused:
            nodes.append(_node("MultiHeadAttention", [f"n{i}", f"n{i}", f"n{i}", "", "", "", f"gk{i}", f"gv{i}"],
                               [f"a{i}", f"K{i}", f"V{i}"], num_heads=HEADS, scale=SCALE))
        else:
            nodes += [
                _node("Concat", [f"gk{i}", f"n{i}"], [f"K{i}"], axis=2),
                _node("Concat", [f"gv{i}", f"n{i}"], [f"V{i}"], axis=2),
                _node("FusedMatMul", [f"K{i}", f"n{i}"], [f"s{i}"], alpha=SCALE, transB=1),
                _node("Reshape", [f"s{i}", "scores"], [f"r{i}"]),
                _node("Softmax", [f"r{i}"], [f"p{i}"], axis=-1),
                _node("MatMul", [f"p{i}", f"V{i}"], [f"a{i}"]),
            ]
        nodes.append(_node("Reshape", [f"a{i}", "flat"], [f"o{i}"]))
        outputs += [f"K{i}", f"V{i}"]
        previous = f"o{i}"
    return _model(nodes, inputs, [previous, *outputs], constants)


def feeds(kind: str, fused: bool, rows: int, past: int) -> dict[str, np.ndarray]:
    """Random inputs of the graph ``kind`` ("encoder", "cross" or "self")."""
    rng = np.random.default_rng(0)

    def normal(*shape):
        return rng.standard_normal(shape).astype(np.float32)

    mask = {"mask": np.ones((1, SOURCE), np.int32)} if fused and kind != "self" else {}
    if kind == "encoder":
        return mask | {f"x{i}": normal(1, SOURCE, 3 * D_MODEL) for i in range(LAYERS)}
    if kind == "cross":
        return mask | {"q": normal(rows, D_MODEL)} | {f"{t}{i}": normal(1, HEADS, SOURCE, HEAD_DIM)
                                                       for i in range(LAYERS) for t in "kv"}
    return {"q": normal(rows, D_MODEL)} | {f"p{t}{i}": normal(rows, HEADS, past, HEAD_DIM)
                                          for i in range(LAYERS) for t in "kv"}
