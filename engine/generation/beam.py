"""Beam search (and beam sampling), a numpy port of transformers 5's vectorised `_beam_search`.

Per input it keeps `num_beams` running hypotheses and `num_beams` finished ones, in fixed-shape
arrays of length `max_length`. Each step:

1. log_softmax the logits, run the processors on those log-probs, add each beam's running score;
2. take the top `2 * num_beams` continuations over all beams (or sample them, without
   replacement, when do_sample): twice as many as needed, so that `num_beams` survive even if
   every beam picked eos;
3. the best `num_beams` that did not just finish become the running beams (the cache is
   reordered to follow them);
4. the candidates among the top `num_beams` that just finished (eos, or max_length reached)
   compete with the finished ones on `score / new_tokens ** length_penalty`;
5. stop when no running beam can still beat a finished one (per `early_stopping`), when
   `early_stopping=True` and every input has `num_beams` finished hypotheses, or when every
   candidate finished.

Scores are float32 with transformers' -1e9 sentinels, so that ranking (and its ties) follow it.
This module knows nothing about ONNX, torch or tokenization.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .decoder import MakeState, raise_if_cancelled
from .options import PROMPT_LENGTH, GenerationConfig
from .processors import log_softmax, process_scores, softmax

__all__ = ["beam_search"]

_SENTINEL = np.float32(-1.0e9)  # transformers' "never pick this" score


def beam_search(
    make_state: MakeState,
    *,
    batch_size: int,
    config: GenerationConfig,
    on_token: Callable[[np.ndarray], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> np.ndarray:
    """Returns (batch_size * num_return_sequences, length) int64, best hypothesis first.

    Finished hypotheses shorter than the output are padded with `pad_token_id`, unless that id is
    0, in which case transformers pads with `eos_token_id` (its `pad or eos` on a tensor treats
    id 0 as false): Pegasus beam outputs are padded with 1.
    """
    b, k, max_len = batch_size, config.num_beams, config.max_length
    n_keep = 2 * k  # max(2, 1 + number of eos ids) * num_beams, with one eos id
    is_top = np.arange(n_keep) < k  # (n_keep,): only these may enter the finished set
    fill = config.pad_token_id or config.eos_token_id
    rng = np.random.default_rng(config.seed) if config.do_sample else None

    running = np.full((b, k, max_len), fill, dtype=np.int64)  # (batch, beams, max_len)
    running[:, :, :PROMPT_LENGTH] = config.decoder_start_token_id
    running_scores = np.zeros((b, k), dtype=np.float32)  # summed log-probs
    running_scores[:, 1:] = _SENTINEL  # step 1: only beam 0 (all beams are equal) may expand
    running_origin = np.full((b, k, max_len - PROMPT_LENGTH), -1, dtype=np.int64)
    # origin[..., t] = flat row (input * num_beams + beam) that produced generated token t

    done = running.copy()  # (batch, beams, max_len) finished hypotheses, best first
    done_scores = np.full((b, k), _SENTINEL, dtype=np.float32)  # length-penalised
    done_origin = running_origin.copy()
    is_done = np.zeros((b, k), dtype=bool)
    can_improve = np.ones((b, 1), dtype=bool)  # is_early_stop_heuristic_unsatisfied

    state = make_state(k)
    cur_len = PROMPT_LENGTH
    while True:
        raise_if_cancelled(should_stop, cur_len - PROMPT_LENGTH)
        # 1. Scores of every continuation: processed log-probs plus the beam's running score.
        flat = running[:, :, :cur_len].reshape(b * k, cur_len)  # (batch*beams, cur_len)
        logits = state.step(flat[:, -1:])  # (batch*beams, vocab)
        log_probs = process_scores(config, flat, log_softmax(logits), min_tokens_to_keep=2)
        vocab = log_probs.shape[-1]
        totals = log_probs.reshape(b, k, vocab) + running_scores[:, :, None]
        totals = totals.reshape(b, k * vocab)  # (batch, beams*vocab)

        # 2. Top continuations, best first (sampled: in draw order).
        if rng is None:
            picked = _top_indices(totals, n_keep)  # (batch, n_keep)
        else:
            picked = _top_indices(softmax(totals) / rng.exponential(size=totals.shape), n_keep)
        cand_scores = np.take_along_axis(totals, picked, axis=1)  # (batch, n_keep)
        src_beam, tokens = np.divmod(picked, vocab)  # (batch, n_keep) each
        cand = np.take_along_axis(running, src_beam[:, :, None], axis=1)  # (batch, n_keep, max_len)
        cand[:, :, cur_len] = tokens
        cand_origin = np.take_along_axis(running_origin, src_beam[:, :, None], axis=1)
        cand_origin[:, :, cur_len - PROMPT_LENGTH] = src_beam + np.arange(b)[:, None] * k
        hits = (tokens == config.eos_token_id) | (cur_len + 1 >= max_len)  # (batch, n_keep)

        # 3. Running beams for the next step: the best that did not finish.
        live_scores = cand_scores + hits.astype(np.float32) * _SENTINEL
        best = _top_indices(live_scores, k)  # (batch, beams)
        running = np.take_along_axis(cand, best[:, :, None], axis=1)
        running_scores = np.take_along_axis(live_scores, best, axis=1)
        running_origin = np.take_along_axis(cand_origin, best[:, :, None], axis=1)

        # 4. Finished set: merge the newly finished top candidates, keep the best num_beams.
        new_tokens = cur_len + 1 - PROMPT_LENGTH
        scored = cand_scores / (new_tokens**config.length_penalty)
        is_full = is_done.all(axis=-1, keepdims=True) & (config.early_stopping is True)
        scored = scored + is_full.astype(np.float32) * _SENTINEL
        scored = scored + (~can_improve).astype(np.float32) * _SENTINEL
        just_done = hits & is_top[None, :]
        scored = scored + (~just_done).astype(np.float32) * _SENTINEL
        merged_scores = np.concatenate([done_scores, scored], axis=1)  # (batch, beams + n_keep)
        keep = _top_indices(merged_scores, k)  # (batch, beams)
        done = np.take_along_axis(np.concatenate([done, cand], axis=1), keep[:, :, None], axis=1)
        done_scores = np.take_along_axis(merged_scores, keep, axis=1)
        done_origin = np.take_along_axis(
            np.concatenate([done_origin, cand_origin], axis=1), keep[:, :, None], axis=1
        )
        is_done = np.take_along_axis(np.concatenate([is_done, just_done], axis=1), keep, axis=1)

        # 5. Stop, or follow the running beams with the cache.
        cur_len += 1
        can_improve = _can_still_improve(
            can_improve, running_scores, done_scores, is_done, cur_len, config
        )
        if on_token is not None:
            best_now = _best_so_far(
                running, running_scores, done, done_scores, is_done, cur_len, config
            )
            on_token(best_now)  # (batch, cur_len)
        all_full = bool(is_done.all()) and config.early_stopping is True
        if not can_improve.any() or all_full or hits.all():
            break
        state.reorder(running_origin[:, :, cur_len - 1 - PROMPT_LENGTH].reshape(b * k))

    n_ret = config.num_return_sequences
    sequences = done[:, :n_ret].reshape(b * n_ret, max_len)
    generated = (done_origin[:, :n_ret] != -1).sum(axis=-1).max()
    return sequences[:, : PROMPT_LENGTH + generated]


_BOUND_STRIDE = 64  # every 64th score is read to bound the k-th highest (see _top_candidates)


def _top_indices(scores: np.ndarray, k: int) -> np.ndarray:
    """(rows, n) -> (rows, k) indices of the k highest scores, best first (ties: lower index)."""
    n = scores.shape[-1]
    if n >= _BOUND_STRIDE * 4 * k:  # beams x vocab scores: bound the candidates first
        candidates = np.stack([_top_candidates(row, k) for row in scores])
    elif k < n:
        candidates = np.argpartition(-scores, k - 1, axis=-1)[:, :k]  # (rows, k), unordered
    else:
        candidates = np.broadcast_to(np.arange(n), scores.shape)
    values = np.take_along_axis(scores, candidates, axis=-1)
    order = np.lexsort((candidates, -values), axis=-1)  # by score descending, then index
    return np.take_along_axis(candidates, order, axis=-1)


def _top_candidates(row: np.ndarray, k: int) -> np.ndarray:
    """(n,) -> (k,) indices of the k highest scores, unordered (ties: lower index).

    The k-th highest score of any subset is at most the row's k-th highest, so every score at or
    above a strided sample's k-th highest is a candidate: a few hundred of the beams x vocab scores,
    which one comparison finds far faster than a partition of the whole row does.
    """
    sample = row[::_BOUND_STRIDE]
    bound = np.partition(sample, len(sample) - k)[len(sample) - k]
    indices = np.flatnonzero(row >= bound)
    return indices[np.lexsort((indices, -row[indices]))[:k]]


def _can_still_improve(
    can_improve: np.ndarray,
    running_scores: np.ndarray,
    done_scores: np.ndarray,
    is_done: np.ndarray,
    cur_len: int,
    config: GenerationConfig,
) -> np.ndarray:
    """transformers' `_check_early_stop_heuristic`: (batch, 1) bool, sticky once False.

    The best running beam is judged at its current length (early_stopping False or True) or, with
    "never" and a positive length_penalty, at max_length, the longest (so best) it could become.
    The worst finished score counts only once all num_beams finished slots are filled.
    """
    if config.early_stopping == "never" and config.length_penalty > 0.0:
        best_length = config.max_length - PROMPT_LENGTH
    else:
        best_length = cur_len - PROMPT_LENGTH
    best_running = running_scores[:, :1] / (best_length**config.length_penalty)  # (batch, 1)
    worst_done = np.where(is_done, done_scores.min(axis=1, keepdims=True), _SENTINEL)
    return can_improve & (best_running > worst_done).any(axis=-1, keepdims=True)


def _best_so_far(
    running: np.ndarray,
    running_scores: np.ndarray,
    done: np.ndarray,
    done_scores: np.ndarray,
    is_done: np.ndarray,
    cur_len: int,
    config: GenerationConfig,
) -> np.ndarray:
    """(batch, cur_len): per input, the best finished hypothesis if it scores at least as well as
    the best running beam (length-penalised at its current length), else that running beam."""
    running_best = running_scores[:, 0] / (
        (cur_len - PROMPT_LENGTH) ** config.length_penalty
    )  # (batch,)
    use_done = is_done[:, 0] & (done_scores[:, 0] >= running_best)
    return np.where(use_done[:, None], done[:, 0, :cur_len], running[:, 0, :cur_len])
