"""The export pipeline: checkpoint -> fp32 graphs -> int8 graphs -> a verified, published folder.

Each published folder is built in a staging folder beside its target, checked by loading it with
onnxruntime and running one step, and only then renamed into place. Whatever fails or is
interrupted leaves the previous export (if any) untouched and no half-made folder behind.

Importing this module imports torch lazily: only ``generate_onnx_representation`` needs it.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from engine.errors import EngineError
from engine.model_dir import export_dir, publish, remove_stale_staging, staging_dir, write_manifest
from engine.progress import ProgressCallback, report
from engine.model import smoke_test
from engine.runtime import ExportPaths

# Files every precision's folder carries besides the graphs and weights.
_SIDECAR_FILES = ("config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json",
                  "special_tokens_map.json")


@dataclass(frozen=True)
class ExportOptions:
    """How to export. ``weight_bits`` 7 avoids int16 saturation on CPUs without VNNI (see quantize.py)."""

    revision: str | None = None
    token: str | bool | None = None
    weight_bits: int = 7


def _versions() -> dict[str, str]:
    out = {}
    for package in ("pegasus-desktop", "torch", "transformers", "onnx", "onnxruntime", "tokenizers"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            out[package] = metadata.version(package)
    return out


@contextlib.contextmanager
def _staging(target: Path) -> Iterator[Path]:
    """A staging folder for ``target`` that is removed unless it was published."""
    folder = staging_dir(target)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _finish(folder: Path, target: Path, info: dict, on_progress: ProgressCallback | None) -> ExportPaths:
    report(on_progress, "verify", 0, 1, target.name)
    write_manifest(folder, info)
    smoke_test(folder)
    publish(folder, target)
    report(on_progress, "verify", 1, 1, target.name)
    return ExportPaths.in_folder(target)


def _write_fp32(checkpoint, model, out: Path, on_progress, *, consume: bool) -> None:
    from engine.export.checkpoint import save_tokenizer_and_configs
    from engine.export.trace import trace_graphs
    from engine.export.weights import load_graph, save_graphs

    # Traced inside the staging folder, so that whatever stops the export, it goes with it.
    with tempfile.TemporaryDirectory(dir=out, prefix=".trace-") as raw:
        raw = Path(raw)
        graphs = ("encoder", "decoder")
        step = lambda name: report(on_progress, "export", graphs.index(name), 2, name)  # noqa: E731
        trace_graphs(model, raw, on_graph=step, consume=consume)
        save_graphs({name: (lambda name=name: load_graph(raw / f"{name}.onnx")) for name in graphs}, raw, out)
        report(on_progress, "export", 2, 2, "")
    save_tokenizer_and_configs(model, checkpoint.folder, checkpoint.folder, out)


def _load(model_or_model_path, options: ExportOptions, on_progress):
    """(checkpoint, model) for a hub id, a local folder, or an already loaded model."""
    from engine.export.checkpoint import Checkpoint, load_model, resolve

    if not isinstance(model_or_model_path, (str, Path)):
        model = model_or_model_path.eval()
        source = getattr(model.config, "_name_or_path", "") or ""
        checkpoint = resolve(source, revision=options.revision, token=options.token) if source else None
        if checkpoint is None:
            raise EngineError("A model object needs config._name_or_path to find its tokenizer.")
        return checkpoint, model
    checkpoint = resolve(str(model_or_model_path), revision=options.revision, token=options.token,
                         on_progress=on_progress)
    report(on_progress, "load", 0, 1, checkpoint.model_id)
    model = load_model(checkpoint.folder)
    report(on_progress, "load", 1, 1, checkpoint.model_id)
    return checkpoint, model


def _info(checkpoint, precision: str, options: ExportOptions) -> dict:
    return {
        "source": {"model_id": checkpoint.model_id, "revision": checkpoint.revision},
        "precision": precision,
        "options": {"weight_bits": options.weight_bits if precision == "int8" else None},
        "packages": _versions(),
    }


def export(
    model_or_model_path,
    root: str | Path | None = None,
    *,
    precision: str = "int8",
    options: ExportOptions = ExportOptions(),
    on_progress: ProgressCallback | None = None,
) -> ExportPaths:
    """Export one precision of a checkpoint into ``<root>/<slug>/<precision>``; return its paths."""
    checkpoint, model = _load(model_or_model_path, options, on_progress)
    # A model we loaded ourselves is released graph by graph; a caller's model is left intact.
    consume = isinstance(model_or_model_path, (str, Path))
    target = export_dir(checkpoint.model_id, precision, root)
    remove_stale_staging(target.parent)
    try:
        with _staging(target) as folder:
            if precision == "fp32":
                _write_fp32(checkpoint, model, folder, on_progress, consume=consume)
                return _finish(folder, target, _info(checkpoint, "fp32", options), on_progress)
            with _staging(target.with_name("fp32-for-int8")) as fp32:
                _write_fp32(checkpoint, model, fp32, on_progress, consume=consume)
                _quantize_into(fp32, folder, options.weight_bits, on_progress)
            return _finish(folder, target, _info(checkpoint, "int8", options), on_progress)
    except OSError as e:
        raise EngineError(f"Writing the export to {target.parent} failed: {e}. Check free disk space.") from e


def _quantize_into(fp32: Path, out: Path, bits: int, on_progress) -> None:
    from engine.export.quantize import quantize_folder

    graphs = ("encoder", "decoder")
    step = lambda name: report(on_progress, "quantize", graphs.index(name), 2, name)  # noqa: E731
    quantize_folder(fp32, out, graphs, bits=bits, on_graph=step)
    report(on_progress, "quantize", 2, 2, "")
    for name in _SIDECAR_FILES:
        if (fp32 / name).is_file():
            shutil.copy2(fp32 / name, out / name)


def quantize_export(paths: ExportPaths, *, weight_bits: int = 7, on_progress=None) -> ExportPaths:
    """Quantize a published fp32 export into its sibling ``int8`` folder."""
    from engine.model_dir import read_manifest

    source = paths.folder
    manifest = read_manifest(source)
    target = source.with_name("int8")
    with _staging(target) as folder:
        _quantize_into(source, folder, weight_bits, on_progress)
        info = {**{k: manifest[k] for k in ("source", "packages") if k in manifest}, "precision": "int8",
                "options": {"weight_bits": weight_bits}}
        return _finish(folder, target, info, on_progress)
