"""Read the tensors of one PyTorch weights file (``pytorch_model.bin``) with numpy, without torch.

A ``.bin`` file is a pickle, and an ordinary unpickle calls whatever functions the file names.
This reader's unpickler knows a short allow-list of names (``ALLOWED``): the ones ``torch.save``
writes for a dict of tensors. It maps each to a stand-in of its own that only records what the
file describes (which storage, dtype, offset, shape, strides); nothing named by the file is ever
imported or called. Any other name is refused with ``UnsafeCheckpointError`` before anything else
happens. The storages themselves are raw bytes, found where the archive places them, and a tensor
becomes a numpy array only when asked for (``LazyTensor.load``: one positioned read of its
storage), checked against its storage's real size.

Both of torch's formats are read:
- zip (torch >= 1.6): ``<dir>/data.pkl``, storages in ``<dir>/data/<key>``, ``<dir>/byteorder``;
- legacy (``_use_new_zipfile_serialization=False``): a stream of pickles (magic number, protocol,
  system info, the data, the storage keys), each storage then appended as an 8-byte element count
  and its bytes.

bfloat16 (which numpy lacks) is returned widened to float32, exactly: a bfloat16 is the top half
of a float32, so shifting its 16 bits up by 16 gives the same number.

This module knows nothing about models, checkpoints folders, safetensors or ONNX, and never
imports torch.
"""

from __future__ import annotations

import io
import mmap
import pickle
import struct
import zipfile
from collections import OrderedDict
from pathlib import Path
from typing import BinaryIO

import numpy as np

from engine.errors import EngineError, UnsafeCheckpointError

BFLOAT16 = "bfloat16"  # numpy has no such dtype: stored as uint16 bits, widened on load

# torch's storage classes and dtypes by the names a pickle uses, as numpy dtypes.
_STORAGE_DTYPES = {
    "FloatStorage": "float32", "DoubleStorage": "float64", "HalfStorage": "float16",
    "BFloat16Storage": BFLOAT16, "LongStorage": "int64", "IntStorage": "int32",
    "ShortStorage": "int16", "CharStorage": "int8", "ByteStorage": "uint8", "BoolStorage": "bool",
    "ComplexFloatStorage": "complex64", "ComplexDoubleStorage": "complex128",
    "UntypedStorage": "uint8",  # raw bytes; the tensor's dtype comes with it (_rebuild_tensor_v3)
}
_TORCH_DTYPES = {
    "float32": "float32", "float": "float32", "float64": "float64", "double": "float64",
    "float16": "float16", "half": "float16", "bfloat16": BFLOAT16, "int64": "int64",
    "long": "int64", "int32": "int32", "int": "int32", "int16": "int16", "short": "int16",
    "int8": "int8", "uint8": "uint8", "bool": "bool", "uint16": "uint16", "uint32": "uint32",
    "uint64": "uint64", "complex64": "complex64", "complex128": "complex128",
}
_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_LEGACY_PROTOCOL = 1001


class _ReadOnly:
    """Immutable, and without ``__dict__`` or ``__setstate__``: a pickle's BUILD instruction cannot
    change what a stand-in says after it was checked (a storage's dtype, a tensor's strides)."""

    __slots__ = ()

    def _set(self, **values) -> None:
        for name, value in values.items():
            object.__setattr__(self, name, value)

    def __setattr__(self, name, value):
        raise AttributeError(f"{type(self).__name__} is read-only")

    def __delattr__(self, name):
        raise AttributeError(f"{type(self).__name__} is read-only")


class _Dtype(_ReadOnly):
    """A storage class or dtype the file named: only a numpy dtype name, never torch's object."""

    __slots__ = ("name",)  # a numpy dtype name, or BFLOAT16

    def __init__(self, name: str) -> None:
        self._set(name=name)

    def storage_dtype(self) -> np.dtype:
        return np.dtype("<u2" if self.name == BFLOAT16 else self.name).newbyteorder("<")


class StorageRef(_ReadOnly):
    """One storage of the file, by key; its bytes are found (and mapped) only when needed."""

    __slots__ = ("key", "dtype")

    def __init__(self, key: str, dtype: _Dtype) -> None:
        self._set(key=key, dtype=dtype)


class TensorRef(_ReadOnly):
    """A tensor as the file describes it: a strided view of one of its storages."""

    __slots__ = ("storage", "dtype", "offset", "shape", "strides")

    def __init__(self, storage: StorageRef, dtype: _Dtype, offset: int, shape: tuple, strides: tuple):
        self._set(storage=storage, dtype=dtype, offset=offset, shape=shape, strides=strides)


