"""The app as a process: the GUI never imports torch (the export runs in a spawned child), the
entry points start, and a windowed build without stderr still starts and logs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import children

HERE = Path(__file__).parent


def _env(tmp_path) -> dict:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", HF_HUB_OFFLINE="1")
    for var in ("XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME"):
        env[var] = str(tmp_path / var.lower())
    return env


def test_gui_process_never_imports_torch_through_a_whole_session(tmp_path, app_checkpoint, article):
    (tmp_path / "article.txt").write_text(article, encoding="utf-8")
    result = subprocess.run(
        [
            sys.executable,
            str(HERE / "gui_session.py"),
            str(app_checkpoint),
            str(tmp_path / "models"),
            str(tmp_path / "article.txt"),
        ],
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    assert seen["forbidden"] == []
    assert seen["summary"] and seen["shown"] == seen["summary"]


def test_windowed_start_without_stdio_logs_to_the_user_log_dir(tmp_path):
    """pythonw / PyInstaller --windowed: sys.stdout and sys.stderr are None."""
    env = _env(tmp_path)
    (tmp_path / "article.md").write_text("# Title\n\nThe *opened* article.", encoding="utf-8")
    result = subprocess.run(
        children.command("windowed_app", "--model", "google/pegasus-xsum", tmp_path / "article.md"),
        env=children.env(env),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout == "" and result.stderr == ""
    log = (
        tmp_path / "xdg_state_home" / "pegasus-desktop" / "log" / "pegasus-desktop.log"
    ).read_text()
    assert "windowed ok" in log and "starting Pegasus Desktop" in log
    settings = json.loads(
        (tmp_path / "xdg_config_home" / "pegasus-desktop" / "settings.json").read_text()
    )
    assert settings["model_id"] == "google/pegasus-xsum"
    assert settings["last_input"] == "Title\n\nThe opened article."  # the FILE argument was opened


def test_module_and_version_entry_points(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "pegasus_desktop", "--version"],
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0 and result.stdout.startswith("pegasus-desktop 0.")
