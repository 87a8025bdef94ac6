"""A numpy stand-in for the decoder the loop drives (``engine.generation.DecoderState`` and the
drafting ``DraftVerifier``): no onnxruntime, no torch, no exported model; a step takes microseconds.

``FakeModel.logits(source, history)`` is a fixed function of a row's input (``source``) and of
every token the row was fed so far (``history``, decoder start token first), so a loop that
reorders, trims or mixes up its rows' caches gets different logits, and different tokens, from
it. Its logits favour copying the source in order (so drafts are accepted), and eos more as a
row grows (so rows end at different steps). ``FakeState`` keeps each row's history as its "key/
value cache" and records every history it computed logits for (``seen``).
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence

import numpy as np

START, EOS, PAD = 0, 1, 0  # as Pegasus: the decoder starts with the pad id


class FakeModel:
    """Next-token logits over ``vocab`` ids from (source, history); deterministic for a seed."""

    def __init__(self, vocab: int = 12, seed: int = 0, *, copy: float = 2.5, eos_growth: float = 0.25) -> None:
        rng = np.random.default_rng(seed)
        self.vocab, self.seed, self.copy, self.eos_growth = vocab, seed, copy, eos_growth
        self.by_last = rng.normal(0.0, 1.0, size=(vocab, vocab)).astype(np.float32)  # (last token, vocab)
        self.by_last[:, EOS] -= 2.0  # eos is rare at first
        self._known: dict[tuple[tuple[int, ...], tuple[int, ...]], np.ndarray] = {}

    def logits(self, source: Sequence[int], history: Sequence[int]) -> np.ndarray:
        """(vocab,) float32: a term per last token, noise drawn from the whole history, a bonus for
        the source's next token (as if copying it), and an eos term that grows with the length."""
        key = (tuple(int(t) for t in source), tuple(int(t) for t in history))
        if key not in self._known:
            self._known[key] = self._compute(*key)
        return self._known[key].copy()

    def _compute(self, source: tuple[int, ...], history: tuple[int, ...]) -> np.ndarray:
        key = np.asarray([self.seed, len(source), *source, -1, *history], dtype=np.int64).tobytes()
        noise = np.random.default_rng(zlib.crc32(key)).normal(0.0, 1.0, size=self.vocab)
        out = self.by_last[history[-1]] + noise.astype(np.float32)
        position = len(history) - 1  # generated tokens so far
        if position < len(source):
            out[source[position]] += self.copy
        out[EOS] += self.eos_growth * position
        return out.astype(np.float32)


class FakeState:
    """Rows = len(sources) * expand; row i belongs to input i // expand. Its cache is each row's
    history; ``run`` and ``keep`` make it a drafting ``DraftVerifier`` too."""

    def __init__(self, model: FakeModel, sources: Sequence[Sequence[int]], expand: int) -> None:
        self.model = model
        self.sources = [tuple(int(t) for t in s) for s in sources for _ in range(expand)]
        self.histories: list[list[int]] = [[] for _ in self.sources]
        self.seen: set[tuple[tuple[int, ...], tuple[int, ...]]] = set()  # (source, history)
        self.steps = self.runs = 0
        self.reorders: list[np.ndarray] = []
        self._before_run: list[int] | None = None

    def _advance(self, row: int, token: int) -> np.ndarray:
        self.histories[row].append(int(token))
        key = (self.sources[row], tuple(self.histories[row]))
        self.seen.add(key)
        return self.model.logits(*key)

    def step(self, input_ids: np.ndarray) -> np.ndarray:
        assert input_ids.dtype == np.int64 and input_ids.shape == (len(self.sources), 1), input_ids.shape
        self.steps += 1
        self._before_run = None
        return np.stack([self._advance(r, input_ids[r, 0]) for r in range(len(self.sources))])  # (rows, vocab)

    def reorder(self, rows: np.ndarray) -> None:
        assert rows.dtype == np.int64 and rows.shape == (len(self.sources),), rows
        self.reorders.append(rows.copy())
        self.sources = [self.sources[i] for i in rows]
        self.histories = [list(self.histories[i]) for i in rows]

    def run(self, input_ids: np.ndarray) -> np.ndarray:
        rows, new = input_ids.shape
        assert input_ids.dtype == np.int64 and rows == len(self.sources), input_ids.shape
        self.runs += 1
        self._before_run = [len(h) for h in self.histories]
        return np.stack(
            [np.stack([self._advance(r, input_ids[r, j]) for j in range(new)]) for r in range(rows)]
        )  # (rows, new, vocab)

    def keep(self, count: int) -> None:
        assert self._before_run is not None, "keep() without a run() before it"
        for r, before in enumerate(self._before_run):
            del self.histories[r][before + int(count) :]
        self._before_run = None


def fake_states(model: FakeModel, sources: Sequence[Sequence[int]]):
    """make_state(expand) for the loop, and the list of states it made."""
    made: list[FakeState] = []

    def make_state(expand: int) -> FakeState:
        made.append(FakeState(model, sources, expand))
        return made[-1]

    return make_state, made
