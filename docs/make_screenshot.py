"""Take docs/screenshot.png and docs/screenshot-history.png: the real window under Xvfb,
summarizing with the repo's fixture model, then its History after a few more summaries.

    xvfb-run -a -s "-screen 0 1280x800x24" .venv/bin/python docs/make_screenshot.py

On Debian, Qt's xcb platform under Xvfb needs: apt-get install xvfb xauth libxcb-icccm4
libxcb-keysyms1 libxcb-image0 libxcb-render-util0 libxcb-xkb1 libxkbcommon-x11-0 libxcb-shape0
libxcb-randr0 libxcb-xinerama0 libxcb-cursor0 (the tests use the offscreen platform and need none).

Everything it writes besides the PNG (settings, the export) goes to a temporary folder.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FIXTURE = REPO / "tests" / "fixtures" / "tiny-pegasus"
ARTICLE = REPO / "examples" / "article.txt"


def wait_until(app, condition, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("timed out")
        app.processEvents()
        time.sleep(0.02)


def main() -> int:
    home = Path(tempfile.mkdtemp(prefix="pegasus-screenshot-"))
    for var in ("XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME"):
        os.environ[var] = str(home / var.lower())
    from engine.export.pipeline import export  # the app would do this in its first-run view

    root = home / "models"
    export(str(FIXTURE), root, precision="int8")

    from pegasus_desktop.app import create_application
    from pegasus_desktop.main_window import MainWindow
    from pegasus_desktop.settings import Settings

    app = create_application(sys.argv[:1])
    window = MainWindow(Settings(model_id=str(FIXTURE), models_root=str(root)))
    window.resize(1120, 640)
    window.show()
    wait_until(app, lambda: window.model is not None, 60)
    window.open_path(ARTICLE)  # opened as a file, so History names it
    wait_until(app, lambda: window.opened_file == ARTICLE, 30)
    window.page.options.advanced_button.setChecked(True)
    done = []
    window.engine.finished.connect(lambda request, summary: done.append(summary))
    window.summarize()
    wait_until(app, lambda: len(done) == 1, 60)
    save(app, window, "screenshot.png")
    print(done[0].text)

    # A few more summaries of pasted articles, then History with the first one selected.
    import json

    for line in (FIXTURE / "heldout.jsonl").read_text().splitlines()[:3]:
        window.page.input.setPlainText(json.loads(line)["article"])
        window.summarize()
        wait_until(app, lambda n=len(done) + 1: len(done) == n, 60)
    window.history_view_action.trigger()
    view = window.history_view
    view.refresh()
    view.table.selectRow(view.table.rowCount() - 1)
    save(app, window, "screenshot-history.png")
    window.close()
    return 0


def save(app, window, name: str) -> None:
    """The window as the X server shows it (a real xcb window under Xvfb)."""
    window.statusBar().clearMessage()  # "Opened article.txt." hides the model's status line
    for _ in range(20):
        app.processEvents()
        time.sleep(0.02)
    out = REPO / "docs" / name
    window.screen().grabWindow(window.winId()).save(str(out))
    print(out)


if __name__ == "__main__":
    sys.exit(main())
