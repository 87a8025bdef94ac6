"""Security: no code from a model repository ever runs (pytorch_model.bin is read by a loader that
rebuilds only tensors, by default, with no way to unpickle it fully), no network but model
downloads (none at all while summarizing), and files only under the user's data dir, with default
permissions, whatever the model id."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from builders import HOSTILE_KINDS, hostile_weights, with_torch_weights

from engine import (
    EngineError,
    export_and_get_onnx_model,
    generate_onnx_representation,
    get_onnx_model,
)
from engine.errors import UnsafeCheckpointError
from engine.export.pipeline import ExportOptions, export
from engine.model_dir import export_dir

REPO = Path(__file__).resolve().parents[1]


# -- remote code


def test_export_never_passes_trust_remote_code(tiny_checkpoint, tmp_path, monkeypatch):
    import transformers

    calls = []

    def spy(cls_name, original):
        def from_pretrained(*args, **kwargs):
            calls.append((cls_name, kwargs.get("trust_remote_code", "not given")))
            return original(*args, **kwargs)

        return from_pretrained

    for name in (
        "PegasusForConditionalGeneration",
        "AutoTokenizer",
        "AutoConfig",
        "AutoModel",
        "AutoModelForSeq2SeqLM",
        "PreTrainedTokenizerFast",
        "GenerationConfig",
    ):
        cls = getattr(transformers, name)
        monkeypatch.setattr(cls, "from_pretrained", spy(name, cls.from_pretrained))
    export(str(tiny_checkpoint), tmp_path, precision="fp32")
    seen = dict(calls)
    assert seen["PegasusForConditionalGeneration"] is False and seen["AutoTokenizer"] is False
    assert all(value in (False, "not given") for _, value in calls), calls
    for folder in ("engine", "pegasus_desktop"):
        for path in (REPO / folder).rglob("*.py"):
            assert "trust_remote_code=True" not in path.read_text(), path


@pytest.mark.parametrize("file", ["config.json", "tokenizer_config.json"])
def test_checkpoint_asking_for_its_own_code_is_refused_and_the_code_never_runs(
    tiny_checkpoint, tmp_path, file
):
    hostile = tmp_path / "hostile"
    shutil.copytree(tiny_checkpoint, hostile)
    marker = tmp_path / "code-ran"
    (hostile / "modeling_evil.py").write_text(f"open({str(marker)!r}, 'w').write('ran')\n")
    (hostile / "tokenization_evil.py").write_text(f"open({str(marker)!r}, 'w').write('ran')\n")
    data = json.loads((hostile / file).read_text())
    data["auto_map"] = {
        "AutoModelForSeq2SeqLM": "modeling_evil.Evil",
        "AutoTokenizer": ["tokenization_evil.Evil", None],
    }
    (hostile / file).write_text(json.dumps(data))
    with pytest.raises(
        UnsafeCheckpointError, match="never runs code that comes with a model"
    ) as info:
        export(str(hostile), tmp_path / "models")
    assert file in str(info.value)
    assert not marker.exists()
    assert not (tmp_path / "models").exists()


# -- pytorch_model.bin: read by the restricted loader, by default


@pytest.mark.parametrize("layout", ["zip", "legacy", "sharded"])
def test_pytorch_model_bin_exports_by_default_and_summarizes_as_the_safetensors_one(
    tiny_checkpoint, tmp_path, layout
):
    folder = with_torch_weights(tiny_checkpoint, tmp_path / "bin", layout)
    assert not list(folder.glob("*.safetensors"))
    generate_onnx_representation(str(folder), tmp_path / "models")  # no option, no question
    export(str(tiny_checkpoint), tmp_path / "safe", precision="fp32")
    ids = np.array([[5, 6, 7, 8, 1]])
    a = get_onnx_model(str(folder), tmp_path / "models", quantized=False).generate(ids, max_length=8)
    b = get_onnx_model(str(tiny_checkpoint), tmp_path / "safe", quantized=False).generate(ids, max_length=8)
    assert (a == b).all()


def test_every_read_of_pytorch_model_bin_is_restricted_to_tensors(tiny_checkpoint, tmp_path, monkeypatch):
    """Whoever reads the weights (we, or transformers), it is torch.load(weights_only=True), and
    nothing unpickles with the standard library's unrestricted pickle."""
    import pickle

    import torch

    folder = with_torch_weights(tiny_checkpoint, tmp_path / "bin")
    loads, unrestricted = [], []
    real_load = torch.load

    def spy_load(*args, **kwargs):
        loads.append(kwargs.get("weights_only"))
        return real_load(*args, **kwargs)

    monkeypatch.setattr(torch, "load", spy_load)
    for name in ("load", "loads", "Unpickler"):
        monkeypatch.setattr(pickle, name, _recorded(getattr(pickle, name), name, unrestricted))
    model = export_and_get_onnx_model(str(folder), tmp_path / "models")
    assert model.generate(np.array([[5, 6, 7, 1]]), max_length=6).shape[0] == 1
    assert loads == [True], loads
    assert unrestricted == []


