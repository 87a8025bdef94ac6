"""The desktop bundle: ``python packaging/build.py`` into a temp folder, then the frozen app.

Builds once per module (several minutes), then checks what the bundle holds and leaves out (torch,
transformers and sentencepiece above all: the export reads checkpoints without them), and
runs it as a person's machine would: ``--self-test`` without a display (a non-ASCII temp folder,
the C locale, and again without stdio as a windowed build starts), a self-test that must fail,
the GUI without a display (a plain message, no abort), and the GUI under Xvfb, which must stay up,
load the Qt xcb plugin's libraries from inside the bundle, and quit cleanly on Ctrl+Q. Linux only: the Windows
and macOS parts of the spec run on those systems (README, "Build a desktop bundle").
"""

from __future__ import annotations

import configparser
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from builders import TINY_PEGASUS, with_torch_weights

from pegasus_desktop.resources import APP_TITLE
from pegasus_desktop.self_test import DATA_DIR_PREFIX, EXPECTED_SUMMARY

pytestmark = [pytest.mark.packaging, pytest.mark.slow]

REPO = TINY_PEGASUS.parents[2]
sys.path.insert(0, str(REPO / "packaging"))
import appinfo  # noqa: E402 - packaging/ is a folder of scripts, not a package
import bundle_check  # noqa: E402

APP = appinfo.read()
NAME = APP.name
MiB = 2**20
XCB_PLUGIN = Path("PySide6", "Qt", "plugins", "platforms", "libqxcb.so")
# The xcb helper libraries that Debian 12 images may lack and PySide6 does not ship (ldd of
# libqxcb.so and libQt6XcbQpa.so.6): the bundle must carry each one.
XCB_HELPERS = re.compile(r"libxcb-[\w-]+\.so\.\d+|libxkbcommon(-x11)?\.so\.0|libX11-xcb\.so\.1")
MUST_CARRY = ("libxcb-icccm.so.4", "libxcb-keysyms.so.1", "libxcb-cursor.so.0",
              "libxkbcommon-x11.so.0", "libxcb-render-util.so.0", "libxcb-image.so.0")


@dataclass(frozen=True)
class Build:
    bundle: Path  # dist/pegasus-desktop
    work: Path  # PyInstaller's work folder
    seconds: float
    output: str

    @property
    def exe(self) -> Path:
        return self.bundle / NAME

    @property
    def internal(self) -> Path:
        return self.bundle / "_internal"

    def files(self) -> list[str]:
        return sorted(p.relative_to(self.bundle).as_posix() for p in self.bundle.rglob("*"))

    def size(self) -> int:
        return sum(
            p.stat().st_size for p in self.bundle.rglob("*") if p.is_file() and not p.is_symlink()
        )


def _repo_outputs() -> set[Path]:
    """Files the build could leave in the repository (it must leave none)."""
    return {
        p
        for folder in ("build", "dist", "packaging", "resources")
        for p in (REPO / folder).rglob("*")
        if "__pycache__" not in p.parts
    }


@pytest.fixture(scope="module")
def build(tmp_path_factory) -> Build:
    assert sys.platform.startswith("linux"), "the bundle is built and run on Linux here"
    out = tmp_path_factory.mktemp("bundle")
    env = dict(
        os.environ, PYINSTALLER_CONFIG_DIR=str(out / "pyinstaller"), PYTHONDONTWRITEBYTECODE="1"
    )
    before = _repo_outputs()
    started = time.monotonic()
    result = subprocess.run(
        [
            sys.executable,
            str(REPO / "packaging" / "build.py"),
            "--dist",
            str(out / "dist"),
            "--work",
            str(out / "work"),
        ],
        cwd=out,
        env=env,
        capture_output=True,
        text=True,
        timeout=45 * 60,
        check=False,
    )
    seconds = time.monotonic() - started
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-6000:]
    assert _repo_outputs() == before, "the build wrote into the repository"
    made = Build(out / "dist" / NAME, out / "work", seconds, result.stdout)
    print(f"\nbuild: {seconds / 60:.1f} min, bundle: {made.size() / MiB:,.0f} MiB")
    return made


def _env(tmp_path: Path, **extra: str) -> dict:
    """No display, offline, the user's folders under a non-ASCII folder, and its own temp folder."""
    home = tmp_path / "hömé"
    env = {
        k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "PYTHONPATH")
    }
    env.update(
        QT_QPA_PLATFORM="offscreen", HF_HUB_OFFLINE="1", TMPDIR=str(home / "tmp"), HOME=str(home)
    )
    for var in ("XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME"):
        env[var] = str(home / var.lower())
    (home / "tmp").mkdir(parents=True, exist_ok=True)
    env.update(extra)
    return env


