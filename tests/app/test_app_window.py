"""The main window with the fixture model: summarize, stream, cancel, stay responsive, files."""

from __future__ import annotations

import itertools
import json
import re
import threading
import time

import pytest
from PySide6.QtCore import QMimeData, QPointF, Qt, QTimer, QUrl
from PySide6.QtGui import QDropEvent, QGuiApplication, QKeySequence, QTextCursor
from test_app_documents import make_docx, make_pdf

from engine import GenerationOptions, Summarizer
from engine.documents import MAX_TEXT_CHARS


def pace(window, monkeypatch, on_step):
    """Call ``on_step(part, step)`` on the engine's thread after every decoder step of the window's
    summarizer (``part`` counts its summarize calls: the parts of a long document, the items of a
    batch), after the step's text has been sent on. A test can hold the engine there."""
    summarizer = window.engine.worker.summarizer
    real = summarizer.summarize
    parts = itertools.count(1)

    def paced(text, options=None, *, on_text=None, should_stop=None):
        part, steps = next(parts), itertools.count(1)

        def on_text_then_step(best):
            on_text(best)
            on_step(part, next(steps))

        return real(text, options, on_text=on_text_then_step, should_stop=should_stop)

    monkeypatch.setattr(summarizer, "summarize", paced)


def slow_down(window, monkeypatch, seconds_per_step=0.03):
    """Make each decoder step of the window's summarizer take a while, as on a slow CPU."""
    pace(window, monkeypatch, lambda part, step: time.sleep(seconds_per_step))


class Hold:
    """Holds the engine (on its thread) after decoder step ``step`` of summarize call ``part``
    until ``release()``: the test then acts while a summary is surely under way, however slow the
    machine. ``reached`` is set when the engine is held; ``steps`` lists every (part, step) made."""

    def __init__(self, part: int, step: int) -> None:
        self.at, self.steps = (part, step), []
        self.reached, self._released = threading.Event(), threading.Event()

    def __call__(self, part: int, step: int) -> None:
        self.steps.append((part, step))
        if (part, step) == self.at:
            self.reached.set()
            self._released.wait(120)  # bounded: a failing test never leaves the engine stuck

    def release(self) -> None:
        self._released.set()


def hold_at(window, monkeypatch, part=1, step=1) -> Hold:
    hold = Hold(part, step)
    pace(window, monkeypatch, hold)
    return hold


def long_options(window):
    """Force a long summary: the minimum length close to what the model can generate."""
    panel = window.page.options
    limit = window.model.max_input_tokens
    panel.beams.setValue(1)
    panel.max_length.setValue(min(limit, 60))
    panel.min_length.setValue(min(limit, 60) - 2)


def test_paste_and_summarize_matches_the_engine(
    qtbot, loaded_window, app_checkpoint, app_exports, article
):
    """The window's summary is the engine's, with the options shown (the model's defaults)."""
    window = loaded_window
    window.page.input.setPlainText(article)
    with qtbot.waitSignal(window.engine.finished, timeout=30_000):
        qtbot.mouseClick(window.page.summarize_button, Qt.MouseButton.LeftButton)
    options = window.page.options.options()
    expected = Summarizer.load(str(app_checkpoint), precision="int8", root=app_exports).summarize(
        article, options
    )
    assert window.page.output.toPlainText() == expected.text
    reference = json.loads((app_checkpoint / "heldout.jsonl").read_text().splitlines()[0])[
        "summary"
    ]
    assert expected.text == reference  # the trained fixture gets its held-out articles right
    status = window.status.text()
    assert app_checkpoint.name in status and "int8" in status
    assert f"{expected.input_tokens:,} input tokens" in status
    assert re.search(r" · (\d{1,3}(,\d{3})*|\d\d\.\d|\d\.\d\d) tokens/s", status), status  # three digits
    assert window.page.summarize_button.isEnabled() and not window.page.cancel_button.isEnabled()


def test_options_come_from_the_model_generation_config(loaded_window):
    defaults = loaded_window.model.generation_defaults
    panel = loaded_window.page.options
    assert panel.beams.value() == int(defaults.get("num_beams") or 1)
    assert panel.length() == "medium"
    assert (panel.min_length.value(), panel.max_length.value()) == (
        int(defaults.get("min_length") or 0),
        int(defaults.get("max_length") or 20),
    )
    panel._button("short").click()
    assert panel.length() == "short" and panel.max_length.value() < int(
        defaults.get("max_length") or 20
    )
    panel.max_length.setValue(panel.max_length.value() + 1)
    assert panel.length() == "custom"
    panel.reset_to_defaults()
    assert panel.length() == "medium"


