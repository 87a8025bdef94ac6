"""The Settings dialog's model manager: the curated models with what each is for, its download
size and what of it is on this computer, a one-click Use for a model already exported; and the
Hugging Face downloads, each with its size and a Delete… button.

Widgets only: ``model_inventory`` reads the disk, ``SettingsDialog`` places these and applies
the choice.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (
    QHBoxLayout,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from engine.files import human_size
from pegasus_desktop import errors, model_inventory
from pegasus_desktop.download_size import USUAL_SIZES
from pegasus_desktop.settings import CURATED_MODELS
from pegasus_desktop.signals import emit

COLUMNS = ["Model", "What it is for", "Download", "On this computer", ""]
USE_COLUMN = 4


def use_button(text: str, tip: str, slot: Callable[[], None]) -> QWidget:
    """A small button for a tree row (in a widget, so it keeps its size in the cell)."""
    button = QPushButton(text)
    button.setToolTip(tip)
    button.clicked.connect(lambda: slot())  # not clicked(bool)'s flag as the slot's first argument
    holder = QWidget()
    layout = QHBoxLayout(holder)
    layout.setContentsMargins(2, 0, 2, 0)
    layout.addWidget(button)
    return holder


class CuratedModels(QTreeWidget):
    """The curated models. Column 0 is the hub id, 1 the description; a model with an export has
    a Use button that switches to it at once (``use`` gives the id and the precision)."""

    use = Signal(str, str)  # model id, precision

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setHeaderLabels(COLUMNS)
        self.setRootIsDecorated(False)
        for model_id, description in CURATED_MODELS:
            size = USUAL_SIZES.get(model_id)
            QTreeWidgetItem(self, [model_id, description, f"≈ {human_size(size)}" if size else ""])

    def refresh(self, root: Path, preferred_precision: str) -> None:
        """Say what of each model is here; a Use button for those exported (in the precision
        chosen when it has that export, else in the one it has)."""
        cached = model_inventory.downloads()
        for i in range(self.topLevelItemCount()):
            item = self.topLevelItem(i)
            model_id = item.text(0)
            item.setText(3, model_inventory.installed_text(model_id, root, cached))
            exported = model_inventory.exported_precisions(model_id, root)
            self.removeItemWidget(item, USE_COLUMN)
            if exported:
                precision = preferred_precision if preferred_precision in exported else exported[0]
                self.setItemWidget(item, USE_COLUMN, use_button(
                    f"Use ({precision})",
                    f"Switch to {model_id} ({precision}), already exported: no download, no wait",
                    lambda m=model_id, p=precision: emit(self.use, m, p),
                ))
        for column in range(len(COLUMNS)):
            self.resizeColumnToContents(column)

    def use_widget(self, model_id: str) -> QPushButton | None:
        """The Use button of a model's row, if it has one."""
        for i in range(self.topLevelItemCount()):
            item = self.topLevelItem(i)
            if item.text(0) == model_id:
                holder = self.itemWidget(item, USE_COLUMN)
                return holder.findChild(QPushButton) if holder is not None else None
        return None


class DownloadsBox(QWidget):
    """The Hugging Face cache's models, with their sizes; Delete… removes one (after asking).
    ``changed`` is emitted after a deletion."""

    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.list = QTreeWidget()
        self.list.setObjectName("downloads")
        self.list.setHeaderLabels(["Model", "Size"])
        self.list.setRootIsDecorated(False)
        self.delete_button = QPushButton("Delete download…")
        self.delete_button.setObjectName("deleteDownload")
        self.delete_button.clicked.connect(self.delete_selected)
        self.list.itemSelectionChanged.connect(self._update_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.list, 1)
        layout.addWidget(self.delete_button, 0, Qt.AlignmentFlag.AlignRight)
        self.refresh()

    def refresh(self) -> None:
        self.list.clear()
        for download in model_inventory.downloads().values():
            item = QTreeWidgetItem(self.list, [download.model_id, human_size(download.size)])
            item.setData(0, Qt.ItemDataRole.UserRole, download)
            item.setToolTip(0, str(download.folder))
        for column in range(2):
            self.list.resizeColumnToContents(column)
        self._update_button()

    @Slot()
    def _update_button(self) -> None:
        self.delete_button.setEnabled(bool(self.list.selectedItems()))

    @Slot()
    def delete_selected(self) -> None:
        items = self.list.selectedItems()
        if not items:
            return
        download = items[0].data(0, Qt.ItemDataRole.UserRole)
        if not errors.confirm(
            self,
            "Delete the download?",
            f"Delete the download of {download.model_id} ({human_size(download.size)}) from the "
            f"Hugging Face cache?\n\n{download.folder}\n\nIts exports stay and keep working; "
            f"exporting it again would download it again.",
        ):
            return
        try:
            model_inventory.delete_download(download)
        except (OSError, ValueError) as e:
            errors.show_error(self, "Not deleted", f"{download.folder} could not be deleted: {e}")
        self.refresh()
        emit(self.changed)
