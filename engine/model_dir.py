"""Where exports live, what their manifest says, and how a folder is published and checked.

An export folder is ``<root>/<model slug>/<precision>/`` and holds the graphs, ``weights.bin``,
``tokenizer.json``, ``config.json``, ``generation_config.json`` and ``manifest.json``. It is
written in a hidden sibling folder and renamed into place only when complete, so a reader never
sees half of one. Loading re-checks every file against the manifest's sizes and sha256 sums; a
file's hash is re-read only when its size or modification time changed since the last check.
Writers of one model's folder hold a file lock (``<root>/.locks/<slug>.lock``), so two processes
never write, or clean up, the same model at once.

This module needs only the standard library and platformdirs (and filelock, imported by the
writers alone): no torch, onnx or onnxruntime.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import re
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import platformdirs

from engine.errors import DiskFullError, EngineError, ExportBusyError
from engine.files import free_space, human_size

APP_NAME = "pegasus-desktop"
MANIFEST = "manifest.json"
# The export's layout, raised whenever graphs of an older one would not run with this code:
# 2 = keys cached as (.., time, head_dim) like values, graphs written op by op;
# 3 = the graphs take inputs_embeds, looked up outside them (embedding.json);
# 4 = the decoder reorders its cache itself (its cache_rows input);
# 5 = the decoder runs several new positions per row (drafts verified in one run), with per-row
#     positions and a self-attention mask, and reorders or trims its cache only when asked.
MANIFEST_FORMAT = 5
PRECISIONS = ("int8", "fp32")
_VERIFIED_STAMP = ".verified.json"  # a cache of the last full check; not part of the export
_STAGING_PREFIX = ".staging-"
_LOCKS = ".locks"  # beside the model folders, so that a model folder holds only exports


def default_models_root() -> Path:
    """The user's data dir, e.g. ``~/.local/share/pegasus-desktop/models`` on Linux."""
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False)) / "models"


# Names Windows cannot give a folder (with any extension); it also drops a name's trailing dots.
_WINDOWS_RESERVED = re.compile(r"(con|prn|aux|nul|com[0-9]|lpt[0-9])(\..*)?", re.IGNORECASE)


def _safe_part(part: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9._-]", "_", part).lstrip(".")
    return cleaned or "_"


def model_slug(model_id: str) -> str:
    """A folder name from a full model id or a local path, so that no two ids collide.

    ``google/pegasus-xsum`` -> ``google--pegasus-xsum``. A local checkpoint folder is named by its
    last part and a hash of its absolute path. Anything that is not a plain hub id (``..``, odd
    characters, a leading or doubled ``/``) also gets a hash, so a hostile id can neither escape
    the root nor collide; so do names Windows cannot use for a folder (``con``, ``nul``, ...).
    """
    path = Path(model_id).expanduser()
    if path.is_dir():
        digest = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:10]
        return f"local--{_safe_part(path.resolve().name)}-{digest}"
    parts = [p for p in model_id.split("/") if p]
    slug = "--".join(_safe_part(p) for p in parts) or "_"
    plain = model_id == "/".join(parts) and parts == [_safe_part(p) for p in parts] and len(parts) <= 2
    if not plain or "--" in model_id or _WINDOWS_RESERVED.fullmatch(slug) or slug.endswith("."):
        slug += "-" + hashlib.sha256(model_id.encode()).hexdigest()[:10]
    return slug


def check_precision(precision: str) -> str:
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    return precision


def export_dir(model_id: str, precision: str, root: str | Path | None = None) -> Path:
    """The folder that holds (or will hold) this model's export at this precision."""
    base = Path(root).expanduser() if root is not None else default_models_root()
    return base / model_slug(model_id) / check_precision(precision)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def write_manifest(folder: Path, info: dict) -> dict:
    """Record ``info`` plus the size and sha256 of every file in ``folder``."""
    files = {
        p.name: {"size": p.stat().st_size, "sha256": sha256_file(p)}
        for p in sorted(folder.iterdir())
        if p.is_file() and p.name not in (MANIFEST, _VERIFIED_STAMP)
    }
    manifest = {"format": MANIFEST_FORMAT, **info, "files": files}
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return manifest


