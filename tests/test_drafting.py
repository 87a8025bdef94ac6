"""Copy drafting never changes a token: on the trained fixture (where summaries copy the article,
so drafts are really accepted) and against transformers' greedy on random models."""

from __future__ import annotations

import json

import numpy as np
import pytest
from builders import TINY_PEGASUS, padded_ids

from engine import Summarizer
from engine.generation import DraftStats

HELD_OUT = [json.loads(line) for line in (TINY_PEGASUS / "heldout.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module", params=["fp32", "int8"])
def summarizer(request, trained_exports):
    return Summarizer.load(str(TINY_PEGASUS), precision=request.param, root=trained_exports)


def test_drafting_gives_the_same_tokens_in_fewer_runs(summarizer):
    runs = tokens = 0
    for example in HELD_OUT[:30]:
        ids = np.array([summarizer.tokenizer.encode(example["article"])])
        plain = summarizer.model.generate(ids, num_beams=1)
        stats = DraftStats()
        drafted = summarizer.model.generate(ids, num_beams=1, prompt_lookup_num_tokens=8, draft_stats=stats)
        assert drafted.tolist() == plain.tolist()
        runs, tokens = runs + stats.runs, tokens + stats.tokens
    assert runs < tokens / 2, (runs, tokens)  # drafts were really accepted: not a vacuous check


def test_a_drafted_batch_equals_its_rows_run_one_by_one(summarizer):
    articles = [e["article"] for e in HELD_OUT[30:34]]
    ids, mask = padded_ids(summarizer.tokenizer, articles)
    stats = DraftStats()
    batch = summarizer.model.generate(ids, mask, num_beams=1, prompt_lookup_num_tokens=8, draft_stats=stats)
    plain = summarizer.model.generate(ids, mask, num_beams=1)
    assert batch.tolist() == plain.tolist()
    # (The fixture's summaries all have 10 tokens, so its rows end together; rows ending apart
    # still need a case on the random parity models.)
    for r, article in enumerate(articles):
        alone = summarizer.model.generate(np.array([summarizer.tokenizer.encode(article)]), num_beams=1,
                                          prompt_lookup_num_tokens=8)[0].tolist()
        assert batch[r, : len(alone)].tolist() == alone
        assert (batch[r, len(alone):] == 0).all()


@pytest.mark.parametrize("search", [{"num_beams": 3}, {"do_sample": True, "seed": 7, "top_k": 5}], ids=str)
def test_drafting_asked_with_beams_or_sampling_is_ignored_with_a_warning(summarizer, search):
    """As transformers does for beams: code ported from it runs, and gets the search it asked for."""
    ids = np.array([summarizer.tokenizer.encode(HELD_OUT[5]["article"])])
    unasked = summarizer.model.generate(ids, **search)
    stats = DraftStats()
    with pytest.warns(UserWarning, match="greedy decoding only.*ignored"):
        asked = summarizer.model.generate(ids, prompt_lookup_num_tokens=4, draft_stats=stats, **search)
    assert asked.tolist() == unasked.tolist()
    assert stats.runs == 0  # nothing was drafted


def _spy_options(summarizer, monkeypatch) -> list:
    seen = []
    generate = summarizer.model.generate

    def spy(*args, options=None, **kwargs):
        seen.append(options)
        return generate(*args, options=options, **kwargs)

    monkeypatch.setattr(summarizer.model, "generate", spy)
    return seen


def test_summarizer_drafts_greedy_by_default_and_gives_the_same_text(summarizer, monkeypatch):
    from engine import GenerationOptions
    from engine.summarizer import DRAFT_TOKENS

    seen = _spy_options(summarizer, monkeypatch)
    for example in HELD_OUT[60:70]:
        drafted = summarizer.summarize(example["article"], GenerationOptions(num_beams=1))
        plain = summarizer.summarize(example["article"],
                                     GenerationOptions(num_beams=1, prompt_lookup_num_tokens=0))
        assert drafted.token_ids == plain.token_ids
    assert [o.prompt_lookup_num_tokens for o in seen[:2]] == [DRAFT_TOKENS, 0]  # an explicit 0 stays off


@pytest.mark.parametrize("options", [{"num_beams": 4}, {"do_sample": True, "seed": 1}], ids=str)
def test_summarizer_leaves_beams_and_sampling_undrafted(summarizer, monkeypatch, options):
    from engine import GenerationOptions

    seen = _spy_options(summarizer, monkeypatch)
    summarizer.summarize(HELD_OUT[0]["article"], GenerationOptions(**options))
    assert seen[0].prompt_lookup_num_tokens is None


@pytest.mark.parametrize("width", [2, 5, 9])
def test_a_verified_position_gets_the_bits_a_plain_step_gives_it(summarizer, width):
    """Not only the same tokens: with int8, the logits of each position of one multi-position run
    equal, bit for bit, those of stepping one token at a time (so a near-tie can never flip, even
    on a model whose logits are flat). fp32's linear layers are float GEMMs whose sums take
    other paths for 1 and for several rows, so there the last bits may differ (the README says so)."""
    from engine.model import _CachedDecoder

    model = summarizer.model
    rng = np.random.default_rng(width)
    article = np.array([summarizer.tokenizer.encode(HELD_OUT[90]["article"])])
    mask = np.ones_like(article)
    cross = model.encode(article, mask)
    tokens = rng.integers(3, model.decoder_embedding.vocab, 3 + width)

    def state():
        return _CachedDecoder(model.sessions.decoder, model.decoder_embedding, model.layers, cross, mask, rows=1)

    stepped = state()
    step_logits = [stepped.step(np.array([[t]]))[0] for t in tokens]
    drafted = state()
    for t in tokens[:3]:
        drafted.step(np.array([[t]]))
    run_logits = drafted.run(tokens[3:][None, :])[0]
    for j in range(width):
        if summarizer.model.folder.name == "int8":
            np.testing.assert_array_equal(run_logits[j], step_logits[3 + j])
        else:
            np.testing.assert_allclose(run_logits[j], step_logits[3 + j], rtol=0, atol=1e-4)



class _LogitsByPrefix:
    """Spies on the decoding: every logits vector row r got, keyed by (r, the tokens the row had
    fed: its prefix), and what each row accepted of its draft at each run."""

    def __init__(self, monkeypatch) -> None:
        from engine.generation import drafting
        from engine.model import _CachedDecoder

        self.seen: dict[tuple[int, tuple[int, ...]], bytes] = {}
        self.accepted_per_run: list[list[int]] = []
        run, keep, accept = _CachedDecoder.run, _CachedDecoder.keep, drafting._accept

        def spied_run(state, input_ids):
            logits = run(state, input_ids)
            fed = getattr(state, "spy_fed", None) or [[] for _ in range(input_ids.shape[0])]
            state.spy_new = input_ids.tolist()
            for r, tokens in enumerate(state.spy_new):
                for j in range(len(tokens)):
                    key = (r, tuple(fed[r] + tokens[: j + 1]))
                    assert self.seen.setdefault(key, logits[r, j].tobytes()) == logits[r, j].tobytes(), key
                fed[r].extend(tokens)  # a plain step keeps its one token; keep() cuts a drafted run
            state.spy_fed = fed
            self.accepted_per_run.append([])
            return logits

        def spied_keep(state, count):
            for r, tokens in enumerate(state.spy_new):
                del state.spy_fed[r][len(state.spy_fed[r]) - len(tokens) + count:]
            return keep(state, count)

        def spied_accept(config, output, draft, logits):
            accepted, finished = accept(config, output, draft, logits)
            self.accepted_per_run[-1].append(accepted)
            return accepted, finished

        monkeypatch.setattr(_CachedDecoder, "run", spied_run)
        monkeypatch.setattr(_CachedDecoder, "keep", spied_keep)
        monkeypatch.setattr(drafting, "_accept", spied_accept)


def test_a_drafted_rows_logits_are_its_own_bit_for_bit_whatever_runs_beside_it(summarizer, monkeypatch):
    """Stronger than equal tokens: every logits vector a row of a drafted batch gets equals, bit
    for bit, the one the same row gets for the same prefix when it runs alone, also after runs in
    which the rows accepted different numbers of drafted tokens, and a position verified again
    (after its row gave it back to stay in step) gets the same bits again. (Both precisions hold
    here; fp32's float GEMMs could in principle differ in the last bits with the number of rows.)"""
    articles = [e["article"] for e in HELD_OUT[100:106]]
    ids, mask = padded_ids(summarizer.tokenizer, articles)
    spy = _LogitsByPrefix(monkeypatch)
    summarizer.model.generate(ids, mask, num_beams=1, prompt_lookup_num_tokens=8, max_new_tokens=24)
    in_batch = spy.seen
    assert any(len(set(run)) > 1 for run in spy.accepted_per_run)  # rows really accepted apart
    compared = 0
    for r, article in enumerate(articles):
        spy.seen = {}
        summarizer.model.generate(np.array([summarizer.tokenizer.encode(article)]), num_beams=1,
                                  prompt_lookup_num_tokens=8, max_new_tokens=24)
        for (_, prefix), alone in spy.seen.items():
            if (r, prefix) in in_batch:
                assert in_batch[r, prefix] == alone, (r, prefix)
                compared += 1
    assert compared >= len(articles) * 10  # every row's summary, at least


def test_the_cache_is_copied_only_when_it_must_be_reordered_or_trimmed(summarizer, monkeypatch):
    """A plain greedy step appends to the cache and nothing else (no reorder by an identity index,
    no trim): the graph's edit branches run only for beam search's reorder and for drafted
    positions the rows did not keep."""
    # Articles with their words reversed: the model still copies from them, so drafts are made,
    # but in the wrong order, so most are rejected (the fixture's own articles' drafts never are).
    articles = [np.array([summarizer.tokenizer.encode(" ".join(reversed(e["article"].split())))])
                for e in HELD_OUT[:3]]
    decoder = summarizer.model.sessions.decoder
    flags = []

    class Spy:
        def __getattr__(self, name):
            return getattr(decoder, name)

        def run(self, outputs, feeds, *args):
            flags.append((bool(feeds["reorder_cache"]), bool(feeds["trim_cache"])))
            return decoder.run(outputs, feeds, *args)

    monkeypatch.setattr(summarizer.model, "sessions", summarizer.model.sessions._replace(decoder=Spy()))
    searches = {"greedy": {"num_beams": 1}, "beams": {"num_beams": 3},
                "drafted": {"num_beams": 1, "prompt_lookup_num_tokens": 8}}
    seen = {}
    for name, options in searches.items():
        flags.clear()
        for article in articles:
            summarizer.model.generate(article, max_new_tokens=20, **options)
        seen[name] = set(flags)
    assert seen["greedy"] == {(False, False)}
    assert (True, False) in seen["beams"] and not any(trim for _, trim in seen["beams"])
    assert (False, True) in seen["drafted"] and not any(reorder for reorder, _ in seen["drafted"])
