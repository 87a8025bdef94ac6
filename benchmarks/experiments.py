"""Small measurements behind the engine's design choices (see benchmarks/NOTES.md).

    python -m benchmarks.experiments kernels                 # one linear layer in each int8 form
    python -m benchmarks.experiments bandwidth               # how fast int8 weights stream from memory
    python -m benchmarks.experiments ct2-backends CT2_DIR    # CTranslate2 with each of its CPU GEMM backends
    python -m benchmarks.experiments profile EXPORT_DIR      # time per operator: encoder, decoder step
    python -m benchmarks.experiments step-parts EXPORT_DIR   # a decoder step with parts taken away
    python -m benchmarks.experiments attention               # our attention operators against MultiHeadAttention
    python -m benchmarks.experiments four-bit-decoder FP32_DIR INT8_DIR  # greedy with a 4-bit decoder
    python -m benchmarks.experiments export-memory CHECKPOINT  # peak RSS of each export stage
    python -m benchmarks.experiments repeat EXPORT_DIR       # the same summary again and again, in one process
    python -m benchmarks.experiments cross-forms             # a step's cross-attention in each form, 1-8 queries
    python -m benchmarks.experiments int8-rows               # each int8 form at 1-16 rows, and whether rows stay independent

Unlike the benchmark, these are not head-to-head timings of whole engines: they explain where
the time and memory of ours go.
"""

from __future__ import annotations

import argparse
import collections
import ctypes
import gc
import json
import tempfile
import threading
import time
from pathlib import Path

import numpy as np


def _linear_chain(weight: np.ndarray, layers: int, distinct: bool = False):
    """A graph of ``layers`` MatMuls by ``weight`` and its transpose, alternately: (m, K) -> (m, K).

    The same weight repeated stays in the CPU's caches when it is small; ``distinct`` gives every
    layer its own random weight of the same shape, so each run reads them all from memory."""
    from onnx import TensorProto, helper, numpy_helper

    inits, nodes, prev = [], [], "x"
    for i in range(layers):
        if distinct:
            weight = (np.random.default_rng(100 + i).standard_normal(weight.shape) * 0.02).astype(np.float32)
        inits.append(numpy_helper.from_array(weight if i % 2 == 0 else weight.T.copy(), f"w{i}"))
        nodes.append(helper.make_node("MatMul", [prev, f"w{i}"], [f"y{i}"], name=f"mm{i}"))
        prev = f"y{i}"
    k = weight.shape[0]
    graph = helper.make_graph(nodes, "chain", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["m", k])],
                              [helper.make_tensor_value_info(prev, TensorProto.FLOAT, None)], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=9)


def kernels(args) -> None:
    """Time one (1024 x 4096) linear layer as fp32, our int8 pattern, and MatMulNBits 8 and 4 bits."""
    import onnxruntime as ort

    from benchmarks.four_bit import nbits
    from engine.export.quantize import quantize_model

    layers = args.layers
    weight = (np.random.default_rng(0).standard_normal((1024, 4096)) * 0.02).astype(np.float32)
    forms = {"fp32": _linear_chain(weight, layers), "int8 (ours)": quantize_model(_linear_chain(weight, layers))}
    for bits in (8, 4):
        forms[f"MatMulNBits {bits}-bit"] = nbits(_linear_chain(weight, layers), bits=bits, block_size=32)
    options = ort.SessionOptions()
    options.intra_op_num_threads, options.log_severity_level = args.threads, 3
    sessions = {name: ort.InferenceSession(m.SerializeToString(), options) for name, m in forms.items()}
    print(f"ms per (M x 1024) @ (1024 x 4096) layer, {args.threads} thread(s), median of interleaved rounds")
    for m in (1, 4, 512):
        x = np.random.default_rng(1).standard_normal((m, 1024)).astype(np.float32)
        reference = sessions["fp32"].run(None, {"x": x})[0]
        times = collections.defaultdict(list)
        for _ in range(args.rounds):
            for name, session in sessions.items():
                session.run(None, {"x": x})
                start = time.perf_counter()
                session.run(None, {"x": x})
                times[name].append((time.perf_counter() - start) / layers * 1000)
        cells = []
        for name, session in sessions.items():
            error = np.abs(session.run(None, {"x": x})[0] - reference).max() / np.abs(reference).max()
            cells.append(f"{name} {np.median(times[name]):.2f} ms (rel. error {error:.3f})")
        print(f"M={m:<4d}", " | ".join(cells))