def _recorded(function, name: str, calls: list):
    def recorded(*args, **kwargs):
        calls.append(name)
        return function(*args, **kwargs)

    return recorded


@pytest.mark.parametrize("kind", HOSTILE_KINDS)
def test_a_bin_that_is_not_only_tensors_is_refused_and_nothing_in_it_runs(tiny_checkpoint, tmp_path, kind):
    folder = with_torch_weights(tiny_checkpoint, tmp_path / "hostile")
    marker = tmp_path / "command-ran"
    hostile_weights(folder / "pytorch_model.bin", marker, kind)
    with pytest.raises(UnsafeCheckpointError) as info:
        export(str(folder), tmp_path / "models")
    message = str(info.value)
    assert str(folder / "pytorch_model.bin") in message
    assert "something other than tensors" in message and "could run code" in message
    assert "Nothing in it was run" in message and "safetensors version" in message
    assert "allow" not in message  # there is nothing to allow
    if kind != "reduce-protocol-4":  # a bare pickle's opcodes are refused before any name is read
        assert "NotATensor" in message if kind == "class" else "system" in message
    assert not marker.exists()
    assert not export_dir(str(folder), "int8", tmp_path / "models").parent.exists()
    if kind != "class":  # the control: unpickled fully, the same file does run its command
        _unpickle_fully(folder / "pytorch_model.bin", kind)
        assert marker.exists()


def _unpickle_fully(path: Path, kind: str) -> None:
    import pickle

    import torch

    if kind == "reduce-protocol-4":
        pickle.loads(path.read_bytes())
    else:
        torch.load(path, weights_only=False)


