"""The torch-free checkpoint reader (engine/export/checkpoint_reader.py, bin_reader.py) gives
exactly what ``torch.load(weights_only=True)`` and safetensors give, and a weights file that asks
for anything but tensors is refused without running any of it.

torch is used here only to write the checkpoints and to read them back as the reference.
"""

from __future__ import annotations

import json
import os
import pickle
import shlex
import subprocess
import zipfile
from pathlib import Path

import children
import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from engine.errors import EngineError, UnsafeCheckpointError
from engine.export import bin_reader
from engine.export.bin_reader import read_bin
from engine.export.checkpoint_reader import (
    bfloat16_to_float32,
    iter_tensors,
    read_tensors,
    weight_files,
)

REPO = Path(__file__).resolve().parents[1]
FORMATS = {"zip": {}, "legacy": {"_use_new_zipfile_serialization": False}}


def varied_tensors(with_uint16: bool = True) -> dict[str, torch.Tensor]:
    """Every layout a state dict may hold: dtypes, tied and shared storages, views."""
    generator = torch.Generator().manual_seed(0)
    base = torch.randn(6, 8, generator=generator)
    embedding = torch.nn.Parameter(torch.randn(10, 4, generator=generator))
    tensors = {
        "fp32": base,
        "fp16": torch.randn(3, 5, generator=generator).half(),
        "bf16": torch.randn(4, 3, generator=generator).bfloat16(),
        "bf16.special": torch.tensor([float("inf"), -float("inf"), float("nan"), -0.0, 1e-40]).bfloat16(),
        "fp64": torch.randn(2, 2, generator=generator, dtype=torch.float64),
        "int64": torch.arange(-5, 7),
        "int8": torch.arange(-3, 3, dtype=torch.int8),
        "bool": torch.tensor([True, False, True]),
        "tied.a": embedding,  # an nn.Parameter, saved under two names: one storage
        "tied.b": embedding,
        "transposed": base.t(),  # the same storage, strides (1, 8)
        "offset.view": base[2:5, 3:7],  # offset 19, strides (8, 1): not contiguous
        "column": base[:, 5],  # stride 8
        "every.other": base[::2, 1::3],
        "row.with.offset": base[4],  # offset 32, contiguous
        "expanded": torch.randn(3, generator=generator).expand(4, 3),  # stride 0
        "scalar": torch.tensor(2.5),
        "empty": torch.zeros(0, 3),
        "bf16.transposed": torch.randn(3, 4, generator=generator).bfloat16().t(),
    }
    if with_uint16:  # torch's legacy format cannot hold the new unsigned dtypes
        tensors["uint16"] = torch.tensor([0, 1, 65535], dtype=torch.uint16)
    return tensors


def assert_same(got: np.ndarray, expected: torch.Tensor, name: str) -> None:
    """Byte for byte, shape and dtype; bfloat16 is expected widened to float32."""
    expected = expected.detach()
    if expected.dtype == torch.bfloat16:
        expected = expected.float()  # exact: every bfloat16 is a float32
    want = expected.contiguous().numpy()
    assert got.shape == want.shape, name
    assert got.dtype == want.dtype, name
    assert got.flags.c_contiguous, name
    assert got.tobytes() == want.tobytes(), name


@pytest.mark.parametrize("layout", FORMATS)
def test_a_bin_file_reads_exactly_as_torch_load_does(tmp_path, layout):
    path = tmp_path / "pytorch_model.bin"
    torch.save(varied_tensors(with_uint16=layout == "zip"), path, **FORMATS[layout])
    expected = torch.load(path, weights_only=True)

    got = dict(iter_tensors(tmp_path))

    assert list(got) == list(expected)
    for name in expected:
        assert_same(got[name], expected[name], name)


def test_bfloat16_becomes_float32_with_the_same_values():
    values = torch.tensor([1.0, -2.5, 3.140625, float("inf"), float("nan"), 1e38, -1e-38]).bfloat16()
    bits = values.view(torch.int16).numpy().view(np.uint16)

    widened = bfloat16_to_float32(bits)

    assert widened.dtype == np.float32
    assert widened.tobytes() == values.float().numpy().tobytes()


def test_contiguous_tensors_of_a_zip_file_are_views_of_the_mapped_file(tmp_path):
    # Nothing is copied until the caller asks: a contiguous tensor is the file's own pages.
    torch.save({"w": torch.randn(64, 64), "t": torch.randn(8, 4).t()}, tmp_path / "pytorch_model.bin")

    tensors = read_bin(tmp_path / "pytorch_model.bin")
    contiguous, transposed = tensors["w"].load(), tensors["t"].load()

    assert not contiguous.flags.owndata and not contiguous.flags.writeable
    assert transposed.flags.owndata  # a copy, made contiguous


