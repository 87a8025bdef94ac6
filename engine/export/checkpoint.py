"""Find, download and load a Pegasus checkpoint: a hub id, a local folder, or a loaded model.

Downloads go through huggingface_hub, so its cache, ``HF_HUB_OFFLINE``, ``HF_ENDPOINT`` and saved
token all apply, and their byte progress reaches ``on_progress``.

Nothing from a model repository is ever run: a checkpoint that asks for its own code
(``auto_map``) is refused, and its weights are read by ``checkpoint_reader``, from safetensors
when the checkpoint has them, else from PyTorch's ``pytorch_model.bin`` by an unpickler that can
rebuild nothing but tensors (``bin_reader``; a file that needs more is refused, unrun).

This module knows nothing about ONNX, and imports neither torch nor transformers.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from fnmatch import fnmatch
from pathlib import Path

from tqdm.auto import tqdm

from engine.errors import EngineError, ModelNotFoundError, OfflineError, UnsafeCheckpointError
from engine.progress import ProgressCallback, report

# What a summarizer needs from a repository: weights in safetensors when the repo has them, else
# PyTorch's pytorch_model.bin (one file, or shards and their index), never both.
_CONFIG_FILES = ["config.json", "generation_config.json"]
_TOKENIZER_FILES = ["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "spiece.model"]
_SAFETENSORS = ["*.safetensors", "*.safetensors.index.json"]
_TORCH_WEIGHTS = ["pytorch_model.bin", "pytorch_model.bin.index.json", "pytorch_model-*.bin"]


@dataclass(frozen=True)
class Checkpoint:
    """A checkpoint on local disk, and where it came from."""

    model_id: str  # as the user named it
    folder: Path
    revision: str | None  # the hub commit, when downloaded


def _progress_tqdm(on_progress: ProgressCallback | None) -> type[tqdm]:
    """A silent tqdm class that forwards huggingface_hub's byte counts to ``on_progress``."""

    class ForwardingTqdm(tqdm):
        def __init__(self, *args, **kwargs):
            kwargs.pop("name", None)
            kwargs["file"] = io.StringIO()  # windowed builds may have no stderr at all
            super().__init__(*args, **kwargs)

        def update(self, n=1):
            shown = super().update(n)
            if self.unit == "B" and str(self.desc).startswith("Reconstruct"):
                report(on_progress, "download", self.n, self.total or 0)
            return shown

    return ForwardingTqdm


def _transport_errors() -> tuple[type[BaseException], ...]:
    """Network failures of huggingface_hub's HTTP client (httpx2 now, httpx before): not OSErrors."""
    import importlib

    errors = []
    for client in ("httpx2", "httpx"):
        try:
            errors.append(importlib.import_module(client).TransportError)
        except (ImportError, AttributeError):
            pass
    return tuple(errors)


def _remove_partial_downloads(model_id: str) -> None:
    """Delete the partial files that killed downloads of this repo left in the Hugging Face cache.

    huggingface_hub 2 writes each download to a process-unique ``<etag>.<id>.incomplete`` file
    and never resumes one, so an interrupted download of a 2 GB checkpoint would otherwise stay
    there for good. A partial file whose download lock is free has no live writer.
    """
    from filelock import FileLock, Timeout
    from huggingface_hub import constants
    from huggingface_hub.file_download import repo_folder_name

    cache = Path(constants.HF_HUB_CACHE)
    repo = repo_folder_name(repo_id=model_id, repo_type="model")
    for partial in (cache / repo / "blobs").glob("*.incomplete"):
        lock = FileLock(cache / ".locks" / repo / f"{partial.name.split('.')[0]}.lock", mode=0o664)
        try:
            lock.acquire(timeout=0)
        except (Timeout, OSError):
            continue  # being downloaded right now
        try:
            partial.unlink(missing_ok=True)
        finally:
            lock.release()


