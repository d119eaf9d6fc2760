"""What yt-dlp may connect to, and for how long: remote-only downloads and the per-download deadline.

While `remote_only` is active, every connection yt-dlp opens must go to a public address.

The downloader checks the submitted host before calling yt-dlp; this guard covers what that check
cannot see: redirects to another host, and a name that resolves differently the second time. It
wraps the two `create_connection` functions yt-dlp's transports use (urllib3's, under its requests
transport, and yt-dlp's own, under its urllib transport): the host's addresses are checked before
connecting, and the peer address after, so DNS rebinding does not get around it.

While a `DownloadBudget` is active in a thread, the connections that thread opens are tracked: at the
deadline a watchdog shuts them down (a server that sends its headers at 1 byte/s never trips a socket
timeout, and nothing else would stop yt-dlp), and no new connection is opened after it (yt-dlp resumes
with `Range` after a drop). A stop request (lib/stopping.py, SIGTERM) shuts them down the same way.

Behind an operator's proxy (`YTDLP_PROXY`) every connection goes to the proxy, which is trusted (it is
configuration, not input), so the address check cannot see where a request really goes: the proxy
resolves the names. `GuardedYoutubeDL` then judges each request's URL instead (an extractor's media URL,
each redirect's target before requests follows it, and where redirects ended), resolving its host here;
the byte and deadline limits hold as before (the connections to the proxy are the download's
connections). What the proxy itself may reach is its own egress policy's business.

Every response of a download also ends at the byte limit plus `BYTE_LIMIT_MARGIN` (`_bound`): the
progress hook (engines/ytdlp.py) sees only the media, and a page that never ends would fill the memory.

`GuardedYoutubeDL` also adds `YTDLP_CA_BUNDLE`'s authorities to the TLS contexts of yt-dlp's
transports (a proxy that re-signs TLS, the tests' platform fake), on top of certifi's.

The browser-impersonating transport (curl_cffi) opens its sockets in libcurl, where none of this
reaches: `GuardedYoutubeDL` replaces it with the guarded one of engines/ytdlp_impersonation.py, which
reads the same policy (`remote_only_active`, `check_address`) and the download's budget
(`active_budget`: deadline and byte limit) and hands them to libcurl, or drops it (no impersonation).

Downloads that yt-dlp hands to an external program (ffmpeg for some HLS/DASH streams) open their
own connections and are not covered: deployments that must be airtight also limit egress.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import ipaddress
import socket
import ssl
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from urllib.parse import urljoin, urlsplit

import requests
import yt_dlp
from yt_dlp.networking.exceptions import RequestError, TransportError
from yt_dlp.networking.impersonate import ImpersonateRequestHandler

from wandr_pipeline.lib.network_policy import AllowList, address_problem, canonical_host
from wandr_pipeline.lib.stopping import on_stop

_lock = threading.Lock()
_active: list[AllowList] = []
# (host, port) of the operators' proxies of the active remote-only downloads: connections to them are allowed.
_proxies: list[tuple[str, int]] = []
_PROXY_PORTS = {"http": 80, "https": 443, "socks4": 1080, "socks4a": 1080, "socks5": 1080, "socks5h": 1080}
_installed = False
# (module, attribute) pairs holding a create_connection that transports look up at call time.
_PATCH_POINTS = (
    ("urllib3.util.connection", "create_connection"),
    ("yt_dlp.networking._helper", "create_connection"),
    ("yt_dlp.networking._urllib", "create_connection"),
    ("yt_dlp.networking._requests", "create_connection"),  # its SOCKS proxy connections
)


# A response may be this much bigger than the download's byte limit before its transport stops it: yt-dlp
# reads media in blocks of up to 4 MB, and its progress hook, which names an oversized file by what it
# received, is to see the limit first.
BYTE_LIMIT_MARGIN = 8 * 2**20


class EgressRefused(OSError):
    """A connection to a non-public address was refused (remote-only downloads)."""


class DeadlinePassed(OSError):
    """A connection was refused because this download's deadline has passed."""


