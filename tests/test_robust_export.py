"""Exports that are killed, run twice at once, or hit a full disk never leave a folder that loads
half-written, and the next export cleans up and succeeds.

The killed and concurrent exports are real processes. They are forked from a multiprocessing
fork server that has imported torch and transformers once, so each trial costs about a second
instead of the import time.
"""

from __future__ import annotations

import errno
import io
import multiprocessing
import os
import random
import shutil
import signal
import time
from pathlib import Path

import numpy as np
import pytest

from engine.errors import DiskFullError, EngineError, ExportBusyError
from engine.model_dir import export_dir, lock_path, model_folder_lock, remove_stale_staging, verify
from engine.runtime import get_onnx_runtime_sessions

_PRELOAD = ["torch", "transformers", "transformers.models.pegasus.modeling_pegasus", "onnx",
            "onnxruntime", "engine.export.pipeline", "engine.export.graphs", "engine.export.quantize"]


@pytest.fixture(scope="module")
def forkserver():
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(_PRELOAD)
    return context


def _export_child(model_id: str, root: str, conn, lock_timeout) -> None:
    """A real export whose progress events go to ``conn``; ends with ("finished", folder) or an error."""
    from engine.export.pipeline import ExportOptions, export

    try:
        paths = export(model_id, root, precision="int8", options=ExportOptions(lock_timeout=lock_timeout),
                       on_progress=lambda p: conn.send((p.stage, p.done, p.total, p.detail)))
    except EngineError as e:
        conn.send(("error", type(e).__name__, str(e)))
    else:
        conn.send(("finished", str(paths.folder)))
    conn.close()


def _lock_holder(model_folder: str, conn) -> None:
    """Hold a model folder's export lock until told to let go (or killed)."""
    with model_folder_lock(Path(model_folder)):
        conn.send("locked")
        conn.recv()


def _start_export(context, model_id, root, lock_timeout=None):
    receiver, sender = context.Pipe(duplex=False)
    process = context.Process(target=_export_child, args=(model_id, str(root), sender, lock_timeout))
    process.start()
    sender.close()
    return process, receiver


def _events(receiver, until=None, timeout=120.0):
    """Read events until one matches ``until`` (a predicate), the pipe ends, or ``timeout``."""
    events, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not receiver.poll(0.01):
            continue
        try:
            event = receiver.recv()
        except EOFError:
            break
        events.append(event)
        if until is not None and until(event):
            break
    return events


def _loads_and_generates(folder: Path) -> None:
    from engine.model import OnnxPegasus

    model = OnnxPegasus(str(folder), get_onnx_runtime_sessions(folder))
    assert model.generate(np.array([[5, 6, 7, 1]]), max_length=4).shape[0] == 1


def _lay_out_hub_cache(checkpoint: Path, model_id: str, commit: str = "0" * 40) -> Path:
    """The checkpoint where huggingface_hub keeps downloads, so a hub id 'downloads' offline."""
    from huggingface_hub import constants

    repo = Path(constants.HF_HUB_CACHE) / f"models--{model_id.replace('/', '--')}"
    shutil.copytree(checkpoint, repo / "snapshots" / commit)
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    return repo


# Where to kill: right after the first event of a stage (and part), then a seeded random delay.
_KILL_POINTS = [
    ("download", None), ("load", 0), ("load", 1), ("export", 0), ("export", 1), ("export", 2),
    ("quantize", 0), ("quantize", 1), ("quantize", 2), ("verify", 0),
]


