"""Take docs/screenshot.png: the real window under Xvfb, summarizing with the repo's fixture model.

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
    window.page.input.setPlainText(ARTICLE.read_text(encoding="utf-8").strip())
    window.page.options.advanced_button.setChecked(True)
    done = []
    window.engine.finished.connect(lambda request, summary: done.append(summary))
    window.summarize()
    wait_until(app, lambda: bool(done), 60)
    for _ in range(20):
        app.processEvents()
        time.sleep(0.02)
    shot = window.screen().grabWindow(window.winId())
    out = REPO / "docs" / "screenshot.png"
    shot.save(str(out))
    print(out, done[0].text)
    window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