def _reexport_hint(folder: Path) -> str:
    return (
        f"Re-export the model to replace it (pegasus-summarize export MODEL, or Settings → "
        f"Re-export in the app), or delete {folder}."
    )


def read_manifest(folder: Path) -> dict:
    path = folder / MANIFEST
    if not folder.is_dir():
        raise EngineError(f"No exported model at {folder}. Export it first (pegasus-summarize export MODEL).")
    try:
        manifest = json.loads(path.read_text())
    except FileNotFoundError as e:
        raise EngineError(f"The export at {folder} has no {MANIFEST}: it is incomplete. {_reexport_hint(folder)}") from e
    except (OSError, ValueError) as e:
        raise EngineError(f"The manifest of {folder} cannot be read ({e}). {_reexport_hint(folder)}") from e
    _check_format(folder, manifest)
    return manifest


def _check_format(folder: Path, manifest: object) -> None:
    """Raise unless this version reads the manifest's format: graphs of another layout would not
    run with this code (``MANIFEST_FORMAT``), so the error says which version made the export."""
    found = manifest.get("format") if isinstance(manifest, dict) else None
    if found == MANIFEST_FORMAT and "files" in manifest:
        return
    formats = f"manifest format {found}; this version reads format {MANIFEST_FORMAT}"
    if type(found) is int and found < MANIFEST_FORMAT:
        raise EngineError(
            f"The export at {folder} was made by an older version of Pegasus Desktop ({formats}): "
            f"it must be re-exported. {_reexport_hint(folder)}"
        )
    if type(found) is int and found > MANIFEST_FORMAT:
        raise EngineError(
            f"The export at {folder} was made by a newer version of Pegasus Desktop ({formats}). "
            f"Update Pegasus Desktop to use it as it is. {_reexport_hint(folder)}"
        )
    raise EngineError(
        f"The manifest of {folder} is not one Pegasus Desktop writes (no format number or no "
        f"file list): it is damaged. {_reexport_hint(folder)}"
    )


def _stat_key(path: Path) -> list:
    st = path.stat()
    return [st.st_size, st.st_mtime_ns, st.st_ino]


def verify(folder: Path) -> dict:
    """Check every file against the manifest; return the manifest or raise ``EngineError``."""
    manifest = read_manifest(folder)
    stamp_path = folder / _VERIFIED_STAMP
    try:
        stamp = json.loads(stamp_path.read_text())
    except (OSError, ValueError):
        stamp = {}
    fresh_stamp = {}
    for name, expected in manifest["files"].items():
        path = folder / name
        if not path.is_file():
            raise EngineError(f"The export at {folder} is missing {name}. {_reexport_hint(folder)}")
        if path.stat().st_size != expected["size"]:
            raise EngineError(
                f"{name} in {folder} is {path.stat().st_size} bytes, but the export wrote "
                f"{expected['size']}: it is truncated or damaged. {_reexport_hint(folder)}"
            )
        key = _stat_key(path)
        if stamp.get(name) != key and sha256_file(path) != expected["sha256"]:
            raise EngineError(f"{name} in {folder} has been altered or damaged. {_reexport_hint(folder)}")
        fresh_stamp[name] = key
    if fresh_stamp != stamp:
        with contextlib.suppress(OSError):  # a read-only folder just re-hashes next time
            stamp_path.write_text(json.dumps(fresh_stamp))
    return manifest


def staging_dir(target: Path) -> Path:
    """A fresh hidden folder beside ``target``, on the same filesystem so the rename is atomic."""
    target.parent.mkdir(parents=True, exist_ok=True)
    path = target.parent / f"{_STAGING_PREFIX}{target.name}-{uuid.uuid4().hex[:8]}"
    path.mkdir()
    return path


