"""The benchmark harness (``python -m benchmarks``) end to end on a tiny shape, and its checks."""

from __future__ import annotations

import json
import statistics

import numpy as np
import pytest

from benchmarks.engines import check_same_work, make_inputs
from benchmarks.timing import Stats

ENGINES = ["pytorch", "onnx-fp32", "onnx-int8", "ct2-int8"]
BATCHES, BEAMS, NEW_TOKENS = (1, 2), (1, 2), 8


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    pytest.importorskip("ctranslate2")
    pytest.importorskip("matplotlib")
    pytest.importorskip("psutil")
    from benchmarks.__main__ import main

    out, cache = tmp_path_factory.mktemp("bench-out"), tmp_path_factory.mktemp("bench-cache")
    argv = [
        "--shapes",
        "tiny",
        "--engines",
        *ENGINES,
        "--batches",
        *map(str, BATCHES),
        "--beams",
        *map(str, BEAMS),
        "--rounds",
        "1",
        "--warmup",
        "1",
        "--threads",
        "1",
        "--input-tokens",
        "64",
        "--new-tokens",
        str(NEW_TOKENS),
        "--pause",
        "0",
        "--out",
        str(out),
        "--cache-dir",
        str(cache),
    ]
    assert main(argv) == 0
    return out, json.loads((out / "results.json").read_text())


def test_every_engine_and_grid_point_is_timed_with_the_same_work(run):
    _, results = run
    rows = results["rows"]
    assert [(r["batch"], r["beams"], r["engine"]) for r in rows] == [
        (b, k, e) for b in BATCHES for k in BEAMS for e in ENGINES
    ]
    for r in rows:
        assert r["new_tokens"] == r["batch"] * NEW_TOKENS
        assert len(r["seconds"]) == 1 and r["seconds"][0] > 0
        assert r["peak_rss"] >= r["generate_peak_rss"] > 0
    assert all(r["same_tokens_as_pytorch"] == 1.0 for r in rows if r["engine"] == "pytorch")


def test_derived_figures_agree_with_the_measured_seconds(run):
    _, results = run
    rows = results["rows"]
    median = {(r["batch"], r["beams"], r["engine"]): r["stats"]["median"] for r in rows}
    for r in rows:
        st, point = r["stats"], (r["batch"], r["beams"])
        assert st["median"] == statistics.median(r["seconds"])
        assert st["minimum"] <= st["q1"] <= st["median"] <= st["q3"] <= st["maximum"]
        assert r["tokens_per_s"] == pytest.approx(r["new_tokens"] / st["median"])
        assert r["speedup_vs_pytorch"] == pytest.approx(median[(*point, "pytorch")] / st["median"])
        assert r["time_vs_ct2"] == pytest.approx(st["median"] / median[(*point, "ct2-int8")])


def test_sizes_loads_and_exports_are_reported(run):
    _, results = run
    shape = results["shapes"]["tiny"]
    assert set(shape["disk_bytes"]) == set(ENGINES) and all(
        v > 0 for v in shape["disk_bytes"].values()
    )
    assert set(shape["exports"]) == {"onnx-fp32", "onnx-int8", "ct2-int8"}
    for export in shape["exports"].values():
        assert not export["reused"] and export["seconds"] > 0 and export["peak_rss"] > 0
    for ready in shape["engines"].values():
        assert ready["import_s"] >= 0 and ready["load_s"] > 0 and ready["load_peak_rss"] > 0
    assert results["machine"]["cpu"] and results["machine"]["logical_cpus"] >= 1
    assert results["command"].startswith("python -m benchmarks --shapes tiny")
    assert results["complete"] is True and results["load_after"]["cpu_busy_percent"] >= 0


def test_markdown_and_chart_show_the_same_numbers(run):
    out, results = run
    text = (out / "results.md").read_text()
    assert results["command"] in text and results["machine"]["cpu"] in text
    for r in results["rows"]:
        line = f"| {r['batch']} | {r['beams']} | {r['label']} | {r['stats']['median']:.2f} |"
        assert line in text
    png = (out / "results.png").read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 10_000


def _reply(tokens, ids):
    from benchmarks.engines import digest

    return {"input_digest": digest(ids), "tokens": np.asarray(tokens).tolist()}


def test_the_same_work_check_rejects_short_early_ended_or_different_work():
    ids, _ = make_inputs(50, 2, 16)
    good = np.full((2, 4), 7)
    assert check_same_work({"pytorch": _reply(good, ids), "x": _reply(good, ids)}, 2, 4) == {
        "pytorch": 1.0,
        "x": 1.0,
    }
    with pytest.raises(RuntimeError, match="shaped"):
        check_same_work({"x": _reply(good[:, :3], ids)}, 2, 4)
    ended = good.copy()
    ended[1, 2] = 1  # </s>
    with pytest.raises(RuntimeError, match="ended"):
        check_same_work({"x": _reply(ended, ids)}, 2, 4)
    with pytest.raises(RuntimeError, match="different inputs"):
        check_same_work({"x": _reply(good, ids), "y": _reply(good, ids + 1)}, 2, 4)


def test_inputs_are_the_same_for_every_engine_and_end_with_eos():
    a, mask = make_inputs(96103, 4, 512, seed=0)
    b, _ = make_inputs(96103, 4, 512, seed=0)
    assert a.shape == (4, 512) and (a == b).all() and mask.all()
    assert (a[:, -1] == 1).all() and (a[:, :-1] >= 3).all()


def test_stats_median_and_spread():
    st = Stats.of([3.0, 1.0, 2.0, 10.0])
    assert (st.n, st.median, st.minimum, st.maximum) == (4, 2.5, 1.0, 10.0)
    assert st.q1 <= st.median <= st.q3


def test_the_drafting_benchmark_runs_and_checks_tokens(trained_exports):
    """``python -m benchmarks.drafting`` on the trained fixture's int8 export: every figure is
    printed, and its comparisons (which stop on any changed token) got through."""
    import subprocess
    import sys
    from pathlib import Path

    [manifest] = trained_exports.rglob("int8/manifest.json")
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.drafting", str(manifest.parent), "--rounds", "1", "--skip-fixture"],
        capture_output=True, text=True, timeout=600, check=False, cwd=Path(__file__).resolve().parents[1],
    )
    assert result.returncode == 0, result.stdout + result.stderr
    for figure in ("verification cost per run", "nothing to copy", "an article holding its summary"):
        assert figure in result.stdout, result.stdout
