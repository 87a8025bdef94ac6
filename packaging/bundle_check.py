"""Does a Linux bundle carry every library its window needs? ``python packaging/bundle_check.py BUNDLE``

PyInstaller copies a binary's dependencies only when it finds them on the build machine: one built
where ``libxcb-icccm4`` is not installed ships a Qt xcb plugin that cannot load on a machine that
lacks it too, and Qt then aborts before any window. build.py runs this check after PyInstaller.

It asks ``ldd`` what the bundle's ``libqxcb.so`` and the xcb GL integration plugins that
libQt6XcbQpa loads resolve to, transitively (libQt6XcbQpa, libQt6Gui and the rest come along),
with the library path the frozen app runs with. Every library must resolve inside the bundle,
except the base system's (BASE_SYSTEM). Each one that does not is named with the Debian package
that ships it, so the build machine can install it and build again.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

# The soname to package rule lives with the app, which names missing libraries the same way.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from pegasus_desktop.display import debian_package  # noqa: E402 - the repository is put first

# Libraries that come from the user's system, never from the bundle, and why.
BASE_SYSTEM = {
    # glibc and its loader: tied to the kernel and to each other; a copy from a newer build
    # machine fails on older ones, and PyInstaller never collects them.
    "glibc": r"ld-linux.*|libc|libm|libdl|libpthread|librt|libresolv|libutil|libanl|libcrypt",
    # The OpenGL stack (libglvnd's libGL, libEGL, libGLX, libOpenGL, libGLdispatch) and libdrm
    # must match the graphics driver installed; PyInstaller leaves them out on purpose.
    "OpenGL": r"libGL|libEGL|libGLX|libOpenGL|libGLdispatch|libdrm",
    # X11 clients: libX11 and the core libxcb.so.1 (its ABI follows the X server's libraries;
    # PyInstaller leaves libxcb out), and what libX11 pulls in.
    "X11 core": r"libX11|libxcb|libXau|libXdmcp|libbsd|libmd",
    # Fonts: fontconfig reads the system's font configuration, whose format follows its version;
    # freetype goes with it. And what the two pull in.
    "fonts": r"libfontconfig|libfreetype|libexpat|libpng16|libz|libbrotlidec|libbrotlicommon|libbz2",
    # D-Bus talks to the system's bus daemon; and what libdbus pulls in (systemd's client library).
    "D-Bus": r"libdbus-1|libsystemd|libcap|libgcrypt|libgpg-error|liblzma|liblz4|libzstd",
}
_BASE_SYSTEM = re.compile(rf"(?:{'|'.join(BASE_SYSTEM.values())})\.so(?:\.[\d.]+)?")

# Relative to PyInstaller's _internal folder: the X11 platform plugin and the GL integrations
# that libQt6XcbQpa loads when it starts (their own Qt libraries follow from ldd).
WINDOW_PLUGINS = ("PySide6/Qt/plugins/platforms/libqxcb.so", "PySide6/Qt/plugins/xcbglintegrations")


@dataclass(frozen=True)
class Unbundled:
    """A library a window plugin needs that is not inside the bundle."""

    soname: str
    found_at: str | None  # outside the bundle, or None: not on this machine at all
    needed_by: str

    @property
    def package(self) -> str:
        return debian_package(self.soname)


def is_base_system(soname: str) -> bool:
    return _BASE_SYSTEM.fullmatch(soname) is not None


def ldd(library: Path, library_path: list[Path]) -> dict[str, str | None]:
    """What ``library`` needs, transitively: soname -> the file it resolves to (None: not found),
    with ``LD_LIBRARY_PATH`` set to ``library_path`` as the frozen app sets it."""
    env = dict(os.environ, LD_LIBRARY_PATH=os.pathsep.join(str(p) for p in library_path))
    result = subprocess.run(
        ["ldd", str(library)], env=env, capture_output=True, text=True, timeout=60, check=True
    )
    return parse_ldd(result.stdout)


def parse_ldd(output: str) -> dict[str, str | None]:
    resolved: dict[str, str | None] = {}
    for line in output.splitlines():
        match = re.match(r"\s*(\S+) => (?:not found|(\S+) \(0x[0-9a-f]+\))\s*$", line)
        if match:
            soname, path = match.groups()
            resolved[soname] = resolved.get(soname) or path
    return resolved


def window_plugins(internal: Path) -> list[Path]:
    plugins: list[Path] = []
    for relative in WINDOW_PLUGINS:
        path = internal / relative
        plugins += sorted(path.glob("*.so")) if path.is_dir() else [path]
    return plugins


def unbundled_libraries(internal: Path, library_path: list[Path]) -> list[Unbundled]:
    """Libraries the window plugins under ``internal`` need that do not resolve inside it."""
    missing = [p for p in window_plugins(internal) if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"the bundle has no {missing[0]}: PySide6's hook changed?")
    found: dict[str, Unbundled] = {}
    root = internal.resolve()
    for plugin in window_plugins(internal):
        for soname, path in ldd(plugin, library_path).items():
            inside = path is not None and root in Path(path).resolve().parents
            if inside or is_base_system(soname) or soname in found:
                continue
            found[soname] = Unbundled(soname, path, plugin.relative_to(internal).as_posix())
    return sorted(found.values(), key=lambda u: u.soname)


def report(unbundled: list[Unbundled]) -> str:
    """The build's failure message: each library, where it is, and the package to install."""
    lines = ["The bundle lacks libraries its window needs (the Qt xcb plugin would not load):"]
    for lib in unbundled:
        where = f"found outside the bundle at {lib.found_at}" if lib.found_at else "not installed"
        lines.append(f"  {lib.soname:<28} {where}; Debian package {lib.package} (for {lib.needed_by})")
    packages = " ".join(sorted({lib.package for lib in unbundled}))
    lines.append(f"Install them on the build machine and build again: sudo apt-get install {packages}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print(__doc__.split("\n\n")[0], file=sys.stderr)
        return 2
    internal = Path(args[0]) / "_internal"
    unbundled = unbundled_libraries(internal, [internal])
    if unbundled:
        print(report(unbundled), file=sys.stderr)
        return 1
    print(f"ok: the window's libraries all resolve inside {internal}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
