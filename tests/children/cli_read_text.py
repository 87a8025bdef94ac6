"""Read a small and a too-large text file the CLI's way; print the refusal, then the Qt modules
imported meanwhile (none are expected). Arguments: the small file, the large one."""

from __future__ import annotations

import sys


def main(small: str, huge: str) -> None:
    from engine.cli import EngineError, read_text

    assert read_text(small) == "The council met on Monday."
    try:
        read_text(huge)
    except EngineError as e:
        print(e)
    print(sorted(m for m in sys.modules if m.startswith("PySide6")))


if __name__ == "__main__":
    main(*sys.argv[1:3])
