"""``pegasus-desktop --self-test [--model DIR]``: the app's first run, end to end, without a display.

1. export the model into a temporary data folder whose name has non-ASCII characters, in a
   spawned child process (``export_child``, as the first-run page does; in a frozen build the
   child is the same executable, started through ``multiprocessing.freeze_support``);
2. load the int8 export in this process with onnxruntime;
3. summarize a known article, and check the summary;
4. check that neither torch nor transformers entered this process (the export reads checkpoints
   without them, and a bundle ships neither).

It first checks that the bundled resources (the icon, the article) are where ``resources.py``
looks for them.

Without ``--model`` it uses the repo's trained fixture model (``tests/fixtures/tiny-pegasus``,
which a PyInstaller build ships at the same place under ``sys._MEIPASS``) and requires the exact
summary the fixture gives; another checkpoint only has to give a non-empty summary. Each step
prints one line; the exit code is 0 when every check passed, 1 otherwise. This module knows
nothing about Qt.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from pegasus_desktop import __version__, export_child
from pegasus_desktop.export_messages import ExportDone, ExportFailed, Progress
from pegasus_desktop.resources import APP_TITLE, bundle_root, resource_path

log = logging.getLogger(__name__)

FIXTURE_MODEL = Path("tests", "fixtures", "tiny-pegasus")
KNOWN_ARTICLE = Path("examples", "article.txt")
EXPECTED_SUMMARY = "David sold 45 bikes in Vienna on Friday."
NUM_BEAMS = 2
EXPORT_TIMEOUT = 900.0  # seconds; the fixture takes a few, a real checkpoint minutes
DATA_DIR_PREFIX = "pegasus-self-test-dätä-"  # a data folder whose path is not ASCII


class SelfTestFailure(Exception):
    def __init__(self, step: str, message: str, details: str = "") -> None:
        super().__init__(message)
        self.step = step
        self.details = details


def export_failure(failed: ExportFailed) -> SelfTestFailure:
    """The self-test's report of a failed export: ``FAIL  export: <kind>: <message>``."""
    return SelfTestFailure("export", f"{failed.kind.group}: {failed.message}", failed.details)


def export_in_child(
    model: str, root: Path, *, timeout: float = EXPORT_TIMEOUT, on_stage: Callable[[str], None]
) -> tuple[Path, int]:
    """Export ``model`` (int8) under ``root`` in a spawned process; return the folder and its pid."""
    context = multiprocessing.get_context("spawn")
    receiver, sender = context.Pipe(duplex=False)
    process = context.Process(
        target=export_child.run_export,
        args=(model, str(root), "int8", sender),
        name="pegasus-export",
        daemon=True,
    )
    process.start()
    sender.close()  # the child holds the only writing end, so EOF means it is gone
    stage = ""
    try:
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise SelfTestFailure(
                    "export", f"the export process gave no result in {timeout:.0f} s"
                )
            if not receiver.poll(min(remaining, 1.0)):
                continue
            try:
                message = receiver.recv()
            except EOFError:
                process.join(5)
                raise SelfTestFailure(
                    "export",
                    f"the export process (pid {process.pid}) ended without a result, exit code "
                    f"{process.exitcode}",
                ) from None
            match message:
                case ExportDone(folder=folder):
                    return Path(folder), process.pid
                case ExportFailed():
                    raise export_failure(message)
                case Progress(stage=new_stage) if new_stage != stage:
                    stage = new_stage
                    on_stage(stage)
    finally:
        receiver.close()
        process.join(10)
        if process.is_alive():
            process.kill()
            process.join(5)


def _attach_windows_console() -> None:
    """A windowed Windows build has no console: print into the one it was started from, if any."""
    if os.name != "nt" or (sys.stdout is not None and sys.stdout.name != os.devnull):
        return
    try:
        import ctypes

        if ctypes.windll.kernel32.AttachConsole(-1):  # ATTACH_PARENT_PROCESS
            sys.stdout = open("CONOUT$", "w", encoding="utf-8")  # noqa: SIM115
    except (OSError, AttributeError):
        pass


def run_self_test(model: str | None = None, *, out: TextIO | None = None) -> int:
    """Run every step, print one line per step to ``out`` (stdout); 0 when all passed, else 1."""
    if out is None:
        _attach_windows_console()
        out = sys.stdout

    def say(line: str) -> None:
        log.info("self-test: %s", line)
        print(line, file=out, flush=True)

    frozen = bool(getattr(sys, "frozen", False))
    if not model:
        checkpoint = str(bundle_root() / FIXTURE_MODEL)
    elif Path(model).expanduser().is_dir():
        checkpoint = str(Path(model).expanduser())
    else:
        checkpoint = model  # a Hugging Face id: "google/x" stays as written on Windows too
    expected = None if model else EXPECTED_SUMMARY
    say(
        f"{APP_TITLE} {__version__} self-test ({'frozen' if frozen else 'from source'}, "
        f"{sys.executable})"
    )
    say(f"model: {checkpoint}")
    step = "resources"
    try:
        icon = resource_path("icon.png")
        if not icon.is_file():
            raise SelfTestFailure(step, f"the app icon is missing: {icon}")
        article = (bundle_root() / KNOWN_ARTICLE).read_text(encoding="utf-8")
        say(f"ok    resources in {bundle_root()}")
        with tempfile.TemporaryDirectory(
            prefix=DATA_DIR_PREFIX, ignore_cleanup_errors=True
        ) as data_dir:
            root = Path(data_dir) / "models"
            say(f"data folder: {root}")
            step = "export"
            started = time.monotonic()
            folder, pid = export_in_child(
                checkpoint, root, on_stage=lambda stage: say(f"      export: {stage}")
            )
            if pid == os.getpid() or not folder.resolve().is_relative_to(root.resolve()):
                raise SelfTestFailure(
                    step, f"the export did not run in a child process into {root}"
                )
            say(f"ok    export (int8) in child process {pid}: {time.monotonic() - started:.1f} s")

            step = "load"
            started = time.monotonic()
            from engine import GenerationOptions, Summarizer

            summarizer = Summarizer.load(folder)
            say(f"ok    load int8 with onnxruntime: {time.monotonic() - started:.1f} s")

            step = "summarize"
            summary = summarizer.summarize(article, GenerationOptions(num_beams=NUM_BEAMS))
            say(
                f"ok    summarize {summary.input_tokens} tokens: {summary.text!r} "
                f"({summary.seconds:.2f} s)"
            )
            del summarizer  # close the sessions before the data folder goes

        step = "check"
        if expected is not None and summary.text != expected:
            raise SelfTestFailure(step, f"the summary is {summary.text!r}, expected {expected!r}")
        if not summary.text.strip():
            raise SelfTestFailure(step, "the summary is empty")
        say(f"ok    summary {'is the expected one' if expected else 'is not empty'}")

        step = "isolation"
        leaked = sorted(m for m in ("torch", "transformers") if m in sys.modules)
        if leaked:
            raise SelfTestFailure(step, f"{', '.join(leaked)} was imported into the app's process")
        say("ok    neither torch nor transformers was imported into the app")
    except SelfTestFailure as e:
        say(f"FAIL  {e.step}: {e}")
        if e.details:
            say(e.details.rstrip())
        say("self-test FAILED")
        return 1
    except Exception as e:  # noqa: BLE001 - whatever broke, say where and exit non-zero
        say(f"FAIL  {step}: {type(e).__name__}: {e}")
        say(traceback.format_exc().rstrip())
        say("self-test FAILED")
        return 1
    say("self-test passed")
    return 0
