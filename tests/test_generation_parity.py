"""engine.generation against transformers 5 `generate()`, token for token, on tiny random Pegasus.

The models are random but shaped so that decoding is not trivial: untied, rescaled output
projections and a random `final_logits_bias` with a raised eos logit make rows differ and finish
at different steps (a test below checks that, so parity is never vacuous).
"""

from __future__ import annotations

import ast
import functools
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from torch_decoder import state_factory
from transformers import GenerationConfig as HFGenerationConfig
from transformers import PegasusConfig, PegasusForConditionalGeneration
from transformers.generation import logits_process as hf_lp
from transformers.utils import logging as hf_logging

from engine.errors import GenerationCancelled
from engine.generation import GenerationConfig, GenerationOptions, generate, pick_next_tokens
from engine.generation import processors as P

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

PAD, EOS, START = 0, 1, 0
# What a Pegasus checkpoint's config.json contributes; the tiny models' own generation_config
# is set to exactly this, so that transformers cannot pick up anything else.
SPECIAL_TOKENS = {"decoder_start_token_id": START, "eos_token_id": EOS, "pad_token_id": PAD}


@dataclass(frozen=True)
class ModelSpec:
    seed: int
    encoder_layers: int
    decoder_layers: int
    heads: int
    d_model: int
    vocab: int
    positions: int
    init_std: float
    eos_bias: float


# Chosen (by trying a few seeds) so that rows end at different steps under greedy and beams.
SPECS = {
    "tiny": ModelSpec(2, 1, 1, 2, 16, 50, 32, init_std=0.3, eos_bias=2.5),
    "small": ModelSpec(2, 2, 2, 4, 32, 120, 64, init_std=1.0, eos_bias=2.5),
    "wide": ModelSpec(1, 3, 2, 4, 64, 300, 128, init_std=1.0, eos_bias=3.0),
}


@pytest.fixture(autouse=True, scope="module")
def _quiet_and_lean():
    verbosity, threads = hf_logging.get_verbosity(), torch.get_num_threads()
    hf_logging.set_verbosity_error()
    torch.set_num_threads(1)
    yield
    hf_logging.set_verbosity(verbosity)
    torch.set_num_threads(threads)


@functools.cache
def model(name: str) -> PegasusForConditionalGeneration:
    spec = SPECS[name]
    torch.manual_seed(spec.seed)
    config = PegasusConfig(
        vocab_size=spec.vocab,
        d_model=spec.d_model,
        encoder_layers=spec.encoder_layers,
        decoder_layers=spec.decoder_layers,
        encoder_attention_heads=spec.heads,
        decoder_attention_heads=spec.heads,
        encoder_ffn_dim=2 * spec.d_model,
        decoder_ffn_dim=2 * spec.d_model,
        max_position_embeddings=spec.positions,
        init_std=spec.init_std,
        tie_word_embeddings=False,
        forced_eos_token_id=None,
        attn_implementation="eager",
        **SPECIAL_TOKENS,
    )
    m = PegasusForConditionalGeneration(config).eval()
    with torch.no_grad():
        m.lm_head.weight.normal_(0.0, spec.d_model**-0.5)
        m.final_logits_bias.normal_(0.0, 0.5)
        m.final_logits_bias[0, EOS] += spec.eos_bias
    m.generation_config = HFGenerationConfig(**SPECIAL_TOKENS)
    return m


def model_defaults(name: str) -> dict:
    return {**SPECIAL_TOKENS, "max_position_embeddings": SPECS[name].positions}


def inputs(name: str, lengths: tuple[int, ...] = (9, 6, 3)) -> tuple[torch.Tensor, torch.Tensor]:
    """A right-padded batch: row i has lengths[i] real tokens, then pad with attention_mask 0."""
    generator = torch.Generator().manual_seed(1)
    ids = torch.randint(2, SPECS[name].vocab, (len(lengths), max(lengths)), generator=generator)
    mask = (torch.arange(max(lengths))[None, :] < torch.tensor(lengths)[:, None]).long()
    return ids * mask, mask


