"""A loopback HTTP server that misbehaves on purpose, for the bad-input corpus.

Routes (everything else answers 404):
- `/media/<file>`          the file from the media folder (a plain static server)
- `/status/<code>/<name>`  that HTTP status with a short body (403, 500, ...)
- `/hang/<name>`           accepts the request and never answers (until the server closes)
- `/flaky/<n>/<file>`      HTTP 500 for the first `n` requests of this path, then the file
- `/short/<file>`          announces the whole file's Content-Length, sends half, hangs up
- `/page/<name>`           an HTML page with no media in it (a login wall, a blog post)
- `/nolength/<file>`       the file with no Content-Length (the body ends when the connection closes)
- `/endless/<name>`        `video/mp4` with no Content-Length and a body that never ends (up to 256 MB,
                           or until the client hangs up); `sent[path]` counts the bytes that went out
                           (into kernel socket buffers too), `hung_up` holds the paths whose client
                           hung up before the end
- `/drip/<file>`           the file's Content-Length, then 1 KB a second (never a read timeout)
- `/drip-until-hangup/<file>` as `/drip/` until a client hangs up on this path (`hung_up`), then the
                           file at once (a download cut short by a signal, then redone by the next run)
- `/gate/<file>`           the file, once the test opens the gate (`open_gate()`): a download held in flight
- `/slowheaders/<name>`    a status line and headers at 1 byte a second, never finished
- `/retry-after/<s>/<file>` HTTP 429 with `Retry-After: <s>` for the first request of this path, then
                           the file; `times[path]` keeps each request's arrival (time.monotonic())
- `/always-429/<s>/<name>` HTTP 429 with `Retry-After: <s>` every time
- `/redirect/<path>`       a 302 to `http://127.0.0.1:<port>/<path>` (a public page sending a fetcher inward)
- `/extractor/<case>`      answered by the yt-dlp test extractor (tests/support/ytdlp_plugins), which
                           serves `/media/` files or raises the extractor errors of real sites

`hits[path]` counts the requests per path, so tests can tell how often a download was retried;
`requests` keeps each request's raw target and Cookie header.
"""

from __future__ import annotations

import threading
import time
from collections import Counter, defaultdict
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from urllib.parse import unquote, urlsplit

from tests.support.servers import BackgroundServer

