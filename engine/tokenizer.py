"""Text <-> ids with the export's ``tokenizer.json``, through the ``tokenizers`` library alone.

Decoding follows transformers' ``decode(..., skip_special_tokens=True)``, including its optional
clean-up of spaces before punctuation when the checkpoint's tokenizer_config asks for it.
This module knows nothing about models or decoding.
"""

from __future__ import annotations

import json
from pathlib import Path

from tokenizers import Tokenizer

from engine.errors import EngineError

_CLEAN_UPS = ((" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"), (" n't", "n't"),
              (" 'm", "'m"), (" 's", "'s"), (" 've", "'ve"), (" 're", "'re"))


class TextTokenizer:
    def __init__(self, folder: Path, eos_token_id: int) -> None:
        try:
            self._tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        except Exception as e:  # tokenizers raises a bare Exception for missing or bad files
            raise EngineError(f"The tokenizer in {folder} cannot be read ({e}): re-export the model.") from e
        self._tokenizer.no_truncation()
        self._tokenizer.no_padding()
        self.eos_token_id = eos_token_id
        try:
            config = json.loads((folder / "tokenizer_config.json").read_text())
        except (OSError, ValueError):
            config = {}
        self.clean_up_spaces = bool(config.get("clean_up_tokenization_spaces", False))

    def encode(self, text: str) -> list[int]:
        """All ids of ``text``, with the end-of-sequence token the model expects."""
        return self._tokenizer.encode(text).ids

    def count(self, text: str, enough: int) -> tuple[int, bool]:
        """How many ids ``encode(text)`` gives, and whether that is exact rather than estimated.

        Only as much of the text is tokenized as it takes to pass ``enough`` ids: a prefix of
        ``8 * enough`` characters, doubled while it has fewer (up to ``64 * enough``). The work
        is bounded by ``enough`` whatever the text's length; a longer text's count is the
        prefix's, scaled by the text's length.
        """
        size = max(8 * enough, 1024)  # characters: a token rarely spans more than 8
        while True:
            if size >= len(text):
                return len(self.encode(text)), True
            ids = len(self._tokenizer.encode(text[:size]).ids)
            if ids > enough or size >= 64 * enough:
                return max(ids, round(ids * len(text) / size)), False
            size *= 2

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        """The (start, end) character span in ``text`` of each token, special tokens left out."""
        encoding = self._tokenizer.encode(text)
        return [span for span, special in zip(encoding.offsets, encoding.special_tokens_mask) if not special]

    def truncate(self, ids: list[int], limit: int) -> list[int]:
        """Keep the first ``limit - 1`` ids and the end-of-sequence id, as the tokenizer's truncation does."""
        if len(ids) <= limit:
            return ids
        return [*ids[: limit - 1], self.eos_token_id]

    def decode(self, ids) -> str:
        text = self._tokenizer.decode([int(i) for i in ids], skip_special_tokens=True)
        if self.clean_up_spaces:
            for before, after in _CLEAN_UPS:
                text = text.replace(before, after)
        return text
