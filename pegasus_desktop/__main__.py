"""Entry point of ``pegasus-desktop`` and ``python -m pegasus_desktop``."""

from __future__ import annotations

import multiprocessing
import sys


def main() -> int:
    # A frozen build starts the spawned export process through this same executable.
    multiprocessing.freeze_support()
    from pegasus_desktop.app import run

    return run(sys.argv)


if __name__ == "__main__":
    sys.exit(main())
