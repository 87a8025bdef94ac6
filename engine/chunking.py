"""Split a long text into chunks the model reads whole, cut at the coarsest boundaries that fit.

Boundaries, coarsest first: paragraphs (a blank line), lines, sentences, clauses (after ``;``,
``:`` or ``,``) and words. A single word longer than the limit (a long URL, or text written
without spaces) is cut between two tokens. Sizes are counted with the model's own tokenizer, so
no chunk is longer than the limit, and the chunks are balanced: a text of 1.1 limits becomes two
halves, not a full chunk and a scrap.

This module knows nothing about models or decoding. It takes any tokenizer with
``encode(text) -> ids`` (special tokens included) and ``token_spans(text) -> [(start, end)]``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import NamedTuple, Protocol

__all__ = ["TokenCounter", "split_text"]

# Each pattern's matches end where a text may be cut; the whitespace around a cut is dropped.
_BOUNDARIES = (
    re.compile(r"\n[ \t]*\n"),  # paragraphs
    re.compile(r"\n"),  # lines
    re.compile(r"[.!?…]+[\"'”’»)\]]*(?=\s)|[。！？]+"),  # sentences, closing quotes kept
    re.compile(r"[;:,](?=\s)|[；：，、]"),  # clauses
    re.compile(r"\s+"),  # words
)


class TokenCounter(Protocol):
    def encode(self, text: str) -> list[int]: ...

    def token_spans(self, text: str) -> list[tuple[int, int]]: ...


class _Unit(NamedTuple):
    start: int
    end: int
    cost: int  # tokens, without the special tokens every encoding carries


def split_text(text: str, tokenizer: TokenCounter, limit: int) -> list[str]:
    """``text`` as chunks of at most ``limit`` tokens each, special tokens included.

    A text that fits is returned whole (stripped); an empty or blank text gives ``[]``.
    """
    overhead = len(tokenizer.encode(""))  # e.g. the end-of-sequence token
    budget = limit - overhead
    if budget < 1:
        raise ValueError(f"limit must leave room for text beside {overhead} special tokens, got {limit}")

    def cost(start: int, end: int) -> int:
        return len(tokenizer.encode(text[start:end])) - overhead

    start, end = _strip(text, 0, len(text))
    if start == end:
        return []
    total = cost(start, end)
    if total <= budget:
        return [text[start:end]]
    units = _units(text, start, end, 0, cost, budget, tokenizer)
    groups = _balanced(units, total, budget)
    spans = [span for group in groups for span in _fit(group, cost, budget)]
    return [text[s:e] for s, e in spans]


def _strip(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _parts(text: str, start: int, end: int, pattern: re.Pattern) -> list[tuple[int, int]]:
    """The stripped, non-empty pieces of ``text[start:end]`` between the pattern's cuts."""
    cuts = [m.end() for m in pattern.finditer(text, start, end)]
    parts = []
    for a, b in zip([start, *cuts], [*cuts, end]):
        a, b = _strip(text, a, b)
        if a < b:
            parts.append((a, b))
    return parts


def _units(
    text: str, start: int, end: int, level: int, cost: Callable[[int, int], int], budget: int, tokenizer
) -> list[_Unit]:
    """Pieces of ``text[start:end]`` that fit ``budget`` each, cut at the coarsest boundaries."""
    size = cost(start, end)
    if size <= budget:
        return [_Unit(start, end, size)]
    for deeper in range(level, len(_BOUNDARIES)):
        parts = _parts(text, start, end, _BOUNDARIES[deeper])
        if len(parts) > 1:
            return [u for a, b in parts for u in _units(text, a, b, deeper + 1, cost, budget, tokenizer)]
    return _token_cuts(text, start, end, cost, budget, tokenizer)


def _token_cuts(text: str, start: int, end: int, cost, budget: int, tokenizer) -> list[_Unit]:
    """Cut one unbreakable piece between tokens. A piece that starts inside a word may take one
    more token when encoded alone (a word-start marker), so the window shrinks until all fit."""
    starts = [start + a for a, _ in tokenizer.token_spans(text[start:end])]
    window = budget
    while True:
        units = []
        for i in range(0, len(starts), window):
            a, b = _strip(text, starts[i], starts[i + window] if i + window < len(starts) else end)
            if a < b:
                units.append(_Unit(a, b, cost(a, b)))
        excess = max(u.cost for u in units) - budget
        if excess <= 0 or window == 1:
            return units
        window = max(1, window - excess)


def _pack(units: list[_Unit], target: int) -> list[list[_Unit]]:
    """Greedy: each group takes units while their summed cost stays within ``target``."""
    groups: list[list[_Unit]] = []
    size = 0
    for unit in units:
        if groups and size + unit.cost <= target:
            groups[-1].append(unit)
            size += unit.cost
        else:
            groups.append([unit])
            size = unit.cost
    return groups


def _balanced(units: list[_Unit], total: int, budget: int) -> list[list[_Unit]]:
    """As few groups as greedy packing within ``budget`` gives, with the smallest largest group."""
    fewest = len(_pack(units, budget))
    low, high = min(budget, math.ceil(total / fewest)), budget
    while low < high:  # the smallest target that still needs no more groups
        middle = (low + high) // 2
        if len(_pack(units, middle)) <= fewest:
            high = middle
        else:
            low = middle + 1
    return _pack(units, high)


def _fit(group: list[_Unit], cost, budget: int) -> list[tuple[int, int]]:
    """The group's span, checked with an exact count (tokens at the joins may differ from the sum);
    a group that is over is halved until its parts fit. A single unit always fits."""
    start, end = group[0].start, group[-1].end
    if len(group) == 1 or cost(start, end) <= budget:
        return [(start, end)]
    halves = _pack(group, math.ceil(sum(u.cost for u in group) / 2))
    if len(halves) == 1:
        halves = [group[: len(group) // 2], group[len(group) // 2 :]]
    return [span for half in halves for span in _fit(half, cost, budget)]
