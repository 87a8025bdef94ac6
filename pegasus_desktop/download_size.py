"""How big the first-run download is, said before it starts.

The hub's own file sizes when it can be asked (only the files the export would fetch), "already
downloaded" when the Hugging Face cache holds the checkpoint, else the usual size of a curated
model, else unknown. ``describe`` blocks on the network: run it off the GUI thread. It never
raises. This module knows nothing about Qt.
"""

from __future__ import annotations

import logging
from pathlib import Path

from engine.files import human_size

log = logging.getLogger(__name__)

CHECKING = "Download: checking the size…"

# What the curated models (settings.CURATED_MODELS) download, for when the hub cannot be asked:
# their fp32 weights (parameters × 4 bytes: 568M for the pegasus-large shape, 369M for the 16-4
# distilled ones, as their published configs give) plus the 1.9 MB tokenizer. The hub's exact
# figures replace these whenever it answers.
_LARGE = 2_285_000_000
_DISTILLED_16_4 = 1_479_000_000
USUAL_SIZES: dict[str, int] = {
    "google/pegasus-cnn_dailymail": _LARGE,
    "google/pegasus-xsum": _LARGE,
    "google/pegasus-large": _LARGE,
    "google/pegasus-multi_news": _LARGE,
    "google/pegasus-arxiv": _LARGE,
    "google/pegasus-pubmed": _LARGE,
    "sshleifer/distill-pegasus-cnn-16-4": _DISTILLED_16_4,
    "sshleifer/distill-pegasus-xsum-16-4": _DISTILLED_16_4,
}


def needs_download(model_id: str) -> bool:
    """A local checkpoint folder downloads nothing; anything else is a hub id."""
    return not Path(model_id).expanduser().is_dir()


def describe(model_id: str) -> str:
    """One line for the first-run page: what Start will download for ``model_id``."""
    try:
        return _describe(model_id)
    except Exception as e:  # noqa: BLE001 - a size is a courtesy: never a reason to fail
        log.warning("could not find out the download size of %s: %s", model_id, e)
        return "Download size: unknown."


def _describe(model_id: str) -> str:
    from engine.export.checkpoint import download_size, is_cached

    size = download_size(model_id)
    if size is not None:
        if size.to_fetch == 0:
            return "Download: none, the model is already in the Hugging Face cache."
        return f"Download: {human_size(size.to_fetch)}."
    if is_cached(model_id):
        return "Download: none, the model is already in the Hugging Face cache."
    if model_id in USUAL_SIZES:
        return (
            f"Download: about {human_size(USUAL_SIZES[model_id])} (this model's usual size; the "
            f"Hugging Face Hub could not be asked just now)."
        )
    return "Download size: unknown (the Hugging Face Hub could not tell)."
