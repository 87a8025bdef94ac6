"""Pegasus summarization on the CPU with onnxruntime.

Exporting a hub id or a checkpoint folder needs the ``convert`` extra (onnx, safetensors,
huggingface_hub), imported only when you export; torch and transformers are never needed, except
to export a model object you loaded in torch yourself.
Loading an export and generating needs onnxruntime, numpy and tokenizers alone.
"""

import os as _os

# No telemetry. onnxruntime's official builds (1.2x on Linux and macOS too) keep a device id and
# send usage events to Microsoft unless ORT_DISABLE_TELEMETRY is set before onnxruntime is first
# imported, which happens just below; huggingface_hub's own usage pings have a switch as well.
# The one setting this package makes process-wide, on purpose; a value the user set is kept.
_os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
_os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

from engine.api import (
    export_and_get_onnx_model,
    generate_onnx_representation,
    get_onnx_model,
    quantize,
)
from engine.errors import EngineError, GenerationCancelled, OfflineError
from engine.export.pipeline import ExportOptions
from engine.generation import GenerationConfig, GenerationOptions
from engine.long_document import (
    ChunkSummary,
    DocumentSummary,
    summarize_document,
    summarize_documents,
)
from engine.model import InputTruncatedWarning, OnnxPegasus
from engine.progress import Progress
from engine.runtime import ExportPaths, Sessions, get_onnx_runtime_sessions
from engine.summarizer import Summarizer, Summary

__all__ = [
    "ChunkSummary",
    "DocumentSummary",
    "EngineError",
    "ExportOptions",
    "ExportPaths",
    "GenerationCancelled",
    "GenerationConfig",
    "GenerationOptions",
    "InputTruncatedWarning",
    "OfflineError",
    "OnnxPegasus",
    "Progress",
    "Sessions",
    "Summarizer",
    "Summary",
    "export_and_get_onnx_model",
    "generate_onnx_representation",
    "get_onnx_model",
    "get_onnx_runtime_sessions",
    "quantize",
    "summarize_document",
    "summarize_documents",
]