class LazyTensor:
    """A tensor of a read file, not yet read: ``load`` reads it. (Made after unpickling, so
    unreachable from the pickle.)"""

    __slots__ = ("ref", "_archive")

    def __init__(self, ref: TensorRef, archive: _Archive) -> None:
        self.ref = ref
        self._archive = archive

    @property
    def shape(self) -> tuple[int, ...]:
        return self.ref.shape

    def load(self) -> np.ndarray:
        """The tensor's values as a C-contiguous numpy array in native byte order (bfloat16 as
        float32). A view of the mapped file when the tensor is contiguous: treat it as read-only."""
        return self._archive.tensor(self.ref)


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False, hooks=None, metadata=None):
    if not isinstance(storage, StorageRef):
        raise pickle.UnpicklingError("_rebuild_tensor_v2 was not given one of the file's storages")
    return TensorRef(storage, storage.dtype, *_checked_view(storage_offset, size, stride))


def _rebuild_tensor_v3(storage, storage_offset, size, stride, requires_grad, hooks, dtype, metadata=None):
    if not isinstance(storage, StorageRef) or not isinstance(dtype, _Dtype):
        raise pickle.UnpicklingError("_rebuild_tensor_v3 was not given a storage and a dtype")
    return TensorRef(storage, dtype, *_checked_view(storage_offset, size, stride))


def _rebuild_parameter(data, requires_grad=False, hooks=None, state=None):
    """An nn.Parameter is its tensor here: nothing of a parameter but its data is kept."""
    if not isinstance(data, TensorRef):
        raise pickle.UnpicklingError("_rebuild_parameter was not given a tensor")
    return data


def _checked_view(offset, size, stride) -> tuple[int, tuple, tuple]:
    if not _is_view(offset, size, stride):
        raise pickle.UnpicklingError(f"a tensor with offset {offset!r}, size {size!r}, stride {stride!r}")
    return offset, tuple(size), tuple(stride)


def _is_view(offset, size, stride) -> bool:
    """Whether these describe a strided view numpy can take safely: whole numbers, none negative."""
    def ints(values) -> bool:
        return isinstance(values, (tuple, list)) and all(type(v) is int and v >= 0 for v in values)

    return type(offset) is int and offset >= 0 and ints(size) and ints(stride) and len(size) == len(stride)


# The whole allow-list: (module, name) -> this module's stand-in. Nothing else is ever looked up.
ALLOWED: dict[tuple[str, str], object] = {
    ("collections", "OrderedDict"): OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch._utils", "_rebuild_tensor_v3"): _rebuild_tensor_v3,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
    **{("torch", name): _Dtype(dtype) for name, dtype in _STORAGE_DTYPES.items()},
    ("torch.storage", "UntypedStorage"): _Dtype("uint8"),
    **{("torch", name): _Dtype(dtype) for name, dtype in _TORCH_DTYPES.items()},
}


class _RestrictedUnpickler(pickle.Unpickler):
    """Rebuilds dicts of tensors and nothing else: see ``ALLOWED``."""

    def __init__(self, file: BinaryIO, path: Path) -> None:
        super().__init__(file)
        self.path = path
        self.storages: dict[str, StorageRef] = {}

    def find_class(self, module: str, name: str):
        try:
            return ALLOWED[(module, name)]
        except (KeyError, TypeError):
            raise UnsafeCheckpointError(_refusal(self.path, f"{module}.{name}")) from None

    def persistent_load(self, pid):
        # ("storage", storage class, key, location, element count[, legacy view metadata])
        if not (isinstance(pid, tuple) and len(pid) in (5, 6) and pid[0] == "storage"):
            raise pickle.UnpicklingError(f"an unknown persistent id {str(pid)[:80]!r}")
        dtype, key = pid[1], pid[2]
        if not isinstance(dtype, _Dtype) or not isinstance(key, str) or (len(pid) == 6 and pid[5] is not None):
            raise pickle.UnpicklingError(f"a storage reference this reader does not know: {str(pid)[:80]!r}")
        if key not in self.storages:
            self.storages[key] = StorageRef(key, dtype)
        return self.storages[key]


