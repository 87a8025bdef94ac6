"""``python -m benchmarks``: build or reuse the models, export them, time every engine, write the report.

For each shape: build the random-weight checkpoint once (cached), export it fresh with our engine
(fp32 and int8) and convert it with CTranslate2, each in a child process that reports its time
and peak RSS. Then start one worker process per engine, one after another so their load times do
not overlap, and run the grid of (batch, beams) as interleaved rounds. Finally write
``results.json``, ``results.md`` and ``results.png`` into the output folder.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from benchmarks import machine, report
from benchmarks.engines import ENGINES, LABELS, check_same_work
from benchmarks.memory import REPO, Child, run_once
from benchmarks.models import (
    SHAPES,
    ModelFiles,
    Shape,
    checkpoint_weights_size,
    default_cache_dir,
    folder_size,
)
from benchmarks.timing import Stats, interleaved

DEFAULT_OUT = Path(__file__).resolve().parent / "results"


@dataclass(frozen=True)
class Settings:
    shapes: tuple[str, ...]
    engines: tuple[str, ...]
    batches: tuple[int, ...] | None  # None: each shape's own grid
    beams: tuple[int, ...] | None
    rounds: int
    warmup: int
    threads: int
    input_tokens: int
    new_tokens: int
    seed: int
    pause: float
    out: Path
    cache: Path
    reuse_exports: bool
    command: str

    def grid(self, shape: Shape) -> list[tuple[int, int]]:
        return [
            (b, k) for b in (self.batches or shape.batches) for k in (self.beams or shape.beams)
        ]


def parse(argv: list[str] | None = None) -> Settings:
    argv = sys.argv[1:] if argv is None else argv
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--shapes", nargs="+", choices=list(SHAPES), help="default: cnn_dailymail distill"
    )
    p.add_argument("--engines", nargs="+", choices=list(ENGINES), default=list(ENGINES))
    p.add_argument(
        "--batches", nargs="+", type=int, help="default: each shape's grid (1 2 4; distill 1)"
    )
    p.add_argument("--beams", nargs="+", type=int, help="default: 1 4")
    p.add_argument("--rounds", type=int, help="timed rounds per grid point (default 3)")
    p.add_argument("--warmup", type=int, default=1, help="untimed rounds first (default 1)")
    p.add_argument("--threads", type=int, default=2, help="threads for every engine (default 2)")
    p.add_argument("--input-tokens", type=int, default=512)
    p.add_argument("--new-tokens", type=int, default=64)
    p.add_argument("--seed", type=int, default=0, help="of the random weights and inputs")
    p.add_argument(
        "--pause", type=float, default=0.5, help="seconds of idle before each timed call"
    )
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"default: {DEFAULT_OUT}")
    p.add_argument("--cache-dir", type=Path, default=None, help=f"default: {default_cache_dir()}")
    p.add_argument(
        "--reuse-exports",
        action="store_true",
        help="reuse cached exports instead of re-exporting (no export figures then)",
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="for development: distill shape, batch 1, greedy, 1 round (unless given)",
    )
    a = p.parse_args(argv)
    if a.quick:
        a.shapes, a.batches, a.beams = a.shapes or ["distill"], a.batches or [1], a.beams or [1]
        a.rounds = a.rounds or 1
    for name in ("batches", "beams"):
        if any(v < 1 for v in getattr(a, name) or []):
            p.error(f"--{name} must be positive")
    if a.input_tokens < 2 or a.new_tokens < 1 or a.threads < 1 or a.warmup < 0:
        p.error(
            "--input-tokens must be at least 2, --new-tokens and --threads at least 1, --warmup >= 0"
        )
    return Settings(
        shapes=tuple(a.shapes or ["cnn_dailymail", "distill"]),
        engines=tuple(a.engines),
        batches=tuple(a.batches) if a.batches else None,
        beams=tuple(a.beams) if a.beams else None,
        rounds=a.rounds or 3,
        warmup=a.warmup,
        threads=a.threads,
        input_tokens=a.input_tokens,
        new_tokens=a.new_tokens,
        seed=a.seed,
        pause=a.pause,
        out=a.out,
        cache=a.cache_dir or default_cache_dir(),
        reuse_exports=a.reuse_exports,
        command=shlex.join(["python", "-m", "benchmarks", *argv]),
    )


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _file_args(files: ModelFiles) -> list[str]:
    return [
        "--checkpoint",
        str(files.checkpoint),
        "--onnx-root",
        str(files.onnx_root),
        "--ct2",
        str(files.ct2),
    ]


def _onnx_folder(files: ModelFiles, precision: str) -> Path:
    from engine.model_dir import export_dir  # standard library and platformdirs only

    return export_dir(str(files.checkpoint), precision, files.onnx_root)


def prepare(shape: Shape, files: ModelFiles, s: Settings, logs: Path) -> dict:
    """Build the checkpoint if missing; make each engine's model; return sizes and first-run costs."""
    info: dict = {
        "checkpoint": str(files.checkpoint),
        "build": None,
        "exports": {},
        "disk_bytes": {},
    }
    if not (files.checkpoint / "config.json").is_file():
        say(f"[{shape.name}] building the random-weight checkpoint in {files.checkpoint}")
        info["build"] = run_once(
            ["build", "--shape", shape.name, "--seed", str(s.seed), *_file_args(files)],
            logs / f"{shape.name}-build.log",
        )
    jobs = {
        "onnx-fp32": (["export", "--precision", "fp32"], lambda: _onnx_folder(files, "fp32")),
        "onnx-int8": (["export", "--precision", "int8"], lambda: _onnx_folder(files, "int8")),
        "ct2-int8": (["convert"], lambda: files.ct2),
    }
    for name in s.engines:
        if name == "pytorch":
            info["disk_bytes"][name] = checkpoint_weights_size(files.checkpoint)
            continue
        args, folder = jobs[name]
        if s.reuse_exports and (folder() / "config.json").is_file():
            info["exports"][name] = {"reused": True, "seconds": None, "peak_rss": None}
        else:
            say(f"[{shape.name}] {name}: exporting in a child process (timed, peak RSS measured)")
            reply = run_once([*args, *_file_args(files)], logs / f"{shape.name}-{name}-export.log")
            info["exports"][name] = {
                "reused": False,
                "seconds": reply["seconds"],
                "peak_rss": reply["peak_rss"],
            }
            say(
                f"[{shape.name}] {name}: {reply['seconds']:.1f} s, peak RSS {reply['peak_rss'] / 2**30:.2f} GiB"
            )
        info["disk_bytes"][name] = folder_size(folder())
    return info


