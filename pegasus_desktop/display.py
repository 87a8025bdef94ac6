"""Before Qt starts: can it open a window here? If not, say why in plain words and how to fix it.

QApplication aborts the whole process (qFatal, SIGABRT, often a core dump) when no platform plugin
loads, and Qt's message then blames ``libxcb-cursor0`` whatever the real cause. An abort cannot be
caught, so ``app.run`` asks this module first:

- which platforms Qt will try (``-platform``, ``QT_QPA_PLATFORM``, else Wayland then X11);
- whether a display server is named for one of them and answers;
- whether that platform's plugin loads: ``ctypes`` loads the plugin's ``.so`` with the same dynamic
  loader Qt uses, and the ``OSError`` names the missing library (``ldd``, when present, names the
  others).

Only Linux and the other X11/Wayland systems are checked: Windows and macOS have one platform
plugin, bundled beside Qt, that needs no display server. The soname to Debian package rule here
is also what ``packaging/bundle_check.py`` prints when a bundle lacks a library.
This module knows nothing of the app's windows; it imports only QtCore (for Qt's plugin folder).
"""

from __future__ import annotations

import ctypes
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

# Debian packages whose name does not follow from the soname by Debian's rule (debian_package).
_PACKAGE_EXCEPTIONS = {
    "libglib-2.0.so.0": "libglib2.0-0",
    "libgthread-2.0.so.0": "libglib2.0-0",
    "libgobject-2.0.so.0": "libglib2.0-0",
    "libgio-2.0.so.0": "libglib2.0-0",
    "libGLdispatch.so.0": "libglvnd0",
    "libz.so.1": "zlib1g",
    "libbrotlidec.so.1": "libbrotli1",
    "libbrotlicommon.so.1": "libbrotli1",
    "libgcc_s.so.1": "libgcc-s1",
    "libc.so.6": "libc6",
    "libm.so.6": "libc6",
    "libdl.so.2": "libc6",
    "libpthread.so.0": "libc6",
    "librt.so.1": "libc6",
}
_NEEDS_A_DISPLAY = {"xcb": "X11", "wayland": "Wayland"}
_MISSING_LIBRARY = re.compile(r"([\w.+-]+\.so[\w.]*): cannot open shared object file")


def debian_package(soname: str) -> str:
    """The Debian (and Ubuntu) package that ships ``soname``.

    Debian names a library package after the soname with ``.so.`` dropped, a hyphen added when
    the name ends in a digit, lower case: ``libxcb-icccm.so.4`` is in ``libxcb-icccm4``,
    ``libxkbcommon-x11.so.0`` in ``libxkbcommon-x11-0``. A few differ (_PACKAGE_EXCEPTIONS).
    """
    if soname in _PACKAGE_EXCEPTIONS:
        return _PACKAGE_EXCEPTIONS[soname]
    match = re.fullmatch(r"(.+)\.so\.(\d+)(?:\.\d+)*", soname)
    if not match:
        return soname
    name, version = match.groups()
    joiner = "-" if name[-1].isdigit() else ""
    return f"{name}{joiner}{version}".lower().replace("_", "-")


def unresolved_libraries(plugin: Path) -> tuple[list[str], str]:
    """The shared libraries ``plugin`` needs that the dynamic loader cannot find, and the
    loader's own words when it fails for another reason (a damaged file, a missing symbol)."""
    try:
        ctypes.CDLL(str(plugin))
    except OSError as e:
        first = _MISSING_LIBRARY.search(str(e))
        missing = sorted({*([first.group(1)] if first else []), *_ldd_not_found(plugin)})
        return missing, "" if missing else str(e)
    return [], ""


