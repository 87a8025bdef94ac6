"""Length (Short / Medium / Long), how a long text is read, and the Advanced options, with
defaults from the model.

The presets are derived from the model's generation config: Medium is its own min/max length,
Short half of it, Long one and a half times the minimum and twice the maximum (capped at what
the model can generate). Editing the lengths by hand leaves no preset selected.
"""

from __future__ import annotations

from PySide6.QtCore import Signal, Slot
from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QDoubleSpinBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from engine import GenerationOptions
from pegasus_desktop.signals import emit

LENGTHS = ("short", "medium", "long")
DOCUMENT_MODES = (("Whole document", "whole"), ("Beginning only (faster)", "beginning"))
# How the summary is searched: the model's own beam search (its generation config), or greedy
# search, which the engine drafts from the article (several tokens checked per decoder run).
SEARCHES = (("Best", "best"), ("Fast", "fast"))


def length_presets(defaults: dict, limit: int) -> dict[str, tuple[int, int]]:
    """{"short": (min, max), ...} in tokens, from a generation config and the model's limit."""
    low = int(defaults.get("min_length") or 0)
    high = int(defaults.get("max_length") or 20)

    def clamp(lo: float, hi: float) -> tuple[int, int]:
        hi = max(2, min(round(hi), limit))
        return max(0, min(round(lo), hi - 1)), hi

    return {
        "short": clamp(low * 0.5, high * 0.5),
        "medium": clamp(low, high),
        "long": clamp(low * 1.5, high * 2),
    }


def _choices(name: str, items: tuple[tuple[str, str], ...], tooltip: str) -> QComboBox:
    """A combo box of (label, value) items, named for tests and styles."""
    box = QComboBox()
    box.setObjectName(name)
    for label, value in items:
        box.addItem(label, value)
    box.setToolTip(tooltip)
    return box


