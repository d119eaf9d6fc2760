"""Which sources the pipeline may read: network addresses (the API's URL checks and the downloader's
remote-only mode) and local paths (the allowed input folders, checked by URL lists and the downloader).
One policy in one place, so no entry point is laxer than another. Pure functions, no Flask, no Dagster,
no yt-dlp."""

from __future__ import annotations

import ipaddress
import socket
import threading
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class ResolverUnavailable(RuntimeError):
    """Name resolution failed temporarily (the client may try again)."""


@dataclass(frozen=True)
class AllowList:
    """Networks and host names that may be fetched although they are not public (tests, LAN mirrors)."""

    networks: tuple[IpNetwork, ...] = ()
    hosts: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def parse(cls, text: str | Iterable[str]) -> AllowList:
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


def canonical_host(host: str) -> str:
    """The host a fetcher will really connect to: percent-decoded (until stable), NFKC-normalised,
    IDNA-encoded, lower-case, without brackets or trailing dots. `%31%32%37.0.0.1` -> `127.0.0.1`,
    `ＬＯＣＡＬＨＯＳＴ.` -> `localhost`, `bücher.example` -> `xn--bcher-kva.example`.

    Raises ValueError when the result is not a possible host name or address.
    """
    text = host.strip()
    for _ in range(3):  # %2531 -> %31 -> 1
        decoded = unquote(text)
        if decoded == text:
            break
        text = decoded
    text = unicodedata.normalize("NFKC", text).strip("[]").rstrip(".").lower()
    if not text:
        raise ValueError("empty host")
    try:
        return str(ipaddress.ip_address(text.split("%", 1)[0]))
    except ValueError:
        pass
    if any(ch in text for ch in "/\\@?#:% \t\r\n\x00"):
        raise ValueError(f"{host!r} is not a host name")
    if not text.isascii():
        try:
            text = text.encode("idna").decode("ascii")
        except UnicodeError:
            raise ValueError(f"{host!r} is not a valid international host name") from None
    labels = text.split(".")
    if len(text) > 253 or not all(
        label and len(label) <= 63 and all(c.isalnum() or c in "-_" for c in label) for label in labels
    ):
        raise ValueError(f"{host!r} is not a host name")
    return text


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


def host_problem(host: str, allow: AllowList, *, resolve_timeout_s: float = 3.0) -> str | None:
    """Why a download from `host` must be refused in remote-only mode, or None when it is public.

    The host is judged as `canonical_host` spells it (what yt-dlp will connect to). A name that does
    not resolve is not refused here: the download then fails on its own, with a recorded reason, and
    the egress guard checks every connection it opens.
    """
    try:
        host = canonical_host(host)
    except ValueError as exc:
        return f"not a usable host name ({exc})"
    if allow.allows_host(host):
        return None
    try:
        addresses = [str(ipaddress.ip_address(host))]
    except ValueError:
        try:
            addresses = resolve_host(host, resolve_timeout_s)
        except (OSError, ResolverUnavailable, UnicodeError):
            return None
    refused = first_refused_address(addresses, allow)
    if refused is None:
        return None
    address, problem = refused
    return problem if str(address) == host else f"{problem} ({address})"


def first_refused_address(addresses: Iterable[str], allow: AllowList) -> tuple[IpAddress, str] | None:
    """The first of `addresses` that is not public and not allowed, with the reason; None if none is."""
    for text in addresses:
        address = ipaddress.ip_address(text.split("%", 1)[0])  # drop an IPv6 zone id
        problem = address_problem(address)
        if problem and not allow.allows_address(address):
            return address, problem
    return None


def local_path_problem(path: Path, roots: tuple[str, ...] | list[str]) -> str | None:
    """Why the local file `path` may not be read, or None; links and `..` are resolved first."""
    if not roots:
        return None
    resolved = path.expanduser().resolve()
    for root in roots:
        if resolved.is_relative_to(Path(root).expanduser().resolve()):
            return None
    return "local file is outside the allowed input folders (WANDR_LOCAL_INPUT_ROOTS)"
