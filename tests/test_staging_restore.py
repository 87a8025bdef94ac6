"""An export killed between ``publish``'s two renames leaves the previous export aside in a
``.staging-old-*`` folder and none in place: ``remove_stale_staging`` puts it back if it still
verifies, and deletes it (with every other leftover) if it does not."""

from __future__ import annotations

import shutil

import numpy as np

from engine import get_onnx_model
from engine.model_dir import export_dir, remove_stale_staging


def _killed_mid_publish(tiny_exports, tiny_checkpoint, tmp_path):
    """A copy of the fp32 export as publish's first rename leaves it: moved aside, none in place,
    with a half-written new export beside it."""
    root = tmp_path / "models"
    source = export_dir(str(tiny_checkpoint), "fp32", tiny_exports)
    target = export_dir(str(tiny_checkpoint), "fp32", root)
    target.parent.mkdir(parents=True)
    aside = target.parent / ".staging-old-fp32-0123abcd"
    shutil.copytree(source, aside)
    half = target.parent / ".staging-fp32-4567ef01"
    half.mkdir()
    (half / "decoder.onnx").write_bytes(b"half written")
    return root, target, aside, half


def test_the_previous_export_is_put_back_and_still_summarizes(tiny_exports, tiny_checkpoint, tmp_path):
    root, target, aside, half = _killed_mid_publish(tiny_exports, tiny_checkpoint, tmp_path)
    remove_stale_staging(target.parent)
    assert target.is_dir() and not aside.exists() and not half.exists()
    model = get_onnx_model(str(tiny_checkpoint), root, quantized=False)
    reference = get_onnx_model(str(tiny_checkpoint), tiny_exports, quantized=False)
    ids = np.array([[5, 6, 7, 1]])
    assert model.generate(ids, max_length=8).tolist() == reference.generate(ids, max_length=8).tolist()


def test_a_damaged_previous_export_is_deleted_not_put_back(tiny_exports, tiny_checkpoint, tmp_path):
    root, target, aside, half = _killed_mid_publish(tiny_exports, tiny_checkpoint, tmp_path)
    weights = aside / "weights.bin"
    weights.write_bytes(weights.read_bytes()[:-100])  # truncated: it no longer verifies
    remove_stale_staging(target.parent)
    assert not target.exists() and not aside.exists() and not half.exists()


def test_an_export_in_place_is_never_replaced_by_an_old_one(tiny_exports, tiny_checkpoint, tmp_path):
    root, target, aside, half = _killed_mid_publish(tiny_exports, tiny_checkpoint, tmp_path)
    shutil.copytree(export_dir(str(tiny_checkpoint), "fp32", tiny_exports), target)
    marker = target / "manifest.json"
    before = marker.read_bytes()
    remove_stale_staging(target.parent)
    assert marker.read_bytes() == before and not aside.exists() and not half.exists()
