"""Loading and generating: no torch or transformers, any input type, clear errors, app hooks."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest

from engine import GenerationCancelled, InputTruncatedWarning, Summarizer, get_onnx_model


@pytest.fixture(scope="module")
def model(tiny_exports, tiny_checkpoint):
    return get_onnx_model(str(tiny_checkpoint), tiny_exports, quantized=False)


def test_loading_and_generating_never_import_torch_or_transformers(tiny_exports, tiny_checkpoint):
    import children

    result = subprocess.run(children.command("generate_without_torch", tiny_checkpoint, tiny_exports),
                            env=children.env(), capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip()


def test_torch_in_torch_out_numpy_otherwise(model):
    import torch

    ids = [[5, 6, 7, 8, 1]]
    from_torch = model.generate(torch.tensor(ids), max_length=10)
    from_numpy = model.generate(np.array(ids), max_length=10)
    from_list = model.generate(ids, max_length=10)
    assert isinstance(from_torch, torch.Tensor) and from_torch.dtype == torch.int64
    assert isinstance(from_numpy, np.ndarray) and from_numpy.dtype == np.int64
    assert from_torch.tolist() == from_numpy.tolist() == from_list.tolist()
    assert from_numpy[0, 0] == 0  # the decoder start token comes first, as transformers


def test_too_long_input_is_truncated_and_reported(model):
    long = np.full((1, model.max_positions + 40), 7)
    long[0, -1] = 1
    with pytest.warns(InputTruncatedWarning, match=str(model.max_positions)):
        out = model.generate(long, max_length=6)
    assert out.shape[0] == 1


def test_summarizer_reports_truncation(tiny_exports, tiny_checkpoint):
    summarizer = Summarizer.load(str(tiny_checkpoint), root=tiny_exports)
    words = " ".join(f"w{3 + i % 90}" for i in range(summarizer.max_input_tokens + 25))
    summary = summarizer.summarize(words)
    assert summary.truncated and summary.input_tokens == summarizer.max_input_tokens + 26
    assert not summarizer.summarize("w5 w6").truncated


@pytest.mark.parametrize(
    "options, message",
    [
        ({"num_beams": 0}, "num_beams"),
        ({"min_length": 30, "max_length": 10}, "min_length"),
        ({"num_return_sequences": 3, "num_beams": 2}, "num_return_sequences"),
        ({"temperature": 0.0, "do_sample": True}, "temperature"),
        ({"beams": 2}, "accepted"),
    ],
)
def test_invalid_options_raise_value_error_saying_what_is_accepted(model, options, message):
    with pytest.raises(ValueError, match=message):
        model.generate([[5, 6, 1]], **options)


@pytest.mark.parametrize(
    "input_ids, mask, message",
    [
        (np.zeros((1, 0), np.int64), None, "no tokens"),
        (np.zeros((0, 4), np.int64), None, "no tokens"),
        (np.array([[5.0, 6.0, 1.0]]), None, "integer ids"),
        (np.ones((1, 2, 3), np.int64), None, "integer ids"),
        ([[5, 100_000, 1]], None, "token ids must be in"),
        ([[5, -3, 1]], None, "token ids must be in"),
        ([[5, 6, 1]], [[1, 1]], "attention_mask has shape"),
    ],
    ids=["no-tokens", "no-inputs", "floats", "3-d", "past-vocab", "negative", "mask-shape"],
)
def test_bad_input_ids_raise_value_error_saying_what_is_wrong(model, input_ids, mask, message):
    with pytest.raises(ValueError, match=message):
        model.generate(input_ids, attention_mask=mask, max_new_tokens=3)


def test_empty_text_is_refused_clearly(tiny_exports, tiny_checkpoint):
    summarizer = Summarizer.load(str(tiny_checkpoint), root=tiny_exports)
    with pytest.raises(ValueError, match="empty"):
        summarizer.summarize("   \n ")


def test_should_stop_cancels_within_one_step(model):
    steps = []

    def should_stop():
        steps.append(1)
        return len(steps) > 3

    with pytest.raises(GenerationCancelled):
        model.generate([[5, 6, 7, 1]], num_beams=2, min_length=15, max_length=20, should_stop=should_stop)
    assert len(steps) == 4


def test_streaming_reports_growing_text(tiny_exports, tiny_checkpoint):
    summarizer = Summarizer.load(str(tiny_checkpoint), root=tiny_exports)
    seen = []
    summary = summarizer.summarize("w5 w6 w7 w8", on_text=seen.append)
    assert len(seen) >= 2
    assert seen[-1] == summary.text
    assert summary.new_tokens == len(summary.token_ids) - 1 and summary.seconds > 0


def test_a_closed_model_releases_its_weights_file_and_says_so_when_used(trained_exports):
    """close() (or leaving a with block) closes weights.bin and the sessions at once; using the
    model afterwards is a clear EngineError, not a crash."""
    import numpy as np
    import pytest
    from builders import TINY_PEGASUS

    from engine import EngineError, Summarizer

    with Summarizer.load(str(TINY_PEGASUS), precision="int8", root=trained_exports) as summarizer:
        assert summarizer.summarize("Anna sold 3 cars in Oslo on Monday.").text
        files = [summarizer.model.encoder_embedding._file, summarizer.model.decoder_embedding._file]
        assert not any(f.closed for f in files)
    assert all(f.closed for f in files) and summarizer.model.sessions is None
    with pytest.raises(EngineError, match="was closed"):
        summarizer.model.generate(np.array([[5, 6, 1]]))
    summarizer.close()  # twice is harmless