def test_a_safetensors_file_reads_exactly_as_written(tmp_path):
    # safetensors holds neither shared storages nor views: one contiguous copy of each.
    tensors = {n: t.detach().contiguous().clone() for n, t in varied_tensors().items() if n != "tied.b"}
    save_file(tensors, tmp_path / "model.safetensors")

    got = dict(iter_tensors(tmp_path))

    assert sorted(got) == sorted(tensors)
    for name, tensor in tensors.items():
        assert_same(got[name], tensor, name)


def test_safetensors_are_preferred_to_a_bin_file_beside_them(tmp_path):
    save_file({"w": torch.ones(2)}, tmp_path / "model.safetensors")
    torch.save({"w": torch.zeros(2)}, tmp_path / "pytorch_model.bin")

    assert weight_files(tmp_path) == [tmp_path / "model.safetensors"]
    assert read_tensors(tmp_path)["w"].tolist() == [1.0, 1.0]


def write_shards(folder: Path, tensors: dict[str, torch.Tensor], kind: str) -> None:
    """Two shards and their index, as transformers lays out a sharded checkpoint."""
    names = list(tensors)
    halves = {1: names[: len(names) // 2], 2: names[len(names) // 2:]}
    weight_map = {}
    for number, shard_names in halves.items():
        if kind == "safetensors":
            file = f"model-0000{number}-of-00002.safetensors"
            save_file({n: tensors[n].detach().contiguous().clone() for n in shard_names}, folder / file)
        else:
            file = f"pytorch_model-0000{number}-of-00002.bin"
            torch.save({n: tensors[n] for n in shard_names}, folder / file)
        weight_map.update(dict.fromkeys(shard_names, file))
    index = "model.safetensors.index.json" if kind == "safetensors" else "pytorch_model.bin.index.json"
    (folder / index).write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))


@pytest.mark.parametrize("kind", ["safetensors", "bin"])
def test_a_sharded_checkpoint_reads_as_one(tmp_path, kind):
    tensors = {n: t for n, t in varied_tensors().items() if n not in ("tied.b", "transposed")}
    write_shards(tmp_path, tensors, kind)

    got = read_tensors(tmp_path)

    assert sorted(got) == sorted(tensors)
    for name, tensor in tensors.items():
        assert_same(got[name], tensor, name)


@pytest.mark.parametrize("kind", ["safetensors", "bin"])
def test_a_sharded_checkpoint_that_lacks_a_tensor_or_its_index_is_refused(tmp_path, kind):
    tensors = {"a": torch.ones(2), "b": torch.zeros(3), "c": torch.ones(1)}
    write_shards(tmp_path, tensors, kind)
    index = next(tmp_path.glob("*.index.json"))
    data = json.loads(index.read_text())
    data["weight_map"]["gone"] = data["weight_map"]["a"]
    index.write_text(json.dumps(data))

    with pytest.raises(EngineError, match="lists 1 tensors that no shard holds.*'gone'"):
        read_tensors(tmp_path)

    index.unlink()
    with pytest.raises(EngineError, match="but not their index"):
        weight_files(tmp_path)


def test_an_index_naming_a_file_outside_the_folder_is_refused(tmp_path):
    torch.save({"a": torch.ones(2)}, tmp_path / "pytorch_model-00001-of-00001.bin")
    (tmp_path / "pytorch_model.bin.index.json").write_text(json.dumps({"weight_map": {"a": "../x.bin"}}))

    with pytest.raises(EngineError, match="not a file beside it"):
        read_tensors(tmp_path)


# -- refusals: nothing in a refused file runs


class RunsACommand:
    """Pickled, it tells the unpickler to call os.system: a full unpickle would run the command."""

    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


class NotATensor:
    """A class of ours, importable: a loader that rebuilds only tensors must still refuse it."""


@pytest.mark.parametrize("how", ["zip", "legacy", "plain pickle"])
def test_a_pickle_that_would_run_a_command_is_refused_and_runs_nothing(tmp_path, how):
    marker = tmp_path / "ran"
    command = RunsACommand(f"touch {shlex.quote(str(marker))}")
    path = tmp_path / "pytorch_model.bin"
    if how == "plain pickle":
        path.write_bytes(pickle.dumps({"w": command}, protocol=4))
    else:
        torch.save({"w": torch.zeros(2), "lm_head.weight": command}, path, **FORMATS[how])

    with pytest.raises(UnsafeCheckpointError) as refused:
        read_tensors(tmp_path)

    message = str(refused.value)
    assert str(path) in message
    assert f"{os.system.__module__}.system" in message  # the refused global, by name
    assert "Nothing in it was run" in message
    assert not marker.exists()