def start_workers(shape: Shape, files: ModelFiles, s: Settings, logs: Path) -> tuple[dict, dict]:
    """One worker per engine, started one at a time; return (workers, each one's ready reply)."""
    workers, ready = {}, {}
    try:
        for name in s.engines:
            worker = Child(
                [
                    "serve",
                    "--engine",
                    name,
                    "--threads",
                    str(s.threads),
                    "--vocab",
                    str(shape.vocab_size),
                    "--input-tokens",
                    str(s.input_tokens),
                    "--seed",
                    str(s.seed),
                    *_file_args(files),
                ],
                logs / f"{shape.name}-{name}.log",
            )
            workers[name] = worker
            ready[name] = worker.receive()
            say(
                f"[{shape.name}] {name}: import {ready[name]['import_s']:.2f} s, load {ready[name]['load_s']:.2f} s,"
                f" peak RSS {ready[name]['load_peak_rss'] / 2**30:.2f} GiB"
            )
    except BaseException:
        for worker in workers.values():
            worker.proc.kill()
            worker.close()
        raise
    return workers, ready


def measure(shape: Shape, workers: dict, ready: dict, s: Settings, on_point) -> None:
    """Time every grid point; hand each point's rows (one per engine) to ``on_point``."""
    for batch, beams in s.grid(shape):
        rows = []
        tag = f"[{shape.name} batch {batch} beams {beams}]"
        request = {"batch": batch, "beams": beams, "new_tokens": s.new_tokens}
        first, timed = interleaved(
            workers,
            request,
            warmup=s.warmup,
            rounds=s.rounds,
            pause=s.pause,
            on_reply=lambda name, i, r, tag=tag: say(
                f"{tag} {name} {'warm-up' if i < s.warmup else f'round {i - s.warmup + 1}'}: {r['seconds']:.2f} s"
            ),
        )
        agreement = check_same_work(first, batch, s.new_tokens)
        for name in workers:
            replies = timed[name] or [first[name]]  # with --rounds 0 the warm-up is all there is
            generate_peak = max(r["peak_rss"] for r in [first[name], *timed[name]])
            rows.append(
                {
                    "shape": shape.name,
                    "batch": batch,
                    "beams": beams,
                    "engine": name,
                    "label": LABELS[name],
                    "seconds": [r["seconds"] for r in replies],
                    "stats": Stats.of([r["seconds"] for r in replies]).as_dict(),
                    "new_tokens": replies[0]["new_tokens"],
                    "peak_rss": max(ready[name]["load_peak_rss"], generate_peak),
                    "generate_peak_rss": generate_peak,
                    "rss_method": replies[0]["rss_method"],
                    "same_tokens_as_pytorch": agreement[name],
                }
            )
        on_point(rows)


