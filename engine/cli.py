"""``pegasus-summarize``: export a checkpoint, or summarize files, from the command line.

    pegasus-summarize export MODEL [--out DIR] [--precision int8|fp32]
    pegasus-summarize summarize FILE|- [--model MODEL] [--beams N] [--min-length N] [--max-length N]
    pegasus-summarize summarize FILE... | DIR [--out DIR|FILE.csv|FILE.jsonl] [--format txt|md]
                                [--batch-size N] [--ray [ADDRESS]]

Messages and progress go to stderr. One file's summary goes to stdout, so it can be piped; a batch
writes one summary per file to ``--out`` (or to stdout, each under its file name), reports a file
that fails and goes on, and exits with 1 if any failed. A batch's documents are summarized
``--batch-size`` at a time in one generate() call (each gets the summary it gets alone); with
``--ray`` the same job runs on a Ray cluster (``engine.cluster``).
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from engine.batch import FOLDER_FORMATS, BatchResult, collect_inputs, open_output
from engine.documents import SUPPORTED_SUFFIXES, TEXT_SUFFIXES, read_document, read_plain_text
from engine.errors import EngineError, GenerationCancelled
from engine.generation import GenerationOptions
from engine.model_dir import PRECISIONS, default_models_root
from engine.summarizer import DEFAULT_BATCH_SIZE

DEFAULT_MODEL = "google/pegasus-cnn_dailymail"
log = logging.getLogger(__name__)


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
    """The text of a file (or stdin for ``-``) as it is, decoded as the app decodes it; binary files
    are refused, and so is more text than the app summarizes at a time (a file too large to hold
    at most that much is refused unread)."""
    name = "standard input" if source == "-" else Path(source).name
    try:
        if source == "-":
            return read_plain_text(sys.stdin.buffer, name)
        with open(source, "rb") as f:
            return read_plain_text(f, name)
    except OSError as e:  # a mistyped or unreadable path: name it, as cat does
        raise EngineError(f"{source}: {e.strerror or e}") from e
    except ImportError as e:  # charset-normalizer, for text that is neither UTF-8 nor marked by a BOM
        raise _needs_documents_extra(name, e) from e


def _export(args) -> int:
    from engine.export.pipeline import export

    on_progress, close = _progress_printer()
    try:
        paths = export(args.model, args.out, precision=args.precision, on_progress=on_progress)
    finally:
        close()
    print(f"Exported {args.model} ({args.precision}) to {paths.folder}", file=sys.stderr)
    return 0


def read_input(source: str | Path) -> str:
    """Stdin, plain text and files of no known type with ``read_text``, as they are; .md, .html,
    .pdf and .docx with the document reader the app uses."""
    path = Path(source)
    suffix = path.suffix.lower()
    if str(source) == "-" or suffix in TEXT_SUFFIXES or suffix not in SUPPORTED_SUFFIXES:
        return read_text(str(source))
    try:
        return read_document(path)
    except ImportError as e:  # pypdf, python-docx, trafilatura or charset-normalizer missing
        raise _needs_documents_extra(path.name, e) from e


def _needs_documents_extra(name: str, error: ImportError) -> EngineError:
    return EngineError(
        f"Reading {name} needs the documents extra ({error.name} is missing): "
        "pip install 'pegasus-desktop[documents]'."
    )


def _load(args):
    from engine.summarizer import Summarizer

    options = GenerationOptions(num_beams=args.beams, min_length=args.min_length, max_length=args.max_length)
    summarizer = Summarizer.load(args.model, precision=args.precision, root=args.models_dir, n_threads=args.threads)
    summarizer.max_summary_tokens(options)  # options the model cannot take fail before any file is read
    return summarizer, options


def _summarize(args) -> int:
    inputs = args.files
    if "-" in inputs and len(inputs) > 1:
        raise ValueError("- (stdin) can only be summarized on its own, not in a batch.")
    if len(inputs) == 1 and args.out is None and (inputs[0] == "-" or not Path(inputs[0]).is_dir()):
        return _summarize_one(args, inputs[0])
    files = collect_inputs(inputs, SUPPORTED_SUFFIXES)
    if not files:
        raise ValueError(f"There are no files to summarize in {', '.join(inputs)} "
                         f"(a folder's {', '.join(SUPPORTED_SUFFIXES)} files are read).")
    return _summarize_batch(args, files)


def _summarize_one(args, source: str) -> int:
    from engine.long_document import summarize_document

    text = read_input(source)
    summarizer, options = _load(args)

    def on_chunk(chunk) -> None:
        if chunk.count > 1 and chunk.summary is not None:
            stage = "part" if chunk.round == 1 else f"combining, round {chunk.round}, part"
            print(f"[{stage} {chunk.index + 1}/{chunk.count}] {chunk.text}", file=sys.stderr, flush=True)

    summary = summarize_document(summarizer, text, options, mode=args.mode, on_chunk=on_chunk)
    if summary.truncated:
        print(
            f"Note: the input has {summary.input_tokens} tokens; the model reads the first "
            f"{summarizer.max_input_tokens} (--whole-document reads it all).", file=sys.stderr,
        )
    print(summary.text)
    return 0


def _summarize_batch(args, files: list[Path]) -> int:
    """Every file, its pieces summarized ``--batch-size`` at a time (``summarize_documents``);
    results are written in the files' order as soon as the files before them are done."""
    if args.ray is not None:
        return _summarize_on_ray(args, files)
    from tqdm import tqdm

    from engine.long_document import summarize_documents

    summarizer, options = _load(args)
    output = open_output(args.out, args.format) if args.out is not None else None
    failed: list[Path] = []
    results: dict[int, BatchResult] = {}
    written = 0
    bar = tqdm(total=len(files), desc="summarize", unit=" file", file=sys.stderr, dynamic_ncols=True)

    def on_chunk(index: int, chunk) -> None:
        if chunk.summary is None:
            name = files[index].name
            bar.set_postfix_str(f"{name}: part {chunk.index + 1}/{chunk.count}" if chunk.count > 1 else name)

    try:
        readers = [lambda path=path: read_input(path) for path in files]
        for index, outcome in summarize_documents(summarizer, readers, options, mode=args.mode,
                                                  batch_size=args.batch_size, on_chunk=on_chunk):
            path = files[index]
            if isinstance(outcome, Exception):
                log.debug("summarizing %s failed", path, exc_info=outcome)
                failed.append(path)
                message = str(outcome) or type(outcome).__name__
                bar.write(f"error: {message if str(path) in message else f'{path}: {message}'}", file=sys.stderr)
                results[index] = BatchResult(path, "failed", error=message)
            else:
                results[index] = BatchResult.from_summary(path, outcome)
            bar.update()
            while written in results:  # in the files' order
                _write_result(results.pop(written), output, bar)
                written += 1
    finally:
        for index in sorted(results):  # interrupted: the files finished after a gap keep their rows too
            _write_result(results[index], output, bar)
        bar.close()
        if output is not None:
            output.close()
    where = f" to {args.out}" if args.out is not None else ""
    print(f"Summarized {len(files) - len(failed)} of {len(files)} files{where}.", file=sys.stderr)
    if failed:
        failed.sort(key=files.index)
        print(f"{len(failed)} failed: {', '.join(str(p) for p in failed)}", file=sys.stderr)
        return 1
    return 0


