"""File helpers both layers share: atomic text writes, free disk space, and sizes and times for people.

The engine (batch outputs, export errors) and the app (settings, history exports, saved summaries,
the first-run disk check, sizes and times on screen) use these, so that a size or a time reads the
same everywhere and every file the user owns is replaced whole or not at all. Standard library only; this module
knows nothing about models, exports or Qt.
"""

from __future__ import annotations

import os
import secrets
import shutil
import stat
from pathlib import Path


def write_atomically(path: str | Path, text: str) -> None:
    """Write ``text`` to ``path`` as UTF-8, exactly as given (no newline translation), atomically.

    The text goes to a hidden temporary file beside ``path``, is flushed to disk, and then
    replaces ``path`` in one rename: a failed or interrupted write leaves the previous file as it
    was (and no temporary file behind). A new file gets the user's default permissions (0o666
    less the umask, as any file the user creates; not mkstemp's 0600); an existing file keeps its
    own, so a file made private stays private. A symbolic link is followed: its target is
    replaced and the link stays (as ``QSaveFile`` does). The folder must exist.
    """
    path = Path(path)
    if path.is_symlink():
        path = Path(os.path.realpath(path))
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except OSError:
        mode = None
    tmp = path.with_name(f".{path.name}-{secrets.token_hex(6)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            if mode is not None and hasattr(os, "fchmod"):
                os.fchmod(f.fileno(), mode)
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def free_space(folder: str | Path) -> int | None:
    """Free bytes on the file system that holds ``folder`` (or its nearest existing parent).

    None when the system cannot say (the folder's drive is gone, or access is denied).
    """
    folder = Path(folder).expanduser().absolute()
    while not folder.exists() and folder.parent != folder:
        folder = folder.parent
    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return None


def human_size(size: float) -> str:
    """``1500`` -> ``"1.5 KB"``, ``2_285_000_000`` -> ``"2.3 GB"``: decimal units, as file managers
    show them, whole bytes below 1 KB and one decimal from KB up, in every unit alike."""
    if size < 1000:
        return f"{size:.0f} bytes"
    for unit in ("KB", "MB", "GB"):
        size /= 1000
        if round(size, 1) < 1000:  # 999,960 bytes reads "1.0 MB", not "1000.0 KB"
            return f"{size:.1f} {unit}"
    return f"{size / 1000:,.1f} TB"


def three_figures(value: float) -> str:
    """``463.7`` -> ``"464"``, ``12.34`` -> ``"12.3"``, ``3.456`` -> ``"3.46"``: about three
    significant digits, for the times and the tokens per second shown beside a summary."""
    if round(value, 2) < 10:
        return f"{value:.2f}"
    if round(value, 1) < 100:
        return f"{value:.1f}"
    return f"{value:,.0f}"


def human_duration(seconds: float) -> str:
    """``0.023`` -> ``"23 ms"``, ``1.547`` -> ``"1.55 s"``, ``12.34`` -> ``"12.3 s"``: about three
    significant digits, so that a small model's summaries do not all read "0.0 s" and a Fast and a
    Best time a few hundredths apart can be told apart."""
    if round(seconds, 3) < 0.1:
        return f"{seconds * 1000:.0f} ms"
    return f"{three_figures(seconds)} s"
