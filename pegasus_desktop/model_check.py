"""Check a model the user names before it is saved: a Hugging Face id's syntax, or that a folder
holds a Pegasus checkpoint (config and weights). Answers are plain sentences, "" when fine.

No network and no Qt: whether the id exists on the Hub is found out when it is downloaded.
(``--model`` on the command line could use ``model_problem`` too.)
"""

from __future__ import annotations

from pathlib import Path

ID_EXAMPLE = "google/pegasus-xsum"


def hub_id_problem(model_id: str) -> str:
    """Why ``model_id`` cannot be a Hugging Face model id, or ""."""
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils import validate_repo_id

    model_id = model_id.strip()
    if not model_id:
        return f"Type a Hugging Face model id, such as {ID_EXAMPLE}."
    try:
        validate_repo_id(model_id)
    except HFValidationError:
        return (
            f"“{model_id}” is not a Hugging Face model id. An id is owner/name, such as "
            f"{ID_EXAMPLE}: letters, digits, '-', '_' and '.', with one '/' between the owner "
            f"and the name (neither may start or end with '-' or '.')."
        )
    return ""


def folder_problem(folder: str | Path) -> str:
    """Why ``folder`` is not a Pegasus checkpoint this app can export, or ""."""
    from engine.errors import EngineError
    from engine.export.checkpoint import check_checkpoint

    folder = Path(folder).expanduser()
    if not str(folder).strip():
        return "Choose a checkpoint folder."
    if not folder.exists():
        return f"{folder} does not exist."
    if not folder.is_dir():
        return f"{folder} is a file, not a folder: choose the folder that holds config.json."
    try:
        check_checkpoint(folder)
    except EngineError as e:
        return str(e)
    return ""


def model_problem(model: str) -> str:
    """A folder (when one exists there, or the text looks like a path) or a hub id."""
    path = Path(model).expanduser()
    if path.is_dir() or model.startswith((".", "/", "~")) or "\\" in model:
        return folder_problem(path)
    return hub_id_problem(model)
