"""``pegasus-desktop --self-test`` from the source tree, each run in a fresh interpreter (the
test checks that torch stays out of the app's process): it passes on the trained fixture, in a
non-ASCII temp folder under the C locale, without stdio as in a windowed build, on another
checkpoint given with ``--model``, and it fails with exit code 1 and says why when a step fails."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import children
from builders import TINY_PEGASUS

from pegasus_desktop.self_test import DATA_DIR_PREFIX, EXPECTED_SUMMARY

REPO = TINY_PEGASUS.parents[2]


def _env(tmp_path: Path, **extra: str) -> dict:
    """No display, offline, the user's folders and the temp folder under ``tmp_path``."""
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env.update(QT_QPA_PLATFORM="offscreen", HF_HUB_OFFLINE="1", TMPDIR=str(tmp_path / "tmp"))
    for var in ("XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME"):
        env[var] = str(tmp_path / var.lower())
    (tmp_path / "tmp").mkdir(exist_ok=True)
    env.update(extra)
    return env


def _data_folders(temp: Path) -> list[Path]:
    """The self-test's data folders left in ``temp`` (onnxruntime leaves a ``.ses`` file there)."""
    return sorted(temp.glob(f"{DATA_DIR_PREFIX}*"))


def _self_test(
    tmp_path: Path, *args: str, child: str | None = None, **popen
) -> subprocess.CompletedProcess:
    """``--self-test`` of the app, or of tests/children/``child``.py, which runs the app its way."""
    command = children.command(child) if child else [sys.executable, "-m", "pegasus_desktop"]
    popen.setdefault("env", children.env(_env(tmp_path)) if child else _env(tmp_path))
    popen.setdefault("capture_output", True)
    return subprocess.run(
        [*command, "--self-test", *args], cwd=tmp_path, text=True, timeout=300, check=False, **popen
    )


def test_self_test_passes_on_the_fixture_in_a_non_ascii_temp_folder_under_the_c_locale(tmp_path):
    env = _env(tmp_path, TMPDIR=str(tmp_path / "tëmp-日本"), LC_ALL="C", LANG="C")
    Path(env["TMPDIR"]).mkdir()
    result = _self_test(tmp_path, env=env)
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    lines = result.stdout.splitlines()
    assert lines[0].startswith("Pegasus Desktop 0.") and "from source" in lines[0]
    assert lines[1] == f"model: {REPO / 'tests' / 'fixtures' / 'tiny-pegasus'}"
    data_line = next(line for line in lines if line.startswith("data folder: "))
    assert f"tëmp-日本/{DATA_DIR_PREFIX}" in data_line  # non-ASCII twice over
    assert any(line.startswith("ok    export (int8) in child process ") for line in lines)
    assert f"{EXPECTED_SUMMARY!r}" in result.stdout
    assert "ok    summary is the expected one" in lines
    assert "ok    neither torch nor transformers was imported into the app" in lines
    assert lines[-1] == "self-test passed"
    assert _data_folders(Path(env["TMPDIR"])) == []  # the temporary data folder is gone


def test_self_test_without_stdio_as_in_a_windowed_build_logs_its_result(tmp_path):
    """Windowed builds start with no stdout and stderr: file descriptors 1 and 2 are closed, so
    Python sets sys.stdout and sys.stderr to None, here and in the spawned export process."""
    result = _self_test(
        tmp_path,
        capture_output=False,
        stdin=subprocess.DEVNULL,
        preexec_fn=lambda: (os.close(1), os.close(2)),
    )
    assert result.returncode == 0
    log = (
        tmp_path / "xdg_state_home" / "pegasus-desktop" / "log" / "pegasus-desktop.log"
    ).read_text()
    assert "self-test: ok    export (int8) in child process" in log
    assert "self-test: self-test passed" in log


def test_self_test_of_another_checkpoint_in_a_non_ascii_folder_needs_a_summary(tmp_path):
    model = tmp_path / "modèle ü"
    shutil.copytree(TINY_PEGASUS, model)
    result = _self_test(tmp_path, "--model", str(model))
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    assert f"model: {model}" in result.stdout
    assert "ok    summary is not empty" in result.stdout.splitlines()


def test_a_wrong_summary_fails_and_says_what_it_got(tmp_path):
    result = _self_test(tmp_path, child="self_test_expecting_another_summary")
    assert result.returncode == 1
    assert (
        f"FAIL  check: the summary is {EXPECTED_SUMMARY!r}, expected 'Anna sold 3 cars.'"
        in result.stdout.splitlines()
    )
    assert result.stdout.splitlines()[-1] == "self-test FAILED"


def test_a_failing_export_fails_with_the_export_error(tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(TINY_PEGASUS, broken)
    (broken / "model.safetensors").write_bytes(b"not a safetensors file")
    result = _self_test(tmp_path, "--model", str(broken))
    assert result.returncode == 1
    fail = next(line for line in result.stdout.splitlines() if line.startswith("FAIL"))
    assert fail.startswith("FAIL  export: ")
    assert result.stdout.splitlines()[-1] == "self-test FAILED"
    assert _data_folders(tmp_path / "tmp") == []  # nothing left behind


def test_the_app_and_its_export_child_keep_no_onnxruntime_device_id(tmp_path):
    """tests/conftest.py sets ORT_DISABLE_TELEMETRY for the test process and so for every child;
    here it is removed, as on a user's machine. The self-test runs the app's engine and its export
    child: onnxruntime's telemetry would keep a device id under ~/.cache/Microsoft."""
    home = tmp_path / "home"
    env = {k: v for k, v in _env(tmp_path, HOME=str(home)).items() if k != "ORT_DISABLE_TELEMETRY"}
    env["XDG_CACHE_HOME"] = str(home / ".cache")
    result = _self_test(tmp_path, env=env)
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    assert not home.exists() or not list(home.rglob("*deviceid*")), list(home.rglob("*"))
