"""Batched summaries are exactly the summaries each document gets alone (issue 17), with the
trained fixture in int8 and fp32: greedy with drafting and beam 4, documents of different lengths
in one call, any batch size; long documents' parts pooled with other documents; failures alone."""

from __future__ import annotations

import json

import numpy as np
import pytest
from builders import TINY_PEGASUS

from engine import GenerationCancelled, GenerationOptions, Summarizer
from engine.long_document import summarize_document, summarize_documents
from engine.model import SOURCE_BLOCK, _CachedDecoder

HELD_OUT = [json.loads(line) for line in (TINY_PEGASUS / "heldout.jsonl").read_text().splitlines()]
GREEDY = GenerationOptions(num_beams=1)  # drafted from the article by default (Summarizer.with_drafting)
BEAM4 = GenerationOptions(num_beams=4)


def articles() -> list[str]:
    """Lengths from a few tokens to past the model's 256: whole articles, their first sentences,
    and articles run together."""
    texts = [e["article"] for e in HELD_OUT[50:56]]
    texts += [". ".join(e["article"].split(". ")[:k]) for k, e in zip((1, 2, 3), HELD_OUT[60:63])]
    texts += [" ".join(e["article"] for e in HELD_OUT[70:74]), " ".join(e["article"] for e in HELD_OUT[80:92])]
    return texts


@pytest.fixture(scope="module", params=["int8", "fp32"])
def summarizer(request, trained_exports) -> Summarizer:
    return Summarizer.load(str(TINY_PEGASUS), precision=request.param, root=trained_exports)


def test_masked_source_blocks_change_no_bit(summarizer):
    """The premise: a source padded to a whole number of SOURCE_BLOCKs gives the same cross K/V
    and decoder logits, bit for bit, whatever the number of masked blocks after it."""
    model, rng = summarizer.model, np.random.default_rng(1)
    for length in (5, 23, 31, 64, 77, 130):
        base = rng.integers(3, 400, length)
        rounded = -(-length // SOURCE_BLOCK) * SOURCE_BLOCK
        seen = []
        for src in (rounded, rounded + SOURCE_BLOCK, rounded + 3 * SOURCE_BLOCK):
            ids = np.zeros((1, src), np.int64)
            ids[0, :length] = base
            mask = (ids != 0).astype(np.int64)
            cross = model.encode(ids, mask)
            state = _CachedDecoder(model.sessions.decoder, model.decoder_embedding, model.layers, cross, mask, rows=1)
            logits = [state.step(np.array([[t]])) for t in (0, 5, 7)]
            seen.append(([c[:, :, :length] for c in cross], logits))
        for cross, logits in seen[1:]:
            assert all(np.array_equal(a, b) for a, b in zip(cross, seen[0][0])), length
            assert all(np.array_equal(a, b) for a, b in zip(logits, seen[0][1])), length


def test_a_batch_is_encoded_into_each_inputs_own_slice(summarizer):
    """The encoder takes a batch one input at a time, into slices of the batch's arrays: each
    input's K/V are its own, bit for bit, with every other input's values elsewhere."""
    model, rng = summarizer.model, np.random.default_rng(2)
    ids = np.zeros((3, 48), np.int64)
    for row, length in enumerate((48, 17, 30)):
        ids[row, :length] = rng.integers(3, 400, length)
    mask = (ids != 0).astype(np.int64)
    batch = model.encode(ids, mask)
    assert all(c.shape == (3, *c.shape[1:]) and c.flags.c_contiguous for c in batch)
    for row in range(3):
        alone = model.encode(ids[row:row + 1], mask[row:row + 1])
        assert all(np.array_equal(b[row:row + 1], a) for b, a in zip(batch, alone)), row
    assert not np.array_equal(batch[0][0], batch[0][1])


@pytest.mark.parametrize("options", [GREEDY, BEAM4], ids=["greedy-drafted", "beam4"])
def test_a_batch_gives_each_text_its_summary_alone(summarizer, options):
    texts = articles()
    alone = [summarizer.summarize(t, options) for t in texts]
    assert len({s.input_tokens for s in alone}) >= 8 and any(s.truncated for s in alone)
    together = summarizer.summarize_batch(texts, options)  # every length padded to the longest
    many = summarizer.summarize_many(texts, options, batch_size=3)  # sorted, in calls of 3
    for a, b, c in zip(alone, together, many):
        assert a.token_ids == b.token_ids == c.token_ids
        assert a.text == b.text == c.text
        assert (a.input_tokens, a.truncated) == (b.input_tokens, b.truncated) == (c.input_tokens, c.truncated)
    assert [s.text for s in alone[:6]] == [e["summary"] for e in HELD_OUT[50:56]]  # the trained model's
    if options is GREEDY:
        assert summarizer.with_drafting(options).prompt_lookup_num_tokens > 0


def test_documents_long_and_short_pooled_get_their_own_summaries(summarizer):
    long_text = "\n\n".join(" ".join(e["article"] for e in HELD_OUT[i : i + 6]) for i in (100, 110, 120))
    texts = [long_text, *articles()[:5], long_text[: len(long_text) // 2]]
    for options in (GREEDY, BEAM4, None):  # None: the fixture's own beam 2
        alone = [summarize_document(summarizer, t, options) for t in texts]
        assert alone[0].parts > 1
        chunks = []
        results = dict(summarize_documents(summarizer, texts, options, batch_size=4,
                                           on_chunk=lambda i, c: chunks.append((i, c.round, c.index))))
        assert sorted(results) == list(range(len(texts)))
        for index, expected in enumerate(alone):
            got = results[index]
            assert got.text == expected.text and got.parts == expected.parts
            assert [c.summary.token_ids for c in got.chunks] == [c.summary.token_ids for c in expected.chunks]
        assert (0, 1, alone[0].parts - 1) in chunks


def test_a_failing_document_fails_alone(summarizer):
    def unreadable() -> str:
        raise OSError("no such file")

    texts = [HELD_OUT[0]["article"], "  ", unreadable, HELD_OUT[1]["article"]]
    results = dict(summarize_documents(summarizer, texts, batch_size=4))
    assert isinstance(results[1], ValueError) and isinstance(results[2], OSError)
    assert [results[0].text, results[3].text] == [HELD_OUT[0]["summary"], HELD_OUT[1]["summary"]]


def test_a_call_that_fails_is_retried_piece_by_piece(summarizer, monkeypatch):
    real = Summarizer.summarize_batch

    def fails_on_poison(self, texts, *args, **kwargs):
        if any("POISON" in t for t in texts):
            raise RuntimeError("a poisoned input")
        return real(self, texts, *args, **kwargs)

    monkeypatch.setattr(Summarizer, "summarize_batch", fails_on_poison)
    texts = [HELD_OUT[0]["article"], "POISON " + HELD_OUT[2]["article"], HELD_OUT[1]["article"]]
    results = dict(summarize_documents(summarizer, texts, batch_size=3))
    assert isinstance(results[1], RuntimeError)
    assert [results[0].text, results[2].text] == [HELD_OUT[0]["summary"], HELD_OUT[1]["summary"]]


def test_cancel_and_bad_options(summarizer):
    texts = [e["article"] for e in HELD_OUT[:6]]
    with pytest.raises(GenerationCancelled):
        list(summarize_documents(summarizer, texts, batch_size=2, should_stop=lambda: True))
    with pytest.raises(ValueError, match="num_beams"):
        list(summarize_documents(summarizer, texts, GenerationOptions(num_beams=0)))
    with pytest.raises(ValueError, match="batch_size"):
        summarizer.summarize_many(texts, batch_size=0)
