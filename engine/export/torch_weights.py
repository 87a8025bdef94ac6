"""Read PyTorch weight files (``pytorch_model.bin``, or shards named by
``pytorch_model.bin.index.json``) with a loader that can rebuild nothing but tensors.

A ``.bin`` file is a pickle, and a full unpickle runs whatever functions the file names. Every file
here goes through ``torch.load(weights_only=True)`` instead: torch's restricted unpickler, which
knows only the few names a file of tensors uses (tensor and storage rebuilders, dtypes,
OrderedDict) and refuses any other before calling anything. What it returns must then be a flat
mapping of names to tensors. Nothing in this program reads a weights file any other way: not
``pickle.load``, not ``torch.load`` without ``weights_only=True``, and not transformers either
(``checkpoint.load_model`` hands it the tensors read here).

This module knows nothing about ONNX or transformers.
"""

from __future__ import annotations

import json
import pickle
import re
import warnings
import zipfile
from pathlib import Path

from engine.errors import EngineError, UnsafeCheckpointError
from engine.export.bin_reader import damaged_weights

SINGLE_FILE = "pytorch_model.bin"
INDEX_FILE = "pytorch_model.bin.index.json"
SHARD_GLOB = "pytorch_model-*.bin"


def weight_files(folder: Path) -> list[Path]:
    """The checkpoint's ``.bin`` files: the shards its index names, or ``pytorch_model.bin``."""
    index = folder / INDEX_FILE
    if index.is_file():
        return _shards(index)
    if (folder / SINGLE_FILE).is_file():
        return [folder / SINGLE_FILE]
    if any(folder.glob(SHARD_GLOB)):
        raise EngineError(
            f"{folder} has sharded weights ({SHARD_GLOB}) but not their index, {INDEX_FILE}: it is "
            f"not a complete checkpoint. Download it again."
        )
    return []


def _shards(index: Path) -> list[Path]:
    try:
        weight_map = json.loads(index.read_text())["weight_map"]
        names = sorted(set(weight_map.values()))
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
        raise EngineError(f"{index} cannot be read as a weights index: {e}. Download it again.") from e
    files = []
    for name in names:
        # The index names files beside it; a path elsewhere (../, /) is not a checkpoint's.
        if not isinstance(name, str) or Path(name).name != name or name in ("", ".", ".."):
            raise EngineError(f"{index} names {name!r} as a weights file, which is not a file beside it.")
        path = index.parent / name
        if not path.is_file():
            raise EngineError(f"{index.parent} lacks {name}, which its {index.name} lists. Download it again.")
        files.append(path)
    return files


def load_state_dict(folder: Path) -> dict:
    """Every tensor of the checkpoint's ``.bin`` files, by name, read by the restricted loader."""
    state: dict = {}
    for path in weight_files(folder):
        state.update(load_file(path))
    if not state:
        raise EngineError(f"{folder} has no PyTorch weights (pytorch_model.bin).")
    return state


def load_file(path: Path) -> dict:
    """One ``.bin`` file's tensors. Refuses, without running anything, a file that needs more."""
    import torch

    is_zip = zipfile.is_zipfile(path)
    if not is_zip and not _starts_like_a_pickle(path):
        raise damaged_weights(path, "it is neither of PyTorch's two file formats")
    try:
        # mmap: the tensors stay in the file's pages until used (zip format only); weights_only:
        # the restricted unpickler. Both are passed explicitly, whatever torch's defaults become.
        with warnings.catch_warnings():  # "Detected pickle protocol 4": the refusal says it better
            warnings.filterwarnings("ignore", message="Detected pickle protocol", category=UserWarning)
            loaded = torch.load(path, map_location="cpu", weights_only=True, mmap=is_zip)
    except pickle.UnpicklingError as e:
        raise UnsafeCheckpointError(_refusal(path, e)) from e
    except (RuntimeError, EOFError, OSError, ValueError, zipfile.BadZipFile) as e:
        raise damaged_weights(path, str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__) from e
    return _only_tensors(loaded, path)


def _starts_like_a_pickle(path: Path) -> bool:
    """The legacy (non-zip) format is a series of pickles: its first byte is pickle's PROTO."""
    try:
        with open(path, "rb") as f:
            return f.read(1) == pickle.PROTO
    except OSError:
        return False


def _refusal(path: Path, error: pickle.UnpicklingError) -> str:
    """What the restricted unpickler refused, said for people."""
    wanted = re.search(r"GLOBAL ([\w.]+)", str(error))
    what = (
        f"it needs {wanted.group(1)}, which is not part of a tensor"
        if wanted
        else "it holds pickle instructions that a file of tensors never needs"
    )
    return (
        f"{path} was refused: it holds something other than tensors ({what}), and loading that "
        f"could run code hidden in the file. Nothing in it was run. A Pegasus checkpoint holds only "
        f"tensors: use a safetensors version of the model, or a copy from a source you trust."
    )


def _only_tensors(loaded, path: Path) -> dict:
    import torch

    if not isinstance(loaded, dict):
        raise EngineError(
            f"{path} holds a {type(loaded).__name__}, not a set of named tensors: it is not a "
            f"model's weights file."
        )
    for name, value in loaded.items():
        if not isinstance(name, str) or not isinstance(value, torch.Tensor):
            raise EngineError(
                f"{path} holds a {type(value).__name__} under {name!r}, not only named tensors: it is "
                f"not a model's weights file (a training checkpoint, perhaps). Use the model's own "
                f"pytorch_model.bin or safetensors weights."
            )
    return dict(loaded)