def ours_counted(name: str, options: dict, lengths=(9, 6, 3), **kwargs) -> tuple[np.ndarray, int]:
    """engine.generation's sequences, and how many decoder steps it took."""
    ids, mask = inputs(name, lengths)
    make_state, made = state_factory(model(name), ids, mask)
    config = GenerationConfig.resolve(GenerationOptions(**options), model_defaults(name))
    out = generate(make_state, batch_size=ids.shape[0], config=config, **kwargs)
    assert len(made) == 1, "make_state must be called exactly once"
    assert out.dtype == np.int64
    return out, made[0].steps


def ours(name: str, options: dict, lengths=(9, 6, 3), **kwargs) -> np.ndarray:
    return ours_counted(name, options, lengths, **kwargs)[0]


def theirs_counted(name: str, options: dict, lengths=(9, 6, 3)) -> tuple[np.ndarray, int]:
    """transformers' sequences, and how many times it ran the decoder."""
    ids, mask = inputs(name, lengths)
    calls = []
    hook = model(name).model.decoder.register_forward_hook(lambda *_: calls.append(1))
    try:
        with torch.no_grad():
            out = model(name).generate(
                input_ids=ids, attention_mask=mask, do_sample=False, **SPECIAL_TOKENS, **options
            )
    finally:
        hook.remove()
    return out.numpy(), len(calls)


def theirs(name: str, options: dict, lengths=(9, 6, 3)) -> np.ndarray:
    return theirs_counted(name, options, lengths)[0]


def assert_parity(name: str, options: dict, lengths=(9, 6, 3)) -> np.ndarray:
    """Same sequences as transformers, after the same number of decoder steps."""
    (expected, their_steps), (got, our_steps) = (
        theirs_counted(name, options, lengths),
        ours_counted(name, options, lengths),
    )
    assert got.shape == expected.shape and (got == expected).all(), (
        f"{name} {options}\ntransformers:\n{expected}\nengine.generation:\n{got}"
    )
    assert our_steps == their_steps, f"{name} {options}: {our_steps} steps, not {their_steps}"
    return got


GREEDY_CASES = [
    ("tiny", {}),  # default max_length: 1 + 20
    ("small", {"max_new_tokens": 12}),
    ("wide", {"max_length": 15}),
    ("wide", {"max_length": 30, "max_new_tokens": 7}),  # max_new_tokens wins
    ("small", {"max_new_tokens": 1}),
    ("tiny", {"min_length": 8, "max_new_tokens": 12}),
    ("wide", {"min_new_tokens": 6, "max_new_tokens": 10}),
    ("small", {"min_length": 3, "min_new_tokens": 9, "max_new_tokens": 14}),  # min_new wins
    ("tiny", {"no_repeat_ngram_size": 2, "max_new_tokens": 16}),
    ("small", {"no_repeat_ngram_size": 1, "max_new_tokens": 16}),
    ("wide", {"no_repeat_ngram_size": 3, "max_new_tokens": 20}),
    ("small", {"repetition_penalty": 1.5, "max_new_tokens": 12}),
    ("wide", {"repetition_penalty": 0.7, "max_new_tokens": 12}),
    ("tiny", {"forced_eos_token_id": EOS, "max_new_tokens": 6}),
    ("small", {"forced_eos_token_id": 7, "min_length": 5, "max_length": 9}),
]

