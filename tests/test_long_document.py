"""Long documents: the splitter (with toy tokenizers and the fixture's real one) and map-reduce
summaries with the trained fixture model, whose answers can be checked."""

from __future__ import annotations

import json
import re

import pytest
from builders import TINY_PEGASUS

from engine import GenerationCancelled, GenerationOptions, Summarizer
from engine.chunking import split_text
from engine.long_document import MODES, summarize_document
from engine.tokenizer import TextTokenizer

EXAMPLES = [json.loads(line) for line in (TINY_PEGASUS / "heldout.jsonl").read_text().splitlines()]


class WordTokenizer:
    """One token per whitespace-separated word, plus an end-of-sequence token."""

    def encode(self, text: str) -> list[int]:
        return [7] * len(text.split()) + [1]

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        return [m.span() for m in re.finditer(r"\S+", text)]


class CharTokenizer:
    """One token per non-space character, no special tokens."""

    def encode(self, text: str) -> list[int]:
        return [ord(c) for c in text if not c.isspace()]

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        return [(i, i + 1) for i, c in enumerate(text) if not c.isspace()]


def words(text: str) -> list[str]:
    return text.split()


# -- the splitter


def test_a_text_that_fits_is_one_chunk_and_a_blank_one_none():
    tok = WordTokenizer()
    assert split_text("  one two three \n", tok, 4) == ["one two three"]
    assert split_text(" \n\t ", tok, 4) == []
    with pytest.raises(ValueError, match="limit"):
        split_text("one", tok, 1)  # no room beside the end-of-sequence token


def test_paragraphs_are_kept_whole_when_they_fit():
    paragraphs = [" ".join(f"p{p}w{i}" for i in range(10)) + "." for p in range(6)]
    text = "\n\n".join(paragraphs)
    chunks = split_text(text, WordTokenizer(), 25)  # 24 words a chunk: two paragraphs each
    assert chunks == ["\n\n".join(paragraphs[i : i + 2]) for i in (0, 2, 4)]


def test_a_long_paragraph_is_cut_between_sentences():
    sentences = [f"Sentence {i} has exactly six words." for i in range(20)]
    text = " ".join(sentences)
    chunks = split_text(text, WordTokenizer(), 21)  # 20 words: three sentences a chunk at most
    assert all(len(words(c)) <= 20 for c in chunks)
    assert all(c.endswith("words.") and c.startswith("Sentence") for c in chunks)
    assert words(" ".join(chunks)) == words(text)


def test_closing_quotes_stay_with_their_sentence():
    text = 'He said "stop here." Then she left! (All of it.) And more words follow here now'
    chunks = split_text(text, WordTokenizer(), 6)
    assert chunks[0] == 'He said "stop here."'
    assert any(c.startswith("(All of it.)") for c in chunks)
    assert not any(c.startswith(('"', ")")) for c in chunks)
    assert words(" ".join(chunks)) == words(text)


def test_a_sentence_longer_than_the_limit_is_cut_between_words_then_tokens():
    sentence = " ".join(f"w{i}" for i in range(50))  # no punctuation at all
    chunks = split_text(sentence, WordTokenizer(), 11)
    assert len(chunks) == 5 and all(len(words(c)) == 10 for c in chunks)
    assert words(" ".join(chunks)) == words(sentence)
    unbroken = "x" * 95  # one "word" of 95 tokens: cut between tokens
    chunks = split_text(f"Intro. {unbroken} End.", CharTokenizer(), 30)
    assert all(len(c.replace(" ", "")) <= 30 for c in chunks)
    assert "".join(chunks).replace(" ", "") == f"Intro.{unbroken}End."


def test_chunks_are_balanced_not_a_full_one_and_a_scrap():
    text = " ".join(f"Short sentence {i}." for i in range(37))  # 111 words
    chunks = split_text(text, WordTokenizer(), 101)  # fits in 2 chunks: 56 + 55, not 99 + 12
    sizes = [len(words(c)) for c in chunks]
    assert len(chunks) == 2 and max(sizes) - min(sizes) <= 3


