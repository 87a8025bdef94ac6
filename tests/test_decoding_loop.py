"""The decoding loop's own logic (engine.generation: search, beam, drafting), on a numpy fake
decoder (tests/fake_decoder.py): no onnxruntime, torch or export, milliseconds per test.

Each loop is checked against a slow, obviously correct reference written here: greedy one row at
a time, and beam search against an exhaustive search (with at least as many beams as there are
candidates, and early_stopping="never", beam search keeps every hypothesis, so it must find the
best). Parity with transformers on real models is tests/test_generation_parity.py's job.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from fake_decoder import EOS, PAD, START, FakeModel, fake_states

from engine.errors import GenerationCancelled
from engine.generation import DraftStats, GenerationConfig, GenerationOptions, generate
from engine.generation.processors import log_softmax, process_scores

DEFAULTS = {"decoder_start_token_id": START, "eos_token_id": EOS, "pad_token_id": PAD}
SOURCES = [[5, 3, 7, 9, 4, 2, 8, 6, 10, 3, 11], [4, 4, 6, 2, 9], [7, 10, 11, 5, 3, 6, 2, 9, 4]]


def config(**options) -> GenerationConfig:
    return GenerationConfig.resolve(GenerationOptions(**options), DEFAULTS)


def run(model: FakeModel, sources, cfg: GenerationConfig, **kwargs):
    make_state, made = fake_states(model, sources)
    out = generate(make_state, batch_size=len(sources), config=cfg, source_ids=[np.array(s) for s in sources],
                   **kwargs)
    assert len(made) == 1 and out.dtype == np.int64
    return out, made[0]


def reference_greedy(model: FakeModel, source, cfg: GenerationConfig) -> list[int]:
    """One row, one token at a time, every prefix given to the model whole."""
    sequence = [cfg.decoder_start_token_id]
    while len(sequence) < cfg.max_length:
        logits = model.logits(source, sequence)[None, :]
        scores = process_scores(cfg, np.array([sequence], dtype=np.int64), logits)
        sequence.append(int(scores[0].argmax()))
        if sequence[-1] == cfg.eos_token_id:
            break
    return sequence


def _rows(out: np.ndarray, pad: int) -> list[list[int]]:
    """Each output row up to its eos (included), else whole; checks what follows is padding."""
    rows = []
    for row in out.tolist():
        end = row.index(EOS, 1) + 1 if EOS in row[1:] else len(row)
        assert all(t == pad for t in row[end:]), row
        rows.append(row[:end])
    return rows


# -- greedy and its stopping


GREEDY_OPTIONS = [
    {"max_new_tokens": 14},
    {"max_new_tokens": 14, "repetition_penalty": 1.6},
    {"max_new_tokens": 14, "no_repeat_ngram_size": 2},
    {"max_new_tokens": 14, "min_new_tokens": 9},
    {"max_new_tokens": 6},
]


@pytest.mark.parametrize("options", GREEDY_OPTIONS, ids=str)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_greedy_equals_the_row_by_row_reference(options, seed):
    model, cfg = FakeModel(seed=seed), config(**options)
    out, state = run(model, SOURCES, cfg)
    expected = [reference_greedy(model, s, cfg) for s in SOURCES]
    assert _rows(out, PAD) == expected
    assert out.shape[1] == max(map(len, expected)) and state.steps == out.shape[1] - 1


def test_the_greedy_cases_are_not_vacuous():
    """Rows end at different steps, by eos and by max_length, and each processor changes a row."""
    outcomes = {}
    for seed in range(3):
        model = FakeModel(seed=seed)
        for options in GREEDY_OPTIONS:
            rows = [reference_greedy(model, s, config(**options)) for s in SOURCES]
            outcomes[seed, str(options)] = rows
    plain = [outcomes[seed, str(GREEDY_OPTIONS[0])] for seed in range(3)]
    assert any(len({len(r) for r in rows}) > 1 for rows in plain)
    assert any(r[-1] == EOS for rows in plain for r in rows)
    assert any(r[-1] != EOS and len(r) == 15 for rows in plain for r in rows)
    for options in GREEDY_OPTIONS[1:4]:
        assert any(outcomes[seed, str(options)] != plain[seed] for seed in range(3)), options


def test_processors_shape_greedy_output():
    """Seen from the output alone: no bigram twice, no eos before min_new_tokens, max_length kept."""
    for seed in range(3):
        model = FakeModel(seed=seed)
        for row in _rows(run(model, SOURCES, config(max_new_tokens=14, no_repeat_ngram_size=2))[0], PAD):
            bigrams = list(zip(row[1:], row[2:]))
            assert len(bigrams) == len(set(bigrams)), row
        for row in _rows(run(model, SOURCES, config(max_new_tokens=14, min_new_tokens=9))[0], PAD):
            assert len(row) - 1 >= 9, row
        out, _ = run(model, SOURCES, config(max_new_tokens=4))
        assert out.shape[1] <= 5


def test_sampling_draws_the_same_tokens_for_a_seed_and_only_allowed_ones():
    model = FakeModel(seed=4)
    cfg = config(do_sample=True, seed=3, top_k=3, num_return_sequences=2, max_new_tokens=10)
    first, state = run(model, SOURCES, cfg)
    again, _ = run(model, SOURCES, cfg)
    other, _ = run(model, SOURCES, config(do_sample=True, seed=4, top_k=3, num_return_sequences=2,
                                             max_new_tokens=10))
    assert first.shape[0] == 6 and (first == again).all() and (first != other).any()
    for r, row in enumerate(_rows(first, PAD)):
        source = SOURCES[r // 2]  # each input's sequences are consecutive
        for t in range(1, len(row)):
            top3 = np.argsort(-model.logits(source, row[:t]), kind="stable")[:3]
            assert row[t] in top3, (r, t, row)


@pytest.mark.parametrize("options", [{"max_new_tokens": 12}, {"num_beams": 3, "max_new_tokens": 12},
                                     {"max_new_tokens": 12, "prompt_lookup_num_tokens": 4}], ids=str)
def test_should_stop_cancels_before_the_next_decoder_run(options):
    calls = []

    def should_stop() -> bool:
        calls.append(1)
        return len(calls) > 3

    make_state, made = fake_states(FakeModel(seed=0), SOURCES)
    with pytest.raises(GenerationCancelled, match="before decoder step 4"):
        generate(make_state, batch_size=3, config=config(**options), should_stop=should_stop,
                 source_ids=[np.array(s) for s in SOURCES])
    assert len(calls) == 4 and made[0].steps + made[0].runs == 3


@pytest.mark.parametrize(
    "options",
    [{"max_new_tokens": 14}, {"num_beams": 3, "max_new_tokens": 14},
     {"num_beams": 4, "num_return_sequences": 2, "max_new_tokens": 14}],
    ids=str,
)
def test_on_token_sees_each_inputs_best_sequence_grow(options):
    seen: list[np.ndarray] = []
    out, _ = run(FakeModel(seed=1), SOURCES, config(**options), on_token=seen.append)
    assert [s.shape for s in seen] == [(3, 2 + i) for i in range(len(seen))]
    assert all((s[:, 0] == START).all() for s in seen)
    n_ret = options.get("num_return_sequences", 1)
    assert (seen[-1][:, : out.shape[1]] == out[::n_ret]).all()


# -- beam search


def exhaustive_beam(model: FakeModel, source, cfg: GenerationConfig, n: int) -> list[list[int]]:
    """The ``n`` best finished hypotheses of every possible one: score = summed log-probs of its
    tokens / new_tokens ** length_penalty, a hypothesis ending at eos or at max_length."""
    finished = []
    others = [t for t in range(model.vocab) if t != EOS]
    for length in range(1, cfg.max_new_tokens + 1):
        for body in itertools.product(others, repeat=length - 1):
            for last in [EOS] if length < cfg.max_new_tokens else range(model.vocab):
                sequence = [START, *body, last]
                total = sum(
                    float(log_softmax(model.logits(source, sequence[:t])[None, :])[0, sequence[t]])
                    for t in range(1, len(sequence))
                )
                finished.append((total / length**cfg.length_penalty, sequence))
    finished.sort(key=lambda pair: -pair[0])
    return [sequence for _, sequence in finished[:n]]


@pytest.mark.parametrize("length_penalty", [0.6, 1.0, 2.0])
@pytest.mark.parametrize("seed", [0, 5])
def test_beam_search_with_every_candidate_kept_is_the_exhaustive_search(seed, length_penalty):
    model = FakeModel(vocab=5, seed=seed, copy=1.0, eos_growth=0.8)
    max_new = 4
    beams = (model.vocab - 1) ** (max_new - 1) * model.vocab  # every candidate of the last step
    cfg = config(num_beams=beams, num_return_sequences=3, max_new_tokens=max_new, early_stopping="never",
                 length_penalty=length_penalty)
    sources = [[2, 3, 4], [4, 2]]
    out, state = run(model, sources, cfg)
    fill = PAD or EOS  # transformers pads beam outputs with eos when pad is id 0
    got = _rows(out, fill)
    for i, source in enumerate(sources):
        assert got[3 * i : 3 * i + 3] == exhaustive_beam(model, source, cfg, 3), (i, got)
    assert state.reorders, "the cache was never reordered"


def test_the_exhaustive_cases_are_not_vacuous():
    """The best hypothesis is not greedy's, and lengths matter (the penalty changes the best)."""
    differs, by_penalty = False, set()
    for seed in (0, 5):
        model = FakeModel(vocab=5, seed=seed, copy=1.0, eos_growth=0.8)
        for source in ([2, 3, 4], [4, 2]):
            for penalty in (0.6, 2.0):
                cfg = config(num_beams=2, max_new_tokens=4, length_penalty=penalty)
                best = exhaustive_beam(model, source, cfg, 1)[0]
                by_penalty.add((seed, tuple(source), penalty, tuple(best)))
                differs |= best != reference_greedy(model, source, config(max_new_tokens=4))
    assert differs
    assert len({key[3] for key in by_penalty}) > len({key[:2] for key in by_penalty})


