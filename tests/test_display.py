"""Without a display stack the app explains what is missing instead of letting Qt abort.

pegasus_desktop/display.py runs before QApplication. These tests run the app with no display,
with a platform plugin whose library was deleted (a real .so built with gcc), with a display no
X server answers and under a real Xvfb; and ``pegasus-summarize`` with Qt made unimportable.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from builders import TINY_PEGASUS
from native import shared_library

from pegasus_desktop.display import debian_package, display_problem, unresolved_libraries

REPO = TINY_PEGASUS.parents[2]
HEADING = "Pegasus Desktop cannot open its window:"
DISPLAY_VARIABLES = ("DISPLAY", "WAYLAND_DISPLAY", "WAYLAND_SOCKET", "QT_QPA_PLATFORM",
                     "QT_QPA_PLATFORM_PLUGIN_PATH", "QT_PLUGIN_PATH", "XDG_SESSION_TYPE")


def _bare_env(tmp_path: Path, **extra: str) -> dict:
    """No display of any kind, the user's folders under tmp_path, offline."""
    env = {k: v for k, v in os.environ.items() if k not in DISPLAY_VARIABLES}
    env["HF_HUB_OFFLINE"] = "1"
    for var in ("XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME"):
        env[var] = str(tmp_path / var.lower())
    env["XDG_RUNTIME_DIR"] = str(tmp_path / "runtime")  # holds no Wayland socket
    env.update(extra)
    return env


