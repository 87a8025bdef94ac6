"""One small adapter per engine: import its libraries, load a model, generate exactly N new tokens.

Every adapter is asked for identical work: the same input ids (no padding), ``beams`` beams, and
exactly ``new_tokens`` new tokens (end of sequence is forbidden before, and decoding stops at, that
length), with no repetition ban, length penalty 1 and no early stopping. ``generate`` returns the
new token ids only, shaped (batch, new_tokens), so the harness can check the work was the same.

Importing this module imports numpy alone: each engine's libraries are imported in
``import_libs``, inside the worker process that runs it.
"""

from __future__ import annotations

import hashlib
import logging

import numpy as np

from benchmarks.models import ModelFiles, ct2_vocabulary

EOS = 1  # Pegasus: pad = decoder start = 0, eos = 1


def make_inputs(
    vocab_size: int, batch: int, length: int, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """(input_ids, attention_mask), both (batch, length) int64: random ordinary tokens, then ``</s>``."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(3, vocab_size, size=(batch, length - 1), dtype=np.int64)
    ids = np.concatenate([ids, np.full((batch, 1), EOS, np.int64)], axis=1)  # (batch, length)
    return ids, np.ones_like(ids)


def digest(array: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(array, np.int64).tobytes()).hexdigest()[:16]


def _hf_settings(beams: int, new_tokens: int) -> dict:
    """transformers' semantics: lengths count the decoder start token."""
    return {
        "num_beams": beams,
        "min_length": new_tokens + 1,
        "max_length": new_tokens + 1,
        "forced_eos_token_id": None,
        "no_repeat_ngram_size": 0,
        "length_penalty": 1.0,
        "early_stopping": False,
    }


class PyTorch:
    """transformers' ``generate()`` on the fp32 checkpoint."""

    name = "pytorch"
    label = "PyTorch fp32"

    def import_libs(self) -> None:
        import torch
        import transformers  # noqa: F401

        self.torch = torch

    def load(self, files: ModelFiles, threads: int) -> None:
        from transformers import PegasusForConditionalGeneration

        self.torch.set_num_threads(threads)
        self.model = PegasusForConditionalGeneration.from_pretrained(
            files.checkpoint, dtype=self.torch.float32
        ).eval()

    def generate(
        self, ids: np.ndarray, mask: np.ndarray, beams: int, new_tokens: int
    ) -> np.ndarray:
        with self.torch.inference_mode():
            out = self.model.generate(
                input_ids=self.torch.from_numpy(ids),
                attention_mask=self.torch.from_numpy(mask),
                do_sample=False,
                num_return_sequences=1,
                **_hf_settings(beams, new_tokens),
            )
        return out[:, 1:].numpy()  # drop the decoder start token


class Onnx:
    """Our engine: ``engine.get_onnx_model`` on the export of the same checkpoint."""

    def __init__(self, quantized: bool) -> None:
        self.quantized = quantized
        self.name = "onnx-int8" if quantized else "onnx-fp32"
        self.label = "ONNX int8 (ours)" if quantized else "ONNX fp32 (ours)"

    def import_libs(self) -> None:
        import engine  # noqa: F401  (imports onnxruntime, never torch)

    def load(self, files: ModelFiles, threads: int) -> None:
        from engine import get_onnx_model

        self.model = get_onnx_model(
            str(files.checkpoint), files.onnx_root, quantized=self.quantized, n_threads=threads
        )

    def generate(
        self, ids: np.ndarray, mask: np.ndarray, beams: int, new_tokens: int
    ) -> np.ndarray:
        out = self.model.generate(ids, mask, **_hf_settings(beams, new_tokens))
        return np.asarray(out)[:, 1:]


class CTranslate2:
    """CTranslate2 int8, converted from the same checkpoint. It takes token strings, ``</s>`` included."""

    name = "ct2-int8"
    label = "CTranslate2 int8"

    def import_libs(self) -> None:
        import ctranslate2

        self.ctranslate2 = ctranslate2

    def load(self, files: ModelFiles, threads: int) -> None:
        # Its INFO lines name the CPU ISA and GEMM backends it picked; they go to the worker's log.
        self.ctranslate2.set_log_level(logging.INFO)
        self.translator = self.ctranslate2.Translator(
            str(files.ct2),
            device="cpu",
            compute_type="int8",
            intra_threads=threads,
            inter_threads=1,
        )
        self.vocab = ct2_vocabulary(files.ct2)
        self.ids = {token: i for i, token in enumerate(self.vocab)}

    def generate(
        self, ids: np.ndarray, mask: np.ndarray, beams: int, new_tokens: int
    ) -> np.ndarray:
        if not mask.all():
            raise ValueError(
                "the CTranslate2 adapter takes unpadded inputs only (an all-ones mask)"
            )
        source = [[self.vocab[i] for i in row] for row in ids.tolist()]
        results = self.translator.translate_batch(
            source,
            beam_size=beams,
            num_hypotheses=1,
            length_penalty=1.0,
            no_repeat_ngram_size=0,
            min_decoding_length=new_tokens,
            max_decoding_length=new_tokens,
            max_batch_size=0,
        )
        rows = [[self.ids[t] for t in r.hypotheses[0]] for r in results]
        if any(len(row) != new_tokens for row in rows):  # a ragged result cannot become an array
            raise RuntimeError(
                f"CTranslate2 returned {[len(r) for r in rows]} tokens, not {new_tokens}"
            )
        return np.asarray(rows, np.int64)


ENGINES = {
    "pytorch": PyTorch,
    "onnx-fp32": lambda: Onnx(quantized=False),
    "onnx-int8": lambda: Onnx(quantized=True),
    "ct2-int8": CTranslate2,
}
LABELS = {
    "pytorch": PyTorch.label,
    "onnx-fp32": "ONNX fp32 (ours)",
    "onnx-int8": "ONNX int8 (ours)",
    "ct2-int8": CTranslate2.label,
}


def make_engine(name: str):
    try:
        return ENGINES[name]()
    except KeyError:
        raise ValueError(f"unknown engine {name!r}; known: {', '.join(ENGINES)}") from None


def check_same_work(
    replies: dict[str, dict], batch: int, new_tokens: int
) -> dict[str, float | None]:
    """Raise unless every engine read the same input and made exactly ``new_tokens`` new tokens per
    sequence without ending early. Return each engine's share of tokens equal to PyTorch's (or None)."""
    inputs = {name: reply["input_digest"] for name, reply in replies.items()}
    if len(set(inputs.values())) != 1:
        raise RuntimeError(f"the engines read different inputs: {inputs}")
    outputs = {name: np.asarray(reply["tokens"], np.int64) for name, reply in replies.items()}
    for name, tokens in outputs.items():
        if tokens.shape != (batch, new_tokens):
            raise RuntimeError(
                f"{name} made new tokens shaped {tokens.shape}, not {(batch, new_tokens)}"
            )
        if (tokens == EOS).any():
            raise RuntimeError(f"{name} ended a sequence before {new_tokens} new tokens")
    reference = outputs.get("pytorch")
    return {
        name: None if reference is None else float((tokens == reference).mean())
        for name, tokens in outputs.items()
    }