def bandwidth(args) -> None:
    """How fast a decoder step's int8 weights can stream: a chain of (1024 x 4096) int8 layers, each
    with its own weights (as in the decoder) or all with the same one (cache-fed), and 4-bit
    MatMulNBits on the same distinct weights; then a plain numpy read of 400 MB for scale."""
    import onnxruntime as ort

    from benchmarks.four_bit import nbits
    from engine.export.quantize import quantize_model

    weight = (np.random.default_rng(0).standard_normal((1024, 4096)) * 0.02).astype(np.float32)
    megabytes = args.layers * weight.size / 1e6  # int8: one byte per weight
    forms = {
        "int8, distinct weights": quantize_model(_linear_chain(weight, args.layers, distinct=True)),
        "int8, one weight repeated": quantize_model(_linear_chain(weight, args.layers)),
    }
    forms["MatMulNBits 4-bit (block 128), distinct weights"] = nbits(
        _linear_chain(weight, args.layers, distinct=True), bits=4, block_size=128)
    options = ort.SessionOptions()
    options.intra_op_num_threads, options.log_severity_level = args.threads, 3
    print(f"{args.layers} int8 layers of 1024 x 4096 = {megabytes:.0f} MB of weights, {args.threads} thread(s)")
    # One session at a time: an idle session's threads spin for a while after each run, and would
    # take the cores from the next one's.
    for name, model in forms.items():
        session = ort.InferenceSession(model.SerializeToString(), options)
        for m in (1, 4):
            x = {"x": np.random.default_rng(1).standard_normal((m, 1024)).astype(np.float32)}
            seconds = []
            for _ in range(args.rounds + 1):  # the first run warms up
                start = time.perf_counter()
                session.run(None, x)
                seconds.append(time.perf_counter() - start)
            median = float(np.median(seconds[1:]))
            print(f"M={m}  {name}: {median * 1000:.1f} ms, {megabytes / 1000 / median:.1f} GB/s of int8 weights")
        del session
    data = np.ones(args.scan_mb * 250_000, np.float32)
    seconds = []
    for _ in range(5):
        start = time.perf_counter()
        np.dot(data, data)
        seconds.append(time.perf_counter() - start)
    print(f"numpy reading {args.scan_mb} MB (np.dot): {args.scan_mb / 1000 / float(np.median(seconds)):.1f} GB/s")


def ct2_backends(args) -> None:
    """Time CTranslate2 greedy (512 tokens in, 64 out) with its default backend and with the ones
    its environment variables select, each in a fresh process since it reads them when loading:
    is the benchmark giving it its best setting on this CPU?"""
    import os
    import subprocess
    import sys

    variants = {"default": {}, "CT2_USE_MKL=1": {"CT2_USE_MKL": "1"},
                "CT2_USE_EXPERIMENTAL_PACKED_GEMM=1": {"CT2_USE_EXPERIMENTAL_PACKED_GEMM": "1"}}
    for label, env in variants.items():
        result = subprocess.run(
            [sys.executable, "-m", "benchmarks.experiments", "_ct2-once", args.ct2_dir,
             "--threads", str(args.threads), "--rounds", str(args.rounds)],
            env={**os.environ, **env}, capture_output=True, text=True, check=True,
        )
        print(f"{label}: {result.stdout.strip()}")


