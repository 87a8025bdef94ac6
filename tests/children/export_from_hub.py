"""Export each hub id given (argv 2...) into the models root (argv 1), fp32, from the hub that
HF_ENDPOINT names; print one JSON line per id: its folder and the download progress reports."""

from __future__ import annotations

import json
import sys

from engine.export.pipeline import export

if __name__ == "__main__":
    for repo in sys.argv[2:]:
        events = []
        paths = export(repo, sys.argv[1], precision="fp32",
                       on_progress=lambda p, events=events: events.append((p.stage, p.done, p.total)))
        downloads = [e for e in events if e[0] == "download"]
        print(json.dumps({"repo": repo, "folder": str(paths.folder), "downloads": downloads}))
