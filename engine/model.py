"""``OnnxPegasus``: an exported Pegasus that generates like transformers' ``generate()``.

It runs the encoder graph once per batch (which also yields every layer's cross-attention keys
and values), then hands a key/value-cached decoder to the search in ``engine.generation``.
Inputs may be torch tensors, numpy arrays or lists; torch is never imported here: a torch result
is returned only to a caller who already passed torch tensors.

This module knows nothing about text: see ``engine.tokenizer`` and ``engine.summarizer``.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import warnings
from dataclasses import fields
from pathlib import Path

import numpy as np

from engine.embedding import TokenEmbedding
from engine.errors import EngineError
from engine.generation import DraftStats, GenerationConfig, GenerationOptions, generate
from engine.graph_names import cross_names, past_names, present_names
from engine.runtime import Sessions, get_onnx_runtime_sessions, releasing_run

# config.json keys that transformers also reads as generation defaults.
CONFIG_GENERATION_KEYS = (
    "decoder_start_token_id", "eos_token_id", "pad_token_id", "bos_token_id", "forced_eos_token_id",
    "max_length", "min_length", "num_beams", "length_penalty", "no_repeat_ngram_size", "early_stopping",
)
_OPTION_NAMES = tuple(f.name for f in fields(GenerationOptions))


class InputTruncatedWarning(UserWarning):
    """The input was longer than the model's position limit and its end was cut off."""


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as e:
        raise EngineError(f"{path} cannot be read ({e}): re-export the model.") from e


def _to_numpy(value, name: str) -> np.ndarray:
    if value is None:
        raise ValueError(f"{name} is required")
    if type(value).__module__.startswith("torch"):
        value = value.detach().cpu().numpy()
    array = np.asarray(value)
    if array.ndim == 1:
        array = array[None, :]
    if array.ndim != 2 or not np.issubdtype(array.dtype, np.integer):
        raise ValueError(f"{name} must be integer ids shaped (batch, length); got shape {array.shape}, {array.dtype}")
    return array.astype(np.int64)


_MASKED = np.float32(np.finfo(np.float32).min)  # what transformers adds to the scores of masked keys

# The source is padded (with masked pad tokens) to a whole number of blocks of this many, alone as
# in a batch: how the float kernels sum a ragged last group of keys depends on the key count, so
# without it a document's cross-attention (and so, rarely, its summary) could change with the
# length of the longest document beside it. Masked keys in whole blocks change no bit: measured
# on the trained fixture (fp32 and int8, every length 3..199 against 1..4 extra blocks) and on the
# cnn_dailymail shape's int8 export (tests/test_batch_exact.py keeps the fixture's half of it).
SOURCE_BLOCK = 16


