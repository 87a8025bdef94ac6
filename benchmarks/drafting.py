"""What copy drafting costs and saves (``engine/generation/drafting.py``), measured:

    python -m benchmarks.drafting INT8_EXPORT_DIR     # a real-shape int8 export (e.g. the benchmark's cnn one)

1. **Verification cost**: one decoder run over 1, 2, 4, 8 and 12 new positions of one row, on the
   real shape, after 32 cached tokens; each relative to a plain one-position step.
2. **The trained fixture** (tests/fixtures/tiny-pegasus, whose summaries copy their articles):
   decoder runs, tokens per run and time for its 200 held-out articles, greedy with and without
   drafting, int8 and fp32, and whether every summary is the same.
3. **The real shape, nothing to copy**: 512 random ids, 64 new tokens, ``no_repeat_ngram_size=1``,
   plain greedy against drafting. No token may come twice, so the random model cannot feed the
   drafts with its own repetitions: with ``no_repeat_ngram_size=3`` this model writes every token
   twice ("X X"), and drafting the second from the first would count self-repetition as speed.
4. **The real shape, an article holding its summary**: the random model's own greedy summary is
   written into its article and the article summarized again, until the summary it gets is one
   the article holds; then plain greedy against drafting on that article. How much of the summary
   the article ends up holding is printed: a random model is not a summarizer, so this is the
   mechanism's speed when the copy is there, not a claim about real articles.

Rounds alternate plain and drafted calls; medians are printed, with the CPU. Drafting never
changes a token: each comparison checks that too, and stops if it ever does.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

FIXTURE = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "tiny-pegasus"
DRAFT = 8
POSITIONS = (1, 2, 4, 8, 12)


def verification_cost(model, rounds: int) -> dict[int, float]:
    """Median seconds of one decoder run over n new positions of one row, after 32 cached tokens."""
    from engine.model import _CachedDecoder

    rng = np.random.default_rng(0)
    ids = rng.integers(3, model.decoder_embedding.vocab, (1, min(512, model.max_positions)))
    mask = np.ones_like(ids)
    state = _CachedDecoder(model.sessions.decoder, model.decoder_embedding, model.layers,
                           model.encode(ids, mask), mask, rows=1)
    for _ in range(32):
        state.step(rng.integers(3, model.decoder_embedding.vocab, (1, 1)))
    times: dict[int, list[float]] = {n: [] for n in POSITIONS}
    for _ in range(rounds):
        for n in POSITIONS:  # alternated, so a slow spell hits every width
            start = time.perf_counter()
            state.run(rng.integers(3, model.decoder_embedding.vocab, (1, n)))
            times[n].append(time.perf_counter() - start)
            state.keep(1)  # the next run trims the other n - 1
    return {n: statistics.median(t) for n, t in times.items()}


def compare(model, ids: np.ndarray, options: dict, rounds: int) -> dict:
    """Plain greedy against drafting on ``ids``, rounds alternated; checks the tokens are equal."""
    from engine.generation import DraftStats

    times = {"plain": [], "drafted": []}
    stats = DraftStats()
    for r in range(rounds + 1):  # the first round warms up
        for label in times:
            extra = {"prompt_lookup_num_tokens": DRAFT, "draft_stats": DraftStats()} if label == "drafted" else {}
            start = time.perf_counter()
            out = model.generate(ids, num_beams=1, **options, **extra)
            seconds = time.perf_counter() - start
            if r:
                times[label].append(seconds)
            if label == "plain":
                plain = out
            else:
                stats = extra["draft_stats"]
                if out.tolist() != plain.tolist():
                    raise SystemExit("drafting changed the tokens: a bug, stopping")
    plain_s, drafted_s = (statistics.median(times[k]) for k in ("plain", "drafted"))
    return {"plain_s": plain_s, "drafted_s": drafted_s, "ratio": drafted_s / plain_s, "runs": stats.runs,
            "tokens": stats.tokens, "accepted": stats.accepted, "drafted": stats.drafted, "tokens_out": plain}


def article_holding_its_summary(model, options: dict, tries: int = 6) -> tuple[np.ndarray, float]:
    """An article (512 ids, or the model's limit) whose greedy summary the article holds (as much as ``tries`` feedings get), and the
    share of the summary's tokens found in the article as 4-grams."""
    rng = np.random.default_rng(1)
    length = min(512, model.max_positions)
    base = rng.integers(3, model.decoder_embedding.vocab, length)
    article, share = base.copy(), 0.0
    for _ in range(tries):
        summary = model.generate(article[None, :], num_beams=1, **options)[0, 1:]
        share = _copied_share(summary, article)
        if share >= 0.9:
            break
        # The summary, in the article's middle: the rest of the article stays as it was.
        article = np.concatenate([base[:length // 3], summary, base[length // 3 + len(summary):]])[:length]
        article[-1] = 1  # ends with </s>, as a tokenized article does
    return article[None, :], share


def _copied_share(summary: np.ndarray, article: np.ndarray, n: int = 4) -> float:
    grams = {tuple(article[i:i + n]) for i in range(len(article) - n + 1)}
    covered = np.zeros(len(summary), bool)
    for i in range(len(summary) - n + 1):
        if tuple(summary[i:i + n]) in grams:
            covered[i:i + n] = True
    return float(covered.mean()) if len(summary) else 0.0


def fixture(rounds: int) -> None:
    from engine import Summarizer
    from engine.export.pipeline import export

    held_out = [json.loads(line) for line in (FIXTURE / "heldout.jsonl").read_text().splitlines()]
    with tempfile.TemporaryDirectory() as root:
        for precision in ("int8", "fp32"):
            export(str(FIXTURE), root, precision=precision)
            summarizer = Summarizer.load(str(FIXTURE), precision=precision, root=root)
            model, tokenizer = summarizer.model, summarizer.tokenizer
            totals = {"plain_s": 0.0, "drafted_s": 0.0, "runs": 0, "tokens": 0, "accepted": 0}
            for example in held_out:
                ids = np.array([tokenizer.encode(example["article"])])
                result = compare(model, ids, {}, rounds)
                for key in totals:
                    totals[key] += result[key]
            print(f"trained fixture {precision}, {len(held_out)} articles: plain {totals['plain_s']:.2f} s, drafted "
                  f"{totals['drafted_s']:.2f} s ({totals['drafted_s'] / totals['plain_s']:.2f}x); "
                  f"{totals['tokens']} tokens in {totals['runs']} runs ({totals['tokens'] / totals['runs']:.2f} "
                  f"per run), {totals['accepted']} drafted tokens accepted; same summaries: yes")


def main() -> None:
    from benchmarks.machine import cpu_model
    from engine import OnnxPegasus
    from engine.runtime import get_onnx_runtime_sessions

    parser = argparse.ArgumentParser(prog="python -m benchmarks.drafting", description=__doc__.split("\n\n")[0])
    parser.add_argument("export_dir", help="a real-shape int8 export folder")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--skip-fixture", action="store_true")
    args = parser.parse_args()
    print(f"{cpu_model()}, {args.threads} threads, {args.export_dir}")
    model = OnnxPegasus(args.export_dir, get_onnx_runtime_sessions(args.export_dir, n_threads=args.threads))

    cost = verification_cost(model, rounds=4 * args.rounds)
    print("verification cost per run, 1 row: " + ", ".join(
        f"{n} positions {cost[n] * 1000:.1f} ms ({cost[n] / cost[1]:.2f}x)" for n in POSITIONS))

    options = {"max_new_tokens": 64, "min_new_tokens": 64, "no_repeat_ngram_size": 1}
    ids = np.random.default_rng(0).integers(3, model.decoder_embedding.vocab, (1, min(512, model.max_positions)))
    ids[0, -1] = 1
    nothing = compare(model, ids, options, args.rounds)
    print(f"nothing to copy (random article, no_repeat_ngram_size=1): plain {nothing['plain_s']:.2f} s, drafted "
          f"{nothing['drafted_s']:.2f} s ({nothing['ratio']:.3f}x); {nothing['runs']} runs for {nothing['tokens']} "
          f"tokens, {nothing['accepted']} of {nothing['drafted']} drafted tokens accepted")

    article, share = article_holding_its_summary(model, options)
    copy = compare(model, article, options, args.rounds)
    print(f"an article holding its summary ({share:.0%} of the summary's tokens in it as 4-grams): plain "
          f"{copy['plain_s']:.2f} s, drafted {copy['drafted_s']:.2f} s ({copy['ratio']:.3f}x); {copy['runs']} runs "
          f"for {copy['tokens']} tokens, {copy['accepted']} of {copy['drafted']} drafted tokens accepted")
    if not args.skip_fixture:
        fixture(rounds=1)


if __name__ == "__main__":
    main()
