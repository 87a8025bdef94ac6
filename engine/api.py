"""The fast-Pegasus API, by name: switch with one import.

    from engine import export_and_get_onnx_model, get_onnx_model

``custom_output_path`` / ``onnx_models_path`` / ``output_path`` name a models root that holds one
folder per model and precision (``<root>/<model slug>/<int8|fp32>``); by default it is the user's
data dir. Exporting a hub id or a checkpoint folder needs the ``convert`` extra (onnx, safetensors,
huggingface_hub; no torch); a model object loaded in torch needs torch, which its caller has.
Loading does not need either.
"""

from __future__ import annotations

from pathlib import Path

from engine.export.pipeline import ExportOptions, export, quantize_export
from engine.model import OnnxPegasus
from engine.model_dir import export_dir
from engine.progress import ProgressCallback
from engine.runtime import ExportPaths, get_onnx_runtime_sessions


def _precision(quantized: bool) -> str:
    return "int8" if quantized else "fp32"


def generate_onnx_representation(
    model_or_model_path,
    output_path: str | Path | None = None,
    *,
    options: ExportOptions = ExportOptions(),
    on_progress: ProgressCallback | None = None,
) -> ExportPaths:
    """Export the fp32 graphs of a hub id, a checkpoint folder or a loaded model; return their paths."""
    return export(model_or_model_path, output_path, precision="fp32", options=options, on_progress=on_progress)


def quantize(model_paths: ExportPaths | tuple, *, weight_bits: int = 7, on_progress=None) -> ExportPaths:
    """Quantize an fp32 export to int8 (a sibling ``int8`` folder); return the int8 paths."""
    return quantize_export(ExportPaths(*model_paths[:2]), weight_bits=weight_bits, on_progress=on_progress)


def export_and_get_onnx_model(
    model_or_model_path,
    custom_output_path: str | Path | None = None,
    quantized: bool = True,
    *,
    options: ExportOptions = ExportOptions(),
    n_threads: int | None = None,
    on_progress: ProgressCallback | None = None,
) -> OnnxPegasus:
    """Export (int8 by default, fp32 with ``quantized=False``) and load the result."""
    paths = export(model_or_model_path, custom_output_path, precision=_precision(quantized), options=options,
                   on_progress=on_progress)
    return OnnxPegasus(str(model_or_model_path), get_onnx_runtime_sessions(paths, n_threads=n_threads))


def get_onnx_model(
    model_name: str,
    onnx_models_path: str | Path | None = None,
    quantized: bool = True,
    *,
    n_threads: int | None = None,
) -> OnnxPegasus:
    """Load an existing export; never exports. A missing or damaged one raises ``EngineError``."""
    folder = export_dir(model_name, _precision(quantized), onnx_models_path)
    return OnnxPegasus(model_name, get_onnx_runtime_sessions(folder, n_threads=n_threads))
