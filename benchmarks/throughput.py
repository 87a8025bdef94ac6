"""Batch throughput (issue 17): documents per minute when a batch job puts 1, 4 or 8 documents in
each generate() call, and what running the same job on Ray costs on one machine.

    python -m benchmarks.throughput                 # the cnn_dailymail shape's int8 export
    python -m benchmarks.throughput --export-dir DIR --sizes 1 2 4 8 --ray

1. **Documents per call.** ``--documents`` (8) different random articles of ``--input-tokens``
   (512) tokens are summarized in calls of 1, 4 and 8 documents, greedy and beam 4, each making
   exactly ``--new-tokens`` (64) tokens (min = max length, no repetition ban, length penalty 1, no
   forced eos: the main benchmark's "same work"). Greedy runs without copy drafting: a
   random-weight model's self-repetition would otherwise be counted as speed. Rounds interleave the
   sizes, so a slow spell of a shared machine hits each of them; medians are reported, each size
   also as a ratio to 1 document per call, which is what to read on a shared machine.
2. **Ray** (``--ray``): the same articles, as text, summarized in one process with
   ``summarize_documents`` and on a local Ray cluster with ``engine.cluster.summarize_on_ray``
   (one worker actor with all ``--threads``), the same batch size and options. The Ray time is
   split into starting the cluster and the worker (once per job) and the job itself.

Every call is checked to have made the documents' tokens whatever the batch size (a batch must not
change a summary). The CPU and the thread count are printed with the table.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

SIZES = (1, 4, 8)
BEAMS = (1, 4)


def same_work(new_tokens: int, beams: int) -> dict:
    return {"num_beams": beams, "min_new_tokens": new_tokens, "max_new_tokens": new_tokens,
            "no_repeat_ngram_size": 0, "length_penalty": 1.0, "early_stopping": False,
            "forced_eos_token_id": None, "repetition_penalty": 1.0, "prompt_lookup_num_tokens": 0}


def articles(vocab: int, count: int, tokens: int, seed: int = 0) -> np.ndarray:
    ids = np.random.default_rng(seed).integers(3, vocab, (count, tokens))
    ids[:, -1] = 1  # each ends with </s>, as a tokenized article does
    return ids


def documents_per_call(model, ids: np.ndarray, sizes, beams, new_tokens: int, rounds: int) -> list[dict]:
    """Median seconds to summarize all of ``ids`` in calls of each size; rows per (beams, size)."""
    rows = []
    for k in beams:
        options = same_work(new_tokens, k)
        times: dict[int, list[float]] = {n: [] for n in sizes}
        reference = None
        for r in range(rounds + 1):  # round 0 warms up
            for n in sizes:
                start = time.perf_counter()
                out = [model.generate(ids[i : i + n], **options)[:, : new_tokens + 1] for i in range(0, len(ids), n)]
                seconds = time.perf_counter() - start
                tokens = np.concatenate(out)
                if reference is None:
                    reference = tokens
                elif not np.array_equal(tokens, reference):
                    raise SystemExit(f"{n} documents per call changed a summary: a bug, stopping")
                if r:
                    times[n].append(seconds)
        base = statistics.median(times[sizes[0]])
        for n in sizes:
            median = statistics.median(times[n])
            rows.append({"beams": k, "per_call": n, "seconds": median, "docs_per_min": 60 * len(ids) / median,
                         "speedup": base / median, "min": min(times[n]), "max": max(times[n])})
    return rows


def ray_overhead(folder: Path, texts: list[str], batch_size: int, threads: int, new_tokens: int) -> dict:
    """Seconds for the same texts in one process and on a local Ray cluster (start and job apart)."""
    import ray

    from engine import GenerationOptions, Summarizer
    from engine.cluster import summarize_on_ray
    from engine.long_document import summarize_documents

    options = GenerationOptions(**same_work(new_tokens, 1))
    start = time.perf_counter()
    summarizer = Summarizer.load(folder, n_threads=threads)
    local_load_s = time.perf_counter() - start
    start = time.perf_counter()
    local = dict(summarize_documents(summarizer, texts, options, batch_size=batch_size))
    local_s = time.perf_counter() - start
    summarizer.close()
    with tempfile.TemporaryDirectory() as tmp:
        inputs = Path(tmp) / "in"
        inputs.mkdir()
        for i, text in enumerate(texts):
            (inputs / f"{i:03d}.txt").write_text(text)
        start = time.perf_counter()
        ray.init(num_cpus=max(1, threads), include_dashboard=False, log_to_driver=False)
        init_s = time.perf_counter() - start
        try:
            start = time.perf_counter()
            report = summarize_on_ray([inputs], Path(tmp) / "out.jsonl", model=str(folder), options=options,
                                      batch_size=batch_size, n_threads=threads, workers=1)
            job_s = time.perf_counter() - start
            rows = report.rows()
            same = all(rows[str(inputs / f"{i:03d}.txt")] == local[i].text for i in range(len(texts)))
        finally:
            ray.shutdown()
    return {"local_s": local_s, "ray_init_s": init_s, "ray_job_s": job_s, "ratio": job_s / local_s,
            "same": same, "load_s": report.load_seconds, "local_load_s": local_load_s}


def table(rows: list[dict], documents: int) -> str:
    lines = [f"| search | documents per call | seconds for {documents} documents | documents per minute | "
             "vs 1 per call |", "|---|---:|---:|---:|---:|"]
    for row in rows:
        search = "greedy" if row["beams"] == 1 else f"beam {row['beams']}"
        lines.append(f"| {search} | {row['per_call']} | {row['seconds']:.1f} ({row['min']:.1f}–{row['max']:.1f}) | "
                     f"{row['docs_per_min']:.1f} | {row['speedup']:.2f}x |")
    return "\n".join(lines)


def default_export() -> Path:
    """The cnn_dailymail shape's int8 export in the benchmark's cache, built and exported if missing."""
    from benchmarks.__main__ import _file_args, _onnx_folder
    from benchmarks.memory import run_once
    from benchmarks.models import SHAPES, ModelFiles, default_cache_dir

    shape, cache = SHAPES["cnn_dailymail"], default_cache_dir()
    files = ModelFiles.in_cache(cache, shape, 0)
    logs = cache / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    if not (files.checkpoint / "config.json").is_file():
        run_once(["build", "--shape", shape.name, "--seed", "0", *_file_args(files)], logs / "cnn_dailymail-build.log")
    folder = _onnx_folder(files, "int8")
    if not (folder / "manifest.json").is_file():
        run_once(["export", "--precision", "int8", *_file_args(files)], logs / "cnn_dailymail-onnx-int8-export.log")
    return folder


def main(argv: list[str] | None = None) -> int:
    from benchmarks.machine import cpu_model, load_snapshot
    from engine import OnnxPegasus
    from engine.runtime import get_onnx_runtime_sessions

    p = argparse.ArgumentParser(prog="python -m benchmarks.throughput", description=__doc__.split("\n\n")[0])
    p.add_argument("--export-dir", type=Path, default=None, help="an int8 export (default: the cnn shape's)")
    p.add_argument("--sizes", type=int, nargs="+", default=list(SIZES), help="documents per call (default 1 4 8)")
    p.add_argument("--beams", type=int, nargs="+", default=list(BEAMS))
    p.add_argument("--documents", type=int, default=8)
    p.add_argument("--input-tokens", type=int, default=512)
    p.add_argument("--new-tokens", type=int, default=64)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--ray", action="store_true", help="also time the Ray path (needs the ray extra)")
    p.add_argument("--ray-batch-size", type=int, default=4)
    p.add_argument("--ray-only", action="store_true", help="only the Ray comparison, not the table")
    args = p.parse_args(argv)
    folder = args.export_dir or default_export()
    print(f"{cpu_model()}, {args.threads} threads, load before {load_snapshot()}, {folder}", flush=True)
    model = OnnxPegasus(folder, get_onnx_runtime_sessions(folder, n_threads=args.threads))
    ids = articles(model.decoder_embedding.vocab, args.documents, min(args.input_tokens, model.max_positions))
    if not args.ray_only:
        rows = documents_per_call(model, ids, args.sizes, args.beams, args.new_tokens, args.rounds)
        print(table(rows, args.documents), flush=True)
    if args.ray or args.ray_only:
        from engine.tokenizer import TextTokenizer

        tokenizer = TextTokenizer(folder, 1)
        texts = [tokenizer.decode(row[:-1]) for row in ids]
        model.close()
        result = ray_overhead(folder, texts, args.ray_batch_size, args.threads, args.new_tokens)
        print(f"Ray, one machine, {args.documents} documents, batch size {args.ray_batch_size}, greedy: one process "
              f"{result['local_s']:.1f} s (after loading the model in {result['local_load_s']:.1f} s); Ray job "
              f"{result['ray_job_s']:.1f} s ({result['ratio']:.2f}x), which includes starting the worker and its model "
              f"load of {result['load_s']:.1f} s; ray.init {result['ray_init_s']:.1f} s before it; "
              f"same summaries: {'yes' if result['same'] else 'NO'}", flush=True)
    print(f"load after {load_snapshot()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
