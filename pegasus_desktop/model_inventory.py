"""What is on this computer for each model: its exports (int8, fp32) in the models folder, and
its download in the Hugging Face cache, with their sizes; and deleting a download.

Only the local disk is read (no network). The Hugging Face cache keeps one folder per repository,
``models--owner--name`` (blobs, snapshots of symlinks, refs); its size is that of its blobs.
This module knows nothing about Qt.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from engine.files import human_size
from engine.model_dir import MANIFEST, PRECISIONS, export_dir
from pegasus_desktop.resources import folder_size, hf_cache_dir

_PREFIX = "models--"


@dataclass(frozen=True)
class Download:
    """One model's folder in the Hugging Face cache."""

    model_id: str
    folder: Path
    size: int


def list_exports(root: Path) -> list[tuple[Path, str, str, int]]:
    """(folder, source model id, precision, bytes) for every export under ``root``."""
    found = []
    for manifest in sorted(Path(root).glob(f"*/*/{MANIFEST}")):
        folder = manifest.parent
        if folder.name.startswith(".") or folder.parent.name.startswith("."):
            continue  # an export being written
        try:
            source = (
                json.loads(manifest.read_text()).get("source", {}).get("model_id")
                or folder.parent.name
            )
        except (OSError, ValueError, AttributeError):
            source = folder.parent.name
        found.append((folder, str(source), folder.name, folder_size(folder)))
    return found


def exported_precisions(model_id: str, root: Path) -> list[str]:
    """The precisions ``model_id`` has a finished export in, int8 first."""
    return [p for p in PRECISIONS if (export_dir(model_id, p, root) / MANIFEST).is_file()]


def downloads(cache: Path | None = None) -> dict[str, Download]:
    """Every model in the Hugging Face cache, by hub id."""
    cache = Path(cache or hf_cache_dir())
    if not cache.is_dir():
        return {}
    found = {}
    for folder in sorted(cache.glob(f"{_PREFIX}*")):
        if folder.is_dir():
            model_id = folder.name[len(_PREFIX):].replace("--", "/")
            found[model_id] = Download(model_id, folder, folder_size(folder))
    return found


def delete_download(download: Download) -> None:
    """Delete a model's folder from the Hugging Face cache (its exports are not touched)."""
    if not download.folder.name.startswith(_PREFIX):  # never anything but a cache folder
        raise ValueError(f"{download.folder} is not a Hugging Face cache folder of a model")
    shutil.rmtree(download.folder)


def installed_text(model_id: str, root: Path, cached: dict[str, Download]) -> str:
    """The model's state in a few words: exported (which precisions), downloaded, or not yet."""
    parts = []
    exported = exported_precisions(model_id, root)
    if exported:
        parts.append(f"Exported ({', '.join(exported)})")
    if model_id in cached:
        parts.append(f"In the Hugging Face cache ({human_size(cached[model_id].size)})")
    return "; ".join(parts) or "Not yet"