def test_streaming_updates_arrive_before_the_end(qtbot, loaded_window, article):
    window = loaded_window
    long_options(window)
    partials: list[str] = []
    window.engine.partial.connect(lambda request, text: partials.append(text))
    window.page.input.setPlainText(article)
    with qtbot.waitSignal(window.engine.finished, timeout=30_000) as finished:
        window.summarize_action.trigger()
    summary = finished.args[1]
    # One update per decoder run: with copy drafting (greedy's default) a run may add several
    # tokens, so there can be fewer updates than tokens, but the text still grows as it is written.
    assert summary.new_tokens >= 3
    assert len(set(partials)) >= 3
    assert partials[-1] == summary.text == window.page.output.toPlainText()


@pytest.mark.parametrize("search", ["best", "fast"])
def test_cancel_stops_within_a_step_and_keeps_the_text_so_far(
    qtbot, loaded_window, article, monkeypatch, search
):
    """Escape stops the summary within one decoder step (in Fast, one run verifying drafts). The
    engine is held after its third step until the key has been pressed, so the cancel always lands
    mid-summary; the bound is in decoder steps, not seconds, so a loaded machine only makes the
    test slower."""
    window = loaded_window
    long_options(window)
    options = window.page.options
    options.search.setCurrentIndex(options.search.findData(search))
    hold = hold_at(window, monkeypatch, step=3)
    partials: list[str] = []
    outcomes: list[str] = []
    window.engine.partial.connect(lambda request, text: partials.append(text))
    window.engine.cancelled.connect(lambda request: outcomes.append("cancelled"))
    window.engine.finished.connect(lambda request, summary: outcomes.append("finished"))
    window.page.input.setPlainText(article)
    window.summarize()
    try:
        qtbot.waitUntil(lambda: hold.reached.is_set() and len(partials) == 3, timeout=60_000)
        assert window.cancel_action.isEnabled()
        qtbot.keyClick(window.page.input, Qt.Key.Key_Escape)
        steps_at_cancel = len(hold.steps)
    finally:
        hold.release()
    qtbot.waitUntil(lambda: bool(outcomes), timeout=60_000)
    assert outcomes == ["cancelled"]  # a whole summary would take about 58 steps (Fast: more than 3 runs)
    assert steps_at_cancel == 3 and len(hold.steps) <= steps_at_cancel + 1, hold.steps
    assert len(partials) == len(hold.steps)  # every step's text arrived before the cancel
    assert "Cancelled" in window.page.summary_note.text() and "cancelled" in window.status.text()
    assert window.page.output.toPlainText() == partials[-1]
    assert window.page.summarize_button.isEnabled()


def test_window_stays_responsive_while_summarizing(qtbot, loaded_window, article, monkeypatch):
    """The event loop keeps running while the engine works. After every fifth decoder step the
    engine waits until a GUI timer has ticked since that step ended, which can only happen if the
    engine is not on the GUI thread. It waits for the tick, not for a time, so a loaded machine
    makes the test slower but never fails it."""
    window = loaded_window
    long_options(window)
    ticks = [0]
    timer = QTimer()
    timer.setInterval(10)
    timer.timeout.connect(lambda: ticks.__setitem__(0, ticks[0] + 1))
    checked: list[bool] = []  # after each fifth step: did the event loop run meanwhile?

    def wait_for_a_tick(part, step):
        if step % 5 or False in checked:  # after one miss, stop waiting: the test has failed
            return
        before, deadline = ticks[0], time.monotonic() + 30
        while ticks[0] == before and time.monotonic() < deadline:
            time.sleep(0.005)
        checked.append(ticks[0] > before)

    pace(window, monkeypatch, wait_for_a_tick)
    window.page.input.setPlainText(article)
    timer.start()
    with qtbot.waitSignal(window.engine.finished, timeout=120_000):
        window.summarize()
    timer.stop()
    assert len(checked) >= 5 and all(checked), checked


def test_summarize_shortcut_and_menus_list_shortcuts(loaded_window):
    window = loaded_window
    assert QKeySequence("Ctrl+Return") in window.summarize_action.shortcuts()
    assert window.cancel_action.shortcut() == QKeySequence("Esc")
    assert window.settings_action.shortcut() == QKeySequence("Ctrl+,")
    assert window.open_action.shortcut() == QKeySequence("Ctrl+O")
    menu_actions = {
        a.text()
        for menu in window.menuBar().findChildren(type(window.menuBar().addMenu("x")))
        for a in menu.actions()
    }
    assert {"&Summarize", "&Cancel", "Se&ttings…", "&Open…", "Show &log folder"} <= menu_actions


def test_empty_input_does_not_start(loaded_window):
    loaded_window.page.input.setPlainText("   ")
    loaded_window.summarize()
    assert loaded_window.request == 0