def _refusal(path: Path, name: str) -> str:
    return (
        f"{path} was refused: it holds something other than tensors (it asks for {name}), and "
        f"loading that could run code hidden in the file. Nothing in it was run. A Pegasus checkpoint "
        f"holds only tensors: use a safetensors version of the model, or a copy from a source you trust."
    )


def damaged_weights(path: Path, why: str) -> EngineError:
    """The error for a weights file that cannot be read."""
    return EngineError(
        f"{path} cannot be read as PyTorch weights ({why}): it is damaged, incomplete, or not a "
        f"weights file. Nothing in it was run. Download the model again, or use a safetensors version."
    )


# What a malformed pickle or archive raises while being read: all of it means "damaged".
_MALFORMED = (pickle.UnpicklingError, EOFError, ValueError, TypeError, KeyError, IndexError,
              AttributeError, OverflowError, struct.error, zipfile.BadZipFile, UnicodeDecodeError)


class _Archive:
    """Where each storage's bytes are in the file, and the mapping they are read through."""

    def __init__(self, path: Path, mapped: mmap.mmap | None, spans: dict, byteorder: str, reader=None):
        self.path = path
        self._mapped = mapped  # the whole file, read-only; None when a storage must be decompressed
        self._spans = spans  # key -> (start, length) in the file
        self._byteorder = byteorder  # "<" or ">"
        self._reader = reader  # key -> bytes, for compressed zip members

    def _storage(self, ref: TensorRef) -> np.ndarray:
        dtype = ref.dtype.storage_dtype().newbyteorder(self._byteorder)
        if ref.storage.key not in self._spans:
            raise damaged_weights(self.path, f"storage {ref.storage.key!r} is missing")
        start, length = self._spans[ref.storage.key]
        if self._mapped is not None and self._reader is None:
            # A positioned read, not a view of the mapping: pages a view touched would stay in
            # this process's memory until the file is closed, the whole checkpoint by the end.
            raw = np.fromfile(self.path, dtype=np.uint8, count=length, offset=start)
        else:
            raw = np.frombuffer(self._reader(ref.storage.key), dtype=np.uint8)
        return raw[: length - length % dtype.itemsize].view(dtype)

    def tensor(self, ref: TensorRef) -> np.ndarray:
        storage = self._storage(ref)
        if not _is_view(ref.offset, ref.shape, ref.strides):
            raise damaged_weights(self.path, "a tensor's shape or strides are not those of a tensor")
        if 0 in ref.shape:
            values = np.empty(ref.shape, dtype=storage.dtype)
        else:
            last = ref.offset + sum((n - 1) * s for n, s in zip(ref.shape, ref.strides))
            if last >= storage.size:  # as_strided does not check: a bad file must not read past it
                raise damaged_weights(self.path, f"a tensor reaches element {last} of a {storage.size}-element storage")
            values = np.lib.stride_tricks.as_strided(
                storage[ref.offset:], shape=ref.shape,
                strides=tuple(s * storage.itemsize for s in ref.strides), writeable=False,
            )
        if not values.flags.c_contiguous:  # (not ascontiguousarray: it makes a 0-d array 1-d)
            values = values.copy(order="C")
        if not values.dtype.isnative:
            values = values.astype(values.dtype.newbyteorder("="))
        if ref.dtype.name == BFLOAT16:
            values = (values.astype(np.uint32) << 16).view(np.float32)
        return values


def read_bin(path: Path) -> dict[str, LazyTensor]:
    """The tensors a ``.bin`` file holds, by name, not yet read (``LazyTensor.load`` reads one).

    Raises UnsafeCheckpointError for a file that names anything outside ``ALLOWED`` (nothing of
    it runs), and EngineError for a damaged file or one that is not a flat dict of tensors.
    """
    path = Path(path)
    try:
        if zipfile.is_zipfile(path):
            loaded, archive = _read_zip(path)
        elif _starts_like_a_pickle(path):
            loaded, archive = _read_legacy(path)
        else:
            raise damaged_weights(path, "it is neither of PyTorch's two file formats")
    except EngineError:
        raise
    except _MALFORMED as e:
        raise damaged_weights(path, f"{type(e).__name__}: {e}") from e
    except OSError as e:
        raise EngineError(f"{path} cannot be read: {e}") from e
    return _only_tensors(loaded, path, archive)


def _starts_like_a_pickle(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(1) == pickle.PROTO


def _map(path: Path) -> mmap.mmap | None:
    with open(path, "rb") as f:
        if f.seek(0, io.SEEK_END) == 0:
            return None
        return mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)  # the mapping outlives the file object


