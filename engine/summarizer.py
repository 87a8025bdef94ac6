"""``Summarizer``: text in, summary out. The one long-lived object an app or the CLI holds.

It owns the onnxruntime sessions and the tokenizer, so the model is loaded once and reused for
every request. Streaming, cancelling and options are plain callbacks and dataclasses: this module
knows nothing about Qt or terminals. A text longer than the model reads is cut here; for the
whole of a long document see ``engine.long_document``.

``summarize_batch`` summarizes several texts in one ``generate()`` call (the decoder's weights are
then read once per step for all of them), and ``summarize_many`` any number of texts in such
calls of ``batch_size``, sorted by length so that little padding is run. Each text gets exactly
the tokens it gets alone: int8 activations are quantized per row and the source is padded in whole
blocks (``engine.model.SOURCE_BLOCK``), so a row's logits do not depend on its neighbours
(tests/test_batch_exact.py).
"""

from __future__ import annotations

import dataclasses
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.generation import GenerationOptions
from engine.model import InputTruncatedWarning, OnnxPegasus
from engine.model_dir import MANIFEST, export_dir
from engine.runtime import get_onnx_runtime_sessions
from engine.tokenizer import TextTokenizer

# Greedy summaries are drafted from the article by default (engine/generation/drafting.py): the
# same tokens in fewer decoder runs. 8: the most a run verifies; the draft adapts below that to
# what was accepted, and the benchmark's verification cost per position shows where more stops paying.
DRAFT_TOKENS = 8
# Inputs per generate() call in batch jobs (the CLI's --batch-size, the app's Batch view). Measured
# on the cnn_dailymail shape, int8, 2 threads (benchmarks/throughput.py, benchmarks/NOTES.md).
DEFAULT_BATCH_SIZE = 4


@dataclass(frozen=True)
class Summary:
    text: str
    token_ids: tuple[int, ...]  # the generated ids, decoder start token first
    input_tokens: int  # the input's length in tokens before any truncation
    truncated: bool  # the input was longer than the model reads and was cut
    seconds: float

    @property
    def new_tokens(self) -> int:
        return max(0, len(self.token_ids) - 1)

    @property
    def tokens_per_second(self) -> float:
        return self.new_tokens / self.seconds if self.seconds > 0 else 0.0