BEAM_CASES = [
    ("tiny", {"num_beams": 2}),
    ("small", {"num_beams": 4, "max_new_tokens": 15}),
    ("wide", {"num_beams": 3, "max_length": 12}),
    ("small", {"num_beams": 2, "max_new_tokens": 1}),
    ("tiny", {"num_beams": 4, "min_length": 9, "max_new_tokens": 14}),
    ("wide", {"num_beams": 2, "min_new_tokens": 5, "max_new_tokens": 12}),
    ("small", {"num_beams": 3, "no_repeat_ngram_size": 2, "max_new_tokens": 14}),
    ("tiny", {"num_beams": 4, "repetition_penalty": 1.3, "max_new_tokens": 12}),
    ("wide", {"num_beams": 4, "repetition_penalty": 0.8, "max_new_tokens": 10}),
    ("small", {"num_beams": 3, "forced_eos_token_id": EOS, "max_new_tokens": 8}),
    ("tiny", {"num_beams": 2, "forced_eos_token_id": EOS, "max_new_tokens": 1}),
    ("small", {"num_beams": 4, "num_return_sequences": 2, "max_new_tokens": 12}),
    ("wide", {"num_beams": 4, "num_return_sequences": 4, "max_new_tokens": 10}),
    ("tiny", {"num_beams": 3, "num_return_sequences": 3, "early_stopping": True}),
    (
        "tiny",
        {
            "num_beams": 3,
            "num_return_sequences": 2,
            "early_stopping": "never",
            "length_penalty": 0.0,
            "no_repeat_ngram_size": 2,
        },
    ),
] + [
    (
        name,
        {
            "num_beams": beams,
            "length_penalty": penalty,
            "early_stopping": stopping,
            "max_new_tokens": 14,
        },
    )
    for name in ("small", "wide")
    for beams in (2, 4)
    for penalty in (0.6, 1.0, 2.0)
    for stopping in (True, False, "never")
]


@pytest.mark.parametrize("name, options", GREEDY_CASES, ids=str)
def test_greedy_matches_transformers(name, options):
    assert_parity(name, options)


@pytest.mark.parametrize("name, options", BEAM_CASES, ids=str)
def test_beam_search_matches_transformers(name, options):
    assert_parity(name, options)


@pytest.mark.parametrize("options", [{}, {"num_beams": 3}], ids=str)
def test_batch_of_one_matches_transformers(options):
    assert_parity("small", {**options, "max_new_tokens": 10}, lengths=(7,))


def test_parity_cases_finish_early_and_pad():
    """Guard against vacuous parity: rows end with eos at different steps and get padded."""
    for name in SPECS:
        greedy = ours(name, {"max_new_tokens": 20})
        ends = [row.tolist().index(EOS) if EOS in row else None for row in greedy]
        assert any(e is not None and e < greedy.shape[1] - 1 for e in ends), (name, greedy)
        assert len(set(ends)) > 1, (name, greedy)
    beams = ours("wide", {"num_beams": 4, "num_return_sequences": 4, "max_new_tokens": 20})
    assert (beams == EOS).any(axis=1).sum() >= 2
    assert len({row.tolist().index(EOS) for row in beams if EOS in row}) > 1


def test_resolve_from_checkpoint_defaults_matches_transformers():
    """A pegasus-xsum-like generation_config (scaled down) as the model default, some options.

    ``max_new_tokens=2`` is shorter than the default minimum (4 with the start token): transformers
    warns and stops at 2 new tokens, and so must we (cnn_dailymail's minimum is 32 tokens)."""
    defaults = {
        "num_beams": 3,
        "length_penalty": 0.6,
        "max_length": 12,
        "min_length": 4,
        "forced_eos_token_id": EOS,
        "no_repeat_ngram_size": 3,
    }
    m = model("small")
    saved = m.generation_config
    try:
        for options in ({}, {"max_new_tokens": 9}, {"num_beams": 1}, {"min_new_tokens": 2},
                        {"max_new_tokens": 2}, {"max_length": 3, "num_beams": 1}):
            m.generation_config = HFGenerationConfig(**SPECIAL_TOKENS, **defaults)
            assert_parity_with_defaults("small", options, defaults)
    finally:
        m.generation_config = saved


def assert_parity_with_defaults(name: str, options: dict, defaults: dict) -> None:
    ids, mask = inputs(name)
    with torch.no_grad():
        expected = model(name).generate(input_ids=ids, attention_mask=mask, **options).numpy()
    config = GenerationConfig.resolve(
        GenerationOptions(**options), {**model_defaults(name), **defaults}
    )
    make_state, _ = state_factory(model(name), ids, mask)
    got = generate(make_state, batch_size=3, config=config)
    assert got.shape == expected.shape and (got == expected).all(), (options, expected, got)


