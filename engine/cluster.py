"""The batch job on a Ray cluster, with Ray Data: when one machine is not enough.

``summarize_on_ray`` reads the inputs (files and folders, or one JSONL or Parquet table with a text
column), summarizes them with ``map_batches`` on a pool of worker actors, each holding one loaded
model for its whole life, and writes one JSONL or Parquet table with the CLI's columns
(``engine.batch.COLUMNS``), reporting progress as rows come back.

- **One export, made once.** The driver resolves the export (``pegasus-summarize export`` made it)
  and checks it against its manifest; workers export nothing. Each loads that folder (a path on
  storage every node sees: one machine, NFS, a mounted bucket) and first checks that its manifest
  is the one the driver checked (its sha256), then every file against it as any load does.
- **The same summaries.** A worker runs ``engine.long_document.summarize_documents`` on its Ray
  batch, with the same options, mode and batch size as the CLI: each document gets exactly the
  summary it gets alone, so exactly what the single-process CLI writes.
- **Failures.** A file that cannot be read or summarized is a "failed" row, as in the CLI. A worker
  that dies (killed, out of memory, its node lost) is restarted by Ray and its unfinished batch
  run again (Ray Data's default ``max_restarts`` / ``max_task_retries`` of -1); the driver writes
  the rows as they come back, keyed by input, so the table holds each input exactly once, even if
  a batch was run twice.

Files are read on the workers (from the same shared storage), tables on the driver, which numbers
their rows. ``ray`` is the optional ``ray`` extra, imported only here. This module knows nothing
about terminals or Qt; progress is a plain callback.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import logging
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from engine.batch import COLUMNS, TABLE_FORMATS, BatchResult, SummaryTable, collect_inputs
from engine.errors import EngineError
from engine.generation import GenerationOptions
from engine.model_dir import MANIFEST, export_dir, verify
from engine.summarizer import DEFAULT_BATCH_SIZE, check_batch_size

__all__ = ["OUTPUT_FORMATS", "ClusterReport", "summarize_on_ray"]

log = logging.getLogger(__name__)
OUTPUT_FORMATS = ("jsonl", "parquet")
TABLE_INPUTS = (".jsonl", ".parquet")


@dataclass(frozen=True)
class ClusterReport:
    output: Path
    total: int
    ok: int
    failed: int
    duplicates: int  # rows of a batch run twice (after a worker died), dropped
    load_seconds: float  # the longest a worker took to load the model

    def rows(self) -> dict[str, str]:
        """file (or row id) -> summary, read back from the output."""
        return {row["file"]: row["summary"] for row in _read_rows(self.output)}


def summarize_on_ray(
    inputs: Iterable[str | Path],
    output: str | Path,
    *,
    model: str | Path,
    precision: str = "int8",
    root: str | Path | None = None,
    options: GenerationOptions | None = None,
    mode: str = "whole",
    batch_size: int = DEFAULT_BATCH_SIZE,
    text_column: str = "text",
    id_column: str | None = None,
    address: str | None = None,
    workers: int | None = None,
    n_threads: int | None = None,
    on_progress: Callable[[str], None] | None = None,
) -> ClusterReport:
    """Summarize ``inputs`` on Ray and write ``output`` (.jsonl or .parquet); see the module doc.

    ``inputs``: files and folders (a folder's documents, as the CLI reads them), or one .jsonl or
    .parquet table whose ``text_column`` holds the texts (``id_column`` names each row; else its
    row number). ``address``: a running cluster's (``ray.init(address=...)``); None: the cluster
    this process is already connected to, or a new local one. ``workers``: actors (default: as
    many as the cluster's CPUs allow, ``n_threads`` CPUs each, 1 by default).
    """
    ray = _import_ray()
    check_batch_size(batch_size)
    output = Path(output)
    fmt = output.suffix.lower().lstrip(".")
    if fmt not in OUTPUT_FORMATS:
        raise ValueError(f"the output must end in .jsonl or .parquet; got {output.name}")
    folder = _export_folder(model, precision, root)
    manifest_sha = hashlib.sha256((folder / MANIFEST).read_bytes()).hexdigest()
    records = _records([Path(p) for p in inputs], text_column, id_column)
    if not records:
        raise ValueError("There are no inputs to summarize.")
    if not ray.is_initialized():
        ray.init(address=address, log_to_driver=False)
    threads = n_threads or 1
    if workers is None:
        workers = max(1, int(ray.cluster_resources().get("CPU", 1) // threads))
    per_batch = batch_size * 4  # a Ray batch: a few generate() calls, so a lost worker loses little
    dataset = ray.data.from_items(records, override_num_blocks=-(-len(records) // per_batch))
    summaries = dataset.map_batches(
        _Worker,
        fn_constructor_kwargs={"folder": str(folder), "manifest_sha": manifest_sha, "options": options, "mode": mode,
                               "batch_size": batch_size, "n_threads": threads},
        batch_size=per_batch,
        batch_format="pandas",
        compute=ray.data.ActorPoolStrategy(size=workers),  # (concurrency= is deprecated since Ray 2.51)
        num_cpus=threads,
        # Ray Data restarts a dead actor and runs its batch again by default (its actor pool sets
        # max_restarts=-1 and max_task_retries=-1; passing them is deprecated from Ray 2.60).
    )
    return _write(summaries, records, output, fmt, on_progress)


def _optional(name: str):
    """Import a module of the ray extra (ray, and the pandas and pyarrow it brings) by name: the
    desktop bundle collects every engine module, and PyInstaller would follow a plain import into
    Ray, which the app never runs."""
    return importlib.import_module(name)


def _import_ray():
    try:
        ray = _optional("ray")
        _optional("ray.data")
    except ImportError as e:
        raise EngineError(f"Running on Ray needs the ray extra ({e.name} is missing): "
                          "pip install 'pegasus-desktop[ray]'.") from e
    return ray


def _export_folder(model: str | Path, precision: str, root: str | Path | None) -> Path:
    folder = Path(model).expanduser()
    if not (folder / MANIFEST).is_file():
        folder = export_dir(str(model), precision, root)
    if not (folder / MANIFEST).is_file():
        raise EngineError(f"{model} has no {precision} export in {folder.parent.parent}: export it once first "
                          f"(pegasus-summarize export {model}); the workers load that export.")
    verify(folder)
    return folder.resolve()


def _records(paths: list[Path], text_column: str, id_column: str | None) -> list[dict]:
    """[{"id", "path", "text"}]: a file per row (read by a worker), or a table's rows."""
    if len(paths) == 1 and paths[0].is_file() and paths[0].suffix.lower() in TABLE_INPUTS:
        return _table_records(paths[0], text_column, id_column)
    from engine.documents import SUPPORTED_SUFFIXES

    return [{"id": str(p), "path": str(p), "text": None} for p in collect_inputs(paths, SUPPORTED_SUFFIXES)]


def _table_records(path: Path, text_column: str, id_column: str | None) -> list[dict]:
    if path.suffix.lower() == ".parquet":
        rows = _optional("pyarrow.parquet").read_table(path).to_pylist()
    else:
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if rows and text_column not in rows[0]:
        raise ValueError(f"{path.name} has no {text_column!r} column; its columns: {', '.join(rows[0])}")
    return [{"id": str(row[id_column]) if id_column else str(n), "path": None, "text": row.get(text_column) or ""}
            for n, row in enumerate(rows)]


class _Worker:
    """One Ray actor: loads the driver's export once, then summarizes every batch it is given."""

    def __init__(self, folder: str, manifest_sha: str, options, mode: str, batch_size: int, n_threads: int):
        from engine.summarizer import Summarizer

        start = time.perf_counter()
        found = hashlib.sha256((Path(folder) / MANIFEST).read_bytes()).hexdigest()
        if found != manifest_sha:
            raise EngineError(f"The export at {folder} on this node is not the one the driver checked "
                              "(its manifest differs): share the same export with every node.")
        self.summarizer = Summarizer.load(folder, n_threads=n_threads)  # checks every file against the manifest
        self.options, self.mode, self.batch_size = options, mode, batch_size
        self.load_seconds = time.perf_counter() - start
        self.pid = os.getpid()

    def __call__(self, batch):
        from engine.cli import read_input
        from engine.long_document import summarize_documents

        ids, paths, texts = list(batch["id"]), list(batch["path"]), list(batch["text"])
        readers = [(lambda p=p: read_input(p)) if isinstance(p, str) else t for p, t in zip(paths, texts)]
        rows: list[dict] = [{}] * len(ids)
        for index, outcome in summarize_documents(self.summarizer, readers, self.options, mode=self.mode,
                                                  batch_size=self.batch_size):
            if isinstance(outcome, Exception):
                rows[index] = _row(ids[index], "failed", error=str(outcome) or type(outcome).__name__)
            else:
                rows[index] = _row(ids[index], "ok", outcome.text, round(outcome.seconds, 3), outcome.input_tokens,
                                   outcome.summary_tokens, outcome.parts)
        frame = _optional("pandas").DataFrame(rows, columns=list(COLUMNS))
        frame["load_seconds"] = self.load_seconds
        frame["worker_pid"] = self.pid
        return frame


def _row(file: str, status: str, summary: str = "", seconds: float = 0.0, input_tokens: int = 0,
         summary_tokens: int = 0, parts: int = 0, error: str = "") -> dict:
    return {"file": file, "status": status, "summary": summary, "seconds": seconds, "input_tokens": input_tokens,
            "summary_tokens": summary_tokens, "parts": parts, "error": error}


def _write(summaries, records: list[dict], output: Path, fmt: str, on_progress) -> ClusterReport:
    """Take the rows as they come back (each input once) and write the table."""
    expected = {r["id"] for r in records}
    seen: dict[str, dict] = {}
    duplicates, load_seconds = 0, 0.0
    table = SummaryTable(output) if fmt in TABLE_FORMATS else None
    try:
        for batch in summaries.iter_batches(batch_format="pandas", batch_size=None):
            for row in batch.to_dict("records"):
                load_seconds = max(load_seconds, float(row.pop("load_seconds")))
                row.pop("worker_pid")
                if row["file"] in seen or row["file"] not in expected:
                    duplicates += 1
                    continue
                row = {k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()}
                seen[row["file"]] = row
                if table is not None:
                    table.write(BatchResult(**{**row, "file": Path(row["file"])}))
            if on_progress is not None:
                on_progress(f"{len(seen)}/{len(expected)} summarized")
    except BaseException:
        if table is not None:
            table.discard()
        raise
    if table is not None:
        table.close()
    else:
        _write_parquet(output, [seen[r["id"]] for r in records if r["id"] in seen])
    if len(seen) != len(expected):  # Ray gave up on some rows (should not happen: retries are unlimited)
        raise EngineError(f"{len(expected) - len(seen)} of {len(expected)} inputs came back from no worker.")
    failed = sum(1 for row in seen.values() if row["status"] != "ok")
    return ClusterReport(output, len(expected), len(seen) - failed, failed, duplicates, load_seconds)


def _write_parquet(path: Path, rows: list[dict]) -> None:
    """Written beside ``path``, then renamed over it: an earlier table stays whole until then."""
    pa, pq = _optional("pyarrow"), _optional("pyarrow.parquet")
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.stem}.partial{path.suffix}")
    try:
        pq.write_table(pa.Table.from_pylist(rows), partial)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def _read_rows(path: Path) -> list[dict]:
    if path.suffix.lower() == ".parquet":
        return _optional("pyarrow.parquet").read_table(path).to_pylist()
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
