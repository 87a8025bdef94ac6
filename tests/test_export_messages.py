"""The export child's messages (``pegasus_desktop.export_messages``): each one crosses a real pipe
(and a spawned process) intact; each failure kind is classified from the exception the engine,
huggingface_hub or Python really raises; the self-test reports each one in the words it used
before the messages were typed (``FAIL  export: <old kind>: <message>``)."""

from __future__ import annotations

import multiprocessing
import pickle
import traceback

import pytest
from hub_server import LocalHub

from engine.errors import EngineError
from pegasus_desktop.export_messages import (
    MISSING_EXTRA_MESSAGE,
    ExportDone,
    ExportFailed,
    ExportInfo,
    FailureKind,
    Progress,
    classify,
    failure_from,
)
from pegasus_desktop.self_test import export_failure

MESSAGES = [
    ExportInfo("Needs about 6 GB; 40 GB free in /data/models."),
    Progress("wait", 0.0, 0.0, ""),
    Progress("download", 1_500_000.0, 3_000_000.0, "google/pegasus-xsum"),
    Progress("export", 1.0, 2.0, "decoder"),
    ExportDone("/data/models/google--pegasus-xsum/int8"),
    *(ExportFailed(kind, f"{kind.value} happened", "Traceback …") for kind in FailureKind),
    ExportFailed(FailureKind.CRASH, "no details"),
]


@pytest.mark.parametrize("message", MESSAGES, ids=repr)
def test_every_message_round_trips_through_a_pipe(message):
    receiver, sender = multiprocessing.get_context("spawn").Pipe(duplex=False)
    with receiver, sender:
        sender.send(message)
        received = receiver.recv()
    assert received == message and type(received) is type(message)
    if isinstance(message, ExportFailed):
        assert received.kind is message.kind  # the same enum member, not a copy of it


def _send_every_message(conn) -> None:
    """The target of a spawned child: what an export child does, with every message there is."""
    for message in MESSAGES:
        conn.send(message)
    conn.close()


def test_every_message_crosses_the_spawn_pipe_from_a_child_process():
    context = multiprocessing.get_context("spawn")
    receiver, sender = context.Pipe(duplex=False)
    process = context.Process(target=_send_every_message, args=(sender,), daemon=True)
    process.start()
    sender.close()
    received = []
    try:
        while receiver.poll(60):
            try:
                received.append(receiver.recv())
            except EOFError:
                break
    finally:
        receiver.close()
        process.join(10)
    assert process.exitcode == 0
    assert received == MESSAGES


def test_messages_are_frozen():
    with pytest.raises(AttributeError):
        ExportFailed(FailureKind.DISK, "full").kind = FailureKind.CRASH  # type: ignore[misc]


# -- each kind, from a real exception. Each case gives the exception, its kind, and what the child
# sent for it before the messages were typed: the old kind string and the old message text.


def _raised(make):
    """The exception ``make()`` raises (with its traceback, as the child has it)."""
    try:
        make()
    except BaseException as e:  # noqa: BLE001
        return e
    raise AssertionError("nothing was raised")


def _offline(tmp_path, monkeypatch):
    from engine.export.checkpoint import resolve

    return _raised(lambda: resolve("acme/not-cached-pegasus"))  # HF_HUB_OFFLINE=1 (conftest)


def _offline_outside_the_download(tmp_path, monkeypatch):
    """An engine error whose cause is a failed name lookup, raised where the engine did not
    expect the network: recognised through the cause chain, by type."""
    from urllib3.exceptions import NameResolutionError

    def fail():
        try:
            raise NameResolutionError("huggingface.co", None, OSError("no such host"))
        except NameResolutionError as e:
            raise EngineError("The tokenizer could not be fetched.") from e

    return _raised(fail)


def _no_such_model_on_the_hub(tmp_path, monkeypatch):
    from engine.export.checkpoint import resolve

    hub = LocalHub({})  # answers "RepoNotFound" to everything
    hub.point_huggingface_hub_at(monkeypatch, tmp_path / "hf-cache")
    try:
        return _raised(lambda: resolve("acme/no-such-pegasus"))
    finally:
        hub.close()


def _no_such_folder(tmp_path, monkeypatch):
    from engine.export.checkpoint import resolve

    return _raised(lambda: resolve(str(tmp_path / "gone" / "model.safetensors")))


def _disk_full(tmp_path, monkeypatch):
    import errno

    from engine.model_dir import disk_full_error

    def fail():
        try:
            raise OSError(errno.ENOSPC, "No space left on device")
        except OSError as e:
            raise disk_full_error(tmp_path, 10_000_000, e) from e

    return _raised(fail)


def _too_little_room_before(tmp_path, monkeypatch):
    from pegasus_desktop.disk import check_free_space

    return _raised(lambda: check_free_space(10**18, tmp_path))


def _refused_pickle(tmp_path, monkeypatch):
    import os

    from engine.export.bin_reader import read_bin

    class RunsACommand:
        def __reduce__(self):
            return (os.system, ("true",))

    path = tmp_path / "pytorch_model.bin"
    path.write_bytes(pickle.dumps({"lm_head.weight": RunsACommand()}, protocol=2))
    return _raised(lambda: read_bin(path))


def _cancelled(tmp_path, monkeypatch):
    from engine.generation.decoder import raise_if_cancelled

    return _raised(lambda: raise_if_cancelled(lambda: True, 0))


def _missing_extra(tmp_path, monkeypatch):
    import importlib

    return _raised(lambda: importlib.import_module("torch_is_not_installed_here"))