@pytest.mark.parametrize(
    "options",
    [{"num_beams": 3}, {"num_beams": 4, "num_return_sequences": 3, "length_penalty": 2.0},
     {"num_beams": 3, "early_stopping": True}, {"num_beams": 3, "no_repeat_ngram_size": 2},
     {"num_beams": 3, "do_sample": True, "seed": 2}],
    ids=str,
)
def test_every_beam_hypothesis_was_computed_from_its_own_prefix(options):
    """The cache follows the beams: each returned hypothesis's every prefix is a history the
    decoder state computed logits for, with that input's source (a wrong reorder mixes them)."""
    model = FakeModel(seed=3)
    out, state = run(model, SOURCES, config(max_new_tokens=12, **options))
    n_ret = options.get("num_return_sequences", 1)
    rows = _rows(out, PAD or EOS)
    assert len(rows) == 3 * n_ret and len(state.reorders) >= 3
    for r, row in enumerate(rows):
        source = tuple(SOURCES[r // n_ret])
        for t in range(1, len(row)):
            assert (source, tuple(row[:t])) in state.seen, (r, t, row)


# -- copy drafting


@pytest.mark.parametrize(
    "options",
    [{}, {"repetition_penalty": 1.3}, {"no_repeat_ngram_size": 3}, {"min_new_tokens": 8},
     {"max_new_tokens": 5}],
    ids=str,
)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_drafting_gives_greedys_tokens(seed, options):
    model = FakeModel(seed=seed)
    options = {"max_new_tokens": 14, **options}
    plain, _ = run(model, SOURCES, config(**options))
    stats = DraftStats()
    drafted, state = run(model, SOURCES, config(prompt_lookup_num_tokens=4, **options), draft_stats=stats)
    assert drafted.tolist() == plain.tolist()
    assert state.runs + state.steps == stats.runs
    assert stats.tokens == sum(len(r) - 1 for r in _rows(plain, PAD))


def test_a_row_with_nothing_to_copy_makes_every_run_a_plain_step(monkeypatch):
    """Rows advance in step, so no row keeps more than the shortest draft of a row still writing:
    a longer run would only verify tokens to give back. With one row that never has a draft, the
    batch runs plain steps (and still gets greedy's tokens)."""
    from engine.generation import drafting

    propose = drafting.Drafter.propose
    proposed = []

    def row_1_has_nothing(self, row, output, room):
        draft = [] if row == 1 else propose(self, row, output, room)
        proposed.append(len(draft))
        return draft

    monkeypatch.setattr(drafting.Drafter, "propose", row_1_has_nothing)
    model = FakeModel(seed=0)
    plain, _ = run(model, SOURCES, config(max_new_tokens=14))
    stats = DraftStats()
    drafted, state = run(model, SOURCES, config(max_new_tokens=14, prompt_lookup_num_tokens=4), draft_stats=stats)
    assert drafted.tolist() == plain.tolist()
    assert max(proposed) > 0  # the other rows had drafts
    assert state.runs == 0 and stats.drafted == 0  # but every decoder call was a plain step


def test_drafts_are_accepted_and_rejected_and_the_cache_keeps_only_the_accepted():
    stats, histories = DraftStats(), []
    for seed in range(3):
        model = FakeModel(seed=seed)
        out, state = run(model, SOURCES, config(max_new_tokens=14, prompt_lookup_num_tokens=4), draft_stats=stats)
        rows = _rows(out, PAD)
        for r, row in enumerate(rows):
            finished = row[-1] == EOS or len(row) == 15
            fed = state.histories[r]
            # the cache holds the row's own tokens (all but its last, or fewer if it finished in a
            # run where another row kept fewer), then only the padding fed while other rows went on
            own = next((i for i, (a, b) in enumerate(zip(fed, row[:-1])) if a != b), min(len(fed), len(row) - 1))
            assert own >= 1 and all(t == PAD for t in fed[own:]) and finished, (r, fed, row)
        # rows advance in step: every row's cache holds as many tokens (see greedy_with_drafts)
        assert len({len(h) for h in state.histories}) == 1, state.histories
        histories.append(state.runs)
    assert stats.accepted > 0 and stats.runs < stats.tokens  # drafts really saved decoder runs
    assert stats.accepted < stats.drafted  # and some were rejected
    assert any(histories)
