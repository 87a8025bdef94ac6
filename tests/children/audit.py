"""An audit hook that records every socket and HTTP connection the process makes."""

from __future__ import annotations

import sys


def record_connections() -> list[tuple[str, str]]:
    """Install the hook; returns the list it fills with (event, its arguments abridged)."""
    events: list[tuple[str, str]] = []

    def hook(event: str, args: tuple) -> None:
        if event.startswith("socket.") or event in ("urllib.Request", "http.client.connect"):
            events.append((event, repr(args)[:200]))

    sys.addaudithook(hook)
    return events
