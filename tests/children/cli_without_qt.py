"""The CLI's summarize with PySide6 made unimportable; prints the Qt modules imported (none).

Arguments: article, checkpoint, models root. Exits with the CLI's code.
"""

from __future__ import annotations

import sys


class NoQt:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("PySide6", "shiboken6"):
            raise ImportError("Qt is not installed here")


def main(article: str, checkpoint: str, root: str) -> int:
    sys.meta_path.insert(0, NoQt())
    from engine.cli import main as cli

    code = cli(["summarize", article, "--model", checkpoint, "--models-dir", root, "--max-length", "8"])
    print("qt modules:", sorted(m for m in sys.modules if m.startswith("PySide6")))
    return code


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))