def _ct2_once(args) -> None:
    import ctranslate2

    from benchmarks.models import ct2_vocabulary

    translator = ctranslate2.Translator(args.ct2_dir, device="cpu", compute_type="int8",
                                        intra_threads=args.threads, inter_threads=1)
    vocab = ct2_vocabulary(Path(args.ct2_dir))
    source = [[vocab[i] for i in np.random.default_rng(0).integers(200, len(vocab), 511)] + ["</s>"]]
    seconds = []
    for _ in range(args.rounds + 1):  # the first call warms up
        start = time.perf_counter()
        translator.translate_batch(source, beam_size=1, min_decoding_length=64, max_decoding_length=64)
        seconds.append(time.perf_counter() - start)
    print(f"greedy s per call {', '.join(f'{s:.2f}' for s in seconds[1:])} (after a warm-up call)")


def profile(args) -> None:
    """Per-operator time of one encoder pass (512 tokens) and of decoder steps, from onnxruntime's profiler."""
    import onnxruntime as ort

    from engine.model import OnnxPegasus, _CachedDecoder
    from engine.runtime import Sessions, session_options

    folder = Path(args.export_dir)
    with tempfile.TemporaryDirectory() as tmp:
        sessions = {}
        for name in ("encoder", "decoder"):
            options = session_options(args.threads)
            options.enable_profiling, options.profile_file_prefix = True, f"{tmp}/{name}"
            sessions[name] = ort.InferenceSession(str(folder / f"{name}.onnx"), options)
        model = OnnxPegasus(str(folder), Sessions(sessions["encoder"], sessions["decoder"], folder))
        vocab = int(model.config["vocab_size"])
        ids = np.random.default_rng(0).integers(3, vocab, (1, min(512, model.max_positions)))
        mask = np.ones_like(ids)
        start = time.perf_counter()
        cross = model.encode(ids, mask)
        print(f"encoder: {time.perf_counter() - start:.3f} s for {ids.shape[1]} tokens")
        state = _CachedDecoder(sessions["decoder"], model.decoder_embedding, model.layers, cross, mask, rows=args.rows)
        tokens = np.zeros((args.rows, 1), np.int64)
        start = time.perf_counter()
        for _ in range(args.steps):
            tokens = state.step(tokens).argmax(-1)[:, None]
        print(f"decoder: {(time.perf_counter() - start) / args.steps * 1000:.1f} ms per step, {args.rows} row(s)")
        for name, runs in (("encoder", 1), ("decoder", args.steps)):
            per_op = collections.Counter()
            for event in json.loads(Path(sessions[name].end_profiling()).read_text()):
                if event.get("cat") == "Node":
                    per_op[event["args"].get("op_name")] += event["dur"] / 1000 / runs
            top = ", ".join(f"{op} {ms:.2f}" for op, ms in per_op.most_common(8))
            print(f"{name} ms per run by operator: {top}")


