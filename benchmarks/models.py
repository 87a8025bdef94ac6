"""The benchmark's model shapes, and random-weight checkpoints of those shapes cached outside the repo.

A checkpoint is a folder ``save_pretrained`` wrote (fp32 safetensors, config.json with the legacy
keys CTranslate2's converter reads, generation_config.json) plus a word-level tokenizer with the
real vocabulary size. It is built once per shape and seed, into the user's cache dir.

Building and converting import torch, transformers and ctranslate2: they run in a worker process
(see ``worker``). Importing this module imports only the standard library and platformdirs.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import platformdirs

CACHE_APP = "pegasus-desktop-bench"

# Keys real Pegasus checkpoints carry in config.json. transformers ignores them; CTranslate2's
# converter refuses a config without them.
LEGACY_KEYS = {
    "normalize_before": True,
    "normalize_embedding": False,
    "add_final_layer_norm": True,
    "static_position_embeddings": True,
}
_COMMON = {
    "activation_function": "relu",
    "pad_token_id": 0,
    "eos_token_id": 1,
    "decoder_start_token_id": 0,
    "forced_eos_token_id": 1,
    "scale_embedding": True,
    **LEGACY_KEYS,
}

# google/pegasus-cnn_dailymail (568M parameters).
CNN_DAILYMAIL_SHAPE = {
    "vocab_size": 96103,
    "d_model": 1024,
    "encoder_layers": 16,
    "decoder_layers": 16,
    "encoder_attention_heads": 16,
    "decoder_attention_heads": 16,
    "encoder_ffn_dim": 4096,
    "decoder_ffn_dim": 4096,
    "max_position_embeddings": 1024,
    **LEGACY_KEYS,
}
# sshleifer/distill-pegasus-cnn-16-4: the same, with 4 decoder layers.
DISTILL_SHAPE = CNN_DAILYMAIL_SHAPE | {"decoder_layers": 4}
# cnn_dailymail's generation_config.json; the benchmark overrides all of it explicitly.
CNN_DAILYMAIL_GENERATION = {
    "num_beams": 8,
    "length_penalty": 0.8,
    "max_length": 128,
    "min_length": 32,
}
# For the harness's own test: tiny, but long enough positions for a 512-token input.
TINY_SHAPE = {
    "vocab_size": 100,
    "d_model": 32,
    "encoder_layers": 2,
    "decoder_layers": 2,
    "encoder_attention_heads": 4,
    "decoder_attention_heads": 4,
    "encoder_ffn_dim": 64,
    "decoder_ffn_dim": 64,
    "max_position_embeddings": 1024,
    **LEGACY_KEYS,
}


@dataclass(frozen=True)
class Shape:
    """A model shape and the (batch, beams) grid the benchmark runs on it by default."""

    name: str
    config: dict
    batches: tuple[int, ...]
    beams: tuple[int, ...]
    about: str = ""
    generation: dict = field(default_factory=lambda: dict(CNN_DAILYMAIL_GENERATION))

    @property
    def vocab_size(self) -> int:
        return int(self.config["vocab_size"])

    def key(self, seed: int) -> str:
        """A cache folder name that changes whenever the shape or the seed does."""
        text = json.dumps({"config": self.config, "generation": self.generation}, sort_keys=True)
        return f"{self.name}-{hashlib.sha256(text.encode()).hexdigest()[:8]}-seed{seed}"


SHAPES = {
    "cnn_dailymail": Shape(
        "cnn_dailymail",
        CNN_DAILYMAIL_SHAPE,
        (1, 2, 4),
        (1, 4),
        "google/pegasus-cnn_dailymail: 16+16 layers, d_model 1024, vocab 96103",
    ),
    "distill": Shape(
        "distill",
        DISTILL_SHAPE,
        (1,),
        (1, 4),
        "sshleifer/distill-pegasus-cnn-16-4: 16+4 layers, d_model 1024, vocab 96103",
    ),
    "tiny": Shape("tiny", TINY_SHAPE, (1, 2), (1, 2), "a tiny shape for testing the harness"),
}


def shape(name: str) -> Shape:
    try:
        return SHAPES[name]
    except KeyError:
        raise ValueError(f"unknown shape {name!r}; known: {', '.join(SHAPES)}") from None


def default_cache_dir() -> Path:
    """E.g. ``~/.cache/pegasus-desktop-bench`` on Linux: outside the repo, safe to delete."""
    return Path(platformdirs.user_cache_dir(CACHE_APP, appauthor=False))


@dataclass(frozen=True)
class ModelFiles:
    """Where one shape's checkpoint and its converted copies live in the cache."""

    checkpoint: Path  # the Hugging Face checkpoint (PyTorch loads it, the exports read it)
    onnx_root: Path  # our exports: <onnx_root>/<slug>/<int8|fp32>/
    ct2: Path  # the CTranslate2 int8 model

    @classmethod
    def in_cache(cls, cache: Path, shape: Shape, seed: int) -> ModelFiles:
        key = shape.key(seed)
        return cls(
            cache / "checkpoints" / key,
            cache / "exports" / key / "onnx",
            cache / "exports" / key / "ct2-int8",
        )


