"""Checks on a submitted URL before anything is recorded: pure functions, no Flask, no Dagster.

A URL is accepted when it is http(s), has a host, carries no user:password, and every address its
host resolves to is a public one (or lies in the configured allow-list). The address check stops the
obvious server-side request forgery (a job that fetches the metadata server, a database on the LAN,
the API itself); it is a first line only: yt-dlp resolves the name again at download time and follows
redirects, which the downloader's remote-only mode guards (`engines/egress.py`, docs/API.md).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from wandr_pipeline.lib.network_policy import (  # noqa: F401 - re-exported for the API's callers
    AllowList,
    ResolverUnavailable,
    address_problem,
    canonical_host,
    first_refused_address,
    resolve_host,
)
from wandr_pipeline.lib.text import describe_character, hidden_character
from wandr_pipeline.lib.urls import InvalidVideoUrl, VideoRef, parse_video_url
from wandr_pipeline.settings import Settings

# host -> addresses; raises `socket.gaierror` (or OSError) when the name does not resolve.
Resolver = Callable[[str], Sequence[str]]

MAX_URL_LENGTH = 2048


class UrlRejected(ValueError):
    """The submitted URL is refused; the message says why, in words fit for the client."""


@dataclass(frozen=True)
class UrlPolicy:
    allow: AllowList = AllowList()
    # A host name that does not resolve now (or not in time): accepted, the download then fails
    # with a recorded reason, unless `reject_unresolved` is set. Refusing it would gain little: a
    # name can resolve to anything later on.
    reject_unresolved: bool = False
    resolve_timeout_s: float = 3.0

    @classmethod
    def from_settings(cls, settings: Settings) -> UrlPolicy:
        return cls(
            allow=AllowList.parse(settings.api_allowed_networks),
            # Remote-only: a name that cannot be judged now is not let through to be judged later.
            reject_unresolved=settings.api_reject_unresolved or settings.remote_only,
            resolve_timeout_s=settings.api_resolve_timeout_s,
        )


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
    hidden = hidden_character(url)
    if hidden is not None:
        position, ch = hidden
        if 0xD800 <= ord(ch) <= 0xDFFF:
            # JSON's "\ud800" escape: a string no UTF-8 (and so no HTTP request, no log) can carry.
            raise UrlRejected(
                f"'url' is not valid Unicode: a lone surrogate ({describe_character(ch)}) at position {position}"
            )
        # Controls, and the invisible ones that reorder or hide what a reader sees (U+202E shows
        # `…/4pm.exe` as `…/exe.mp4`): no real link needs them raw; percent-encoded they are fine.
        raise UrlRejected(
            f"'url' contains whitespace or control characters ({describe_character(ch)} at position {position})"
        )
    if any(ch.isspace() for ch in url):
        raise UrlRejected("'url' contains whitespace or control characters (a space)")
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
    if not (parts.hostname or "").rstrip("."):
        raise UrlRejected("the URL has no host")
    try:
        # What yt-dlp will connect to: percent-decoded, NFKC, IDNA, lower-case, no trailing dot.
        host = canonical_host(parts.hostname or "")
    except ValueError as exc:
        raise UrlRejected(f"the URL's host is not usable: {exc}") from None
    if port == 0:
        raise UrlRejected("port 0 is not a valid port")
    try:
        ref = parse_video_url(url)
    except InvalidVideoUrl as exc:
        raise UrlRejected(str(exc)) from None

    if policy.allow.allows_host(host):
        return ref
    try:
        literal = ipaddress.ip_address(host)
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
    refused = first_refused_address(addresses, policy.allow)
    if refused is not None:
        address, problem = refused
        shown = host if literal is not None else f"{host} ({address})"
        raise UrlRejected(f"refusing to fetch {shown}: {problem} (allow it with WANDR_API_ALLOWED_NETWORKS)")
    return ref