def test_a_global_outside_the_allow_list_is_refused_even_when_harmless(tmp_path):
    torch.save({"w": torch.zeros(2), "extra": NotATensor()}, tmp_path / "pytorch_model.bin")

    with pytest.raises(UnsafeCheckpointError, match=r"test_checkpoint_reader\.NotATensor"):
        read_tensors(tmp_path)


def test_a_stand_in_cannot_be_altered_by_the_pickle(tmp_path):
    # GLOBAL torch.FloatStorage, then BUILD with {"name": "object"}: were the stand-in's dtype
    # changed, storages would be read as Python object pointers.
    crafted = (
        pickle.PROTO + b"\x02" + b"ctorch\nFloatStorage\n" + pickle.NONE + pickle.EMPTY_DICT
        + pickle.SHORT_BINUNICODE + b"\x04name" + pickle.SHORT_BINUNICODE + b"\x06object"
        + pickle.SETITEM + pickle.TUPLE2 + pickle.BUILD + pickle.STOP
    )
    (tmp_path / "pytorch_model.bin").write_bytes(crafted)

    with pytest.raises(EngineError, match="damaged"):
        read_tensors(tmp_path)
    assert bin_reader.ALLOWED[("torch", "FloatStorage")].name == "float32"


def test_a_file_of_other_things_than_tensors_is_refused(tmp_path):
    torch.save({"w": torch.zeros(2), "step": 3}, tmp_path / "pytorch_model.bin")

    with pytest.raises(EngineError, match="holds a int under 'step'"):
        read_tensors(tmp_path)


@pytest.mark.parametrize("layout", FORMATS)
def test_a_truncated_file_is_called_damaged(tmp_path, layout):
    whole = tmp_path / "whole.bin"
    torch.save({"w": torch.randn(100, 100), "b": torch.randn(100)}, whole, **FORMATS[layout])
    data = whole.read_bytes()
    for cut in (len(data) // 3, len(data) - 50, 1):
        path = tmp_path / f"cut-{cut}" / "pytorch_model.bin"
        path.parent.mkdir()
        path.write_bytes(data[:cut])

        with pytest.raises(EngineError, match="damaged|cannot be read") as error:
            read_tensors(path.parent)
        assert not isinstance(error.value, UnsafeCheckpointError)


def rewrite_zip(source: Path, target: Path, change) -> None:
    """A copy of a torch zip file, each member passed through ``change(name, bytes, info)``."""
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w") as new:
        for info in old.infolist():
            data, compression = change(info.filename, old.read(info), info)
            new.writestr(info.filename, data, compress_type=compression)


def test_a_storage_shorter_than_its_tensor_is_called_damaged_not_read_past(tmp_path):
    torch.save({"w": torch.randn(50, 50)}, tmp_path / "whole.bin")
    rewrite_zip(
        tmp_path / "whole.bin", tmp_path / "pytorch_model.bin",
        lambda name, data, info: (data[:400] if "/data/" in name else data, zipfile.ZIP_STORED),
    )

    with pytest.raises(EngineError, match="damaged"):
        read_tensors(tmp_path)


def test_big_endian_and_compressed_zip_files_read_as_torch_load_does(tmp_path):
    tensors = {"w": torch.randn(7, 5), "t": torch.randn(5, 7).t(), "v": torch.randn(30)[3:9]}  # all fp32
    torch.save(tensors, tmp_path / "little.bin")

    def big_endian(name, data, info):
        if name.endswith("/byteorder"):
            return b"big", zipfile.ZIP_STORED
        if "/data/" in name:
            return np.frombuffer(data, "<f4").astype(">f4").tobytes(), zipfile.ZIP_DEFLATED
        return data, zipfile.ZIP_DEFLATED

    (tmp_path / "big").mkdir()
    rewrite_zip(tmp_path / "little.bin", tmp_path / "big" / "pytorch_model.bin", big_endian)
    expected = torch.load(tmp_path / "little.bin", weights_only=True)

    got = read_tensors(tmp_path / "big")

    for name in tensors:
        assert_same(got[name], expected[name], name)


def test_reading_a_checkpoint_imports_neither_torch_nor_transformers(tmp_path):
    torch.save({"w": torch.randn(3, 3)}, tmp_path / "pytorch_model.bin")
    save_file({"w": torch.randn(3, 3).bfloat16()}, tmp_path / "model.safetensors")
    (tmp_path / "bin").mkdir()
    (tmp_path / "pytorch_model.bin").rename(tmp_path / "bin" / "pytorch_model.bin")
    done = subprocess.run(children.command("read_checkpoints", tmp_path, tmp_path / "bin"), env=children.env(),
                          cwd=REPO, capture_output=True, text=True, timeout=120)

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
