"""The system packages `make run` and `make test` install (tools/system-deps.sh and .txt).

The list must cover every library that Qt's xcb platform plugin and the Qt libraries it loads
need, as `ldd` sees them now, so a PySide6 upgrade that adds one fails here rather than as a Qt
abort on a user's machine. The script must install nothing when all is there, and, where it
cannot install, name the packages and stop.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LIST = ROOT / "tools" / "system-deps.txt"
SCRIPT = ROOT / "tools" / "system-deps.sh"

# Every Linux system has these: glibc, the C++ runtime, zlib and zstd (Debian's "required").
BASE = (
    "ld-linux",
    "libc.so",
    "libm.so",
    "libdl.so",
    "libpthread.so",
    "librt.so",
    "libresolv.so",
    "libstdc++.so",
    "libgcc_s.so",
    "libz.so",
    "libzstd.so",
)

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux packages")


def listed(kind: str) -> dict[str, str]:
    rows = {}
    for line in LIST.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            _need, row_kind, name, package = line.split()
            if row_kind == kind:
                rows[name] = package
    return rows


QT = Path(__import__("PySide6").__file__).parent / "Qt"


def qt_window_files() -> list[Path]:
    """The xcb platform plugin, what it loads, and the Qt libraries every window needs."""
    return [
        QT / "plugins" / "platforms" / "libqxcb.so",
        *sorted((QT / "plugins" / "xcbglintegrations").glob("*.so")),
        *(
            QT / "lib" / f"libQt6{name}.so.6"
            for name in ("XcbQpa", "Gui", "Widgets", "Core", "DBus")
        ),
    ]


def direct_needs(path: Path) -> set[str]:
    """The sonames a file names as DT_NEEDED (what it loads itself, not what those load)."""
    out = subprocess.run(["objdump", "-p", str(path)], capture_output=True, text=True, check=True)
    return {
        line.split()[1] for line in out.stdout.splitlines() if line.strip().startswith("NEEDED")
    }


@pytest.mark.skipif(shutil.which("objdump") is None, reason="needs binutils' objdump")
def test_every_library_the_xcb_plugin_needs_is_listed_with_its_package():
    libraries = listed("lib")
    needed = set().union(*(direct_needs(path) for path in qt_window_files()))
    outside_pyside = {name for name in needed if not (QT / "lib" / name).exists()}  # its ICU too
    missing = sorted(n for n in outside_pyside if n not in libraries and not n.startswith(BASE))
    assert not missing, f"add these to tools/system-deps.txt with their Debian package: {missing}"
    assert {"libxcb-icccm.so.4", "libxcb-keysyms.so.1", "libxcb-cursor.so.0"} <= set(libraries)


def test_the_tests_need_xvfb_and_xdotool():
    assert listed("cmd") == {"Xvfb": "xvfb", "xdotool": "xdotool"}


def run_script(folder: Path, rows: str, need: str, *, user: bool) -> subprocess.CompletedProcess:
    """The script run against a list of our own, from a copy of tools/ in ``folder``."""
    tools = folder / "tools"
    tools.mkdir(parents=True)
    shutil.copy(SCRIPT, tools / SCRIPT.name)
    (tools / LIST.name).write_text(rows)
    command = ["bash", str(tools / SCRIPT.name), need]
    if user and os.geteuid() == 0:
        command = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *command]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, cwd=folder)


def test_nothing_is_installed_or_printed_when_all_is_there(tmp_path):
    rows = "# a comment\napp lib libc.so.6 libc6\ntest cmd sh dash\n"
    result = run_script(tmp_path, rows, "test", user=False)
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


@pytest.mark.skipif(shutil.which("setpriv") is None, reason="needs util-linux's setpriv")
def test_without_root_it_names_the_missing_packages_and_stops():
    rows = (
        "app lib libc.so.6 libc6\n"
        "app lib libpegasus-missing.so.7 libpegasus-missing7\n"
        "test cmd pegasus-no-such-tool pegasus-tools\n"
    )
    # pytest's tmp_path is private to root, so the unprivileged user gets a folder of its own.
    with tempfile.TemporaryDirectory() as folder:
        Path(folder).chmod(0o755)
        app = run_script(Path(folder) / "app", rows, "app", user=True)
        test = run_script(Path(folder) / "test", rows, "test", user=True)
    assert app.returncode == 1, app.stderr
    assert "libpegasus-missing7" in app.stderr and "pegasus-tools" not in app.stderr
    if shutil.which("apt-get"):
        assert "sudo apt-get install libpegasus-missing7\n" in app.stderr
    assert test.returncode == 1, test.stderr
    assert "libpegasus-missing7 pegasus-tools" in test.stderr