class _CachedDecoder:
    """The decoder graph plus its self-attention cache: a ``DecoderState`` (and a ``DraftVerifier``).

    Every row's cache holds its own tokens and nothing else, all rows the same number of them
    (``length``): rows that verify drafts advance in step (``engine/generation/drafting.py`` says
    why). The arrays may hold more slots than that: the positions of the last run that the rows did
    not keep, which the graph trims at the next run before it appends.
    """

    def __init__(self, session, embedding: TokenEmbedding, layers: int, cross: list[np.ndarray], mask: np.ndarray,
                 rows: int) -> None:
        """``cross`` and ``mask`` are per input; ``rows`` = inputs x beams (or samples) per input."""
        self.session, self.embedding = session, embedding
        self.past_names, self.present_names = past_names(layers), present_names(layers)
        _, heads, _, head_dim = cross[1].shape  # (batch, heads, src, head_dim), keys and values alike
        empty = np.zeros((rows, heads, 0, head_dim), np.float32)
        self.feeds = {"encoder_attention_mask": mask, **dict(zip(cross_names(layers), cross))}
        self.feeds |= dict.fromkeys(self.past_names, empty)
        self.outputs = ["logits", *self.present_names]
        self.rows = rows
        self.cache_rows = np.arange(rows, dtype=np.int64)  # which past row each row continues
        self.reordered = False
        self.slots = 0  # positions in the cache arrays
        self.length = 0  # tokens each row keeps of them: its next position
        self.runs = 0  # decoder runs so far (the benchmark and the tests count them)
        self.last_new = 0

    def step(self, input_ids: np.ndarray) -> np.ndarray:
        """One new token per row: (rows, 1) -> next-token logits (rows, vocab)."""
        return self.run(input_ids)[:, 0]

    def run(self, input_ids: np.ndarray) -> np.ndarray:
        """``new`` tokens per row, (rows, new) -> the logits after each, (rows, new, vocab).

        All ``new`` positions enter the cache; ``keep`` then says how many of them the rows keep.
        """
        rows, new = input_ids.shape
        trim = self.slots > self.length  # (beam search reorders but never drafts: never both)
        embeds = self.embedding(input_ids)  # (rows, new, d_model)
        feeds = {
            **self.feeds,
            "inputs_embeds": embeds,
            "position_ids": np.tile(self.length + np.arange(new, dtype=np.int64), (rows, 1)),
            "self_attention_mask": self._mask(rows, new),
            "cache_rows": self.cache_rows,
            "cache_length": np.array([self.length], np.int64),
            "reorder_cache": np.array(self.reordered),
            "trim_cache": np.array(trim),
        }
        logits, *presents = self.session.run(self.outputs, feeds)
        self.runs += 1
        self.feeds |= dict(zip(self.past_names, presents))
        self.slots = self.length = self.length + new
        self.last_new = new
        self.cache_rows = np.arange(rows, dtype=np.int64)
        self.reordered = False
        return logits  # (rows, new, vocab)

    def keep(self, count: int) -> None:
        """After ``run`` of ``new`` tokens: every row keeps only the first ``count`` (1..new) of them."""
        self.length -= self.last_new - int(count)

    def _mask(self, rows: int, new: int) -> np.ndarray:
        """(rows, 1, new, length + new): 0 where a new position may look (its row's cache, the new
        positions up to itself), the float minimum elsewhere."""
        mask = np.zeros((rows, 1, new, self.length + new), np.float32)
        if new > 1:  # causal among the new positions
            mask[:, 0, :, self.length:] = np.where(np.tri(new, dtype=bool), 0.0, _MASKED)
        return mask

    def reorder(self, rows: np.ndarray) -> None:
        # The decoder graph gathers the cache rows at its next run. Beam search only permutes rows
        # within one input's beams, which share one cross K/V.
        self.cache_rows = np.ascontiguousarray(self.cache_rows[rows], dtype=np.int64)
        self.reordered = True


