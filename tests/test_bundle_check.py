"""packaging/bundle_check.py names each library a bundle's window plugins cannot find inside it.

A fake bundle of real shared libraries built with gcc: its ``libqxcb.so`` needs one library kept
inside the bundle, one found only outside it (through an RPATH) and one deleted, as on a build
machine without its package. The real bundle is checked in tests/test_packaging.py.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from builders import TINY_PEGASUS
from native import shared_library

REPO = TINY_PEGASUS.parents[2]
sys.path.insert(0, str(REPO / "packaging"))
import bundle_check  # noqa: E402 - packaging/ is a folder of scripts, not a package

PLATFORMS = Path("PySide6", "Qt", "plugins", "platforms")
GL_INTEGRATIONS = Path("PySide6", "Qt", "plugins", "xcbglintegrations")


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("fake-bundle")
    internal = root / "bundle" / "_internal"
    inside = shared_library(internal / "libpegasus-inside.so.2")
    outside = shared_library(root / "system" / "libpegasus-outside-x11.so.1")
    gone = shared_library(root / "gone" / "libpegasus-gone.so.4")
    shared_library(
        internal / PLATFORMS / "libqxcb.so", needs=(inside, outside, gone), rpath=root / "system"
    )
    shared_library(internal / GL_INTEGRATIONS / "libqxcb-glx-integration.so", needs=(inside,))
    gone.unlink()
    return root / "bundle"


def test_parse_ldd_reads_found_and_missing_libraries():
    output = (
        "\tlinux-vdso.so.1 (0x00007ffd)\n"
        "\tlibxcb-icccm.so.4 => not found\n"
        "\tlibxcb.so.1 => /lib/x86_64-linux-gnu/libxcb.so.1 (0x00007f37)\n"
        "\tlibxcb-icccm.so.4 => not found\n"
        "\t/lib64/ld-linux-x86-64.so.2 (0x00007f37)\n"
    )
    assert bundle_check.parse_ldd(output) == {
        "libxcb-icccm.so.4": None,
        "libxcb.so.1": "/lib/x86_64-linux-gnu/libxcb.so.1",
    }


def test_the_base_system_list_is_exact():
    for soname in ("libc.so.6", "libGL.so.1", "libEGL.so.1", "libxcb.so.1", "libX11.so.6",
                   "libfontconfig.so.1", "libfreetype.so.6", "libdbus-1.so.3",
                   "ld-linux-x86-64.so.2"):
        assert bundle_check.is_base_system(soname), soname
    for soname in ("libxcb-icccm.so.4", "libxcb-keysyms.so.1", "libxcb-cursor.so.0",
                   "libxkbcommon-x11.so.0", "libX11-xcb.so.1", "libglib-2.0.so.0",
                   "libQt6XcbQpa.so.6", "libmd4c.so.0", "libcrypto.so.3"):
        assert not bundle_check.is_base_system(soname), soname


def test_libraries_missing_or_outside_the_bundle_are_named_with_their_package(bundle):
    internal = bundle / "_internal"
    unbundled = bundle_check.unbundled_libraries(internal, [internal])
    # libpegasus-inside resolves in the bundle, libc outside it but is the base system's
    assert [(u.soname, u.package) for u in unbundled] == [
        ("libpegasus-gone.so.4", "libpegasus-gone4"),
        ("libpegasus-outside-x11.so.1", "libpegasus-outside-x11-1"),
    ]
    gone, outside = unbundled
    assert gone.found_at is None
    assert outside.found_at == str(bundle.parent / "system" / "libpegasus-outside-x11.so.1")
    assert gone.needed_by == "PySide6/Qt/plugins/platforms/libqxcb.so"
    message = bundle_check.report(unbundled)
    assert "libpegasus-gone.so.4" in message and "not installed" in message
    assert "found outside the bundle at " in message
    assert message.endswith("sudo apt-get install libpegasus-gone4 libpegasus-outside-x11-1")


def test_the_command_fails_with_the_list(bundle):
    result = subprocess.run(
        [sys.executable, str(REPO / "packaging" / "bundle_check.py"), str(bundle)],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert result.returncode == 1
    assert result.stderr.startswith("The bundle lacks libraries its window needs")
    assert "libpegasus-gone.so.4" in result.stderr


def test_a_bundle_without_the_xcb_plugin_is_an_error(tmp_path):
    (tmp_path / "_internal").mkdir()
    with pytest.raises(FileNotFoundError, match="libqxcb.so"):
        bundle_check.unbundled_libraries(tmp_path / "_internal", [tmp_path / "_internal"])
