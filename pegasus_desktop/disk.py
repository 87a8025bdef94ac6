"""Free-space check before an export, by the engine's estimate (``engine.export.space``).

The checkpoint's size comes from a local folder, the Hugging Face cache, or the hub's file
list; when none of them answers (offline, unknown id) the check is skipped and the export's own
error explains. Too little room raises the engine's ``DiskFullError``, the one error type for a
full disk. This module knows nothing about Qt.
"""

from __future__ import annotations

import logging
from pathlib import Path

from engine import files
from engine.errors import DiskFullError
from engine.export.space import checkpoint_weights_bytes, export_bytes_needed
from engine.files import human_size

log = logging.getLogger(__name__)


def checkpoint_bytes(model_id: str) -> int | None:
    """The size of the checkpoint's weights, or None when it cannot be found out."""
    folder = Path(model_id).expanduser()
    if folder.is_dir():
        return checkpoint_weights_bytes(folder) or None
    try:
        from huggingface_hub import HfApi, snapshot_download

        try:  # already in the cache: no network needed
            cached = Path(
                snapshot_download(model_id, local_files_only=True, allow_patterns=["config.json"])
            )
            if size := checkpoint_weights_bytes(cached):
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


def needs_download(model_id: str) -> bool:
    """Whether exporting ``model_id`` downloads its checkpoint first: not for a local folder, nor
    for a hub id whose complete checkpoint is in the Hugging Face cache (no network asked)."""
    from engine.export.checkpoint import is_cached

    return not Path(model_id).expanduser().is_dir() and not is_cached(model_id)


def check_free_space(
    size: int | None, root: Path, *, precision: str = "int8", download: bool = True
) -> str:
    """Raise ``DiskFullError`` when ``root`` lacks the room an export of a checkpoint of ``size``
    bytes needs; else say what was checked.

    ``download`` counts the checkpoint's own download too: the default, since a size alone does
    not say whether the checkpoint is on this machine already (better a check slightly too
    strict than an export that fills the disk); ``needs_download`` tells.
    """
    free = files.free_space(root)
    if free is None:
        return f"The free space in {root} is unknown; not checked."
    if size is None:
        return f"{human_size(free)} free in {root}."
    needed = export_bytes_needed(size, precision, download=download)
    if free < needed:
        what = "the download and the converted copies" if download else "the converted copies"
        raise DiskFullError(
            f"Preparing this model needs about {human_size(needed)} of free disk space "
            f"(for {what} of the {human_size(size)} checkpoint), but {root} has only "
            f"{human_size(free)} free. Free up some space, or choose a smaller model "
            f"(Settings → Model), and try again."
        )
    return f"Needs about {human_size(needed)}; {human_size(free)} free in {root}."