def _pad_to_block(ids: np.ndarray, mask: np.ndarray, pad: int, limit: int) -> tuple[np.ndarray, np.ndarray]:
    """(batch, src) -> (batch, src rounded up to SOURCE_BLOCK, at most ``limit``), the new columns
    masked pad tokens (see SOURCE_BLOCK)."""
    src = ids.shape[1]
    padded = min(-(-src // SOURCE_BLOCK) * SOURCE_BLOCK, max(limit, src))
    if padded == src:
        return ids, mask
    extra = ((0, 0), (0, padded - src))
    return np.pad(ids, extra, constant_values=pad), np.pad(mask, extra, constant_values=0)


class OnnxPegasus:
    """Generate with an exported model. ``sessions`` come from ``get_onnx_runtime_sessions``."""

    def __init__(self, model_or_model_path=None, onnx_model_sessions: Sessions | None = None) -> None:
        if onnx_model_sessions is None:
            if model_or_model_path is None:
                raise ValueError("give an export folder or the sessions from get_onnx_runtime_sessions")
            onnx_model_sessions = get_onnx_runtime_sessions(model_or_model_path)
        if not isinstance(onnx_model_sessions, Sessions):
            raise ValueError("onnx_model_sessions must be what get_onnx_runtime_sessions returned")
        self.name = str(model_or_model_path or onnx_model_sessions.folder)
        self.sessions = onnx_model_sessions
        self.folder = onnx_model_sessions.folder
        self.config = _read_json(self.folder / "config.json")
        if self.config.get("model_type") != "pegasus":
            raise EngineError(f"{self.folder} does not hold an exported Pegasus model: re-export it.")
        self.layers = int(self.config["decoder_layers"])
        self.max_positions = int(self.config["max_position_embeddings"])
        defaults = {k: self.config[k] for k in CONFIG_GENERATION_KEYS if self.config.get(k) is not None}
        self.generation_defaults = defaults | _read_json(self.folder / "generation_config.json")
        self.encoder_embedding = TokenEmbedding(self.folder, "encoder")
        self.decoder_embedding = TokenEmbedding(self.folder, "decoder")

    def close(self) -> None:
        """Release the sessions and the open ``weights.bin`` now, not at garbage collection (on
        Windows an open file cannot be deleted or replaced: a re-export or Delete would fail).
        The model cannot generate afterwards. Closing twice is harmless."""
        for embedding in (self.encoder_embedding, self.decoder_embedding):
            embedding.close()
        self.sessions = None

    def __enter__(self) -> OnnxPegasus:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def encode(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> list[np.ndarray]:
        """Each decoder layer's cross-attention key and value, each (batch, heads, src, head_dim).

        Memory, not speed, shapes this (times were equal either way): the inputs of a batch are
        encoded one at a time, each written straight into its slice of the batch's arrays, so the
        encoder's activations are one input's; and after the last one the encoder hands its arena
        back. At batch 4 x beam 4 (cnn shape, 512 tokens) a summary's peak RSS fell from 1,469 to
        1,321 MiB on the Intel Xeon. An input gets the same bits either way: nothing in the
        encoder mixes inputs (tests/test_batch_exact.py).
        """
        if self.sessions is None:
            raise EngineError(f"The model in {self.folder} was closed; load it again to summarize.")
        names, session = cross_names(self.layers), self.sessions.encoder
        embeds = self.encoder_embedding(input_ids)
        heads = int(self.config["decoder_attention_heads"])
        shape = (len(embeds), heads, embeds.shape[1], int(self.config["d_model"]) // heads)
        cross = [np.empty(shape, np.float32) for _ in names]
        for row in range(len(embeds)):
            binding = session.io_binding()
            binding.bind_cpu_input("inputs_embeds", np.ascontiguousarray(embeds[row:row + 1]))
            binding.bind_cpu_input("attention_mask", np.ascontiguousarray(attention_mask[row:row + 1], np.int64))
            for name, array in zip(names, cross):
                binding.bind_output(name, "cpu", 0, np.float32, [1, *shape[1:]], array[row].ctypes.data)
            session.run_with_iobinding(binding, releasing_run() if row == len(embeds) - 1 else None)
        return cross

    def _prepare(self, input_ids, attention_mask) -> tuple[np.ndarray, np.ndarray]:
        ids = _to_numpy(input_ids, "input_ids")
        if ids.size == 0:  # the encoder would attend over nothing: no meaningful summary exists
            raise ValueError(f"input_ids holds no tokens (shape {ids.shape}); give at least one input of at "
                             f"least one token")
        pad = self.generation_defaults.get("pad_token_id", 0)
        eos = self.generation_defaults.get("eos_token_id", 1)
        if attention_mask is None:  # as transformers: padding is masked when it differs from eos
            mask = (ids != pad) if pad != eos else np.ones_like(ids)
            mask = mask.astype(np.int64)
        else:
            mask = _to_numpy(attention_mask, "attention_mask")
            if mask.shape != ids.shape:
                raise ValueError(f"attention_mask has shape {mask.shape} but input_ids has {ids.shape}")
        if ids.shape[1] > self.max_positions:
            warnings.warn(
                f"The input has {ids.shape[1]} tokens but the model reads at most {self.max_positions}; "
                f"only the first {self.max_positions} are used.",
                InputTruncatedWarning,
                stacklevel=3,
            )
            ids, mask = ids[:, : self.max_positions], mask[:, : self.max_positions]
        return _pad_to_block(ids, mask, pad, self.max_positions)

    def generation_config(self, options: GenerationOptions | None = None, **kwargs) -> GenerationConfig:
        # transformers code often passes use_cache=True. Our decoder always keeps its cache, and
        # the cache never changes the tokens, so the flag is accepted and has nothing to do.
        kwargs.pop("use_cache", None)
        unknown = sorted(set(kwargs) - set(_OPTION_NAMES))
        if unknown:
            raise ValueError(f"unknown generation options {unknown}; accepted: {', '.join(_OPTION_NAMES)}")
        options = options or GenerationOptions()
        if kwargs:
            options = GenerationOptions(**{**{f: getattr(options, f) for f in _OPTION_NAMES}, **kwargs})
        config = GenerationConfig.resolve(options, self.generation_defaults)
        if "forced_eos_token_id" in kwargs and kwargs["forced_eos_token_id"] is None:
            # transformers reads an explicit None as "force nothing", not "use the default".
            config = dataclasses.replace(config, forced_eos_token_id=None)
        return config

    def generate(
        self,
        input_ids=None,
        attention_mask=None,
        *,
        options: GenerationOptions | None = None,
        on_token=None,
        should_stop=None,
        draft_stats: DraftStats | None = None,
        **kwargs,
    ):
        """Like transformers' ``generate()``: returns sequences with the decoder start token first.

        Options come as keywords (``num_beams=4``) or as a ``GenerationOptions``; what is not given
        comes from the model's generation_config.json. A torch tensor comes back when torch tensors
        went in, otherwise a numpy int64 array. ``prompt_lookup_num_tokens=N`` (greedy only) drafts
        up to N tokens from the article and checks them in one decoder run: the same tokens, fewer
        runs; ``draft_stats`` (a ``DraftStats``) then receives the counts of runs and tokens.
        """
        wants_torch = type(input_ids).__module__.startswith("torch")
        config = self.generation_config(options, **kwargs)
        ids, mask = self._prepare(input_ids, attention_mask)
        cross = self.encode(ids, mask)

        def make_state(expand: int) -> _CachedDecoder:
            # The graph shares each input's cross K/V among its `expand` rows: nothing is repeated.
            return _CachedDecoder(self.sessions.decoder, self.decoder_embedding, self.layers, cross, mask,
                                  rows=ids.shape[0] * expand)

        sources = [row[keep.astype(bool)] for row, keep in zip(ids, mask)]  # drafts copy from the real tokens
        sequences = generate(make_state, batch_size=ids.shape[0], config=config, on_token=on_token,
                             should_stop=should_stop, source_ids=sources, draft_stats=draft_stats)
        if wants_torch:
            return sys.modules["torch"].from_numpy(sequences)
        return sequences

    __call__ = generate


def smoke_test(folder: Path) -> None:
    """Load a fresh export and run one encoder pass and one decoder step; raise if anything is off."""
    model = OnnxPegasus(folder, get_onnx_runtime_sessions(folder, n_threads=1))
    eos = int(model.generation_defaults.get("eos_token_id", 1))
    ids = np.array([[eos + 2, eos + 3, eos]], np.int64)
    mask = np.ones_like(ids)
    state = _CachedDecoder(model.sessions.decoder, model.decoder_embedding, model.layers, model.encode(ids, mask), mask, rows=2)
    start = int(model.generation_defaults.get("decoder_start_token_id", 0))
    logits = state.step(np.array([[start], [start]], np.int64))  # two beams of one input
    drafted = state.run(np.array([[eos + 2, eos + 3], [eos + 2, eos + 4]], np.int64))  # two positions per row
    vocab = int(model.config["vocab_size"])
    if (logits.shape != (2, vocab) or drafted.shape != (2, 2, vocab) or not np.isfinite(logits).all()
            or not np.isfinite(drafted).all()):
        raise EngineError(f"The export in {folder} gives wrong logits {logits.shape}: it is not usable.")
