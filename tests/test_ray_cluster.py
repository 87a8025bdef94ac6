"""The batch job on a local Ray cluster (engine/cluster.py, ``pegasus-summarize summarize --ray``):
the single-process CLI's summaries exactly, and a worker killed mid-job loses and repeats no row.
Slow (a Ray cluster and its worker processes start in 10-30 s on 2 busy cores)."""

from __future__ import annotations

import json
import os
import signal

import pytest
from builders import TINY_PEGASUS

from engine import GenerationOptions, Summarizer
from engine.cli import main

ray = pytest.importorskip("ray")
psutil = pytest.importorskip("psutil")
pytestmark = pytest.mark.slow

EXAMPLES = [json.loads(line) for line in (TINY_PEGASUS / "heldout.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def cluster():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def rows(path) -> dict[str, dict]:
    found = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    by_file = {r["file"]: r for r in found}
    assert len(by_file) == len(found)  # each input once
    return by_file


def test_a_folder_on_ray_gets_the_single_process_cli_summaries(cluster, trained_exports, tmp_path, capsys):
    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(9):
        (folder / f"{i}.txt").write_text(EXAMPLES[i]["article"])
    (folder / "long.txt").write_text("\n\n".join(" ".join(e["article"] for e in EXAMPLES[i : i + 6])
                                                 for i in (100, 110, 120)))
    (folder / "broken.txt").write_bytes(bytes(range(256)) * 8)
    common = ["--model", str(TINY_PEGASUS), "--models-dir", str(trained_exports), "--batch-size", "3"]
    assert main(["summarize", str(folder), "--out", str(tmp_path / "cli.jsonl"), *common]) == 1  # broken.txt
    assert main(["summarize", str(folder), "--ray", "--out", str(tmp_path / "ray.jsonl"), *common]) == 1
    err = capsys.readouterr().err
    assert "11/11 summarized" in err and "Summarized 10 of 11 files" in err
    cli, on_ray = rows(tmp_path / "cli.jsonl"), rows(tmp_path / "ray.jsonl")
    assert set(cli) == set(on_ray) and len(cli) == 11
    for file, row in cli.items():
        keys = ("status", "summary", "input_tokens", "summary_tokens", "parts")
        assert {k: on_ray[file][k] for k in keys} == {k: row[k] for k in keys}, file
    assert on_ray[str(folder / "long.txt")]["parts"] > 1
    assert "binary" in on_ray[str(folder / "broken.txt")]["error"]


def test_a_worker_killed_mid_job_loses_and_repeats_no_row(cluster, trained_exports, tmp_path):
    import pyarrow.parquet as pq

    from engine.cluster import summarize_on_ray

    table = tmp_path / "articles.jsonl"
    table.write_text("".join(json.dumps({"key": f"doc{i}", "text": e["article"]}) + "\n"
                             for i, e in enumerate(EXAMPLES[:16])))
    options = GenerationOptions(num_beams=4, min_length=32, max_length=40)  # slow enough to be caught mid-job
    killed: list[tuple[int, int]] = []

    def kill_a_worker(message: str) -> None:
        done = int(message.split("/")[0])
        if killed:
            return
        for process in psutil.process_iter(["cmdline"]):
            if "_Worker" in " ".join(process.info["cmdline"] or []):
                os.kill(process.pid, signal.SIGKILL)
                killed.append((process.pid, done))
                return

    out = tmp_path / "out.parquet"
    report = summarize_on_ray([table], out, model=TINY_PEGASUS, root=trained_exports, options=options,
                              batch_size=1, id_column="key", on_progress=kill_a_worker)
    assert killed and killed[0][1] < 16  # a worker died while rows were still to come
    got = pq.read_table(out).to_pylist()
    assert sorted(r["file"] for r in got) == sorted(f"doc{i}" for i in range(16))  # each once
    assert (report.total, report.ok, report.failed) == (16, 16, 0)
    alone = Summarizer.load(str(TINY_PEGASUS), root=trained_exports)
    for row in got[:6]:
        assert row["summary"] == alone.summarize(EXAMPLES[int(row["file"][3:])]["article"], options).text
