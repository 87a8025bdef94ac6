"""Convert a spiece.model (argv 1) to tokenizer.json (argv 2) with our converter, then print
which of torch, transformers, sentencepiece and protobuf (google) this process imported."""

from __future__ import annotations

import sys

from engine.export.tokenizer_convert import write_tokenizer_json

if __name__ == "__main__":
    write_tokenizer_json(sys.argv[1], sys.argv[2])
    print(sorted({m.split(".")[0] for m in sys.modules} & {"torch", "transformers", "sentencepiece", "google"}))
