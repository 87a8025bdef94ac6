"""The child process of the benchmark: one engine, one export, one conversion or one checkpoint build.

    python -m benchmarks.worker serve   --engine NAME --files ... --threads N --vocab V --input-tokens L --seed S
    python -m benchmarks.worker export  --precision int8|fp32 [--from-model] --files ...
    python -m benchmarks.worker convert --files ...
    python -m benchmarks.worker build   --shape NAME --seed S --files ...

Replies are JSON lines on the original stdout; anything the libraries print goes to stderr.
``serve`` loads its engine once, replies ``ready`` with its import and load times and peak RSS,
then answers one ``{"batch", "beams", "new_tokens"}`` request per line with the seconds of that
``generate`` call alone and its peak RSS, until stdin closes.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import traceback
from pathlib import Path


def _protocol_stream():
    """Keep the real stdout for replies; send every other print (C libraries too) to stderr."""
    out = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return out


def _files(args):
    from benchmarks.models import ModelFiles

    return ModelFiles(Path(args.checkpoint), Path(args.onnx_root), Path(args.ct2))


def serve(args, reply) -> None:
    from benchmarks.engines import digest, make_engine, make_inputs
    from benchmarks.memory import current_rss, lifetime_peak_rss, reset_peak_rss

    engine = make_engine(args.engine)
    start = time.perf_counter()
    engine.import_libs()
    imported = time.perf_counter()
    engine.load(_files(args), args.threads)
    loaded = time.perf_counter()
    reply(
        {
            "ready": True,
            "import_s": imported - start,
            "load_s": loaded - imported,
            "load_peak_rss": lifetime_peak_rss(),
            "rss_after_load": current_rss(),
            "pid": os.getpid(),
        }
    )
    for line in sys.stdin:
        request = json.loads(line)
        ids, mask = make_inputs(args.vocab, request["batch"], args.input_tokens, args.seed)
        method = reset_peak_rss()
        start = time.perf_counter()
        tokens = engine.generate(ids, mask, request["beams"], request["new_tokens"])
        seconds = time.perf_counter() - start
        answer = {
            "seconds": seconds,
            "peak_rss": lifetime_peak_rss(),
            "rss_method": method,
            "input_digest": digest(ids),
            "new_tokens": int(tokens.size),
        }
        if request.get("keep_tokens"):
            answer["tokens"] = tokens.tolist()
        reply(answer)


def export(args, reply) -> None:
    from benchmarks.memory import lifetime_peak_rss

    start = time.perf_counter()
    from engine.export.pipeline import export as export_model

    source = args.checkpoint
    if args.from_model:  # the fast-Pegasus way: the model loaded in torch first (the export before issue 16)
        import torch
        from transformers import PegasusForConditionalGeneration

        source = PegasusForConditionalGeneration.from_pretrained(args.checkpoint, dtype=torch.float32)
    paths = export_model(source, Path(args.onnx_root), precision=args.precision)
    reply(
        {
            "seconds": time.perf_counter() - start,
            "peak_rss": lifetime_peak_rss(),
            "folder": str(paths.folder),
            "imported_torch": "torch" in sys.modules,
        }
    )


def convert(args, reply) -> None:
    from benchmarks.memory import lifetime_peak_rss
    from benchmarks.models import convert_ct2

    start = time.perf_counter()
    folder = convert_ct2(Path(args.checkpoint), Path(args.ct2))
    reply(
        {
            "seconds": time.perf_counter() - start,
            "peak_rss": lifetime_peak_rss(),
            "folder": str(folder),
        }
    )


def build(args, reply) -> None:
    from benchmarks.models import build_checkpoint, shape

    start = time.perf_counter()
    parameters = build_checkpoint(shape(args.shape), Path(args.checkpoint), args.seed)
    reply({"seconds": time.perf_counter() - start, "parameters": parameters})


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.worker")
    parser.add_argument("command", choices=["serve", "export", "convert", "build"])
    parser.add_argument("--checkpoint")
    parser.add_argument("--onnx-root")
    parser.add_argument("--ct2")
    parser.add_argument("--engine")
    parser.add_argument("--precision", choices=["int8", "fp32"])
    parser.add_argument("--from-model", action="store_true",
                        help="export: load the checkpoint in torch first and export the model object")
    parser.add_argument("--shape")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--vocab", type=int)
    parser.add_argument("--input-tokens", type=int, default=512)
    parser.add_argument("--seed", type=int, default=0)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    out = _protocol_stream()

    def reply(message: dict) -> None:
        out.write(json.dumps(message) + "\n")

    try:
        {"serve": serve, "export": export, "convert": convert, "build": build}[args.command](
            args, reply
        )
    except BaseException as e:  # noqa: BLE001 - the parent shows this and the log's tail
        reply({"error": f"{type(e).__name__}: {e}"})
        traceback.print_exc()
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
