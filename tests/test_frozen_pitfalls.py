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

from builders import TINY_PEGASUS

from pegasus_desktop.resources import bundle_root, resource_path

REPO = TINY_PEGASUS.parents[2]


def _python(code: str, tmp_path: Path, **popen) -> subprocess.CompletedProcess:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", XDG_STATE_HOME=str(tmp_path / "state"))
    return subprocess.run(
        [sys.executable, "-c", code],
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
    code = (
        "import json, os, sys\n"
        "before = [sys.stdout is None, sys.stderr is None]\n"
        "from pegasus_desktop.logs import guard_stdio\n"
        "guard_stdio()\n"
        "print('printed'); sys.stderr.write('written')\n"
        "import logging; logging.getLogger('x').warning('logged')\n"
        "r, w = os.pipe()\n"
        "null = os.stat(os.devnull)\n"
        "same = [(os.fstat(fd).st_rdev, os.fstat(fd).st_ino) == (null.st_rdev, null.st_ino) for fd in (1, 2)]\n"
        "result = {'before': before, 'pipe': [r, w], 'null': same,\n"
        "          'inheritable': [os.get_inheritable(1), os.get_inheritable(2)]}\n"
        f"open({str(tmp_path / 'result.json')!r}, 'w').write(json.dumps(result))\n"
    )
    result = _python(
        code, tmp_path, stdin=subprocess.DEVNULL, preexec_fn=lambda: (os.close(1), os.close(2))
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
    code = (
        "import io, json, os, sys\n"
        "from pegasus_desktop.logs import guard_stdio\n"
        "fd = os.open(os.devnull, os.O_WRONLY)\n"
        "broken = sys.stderr = open(fd, 'w')\n"
        "os.close(fd)  # the stream is open, its descriptor is not\n"
        "captured = sys.stdout = io.StringIO()\n"
        "guard_stdio()\n"
        "sys.stderr.write('fine'); sys.stderr.flush()\n"
        "null = os.stat(os.devnull)\n"
        "is_null = (os.fstat(fd).st_rdev, os.fstat(fd).st_ino) == (null.st_rdev, null.st_ino)\n"
        "result = [sys.stdout is captured, sys.stderr is broken, is_null]\n"
        f"open({str(tmp_path / 'result.json')!r}, 'w').write(json.dumps(result))\n"
    )
    result = _python(code, tmp_path, capture_output=True)
    assert result.returncode == 0, result.stderr
    assert json.loads((tmp_path / "result.json").read_text()) == [True, True, True]


def test_main_calls_freeze_support_before_importing_qt_or_the_engine(tmp_path):
    """In a frozen build the spawned export starts as ``pegasus-desktop --multiprocessing-fork``:
    freeze_support() must take over before the app (Qt, onnxruntime) is imported."""
    code = (
        "import json, multiprocessing, sys\n"
        "def freeze_support():\n"
        "    heavy = sorted(m for m in ('PySide6', 'onnxruntime', 'torch', 'pegasus_desktop.app') if m in sys.modules)\n"
        "    print(json.dumps(heavy)); raise SystemExit(7)\n"
        "multiprocessing.freeze_support = freeze_support\n"
        "from pegasus_desktop.__main__ import main\n"
        "main()\n"
    )
    result = _python(code, tmp_path, capture_output=True)
    assert result.returncode == 7, result.stderr
    assert json.loads(result.stdout) == []