def test_resolve_defaults_and_overrides():
    xsum = {
        "max_length": 64,
        "num_beams": 8,
        "length_penalty": 0.6,
        "forced_eos_token_id": 1,
        "decoder_start_token_id": 0,
        "eos_token_id": [1],
        "pad_token_id": 0,
    }
    config = GenerationConfig.resolve(GenerationOptions(), xsum)
    assert (config.max_length, config.num_beams, config.length_penalty) == (64, 8, 0.6)
    assert (config.forced_eos_token_id, config.eos_token_id, config.pad_token_id) == (1, 1, 0)
    assert (config.min_length, config.early_stopping, config.top_k, config.top_p) == (
        0,
        False,
        50,
        1.0,
    )
    assert (config.do_sample, config.temperature, config.num_return_sequences) == (False, 1.0, 1)
    assert config.max_new_tokens == 63
    config = GenerationConfig.resolve(
        GenerationOptions(max_new_tokens=10, num_beams=2, min_new_tokens=3, length_penalty=1), xsum
    )
    assert (config.max_length, config.num_beams, config.min_length) == (11, 2, 4)
    assert config.length_penalty == 1.0 and isinstance(config.length_penalty, float)
    bare = {"bos_token_id": 0, "eos_token_id": 1}  # no start / pad: bos and eos stand in
    config = GenerationConfig.resolve(GenerationOptions(), bare)
    assert (config.decoder_start_token_id, config.pad_token_id, config.max_length) == (0, 1, 21)
    capped = GenerationConfig.resolve(GenerationOptions(), {**bare, "max_position_embeddings": 16})
    assert capped.max_length == 16


@pytest.mark.parametrize(
    "options, field",
    [
        ({"num_beams": 0}, "num_beams"),
        ({"max_length": 1}, "max_length"),
        ({"max_new_tokens": 0}, "max_new_tokens"),
        ({"min_length": 30, "max_length": 20}, "min_length"),
        ({"min_new_tokens": 12, "max_new_tokens": 10}, "min_length"),
        ({"min_new_tokens": -1}, "min_new_tokens"),
        ({"num_beams": 2, "num_return_sequences": 3}, "num_return_sequences"),
        ({"num_return_sequences": 2}, "num_return_sequences"),
        ({"num_return_sequences": 0}, "num_return_sequences"),
        ({"temperature": 0.0, "do_sample": True}, "temperature"),
        ({"top_p": 0.0}, "top_p"),
        ({"top_p": 1.5}, "top_p"),
        ({"top_k": -1}, "top_k"),
        ({"repetition_penalty": 0.0}, "repetition_penalty"),
        ({"no_repeat_ngram_size": -2}, "no_repeat_ngram_size"),
        ({"early_stopping": "sometimes"}, "early_stopping"),
        ({"length_penalty": "long"}, "length_penalty"),
        ({"seed": -1}, "seed"),
    ],
    ids=str,
)
def test_resolve_rejects_invalid_values(options, field):
    with pytest.raises(ValueError, match=field):
        GenerationConfig.resolve(GenerationOptions(**options), SPECIAL_TOKENS)


def test_resolve_needs_special_tokens():
    with pytest.raises(ValueError, match="decoder_start_token_id"):
        GenerationConfig.resolve(GenerationOptions(), {"eos_token_id": 1})
    with pytest.raises(ValueError, match="eos_token_id"):
        GenerationConfig.resolve(GenerationOptions(), {"decoder_start_token_id": 0})


@pytest.mark.parametrize("options", [{"max_new_tokens": 12}, {"num_beams": 3}], ids=str)
def test_should_stop_cancels_before_the_next_step(options):
    calls = []

    def should_stop() -> bool:
        calls.append(1)
        return len(calls) > 3

    ids, mask = inputs("small")
    make_state, made = state_factory(model("small"), ids, mask)
    config = GenerationConfig.resolve(GenerationOptions(**options), model_defaults("small"))
    with pytest.raises(GenerationCancelled):
        generate(make_state, batch_size=3, config=config, should_stop=should_stop)
    assert made[0].steps == 3 and len(calls) == 4


