"""Free-space check before an export: it needs about three times the checkpoint's size.

(The download itself, the fp32 graphs and weights, and the int8 ones plus temporary files.)
The checkpoint's size comes from a local folder, the Hugging Face cache, or the hub's file
list; when none of them answers (offline, unknown id) the check is skipped and the export's own
error explains. This module knows nothing about Qt.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

from pegasus_desktop.resources import human_size

log = logging.getLogger(__name__)

FACTOR = 3
_WEIGHT_PATTERNS = ("*.safetensors", "*.bin", "*.pt", "*.ckpt", "*.h5", "*.msgpack")


class DiskSpaceError(Exception):
    """Not enough free space; the message says how much is needed and where."""


def _weights_size(folder: Path) -> int:
    safetensors = [p for p in folder.glob("*.safetensors")]
    files = safetensors or [p for pattern in _WEIGHT_PATTERNS for p in folder.glob(pattern)]
    return sum(p.stat().st_size for p in files if p.is_file())


def checkpoint_bytes(model_id: str) -> int | None:
    """The size of the checkpoint's weights, or None when it cannot be found out."""
    folder = Path(model_id).expanduser()
    if folder.is_dir():
        return _weights_size(folder) or None
    try:
        from huggingface_hub import HfApi, snapshot_download

        try:  # already in the cache: no network needed
            cached = Path(
                snapshot_download(model_id, local_files_only=True, allow_patterns=["config.json"])
            )
            if size := _weights_size(cached):
                return size
        except Exception as e:  # noqa: BLE001 - not cached, or offline
            log.debug("%s is not in the Hugging Face cache: %s", model_id, e)
        info = HfApi().model_info(model_id, files_metadata=True)
        sizes = {s.rfilename: s.size or 0 for s in info.siblings or []}
        safetensors = sum(v for k, v in sizes.items() if k.endswith(".safetensors"))
        return safetensors or sum(v for k, v in sizes.items() if k.endswith(".bin")) or None
    except Exception as e:  # noqa: BLE001 - offline, unknown id, gated: the export reports those
        log.info("size of %s unknown (%s); skipping the free-space check", model_id, e)
        return None


def free_bytes(folder: Path) -> int:
    """Free space on the file system that holds ``folder`` (or its nearest existing parent)."""
    folder = Path(folder).expanduser().absolute()
    while not folder.exists() and folder.parent != folder:
        folder = folder.parent
    return shutil.disk_usage(folder).free


def check_free_space(size: int | None, root: Path) -> str:
    """Raise ``DiskSpaceError`` when ``root`` lacks ``FACTOR`` × ``size``; else say what was checked."""
    free = free_bytes(root)
    if size is None:
        return f"{human_size(free)} free in {root}."
    needed = FACTOR * size
    if free < needed:
        raise DiskSpaceError(
            f"Preparing this model needs about {human_size(needed)} of free disk space "
            f"({FACTOR} × the {human_size(size)} checkpoint, for the download and the converted "
            f"copies), but {root} has only {human_size(free)} free. Free up some space, or choose a "
            f"smaller model (Settings → Model), and try again."
        )
    return f"Needs about {human_size(needed)}; {human_size(free)} free in {root}."