@pytest.fixture(scope="module")
def summarizer(trained_exports) -> Summarizer:
    return Summarizer.load(str(TINY_PEGASUS), root=trained_exports)


@pytest.mark.parametrize("limit", [8, 40, 256])
def test_every_chunk_fits_with_the_real_tokenizer(summarizer, limit):
    """The fixture's sentencepiece tokenizer: CJK without spaces, a long URL, accents, and a piece
    that starts inside a word (it takes an extra word-start token when encoded alone)."""
    text = "\n\n".join(e["article"] for e in EXAMPLES[:15])
    text += "\n\nSee https://example.org/" + "abcdefghij" * 40 + " for more. "
    text += "日本語の文章です。" * 30 + "\nNæxt ünïcode line, with clauses; and more: " + "é" * 120
    tok = summarizer.tokenizer
    chunks = split_text(text, tok, limit)
    assert len(chunks) > 1
    assert max(len(tok.encode(c)) for c in chunks) <= limit
    assert "".join(chunks).replace(" ", "").replace("\n", "") == text.replace(" ", "").replace("\n", "")


def test_counting_tokens_reads_only_as_far_as_the_limit_needs():
    """The count under the app's article box: exact for a text near the limit, an estimate past
    it that tokenizes a bounded prefix whatever the text's length."""
    tok = TextTokenizer(TINY_PEGASUS, 1)
    article = EXAMPLES[0]["article"]
    assert tok.count(article, 256) == (len(tok.encode(article)), True)
    text = "\n\n".join(e["article"] for e in EXAMPLES) * 10  # about 380,000 characters
    exact = len(tok.encode(text))
    seen = []

    class Recording:
        def __init__(self, inner):
            self.inner = inner

        def encode(self, piece):
            seen.append(len(piece))
            return self.inner.encode(piece)

    tok._tokenizer = Recording(tok._tokenizer)
    tokens, is_exact = tok.count(text, 256)
    assert not is_exact and abs(tokens - exact) < 0.05 * exact, (tokens, exact)
    assert sum(seen) <= 2 * 64 * 256, seen


# -- summaries with the trained fixture


def section(example: dict, fillers: list[str]) -> str:
    """An article padded with sentences that are no "Top story": about 130 tokens, so two sections
    do not fit the fixture's 256 tokens and every chunk holds one top story."""
    return " ".join([example["article"], *fillers])


FILLERS = [
    s for e in EXAMPLES[100:] for s in re.split(r"(?<=\.) ", e["article"]) if "Top story" not in s
]


def long_document(n: int) -> tuple[str, list[str]]:
    parts = [section(EXAMPLES[i], FILLERS[12 * i : 12 * (i + 1)]) for i in range(n)]
    return "\n\n".join(parts), [EXAMPLES[i]["summary"] for i in range(n)]


def test_a_text_that_fits_is_summarized_as_summarizer_does(summarizer):
    text = EXAMPLES[0]["article"]
    reports = []
    result = summarize_document(summarizer, text, on_chunk=reports.append)
    expected = summarizer.summarize(text)
    assert result.text == expected.text == EXAMPLES[0]["summary"]
    assert (result.parts, result.rounds, result.truncated) == (1, 1, False)
    assert result.input_tokens == expected.input_tokens
    assert result.new_tokens == result.summary_tokens == expected.new_tokens
    assert [r.summary is None for r in reports] == [True, False]
    assert reports[1].summary.token_ids == expected.token_ids


def test_the_whole_document_is_read_in_parts(summarizer):
    text, stories = long_document(3)
    assert summarizer.count_tokens(text) > summarizer.max_input_tokens
    result = summarize_document(summarizer, text)
    assert result.parts == 3 and result.rounds == 1 and not result.truncated
    assert [c.text for c in result.chunks] == stories  # each part's own top story
    assert result.text == "\n\n".join(stories)  # short enough: the combination is the summary
    assert all(c.input_tokens <= summarizer.max_input_tokens for c in result.chunks)
    assert result.input_tokens == summarizer.count_tokens(text)
    assert result.seconds == pytest.approx(sum(c.summary.seconds for c in result.chunks))


