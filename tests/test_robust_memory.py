"""No growth over many requests: 500 summaries in a row with the trained fixture model (int8) in
a fresh process; its resident memory after the 500th is within 5% of what it was after the 50th."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import children
from builders import TINY_PEGASUS

REPO = Path(__file__).resolve().parents[1]

def test_500_summaries_in_a_row_do_not_grow_memory(trained_exports):
    from engine.model_dir import export_dir

    folder = export_dir(str(TINY_PEGASUS), "int8", trained_exports)
    result = subprocess.run(
        children.command("many_summaries", folder, TINY_PEGASUS / "heldout.jsonl"),
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
