"""The Batch view summarizes its files in groups (issue 17): the first file alone, then up to
``batch_size`` per engine call, each file with its own status, History entry, failure and cancel,
and each summary exactly the one the engine gives the file alone."""

from __future__ import annotations

import threading

from test_app_batch import make_folder, run_batch
from test_long_document import EXAMPLES, long_document

from engine import Summarizer
from engine.long_document import summarize_document
from pegasus_desktop.batch import CANCELLED, DONE, FAILED, QUEUED, RUNNING


def record_calls(window, monkeypatch, on_call=None) -> list[int]:
    """The number of texts of each engine call (1 for ``summarize``); ``on_call(texts,
    should_stop)`` may wrap ``should_stop`` of a batched call (it runs on the worker thread)."""
    summarizer = window.engine.worker.summarizer
    sizes: list[int] = []
    real_batch, real_one = summarizer.summarize_batch, summarizer.summarize

    def batch(texts, options=None, *, should_stop=None):
        sizes.append(len(texts))
        if on_call is not None:
            should_stop = on_call(texts, should_stop)
        return real_batch(texts, options, should_stop=should_stop)

    def one(text, options=None, **kwargs):
        sizes.append(1)
        return real_one(text, options, **kwargs)

    monkeypatch.setattr(summarizer, "summarize_batch", batch)
    monkeypatch.setattr(summarizer, "summarize", one)
    return sizes


def many_files(tmp_path):
    folder = make_folder(tmp_path)  # a.txt, b.md, broken.txt, c.html
    for i in range(3, 8):
        (folder / f"d{i}.txt").write_text(EXAMPLES[i]["article"])
    (folder / "long.txt").write_text(long_document(3)[0])
    return folder


def test_files_are_summarized_in_groups_each_as_alone(
    qtbot, loaded_window, tmp_path, monkeypatch, app_checkpoint, app_exports
):
    window = loaded_window
    sizes = record_calls(window, monkeypatch)
    window.batch.queue.batch_size = 3
    window.batch.add_paths([many_files(tmp_path)])
    run_batch(qtbot, window)
    items = window.batch.queue.items
    names = [i.path.name for i in items]
    assert names == ["a.txt", "b.md", "broken.txt", "c.html", "d3.txt", "d4.txt", "d5.txt",
                     "d6.txt", "d7.txt", "long.txt"]
    assert [i.status for i in items] == [DONE, DONE, FAILED, DONE, DONE, DONE, DONE, DONE, DONE, DONE]
    assert sizes[0] == 1 and max(sizes) == 3  # the first file alone, then calls of up to 3 pieces
    engine = Summarizer.load(str(app_checkpoint), precision="int8", root=app_exports)
    for item in items:
        if item.path.suffix == ".txt" and item.status == DONE:
            assert item.summary.text == summarize_document(engine, item.path.read_text()).text, item.path.name
    assert [i.summary.text for i in items[:2]] == [EXAMPLES[0]["summary"], EXAMPLES[1]["summary"]]
    assert items[-1].summary.parts == 3 and items[-1].summary.text == "\n\n".join(long_document(3)[1])
    assert len(window.history.search()) == 9  # every summary kept in History
    assert window.batch.progress.text() == "10 of 10 done · 1 failed"
    assert window.summarize_action.isEnabled() and not window.batch.queue.running


def test_cancel_stops_the_group_and_leaves_the_rest_queued(qtbot, loaded_window, tmp_path, monkeypatch):
    window = loaded_window
    reached, release = threading.Event(), threading.Event()

    def hold_second_call(texts, should_stop):
        def stop():
            if len(texts) > 1:  # the second call: a group of several files
                reached.set()
                release.wait(60)
            return should_stop()

        return stop

    sizes = record_calls(window, monkeypatch, hold_second_call)
    window.batch.queue.batch_size = 2
    folder = many_files(tmp_path)
    (folder / "broken.txt").unlink()
    (folder / "long.txt").unlink()
    window.batch.add_paths([folder])
    window.batch.queue.start()
    try:
        qtbot.waitUntil(reached.is_set, timeout=60_000)
        statuses = [i.status for i in window.batch.queue.items]
        assert statuses[:3] == [DONE, RUNNING, RUNNING] and set(statuses[3:]) == {QUEUED}
        with qtbot.waitSignal(window.batch.running_changed, timeout=60_000) as stopped:
            window.batch.queue.cancel()
            release.set()
    finally:
        release.set()
    assert stopped.args == [False]
    statuses = [i.status for i in window.batch.queue.items]
    assert statuses == [DONE, CANCELLED, CANCELLED] + [QUEUED] * 5
    assert sizes == [1, 2]
    reached.clear()
    monkeypatch.undo()
    run_batch(qtbot, window)  # resumed: the cancelled and the queued files
    assert [i.status for i in window.batch.queue.items] == [DONE] * 8
    assert [i.summary.text for i in window.batch.queue.items[:3]] == [e["summary"] for e in EXAMPLES[:3]]


def test_a_file_the_engine_fails_on_fails_alone_in_its_group(qtbot, loaded_window, tmp_path, monkeypatch):
    window = loaded_window
    summarizer = window.engine.worker.summarizer
    real = summarizer.summarize_batch

    def poisoned(texts, options=None, *, should_stop=None):
        if any("POISON" in t for t in texts):
            raise RuntimeError("the engine broke on this one")
        return real(texts, options, should_stop=should_stop)

    monkeypatch.setattr(summarizer, "summarize_batch", poisoned)
    window.batch.queue.batch_size = 4
    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(5):
        text = EXAMPLES[i]["article"]
        (folder / f"{i}.txt").write_text(f"POISON {text}" if i == 2 else text)
    window.batch.add_paths([folder])
    run_batch(qtbot, window)
    items = window.batch.queue.items
    assert [i.status for i in items] == [DONE, DONE, FAILED, DONE, DONE]
    assert "the engine broke on this one" in items[2].detail
    assert [i.summary.text for i in items if i.summary] == [EXAMPLES[i]["summary"] for i in (0, 1, 3, 4)]
    assert len(window.history.search()) == 4
