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

``summarize_documents`` does the same for many documents at once: the parts waiting to be
summarized (whole short documents, the parts of long ones, then their combining rounds) are
pooled, sorted by length and summarized ``batch_size`` at a time in one generate() call each
(``Summarizer.summarize_batch``). Each document gets exactly the summary ``summarize_document``
gives it alone, and one that fails (unreadable, empty) fails alone.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import dataclass, field

from engine.chunking import split_text
from engine.errors import GenerationCancelled
from engine.generation import GenerationOptions
from engine.summarizer import DEFAULT_BATCH_SIZE, Summarizer, Summary, check_batch_size

__all__ = ["MODES", "ChunkSummary", "DocumentSummary", "summarize_document", "summarize_documents"]

WHOLE = "whole"
BEGINNING = "beginning"
MODES = (WHOLE, BEGINNING)
MAX_ROUNDS = 6  # a round shrinks the text many times over; this only guards against a model that does not
WINDOW_CALLS = 8  # summarize_documents sorts the parts of about this many calls' worth of documents at a time


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


@dataclass
class _Round:
    """The pieces of one round of one document, to summarize; ``fits``: the document is read in
    one piece (the whole of a text that fits, or only its beginning)."""

    round: int
    pieces: list[str]
    tokens: list[int]
    fits: bool = False


# A document's plan: yields its rounds, receives each round's summaries, returns the result.
_Plan = Generator[_Round, list[Summary], DocumentSummary]


