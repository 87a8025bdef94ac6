"""Turn a Pegasus checkpoint's sentencepiece model (``spiece.model``) into ``tokenizer.json``,
without transformers: the same file transformers' ``PegasusTokenizer`` writes for it.

Pegasus numbers its tokens thus (what the model was trained with):
    0 <pad>, 1 </s>, 2 <mask_1>, 3 <mask_2>, 4..104 <unk_2>..<unk_102> (reserved, score -100),
    then sentencepiece's pieces from its third on (the first two are its own pad and eos):
    sentencepiece id i becomes i + 103, so its <unk> (id 2) is 105.
All of 0..104 and <unk> are special tokens: matched whole in the text, left out by
``decode(skip_special_tokens=True)``. The text goes through sentencepiece's compiled
normalization rules (NFKC and whitespace for Pegasus's model), runs of spaces become one,
``Metaspace`` marks word starts with ``▁``, and ``</s>`` ends every sequence.

The model file is a protocol buffer; the few fields needed (pieces, their scores, the model
type, the compiled normalization rules) are read by the small decoder
below, so neither sentencepiece nor protobuf is needed to convert, only ``tokenizers``.

This module knows nothing about model weights, ONNX, or tokenizers other than Pegasus's.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tokenizers import (
    AddedToken,
    Regex,
    Tokenizer,
    decoders,
    normalizers,
    pre_tokenizers,
    processors,
)
from tokenizers.models import Unigram

from engine.errors import EngineError

PAD, EOS, UNK = "<pad>", "</s>", "<unk>"
MASK_SENT, MASK = "<mask_1>", "<mask_2>"  # the gap-sentence mask, then the masked-word one
OFFSET = 103  # sentencepiece ids are moved up by this: ids 2..104 are Pegasus's own
RESERVED_SCORE = -100.0  # <unk_2>..<unk_102>: never chosen when splitting text
_UNIGRAM = 1  # TrainerSpec.model_type


@dataclass(frozen=True)
class SentencePieceModel:
    """What a sentencepiece model file says, as far as the conversion needs it."""

    pieces: list[tuple[str, float]]  # (piece, score), by sentencepiece id
    model_type: int  # 1 unigram, 2 BPE, 3 word, 4 char
    precompiled_charsmap: bytes  # the compiled normalization rules; empty for "identity"


def read_sentencepiece(path: Path) -> SentencePieceModel:
    """Read ``spiece.model``. Raises EngineError when it is not a sentencepiece model."""
    path = Path(path)
    try:
        return _parse_model(path.read_bytes())
    except OSError as e:
        raise EngineError(f"{path} cannot be read: {e}") from e
    except (ValueError, IndexError, struct.error, UnicodeDecodeError) as e:
        raise EngineError(
            f"{path} is not a sentencepiece model that can be read ({e}): the file is damaged or of "
            f"another kind. Download the model again."
        ) from e


def pegasus_tokenizer(spiece: Path, *, offset: int = OFFSET) -> Tokenizer:
    """The ``tokenizers`` tokenizer of a Pegasus checkpoint whose vocabulary is ``spiece``."""
    spiece = Path(spiece)
    model = read_sentencepiece(spiece)
    if model.model_type != _UNIGRAM:
        raise EngineError(
            f"{spiece} is not a unigram sentencepiece model (its type is {model.model_type}): it is "
            f"not a Pegasus tokenizer."
        )
    reserved = [(f"<unk_{i}>", RESERVED_SCORE) for i in range(2, offset)]
    vocab = [(PAD, 0.0), (EOS, 0.0), (MASK_SENT, 0.0), (MASK, 0.0), *reserved, *model.pieces[2:]]
    if len(model.pieces) < 3 or (UNK, 0.0) not in vocab[1:]:
        raise EngineError(f"{spiece} has no {UNK} piece (score 0): it is not a Pegasus tokenizer.")

    tokenizer = Tokenizer(Unigram(vocab, unk_id=vocab.index((UNK, 0.0), 1), byte_fallback=False))
    tokenizer.normalizer = _normalizer(model.precompiled_charsmap)
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    tokenizer.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    special = [PAD, EOS, MASK_SENT, MASK, *(piece for piece, _ in reserved), UNK]
    tokenizer.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in special])
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"$A {EOS}", pair=f"$A $B {EOS}", special_tokens=[(EOS, vocab.index((EOS, 0.0)))]
    )
    return tokenizer


def write_tokenizer_json(spiece: Path, out: Path, *, offset: int = OFFSET) -> None:
    """Convert ``spiece`` and write it to ``out`` (the caller stages and renames the export)."""
    pegasus_tokenizer(spiece, offset=offset).save(str(out))


def _normalizer(charsmap: bytes) -> normalizers.Normalizer:
    spaces = normalizers.Replace(Regex(r" {2,}"), " ")
    if charsmap:
        return normalizers.Sequence([normalizers.Precompiled(charsmap), spaces])
    # No compiled rules (a model trained with the "identity" rule): newlines are still spaces.
    return normalizers.Sequence([normalizers.Replace(Regex(r"\n"), " "), spaces])


# -- the protocol buffer, as far as needed (sentencepiece_model.proto)


def _parse_model(data: bytes) -> SentencePieceModel:
    pieces: list[tuple[str, float]] = []
    model_type, charsmap = _UNIGRAM, b""  # the .proto's defaults
    for number, value in _fields(data):
        if number == 1:  # ModelProto.pieces
            pieces.append(_parse_piece(value))
        elif number == 2:  # ModelProto.trainer_spec
            for field, item in _fields(value):
                if field == 3:
                    model_type = item
        elif number == 3:  # ModelProto.normalizer_spec
            charsmap = next((item for field, item in _fields(value) if field == 2), b"")
    if not pieces:
        raise ValueError("it holds no pieces")
    return SentencePieceModel(pieces, model_type, charsmap)


def _parse_piece(data: bytes) -> tuple[str, float]:
    piece, score = None, 0.0
    for field, value in _fields(data):
        if field == 1:
            piece = value.decode("utf-8")
        elif field == 2:
            (score,) = struct.unpack("<f", value)
    if piece is None:
        raise ValueError("a piece has no text")
    return piece, score


def _fields(data: bytes) -> Iterator[tuple[int, int | bytes]]:
    """(field number, value) of each field of a message: an int for varints, else the bytes."""
    position = 0
    while position < len(data):
        key, position = _varint(data, position)
        number, wire_type = key >> 3, key & 7
        if wire_type == 0:
            value, position = _varint(data, position)
        elif wire_type in (1, 5):  # fixed 64 or 32 bits
            size = 8 if wire_type == 1 else 4
            value, position = data[position:position + size], position + size
        elif wire_type == 2:  # length-delimited: strings, bytes, messages
            size, position = _varint(data, position)
            value, position = data[position:position + size], position + size
        else:
            raise ValueError(f"wire type {wire_type} at byte {position}")
        if position > len(data):
            raise ValueError("it ends in the middle of a field (truncated?)")
        yield number, value


def _varint(data: bytes, position: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[position]  # IndexError when truncated
        value |= (byte & 0x7F) << shift
        position += 1
        if not byte & 0x80:
            return value, position
        shift += 7
        if shift > 63:
            raise ValueError("a number longer than 10 bytes")


# What the export copies as it is, when the checkpoint has it.
TOKENIZER_SIDECARS = ("tokenizer_config.json", "special_tokens_map.json")


def write_tokenizer(checkpoint: Path, out: Path) -> None:
    """Give the export folder ``out`` the checkpoint's ``tokenizer.json``: its own when it has one,
    else converted from its ``spiece.model`` (with the ``offset`` its tokenizer_config names); and
    its tokenizer_config.json and special_tokens_map.json, copied."""
    import json
    import shutil

    for name in TOKENIZER_SIDECARS:
        if (checkpoint / name).is_file():
            shutil.copyfile(checkpoint / name, out / name)
    if (checkpoint / "tokenizer.json").is_file():
        shutil.copyfile(checkpoint / "tokenizer.json", out / "tokenizer.json")
        return
    if not (checkpoint / "spiece.model").is_file():
        raise EngineError(
            f"{checkpoint} has no tokenizer (tokenizer.json or spiece.model): it is not a complete "
            f"checkpoint. Download it again."
        )
    try:
        offset = int(json.loads((out / "tokenizer_config.json").read_text()).get("offset", OFFSET))
    except (OSError, ValueError, TypeError):
        offset = OFFSET
    write_tokenizer_json(checkpoint / "spiece.model", out / "tokenizer.json", offset=offset)
