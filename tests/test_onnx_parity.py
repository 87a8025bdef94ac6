"""fp32 exports generate exactly what transformers' generate() does, token for token.

Tiny random models of several shapes are exported and run through the whole stack (our graphs,
onnxruntime, our decoding loop) against ``PegasusForConditionalGeneration.generate`` on a padded
batch of three inputs.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from builders import random_model, save_checkpoint

from engine import get_onnx_model
from engine.export.pipeline import export

SHAPES = {
    "tied-2x2": dict(),
    "untied-3x1": dict(vocab_size=300, d_model=64, encoder_layers=3, decoder_layers=1, encoder_attention_heads=2,
                       decoder_attention_heads=2, max_position_embeddings=128, tie_word_embeddings=False),
    "narrow-1x3": dict(vocab_size=50, d_model=16, encoder_layers=1, decoder_layers=3, encoder_attention_heads=4,
                       decoder_attention_heads=4, encoder_ffn_dim=48, decoder_ffn_dim=48, max_position_embeddings=32),
    "three-heads": dict(vocab_size=150, d_model=48, encoder_attention_heads=3, decoder_attention_heads=3,
                        max_position_embeddings=40),
}

OPTIONS = {
    "greedy": dict(num_beams=1, max_length=20),
    "beam2": dict(num_beams=2, max_length=20),
    "beam4": dict(num_beams=4, max_length=20),
    "beam4-max-new": dict(num_beams=4, max_new_tokens=7),
    "greedy-min-length": dict(num_beams=1, min_length=15, max_length=20),
    "beam2-min-length": dict(num_beams=2, min_length=12, max_length=16),
    "beam4-min-new": dict(num_beams=4, min_new_tokens=10, max_new_tokens=14),
    "greedy-no-repeat": dict(num_beams=1, no_repeat_ngram_size=2, max_length=20),
    "beam4-no-repeat": dict(num_beams=4, no_repeat_ngram_size=3, max_length=20),
    "beam4-short-penalty": dict(num_beams=4, length_penalty=0.6, max_length=20),
    "beam4-long-penalty": dict(num_beams=4, length_penalty=2.0, max_length=20),
    "beam4-early": dict(num_beams=4, early_stopping=True, max_length=20),
    "beam4-never": dict(num_beams=4, early_stopping="never", max_length=20),
    "beam4-return-3": dict(num_beams=4, num_return_sequences=3, max_length=20),
    "greedy-repetition": dict(num_beams=1, repetition_penalty=1.5, max_length=20),
    "beam2-repetition": dict(num_beams=2, repetition_penalty=1.3, max_length=20),
    "no-forced-eos": dict(num_beams=2, forced_eos_token_id=None, max_length=12),
    "beam2-use-cache": dict(num_beams=2, use_cache=True, max_length=16),  # common in HF code: a no-op
}


def _padded_batch(vocab: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Three inputs of 9, 6 and 4 tokens, right-padded as Pegasus tokenizers pad."""
    generator = torch.Generator().manual_seed(7)
    ids = torch.randint(3, vocab, (3, 9), generator=generator)
    mask = torch.ones_like(ids)
    for row, length in ((1, 6), (2, 4)):
        mask[row, length:] = 0
        ids[row, length:] = 0
        ids[row, length - 1] = 1  # each input ends with </s>
    ids[0, -1] = 1
    return ids, mask


def reference_model(name: str):
    """The transformers model of one shape. The token embedding (the lm_head too, tied or not) is
    drawn at d_model**-0.5, as a trained one is scaled: at init_std 0.6, multiplied by
    sqrt(d_model) on the way in, it drowned the rest of the residual stream, and greedy repeated
    its first token to max_length in 3 of the 4 shapes, one of them the same for every input, so
    the parity cases compared almost nothing (``test_the_parity_models_are_not_degenerate``)."""
    reference = random_model(seed=len(name), init_std=0.6, eos_bias=1.5, attn_implementation="eager", **SHAPES[name])
    with torch.no_grad():
        reference.model.shared.weight.normal_(0.0, reference.config.d_model**-0.5)
        if not reference.config.tie_word_embeddings:
            reference.lm_head.weight.normal_(0.0, reference.config.d_model**-0.5)
    return reference


@pytest.fixture(scope="module", params=list(SHAPES))
def pair(request, tmp_path_factory):
    """(transformers model, our fp32 OnnxPegasus) of one shape."""
    reference = reference_model(request.param)
    folder = save_checkpoint(reference, tmp_path_factory.mktemp(request.param) / "ckpt")
    root = tmp_path_factory.mktemp("models")
    export(str(folder), root, precision="fp32")
    return reference, get_onnx_model(str(folder), root, quantized=False)


