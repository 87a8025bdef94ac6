"""Search: Best (the model's beam search, the default) or Fast (greedy, drafted from the article),
each one's time in the status line, and the choice kept between runs."""

from __future__ import annotations

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
    assert f"Fast {fast.seconds:.1f} s" in status and "Best " in status  # both times, side by side

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
    assert "fp32" in status and f"Fast {fast.seconds:.1f} s" in status
    assert "Best " not in status  # int8's time is not shown beside fp32's