@pytest.mark.slow
def test_export_killed_at_random_points_never_leaves_a_folder_that_loads(forkserver, tiny_checkpoint, tmp_path):
    model_id = "acme/kill-test"
    repo = _lay_out_hub_cache(tiny_checkpoint, model_id)
    root = tmp_path / "models"
    target = export_dir(model_id, "int8", root)
    rng = random.Random(6)
    trials, kills, survived, stages_hit, failures = 24, 0, 0, {}, []
    try:
        for trial in range(trials):
            stage, done = _KILL_POINTS[trial % len(_KILL_POINTS)]
            had_export = target.exists()
            process, receiver = _start_export(forkserver, model_id, root)
            events = _events(receiver, until=lambda e: e[0] == stage and (done is None or e[1] == done))
            time.sleep(rng.uniform(0, 0.04))
            last = events[-1][0] if events else "start"
            if process.is_alive():
                os.kill(process.pid, signal.SIGKILL)
            process.join(30)
            receiver.close()
            if process.exitcode != -signal.SIGKILL:  # it finished before the signal landed
                assert process.exitcode == 0 and verify(target)
                continue
            kills += 1
            stages_hit[last] = stages_hit.get(last, 0) + 1
            try:
                assert "wait" not in [e[0] for e in events], "a killed export's lock outlived it"
                # Whatever stays in place loads; hidden leftovers are for the next start to clean.
                for folder in target.parent.iterdir() if target.parent.exists() else []:
                    if not folder.name.startswith("."):
                        verify(folder)
                        _loads_and_generates(folder)
                # An export that was in place before is never lost for good: the next start puts
                # it back if the kill fell between publish's two renames.
                if had_export and not target.exists():
                    with model_folder_lock(target.parent):
                        remove_stale_staging(target.parent)
                    assert target.exists(), "the previous export was lost"
            except (AssertionError, EngineError) as e:
                failures.append((trial, last, repr(e)))
            else:
                survived += 1
        # The next start cleans up and exports.
        from engine.export.pipeline import export

        paths = export(model_id, root, precision="int8")
    finally:
        shutil.rmtree(repo, ignore_errors=True)
    assert sorted(p.name for p in target.parent.iterdir()) == ["int8"]
    _loads_and_generates(paths.folder)
    print(f"\nkilled exports: {trials} trials, {kills} kills, {survived} survived; last stage seen: {stages_hit}")
    assert failures == []
    assert kills >= 10 and survived == kills
    assert {"download", "load", "export", "quantize"} <= set(stages_hit)


def test_second_export_waits_for_the_first_and_uses_its_result(forkserver, tiny_checkpoint, tmp_path):
    root = tmp_path / "models"
    first, first_events = _start_export(forkserver, str(tiny_checkpoint), root)
    started = _events(first_events, until=lambda e: e[0] == "load")  # holds the lock from here on
    assert started and started[-1][0] == "load"
    second, second_events = _start_export(forkserver, str(tiny_checkpoint), root)
    waiting = _events(second_events, until=lambda e: e[0] == "wait", timeout=60)
    assert waiting[-1][0] == "wait", waiting
    rest_first = _events(first_events)
    rest_second = _events(second_events)
    first.join(30)
    second.join(30)
    assert rest_first[-1][0] == "finished" and rest_second[-1][0] == "finished", (rest_first, rest_second)
    # The second one wrote nothing: it waited, then took the first one's verified export.
    assert [e[0] for e in rest_second] == ["finished"]
    assert rest_first[-1][1] == rest_second[-1][1]
    folder = Path(rest_first[-1][1])
    verify(folder)
    assert sorted(p.name for p in folder.parent.iterdir()) == ["int8"]


def test_second_export_with_a_timeout_says_another_one_is_running(forkserver, tiny_checkpoint, tmp_path):
    root = tmp_path / "models"
    model_folder = export_dir(str(tiny_checkpoint), "int8", root).parent
    receiver, sender = forkserver.Pipe()
    holder = forkserver.Process(target=_lock_holder, args=(str(model_folder), sender))
    holder.start()
    try:
        assert receiver.recv() == "locked"
        second, events = _start_export(forkserver, str(tiny_checkpoint), root, lock_timeout=0.5)
        outcome = _events(events)
        second.join(30)
        assert outcome[-1][:2] == ("error", "ExportBusyError"), outcome
        assert "Another Pegasus Desktop window or pegasus-summarize" in outcome[-1][2]
        assert str(lock_path(model_folder)) in outcome[-1][2]
        assert not model_folder.exists() or not any(model_folder.iterdir())
    finally:
        receiver.send("release")
        holder.join(10)
    from engine.export.pipeline import export

    verify(export(str(tiny_checkpoint), root, precision="int8").folder)


