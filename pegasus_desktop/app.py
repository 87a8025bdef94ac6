"""Start the app: stdio guard, logging, the QApplication, the uncaught-exception dialog, the window.

High-DPI scaling and the system's light or dark theme are Qt 6 defaults; nothing here overrides them.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from pathlib import Path

from pegasus_desktop import __version__
from pegasus_desktop.logs import FILE_ONLY, guard_stdio, setup_logging
from pegasus_desktop.resources import APP_TITLE, resource_path

log = logging.getLogger(__name__)

NO_DISPLAY_EXIT_CODE = 3  # Qt could not open a window here (pegasus_desktop/display.py says why)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="pegasus-desktop", description=f"{APP_TITLE}: offline summaries."
    )
    parser.add_argument(
        "--model", help="a Hugging Face model id or a local checkpoint folder to use (remembered)"
    )
    parser.add_argument(
        "--precision", choices=("int8", "fp32"), help="the precision to use (remembered)"
    )
    parser.add_argument(
        "file", nargs="?", help="an article to open (.txt, .md, .html, .pdf, .docx)"
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument(
        "--self-test",
        action="store_true",
        help="export the bundled test model (or --model) in a temporary folder, summarize a known "
        "article, check the result and exit (0 when it passed); needs no display",
    )
    args, _qt_args = parser.parse_known_args(argv)
    return args


def choose_model(settings, model: str) -> str:
    """Use ``--model`` (a folder or a hub id) in ``settings`` when it can be a model; else leave
    the remembered model as it is and return why, in plain words (a folder that is not a
    checkpoint is never remembered)."""
    from pegasus_desktop.model_check import model_problem

    problem = model_problem(model)
    if problem:
        log.error("--model %s: %s", model, problem)
        print(f"--model {model}: {problem}", file=sys.stderr)
        return f"{problem}\n\nThe model chosen before ({settings.model_id}) is used instead."
    folder = Path(model).expanduser()
    settings.model_id = str(folder.resolve()) if folder.is_dir() else model
    return ""


def create_application(argv: list[str]):
    from PySide6.QtGui import QIcon
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication(argv)
    app.setApplicationName("pegasus-desktop")
    app.setApplicationDisplayName(APP_TITLE)
    app.setApplicationVersion(__version__)
    app.setDesktopFileName("pegasus-desktop")
    icon = resource_path("icon.png")
    if icon.is_file():
        app.setWindowIcon(QIcon(str(icon)))
    return app


def _quit_on_ctrl_c(window) -> None:
    """Ctrl+C in the terminal closes the window (saving as usual) instead of being ignored while
    Qt's event loop runs: a short timer lets Python's signal handler run."""
    from PySide6.QtCore import QTimer

    signal.signal(signal.SIGINT, lambda *_: window.close())
    timer = QTimer(window)
    timer.timeout.connect(lambda: None)
    timer.start(250)


def _can_open_a_window(argv: list[str]) -> bool:
    """Check before QApplication, whose failure to load a platform is an abort that no code can
    catch: print what is missing and how to fix it, log it, and say False."""
    from pegasus_desktop.display import display_problem

    problem = display_problem(argv[1:])
    if problem is None:
        return True
    print(problem, file=sys.stderr)
    log.error("%s", problem, extra=FILE_ONLY)
    return False


def run(argv: list[str]) -> int:
    guard_stdio()
    early = parse_args(argv[1:])  # --help and --version exit here, before any window
    log_file = setup_logging()
    log.info("starting %s %s (log: %s)", APP_TITLE, __version__, log_file)
    if early.self_test:
        from pegasus_desktop.self_test import run_self_test

        return run_self_test(early.model)
    if not _can_open_a_window(argv):
        return NO_DISPLAY_EXIT_CODE

    from pegasus_desktop.errors import install_excepthook
    from pegasus_desktop.main_window import MainWindow
    from pegasus_desktop.settings import load_settings, save_settings

    app = create_application(argv)
    args = parse_args(app.arguments()[1:])  # without the options Qt took (-style, -platform…)
    install_excepthook()
    settings = load_settings()
    model_problem = choose_model(settings, args.model) if args.model else ""
    if args.precision:
        settings.precision = args.precision
    if (args.model and not model_problem) or args.precision:
        save_settings(settings)
    window = MainWindow(settings)
    window.show()
    if model_problem:
        from PySide6.QtCore import QTimer

        from pegasus_desktop import errors

        QTimer.singleShot(0, lambda: errors.show_error(window, "Model not used", model_problem))
    _quit_on_ctrl_c(window)
    if args.file:
        window.open_path(Path(args.file).expanduser().resolve())
    code = app.exec()
    log.info("exiting with %s", code)
    return code


if __name__ == "__main__":
    sys.exit(run(sys.argv))
