"""A checkpoint folder's weights as numpy arrays, one tensor at a time, without torch.

``iter_tensors(folder)`` yields ``(name, array)`` pairs from the folder's weights: safetensors
when it has them (``model.safetensors``, or the shards its ``model.safetensors.index.json``
names), else PyTorch's ``pytorch_model.bin`` (or shards and ``pytorch_model.bin.index.json``).
Files are memory-mapped and each tensor is read when its turn comes, so a caller that handles one
tensor and drops it holds about one tensor in memory, not the model.

- safetensors: ``safetensors``' own reader, ``safe_open(framework="numpy")``, which checks the
  header and offsets. numpy has no bfloat16, so a BF16 tensor is read from the mapped file by this
  module (the header says where) and widened to float32, exactly (see ``bfloat16_to_float32``).
- ``.bin``: ``bin_reader``'s restricted unpickler, which can rebuild tensors and nothing else.

Arrays are C-contiguous, in native byte order, and may be read-only views of a mapped file: copy
one before writing to it. Floating dtypes are returned as stored (float16 stays float16), except
bfloat16, returned as float32.

This module knows nothing about models, layer names, ONNX or torch (it never imports torch).
"""

from __future__ import annotations

import json
import mmap
import struct
from collections.abc import Iterator
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


def iter_tensors(folder: Path) -> Iterator[tuple[str, np.ndarray]]:
    """Every tensor of the checkpoint in ``folder``, one at a time, as ``(name, array)``.

    For a sharded checkpoint, each name its index lists must turn up in the shard it names.
    """
    files, index = _layout(Path(folder))
    expected = _weight_map(index) if index is not None else None
    seen = set()
    for path in files:
        for name, array in iter_file(path):
            if expected is not None and expected.get(name) != path:
                raise EngineError(
                    f"{path} holds {name!r}, which {index.name} does not place there: the "
                    f"checkpoint's files do not belong together. Download it again."
                )
            seen.add(name)
            yield name, array
    missing = sorted(set(expected or ()) - seen)
    if missing:
        raise EngineError(
            f"{index} lists {len(missing)} tensors that no shard holds (e.g. {missing[0]!r}): the "
            f"checkpoint is incomplete. Download it again."
        )


def iter_file(path: Path) -> Iterator[tuple[str, np.ndarray]]:
    """The tensors of one weights file (``.safetensors`` or ``.bin``), one at a time."""
    path = Path(path)
    if path.suffix == ".safetensors":
        yield from _iter_safetensors(path)
    else:
        for name, tensor in read_bin(path).items():
            yield name, tensor.load()


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


def _iter_safetensors(path: Path) -> Iterator[tuple[str, np.ndarray]]:
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="numpy") as f:
            names = list(f.keys())
            bf16 = [name for name in names if f.get_slice(name).get_dtype() == "BF16"]
            header = _bf16_locations(path) if bf16 else {}
            for name in names:
                yield name, header[name]() if name in header else f.get_tensor(name)
    except SafetensorError as e:
        raise EngineError(
            f"{path} cannot be read as safetensors ({e}): it is damaged or incomplete. Download the "
            f"model again."
        ) from e
    except TypeError as e:  # a dtype numpy has no equivalent for (float8, ...)
        raise EngineError(f"{path} holds a tensor type this program cannot read: {e}.") from e


def _bf16_locations(path: Path) -> dict:
    """name -> loader of each BF16 tensor, from the file's header (which safe_open checked)."""
    with open(path, "rb") as f:
        (length,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(length))
        mapped = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    start = 8 + length

    def loader(entry: dict):
        begin, end = entry["data_offsets"]
        count = (end - begin) // 2
        bits = np.frombuffer(mapped, dtype="<u2", count=count, offset=start + begin)
        return lambda: bfloat16_to_float32(bits).reshape(entry["shape"])

    return {
        name: loader(entry) for name, entry in header.items()
        if name != "__metadata__" and entry.get("dtype") == "BF16"
    }
