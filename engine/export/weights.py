"""Save several ONNX graphs so that every weight is stored once on disk.

All large initializers of all graphs go to one ``weights.bin`` as ONNX external data. Tensors with
the same bytes (the tied embedding, which both graphs use, or the encoder's and the decoder's
identical sinusoidal position tables) are written once, and each graph points at the same offset.
Offsets are page-aligned so that onnxruntime may map them.

This module knows nothing about Pegasus: it moves bytes between protobufs and a file.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, external_data_helper, numpy_helper

WEIGHTS_FILE = "weights.bin"
INLINE_LIMIT = 1024  # bytes: smaller tensors stay inside the graph
ALIGNMENT = 4096


def load_graph(path: Path) -> onnx.ModelProto:
    """Load a graph's structure; its external tensors stay on disk until ``tensor_array``."""
    return onnx.load(str(path), load_external_data=False)


def tensor_array(tensor: TensorProto, base_dir: Path) -> np.ndarray:
    """The tensor's values, from the graph or read from its external file.

    An external tensor is read into memory of its own (not mapped): a mapping's pages stay in the
    process until it is closed, so passes over every weight (quantization) would hold them all.
    """
    if not external_data_helper.uses_external_data(tensor):
        return numpy_helper.to_array(tensor)
    info = external_data_helper.ExternalDataInfo(tensor)
    dtype = onnx.helper.tensor_dtype_to_np_dtype(tensor.data_type)
    count = int(np.prod(tensor.dims)) if tensor.dims else 1
    data = np.fromfile(base_dir / info.location, dtype=dtype, count=count, offset=info.offset or 0)
    if data.size != count:
        raise ValueError(f"{base_dir / info.location} ends before the tensor {tensor.name!r} it should hold")
    return data.reshape(tuple(tensor.dims))


def _tensor_bytes(tensor: TensorProto, base_dir: Path) -> bytes:
    if tensor.HasField("raw_data") and not external_data_helper.uses_external_data(tensor):
        return tensor.raw_data
    return tensor_array(tensor, base_dir).tobytes()


class SharedWriter:
    """Appends unique tensors to one file and remembers where each content already lives."""

    def __init__(self, path: Path) -> None:
        self.file = open(path, "wb")  # noqa: SIM115 - closed by save_graphs
        self.offsets: dict[tuple[int, bytes], tuple[int, int]] = {}

    def place(self, data_type: int, data: bytes | np.ndarray) -> tuple[int, int]:
        """(offset, length) of ``data`` in the file, written now unless equal bytes already are.
        An array must be C-contiguous; its bytes are hashed and written without a copy."""
        view = memoryview(data).cast("B")
        key = (data_type, hashlib.sha256(view).digest())
        if key not in self.offsets:
            offset = -self.file.tell() % ALIGNMENT + self.file.tell()
            self.file.seek(offset)
            self.file.write(view)
            self.offsets[key] = (offset, len(view))
        return self.offsets[key]


def save_graphs(
    graphs: dict[str, onnx.ModelProto | Callable[[], onnx.ModelProto]],
    base_dir: Path | None,
    out_dir: Path,
    *,
    arrays: dict[str, np.ndarray] | None = None,
) -> tuple[list[Path], dict[str, int]]:
    """Write each graph as ``out_dir/<name>.onnx`` with its large tensors in the shared file.

    A graph may be given as a function that loads it, so that only one is in memory at a time.
    ``base_dir`` is where the graphs' current external data lives (None if all inline).
    ``arrays`` are written to the shared file too (after the graphs, so equal bytes are shared).
    Returns the written graph paths, in the order given, and each array's offset in the file.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    writer = SharedWriter(out_dir / WEIGHTS_FILE)
    paths, offsets = [], {}
    try:
        for name, graph in graphs.items():
            model = graph() if callable(graph) else graph
            for tensor in model.graph.initializer:
                data = _tensor_bytes(tensor, base_dir or out_dir)
                if len(data) < INLINE_LIMIT:
                    _set_inline(tensor, data)
                    continue
                offset, length = writer.place(tensor.data_type, data)
                set_external(tensor, offset, length)
            path = out_dir / f"{name}.onnx"
            onnx.save_model(model, str(path))
            paths.append(path)
            del model
        for name, array in (arrays or {}).items():
            data_type = onnx.helper.np_dtype_to_tensor_dtype(array.dtype)
            offsets[name] = writer.place(data_type, np.ascontiguousarray(array))[0]
    finally:
        writer.file.close()
    return paths, offsets


def _set_inline(tensor: TensorProto, data: bytes) -> None:
    del tensor.external_data[:]
    tensor.data_location = TensorProto.DEFAULT
    for field in ("float_data", "int32_data", "int64_data", "double_data", "uint64_data"):
        tensor.ClearField(field)
    tensor.raw_data = data


def set_external(tensor: TensorProto, offset: int, length: int) -> None:
    for field in ("raw_data", "float_data", "int32_data", "int64_data", "double_data", "uint64_data"):
        tensor.ClearField(field)
    del tensor.external_data[:]
    for key, value in (("location", WEIGHTS_FILE), ("offset", str(offset)), ("length", str(length))):
        entry = tensor.external_data.add()
        entry.key, entry.value = key, value
    tensor.data_location = TensorProto.EXTERNAL