def step_parts(args) -> None:
    """Where a decoder step's time goes, by taking parts away (1 row, steps from an empty cache):
    the whole step against 512 and 16 source tokens (the difference is the cross-attention's), the
    step without its lm_head (the decoder's graph ending at its last layer norm), the step whose
    self-attention cache is emptied before every step, and the share spent in ``session.run``.
    Variants alternate, each in its own session, one session at a time (see bandwidth)."""
    import os

    import onnx
    import onnxruntime as ort

    from benchmarks.machine import cpu_model
    from engine.model import OnnxPegasus
    from engine.runtime import Sessions, session_options

    folder = Path(args.export_dir)
    with tempfile.TemporaryDirectory(dir=folder.parent) as tmp:  # beside the export: its weights are linked
        variant = Path(tmp)
        for item in folder.iterdir():
            if item.is_file():
                try:
                    os.link(item, variant / item.name)
                except OSError:
                    (variant / item.name).write_bytes(item.read_bytes())
        _without_lm_head(onnx.load(str(folder / "decoder.onnx"), load_external_data=False), variant / "no_lm_head.onnx")
        encoder = ort.InferenceSession(str(folder / "encoder.onnx"), session_options(args.threads))
        model = OnnxPegasus(str(folder), Sessions(encoder, encoder, folder))
        vocab, rng = model.decoder_embedding.vocab, np.random.default_rng(0)
        long = min(512, model.max_positions)
        inputs = {n: rng.integers(3, vocab, (1, n)) for n in (long, 16)}
        cross = {n: model.encode(ids, np.ones_like(ids)) for n, ids in inputs.items()}
        whole = f"whole step, {long} source tokens"
        cases = {whole: ("decoder.onnx", long, False),
                 "whole step, 16 source tokens": ("decoder.onnx", 16, False),
                 f"without the lm_head, {long} source tokens": ("no_lm_head.onnx", long, False),
                 f"cache emptied before each step, {long} source tokens": ("decoder.onnx", long, True)}
        times: dict[str, list[float]] = {label: [] for label in cases}
        in_run: list[float] = []
        for _ in range(args.rounds):
            for label, (graph, src, empty) in cases.items():
                session = ort.InferenceSession(str(variant / graph), session_options(args.threads))
                step, run = _time_steps(session, model, cross[src], np.ones((1, src), np.int64), args.steps, empty)
                times[label].append(step)
                if label == whole:
                    in_run.append(run)
                del session
                time.sleep(args.pause)
        print(f"{cpu_model()}, {args.threads} thread(s), ms per decoder step (1 row, {args.steps} steps from an empty "
              f"cache), median of {args.rounds} rounds")
        for label, values in times.items():
            print(f"{label}: {np.median(values) * 1000:.2f}")
        print(f"of the whole step, inside session.run: {np.median(in_run) * 1000:.2f}")


def _time_steps(session, model, cross, mask, steps: int, empty_cache: bool) -> tuple[float, float]:
    """Seconds per step, and per step inside ``session.run``, of ``steps`` greedy steps."""
    from engine.model import _CachedDecoder

    class Timed:  # the session, counting the time spent in run
        def __init__(self):
            self.seconds = 0.0

        def run(self, *a, **k):
            start = time.perf_counter()
            try:
                return session.run(*a, **k)
            finally:
                self.seconds += time.perf_counter() - start

    timed = Timed()
    state = _CachedDecoder(timed, model.decoder_embedding, model.layers, cross, mask, rows=1)
    empty = dict(state.feeds)
    state.step(np.zeros((1, 1), np.int64))  # warm-up
    tokens, timed.seconds = np.zeros((1, 1), np.int64), 0.0
    start = time.perf_counter()
    for _ in range(steps):
        if empty_cache:
            state.feeds, state.slots, state.length = dict(empty), 0, 0
        logits = state.step(tokens)
        tokens = np.zeros((1, 1), np.int64) if logits.shape[-1] != model.decoder_embedding.vocab \
            else logits.argmax(-1)[:, None]
    return (time.perf_counter() - start) / steps, timed.seconds / steps


def _without_lm_head(decoder, path: Path) -> None:
    """The decoder graph whose ``logits`` output is its last layer norm's output: no lm_head."""
    import onnx

    nodes = list(decoder.graph.node)
    last_norm = max(i for i, n in enumerate(nodes) if n.op_type == "LayerNormalization")
    del decoder.graph.node[last_norm + 1:]  # the lm_head and the logits' reshape; the cache is written before
    decoder.graph.node.append(onnx.helper.make_node("Identity", [nodes[last_norm].output[0]], ["logits"]))
    decoder.graph.output[0].CopyFrom(onnx.helper.make_tensor_value_info("logits", onnx.TensorProto.FLOAT, None))
    onnx.save(decoder, str(path))


def _rss_gb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS"):
            return int(line.split()[1]) / 1e6
    return 0.0