@pytest.mark.parametrize("name", list(OPTIONS))
def test_fp32_tokens_equal_transformers(pair, name):
    reference, ours = pair
    ids, mask = _padded_batch(reference.config.vocab_size)
    options = OPTIONS[name]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = reference.generate(input_ids=ids, attention_mask=mask, do_sample=False, **options)
    got = ours.generate(input_ids=ids, attention_mask=mask, **options)
    assert isinstance(got, torch.Tensor)
    assert got.tolist() == expected.tolist()


def test_generation_config_defaults_apply_when_caller_gives_none(pair):
    """With no options, both sides read the checkpoint's generation_config.json."""
    reference, ours = pair
    ids, mask = _padded_batch(reference.config.vocab_size)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = reference.generate(input_ids=ids, attention_mask=mask)
    got = ours.generate(input_ids=ids.numpy(), attention_mask=mask.numpy())
    assert isinstance(got, np.ndarray)
    assert got.tolist() == expected.tolist()


GREEDY = [name for name, options in OPTIONS.items() if options.get("num_beams") == 1]


@pytest.mark.parametrize("rows", [3, 1], ids=["padded-batch-of-3", "batch-of-1"])
@pytest.mark.parametrize("name", GREEDY)
def test_fp32_with_drafting_equals_transformers_greedy(pair, name, rows):
    """Copy drafting (prompt lookup from the article, then the output) verifies several tokens in
    one decoder run, processors applied at each position; the tokens are greedy's, exactly."""
    from engine.generation import DraftStats

    reference, ours = pair
    ids, mask = (t[:rows] for t in _padded_batch(reference.config.vocab_size))
    ids, mask = ids[:, : int(mask.sum(1).max())], mask[:, : int(mask.sum(1).max())]
    options = OPTIONS[name]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = reference.generate(input_ids=ids, attention_mask=mask, do_sample=False, **options)
    stats = DraftStats()
    got = ours.generate(input_ids=ids, attention_mask=mask, prompt_lookup_num_tokens=8, draft_stats=stats, **options)
    assert got.tolist() == expected.tolist()
    assert stats.runs > 0


def test_drafting_on_the_random_parity_models_is_not_vacuous(pair):
    """Across the greedy cases some drafts are kept (random models repeat themselves), so the parity
    above checks verification runs that keep several tokens, not only plain steps: for each input
    alone, and in a batch whose rows copy alike (rows advance in step, so in the padded batch above
    a row with nothing to copy can make every run plain), checked against transformers here."""
    from engine.generation import DraftStats

    reference, ours = pair
    ids, mask = _padded_batch(reference.config.vocab_size)
    alone = together = 0
    for name in GREEDY:
        for row in range(ids.shape[0]):
            stats = DraftStats()
            ours.generate(input_ids=ids[row : row + 1, : int(mask[row].sum())], prompt_lookup_num_tokens=8,
                          draft_stats=stats, **OPTIONS[name])
            alone += stats.accepted
        twice = ids[:1].repeat(2, 1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            expected = reference.generate(input_ids=twice, attention_mask=torch.ones_like(twice), do_sample=False,
                                          **OPTIONS[name])
        stats = DraftStats()
        got = ours.generate(input_ids=twice, attention_mask=torch.ones_like(twice), prompt_lookup_num_tokens=8,
                            draft_stats=stats, **OPTIONS[name])
        assert got.tolist() == expected.tolist()
        together += stats.accepted
    assert alone > 0 and together > 0, (alone, together)


def test_the_parity_models_are_not_degenerate():
    """Guard against vacuous parity: every shape gives each input its own greedy summary of more
    than a repeated token; rows end at different steps; and the beam options under test (length
    penalty, early stopping) really change the result somewhere."""
    def run(model, name):
        ids, mask = _padded_batch(model.config.vocab_size)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return model.generate(input_ids=ids, attention_mask=mask, do_sample=False, **OPTIONS[name]).tolist()

    ends_differ = penalty_matters = never_matters = early_matters = 0
    for shape in SHAPES:
        model = reference_model(shape)
        greedy = run(model, "greedy")
        assert len({tuple(row) for row in greedy}) == len(greedy), (shape, greedy)
        assert max(len(set(row[1:])) for row in greedy) >= 3, (shape, greedy)
        ends_differ += len({row.index(1) if 1 in row else len(row) for row in greedy}) > 1
        beams = run(model, "beam4")
        penalty_matters += run(model, "beam4-short-penalty") != run(model, "beam4-long-penalty")
        never_matters += run(model, "beam4-never") != beams
        early_matters += run(model, "beam4-early") != beams
    assert ends_differ >= 3 and penalty_matters >= 3, (ends_differ, penalty_matters)
    assert never_matters >= 1 and early_matters >= 2, (never_matters, early_matters)
