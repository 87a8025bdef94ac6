"""Tiny Pegasus checkpoints built offline for the tests: random weights, real structure."""

from __future__ import annotations

from pathlib import Path

import torch
from tokenizers import Tokenizer, models, pre_tokenizers, processors
from transformers import PegasusConfig, PegasusForConditionalGeneration, PreTrainedTokenizerFast

# The real checkpoints' shapes, with the legacy config keys CTranslate2's converter reads, live
# with the benchmark (which builds the same random-weight models); the tests take them from there.
from benchmarks.models import CNN_DAILYMAIL_GENERATION, CNN_DAILYMAIL_SHAPE, DISTILL_SHAPE  # noqa: F401

SPECIAL = ["<pad>", "</s>", "<unk>"]  # ids 0, 1, 2 as in Pegasus

# The repo's trained tiny summarizer (tools/train_fixture.py).
TINY_PEGASUS = Path(__file__).parent / "fixtures" / "tiny-pegasus"


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


def random_model(seed: int = 0, init_std: float = 0.1, eos_bias: float = 2.0, **overrides):
    """Random weights, wide enough that outputs vary and end (default init makes one token repeat)."""
    torch.manual_seed(seed)
    model = PegasusForConditionalGeneration(tiny_config(init_std=init_std, **overrides)).eval()
    with torch.no_grad():
        model.final_logits_bias.normal_(0, 0.5)
        model.final_logits_bias[0, 1] += eos_bias  # so that some hypotheses end early
    model.generation_config.max_length = 20
    model.generation_config.num_beams = 1
    return model


def save_checkpoint(model, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    word_tokenizer(model.config.vocab_size).save_pretrained(folder)
    return folder


def real_shape_checkpoint(folder: Path, shape: dict = CNN_DAILYMAIL_SHAPE, seed: int = 0) -> Path:
    """Save a random-weight model with a real checkpoint's shape (about 2.3 GB for cnn_dailymail)."""
    torch.manual_seed(seed)
    model = PegasusForConditionalGeneration(tiny_config(**shape)).eval()  # default init, as real ones
    for key, value in CNN_DAILYMAIL_GENERATION.items():
        setattr(model.generation_config, key, value)
    return save_checkpoint(model, folder)
