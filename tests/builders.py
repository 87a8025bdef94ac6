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


# -- checkpoints laid out as the hub's Pegasus repos are (google/pegasus-cnn_dailymail and co.):
# weights only in pytorch_model.bin (a pickle), the tokenizer only as spiece.model.

SPIECE_TEXT = "the cat number {i} sat on the mat near the door"  # what the tiny spiece.model knows
SPIECE_VOCAB = 160  # Pegasus reserves 103 ids before the 40 sentencepiece pieces


def train_spiece(path: Path) -> Path:
    """A tiny sentencepiece unigram model with Pegasus's special ids, written to ``path``."""
    import io

    import sentencepiece as spm

    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter([SPIECE_TEXT.format(i=i) for i in range(200)]), model_writer=model,
        vocab_size=40, model_type="unigram", pad_id=0, eos_id=1, unk_id=2, bos_id=-1, num_threads=1,
        minloglevel=2,
    )
    path.write_bytes(model.getvalue())
    return path


def save_torch_weights(state: dict, folder: Path, layout: str = "zip") -> None:
    """Write ``state`` as PyTorch's .bin weights: ``zip`` (torch >= 1.6), ``legacy`` (older), or
    ``sharded`` (pytorch_model-0000N-of-00002.bin and pytorch_model.bin.index.json)."""
    import json

    if layout == "sharded":
        names = sorted(state)
        halves = (names[: len(names) // 2], names[len(names) // 2 :])
        weight_map = {}
        for i, half in enumerate(halves, start=1):
            shard = f"pytorch_model-{i:05d}-of-{len(halves):05d}.bin"
            torch.save({k: state[k] for k in half}, folder / shard)
            weight_map |= {k: shard for k in half}
        index = {"metadata": {"total_size": 0}, "weight_map": weight_map}
        (folder / "pytorch_model.bin.index.json").write_text(json.dumps(index))
        return
    torch.save(state, folder / "pytorch_model.bin", _use_new_zipfile_serialization=layout == "zip")


def hub_layout_checkpoint(folder: Path, layout: str = "zip", seed: int = 5):
    """A random tiny Pegasus saved as the default models' hub repos are: config.json,
    generation_config.json, pytorch_model.bin (``layout``, see ``save_torch_weights``) and
    spiece.model; no safetensors, no tokenizer.json. Returns (folder, the model)."""
    model = random_model(seed=seed, vocab_size=SPIECE_VOCAB)
    folder.mkdir(parents=True, exist_ok=True)
    model.config.to_json_file(folder / "config.json")
    model.generation_config.to_json_file(folder / "generation_config.json")
    save_torch_weights(model.state_dict(), folder, layout)
    train_spiece(folder / "spiece.model")
    return folder, model


def with_torch_weights(checkpoint: Path, folder: Path, layout: str = "zip") -> Path:
    """A copy of a safetensors checkpoint whose weights are only in pytorch_model.bin."""
    import shutil

    from safetensors.torch import load_file

    shutil.copytree(checkpoint, folder, ignore=shutil.ignore_patterns("*.safetensors", "heldout.jsonl"))
    save_torch_weights(load_file(checkpoint / "model.safetensors"), folder, layout)
    return folder


class RunsACommand:
    """Pickled, it tells the unpickler to call os.system: a full unpickle runs the command."""

    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self):
        import os

        return (os.system, (self.command,))


class NotATensor:
    """A class of ours: a restricted loader that rebuilds only tensors must not rebuild it."""


def hostile_weights(path: Path, marker: Path, kind: str) -> Path:
    """A pytorch_model.bin that is not only tensors. Unpickled fully, ``reduce-zip``,
    ``reduce-legacy`` and ``reduce-protocol-4`` (a bare pickle, as ``pickle.dump`` writes) create
    ``marker`` through a shell command; ``class`` needs a class of this module."""
    import pickle
    import shlex

    command = RunsACommand(f"touch {shlex.quote(str(marker))}")
    tensors = {"model.shared.weight": torch.zeros(4, 2)}
    if kind == "reduce-zip":
        torch.save(tensors | {"lm_head.weight": command}, path)
    elif kind == "reduce-legacy":
        torch.save(tensors | {"lm_head.weight": command}, path, _use_new_zipfile_serialization=False)
    elif kind == "reduce-protocol-4":
        path.write_bytes(pickle.dumps({"lm_head.weight": command}, protocol=4))
    elif kind == "class":
        torch.save(tensors | {"lm_head.weight": NotATensor()}, path)
    else:
        raise ValueError(f"unknown kind {kind!r}")
    return path


HOSTILE_KINDS = ("reduce-zip", "reduce-legacy", "reduce-protocol-4", "class")


def padded_ids(tokenizer, articles) -> tuple:
    """(ids, attention_mask): ``articles`` tokenized with ``tokenizer`` (a TextTokenizer) and
    right-padded with 0, as a batch of documents of different lengths."""
    import numpy as np

    rows = [tokenizer.encode(a) for a in articles]
    ids = np.zeros((len(rows), max(map(len, rows))), np.int64)
    mask = np.zeros_like(ids)
    for r, row in enumerate(rows):
        ids[r, : len(row)], mask[r, : len(row)] = row, 1
    return ids, mask
