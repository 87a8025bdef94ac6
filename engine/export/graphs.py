"""The two graphs we export, written as small torch modules over a Pegasus checkpoint's weights.

We write the forward passes ourselves instead of tracing transformers' modules, so that:
- the graphs do not depend on transformers' cache objects, which change between releases;
- the cross-attention keys and values are computed once, by the encoder graph, and the decoder
  only reads them: they are never fed back out at each step;
- the tied embedding is kept once, transposed as ``(d_model, vocab)``: the decoder's lm_head
  multiplies by it and both graphs look tokens up in it (``Gather`` on axis 1), so the saved
  weights hold one copy that the int8 pass can quantize for both uses. (A checkpoint with
  ``tie_word_embeddings: false`` has separate encoder, decoder and lm_head matrices, and keeps them.)

The arithmetic follows transformers' eager Pegasus (pre-LayerNorm, ReLU, sinusoidal positions,
embeddings scaled by sqrt(d_model), ``final_logits_bias``); the parity tests hold us to it.

This module knows nothing about ONNX files, quantization or decoding.
"""

from __future__ import annotations

import torch
from torch import nn


def _additive_mask(attention_mask: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """(batch, src) 1/0 mask -> (batch, 1, 1, src) with 0 to keep and the dtype's minimum to drop."""
    keep = attention_mask[:, None, None, :].to(torch.bool)
    return torch.where(keep, torch.zeros((), dtype=dtype), torch.finfo(dtype).min)


def _split_heads(x: torch.Tensor, heads: int) -> torch.Tensor:
    """(batch, time, d_model) -> (batch, heads, time, head_dim)"""
    batch, time, _ = x.shape
    return x.view(batch, time, heads, -1).transpose(1, 2)


class _Fused(nn.Module):
    """Several linear layers of one input as one matmul, split after.

    One larger GEMM runs faster than three small ones, and int8 quantizes the input once.
    """

    def __init__(self, *linears: nn.Linear) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.cat([lin.weight.detach() for lin in linears]), requires_grad=False)
        self.bias = nn.Parameter(torch.cat([lin.bias.detach() for lin in linears]), requires_grad=False)
        self.sizes = [lin.out_features for lin in linears]

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return torch.split(nn.functional.linear(x, self.weight, self.bias), self.sizes, dim=-1)


def _attend(attn, query, key_t, value, mask) -> torch.Tensor:
    """Attention of the projected ``query`` (rows, time, d_model) over ready-made keys and values.

    ``key_t`` is (kv_rows, heads, head_dim, src), stored transposed so that no step transposes
    it again, and ``value`` is (kv_rows, heads, src, head_dim). ``rows`` is a multiple of
    ``kv_rows``: each run of consecutive rows (one input's beams) shares one input's keys and
    values, which are then read once for the whole run instead of once per beam.
    """
    rows, time, d_model = query.shape
    kv_rows = key_t.shape[0]
    query = query.view(kv_rows, -1, attn.num_heads, attn.head_dim).transpose(1, 2)
    weights = torch.matmul(query, key_t) * attn.scaling  # (kv_rows, heads, group*time, src)
    if mask is not None:
        weights = weights + mask
    weights = torch.softmax(weights, dim=-1)
    out = torch.matmul(weights, value).transpose(1, 2)  # (kv_rows, group*time, heads, head_dim)
    return attn.out_proj(out.reshape(rows, time, d_model))


def _feed_forward(layer, x: torch.Tensor) -> torch.Tensor:
    residual = x
    x = layer.fc2(layer.activation_fn(layer.fc1(layer.final_layer_norm(x))))
    return residual + x


class _TiedEmbedding(nn.Module):
    """The token embedding stored once as (d_model, vocab): looked up by column, and the lm_head."""

    def __init__(self, weight: torch.Tensor, scale: float) -> None:
        super().__init__()
        self.embedding_t = nn.Parameter(weight.detach().t().contiguous(), requires_grad=False)
        self.scale = scale

    def lookup(self, input_ids: torch.Tensor) -> torch.Tensor:
        """(batch, time) ids -> (batch, time, d_model), already scaled."""
        columns = torch.index_select(self.embedding_t, 1, input_ids.reshape(-1))  # (d_model, batch*time)
        return columns.t().reshape(*input_ids.shape, -1) * self.scale


