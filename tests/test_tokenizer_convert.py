"""spiece.model -> tokenizer.json without transformers (engine/export/tokenizer_convert.py) gives
the file transformers' PegasusTokenizer writes, and the same ids and text on thousands of strings.

The sentencepiece models are trained here, offline, as tools/train_fixture.py trains the fixture's
(Pegasus's pad 0, eos 1, unk 2): one with sentencepiece's default NFKC rules, as Pegasus's own
spiece.model has, and one with none ("identity"), which takes the converter's other branch.
"""

from __future__ import annotations

import io
import json
import random
import string
import subprocess
from pathlib import Path

import children
import pytest

from engine.errors import EngineError
from engine.export.tokenizer_convert import (
    pegasus_tokenizer,
    read_sentencepiece,
    write_tokenizer_json,
)

REPO = Path(__file__).resolve().parents[1]
WORDS = (
    "the a of to in and summary article news report said year people government city police "
    "minister market company school water energy million percent Monday Friday January London "
    "Paris Zürich café naïve São Paulo façade résumé Ångström straße über élève año niño"
).split()

# Pieces of text the generated strings are made of: each kind the issue names, and a few more.
ACCENTED = ["café", "naïve", "Zürich", "São Paulo", "Ångström", "Dvořák", "İstanbul", "straße",
            "e\u0301", "A\u030a", "Œuvre", "crème brûlée", "ÉCOLE", "ñandú"]
DIGITS = ["0", "7", "42", "2026", "3.14159", "1,000,000", "-12", "2026-12-01", "+44 20 7946 0958",
          "1st", "24/7", "10%", "$5.99", "٣٤", "१२३"]
WHITESPACE = [" ", "  ", "   ", "\t", "\n", "\n\n", "\r\n", " \n ", "\u00a0", "\u3000", "\u2009",
              "\u2028", "\t \t", "      "]
UNKNOWN = ["漢字", "東京", "Привет", "αβγ", "مرحبا", "שלום", "नमस्ते", "สวัสดี", "∑∫√", "→", "™",
           "©", "§", "¿", "ǅ", "ᚠᛇᚻ", "\U0001d54f", "⅓", "²", "ﬁ", "ＡＢＣ１２３", "㍻"]
EMOJI = ["😀", "👍🏽", "👨\u200d👩\u200d👧", "🇫🇷", "❤️", "🤖", "🏳️\u200d🌈", "☕"]
SPECIAL = ["<pad>", "</s>", "<mask_1>", "<mask_2>", "<unk>", "<unk_2>", "<unk_57>", "<unk_102>",
           "<unk_103>", "< mask_1>", "<s>", "<n>"]
CONTROL = ["\u200b", "\u200d", "\ufeff", "\x00", "\x07", "\x1b", "\u00ad", "\u202e"]
PUNCTUATION = [".", ",", "!", "?", "...", "--", "—", "“quoted”", "'s", "n't", "(a)", "[b]", "\"",
               "'", "-", "/", "@", "#", "&amp;", "::"]
KINDS = [WORDS, WORDS, WORDS, ACCENTED, DIGITS, UNKNOWN, EMOJI, SPECIAL, CONTROL, PUNCTUATION]


def varied_strings(count: int, seed: int = 16) -> list[str]:
    """``count`` strings, the same on every run: the edge cases, then random mixtures."""
    rng = random.Random(seed)
    fixed = ["", " ", "\n", "\t", "  leading spaces", "trailing spaces  ", "two  spaces", " ".join(SPECIAL),
             "".join(EMOJI), "".join(UNKNOWN), "".join(CONTROL), "a", "A", "ß", "\n\nparagraph\n\nbreaks\n"]
    strings = list(fixed)
    while len(strings) < count - 2:
        parts = []
        for _ in range(rng.randint(1, 24)):
            word = rng.choice(rng.choice(KINDS))
            parts.append(word.capitalize() if rng.random() < 0.2 else word)
            parts.append(rng.choice([" "] * 6 + ["", *WHITESPACE]))
        strings.append("".join(parts))
    long_parts = [rng.choice(rng.choice(KINDS)) for _ in range(12_000)]
    strings.append(" ".join(long_parts))  # very long: about 80,000 characters
    strings.append("".join(long_parts[:3000]))  # long, with no spaces at all
    return strings


def train_sentencepiece(rule: str) -> bytes:
    """A small unigram model laid out as Pegasus's is (pad 0, eos 1, unk 2, no bos)."""
    import sentencepiece as spm

    rng = random.Random(0)
    texts = [" ".join(rng.choice(WORDS + DIGITS[:6]) for _ in range(rng.randint(4, 14))) for _ in range(3000)]
    chars = list(string.ascii_letters + string.digits + string.punctuation)
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(texts + WORDS + chars), model_writer=model, model_type="unigram",
        vocab_size=300, hard_vocab_limit=False, character_coverage=1.0, normalization_rule_name=rule,
        pad_id=0, eos_id=1, unk_id=2, bos_id=-1, num_threads=1, minloglevel=2,
    )
    return model.getvalue()


