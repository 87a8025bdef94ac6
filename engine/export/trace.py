"""Trace the encoder and decoder graphs of a loaded Pegasus model into ONNX files.

It uses torch's TorchScript exporter (``dynamo=False``), the well-trodden path for
encoder-decoder graphs with a cache, with every input and output named and every length dynamic.
torch writes ONNX external data by itself when a graph passes protobuf's 2 GB limit.

This module knows nothing about where exports live, manifests, or quantization.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import torch

from engine.export.graphs import DecoderGraph, EncoderGraph
from engine.graph_names import (
    cross_names,
    decoder_input_names,
    decoder_output_names,
    encoder_input_names,
    past_names,
    present_names,
)

OPSET = 17  # LayerNormalization is a single op from 17 on, which onnxruntime fuses well.


def _dummy_inputs(config, rows: int = 2, src: int = 7, past: int = 3):
    """Padded dummy batches, so that no length or mask value is baked into the trace."""
    heads = config.decoder_attention_heads
    head_dim = config.d_model // heads
    input_ids = torch.randint(3, config.vocab_size, (rows, src))
    attention_mask = torch.ones(rows, src, dtype=torch.int64)
    attention_mask[0, -2:] = 0
    def key_value(batch: int, length: int) -> list[torch.Tensor]:
        # Keys are stored transposed: (batch, heads, head_dim, length); values (batch, heads, length, head_dim).
        return [torch.randn(batch, heads, head_dim, length), torch.randn(batch, heads, length, head_dim)]

    beams = 2  # rows = batch * beams, so that the trace keeps rows and batch apart
    past_kv = [t for _ in range(config.decoder_layers) for t in key_value(rows * beams, past)]
    cross_kv = [t for _ in range(config.decoder_layers) for t in key_value(rows, src)]
    return input_ids, attention_mask, past_kv, cross_kv


def _export(module, args, path: Path, inputs: list[str], outputs: list[str], axes: dict) -> None:
    with warnings.catch_warnings():
        # The tracer warns about Python ints taken from shapes; ours are all re-read at run time.
        warnings.simplefilter("ignore", category=torch.jit.TracerWarning)
        # torch calls TorchScript export "legacy"; it is the path that handles our cache graphs.
        warnings.simplefilter("ignore", category=DeprecationWarning)
        torch.onnx.export(
            module,
            args,
            str(path),
            dynamo=False,
            opset_version=OPSET,
            input_names=inputs,
            output_names=outputs,
            dynamic_axes=axes,
            do_constant_folding=True,
        )


def trace_encoder(model, path: Path) -> None:
    config = model.config
    input_ids, attention_mask, _, _ = _dummy_inputs(config)
    outputs = cross_names(config.decoder_layers)
    axes = {"input_ids": {0: "batch", 1: "src"}, "attention_mask": {0: "batch", 1: "src"}}
    axes |= {name: {0: "batch", 3 if name.endswith("key") else 2: "src"} for name in outputs}
    _export(EncoderGraph(model).eval(), (input_ids, attention_mask), path, encoder_input_names(), outputs, axes)


def trace_decoder(model, path: Path) -> None:
    config = model.config
    layers = config.decoder_layers
    _, attention_mask, past_kv, cross_kv = _dummy_inputs(config)
    rows = past_kv[0].shape[0]
    input_ids = torch.randint(3, config.vocab_size, (rows, 1))
    axes = {"input_ids": {0: "rows"}, "encoder_attention_mask": {0: "batch", 1: "src"}, "logits": {0: "rows"}}
    time_axis = lambda name: 3 if name.endswith("key") else 2  # noqa: E731 - keys are transposed
    axes |= {name: {0: "rows", time_axis(name): "past"} for name in past_names(layers)}
    axes |= {name: {0: "batch", time_axis(name): "src"} for name in cross_names(layers)}
    axes |= {name: {0: "rows", time_axis(name): "total"} for name in present_names(layers)}
    args = (input_ids, attention_mask, *past_kv, *cross_kv)
    _export(DecoderGraph(model).eval(), args, path, decoder_input_names(layers), decoder_output_names(layers), axes)


def _free(*modules: torch.nn.Module) -> None:
    """Drop the weights of modules no later graph needs (they were copied into an ONNX file)."""
    for module in modules:
        for param in module.parameters():
            param.data = torch.empty(0, dtype=param.dtype)


def _free_encoder_only_weights(model) -> None:
    """Everything the encoder graph used and the decoder graph does not: its layers and the
    decoder's cross-attention key/value projections. Embeddings are shared, so they stay."""
    _free(model.model.encoder.layers)
    for layer in model.model.decoder.layers:
        _free(layer.encoder_attn.k_proj, layer.encoder_attn.v_proj)


@torch.no_grad()
def trace_graphs(model, folder: Path, on_graph=None, *, consume: bool = False) -> tuple[Path, Path]:
    """Write ``encoder.onnx`` and ``decoder.onnx`` (and any external data) into ``folder``.

    With ``consume``, the model's weights are released as soon as no graph left needs them, which
    keeps the export's peak memory near one graph plus the model instead of two graphs plus it.
    The model is unusable afterwards, so only pass it for a model loaded just for this export.
    """
    model.eval()
    encoder, decoder = folder / "encoder.onnx", folder / "decoder.onnx"
    if on_graph:
        on_graph("encoder")
    trace_encoder(model, encoder)
    if consume:
        _free_encoder_only_weights(model)
    if on_graph:
        on_graph("decoder")
    trace_decoder(model, decoder)
    if consume:
        _free(model)
    return encoder, decoder