def folder_size(path: Path) -> int:
    """Bytes of every file under ``path`` (0 if it does not exist)."""
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def checkpoint_weights_size(folder: Path) -> int:
    """What PyTorch loads: the weight files alone."""
    return sum(p.stat().st_size for p in folder.iterdir() if p.suffix in (".safetensors", ".bin"))


def _word_tokenizer(vocab_size: int):
    """A word-level tokenizer ``<pad> </s> <unk> w3 .. w{n-1}``: Pegasus's special ids, real size."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {"<pad>": 0, "</s>": 1, "<unk>": 2} | {f"w{i}": i for i in range(3, vocab_size)}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    backend.post_processor = processors.TemplateProcessing(
        single="$A </s>", special_tokens=[("</s>", 1)]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=backend, pad_token="<pad>", eos_token="</s>", unk_token="<unk>"
    )


def build_checkpoint(shape: Shape, folder: Path, seed: int = 0) -> int:
    """Save a random-weight model of ``shape`` into ``folder`` (atomically); return its parameter count.

    Weights use transformers' default init, as real checkpoints' scale. Needs torch and transformers.
    """
    import torch
    from transformers import PegasusConfig, PegasusForConditionalGeneration

    torch.manual_seed(seed)
    model = PegasusForConditionalGeneration(PegasusConfig(**(_COMMON | shape.config))).eval()
    for key, value in shape.generation.items():
        setattr(model.generation_config, key, value)
    staging = folder.with_name(f".{folder.name}-{uuid.uuid4().hex[:8]}")
    try:
        model.save_pretrained(staging)
        _word_tokenizer(shape.vocab_size).save_pretrained(staging)
        config_path = staging / "config.json"
        config = json.loads(config_path.read_text())
        config |= LEGACY_KEYS  # whatever transformers kept, the converter must see these
        config_path.write_text(json.dumps(config, indent=2))
        if folder.exists():
            shutil.rmtree(folder)
        os.replace(staging, folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return sum(p.numel() for p in model.parameters())


def convert_ct2(checkpoint: Path, out: Path) -> Path:
    """Convert ``checkpoint`` to a CTranslate2 int8 model in ``out`` (replacing it). Needs ctranslate2."""
    from ctranslate2.converters import TransformersConverter

    return Path(
        TransformersConverter(str(checkpoint)).convert(str(out), quantization="int8", force=True)
    )


def ct2_vocabulary(folder: Path) -> list[str]:
    """The token strings of a CTranslate2 model, indexed by id."""
    for name in ("shared_vocabulary.json", "vocabulary.json"):
        if (folder / name).is_file():
            return json.loads((folder / name).read_text())
    for name in ("shared_vocabulary.txt", "vocabulary.txt"):
        if (folder / name).is_file():
            return (folder / name).read_text(encoding="utf-8").split("\n")[:-1]
    raise FileNotFoundError(
        f"{folder} has no CTranslate2 vocabulary file: convert the model again."
    )