def _ldd_not_found(library: Path) -> list[str]:
    """Every library ``ldd`` reports "not found" (the loader names only the first); [] without ldd."""
    ldd = shutil.which("ldd")
    if not ldd:
        return []
    try:
        result = subprocess.run(
            [ldd, str(library)], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return []
    return re.findall(r"^\s*(\S+) => not found", result.stdout, re.MULTILINE)


def requested_platforms(argv: Sequence[str], environ: Mapping[str, str]) -> list[str]:
    """The platforms named for Qt, in order: ``-platform NAME`` (or ``--platform``), else
    ``QT_QPA_PLATFORM`` (a ``;`` list; ``name:options`` keeps the name); [] when none is."""
    named = ""
    for option, value in zip(argv, argv[1:]):
        if option in ("-platform", "--platform"):
            named = value
    named = named or environ.get("QT_QPA_PLATFORM", "")
    names = [part.split(":", 1)[0].strip() for part in named.split(";")]
    return [name for name in names if name]


def default_platforms(environ: Mapping[str, str]) -> list[str]:
    """What Qt tries when nothing names a platform: Wayland in a Wayland session, and X11 (xcb)
    always, as its fallback (qguiapplication.cpp). Without a Wayland display only xcb can work."""
    wayland = environ.get("WAYLAND_DISPLAY") or environ.get("WAYLAND_SOCKET")
    return ["wayland", "xcb"] if wayland else ["xcb"]


def plugin_folders(environ: Mapping[str, str]) -> list[Path]:
    """Where Qt looks for platform plugins: ``QT_QPA_PLATFORM_PLUGIN_PATH``, each
    ``QT_PLUGIN_PATH`` entry's ``platforms`` (a frozen build sets it to its bundled Qt), then the
    Qt install's own (PySide6's ``Qt/plugins``)."""
    from PySide6.QtCore import QLibraryInfo

    folders = [Path(p) for p in environ.get("QT_QPA_PLATFORM_PLUGIN_PATH", "").split(os.pathsep) if p]
    folders += [
        Path(p) / "platforms" for p in environ.get("QT_PLUGIN_PATH", "").split(os.pathsep) if p
    ]
    folders.append(Path(QLibraryInfo.path(QLibraryInfo.LibraryPath.PluginsPath)) / "platforms")
    return folders


def find_plugin(name: str, folders: Sequence[Path]) -> Path | None:
    return next((f / f"libq{name}.so" for f in folders if (f / f"libq{name}.so").is_file()), None)


# The last connection that answered at each display, held open while the process lives: an X
# server with no other client (Xvfb as xvfb-run starts it) resets when its last client leaves and
# refuses connections meanwhile, so closing ours could make Qt's connection, a moment later, fail.
_answered: dict[str, int] = {}


def x11_display_answers(display: str) -> bool:
    """Whether an X server accepts a connection at ``display`` (libxcb, as Qt connects)."""
    try:
        xcb = ctypes.CDLL("libxcb.so.1")
    except OSError:
        return False  # the plugin check names libxcb.so.1 as missing
    xcb.xcb_connect.restype = ctypes.c_void_p
    xcb.xcb_connect.argtypes = [ctypes.c_char_p, ctypes.c_void_p]
    xcb.xcb_connection_has_error.argtypes = [ctypes.c_void_p]
    xcb.xcb_disconnect.argtypes = [ctypes.c_void_p]
    connection = xcb.xcb_connect(display.encode(), None)
    if connection is not None and xcb.xcb_connection_has_error(connection) == 0:
        previous = _answered.pop(display, None)
        _answered[display] = connection
        if previous is not None:  # after the new one connected, so the server never goes empty
            xcb.xcb_disconnect(previous)
        return True
    if connection is not None:
        xcb.xcb_disconnect(connection)  # frees the error object xcb_connect returns
    return False


def wayland_socket(environ: Mapping[str, str]) -> Path | None:
    """The compositor's socket that libwayland-client would connect to, if it exists."""
    if environ.get("WAYLAND_SOCKET"):
        return Path(environ["WAYLAND_SOCKET"])  # an inherited, already connected descriptor
    name = environ.get("WAYLAND_DISPLAY") or "wayland-0"
    if not os.path.isabs(name):
        if not environ.get("XDG_RUNTIME_DIR"):
            return None
        name = os.path.join(environ["XDG_RUNTIME_DIR"], name)
    return Path(name) if os.path.exists(name) else None


@dataclass
class PlatformCheck:
    """Why one platform cannot start: no display server, a missing plugin or libraries."""

    name: str
    no_display: str = ""
    missing_plugin: bool = False
    missing_libraries: list[str] = field(default_factory=list)
    load_error: str = ""

    @property
    def ok(self) -> bool:
        return not (
            self.no_display or self.missing_plugin or self.missing_libraries or self.load_error
        )


def check_platform(
    name: str, environ: Mapping[str, str], folders: Sequence[Path], *, named: bool = True
) -> PlatformCheck:
    """Check one display platform (xcb or wayland); ``named``: asked for, not Qt's default."""
    check = PlatformCheck(name)
    plugin = find_plugin(name, folders)
    if plugin is None:
        check.missing_plugin = True
        return check
    check.missing_libraries, check.load_error = unresolved_libraries(plugin)
    if name == "xcb":
        display = environ.get("DISPLAY", "")
        if not display:
            check.no_display = "DISPLAY is not set" + ("" if named else " (nor WAYLAND_DISPLAY)")
        elif check.ok and not x11_display_answers(display):
            check.no_display = f"no X server answers at DISPLAY={display}"
    elif name == "wayland" and wayland_socket(environ) is None:
        shown = environ.get("WAYLAND_DISPLAY") or "wayland-0"
        check.no_display = f"no Wayland compositor socket {shown} in XDG_RUNTIME_DIR"
    return check


def display_problem(
    argv: Sequence[str], environ: Mapping[str, str] | None = None, *, platform: str | None = None
) -> str | None:
    """A message for people when Qt cannot open a window here, or None when a platform can.

    ``argv`` is the app's command line (for ``-platform``); ``environ`` defaults to os.environ,
    ``platform`` to sys.platform. Always None on Windows and macOS.
    """
    environ = os.environ if environ is None else environ
    platform = sys.platform if platform is None else platform
    if platform.startswith(("win", "darwin", "cygwin")):
        return None
    named = requested_platforms(argv, environ)
    names = named or default_platforms(environ)
    if any(name not in _NEEDS_A_DISPLAY for name in names):
        return None  # offscreen, minimal, vnc, eglfs, wayland-egl…: Qt's own business
    folders = plugin_folders(environ)
    checks = [check_platform(name, environ, folders, named=bool(named)) for name in names]
    if any(check.ok for check in checks):
        return None
    return explain(checks, folders)


def explain(checks: Sequence[PlatformCheck], folders: Sequence[Path]) -> str:
    """What is wrong, then what to do: the words the app prints and logs."""
    from pegasus_desktop.resources import APP_TITLE

    lines = [f"{APP_TITLE} cannot open its window:"]
    for check in checks:
        plugin = f"Qt's {check.name} platform plugin ({_NEEDS_A_DISPLAY[check.name]})"
        if check.missing_plugin:
            lines.append(f"- {plugin} is not in {', '.join(str(f) for f in folders)}.")
        if check.missing_libraries:
            needs = ", ".join(check.missing_libraries)
            lines.append(f"- {plugin} cannot load: it needs {needs}, not installed here.")
        if check.load_error:
            lines.append(f"- {plugin} cannot load: {check.load_error}")
        if check.no_display:
            lines.append(f"- no {_NEEDS_A_DISPLAY[check.name]} display: {check.no_display}.")
    lines.append("What to do:")
    missing = {lib for check in checks for lib in check.missing_libraries}
    if missing:
        packages = " ".join(sorted({debian_package(lib) for lib in missing}))
        lines.append(f"- install what is missing (Debian, Ubuntu): sudo apt-get install {packages}")
    if any(check.no_display for check in checks):
        lines.append(
            "- start it in a desktop session (or over ssh -X), or on a virtual display: "
            "sudo apt-get install xvfb, then xvfb-run -a pegasus-desktop"
        )
    if any(check.missing_plugin or check.load_error for check in checks):
        lines.append("- reinstall the app (or PySide6-Essentials in its Python environment)")
    lines.append("- or, for tests, set QT_QPA_PLATFORM=offscreen (no window is shown)")
    lines.append("Summaries without a window: pegasus-summarize ARTICLE.txt")
    return "\n".join(lines)
