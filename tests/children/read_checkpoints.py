"""Read each checkpoint folder given with the torch-free reader (each holds a 3x3 tensor ``w``),
then print which torch or transformers modules this process imported (none, the test expects)."""

from __future__ import annotations

import sys

from engine.export.checkpoint_reader import read_tensors

if __name__ == "__main__":
    for folder in sys.argv[1:]:
        assert read_tensors(folder)["w"].shape == (3, 3), folder
    print(sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "transformers")))
