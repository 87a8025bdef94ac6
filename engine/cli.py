"""``pegasus-summarize``: export a checkpoint, or summarize a file, from the command line.

    pegasus-summarize export MODEL [--out DIR] [--precision int8|fp32]
    pegasus-summarize summarize FILE|- [--model MODEL] [--beams N] [--min-length N] [--max-length N]

Messages and progress go to stderr; only the summary goes to stdout, so it can be piped.
"""

from __future__ import annotations

import argparse
import codecs
import logging
import sys
from pathlib import Path

from engine.errors import EngineError, GenerationCancelled
from engine.generation import GenerationOptions
from engine.model_dir import PRECISIONS, default_models_root

DEFAULT_MODEL = "google/pegasus-cnn_dailymail"


def _progress_printer():
    """One tqdm bar per export stage, on stderr."""
    from tqdm import tqdm

    bars: dict[str, tqdm] = {}

    def on_progress(progress) -> None:
        bar = bars.get(progress.stage)
        if bar is None:
            for other in bars.values():
                other.close()
            is_bytes = progress.stage == "download"
            bar = tqdm(desc=progress.stage, total=progress.total or None, unit="B" if is_bytes else " step",
                       unit_scale=is_bytes, file=sys.stderr, leave=True)
            bars[progress.stage] = bar
        if progress.total and bar.total != progress.total:
            bar.total = progress.total
        bar.n = progress.done
        bar.set_postfix_str(progress.detail, refresh=False)
        bar.refresh()

    return on_progress, lambda: [bar.close() for bar in bars.values()]


def read_text(source: str) -> str:
    """The text of a file (or stdin for ``-``): UTF-8, or UTF-16 with a BOM; binary files are refused."""
    data = sys.stdin.buffer.read() if source == "-" else Path(source).read_bytes()
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16")
    if b"\x00" in data:
        raise EngineError(f"{source} looks like a binary file, not text.")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")  # the commonest legacy encoding of articles


def _export(args) -> int:
    from engine.export.pipeline import export

    on_progress, close = _progress_printer()
    try:
        paths = export(args.model, args.out, precision=args.precision, on_progress=on_progress)
    finally:
        close()
    print(f"Exported {args.model} ({args.precision}) to {paths.folder}", file=sys.stderr)
    return 0


def _summarize(args) -> int:
    from engine.summarizer import Summarizer

    text = read_text(args.file)
    summarizer = Summarizer.load(args.model, precision=args.precision, root=args.models_dir, n_threads=args.threads)
    options = GenerationOptions(num_beams=args.beams, min_length=args.min_length, max_length=args.max_length)
    summary = summarizer.summarize(text, options)
    if summary.truncated:
        print(
            f"Note: the input has {summary.input_tokens} tokens; the model reads the first "
            f"{summarizer.max_input_tokens}.", file=sys.stderr,
        )
    print(summary.text)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pegasus-summarize", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)

    export = commands.add_parser("export", help="export a checkpoint to ONNX (and int8)")
    export.add_argument("model", help="a Hugging Face model id or a local checkpoint folder")
    export.add_argument("--out", type=Path, default=None, help=f"models folder (default {default_models_root()})")
    export.add_argument("--precision", choices=PRECISIONS, default="int8")
    export.set_defaults(run=_export)

    summarize = commands.add_parser("summarize", help="summarize a text file, or - for stdin")
    summarize.add_argument("file")
    summarize.add_argument("--model", default=DEFAULT_MODEL,
                           help="a model id or checkpoint folder that was exported, or an export folder")
    summarize.add_argument("--models-dir", type=Path, default=None, help="the folder given to export --out")
    summarize.add_argument("--precision", choices=PRECISIONS, default="int8")
    summarize.add_argument("--beams", type=int, default=None, help="beam width (default: the model's)")
    summarize.add_argument("--min-length", type=int, default=None, help="minimum summary length in tokens")
    summarize.add_argument("--max-length", type=int, default=None, help="maximum summary length in tokens")
    summarize.add_argument("--threads", type=int, default=None, help="CPU threads (default: all)")
    summarize.set_defaults(run=_summarize)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    try:
        return args.run(args)
    except (EngineError, ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except (KeyboardInterrupt, GenerationCancelled):
        print("cancelled", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
