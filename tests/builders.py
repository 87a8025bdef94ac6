"""Tiny Pegasus checkpoints built offline for the tests: random weights, real structure."""

from __future__ import annotations

from pathlib import Path

import torch
from tokenizers import Tokenizer, models, pre_tokenizers, processors
from transformers import PegasusConfig, PegasusForConditionalGeneration, PreTrainedTokenizerFast

SPECIAL = ["<pad>", "</s>", "<unk>"]  # ids 0, 1, 2 as in Pegasus


def word_tokenizer(vocab_size: int) -> PreTrainedTokenizerFast:
    """A word-level tokenizer whose vocabulary is ``w3 .. w{n-1}`` plus Pegasus's special ids."""
    vocab = {tok: i for i, tok in enumerate(SPECIAL)}
    vocab |= {f"w{i}": i for i in range(len(SPECIAL), vocab_size)}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    backend.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", 1)])
    return PreTrainedTokenizerFast(
        tokenizer_object=backend, pad_token="<pad>", eos_token="</s>", unk_token="<unk>"
    )


def tiny_config(**overrides) -> PegasusConfig:
    values = dict(
        vocab_size=96, d_model=32, encoder_layers=2, decoder_layers=2, encoder_attention_heads=4,
        decoder_attention_heads=4, encoder_ffn_dim=64, decoder_ffn_dim=64, max_position_embeddings=64,
        activation_function="relu", pad_token_id=0, eos_token_id=1, decoder_start_token_id=0,
        forced_eos_token_id=1, scale_embedding=True,
    )
    return PegasusConfig(**(values | overrides))


def random_model(seed: int = 0, weight_scale: float = 1.0, **overrides) -> PegasusForConditionalGeneration:
    """Random weights, scaled up so that outputs vary instead of repeating one token."""
    torch.manual_seed(seed)
    model = PegasusForConditionalGeneration(tiny_config(**overrides)).eval()
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "layer_norm" not in name:
                param.mul_(weight_scale)
        model.final_logits_bias.normal_(0, 1.0)
    model.generation_config.max_length = 20
    model.generation_config.num_beams = 1
    return model


def save_checkpoint(model, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    word_tokenizer(model.config.vocab_size).save_pretrained(folder)
    return folder
