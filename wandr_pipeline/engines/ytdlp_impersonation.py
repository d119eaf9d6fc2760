"""Browser impersonation (curl_cffi) under the same egress limits as yt-dlp's other transports.

TikTok and Instagram refuse clients whose TLS and HTTP/2 fingerprints are not a browser's; their
extractors ask for impersonation (`impersonate=` on a request) and yt-dlp then sends that request
through `CurlCFFIRH`, its curl_cffi transport. libcurl opens its own sockets, resolves names itself
and follows redirects itself, so the guard in ytdlp_egress.py (which wraps Python's
`create_connection`) never sees them. `GuardedCurlCFFIRH` is that transport with the limits put back
through libcurl's own options, set on each request (curl_cffi's `Session.curl_options`, applied last):

- redirects: libcurl's are off (`FOLLOWLOCATION` 0); this handler follows them (at most 5, as
  `CurlCFFIRH` does), so each hop is checked like the first;
- `WANDR_REMOTE_ONLY`: the host's addresses are resolved here and checked (`check_address`), and
  libcurl is told to use exactly those (`RESOLVE`), so a name that answers differently the second
  time (DNS rebinding) changes nothing. Behind the operator's proxy the request's URL is judged
  instead (the proxy resolves names), as for the other transports;
- the byte limit: `MAXFILESIZE_LARGE` (libcurl refuses a bigger announced size at the headers and
  stops a body that grows past it), a little above the limit so that yt-dlp's own checks (an
  announced size, the progress hook) name the refusal first where they see it;
- the deadline: `TIMEOUT_MS`, the download's time left (a server that sends its headers a byte a
  second is cut off by libcurl), and no request at all once it has passed (or the download was
  stopped); a body being read ends at the next block after a stop (`ytdlp_egress._bound`);
- only `http` and `https`, for requests and redirects (`PROTOCOLS_STR`, `REDIR_PROTOCOLS_STR`);
- `YTDLP_CA_BUNDLE`: libcurl reads one CA file, so certifi's authorities and the bundle's are
  written together into one (`CAINFO`, `PROXY_CAINFO`); without it a proxy that re-signs TLS (the
  tests' platform fake) fails certificate verification on this transport only.

It relies on parts of yt-dlp that are not public API: it overrides `_send` (the documented extension
point of `RequestHandler`) and `_create_instance` of `CurlCFFIRH`, calls `RequestHandler`'s
`_get_instance`, `_get_cookiejar` and `_get_proxies` as `CurlCFFIRH._send` does, and imports from
`yt_dlp.networking._curlcffi` and `._helper`. So it is pinned: `WRITTEN_FOR` names the versions it was
read against, tests/engines/test_ytdlp_impersonation.py fails on others, and a request whose session
did not get its limits is refused rather than sent (`_PerRequestOptionsSession`).
"""

from __future__ import annotations

import atexit
import contextlib
import ipaddress
import os
import socket
import tempfile
import threading
from collections.abc import Callable
from urllib.parse import urljoin, urlsplit

import certifi
import curl_cffi.requests
from curl_cffi.const import CurlECode, CurlOpt
from yt_dlp.networking._curlcffi import CurlCFFIRH
from yt_dlp.networking._helper import get_redirect_method
from yt_dlp.networking.common import Request
from yt_dlp.networking.exceptions import HTTPError, TransportError
from yt_dlp.utils.networking import select_proxy

from wandr_pipeline.engines.ytdlp_egress import (
    BYTE_LIMIT_MARGIN,
    DeadlinePassed,
    EgressRefused,
    active_budget,
    check_address,
    remote_only_active,
)

WRITTEN_FOR = {"yt-dlp": "2026.11.23", "curl_cffi": "0.17.0"}
MAX_REDIRECTS = 5  # as CurlCFFIRH tells libcurl
_REDIRECTS = (301, 302, 303, 307, 308)


class ResponseTooLarge(TransportError):
    """libcurl refused a response over the byte limit: `size` is the announced size, else None."""

    def __init__(self, size: int | None, limit: int, cause: BaseException):
        self.size = size
        self.limit = limit
        super().__init__(f"the response is over the {limit} byte limit", cause=cause)


class GuardedCurlCFFIRH(CurlCFFIRH):
    """yt-dlp's curl_cffi transport with the egress limits (the module docstring says how)."""

    # What `GuardedYoutubeDL` sets: the request-URL judge (behind a proxy) and the extra CA file.
    judge_url: Callable[[str], str | None] | None = None
    ca_bundle: str | None = None

    def _create_instance(self, cookiejar=None):
        return _PerRequestOptionsSession(cookies=cookiejar)

    def _send(self, request: Request):
        for _ in range(MAX_REDIRECTS + 1):
            options = self._limits(request)
            session = self._get_instance(
                cookiejar=self._get_cookiejar(request) if "cookie" not in request.headers else None
            )
            session.next_options = options
            try:
                response = super()._send(request)
            except HTTPError as error:
                location = error.response.headers.get("Location")
                if error.status not in _REDIRECTS or not location:
                    raise
                error.close()
                request = _redirected(request, error.status, urljoin(request.url, location))
                continue
            except TransportError as error:
                too_large = _too_large(error, options)
                if too_large is not None:
                    raise too_large from None
                raise
            _note_oversize_on_read(response, options)
            return response
        raise TransportError(f"more than {MAX_REDIRECTS} redirects")

    def _limits(self, request: Request) -> dict:
        """libcurl's options for this request; raises `TransportError` for a request the limits refuse."""
        options: dict = {
            CurlOpt.FOLLOWLOCATION: 0,
            CurlOpt.PROTOCOLS_STR: "http,https",
            CurlOpt.REDIR_PROTOCOLS_STR: "http,https",
        }
        budget = active_budget()
        if budget is not None:
            if budget.passed():
                host = urlsplit(request.url).hostname
                raise TransportError(
                    cause=DeadlinePassed(f"not connecting to {host}: the download deadline has passed")
                )
            remaining = budget.remaining()
            if remaining is not None:
                options[CurlOpt.TIMEOUT_MS] = max(1, int(remaining * 1000))
            if budget.max_bytes:
                options[CurlOpt.MAXFILESIZE_LARGE] = budget.max_bytes + BYTE_LIMIT_MARGIN
        if self.ca_bundle and self.verify:
            ca_file = _with_certifi(self.ca_bundle)
            options[CurlOpt.CAINFO] = ca_file
            options[CurlOpt.PROXY_CAINFO] = ca_file
        proxy = select_proxy(request.url, self._get_proxies(request))
        if proxy:
            problem = self.judge_url(request.url) if self.judge_url is not None else None
            if problem:
                raise TransportError(cause=EgressRefused(problem))
        else:
            options[CurlOpt.PROXY] = ""  # none, not one libcurl would take from the environment on its own
        if not proxy and remote_only_active():
            pinned = _checked_addresses(request.url)
            if pinned:
                options[CurlOpt.RESOLVE] = [pinned]
        return options


