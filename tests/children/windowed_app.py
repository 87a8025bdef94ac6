"""The app started as pythonw or a windowed build starts it: sys.stdout and sys.stderr are None.

A second after the window shows, it prints, logs and drives a tqdm bar, then closes. The
arguments are the app's own (``--model ID FILE``).
"""

from __future__ import annotations

import sys


def main() -> int:
    sys.stdout = None
    sys.stderr = None
    import logging

    import tqdm
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    import pegasus_desktop.main_window as mw
    from pegasus_desktop.__main__ import main as app

    def later() -> None:
        tqdm.tqdm(range(3)).update()
        print("printed")
        logging.getLogger("x").warning("windowed ok")
        QApplication.instance().closeAllWindows()

    show = mw.MainWindow.show
    mw.MainWindow.show = lambda self: (show(self), QTimer.singleShot(1000, later))
    return app()


if __name__ == "__main__":
    raise SystemExit(main())
