"""Token embeddings, read row by row from an export's ``weights.bin``.

The graphs take ``inputs_embeds`` rather than token ids. Looking tokens up inside onnxruntime
kept the embedding's file pages mapped: a summary of 512 random tokens touched about 90 MB of a
98 MB int8 table (the page cache maps large folios around each row), and that counted in the
app's memory. Reading just the rows a request needs costs one small read per distinct token.

``embedding.json`` in the export folder says, for the encoder and for the decoder, where its table
lives: the rows (``(vocab, d_model)``, float32 or int8), for int8 the per-row scales, and the factor
every embedding is multiplied by (``sqrt(d_model)`` for Pegasus). Pegasus checkpoints share one
table, which is also the lm_head: then both entries point at the lm_head's own stored bytes.

This module knows nothing about onnxruntime, graphs or decoding.
"""

from __future__ import annotations

import json
import threading
import weakref
from pathlib import Path

import numpy as np

from engine.errors import EngineError

EMBEDDING_FILE = "embedding.json"


def embedding_record(file: str, rows: tuple[int, tuple[int, int], str], scales: tuple[int, str] | None,
                     multiplier: float) -> dict:
    """What ``embedding.json`` holds: rows (offset, shape, dtype) and scales (offset, dtype) or None."""
    offset, shape, dtype = rows
    record = {"file": file, "rows": {"offset": offset, "shape": list(shape), "dtype": dtype},
              "scales": None, "multiplier": multiplier}
    if scales is not None:
        record["scales"] = {"offset": scales[0], "dtype": scales[1]}
    return record


class TokenEmbedding:
    """``embedding(ids)`` -> float32 ``(*ids.shape, d_model)``, as the ``stack``'s embedding layer."""

    def __init__(self, folder: str | Path, stack: str) -> None:
        folder = Path(folder)
        try:
            record = json.loads((folder / EMBEDDING_FILE).read_text(encoding="utf-8"))[stack]
            rows = record["rows"]
            self.vocab, self.width = (int(n) for n in rows["shape"])
            self._rows = (int(rows["offset"]), np.dtype(rows["dtype"]))
            scales = record["scales"]
            self._scales = None if scales is None else (int(scales["offset"]), np.dtype(scales["dtype"]))
            self.multiplier = np.float32(record["multiplier"])
            self._file = open(folder / record["file"], "rb", buffering=0)  # noqa: SIM115 - closed by close()
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise EngineError(f"The token embedding of the export in {folder} cannot be read ({e}): re-export the model.") from e
        self._lock = threading.Lock()  # one file position, shared by every caller
        # fast-Pegasus code never closes its models: the file closes when the embedding is collected,
        # without the "unclosed file" ResourceWarning the file object would give.
        weakref.finalize(self, self._file.close)

    def _read(self, base: tuple[int, np.dtype], ids: np.ndarray, width: int) -> np.ndarray:
        offset, dtype = base
        row_bytes = width * dtype.itemsize
        out = np.empty((len(ids), width), dtype)
        with self._lock:
            for i, token in enumerate(ids):
                self._file.seek(offset + int(token) * row_bytes)
                data = self._file.read(row_bytes)
                if len(data) != row_bytes:
                    raise EngineError(f"weights.bin of {self._file.name} is shorter than its embedding: re-export the model.")
                out[i] = np.frombuffer(data, dtype)
        return out

    def __call__(self, ids: np.ndarray) -> np.ndarray:
        ids = np.asarray(ids, dtype=np.int64)
        if ids.size and (ids.min() < 0 or ids.max() >= self.vocab):
            raise ValueError(f"token ids must be in [0, {self.vocab}); got {ids.min()}..{ids.max()}")
        unique, inverse = np.unique(ids.reshape(-1), return_inverse=True)
        rows = self._read(self._rows, unique, self.width).astype(np.float32)  # (tokens, d_model)
        if self._scales is not None:  # int8: the same arithmetic as the graph's dequantization
            rows *= self._read(self._scales, unique, 1)
        if self.multiplier != 1:
            rows *= self.multiplier
        return rows[inverse].reshape(*ids.shape, self.width)

    def close(self) -> None:
        self._file.close()