class _PerRequestOptionsSession(curl_cffi.requests.Session):
    """A curl_cffi session that applies the options its handler set for the next request (after all of
    curl_cffi's own, so they win). A request without them is refused: if yt-dlp ever picks its session
    another way, downloads fail loudly instead of running without the limits."""

    next_options: dict | None = None

    def request(self, *args, **kwargs):
        if self.next_options is None:
            raise TransportError("the impersonating transport was asked for a request without its egress limits")
        self.curl_options, self.next_options = self.next_options, None
        return super().request(*args, **kwargs)


def _checked_addresses(url: str) -> str | None:
    """`host:port:addresses` for libcurl's `RESOLVE`, every address checked by the remote-only policy;
    None for an address literal (checked, nothing to resolve). Raises `TransportError` when refused."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    try:
        if literal is not None:
            check_address(host, str(literal))
            return None
        try:
            infos = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)
        except OSError as exc:
            raise TransportError(f"could not resolve {host}: {exc}", cause=exc) from None
        addresses = list(dict.fromkeys(str(info[4][0]).split("%", 1)[0] for info in infos))
        for address in addresses:
            check_address(host, address)
    except EgressRefused as refused:
        raise TransportError(cause=refused) from None
    shown = ",".join(f"[{a}]" if ":" in a else a for a in addresses)
    return f"{host}:{port}:{shown}"


def _redirected(request: Request, status: int, url: str) -> Request:
    """The next hop of a redirect, as yt-dlp's other transports build it (the Cookie header never follows)."""
    method = get_redirect_method(request.method, status)
    hop = request.copy()
    hop.url = url
    drop = {"cookie"}
    if method != request.method:
        hop.data = None
        drop |= {"content-length", "content-type"}
    for name in [name for name in hop.headers if name.lower() in drop]:
        del hop.headers[name]
    hop.method = method
    return hop


def _too_large(error: TransportError, options: dict) -> ResponseTooLarge | None:
    """`error` as `ResponseTooLarge` when libcurl stopped for the byte limit; the budget learns it too."""
    cause = error.cause
    if getattr(cause, "code", None) != CurlECode.FILESIZE_EXCEEDED:
        return None
    limit = options.get(CurlOpt.MAXFILESIZE_LARGE, 0) - BYTE_LIMIT_MARGIN
    headers = getattr(getattr(cause, "response", None), "headers", None) or {}
    announced = headers.get("Content-Length")
    size = int(announced) if announced and str(announced).isdigit() else None
    budget = active_budget()
    if budget is not None:
        budget.oversize = (size, True) if size is not None else (options.get(CurlOpt.MAXFILESIZE_LARGE, 0), False)
    return ResponseTooLarge(size, limit, cause)


def _note_oversize_on_read(response, options: dict) -> None:
    """A body that grows past the limit fails in a read: let the budget know it was the limit."""
    reader = response.fp
    read = reader.read

    def noting_read(size=None):
        try:
            return read(size)
        except curl_cffi.requests.RequestsError as exc:
            if exc.code == CurlECode.FILESIZE_EXCEEDED:
                budget = active_budget()
                if budget is not None:
                    budget.oversize = (options.get(CurlOpt.MAXFILESIZE_LARGE, 0), False)
            raise

    reader.read = noting_read


_ca_lock = threading.Lock()
_ca_files: dict[tuple[str, int, int], str] = {}  # (bundle, size, mtime_ns) -> certifi + bundle, one file


def _with_certifi(ca_bundle: str) -> str:
    """A PEM file with certifi's authorities and `ca_bundle`'s (libcurl reads a single CA file)."""
    try:
        stat = os.stat(ca_bundle)
    except OSError as exc:
        raise TransportError(f"YTDLP_CA_BUNDLE cannot be read ({exc.strerror})", cause=exc) from None
    key = (ca_bundle, stat.st_size, stat.st_mtime_ns)
    with _ca_lock:
        if key in _ca_files:
            return _ca_files[key]
        with open(certifi.where(), "rb") as base, open(ca_bundle, "rb") as extra:
            content = base.read().rstrip(b"\n") + b"\n" + extra.read()
        descriptor, path = tempfile.mkstemp(prefix="wandr-ca-", suffix=".pem")
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(content)
        _ca_files[key] = path
        atexit.register(_remove, path)
        return path


def _remove(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)
