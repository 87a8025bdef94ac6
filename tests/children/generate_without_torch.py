"""Load an export and generate, through get_onnx_model and Summarizer; fail if torch,
transformers or onnx got imported. Arguments: checkpoint, models root."""

from __future__ import annotations

import sys


def main(checkpoint: str, root: str) -> None:
    import engine

    model = engine.get_onnx_model(checkpoint, root)
    model.generate([[5, 6, 7, 1]], num_beams=2, max_length=10)
    summarizer = engine.Summarizer.load(checkpoint, root=root)
    print(summarizer.summarize("w5 w6 w7").token_ids)
    heavy = sorted(m for m in ("torch", "transformers", "onnx") if m in sys.modules)
    assert not heavy, heavy


if __name__ == "__main__":
    main(*sys.argv[1:3])
