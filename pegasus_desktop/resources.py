"""Where the app's files are: bundled resources (also in a frozen build) and the user's folders.

Resources live in ``resources/`` at the top of the repository; a PyInstaller build puts them in
``sys._MEIPASS/resources``. User folders come from platformdirs and honour the XDG variables.
"""

from __future__ import annotations

import sys
from pathlib import Path

import platformdirs

from engine.model_dir import APP_NAME

APP_TITLE = "Pegasus Desktop"


def bundle_root() -> Path:
    """The top of the repository, or ``sys._MEIPASS`` in a PyInstaller build, which keeps the
    repository's layout for the files it ships (``resources/``, the self-test's model and article)."""
    frozen_base = getattr(sys, "_MEIPASS", None)
    return Path(frozen_base) if frozen_base else Path(__file__).resolve().parent.parent


def resource_path(name: str) -> Path:
    """The path of a bundled resource file (it may not exist in a bare pip install)."""
    return bundle_root() / "resources" / name


def config_dir() -> Path:
    """Settings: ``~/.config/pegasus-desktop`` on Linux."""
    return Path(platformdirs.user_config_dir(APP_NAME, appauthor=False))


def data_dir() -> Path:
    """The user's data (History; the models unless Settings choose another folder):
    ``~/.local/share/pegasus-desktop`` on Linux, as engine.model_dir.default_models_root uses."""
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def log_dir() -> Path:
    """Logs: ``~/.local/state/pegasus-desktop/log`` on Linux."""
    return Path(platformdirs.user_log_dir(APP_NAME, appauthor=False))


def hf_cache_dir() -> Path:
    """The Hugging Face hub cache that downloads go to (HF_HOME / HF_HUB_CACHE honoured)."""
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE)


def folder_size(folder: Path) -> int:
    """Bytes used by every file under ``folder`` (0 when it does not exist)."""
    if not folder.is_dir():
        return 0
    total = 0
    for path in folder.rglob("*"):
        try:
            if path.is_file() and not path.is_symlink():
                total += path.stat().st_size
        except OSError:
            pass
    return total
