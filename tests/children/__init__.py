"""Code the tests run in fresh interpreters, kept in modules so that it is linted and its
tracebacks name files. ``command(name, *args)`` runs ``tests/children/<name>.py`` as
``python -m tests.children.<name>``: from the repo root, or from any folder with ``env()``'s
PYTHONPATH. A spawned ``multiprocessing`` target is imported as ``children.<name>`` (tests/ is on
the parent's ``sys.path``, which a spawned child inherits). Importing this package imports only the
standard library (a child that installs an audit hook first sees nothing else).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def command(name: str, *args) -> list[str]:
    """The command line that runs ``tests/children/<name>.py`` with ``args``."""
    return [sys.executable, "-m", f"tests.children.{name}", *map(str, args)]


def env(base: Mapping[str, str] | None = None, **extra: str) -> dict[str, str]:
    """``base`` (default: this process's environment) with the repo on PYTHONPATH, so that the
    children and the repo's packages import from any working folder."""
    out = dict(os.environ if base is None else base)
    out["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), out.get("PYTHONPATH", "")) if p)
    return {**out, **extra}
