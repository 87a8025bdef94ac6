"""How much free disk space an export needs, from the size of the checkpoint's weights.

One estimate, used by the app's check before an export starts and by the export's own
``DiskFullError``. It counts what the pipeline (pipeline.py) actually has on disk at its peak:

- an fp32 export is one staging folder: ``weights.bin`` holds every weight once, in fp32, so it is
  the size of an fp32 checkpoint (tied embeddings are stored once, as in the checkpoint), plus
  the graphs, tokenizer and configs, a few MB: ``FP32_COPY`` = 1.05 × the weights;
- an int8 export writes that whole fp32 copy to a staging folder first, then quantizes it into a
  second staging folder while the first still exists: 1.05 × + ``INT8_COPY`` (0.3 ×: int8
  matrices are a quarter of fp32, plus fp32 norms, biases and scales; 0.6 GB for the 2.3 GB
  pegasus-cnn_dailymail checkpoint) = 1.35 × the weights;
- a checkpoint not downloaded yet adds itself (the Hugging Face cache), 1 ×.

A previous export of the same model is replaced only once the new one is complete, but its bytes
are already on disk (already subtracted from the free space), so it adds nothing here. The
factors assume fp32 weights, as every Pegasus checkpoint on the hub has; fp16 weights would
double the fp32 copy. Standard library only.
"""

from __future__ import annotations

from pathlib import Path

FP32_COPY = 1.05
INT8_COPY = 0.3
_DOWNLOAD = 1.0


def checkpoint_weights_bytes(folder: Path) -> int:
    """The bytes of the weights an export reads from ``folder``: its safetensors files, else its
    ``pytorch_model*.bin`` (as ``checkpoint.weights_format`` picks them, never both); 0 if none."""
    folder = Path(folder)
    files = list(folder.glob("*.safetensors")) or list(folder.glob("pytorch_model*.bin"))
    return sum(p.stat().st_size for p in files if p.is_file())


def export_bytes_needed(weights_bytes: int, precision: str = "int8", *, download: bool = False) -> int:
    """Peak free bytes an export of ``precision`` needs for a checkpoint of ``weights_bytes``,
    plus the download's when ``download`` (the checkpoint is not on this machine yet)."""
    if precision not in ("int8", "fp32"):
        raise ValueError(f"precision must be 'int8' or 'fp32'; got {precision!r}")
    factor = FP32_COPY + (INT8_COPY if precision == "int8" else 0) + (_DOWNLOAD if download else 0)
    return round(weights_bytes * factor)
