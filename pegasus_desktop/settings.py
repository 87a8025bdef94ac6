"""The app's settings: one dataclass, loaded from and saved to one JSON file in the config dir.

Unknown keys are ignored and a value of the wrong type falls back to its default, so a settings
file from another version (or a damaged one) never stops the app from starting. The Hugging Face
access token is *not* here: huggingface_hub stores it (see ``settings_dialog``).
This module knows nothing about Qt.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

from engine.files import write_atomically
from engine.long_document import MODES
from engine.model_dir import PRECISIONS, default_models_root
from pegasus_desktop.resources import config_dir

log = logging.getLogger(__name__)

DEFAULT_MODEL = "google/pegasus-cnn_dailymail"

# (hub id, one-line description) for the settings dialog's list.
CURATED_MODELS: tuple[tuple[str, str], ...] = (
    ("google/pegasus-cnn_dailymail", "Multi-sentence news summaries (default)"),
    ("google/pegasus-xsum", "One-sentence summaries"),
    ("sshleifer/distill-pegasus-cnn-16-4", "Faster: distilled, multi-sentence news summaries"),
    ("sshleifer/distill-pegasus-xsum-16-4", "Faster: distilled, one-sentence summaries"),
    ("google/pegasus-large", "The pre-trained base model, for general text"),
    ("google/pegasus-multi_news", "Summaries of several news articles on one story"),
    ("google/pegasus-arxiv", "Abstracts of scientific papers"),
    ("google/pegasus-pubmed", "Abstracts of biomedical papers"),
)


@dataclass
class Settings:
    model_id: str = DEFAULT_MODEL  # a hub id or a local checkpoint folder
    precision: str = "int8"
    n_threads: int = 0  # 0: as many as onnxruntime picks
    models_root: str = ""  # "": the user data dir
    options: dict = field(default_factory=dict)  # the options panel's state, for options["model"]
    last_input: str = ""
    geometry: str = ""  # base64 of QMainWindow.saveGeometry()
    window_state: str = ""  # base64 of the splitter's state
    last_folder: str = ""  # where Open… and Save… start
    document_mode: str = "whole"  # a long text: "whole" (in parts, then combined) or "beginning"

    def models_root_path(self) -> Path:
        return Path(self.models_root).expanduser() if self.models_root else default_models_root()

    def threads(self) -> int | None:
        return self.n_threads if self.n_threads > 0 else None


def settings_path() -> Path:
    return config_dir() / "settings.json"


def load_settings(path: Path | None = None) -> Settings:
    """The saved settings, or the defaults for whatever is missing, unreadable or of the wrong type."""
    path = path or settings_path()
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return Settings()
    except (OSError, ValueError) as e:
        log.warning("settings in %s cannot be read (%s); using the defaults", path, e)
        return Settings()
    if not isinstance(raw, dict):
        return Settings()
    defaults = Settings()
    values = {}
    for f in dataclasses.fields(Settings):
        value = raw.get(f.name, getattr(defaults, f.name))
        if type(value) is type(getattr(defaults, f.name)):
            values[f.name] = value
    settings = Settings(**values)
    if settings.precision not in PRECISIONS:
        settings.precision = defaults.precision
    if settings.document_mode not in MODES:
        settings.document_mode = defaults.document_mode
    if not settings.model_id.strip():
        settings.model_id = defaults.model_id
    return settings


def save_settings(settings: Settings, path: Path | None = None) -> None:
    """Write atomically (``engine.files.write_atomically``): a crash mid-write leaves the previous
    file, never half of one. A new file gets the user's default permissions; an existing file
    keeps its own, so a settings file made private stays private."""
    path = path or settings_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, json.dumps(dataclasses.asdict(settings), indent=2, ensure_ascii=False))
