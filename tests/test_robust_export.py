"""Exports that are killed, run twice at once, or hit a full disk never leave a folder that loads
half-written, and the next export cleans up and succeeds.

The killed and concurrent exports are real processes. They are forked from a multiprocessing
fork server that has imported torch and transformers once, so each trial costs about a second
instead of the import time. Their downloads come from a local stand-in for the Hugging Face Hub
(``HF_ENDPOINT``), slow enough to be killed mid-transfer.
"""

from __future__ import annotations

import errno
import hashlib
import io
import json
import multiprocessing
import os
import random
import re
import shutil
import signal
import threading
import time
from pathlib import Path

import children
import numpy as np
import pytest
from hub_server import serve

from engine.errors import DiskFullError, EngineError
from engine.model_dir import export_dir, lock_path, model_folder_lock, remove_stale_staging, verify
from engine.runtime import get_onnx_runtime_sessions

_PRELOAD = [
    "torch",
    "transformers",
    "transformers.models.pegasus.modeling_pegasus",
    "onnx",
    "onnxruntime",
    "engine.export.pipeline",
    "engine.export.graphs",
    "engine.export.quantize",
]


class FakeHub:
    """Serves one repository as the Hugging Face Hub's API does for ``snapshot_download``: the
    revision, the file tree, and files by HEAD and GET (with ``Range``). The weights are sent at
    ``rate`` bytes per second."""

    def __init__(self, repo_id: str, folder: Path, rate: float, commit: str = "2" * 40) -> None:
        self.repo_id, self.commit, self.rate = repo_id, commit, rate
        self.files = {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}
        # hold_midway(): the next weights download stops halfway until released, so that a test
        # can kill its client mid-transfer for certain, however slow or loaded the machine is.
        self.hold, self.midway, self.release = threading.Event(), threading.Event(), threading.Event()
        self.server = serve(self.answer)
        self.server.handle_error = lambda request, address: None  # clients are killed mid-answer
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def hold_midway(self) -> None:
        self.midway.clear()
        self.release.clear()
        self.hold.set()

    def let_go(self) -> None:
        self.hold.clear()
        self.release.set()

    def _pause_if_held(self) -> None:
        if self.hold.is_set():
            self.hold.clear()  # only one download stops
            self.midway.set()
            self.release.wait(120)

    @staticmethod
    def _is_weights(name: str) -> bool:
        return name.endswith((".safetensors", ".bin"))

    def _json(self, handler, data, body: bool) -> None:
        raw = json.dumps(data).encode()
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(raw)))
        handler.end_headers()
        if body:
            handler.wfile.write(raw)

    def answer(self, handler, body: bool) -> None:
        path = handler.path.split("?")[0]
        if path.startswith(f"/api/models/{self.repo_id}/revision/"):
            siblings = [{"rfilename": name} for name in self.files]
            return self._json(
                handler, {"id": self.repo_id, "sha": self.commit, "siblings": siblings}, body
            )
        if path.startswith(f"/api/models/{self.repo_id}/tree/"):
            tree = []
            for name, data in self.files.items():
                entry = {
                    "type": "file",
                    "path": name,
                    "size": len(data),
                    "oid": hashlib.sha1(data).hexdigest(),
                }
                if self._is_weights(name):
                    entry["lfs"] = {
                        "oid": hashlib.sha256(data).hexdigest(),
                        "size": len(data),
                        "pointerSize": 130,
                    }
                tree.append(entry)
            return self._json(handler, tree, body)
        match = re.fullmatch(rf"/{re.escape(self.repo_id)}/resolve/[^/]+/(.+)", path)
        if not match or match.group(1) not in self.files:
            handler.send_response(404)
            handler.send_header("X-Error-Code", "EntryNotFound")
            handler.send_header("Content-Length", "0")
            handler.end_headers()
            return None
        name = match.group(1)
        data = self.files[name]
        etag = (hashlib.sha256 if self._is_weights(name) else hashlib.sha1)(data).hexdigest()
        start = 0
        if body and (wanted := handler.headers.get("Range")):
            start = int(wanted.split("=")[1].split("-")[0])
        handler.send_response(206 if start else 200)
        handler.send_header("X-Repo-Commit", self.commit)
        handler.send_header("ETag", f'"{etag}"')
        handler.send_header("Content-Length", str(len(data) - start))
        if start:
            handler.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        handler.end_headers()
        if not body:
            return None
        chunk = 8192
        for offset in range(start, len(data), chunk):
            try:
                handler.wfile.write(data[offset : offset + chunk])
                handler.wfile.flush()
            except OSError:  # the client was killed
                return None
            if self._is_weights(name):
                if offset <= len(data) // 2 < offset + chunk:
                    self._pause_if_held()
                time.sleep(chunk / self.rate)
        return None