def _log(env: dict) -> str:
    return (Path(env["XDG_STATE_HOME"]) / NAME / "log" / "pegasus-desktop.log").read_text(
        encoding="utf-8"
    )


def _run(build: Build, *args: str, env: dict, **popen) -> subprocess.CompletedProcess:
    popen.setdefault("capture_output", True)
    return subprocess.run(
        [str(build.exe), *args],
        cwd=env["HOME"],
        env=env,
        text=True,
        timeout=600,
        check=False,
        **popen,
    )


def test_the_build_is_one_folder_with_a_small_launcher(build):
    assert build.exe.is_file() and os.access(build.exe, os.X_OK)
    assert build.internal.is_dir()
    # The executable carries the Python modules (PYZ); the libraries sit beside it, not inside.
    assert list(build.internal.glob("onnxruntime/capi/onnxruntime_pybind11_state*.so"))
    assert build.exe.stat().st_size < build.size() / 8
    assert f"bundle: {build.bundle}" in build.output
    assert re.search(r"^build time: \d+\.\d min", build.output, re.MULTILINE)


def _bundled_modules(build) -> set[str]:
    """The Python modules frozen into the bundle's PYZ archive."""
    from PyInstaller.archive.readers import CArchiveReader

    return set(CArchiveReader(str(build.exe)).open_embedded_archive("PYZ.pyz").toc)


def test_the_bundle_holds_the_gui_the_runtime_and_the_export(build):
    modules = _bundled_modules(build)
    for module in (
        "pegasus_desktop.main_window",
        "pegasus_desktop.export_child",
        "pegasus_desktop.self_test",
        "engine.summarizer",
        "onnxruntime",
        "tokenizers",
        # The torch-free export the child imports lazily (engine.export.pipeline), and what its
        # modules import inside functions: safetensors, filelock, huggingface_hub.
        "engine.export.pipeline",
        "engine.export.checkpoint",
        "engine.export.checkpoint_reader",
        "engine.export.bin_reader",
        "engine.export.pegasus_weights",
        "engine.export.graphs",
        "engine.export.quantize",
        "engine.export.tokenizer_convert",
        "onnx",
        "onnx.numpy_helper",
        "safetensors",
        "filelock",
        "huggingface_hub",
        "huggingface_hub.file_download",
        "engine.documents.web",  # web pages: trafilatura and what it opens at run time
        "trafilatura",
        "justext",
        "lxml_html_clean",
    ):
        assert module in modules, module
    files = set(build.files())
    for path in (
        "_internal/PySide6/QtWidgets.abi3.so",
        "_internal/PySide6/Qt/plugins/platforms/libqxcb.so",
        "_internal/PySide6/Qt/plugins/platforms/libqoffscreen.so",
        "_internal/resources/icon.png",
        "_internal/examples/article.txt",
        "_internal/tests/fixtures/tiny-pegasus/model.safetensors",
        "_internal/tests/fixtures/tiny-pegasus/tokenizer.json",
        "_internal/trafilatura/settings.cfg",
        "_internal/justext/stoplists/English.txt",
        "_internal/tld/res/effective_tld_names.dat.txt",
    ):
        assert path in files, path
    assert any(re.fullmatch(r"_internal/trafilatura-[^/]+\.dist-info/METADATA", f) for f in files)
    assert any(
        re.fullmatch(r"_internal/onnxruntime/capi/onnxruntime_pybind11_state.*\.so", f)
        for f in files
    )
    assert any(re.fullmatch(r"_internal/tokenizers/tokenizers.*\.so", f) for f in files)
    assert any(re.fullmatch(r"_internal/safetensors/_safetensors_rust.*\.so", f) for f in files)
    assert any(re.fullmatch(r"_internal/onnx/onnx_cpp2py_export.*\.so", f) for f in files)
    # The export manifest records these packages' versions (engine.export.pipeline._versions).
    for dist in ("numpy", "safetensors", "onnx", "onnxruntime", "tokenizers"):
        pattern = rf"_internal/{dist}-[^/]+\.dist-info/METADATA"
        assert any(re.fullmatch(pattern, f) for f in files), dist
    # Our own metadata (the export manifest records the version): the installed dist-info, or the
    # egg-info that an editable install leaves in the source tree, which importlib finds first.
    metadata = [
        f for f in files
        if re.fullmatch(r"_internal/pegasus_desktop(-[^/]+\.dist-info/METADATA|\.egg-info/PKG-INFO)", f)
    ]
    assert len(metadata) == 1, metadata
    text = (build.bundle / metadata[0]).read_text(encoding="utf-8")
    assert f"\nVersion: {APP.version}\n" in text