def _write_result(result: BatchResult, output, bar) -> None:
    if output is not None:
        output.write(result)
    elif result.status == "ok":
        bar.write(f"==> {result.file} <==\n{result.summary}\n", file=sys.stdout)


def _summarize_on_ray(args, files: list[Path]) -> int:
    from engine.cluster import summarize_on_ray

    if args.out is None or Path(args.out).suffix.lower() not in (".jsonl", ".parquet"):
        raise ValueError("--ray writes one table: give --out FILE.jsonl or --out FILE.parquet.")
    options = GenerationOptions(num_beams=args.beams, min_length=args.min_length, max_length=args.max_length)
    report = summarize_on_ray(
        files, args.out, model=args.model, precision=args.precision, root=args.models_dir, options=options,
        mode=args.mode, batch_size=args.batch_size, address=args.ray or None, n_threads=args.threads,
        on_progress=lambda message: print(message, file=sys.stderr, flush=True),
    )
    print(f"Summarized {report.ok} of {report.total} files to {args.out} on Ray.", file=sys.stderr)
    return 1 if report.failed else 0


class _RemovedAllowPickle(argparse.Action):
    """The old opt-in to full unpickling: refused with the reason, so no script relies on it."""

    def __call__(self, parser, namespace, values, option_string=None):
        parser.error(
            "--allow-pickle is gone: pytorch_model.bin is now always read by a loader that rebuilds "
            "only tensors and never runs code, with no option to unpickle it fully. Remove the option."
        )