def _other_engine_error(tmp_path, monkeypatch):
    from engine.export.checkpoint import check_is_pegasus

    (tmp_path / "config.json").write_text('{"model_type": "bert"}')
    return _raised(lambda: check_is_pegasus(tmp_path))


def _bug(tmp_path, monkeypatch):
    return _raised(lambda: {}["missing"])


def _interrupted(tmp_path, monkeypatch):
    def fail():
        raise KeyboardInterrupt

    return _raised(fail)


def _raw_network_error(tmp_path, monkeypatch):
    """A network error no engine code caught: a bug in the engine, reported as before."""

    def fail():
        raise ConnectionError("connection reset")

    return _raised(fail)


# name: (make the exception, its kind, the kind string the child sent before)
CASES = {
    "offline": (_offline, FailureKind.OFFLINE, "offline"),
    "offline-by-cause": (_offline_outside_the_download, FailureKind.OFFLINE, "offline"),
    "no-such-model-on-the-hub": (_no_such_model_on_the_hub, FailureKind.NO_SUCH_MODEL, "engine"),
    "no-such-folder": (_no_such_folder, FailureKind.NO_SUCH_MODEL, "engine"),
    "disk-full": (_disk_full, FailureKind.DISK, "disk"),
    "refused-pickle": (_refused_pickle, FailureKind.REFUSED, "engine"),
    "cancelled": (_cancelled, FailureKind.CANCELLED, "engine"),
    "missing-extra": (_missing_extra, FailureKind.MISSING_EXTRA, "missing-extra"),
    "other-engine-error": (_other_engine_error, FailureKind.ENGINE, "engine"),
    "bug": (_bug, FailureKind.CRASH, "crash"),
    "interrupted": (_interrupted, FailureKind.CRASH, "crash"),
    "raw-network-error": (_raw_network_error, FailureKind.CRASH, "crash"),
}


def old_message(error: BaseException, old_kind: str) -> tuple[str, str]:
    """The message and details the child sent before (a copy of its old code, as reference)."""
    if old_kind == "missing-extra":
        return MISSING_EXTRA_MESSAGE, str(error)
    if old_kind == "crash":
        return f"{type(error).__name__}: {error}", "".join(traceback.format_exception(error))
    return str(error), "".join(traceback.format_exception(error))


@pytest.fixture(params=list(CASES))
def case(request, tmp_path, monkeypatch):
    make, kind, old_kind = CASES[request.param]
    return make(tmp_path, monkeypatch), kind, old_kind


def test_each_kind_is_classified_from_the_real_exception(case):
    error, kind, _ = case
    assert classify(error) is kind, repr(error)
    assert failure_from(error).kind is kind


def test_too_little_room_is_refused_before_the_export_as_before(tmp_path, monkeypatch):
    """The free-space check's refusal: kind "disk", its own words, no traceback (nothing ran)."""
    from pegasus_desktop import disk
    from pegasus_desktop.export_child import run_export

    class Conn:
        def __init__(self):
            self.messages = []

        def send(self, message):
            self.messages.append(message)

        def close(self):
            pass

    error = _too_little_room_before(tmp_path, monkeypatch)
    assert classify(error) is FailureKind.DISK
    monkeypatch.setattr(disk, "checkpoint_bytes", lambda model_id: 10**18)
    conn = Conn()
    run_export("acme/huge-pegasus", str(tmp_path / "models"), "int8", conn)
    (failure,) = conn.messages
    assert failure == ExportFailed(FailureKind.DISK, failure.message, "")
    assert failure.message.startswith("Preparing this model needs about ")
    assert str(export_failure(failure)) == f"disk: {failure.message}"
    assert not (tmp_path / "models").exists()


def test_a_failure_carries_the_message_and_details_it_did_before(case):
    error, kind, old_kind = case
    assert failure_from(error) == ExportFailed(kind, *old_message(error, old_kind))


def test_the_self_test_reports_each_kind_as_before(case):
    error, _, old_kind = case
    message, details = old_message(error, old_kind)
    failure = export_failure(failure_from(error))
    assert f"FAIL  {failure.step}: {failure}" == f"FAIL  export: {old_kind}: {message}"
    assert failure.details == details


def test_the_specific_kinds_are_what_their_messages_say(case):
    error, kind, _ = case
    text = failure_from(error).message
    expected = {
        FailureKind.OFFLINE: ("network", "The tokenizer could not be fetched"),
        FailureKind.NO_SUCH_MODEL: ("There is no model called 'acme/no-such-pegasus'", "is not a folder"),
        FailureKind.REFUSED: ("was refused", "Nothing in it was run"),
        FailureKind.DISK: ("disk", "free disk space"),
    }.get(kind)
    if expected:
        assert any(words in text for words in expected), text


def test_a_gated_model_is_not_a_missing_one(monkeypatch):
    """huggingface_hub's GatedRepoError is a RepositoryNotFoundError; the engine says "gated"."""
    import httpx2
    from huggingface_hub.errors import GatedRepoError

    from engine.export import checkpoint

    request = httpx2.Request("GET", "https://huggingface.co/api/models/acme/gated-pegasus")

    def gated(model_id):
        raise GatedRepoError("gated", response=httpx2.Response(403, request=request))

    monkeypatch.setattr(checkpoint, "_remove_partial_downloads", gated)
    error = _raised(lambda: checkpoint.resolve("acme/gated-pegasus"))
    assert "is gated" in str(error)
    assert classify(error) is FailureKind.ENGINE
