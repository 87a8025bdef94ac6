"""The main window: a first-run page (prepare the model), the Summary page, the Batch view and
History, menus, status line.

It holds one ``EngineClient`` (the summarizer on its worker thread) for the whole session and
reloads it only when the model, precision, threads or data folder change, and one
``HistoryStore`` (every finished summary, and the Batch queue). Summarizing is in
``summarizing`` (mixed in: it works on the window's own state, the model and the summary under
way); opening, copying and saving are done by an ``ArticleFiles`` the window owns (``files``). The
Batch view is asked, never its queue, whether a batch is running.
"""

from __future__ import annotations

import dataclasses
import logging
import shutil
from pathlib import Path

from PySide6.QtCore import QByteArray, Qt, QTimer, Slot
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import (
    QLabel,
    QMainWindow,
    QStackedWidget,
    QTabBar,
    QVBoxLayout,
    QWidget,
)

from engine.model_dir import MANIFEST, export_dir
from engine.tokenizer import TextTokenizer
from pegasus_desktop import errors, quitting
from pegasus_desktop.article_files import ArticleFiles, show_folder
from pegasus_desktop.batch import DONE
from pegasus_desktop.batch_view import BatchView
from pegasus_desktop.first_run import FirstRunView
from pegasus_desktop.history import Entry, HistoryError, HistoryStore
from pegasus_desktop.history_view import HistoryView, entry_note
from pegasus_desktop.menus import fill_menus, make_action, show_about
from pegasus_desktop.resources import APP_TITLE, log_dir
from pegasus_desktop.settings import Settings, save_settings
from pegasus_desktop.summarizing import Summarizing
from pegasus_desktop.summary_page import SummaryPage, model_name, status_text
from pegasus_desktop.worker import EngineClient, ModelInfo

log = logging.getLogger(__name__)