class OptionsPanel(QWidget):
    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model_id = ""
        self.defaults: dict = {}
        self.presets = length_presets({}, 1024)
        self._applying = False

        self.length_group = QButtonGroup(self)
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(QLabel("Length:"))
        for name in LENGTHS:
            button = QPushButton(name.capitalize())
            button.setCheckable(True)
            button.setObjectName(f"length_{name}")
            self.length_group.addButton(button)
            row.addWidget(button)
        self.length_group.buttonClicked.connect(self._preset_clicked)
        self.search = _choices(
            "searchMode", SEARCHES,
            "Best: the model's own beam search (its default). Fast: one candidate at a time, "
            "checking the words it copies from the article several at once; about twice as fast, "
            "and the wording can differ a little.",
        )
        self.search.currentIndexChanged.connect(self._search_changed)
        self.search.setAccessibleName("Search")  # no label: the window's minimum width stays 700
        row.addWidget(self.search)
        self.advanced_button = QToolButton()
        self.advanced_button.setText("Advanced")
        self.advanced_button.setCheckable(True)
        self.advanced_button.setToolTip("Beams, lengths, length penalty and repetition")
        self.advanced_button.toggled.connect(self._show_advanced)
        row.addWidget(self.advanced_button)
        self.mode = _choices(  # the page places it, under Summarize
            "documentMode", DOCUMENT_MODES,
            "A text longer than the model reads at once: summarize all of it in parts and combine "
            "the parts' summaries, or only its beginning (faster).",
        )
        self.mode.currentIndexChanged.connect(lambda _: emit(self.changed))
        row.addStretch(1)

        self.beams = self._spin(
            1, 8, "Beams searched in parallel: more can read better but is slower."
        )
        self.min_length = self._spin(0, 1024, "The summary has at least this many tokens.")
        self.max_length = self._spin(2, 1024, "The summary stops at this many tokens.")
        self.length_penalty = QDoubleSpinBox()
        self.length_penalty.setRange(-5.0, 5.0)
        self.length_penalty.setSingleStep(0.1)
        self.length_penalty.setToolTip(
            "Above 1 favours longer summaries, below 1 shorter ones (beam search)."
        )
        self.length_penalty.valueChanged.connect(self._edited)
        self.length_penalty.setMinimumWidth(self.length_penalty.sizeHint().width())
        self.no_repeat = self._spin(
            0, 10, "Never repeat a phrase of this many tokens (0: allowed)."
        )
        self.min_length.valueChanged.connect(lambda v: self.max_length.setMinimum(max(2, v + 1)))
        reset = QPushButton("Model defaults")
        reset.clicked.connect(self.reset_to_defaults)

        self.advanced = QWidget()
        grid = QGridLayout(self.advanced)
        grid.setContentsMargins(0, 0, 0, 0)
        lengths = QHBoxLayout()
        lengths.addWidget(self.min_length)
        lengths.addWidget(QLabel("to"))
        lengths.addWidget(self.max_length)
        lengths.addWidget(QLabel("tokens"))
        grid.addWidget(QLabel("Beams:"), 0, 0)
        grid.addWidget(self.beams, 0, 1)
        grid.addWidget(QLabel("Length:"), 0, 2)
        grid.addLayout(lengths, 0, 3)
        grid.addWidget(QLabel("Length penalty:"), 1, 0)
        grid.addWidget(self.length_penalty, 1, 1)
        grid.addWidget(QLabel("No-repeat n-gram size:"), 1, 2)
        no_repeat_row = QHBoxLayout()
        no_repeat_row.addWidget(self.no_repeat)
        no_repeat_row.addStretch(1)
        no_repeat_row.addWidget(reset)
        grid.addLayout(no_repeat_row, 1, 3)
        grid.setColumnStretch(4, 1)
        self.advanced.setVisible(False)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(row)
        layout.addWidget(self.advanced)
        self._select("medium")

    def _spin(self, low: int, high: int, tip: str) -> QSpinBox:
        spin = QSpinBox()
        spin.setRange(low, high)
        spin.setToolTip(tip)
        spin.valueChanged.connect(self._edited)
        spin.setMinimumWidth(spin.sizeHint().width())  # never clipped ("12" for 128) in a small window
        return spin

    # -- the model's defaults and the user's choice

    def set_model(self, model_id: str, defaults: dict, limit: int) -> None:
        """A model was loaded: its generation config gives the defaults and the presets."""
        self.model_id = model_id
        self.defaults = defaults
        self.presets = length_presets(defaults, limit)
        for spin in (self.min_length, self.max_length):
            spin.setMaximum(limit)
        for name, (low, high) in self.presets.items():
            self._button(name).setToolTip(f"{low}–{high} tokens")
        self.reset_to_defaults()

    @Slot()
    def reset_to_defaults(self) -> None:
        self._applying = True
        self.beams.setValue(int(self.defaults.get("num_beams") or 1))
        self.length_penalty.setValue(float(self.defaults.get("length_penalty", 1.0)))
        self.no_repeat.setValue(int(self.defaults.get("no_repeat_ngram_size") or 0))
        self._applying = False
        self._apply_preset("medium")

    def search_mode(self) -> str:
        """"best" (the beams set here, the model's by default) or "fast" (greedy, drafted)."""
        return self.search.currentData()

    @Slot()
    def _search_changed(self) -> None:
        self.beams.setEnabled(self.search_mode() == "best")  # Fast is one beam
        emit(self.changed)

    def options(self) -> GenerationOptions:
        return GenerationOptions(
            num_beams=1 if self.search_mode() == "fast" else self.beams.value(),
            min_length=self.min_length.value(),
            max_length=self.max_length.value(),
            length_penalty=round(self.length_penalty.value(), 3),
            no_repeat_ngram_size=self.no_repeat.value(),
        )

    def document_mode(self) -> str:
        """How a text longer than the model reads is summarized: "whole" or "beginning"."""
        return self.mode.currentData()

    def set_document_mode(self, mode: str) -> None:
        index = self.mode.findData(mode)
        self.mode.setCurrentIndex(max(index, 0))

    def length(self) -> str:
        button = self.length_group.checkedButton()
        return button.objectName().removeprefix("length_") if button else "custom"

    def state(self) -> dict:
        o = self.options()
        return {
            "model": self.model_id,
            "length": self.length(),
            "advanced": self.advanced_button.isChecked(),
            "search": self.search_mode(),
            "num_beams": self.beams.value(),
            "min_length": o.min_length,
            "max_length": o.max_length,
            "length_penalty": o.length_penalty,
            "no_repeat_ngram_size": o.no_repeat_ngram_size,
        }

    def restore(self, state: dict) -> None:
        """Restore saved values, if they were saved for the current model."""
        self.advanced_button.setChecked(bool(state.get("advanced")))
        self.search.setCurrentIndex(max(self.search.findData(state.get("search", "best")), 0))
        if state.get("model") != self.model_id:
            return
        self._applying = True
        try:
            for spin, key in (
                (self.beams, "num_beams"),
                (self.min_length, "min_length"),
                (self.max_length, "max_length"),
                (self.no_repeat, "no_repeat_ngram_size"),
            ):
                if isinstance(state.get(key), int):
                    spin.setValue(state[key])
            if isinstance(state.get("length_penalty"), (int, float)):
                self.length_penalty.setValue(float(state["length_penalty"]))
        finally:
            self._applying = False
        self._sync_preset()

    # -- presets

    def _button(self, name: str) -> QPushButton:
        return self.findChild(QPushButton, f"length_{name}")

    def _select(self, name: str | None) -> None:
        self.length_group.setExclusive(False)
        for button in self.length_group.buttons():
            button.setChecked(button.objectName() == f"length_{name}")
        self.length_group.setExclusive(True)

    def _apply_preset(self, name: str) -> None:
        low, high = self.presets[name]
        self._applying = True
        self.max_length.setMinimum(2)
        self.max_length.setValue(high)
        self.min_length.setValue(low)
        self._applying = False
        self._select(name)
        emit(self.changed)

    @Slot(QPushButton)
    def _preset_clicked(self, button) -> None:
        self._apply_preset(button.objectName().removeprefix("length_"))

    def _sync_preset(self) -> None:
        """Select the preset that matches the lengths, or none."""
        lengths = (self.min_length.value(), self.max_length.value())
        match = next((n for n, v in self.presets.items() if v == lengths), None)
        self._select(match)

    @Slot()
    def _edited(self) -> None:
        if self._applying:
            return
        self._sync_preset()
        emit(self.changed)

    @Slot(bool)
    def _show_advanced(self, shown: bool) -> None:
        self.advanced.setVisible(shown)
        self.advanced_button.setText("Advanced ▾" if shown else "Advanced")
        emit(self.changed)