def publish(staging: Path, target: Path) -> Path:
    """Move a complete, verified staging folder into place, replacing any older export."""
    old = None
    if target.exists():
        old = target.parent / f"{_STAGING_PREFIX}old-{target.name}-{uuid.uuid4().hex[:8]}"
        os.replace(target, old)
    os.replace(staging, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    return target


def remove_stale_staging(parent: Path) -> None:
    """Clean up after an interrupted export in a model's folder (call it holding the folder's lock).

    An export killed between the two renames of ``publish`` leaves the previous export in a
    ``.staging-old-*`` folder and none in place: that one is put back if it still verifies.
    Everything else hidden there is deleted.
    """
    if not parent.is_dir():
        return
    for old in parent.glob(f"{_STAGING_PREFIX}old-*"):
        name = old.name[len(f"{_STAGING_PREFIX}old-"):].rsplit("-", 1)[0]
        if name in PRECISIONS and not (parent / name).exists():
            with contextlib.suppress(EngineError, OSError):
                verify(old)
                os.replace(old, parent / name)
    for leftover in parent.glob(f"{_STAGING_PREFIX}*"):
        shutil.rmtree(leftover, ignore_errors=True)


def lock_path(model_folder: Path) -> Path:
    """The lock file that guards writes to ``model_folder`` (``<root>/<slug>``)."""
    return model_folder.parent / _LOCKS / f"{model_folder.name}.lock"


@contextlib.contextmanager
def model_folder_lock(
    model_folder: Path, *, timeout: float | None = None, on_wait: Callable[[], None] | None = None
) -> Iterator[bool]:
    """Hold the write lock of one model folder; yields True when another process held it first.

    The lock is released by the operating system if its holder is killed, so a crashed export
    never blocks the next one. ``timeout`` (seconds) bounds the wait; None waits as long as the
    other writer works, and ``on_wait`` is called once when waiting starts.
    """
    from filelock import FileLock, Timeout

    path = lock_path(model_folder)
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(path)
    waited = False
    try:
        lock.acquire(timeout=0)
    except Timeout:
        waited = True
        if on_wait is not None:
            on_wait()
        try:
            lock.acquire(timeout=-1 if timeout is None else timeout)
        except Timeout as e:
            raise ExportBusyError(
                f"Another Pegasus Desktop window or pegasus-summarize is writing the export in "
                f"{model_folder} right now. Wait until it has finished, then try again "
                f"(its lock file is {path})."
            ) from e
    try:
        yield waited
    finally:
        lock.release()


@contextlib.contextmanager
def model_folder_if_free(model_folder: Path) -> Iterator[bool]:
    """Yields True holding the folder's lock, or False at once if another process holds it."""
    from filelock import FileLock, Timeout

    path = lock_path(model_folder)
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(path)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        yield False
        return
    try:
        yield True
    finally:
        lock.release()


_NO_ROOM = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
_NO_ROOM_TEXT = ("No space left on device", "Disk quota exceeded", "File too large")


def is_disk_full(error: BaseException | None) -> bool:
    """True when ``error`` (or what caused it) says the disk or the user's quota is full."""
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, OSError) and error.errno in _NO_ROOM:
            return True
        if any(text in str(error) for text in _NO_ROOM_TEXT):  # C++ writers raise RuntimeError
            return True
        error = error.__cause__ or error.__context__
    return False


def disk_full_error(folder: Path, needed: int | None, error: BaseException) -> DiskFullError:
    """A ``DiskFullError`` saying where, how much is needed and free, and that nothing was kept."""
    free = free_space(folder)
    room = f"It needs about {human_size(needed)} free while it works" if needed else "It needs more room"
    now = f"; {human_size(free)} is free now" if free is not None else ""
    return DiskFullError(
        f"The disk is full: writing to {folder} failed ({getattr(error, 'strerror', None) or error}). "
        f"{room}{now}. Free up space, or choose another folder on a larger disk, and try again. "
        f"What was half-written has been removed."
    )