@pytest.mark.parametrize(
    "options",
    [
        {"max_new_tokens": 20},
        {"num_beams": 3, "max_new_tokens": 20},
        {"num_beams": 4, "num_return_sequences": 2, "max_new_tokens": 20},
        {"do_sample": True, "num_return_sequences": 2, "seed": 3, "max_new_tokens": 20},
    ],
    ids=str,
)
def test_on_token_sees_growing_sequences(options):
    seen: list[np.ndarray] = []
    out = ours("wide", options, on_token=seen.append)
    assert [s.shape for s in seen] == [(3, 2 + i) for i in range(len(seen))]
    assert all(s.dtype == np.int64 and (s[:, 0] == START).all() for s in seen)
    n_ret = options.get("num_return_sequences", 1)
    final = seen[-1][:, : out.shape[1]]
    assert (final == out[::n_ret]).all(), (seen[-1], out)


def test_sampling_is_reproducible_with_a_seed():
    options = {"do_sample": True, "temperature": 1.5, "top_k": 0, "max_new_tokens": 12}
    runs = {seed: ours("small", {**options, "seed": seed}) for seed in (0, 1, 2)}
    assert (ours("small", {**options, "seed": 1}) == runs[1]).all()
    assert len({r.tobytes() for r in runs.values()}) > 1


def test_sampling_with_top_k_one_is_greedy():
    greedy = ours("wide", {"max_new_tokens": 15})
    sampled = ours("wide", {"do_sample": True, "top_k": 1, "seed": 5, "max_new_tokens": 15})
    assert (sampled == greedy).all()
    assert (greedy == theirs("wide", {"max_new_tokens": 15})).all()


def test_sampling_returns_sequences_grouped_per_input():
    options = {"do_sample": True, "num_return_sequences": 3, "seed": 0, "max_new_tokens": 8}
    ids, mask = inputs("tiny")
    make_state, made = state_factory(model("tiny"), ids, mask)
    config = GenerationConfig.resolve(GenerationOptions(**options), model_defaults("tiny"))
    out = generate(make_state, batch_size=3, config=config)
    assert out.shape[0] == 9 and made[0].attention_mask.shape[0] == 9
    assert (out[:, 0] == START).all()


def test_beam_sampling_is_reproducible():
    options = {
        "do_sample": True,
        "num_beams": 3,
        "num_return_sequences": 2,
        "seed": 7,
        "top_p": 0.9,
        "max_new_tokens": 10,
    }
    first = ours("small", options)
    assert first.shape[0] == 6 and (first == ours("small", options)).all()


class _RecordingState:
    """Wraps a state: records what the loop fed and got, to re-derive the allowed tokens."""

    def __init__(self, inner):
        self.inner, self.fed, self.logits = inner, [], []

    def step(self, input_ids):
        self.fed.append(input_ids[:, 0].copy())
        self.logits.append(self.inner.step(input_ids))
        return self.logits[-1]

    def reorder(self, rows):
        self.inner.reorder(rows)


@pytest.mark.parametrize("top_k, top_p", [(5, 1.0), (0, 0.6), (8, 0.8)])
def test_sampled_tokens_lie_in_the_top_k_top_p_set(top_k, top_p):
    options = {
        "do_sample": True,
        "top_k": top_k,
        "top_p": top_p,
        "temperature": 2.0,
        "seed": 11,
        "max_new_tokens": 12,
    }
    ids, mask = inputs("wide")
    make_inner, _ = state_factory(model("wide"), ids, mask)
    recorded: list[_RecordingState] = []

    def make_state(expand: int) -> _RecordingState:
        recorded.append(_RecordingState(make_inner(expand)))
        return recorded[-1]

    config = GenerationConfig.resolve(GenerationOptions(**options), model_defaults("wide"))
    out = generate(make_state, batch_size=3, config=config)
    state = recorded[0]
    for step, logits in enumerate(state.logits):
        allowed = np.isfinite(P.keep_top_p(P.keep_top_k(logits / 2.0, top_k or 300), top_p))
        token = out[:, step + 1]
        live = np.array([EOS not in row[: step + 1] for row in out])
        assert allowed[np.arange(3), token][live].all()