def _positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more; got {value}")
    return number


def build_parser() -> argparse.ArgumentParser:
    description = "Export a checkpoint, or summarize files, from the command line."
    parser = argparse.ArgumentParser(prog="pegasus-summarize", description=description)
    commands = parser.add_subparsers(dest="command", required=True)

    export = commands.add_parser("export", help="export a checkpoint to ONNX (and int8)")
    export.add_argument("model", help="a Hugging Face model id or a local checkpoint folder")
    export.add_argument("--out", type=Path, default=None, help=f"models folder (default {default_models_root()})")
    export.add_argument("--precision", choices=PRECISIONS, default="int8")
    export.add_argument("--allow-pickle", nargs=0, action=_RemovedAllowPickle, help=argparse.SUPPRESS)
    export.set_defaults(run=_export)

    summarize = commands.add_parser(
        "summarize", help="summarize a file (- for stdin), or a batch of files and folders"
    )
    summarize.add_argument("files", nargs="+", metavar="FILE|DIR",
                           help="one file (its summary goes to stdout), several, or folders")
    summarize.add_argument("--out", type=Path, default=None,
                           help="a batch's output: a folder (one summary file each), or one .csv or .jsonl file")
    summarize.add_argument("--format", choices=FOLDER_FORMATS, default="txt",
                           help="the files written to an --out folder (default txt)")
    reading = summarize.add_mutually_exclusive_group()
    reading.add_argument("--whole-document", dest="mode", action="store_const", const="whole",
                         help="a text longer than the model reads is summarized in parts, then combined (default)")
    reading.add_argument("--beginning-only", dest="mode", action="store_const", const="beginning",
                         help="only the beginning the model reads at once is summarized (faster)")
    summarize.set_defaults(mode="whole")
    summarize.add_argument("--model", default=DEFAULT_MODEL,
                           help="a model id or checkpoint folder that was exported, or an export folder")
    summarize.add_argument("--models-dir", type=Path, default=None, help="the folder given to export --out")
    summarize.add_argument("--precision", choices=PRECISIONS, default="int8")
    summarize.add_argument("--beams", type=int, default=None,
                           help="beam width (default: the model's). 1 is greedy search with copy drafting "
                                "(the app's Fast search): tokens copied from the article or the summary so "
                                "far are checked several per decoder run, and the summary has the same "
                                "tokens as plain greedy search")
    summarize.add_argument("--min-length", type=int, default=None, help="minimum summary length in tokens")
    summarize.add_argument("--max-length", type=int, default=None, help="maximum summary length in tokens")
    summarize.add_argument("--threads", type=int, default=None, help="CPU threads (default: all)")
    summarize.add_argument("--batch-size", type=_positive, default=DEFAULT_BATCH_SIZE,
                           help=f"a batch's documents (or parts) summarized together in one call "
                                f"(default {DEFAULT_BATCH_SIZE}; the summaries do not depend on it)")
    summarize.add_argument("--ray", nargs="?", const="", default=None, metavar="ADDRESS",
                           help="run the batch on a Ray cluster (ADDRESS, or a local one when omitted); "
                                "needs the ray extra and --out FILE.jsonl or FILE.parquet")
    summarize.set_defaults(run=_summarize)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    try:
        return args.run(args)
    except (KeyboardInterrupt, GenerationCancelled):  # first: GenerationCancelled is an EngineError
        print("cancelled", file=sys.stderr)
        return 130
    except (EngineError, ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