def export_memory(args) -> None:
    """Peak resident memory of each stage of an int8 export (Linux: reads /proc)."""
    from engine.export.pipeline import export

    stage, peaks, done = ["start"], {}, threading.Event()

    def sample() -> None:
        while not done.is_set():
            peaks[stage[0]] = max(peaks.get(stage[0], 0.0), _rss_gb())
            done.wait(0.05)

    def on_progress(progress) -> None:
        gc.collect()
        ctypes.CDLL("libc.so.6").malloc_trim(0)  # so each stage starts from what is really held
        stage[0] = f"{progress.stage} {progress.detail}".strip()

    threading.Thread(target=sample, daemon=True).start()
    with tempfile.TemporaryDirectory() as root:
        start = time.perf_counter()
        export(args.checkpoint, root, precision="int8", on_progress=on_progress)
        print(f"int8 export took {time.perf_counter() - start:.0f} s")
    time.sleep(0.2)
    done.set()
    for name, gb in peaks.items():
        print(f"{name:30s} peak RSS {gb:.2f} GB")


def repeat(args) -> None:
    """Time one generate() call after another in one process: does a long-lived engine slow down?"""
    from engine.model import OnnxPegasus
    from engine.runtime import get_onnx_runtime_sessions

    model = OnnxPegasus(args.export_dir, get_onnx_runtime_sessions(args.export_dir, n_threads=args.threads))
    vocab = int(model.config["vocab_size"])
    ids = np.random.default_rng(0).integers(3, vocab, (1, min(512, model.max_positions)))
    seconds = []
    for _ in range(args.calls):
        start = time.perf_counter()
        model.generate(ids, num_beams=args.beams, min_length=65, max_length=65)  # 64 new tokens
        seconds.append(time.perf_counter() - start)
    print(f"{args.beams} beam(s), {args.threads} threads, s per call in order: "
          + ", ".join(f"{s:.2f}" for s in seconds))


def attention(args) -> None:
    """Time attention alone, 16 layers of the cnn shape, as our graphs write it and as onnxruntime's
    fused ``MultiHeadAttention``: the encoder's, and a decoder step's cross- and self-attention."""
    import onnxruntime as ort

    from benchmarks import attention_forms as forms

    options = ort.SessionOptions()
    options.intra_op_num_threads, options.log_severity_level = args.threads, 3
    cases = [("encoder", 1, 0, forms.encoder)]
    for rows in (1, 4):  # greedy; one input's 4 beams
        cases += [("cross", rows, 0, forms.cross),
                  ("self", rows, args.past, lambda fused, rows=rows: forms.self_attention(fused, rows))]
    print(f"ms for 16 layers of attention alone, {args.threads} thread(s), median of {args.rounds} runs")
    for kind, rows, past, build in cases:
        results, cells = {}, []
        for fused in (False, True):  # one session at a time (see bandwidth)
            session = ort.InferenceSession(build(fused).SerializeToString(), options)
            inputs = forms.feeds(kind, fused, rows, past)
            results[fused] = session.run(None, inputs)  # also the warm-up
            seconds = []
            for _ in range(args.rounds):
                start = time.perf_counter()
                session.run(None, inputs)
                seconds.append(time.perf_counter() - start)
            cells.append(f"{'MultiHeadAttention' if fused else 'ours'} {np.median(seconds) * 1000:.1f}")
            del session
        difference = max(float(np.abs(a - b).max()) for a, b in zip(results[False], results[True]))
        shape = f"{kind} rows={rows}" + (f" past={past}" if kind == "self" else "")
        print(f"{shape:24s} {' | '.join(cells)}  (largest difference {difference:.1e})")


