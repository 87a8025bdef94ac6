"""The names of every graph input and output, shared by the exporter and the runtime.

Code looks tensors up by these names, never by position.
"""

from __future__ import annotations


def encoder_input_names() -> list[str]:
    return ["inputs_embeds", "attention_mask"]


def cross_names(layers: int) -> list[str]:
    """The encoder's outputs and the decoder's cross inputs: each layer's key then value."""
    return [f"cross.{i}.{kind}" for i in range(layers) for kind in ("key", "value")]


def past_names(layers: int) -> list[str]:
    return [f"past.{i}.{kind}" for i in range(layers) for kind in ("key", "value")]


def present_names(layers: int) -> list[str]:
    return [f"present.{i}.{kind}" for i in range(layers) for kind in ("key", "value")]


def decoder_input_names(layers: int) -> list[str]:
    return ["inputs_embeds", "position_ids", "self_attention_mask", "cache_rows", "cache_length", "reorder_cache",
            "trim_cache", "encoder_attention_mask", *past_names(layers), *cross_names(layers)]


def decoder_output_names(layers: int) -> list[str]:
    return ["logits", *present_names(layers)]
