"""Search: Best (the model's beam search, the default) or Fast (greedy, drafted from the article),
each one's time in the status line, and the choice kept between runs."""

from __future__ import annotations

import pytest

from engine.files import human_duration
from engine.summarizer import DRAFT_TOKENS


def _spy(window, monkeypatch) -> list:
    """The options each generate() call of the window's model got, after the Summarizer's own."""
    model = window.engine.worker.summarizer.model
    real = model.generate
    seen = []

    def spy(*args, options=None, **kwargs):
        seen.append(options)
        return real(*args, options=options, **kwargs)

    monkeypatch.setattr(model, "generate", spy)
    return seen


def _summarize(qtbot, window, article):
    window.page.input.setPlainText(article)
    with qtbot.waitSignal(window.engine.finished, timeout=30_000) as finished:
        window.summarize_action.trigger()
    return finished.args[1]


def test_best_is_the_models_beam_search_and_fast_is_drafted_greedy(qtbot, loaded_window, article, monkeypatch):
    window = loaded_window
    options = window.page.options
    options.beams.setValue(3)
    seen = _spy(window, monkeypatch)
    assert options.search_mode() == "best"  # the default

    _summarize(qtbot, window, article)
    assert seen[-1].num_beams == 3 and not seen[-1].prompt_lookup_num_tokens
    assert "Best" in window.status.text() and "Fast" not in window.status.text()

    options.search.setCurrentIndex(options.search.findData("fast"))
    assert not options.beams.isEnabled()
    fast = _summarize(qtbot, window, article)
    assert seen[-1].num_beams == 1 and seen[-1].prompt_lookup_num_tokens == DRAFT_TOKENS
    status = window.status.text()
    assert f"Fast {human_duration(fast.seconds)}" in status and "Best " in status  # both times, side by side

    options.search.setCurrentIndex(options.search.findData("best"))
    assert options.beams.isEnabled() and options.options().num_beams == 3  # the beams set are kept


def test_the_search_choice_is_kept_between_runs(qtbot, make_window, settings_for):
    settings = settings_for()
    window = make_window(settings)
    qtbot.waitUntil(lambda: window.model is not None, timeout=20_000)
    options = window.page.options
    options.search.setCurrentIndex(options.search.findData("fast"))
    state = options.state()
    assert state["search"] == "fast"

    again = make_window(settings_for())
    qtbot.waitUntil(lambda: again.model is not None, timeout=20_000)
    again.page.options.restore(state)
    assert again.page.options.search_mode() == "fast"
    assert again.page.options.options().num_beams == 1


def test_the_status_line_shows_no_time_of_a_model_no_longer_in_use(qtbot, loaded_window, article):
    """Settings applied (here fp32 for int8), another model or a re-export: every load is taken
    into use in one place, and the times of the model before it are forgotten there."""
    import dataclasses

    window = loaded_window
    options = window.page.options
    _summarize(qtbot, window, article)  # Best, with int8
    assert "Best " in window.status.text()

    window.apply_settings(dataclasses.replace(window.settings, precision="fp32"))
    qtbot.waitUntil(lambda: window.model is not None and window.model.precision == "fp32", timeout=20_000)
    options.search.setCurrentIndex(options.search.findData("fast"))
    fast = _summarize(qtbot, window, article)
    status = window.status.text()
    assert "fp32" in status and f"Fast {human_duration(fast.seconds)}" in status
    assert "Best " not in status  # int8's time is not shown beside fp32's


@pytest.mark.parametrize("ending", ["cancelled", "finished"])
def test_a_summary_ending_after_the_model_changed_is_kept_as_its_models(qtbot, loaded_window, article, monkeypatch,
                                                                        ending):
    """Settings applied while a summary is being written: the window cancels it and loads the new
    model. Whether the old request then ends cancelled or (having got past its last check)
    finished, the window takes it without a crash, keeps it as the old model's in History, and
    shows no time of it beside the new model's."""
    import dataclasses
    import threading

    window = loaded_window
    model = window.engine.worker.summarizer.model
    real, entered, gate = model.generate, threading.Event(), threading.Event()

    def held(*args, should_stop=None, **kwargs):  # runs on the worker's thread
        entered.set()
        gate.wait(20)
        return real(*args, should_stop=should_stop if ending == "cancelled" else None, **kwargs)

    monkeypatch.setattr(model, "generate", held)
    window.page.input.setPlainText(article)
    signal = window.engine.cancelled if ending == "cancelled" else window.engine.finished
    with qtbot.waitSignal(signal, timeout=30_000):
        window.summarize_action.trigger()
        qtbot.waitUntil(entered.is_set, timeout=10_000)
        window.apply_settings(dataclasses.replace(window.settings, precision="fp32"))
        gate.set()
    qtbot.waitUntil(lambda: window.model is not None and window.model.precision == "fp32", timeout=20_000)
    assert window.request == 0 and window.summarize_action.isEnabled()
    assert "fp32" in window.status.text() and "int8" not in window.status.text()
    assert window.search_seconds == {}  # the old model's time is not shown as the new one's
    kept = window.history.search()
    if ending == "finished":
        assert [e.precision for e in kept] == ["int8"]
    else:
        assert kept == []

