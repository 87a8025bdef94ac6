"""A `DecoderState` backed by a real `transformers.PegasusForConditionalGeneration`.

The reference the parity tests drive `engine.generation.generate` with: it runs the encoder once,
repeats its output `expand` times per input (as transformers' `_expand_inputs_for_generation`),
and steps the decoder with an `EncoderDecoderCache`, exactly as `model.generate()` does.
Test-only: the engine itself never imports torch.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

import numpy as np
import torch
from transformers import PegasusForConditionalGeneration
from transformers.cache_utils import DynamicCache, EncoderDecoderCache
from transformers.modeling_outputs import BaseModelOutput

# transformers 5 renamed the decoder cache's argument and output field from ``past_key_values`` to
# ``cache`` (5.25 warns that the old name goes in 5.40); the pin allows releases on either side.
_CACHE_ARGUMENT = "cache" if "cache" in inspect.signature(PegasusForConditionalGeneration.forward).parameters \
    else "past_key_values"


class TorchDecoderState:
    """Rows = batch * expand; row i belongs to input i // expand."""

    def __init__(
        self,
        model: PegasusForConditionalGeneration,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        expand: int,
    ) -> None:
        self.model = model
        with torch.no_grad():
            encoded = model.get_encoder()(
                input_ids=input_ids, attention_mask=attention_mask, return_dict=True
            )
        hidden = encoded.last_hidden_state.repeat_interleave(expand, dim=0)  # (rows, src, d_model)
        self.encoder_outputs = BaseModelOutput(last_hidden_state=hidden)
        self.attention_mask = attention_mask.repeat_interleave(expand, dim=0)  # (rows, src)
        self.cache = EncoderDecoderCache(DynamicCache(), DynamicCache())
        self.steps = 0
        self.reorders: list[np.ndarray] = []

    def step(self, input_ids: np.ndarray) -> np.ndarray:
        assert input_ids.dtype == np.int64 and input_ids.shape == (self.attention_mask.shape[0], 1)
        with torch.no_grad():
            out = self.model(
                encoder_outputs=self.encoder_outputs,
                attention_mask=self.attention_mask,
                decoder_input_ids=torch.from_numpy(input_ids.copy()),
                **{_CACHE_ARGUMENT: self.cache},
                use_cache=True,
                return_dict=True,
            )
        self.cache = getattr(out, _CACHE_ARGUMENT)
        self.steps += 1
        return out.logits[:, -1].to(torch.float32).numpy().copy()  # (rows, vocab)

    def reorder(self, rows: np.ndarray) -> None:
        assert rows.dtype == np.int64 and rows.shape == (self.attention_mask.shape[0],)
        self.reorders.append(rows.copy())
        self.cache.reorder_cache(torch.from_numpy(rows.copy()))


def state_factory(
    model: PegasusForConditionalGeneration,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
) -> tuple[Callable[[int], TorchDecoderState], list[TorchDecoderState]]:
    """Returns make_state(expand) and the list of states it made (for counting calls and steps)."""
    made: list[TorchDecoderState] = []

    def make_state(expand: int) -> TorchDecoderState:
        state = TorchDecoderState(model, input_ids, attention_mask, expand)
        made.append(state)
        return state

    return make_state, made
