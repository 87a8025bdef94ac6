"""Greedy search with copy drafting: several tokens checked in one decoder run, none changed.

A summary repeats spans of its article. After each run, every row looks up the longest recent
n-gram of its output (``max_matching_ngram_size`` tokens down to 1) in its article's ids, then in
its own output, and drafts the tokens that followed it there (at most ``prompt_lookup_num_tokens``;
transformers' prompt lookup, which for an encoder-decoder searches only the output). One decoder
run then takes the row's last token plus its draft and returns the logits after each of them.
Walking those positions in order, with every processor applied exactly as a plain step would
(the sequence so far, its length), greedy's choice is taken at each one: while it equals the next
drafted token the draft is accepted, and the first choice that differs (or the one after the whole
draft) is greedy's own next token. So a run adds between 1 and draft + 1 tokens, and they are the
tokens plain greedy search would have produced, one step at a time.

Each row drafts and verifies its own tokens, but the rows of a batch advance in step: after a
run, every row still writing keeps as many tokens as the one that kept fewest, and the others give
back the rest (they are drafted and verified again by the next run, so no token changes). A row
that kept more than the others would leave the others' rejected slots in the middle of their
cache, masked: their keys would then sit at other offsets than when each runs alone, the float
kernels would sum them in another order, and int8's rounding could turn those last bits into a
different near-tie, so a document's summary could depend on its batch. In step, every row's cache
is its own tokens and nothing else, and a row's logits equal, bit for bit, its logits run alone
(tests/test_drafting.py). A row that finishes keeps all its tokens. Since no row can keep more
than the shortest draft of a row still writing (plus one), the drafts are cut to that length, and
a run where some row still writing has no draft is a plain one-position step: a batch drafts only
while all its rows copy. How many tokens a row drafts adapts to what it accepted recently
(``next_draft_length``).

This module knows nothing about ONNX, torch or tokenization.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

import numpy as np

from .decoder import DecoderState, raise_if_cancelled
from .options import GenerationConfig
from .processors import process_scores

__all__ = ["DraftVerifier", "Drafter", "DraftStats", "greedy_with_drafts", "next_draft_length"]


class DraftVerifier(DecoderState, Protocol):
    """A decoder state that can also run several new tokens per row and drop rejected ones."""

    def run(self, input_ids: np.ndarray) -> np.ndarray:
        """input_ids: (rows, new) int64. Returns the logits after each, (rows, new, vocab), and
        appends all ``new`` positions to every row's cache."""
        ...

    def keep(self, count: int) -> None:
        """After ``run``: every row keeps the first ``count`` (1..new) of the positions just added."""
        ...


def next_draft_length(length: int, drafted: int, accepted: int, limit: int) -> int:
    """How many tokens a row drafts next time: more after a draft it took whole, fewer after one it
    rejected early (a wrong copy costs a longer run for nothing), never below 1 or above ``limit``."""
    if drafted == 0:
        return length
    if accepted == drafted:
        return min(limit, length + 2)
    return max(1, min(length - 1, accepted + 1))


class Drafter:
    """Proposes each row's next tokens from its article (``sources[r]``) or its own output."""

    def __init__(self, sources: Sequence[np.ndarray], max_ngram: int, max_tokens: int) -> None:
        self.max_ngram, self.max_tokens = max_ngram, max_tokens
        self.sources = [np.asarray(s, dtype=np.int64).reshape(-1) for s in sources]
        self.tables = [_first_continuations(s.tolist(), max_ngram) for s in self.sources]
        self.lengths = [max_tokens] * len(self.sources)  # each row's current draft length

    def propose(self, row: int, output: Sequence[int], room: int) -> list[int]:
        """Up to min(this row's draft length, ``room``) tokens, or none when nothing matches."""
        length = min(self.lengths[row], room)
        if length <= 0:
            return []
        source, table = self.sources[row], self.tables[row]
        for n in range(min(self.max_ngram, len(output)), 0, -1):
            recent = tuple(output[-n:])
            start = table.get(recent)
            if start is not None:
                return source[start : start + length].tolist()
            start = _first_in_output(output, recent)
            if start is not None:
                return list(output[start : start + length])
        return []

    def update(self, row: int, drafted: int, accepted: int) -> None:
        self.lengths[row] = next_draft_length(self.lengths[row], drafted, accepted, self.max_tokens)


def _first_continuations(ids: list[int], max_ngram: int) -> dict[tuple[int, ...], int]:
    """n-gram (1..max_ngram tokens) -> where the tokens after its first occurrence start, for every
    n-gram that something follows: built once per article, so a lookup is one dict access."""
    table: dict[tuple[int, ...], int] = {}
    for n in range(1, max_ngram + 1):
        for start in range(len(ids) - n):
            table.setdefault(tuple(ids[start : start + n]), start + n)
    return table


