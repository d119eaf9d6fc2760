"""gunicorn's worker and logger for the API: JSON for the errors gunicorn answers itself, escaped logs.

gunicorn refuses some requests before the app sees them (a request line over its limit, too many or
too large headers, a malformed request line or chunk) and writes an HTML page for them. The
worker here lets gunicorn decide, log and count as before, and sends the same status with a JSON body
(`{"error": ..., "message": ...}`) like every answer of the app. The logger escapes control and
bidirectional characters in gunicorn's error and access lines (`log_lines.py`).
"""

from __future__ import annotations

import json

from gunicorn import util
from gunicorn.glogging import Logger
from gunicorn.workers.gthread import ThreadWorker

from wandr_pipeline.api.log_lines import EscapeHidden
from wandr_pipeline.lib.text import escape_hidden


class _CapturedSocket:
    """Stands in for the client socket while gunicorn writes its HTML error page (`util.write_error`)."""

    def __init__(self) -> None:
        self.data = bytearray()

    def gettimeout(self) -> float:
        return 0.0

    def setblocking(self, flag: int) -> None:  # noqa: ARG002 - the socket API
        return None

    def sendall(self, data: bytes) -> None:
        self.data += data


def json_error_response(html_response: bytes, detail: str) -> bytes | None:
    """gunicorn's HTML error response rewritten as JSON with the same status; None if it is not one."""
    status_line = bytes(html_response).split(b"\r\n", 1)[0].decode("latin-1")
    parts = status_line.split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
        return None
    code, reason = int(parts[1]), (parts[2] if len(parts) > 2 else "error")
    error = reason.lower().replace(" ", "_").replace("-", "_")
    message = "unexpected error" if code >= 500 and code != 501 else (escape_hidden(detail) or reason)
    body = json.dumps({"error": error, "message": message}).encode("utf-8")
    head = (
        f"HTTP/1.1 {code} {reason}\r\nConnection: close\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode("latin-1") + body


class JsonErrorsWorker(ThreadWorker):
    """gunicorn's threaded worker, answering the requests gunicorn itself refuses in JSON."""

    def handle_error(self, req, client, addr, exc):
        captured = _CapturedSocket()
        super().handle_error(req, captured, addr, exc)
        if not captured.data:
            return
        response = json_error_response(captured.data, str(exc)) or bytes(captured.data)
        try:
            util.write_nonblock(client, response)
        except Exception:  # the client went away: nothing to answer
            self.log.debug("Failed to send error message.")


class EscapingLogger(Logger):
    """gunicorn's logger, with control and bidirectional characters escaped in every line."""

    def setup(self, cfg):
        super().setup(cfg)
        for log in (self.error_log, self.access_log):
            if not any(isinstance(f, EscapeHidden) for f in log.filters):
                log.addFilter(EscapeHidden())