@pytest.fixture(scope="module")
def hub(tiny_checkpoint):
    """The tiny checkpoint as acme/kill-test on a local hub; its weights take about a second."""
    size = (tiny_checkpoint / "model.safetensors").stat().st_size
    server = FakeHub("acme/kill-test", tiny_checkpoint, rate=size / 1.0)
    yield server
    server.server.shutdown()


@pytest.fixture(scope="module")
def forkserver(hub):
    """Export processes forked from a server that has imported torch once, online to ``hub``."""
    from multiprocessing import forkserver as server

    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(_PRELOAD)
    saved = {k: os.environ.get(k) for k in ("HF_HUB_OFFLINE", "HF_ENDPOINT")}
    os.environ.update(HF_HUB_OFFLINE="0", HF_ENDPOINT=hub.url)
    try:
        server.ensure_running()  # it and its children keep this environment
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return context


def _export_child(model_id: str, root: str, conn, lock_timeout, pause_at=None) -> None:
    """A real export whose progress events go to ``conn``; ends with ("finished", folder) or an error.

    With ``pause_at`` (a stage), it stops after sending that stage's first event until it receives
    "go" on ``conn``: a point the test controls, not a time margin.
    """
    from engine.export.pipeline import ExportOptions, export

    def on_progress(p) -> None:
        nonlocal pause_at
        conn.send((p.stage, p.done, p.total, p.detail))
        if p.stage == pause_at:
            pause_at = None
            if conn.poll(300):  # bounded, so that a failed test never leaves it behind for good
                conn.recv()

    try:
        paths = export(
            model_id,
            root,
            precision="int8",
            options=ExportOptions(lock_timeout=lock_timeout),
            on_progress=on_progress,
        )
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


def _start_export(context, model_id, root, lock_timeout=None, pause_at=None):
    """Start ``_export_child``; returns the process and its end of the pipe (send "go" to it to
    resume an export paused at ``pause_at``)."""
    receiver, sender = context.Pipe(duplex=pause_at is not None)
    process = context.Process(
        target=_export_child, args=(model_id, str(root), sender, lock_timeout, pause_at)
    )
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


# Where to kill: after the first event of a stage (and part), then a seeded random delay of up
# to the given seconds (the weights take about a second to download). "midway" is a download
# that the hub holds halfway through the weights until the kill has landed: a partial download
# for certain, whatever the machine's speed.
_KILL_POINTS = [
    ("download", None, 1.2),
    ("load", 0, 0.04),
    ("export", 0, 0.04),
    ("download", None, 1.2),
    ("export", 1, 0.04),
    ("quantize", 0, 0.04),
    ("load", 1, 0.04),
    ("export", 2, 0.04),
    ("quantize", 1, 0.04),
    ("quantize", 2, 0.04),
    ("verify", 0, 0.04),
    ("midway", None, 0.0),
]


@pytest.mark.slow
def test_export_killed_at_random_points_never_leaves_a_folder_that_loads(forkserver, hub, tmp_path):
    from huggingface_hub import constants

    model_id = hub.repo_id
    repo = Path(constants.HF_HUB_CACHE) / f"models--{model_id.replace('/', '--')}"
    root = tmp_path / "models"
    target = export_dir(model_id, "int8", root)
    rng = random.Random(6)
    trials, kills, survived, stages_hit, failures, partial_downloads = 24, 0, 0, {}, [], 0
    try:
        for trial in range(trials):
            stage, done, delay = _KILL_POINTS[trial % len(_KILL_POINTS)]
            midway = stage == "midway"
            if midway:
                stage = "download"
                hub.hold_midway()
            if stage == "download" and list(repo.glob("snapshots/*/model.safetensors")):
                shutil.rmtree(repo, ignore_errors=True)  # a first download, not the cached one
            had_export = target.exists()
            process, receiver = _start_export(forkserver, model_id, root)

            def reached(event, stage=stage, done=done) -> bool:
                return event[0] == stage and (done is None or event[1] == done)

            events = _events(receiver, until=reached)
            if midway:
                assert hub.midway.wait(120), "the weights download never reached its middle"
            time.sleep(rng.uniform(0, delay))
            last = events[-1][0] if events else "start"
            # process.kill() is a no-op when the export has ended meanwhile (os.kill would raise
            # ProcessLookupError once the fork server has reaped it): the exit code tells which.
            process.kill()
            process.join(30)
            hub.let_go()
            receiver.close()
            assert process.exitcode is not None, "a killed export did not end within 30 s"
            if process.exitcode != -signal.SIGKILL:  # it finished before the signal landed
                assert process.exitcode == 0 and verify(target), process.exitcode
                continue
            kills += 1
            stages_hit[last] = stages_hit.get(last, 0) + 1
            partial_downloads += bool(list(repo.glob("blobs/*.incomplete")))
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
        # The next start (a process like the others) cleans up and exports.
        process, receiver = _start_export(forkserver, model_id, root)
        outcome = _events(receiver)
        process.join(30)
        leftover_partials = list(repo.glob("blobs/*.incomplete"))
    finally:
        hub.let_go()
        shutil.rmtree(repo, ignore_errors=True)
    assert outcome[-1] == ("finished", str(target)), outcome[-3:]
    assert sorted(p.name for p in target.parent.iterdir()) == ["int8"]
    _loads_and_generates(target)
    print(
        f"\nkilled exports: {trials} trials, {kills} kills, {survived} survived; last stage seen: "
        f"{stages_hit}; kills that left a partial download: {partial_downloads}"
    )
    assert failures == []
    assert kills >= 10 and survived == kills
    assert {"download", "load", "export", "quantize"} <= set(stages_hit)
    # huggingface_hub 2 restarts a killed file download; the next start deletes the partial file.
    assert partial_downloads >= 1 and leftover_partials == []


