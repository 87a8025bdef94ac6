"""The repo's trained tiny summarizer: fp32 solves its task, and int8 answers as fp32 does.

Random weights make int8 agreement meaningless, so int8 is judged here, on a model trained by
``tools/train_fixture.py`` whose held-out answers are checkable by exact match.
"""

from __future__ import annotations

import json

import pytest
from builders import TINY_PEGASUS

from engine import GenerationOptions, Summarizer

HELD_OUT = [json.loads(line) for line in (TINY_PEGASUS / "heldout.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def summarizers(trained_exports):
    """The session's exports of the fixture (tests/conftest.py), made by the export pipeline."""
    return {p: Summarizer.load(str(TINY_PEGASUS), precision=p, root=trained_exports) for p in ("fp32", "int8")}


@pytest.fixture(scope="module")
def answers(summarizers):
    """Each precision's summary of the 200 held-out articles, with the model's default options."""
    return {p: [s.summarize(example["article"]).text for example in HELD_OUT] for p, s in summarizers.items()}


def test_there_are_200_held_out_examples():
    assert len(HELD_OUT) == 200


def test_fp32_solves_at_least_90_percent(answers):
    solved = sum(got == example["summary"] for got, example in zip(answers["fp32"], HELD_OUT))
    print(f"\nfp32 solves {solved}/200")
    assert solved >= 180


def test_int8_agrees_with_fp32_on_at_least_95_percent(answers):
    same = sum(a == b for a, b in zip(answers["int8"], answers["fp32"]))
    print(f"\nint8 == fp32 on {same}/200")
    assert same >= 190


def test_fp32_export_matches_transformers_on_the_trained_model(summarizers):
    """Beyond random weights: the exported model says what the checkpoint says, token for token."""
    import torch
    from transformers import AutoTokenizer, PegasusForConditionalGeneration

    tokenizer = AutoTokenizer.from_pretrained(TINY_PEGASUS)
    model = PegasusForConditionalGeneration.from_pretrained(TINY_PEGASUS, attn_implementation="eager").eval()
    articles = [example["article"] for example in HELD_OUT[:8]]
    batch = tokenizer(articles, return_tensors="pt", padding=True, truncation=True)
    with torch.no_grad():
        expected = model.generate(**batch)
    ours = summarizers["fp32"].model.generate(batch["input_ids"], batch["attention_mask"])
    assert ours.tolist() == expected.tolist()
    assert [summarizers["fp32"].tokenizer.decode(row) for row in ours.tolist()] == tokenizer.batch_decode(
        expected, skip_special_tokens=True
    )


def test_the_readme_example(summarizers):
    article = (TINY_PEGASUS.parents[2] / "examples" / "article.txt").read_text()
    summary = summarizers["int8"].summarize(article, GenerationOptions(num_beams=2))
    assert summary.text == "David sold 45 bikes in Vienna on Friday."
