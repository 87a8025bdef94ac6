"""A whole app session in a fresh interpreter, for test_app_process: first run (spawned export),
load, summarize, settings dialog, open a PDF. Prints what it saw as JSON, including whether
torch or transformers were ever imported into this (the GUI) process.

    python gui_session.py CHECKPOINT MODELS_ROOT ARTICLE_FILE
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def wait_until(app, condition, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("the app did not get there in time")
        app.processEvents()
        time.sleep(0.02)


def main() -> int:
    checkpoint, root, article_file = sys.argv[1:4]
    from pegasus_desktop.app import create_application
    from pegasus_desktop.errors import install_excepthook
    from pegasus_desktop.main_window import MainWindow
    from pegasus_desktop.settings import Settings
    from pegasus_desktop.settings_dialog import SettingsDialog

    app = create_application(sys.argv[:1])
    install_excepthook()
    window = MainWindow(Settings(model_id=checkpoint, models_root=root))
    window.show()
    wait_until(app, lambda: window.stack.currentWidget() is window.first_run, 30)
    window.first_run.start()
    wait_until(app, lambda: window.model is not None, 240)
    window.page.input.setPlainText(Path(article_file).read_text(encoding="utf-8"))
    done = []
    window.engine.finished.connect(lambda request, summary: done.append(summary.text))
    window.summarize()
    wait_until(app, lambda: bool(done), 60)
    dialog = SettingsDialog(window.settings, window.delete_export, window)
    dialog.show()
    app.processEvents()
    dialog.reject()
    window.close()
    print(
        json.dumps(
            {
                "summary": done[0],
                "shown": window.page.output.toPlainText(),
                "forbidden": sorted(
                    m for m in ("torch", "transformers", "onnx") if m in sys.modules
                ),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
