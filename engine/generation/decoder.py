"""The decoder the loop drives, seen from the loop: a stateful next-token-logits function.

This module knows nothing about ONNX, torch or tokenization: a `DecoderState` may be backed by an
onnxruntime session, a torch model or a test double.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import numpy as np

from ..errors import GenerationCancelled

__all__ = ["DecoderState", "MakeState", "raise_if_cancelled"]


class DecoderState(Protocol):
    """One generation's decoder: the encoder output it attends to and its key/value cache."""

    def step(self, input_ids: np.ndarray) -> np.ndarray:
        """input_ids: (rows, 1) int64, the newest token of every row. Returns the next-token
        logits (rows, vocab) float32 and advances the key/value cache by one position."""
        ...

    def reorder(self, rows: np.ndarray) -> None:
        """Beam search: new cache row i becomes old row rows[i] (rows is int64, length = current
        rows)."""
        ...


# make_state(expand) -> a state whose rows are batch_size * expand: every input repeated
# `expand` times consecutively (as torch.repeat_interleave).
MakeState = Callable[[int], DecoderState]


def raise_if_cancelled(should_stop: Callable[[], bool] | None, step: int) -> None:
    """Checked before every decoder step."""
    if should_stop is not None and should_stop():
        raise GenerationCancelled(
            f"Generation was cancelled before decoder step {step + 1}, as requested; "
            "no summary was produced. Start it again to get one."
        )
