"""Export a hub id from a hub that answers "no such repository" to everything.

The hub binds its own port (0: the kernel picks a free one) and only then is huggingface_hub
imported, which reads HF_ENDPOINT at import: no port is freed and reused in between. Each request
is written to stderr as ``request <path>``; the EngineError to stdout. Argument: models root.
"""

from __future__ import annotations

import http.server
import os
import sys
import threading


class NotFound(http.server.BaseHTTPRequestHandler):
    def _answer(self):
        self.send_response(404)
        self.send_header("X-Error-Code", "RepoNotFound")
        self.send_header("X-Error-Message", "Repository not found")
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_HEAD = _answer

    def log_message(self, *args):
        sys.stderr.write("request " + self.path + "\n")


def main(root: str) -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), NotFound)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    os.environ["HF_ENDPOINT"] = "http://127.0.0.1:%d" % server.server_address[1]
    from engine.errors import EngineError
    from engine.export.pipeline import export

    try:
        export("acme/no-such-pegasus", root)
    except EngineError as e:
        print(type(e).__name__ + ": " + str(e))


if __name__ == "__main__":
    main(sys.argv[1])