def test_the_bundle_has_no_torch_transformers_or_sentencepiece(build):
    """The export reads checkpoints and spiece.model with numpy (issue 16): none of the three ships,
    as libraries, data, metadata or Python modules."""
    heavy = re.compile(r"^_internal/(torch|torchgen|functorch|transformers|sentencepiece)([-/.]|$)")
    assert [f for f in build.files() if heavy.search(f)] == []
    assert [f for f in build.files() if re.search(r"libtorch|libc10|libsentencepiece", f)] == []
    heavy_modules = re.compile(r"(torch|torchgen|functorch|transformers|sentencepiece)(\.|$)")
    assert sorted(m for m in _bundled_modules(build) if heavy_modules.match(m)) == []


def test_the_bundle_leaves_out_unused_qt_optional_packages_dev_tools_and_cuda(build):
    files = build.files()
    unused_qt = re.compile(
        r"WebEngine|Qt6?3D|Multimedia|Qt6?Qml|Qt6?Quick|Qt6?Pdf|QtCharts|Qt6Sql|QtTest"
    )
    assert [f for f in files if unused_qt.search(f)] == []
    assert [f for f in files if f.startswith("_internal/PySide6/Qt/translations/")] == []
    assert [f for f in files if f.startswith(("_internal/pyarrow", "_internal/PIL/"))] == []
    babel = sorted(f for f in files if f.startswith("_internal/babel/locale-data/"))
    assert babel == [f"_internal/babel/locale-data/{name}.dat"
                     for name in ("en", "en_001", "en_US", "root")]
    cuda = re.compile(r"libcuda|libcudnn|libcublas|libnccl|libnvrtc|/nvidia/")
    assert [f for f in files if cuda.search(f)] == []
    modules = _bundled_modules(build)
    for module in (
        "tkinter",
        "matplotlib",
        "pytest",
        "ctranslate2",
        "ray",
        "pyarrow",
        "pydantic",
        "PIL",
        "PySide6.QtWebEngineCore",
        "PySide6.QtQml",
    ):
        assert module not in modules, module


def test_the_bundles_xcb_plugin_resolves_its_helper_libraries_inside_the_bundle(build):
    """With the library path the frozen app runs with (the bootloader sets LD_LIBRARY_PATH to
    _internal; the GUI test below checks what it really maps)."""
    assert "window libraries: all inside the bundle" in build.output
    resolved = bundle_check.ldd(build.internal / XCB_PLUGIN, [build.internal])
    helpers = {name: path for name, path in resolved.items() if XCB_HELPERS.fullmatch(name)}
    assert set(MUST_CARRY) <= set(helpers), sorted(helpers)
    for name, path in helpers.items():
        assert path == str(build.internal / name), f"{name} => {path}"
    assert bundle_check.unbundled_libraries(build.internal, [build.internal]) == []


def test_the_build_check_names_a_helper_library_the_bundle_lacks(build, tmp_path):
    """The bundle as it comes out of a machine without libxcb-icccm4: the same, without it."""
    copy = tmp_path / NAME
    shutil.copytree(build.bundle, copy, symlinks=True, copy_function=os.link)
    (copy / "_internal" / "libxcb-icccm.so.4").unlink()
    result = subprocess.run(
        [sys.executable, str(REPO / "packaging" / "bundle_check.py"), str(copy)],
        capture_output=True, text=True, timeout=300, check=False,
    )
    assert result.returncode == 1, result.stdout
    line = next(x for x in result.stderr.splitlines() if "libxcb-icccm.so.4" in x)
    assert "Debian package libxcb-icccm4" in line
    assert result.stderr.rstrip().endswith("sudo apt-get install libxcb-icccm4")


