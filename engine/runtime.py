"""onnxruntime sessions for an export folder, built in one place with explicit options.

Nothing here changes process-wide settings: threads and spinning are per session.
This module knows nothing about decoding or tokenization.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import onnxruntime as ort

from engine.errors import EngineError
from engine.model_dir import verify

log = logging.getLogger(__name__)


class ExportPaths(NamedTuple):
    """The graphs of one export folder (fast-Pegasus returned a tuple of paths too)."""

    encoder: Path
    decoder: Path

    @property
    def folder(self) -> Path:
        return self.encoder.parent

    @classmethod
    def in_folder(cls, folder: str | Path) -> ExportPaths:
        folder = Path(folder)
        return cls(folder / "encoder.onnx", folder / "decoder.onnx")


class Sessions(NamedTuple):
    encoder: ort.InferenceSession
    decoder: ort.InferenceSession
    folder: Path


def default_threads() -> int:
    """All logical CPUs, as onnxruntime's own default; the app and CLI let the user choose fewer."""
    return max(1, os.cpu_count() or 1)


# fast-Pegasus's ``opt_level`` numbers, kept so its callers can pass them unchanged.
OPTIMIZATION_LEVELS = {
    1: ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
    2: ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
    99: ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
}
CPU_PROVIDER = "CPUExecutionProvider"


def session_options(threads: int | None = None, *, opt_level: int = 99) -> ort.SessionOptions:
    """Our measured settings; ``threads`` None or 0 means ``default_threads()``."""
    if opt_level not in OPTIMIZATION_LEVELS:
        raise ValueError(f"opt_level must be one of {sorted(OPTIMIZATION_LEVELS)} (basic, extended, "
                         f"all graph optimizations), got {opt_level!r}")
    options = ort.SessionOptions()
    options.graph_optimization_level = OPTIMIZATION_LEVELS[opt_level]
    options.intra_op_num_threads = threads or default_threads()
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3  # errors only: its warnings are about graph clean-ups
    return options


def releasing_run() -> ort.RunOptions:
    """Run options that hand the session's unused arena memory back at the end of the run.

    For the encoder: its arena grows to one input's activations (a few hundred MB at 512 tokens)
    and would otherwise stay that size beside the decoder's for as long as the model is loaded.
    Re-growing it costs the next encoder run about 4 ms (1.6 %) on the Intel Xeon."""
    options = ort.RunOptions()
    options.add_run_config_entry("memory.enable_memory_arena_shrinkage", "cpu:0")
    return options


def _session(path: Path, options: ort.SessionOptions) -> ort.InferenceSession:
    try:
        return ort.InferenceSession(str(path), options, providers=[CPU_PROVIDER])
    except Exception as e:  # onnxruntime raises its own, unexported exception types
        raise EngineError(
            f"onnxruntime cannot load {path.name} in {path.parent}: {e}. The export is damaged or was "
            f"made by an incompatible version: re-export the model."
        ) from e


def _check_cpu_only(provider: str | Sequence[str]) -> None:
    """Refuse any execution provider but the CPU's: we build and test for the CPU only, and a
    silent fall-back would hide that a GPU the caller asked for is not used."""
    names = [provider] if isinstance(provider, str) else list(provider)
    others = [name for name in names if name != CPU_PROVIDER]
    if others:
        raise ValueError(f"provider {others} is not supported: this engine runs on the CPU only. "
                         f"Pass provider=[{CPU_PROVIDER!r}] or leave it out.")


def get_onnx_runtime_sessions(
    model_paths: ExportPaths | tuple | str | Path,
    *,
    n_threads: int | None = None,
    opt_level: int = 99,
    provider: str | Sequence[str] = (CPU_PROVIDER,),
    default: bool = True,
    parallel_exe_mode: bool = True,
    check: bool = True,
) -> Sessions:
    """Open the encoder and decoder of an export folder (or an ``ExportPaths``).

    With ``check`` (the default) every file is first checked against the manifest.
    fast-Pegasus's keywords are accepted: ``n_threads`` (0 or None: all logical CPUs),
    ``opt_level`` (1, 2 or 99: onnxruntime's basic, extended or all graph optimizations) and
    ``provider`` (the CPU provider only). ``default`` and ``parallel_exe_mode`` change nothing:
    every session keeps the settings our benchmarks were measured with (sequential execution,
    one inter-op thread), whichever way they are set.
    """
    _check_cpu_only(provider)
    paths = (ExportPaths.in_folder(model_paths) if isinstance(model_paths, (str, Path))
             else ExportPaths(*model_paths[:2]))
    options = session_options(n_threads, opt_level=opt_level)  # refuses a bad opt_level first
    if check:
        verify(paths.folder)
    log.info("loading %s with %d threads", paths.folder, options.intra_op_num_threads)
    return Sessions(_session(paths.encoder, options), _session(paths.decoder, options), paths.folder)
