"""What machine the benchmark ran on, which code it measured, and how busy the machine was."""

from __future__ import annotations

import contextlib
import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path

PACKAGES = ("onnxruntime", "torch", "transformers", "ctranslate2", "numpy", "onnx")


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def describe() -> dict:
    import psutil

    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    versions = {}
    for package in PACKAGES:
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[package] = metadata.version(package)
    return {
        "cpu": cpu_model(),
        "physical_cores": psutil.cpu_count(logical=False),
        "logical_cpus": psutil.cpu_count(logical=True),
        "usable_cpus": usable,
        "ram_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "os": platform.platform(),
        "python": platform.python_version(),
        "packages": versions,
    }


def load_snapshot(sample_seconds: float = 1.0) -> dict:
    """How busy the machine is now: load averages and the CPU share used over a short sample."""
    import psutil

    loads = os.getloadavg() if hasattr(os, "getloadavg") else (None, None, None)
    return {
        "loadavg_1_5_15": [round(x, 2) for x in loads] if loads[0] is not None else None,
        "cpu_busy_percent": psutil.cpu_percent(interval=sample_seconds),
    }


def git_revision(repo: Path) -> dict:
    """The commit measured, and whether the work tree had changes on top of it."""

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=repo, capture_output=True, text=True, check=True
        ).stdout.strip()

    try:
        return {
            "commit": git("rev-parse", "HEAD"),
            "engine_changed": bool(git("status", "--porcelain", "engine")),
        }
    except (OSError, subprocess.CalledProcessError):
        return {"commit": None, "engine_changed": None}
