"""Every ``python -m benchmarks.experiments`` subcommand runs and says what it measured, on tiny
sizes (the tiny fixture's exports, fewer layers, one round): a smoke test, not a measurement.

Subcommands fixed at the cnn_dailymail shape (``attention``, ``int8-rows``) run here with the
shape's module constants made small. ``ct2-backends`` needs a CTranslate2 model with 512
positions and a 200-token vocabulary at least, and is left to tests/test_benchmark.py's
CTranslate2 runs. One run goes through a fresh interpreter, as a user starts it: the 4-bit
forms import onnx_ir (the bench extra), which once was missing from a fresh set-up.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import experiments
from engine.model_dir import export_dir

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def folders(tiny_exports, tiny_checkpoint) -> dict[str, Path]:
    return {p: export_dir(str(tiny_checkpoint), p, tiny_exports) for p in ("fp32", "int8")}


def _lines(capsys, *argv) -> list[str]:
    experiments.main([str(a) for a in argv])
    return capsys.readouterr().out.splitlines()


def test_profile_times_the_encoder_the_decoder_and_their_operators(folders, capsys):
    lines = _lines(capsys, "profile", folders["int8"], "--steps", 2, "--threads", 1)
    assert re.fullmatch(r"encoder: [\d.]+ s for \d+ tokens", lines[0]), lines
    assert re.fullmatch(r"decoder: [\d.]+ ms per step, 1 row\(s\)", lines[1]), lines
    assert lines[2].startswith("encoder ms per run by operator: ") and "MatMulIntegerToFloat" in lines[2]
    assert lines[3].startswith("decoder ms per run by operator: ")


def test_step_parts_times_each_variant_and_leaves_the_export_as_it_was(folders, capsys):
    before = sorted(p.name for p in folders["int8"].parent.rglob("*"))
    lines = _lines(capsys, "step-parts", folders["int8"], "--steps", 2, "--rounds", 1, "--pause", 0, "--threads", 1)
    labels = [line.rsplit(":", 1)[0] for line in lines[1:]]
    assert labels == ["whole step, 64 source tokens", "whole step, 16 source tokens",  # the fixture's 64 positions
                      "without the lm_head, 64 source tokens", "cache emptied before each step, 64 source tokens",
                      "of the whole step, inside session.run"], lines
    assert all(float(line.rsplit(": ", 1)[1]) > 0 for line in lines[1:])
    assert sorted(p.name for p in folders["int8"].parent.rglob("*")) == before  # its variants were temporary


def test_repeat_times_each_call(folders, capsys):
    (line,) = _lines(capsys, "repeat", folders["int8"], "--calls", 2, "--beams", 2, "--threads", 1)
    assert re.fullmatch(r"2 beam\(s\), 1 threads, s per call in order: [\d.]+, [\d.]+", line), line


def test_export_memory_gives_each_stage_its_peak(tiny_checkpoint, capsys):
    lines = _lines(capsys, "export-memory", tiny_checkpoint)
    assert re.fullmatch(r"int8 export took \d+ s", lines[0]), lines
    stages = [line.split(" peak RSS ")[0].split()[0] for line in lines[1:]]
    assert {"start", "load", "export", "quantize", "verify"} <= set(stages), lines


def test_four_bit_decoder_times_both_decoders(folders, capsys):
    lines = _lines(capsys, "four-bit-decoder", folders["fp32"], folders["int8"], "--block", 32, "--rounds", 1,
                   "--skip-fixture", "--threads", 1)
    assert lines[0] == "1 row(s), 64 tokens in, 64 steps, 1 threads (int8 encoder in both)"
    labels = [line.split(":")[0] for line in lines[1:]]
    assert labels == ["int8 decoder", "4-bit decoder (block 32)"] * 2, lines


def test_kernels_compares_the_int8_forms_of_a_layer(capsys):
    lines = _lines(capsys, "kernels", "--layers", 1, "--rounds", 1)
    assert [line.split()[0] for line in lines[1:]] == ["M=1", "M=4", "M=512"]
    for form in ("fp32", "int8 (ours)", "MatMulNBits 8-bit", "MatMulNBits 4-bit"):
        assert all(f"{form} " in line for line in lines[1:]), (form, lines)


def test_attention_compares_ours_with_multi_head_attention(monkeypatch, capsys):
    from benchmarks import attention_forms

    monkeypatch.setattr(attention_forms, "LAYERS", 2)
    monkeypatch.setattr(attention_forms, "SOURCE", 16)
    lines = _lines(capsys, "attention", "--rounds", 1, "--past", 4)
    cases = [line.split("  ")[0].strip() for line in lines[1:]]
    assert cases == ["encoder rows=1", "cross rows=1", "self rows=1 past=4", "cross rows=4", "self rows=4 past=4"]
    assert all("ours " in line and "MultiHeadAttention " in line for line in lines[1:])


def test_cross_forms_times_each_form_and_checks_each_query_alone(monkeypatch, capsys):
    from benchmarks import attention_forms

    monkeypatch.setattr(attention_forms, "LAYERS", 2)
    monkeypatch.setattr(attention_forms, "SOURCE", 64)
    lines = _lines(capsys, "cross-forms", "--queries", 1, 8, "--rounds", 1, "--sets", 2, "--pause", 0)
    assert [line.split(":")[0] for line in lines[1:]] == ["1 queries", "8 queries"], lines
    for line in lines[1:]:
        cells = dict(cell.strip().split(" ", 1) for cell in line.split(": ", 1)[1].split(" | "))
        assert set(cells) == set(attention_forms.CROSS_FORMS), line
        # The decoder's form gives each query its bits alone, as a drafted position needs; so do the
        # M=1 products on transposed keys (fp32, another summing order) and the int8 forms (integer
        # sums are exact), which stay within a few percent of fp32.
        for form in ("queries-as-m", "keys-t-gemv", *attention_forms.INT8_FORMS):
            assert "differs" not in cells[form], line
        errors = {form: float(cell.split("error ")[1].split()[0]) for form, cell in cells.items()}
        assert errors["queries-as-m"] == 0 and 0 < errors["int8-keys"] < 0.05, errors
        assert errors["keys-t-gemv"] < 1e-5, errors


def test_int8_rows_times_each_form_and_checks_rows_stay_independent(monkeypatch, capsys):
    from benchmarks import int8_forms

    monkeypatch.setattr(int8_forms, "D_MODEL", 64)
    monkeypatch.setattr(int8_forms, "FFN", 128)
    monkeypatch.setattr(int8_forms, "VOCAB", 300)
    lines = _lines(capsys, "int8-rows", "--layers", 1, "--rows", 1, 4, "--rounds", 1)
    table = {line.split()[0]: line for line in lines[2:]}
    assert set(table) == set(int8_forms.FORMS), lines
    assert all(line.endswith(("yes", "no")) for line in table.values())
    assert table["rows"].endswith("yes")  # per-row scales: what the engine relies on


def test_bandwidth_runs_from_a_fresh_interpreter():
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.experiments", "bandwidth", "--layers", "1", "--rounds", "1",
         "--scan-mb", "4", "--threads", "1"],
        cwd=REPO, capture_output=True, text=True, timeout=300, check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.splitlines()
    assert lines[0] == "1 int8 layers of 1024 x 4096 = 4 MB of weights, 1 thread(s)"
    assert sum("MatMulNBits 4-bit" in line for line in lines) == 2
    assert re.fullmatch(r"numpy reading 4 MB \(np\.dot\): [\d.]+ GB/s", lines[-1]), lines