def _read_zip(path: Path) -> tuple[object, _Archive]:
    with zipfile.ZipFile(path) as archive:
        pickles = [n for n in archive.namelist() if n.endswith("/data.pkl") and n.count("/") == 1]
        if len(pickles) != 1:
            raise damaged_weights(path, "its zip archive has no single <folder>/data.pkl")
        folder = pickles[0][: -len("data.pkl")]
        byteorder = archive.read(folder + "byteorder") if folder + "byteorder" in archive.namelist() else b"little"
        if byteorder not in (b"little", b"big"):
            raise damaged_weights(path, f"its byteorder record says {byteorder[:20]!r}")
        unpickler = _RestrictedUnpickler(io.BytesIO(archive.read(pickles[0])), path)
        loaded = unpickler.load()
        spans, compressed = {}, False
        for key in unpickler.storages:
            try:
                info = archive.getinfo(f"{folder}data/{key}")
            except KeyError:
                raise damaged_weights(path, f"storage {key!r} is missing from the archive") from None
            compressed |= info.compress_type != zipfile.ZIP_STORED
            spans[key] = (_member_start(path, info), info.file_size)
    order = "<" if byteorder == b"little" else ">"
    if not compressed:
        return loaded, _Archive(path, _map(path), spans, order)
    spans = {key: (0, size) for key, (_, size) in spans.items()}  # re-zipped: read each when needed

    def decompress(key: str) -> bytes:
        with zipfile.ZipFile(path) as archive:
            return archive.read(f"{folder}data/{key}")

    return loaded, _Archive(path, None, spans, order, reader=decompress)


def _member_start(path: Path, info: zipfile.ZipInfo) -> int:
    """Where a stored (uncompressed) member's bytes begin: after its local header."""
    with open(path, "rb") as f:
        f.seek(info.header_offset)
        header = f.read(30)
    if len(header) != 30 or header[:4] != b"PK\x03\x04":
        raise damaged_weights(path, f"the zip entry of {info.filename} is damaged")
    name_length, extra_length = struct.unpack("<HH", header[26:30])
    start = info.header_offset + 30 + name_length + extra_length
    if start + info.file_size > path.stat().st_size:
        raise damaged_weights(path, f"{info.filename} ends past the end of the file (truncated?)")
    return start


def _read_legacy(path: Path) -> tuple[object, _Archive]:
    with open(path, "rb") as f:
        def load():
            return _RestrictedUnpickler(f, path).load()

        if load() != _LEGACY_MAGIC or load() != _LEGACY_PROTOCOL:
            raise damaged_weights(path, "it does not start with PyTorch's magic number and protocol")
        info = load()
        little = not isinstance(info, dict) or info.get("little_endian", True)
        unpickler = _RestrictedUnpickler(f, path)
        loaded = unpickler.load()
        keys = load()
        if not isinstance(keys, list) or set(keys) != set(unpickler.storages):
            raise damaged_weights(path, "its list of storages does not match the tensors")
        order = "<" if little else ">"
        size = path.stat().st_size
        spans = {}
        for key in keys:  # each storage: its element count, then its bytes
            head = f.read(8)
            if len(head) != 8:
                raise damaged_weights(path, "it ends before its storages do (truncated?)")
            count = struct.unpack(order + "q", head)[0]
            length = count * unpickler.storages[key].dtype.storage_dtype().itemsize
            if count < 0 or f.tell() + length > size:
                raise damaged_weights(path, "it ends before its storages do (truncated?)")
            spans[key] = (f.tell(), length)
            f.seek(length, io.SEEK_CUR)
    return loaded, _Archive(path, _map(path), spans, order)


def _only_tensors(loaded: object, path: Path, archive: _Archive) -> dict[str, LazyTensor]:
    if not isinstance(loaded, dict):
        raise EngineError(
            f"{path} holds a {type(loaded).__name__}, not a set of named tensors: it is not a model's "
            f"weights file."
        )
    for name, value in loaded.items():
        if not isinstance(name, str) or not isinstance(value, TensorRef):
            raise EngineError(
                f"{path} holds a {type(value).__name__} under {name!r}, not only named tensors: it is "
                f"not a model's weights file (a training checkpoint, perhaps). Use the model's own "
                f"pytorch_model.bin or safetensors weights."
            )
    return {name: LazyTensor(ref, archive) for name, ref in loaded.items()}
