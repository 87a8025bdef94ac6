"""The drafter alone: where a row's draft comes from (the article first, then its own output;
the longest recent n-gram first; an n-gram's first occurrence), how long it is, and how that length
adapts. (That drafting never changes a token is tests/test_decoding_loop.py's and
tests/test_drafting.py's.)"""

from __future__ import annotations

import numpy as np
import pytest

from engine.generation.drafting import Drafter, next_draft_length

ARTICLE = [10, 11, 12, 13, 14, 15, 11, 20, 21, 22]


def drafter(max_ngram=2, max_tokens=3, sources=(ARTICLE,)) -> Drafter:
    return Drafter([np.array(s) for s in sources], max_ngram, max_tokens)


def test_the_tokens_after_the_outputs_last_words_in_the_article():
    assert drafter().propose(0, [0, 5, 12], room=10) == [13, 14, 15]


def test_the_longest_recent_ngram_wins_and_its_first_occurrence():
    d = drafter()
    # 11 occurs twice in the article (then 12, then 20); the bigram (15, 11) only before 20
    assert d.propose(0, [0, 11], room=10) == [12, 13, 14]  # unigram: its first occurrence
    assert d.propose(0, [0, 15, 11], room=10) == [20, 21, 22]  # the bigram beats it


def test_the_article_before_the_output_and_the_output_when_the_article_has_nothing():
    d = drafter(max_ngram=1)
    # 12 occurs in the output too (followed by 7), but the article is looked up first
    assert d.propose(0, [0, 12, 7, 12], room=10) == [13, 14, 15]
    # 30 is not in the article: the output's own earlier 30 is followed by 31 32
    assert d.propose(0, [0, 30, 31, 32, 30], room=10) == [31, 32, 30]


def test_an_ngram_at_the_very_end_of_the_output_drafts_nothing_from_itself():
    assert drafter(max_ngram=1).propose(0, [0, 30], room=10) == []
    assert drafter(max_ngram=1).propose(0, [0, 30, 30], room=10) == [30]


def test_a_bigram_in_the_output_beats_a_unigram_in_the_article():
    d = drafter(max_ngram=2)
    # (40, 12) is not in the article but is in the output, followed by 41; 12 alone is in the article
    assert d.propose(0, [0, 40, 12, 41, 40, 12], room=10) == [41, 40, 12]


def test_nothing_matches_or_no_room_drafts_nothing_and_room_caps_the_draft():
    d = drafter()
    assert d.propose(0, [0, 99], room=10) == []
    assert d.propose(0, [0, 12], room=0) == []
    assert d.propose(0, [0, 12], room=2) == [13, 14]
    assert d.propose(0, [0, 22], room=10) == []  # the article's last token: nothing follows it


@pytest.mark.parametrize(("length", "drafted", "accepted", "limit", "expected"), [
    (4, 0, 0, 8, 4),  # no draft: no evidence either way
    (4, 4, 4, 8, 6),  # all taken: longer
    (7, 7, 7, 8, 8),  # never past the limit
    (6, 6, 2, 8, 3),  # rejected early: about what was taken
    (6, 6, 0, 8, 1),  # rejected at once: never below 1
    (3, 3, 2, 8, 2),  # never longer after a rejection
])
def test_the_draft_length_adapts_to_what_was_accepted(length, drafted, accepted, limit, expected):
    assert next_draft_length(length, drafted, accepted, limit) == expected


def test_each_row_adapts_on_its_own_and_from_its_own_article():
    d = drafter(max_tokens=4, sources=(ARTICLE, [50, 51, 52, 53, 54, 55]))
    assert d.propose(0, [0, 10], room=10) == [11, 12, 13, 14]
    assert d.propose(1, [0, 50], room=10) == [51, 52, 53, 54]
    d.update(0, drafted=4, accepted=0)  # row 0's draft was wrong at once
    assert d.propose(0, [0, 10], room=10) == [11]
    assert d.propose(1, [0, 50], room=10) == [51, 52, 53, 54]  # row 1's is unchanged
    assert d.propose(0, [0, 50], room=10) == []  # and row 0 never drafts from row 1's article