def cross_forms(args) -> None:
    """A decoder step's cross-attention alone (16 layers of the cnn shape, 512 source tokens) in each
    form the decoder has had (``attention_forms.CROSS_FORMS``), at 1, 4 and 8 queries per input,
    rounds alternated across forms; the K/V cycle through several sets so they come from memory.
    Also whether each form gives every query the bits that query gets alone, and its largest error
    against the decoder's fp32 form (relative to that output's largest magnitude)."""
    import onnxruntime as ort

    from benchmarks import attention_forms as forms
    from benchmarks.machine import cpu_model
    from engine.runtime import session_options

    sessions = {form: ort.InferenceSession(forms.cross_form(form).SerializeToString(),
                                           session_options(args.threads)) for form in forms.CROSS_FORMS}
    print(f"{cpu_model()}, {args.threads} thread(s), ms for 16 layers of cross-attention, median of "
          f"{args.rounds} rounds")
    for queries in args.queries:
        floats = forms.cross_form_feeds(queries, args.sets)
        sets = {form: [forms.cross_form_inputs(form, feeds) for feeds in floats] for form in forms.CROSS_FORMS}
        times: dict[str, list[float]] = {form: [] for form in forms.CROSS_FORMS}
        for _ in range(args.rounds):
            for form, session in sessions.items():  # one session at a time (see bandwidth)
                for feeds in sets[form]:  # warm: every set once
                    session.run(None, feeds)
                start = time.perf_counter()
                for feeds in sets[form]:
                    session.run(None, feeds)
                times[form].append((time.perf_counter() - start) / len(sets[form]))
                time.sleep(args.pause)
        exact = sessions["queries-as-m"].run(None, floats[0])  # the decoder's form, in fp32
        cells = []
        for form, t in times.items():
            outputs = sessions[form].run(None, sets[form][0])
            error = max(float(np.abs(o - e).max() / np.abs(e).max()) for o, e in zip(outputs, exact))
            alone = "" if _each_query_alone(sessions[form], sets[form][0]) else " (a query differs alone)"
            cells.append(f"{form} {np.median(t) * 1000:.2f}, error {error:.1e}{alone}")
        print(f"{queries} queries: " + " | ".join(cells))


def _each_query_alone(session, feeds: dict) -> bool:
    """Does every query of ``feeds`` get, run alone, the bits it gets among the others?"""
    together = session.run(None, feeds)
    for i in range(feeds["q"].shape[2]):
        alone = session.run(None, feeds | {"q": np.ascontiguousarray(feeds["q"][:, :, i:i + 1])})
        if any(not np.array_equal(a[:, :, 0], t[:, :, i]) for a, t in zip(alone, together)):
            return False
    return True


def four_bit_decoder(args) -> None:
    """512 tokens in and 64 steps out: the int8 export's encoder with its own int8 decoder, and
    with the fp32 export's decoder in 4 bits. ``--rows 4`` runs the steps of one input's 4 beams
    (argmax per row: the weights' traffic of beam search without its bookkeeping). Then the trained
    fixture: does a 4-bit decoder answer its 200 held-out articles as fp32 does?"""
    import onnxruntime as ort

    from benchmarks.four_bit import four_bit_decoder as build
    from engine.model import OnnxPegasus, _CachedDecoder
    from engine.runtime import Sessions, session_options

    fp32_dir, int8_dir = Path(args.fp32_dir), Path(args.int8_dir)
    four_bit = build(fp32_dir, args.block).SerializeToString()
    config = json.loads((int8_dir / "config.json").read_text())
    source = min(512, config["max_position_embeddings"])  # 512 for the real checkpoints
    ids = np.random.default_rng(0).integers(3, config["vocab_size"], (1, source))
    mask = np.ones_like(ids)
    print(f"{args.rows} row(s), {source} tokens in, 64 steps, {args.threads} threads (int8 encoder in both)")
    for label in ("int8 decoder", f"4-bit decoder (block {args.block})") * 2:  # alternated
        decoder = ort.InferenceSession(four_bit if "4-bit" in label else str(int8_dir / "decoder.onnx"),
                                       session_options(args.threads))
        encoder = ort.InferenceSession(str(int8_dir / "encoder.onnx"), session_options(args.threads))
        model = OnnxPegasus(str(int8_dir), Sessions(encoder, decoder, int8_dir))
        for _ in range(args.rounds):
            start = time.perf_counter()
            cross = model.encode(ids, mask)
            encoded = time.perf_counter()
            state = _CachedDecoder(decoder, model.decoder_embedding, model.layers, cross, mask, rows=args.rows)
            token = np.zeros((args.rows, 1), np.int64)
            for _ in range(64):
                token = state.step(token).argmax(-1)[:, None]
            end = time.perf_counter()
            print(f"{label}: {end - start:.2f} s (encoder {encoded - start:.2f} s, "
                  f"{(end - encoded) / 64 * 1000:.1f} ms per step)")
        del model, encoder, decoder
    if not args.skip_fixture:
        _four_bit_on_the_fixture(args.block)


