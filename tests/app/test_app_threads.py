"""The CPU threads chosen in Settings reach onnxruntime: both sessions of the loaded model run
with that many intra-op threads, and a change in Settings reloads the model with the new count."""

from __future__ import annotations

import dataclasses


def _threads(window) -> tuple[int, int]:
    sessions = window.engine.worker.summarizer.model.sessions
    return tuple(s.get_session_options().intra_op_num_threads for s in (sessions.encoder, sessions.decoder))


def test_the_threads_setting_reaches_both_sessions(qtbot, make_window, settings_for):
    window = make_window(settings_for(n_threads=1))
    qtbot.waitUntil(lambda: window.model is not None, timeout=20_000)
    assert _threads(window) == (1, 1)

    old_model = window.engine.worker.summarizer
    window.apply_settings(dataclasses.replace(window.settings, n_threads=2))  # Settings → OK
    qtbot.waitUntil(lambda: window.model is not None and window.engine.worker.summarizer is not old_model,
                    timeout=20_000)
    assert _threads(window) == (2, 2)
