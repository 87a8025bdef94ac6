"""Settings (Ctrl+,): the model, the Hugging Face token, precision, threads, and what is on disk.

The Model tab is a model manager (``model_manager``): the curated models with what each is for,
its download size and whether it is exported or downloaded, and a one-click Use for an installed
export; a model id or folder typed is checked at once, in plain words. The Storage tab lists the
exports and the Hugging Face downloads, each with its size, and deletes them.

The dialog edits a copy of ``Settings``; the main window applies it (and reloads the engine when
the model, precision, threads or data folder changed). The token goes to huggingface_hub's own
store (``token_box``), never into the settings file.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QRadioButton,
    QSpinBox,
    QTabWidget,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from engine.files import human_size
from engine.model_dir import default_models_root
from pegasus_desktop import errors
from pegasus_desktop.model_inventory import list_exports
from pegasus_desktop.model_manager import CuratedModels, DownloadsBox, use_button
from pegasus_desktop.resources import folder_size
from pegasus_desktop.settings import CURATED_MODELS, Settings
from pegasus_desktop.signals import emit
from pegasus_desktop.token_box import TokenBox

log = logging.getLogger(__name__)


class SettingsDialog(QDialog):
    reexport_requested = Signal()

    def __init__(
        self,
        settings: Settings,
        delete_export: Callable[[Path], None],
        parent: QWidget | None = None,
        in_use: Path | None = None,
    ):
        """``in_use``: the export folder the window has loaded (deleting it is warned about)."""
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self.settings = dataclasses.replace(settings)
        self.delete_export = delete_export
        self.in_use = Path(in_use) if in_use is not None else None
        tabs = QTabWidget()
        tabs.addTab(self._model_tab(), "Model")
        tabs.addTab(self._storage_tab(), "Storage")
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(tabs)
        layout.addWidget(buttons)
        self._show_model(settings.model_id)
        self.resize(800, 640)

    # -- the Model tab

    def _model_tab(self) -> QWidget:
        self.source = QButtonGroup(self)
        self.curated_radio = QRadioButton("Recommended model:")
        self.hub_radio = QRadioButton("Another Hugging Face model:")
        self.folder_radio = QRadioButton("Local checkpoint folder:")
        for button in (self.curated_radio, self.hub_radio, self.folder_radio):
            self.source.addButton(button)
        self.curated = CuratedModels()
        self.curated.use.connect(self.use_export)
        self.curated.itemSelectionChanged.connect(lambda: self.curated_radio.setChecked(True))
        self.hub_id = QLineEdit()
        self.hub_id.setPlaceholderText("owner/name, e.g. google/pegasus-billsum")
        self.hub_id.textEdited.connect(lambda: self.hub_radio.setChecked(True))
        self.folder = QLineEdit()
        self.folder.setPlaceholderText("A folder with config.json, the weights and the tokenizer")
        self.folder.textEdited.connect(lambda: self.folder_radio.setChecked(True))
        browse = QPushButton("Folder…")
        browse.clicked.connect(self._browse_checkpoint)
        folder_row = QHBoxLayout()
        folder_row.addWidget(self.folder, 1)
        folder_row.addWidget(browse)
        # A model typed or chosen is checked at once, in plain words, not when it is first used.
        self.model_problem = QLabel("")
        self.model_problem.setObjectName("modelProblem")
        self.model_problem.setWordWrap(True)
        self.model_problem.setVisible(False)
        self.hub_id.textChanged.connect(self._check_model)
        self.folder.textChanged.connect(self._check_model)
        self.source.buttonToggled.connect(self._check_model)

        model_box = QGroupBox("Model")
        model_layout = QVBoxLayout(model_box)
        model_layout.addWidget(self.curated_radio)
        model_layout.addWidget(self.curated)
        model_layout.addWidget(self.hub_radio)
        model_layout.addWidget(self.hub_id)
        model_layout.addWidget(self.folder_radio)
        model_layout.addLayout(folder_row)
        model_layout.addWidget(self.model_problem)

        self.precision = QComboBox()
        self.precision.addItem("int8: smaller and faster (recommended)", "int8")
        self.precision.addItem("fp32: exact, four times larger", "fp32")
        self.precision.setCurrentIndex(max(0, self.precision.findData(self.settings.precision)))
        self.precision.currentIndexChanged.connect(  # the Use buttons offer this precision
            lambda _: self.curated.refresh(self.models_root(), self.precision.currentData())
        )
        self.threads = QSpinBox()
        self.threads.setRange(0, max(1, os.cpu_count() or 1))
        self.threads.setSpecialValueText("Automatic")
        self.threads.setValue(self.settings.n_threads)
        reexport = QPushButton("Re-export this model…")
        reexport.setToolTip("Convert the current model again, replacing its export")
        reexport.clicked.connect(self._reexport)
        form = QFormLayout()
        form.addRow("Precision:", self.precision)
        form.addRow("CPU threads:", self.threads)
        form.addRow("", reexport)

        tab = QWidget()
        layout = QVBoxLayout(tab)
        layout.addWidget(model_box, 1)
        self.token_box = TokenBox()
        layout.addWidget(self.token_box)
        # The parts the tests and the keyboard reach, by their old names.
        self.token, self.token_status = self.token_box.token, self.token_box.status
        self._save_token, self._remove_token = self.token_box.save, self.token_box.remove
        layout.addLayout(form)
        return tab

    def _show_model(self, model_id: str) -> None:
        curated = [m for m, _ in CURATED_MODELS]
        if model_id in curated:
            self.curated.setCurrentItem(self.curated.topLevelItem(curated.index(model_id)))
            self.curated_radio.setChecked(True)
        elif Path(model_id).expanduser().is_dir():
            self.folder.setText(model_id)
            self.folder_radio.setChecked(True)
        else:
            self.hub_id.setText(model_id)
            self.hub_radio.setChecked(True)

    def problem_with_choice(self) -> str:
        """Why the model chosen cannot be used, in plain words, or ""."""
        from pegasus_desktop.model_check import folder_problem, hub_id_problem

        if self.folder_radio.isChecked():
            return folder_problem(self.folder.text().strip())
        if self.hub_radio.isChecked():
            return hub_id_problem(self.hub_id.text())
        return "" if self.chosen_model() else "Choose a model from the list."

    @Slot()
    def _check_model(self, *_args) -> None:
        problem = self.problem_with_choice()
        self.model_problem.setText(f"⚠ {problem}" if problem else "")
        self.model_problem.setVisible(bool(problem))

    def chosen_model(self) -> str:
        if self.folder_radio.isChecked():
            text = self.folder.text().strip()
            return str(Path(text).expanduser().resolve()) if text else ""
        if self.hub_radio.isChecked():
            return self.hub_id.text().strip()
        item = self.curated.currentItem()
        return item.text(0) if item else self.settings.model_id

    @Slot()
    def _browse_checkpoint(self) -> None:
        folder = QFileDialog.getExistingDirectory(
            self, "Choose a checkpoint folder", self.folder.text()
        )
        if folder:
            self.folder.setText(folder)
            self.folder_radio.setChecked(True)

    @Slot()
    def _reexport(self) -> None:
        # It replaces a working export and can take minutes (and a download): ask first.
        if errors.confirm(
            self,
            "Re-export the model?",
            f"Convert {self.chosen_model()} to {self.precision.currentData()} again, replacing "
            f"its export? This takes a few minutes and may download the model again. If you "
            f"cancel it, the current export is kept.",
        ) and self.accept_if_valid():
            emit(self.reexport_requested)

    # -- the Storage tab

    def _storage_tab(self) -> QWidget:
        self.root_label = QLabel()
        self.root_label.setObjectName("dataFolder")
        self.root_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.root_label.setWordWrap(True)
        self.size_label = QLabel()
        open_button = QPushButton("Open folder")
        open_button.clicked.connect(self._open_root)
        change = QPushButton("Change…")
        change.clicked.connect(self._change_root)
        default = QPushButton("Use default")
        default.clicked.connect(lambda: self._set_root(""))
        row = QHBoxLayout()
        row.addWidget(open_button)
        row.addWidget(change)
        row.addWidget(default)
        row.addStretch(1)
        self.exports = QTreeWidget()
        self.exports.setHeaderLabels(["Model", "Precision", "Size", ""])
        self.exports.setRootIsDecorated(False)
        delete = QPushButton("Delete…")
        delete.setObjectName("deleteExport")
        delete.clicked.connect(self._delete_selected)
        self.delete_button = delete
        self.exports.itemSelectionChanged.connect(
            lambda: delete.setEnabled(bool(self.exports.selectedItems()))
        )
        tab = QWidget()
        layout = QVBoxLayout(tab)
        layout.addWidget(QLabel("Exported models are stored in:"))
        layout.addWidget(self.root_label)
        layout.addWidget(self.size_label)
        layout.addLayout(row)
        layout.addSpacing(8)
        layout.addWidget(QLabel("Exported models:"))
        layout.addWidget(self.exports, 1)
        layout.addWidget(delete, 0, Qt.AlignmentFlag.AlignRight)
        layout.addWidget(QLabel("Downloads (the Hugging Face cache, used only to export):"))
        self.downloads = DownloadsBox()
        self.downloads.changed.connect(self._refresh_storage)
        layout.addWidget(self.downloads, 1)
        self._refresh_storage()
        delete.setEnabled(False)  # nothing is selected yet
        return tab

    def models_root(self) -> Path:
        return self.settings.models_root_path()

    def _refresh_storage(self) -> None:
        root = self.models_root()
        self.root_label.setText(str(root) + ("" if self.settings.models_root else " (default)"))
        self.size_label.setText(f"Using {human_size(folder_size(root))}.")
        self.exports.clear()
        for folder, source, precision, size in list_exports(root):
            item = QTreeWidgetItem(self.exports, [source, precision, human_size(size)])
            item.setData(0, Qt.ItemDataRole.UserRole, str(folder))
            self.exports.setItemWidget(item, 3, use_button(
                "Use", f"Switch to this export of {source} ({precision})",
                lambda m=source, p=precision: self.use_export(m, p),
            ))
        for column in range(4):
            self.exports.resizeColumnToContents(column)
        self.curated.refresh(root, self.precision.currentData())
        if hasattr(self, "delete_button"):
            self.delete_button.setEnabled(bool(self.exports.selectedItems()))

    def _set_root(self, root: str) -> None:
        self.settings.models_root = "" if root and Path(root) == default_models_root() else root
        self._refresh_storage()

    @Slot()
    def _change_root(self) -> None:
        folder = QFileDialog.getExistingDirectory(
            self, "Store exported models in", str(self.models_root())
        )
        if folder:
            self._set_root(folder)

    @Slot()
    def _open_root(self) -> None:
        from pegasus_desktop.article_files import show_folder

        show_folder(self, self.models_root())

    @Slot()
    def _delete_selected(self) -> None:
        items = self.exports.selectedItems()
        if not items:
            return
        item = items[0]
        folder = Path(item.data(0, Qt.ItemDataRole.UserRole))
        in_use = ""
        if self.in_use is not None and folder.resolve() == self.in_use.resolve():
            in_use = (
                "⚠ This is the model in use now: after deleting it, nothing can be summarized "
                "until it is exported again (or another model is chosen).\n\n"
            )
        if not errors.confirm(
            self,
            "Delete the export?",
            f"{in_use}Delete the {item.text(1)} export of {item.text(0)} ({item.text(2)})?\n\n{folder}\n\n"
            f"It can be made again later (which may download the model again).",
        ):
            return
        try:
            self.delete_export(folder)
        except OSError as e:
            errors.show_error(self, "Not deleted", f"{folder} could not be deleted: {e}")
        self._refresh_storage()

    # -- result

    @Slot(str, str)
    def use_export(self, model_id: str, precision: str) -> None:
        """One click on an installed export's Use: choose it and close, as OK would."""
        self.precision.setCurrentIndex(max(0, self.precision.findData(precision)))
        self._show_model(model_id)
        self.accept_if_valid()

    def accept_if_valid(self) -> bool:
        model_id = self.chosen_model()
        problem = self.problem_with_choice()
        if not model_id and not problem:
            problem = "Choose a model: pick one from the list, type a Hugging Face id, or choose a folder."
        if problem:
            errors.show_error(self, "Check the model", problem)
            return False
        self.settings.model_id = model_id
        self.settings.precision = self.precision.currentData()
        self.settings.n_threads = self.threads.value()
        super().accept()
        return True

    def accept(self) -> None:
        self.accept_if_valid()

    def result_settings(self) -> Settings:
        return self.settings
