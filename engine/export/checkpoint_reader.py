"""A checkpoint folder's weights as numpy arrays, one tensor at a time, without torch.

``open_tensors(folder)`` indexes the folder's tensors by name and reads one when asked;
``iter_tensors(folder)`` yields them all as ``(name, array)`` pairs. The weights are safetensors
when it has them (``model.safetensors``, or the shards its ``model.safetensors.index.json``
names), else PyTorch's ``pytorch_model.bin`` (or shards and ``pytorch_model.bin.index.json``).
Each tensor is read, with one positioned read, when its turn comes, so a caller that handles one
tensor and drops it holds about one tensor in memory, not the model (a mapping would keep every
page it touched in the process until it is closed).

- safetensors: ``safetensors``' own ``safe_open`` checks the header and offsets; each tensor's
  bytes are then read where the header places them. numpy has no bfloat16, so a BF16 tensor is
  widened to float32, exactly (see ``bfloat16_to_float32``).
- ``.bin``: ``bin_reader``'s restricted unpickler, which can rebuild tensors and nothing else.

Arrays are C-contiguous and in native byte order (a ``.bin`` tensor may be a read-only view of
its storage: copy one before writing to it). Floating dtypes are returned as stored (float16 stays float16), except
bfloat16, returned as float32.

This module knows nothing about models, layer names, ONNX or torch (it never imports torch).
"""

from __future__ import annotations

import json
import struct
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from engine.errors import EngineError
from engine.export.bin_reader import read_bin

SAFETENSORS = "model.safetensors"
SAFETENSORS_INDEX = "model.safetensors.index.json"
BIN = "pytorch_model.bin"
BIN_INDEX = "pytorch_model.bin.index.json"
_SHARD_GLOBS = {SAFETENSORS_INDEX: "model-*.safetensors", BIN_INDEX: "pytorch_model-*.bin"}


def weight_files(folder: Path) -> list[Path]:
    """The files ``iter_tensors`` reads, in order: safetensors when the folder has them, else .bin.

    Raises EngineError when there are none, or shards without their index.
    """
    return _layout(Path(folder))[0]


def _layout(folder: Path) -> tuple[list[Path], Path | None]:
    """The weight files to read, and the index that names them (None for a single file)."""
    for single, index in ((SAFETENSORS, SAFETENSORS_INDEX), (BIN, BIN_INDEX)):
        if (folder / index).is_file():
            return sorted(set(_weight_map(folder / index).values())), folder / index
        if (folder / single).is_file():
            return [folder / single], None
        if any(folder.glob(_SHARD_GLOBS[index])):
            raise EngineError(
                f"{folder} has sharded weights ({_SHARD_GLOBS[index]}) but not their index, {index}: "
                f"it is not a complete checkpoint. Download it again."
            )
    raise EngineError(
        f"{folder} has no model weights ({SAFETENSORS} or {BIN}): it is not a complete checkpoint."
    )


class CheckpointTensors:
    """A checkpoint's tensors by name, each read from its file when asked."""

    def __init__(self, loaders: dict[str, Callable[[], np.ndarray]]) -> None:
        self._loaders = loaders

    @property
    def names(self) -> list[str]:
        return list(self._loaders)

    def get(self, name: str) -> np.ndarray:
        """The tensor ``name``, read now (KeyError for a name the checkpoint does not hold)."""
        return self._loaders[name]()


def open_tensors(folder: Path) -> CheckpointTensors:
    """Map the checkpoint in ``folder`` and index its tensors by name; nothing is read yet.

    For a sharded checkpoint, each name its index lists must turn up in the shard it names.
    """
    files, index = _layout(Path(folder))
    expected = _weight_map(index) if index is not None else None
    loaders: dict[str, Callable[[], np.ndarray]] = {}
    for path in files:
        for name, load in _file_loaders(path).items():
            if expected is not None and expected.get(name) != path:
                raise EngineError(
                    f"{path} holds {name!r}, which {index.name} does not place there: the "
                    f"checkpoint's files do not belong together. Download it again."
                )
            loaders[name] = load
    missing = sorted(set(expected or ()) - set(loaders))
    if missing:
        raise EngineError(
            f"{index} lists {len(missing)} tensors that no shard holds (e.g. {missing[0]!r}): the "
            f"checkpoint is incomplete. Download it again."
        )
    return CheckpointTensors(loaders)