def _first_in_output(output: Sequence[int], ngram: tuple[int, ...]) -> int | None:
    """Where the tokens after the first earlier occurrence of ``ngram`` in ``output`` start (the
    occurrence at its very end, which nothing follows yet, does not count)."""
    n = len(ngram)
    ids = np.asarray(output[:-1], dtype=np.int64)  # an occurrence must be followed by a token
    if len(ids) < n:
        return None
    windows = np.lib.stride_tricks.sliding_window_view(ids, n)
    hits = np.flatnonzero((windows == np.asarray(ngram)).all(axis=1))
    return int(hits[0]) + n if len(hits) else None


class DraftStats:
    """What drafting did in one generate call: decoder runs, tokens drafted, drafted tokens kept,
    and all tokens kept (a drafted token that a row gave back to stay in step is not counted)."""

    def __init__(self) -> None:
        self.runs = self.drafted = self.accepted = self.tokens = 0


def greedy_with_drafts(
    make_state: Callable[[int], DraftVerifier],
    batch_size: int,
    config: GenerationConfig,
    sources: Sequence[np.ndarray] | None,
    on_token: Callable[[np.ndarray], None] | None,
    should_stop: Callable[[], bool] | None,
    stats: DraftStats | None = None,
) -> np.ndarray:
    """Greedy search, drafted: the same sequences as ``search._greedy_or_sample`` (greedy), padded
    alike. ``on_token`` gets the sequences so far after every decoder run (rows that advanced less
    are padded with ``pad_token_id``); ``should_stop`` is checked before every run."""
    stats = stats or DraftStats()
    sources = sources if sources is not None else [np.zeros(0, np.int64)] * batch_size
    drafter = Drafter(sources, config.max_matching_ngram_size, config.prompt_lookup_num_tokens)
    outputs = [[config.decoder_start_token_id] for _ in range(batch_size)]
    done = [False] * batch_size
    state = make_state(1)
    while not all(done):
        raise_if_cancelled(should_stop, stats.runs)
        drafts = [[] if done[r] else drafter.propose(r, outputs[r], config.max_length - len(outputs[r]) - 1)
                  for r in range(batch_size)]
        # In step, no row keeps more than the shortest draft of a row still writing, plus one: a
        # longer run would verify what no row can keep (a row with nothing to copy makes it a
        # plain step for all).
        common = min(len(drafts[r]) for r in range(batch_size) if not done[r])
        drafts = [d[:common] for d in drafts]
        width = 1 + common
        feed = np.full((batch_size, width), config.pad_token_id, dtype=np.int64)
        for r, draft in enumerate(drafts):
            feed[r, 0] = config.pad_token_id if done[r] else outputs[r][-1]
            feed[r, 1 : 1 + len(draft)] = draft
        logits = state.step(feed)[:, None] if width == 1 else state.run(feed)  # (rows, width, vocab)
        stats.runs += 1
        writing = [r for r in range(batch_size) if not done[r]]
        counts = {}
        for r in writing:
            accepted, done[r] = _accept(config, outputs[r], drafts[r], logits[r])
            counts[r] = accepted + 1
            drafter.update(r, len(drafts[r]), accepted)
            stats.drafted += len(drafts[r])
        keep = min((counts[r] for r in writing if not done[r]), default=width)
        for r in writing:
            if not done[r]:  # in step with the row that kept fewest (see the module's docstring)
                del outputs[r][len(outputs[r]) - counts[r] + keep :]
            kept = counts[r] if done[r] else keep
            stats.accepted += kept - 1
            stats.tokens += kept
        if width > 1:
            state.keep(keep)
        if on_token is not None:
            on_token(_padded(outputs, config.pad_token_id))
    return _padded(outputs, config.pad_token_id)


def _accept(config: GenerationConfig, output: list[int], draft: list[int], logits: np.ndarray) -> tuple[int, bool]:
    """Append to ``output`` greedy's tokens at positions 0..len(draft) of one row's run, stopping at
    the first that differs from the draft, at eos or at max_length. Returns (drafted tokens
    accepted, the row is finished)."""
    for j in range(len(draft) + 1):
        sequence = np.asarray(output, dtype=np.int64)[None, :]  # (1, cur_len): the prefix this position saw
        scores = process_scores(config, sequence, logits[j : j + 1].astype(np.float32, copy=False))
        token = int(scores[0].argmax())  # the first highest score, as torch.argmax
        output.append(token)
        finished = token == config.eos_token_id or len(output) >= config.max_length
        if finished or j == len(draft) or token != draft[j]:
            return j, finished
    raise AssertionError("unreachable: the last position always stops")


def _padded(outputs: list[list[int]], pad: int) -> np.ndarray:
    longest = max(len(o) for o in outputs)
    out = np.full((len(outputs), longest), pad, dtype=np.int64)
    for r, o in enumerate(outputs):
        out[r, : len(o)] = o
    return out
