"""Build the desktop bundle: ``python packaging/build.py [--dist DIR] [--work DIR]``.

Runs PyInstaller on ``packaging/pegasus-desktop.spec`` (a one-folder, windowed build), then, on
Linux, checks that every library the Qt xcb plugin needs resolves inside the bundle (other than
the base system's: ``bundle_check.py``) and puts a ``.desktop`` file, the icon and
``install-desktop-entry.sh`` beside the executable. It prints where the bundle is, its size and
how long the build took, and exits non-zero when PyInstaller fails or the bundle lacks a library
its window needs (naming each one and the Debian package to install). The output goes to
``dist/`` and ``build/`` at the top of the repository unless ``--dist`` and ``--work`` say
otherwise.

    Linux:   dist/pegasus-desktop/pegasus-desktop
    Windows: dist\\pegasus-desktop\\pegasus-desktop.exe
    macOS:   dist/Pegasus Desktop.app
"""

from __future__ import annotations

import argparse
import os
import shutil
import stat
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import appinfo  # noqa: E402 - packaging/ is put on sys.path just above
import bundle_check  # noqa: E402

SPEC = HERE / "pegasus-desktop.spec"

DESKTOP_ENTRY = """\
[Desktop Entry]
Type=Application
Version=1.5
Name={title}
GenericName=Summarizer
Comment={description}
Exec={exec} %f
Icon={icon}
Terminal=false
Categories=Office;Utility;TextTools;
MimeType=text/plain;text/markdown;text/html;application/pdf;application/vnd.openxmlformats-officedocument.wordprocessingml.document;
StartupWMClass={name}
"""

# Writes the desktop entry with this folder's absolute path into the user's applications menu.
INSTALL_SCRIPT = """\
#!/bin/sh
# Add {title} to the applications menu (for this user): run it from where the folder will stay.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
data=${{XDG_DATA_HOME:-$HOME/.local/share}}
mkdir -p "$data/applications" "$data/icons/hicolor/256x256/apps"
cp "$here/{name}.png" "$data/icons/hicolor/256x256/apps/{name}.png"
sed -e "s|^Exec=.*|Exec=\\"$here/{name}\\" %f|" -e "s|^Icon=.*|Icon={name}|" \\
    "$here/{name}.desktop" > "$data/applications/{name}.desktop"
echo "Installed $data/applications/{name}.desktop"
"""


def folder_size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink())


def add_linux_desktop_files(bundle: Path, app: appinfo.AppInfo) -> None:
    """``<name>.desktop`` (runs the executable beside it), ``<name>.png`` and the install script."""
    shutil.copyfile(appinfo.ROOT / "resources" / "icon.png", bundle / f"{app.name}.png")
    entry = DESKTOP_ENTRY.format(
        title=app.title, description=app.description, name=app.name, exec=app.name, icon=app.name
    )
    (bundle / f"{app.name}.desktop").write_text(entry, encoding="utf-8")
    script = bundle / "install-desktop-entry.sh"
    script.write_text(INSTALL_SCRIPT.format(title=app.title, name=app.name), encoding="utf-8")
    script.chmod(script.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


def build(dist: Path, work: Path, *, clean: bool = True) -> Path:
    """Run PyInstaller; return the bundle (the one folder, or the .app on macOS)."""
    import PyInstaller.__main__

    app = appinfo.read()
    args = [str(SPEC), "--noconfirm", "--distpath", str(dist), "--workpath", str(work)]
    if clean:
        args.append("--clean")
    PyInstaller.__main__.run(args)
    if sys.platform == "darwin":
        return dist / f"{app.title}.app"
    bundle = dist / app.name
    if sys.platform.startswith("linux"):
        add_linux_desktop_files(bundle, app)
    return bundle


def check_window_libraries(bundle: Path) -> bool:
    """Linux: print whether the libraries the window needs all resolve inside the bundle.

    PyInstaller copies the xcb plugin's libraries only when the build machine has them; without
    them the bundle builds fine and then cannot open a window. The frozen app runs with
    ``LD_LIBRARY_PATH`` set to ``_internal`` (PyInstaller's bootloader sets it), and so does ldd.
    """
    internal = bundle / "_internal"
    unbundled = bundle_check.unbundled_libraries(internal, [internal])
    if unbundled:
        print(bundle_check.report(unbundled), file=sys.stderr)
        return False
    print("window libraries: all inside the bundle (or the base system's)")
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--dist", type=Path, default=appinfo.ROOT / "dist", help="where the bundle goes"
    )
    parser.add_argument(
        "--work", type=Path, default=appinfo.ROOT / "build", help="PyInstaller's work folder"
    )
    parser.add_argument(
        "--no-clean", action="store_true", help="reuse PyInstaller's cache from a previous build"
    )
    args = parser.parse_args(argv)
    try:
        import PyInstaller  # noqa: F401
    except ImportError:
        print("PyInstaller is missing: pip install -e '.[app,package]'", file=sys.stderr)
        return 2
    started = time.monotonic()
    try:
        bundle = build(args.dist.resolve(), args.work.resolve(), clean=not args.no_clean)
    except SystemExit as e:  # PyInstaller exits on errors
        if e.code not in (0, None):
            print(f"PyInstaller failed ({e.code})", file=sys.stderr)
            return 1
        raise
    if sys.platform.startswith("linux") and not check_window_libraries(bundle):
        return 1
    seconds = time.monotonic() - started
    size = folder_size(bundle)
    print(f"bundle: {bundle}")
    files = sum(1 for p in bundle.rglob("*") if p.is_file())
    print(f"size: {size / 2**20:,.0f} MiB in {files:,} files")
    print(f"build time: {seconds / 60:.1f} min ({os.cpu_count()} CPUs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
