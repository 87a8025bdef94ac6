"""What an export costs, by the two ways in: a checkpoint folder read with numpy (the app's first
run and the CLI), and a model object already loaded in torch (fast-Pegasus's
``export_and_get_onnx_model(model)``, and how every export was made before issue 16):

    python -m benchmarks.export_cost [--shape cnn_dailymail] [--rounds 2]

Each export runs in a fresh child process (``benchmarks.worker export``), which reports its wall
time and the peak resident memory of the whole process (Linux ``VmHWM``), loading included; the two
ways alternate, round by round, in one run. Both must write the same ``weights.bin``: the table says
whether they did. The checkpoint is the benchmark's random-weight one of the shape (built once,
cached), so its size is the real checkpoint's.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
from pathlib import Path

from benchmarks.machine import describe, load_snapshot
from benchmarks.memory import run_once
from benchmarks.models import ModelFiles, build_checkpoint, default_cache_dir, shape
from engine.model_dir import sha256_file  # standard library and platformdirs only

WAYS = {"checkpoint folder, numpy": [], "model loaded in torch": ["--from-model"]}
GiB = 2**30


def _checkpoint(name: str, cache: Path) -> Path:
    files = ModelFiles.in_cache(cache, shape(name), 0)
    if not (files.checkpoint / "config.json").is_file():
        build_checkpoint(shape(name), files.checkpoint, 0)
    return files.checkpoint


def measure(checkpoint: Path, rounds: int, precision: str, work: Path) -> dict[str, dict]:
    results = {way: {"seconds": [], "peak_rss": [], "sha256": set()} for way in WAYS}
    for round_ in range(rounds):
        for way, flags in WAYS.items():
            out = work / f"{round_}-{len(flags)}"
            reply = run_once(["export", "--precision", precision, *flags, "--checkpoint", str(checkpoint),
                              "--onnx-root", str(out), "--ct2", str(work / "unused")], work / "export.log")
            results[way]["seconds"].append(reply["seconds"])
            results[way]["peak_rss"].append(reply["peak_rss"])
            results[way]["sha256"].add(sha256_file(Path(reply["folder"]) / "weights.bin"))
            results[way]["imported_torch"] = reply["imported_torch"]
            shutil.rmtree(out)
    return results


def table(results: dict[str, dict]) -> str:
    digests = {d for r in results.values() for d in r["sha256"]}
    lines = ["| export from | median s | peak RSS GiB (max) | imports torch |",
             "|---|---:|---:|---|"]
    for way, r in results.items():
        lines.append(f"| {way} | {statistics.median(r['seconds']):.1f} | {max(r['peak_rss']) / GiB:.2f} | "
                     f"{'yes' if r['imported_torch'] else 'no'} |")
    lines.append("")
    lines.append("same weights.bin (sha256) both ways: " + ("yes" if len(digests) == 1 else "NO"))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.export_cost", description=__doc__.split("\n\n")[0])
    parser.add_argument("--shape", default="cnn_dailymail")
    parser.add_argument("--precision", choices=["int8", "fp32"], default="int8")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--cache", type=Path, default=default_cache_dir())
    args = parser.parse_args(argv)
    checkpoint = _checkpoint(args.shape, args.cache)
    load = load_snapshot()
    with tempfile.TemporaryDirectory(prefix="export-cost-") as work:
        results = measure(checkpoint, args.rounds, args.precision, Path(work))
    info = describe()
    print(f"{args.shape} shape, {args.precision}, {args.rounds} rounds; CPU: {info['cpu']}, "
          f"{info['usable_cpus']} usable CPUs; load before the run {load['loadavg_1_5_15']}")
    print(table(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
