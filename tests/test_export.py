"""The export folder: what it holds, that each weight is stored once, and that it is safe to load."""

from __future__ import annotations

import hashlib
import json
import shutil

import numpy as np
import onnx
import pytest

from engine import EngineError, get_onnx_model
from engine.export.weights import tensor_array
from engine.graph_names import (
    cross_names,
    decoder_input_names,
    decoder_output_names,
    encoder_input_names,
)
from engine.model_dir import MANIFEST_FORMAT, export_dir, model_slug, verify


def _folder(root, checkpoint, precision):
    return export_dir(str(checkpoint), precision, root)


@pytest.mark.parametrize("precision", ["fp32", "int8"])
def test_export_folder_is_self_contained_with_manifest(tiny_exports, tiny_checkpoint, precision):
    folder = _folder(tiny_exports, tiny_checkpoint, precision)
    names = {p.name for p in folder.iterdir()}
    assert {"encoder.onnx", "decoder.onnx", "weights.bin", "tokenizer.json", "config.json",
            "generation_config.json", "manifest.json"} <= names
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["precision"] == precision
    assert manifest["source"]["model_id"] == str(tiny_checkpoint)
    assert {"numpy", "onnx", "onnxruntime", "tokenizers"} <= set(manifest["packages"])
    assert not {"torch", "transformers"} & set(manifest["packages"])  # the export used neither
    for name, entry in manifest["files"].items():
        data = (folder / name).read_bytes()
        assert entry == {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    assert set(manifest["files"]) == names - {"manifest.json", ".verified.json"}
    assert not [p for p in folder.parent.iterdir() if p.name.startswith(".")], "staging left behind"


def test_graph_inputs_and_outputs_are_named(tiny_exports, tiny_checkpoint):
    folder = _folder(tiny_exports, tiny_checkpoint, "fp32")
    layers = json.loads((folder / "config.json").read_text())["decoder_layers"]
    encoder = onnx.load(folder / "encoder.onnx", load_external_data=False).graph
    decoder = onnx.load(folder / "decoder.onnx", load_external_data=False).graph
    assert [i.name for i in encoder.input] == encoder_input_names()
    assert [o.name for o in encoder.output] == cross_names(layers)
    assert [i.name for i in decoder.input] == decoder_input_names(layers)
    # The decoder reads the cross K/V but never hands them back.
    assert [o.name for o in decoder.output] == decoder_output_names(layers)


def _stored_tensors(folder):
    """(graph, tensor name, offset, length, values) of every tensor kept in weights.bin."""
    out = []
    for graph in ("encoder", "decoder"):
        model = onnx.load(folder / f"{graph}.onnx", load_external_data=False)
        for t in model.graph.initializer:
            if t.data_location == onnx.TensorProto.EXTERNAL:
                info = {e.key: e.value for e in t.external_data}
                out.append((graph, t.name, int(info["offset"]), int(info["length"]), tensor_array(t, folder)))
    return out


@pytest.mark.parametrize("precision", ["fp32", "int8"])
def test_no_weight_is_stored_twice(tiny_exports, tiny_checkpoint, precision):
    folder = _folder(tiny_exports, tiny_checkpoint, precision)
    stored = _stored_tensors(folder)
    regions = {(offset, length) for _, _, offset, length, _ in stored}
    contents = [hashlib.sha256(values.tobytes()).digest() for *_, values in stored]
    by_region = {(o, n): hashlib.sha256(v.tobytes()).digest() for _, _, o, n, v in stored}
    assert len(set(by_region.values())) == len(regions), "the same bytes are written at two offsets"
    # The embedding is shared by both graphs: one region serves both.
    shared = {(o, n) for g, _, o, n, _ in stored if g == "encoder"} & {(o, n) for g, _, o, n, _ in stored if g == "decoder"}
    assert shared, "encoder and decoder share no stored weight"
    # Nothing is stored transposed a second time either (the lm_head is the embedding).
    matrices = [v for *_, v in stored if v.ndim == 2]
    keys = {hashlib.sha256(np.ascontiguousarray(v).tobytes()).digest() for v in matrices}
    for v in matrices:
        assert hashlib.sha256(np.ascontiguousarray(v.T).tobytes()).digest() not in keys or v.shape[0] == v.shape[1]
    size = (folder / "weights.bin").stat().st_size
    assert size <= sum(n for _, n in regions) + 4096 * len(regions)
    assert len(contents) >= len(regions)


@pytest.mark.parametrize("precision", ["fp32", "int8"])
def test_token_embedding_is_read_from_the_lm_heads_bytes(tiny_exports, tiny_checkpoint, precision):
    """No graph looks tokens up (onnxruntime would keep the table's pages mapped): the runtime reads
    the rows it needs from the bytes the lm_head multiplies by, stored once."""
    folder = _folder(tiny_exports, tiny_checkpoint, precision)
    vocab = json.loads((folder / "config.json").read_text())["vocab_size"]
    records = json.loads((folder / "embedding.json").read_text())
    assert records["encoder"] == records["decoder"], "a shared table is stored and described once"
    record = records["decoder"]
    assert record["rows"]["shape"][0] == vocab
    for graph in ("encoder", "decoder"):
        model = onnx.load(folder / f"{graph}.onnx", load_external_data=False).graph
        weights = {t.name for t in model.initializer}
        # The decoder gathers each row's positions from the (max_positions, d_model) table: rows
        # advance independently when drafts are verified. Only token tables must stay outside.
        lookups = [n.name for n in model.node if n.op_type == "Gather" and n.input[0] in weights - {"positions"}]
        assert not lookups, f"{graph} looks tokens up itself"
    decoder = onnx.load(folder / "decoder.onnx", load_external_data=False).graph
    offsets = {t.name: int(next(e.value for e in t.external_data if e.key == "offset"))
               for t in decoder.initializer if t.data_location == onnx.TensorProto.EXTERNAL}
    lm_head = next(n.input[0] if n.op_type == "Transpose" else n.input[1] for n in decoder.node
                   if n.op_type in ("Gemm", "Transpose") and (n.input[0] if n.op_type == "Transpose" else n.input[1])
                   in offsets)
    assert offsets[lm_head] == record["rows"]["offset"]


@pytest.mark.parametrize("precision", ["fp32", "int8"])
def test_token_embedding_matches_the_checkpoint(tiny_exports, tiny_checkpoint, precision):
    import torch
    from transformers import PegasusForConditionalGeneration

    from engine.embedding import TokenEmbedding

    model = PegasusForConditionalGeneration.from_pretrained(tiny_checkpoint)
    ids = np.array([[5, 3, 5, 0], [1, 2, 7, 7]])
    expected = (model.model.encoder.embed_tokens(torch.from_numpy(ids)) * model.model.encoder.embed_scale).detach().numpy()
    embedding = TokenEmbedding(_folder(tiny_exports, tiny_checkpoint, precision), "encoder")
    got = embedding(ids)
    assert got.shape == expected.shape and got.dtype == np.float32
    if precision == "fp32":
        assert np.array_equal(got, expected)
    else:  # 7-bit rows: within half a step of each row's scale
        step = np.abs(expected).max(axis=-1, keepdims=True) / 63
        assert np.all(np.abs(got - expected) <= step / 2 + 1e-6)
    with pytest.raises(ValueError, match="token ids"):
        embedding(np.array([embedding.vocab]))


def test_a_model_dropped_without_close_leaves_no_open_file(tiny_exports, tiny_checkpoint):
    """fast-Pegasus code never closes its models: dropping one closes its weights.bin quietly."""
    import gc
    import warnings

    from engine import OnnxPegasus

    model = OnnxPegasus(_folder(tiny_exports, tiny_checkpoint, "fp32"))
    model.generate(np.array([[5, 3, 1]]), max_new_tokens=2, num_beams=1)
    file = model.decoder_embedding._file
    with warnings.catch_warnings():
        warnings.simplefilter("error", ResourceWarning)  # an unclosed file would warn as it is collected
        del model
        gc.collect()
    assert file.closed


def test_int8_keeps_no_float_copy_of_the_embedding(tiny_exports, tiny_checkpoint):
    folder = _folder(tiny_exports, tiny_checkpoint, "int8")
    vocab = json.loads((folder / "config.json").read_text())["vocab_size"]
    big_float = [name for _, name, _, _, v in _stored_tensors(folder) if v.dtype == np.float32 and vocab in v.shape]
    assert big_float == []


def test_folder_names_never_collide_or_escape():
    assert model_slug("google/pegasus-xsum") == "google--pegasus-xsum"
    assert model_slug("google/x") != model_slug("acme/x")
    assert model_slug("google/x") != model_slug("google--x")
    for hostile in ("../../x", "..", "a/../../b", "/etc/passwd", "x\\..\\..\\y"):
        slug = model_slug(hostile)
        assert "/" not in slug and "\\" not in slug and not slug.startswith(".")


def _copy_export(tiny_exports, tiny_checkpoint, tmp_path):
    root = tmp_path / "models"
    source = _folder(tiny_exports, tiny_checkpoint, "int8")
    target = _folder(root, tiny_checkpoint, "int8")
    shutil.copytree(source, target)
    (target / ".verified.json").unlink(missing_ok=True)
    return root, target


def _damage_truncate(folder):
    path = folder / "weights.bin"
    path.write_bytes(path.read_bytes()[:-100])


def _damage_flip_byte(folder):
    path = folder / "weights.bin"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def _damage_missing_tokenizer(folder):
    (folder / "tokenizer.json").unlink()


def _set_format(folder, value):
    manifest = json.loads((folder / "manifest.json").read_text())
    if value is None:
        del manifest["format"]
    else:
        manifest["format"] = value
    (folder / "manifest.json").write_text(json.dumps(manifest))


def _damage_older_version(folder):
    _set_format(folder, MANIFEST_FORMAT - 1)


def _damage_newer_version(folder):
    _set_format(folder, 999)


def _damage_no_format(folder):
    _set_format(folder, None)


def _damage_no_manifest(folder):
    (folder / "manifest.json").unlink()


@pytest.mark.parametrize(
    "damage", [_damage_truncate, _damage_flip_byte, _damage_missing_tokenizer, _damage_older_version,
               _damage_newer_version, _damage_no_format, _damage_no_manifest]
)
def test_damaged_export_gives_a_clear_error_offering_reexport(tiny_exports, tiny_checkpoint, tmp_path, damage):
    root, folder = _copy_export(tiny_exports, tiny_checkpoint, tmp_path)
    get_onnx_model(str(tiny_checkpoint), root)  # loads while intact
    damage(folder)
    with pytest.raises(EngineError, match="[Rr]e-export"):
        get_onnx_model(str(tiny_checkpoint), root)


@pytest.mark.parametrize(
    ("found", "made_by", "advice"),
    [(MANIFEST_FORMAT - 1, "an older version", "it must be re-exported"),
     (999, "a newer version", "Update Pegasus Desktop to use it")],
)
def test_an_export_of_another_format_says_which_version_made_it(
    tiny_exports, tiny_checkpoint, tmp_path, found, made_by, advice
):
    root, folder = _copy_export(tiny_exports, tiny_checkpoint, tmp_path)
    _set_format(folder, found)
    with pytest.raises(EngineError) as error:
        get_onnx_model(str(tiny_checkpoint), root)
    message = str(error.value)
    assert (f"made by {made_by} of Pegasus Desktop (manifest format {found}; this version reads "
            f"format {MANIFEST_FORMAT})") in message
    assert advice in message and "Re-export the model" in message


def test_alteration_is_caught_even_after_a_cached_check(tiny_exports, tiny_checkpoint, tmp_path):
    _, folder = _copy_export(tiny_exports, tiny_checkpoint, tmp_path)
    verify(folder)
    assert (folder / ".verified.json").is_file()
    _damage_flip_byte(folder)
    with pytest.raises(EngineError, match="altered or damaged"):
        verify(folder)


def test_missing_export_says_how_to_export(tmp_path):
    # The command, not just the word "export" (which "No exported model" alone would match).
    with pytest.raises(EngineError, match=r"No exported model at .*google--pegasus-xsum.*pegasus-summarize export"):
        get_onnx_model("google/pegasus-xsum", tmp_path)


def test_failed_export_leaves_nothing_and_keeps_the_previous_one(tiny_checkpoint, tmp_path, monkeypatch):
    from engine.export import pipeline

    root = tmp_path / "models"
    good = pipeline.export(str(tiny_checkpoint), root, precision="fp32")
    before = (good.folder / "manifest.json").read_bytes()

    def broken_smoke_test(folder):
        raise EngineError("simulated failure after writing every file")

    monkeypatch.setattr(pipeline, "smoke_test", broken_smoke_test)
    for precision in ("fp32", "int8"):
        with pytest.raises(EngineError, match="simulated"):
            pipeline.export(str(tiny_checkpoint), root, precision=precision)
    model_folder = good.folder.parent
    assert sorted(p.name for p in model_folder.iterdir()) == ["fp32"]
    assert (good.folder / "manifest.json").read_bytes() == before
    get_onnx_model(str(tiny_checkpoint), root, quantized=False)


def test_progress_reports_every_stage(tiny_checkpoint, tmp_path):
    from engine.export.pipeline import export

    seen = []
    export(str(tiny_checkpoint), tmp_path, precision="int8", on_progress=seen.append)
    stages = [p.stage for p in seen]
    assert [s for i, s in enumerate(stages) if i == 0 or stages[i - 1] != s] == ["load", "export", "quantize", "verify"]
    assert seen[-1].fraction == 1.0


def test_step_by_step_pipeline_matches_fast_pegasus_names(tiny_checkpoint, tmp_path):
    from engine import (
        OnnxPegasus,
        generate_onnx_representation,
        get_onnx_runtime_sessions,
        quantize,
    )

    paths = generate_onnx_representation(str(tiny_checkpoint), tmp_path)
    assert paths.encoder.name == "encoder.onnx" and paths.folder.name == "fp32"
    quant_paths = quantize(paths)
    assert quant_paths.folder == paths.folder.with_name("int8")
    model = OnnxPegasus(str(tiny_checkpoint), get_onnx_runtime_sessions(quant_paths))
    out = model.generate(np.array([[5, 6, 7, 1]]), max_length=8)
    assert out.dtype == np.int64 and out[0, 0] == 0


def test_checkpoint_with_only_spiece_model_gets_tokenizer_json(tmp_path):
    import sentencepiece as spm
    from builders import random_model

    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(f"the cat number {i} sat on the mat near the door" for i in range(200)))
    spm.SentencePieceTrainer.train(
        input=str(corpus), model_prefix=str(tmp_path / "spiece"), vocab_size=40, model_type="unigram",
        pad_id=0, eos_id=1, unk_id=2, bos_id=-1, minloglevel=2,
    )
    checkpoint = tmp_path / "ckpt"
    random_model(vocab_size=160).save_pretrained(checkpoint)  # Pegasus reserves 103 ids before the pieces
    shutil.copy(tmp_path / "spiece.model", checkpoint / "spiece.model")
    assert not (checkpoint / "tokenizer.json").exists()

    from engine import Summarizer
    from engine.export.pipeline import export

    paths = export(str(checkpoint), tmp_path / "models", precision="fp32")
    assert (paths.folder / "tokenizer.json").is_file()
    ours = Summarizer.load(str(checkpoint), precision="fp32", root=tmp_path / "models").tokenizer
    text = "the cat sat on the mat"
    from transformers import AutoTokenizer

    reference = AutoTokenizer.from_pretrained(checkpoint)
    assert ours.encode(text) == reference(text)["input_ids"]
    assert ours.decode(ours.encode(text)) == reference.decode(reference(text)["input_ids"], skip_special_tokens=True)
