"""Shared fixtures: tiny exports built once per session, and no test touches the network or home."""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

# Before anything reads them (huggingface_hub reads its settings at import): no hub traffic, and
# the user's data, config, cache and Hugging Face dirs all point into a temp folder.
_HOME = Path(tempfile.mkdtemp(prefix="pegasus-tests-"))
atexit.register(shutil.rmtree, _HOME, ignore_errors=True)
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_HOME"] = str(_HOME / "hf")
for _var in ("XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME"):
    os.environ[_var] = str(_HOME / _var.lower())
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ["ORT_DISABLE_TELEMETRY"] = "1"  # as engine/__init__.py, for tests that import onnxruntime first


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory) -> Path:
    from builders import random_model, save_checkpoint

    return save_checkpoint(random_model(seed=3, init_std=0.6, eos_bias=-1.0), tmp_path_factory.mktemp("ckpt") / "tiny")


@pytest.fixture(scope="session")
def tiny_exports(tmp_path_factory, tiny_checkpoint) -> Path:
    """A models root holding the tiny checkpoint's fp32 and int8 exports."""
    from engine.export.pipeline import export

    root = tmp_path_factory.mktemp("models")
    export(str(tiny_checkpoint), root, precision="fp32")
    export(str(tiny_checkpoint), root, precision="int8")
    return root


@pytest.fixture(scope="session")
def trained_exports(tmp_path_factory) -> Path:
    """A models root holding the int8 and fp32 exports of the repo's trained fixture
    (tests/fixtures/tiny-pegasus), made once per session for the engine, CLI and app tests."""
    from builders import TINY_PEGASUS

    from engine.export.pipeline import export

    root = tmp_path_factory.mktemp("trained-models")
    export(str(TINY_PEGASUS), root, precision="int8")
    export(str(TINY_PEGASUS), root, precision="fp32")
    return root
