"""Summarize a document of any length: the one function the app and the CLI both call.

``summarize_document`` takes one of two modes:

- ``"whole"`` (the default): a text longer than the model reads is split at paragraph or
  sentence boundaries into chunks that fit (``engine.chunking``). Each chunk is summarized and
  the chunk summaries are combined, one paragraph each. While the combination is longer than the
  summary length asked for (the options' ``max_length``), it is summarized again, chunked if
  need be (map-reduce). A text that fits is summarized exactly as ``Summarizer.summarize`` does.
- ``"beginning"``: the first tokens the model reads are summarized and the rest is ignored
  (faster; the result says it was truncated).

Progress is plain callbacks: ``on_chunk`` when a chunk starts and when it is done, ``on_text``
with the best text of the current round so far after every decoder step, and ``should_stop``,
checked between chunks and between decoder steps. This module knows nothing about Qt or terminals.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from engine.chunking import split_text
from engine.errors import GenerationCancelled
from engine.generation import GenerationOptions
from engine.summarizer import Summarizer, Summary

__all__ = ["MODES", "ChunkSummary", "DocumentSummary", "summarize_document"]

WHOLE = "whole"
BEGINNING = "beginning"
MODES = (WHOLE, BEGINNING)
MAX_ROUNDS = 6  # a round shrinks the text many times over; this only guards against a model that does not


@dataclass(frozen=True)
class ChunkSummary:
    """One chunk of one round. ``on_chunk`` gets it with ``summary=None`` when the chunk starts."""

    round: int  # 1: parts of the document; 2, 3, ...: parts of the combined summaries
    index: int  # 0-based, within the round
    count: int  # chunks in this round
    input_tokens: int
    summary: Summary | None = None

    @property
    def text(self) -> str:
        return self.summary.text if self.summary is not None else ""


@dataclass(frozen=True)
class DocumentSummary:
    text: str
    mode: str
    chunks: tuple[ChunkSummary, ...]  # every summarized chunk, round by round
    input_tokens: int  # the document's length in tokens
    truncated: bool  # only the beginning was read ("beginning" mode and a long text)
    seconds: float

    @property
    def rounds(self) -> int:
        return max(c.round for c in self.chunks)

    @property
    def parts(self) -> int:
        """How many chunks the document was read in (1 when it fits)."""
        return sum(1 for c in self.chunks if c.round == 1)

    @property
    def new_tokens(self) -> int:
        """Tokens generated in all rounds."""
        return sum(c.summary.new_tokens for c in self.chunks)

    @property
    def summary_tokens(self) -> int:
        """Tokens generated for the final text (the last round's)."""
        return sum(c.summary.new_tokens for c in self.chunks if c.round == self.rounds)

    @property
    def tokens_per_second(self) -> float:
        return self.new_tokens / self.seconds if self.seconds > 0 else 0.0


def summarize_document(
    summarizer: Summarizer,
    text: str,
    options: GenerationOptions | None = None,
    *,
    mode: str = WHOLE,
    on_chunk: Callable[[ChunkSummary], None] | None = None,
    on_text: Callable[[str], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> DocumentSummary:
    """Summarize ``text`` whole (map-reduce over chunks) or only its beginning; see the module doc.

    Raises ``GenerationCancelled`` when ``should_stop`` returns True, and ValueError for an empty
    text, an unknown mode or options the model cannot take.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}; got {mode!r}")
    if not text or not text.strip():
        raise ValueError("There is no text to summarize: the input is empty.")
    limit = summarizer.max_input_tokens
    input_tokens = summarizer.count_tokens(text)
    if mode == BEGINNING or input_tokens <= limit:
        chunk = ChunkSummary(1, 0, 1, min(input_tokens, limit))
        _notify(on_chunk, chunk)
        summary = summarizer.summarize(text, options, on_text=on_text, should_stop=should_stop)
        done = ChunkSummary(1, 0, 1, chunk.input_tokens, summary)
        _notify(on_chunk, done)
        return DocumentSummary(
            summary.text, mode, (done,), summary.input_tokens, summary.truncated, summary.seconds
        )

    target = summarizer.max_summary_tokens(options)
    done: list[ChunkSummary] = []
    pieces = split_text(text, summarizer.tokenizer, limit)
    size = input_tokens
    for round_ in range(1, MAX_ROUNDS + 1):
        texts = _summarize_round(summarizer, round_, pieces, options, done, on_chunk, on_text, should_stop)
        combined = "\n\n".join(t for t in texts if t.strip())
        combined_size = summarizer.count_tokens(combined)
        if len(pieces) == 1 or combined_size <= target or combined_size >= size or not combined.strip():
            break
        size = combined_size
        pieces = split_text(combined, summarizer.tokenizer, limit)
    seconds = sum(c.summary.seconds for c in done)
    return DocumentSummary(combined, mode, tuple(done), input_tokens, False, seconds)


def _summarize_round(summarizer, round_, pieces, options, done, on_chunk, on_text, should_stop) -> list[str]:
    texts: list[str] = []
    for index, piece in enumerate(pieces):
        if should_stop is not None and should_stop():
            raise GenerationCancelled("Summarizing was cancelled.")
        chunk = ChunkSummary(round_, index, len(pieces), summarizer.count_tokens(piece))
        _notify(on_chunk, chunk)
        partial = None if on_text is None else _with_finished_parts(on_text, texts)
        summary = summarizer.summarize(piece, options, on_text=partial, should_stop=should_stop)
        texts.append(summary.text)
        finished = ChunkSummary(round_, index, len(pieces), chunk.input_tokens, summary)
        done.append(finished)
        _notify(on_chunk, finished)
    return texts


def _with_finished_parts(on_text: Callable[[str], None], texts: list[str]) -> Callable[[str], None]:
    """``on_text`` for the part being summarized: the finished parts' summaries, then its best text so
    far, a paragraph each (``texts`` grows as parts finish)."""

    def show(best: str) -> None:
        on_text("\n\n".join(t for t in [*texts, best] if t.strip()))

    return show


def _notify(callback, value) -> None:
    if callback is not None:
        callback(value)