def _four_bit_on_the_fixture(block: int) -> None:
    import onnxruntime as ort

    from benchmarks.four_bit import four_bit_decoder as build
    from engine import OnnxPegasus, Summarizer
    from engine.export.pipeline import export
    from engine.runtime import Sessions, get_onnx_runtime_sessions, session_options

    fixture = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "tiny-pegasus"
    held_out = [json.loads(line) for line in (fixture / "heldout.jsonl").read_text().splitlines()]
    with tempfile.TemporaryDirectory() as root:
        folders = {p: export(str(fixture), root, precision=p).folder for p in ("fp32", "int8")}
        int8 = get_onnx_runtime_sessions(folders["int8"])
        decoder = ort.InferenceSession(build(folders["fp32"], block).SerializeToString(), session_options())
        with_four_bit = Sessions(int8.encoder, decoder, folders["int8"])
        summarizers = {
            "fp32": Summarizer(OnnxPegasus(str(folders["fp32"]))),
            "int8": Summarizer(OnnxPegasus(str(folders["int8"]), int8)),
            "int8 encoder, 4-bit decoder": Summarizer(OnnxPegasus(str(folders["int8"]), with_four_bit)),
        }
        answers = {name: [s.summarize(e["article"]).text for e in held_out] for name, s in summarizers.items()}
    for name, texts in answers.items():
        same = sum(a == b for a, b in zip(texts, answers["fp32"]))
        right = sum(a == e["summary"] for a, e in zip(texts, held_out))
        print(f"trained fixture, {name}: same as fp32 on {same}/{len(held_out)}, right on {right}")


