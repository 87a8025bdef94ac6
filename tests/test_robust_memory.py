"""No growth over many requests: 500 summaries in a row with the trained fixture model (int8) in
a fresh process; its resident memory after the 500th is within 5% of what it was after the 50th."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from builders import TINY_PEGASUS

REPO = Path(__file__).resolve().parents[1]

_RUN = r"""
import json, os, sys, time
from engine import Summarizer, GenerationOptions

def rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

articles = [json.loads(line)["article"] for line in open(sys.argv[2])]
summarizer = Summarizer.load(sys.argv[1], n_threads=1)
options = [GenerationOptions(), GenerationOptions(num_beams=1), GenerationOptions(num_beams=4, no_repeat_ngram_size=3)]
marks, streamed, start = {}, [0], time.perf_counter()
for i in range(1, 501):
    on_text = (lambda text: streamed.__setitem__(0, streamed[0] + 1)) if i % 2 else None
    summary = summarizer.summarize(articles[i % len(articles)], options[i % 3], on_text=on_text)
    assert summary.text
    if i in (1, 50, 100, 200, 300, 400, 500):
        marks[i] = rss()
print(json.dumps({"rss": marks, "seconds": time.perf_counter() - start, "streamed": streamed[0]}))
"""


def test_500_summaries_in_a_row_do_not_grow_memory(tmp_path):
    from engine.export.pipeline import export

    paths = export(str(TINY_PEGASUS), tmp_path / "models", precision="int8")
    result = subprocess.run(
        [sys.executable, "-c", _RUN, str(paths.folder), str(TINY_PEGASUS / "heldout.jsonl")],
        cwd=REPO,
        check=False,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    rss = {int(k): v for k, v in report["rss"].items()}
    growth = rss[500] / rss[50] - 1
    print(
        f"\n500 summaries in {report['seconds']:.1f} s; RSS after 50: {rss[50] / 2**20:.1f} MiB, after 500: "
        f"{rss[500] / 2**20:.1f} MiB ({growth:+.2%}); marks (MiB): "
        f"{ {k: round(v / 2**20, 1) for k, v in rss.items()} }"
    )
    assert report["streamed"] > 250
    assert growth <= 0.05
