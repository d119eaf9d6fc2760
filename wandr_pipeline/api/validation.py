"""Checks on a submitted URL before anything is recorded: pure functions, no Flask, no Dagster.

A URL is accepted when it is http(s), has a host, carries no user:password, and every address its
host resolves to is a public one (or lies in the configured allow-list). The address check stops the
obvious server-side request forgery (a job that fetches the metadata server, a database on the LAN,
the API itself); it is a first line only: yt-dlp resolves the name again at download time and follows
redirects, so a deployment that must be airtight also limits the workers' egress (see docs/API.md).
"""

from __future__ import annotations

import ipaddress
import socket
import threading
from dataclasses import dataclass, field
from typing import Callable, Iterable, Sequence
from urllib.parse import urlsplit

from wandr_pipeline.urls import InvalidVideoUrl, VideoRef, parse_video_url

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
# host -> addresses; raises `socket.gaierror` (or OSError) when the name does not resolve.
Resolver = Callable[[str], Sequence[str]]

MAX_URL_LENGTH = 2048


class UrlRejected(ValueError):
    """The submitted URL is refused; the message says why, in words fit for the client."""


class ResolverUnavailable(RuntimeError):
    """Name resolution failed temporarily (the client may try again)."""


@dataclass(frozen=True)
class AllowList:
    """Networks and host names that may be fetched although they are not public (tests, LAN mirrors)."""

    networks: tuple[IpNetwork, ...] = ()
    hosts: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def parse(cls, text: str | Iterable[str]) -> "AllowList":
        """`127.0.0.1, 10.0.0.0/8, media.local` -> networks and host names; raises ValueError on junk."""
        items = text.replace(";", ",").split(",") if isinstance(text, str) else list(text)
        networks: list[IpNetwork] = []
        hosts: set[str] = set()
        for raw in items:
            item = raw.strip().lower()
            if not item:
                continue
            try:
                networks.append(ipaddress.ip_network(item.strip("[]"), strict=False))
                continue
            except ValueError:
                pass
            if not _looks_like_hostname(item):
                raise ValueError(f"allow-list entry {raw.strip()!r} is neither an address, a network nor a host name")
            hosts.add(item.rstrip("."))
        return cls(tuple(networks), frozenset(hosts))

    def allows_host(self, host: str) -> bool:
        return host.lower().rstrip(".") in self.hosts

    def allows_address(self, address: IpAddress) -> bool:
        return any(address.version == net.version and address in net for net in self.networks)


def _looks_like_hostname(text: str) -> bool:
    labels = text.rstrip(".").split(".")
    return all(label and len(label) <= 63 and all(c.isalnum() or c == "-" for c in label) for label in labels)


def _unwrap(address: IpAddress) -> IpAddress:
    """IPv4 behind IPv6 (`::ffff:127.0.0.1`, 6to4, Teredo) is judged as the IPv4 address it carries."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped:
            return address.ipv4_mapped
        if address.sixtofour:
            return address.sixtofour
        if address.teredo:
            return address.teredo[1]
    return address


def address_problem(address: IpAddress) -> str | None:
    """Why `address` must not be fetched, or None when it is a public unicast address."""
    address = _unwrap(address)
    if address.is_loopback:
        return "a loopback address"
    if address.is_link_local:
        return "a link-local address"
    if address.is_unspecified:
        return "an unspecified address"
    if address.is_multicast:
        return "a multicast address"
    if address.is_private:
        return "a private address"
    if address.is_reserved or not address.is_global:
        return "a reserved, non-public address"
    return None


def resolve_host(host: str, timeout_s: float = 3.0) -> list[str]:
    """The addresses `host` resolves to (an IP literal in any form inet_aton accepts resolves to itself).

    `getaddrinfo` has no timeout of its own: it runs in a helper thread and a slow answer counts as
    a temporary failure.
    """
    result: dict[str, object] = {}

    def lookup() -> None:
        try:
            infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
            result["addresses"] = sorted({info[4][0] for info in infos})
        except OSError as exc:  # socket.gaierror is an OSError
            result["error"] = exc

    worker = threading.Thread(target=lookup, name=f"resolve-{host[:40]}", daemon=True)
    worker.start()
    worker.join(timeout_s)
    if worker.is_alive():
        raise ResolverUnavailable(f"resolving {host!r} took longer than {timeout_s:g} s")
    if "error" in result:
        raise result["error"]  # type: ignore[misc]
    return list(result["addresses"])  # type: ignore[arg-type]


@dataclass(frozen=True)
class UrlPolicy:
    allow: AllowList = AllowList()
    # A host name that does not resolve now (or not in time): accepted, the download then fails
    # with a recorded reason, unless `reject_unresolved` is set. Refusing it would gain little: a
    # name can resolve to anything later on.
    reject_unresolved: bool = False
    resolve_timeout_s: float = 3.0


def check_url(url: object, policy: UrlPolicy, resolver: Resolver | None = None) -> VideoRef:
    """Validate a submitted URL and derive its video key; raises `UrlRejected` with the reason.

    Raises `ResolverUnavailable` when the host's addresses cannot be had right now and the policy
    refuses names it cannot resolve.
    """
    if not isinstance(url, str):
        raise UrlRejected("'url' must be a string")
    url = url.strip()
    if not url:
        raise UrlRejected("'url' is empty")
    if len(url) > MAX_URL_LENGTH:
        raise UrlRejected(f"'url' is longer than {MAX_URL_LENGTH} characters")
    if any(ord(ch) < 0x21 or ord(ch) == 0x7F for ch in url):
        raise UrlRejected("'url' contains whitespace or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port  # raises ValueError for a port out of range or not a number
    except ValueError as exc:
        raise UrlRejected(f"not a valid URL: {exc}") from None
    scheme = parts.scheme.lower()
    if not scheme or "://" not in url:
        raise UrlRejected("not a URL: expected http:// or https://")
    if scheme not in ("http", "https"):
        raise UrlRejected(f"scheme '{scheme}:' is not accepted: only http and https URLs")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise UrlRejected("URLs with a user name or password are not accepted")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise UrlRejected("the URL has no host")
    if port == 0:
        raise UrlRejected("port 0 is not a valid port")
    try:
        ref = parse_video_url(url)
    except InvalidVideoUrl as exc:
        raise UrlRejected(str(exc)) from None

    if policy.allow.allows_host(host):
        return ref
    try:
        literal = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        literal = None
    if literal is not None:
        addresses: Sequence[str] = [str(literal)]
    else:
        try:
            addresses = (resolver or (lambda h: resolve_host(h, policy.resolve_timeout_s)))(host)
        except UnicodeError:
            raise UrlRejected(f"host {host!r} is not a valid host name") from None
        except (OSError, ResolverUnavailable) as exc:
            if not policy.reject_unresolved:
                return ref  # the download resolves it again, and fails with a recorded reason
            temporary = isinstance(exc, ResolverUnavailable) or getattr(exc, "errno", None) == socket.EAI_AGAIN
            if temporary:
                raise ResolverUnavailable(f"resolving {host!r} failed for now") from None
            raise UrlRejected(f"host {host!r} does not resolve") from None
    for text in addresses:
        address = ipaddress.ip_address(text.split("%", 1)[0])  # drop an IPv6 zone id
        problem = address_problem(address)
        if problem and not policy.allow.allows_address(address):
            shown = host if literal is not None else f"{host} ({address})"
            raise UrlRejected(f"refusing to fetch {shown}: {problem} (allow it with WANDR_API_ALLOWED_NETWORKS)")
    return ref
