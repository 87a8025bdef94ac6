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

from engine.export.pipeline import ExportOptions, export, model_source, quantize_export
from engine.model import OnnxPegasus
from engine.model_dir import export_dir
from engine.progress import ProgressCallback
from engine.runtime import ExportPaths, get_onnx_runtime_sessions


def _precision(quantized: bool) -> str:
    return "int8" if quantized else "fp32"


def _same_source(a, b) -> bool:
    """Whether two spellings name one hub id or folder (``./ckpt`` and ``ckpt`` do)."""
    return Path(str(a)).resolve() == Path(str(b)).resolve()


def _model_to_export(model_or_model_path, pretrained_version, model):
    """The one model to export, given as our first argument or by fast-Pegasus's keywords.

    fast-Pegasus needed ``pretrained_version`` beside ``model`` to name its files, so its callers
    pass both; that is accepted when it names the checkpoint the model was loaded from."""
    given = [value for value in (model_or_model_path, pretrained_version, model) if value is not None]
    if model_or_model_path is not None and len(given) > 1:
        raise ValueError("give the model once: as the first argument, or as pretrained_version= "
                         "or model=, not both")
    if not given:
        raise ValueError("give a hub id or checkpoint folder (first argument or pretrained_version=) "
                         "or a model loaded in torch (model=)")
    if pretrained_version is not None and model is not None:
        loaded_from = model_source(model)
        if not loaded_from or not _same_source(pretrained_version, loaded_from):
            raise ValueError(f"pretrained_version={str(pretrained_version)!r} is not the checkpoint "
                             f"model= was loaded from ({loaded_from!r}); give only one of them")
        return model
    return given[0]


def generate_onnx_representation(
    model_or_model_path=None,
    output_path: str | Path | None = None,
    *,
    pretrained_version: str | Path | None = None,
    model=None,
    input_sequence_length: int = 256,
    onnx_opset_version: int = 12,
    options: ExportOptions = ExportOptions(),
    on_progress: ProgressCallback | None = None,
) -> ExportPaths:
    """Export the fp32 graphs of a hub id, a checkpoint folder or a loaded model; return their paths.

    fast-Pegasus's ``pretrained_version=`` (hub id or folder) and ``model=`` (a loaded model) may
    stand for the first argument. ``input_sequence_length`` and ``onnx_opset_version`` are accepted
    and change nothing: our graphs are written op by op, with dynamic lengths, in a fixed opset.
    """
    source = _model_to_export(model_or_model_path, pretrained_version, model)
    return export(source, output_path, precision="fp32", options=options, on_progress=on_progress)


def quantize(
    models_name_or_path: ExportPaths | tuple, *, weight_bits: int = 7, on_progress=None
) -> ExportPaths:
    """Quantize an fp32 export to int8 (a sibling ``int8`` folder); return the int8 paths.

    ``models_name_or_path`` (fast-Pegasus's name) is what ``generate_onnx_representation`` returned.
    """
    paths = ExportPaths(*models_name_or_path[:2])
    return quantize_export(paths, weight_bits=weight_bits, on_progress=on_progress)


def export_and_get_onnx_model(
    model_or_model_path,
    custom_output_path: str | Path | None = None,
    quantized: bool = True,
    *,
    input_sequence_length: int = 256,
    options: ExportOptions = ExportOptions(),
    n_threads: int | None = None,
    on_progress: ProgressCallback | None = None,
) -> OnnxPegasus:
    """Export (int8 by default, fp32 with ``quantized=False``) and load the result.

    fast-Pegasus's ``input_sequence_length`` is accepted and changes nothing (dynamic lengths)."""
    paths = export(model_or_model_path, custom_output_path, precision=_precision(quantized), options=options,
                   on_progress=on_progress)
    return OnnxPegasus(_name_of(model_or_model_path), get_onnx_runtime_sessions(paths, n_threads=n_threads))


def _name_of(model_or_model_path) -> str:
    """A hub id or folder as given; a model loaded in torch by the checkpoint it came from (its repr
    is the whole module tree)."""
    if isinstance(model_or_model_path, (str, Path)):
        return str(model_or_model_path)
    return model_source(model_or_model_path)  # export() has refused a model without one


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
