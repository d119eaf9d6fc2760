"""Why a platform would not give us a post, named: a stable kind, a short reason, and whether to retry.

yt-dlp raises one `DownloadError` for everything; what tells a private post from a rate limit is the
exception inside it (`exc_info`): an `ExtractorError` from the site's extractor (its `ie` names the
site, its `cause` may be the page's `HTTPError`), `GeoRestrictedError`, `UnsupportedError`, or the
media request's own `HTTPError` / transport error. The HTTP status and the exception types decide first;
the extractor's own message (`orig_msg`) decides only what the extractors say in words alone (TikTok's
status codes, login walls). The kinds are stored in `videos.error_kind` and listed, with what to do about
each, in docs/INGESTION.md "Refusals"; `KINDS` is that list.

Instagram's "redirected to the login page. You have exceeded the rate-limit for accessing posts
anonymously" is named `login_required`, not retryable: Instagram sends logged-out visitors from an address
that has viewed many posts to its login page for hours, so retrying within a run only adds views to
that count; a cookies file of a logged-in account is what helps (a later run may succeed too, and the
reason says so).
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass

from yt_dlp.networking.exceptions import CertificateVerifyError, HTTPError, ProxyError, TransportError
from yt_dlp.utils import DownloadError, ExtractorError, GeoRestrictedError, UnsupportedError

KINDS: dict[str, str] = {
    "private": "the post or its account is private",
    "removed": "the post (or its file) is gone: removed, hidden, or never existed",
    "login_required": "the platform shows the post only to a logged-in account",
    "age_restricted": "the post is age-restricted",
    "geo_restricted": "the post is not available from this server's country",
    "ip_blocked": "the platform blocks this server's address for the post",
    "rate_limited": "the platform asked us to slow down (HTTP 429); retryable",
    "empty_media_response": "Instagram answered without the post's media",
    "expired_media_url": "the media server refused the signed media URL, also after a fresh extraction",
    "page_forbidden": "the platform refused the post page (HTTP 403): it blocks this client or address",
    "no_video": "the post has no video (an image post)",
    "unsupported_url": "no extractor knows the URL",
    "page_unreadable": "yt-dlp could not read the page (the site changed)",
    "server_error": "the server failed (HTTP 5xx); retryable",
    "timeout": "the server was too slow (a timeout or the download deadline); retryable",
    "network": "the connection failed or dropped; retryable",
    "proxy_failed": "the proxy (YTDLP_PROXY) failed or refused; retryable",
    "tls_untrusted": "the server's TLS certificate is not trusted",
    "address_refused": "remote-only downloads refused the address",
    "source_refused": "the configuration refuses this source (local files, paths)",
    "cookies_refused": "the cookies file cannot be read or is over YTDLP_COOKIES_MAX_MB",
    "too_long": "over WANDR_MAX_VIDEO_DURATION_S",
    "too_large": "over WANDR_MAX_VIDEO_MB",
    "not_media": "what came back is not audio or video (an HTML page, a PDF, an empty file)",
    "other": "any other failure; `error` says what",
}

_COOKIES = "YTDLP_COOKIES_FILE"
_TIKTOK_STATUS = re.compile(r"status code (\d+)")
_SITE = re.compile(r"\[(\w+)\] ")


@dataclass(frozen=True)
class Refusal:
    kind: str
    reason: str | None  # None: yt-dlp's own words say it best (the caller's cleaned message)
    transient: bool = False


def _inner(exc: BaseException) -> BaseException:
    if isinstance(exc, DownloadError) and exc.exc_info and exc.exc_info[1] is not None:
        return exc.exc_info[1]
    return exc


def _chain(exc: BaseException):
    seen: set[int] = set()
    pending = [exc]
    while pending:
        error = pending.pop(0)
        if error is None or id(error) in seen:
            continue
        seen.add(id(error))
        yield error
        pending += [getattr(error, "cause", None), error.__cause__, error.__context__]


def name_refusal(exc: BaseException, *, on_page: bool, retry_after_s: float | None = None) -> Refusal | None:
    """The refusal behind a yt-dlp error, or None when it is not one this module names.

    `on_page`: the error came before the media download began (the extractor's requests). yt-dlp
    hands an extractor's network error on as the bare `HTTPError`, so the phase is told by the caller
    (`GuardedYoutubeDL.downloading`), and the site by the error's `[Site]` prefix."""
    inner = _inner(exc)
    named_site = getattr(inner, "ie", None) or _SITE.match(str(exc).removeprefix("ERROR: "))
    if isinstance(named_site, re.Match):
        named_site = named_site.group(1)
    site = (named_site or "the site") if on_page else "the media server"
    if site == "generic":
        site = "the server"
    text = str(getattr(inner, "orig_msg", None) or inner)
    errors = list(_chain(inner))
    http = next((e for e in errors if isinstance(e, HTTPError)), None)

    if isinstance(inner, GeoRestrictedError):
        where = "a proxy elsewhere: YTDLP_PROXY"
        return Refusal("geo_restricted", f"{site}: the post is not available from this server's country ({where})")
    if isinstance(inner, UnsupportedError):
        return Refusal("unsupported_url", None)  # "Unsupported URL: <the URL, redacted>"
    if isinstance(inner, ExtractorError) and http is None:
        named = _extractor_refusal(site, text)
        if named is not None:
            return named
    if http is not None:
        refusal = _http_refusal(site, http.status, on_page, retry_after_s)
        # a plain web server (the generic extractor, a direct media URL): yt-dlp's "HTTP Error 404: Not Found" says it
        plain = on_page and named_site in ("generic", None)
        return dataclasses.replace(refusal, reason=None) if plain else refusal
    if any(isinstance(e, CertificateVerifyError) for e in errors):
        return Refusal(
            "tls_untrusted",
            f"{site}'s TLS certificate is not trusted (a proxy that re-signs TLS needs YTDLP_CA_BUNDLE)",
        )
    if any(isinstance(e, ProxyError) for e in errors):
        return Refusal("proxy_failed", "the proxy (YTDLP_PROXY) failed or refused the connection", transient=True)
    if any(isinstance(e, TimeoutError) for e in errors) or re.search(r"timed out", text, re.I):
        return Refusal("timeout", None, transient=True)
    if any(isinstance(e, (TransportError, ConnectionError)) for e in errors):
        return Refusal("network", None, transient=True)
    if isinstance(inner, ExtractorError) and not inner.expected:
        return Refusal("page_unreadable", None)
    return None


def _extractor_refusal(site: str, text: str) -> Refusal | None:
    """What the extractors say in words only (no HTTP status tells these apart)."""
    lowered = text.casefold()
    if "ip address is blocked" in lowered:
        return Refusal(
            "ip_blocked",
            f"{site} blocks this server's IP address for this post (another network may reach it: YTDLP_PROXY)",
        )
    if "redirected to the login page" in lowered:
        return Refusal(
            "login_required",
            f"{site} sent the request to its login page: its limit on posts viewed without an account from this "
            f"address was reached ({_COOKIES} of a logged-in account; or a run some hours later)",
        )
    if "comfortable for some audiences" in lowered or "restricted video" in lowered or "years old" in lowered:
        return Refusal("age_restricted", f"{site}: the post is age-restricted ({_COOKIES} of an adult account)")
    if (
        "do not have permission to view this post" in lowered
        or "registered users who follow" in lowered
        or "account is private" in lowered
    ):
        return Refusal("private", f"{site}: the post is private ({_COOKIES} of an account that follows its author)")
    if "empty media response" in lowered:
        return Refusal(
            "empty_media_response",
            f"{site} sent an empty media response: the post is not visible logged out, or {site} changed what "
            f"it sends ({_COOKIES}; a newer yt-dlp)",
        )
    if "requiring login" in lowered or "login required" in lowered or "log in for access" in lowered:
        return Refusal("login_required", f"{site} shows this post only to a logged-in account ({_COOKIES})")
    if "video not available" in lowered:
        status = _TIKTOK_STATUS.search(text)
        code = f", status {status.group(1)}" if status else ""
        return Refusal("removed", f"{site}: the post is not available (removed or hidden by its author{code})")
    if "there is no video in this post" in lowered:
        return Refusal("no_video", f"{site}: the post has no video (an image post)")
    return None


def _http_refusal(site: str, status: int, on_page: bool, retry_after_s: float | None) -> Refusal:
    what = "the post page" if on_page else "the media URL"
    if status == 429:
        asked = f", asked to wait {retry_after_s:g} s" if retry_after_s is not None else ""
        return Refusal("rate_limited", f"{site} is rate-limiting requests (HTTP 429{asked})", transient=True)
    if status in (404, 410):
        return Refusal("removed", f"{site}: {what} is gone (HTTP {status}: removed, or never existed)")
    if status == 401:
        return Refusal("login_required", f"{site} asks to log in (HTTP 401; {_COOKIES})")
    if status == 403 and on_page:
        return Refusal(
            "page_forbidden",
            f"{site} refused the post page (HTTP 403): it blocks this client or this address "
            "(another network may help: YTDLP_PROXY; keep YTDLP_IMPERSONATE on)",
        )
    if status == 403:
        return Refusal(
            "expired_media_url",
            "the media server refused the media URL (HTTP 403): its signature expired or is tied to another client",
        )
    if status >= 500:
        return Refusal("server_error", f"{site} failed (HTTP {status})", transient=True)
    return Refusal("other", f"{site} answered {what} with HTTP {status}")
