"""A local stand-in for the Hugging Face Hub, for tests that download (served on 127.0.0.1).

``LocalHub`` serves folders as repositories the way the hub's API answers ``snapshot_download``
(and its ``dry_run``): the revision, the file tree with sizes, and files by HEAD and GET (with
``Range``). It records every file it sends, so a test can tell what a download fetched, and the path of
every request, so a test can tell whether the hub was asked at all.

A process reads ``HF_ENDPOINT`` when it imports huggingface_hub, so a child process gets the
hub through its environment (``env()``); this process points huggingface_hub at it with
``point_huggingface_hub_at`` (a pytest ``monkeypatch``).
"""

from __future__ import annotations

import hashlib
import http.server
import json
import re
import threading
import time
from pathlib import Path


def serve(answer) -> http.server.ThreadingHTTPServer:
    """An HTTP/1.1 server on a free port of 127.0.0.1, in a daemon thread, that hands every HEAD and
    GET to ``answer(handler, body)`` (``body`` False for HEAD)."""

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def do_HEAD(self):
            answer(self, body=False)

        def do_GET(self):
            answer(self, body=True)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


class LocalHub:
    """Repositories ``{repo_id: folder}`` served at ``self.url``; ``api_delay`` slows the listing."""

    def __init__(self, repos: dict[str, Path], *, api_delay: float = 0.0) -> None:
        self.repos = {
            repo_id: {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}
            for repo_id, folder in repos.items()
        }
        self.commits = {repo_id: hashlib.sha1(repo_id.encode()).hexdigest() for repo_id in repos}
        self.api_delay = api_delay
        self.sent: list[tuple[str, str]] = []  # (repo_id, file name) of every GET of a file
        self.requests: list[str] = []  # the path of every request, HEAD or GET
        self.server = serve(self._answer)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def env(self, environ: dict, hf_home: Path) -> dict:
        """``environ`` for a child process that downloads from this hub into its own cache."""
        return {**environ, "HF_HUB_OFFLINE": "0", "HF_ENDPOINT": self.url, "HF_HOME": str(hf_home)}

    def point_huggingface_hub_at(self, monkeypatch, cache: Path) -> None:
        """Make this process's huggingface_hub use this hub, online, with ``cache`` as its cache."""
        from huggingface_hub import constants

        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
        monkeypatch.setattr(constants, "ENDPOINT", self.url)
        monkeypatch.setattr(
            constants, "HUGGINGFACE_CO_URL_TEMPLATE", self.url + "/{repo_id}/resolve/{revision}/{filename}"
        )
        monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))

    # -- answering

    @staticmethod
    def _is_lfs(name: str) -> bool:
        return name.endswith((".safetensors", ".bin", ".model"))

    def _json(self, handler, data, body: bool) -> None:
        raw = json.dumps(data).encode()
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(raw)))
        handler.end_headers()
        if body:
            handler.wfile.write(raw)

    def _not_found(self, handler, code: str) -> None:
        handler.send_response(404)
        handler.send_header("X-Error-Code", code)
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    def _answer(self, handler, body: bool) -> None:
        self.requests.append(handler.path)
        path = handler.path.split("?")[0]
        api = re.fullmatch(r"/api/models/([^/]+/[^/]+)/(revision|tree)/.*", path)
        if api:
            repo_id, kind = api.groups()
            if repo_id not in self.repos:
                return self._not_found(handler, "RepoNotFound")
            time.sleep(self.api_delay)
            return self._json(handler, self._listing(repo_id, kind), body)
        resolve = re.fullmatch(r"/([^/]+/[^/]+)/resolve/[^/]+/(.+)", path)
        if not resolve or resolve.group(2) not in self.repos.get(resolve.group(1), {}):
            return self._not_found(handler, "EntryNotFound")
        repo_id, name = resolve.groups()
        return self._send_file(handler, repo_id, name, body)

    def _listing(self, repo_id: str, kind: str):
        files = self.repos[repo_id]
        if kind == "revision":
            siblings = [{"rfilename": name} for name in files]
            return {"id": repo_id, "sha": self.commits[repo_id], "siblings": siblings}
        tree = []
        for name, data in files.items():
            entry = {"type": "file", "path": name, "size": len(data), "oid": hashlib.sha1(data).hexdigest()}
            if self._is_lfs(name):
                entry["lfs"] = {"oid": hashlib.sha256(data).hexdigest(), "size": len(data), "pointerSize": 130}
            tree.append(entry)
        return tree

    def _send_file(self, handler, repo_id: str, name: str, body: bool) -> None:
        data = self.repos[repo_id][name]
        etag = (hashlib.sha256 if self._is_lfs(name) else hashlib.sha1)(data).hexdigest()
        start = 0
        if body and (wanted := handler.headers.get("Range")):
            start = int(wanted.split("=")[1].split("-")[0])
        handler.send_response(206 if start else 200)
        handler.send_header("X-Repo-Commit", self.commits[repo_id])
        handler.send_header("ETag", f'"{etag}"')
        handler.send_header("Content-Length", str(len(data) - start))
        if start:
            handler.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        handler.end_headers()
        if body:
            self.sent.append((repo_id, name))
            try:
                handler.wfile.write(data[start:])
            except OSError:  # the client went away
                pass
        return None
