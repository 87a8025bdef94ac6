"""The decoding loop: greedy search and sampling here, beam search in `beam.py`.

A nanochat-style loop: make the decoder state once, feed the decoder start token, then feed the
chosen tokens back one step at a time. A small pure function, `pick_next_tokens`, chooses them.
Output matches transformers 5's `generate()` `sequences`, token for token.

This module knows nothing about ONNX, torch or tokenization: it drives an abstract `DecoderState`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from .beam import beam_search
from .decoder import MakeState, raise_if_cancelled
from .drafting import DraftStats, greedy_with_drafts
from .options import GenerationConfig
from .processors import process_scores, softmax

__all__ = ["generate", "pick_next_tokens"]


def generate(
    make_state: MakeState,
    *,
    batch_size: int,
    config: GenerationConfig,
    on_token: Callable[[np.ndarray], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    source_ids: Sequence[np.ndarray] | None = None,
    draft_stats: DraftStats | None = None,
) -> np.ndarray:
    """Decode `batch_size` inputs; returns (batch_size * num_return_sequences, length) int64.

    Rows are ordered as transformers': the sequences of input 0, then of input 1, ... Each starts
    with the decoder start token; rows that end early are padded (see `beam.py` for the beam
    search padding value). `on_token` receives the current best sequence of each input,
    (batch_size, cur_len) int64, after every step. `should_stop` is checked before every decoder
    step; when it returns True, `engine.errors.GenerationCancelled` is raised.

    With `config.drafts` (greedy only), tokens are drafted from `source_ids` (each input's ids,
    without padding) and verified several per decoder run (`drafting.py`): the same sequences,
    fewer runs; the state must then also offer `run` and `keep`. `on_token` is then called after
    every run, which may have added several tokens. `draft_stats` receives the counts.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"`batch_size` must be an integer >= 1, got {batch_size!r}.")
    if config.drafts:
        return greedy_with_drafts(make_state, batch_size, config, source_ids, on_token, should_stop, draft_stats)
    if config.is_beam_search:
        return beam_search(
            make_state,
            batch_size=batch_size,
            config=config,
            on_token=on_token,
            should_stop=should_stop,
        )
    return _greedy_or_sample(make_state, batch_size, config, on_token, should_stop)


def pick_next_tokens(scores: np.ndarray, rng: np.random.Generator | None) -> np.ndarray:
    """(rows, vocab) processed scores -> (rows,) int64 token ids.

    Greedy (`rng` None): the first highest score, as torch.argmax. Sampling: a draw from
    softmax(scores) by the exponential race argmax(p / Exp(1)), which never picks a -inf score.
    """
    if rng is None:
        return scores.argmax(axis=-1).astype(np.int64)
    probs = softmax(scores)  # (rows, vocab) float64
    return (probs / rng.exponential(size=probs.shape)).argmax(axis=-1).astype(np.int64)


def _greedy_or_sample(
    make_state: MakeState,
    batch_size: int,
    config: GenerationConfig,
    on_token: Callable[[np.ndarray], None] | None,
    should_stop: Callable[[], bool] | None,
) -> np.ndarray:
    """transformers' `_sample`: processors see raw logits; finished rows get pad tokens."""
    expand = config.num_return_sequences  # 1 for greedy, validated
    rng = np.random.default_rng(config.seed) if config.do_sample else None
    rows = batch_size * expand
    sequences = np.full((rows, 1), config.decoder_start_token_id, dtype=np.int64)  # (rows, 1)
    unfinished = np.ones(rows, dtype=bool)

    state = make_state(expand)
    for step in range(config.max_length - 1):
        raise_if_cancelled(should_stop, step)
        logits = state.step(sequences[:, -1:])  # (rows, vocab)
        scores = process_scores(config, sequences, logits.astype(np.float32, copy=False))
        next_tokens = pick_next_tokens(scores, rng)  # (rows,)
        next_tokens = np.where(unfinished, next_tokens, config.pad_token_id)
        sequences = np.concatenate([sequences, next_tokens[:, None]], axis=1)  # (rows, cur_len)
        unfinished &= next_tokens != config.eos_token_id
        if on_token is not None:
            on_token(sequences[::expand].copy())  # the first sequence of each input
        if not unfinished.any():
            break
    return sequences