def int8_rows(args) -> None:
    """The cnn_dailymail decoder's linear layers and lm_head (``benchmarks/int8_forms.py``) in each
    int8 form, timed at 1, 4, 8 and 16 rows, rounds alternated across forms; and for each form,
    whether every row of a 16-row run equals that row run alone, bit for bit."""
    import onnx
    import onnxruntime as ort

    from benchmarks.int8_forms import D_MODEL, FORMS, in_form, linear_layers
    from benchmarks.machine import cpu_model
    from engine.runtime import session_options

    fp32 = linear_layers(args.layers)
    sessions = {}
    for form in FORMS:
        model = onnx.ModelProto()
        model.CopyFrom(fp32)
        sessions[form] = ort.InferenceSession(in_form(model, form).SerializeToString(),
                                              session_options(args.threads))
    del fp32
    gc.collect()
    rng = np.random.default_rng(0)
    # Hidden states of different documents differ in scale; that is what a shared scale mixes up.
    x = (rng.standard_normal((16, D_MODEL)) * rng.choice([0.3, 1.0, 3.0], (16, 1))).astype(np.float32)
    print(f"{cpu_model()}, {args.threads} threads, {args.layers} decoder layers + lm_head, "
          f"median of {args.rounds} rounds (ms per run)")
    print(f"{'form':<14}" + "".join(f"{f'{m} rows':>16}" for m in args.rows) + "  rows independent")
    times = {form: {m: [] for m in args.rows} for form in FORMS}
    for m in args.rows:
        for form in FORMS:
            sessions[form].run(None, {"x": x[:m]})  # warm-up
        for _ in range(args.rounds):
            for form in FORMS:
                start = time.perf_counter()
                sessions[form].run(None, {"x": x[:m]})
                times[form][m].append(time.perf_counter() - start)
    base = {m: np.median(times["tensor"][m]) for m in args.rows}
    for form, session in sessions.items():
        batch = session.run(None, {"x": x})[0]
        independent = all(np.array_equal(batch[r], session.run(None, {"x": x[r : r + 1]})[0][0]) for r in range(16))
        cells = "".join(f"{np.median(times[form][m]) * 1000:>7.1f}{f' ({np.median(times[form][m]) / base[m]:.2f}x)':<9}"
                        for m in args.rows)
        print(f"{form:<14}{cells}  {'yes' if independent else 'no'}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.experiments", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    k = commands.add_parser("kernels")
    k.add_argument("--threads", type=int, default=1)
    k.add_argument("--rounds", type=int, default=9)
    k.add_argument("--layers", type=int, default=8, help="layers chained per run")
    k.set_defaults(run=kernels)
    b = commands.add_parser("bandwidth")
    b.add_argument("--threads", type=int, default=2)
    b.add_argument("--layers", type=int, default=80)
    b.add_argument("--rounds", type=int, default=9)
    b.add_argument("--scan-mb", type=int, default=400, help="the plain numpy read, for scale")
    b.set_defaults(run=bandwidth)
    # _ct2-once times one backend, in each child process that ct2-backends starts.
    for name, run in (("ct2-backends", ct2_backends), ("_ct2-once", _ct2_once)):
        c = commands.add_parser(name)
        c.add_argument("ct2_dir")
        c.add_argument("--threads", type=int, default=2)
        c.add_argument("--rounds", type=int, default=3)
        c.set_defaults(run=run)
    p = commands.add_parser("profile")
    p.add_argument("export_dir")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--rows", type=int, default=1)
    p.add_argument("--steps", type=int, default=16)
    p.set_defaults(run=profile)
    sp = commands.add_parser("step-parts")
    sp.add_argument("export_dir")
    sp.add_argument("--threads", type=int, default=2)
    sp.add_argument("--steps", type=int, default=48)
    sp.add_argument("--rounds", type=int, default=3)
    sp.add_argument("--pause", type=float, default=0.3)
    sp.set_defaults(run=step_parts)
    e = commands.add_parser("export-memory")
    e.add_argument("checkpoint")
    e.set_defaults(run=export_memory)
    r = commands.add_parser("repeat")
    r.add_argument("export_dir")
    r.add_argument("--beams", type=int, default=4)
    r.add_argument("--calls", type=int, default=7)
    r.add_argument("--threads", type=int, default=2)
    r.set_defaults(run=repeat)
    a = commands.add_parser("attention")
    a.add_argument("--threads", type=int, default=2)
    a.add_argument("--rounds", type=int, default=15)
    a.add_argument("--past", type=int, default=32, help="cached positions in the self-attention case")
    a.set_defaults(run=attention)
    f = commands.add_parser("four-bit-decoder")
    f.add_argument("fp32_dir")
    f.add_argument("int8_dir")
    f.add_argument("--block", type=int, default=128)
    f.add_argument("--rows", type=int, default=1)
    f.add_argument("--skip-fixture", action="store_true")
    f.add_argument("--threads", type=int, default=2)
    f.add_argument("--rounds", type=int, default=3)
    f.set_defaults(run=four_bit_decoder)
    c = commands.add_parser("cross-forms")
    c.add_argument("--queries", type=int, nargs="+", default=[1, 4, 8])
    c.add_argument("--threads", type=int, default=2)
    c.add_argument("--rounds", type=int, default=5)
    c.add_argument("--sets", type=int, default=8, help="K/V sets cycled through (64 MB each at the cnn shape)")
    c.add_argument("--pause", type=float, default=0.3)
    c.set_defaults(run=cross_forms)

    i = commands.add_parser("int8-rows")
    i.add_argument("--layers", type=int, default=16)
    i.add_argument("--rows", type=int, nargs="+", default=[1, 4, 8, 16])
    i.add_argument("--threads", type=int, default=2)
    i.add_argument("--rounds", type=int, default=15)
    i.set_defaults(run=int8_rows)
    args = parser.parse_args(argv)
    args.run(args)


if __name__ == "__main__":
    main()
