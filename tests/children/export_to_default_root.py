"""Export a checkpoint (argument) to the default models root, umask 022; print the folder."""

from __future__ import annotations

import os
import sys


def main(checkpoint: str) -> None:
    os.umask(0o022)
    from engine.export.pipeline import export

    print(export(checkpoint).folder)


if __name__ == "__main__":
    main(sys.argv[1])