def _run_app(tmp_path: Path, env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pegasus_desktop", *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _log(env: dict) -> str:
    return (Path(env["XDG_STATE_HOME"]) / "pegasus-desktop" / "log" / "pegasus-desktop.log").read_text(
        encoding="utf-8"
    )


def _assert_no_abort(result: subprocess.CompletedProcess, cwd: Path) -> None:
    assert result.returncode == 3, result.stderr[-3000:]  # not -6 (SIGABRT): Qt never aborted
    assert "Aborted" not in result.stderr and "core dumped" not in result.stderr
    assert "qt.qpa" not in result.stderr and "xcb-cursor0" not in result.stderr  # Qt never tried
    assert "Traceback" not in result.stderr
    assert not list(cwd.glob("core*"))


def _plugin_needing(folder: Path, *sonames: str) -> Path:
    """``folder/libqxcb.so``, linked against a tiny library for each soname, which are then
    deleted, as on a machine without their packages."""
    helpers = [shared_library(folder.parent / "helpers" / soname) for soname in sonames]
    plugin = shared_library(folder / "libqxcb.so", needs=tuple(helpers))
    shutil.rmtree(folder.parent / "helpers")
    return plugin


def test_debian_package_names_follow_the_soname():
    # The packages the Qt xcb plugin needs (checked with apt-cache on Debian 12).
    assert debian_package("libxcb-icccm.so.4") == "libxcb-icccm4"
    assert debian_package("libxcb-keysyms.so.1") == "libxcb-keysyms1"
    assert debian_package("libxcb-cursor.so.0") == "libxcb-cursor0"
    assert debian_package("libxcb-render-util.so.0") == "libxcb-render-util0"
    assert debian_package("libxkbcommon-x11.so.0") == "libxkbcommon-x11-0"
    assert debian_package("libX11-xcb.so.1") == "libx11-xcb1"
    assert debian_package("libdbus-1.so.3") == "libdbus-1-3"
    assert debian_package("libpng16.so.16") == "libpng16-16"
    assert debian_package("libglib-2.0.so.0") == "libglib2.0-0"  # the exceptions
    assert debian_package("libGLdispatch.so.0") == "libglvnd0"
    assert debian_package("libz.so.1") == "zlib1g"


def test_windows_macos_and_offscreen_are_not_checked():
    assert display_problem([], {}, platform="win32") is None
    assert display_problem([], {}, platform="darwin") is None
    assert display_problem([], {"QT_QPA_PLATFORM": "offscreen"}, platform="linux") is None
    # -platform on the command line wins over QT_QPA_PLATFORM, as in Qt
    argv = ["-platform", "offscreen"]
    assert display_problem(argv, {"QT_QPA_PLATFORM": "xcb"}, platform="linux") is None


def test_no_display_is_named_with_what_to_do():
    message = display_problem([], {}, platform="linux")
    assert message.startswith(HEADING)
    assert "- no X11 display: DISPLAY is not set (nor WAYLAND_DISPLAY)." in message
    assert "sudo apt-get install xvfb, then xvfb-run -a pegasus-desktop" in message
    assert "set QT_QPA_PLATFORM=offscreen" in message
    assert "pegasus-summarize" in message


def test_a_wayland_display_without_its_compositor_is_named(tmp_path):
    env = {"QT_QPA_PLATFORM": "wayland", "WAYLAND_DISPLAY": "wayland-7",
           "XDG_RUNTIME_DIR": str(tmp_path)}
    message = display_problem([], env, platform="linux")
    assert "- no Wayland display: no Wayland compositor socket wayland-7 in XDG_RUNTIME_DIR." in message


def test_a_deleted_library_of_the_plugin_is_named_with_its_package(tmp_path):
    """The loader names only the first missing library; ldd finds the second."""
    plugin = _plugin_needing(tmp_path / "platforms", "libpegasus-gone.so.4", "libpegasus-gone-x11.so.0")
    assert unresolved_libraries(plugin) == (["libpegasus-gone-x11.so.0", "libpegasus-gone.so.4"], "")
    env = {"QT_QPA_PLATFORM": "xcb", "DISPLAY": ":0", "QT_QPA_PLATFORM_PLUGIN_PATH": str(plugin.parent)}
    message = display_problem([], env, platform="linux")
    assert message.startswith(HEADING)
    assert (
        "- Qt's xcb platform plugin (X11) cannot load: it needs libpegasus-gone-x11.so.0, "
        "libpegasus-gone.so.4, not installed here." in message
    )
    assert "sudo apt-get install libpegasus-gone-x11-0 libpegasus-gone4" in message


def test_a_plugin_whose_libraries_are_present_loads(tmp_path):
    plugin = shared_library(tmp_path / "platforms" / "libqxcb.so")
    assert unresolved_libraries(plugin) == ([], "")


def test_the_app_without_a_display_says_so_and_exits_without_aborting(tmp_path):
    env = _bare_env(tmp_path)
    result = _run_app(tmp_path, env)
    _assert_no_abort(result, tmp_path)
    lines = result.stderr.splitlines()
    assert lines[0] == HEADING  # plain words, not a log line
    assert "- no X11 display: DISPLAY is not set (nor WAYLAND_DISPLAY)." in lines
    assert "- or, for tests, set QT_QPA_PLATFORM=offscreen (no window is shown)" in lines
    log = _log(env)
    assert f" ERROR pegasus_desktop.app: {HEADING}\n" in log
    assert "DISPLAY is not set (nor WAYLAND_DISPLAY)" in log


def test_the_app_names_the_missing_library_of_its_platform_plugin(tmp_path):
    plugin = _plugin_needing(tmp_path / "plugins" / "platforms", "libpegasus-gone.so.4")
    env = _bare_env(
        tmp_path, QT_QPA_PLATFORM="xcb", DISPLAY=":0", QT_QPA_PLATFORM_PLUGIN_PATH=str(plugin.parent)
    )
    result = _run_app(tmp_path, env, "--model", "acme/none")
    _assert_no_abort(result, tmp_path)
    assert "it needs libpegasus-gone.so.4, not installed here." in result.stderr
    assert "sudo apt-get install libpegasus-gone4" in result.stderr
    assert "sudo apt-get install libpegasus-gone4" in _log(env)
    assert not (Path(env["XDG_CONFIG_HOME"]) / "pegasus-desktop" / "settings.json").exists()


def _free_display_number() -> int:
    return next(n for n in range(917, 999) if not Path(f"/tmp/.X11-unix/X{n}").exists()
                and not Path(f"/tmp/.X{n}-lock").exists())


def test_a_display_where_no_x_server_answers_is_named(tmp_path):
    display = f":{_free_display_number()}"
    env = _bare_env(tmp_path, DISPLAY=display)
    result = _run_app(tmp_path, env)
    _assert_no_abort(result, tmp_path)
    assert f"- no X11 display: no X server answers at DISPLAY={display}." in result.stderr


def test_a_real_x_display_passes_the_check(tmp_path):
    xvfb = shutil.which("Xvfb")
    assert xvfb, "Xvfb is needed (make test installs it)"
    read, write = os.pipe()
    server = subprocess.Popen(
        # No -noreset, as xvfb-run starts it: a server with no client resets when its last client
        # leaves, so the second check (as Qt's connection after the check) passes only because
        # the first one's connection is held open.
        [xvfb, "-displayfd", str(write), "-screen", "0", "640x480x24", "-nolisten", "tcp"],
        pass_fds=(write,), stdout=subprocess.DEVNULL, stderr=(tmp_path / "xvfb.log").open("w"),
    )
    os.close(write)
    try:
        with os.fdopen(read) as pipe:
            number = pipe.readline().strip()
        assert number.isdigit(), (tmp_path / "xvfb.log").read_text()
        env = {"DISPLAY": f":{number}"}
        assert display_problem([], env, platform="linux") is None, display_problem([], env)
        assert display_problem(["-platform", "xcb"], env, platform="linux") is None
    finally:
        server.terminate()
        server.wait(10)


def test_pegasus_summarize_works_with_no_display_and_no_qt(tmp_path, tiny_checkpoint, tiny_exports):
    """With PySide6 made unimportable and no display, the CLI still summarizes."""
    article = tmp_path / "article.txt"
    article.write_text("The council met on Monday to discuss the new bridge. " * 5, encoding="utf-8")
    import children

    result = subprocess.run(
        children.command("cli_without_qt", article, tiny_checkpoint, tiny_exports), cwd=REPO,
        env=children.env(_bare_env(tmp_path)), capture_output=True,
        text=True, timeout=300, check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    summary, imported = result.stdout.strip().splitlines()[-2:]
    assert summary.strip() and imported == "qt modules: []"
