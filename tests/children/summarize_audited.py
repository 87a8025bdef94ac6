"""Summarize with the library and the CLI, recording connections: exits 3 if any was made.

Arguments: checkpoint, models root, article file. Prints ``EVENTS [...]`` to stderr.
"""

from __future__ import annotations

import sys

from tests.children.audit import record_connections


def main(checkpoint: str, root: str, article: str) -> int:
    events = record_connections()
    from engine import GenerationOptions, Summarizer
    from engine.cli import main as cli

    summarizer = Summarizer.load(checkpoint, root=root)
    with open(article) as f:
        text = f.read()
    for beams in (1, 2):
        assert summarizer.summarize(text, GenerationOptions(num_beams=beams)).text
    assert cli(["summarize", article, "--model", checkpoint, "--models-dir", root]) == 0
    print("EVENTS", events, file=sys.stderr)
    return 3 if events else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))
