"""The Hugging Face access token, for private or gated models: saved to and removed from
huggingface_hub's own token file (``login``/``logout``), never the app's settings. Saving checks
the token with the Hub off the GUI thread."""

from __future__ import annotations

from PySide6.QtCore import Slot
from PySide6.QtWidgets import (
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from pegasus_desktop import errors
from pegasus_desktop.tasks import run_in_background


def _token_hint() -> str:
    from huggingface_hub import get_token

    token = get_token()
    return f"A token is saved (…{token[-4:]})." if token else "No token is saved."


class TokenBox(QGroupBox):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Hugging Face access token", parent)
        self.status = QLabel(_token_hint())
        self.token = QLineEdit()
        self.token.setEchoMode(QLineEdit.EchoMode.Password)
        self.token.setPlaceholderText("hf_… (for private or gated models)")
        save_token = QPushButton("Save token")
        save_token.clicked.connect(self.save)
        remove_token = QPushButton("Remove token")
        remove_token.clicked.connect(self.remove)
        token_row = QHBoxLayout()
        token_row.addWidget(self.token, 1)
        token_row.addWidget(save_token)
        token_row.addWidget(remove_token)
        token_layout = QVBoxLayout(self)
        token_layout.addLayout(token_row)
        token_layout.addWidget(self.status)

    @Slot()
    def save(self) -> None:
        token = self.token.text().strip()
        if not token:
            return
        from huggingface_hub import login

        self.status.setText("Checking the token with the Hugging Face Hub…")
        run_in_background(
            lambda: login(token=token, add_to_git_credential=False),
            self._token_saved,
            self._token_failed,
        )

    @Slot(object)
    def _token_saved(self, _result) -> None:
        self.token.clear()
        self.status.setText(_token_hint())

    @Slot(object, str)
    def _token_failed(self, error: Exception, details: str) -> None:
        self.status.setText(_token_hint())
        errors.show_error(
            self,
            "Token not saved",
            f"The token could not be checked with the Hugging Face Hub, so it was not saved: {error}. "
            f"Check that it is a valid access token and that this computer is online.",
            details,
        )

    @Slot()
    def remove(self) -> None:
        from huggingface_hub import logout

        try:
            logout()
        except (OSError, ValueError) as e:
            errors.show_error(self, "Token not removed", str(e))
        self.status.setText(_token_hint())