def test_pick_next_tokens_never_picks_a_filtered_token():
    rng = np.random.default_rng(0)
    scores = rng.normal(size=(64, 40)).astype(np.float32)
    kept = P.keep_top_p(P.keep_top_k(scores, 6), 0.7)
    for _ in range(20):
        tokens = pick_next_tokens(kept, rng)
        assert np.isfinite(kept[np.arange(64), tokens]).all()
    assert (pick_next_tokens(kept, None) == scores.argmax(-1)).all()


@pytest.mark.parametrize("seed", range(3))
def test_processors_match_transformers(seed):
    rng = np.random.default_rng(seed)
    rows, vocab = 6, 30
    seqs = np.concatenate(
        [np.zeros((rows, 1), np.int64), rng.integers(0, 8, size=(rows, 9))], axis=1
    )
    scores = (rng.normal(size=(rows, vocab)) * 3).astype(np.float32)
    t_seqs, t_scores = torch.from_numpy(seqs), torch.from_numpy(scores)
    pairs = [
        (P.penalize_repetition(seqs, scores, 1.7), hf_lp.RepetitionPenaltyLogitsProcessor(1.7)),
        (P.ban_repeated_ngrams(seqs, scores, 2), hf_lp.NoRepeatNGramLogitsProcessor(2)),
        (P.ban_repeated_ngrams(seqs, scores, 1), hf_lp.NoRepeatNGramLogitsProcessor(1)),
        (P.suppress_token(scores, EOS), hf_lp.MinLengthLogitsProcessor(20, EOS)),
        (P.force_token(scores, EOS), hf_lp.ForcedEOSTokenLogitsProcessor(11, EOS)),
        (P.scale_temperature(scores, 0.7), hf_lp.TemperatureLogitsWarper(0.7)),
        (P.keep_top_k(scores, 7), hf_lp.TopKLogitsWarper(7)),
        (P.keep_top_k(scores, 1, 2), hf_lp.TopKLogitsWarper(1, min_tokens_to_keep=2)),
        (P.keep_top_p(scores, 0.8), hf_lp.TopPLogitsWarper(0.8)),
        (P.keep_top_p(scores, 0.05, 2), hf_lp.TopPLogitsWarper(0.05, min_tokens_to_keep=2)),
    ]
    for got, processor in pairs:
        expected = processor(t_seqs, t_scores.clone()).numpy()
        np.testing.assert_array_equal(got, expected, err_msg=type(processor).__name__)
    np.testing.assert_allclose(
        P.log_softmax(scores), torch.log_softmax(t_scores, -1).numpy(), rtol=0, atol=2e-6
    )


def test_generation_package_imports_only_numpy_and_stdlib():
    """Statically: `engine/__init__.py` itself pulls in onnxruntime, so sys.modules can't tell."""
    package = Path(__file__).resolve().parents[1] / "engine" / "generation"
    allowed = set(sys.stdlib_module_names) | {"numpy"}
    for source in sorted(package.glob("*.py")):
        for node in ast.walk(ast.parse(source.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module]
            elif isinstance(node, ast.ImportFrom):  # relative: this package, or engine.errors
                assert node.level == 1 or node.module == "errors", (source.name, node.module)
                continue
            else:
                continue
            for name in names:
                assert name.split(".")[0] in allowed, f"{source.name} imports {name}"


@pytest.mark.parametrize("k", [1, 8])
def test_top_candidates_of_beams_times_a_real_vocab_are_the_highest_lower_index_first(k):
    """Beam search bounds beams x vocab scores by a sample before ranking them: the result must be
    exactly a stable sort's first k, with ties, masked (-inf) tokens and sentinel beams about."""
    from engine.generation.beam import _top_indices

    rng = np.random.default_rng(k)
    scores = rng.standard_normal((3, 4 * 96103)).astype(np.float32).round(1)  # many ties
    scores[0, 96103:] = -1.0e9  # step 1: only beam 0 may expand
    scores[1, ::2] = -np.inf  # half the vocabulary masked
    scores[2, :] = -np.inf
    scores[2, [7, 300_000]] = 0.5  # fewer finite scores than k
    expected = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    assert np.array_equal(_top_indices(scores, k), expected)
