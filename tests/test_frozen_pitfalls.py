"""What a PyInstaller build changes under the app, checked from the source tree: resources found
through ``sys._MEIPASS``, stdio that is None or closed in a windowed start, and
``multiprocessing.freeze_support()`` running before anything heavy is imported, since the
spawned export process is the app's own executable. (tests/test_packaging.py runs the same
things in the real frozen build.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import children
from builders import TINY_PEGASUS

from pegasus_desktop.resources import bundle_root, resource_path

REPO = TINY_PEGASUS.parents[2]


def _python(child: str, tmp_path: Path, *args, **popen) -> subprocess.CompletedProcess:
    """Run tests/children/``child``.py with ``args`` from the repo root."""
    env = children.env(QT_QPA_PLATFORM="offscreen", XDG_STATE_HOME=str(tmp_path / "state"))
    return subprocess.run(
        children.command(child, *args),
        cwd=REPO,
        env=env,
        text=True,
        timeout=120,
        check=False,
        **popen,
    )


def test_resource_paths_come_from_sys_meipass_when_frozen(monkeypatch, tmp_path):
    assert bundle_root() == REPO
    assert resource_path("icon.png") == REPO / "resources" / "icon.png"
    assert resource_path("icon.png").is_file()
    monkeypatch.setattr(sys, "_MEIPASS", str(tmp_path / "bündle"), raising=False)
    assert bundle_root() == tmp_path / "bündle"
    assert resource_path("icon.png") == tmp_path / "bündle" / "resources" / "icon.png"


def test_guard_stdio_fills_closed_descriptors_so_pipes_never_take_them(tmp_path):
    """Started with fds 1 and 2 closed (a windowed start): afterwards print and logging work,
    fds 1 and 2 are the null device and inheritable, and a new pipe gets numbers above 2."""
    result = _python(
        "stdio_closed", tmp_path, tmp_path / "result.json", stdin=subprocess.DEVNULL, preexec_fn=lambda: (os.close(1), os.close(2))
    )
    assert result.returncode == 0
    seen = json.loads((tmp_path / "result.json").read_text())
    assert seen["before"] == [True, True]
    assert min(seen["pipe"]) > 2
    assert seen["null"] == [True, True]
    assert seen["inheritable"] == [True, True]


def test_guard_stdio_mends_a_stream_whose_descriptor_is_gone_and_keeps_the_others(tmp_path):
    """A stream whose descriptor was closed under it writes to the null device afterwards, under
    the same number; a stream without a descriptor (pytest's capture) is left alone."""
    result = _python("stdio_broken", tmp_path, tmp_path / "result.json", capture_output=True)
    assert result.returncode == 0, result.stderr
    assert json.loads((tmp_path / "result.json").read_text()) == [True, True, True]


def test_main_calls_freeze_support_before_importing_qt_or_the_engine(tmp_path):
    """In a frozen build the spawned export starts as ``pegasus-desktop --multiprocessing-fork``:
    freeze_support() must take over before the app (Qt, onnxruntime) is imported."""
    result = _python("freeze_support_first", tmp_path, capture_output=True)
    assert result.returncode == 7, result.stderr
    assert json.loads(result.stdout) == []