def test_the_app_never_cleans_up_a_folder_another_process_is_exporting(forkserver, tiny_checkpoint, tmp_path):
    pytest.importorskip("PySide6")
    from pegasus_desktop.export_process import remove_leftovers

    root = tmp_path / "models"
    model_folder = export_dir(str(tiny_checkpoint), "int8", root).parent
    busy = model_folder / ".staging-int8-12345678"
    busy.mkdir(parents=True)
    receiver, sender = forkserver.Pipe()
    holder = forkserver.Process(target=_lock_holder, args=(str(model_folder), sender))
    holder.start()
    try:
        assert receiver.recv() == "locked"
        remove_leftovers(str(tiny_checkpoint), "int8", root)
        assert busy.is_dir()
    finally:
        receiver.send("release")
        holder.join(10)
    remove_leftovers(str(tiny_checkpoint), "int8", root)
    assert not model_folder.exists()


# -- a full disk


class _Budget:
    """Writes under ``root`` share a budget of bytes; past it, they fail as on a full disk."""

    def __init__(self, root: Path, limit: int | None) -> None:
        self.root, self.limit, self.written = str(root), limit, 0

    def charge(self, n: int) -> None:
        if self.limit is not None and self.written + n > self.limit:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self.written += n


class _FullDiskFile:
    def __init__(self, raw, budget: _Budget) -> None:
        self.raw, self.budget = raw, budget

    def write(self, data) -> int:
        size = len(data.encode()) if isinstance(data, str) else memoryview(data).nbytes
        self.budget.charge(size)
        return self.raw.write(data)

    def __getattr__(self, name):  # seek, tell, flush, close, name... (fileno is left out on
        if name == "fileno":  # purpose: shutil then copies through write() instead of sendfile)
            raise AttributeError(name)
        return getattr(self.raw, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.raw.close()

    def close(self) -> None:
        self.raw.close()


@pytest.fixture
def disk(monkeypatch, tmp_path):
    """disk(limit): from now on, files written under tmp_path/models fail past ``limit`` bytes."""
    import builtins

    real_open = builtins.open
    budget = _Budget(tmp_path / "models", None)

    def patched_open(file, mode="r", *args, **kwargs):
        handle = real_open(file, mode, *args, **kwargs)
        writing = any(flag in mode for flag in "wax+")
        if writing and isinstance(file, (str, os.PathLike)) and os.fspath(file).startswith(budget.root):
            return _FullDiskFile(handle, budget)
        return handle

    monkeypatch.setattr(builtins, "open", patched_open)
    monkeypatch.setattr(io, "open", patched_open)

    def limit(n: int | None) -> _Budget:
        budget.limit, budget.written = n, 0
        return budget

    return limit


def test_disk_full_at_any_point_says_so_and_leaves_only_the_previous_export(disk, tiny_checkpoint, tmp_path):
    from engine.export.pipeline import export

    root = tmp_path / "models"
    total = disk(None)
    good = export(str(tiny_checkpoint), root, precision="int8")
    before = (good.folder / "manifest.json").read_bytes()
    assert total.written > 100_000
    written = total.written
    for fraction in (0.0, 0.05, 0.3, 0.6, 0.9, 0.99):
        disk(int(written * fraction))
        with pytest.raises(DiskFullError) as info:
            export(str(tiny_checkpoint), root, precision="int8")
        message = str(info.value)
        assert "The disk is full" in message and str(good.folder.parent) in message, message
        assert "It needs about" in message and "free now" in message, message
        assert "half-written has been removed" in message
        assert sorted(p.name for p in good.folder.parent.iterdir()) == ["int8"], fraction
        assert (good.folder / "manifest.json").read_bytes() == before
    disk(None)
    _loads_and_generates(good.folder)


def test_disk_full_on_a_first_export_leaves_nothing(disk, tiny_checkpoint, tmp_path):
    from engine.export.pipeline import export

    disk(20_000)
    with pytest.raises(DiskFullError, match="The disk is full"):
        export(str(tiny_checkpoint), tmp_path / "models", precision="fp32")
    model_folder = export_dir(str(tiny_checkpoint), "fp32", tmp_path / "models").parent
    assert list(model_folder.iterdir()) == []


def test_disk_full_reaches_the_app_as_a_disk_problem(disk, tiny_checkpoint, tmp_path):
    pytest.importorskip("PySide6")
    from pegasus_desktop.export_child import run_export

    class Conn:
        def __init__(self):
            self.messages = []

        def send(self, message):
            self.messages.append(message)

        def close(self):
            pass

    conn = Conn()
    disk(50_000)
    run_export(str(tiny_checkpoint), str(tmp_path / "models"), "int8", conn)
    kind, message = conn.messages[-1][1:3]
    assert conn.messages[-1][0] == "error" and kind == "disk", conn.messages[-1]
    assert "The disk is full" in message


def test_disk_full_errors_are_recognised_through_wrappers():
    from engine.model_dir import is_disk_full

    assert is_disk_full(OSError(errno.ENOSPC, "No space left on device"))
    assert is_disk_full(OSError(errno.EDQUOT, "Disk quota exceeded"))
    assert is_disk_full(RuntimeError("onnx write failed: No space left on device"))
    try:
        try:
            raise OSError(errno.ENOSPC, "No space left on device")
        except OSError as inner:
            raise ValueError("save failed") from inner
    except ValueError as outer:
        assert is_disk_full(outer)
    assert not is_disk_full(OSError(errno.EACCES, "Permission denied"))
    assert not is_disk_full(ValueError("bad"))


# -- damage that a consistent manifest does not catch: onnxruntime or the tokenizer must refuse it


_DAMAGE_SCRIPT = r"""
import json, shutil, sys
from pathlib import Path
from engine.errors import EngineError
from engine.model_dir import write_manifest, read_manifest
from engine.summarizer import Summarizer

source, work = Path(sys.argv[1]), Path(sys.argv[2])

def truncate(folder, name, keep=0.5):
    data = (folder / name).read_bytes()
    (folder / name).write_bytes(data[: int(len(data) * keep)])

def garbage(folder, name):
    (folder / name).write_bytes(bytes(range(256)) * 40)

cases = {
    "encoder truncated": lambda f: truncate(f, "encoder.onnx"),
    "decoder garbage": lambda f: garbage(f, "decoder.onnx"),
    "weights truncated": lambda f: truncate(f, "weights.bin", 0.3),
    "weights empty": lambda f: truncate(f, "weights.bin", 0.0),
    "tokenizer garbage": lambda f: garbage(f, "tokenizer.json"),
    "tokenizer truncated": lambda f: truncate(f, "tokenizer.json"),
    "config not pegasus": lambda f: (f / "config.json").write_text('{"model_type": "bert"}'),
    "config garbage": lambda f: garbage(f, "config.json"),
}
for name, damage in cases.items():
    folder = work / name.replace(" ", "-")
    shutil.copytree(source, folder)
    (folder / ".verified.json").unlink(missing_ok=True)
    info = {k: v for k, v in read_manifest(folder).items() if k not in ("files", "format")}
    damage(folder)
    write_manifest(folder, info)  # the damage is now "consistent": only loading can catch it
    try:
        Summarizer.load(folder).summarize("w5 w6 w7")
    except EngineError as e:
        print(json.dumps([name, "EngineError", str(e)]), flush=True)
    except Exception as e:
        print(json.dumps([name, type(e).__name__, str(e)]), flush=True)
    else:
        print(json.dumps([name, "loaded", ""]), flush=True)
"""


def test_damage_behind_a_consistent_manifest_is_an_engine_error_never_a_crash(tiny_exports, tiny_checkpoint, tmp_path):
    import json
    import subprocess
    import sys

    source = export_dir(str(tiny_checkpoint), "int8", tiny_exports)
    result = subprocess.run(
        [sys.executable, "-c", _DAMAGE_SCRIPT, str(source), str(tmp_path)],
        capture_output=True, text=True, timeout=300, cwd=Path(__file__).parents[1],
    )
    assert result.returncode == 0, f"the process died ({result.returncode}): {result.stderr[-2000:]}"
    outcomes = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(outcomes) == 8, result.stdout
    for name, kind, message in outcomes:
        assert kind == "EngineError", (name, kind, message)
        assert "re-export" in message.lower(), (name, message)
