"""Interleaved rounds across engine workers, and the statistics of their times.

One round asks every engine, in turn, for the same generate call (A, B, C, D, A, B, C, D, ...),
so a slow spell of the machine hits every engine alike instead of one. The first ``warmup``
rounds are not timed. A pause before each call lets the previous engine's spinning threads go idle.
This module knows nothing about models: it sends requests and collects replies.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Stats:
    """Median and spread of a list of seconds."""

    n: int
    median: float
    minimum: float
    maximum: float
    q1: float
    q3: float

    @classmethod
    def of(cls, values: list[float]) -> Stats:
        if not values:
            raise ValueError("no values to summarize")
        ordered = sorted(values)
        if len(ordered) > 1:
            q1, _, q3 = statistics.quantiles(ordered, n=4, method="inclusive")
        else:
            q1 = q3 = ordered[0]
        return cls(len(ordered), statistics.median(ordered), ordered[0], ordered[-1], q1, q3)

    def as_dict(self) -> dict:
        return asdict(self)


def interleaved(
    workers: dict, request: dict, *, warmup: int, rounds: int, pause: float, on_reply=None
) -> tuple[dict[str, dict], dict[str, list[dict]]]:
    """Run ``warmup`` untimed then ``rounds`` timed rounds over ``workers`` (name -> ``Child``).

    Return (each engine's first warm-up reply, with its tokens; each engine's timed replies).
    The first reply of each engine keeps its tokens, for the same-work check.
    """
    first: dict[str, dict] = {}
    timed: dict[str, list[dict]] = {name: [] for name in workers}
    for round_index in range(warmup + rounds):
        for name, worker in workers.items():
            time.sleep(pause)
            reply = worker.request(request | {"keep_tokens": name not in first})
            first.setdefault(name, reply)
            if round_index >= warmup:
                timed[name].append(reply)
            if on_reply:
                on_reply(name, round_index, reply)
    return first, timed