def test_the_readme_records_this_bundle_size(build):
    """The size in README's "Build a desktop bundle" must stay within 10% of what is built."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Build a desktop bundle", 1)[1].split("\n## ", 1)[0]
    recorded = int(re.search(r"([\d,]+) MiB", section).group(1).replace(",", ""))
    size = build.size() / MiB
    print(f"\nbundle {size:,.0f} MiB; README says {recorded:,} MiB")
    assert abs(size - recorded) <= 0.1 * recorded


def test_name_version_and_icons_come_from_pyproject_and_resources(build, tmp_path):
    from PIL import Image

    from pegasus_desktop import __version__

    result = _run(build, "--version", env=_env(tmp_path))
    assert result.returncode == 0
    assert result.stdout.strip() == f"{NAME} {APP.version}"
    assert __version__ == APP.version  # the app's own copy agrees with pyproject.toml
    assert (build.internal / "resources" / "icon.png").read_bytes() == (
        REPO / "resources" / "icon.png"
    ).read_bytes()
    icons = build.work / NAME / "icons"  # made by the spec from resources/icon.png
    with Image.open(icons / "icon.ico") as ico:
        assert {(16, 16), (32, 32), (48, 48), (256, 256)} <= set(ico.info["sizes"])
    with Image.open(icons / "icon.icns") as icns:
        assert {(16, 16, 2), (128, 128, 1), (256, 256, 1), (512, 512, 2)} <= set(icns.info["sizes"])


def test_the_linux_desktop_entry_and_its_installer(build, tmp_path):
    entry = configparser.ConfigParser(interpolation=None)
    entry.optionxform = str
    entry.read(build.bundle / f"{NAME}.desktop", encoding="utf-8")
    desktop = entry["Desktop Entry"]
    assert desktop["Type"] == "Application" and desktop["Name"] == APP_TITLE
    assert (
        desktop["Exec"] == f"{NAME} %f"
        and desktop["Icon"] == NAME
        and desktop["Terminal"] == "false"
    )
    assert "application/pdf" in desktop["MimeType"]
    assert (build.bundle / f"{NAME}.png").read_bytes() == (
        REPO / "resources" / "icon.png"
    ).read_bytes()

    data = tmp_path / "dätä"
    result = subprocess.run(
        [str(build.bundle / "install-desktop-entry.sh")],
        env=dict(os.environ, XDG_DATA_HOME=str(data)),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    installed = configparser.ConfigParser(interpolation=None)
    installed.optionxform = str
    installed.read(data / "applications" / f"{NAME}.desktop", encoding="utf-8")
    assert installed["Desktop Entry"]["Exec"] == f'"{build.exe}" %f'
    assert (data / "icons" / "hicolor" / "256x256" / "apps" / f"{NAME}.png").is_file()


def test_the_frozen_self_test_passes_without_a_display(build, tmp_path):
    """The spawned export is the frozen executable itself (freeze_support), the data folder is
    non-ASCII and under a non-ASCII temp folder, and the locale is C."""
    env = _env(tmp_path, LC_ALL="C", LANG="C")
    result = _run(build, "--self-test", env=env)
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"{APP_TITLE} {APP.version} self-test (frozen, {build.exe})")
    assert (
        lines[1] == f"model: {build.internal / 'tests' / 'fixtures' / 'tiny-pegasus'}"
    )  # sys._MEIPASS
    assert f"ok    resources in {build.internal}" in lines
    assert f"data folder: {env['TMPDIR']}/{DATA_DIR_PREFIX}" in result.stdout
    assert any(line.startswith("ok    export (int8) in child process ") for line in lines)
    assert f"{EXPECTED_SUMMARY!r}" in result.stdout
    assert "ok    neither torch nor transformers was imported into the app" in lines
    assert lines[-1] == "self-test passed"
    assert list(Path(env["TMPDIR"]).glob(f"{DATA_DIR_PREFIX}*")) == []


def test_the_frozen_export_reads_pytorch_model_bin_without_torch(build, tmp_path):
    """The default models ship pytorch_model.bin: the bundle reads it with its own unpickler."""
    checkpoint = with_torch_weights(TINY_PEGASUS, tmp_path / "bin-checkpoint")
    assert not list(checkpoint.glob("*.safetensors"))
    result = _run(build, "--self-test", "--model", str(checkpoint), env=_env(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    assert any(line.startswith("ok    export (int8) in child process ")
               for line in result.stdout.splitlines())
    assert f"{EXPECTED_SUMMARY!r}" in result.stdout  # the fixture's weights, read from the pickle


def test_the_frozen_self_test_passes_without_stdio_as_a_windowed_start(build, tmp_path):
    """File descriptors 1 and 2 closed: sys.stdout and sys.stderr start as None in the frozen
    app, and its spawned export process must still get somewhere to write."""
    env = _env(tmp_path)
    result = _run(
        build,
        "--self-test",
        env=env,
        capture_output=False,
        stdin=subprocess.DEVNULL,
        preexec_fn=lambda: (os.close(1), os.close(2)),
    )
    log = _log(env)
    assert result.returncode == 0, log[-3000:]
    assert "self-test: self-test passed" in log


def test_a_failing_frozen_self_test_says_what_failed(build, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(TINY_PEGASUS, broken)
    (broken / "model.safetensors").write_bytes(b"not a safetensors file")
    result = _run(build, "--self-test", "--model", str(broken), env=_env(tmp_path))
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert next(line for line in lines if line.startswith("FAIL")).startswith("FAIL  export: ")
    assert lines[-1] == "self-test FAILED"


def test_the_frozen_gui_without_a_display_says_what_is_missing(build, tmp_path):
    env = _env(tmp_path)
    del env["QT_QPA_PLATFORM"]
    result = _run(build, env=env)
    assert result.returncode == 3, result.stderr[-3000:]  # not -6: Qt never aborted
    assert result.stderr.startswith("Pegasus Desktop cannot open its window:\n")
    assert "- no X11 display: DISPLAY is not set (nor WAYLAND_DISPLAY)." in result.stderr
    assert "set QT_QPA_PLATFORM=offscreen" in result.stderr
    assert "Aborted" not in result.stderr and "qt.qpa" not in result.stderr
    assert "DISPLAY is not set (nor WAYLAND_DISPLAY)" in _log(env)


def _mapped_from(pid: int) -> dict[str, str]:
    """The shared libraries a running process has loaded: file name -> path."""
    maps = Path(f"/proc/{pid}/maps").read_text().split("\n")
    paths = {line.split(None, 5)[5] for line in maps if len(line.split(None, 5)) == 6}
    return {Path(p).name: p for p in paths if ".so" in p}


def _xvfb(tmp_path: Path) -> tuple[subprocess.Popen, str]:
    xvfb = shutil.which("Xvfb")
    assert xvfb and shutil.which("xdotool"), "Xvfb and xdotool are needed (make test installs them)"
    read, write = os.pipe()
    server = subprocess.Popen(
        [xvfb, "-displayfd", str(write), "-screen", "0", "1280x800x24", "-nolisten", "tcp"],
        pass_fds=(write,),
        stdout=subprocess.DEVNULL,
        stderr=(tmp_path / "xvfb.log").open("w"),
    )
    os.close(write)
    with os.fdopen(read) as pipe:
        number = pipe.readline().strip()
    assert number.isdigit(), (tmp_path / "xvfb.log").read_text()
    return server, f":{number}"


def test_the_frozen_gui_starts_under_xvfb_stays_up_and_quits_cleanly(build, tmp_path):
    server, display = _xvfb(tmp_path)
    env = _env(tmp_path, DISPLAY=display, QT_QPA_PLATFORM="xcb")
    app = subprocess.Popen(
        [str(build.exe)],
        cwd=env["HOME"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        xdotool = {"env": env, "capture_output": True, "text": True, "timeout": 60}
        found = subprocess.run(
            ["xdotool", "search", "--sync", "--onlyvisible", "--name", APP_TITLE],
            check=False,
            **xdotool,
        )
        assert found.returncode == 0 and found.stdout.split(), found.stderr
        time.sleep(5)
        assert app.poll() is None, "the app did not stay up"
        loaded = _mapped_from(app.pid)  # the window is up: the xcb plugin and its helpers loaded
        for name in (XCB_PLUGIN.name, *MUST_CARRY):
            assert loaded.get(name, "").startswith(f"{build.internal}/"), (name, loaded.get(name))
        window = found.stdout.split()[0]
        pressed = subprocess.run(
            ["xdotool", "windowfocus", "--sync", window, "key", "ctrl+q"], check=False, **xdotool
        )
        assert pressed.returncode == 0, pressed.stderr
        _, err = app.communicate(timeout=30)
    finally:
        if app.poll() is None:
            app.send_signal(signal.SIGKILL)
            app.wait()
        server.terminate()
        server.wait(10)
    assert app.returncode == 0, err[-3000:]
    assert "Traceback" not in err
    log = _log(env)
    assert "starting Pegasus Desktop" in log and "exiting with 0" in log
    assert " ERROR " not in log and " CRITICAL " not in log
    assert (
        Path(env["XDG_CONFIG_HOME"]) / NAME / "settings.json"
    ).is_file()  # closing saved the settings
