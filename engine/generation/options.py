"""What a caller asks of the decoding loop, and the fully resolved settings the loop runs with.

`GenerationOptions` is the caller's request: every field may be None ("use the model's default").
`GenerationConfig.resolve` merges it over the checkpoint's defaults and transformers 5's global
defaults, the same way `transformers.GenerationMixin.generate` does, and validates the result.

This module knows nothing about models, tokenizers, ONNX or torch: token ids are plain ints.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["PROMPT_LENGTH", "GenerationConfig", "GenerationOptions"]

# The decoder prompt of an encoder-decoder model is the decoder start token alone.
PROMPT_LENGTH = 1

# transformers 5, `GenerationConfig._get_default_generation_params()`: used when neither the
# caller nor the checkpoint sets a value. `max_length` here counts *new* tokens (see resolve).
_GLOBAL_DEFAULTS: dict[str, Any] = {
    "max_length": 20,
    "min_length": 0,
    "num_beams": 1,
    "length_penalty": 1.0,
    "early_stopping": False,
    "no_repeat_ngram_size": 0,
    "num_return_sequences": 1,
    "repetition_penalty": 1.0,
    "forced_eos_token_id": None,
    "do_sample": False,
    "temperature": 1.0,
    "top_k": 50,
    "top_p": 1.0,
    "seed": None,
    "prompt_lookup_num_tokens": 0,  # transformers' None: no drafting
    "max_matching_ngram_size": 2,  # transformers' default when drafting
}
_FLOAT_FIELDS = ("length_penalty", "repetition_penalty", "temperature", "top_p")


@dataclass(frozen=True)
class GenerationOptions:
    """What a caller asks for. None means: take the model's generation_config.json default
    (or transformers' default)."""

    max_length: int | None = None
    max_new_tokens: int | None = None
    min_length: int | None = None
    min_new_tokens: int | None = None
    num_beams: int | None = None
    length_penalty: float | None = None
    early_stopping: bool | str | None = None  # True, False or "never", as transformers
    no_repeat_ngram_size: int | None = None
    num_return_sequences: int | None = None
    repetition_penalty: float | None = None
    forced_eos_token_id: int | None = None
    do_sample: bool | None = None
    temperature: float | None = None
    top_k: int | None = None
    top_p: float | None = None
    seed: int | None = None
    # Copy drafting (greedy only; see drafting.py): the most tokens drafted per decoder run (0: off)
    # and the longest n-gram of the output looked up in the article. The tokens never change.
    prompt_lookup_num_tokens: int | None = None
    max_matching_ngram_size: int | None = None


@dataclass(frozen=True)
class GenerationConfig:
    """Resolved, validated settings. Lengths count the decoder start token, as transformers'.

    `forced_eos_token_id=None` means no token is forced; `seed=None` means fresh OS entropy.
    Construction validates every field and raises ValueError listing the accepted values.
    """

    max_length: int
    min_length: int
    num_beams: int
    length_penalty: float
    early_stopping: bool | str
    no_repeat_ngram_size: int
    num_return_sequences: int
    repetition_penalty: float
    forced_eos_token_id: int | None
    do_sample: bool
    temperature: float
    top_k: int
    top_p: float
    seed: int | None
    decoder_start_token_id: int
    eos_token_id: int
    pad_token_id: int
    prompt_lookup_num_tokens: int = 0
    max_matching_ngram_size: int = 2

    @property
    def drafts(self) -> bool:
        """Copy drafting is on: asked for, and the search is greedy (with beams or sampling it is
        ignored, with a warning, as transformers does for beams)."""
        return self.prompt_lookup_num_tokens > 0 and self.num_beams == 1 and not self.do_sample

    @property
    def max_new_tokens(self) -> int:
        return self.max_length - PROMPT_LENGTH

    @property
    def min_new_tokens(self) -> int:
        return max(self.min_length - PROMPT_LENGTH, 0)

    @property
    def is_beam_search(self) -> bool:
        return self.num_beams > 1

    def __post_init__(self) -> None:
        for name in _FLOAT_FIELDS:  # accept ints (length_penalty=1) but store floats
            object.__setattr__(self, name, _as_float(name, getattr(self, name)))
        _validate(self)

    @classmethod
    def resolve(
        cls, options: GenerationOptions, model_defaults: Mapping[str, Any]
    ) -> GenerationConfig:
        """Merge `options` over `model_defaults` over transformers' global defaults.

        `model_defaults` is the checkpoint's generation_config.json merged over the
        generation-relevant keys of config.json. Besides the option names it may hold
        `decoder_start_token_id` (else `bos_token_id`), `eos_token_id` (an int or a one-element
        list), `pad_token_id` (else the eos id) and `max_position_embeddings` (caps the default
        max_length, as transformers does).

        Lengths follow `GenerationMixin._prepare_generated_length`: `max_new_tokens`, from the
        options or the defaults, wins over `max_length` and becomes `max_length = 1 +
        max_new_tokens`; with neither set, `max_length = 1 + 20`. Likewise `min_new_tokens`
        wins over `min_length`. A default minimum longer than the maximum is cut to it.
        """

        def pick(name: str) -> Any:
            value = getattr(options, name)
            if value is None:
                value = model_defaults.get(name)
            if value is None:
                value = _GLOBAL_DEFAULTS.get(name)
            return value

        max_length = _resolve_max_length(options, model_defaults)
        min_new_tokens = _first_set(options.min_new_tokens, model_defaults.get("min_new_tokens"))
        if min_new_tokens is not None:
            _check_int("min_new_tokens", min_new_tokens, minimum=0)
            min_length = min_new_tokens + PROMPT_LENGTH
        else:
            min_length = pick("min_length")
        caller_set_min = options.min_new_tokens is not None or options.min_length is not None
        if not caller_set_min and isinstance(min_length, int) and min_length > max_length:
            # The checkpoint's minimum (cnn_dailymail's is 32) does not fit a shorter maximum the
            # caller asked for. transformers warns and stops at the maximum, as this does; a
            # minimum the caller set themselves still has to fit (_validate).
            min_length = max_length

        eos_token_id = _single_eos(model_defaults.get("eos_token_id"))
        pad_token_id = _first_set(model_defaults.get("pad_token_id"), eos_token_id)
        start = _first_set(
            model_defaults.get("decoder_start_token_id"), model_defaults.get("bos_token_id")
        )
        if start is None:
            raise ValueError(
                "The model defaults set neither `decoder_start_token_id` nor `bos_token_id`; "
                "an encoder-decoder model needs one of them (Pegasus uses 0)."
            )

        return cls(
            max_length=max_length,
            min_length=min_length,
            num_beams=pick("num_beams"),
            length_penalty=pick("length_penalty"),
            early_stopping=pick("early_stopping"),
            no_repeat_ngram_size=pick("no_repeat_ngram_size"),
            num_return_sequences=pick("num_return_sequences"),
            repetition_penalty=pick("repetition_penalty"),
            forced_eos_token_id=pick("forced_eos_token_id"),
            do_sample=pick("do_sample"),
            temperature=pick("temperature"),
            top_k=pick("top_k"),
            top_p=pick("top_p"),
            seed=options.seed,
            decoder_start_token_id=start,
            eos_token_id=eos_token_id,
            pad_token_id=pad_token_id,
            prompt_lookup_num_tokens=pick("prompt_lookup_num_tokens"),
            max_matching_ngram_size=pick("max_matching_ngram_size"),
        )


def _first_set(*values: Any) -> Any:
    return next((v for v in values if v is not None), None)


def _resolve_max_length(options: GenerationOptions, model_defaults: Mapping[str, Any]) -> int:
    max_new_tokens = _first_set(options.max_new_tokens, model_defaults.get("max_new_tokens"))
    if max_new_tokens is not None:
        _check_int("max_new_tokens", max_new_tokens, minimum=1)
        return max_new_tokens + PROMPT_LENGTH
    max_length = _first_set(options.max_length, model_defaults.get("max_length"))
    if max_length is not None:
        return max_length
    # transformers' "has_default_max_length" path: 20 new tokens, capped by the model's positions.
    max_length = _GLOBAL_DEFAULTS["max_length"] + PROMPT_LENGTH
    max_positions = model_defaults.get("max_position_embeddings")
    return min(max_length, max_positions) if max_positions is not None else max_length


def _single_eos(value: Any) -> int:
    if isinstance(value, (list, tuple)):
        if len(value) != 1:
            raise ValueError(
                f"`eos_token_id` must be one token id (an int or a one-element list), got {value!r}; "
                "several end-of-sequence tokens are not supported (Pegasus has one, 1)."
            )
        value = value[0]
    if value is None:
        raise ValueError("The model defaults do not set `eos_token_id`; Pegasus uses 1.")
    return value


def _as_float(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        # ValueError, not TypeError: resolve() promises ValueError for every bad option.
        raise ValueError(f"`{name}` must be a number, got {value!r}.")  # noqa: TRY004
    return float(value)


def _check_int(name: str, value: Any, *, minimum: int, accepted: str = "") -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"`{name}` must be an integer >= {minimum}{accepted}, got {value!r}.")


def _validate(config: GenerationConfig) -> None:
    """Raise ValueError, naming the accepted values, for the first invalid field of `config`."""
    for token_field in ("decoder_start_token_id", "eos_token_id", "pad_token_id"):
        _check_int(token_field, getattr(config, token_field), minimum=0)
    if config.forced_eos_token_id is not None:
        _check_int(
            "forced_eos_token_id", config.forced_eos_token_id, minimum=0, accepted=" or None"
        )
    _check_int(
        "max_length",
        config.max_length,
        minimum=PROMPT_LENGTH + 1,
        accepted=" (the decoder start token plus at least one new token)",
    )
    _check_int("min_length", config.min_length, minimum=0)
    if config.min_length > config.max_length:
        raise ValueError(
            f"`min_length` ({config.min_length}) is larger than `max_length` "
            f"({config.max_length}); both count the decoder start token. Accepted: "
            "0 <= min_length <= max_length (or min_new_tokens <= max_new_tokens)."
        )
    _check_int(
        "num_beams",
        config.num_beams,
        minimum=1,
        accepted=" (1: greedy or sampling, >1: beam search)",
    )
    _check_int("num_return_sequences", config.num_return_sequences, minimum=1)
    if config.num_return_sequences > 1:
        if config.num_beams == 1 and not config.do_sample:
            raise ValueError(
                f"`num_return_sequences` ({config.num_return_sequences}) > 1 needs beam search "
                "(num_beams > 1) or sampling (do_sample=True); greedy decoding returns 1 sequence."
            )
        if config.num_beams > 1 and config.num_return_sequences > config.num_beams:
            raise ValueError(
                f"`num_return_sequences` ({config.num_return_sequences}) must be between 1 and "
                f"`num_beams` ({config.num_beams}) with beam search."
            )
    if not (
        config.early_stopping is True
        or config.early_stopping is False
        or config.early_stopping == "never"
    ):
        raise ValueError(
            f'`early_stopping` must be True, False or "never", got {config.early_stopping!r}.'
        )
    _check_int("no_repeat_ngram_size", config.no_repeat_ngram_size, minimum=0, accepted=" (0: off)")
    if not config.repetition_penalty > 0:
        raise ValueError(
            f"`repetition_penalty` must be > 0 (1.0: off, > 1: discourage repeats), "
            f"got {config.repetition_penalty!r}."
        )
    if not isinstance(config.do_sample, bool):
        raise ValueError(f"`do_sample` must be True or False, got {config.do_sample!r}.")  # noqa: TRY004
    if not config.temperature > 0:
        raise ValueError(
            f"`temperature` must be > 0 (1.0: unchanged; for greedy decoding set do_sample=False), "
            f"got {config.temperature!r}."
        )
    _check_int("top_k", config.top_k, minimum=0, accepted=" (0: off)")
    if not 0 < config.top_p <= 1:
        raise ValueError(f"`top_p` must be in (0, 1] (1.0: off), got {config.top_p!r}.")
    if config.seed is not None:
        _check_int("seed", config.seed, minimum=0, accepted=" or None")
    _check_int("prompt_lookup_num_tokens", config.prompt_lookup_num_tokens, minimum=0, accepted=" (0: no drafting)")
    _check_int("max_matching_ngram_size", config.max_matching_ngram_size, minimum=1)
    if config.prompt_lookup_num_tokens > 0 and not config.drafts:
        # transformers warns and runs beam search as if not asked; code ported from it keeps working
        warnings.warn(
            f"`prompt_lookup_num_tokens` ({config.prompt_lookup_num_tokens}) drafts tokens for greedy "
            f"decoding only, but num_beams is {config.num_beams} and do_sample is {config.do_sample}: "
            "it is ignored, and the search runs as it does without it.",
            UserWarning,
            stacklevel=4,
        )