LOGIN_WALL = b"""<!doctype html><html><head><title>Log in | Example</title></head>
<body><form action="/login"><input name="user"><input type="password" name="pw"></form>
<p>Log in to see this video.</p></body></html>"""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):  # noqa: A002 - keep test output clean
        pass

    def do_HEAD(self):  # noqa: N802 - http.server's naming
        self._route(head=True)

    def do_GET(self):  # noqa: N802
        self._route(head=False)

    def _route(self, *, head: bool) -> None:
        path = unquote(urlsplit(self.path).path)
        with self.server.lock:
            self.server.hits[path] += 1
            hits = self.server.hits[path]
            self.server.requests.append((self.path, self.headers.get("Cookie") or ""))
            self.server.times[path].append(time.monotonic())
        parts = path.strip("/").split("/")
        kind = parts[0]
        if kind == "media" and len(parts) == 2:
            self._file(parts[1], head=head)
        elif kind == "status" and len(parts) == 3 and parts[1].isdigit():
            self._reply(int(parts[1]), b"no", "text/plain")
        elif kind == "hang":
            while not self.server.stopping.wait(0.2):
                pass
        elif kind == "flaky" and len(parts) == 3 and parts[1].isdigit():
            if hits <= int(parts[1]):
                self._reply(500, b"try again later", "text/plain")
            else:
                self._file(parts[2], head=head)
        elif kind == "short" and len(parts) == 2:
            self._file(parts[1], head=head, fraction=0.5)
        elif kind == "nolength" and len(parts) == 2:
            self._file(parts[1], head=head, announce=False)
        elif kind == "endless":
            self._endless(path, head=head)
        elif kind == "drip" and len(parts) == 2:
            self._file(parts[1], head=head, drip=True)
        elif kind == "drip-until-hangup" and len(parts) == 2:
            self._file(parts[1], head=head, drip=path not in self.server.hung_up, path=path)
        elif kind == "gate" and len(parts) == 2:
            while not self.server.gate.wait(0.2):
                if self.server.stopping.is_set():
                    return
            self._file(parts[1], head=head)
        elif kind == "slowheaders":
            self._slow_headers()
        elif kind in ("retry-after", "always-429") and len(parts) == 3 and parts[1].isdigit():
            if kind == "always-429" or hits == 1:
                self.send_response(429)
                self.send_header("Retry-After", parts[1])
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", "4")
                self.end_headers()
                self.wfile.write(b"slow")
            else:
                self._file(parts[2], head=head)
        elif kind == "redirect":
            self.send_response(302)
            self.send_header("Location", f"http://127.0.0.1:{self.server.server_address[1]}/{'/'.join(parts[1:])}")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif kind == "page":
            self._reply(200, LOGIN_WALL, "text/html; charset=utf-8", head=head)
        else:
            self._reply(404, b"not found", "text/plain", head=head)

    def _reply(self, code: int, body: bytes, content_type: str, *, head: bool = False) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def _endless(self, path: str, *, head: bool) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "video/mp4")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        if head:
            return
        chunk = bytes(range(256)) * 256  # 64 KB
        try:
            while self.server.sent[path] < 256 * 2**20 and not self.server.stopping.is_set():
                self.wfile.write(chunk)
                with self.server.lock:
                    self.server.sent[path] += len(chunk)
        except OSError:
            self.server.hung_up.add(path)  # what the test wants

    def _slow_headers(self) -> None:
        head = b"HTTP/1.1 200 OK\r\nContent-Type: video/mp4\r\nX-Padding: " + b"a" * 10_000
        self.close_connection = True
        try:
            for byte in head:
                if self.server.stopping.wait(1.0):
                    return
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
        except OSError:
            pass

    def _file(
        self,
        name: str,
        *,
        head: bool,
        fraction: float = 1.0,
        announce: bool = True,
        drip: bool = False,
        path: str | None = None,
    ) -> None:
        target = self.server.root / name
        if "/" in name or not target.is_file():
            self._reply(404, b"not found", "text/plain", head=head)
            return
        data = target.read_bytes()
        content_type = (
            "video/mp4"
            if target.suffix == ".mp4"
            else ("audio/mp4" if target.suffix == ".m4a" else "application/octet-stream")
        )
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        if announce:
            self.send_header("Content-Length", str(len(data)))
        if fraction < 1.0 or not announce:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if head:
            return
        if drip:
            try:
                for start in range(0, len(data), 1024):
                    if self.server.stopping.wait(1.0):
                        return
                    self.wfile.write(data[start : start + 1024])
                    self.wfile.flush()
            except OSError:
                if path:
                    self.server.hung_up.add(path)
            return
        self.wfile.write(data[: int(len(data) * fraction)])
        if fraction < 1.0:
            self.wfile.flush()
            self.close_connection = True


class FaultServer(BackgroundServer):
    """The misbehaving server on 127.0.0.1, serving `root` under `/media/`."""

    def __init__(self, root: Path):
        super().__init__(
            _Handler,
            root=Path(root),
            hits=Counter(),
            requests=[],
            lock=threading.Lock(),
            stopping=threading.Event(),
            sent=Counter(),
            hung_up=set(),
            times=defaultdict(list),
            gate=threading.Event(),
        )

    def open_gate(self) -> None:
        """Let the requests waiting under `/gate/` (and every later one) have their file."""
        self.httpd.gate.set()

    def url(self, path: str) -> str:
        return f"{self.base_url}/{path.lstrip('/')}"

    @property
    def hits(self) -> Counter:
        return self.httpd.hits

    @property
    def requests(self) -> list[tuple[str, str]]:
        return list(self.httpd.requests)

    @property
    def sent(self) -> Counter:
        return self.httpd.sent

    @property
    def hung_up(self) -> set[str]:
        return self.httpd.hung_up

    @property
    def times(self) -> dict[str, list[float]]:
        return self.httpd.times

    def close(self) -> None:
        self.httpd.stopping.set()  # releases the hanging handlers
        super().close()
