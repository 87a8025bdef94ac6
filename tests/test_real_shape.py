"""The random-weight model with google/pegasus-cnn_dailymail's real shape exports and runs.

Slow (a few minutes): it builds a 2.3 GB checkpoint, exports fp32, quantizes to int8, and checks
the int8 export's size against the checkpoint's. Run it alone with ``pytest -m slow -s`` to see
the size ratio the README reports.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from builders import real_shape_checkpoint

from engine import OnnxPegasus, generate_onnx_representation, get_onnx_runtime_sessions, quantize

pytestmark = pytest.mark.slow


def _folder_size(folder) -> int:
    return sum(p.stat().st_size for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))


def test_cnn_dailymail_shape_exports_and_runs_in_fp32_and_int8(tmp_path):
    import torch
    from transformers import PegasusForConditionalGeneration

    checkpoint = real_shape_checkpoint(tmp_path / "checkpoint")
    fp32_paths = generate_onnx_representation(str(checkpoint), tmp_path / "models")
    int8_paths = quantize(fp32_paths)

    checkpoint_bytes = (checkpoint / "model.safetensors").stat().st_size
    ratio = _folder_size(int8_paths.folder) / checkpoint_bytes
    print(f"\ncheckpoint {checkpoint_bytes / 1e9:.2f} GB, fp32 export {_folder_size(fp32_paths.folder) / 1e9:.2f} GB, "
          f"int8 export {_folder_size(int8_paths.folder) / 1e9:.2f} GB: int8 / checkpoint = {ratio:.3f}")
    assert ratio <= 0.30

    ids = np.random.default_rng(0).integers(3, 96103, (1, 48))
    ids[0, -1] = 1
    options = dict(num_beams=2, max_new_tokens=4, min_new_tokens=4)
    fp32 = OnnxPegasus(str(checkpoint), get_onnx_runtime_sessions(fp32_paths)).generate(ids, **options)
    int8 = OnnxPegasus(str(checkpoint), get_onnx_runtime_sessions(int8_paths)).generate(ids, **options)
    assert fp32.shape == int8.shape == (1, 5)

    reference = PegasusForConditionalGeneration.from_pretrained(checkpoint, attn_implementation="eager").eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = reference.generate(torch.from_numpy(ids), do_sample=False, **options)
    assert fp32.tolist() == expected.tolist()
