"""Export a model, recording connections: exits 3 if any was made.

Arguments: model id or folder, models root. Prints ``ERROR <class> <message>`` for an
``EngineError`` and ``EVENTS [...]`` to stderr.
"""

from __future__ import annotations

import sys

from tests.children.audit import record_connections


def main(model: str, root: str) -> int:
    events = record_connections()
    from engine.errors import EngineError
    from engine.export.pipeline import export

    try:
        export(model, root)
    except EngineError as e:
        print("ERROR", type(e).__name__, e, file=sys.stderr)
    print("EVENTS", events, file=sys.stderr)
    return 3 if events else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