class Summarizer:
    def __init__(self, model: OnnxPegasus) -> None:
        self.model = model
        self.tokenizer = TextTokenizer(model.folder, int(model.generation_defaults.get("eos_token_id", 1)))

    @classmethod
    def load(
        cls, model: str | Path, *, precision: str = "int8", root: str | Path | None = None,
        n_threads: int | None = None,
    ) -> Summarizer:
        """Load an export folder, or the existing export of a model id / checkpoint folder."""
        folder = Path(model).expanduser()
        if not (folder / MANIFEST).is_file():
            folder = export_dir(str(model), precision, root)
        return cls(OnnxPegasus(str(model), get_onnx_runtime_sessions(folder, n_threads=n_threads)))

    def close(self) -> None:
        """Release the model's sessions and files (``OnnxPegasus.close``)."""
        self.model.close()

    def __enter__(self) -> Summarizer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def max_input_tokens(self) -> int:
        return self.model.max_positions

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer.encode(text))

    def max_summary_tokens(self, options: GenerationOptions | None = None) -> int:
        """The most tokens a summary with ``options`` can have (the resolved ``max_length``)."""
        return self.model.generation_config(options).max_new_tokens

    def with_drafting(self, options: GenerationOptions | None) -> GenerationOptions:
        """``options`` with copy drafting turned on when they resolve to greedy search and leave
        ``prompt_lookup_num_tokens`` unset; beams, sampling and an explicit choice (0 = off) stay."""
        options = options or GenerationOptions()
        if options.prompt_lookup_num_tokens is not None:
            return options
        config = self.model.generation_config(options)
        if config.num_beams > 1 or config.do_sample:
            return options
        return dataclasses.replace(options, prompt_lookup_num_tokens=DRAFT_TOKENS)

    def _encode(self, text: str) -> tuple[list[int], list[int]]:
        """(all ids, the ids the model reads) of a non-empty text."""
        if not text or not text.strip():
            raise ValueError("There is no text to summarize: the input is empty.")
        ids = self.tokenizer.encode(text)
        return ids, self.tokenizer.truncate(ids, self.max_input_tokens)

    def summarize_batch(
        self,
        texts: Sequence[str],
        options: GenerationOptions | None = None,
        *,
        should_stop: Callable[[], bool] | None = None,
    ) -> list[Summary]:
        """Summarize ``texts`` in one generate() call: each gets the summary ``summarize`` gives it
        alone. A summary's ``seconds`` is its share of the call (the call's time / len(texts)).
        Raises ValueError if any text is empty (before anything runs)."""
        return self._summarize_encoded([self._encode(text) for text in texts], options, should_stop)

    def _summarize_encoded(self, encoded: list[tuple[list[int], list[int]]], options: GenerationOptions | None,
                           should_stop: Callable[[], bool] | None) -> list[Summary]:
        """``summarize_batch`` of texts already encoded by ``_encode``."""
        if not encoded:
            return []
        kept = [k for _, k in encoded]
        ids = np.zeros((len(kept), max(map(len, kept))), np.int64)  # (batch, longest)
        mask = np.zeros_like(ids)
        for row, k in enumerate(kept):
            ids[row, : len(k)], mask[row, : len(k)] = k, 1
        ids[mask == 0] = int(self.model.generation_defaults.get("pad_token_id", 0))
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", InputTruncatedWarning)
            sequences = self.model.generate(ids, mask, options=self.with_drafting(options), should_stop=should_stop)
        share = (time.perf_counter() - start) / len(encoded)
        eos = self.tokenizer.eos_token_id
        summaries = []
        per_input = len(sequences) // len(encoded)  # num_return_sequences: the best comes first
        for row, (all_ids, k) in zip(sequences[::per_input], encoded):
            best = _own_tokens([int(t) for t in row], eos)
            truncated = len(k) < len(all_ids)
            summaries.append(Summary(self.tokenizer.decode(best), tuple(best), len(all_ids), truncated, share))
        return summaries

    def summarize_many(
        self,
        texts: Sequence[str],
        options: GenerationOptions | None = None,
        *,
        batch_size: int = DEFAULT_BATCH_SIZE,
        should_stop: Callable[[], bool] | None = None,
        on_summary: Callable[[int, Summary], None] | None = None,
    ) -> list[Summary]:
        """Summarize every text (none empty) in generate() calls of up to ``batch_size`` texts of
        similar length; returns the summaries in the order of ``texts``. ``on_summary(index,
        summary)`` is called as each call finishes. For documents longer than the model reads, and
        for per-document failures, see ``engine.long_document.summarize_documents``."""
        check_batch_size(batch_size)
        encoded = [self._encode(text) for text in texts]  # once: the lengths order the calls
        order = sorted(range(len(texts)), key=lambda i: -len(encoded[i][1]))
        results: list[Summary | None] = [None] * len(texts)
        for start in range(0, len(order), batch_size):
            group = order[start : start + batch_size]
            for index, summary in zip(group, self._summarize_encoded([encoded[i] for i in group], options,
                                                                     should_stop)):
                results[index] = summary
                if on_summary is not None:
                    on_summary(index, summary)
        return results

    def summarize(
        self,
        text: str,
        options: GenerationOptions | None = None,
        *,
        on_text: Callable[[str], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> Summary:
        """Summarize ``text``. ``on_text`` gets the best summary so far after every decoder run.
        Greedy search drafts from the article unless ``options`` say otherwise (``with_drafting``)."""
        ids, kept = self._encode(text)
        on_token = None
        if on_text is not None:

            def on_token(best: np.ndarray) -> None:  # best: (1, length), the best sequence so far
                on_text(self.tokenizer.decode(best[0]))

        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", InputTruncatedWarning)  # reported in Summary.truncated
            sequences = self.model.generate(
                np.array([kept], np.int64), options=self.with_drafting(options), on_token=on_token,
                should_stop=should_stop,
            )
        seconds = time.perf_counter() - start
        best = [int(t) for t in sequences[0]]
        return Summary(self.tokenizer.decode(best), tuple(best), len(ids), len(kept) < len(ids), seconds)


def check_batch_size(batch_size: int) -> int:
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be an integer >= 1; got {batch_size!r}")
    return batch_size


def _own_tokens(row: list[int], eos: int) -> list[int]:
    """A batch row without the padding that follows its end: up to and including its first eos
    after the decoder start token (greedy pads finished rows with pad, beam search with eos), or
    all of it when it ran to the longest length without one."""
    if eos in row[1:]:
        return row[: row.index(eos, 1) + 1]
    return row
