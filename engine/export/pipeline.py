"""The export pipeline: checkpoint -> fp32 graphs -> int8 graphs -> a verified, published folder.

Each published folder is built in a staging folder beside its target, checked by loading it with
onnxruntime and running one step, and only then renamed into place. Whatever fails or is
interrupted leaves the previous export (if any) untouched and no half-made folder behind.
One process at a time writes a model's folder (a file lock); a second one waits, then uses what
the first one made. A full disk raises ``DiskFullError`` after the staging folder is removed.

Neither torch nor transformers is imported: a checkpoint folder or hub id is read with numpy,
one tensor at a time (``pegasus_weights``). Only a model object already loaded in torch is read
through torch, and it is the caller's.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from engine.errors import EngineError
from engine.export.space import checkpoint_weights_bytes, export_bytes_needed
from engine.model import smoke_test
from engine.model_dir import (
    disk_full_error,
    export_dir,
    is_disk_full,
    model_folder_lock,
    publish,
    remove_stale_staging,
    staging_dir,
    verify,
    write_manifest,
)
from engine.progress import ProgressCallback, report
from engine.runtime import ExportPaths

# Files every precision's folder carries besides the graphs and weights.
_SIDECAR_FILES = ("config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json",
                  "special_tokens_map.json")


@dataclass(frozen=True)
class ExportOptions:
    """How to export. ``weight_bits`` 7 avoids int16 saturation on CPUs without VNNI (see quantize.py).

    ``lock_timeout`` bounds the wait, in seconds, when another process is exporting the same model
    (None: wait until it is done). There is no option to unpickle weights fully: pytorch_model.bin
    is always read by the loader that rebuilds only tensors (see checkpoint.py).
    """

    revision: str | None = None
    token: str | bool | None = None
    weight_bits: int = 7
    lock_timeout: float | None = None


def _versions() -> dict[str, str]:
    out = {}
    for package in ("pegasus-desktop", "numpy", "safetensors", "onnx", "onnxruntime", "tokenizers"):
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


def _write_fp32(checkpoint, weights, out: Path, on_progress) -> None:
    from engine.export.graphs import write_graphs
    from engine.export.pegasus_weights import write_configs
    from engine.export.tokenizer_convert import write_tokenizer

    graphs = ("encoder", "decoder")
    write_graphs(weights, out, on_graph=lambda name: report(on_progress, "export", graphs.index(name), 2, name))
    report(on_progress, "export", 2, 2, "")
    write_tokenizer(checkpoint.folder, out)
    write_configs(weights, checkpoint.folder, out)


def model_source(model) -> str:
    """The hub id or folder a model loaded in torch came from (``config._name_or_path``), or ""."""
    return getattr(getattr(model, "config", None), "_name_or_path", "") or ""


def _resolve(model_or_model_path, options: ExportOptions, on_progress):
    """(checkpoint, weights or None) for a hub id, a local folder, or an already loaded model."""
    from engine.export.checkpoint import resolve
    from engine.export.pegasus_weights import PegasusWeights

    if not isinstance(model_or_model_path, (str, Path)):
        model = model_or_model_path.eval()
        source = model_source(model)
        # The caller loaded the weights already; we only read the tokenizer and configs.
        checkpoint = resolve(source, revision=options.revision, token=options.token) if source else None
        if checkpoint is None:
            raise EngineError("A model object needs config._name_or_path to find its tokenizer.")
        return checkpoint, PegasusWeights.from_model(model)
    checkpoint = resolve(str(model_or_model_path), revision=options.revision, token=options.token,
                         on_progress=on_progress)
    return checkpoint, None


def _load(checkpoint, on_progress):
    """Map the checkpoint's weights (each tensor is read when the graphs need it)."""
    from engine.export.pegasus_weights import PegasusWeights

    report(on_progress, "load", 0, 1, checkpoint.model_id)
    weights = PegasusWeights.from_checkpoint(checkpoint.folder)
    report(on_progress, "load", 1, 1, checkpoint.model_id)
    return weights


def _made_meanwhile(target: Path, checkpoint) -> ExportPaths | None:
    """The export another process just finished for the same source, if it is sound."""
    try:
        manifest = verify(target)
    except EngineError:
        return None
    if manifest.get("source", {}).get("model_id") != checkpoint.model_id:
        return None
    return ExportPaths.in_folder(target)


def _needed_bytes(checkpoint, precision: str) -> int | None:
    """Peak room the export takes while it is written (space.py: the fp32 copy, plus the int8 one);
    the checkpoint is already downloaded by now."""
    return export_bytes_needed(checkpoint_weights_bytes(checkpoint.folder), precision) or None


def _int8_options(weight_bits: int) -> dict:
    # "rows": one activation scale per token vector, so a row's result never depends on its batch.
    return {"weight_bits": weight_bits, "activations": "rows"}


def _info(checkpoint, precision: str, options: ExportOptions) -> dict:
    return {
        "source": {"model_id": checkpoint.model_id, "revision": checkpoint.revision},
        "precision": precision,
        "options": _int8_options(options.weight_bits) if precision == "int8" else {"weight_bits": None},
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
    """Export one precision of a checkpoint into ``<root>/<slug>/<precision>``; return its paths.

    Raises ``EngineError``: ``OfflineError``, ``DiskFullError``, ``ExportBusyError`` (only with a
    ``lock_timeout``) and ``UnsafeCheckpointError`` say what to do next.
    """
    checkpoint, weights = _resolve(model_or_model_path, options, on_progress)
    target = export_dir(checkpoint.model_id, precision, root)
    on_wait = lambda: report(on_progress, "wait", 0, 0, "another export of this model")  # noqa: E731
    try:
        with model_folder_lock(target.parent, timeout=options.lock_timeout, on_wait=on_wait) as waited:
            if waited and (made := _made_meanwhile(target, checkpoint)) is not None:
                return made
            if weights is None:
                weights = _load(checkpoint, on_progress)
            return _write(checkpoint, weights, target, precision, options, on_progress)
    except OSError as e:
        if is_disk_full(e):
            raise disk_full_error(target.parent, _needed_bytes(checkpoint, precision), e) from e
        raise EngineError(f"Writing the export to {target.parent} failed: {e}.") from e
    except Exception as e:  # noqa: BLE001 - writers in C++ report a full disk as other errors
        if is_disk_full(e) and not isinstance(e, EngineError):
            raise disk_full_error(target.parent, _needed_bytes(checkpoint, precision), e) from e
        raise


def _write(checkpoint, weights, target: Path, precision: str, options: ExportOptions, on_progress) -> ExportPaths:
    """Build the export in a staging folder and publish it; called holding the folder's lock."""
    remove_stale_staging(target.parent)
    with _staging(target) as folder:
        if precision == "fp32":
            _write_fp32(checkpoint, weights, folder, on_progress)
            return _finish(folder, target, _info(checkpoint, "fp32", options), on_progress)
        with _staging(target.with_name("fp32-for-int8")) as fp32:
            _write_fp32(checkpoint, weights, fp32, on_progress)
            _quantize_into(fp32, folder, options.weight_bits, on_progress)
        return _finish(folder, target, _info(checkpoint, "int8", options), on_progress)


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
                "options": _int8_options(weight_bits)}
        return _finish(folder, target, info, on_progress)
