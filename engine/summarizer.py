"""``Summarizer``: text in, summary out. The one long-lived object an app or the CLI holds.

It owns the onnxruntime sessions and the tokenizer, so the model is loaded once and reused for
every request. Streaming, cancelling and options are plain callbacks and dataclasses: this module
knows nothing about Qt or terminals. A text longer than the model reads is cut here; for the
whole of a long document see ``engine.long_document``.
"""

from __future__ import annotations

import dataclasses
import time
import warnings
from collections.abc import Callable
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
        if not text or not text.strip():
            raise ValueError("There is no text to summarize: the input is empty.")
        ids = self.tokenizer.encode(text)
        kept = self.tokenizer.truncate(ids, self.max_input_tokens)
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
