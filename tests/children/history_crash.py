"""Store one summary in the history, then die without closing anything (exit code 9)."""

from __future__ import annotations

import os


def main() -> None:
    from pegasus_desktop.history import HistoryStore

    HistoryStore().add(
        kind="text", source="s", article="a", summary="Kept after a crash.", model_id="m", precision="int8",
        options={}, mode="whole", seconds=1.0, input_tokens=1, summary_tokens=1, new_tokens=1, parts=1,
        truncated=False,
    )
    os._exit(9)


if __name__ == "__main__":
    main()