def test_word_and_token_count_warns_over_the_limit(qtbot, loaded_window, article):
    window = loaded_window
    window.page.input.setPlainText(article)
    tokens = window.tokenizer.encode(article)
    expected = f"{len(article.split()):,} words · {len(tokens):,} tokens"
    qtbot.waitUntil(lambda: window.page.count.text() == expected)
    long_text = " ".join([article] * (window.model.max_input_tokens // max(1, len(tokens)) + 2))
    window.page.input.setPlainText(long_text)
    qtbot.waitUntil(lambda: "parts" in window.page.count.text())  # whole document, the default
    assert "summarized in about 2 parts" in window.page.count.text()
    window.page.options.set_document_mode("beginning")
    qtbot.waitUntil(lambda: "⚠" in window.page.count.text())
    assert f"Only the first {window.model.max_input_tokens:,} tokens" in window.page.count.text()


def test_counting_a_long_pasted_text_is_bounded_work_on_the_gui_thread(qtbot, loaded_window):
    """Tokenizing 1 M characters takes seconds and 100 MB: the count tokenizes only as far as the
    model's limit needs and estimates the rest."""
    window = loaded_window
    sentence = "The council met on Monday and agreed to build a new bridge over the river.\n"
    text = sentence * (MAX_TEXT_CHARS // len(sentence) - 10)  # just under the limit
    mime = QMimeData()
    mime.setText(text)
    window.page.input.insertFromMimeData(mime)  # as a paste or a drop does
    assert window.page.input.toPlainText() == text
    start = time.thread_time()
    window.update_count()
    cpu = time.thread_time() - start
    exact = len(window.tokenizer.encode(text))
    label = window.page.count.text()
    shown = int(label.split("about ")[1].split(" tokens")[0].replace(",", ""))
    assert abs(shown - exact) < 0.05 * exact, (shown, exact)
    assert f"summarized in about {-(-shown // window.model.max_input_tokens)} parts" in label
    assert cpu < 0.5, cpu  # the whole text takes seconds


def test_pasting_a_huge_text_is_refused_and_keeps_the_article(
    qtbot, loaded_window, shown_errors
):
    window = loaded_window
    box = window.page.input
    box.setPlainText("My own notes, typed before the paste.")
    box.moveCursor(QTextCursor.MoveOperation.End)
    mime = QMimeData()
    mime.setText("The council met on Monday. " * 200_000)  # 5.4 million characters
    QGuiApplication.clipboard().setMimeData(mime)
    start = time.thread_time()
    box.paste()
    window.update_count()
    cpu = time.thread_time() - start
    assert box.toPlainText() == "My own notes, typed before the paste."
    qtbot.waitUntil(lambda: bool(shown_errors))
    title, message, _ = shown_errors[-1]
    assert title == "Not pasted"
    assert "The article would then hold 5.4 million characters, more than the 1 million" in message
    assert "Split it into parts" in message and "The text already in the box was kept." in message
    assert window.page.count.text().endswith("tokens")  # the article's own count
    assert cpu < 0.5, cpu


def test_text_over_the_limit_in_the_box_is_announced_not_tokenized_or_summarized(
    qtbot, loaded_window, shown_errors
):
    """Text can get there without a paste (restored from the last session, or typed)."""
    window = loaded_window
    text = "The council met on Monday. " * 60_000  # 1.6 million characters
    window.page.input.setPlainText(text)
    start = time.thread_time()
    window.update_count()
    cpu = time.thread_time() - start
    assert window.page.count.text().startswith("⚠ The article holds 1.6 million characters")
    assert cpu < 0.5, cpu
    window.summarize()
    assert window.request == 0 and window.page.input.toPlainText() == text
    assert shown_errors[-1][0] == "No summary" and "1.6 million characters" in shown_errors[-1][1]


@pytest.mark.parametrize(
    "name",
    [
        "utf8.txt",
        "utf16.txt",
        "latin1.txt",
        "notes.md",
        "page.html",
        "page.htm",
        "report.pdf",
        "memo.docx",
    ],
)
def test_open_each_file_type(qtbot, loaded_window, tmp_path, name):
    sentence = "The new bridge opened in Lisbon on Monday after five years of work."
    path = tmp_path / name
    if name == "utf8.txt":
        path.write_text(sentence, encoding="utf-8")
    elif name == "utf16.txt":
        path.write_text(sentence, encoding="utf-16")
    elif name == "latin1.txt":
        path.write_bytes(sentence.replace("Lisbon", "Lisboa, café").encode("latin-1"))
        sentence = sentence.replace("Lisbon", "Lisboa, café")
    elif name == "notes.md":
        path.write_text(f"# News\n\n{sentence}", encoding="utf-8")
    elif name.startswith("page"):
        path.write_text(
            f"<html><body><h1>News</h1><p>{sentence}</p><script>x()</script></body></html>"
        )
    elif name == "report.pdf":
        make_pdf(path, [sentence])
    else:
        make_docx(path, [sentence])
    loaded_window.open_path(path)
    qtbot.waitUntil(lambda: sentence in loaded_window.page.input.toPlainText(), timeout=10_000)
    assert (
        "<" not in loaded_window.page.input.toPlainText()
        and "#" not in loaded_window.page.input.toPlainText()
    )


def test_binary_file_error_keeps_the_text(qtbot, loaded_window, tmp_path, shown_errors):
    loaded_window.page.input.setPlainText("My own text.")
    path = tmp_path / "archive.txt"
    path.write_bytes(bytes(range(256)) * 20)
    loaded_window.open_path(path)
    qtbot.waitUntil(lambda: bool(shown_errors), timeout=10_000)
    title, message, _ = shown_errors[0]
    assert (
        title == "Cannot open the file"
        and "does not look like text" in message
        and "kept" in message
    )
    assert loaded_window.page.input.toPlainText() == "My own text."


def test_drop_a_file(qtbot, loaded_window, tmp_path):
    path = tmp_path / "dropped.txt"
    path.write_text("Dropped article text.", encoding="utf-8")
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    event = QDropEvent(
        QPointF(10, 10),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    loaded_window.page.input.dropEvent(event)
    qtbot.waitUntil(
        lambda: loaded_window.page.input.toPlainText() == "Dropped article text.", timeout=10_000
    )


def test_copy_and_save(qtbot, loaded_window, tmp_path, shown_errors):
    window = loaded_window
    window.page.output.setPlainText("A short summary.")
    window.copy_summary()
    assert QGuiApplication.clipboard().text() == "A short summary."
    assert window.files.write_summary(tmp_path / "out.md", "A short summary.")
    assert (tmp_path / "out.md").read_text(encoding="utf-8") == "A short summary.\n"
    assert window.files.write_summary(tmp_path / "plain", "Text")
    assert (tmp_path / "plain.txt").read_text(encoding="utf-8") == "Text\n"
    assert not window.files.write_summary(tmp_path / "missing-folder" / "x.txt", "Text")
    assert shown_errors and shown_errors[0][0] == "Not saved"
    assert not list(tmp_path.glob("*.tmp")) and not list(tmp_path.glob(".*"))


def test_the_options_panel_reaches_the_engine(qtbot, loaded_window, article, monkeypatch):
    """What is set in Advanced is what generate() gets (not defaults built the same way)."""
    window = loaded_window
    panel = window.page.options
    panel.advanced_button.setChecked(True)
    panel.beams.setValue(3)
    panel.min_length.setValue(5)
    panel.max_length.setValue(21)
    panel.length_penalty.setValue(1.4)
    panel.no_repeat.setValue(2)
    model = window.engine.worker.summarizer.model
    real, seen = model.generate, []
    monkeypatch.setattr(model, "generate", lambda *a, options=None, **k: seen.append(options) or real(*a, options=options, **k))
    window.page.input.setPlainText(article)
    with qtbot.waitSignal(window.engine.finished, timeout=30_000):
        window.summarize_action.trigger()
    got = seen[-1]
    assert isinstance(got, GenerationOptions)
    assert (got.num_beams, got.min_length, got.max_length, got.length_penalty, got.no_repeat_ngram_size) == (
        3, 5, 21, 1.4, 2)


def test_the_engine_closes_its_model_when_it_shuts_down(loaded_window):
    """The model's weights.bin is closed when the engine stops, not left to garbage collection."""
    model = loaded_window.engine.worker.summarizer.model
    files = [model.encoder_embedding._file, model.decoder_embedding._file]
    assert not any(f.closed for f in files)
    loaded_window.engine.shutdown()
    assert all(f.closed for f in files) and loaded_window.engine.worker.summarizer is None


def test_the_engine_signals_are_declared_once_and_all_reach_the_gui():
    """Every signal the worker emits is re-emitted by the client: one declaration, wired by name."""
    from PySide6.QtCore import Signal

    from pegasus_desktop.worker import ENGINE_SIGNALS, EngineClient, EngineSignals, SummarizerWorker

    declared = sorted(name for name, value in vars(EngineSignals).items() if isinstance(value, Signal))
    assert declared == sorted(ENGINE_SIGNALS)
    for cls in (SummarizerWorker, EngineClient):
        assert not [n for n, v in vars(cls).items() if isinstance(v, Signal) and not n.startswith("_")], cls
