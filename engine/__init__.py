"""Pegasus summarization on the CPU with onnxruntime.

Exporting needs torch and transformers (the ``export`` extra), imported only when you export.
Loading an export and generating needs onnxruntime, numpy and tokenizers alone.
"""

from engine.api import export_and_get_onnx_model, generate_onnx_representation, get_onnx_model, quantize
from engine.errors import EngineError, GenerationCancelled, OfflineError
from engine.export.pipeline import ExportOptions
from engine.generation import GenerationConfig, GenerationOptions
from engine.long_document import ChunkSummary, DocumentSummary, summarize_document
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
]