class MainWindow(Summarizing, QMainWindow):
    def __init__(self, settings: Settings) -> None:
        super().__init__()
        self.setWindowTitle(APP_TITLE)
        self.settings = settings
        self.engine = EngineClient(self)
        self.model: ModelInfo | None = None
        self.tokenizer: TextTokenizer | None = None
        self.request = 0  # the summary being written, 0 for none
        self.request_options = None  # its (GenerationOptions, document mode)
        self.request_search = "best"  # and its search kind (options_panel.SEARCHES)
        self.request_model: ModelInfo | None = None  # and the model writing it
        self.search_seconds: dict[str, float] = {}  # each search kind's last time (model in use)
        self.model_of_summary: tuple[str, str] | None = None  # (model id, precision) of the summary shown
        self.history = self._open_history()
        self._build_widgets()
        self.files = ArticleFiles(self, self.page, settings.last_folder)  # open, copy, save
        self._build_actions()
        self._build_menus()
        self._connect()
        self._restore()
        QTimer.singleShot(0, self.prepare_model)

    # -- building

    def _build_actions(self) -> None:
        act, files = make_action, self.files
        self.open_action = act(self, "&Open…", files.open_file, ["Ctrl+O"], "Open an article file")
        self.save_action = act(self, "&Save summary…", files.save_summary, ["Ctrl+S"])
        self.quit_action = act(self, "&Quit", self.close, ["Ctrl+Q"])
        self.copy_action = act(self, "&Copy summary", files.copy_summary, ["Ctrl+Shift+C"])
        self.settings_action = act(self, "Se&ttings…", self.open_settings, ["Ctrl+,"])
        self.summarize_action = act(
            self, "&Summarize", self.summarize, ["Ctrl+Return", "Ctrl+Enter"]
        )
        self.cancel_action = act(self, "&Cancel", self.cancel, ["Esc"], "Stop the summary")
        self.summary_view_action = act(
            self, "S&ummary", lambda: self.tabs.setCurrentIndex(0), ["Ctrl+1"]
        )
        self.batch_view_action = act(
            self, "&Batch", lambda: self.tabs.setCurrentIndex(1), ["Ctrl+2"]
        )
        self.history_view_action = act(
            self, "&History", lambda: self.tabs.setCurrentIndex(2), ["Ctrl+3"]
        )
        self.log_action = act(self, "Show &log folder", lambda: show_folder(self, log_dir()))
        self.about_action = act(
            self,
            "&About Pegasus Desktop",
            lambda: show_about(self, self.settings.models_root_path()),
        )

    def _build_menus(self) -> None:
        fill_menus(
            self.menuBar(),
            (
                ("&File", (self.open_action, self.save_action, None, self.quit_action)),
                ("&Edit", (self.copy_action, None, self.settings_action)),
                (
                    "&View",
                    (self.summary_view_action, self.batch_view_action, self.history_view_action),
                ),
                ("&Summary", (self.summarize_action, self.cancel_action)),
                ("&Help", (self.log_action, self.about_action)),
            ),
        )

    def _build_widgets(self) -> None:
        self.page = SummaryPage()
        options = self.page.options
        self.batch = BatchView(
            self.engine,
            lambda: (options.options(), options.document_mode()),
            store=self.history,
            model=lambda: self.model,
        )
        self.history_view = HistoryView(self.history)
        self.first_run = FirstRunView()
        self.stack = QStackedWidget()
        self.views = (self.page, self.batch, self.history_view)  # in the tab bar's order
        for widget in (*self.views, self.first_run):
            self.stack.addWidget(widget)
        self.tabs = QTabBar()
        for name in ("Summary", "Batch", "History"):
            self.tabs.addTab(name)
        self.tabs.setDocumentMode(True)
        central = QWidget()
        layout = QVBoxLayout(central)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.tabs)
        layout.addWidget(self.stack, 1)
        self.setCentralWidget(central)
        self.status = QLabel("")
        self.status.setObjectName("status")
        self.statusBar().addWidget(self.status, 1)
        self.count_timer = QTimer(self, singleShot=True, interval=250)
        self.save_timer = QTimer(self, singleShot=True, interval=1500)

    def _connect(self) -> None:
        page, files = self.page, self.files
        page.open_button.clicked.connect(files.open_file)
        page.copy_button.clicked.connect(files.copy_summary)
        page.save_button.clicked.connect(files.save_summary)
        page.summarize_button.clicked.connect(self.summarize)
        page.cancel_button.clicked.connect(self.cancel)
        page.input.file_dropped.connect(files.open_path)
        page.input.refused.connect(self._input_refused, Qt.ConnectionType.QueuedConnection)
        page.input.textChanged.connect(self.count_timer.start)
        page.input.textChanged.connect(self.save_timer.start)
        page.options.changed.connect(self.save_timer.start)
        page.options.mode.currentIndexChanged.connect(self.count_timer.start)
        self.tabs.currentChanged.connect(self.show_view)
        files.message.connect(self.statusBar().showMessage)
        self.batch.running_changed.connect(self._batch_running)
        self.batch.message.connect(lambda text: self.statusBar().showMessage(text, 5000))
        self.batch.open_summary.connect(self.show_entry)
        self.history_view.reopen.connect(self.show_entry)
        self.history_view.message.connect(lambda text: self.statusBar().showMessage(text, 5000))
        self.count_timer.timeout.connect(self.update_count)
        self.save_timer.timeout.connect(self.save)
        engine = self.engine
        engine.loaded.connect(self._loaded)
        engine.load_failed.connect(self._load_failed)
        engine.partial.connect(self._partial)
        engine.chunk.connect(self._chunk)
        engine.finished.connect(self._finished)
        engine.failed.connect(self._failed)
        engine.cancelled.connect(self._cancelled)
        self.first_run.ready.connect(self.load_model)
        self.first_run.stopped.connect(self._first_run_stopped)
        self.first_run.settings_requested.connect(self.open_settings)

    def _restore(self) -> None:
        s = self.settings
        if not (s.geometry and self.restoreGeometry(QByteArray.fromBase64(s.geometry.encode()))):
            self.resize(1100, 720)
        if s.window_state:
            self.page.splitter.restoreState(QByteArray.fromBase64(s.window_state.encode()))
        self.page.input.setPlainText(s.last_input)
        self.page.options.set_document_mode(s.document_mode)
        self.cancel_action.setEnabled(False)
        self._set_ready(False)
        if self.history is not None and self.history.problem:
            problem = self.history.problem
            QTimer.singleShot(0, lambda: errors.show_error(self, "History was set aside", problem))

    def _open_history(self) -> HistoryStore | None:
        try:
            return HistoryStore()
        except HistoryError as e:
            log.error("%s", e)
            problem = str(e)
            QTimer.singleShot(0, lambda: errors.show_error(self, "No History", problem))
            return None

    # -- the model

    def export_folder(self) -> Path:
        s = self.settings
        return export_dir(s.model_id, s.precision, s.models_root_path())

    @Slot()
    def prepare_model(self) -> None:
        """Load the chosen model's export, or show the first-run view when there is none."""
        if (self.export_folder() / MANIFEST).is_file():
            self.load_model()
        else:
            self.show_first_run()

    def show_first_run(self, problem: str = "", reexport: bool = False) -> None:
        s = self.settings
        if self.model is not None:  # the page replaces the model in use (another folder or model)
            self.engine.unload_now()
            self.model = None
        self.first_run.prepare(s.model_id, s.precision, s.models_root_path(), problem, reexport)
        self.stack.setCurrentWidget(self.first_run)
        self.first_run.start_button.setFocus()
        self.tabs.setVisible(False)
        self._set_ready(False)
        self.status.setText(f"{model_name(s.model_id)} · {s.precision} · not set up yet")

    @Slot()
    def load_model(self) -> None:
        s = self.settings
        self.model = None
        self._set_ready(False)
        self.show_view()
        self.status.setText(f"Loading {model_name(s.model_id)} ({s.precision})…")
        self.engine.load(s.model_id, s.precision, s.models_root_path(), s.threads())

    @Slot(object)
    def _loaded(self, info: ModelInfo) -> None:
        if (info.model_id, info.precision) != (self.settings.model_id, self.settings.precision):
            return  # an older request; the load for the current settings is queued behind it
        made_by = self.model_of_summary
        if made_by is not None and made_by != (info.model_id, info.precision):
            self.page.mark_out_of_date(
                f"it was written by another model ({model_name(made_by[0])}, {made_by[1]})"
            )
        self.model = info
        # Every time on the status line is this model's: the times so far were another load's
        # (another model or precision, other threads, a re-export).
        self.search_seconds.clear()
        self.show_view()
        self.tokenizer = TextTokenizer(
            info.folder, int(info.generation_defaults.get("eos_token_id", 1))
        )
        self.page.options.set_model(info.model_id, info.generation_defaults, info.max_input_tokens)
        self.page.options.restore(self.settings.options)
        self._set_ready(True)
        self.status.setText(status_text(info.model_id, info.precision))
        self.update_count()

    @Slot(str, str)
    def _load_failed(self, message: str, details: str) -> None:
        self.show_first_run(problem=message)
        errors.show_error(self, "The model could not be loaded", message, details)

    @Slot()
    def _first_run_stopped(self) -> None:
        if (self.export_folder() / MANIFEST).is_file():  # a cancelled re-export: the old one stays
            self.load_model()

    @Slot()
    def show_view(self) -> None:
        """The Summary page, the Batch view or History, as the tab bar says."""
        self.tabs.setVisible(True)
        self.stack.setCurrentWidget(self.views[max(0, self.tabs.currentIndex())])

    @Slot(object)
    def show_entry(self, entry: Entry) -> None:
        """Open a kept summary (History, a Batch file) on the Summary page, beside its article."""
        if self.request:
            self.statusBar().showMessage(
                "A summary is being written: wait for it, or cancel it (Esc), then open this one.",
                8000,
            )
            return
        self.page.show_stored(entry.article, entry.summary, entry_note(entry))
        self.model_of_summary = (entry.model_id, entry.precision)
        source = Path(entry.source) if entry.kind in ("file", "batch") else None
        self.files.set_opened(source, entry.article)
        self.tabs.setCurrentIndex(0)

    @Slot(bool)
    def _batch_running(self, running: bool) -> None:
        self._set_ready(self.model is not None)
        self.update_cancel()

    def _set_ready(self, ready: bool) -> None:
        free = ready and not self.request and not self.batch.running
        self.summarize_action.setEnabled(free)
        self.page.summarize_button.setEnabled(free)
        self.batch.set_ready(ready and not self.request)

    # -- the article's file: ``files`` does the work; these are for app.py (a file named on the
    # command line), scripts and tests

    def open_path(self, path: Path) -> None:
        self.files.open_path(path)

    def copy_summary(self) -> None:
        self.files.copy_summary()

    def save_summary(self) -> None:
        self.files.save_summary()

    @property
    def opened_file(self) -> Path | None:
        return self.files.opened_file

    def delete_export(self, folder: Path) -> None:
        """Delete an export folder (unloading it first when it is the one in use)."""
        if self.model is not None and Path(folder) == Path(self.model.folder):
            self.cancel()
            self.engine.unload_now()
            self.model = None
            self._set_ready(False)
        shutil.rmtree(folder)
        try:
            Path(folder).parent.rmdir()  # the model's folder, when no other precision is left
        except OSError:
            pass

    # -- settings, help, closing

    @Slot()
    def open_settings(self) -> None:
        from pegasus_desktop.settings_dialog import SettingsDialog

        in_use = Path(self.model.folder) if self.model is not None else None
        dialog = SettingsDialog(self.settings, self.delete_export, self, in_use=in_use)
        reexport = []
        dialog.reexport_requested.connect(lambda: reexport.append(True))
        if dialog.exec() == SettingsDialog.DialogCode.Accepted:
            self.apply_settings(dialog.result_settings(), reexport=bool(reexport))
        elif self.model is None and not self.first_run.is_running():
            self.prepare_model()

    def apply_settings(self, new: Settings, reexport: bool = False) -> None:
        keys = ("model_id", "precision", "n_threads", "models_root")
        changed = any(getattr(new, k) != getattr(self.settings, k) for k in keys)
        self.settings = dataclasses.replace(self.settings, **{k: getattr(new, k) for k in keys})
        self.save()
        if self.first_run.is_running():
            self.first_run.cancel()
        if reexport:
            self.cancel()
            self.engine.unload_now()
            self.model = None
            self.show_first_run(reexport=True)
            self.first_run.start()
        elif changed or self.model is None:
            self.cancel()
            self.prepare_model()

    @Slot()
    def save(self) -> None:
        s = self.settings
        s.geometry = bytes(self.saveGeometry().toBase64()).decode()
        s.window_state = bytes(self.page.splitter.saveState().toBase64()).decode()
        s.last_input = self.page.input.toPlainText()
        s.last_folder = self.files.last_folder
        s.document_mode = self.page.options.document_mode()
        if self.model is not None:
            s.options = self.page.options.state()
        try:
            save_settings(s)
        except OSError as e:
            log.warning("settings not saved: %s", e)

    def closeEvent(self, event: QCloseEvent) -> None:
        """Ctrl+Q, the window's close button, Ctrl+C in the terminal: ask first when a summary
        or a batch would be interrupted."""
        counts = self.batch.counts()
        unstored = counts[DONE] if self.history is None else 0
        reasons = quitting.work_in_progress(
            bool(self.request), counts if self.batch.running else None,
            unstored_summaries=unstored,
        )
        if reasons and not quitting.confirm_quit(self, reasons):
            event.ignore()
            return
        self.batch.cancel()  # the file under way goes back to the queue for next time
        self.save()
        self.first_run.cancel()
        self.engine.shutdown()
        event.accept()