def test_second_export_waits_for_the_first_and_uses_its_result(
    forkserver, tiny_checkpoint, tmp_path
):
    root = tmp_path / "models"
    # The first export stops at "load" (reported holding the lock) until the second is waiting.
    first, first_events = _start_export(forkserver, str(tiny_checkpoint), root, pause_at="load")
    try:
        started = _events(first_events, until=lambda e: e[0] == "load")
        assert started and started[-1][0] == "load", started
        second, second_events = _start_export(forkserver, str(tiny_checkpoint), root)
        waiting = _events(second_events, until=lambda e: e[0] == "wait")
        assert waiting and waiting[-1][0] == "wait", waiting
    finally:
        first_events.send("go")
    rest_first = _events(first_events)
    rest_second = _events(second_events)
    first.join(30)
    second.join(30)
    assert rest_first[-1][0] == "finished" and rest_second[-1][0] == "finished", (
        rest_first,
        rest_second,
    )
    # The second one wrote nothing: it waited, then took the first one's verified export.
    assert [e[0] for e in rest_second] == ["finished"]
    assert rest_first[-1][1] == rest_second[-1][1]
    folder = Path(rest_first[-1][1])
    verify(folder)
    assert sorted(p.name for p in folder.parent.iterdir()) == ["int8"]


def test_second_export_with_a_timeout_says_another_one_is_running(
    forkserver, tiny_checkpoint, tmp_path
):
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


def test_the_app_never_cleans_up_a_folder_another_process_is_exporting(
    forkserver, tiny_checkpoint, tmp_path
):
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
        if (
            writing
            and isinstance(file, (str, os.PathLike))
            and os.fspath(file).startswith(budget.root)
        ):
            return _FullDiskFile(handle, budget)
        return handle

    monkeypatch.setattr(builtins, "open", patched_open)
    monkeypatch.setattr(io, "open", patched_open)

    def limit(n: int | None) -> _Budget:
        budget.limit, budget.written = n, 0
        return budget

    return limit


def test_disk_full_at_any_point_says_so_and_leaves_only_the_previous_export(
    disk, tiny_checkpoint, tmp_path
):
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
    from pegasus_desktop.export_messages import ExportFailed, FailureKind

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
    failure = conn.messages[-1]
    assert isinstance(failure, ExportFailed) and failure.kind is FailureKind.DISK, failure
    assert "The disk is full" in failure.message


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


def test_damage_behind_a_consistent_manifest_is_an_engine_error_never_a_crash(
    tiny_exports, tiny_checkpoint, tmp_path
):
    import json
    import subprocess

    source = export_dir(str(tiny_checkpoint), "int8", tiny_exports)
    result = subprocess.run(
        children.command("damaged_exports", source, tmp_path),
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=Path(__file__).parents[1],
    )
    assert result.returncode == 0, (
        f"the process died ({result.returncode}): {result.stderr[-2000:]}"
    )
    outcomes = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(outcomes) == 8, result.stdout
    for name, kind, message in outcomes:
        assert kind == "EngineError", (name, kind, message)
        assert "re-export" in message.lower(), (name, message)


def test_partial_downloads_are_removed_unless_being_written(tmp_path):
    from filelock import FileLock
    from huggingface_hub import constants

    from engine.export.checkpoint import _remove_partial_downloads

    blobs = Path(constants.HF_HUB_CACHE) / "models--acme--partial" / "blobs"
    blobs.mkdir(parents=True)
    busy, stale = (
        blobs / ("a" * 64 + ".1234abcd.incomplete"),
        blobs / ("b" * 64 + ".5678abcd.incomplete"),
    )
    busy.write_bytes(b"x" * 1000)
    stale.write_bytes(b"y" * 1000)
    locks = Path(constants.HF_HUB_CACHE) / ".locks" / "models--acme--partial"
    locks.mkdir(parents=True)
    lock = FileLock(locks / f"{'a' * 64}.lock")  # as huggingface_hub holds it while downloading
    lock.acquire()
    try:
        _remove_partial_downloads("acme/partial")
        assert busy.exists() and not stale.exists()
    finally:
        lock.release()
        _remove_partial_downloads("acme/partial")
        assert not busy.exists()
        shutil.rmtree(blobs.parent)