def test_beginning_only_reads_the_first_tokens(summarizer):
    text, stories = long_document(3)
    result = summarize_document(summarizer, text, mode="beginning")
    expected = summarizer.summarize(text)
    assert result.text == expected.text and result.truncated and result.parts == 1
    assert stories[2] not in result.text


def test_a_combination_still_too_long_is_summarized_again(summarizer):
    text, stories = long_document(3)
    options = GenerationOptions(max_length=16)  # 15 new tokens: three stories do not fit
    result = summarize_document(summarizer, text, options)
    first = [c for c in result.chunks if c.round == 1]
    second = [c for c in result.chunks if c.round == 2]
    assert [c.text for c in first] == stories and result.rounds == 2 and len(second) == 1
    combined = "\n\n".join(stories)
    assert second[0].input_tokens == summarizer.count_tokens(combined)
    assert result.text == summarizer.summarize(combined, options).text == second[0].text
    assert result.summary_tokens <= 15 < sum(c.summary.new_tokens for c in first)


def test_progress_reports_each_chunk_and_the_text_so_far(summarizer):
    text, stories = long_document(3)
    reports, texts = [], []
    result = summarize_document(summarizer, text, on_chunk=reports.append, on_text=texts.append)
    assert [(r.index, r.count, r.summary is not None) for r in reports] == [
        (i, 3, done) for i in range(3) for done in (False, True)
    ]
    assert texts[-1] == result.text
    # while part 2 is written, part 1's summary is already there, then part 2's grows
    second = [t for t in texts if t.startswith(stories[0] + "\n\n")]
    assert second and all(stories[1].startswith(t.split("\n\n")[1]) for t in second if "\n\n" in t)


def test_cancel_between_chunks(summarizer):
    text, _ = long_document(3)
    stop = []
    reports = []

    def on_chunk(chunk):
        reports.append(chunk)
        if chunk.summary is not None:
            stop.append(True)  # cancel once the first part is done

    with pytest.raises(GenerationCancelled):
        summarize_document(summarizer, text, on_chunk=on_chunk, should_stop=lambda: bool(stop))
    assert [(r.index, r.summary is not None) for r in reports] == [(0, False), (0, True)]


def test_cancel_within_a_chunk(summarizer):
    text, _ = long_document(3)
    texts = []
    with pytest.raises(GenerationCancelled):
        summarize_document(summarizer, text, on_text=texts.append, should_stop=lambda: len(texts) >= 3)
    assert len(texts) == 3  # stopped at the next decoder step, inside the first part


def test_one_sentence_longer_than_the_model_reads(summarizer):
    vocabulary = " ".join(e["article"] for e in EXAMPLES[:40]).replace(".", "").replace(":", "")
    sentence = " ".join(vocabulary.split()[:700])  # no sentence end at all, about 800 tokens
    assert summarizer.count_tokens(sentence) > 2 * summarizer.max_input_tokens
    result = summarize_document(summarizer, sentence, GenerationOptions(max_length=24))
    assert result.parts >= 3 and result.text.strip()
    assert all(c.input_tokens <= summarizer.max_input_tokens for c in result.chunks)


def test_bad_requests_say_what_is_accepted(summarizer):
    with pytest.raises(ValueError, match="whole, beginning"):
        summarize_document(summarizer, "Some text.", mode="all")
    with pytest.raises(ValueError, match="empty"):
        summarize_document(summarizer, "  \n ")
    with pytest.raises(ValueError, match="num_beams"):
        summarize_document(summarizer, long_document(3)[0], GenerationOptions(num_beams=0))
    assert MODES == ("whole", "beginning")
