"""Peak resident memory inside a process, and the child processes that measure it.

Each engine, export and conversion runs in its own child process (``benchmarks.worker``) so that
its peak RSS is its own. On Linux the peak (``VmHWM``) can be reset by writing 5 to
``/proc/self/clear_refs``, so a worker reports the peak of each phase (loading, each generate)
separately. Elsewhere the lifetime peak (``ru_maxrss``, or psutil's ``peak_wset`` on Windows) is
reported, which only grows: the method used is named in every reply.

The parent talks to a child over its stdin/stdout, one JSON object per line; the child's own
stdout is redirected to its stderr, which goes to a log file.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

_PROC_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")
REPO = Path(__file__).resolve().parent.parent


def _status_kb(field: str) -> int | None:
    try:
        for line in _PROC_STATUS.read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def current_rss() -> int:
    rss = _status_kb("VmRSS")
    if rss is None:
        import psutil

        rss = psutil.Process().memory_info().rss
    return rss


def lifetime_peak_rss() -> int:
    """The highest RSS this process has had since it started (or since the last reset)."""
    hwm = _status_kb("VmHWM")
    if hwm is not None:
        return hwm
    if sys.platform == "win32":
        import psutil

        return psutil.Process().memory_info().peak_wset
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024  # bytes on macOS, KiB elsewhere


def reset_peak_rss() -> str:
    """Start a new peak from the current RSS if the OS allows it; return the method in use."""
    try:
        _CLEAR_REFS.write_text("5")
        return "VmHWM, reset per phase"
    except OSError:
        return "lifetime peak (cannot reset here: a phase's figure includes earlier phases)"


class WorkerError(RuntimeError):
    """A child process failed; the message carries the end of its log."""


class Child:
    """A ``python -m benchmarks.worker ...`` process, spoken to in JSON lines."""

    def __init__(self, args: list[str], log: Path) -> None:
        log.parent.mkdir(parents=True, exist_ok=True)
        self.log = log
        self._log_file = open(log, "w")  # noqa: SIM115 - closed in close()
        env = dict(
            os.environ,
            PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
        )
        env.setdefault("TOKENIZERS_PARALLELISM", "false")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.worker", *args],
            cwd=REPO,
            env=env,
            text=True,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log_file,
        )

    def receive(self) -> dict:
        line = self.proc.stdout.readline()
        if not line:
            self.proc.wait()
            raise WorkerError(
                f"worker {self.log.stem} exited with code {self.proc.returncode}.\n{self.tail()}"
            )
        reply = json.loads(line)
        if "error" in reply:
            raise WorkerError(f"worker {self.log.stem} failed: {reply['error']}\n{self.tail()}")
        return reply

    def request(self, message: dict) -> dict:
        self.proc.stdin.write(json.dumps(message) + "\n")
        self.proc.stdin.flush()
        return self.receive()

    def tail(self, lines: int = 30) -> str:
        self._log_file.flush()
        text = self.log.read_text(errors="replace").splitlines()
        return "\n".join(f"  | {line}" for line in text[-lines:])

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.proc.stdin.close()
                self.proc.wait(timeout=60)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()
        self._log_file.close()


def run_once(args: list[str], log: Path) -> dict:
    """Run a one-shot worker command (build, export, convert) and return its reply."""
    child = Child(args, log)
    try:
        return child.receive()
    finally:
        child.close()