def iter_tensors(folder: Path) -> Iterator[tuple[str, np.ndarray]]:
    """Every tensor of the checkpoint in ``folder``, one at a time, as ``(name, array)``."""
    tensors = open_tensors(folder)
    for name in tensors.names:
        yield name, tensors.get(name)


def iter_file(path: Path) -> Iterator[tuple[str, np.ndarray]]:
    """The tensors of one weights file (``.safetensors`` or ``.bin``), one at a time."""
    for name, load in _file_loaders(Path(path)).items():
        yield name, load()


def _file_loaders(path: Path) -> dict[str, Callable[[], np.ndarray]]:
    if path.suffix == ".safetensors":
        return _safetensors_loaders(path)
    return {name: tensor.load for name, tensor in read_bin(path).items()}


def read_tensors(folder: Path) -> dict[str, np.ndarray]:
    """All of a checkpoint's tensors at once (for small checkpoints and tests)."""
    return dict(iter_tensors(folder))


def _weight_map(index: Path) -> dict[str, Path]:
    """An index's tensor name -> shard path, each shard a file beside the index."""
    try:
        weight_map = json.loads(index.read_text())["weight_map"]
        items = list(weight_map.items())
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
        raise EngineError(f"{index} cannot be read as a weights index: {e}. Download it again.") from e
    shards: dict[str, Path] = {}
    for name, file in items:
        # The index names files beside it; a path elsewhere (../, /) is not a checkpoint's.
        if not isinstance(file, str) or Path(file).name != file or file in ("", ".", ".."):
            raise EngineError(f"{index} names {file!r} as a weights file, which is not a file beside it.")
        if not (index.parent / file).is_file():
            raise EngineError(f"{index.parent} lacks {file}, which its {index.name} lists. Download it again.")
        shards[name] = index.parent / file
    return shards


def bfloat16_to_float32(bits: np.ndarray) -> np.ndarray:
    """bfloat16 values, given as their uint16 bit patterns, as float32: exact, since a bfloat16
    is the upper half of the float32 with the same value (NaNs and infinities included)."""
    return (bits.astype(np.uint32) << 16).view(np.float32)


# safetensors' dtypes that numpy holds as they are (little-endian, as the format stores them).
_SAFETENSORS_DTYPES = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "I64": "<i8", "I32": "<i4", "I16": "<i2",
                       "I8": "i1", "U64": "<u8", "U32": "<u4", "U16": "<u2", "U8": "u1", "BOOL": "?"}


def _safetensors_loaders(path: Path) -> dict[str, Callable[[], np.ndarray]]:
    """Each tensor of a safetensors file, read from where its header places it.

    ``safe_open`` checks the header first (offsets within the file, no overlaps); the bytes are
    then read with one positioned read per tensor rather than through a mapping, whose pages would
    stay in the process until the file is closed: the whole checkpoint by the end of an export.
    """
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="numpy"):
            pass
    except SafetensorError as e:
        raise EngineError(
            f"{path} cannot be read as safetensors ({e}): it is damaged or incomplete. Download the "
            f"model again."
        ) from e
    with open(path, "rb") as f:
        (length,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(length))
    start = 8 + length

    def loader(name: str, entry: dict) -> Callable[[], np.ndarray]:
        kind, shape = entry["dtype"], tuple(entry["shape"])
        begin, end = entry["data_offsets"]
        if kind == "BF16":
            return lambda: bfloat16_to_float32(np.fromfile(path, "<u2", (end - begin) // 2, offset=start + begin)).reshape(shape)
        if kind not in _SAFETENSORS_DTYPES:
            raise EngineError(f"{path} holds a tensor type this program cannot read: {kind} ({name!r}).")
        dtype = np.dtype(_SAFETENSORS_DTYPES[kind])
        return lambda: _native(np.fromfile(path, dtype, (end - begin) // dtype.itemsize, offset=start + begin)).reshape(shape)

    return {name: loader(name, entry) for name, entry in header.items() if name != "__metadata__"}


def _native(array: np.ndarray) -> np.ndarray:
    return array if array.dtype.isnative else array.astype(array.dtype.newbyteorder("="))
