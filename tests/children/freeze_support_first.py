"""Start the app with multiprocessing.freeze_support replaced: the replacement prints the heavy
modules already imported (none are expected) as JSON and exits with 7."""

from __future__ import annotations

import json
import multiprocessing
import sys


def freeze_support() -> None:
    heavy = sorted(m for m in ("PySide6", "onnxruntime", "torch", "pegasus_desktop.app") if m in sys.modules)
    print(json.dumps(heavy))
    raise SystemExit(7)


def main() -> None:
    multiprocessing.freeze_support = freeze_support
    from pegasus_desktop.__main__ import main as app

    app()


if __name__ == "__main__":
    main()
