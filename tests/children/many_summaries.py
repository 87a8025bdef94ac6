"""500 summaries in a row with one model; prints a JSON report of the resident memory at marks.

Arguments: export folder, heldout.jsonl (articles). Linux (/proc/self/statm).
"""

from __future__ import annotations

import json
import os
import sys
import time


def rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def main(folder: str, heldout: str) -> None:
    from engine import GenerationOptions, Summarizer

    with open(heldout) as f:
        articles = [json.loads(line)["article"] for line in f]
    summarizer = Summarizer.load(folder, n_threads=1)
    options = [GenerationOptions(), GenerationOptions(num_beams=1),
               GenerationOptions(num_beams=4, no_repeat_ngram_size=3)]
    marks, streamed, start = {}, [0], time.perf_counter()
    for i in range(1, 501):
        on_text = (lambda text: streamed.__setitem__(0, streamed[0] + 1)) if i % 2 else None
        summary = summarizer.summarize(articles[i % len(articles)], options[i % 3], on_text=on_text)
        assert summary.text
        if i in (1, 50, 100, 200, 300, 400, 500):
            marks[i] = rss()
    print(json.dumps({"rss": marks, "seconds": time.perf_counter() - start, "streamed": streamed[0]}))


if __name__ == "__main__":
    main(*sys.argv[1:3])
