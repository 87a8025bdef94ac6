"""Next-token score processors: numpy ports of transformers 5's logits processors and warpers.

Each processor is a pure function `(sequences, scores, ...) -> new scores` on
`sequences: (rows, cur_len) int64` (decoder start token first) and `scores: (rows, vocab) float32`;
none mutates its inputs. `process_scores` applies the enabled ones in the order of
`GenerationMixin._get_logits_processor`. Greedy and sampling feed it raw logits; beam search feeds
it log-softmax scores, exactly as transformers does.

This module knows nothing about models or tokens beyond their integer ids.
"""

from __future__ import annotations

import numpy as np

from .options import GenerationConfig

__all__ = [
    "ban_repeated_ngrams",
    "force_token",
    "keep_top_k",
    "keep_top_p",
    "log_softmax",
    "penalize_repetition",
    "process_scores",
    "scale_temperature",
    "softmax",
    "suppress_token",
]

NEG_INF = np.float32(-np.inf)


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """(rows, vocab) float32 -> (rows, vocab) float32, as torch.log_softmax (x - max - log sum exp)."""
    logits = logits.astype(np.float32, copy=False)
    shifted = logits - logits.max(axis=-1, keepdims=True)  # (rows, vocab), a new array
    # In place: one (rows, vocab) array fewer per step (6 MB at beam 4 of 4 inputs), same arithmetic.
    total = np.exp(shifted).sum(axis=-1, keepdims=True, dtype=np.float32)
    shifted -= np.log(total)
    return shifted


def softmax(scores: np.ndarray) -> np.ndarray:
    """(rows, n) scores -> (rows, n) float64 probabilities; -inf scores get probability 0."""
    shifted = scores.astype(np.float64) - scores.max(axis=-1, keepdims=True)
    weights = np.exp(shifted)
    return weights / weights.sum(axis=-1, keepdims=True)


def penalize_repetition(sequences: np.ndarray, scores: np.ndarray, penalty: float) -> np.ndarray:
    """Scores of tokens already in a row (start token included) are divided by `penalty` when
    positive and multiplied by it when negative (`RepetitionPenaltyLogitsProcessor`)."""
    rows = np.arange(scores.shape[0])[:, None]  # (rows, 1)
    seen = scores[rows, sequences]  # (rows, cur_len)
    out = scores.copy()
    out[rows, sequences] = np.where(seen < 0, seen * penalty, seen / penalty)
    return out


def ban_repeated_ngrams(sequences: np.ndarray, scores: np.ndarray, ngram_size: int) -> np.ndarray:
    """Forbid any token that would complete an n-gram already present in its row
    (`NoRepeatNGramLogitsProcessor`)."""
    cur_len = sequences.shape[1]
    if cur_len < ngram_size:
        return scores
    prefix = sequences[:, cur_len + 1 - ngram_size :]  # (rows, n-1)
    windows = np.lib.stride_tricks.sliding_window_view(sequences, ngram_size, axis=1)
    # windows: (rows, cur_len - n + 1, n)
    matches = (windows[..., :-1] == prefix[:, None, :]).all(axis=-1)  # (rows, windows)
    row_of, window_of = np.nonzero(matches)
    banned = windows[row_of, window_of, -1]
    keep = banned < scores.shape[1]  # ids past the output vocab cannot be generated anyway
    out = scores.copy()
    out[row_of[keep], banned[keep]] = NEG_INF
    return out


def suppress_token(scores: np.ndarray, token_id: int) -> np.ndarray:
    """Forbid `token_id` in every row (min_length / min_new_tokens do this with the eos id)."""
    out = scores.copy()
    out[:, token_id] = NEG_INF
    return out


def force_token(scores: np.ndarray, token_id: int) -> np.ndarray:
    """Every row must emit `token_id`: its score becomes 0, all others -inf
    (`ForcedEOSTokenLogitsProcessor`)."""
    out = np.full_like(scores, NEG_INF)
    out[:, token_id] = 0
    return out


def scale_temperature(scores: np.ndarray, temperature: float) -> np.ndarray:
    return scores / temperature


def keep_top_k(scores: np.ndarray, top_k: int, min_tokens_to_keep: int = 1) -> np.ndarray:
    """Keep the scores >= the k-th largest of their row (ties kept), -inf elsewhere."""
    k = min(max(top_k, min_tokens_to_keep), scores.shape[-1])
    kth_largest = -np.partition(-scores, k - 1, axis=-1)[:, k - 1 : k]  # (rows, 1)
    return np.where(scores < kth_largest, NEG_INF, scores)


def keep_top_p(scores: np.ndarray, top_p: float, min_tokens_to_keep: int = 1) -> np.ndarray:
    """Nucleus filtering: drop the least likely tokens whose cumulative probability stays
    <= 1 - top_p, always keeping the `min_tokens_to_keep` most likely (`TopPLogitsWarper`)."""
    order = np.argsort(scores, axis=-1, kind="stable")  # (rows, vocab), ascending
    sorted_scores = np.take_along_axis(scores, order, axis=-1)
    cumulative = np.cumsum(softmax(sorted_scores), axis=-1)  # (rows, vocab)
    remove_sorted = cumulative <= 1 - top_p
    remove_sorted[:, -min_tokens_to_keep:] = False
    remove = np.empty_like(remove_sorted)
    np.put_along_axis(remove, order, remove_sorted, axis=-1)
    return np.where(remove, NEG_INF, scores)


def process_scores(
    config: GenerationConfig,
    sequences: np.ndarray,
    scores: np.ndarray,
    *,
    min_tokens_to_keep: int = 1,
) -> np.ndarray:
    """Apply the processors `config` enables, in transformers' order.

    sequences: (rows, cur_len) int64, scores: (rows, vocab) float32 -> (rows, vocab) float32.
    `min_tokens_to_keep` is what the top-k / top-p warpers keep at least (beam sampling: 2).
    """
    cur_len = sequences.shape[1]
    if config.repetition_penalty != 1.0:
        scores = penalize_repetition(sequences, scores, config.repetition_penalty)
    if config.no_repeat_ngram_size > 0:
        scores = ban_repeated_ngrams(sequences, scores, config.no_repeat_ngram_size)
    # MinLength and MinNewTokensLength processors: both reduce to this once lengths are resolved.
    if cur_len < config.min_length:
        scores = suppress_token(scores, config.eos_token_id)
    if config.forced_eos_token_id is not None and cur_len == config.max_length - 1:
        scores = force_token(scores, config.forced_eos_token_id)
    if config.do_sample:
        if config.temperature != 1.0:
            scores = scale_temperature(scores, config.temperature)
        if config.top_k != 0:
            scores = keep_top_k(scores, config.top_k, min_tokens_to_keep)
        if config.top_p < 1.0:
            scores = keep_top_p(scores, config.top_p, min_tokens_to_keep)
    return scores