class EncoderGraph(nn.Module):
    """input_ids, attention_mask -> the cross-attention keys and values of every decoder layer."""

    def __init__(self, model) -> None:
        super().__init__()
        encoder = model.model.encoder
        self.embedding = _TiedEmbedding(encoder.embed_tokens.weight, encoder.embed_scale)
        self.positions = encoder.embed_positions
        self.layers = encoder.layers
        self.qkv = nn.ModuleList(_Fused(a.q_proj, a.k_proj, a.v_proj) for a in (la.self_attn for la in encoder.layers))
        self.layer_norm = encoder.layer_norm
        cross = [layer.encoder_attn for layer in model.model.decoder.layers]
        self.cross_kv = nn.ModuleList(_Fused(a.k_proj, a.v_proj) for a in cross)
        self.heads = cross[0].num_heads

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor):
        seq_len = input_ids.shape[1]
        x = self.embedding.lookup(input_ids) + self.positions.weight[:seq_len]  # (batch, src, d_model)
        mask = _additive_mask(attention_mask, x.dtype)
        for layer, qkv in zip(self.layers, self.qkv):
            attn = layer.self_attn
            query, key, value = qkv(layer.self_attn_layer_norm(x))
            key_t = _split_heads(key, attn.num_heads).transpose(2, 3)
            x = x + _attend(attn, query, key_t, _split_heads(value, attn.num_heads), mask)
            x = _feed_forward(layer, x)
        hidden = self.layer_norm(x)
        cross = []
        for kv in self.cross_kv:
            key, value = kv(hidden)
            cross.append(_split_heads(key, self.heads).transpose(2, 3))  # (batch, heads, head_dim, src)
            cross.append(_split_heads(value, self.heads))  # (batch, heads, src, head_dim)
        return tuple(cross)


class DecoderGraph(nn.Module):
    """One decoder step with a self-attention cache.

    Inputs: input_ids (rows, 1); encoder_attention_mask (batch, src); per layer the past
    self-attention key (rows, heads, head_dim, past) and value (rows, heads, past, head_dim); per
    layer the cross key and value from the encoder graph, at (batch, ...). ``rows`` is ``batch``
    times the number of beams (or samples) per input, each input's rows consecutive.
    Outputs: logits (rows, vocab) of the last position, then per layer the present key and value,
    one position longer. ``past`` may be 0 on the first step.
    """

    def __init__(self, model) -> None:
        super().__init__()
        decoder = model.model.decoder
        self.embedding = _TiedEmbedding(decoder.embed_tokens.weight, decoder.embed_scale)
        lm_head = model.get_output_embeddings().weight
        tied = lm_head.data_ptr() == decoder.embed_tokens.weight.data_ptr()
        # (d_model, vocab); a checkpoint with an untied lm_head keeps its own matrix.
        self.lm_head_t = (
            self.embedding.embedding_t
            if tied
            else nn.Parameter(lm_head.detach().t().contiguous(), requires_grad=False)
        )
        self.positions = decoder.embed_positions
        self.layers = decoder.layers
        self.qkv = nn.ModuleList(_Fused(a.q_proj, a.k_proj, a.v_proj) for a in (la.self_attn for la in decoder.layers))
        self.layer_norm = decoder.layer_norm
        self.final_logits_bias = nn.Parameter(model.final_logits_bias.detach().clone(), requires_grad=False)

    def forward(self, input_ids, encoder_attention_mask, *cache):
        n = len(self.layers)
        past, cross = cache[: 2 * n], cache[2 * n :]
        past_len = past[1].shape[2]
        x = self.embedding.lookup(input_ids)
        positions = torch.arange(input_ids.shape[1], device=x.device) + past_len
        x = x + self.positions.weight[positions]  # (rows, 1, d_model)
        cross_mask = _additive_mask(encoder_attention_mask, x.dtype)
        presents = []
        for i, (layer, qkv) in enumerate(zip(self.layers, self.qkv)):
            attn = layer.self_attn
            query, key, value = qkv(layer.self_attn_layer_norm(x))
            key_t = torch.cat([past[2 * i], _split_heads(key, attn.num_heads).transpose(2, 3)], dim=3)
            value = torch.cat([past[2 * i + 1], _split_heads(value, attn.num_heads)], dim=2)
            presents += [key_t, value]  # key_t: (rows, heads, head_dim, past + 1)
            # One new position attends to every cached one, so no causal mask is needed.
            x = x + _attend(attn, query, key_t, value, None)
            cross_attn = layer.encoder_attn
            query = cross_attn.q_proj(layer.encoder_attn_layer_norm(x))
            x = x + _attend(cross_attn, query, cross[2 * i], cross[2 * i + 1], cross_mask)
            x = _feed_forward(layer, x)
        hidden = self.layer_norm(x[:, -1, :])  # (rows, d_model)
        logits = torch.matmul(hidden, self.lm_head_t) + self.final_logits_bias
        return (logits, *presents)
