"""The first-run view: prepare the chosen model (download, load, export, quantize, verify) with
a progress bar per stage and a Cancel button. The export runs in a child process (``ExportJob``).

Shown when the chosen model has no export yet, when its export is damaged, and for Re-export.
A failed or cancelled run leaves nothing behind and offers to try again. Before Start, the page
says how big the download is (``download_size``, found out off the GUI thread).
"""

from __future__ import annotations

import html
import logging
from pathlib import Path

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from engine.files import human_size
from pegasus_desktop import download_size, errors
from pegasus_desktop.export_messages import ExportFailed, FailureKind
from pegasus_desktop.export_process import ExportJob
from pegasus_desktop.resources import hf_cache_dir
from pegasus_desktop.signals import emit
from pegasus_desktop.tasks import run_in_background

log = logging.getLogger(__name__)

STAGE_TITLES = {
    "download": "Download",
    "load": "Load the checkpoint",
    "export": "Convert to ONNX",
    "quantize": "Quantize to int8",
    "verify": "Check the result",
}
_NOT_PREPARED = "The model could not be prepared"
FAILURE_TITLES = {
    FailureKind.OFFLINE: "No network connection",
    FailureKind.NO_SUCH_MODEL: _NOT_PREPARED,
    FailureKind.DISK: "Not enough disk space",
    FailureKind.REFUSED: _NOT_PREPARED,
    FailureKind.CANCELLED: _NOT_PREPARED,
    FailureKind.MISSING_EXTRA: "Export components missing",
    FailureKind.ENGINE: _NOT_PREPARED,
    FailureKind.CRASH: _NOT_PREPARED,
}

_WAITING = (
    "Another Pegasus Desktop window (or pegasus-summarize) is preparing this model right now. "
    "Waiting for it to finish; its result will be used here too."
)


def display_name(model_id: str) -> str:
    path = Path(model_id).expanduser()
    return f"the checkpoint in {path}" if path.is_dir() else model_id


def offline_advice() -> str:
    return (
        "To work without a network: choose a local checkpoint folder (one with config.json, the "
        "weights and the tokenizer) in Settings → Model → Folder…, or put the model in the "
        f"Hugging Face cache at {hf_cache_dir()} (download it once on a computer with a "
        "connection, or copy that folder here)."
    )


def failure_text(failure: ExportFailed) -> tuple[str, str]:
    """The title and the text the page shows for a failed export."""
    title = FAILURE_TITLES[failure.kind]
    text = f"{title}. {failure.message}"
    if failure.kind is FailureKind.OFFLINE:
        text += "\n\n" + offline_advice()
    return title, text


class StageRow:
    def __init__(self, grid: QGridLayout, row: int, stage: str) -> None:
        self.stage = stage
        self.title = QLabel(STAGE_TITLES[stage])
        self.bar = QProgressBar()
        self.bar.setObjectName(f"bar_{stage}")
        self.bar.setTextVisible(False)
        self.detail = QLabel("")
        self.detail.setObjectName(f"detail_{stage}")
        self.detail.setMinimumWidth(180)
        for column, widget in enumerate((self.title, self.bar, self.detail)):
            grid.addWidget(widget, row, column)
        self.reset()

    def reset(self) -> None:
        self.bar.setRange(0, 1000)
        self.bar.setValue(0)
        self.detail.setText("Waiting")

    def show(self, done: float, total: float, detail: str) -> None:
        if self.stage == "download":
            if total:
                text = f"{human_size(done)} of {human_size(total)}"
            else:
                text = f"{human_size(done)}" if done else "Checking the Hugging Face cache…"
        elif total and done >= total:
            text = "Done"
        elif detail and total > 1:
            text = f"{detail} ({int(done) + 1} of {int(total)})"
        else:
            text = "Working…"
        if total:
            self.bar.setRange(0, 1000)
            self.bar.setValue(int(1000 * min(1.0, done / total)))
        else:
            self.bar.setRange(0, 0)  # busy: the size is not known yet
        self.detail.setText(text)

    def stop(self) -> None:
        """The job ended early: a row under way stops its busy animation and its "Checking…"
        text, which would otherwise say the work still goes on."""
        busy = self.bar.maximum() == 0
        if busy or 0 < self.bar.value() < 1000:
            self.bar.setRange(0, 1000)
            self.bar.setValue(0 if busy else self.bar.value())
            self.detail.setText("Stopped")

    def complete(self, text: str = "Done") -> None:
        self.bar.setRange(0, 1000)
        self.bar.setValue(1000)
        self.detail.setText(text)