_local = threading.local()


class DownloadBudget:
    """The wall-clock deadline (`time.monotonic()`) of one download, and the connections it opened.

    A TLS transport wraps the socket it connected into a new object and detaches the old one, so the
    TLS socket is tracked too (`GuardedYoutubeDL` wraps its TLS contexts' `wrap_socket`): shutting the
    detached plain socket would do nothing.

    `max_bytes` is the download's byte limit as every response of it is held to (`_bound`, and libcurl's
    own limit in engines/ytdlp_impersonation.py); `oversize` is (bytes, announced) once one was stopped
    for it."""

    def __init__(self, deadline: float | None, max_bytes: int | None = None):
        self.deadline = deadline
        self.max_bytes = max_bytes
        self.oversize: tuple[int, bool] | None = None
        self.expired = False
        self._sockets: weakref.WeakSet[socket.socket] = weakref.WeakSet()
        self._lock = threading.Lock()

    def remaining(self) -> float | None:
        return None if self.deadline is None else self.deadline - time.monotonic()

    def passed(self) -> bool:
        return self.expired or (self.deadline is not None and time.monotonic() >= self.deadline)

    def track(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.add(sock)
            expired = self.expired
        if expired:
            _shut(sock)

    def expire(self) -> None:
        """Stop the download: shut down every connection it opened (the reads in its thread then fail)."""
        with self._lock:
            self.expired = True
            sockets = list(self._sockets)
        for sock in sockets:
            _shut(sock)


def _shut(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # already closed


@contextlib.contextmanager
def download_budget(deadline: float | None, max_bytes: int | None = None) -> Iterator[DownloadBudget]:
    """While inside, connections opened by this thread (yt-dlp's) end at `deadline` at the latest."""
    budget = DownloadBudget(deadline, max_bytes)
    with _lock:
        _install()
    previous = getattr(_local, "budget", None)
    _local.budget = budget
    forget = on_stop(budget.expire)  # a process told to stop (SIGTERM) ends its downloads now
    timer = None
    if deadline is not None:
        timer = threading.Timer(max(0.0, deadline - time.monotonic()), budget.expire)
        timer.daemon = True
        timer.start()
    try:
        yield budget
    finally:
        forget()
        if timer is not None:
            timer.cancel()
        _local.budget = previous


def active_budget() -> DownloadBudget | None:
    """The budget of the download this thread runs, if any."""
    return getattr(_local, "budget", None)


def remote_only_active() -> bool:
    """Whether a remote-only download is running in this process (the address checks apply)."""
    with _lock:
        return bool(_active)


def check_address(host: str, address_text: str) -> None:
    """Raise `EgressRefused` when a remote-only download is active and `address_text` is not public."""
    with _lock:
        policies = list(_active)
    if not policies:
        return
    address = ipaddress.ip_address(str(address_text).split("%", 1)[0])
    problem = address_problem(address)
    if problem is None:
        return
    if any(allow.allows_address(address) or allow.allows_host(str(host)) for allow in policies):
        return
    shown = host if str(host) == str(address) else f"{host} ({address})"
    raise EgressRefused(f"refusing to connect to {shown}: {problem} (remote-only downloads)")


def _guard(original):
    @functools.wraps(original)
    def guarded(address, *args, **kwargs):
        host = address[0]
        budget: DownloadBudget | None = getattr(_local, "budget", None)
        if budget is not None and budget.passed():
            raise DeadlinePassed(f"not connecting to {host}: the download deadline has passed")
        checked = bool(_active) and not _is_proxy(host, address[1])
        if checked:
            try:
                infos = socket.getaddrinfo(host, address[1], 0, socket.SOCK_STREAM)
            except OSError:
                infos = []  # the original call reports the failure
            for info in infos:
                check_address(host, info[4][0])
        sock = original(address, *args, **kwargs)
        if checked:
            try:
                check_address(host, sock.getpeername()[0])
            except BaseException:
                sock.close()
                raise
        if budget is not None:
            budget.track(sock)
        return sock

    guarded.__wandr_guard__ = True
    return guarded


def _install() -> None:
    global _installed
    if _installed:
        return
    for module_name, attribute in _PATCH_POINTS:
        try:
            module = importlib.import_module(module_name)
        except ImportError:  # an optional transport that is not installed
            continue
        original = getattr(module, attribute, None)
        if original is not None and not getattr(original, "__wandr_guard__", False):
            setattr(module, attribute, _guard(original))
    _installed = True


def proxy_endpoint(proxy_url: str) -> tuple[str, int]:
    """(host, port) that yt-dlp connects to for this proxy URL (`socks5://user:pw@10.0.0.5:1080`)."""
    parts = urlsplit(proxy_url)
    scheme = parts.scheme.lower()
    if scheme not in _PROXY_PORTS or not parts.hostname:
        raise ValueError("the proxy must be an http://, https:// or socks5:// URL with a host")
    return canonical_host(parts.hostname), parts.port or _PROXY_PORTS[scheme]


def _is_proxy(host: str, port: int) -> bool:
    with _lock:
        if not _proxies:
            return False
    try:
        endpoint = (canonical_host(str(host)), int(port))
    except ValueError:
        return False
    with _lock:
        return endpoint in _proxies


@contextlib.contextmanager
def remote_only(allow: AllowList, proxy: tuple[str, int] | None = None) -> Iterator[None]:
    """While inside, yt-dlp in this process connects only to public addresses (or `allow`), or to
    `proxy` (host, port), the operator's proxy."""
    with _lock:
        _install()
        _active.append(allow)
        if proxy is not None:
            _proxies.append(proxy)
    try:
        yield
    finally:
        with _lock:
            _active.remove(allow)
            if proxy is not None:
                _proxies.remove(proxy)


class GuardedYoutubeDL(yt_dlp.YoutubeDL):
    """yt-dlp that trusts `ca_bundle`'s authorities too, with `judge_url` refuses requests whose URL
    (before and after redirects) it names a reason for, and with `pace` waits before each request.

    `impersonating_handler` replaces yt-dlp's browser-impersonating transports (curl_cffi's): the guarded
    one of engines/ytdlp_impersonation.py, or None for no impersonation (`YTDLP_IMPERSONATE` off, or
    curl_cffi missing): an unguarded transport is never used."""

    def __init__(
        self,
        params: dict,
        *,
        ca_bundle: str | None = None,
        judge_url: Callable[[str], str | None] | None = None,
        pace: Callable[[str], None] | None = None,
        impersonating_handler: type[ImpersonateRequestHandler] | None = None,
    ):
        self._ca_bundle = ca_bundle
        self._judge_url = judge_url
        self._pace = pace
        self._impersonating_handler = impersonating_handler
        self.downloading = False  # the media download began (errors before it are the extractor's)
        self.last_headers_wait_s = 0.0
        super().__init__(params)

    def dl(self, name, info, subtitle=False, test=False):
        if not subtitle and not test:
            self.downloading = True
        return super().dl(name, info, subtitle=subtitle, test=test)

    def build_request_director(self, handlers, preferences=None):
        handlers = [handler for handler in handlers if not issubclass(handler, ImpersonateRequestHandler)]
        if self._impersonating_handler is not None:
            handlers.append(self._impersonating_handler)
        director = super().build_request_director(handlers, preferences)
        for handler in director.handlers.values():
            if isinstance(handler, ImpersonateRequestHandler):  # libcurl: its own CA file, its own checks
                handler.ca_bundle = self._ca_bundle
                handler.judge_url = self._judge_url
                continue
            make_context = getattr(handler, "_make_sslcontext", None)
            if make_context is not None:  # transports built on Python's ssl (urllib, requests, websockets)
                handler._make_sslcontext = functools.partial(_guarded_context, make_context, self._ca_bundle)
            if self._judge_url is not None and handler.RH_KEY == "Requests":
                handler._create_instance = functools.partial(
                    _judging_redirects, handler._create_instance, self._judge_url
                )
        return director

    def urlopen(self, req):
        url = req if isinstance(req, str) else getattr(req, "url", None) or getattr(req, "full_url", "")
        if self._judge_url is not None:
            self._refuse_if_judged(url)
        if self._pace is not None:
            self._pace(url)
        asked = time.monotonic()
        response = super().urlopen(req)
        self.last_headers_wait_s = time.monotonic() - asked  # how long the last response's headers took
        if self._judge_url is not None:
            try:
                self._refuse_if_judged(response.url)
            except RequestError:
                response.close()
                raise
        _bound(response)
        return response

    def _refuse_if_judged(self, url: str) -> None:
        problem = self._judge_url(url)
        if problem:
            raise RequestError(problem)


def _bound(response) -> None:
    """End `response` at the download's byte limit plus `BYTE_LIMIT_MARGIN`, whoever reads it: pages too,
    which no progress hook sees (a page that never ends would otherwise fill the memory); and at the next
    block once the download was stopped (its deadline, SIGTERM), for transports whose sockets the watchdog
    cannot shut (libcurl's)."""
    budget = active_budget()
    if budget is None:
        return
    limit = budget.max_bytes + BYTE_LIMIT_MARGIN if budget.max_bytes else None
    announced = str(response.headers.get("Content-Length") or "")
    if limit is not None and announced.isdigit() and int(announced) > limit:
        budget.oversize = (int(announced), True)
        response.close()
        raise TransportError(f"the response is {announced} bytes, over the download's limit")
    read = response.read
    received = 0

    def bounded_read(amt=None):
        nonlocal received
        if amt is None or amt < 0:  # read all: in blocks, so an endless body stops at the limit
            blocks = []
            while block := bounded_read(2**20):
                blocks.append(block)
            return b"".join(blocks)
        data = read(amt)
        received += len(data)
        if budget.expired:
            response.close()
            raise TransportError(cause=DeadlinePassed("the download was stopped (its deadline, or a stop request)"))
        if limit is not None and received > limit:
            budget.oversize = (received, False)
            response.close()
            raise TransportError(f"the response grew past the download's limit ({received} bytes)")
        return data

    response.read = bounded_read


def _judging_redirects(create_session, judge_url: Callable[[str], str | None], *args, **kwargs):
    """yt-dlp's requests session, judging where each redirect leads before following it: behind a proxy
    the proxy would otherwise be asked for the redirect's target before its URL is judged."""
    session = create_session(*args, **kwargs)

    def judge_redirect(response, *_, **__):
        if response.is_redirect:
            target = urljoin(response.url, response.headers["Location"])
            problem = judge_url(target)
            if problem:
                response.close()
                raise requests.exceptions.ConnectionError(problem)
        return response

    session.hooks["response"].append(judge_redirect)
    return session


def _guarded_context(make_context, ca_bundle: str | None, *args, **kwargs) -> ssl.SSLContext:
    """yt-dlp's TLS context, trusting `ca_bundle` too, whose TLS sockets the download's budget tracks."""
    context = make_context(*args, **kwargs)
    if ca_bundle and context.verify_mode != ssl.CERT_NONE:
        context.load_verify_locations(cafile=ca_bundle)
    wrap_socket = context.wrap_socket

    def tracked_wrap_socket(*wrap_args, **wrap_kwargs):
        tls = wrap_socket(*wrap_args, **wrap_kwargs)
        budget: DownloadBudget | None = getattr(_local, "budget", None)
        if budget is not None:
            budget.track(tls)
        return tls

    context.wrap_socket = tracked_wrap_socket
    return context