def add_ratios(rows: list[dict]) -> None:
    """tokens/s, speed-up over PyTorch (its s / engine s), and time relative to CTranslate2 (engine s / its s)."""
    medians = {
        (r["shape"], r["batch"], r["beams"], r["engine"]): r["stats"]["median"] for r in rows
    }
    for r in rows:
        point, seconds = (r["shape"], r["batch"], r["beams"]), r["stats"]["median"]
        pytorch, ct2 = medians.get((*point, "pytorch")), medians.get((*point, "ct2-int8"))
        r["tokens_per_s"] = r["new_tokens"] / seconds
        r["speedup_vs_pytorch"] = pytorch / seconds if pytorch else None
        r["time_vs_ct2"] = seconds / ct2 if ct2 else None


def run(s: Settings, on_update=None) -> dict:
    """Measure everything ``s`` asks for. ``on_update(results)`` sees the results after each grid
    point (``complete`` is False until the end), so an interrupted run still leaves its numbers."""
    logs = s.cache / "logs"
    say(f"Benchmark: {s.command}")
    results = {
        "command": s.command,
        "complete": False,
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(s).items()},
        "machine": machine.describe(),
        "code": machine.git_revision(REPO),
        "load_before": machine.load_snapshot(),
        "load_after": None,
        "shapes": {},
        "rows": [],
    }
    say(f"Machine: {results['machine']['cpu']}, load before {results['load_before']}")

    def add_point(rows: list[dict]) -> None:
        results["rows"] += rows
        add_ratios(results["rows"])
        if on_update:
            on_update(results)

    for name in s.shapes:
        shape = SHAPES[name]
        files = ModelFiles.in_cache(s.cache, shape, s.seed)
        info = prepare(shape, files, s, logs)
        workers, ready = start_workers(shape, files, s, logs)
        info["engines"] = {
            n: {k: ready[n][k] for k in ("import_s", "load_s", "load_peak_rss", "rss_after_load")}
            for n in ready
        }
        results["shapes"][name] = {"about": shape.about, "config": shape.config, **info}
        try:
            measure(shape, workers, ready, s, add_point)
        finally:
            for worker in workers.values():
                worker.close()
    results["load_after"] = machine.load_snapshot()
    results["complete"] = True
    return results


def main(argv: list[str] | None = None) -> int:
    settings = parse(argv)
    results = run(settings, on_update=lambda partial: report.write_all(partial, settings.out))
    paths = report.write_all(results, settings.out)
    say("Wrote " + ", ".join(str(p) for p in paths))
    print(paths[1].read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