class FirstRunView(QWidget):
    ready = Signal(str)  # the published export folder
    stopped = Signal()  # cancelled by the user
    settings_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.job = ExportJob(self)
        self.model_id = ""
        self.precision = "int8"
        self.root = Path()
        self._size_request = 0  # answers to an earlier prepare() are dropped

        self.title = QLabel()
        font = self.title.font()
        font.setPointSizeF(font.pointSizeF() * 1.5)
        font.setBold(True)
        self.title.setFont(font)
        self.intro = QLabel()
        self.intro.setWordWrap(True)
        self.intro.setTextFormat(Qt.TextFormat.RichText)
        self.download_size = QLabel()
        self.download_size.setObjectName("downloadSize")
        self.download_size.setWordWrap(True)
        self.message = QLabel()
        self.message.setObjectName("firstRunMessage")
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.message.setFrameShape(QFrame.Shape.StyledPanel)
        self.message.setMargin(8)
        self.message.setVisible(False)

        grid = QGridLayout()
        grid.setColumnStretch(1, 1)
        self.rows = {stage: StageRow(grid, i, stage) for i, stage in enumerate(STAGE_TITLES)}

        self.settings_button = QPushButton("Settings…")
        self.settings_button.clicked.connect(self.settings_requested)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel)
        self.start_button = QPushButton("Start")
        self.start_button.setObjectName("start")
        # Outside a dialog only an auto-default button answers Return; with the focus on it (see
        # _set_running and MainWindow.show_first_run), Return starts the export.
        self.start_button.setAutoDefault(True)
        self.start_button.clicked.connect(self.start)
        buttons = QHBoxLayout()
        buttons.addWidget(self.settings_button)
        buttons.addStretch(1)
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.start_button)

        box = QWidget()
        box.setMaximumWidth(760)
        layout = QVBoxLayout(box)
        # Top-aligned, with the buttons above the message: a message that appears or grows (on
        # Start, on a failure) only takes space below them, so they never move under the mouse.
        layout.addSpacing(24)
        layout.addWidget(self.title)
        layout.addWidget(self.intro)
        layout.addWidget(self.download_size)
        layout.addSpacing(8)
        layout.addLayout(grid)
        layout.addSpacing(8)
        layout.addLayout(buttons)
        layout.addWidget(self.message)
        layout.addStretch(1)
        outer = QHBoxLayout(self)
        outer.addStretch(1)
        outer.addWidget(box, 4)
        outer.addStretch(1)

        self.job.info.connect(self._info)
        self.job.progress.connect(self._progress)
        self.job.succeeded.connect(self._succeeded)
        self.job.failed.connect(self._failed)
        self.job.cancelled.connect(self._cancelled)
        self._set_running(False)

    # -- what the main window calls

    def prepare(
        self, model_id: str, precision: str, root: Path, problem: str = "", reexport: bool = False
    ) -> None:
        """Show the view for a model; ``problem`` says why an existing export cannot be used."""
        self.model_id, self.precision, self.root = model_id, precision, Path(root)
        name = html.escape(display_name(model_id))
        again = bool(problem or reexport)
        self.title.setText("Re-export the model" if again else "Set up the model")
        if Path(model_id).expanduser().is_dir():
            action = f"converts <b>{name}</b>"
        else:
            action = (
                f"downloads <b>{name}</b> from the Hugging Face Hub (or takes it from its cache) "
                f"and converts it"
            )
        folder = html.escape(str(root))
        if again:  # not a first run: say what is replaced, not "this happens once"
            self.intro.setText(
                f"Pegasus Desktop {action} to {precision} again and replaces its export in "
                f"{folder}. If you cancel, nothing is changed."
            )
        else:
            self.intro.setText(
                f"Before the first summary, Pegasus Desktop {action} to {precision} for fast "
                f"summaries on this computer's processor. This happens once; after that, "
                f"everything runs offline. The result goes to {folder}."
            )
        self.rows["quantize"].title.setVisible(precision == "int8")
        self.rows["quantize"].bar.setVisible(precision == "int8")
        self.rows["quantize"].detail.setVisible(precision == "int8")
        for row in self.rows.values():
            row.reset()
        self._show_message(problem)
        self.start_button.setText("Re-export" if problem else "Start")
        self._check_download_size(model_id)

    def _check_download_size(self, model_id: str) -> None:
        """Say how big the download is: the answer comes from a network call, off this thread."""
        self._size_request += 1
        needed = download_size.needs_download(model_id)
        self.download_size.setVisible(needed)
        if not needed:
            return
        self.download_size.setText(download_size.CHECKING)
        request = self._size_request
        run_in_background(
            lambda: (request, download_size.describe(model_id)), self._size_known, self._size_unknown
        )

    @Slot(object)
    def _size_known(self, answer: tuple[int, str]) -> None:
        request, text = answer
        if request == self._size_request:
            self.download_size.setText(text)

    @Slot(object, str)
    def _size_unknown(self, error: Exception, details: str) -> None:  # describe() never raises
        log.warning("download size check failed: %s\n%s", error, details)
        if self.download_size.text() == download_size.CHECKING:
            self.download_size.setText("Download size: unknown.")

    def is_running(self) -> bool:
        return self.job.is_running()

    @Slot()
    def start(self) -> None:
        if self.job.is_running():
            return
        for row in self.rows.values():
            row.reset()
        self._show_message("Checking free disk space…")
        self._set_running(True)
        self.job.start(self.model_id, self.precision, self.root)

    @Slot()
    def cancel(self) -> None:
        self.job.cancel()

    # -- the job's signals

    def _set_running(self, running: bool) -> None:
        self.start_button.setEnabled(not running)
        self.settings_button.setEnabled(not running)
        self.cancel_button.setEnabled(running)
        (self.cancel_button if running else self.start_button).setFocus()

    def _show_message(self, text: str) -> None:
        self.message.setText(text)
        self.message.setVisible(bool(text))

    @Slot(str)
    def _info(self, text: str) -> None:
        self._show_message(text)

    @Slot(str, float, float, str)
    def _progress(self, stage: str, done: float, total: float, detail: str) -> None:
        if stage == "wait":
            self._show_message(_WAITING)
            return
        if self.message.text() == _WAITING:  # the other one is done: this one goes on
            self._show_message("")
        if stage not in self.rows:
            return
        order = list(STAGE_TITLES)
        for earlier in order[: order.index(stage)]:  # a stage that never reported was not needed
            row = self.rows[earlier]
            if row.bar.maximum() == 0 or row.bar.value() < 1000:
                row.complete("Not needed" if row.detail.text() == "Waiting" else "Done")
        self.rows[stage].show(done, total, detail)

    @Slot(str)
    def _succeeded(self, folder: str) -> None:
        for row in self.rows.values():
            if row.bar.value() < 1000:
                row.complete()
        self._show_message("Ready.")
        self._set_running(False)
        emit(self.ready, folder)

    @Slot(object)
    def _failed(self, failure: ExportFailed) -> None:
        self._set_running(False)
        for row in self.rows.values():
            row.stop()
        self.start_button.setText("Try again")
        title, text = failure_text(failure)
        self._show_message(text + "\n\nNothing was kept. Fix the problem and try again.")
        errors.show_error(self, title, text, failure.details)

    @Slot()
    def _cancelled(self) -> None:
        self._set_running(False)
        self.start_button.setText("Try again")
        for row in self.rows.values():
            row.reset()
        self._show_message("Cancelled. Nothing was kept: start again whenever you are ready.")
        emit(self.stopped)