@pytest.fixture(scope="module", params=["nmt_nfkc", "identity"])
def checkpoint(request, tmp_path_factory) -> Path:
    """A checkpoint's tokenizer files as the hub's Pegasus repositories lack tokenizer.json:
    spiece.model, and a config.json saying it is Pegasus."""
    folder = tmp_path_factory.mktemp(f"spiece-{request.param}")
    (folder / "spiece.model").write_bytes(train_sentencepiece(request.param))
    (folder / "config.json").write_text(json.dumps({"model_type": "pegasus"}))
    return folder


@pytest.fixture(scope="module")
def transformers_tokenizer(checkpoint):
    """transformers' own conversion, as engine/export/checkpoint.py does it today."""
    from transformers import AutoTokenizer, PegasusTokenizer

    tokenizer = AutoTokenizer.from_pretrained(checkpoint, trust_remote_code=False)
    assert isinstance(tokenizer, PegasusTokenizer)
    return tokenizer


def test_the_written_tokenizer_json_is_transformers_own_byte_for_byte(checkpoint, transformers_tokenizer, tmp_path):
    transformers_tokenizer.save_pretrained(tmp_path / "transformers")

    write_tokenizer_json(checkpoint / "spiece.model", tmp_path / "tokenizer.json")

    assert (tmp_path / "tokenizer.json").read_bytes() == (tmp_path / "transformers" / "tokenizer.json").read_bytes()


def test_ids_and_text_match_transformers_on_thousands_of_varied_strings(checkpoint, transformers_tokenizer):
    ours = pegasus_tokenizer(checkpoint / "spiece.model")
    texts = varied_strings(3000)

    expected = transformers_tokenizer(texts).input_ids
    got = [encoding.ids for encoding in ours.encode_batch(texts)]

    differing = [text for text, a, b in zip(texts, got, expected) if a != b]
    assert not differing, f"{len(differing)} strings tokenize differently, e.g. {differing[0]!r}"
    for skip in (True, False):
        assert ours.decode_batch(got, skip_special_tokens=skip) == transformers_tokenizer.batch_decode(
            expected, skip_special_tokens=skip
        )
    assert any(105 in ids for ids in got), "no string had an unknown character: the test lost its point"


def test_the_ids_are_pegasus_s_sentencepiece_ids_moved_up_by_103(checkpoint):
    import sentencepiece as spm

    processor = spm.SentencePieceProcessor(model_file=str(checkpoint / "spiece.model"))
    ours = pegasus_tokenizer(checkpoint / "spiece.model")
    layout = {"<pad>": 0, "</s>": 1, "<mask_1>": 2, "<mask_2>": 3, "<unk_2>": 4, "<unk_102>": 104, "<unk>": 105}

    assert {token: ours.token_to_id(token) for token in layout} == layout
    assert ours.get_vocab_size() == processor.get_piece_size() + 103
    for piece_id in range(2, processor.get_piece_size()):
        assert ours.id_to_token(piece_id + 103) == processor.id_to_piece(piece_id)
    for text in ["the city said on Monday", "Zürich café 2026", "police report 42 percent"]:
        assert ours.encode(text).ids == [i + 103 for i in processor.encode(text)] + [1]


def test_the_model_file_is_read_as_sentencepiece_reads_it(checkpoint):
    import sentencepiece as spm
    from sentencepiece import sentencepiece_model_pb2

    processor = spm.SentencePieceProcessor(model_file=str(checkpoint / "spiece.model"))
    proto = sentencepiece_model_pb2.ModelProto.FromString((checkpoint / "spiece.model").read_bytes())

    model = read_sentencepiece(checkpoint / "spiece.model")

    assert model.pieces == [(processor.id_to_piece(i), processor.get_score(i)) for i in range(processor.get_piece_size())]
    assert model.precompiled_charsmap == proto.normalizer_spec.precompiled_charsmap
    assert model.model_type == 1


def test_a_damaged_or_foreign_model_file_is_refused_clearly(checkpoint, tmp_path):
    data = (checkpoint / "spiece.model").read_bytes()
    cases = {
        "truncated": data[: len(data) // 2],
        "empty": b"",
        "not protobuf": b"\xff" * 64,
        "text": b"this is not a sentencepiece model\n",
    }
    for name, content in cases.items():
        (tmp_path / name).write_bytes(content)
        with pytest.raises(EngineError, match="sentencepiece model|not a Pegasus tokenizer"):
            pegasus_tokenizer(tmp_path / name)


def test_a_bpe_model_is_refused_as_not_pegasus(tmp_path):
    import sentencepiece as spm

    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(WORDS * 20), model_writer=model, model_type="bpe", vocab_size=60,
        hard_vocab_limit=False, pad_id=0, eos_id=1, unk_id=2, bos_id=-1, num_threads=1, minloglevel=2,
    )
    (tmp_path / "spiece.model").write_bytes(model.getvalue())

    with pytest.raises(EngineError, match="not a unigram sentencepiece model"):
        pegasus_tokenizer(tmp_path / "spiece.model")


def test_converting_imports_neither_transformers_nor_sentencepiece(checkpoint, tmp_path):
    done = subprocess.run(children.command("convert_spiece", checkpoint / "spiece.model", tmp_path / "t.json"),
                          env=children.env(), cwd=REPO, capture_output=True, text=True, timeout=120)

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
    assert (tmp_path / "t.json").stat().st_size > 0
