"""HTTP servers on 127.0.0.1 for tests: a base that serves a handler from a thread, and a static file server."""

from __future__ import annotations

import functools
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - keep test output clean
        pass


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):  # clients (yt-dlp probing, timeouts) hang up early
        pass


class BackgroundServer:
    """An HTTP server on 127.0.0.1 (a free port) answering with `handler` from a daemon thread.

    `server_attributes` are set on the server before it starts (handlers read them as `self.server.x`).
    """

    def __init__(self, handler, **server_attributes):
        self.httpd = _QuietServer(("127.0.0.1", 0), handler)
        for name, value in server_attributes.items():
            setattr(self.httpd, name, value)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def port(self) -> int:
        return self.httpd.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class LoopbackServer(BackgroundServer):
    """A static file server on 127.0.0.1 serving `root`; missing paths answer 404."""

    def __init__(self, root: Path):
        self.root = root
        super().__init__(functools.partial(_QuietHandler, directory=str(root)))

    def url(self, name: str) -> str:
        return f"{self.base_url}/{name}"
