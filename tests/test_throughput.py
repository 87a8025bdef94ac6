"""``python -m benchmarks.throughput`` (issue 17) runs end to end on the trained fixture's int8
export: the documents-per-call table is printed, and its check that no batch size changes a
summary (it stops otherwise) got through."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from benchmarks.throughput import articles, table


def test_the_throughput_benchmark_runs_and_checks_tokens(trained_exports):
    [manifest] = trained_exports.rglob("int8/manifest.json")
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.throughput", "--export-dir", str(manifest.parent), "--rounds", "1",
         "--documents", "4", "--sizes", "1", "4", "--input-tokens", "40", "--new-tokens", "6"],
        capture_output=True, text=True, timeout=600, check=False, cwd=Path(__file__).resolve().parents[1],
    )
    assert result.returncode == 0, result.stdout + result.stderr
    lines = [line for line in result.stdout.splitlines() if line.startswith("| greedy") or line.startswith("| beam 4")]
    assert len(lines) == 4, result.stdout
    assert lines[0].endswith("| 1.00x |")  # each size against 1 document per call


def test_articles_and_table():
    ids = articles(vocab=100, count=3, tokens=7)
    assert ids.shape == (3, 7) and (ids[:, -1] == 1).all() and (ids[:, :-1] >= 3).all()
    row = {"beams": 4, "per_call": 8, "seconds": 2.0, "docs_per_min": 240.0, "speedup": 3.0, "min": 1.9, "max": 2.1}
    assert table([row], 8).splitlines()[-1] == "| beam 4 | 8 | 2.0 (1.9–2.1) | 240.0 | 3.00x |"