def test_a_damaged_bin_is_an_engine_error_that_blames_no_one(tiny_checkpoint, tmp_path):
    folder = with_torch_weights(tiny_checkpoint, tmp_path / "bin")
    data = (folder / "pytorch_model.bin").read_bytes()
    (folder / "pytorch_model.bin").write_bytes(data[: len(data) // 2])  # an interrupted copy
    with pytest.raises(EngineError, match="damaged, incomplete, or not a weights file") as info:
        export(str(folder), tmp_path / "models")
    assert not isinstance(info.value, UnsafeCheckpointError)
    assert str(folder / "pytorch_model.bin") in str(info.value)


def test_a_shard_index_cannot_point_outside_its_folder(tiny_checkpoint, tmp_path):
    folder = with_torch_weights(tiny_checkpoint, tmp_path / "bin", "sharded")
    index = json.loads((folder / "pytorch_model.bin.index.json").read_text())
    index["weight_map"]["lm_head.weight"] = "../elsewhere.bin"
    (folder / "pytorch_model.bin.index.json").write_text(json.dumps(index))
    with pytest.raises(EngineError, match="not a file beside it"):
        export(str(folder), tmp_path / "models")


def test_safetensors_are_used_when_both_formats_are_there(tiny_checkpoint, tmp_path):
    both = tmp_path / "both"
    shutil.copytree(tiny_checkpoint, both)
    marker = tmp_path / "command-ran"
    hostile_weights(both / "pytorch_model.bin", marker, "reduce-zip")
    export(str(both), tmp_path / "models", precision="fp32")
    assert not marker.exists()


def test_export_options_have_no_way_to_unpickle_fully():
    assert "allow_pickle" not in {f.name for f in dataclasses.fields(ExportOptions)}
    with pytest.raises(TypeError):
        ExportOptions(allow_pickle=True)


def test_cli_exports_pytorch_model_bin_with_no_flag(tiny_checkpoint, tmp_path, capsys):
    from engine.cli import main

    folder = with_torch_weights(tiny_checkpoint, tmp_path / "bin", "legacy")
    assert main(["export", str(folder), "--out", str(tmp_path / "m"), "--precision", "fp32"]) == 0
    assert (export_dir(str(folder), "fp32", tmp_path / "m") / "manifest.json").is_file()
    assert "pickle" not in capsys.readouterr().err


def test_cli_refuses_a_bin_that_would_run_code_and_says_why(tiny_checkpoint, tmp_path, capsys):
    from engine.cli import main

    folder = with_torch_weights(tiny_checkpoint, tmp_path / "hostile")
    marker = tmp_path / "command-ran"
    hostile_weights(folder / "pytorch_model.bin", marker, "reduce-legacy")
    assert main(["export", str(folder), "--out", str(tmp_path / "m")]) == 1
    err = capsys.readouterr().err
    assert f"\nerror: {folder / 'pytorch_model.bin'} was refused: it holds something other than tensors" in err
    assert "Nothing in it was run" in err and "Traceback" not in err
    assert not marker.exists()


def test_cli_allow_pickle_is_gone_and_says_so(tiny_checkpoint, tmp_path, capsys):
    from engine.cli import main

    with pytest.raises(SystemExit) as info:
        main(["export", str(tiny_checkpoint), "--out", str(tmp_path / "m"), "--allow-pickle"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "--allow-pickle is gone" in err and "rebuilds only tensors" in err
    assert not (tmp_path / "m").exists()
    with pytest.raises(SystemExit):
        main(["export", "--help"])
    assert "pickle" not in capsys.readouterr().out


# -- the network


_AUDIT = r"""
import sys
events = []
def hook(event, args):
    if event.startswith("socket.") or event in ("urllib.Request", "http.client.connect"):
        events.append((event, repr(args)[:200]))
sys.addaudithook(hook)
"""

_SUMMARIZE = (
    _AUDIT
    + r"""
from engine import Summarizer, GenerationOptions
from engine.cli import main
summarizer = Summarizer.load(sys.argv[1], root=sys.argv[2])
for beams in (1, 2):
    summary = summarizer.summarize(open(sys.argv[3]).read(), GenerationOptions(num_beams=beams))
    assert summary.text
code = main(["summarize", sys.argv[3], "--model", sys.argv[1], "--models-dir", sys.argv[2]])
assert code == 0
print("EVENTS", events, file=sys.stderr)
sys.exit(3 if events else 0)
"""
)

_EXPORT = (
    _AUDIT
    + r"""
from engine.errors import EngineError
from engine.export.pipeline import export
try:
    export(sys.argv[1], sys.argv[2])
except EngineError as e:
    print("ERROR", type(e).__name__, e, file=sys.stderr)
print("EVENTS", events, file=sys.stderr)
sys.exit(3 if events else 0)
"""
)


def _online_env(**extra) -> dict:
    """As a user with a network: no HF_HUB_OFFLINE, and a hub endpoint that nothing listens on."""
    env = {k: v for k, v in os.environ.items() if k != "HF_HUB_OFFLINE"}
    return {**env, "HF_ENDPOINT": "http://127.0.0.1:9", **extra}


def _python(code: str, *args, env: dict) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter from the repo root, as a user would start the engine."""
    return subprocess.run(
        [sys.executable, "-c", code, *map(str, args)], env=env, cwd=REPO, check=False, capture_output=True,
        text=True, timeout=300,
    )


def test_summarizing_opens_no_socket(tiny_exports, tiny_checkpoint, tmp_path):
    article = tmp_path / "article.txt"
    article.write_text(" ".join(f"w{3 + i % 90}" for i in range(40)))
    result = _python(_SUMMARIZE, str(tiny_checkpoint), str(tiny_exports), str(article), env=_online_env())
    assert result.returncode == 0, result.stderr[-3000:]
    assert "EVENTS []" in result.stderr


def test_exporting_a_local_checkpoint_opens_no_socket_even_online(tiny_checkpoint, tmp_path):
    result = _python(_EXPORT, str(tiny_checkpoint), str(tmp_path / "models"), env=_online_env())
    assert result.returncode == 0 and "ERROR" not in result.stderr, result.stderr[-3000:]
    assert "EVENTS []" in result.stderr


def test_offline_mode_makes_no_connection_for_a_model_not_in_the_cache(tmp_path):
    result = _python(_EXPORT, "acme/not-cached", str(tmp_path / "models"), env=_online_env(HF_HUB_OFFLINE="1"))
    assert "ERROR OfflineError" in result.stderr, result.stderr[-3000:]
    assert result.returncode == 0 and "EVENTS []" in result.stderr


def test_downloads_go_to_hf_endpoint_only(tmp_path):
    """Online, a hub id is fetched from HF_ENDPOINT (here a closed local port), nowhere else."""
    result = _python(_EXPORT, "acme/not-cached", str(tmp_path / "models"), env=_online_env())
    assert "ERROR OfflineError" in result.stderr, result.stderr[-3000:]
    connects = next(line for line in result.stderr.splitlines() if line.startswith("EVENTS"))
    addresses = re.findall(
        r"'socket\.connect', \"\(<socket\.socket [^>]*>, (\('[^']*', \d+\))\)", connects
    )
    assert addresses and set(addresses) == {"('127.0.0.1', 9)"}, connects


_TELEMETRY = r"""
import os, sys
from engine import Summarizer
summary = Summarizer.load(sys.argv[1], root=sys.argv[2]).summarize("w5 w6 w7 w8")
print(os.environ["ORT_DISABLE_TELEMETRY"], summary.text)
"""


def test_onnxruntime_telemetry_is_off_and_keeps_no_device_id(
    tiny_exports, tiny_checkpoint, tmp_path
):
    home = tmp_path / "home"
    env = {
        k: v
        for k, v in _online_env(HOME=str(home), XDG_CACHE_HOME=str(home / ".cache")).items()
        if k != "ORT_DISABLE_TELEMETRY"
    }
    result = _python(_TELEMETRY, str(tiny_checkpoint), str(tiny_exports), env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.startswith("1 ")
    # onnxruntime's telemetry keeps ~/.cache/Microsoft/DeveloperTools/.onnxruntime/deviceid
    assert not home.exists() or list(home.rglob("*")) == [], list(home.rglob("*"))


# -- where files go


_EXPORT_TO_DEFAULT_ROOT = r"""
import os, sys
os.umask(0o022)
from engine.export.pipeline import export
print(export(sys.argv[1]).folder)
"""


def test_export_writes_only_under_the_user_data_dir_with_default_permissions(
    tiny_checkpoint, tmp_path
):
    home, cwd = tmp_path / "home", tmp_path / "cwd"
    cwd.mkdir()
    env = {**os.environ, "HOME": str(home), "HF_HOME": str(home / "hf")}
    for var in ("XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME"):
        env[var] = str(home / var.lower())
    checkpoint = tmp_path / "checkpoint"
    shutil.copytree(tiny_checkpoint, checkpoint)
    before = {p for p in tmp_path.rglob("*")}
    result = subprocess.run(
        [sys.executable, "-c", _EXPORT_TO_DEFAULT_ROOT, str(checkpoint)],
        env={**env, "PYTHONPATH": str(REPO)},
        cwd=cwd,
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    data_dir = home / "xdg_data_home" / "pegasus-desktop" / "models"
    assert Path(result.stdout.strip()).is_relative_to(data_dir)
    created = {p for p in tmp_path.rglob("*")} - before
    outside = [p for p in created if not p.is_relative_to(data_dir) and p not in data_dir.parents]
    assert outside == [], outside
    for path in created:
        mode = path.stat().st_mode & 0o777
        assert mode == (0o755 if path.is_dir() else 0o644), (path, oct(mode))


HOSTILE_IDS = [
    "../../x",
    "..",
    "../..",
    "a/../../b",
    "/etc/passwd",
    "~/x",
    "x\\..\\..\\y",
    "./x",
    "..\\..\\windows",
    "a/b/c/../../..",
    "con",
    "a\x00b",
    "\u202e/evil",
    " ",
    "a//b",
    "...",
]


@pytest.mark.parametrize("model_id", HOSTILE_IDS)
def test_hostile_model_ids_cannot_escape_the_models_root(model_id, tmp_path):
    root = (tmp_path / "models").resolve()
    for precision in ("int8", "fp32"):
        folder = export_dir(model_id, precision, root).resolve()
        assert folder.is_relative_to(root) and folder.parent.parent == root, (model_id, folder)
    with pytest.raises((EngineError, ValueError)):
        export(model_id, root)
    assert not any(p for p in tmp_path.iterdir() if p.name != "models")