def _download(model_id: str, revision: str | None, token, on_progress) -> Checkpoint:
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import (
        GatedRepoError,
        HFValidationError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    report(on_progress, "download", 0, 0, model_id)
    try:
        _remove_partial_downloads(model_id)
        folder = Path(
            snapshot_download(
                model_id,
                revision=revision,
                token=token,
                allow_patterns=_CONFIG_FILES + _TOKENIZER_FILES + _SAFETENSORS,
                tqdm_class=_progress_tqdm(on_progress),
            )
        )
        check_no_remote_code(folder)
        if not any(folder.glob("*.safetensors")):  # e.g. google/pegasus-cnn_dailymail: .bin only
            folder = Path(
                snapshot_download(
                    model_id, revision=revision, token=token, allow_patterns=_TORCH_WEIGHTS,
                    tqdm_class=_progress_tqdm(on_progress),
                )
            )
    except HFValidationError as e:  # before any request: the id cannot name a repository
        raise ModelNotFoundError(
            f"{model_id!r} is neither a folder nor a Hugging Face model id (an id is owner/name, e.g. "
            f"google/pegasus-cnn_dailymail, of letters, digits, '-', '_' and '.'): {e}"
        ) from e
    except GatedRepoError as e:
        raise EngineError(
            f"{model_id} is gated: accept its terms on the Hugging Face Hub and give an access token."
        ) from e
    except RepositoryNotFoundError as e:  # after GatedRepoError, its subclass
        raise ModelNotFoundError(
            f"There is no model called {model_id!r} on the Hugging Face Hub (or it is private: give an "
            f"access token). Check the spelling, e.g. google/pegasus-cnn_dailymail."
        ) from e
    except RevisionNotFoundError as e:
        raise EngineError(f"{model_id} has no revision {revision!r}.") from e
    except _transport_errors() as e:
        raise OfflineError(
            f"The connection failed while downloading {model_id} ({e}). Check the network and try "
            f"again: what was already downloaded is kept in the Hugging Face cache."
        ) from e
    except LocalEntryNotFoundError as e:
        from huggingface_hub import constants

        raise OfflineError(
            f"Cannot download {model_id}: there is no network connection (or HF_HUB_OFFLINE is set) and "
            f"it is not in the Hugging Face cache ({constants.HF_HUB_CACHE}). Connect once, or use a "
            f"local checkpoint folder that holds config.json, the weights and the tokenizer."
        ) from e
    except OSError as e:
        from huggingface_hub import constants

        from engine.model_dir import disk_full_error, is_disk_full

        if is_disk_full(e):
            raise disk_full_error(Path(constants.HF_HUB_CACHE), None, e) from e
        raise EngineError(f"Downloading {model_id} failed: {e}") from e
    return Checkpoint(model_id, folder, folder.name if folder.parent.name == "snapshots" else revision)


@dataclass(frozen=True)
class DownloadSize:
    """What ``resolve`` would fetch for a hub id, in bytes, as the hub reports it."""

    total: int  # the files a download uses: configs, tokenizer, and one set of weights
    to_fetch: int  # the part of it that is not in the Hugging Face cache yet


def _used_files(files: list) -> list:
    """The files ``_download`` would take from a listing: never .bin when safetensors are there."""
    if any(f.filename.endswith(".safetensors") for f in files):
        return [f for f in files if not any(fnmatch(f.filename, p) for p in _TORCH_WEIGHTS)]
    return files


def download_size(model_id: str, *, revision: str | None = None, token=None) -> DownloadSize | None:
    """Ask the hub what downloading ``model_id`` would take, without downloading anything.

    A network call (a listing, and a HEAD per file not in the cache): keep it off a GUI thread.
    None when the hub cannot be asked: offline (or ``HF_HUB_OFFLINE``), unknown, gated or private.
    """
    from huggingface_hub import snapshot_download

    try:
        files = snapshot_download(
            model_id, revision=revision, token=token, dry_run=True, tqdm_class=_progress_tqdm(None),
            allow_patterns=_CONFIG_FILES + _TOKENIZER_FILES + _SAFETENSORS + _TORCH_WEIGHTS,
        )
    except Exception:  # noqa: BLE001 - any failure means the hub cannot say; the export reports why
        return None
    used = _used_files(files)
    return DownloadSize(
        total=sum(f.file_size or 0 for f in used),
        to_fetch=sum(f.file_size or 0 for f in used if f.will_download),
    )


def is_cached(model_id: str, *, revision: str | None = None) -> bool:
    """Whether the Hugging Face cache holds a complete checkpoint of ``model_id`` (no network)."""
    from huggingface_hub import snapshot_download

    try:
        folder = Path(
            snapshot_download(
                model_id, revision=revision, local_files_only=True, tqdm_class=_progress_tqdm(None),
                allow_patterns=_CONFIG_FILES + _TOKENIZER_FILES + _SAFETENSORS + _TORCH_WEIGHTS,
            )
        )
    except Exception:  # noqa: BLE001 - not cached, or an incomplete snapshot
        return False
    return (folder / "config.json").is_file() and weights_format(folder) is not None


def resolve(model_id: str, *, revision: str | None = None, token=None, on_progress=None) -> Checkpoint:
    """A local folder is used as it is; anything else is a hub id, downloaded or taken from the cache.

    A download fetches the safetensors weights, or pytorch_model*.bin when the repo has none.
    """
    path = Path(model_id).expanduser()
    if path.is_dir():
        check_checkpoint(path)
        return Checkpoint(model_id, path.resolve(), revision)
    if path.suffix or model_id.startswith((".", "/", "~")):
        raise ModelNotFoundError(f"{model_id} is not a folder. Give a checkpoint folder or a Hugging Face model id.")
    checkpoint = _download(model_id, revision, token, on_progress)
    check_checkpoint(checkpoint.folder)
    return checkpoint


def check_checkpoint(folder: Path) -> None:
    """Refuse, before any heavy work, a checkpoint that is not Pegasus, has no weights, or asks for
    its own code. (What a pytorch_model.bin holds is checked as it is read, by ``bin_reader``.)"""
    check_is_pegasus(folder)
    check_no_remote_code(folder)
    weights = weights_format(folder)
    if weights is None:
        raise EngineError(
            f"{folder} has no model weights (model.safetensors or pytorch_model.bin): it is not a "
            f"complete checkpoint."
        )


def check_no_remote_code(folder: Path) -> None:
    """Refuse a checkpoint that asks for its own Python code (an ``auto_map`` entry)."""
    for name in ("config.json", "tokenizer_config.json"):
        try:
            data = json.loads((folder / name).read_text())
        except (OSError, ValueError):
            continue
        if isinstance(data, dict) and data.get("auto_map"):
            raise UnsafeCheckpointError(
                f"{folder} asks to run Python code of its own (its {name} has an auto_map entry). "
                f"This program never runs code that comes with a model, so it cannot export it. "
                f"Use a standard Pegasus checkpoint."
            )


def check_is_pegasus(folder: Path) -> dict:
    try:
        config = json.loads((folder / "config.json").read_text())
    except FileNotFoundError as e:
        raise EngineError(f"{folder} is not a model checkpoint: it has no config.json.") from e
    except (OSError, ValueError) as e:
        raise EngineError(f"The config.json in {folder} cannot be read: {e}") from e
    if config.get("model_type") != "pegasus":
        raise EngineError(
            f"{folder} holds a {config.get('model_type') or 'unknown'!r} model, not a Pegasus one. "
            f"This program summarizes with Pegasus checkpoints (model_type 'pegasus')."
        )
    return config


def weights_format(folder: Path) -> str | None:
    """``"safetensors"``, ``"torch"`` (pytorch_model*.bin only), or None when there are no weights."""
    if any(folder.glob("*.safetensors")):
        return "safetensors"
    if any(folder.glob("pytorch_model*.bin")):
        return "torch"
    return None
