"""Remote-only downloads: while active, every connection yt-dlp opens must go to a public address.

The downloader checks the submitted host before calling yt-dlp; this guard covers what that check
cannot see: redirects to another host, and a name that resolves differently the second time. It
wraps the two `create_connection` functions yt-dlp's transports use (urllib3's, under its requests
transport, and yt-dlp's own, under its urllib transport): the host's addresses are checked before
connecting, and the peer address after, so DNS rebinding does not get around it.

Downloads that yt-dlp hands to an external program (ffmpeg for some HLS/DASH streams) open their
own connections and are not covered: deployments that must be airtight also limit egress.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import ipaddress
import socket
import threading
from collections.abc import Iterator

from wandr_pipeline.lib.network_policy import AllowList, address_problem

_lock = threading.Lock()
_active: list[AllowList] = []
_installed = False
# (module, attribute) pairs holding a create_connection that transports look up at call time.
_PATCH_POINTS = (
    ("urllib3.util.connection", "create_connection"),
    ("yt_dlp.networking._helper", "create_connection"),
    ("yt_dlp.networking._urllib", "create_connection"),
)


class EgressRefused(OSError):
    """A connection to a non-public address was refused (remote-only downloads)."""


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
        if _active:
            try:
                infos = socket.getaddrinfo(host, address[1], 0, socket.SOCK_STREAM)
            except OSError:
                infos = []  # the original call reports the failure
            for info in infos:
                check_address(host, info[4][0])
        sock = original(address, *args, **kwargs)
        if _active:
            try:
                check_address(host, sock.getpeername()[0])
            except BaseException:
                sock.close()
                raise
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


@contextlib.contextmanager
def remote_only(allow: AllowList) -> Iterator[None]:
    """While inside, yt-dlp in this process connects only to public addresses (or `allow`)."""
    with _lock:
        _install()
        _active.append(allow)
    try:
        yield
    finally:
        with _lock:
            _active.remove(allow)
