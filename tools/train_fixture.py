"""Train the tiny-pegasus test fixture from scratch, offline, in a few minutes on 2 CPU cores.

What it trains: a real PegasusForConditionalGeneration (2 encoder + 2 decoder layers,
d_model 128) and a real Pegasus tokenizer (sentencepiece unigram, a few hundred pieces)
on the synthetic task in tests/fixtures/tiny_pegasus_task.py: an "article" of 3-6 short
generated sentences, one marked "Top story:", whose summary is the marked sentence
without its marker. Exact-match accuracy on held-out articles is then a meaningful
check of an exported or quantized copy of the model.

What it writes, into --out (default tests/fixtures/tiny-pegasus):
    config.json, model.safetensors, generation_config.json   the model (fp32)
    tokenizer.json, tokenizer_config.json                     the tokenizer (no spiece.model:
                                                              tokenizer.json is complete)
    heldout.jsonl                                             200 held-out examples,
                                                              {"article": ..., "summary": ...}

How long: about 3.5 minutes on 2 idle cores: 800 steps at ~0.25 s, plus seconds for the
data, the tokenizer and the evaluation. A busy machine can make it several times slower.
Seeds are fixed, so a rerun gives an equivalent fixture (same tokenizer and held-out set,
a model of the same accuracy), though not necessarily the same bytes.

Usage (needs the export extra: torch, transformers, sentencepiece, protobuf):
    .venv/bin/python tools/train_fixture.py [--out DIR] [--steps N] [--threads N]

At the end it prints the training time, the held-out exact-match accuracy with greedy
search and with generation_config.json's beam search (transformers' generate()), and
the fixture's size.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import re
import string
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests" / "fixtures"))

import tiny_pegasus_task as task  # noqa: E402 - tests/fixtures is put on sys.path just above

SEED = 0
SP_VOCAB_SIZE = 512  # an upper bound: the trainer stops at the pieces this small corpus has
TOKENIZER_CORPUS_SIZE = 20_000
BATCH_SIZE = 64
PEAK_LR = 2e-3
WARMUP_STEPS = 100

MODEL_CONFIG = {
    "d_model": 128,
    "encoder_layers": 2,
    "decoder_layers": 2,
    "encoder_attention_heads": 4,
    "decoder_attention_heads": 4,
    "encoder_ffn_dim": 256,
    "decoder_ffn_dim": 256,
    "max_position_embeddings": 256,
    "activation_function": "relu",  # as google/pegasus-*
    "dropout": 0.0,  # the data never repeats, so nothing to regularize
    "attention_dropout": 0.0,
    "activation_dropout": 0.0,
    "scale_embedding": True,  # as google/pegasus-*
    "pad_token_id": 0,
    "eos_token_id": 1,
    "decoder_start_token_id": 0,
    "forced_eos_token_id": 1,
    # Legacy keys of the original Pegasus configs. transformers ignores them, but
    # CTranslate2's converter reads them, so they are kept as the real checkpoints have them.
    "normalize_before": True,
    "normalize_embedding": False,
    "add_final_layer_norm": True,
    "static_position_embeddings": True,
}

GENERATION_CONFIG = {
    "num_beams": 2,
    "max_length": 64,
    "length_penalty": 1.0,
    "early_stopping": True,
    "decoder_start_token_id": 0,
    "pad_token_id": 0,
    "eos_token_id": 1,
    "forced_eos_token_id": 1,
}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=REPO / "tests" / "fixtures" / "tiny-pegasus")
    parser.add_argument("--steps", type=int, default=800, help="optimizer steps (default 800)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    return parser.parse_args()


def train_tokenizer(texts: list[str], out: Path):
    """Train a sentencepiece unigram model on `texts` and save it as a Pegasus tokenizer."""
    import sentencepiece as spm
    from transformers import PegasusTokenizer

    # The unigram trainer seeds its pieces from substrings seen in more than one right
    # context. A word that is always followed by a space ("▁in") never is, so it would end
    # up spelled in fragments. Listing every word (and every printable ASCII character, so
    # that any plain ASCII text encodes without <unk>) on a line of its own fixes both.
    words = sorted({w for t in texts for w in re.findall(r"\w+|[^\w\s]", t)})
    chars = list(string.ascii_letters + string.digits + string.punctuation)
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(texts + words + chars),
        model_writer=model,
        model_type="unigram",
        vocab_size=SP_VOCAB_SIZE,
        hard_vocab_limit=False,
        character_coverage=1.0,
        # Pegasus's special ids: the tokenizer shifts the pieces by 103 past pad, eos,
        # <mask_1>, <mask_2> and <unk_2>..<unk_102>, so <unk> becomes 105.
        pad_id=0,
        eos_id=1,
        unk_id=2,
        bos_id=-1,
        num_threads=1,  # deterministic
        minloglevel=2,
    )
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "spiece.model").write_bytes(model.getvalue())
        # from_pretrained (not the constructor) converts spiece.model into the fast backend.
        tokenizer = PegasusTokenizer.from_pretrained(tmp)
        tokenizer.model_max_length = MODEL_CONFIG["max_position_embeddings"]
        tokenizer.save_pretrained(out)
    # tokenizer.json carries the whole tokenizer, the normalizer's charsmap included;
    # spiece.model would only repeat it (~240 KB).
    (out / "spiece.model").unlink(missing_ok=True)
    return tokenizer


def check_tokenizer(out: Path, examples: list[tuple[str, str]]) -> tuple[int, bool]:
    """Reload the saved tokenizer both ways and check they agree; return (vocab size, ok)."""
    from tokenizers import Tokenizer
    from transformers import AutoTokenizer, PegasusTokenizer

    auto = AutoTokenizer.from_pretrained(out)
    raw = Tokenizer.from_file(str(out / "tokenizer.json"))
    if not isinstance(auto, PegasusTokenizer):
        raise TypeError(f"AutoTokenizer gave {type(auto).__name__}, not PegasusTokenizer")
    if (auto.pad_token_id, auto.eos_token_id, auto.unk_token_id) != (0, 1, 105):
        raise RuntimeError("special ids differ from Pegasus's pad=0, eos=1, unk=105")
    ok = True
    for article, summary in examples:
        for text in (article, summary):
            ids = auto(text).input_ids
            ok &= ids == raw.encode(text).ids and ids[-1] == 1 and 105 not in ids
            ok &= auto.decode(ids, skip_special_tokens=True) == text
    return len(auto), ok


def make_batches(tokenizer, examples, batch_size):
    """Yield (input_ids, attention_mask, labels) tensors, labels padded with -100."""
    import torch

    for start in range(0, len(examples), batch_size):
        chunk = examples[start : start + batch_size]
        enc = tokenizer([a for a, _ in chunk], padding=True, return_tensors="pt")
        labels = tokenizer([s for _, s in chunk], padding=True, return_tensors="pt").input_ids
        labels = torch.where(labels == tokenizer.pad_token_id, -100, labels)
        yield enc.input_ids, enc.attention_mask, labels


def train(model, tokenizer, examples, steps: int) -> float:
    """AdamW with linear warmup and cosine decay; return the seconds it took."""
    import torch

    optimizer = torch.optim.AdamW(model.parameters(), lr=PEAK_LR, weight_decay=0.01)

    def lr_at(step: int) -> float:
        if step < WARMUP_STEPS:
            return (step + 1) / WARMUP_STEPS
        progress = (step - WARMUP_STEPS) / max(1, steps - WARMUP_STEPS)
        return 0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * progress))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_at)
    model.train()
    start = time.perf_counter()
    running = None
    for step, (input_ids, attention_mask, labels) in enumerate(
        make_batches(tokenizer, examples, BATCH_SIZE)
    ):
        loss = model(input_ids=input_ids, attention_mask=attention_mask, labels=labels).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        running = loss.item() if running is None else 0.95 * running + 0.05 * loss.item()
        if step % 100 == 0 or step == steps - 1:
            elapsed = time.perf_counter() - start
            print(f"step {step:5d}  loss {running:.4f}  {elapsed:6.1f}s", flush=True)
    model.eval()
    return time.perf_counter() - start


def exact_match(model, tokenizer, examples, **generate_kwargs) -> float:
    """Fraction of `examples` whose generated summary equals the reference exactly."""
    import torch

    hits = 0
    for start in range(0, len(examples), 50):
        chunk = examples[start : start + 50]
        enc = tokenizer([a for a, _ in chunk], padding=True, return_tensors="pt")
        with torch.inference_mode():
            out = model.generate(**enc, **generate_kwargs)
        texts = tokenizer.batch_decode(out, skip_special_tokens=True)
        hits += sum(t.strip() == s for t, (_, s) in zip(texts, chunk))
    return hits / len(examples)


def main() -> None:
    args = parse_args()
    import torch
    from transformers import GenerationConfig, PegasusConfig, PegasusForConditionalGeneration

    torch.set_num_threads(args.threads)
    torch.manual_seed(SEED)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)

    heldout = task.make_examples(task.HELDOUT_SIZE, task.HELDOUT_SEED)
    unseen = {a for a, _ in heldout}
    # The tokenizer's corpus is the same prefix of this stream whatever --steps is.
    n_draw = max(args.steps * BATCH_SIZE, TOKENIZER_CORPUS_SIZE) + 1000
    pool = [ex for ex in task.make_examples(n_draw, task.TRAIN_SEED) if ex[0] not in unseen]
    train_examples = pool[: args.steps * BATCH_SIZE]
    with open(out / "heldout.jsonl", "w", encoding="utf-8") as f:
        f.writelines(
            json.dumps({"article": article, "summary": summary}) + "\n"
            for article, summary in heldout
        )

    corpus = pool[:TOKENIZER_CORPUS_SIZE]
    tokenizer = train_tokenizer([a for a, _ in corpus] + [s for _, s in corpus], out)
    vocab_size, tokenizer_ok = check_tokenizer(out, heldout)
    if not tokenizer_ok:
        raise RuntimeError("tokenizers' Tokenizer and AutoTokenizer disagree on held-out text")

    config = PegasusConfig(vocab_size=vocab_size, **MODEL_CONFIG)
    model = PegasusForConditionalGeneration(config)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"model: {n_params:,} parameters, vocab {vocab_size}", flush=True)

    seconds = train(model, tokenizer, train_examples, args.steps)

    model.generation_config = GenerationConfig(**GENERATION_CONFIG)
    model.save_pretrained(out)

    greedy = exact_match(model, tokenizer, heldout, num_beams=1, do_sample=False)
    beam = exact_match(model, tokenizer, heldout)  # generation_config.json's defaults
    size = sum(p.stat().st_size for p in out.iterdir() if p.is_file())
    print(
        f"training time: {seconds:.0f} s ({args.steps} steps of {BATCH_SIZE}, {args.threads} threads)"
    )
    print(f"tokenizer: {vocab_size} ids; tokenizers.Tokenizer == AutoTokenizer on held-out: yes")
    print(f"held-out exact match, greedy: {greedy:.1%} ({len(heldout)} examples)")
    print(f"held-out exact match, beam {GENERATION_CONFIG['num_beams']}: {beam:.1%}")
    print(f"fixture size: {size / 1e6:.2f} MB in {out}")


if __name__ == "__main__":
    main()