def _plan(summarizer: Summarizer, text: str, options: GenerationOptions | None, mode: str) -> _Plan:
    """The map-reduce of the module doc, without running anything: whoever drives it summarizes
    each round's pieces (one at a time, or batched with other documents' pieces)."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}; got {mode!r}")
    if not text or not text.strip():
        raise ValueError("There is no text to summarize: the input is empty.")
    limit = summarizer.max_input_tokens
    input_tokens = summarizer.count_tokens(text)
    if mode == BEGINNING or input_tokens <= limit:
        [summary] = yield _Round(1, [text], [min(input_tokens, limit)], fits=True)
        done = ChunkSummary(1, 0, 1, min(input_tokens, limit), summary)
        return DocumentSummary(summary.text, mode, (done,), summary.input_tokens, summary.truncated, summary.seconds)

    target = summarizer.max_summary_tokens(options)
    done: list[ChunkSummary] = []
    pieces = split_text(text, summarizer.tokenizer, limit)
    size = input_tokens
    for round_ in range(1, MAX_ROUNDS + 1):
        tokens = [summarizer.count_tokens(piece) for piece in pieces]
        summaries = yield _Round(round_, pieces, tokens)
        done += [ChunkSummary(round_, i, len(pieces), tokens[i], s) for i, s in enumerate(summaries)]
        combined = "\n\n".join(s.text for s in summaries if s.text.strip())
        combined_size = summarizer.count_tokens(combined)
        if len(pieces) == 1 or combined_size <= target or combined_size >= size or not combined.strip():
            break
        size = combined_size
        pieces = split_text(combined, summarizer.tokenizer, limit)
    seconds = sum(c.summary.seconds for c in done)
    return DocumentSummary(combined, mode, tuple(done), input_tokens, False, seconds)


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
    plan = _plan(summarizer, text, options, mode)
    try:
        round_ = next(plan)
        while True:
            round_ = plan.send(_summarize_round(summarizer, round_, options, on_chunk, on_text, should_stop))
    except StopIteration as end:
        return end.value


def _summarize_round(summarizer, round_: _Round, options, on_chunk, on_text, should_stop) -> list[Summary]:
    summaries: list[Summary] = []
    count = len(round_.pieces)
    for index, (piece, tokens) in enumerate(zip(round_.pieces, round_.tokens)):
        if not round_.fits and should_stop is not None and should_stop():
            raise GenerationCancelled("Summarizing was cancelled.")
        _notify(on_chunk, ChunkSummary(round_.round, index, count, tokens))
        texts = [s.text for s in summaries]
        partial = on_text if round_.fits or on_text is None else _with_finished_parts(on_text, texts)
        summary = summarizer.summarize(piece, options, on_text=partial, should_stop=should_stop)
        summaries.append(summary)
        _notify(on_chunk, ChunkSummary(round_.round, index, count, tokens, summary))
    return summaries


@dataclass
class _Document:
    index: int
    plan: _Plan
    round: _Round
    summaries: list[Summary | None] = field(default_factory=list)
    waiting: int = 0  # pieces of the round not yet summarized


def summarize_documents(
    summarizer: Summarizer,
    documents: Iterable[str | Callable[[], str]],
    options: GenerationOptions | None = None,
    *,
    mode: str = WHOLE,
    batch_size: int = DEFAULT_BATCH_SIZE,
    on_chunk: Callable[[int, ChunkSummary], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> Iterator[tuple[int, DocumentSummary | Exception]]:
    """Summarize many documents, their pieces pooled into generate() calls of ``batch_size``.

    ``documents`` are texts, or callables that read one (called when the document's turn comes,
    so a folder of thousands is not held in memory). Yields ``(index, result)`` as each document
    is done, in the order they finish: ``result`` is its ``DocumentSummary`` (exactly what
    ``summarize_document`` gives it alone) or the exception that made it fail (reading it, an
    empty text, or a failure while its pieces were summarized). ``on_chunk(index, chunk)``: as in
    ``summarize_document``, when a call with a piece of document ``index`` starts and when it is
    done. ``should_stop`` is checked between calls and between decoder steps; it raises
    ``GenerationCancelled``. Options the model cannot take raise ValueError before anything runs.
    """
    check_batch_size(batch_size)
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}; got {mode!r}")
    summarizer.max_summary_tokens(options)
    inputs = enumerate(documents)
    pending: list[tuple[_Document, int]] = []  # (document, piece index), waiting for a call
    finished: list[tuple[int, DocumentSummary | Exception]] = []
    window = batch_size * WINDOW_CALLS
    exhausted = False
    while True:
        while not exhausted and len(pending) < window:  # read documents until a window of pieces waits
            item = next(inputs, None)
            if item is None:
                exhausted = True
                break
            index, document = item
            try:
                text = document() if callable(document) else document
                plan = _plan(summarizer, text, options, mode)
                pending += _start_round(_Document(index, plan, next(plan)))
            except Exception as e:  # noqa: BLE001 - this document fails; the others go on
                finished.append((index, e))
        yield from finished
        finished.clear()
        if not pending:
            return
        if should_stop is not None and should_stop():
            raise GenerationCancelled("Summarizing was cancelled.")
        pending.sort(key=lambda p: p[0].round.tokens[p[1]])  # longest last
        group, pending = pending[-batch_size:], pending[:-batch_size]
        for result in _run_group(summarizer, group, options, on_chunk, should_stop):
            document, piece, summary = result
            if document.waiting < 0:  # the document failed on an earlier piece of this group
                continue
            if isinstance(summary, Exception):
                document.waiting = -1
                document.plan.close()
                pending = [p for p in pending if p[0] is not document]
                finished.append((document.index, summary))
                continue
            document.summaries[piece] = summary
            document.waiting -= 1
            if document.waiting == 0:
                try:
                    document.round = document.plan.send(document.summaries)
                    pending += _start_round(document)
                except StopIteration as end:
                    finished.append((document.index, end.value))
                except Exception as e:  # noqa: BLE001
                    finished.append((document.index, e))


def _start_round(document: _Document) -> list[tuple[_Document, int]]:
    count = len(document.round.pieces)
    document.summaries, document.waiting = [None] * count, count
    return [(document, piece) for piece in range(count)]


def _run_group(summarizer, group, options, on_chunk, should_stop):
    """[(document, piece, Summary or the exception)] for one call's pieces. If the call fails
    (not by cancelling), each piece is tried alone, so only the one at fault fails."""
    def chunk(document, piece, summary=None):
        r = document.round
        return ChunkSummary(r.round, piece, len(r.pieces), r.tokens[piece], summary)

    for document, piece in group:
        _notify(on_chunk, document.index, chunk(document, piece))
    texts = [document.round.pieces[piece] for document, piece in group]
    try:
        summaries: list = summarizer.summarize_batch(texts, options, should_stop=should_stop)
    except GenerationCancelled:
        raise
    except Exception:  # noqa: BLE001 - find which piece: each alone
        summaries = []
        for text in texts:
            try:
                [summary] = summarizer.summarize_batch([text], options, should_stop=should_stop)
            except GenerationCancelled:
                raise
            except Exception as e:  # noqa: BLE001
                summary = e
            summaries.append(summary)
    for (document, piece), summary in zip(group, summaries):
        if not isinstance(summary, Exception):
            _notify(on_chunk, document.index, chunk(document, piece, summary))
        yield document, piece, summary


def _with_finished_parts(on_text: Callable[[str], None], texts: list[str]) -> Callable[[str], None]:
    """``on_text`` for the part being summarized: the finished parts' summaries, then its best text so
    far, a paragraph each (``texts`` grows as parts finish)."""

    def show(best: str) -> None:
        on_text("\n\n".join(t for t in [*texts, best] if t.strip()))

    return show


def _notify(callback, *values) -> None:
    if callback is not None:
        callback(*values)
