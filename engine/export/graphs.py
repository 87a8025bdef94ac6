"""The two graphs we export, written op by op from a Pegasus checkpoint's weights.

- The **encoder** graph maps ``inputs_embeds, attention_mask`` to every decoder layer's
  cross-attention key and value, computed once per input: the decoder only reads them.
- The **decoder** graph runs ``new`` positions for each of ``rows`` = inputs x beams: one new token
  per row for a plain step, or the last token plus a draft when drafted tokens are verified (see
  ``engine/generation/drafting.py``). It takes the new tokens, their positions, a self-attention
  mask (causal among the new positions), the cache and the
  cross K/V, and returns the logits of every new position and the cache ``new`` positions longer.
  Its cache may start empty, so there is no separate first-step graph. Each input's beams are
  consecutive rows and read that input's cross K/V once, together.

Keys and values are both kept as ``(.., heads, time, head_dim)``. How a decoder step multiplies
them is chosen by measurement and so that a drafted position gets a plain step's bits: see
``_Pegasus.attend``.

Both graphs take ``inputs_embeds``: the token embedding is looked up outside onnxruntime
(``engine/embedding.py``), from the same ``(vocab, d_model)`` bytes that the decoder's lm_head
multiplies by (``Gemm`` with ``transB``). onnxruntime pre-packs a GEMM's constant weight and then
lets go of the file's pages, so no session keeps the 96103-row table mapped.

We write the graphs ourselves rather than trace torch modules: a decoder step's time is mostly
weight traffic plus a cost per operator, and tracing adds hundreds of small shape operators per
step (every ``view`` reads its sizes at run time). Here reshapes have constant shapes (the decoder
reads ``rows`` and ``new`` from ``position_ids`` once) and the decoder works on ``(rows * new,
d_model)`` matrices. The arithmetic follows transformers' eager Pegasus (pre-LayerNorm, ReLU, sinusoidal positions,
embeddings scaled by sqrt(d_model), ``final_logits_bias``); the parity tests hold us to it.

This module knows nothing about quantization, manifests or decoding.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper

from engine.embedding import EMBEDDING_FILE, embedding_record
from engine.errors import EngineError
from engine.export.onnx_builder import GraphBuilder
from engine.export.pegasus_weights import LAYER_NORM_EPS, PegasusWeights
from engine.export.weights import WEIGHTS_FILE, SharedWriter
from engine.graph_names import cross_names, past_names, present_names

FLOAT, INT64 = TensorProto.FLOAT, TensorProto.INT64
KEY_BLOCK = 16  # the self-attention's keys come in whole blocks of this many (see decoder_graph)
MS_DOMAIN = "com.microsoft"  # onnxruntime's own operators (FusedMatMul: a MatMul with a scale)
MASK_VALUE = float(np.finfo(np.float32).min)  # what transformers adds to the scores of masked keys


class _Pegasus:
    """Builds the shared pieces (linear layers, norms, attention) of one graph over one checkpoint.

    Weights are read by transformers' names (``layer`` is a prefix such as
    ``model.encoder.layers.0``), one layer at a time, and written out as soon as they are added.
    """

    def __init__(self, weights: PegasusWeights, g: GraphBuilder) -> None:
        self.weights, self.config, self.g = weights, weights.config, g
        if self.config["activation_function"] != "relu":
            raise EngineError(
                f"The checkpoint's feed-forward activation is {self.config['activation_function']!r}; "
                f"Pegasus uses 'relu' and only that is supported."
            )

    def linear(self, x: str, name: str, *linears: str) -> str:
        """``x @ W.T + b`` of one or more fused linear layers (fused: one GEMM, split by the caller)."""
        w = self.weights
        weight = np.concatenate([w[f"{linear}.weight"] for linear in linears]).T  # (in, out)
        bias = np.concatenate([w[f"{linear}.bias"] for linear in linears])
        return self.g.op("Add", self.g.op("MatMul", x, self.g.weight(f"{name}.weight_t", weight)),
                         self.g.weight(f"{name}.bias", bias))

    def norm(self, x: str, name: str, layer_norm: str) -> str:
        g, w = self.g, self.weights
        return g.op("LayerNormalization", x, g.weight(f"{name}.weight", w[f"{layer_norm}.weight"]),
                    g.weight(f"{name}.bias", w[f"{layer_norm}.bias"]), axis=-1, epsilon=LAYER_NORM_EPS)

    def feed_forward(self, x: str, name: str, layer: str) -> str:
        h = self.norm(x, f"{name}.final_layer_norm", f"{layer}.final_layer_norm")
        h = self.g.op("Relu", self.linear(h, f"{name}.fc1", f"{layer}.fc1"))
        return self.g.op("Add", x, self.linear(h, f"{name}.fc2", f"{layer}.fc2"))

    def scaling(self, heads: int) -> float:
        """transformers' attention scaling, head_dim ** -0.5."""
        return (self.config["d_model"] // heads) ** -0.5

    def attend(self, query: str, key: str, value: str, scaling: float, mask: str | None, *,
               queries: str = "many", pad_keys: tuple[str, str] | None = None) -> str:
        """softmax(query @ key.T * scaling + mask) @ value, on (.., heads, time, head_dim) tensors.

        ``queries`` says how the products are best computed: "many" (the encoder), "cache" (the
        decoder's self-attention: a few new positions per row against its cache) or "source" (the
        decoder's cross-attention: one input's beams and their new positions against its source).

        In the decoder, a drafted position must get the bits a plain step gives it, whether 1 or
        12 positions run. ``probs @ value`` therefore runs as one M=1 product per position (the
        positions become a batch axis that ``value`` is broadcast over, without a copy): with the
        positions as M, onnxruntime's float GEMM takes its M=1 path for one row and its general
        kernel for several, and the last-bit differences, amplified by int8's rounding of the
        next layer's activations, reached 0.03 in the cnn shape's logits. The scores are scaled
        (``alpha`` = head_dim ** -0.5, never 1), which keeps every M off that M=1 path, so they can
        take the positions as M:
        "source" computes ``query @ key.T`` in one product for all of an input's rows, reading its
        keys once; "cache" computes ``key @ query.T``, each row's cache as M, then transposes the
        small result. On the Intel Xeon, a step's cross-attention took 0.84x the time of
        ``key @ query.T`` for one and four queries per input and 0.89x for eight (``python -m
        benchmarks.experiments cross-forms``); the cache's few keys showed no difference either way.
        (On the AMD EPYC of earlier sessions, a micro-benchmark had found ``key @ query.T`` faster for
        the scores: rerun the experiment when the machine changes.)
        """
        g = self.g
        if queries in ("many", "source"):
            scores = g.op("FusedMatMul", query, key, domain=MS_DOMAIN, alpha=scaling, transB=1)
        else:
            scores_t = g.op("FusedMatMul", key, query, domain=MS_DOMAIN, alpha=scaling, transB=1)  # (.., src, q)
            scores = g.op("Transpose", scores_t, perm=[0, 1, 3, 2])
        if mask is not None:
            scores = g.op("Add", scores, mask)
        probs = g.op("Softmax", scores, axis=-1)
        if queries == "many":
            return g.op("MatMul", probs, value)
        if pad_keys is not None:  # zeros to a whole block of keys: see decoder_graph's key_block
            probs_pads, value_pads = pad_keys
            probs, value = g.op("Pad", probs, probs_pads), g.op("Pad", value, value_pads)
        one_query_each = g.op("Unsqueeze", probs, g.const([3]))  # (.., heads, q, 1, src)
        out = g.op("MatMul", one_query_each, g.op("Unsqueeze", value, g.const([2])))  # (.., heads, q, 1, head_dim)
        return g.op("Squeeze", out, g.const([3]))

    def additive_mask(self, attention_mask: str) -> str:
        """(batch, src) 1/0 -> (batch, 1, 1, src): 0 where kept, the float minimum where masked."""
        g = self.g
        keep = g.op("Cast", g.op("Unsqueeze", attention_mask, g.const([1, 2])), to=TensorProto.BOOL)
        return g.op("Where", keep, g.const(0.0, np.float32), g.const(MASK_VALUE, np.float32))

    def positions(self, stack: str) -> str:
        return self.g.weight("positions", self.weights[f"{stack}.embed_positions.weight"])  # (max_positions, d_model)


def encoder_graph(weights: PegasusWeights, g: GraphBuilder) -> GraphBuilder:
    p, config = _Pegasus(weights, g), weights.config
    d_model, heads = config["d_model"], config["encoder_attention_heads"]
    head_dim = d_model // heads
    x = g.input("inputs_embeds", FLOAT, ["batch", "src", d_model])  # scaled token embeddings
    attention_mask = g.input("attention_mask", INT64, ["batch", "src"])

    src = g.op("Shape", attention_mask, start=1, end=2)
    positions = g.op("Slice", p.positions("model.encoder"), g.const([0]), src, g.const([0]))
    x = g.op("Add", x, positions)
    mask = p.additive_mask(attention_mask)
    split_heads = g.const([0, 0, heads, head_dim])  # (batch, src, d_model) -> (batch, src, heads, head_dim)

    for i in range(config["encoder_layers"]):
        name, layer = f"encoder.{i}", f"model.encoder.layers.{i}"
        attn = f"{layer}.self_attn"
        h = p.norm(x, f"{name}.self_attn_layer_norm", f"{layer}.self_attn_layer_norm")
        qkv = p.linear(h, f"{name}.qkv", f"{attn}.q_proj", f"{attn}.k_proj", f"{attn}.v_proj")
        query, key, value = (g.op("Reshape", t, split_heads) for t in g.op("Split", qkv, axis=-1, outputs=3))
        query, key, value = (g.op("Transpose", t, perm=[0, 2, 1, 3]) for t in (query, key, value))
        out = p.attend(query, key, value, p.scaling(heads), mask)  # (batch, heads, src, head_dim)
        out = g.op("Reshape", g.op("Transpose", out, perm=[0, 2, 1, 3]), g.const([0, 0, d_model]))
        x = g.op("Add", x, p.linear(out, f"{name}.out_proj", f"{attn}.out_proj"))
        x = p.feed_forward(x, name, layer)
    hidden = p.norm(x, "encoder.layer_norm", "model.encoder.layer_norm")

    cross_heads = config["decoder_attention_heads"]
    cross_split = g.const([0, 0, cross_heads, d_model // cross_heads])
    names = iter(cross_names(config["decoder_layers"]))
    for i in range(config["decoder_layers"]):
        attn = f"model.decoder.layers.{i}.encoder_attn"
        key, value = g.op("Split", p.linear(hidden, f"decoder.{i}.cross_kv", f"{attn}.k_proj", f"{attn}.v_proj"),
                          axis=-1, outputs=2)
        key_name, value_name = next(names), next(names)
        key = g.op("Transpose", g.op("Reshape", key, cross_split), perm=[0, 2, 1, 3], names=[key_name])
        value = g.op("Transpose", g.op("Reshape", value, cross_split), perm=[0, 2, 1, 3], names=[value_name])
        g.output(key, key_name, FLOAT, ["batch", cross_heads, "src", d_model // cross_heads])
        g.output(value, value_name, FLOAT, ["batch", cross_heads, "src", d_model // cross_heads])
    return g


def decoder_graph(weights: PegasusWeights, g: GraphBuilder) -> GraphBuilder:
    p, config = _Pegasus(weights, g), weights.config
    layers, d_model = config["decoder_layers"], config["d_model"]
    heads = config["decoder_attention_heads"]
    head_dim = d_model // heads

    # ``new`` positions per row: 1 for a plain step, the last token plus the drafted ones when
    # drafts are verified. Each row says where its positions are (position_ids) and which cached
    # and new keys each of its positions may see (self_attention_mask, built by the caller: causal
    # among the new positions; additive, 0 or the float minimum, as transformers' masks). The
    # runtime keeps the rows in step, so a row's cache never holds another row's rejected slots.
    x = g.input("inputs_embeds", FLOAT, ["rows", "new", d_model])  # the new tokens' scaled embeddings
    position_ids = g.input("position_ids", INT64, ["rows", "new"])
    self_mask = g.input("self_attention_mask", FLOAT, ["rows", 1, "new", "total"])
    # Row r continues the cache of past row cache_rows[r] (beam search's reorder); the cache keeps
    # only its first cache_length positions (the drafted positions the rows did not keep). Each
    # is applied only when its flag is set, so a plain greedy step copies the cache once (Concat).
    cache_rows = g.input("cache_rows", INT64, ["rows"])
    cache_length = g.input("cache_length", INT64, [1])
    reorder = g.input("reorder_cache", TensorProto.BOOL, [])
    trim = g.input("trim_cache", TensorProto.BOOL, [])
    attention_mask = g.input("encoder_attention_mask", INT64, ["batch", "src"])
    past = [g.input(name, FLOAT, ["rows", heads, "past", head_dim]) for name in past_names(layers)]
    cross = [g.input(name, FLOAT, ["batch", heads, "src", head_dim]) for name in cross_names(layers)]

    positions = g.op("Gather", p.positions("model.decoder"), position_ids, axis=0)  # (rows, new, d_model)
    x = g.op("Reshape", g.op("Add", x, positions), g.const([-1, d_model]))  # (rows * new, d_model)
    edit_cache = g.op("Or", reorder, trim)
    cross_mask = p.additive_mask(attention_mask)
    # The queries of one input's rows (beams, and their new positions), grouped:
    # (rows * new, d_model) -> (batch, beams * new, heads, head_dim).
    group_queries = g.op("Concat", g.op("Shape", attention_mask, start=0, end=1), g.const([-1, heads, head_dim]),
                         axis=0)
    # (rows * new, 3 * d_model) -> (rows, new, 3 * heads, head_dim)
    split_qkv = g.op("Concat", g.op("Shape", position_ids), g.const([3 * heads, head_dim]), axis=0)

    # The self-attention's keys are padded with zeros (probability 0) to a multiple of KEY_BLOCK:
    # the float kernel sums the keys in groups, and how it sums a ragged last group depends on
    # their number. A position's keys are its cache and itself, and the run's later positions
    # (masked, probability 0) come after them; padding every run to whole blocks makes those
    # zeros whole groups, which change no bit, so a drafted position's attention equals a
    # plain step's whatever the run's width (as tests/test_drafting.py checks bit for bit).
    total = g.op("Shape", self_mask, start=3, end=4)
    pad = g.op("Mod", g.op("Sub", g.const([KEY_BLOCK]), g.op("Mod", total, g.const([KEY_BLOCK]))),
               g.const([KEY_BLOCK]))
    zeros = g.const([0, 0, 0, 0, 0, 0])
    key_block = (g.op("Concat", g.const([0, 0, 0, 0, 0, 0, 0]), pad, axis=0),  # probs (.., new, total)
                 g.op("Concat", zeros, pad, g.const([0]), axis=0))  # values (.., total, head_dim)

    present = present_names(layers)
    for i in range(layers):
        name, layer = f"decoder.{i}", f"model.decoder.layers.{i}"
        attn, cross_attn = f"{layer}.self_attn", f"{layer}.encoder_attn"
        h = p.norm(x, f"{name}.self_attn_layer_norm", f"{layer}.self_attn_layer_norm")
        qkv = g.op("Reshape", p.linear(h, f"{name}.qkv", f"{attn}.q_proj", f"{attn}.k_proj", f"{attn}.v_proj"),
                   split_qkv)
        query, key, value = g.op("Split", g.op("Transpose", qkv, perm=[0, 2, 1, 3]), axis=1, outputs=3)
        key, value = (_append_to_cache(g, past[j], new, present[j], edit_cache, reorder, cache_rows, cache_length)
                      for j, new in ((2 * i, key), (2 * i + 1, value)))
        out = p.attend(query, key, value, p.scaling(heads), self_mask, queries="cache",
                       pad_keys=key_block)  # (rows, heads, new, head_dim)
        out = g.op("Reshape", g.op("Transpose", out, perm=[0, 2, 1, 3]), g.const([-1, d_model]))
        x = g.op("Add", x, p.linear(out, f"{name}.out_proj", f"{attn}.out_proj"))

        h = p.norm(x, f"{name}.encoder_attn_layer_norm", f"{layer}.encoder_attn_layer_norm")
        query = g.op("Reshape", p.linear(h, f"{name}.cross_q", f"{cross_attn}.q_proj"), group_queries)
        query = g.op("Transpose", query, perm=[0, 2, 1, 3])  # (batch, heads, beams * new, head_dim)
        out = p.attend(query, cross[2 * i], cross[2 * i + 1], p.scaling(heads), cross_mask, queries="source")
        out = g.op("Reshape", g.op("Transpose", out, perm=[0, 2, 1, 3]), g.const([-1, d_model]))
        x = g.op("Add", x, p.linear(out, f"{name}.cross_out_proj", f"{cross_attn}.out_proj"))
        x = p.feed_forward(x, name, layer)

    hidden = p.norm(x, "decoder.layer_norm", "model.decoder.layer_norm")
    # (vocab, d_model): the embedding's own bytes when tied, so the writer stores them once.
    lm_head = g.weight("lm_head", weights["lm_head.weight"])
    logits = g.op("Add", g.op("Gemm", hidden, lm_head, transB=1),
                  g.weight("final_logits_bias", weights["final_logits_bias"]))  # (rows * new, vocab)
    logits = g.op("Reshape", logits, g.op("Concat", g.op("Shape", position_ids), g.const([-1]), axis=0),
                  names=["logits"])
    g.output(logits, "logits", FLOAT, ["rows", "new", config["vocab_size"]])
    for name in present:
        g.output(name, name, FLOAT, ["rows", heads, "total", head_dim])
    return g


def _append_to_cache(g: GraphBuilder, past: str, new: str, present: str, edit_cache: str, reorder: str,
                     cache_rows: str, cache_length: str) -> str:
    """``present = Concat(past, new)`` on the time axis, the past reordered or trimmed first only when
    asked: an ``If`` whose plain branch is the bare Concat. (A Gather by an identity index, as every
    greedy step did before, copied the whole cache once more each step; an ``If`` that returned the
    untouched past also copied it, so each branch ends with its own Concat.)"""
    def branch(label: str, nodes: list) -> onnx.GraphProto:
        return helper.make_graph(nodes, f"{present}/{label}", [],
                                 [helper.make_tensor_value_info(nodes[-1].output[0], FLOAT, None)])

    def concat(label: str, source: str) -> onnx.NodeProto:
        return helper.make_node("Concat", [source, new], [f"{present}/{label}_appended"], axis=2)

    # The branches make their own constants: passes over the main graph's nodes (quantization)
    # keep only the initializers those nodes read.
    start, axis = (helper.make_node("Constant", [], [f"{present}/{what}"], value_ints=[value])
                   for what, value in (("start", 0), ("axis", 2)))
    reordered = helper.make_node("Gather", [past, cache_rows], [f"{present}/rows"], axis=0)
    trimmed = helper.make_node("Slice", [past, start.output[0], cache_length, axis.output[0]], [f"{present}/trimmed"])
    edited = helper.make_node(
        "If", [reorder], [f"{present}/edited"],
        then_branch=branch("reorder", [reordered, concat("reordered", reordered.output[0])]),
        else_branch=branch("trim", [start, axis, trimmed, concat("trimmed", trimmed.output[0])]),
    )
    return g.op("If", edit_cache, names=[present],
                then_branch=branch("edit", [edited]), else_branch=branch("plain", [concat("plain", past)]))


def write_graphs(weights: PegasusWeights, folder: Path,
                 on_graph: Callable[[str], None] | None = None) -> tuple[Path, Path]:
    """Write ``encoder.onnx``, ``decoder.onnx``, the token embedding's ``embedding.json`` and their
    shared ``weights.bin`` into ``folder``."""
    writer = SharedWriter(folder / WEIGHTS_FILE)
    paths = []
    try:
        for name, build in (("encoder", encoder_graph), ("decoder", decoder_graph)):
            if on_graph:
                on_graph(name)
            paths.append(build(weights, GraphBuilder(name, writer)).save(folder / f"{name}.onnx"))
        _write_embedding(weights, writer, folder)
    finally:
        writer.file.close()
    return paths[0], paths[1]


def _write_embedding(weights: PegasusWeights, writer: SharedWriter, folder: Path) -> None:
    """The encoder's and the decoder's token tables (one, stored once, when they are equal)."""
    records = {}
    for name in ("encoder", "decoder"):
        table = weights[f"model.{name}.embed_tokens.weight"]  # (vocab, d_model)
        offset, _ = writer.place(TensorProto.FLOAT, np.ascontiguousarray(table))
        records[name] = embedding_record(WEIGHTS_FILE, (offset, table.shape, "float32"), None, weights.embed_scale())
        del table  # before the next one is read: each is the size of the vocabulary
    (folder / EMBEDDING_FILE).write_text(json.dumps(records, indent=2), encoding="utf-8")
