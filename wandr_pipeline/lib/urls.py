"""Video URL canonicalisation and partition keys, without touching the network.

A key is `tiktok-<numeric id>`, `instagram-<shortcode>` or `url-<16 hex of sha256(normalised URL)>`.
Keys use only `[A-Za-z0-9_-]`, so they are safe as Dagster partition keys and as path segments.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

KEY_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
# Longer lines are refused: no platform link comes close, and browsers stop near here too.
MAX_URL_LENGTH = 4096

# Query parameters that only track where a link was shared from; they never select a different video.
_TRACKING_PARAMS = {
    "_r",
    "_t",
    "checksum",
    "fbclid",
    "gclid",
    "igsh",
    "igshid",
    "is_copy_url",
    "is_from_webapp",
    "lang",
    "mibextid",
    "refer",
    "referer",
    "sec_uid",
    "sender_device",
    "sender_web_id",
    "share_app_id",
    "share_author_id",
    "share_item_id",
    "share_link_id",
    "share_region",
    "share_scene",
    "sharer_language",
    "si",
    "social_sharing",
    "source",
    "timestamp",
    "tt_from",
    "u_code",
    "user_id",
    "utm_campaign",
    "utm_content",
    "utm_medium",
    "utm_source",
    "utm_term",
    "web_id",
}
_TRACKING_PREFIXES = ("utm_", "share_")

_TIKTOK_HOSTS = {"tiktok.com", "m.tiktok.com", "www.tiktok.com"}
_TIKTOK_SHORT_HOSTS = {"vm.tiktok.com", "vt.tiktok.com"}
_TIKTOK_ID_PATHS = [
    re.compile(r"^/@[^/]+/(?:video|photo)/(\d{5,25})$"),
    re.compile(r"^/v/(\d{5,25})(?:\.html)?$"),
    re.compile(r"^/embed(?:/v2)?/(\d{5,25})$"),
    re.compile(r"^/player/v1/(\d{5,25})$"),
    re.compile(r"^/video/(\d{5,25})$"),
]
_INSTAGRAM_HOSTS = {"instagram.com", "www.instagram.com", "m.instagram.com", "instagr.am", "www.instagr.am"}
_INSTAGRAM_PATH = re.compile(r"^(?:/[A-Za-z0-9_.]+)?/(?:reels?|p|tv)/([A-Za-z0-9_-]{5,64})$")


class InvalidVideoUrl(ValueError):
    """The text is not something the pipeline can download (bad scheme, no host, ...)."""


@dataclass(frozen=True)
class VideoRef:
    """A submitted video: what the user wrote, what we download, and its partition key."""

    source_url: str
    download_url: str
    video_key: str
    platform: str  # tiktok | instagram | web | gcs | file


def _strip_host(host: str) -> str:
    host = host.lower().rstrip(".")
    if host.startswith("www."):
        return host[4:]
    if host.startswith("m."):
        return host[2:]
    return host


def _clean_query(query: str) -> str:
    kept = [
        (k, v)
        for k, v in parse_qsl(query, keep_blank_values=True)
        if k.lower() not in _TRACKING_PARAMS and not k.lower().startswith(_TRACKING_PREFIXES)
    ]
    return urlencode(sorted(kept))


def normalise_url(url: str) -> str:
    """Lower-case scheme and host, drop `www.`/`m.`, fragment, tracking parameters and trailing slash."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    if scheme in ("http", "https"):
        host = _strip_host(parts.hostname or "")
        if parts.port and parts.port not in (80, 443):
            host = f"{host}:{parts.port}"
        path = re.sub(r"/{2,}", "/", parts.path).rstrip("/") or "/"
        return urlunsplit(("https", host, path, _clean_query(parts.query), ""))
    return url.strip()


def _hash_key(normalised: str) -> str:
    return "url-" + hashlib.sha256(normalised.encode("utf-8")).hexdigest()[:16]


def parse_video_url(text: str, *, base_dir: Path | None = None) -> VideoRef:
    """Turn one submitted line (URL or local path) into a `VideoRef`.

    Relative local paths are resolved against `base_dir` (the URL list's folder) or the working dir.
    Raises `InvalidVideoUrl` with a readable reason for anything that cannot be a video source.
    """
    raw = text.strip()
    if not raw:
        raise InvalidVideoUrl("empty line")
    if "\x00" in raw:
        raise InvalidVideoUrl("contains a NUL byte (a UTF-16 file without its byte-order mark?)")
    if any(ch.isspace() for ch in raw):
        raise InvalidVideoUrl("contains whitespace; expected one URL per line")
    if any(unicodedata.category(ch) == "Cc" for ch in raw):
        raise InvalidVideoUrl("contains control characters")
    if len(raw) > MAX_URL_LENGTH:
        raise InvalidVideoUrl(f"{len(raw)} characters long, over the {MAX_URL_LENGTH}-character limit for a URL")
    parts = _split(raw)
    scheme = parts.scheme.lower()

    if scheme in ("http", "https"):
        if not parts.hostname:
            raise InvalidVideoUrl("URL has no host")
        try:
            port = parts.port  # raises on a port that is not a number in 0-65535
        except ValueError:
            port = 0
        if port == 0:
            raise InvalidVideoUrl("URL has an invalid port (not a number from 1 to 65535)")
        if "@" in parts.netloc:
            raise InvalidVideoUrl(
                "URLs with a user name or password are not accepted (they would be logged "
                "and stored); use a cookies file (YTDLP_COOKIES_FILE) for logins"
            )
        host = parts.hostname.lower().rstrip(".")
        path = re.sub(r"/{2,}", "/", parts.path).rstrip("/")
        if host in _TIKTOK_HOSTS:
            for pattern in _TIKTOK_ID_PATHS:
                match = pattern.match(path)
                if match:
                    video_id = match.group(1)
                    download = urlunsplit(("https", "www.tiktok.com", path, "", ""))
                    return VideoRef(raw, download, f"tiktok-{video_id}", "tiktok")
        if host in _INSTAGRAM_HOSTS:
            match = _INSTAGRAM_PATH.match(path)
            if match:
                shortcode = match.group(1)
                download = f"https://www.instagram.com/reel/{shortcode}/"
                return VideoRef(raw, download, f"instagram-{shortcode}", "instagram")
        normalised = normalise_url(raw)
        platform = (
            "tiktok"
            if host in _TIKTOK_HOSTS | _TIKTOK_SHORT_HOSTS
            else ("instagram" if host in _INSTAGRAM_HOSTS else "web")
        )
        # Keep the caller's host spelling for the download (a loopback test server has no "www.").
        download = urlunsplit((scheme, parts.netloc, parts.path, parts.query, ""))
        return VideoRef(raw, download, _hash_key(normalised), platform)

    if scheme == "gs":
        if not parts.netloc or not parts.path.strip("/"):
            raise InvalidVideoUrl("gs:// URL needs a bucket and an object name")
        return VideoRef(raw, raw, _hash_key(raw), "gcs")

    if scheme in ("file", ""):
        path_text = unquote(parts.path) if scheme == "file" else raw
        if "\x00" in path_text:
            raise InvalidVideoUrl("contains a NUL byte (a UTF-16 file without its byte-order mark?)")
        try:
            path = Path(path_text).expanduser()
            if not path.is_absolute():
                path = (base_dir or Path.cwd()) / path
            resolved = path.resolve()
            is_file = resolved.is_file()
        except (OSError, RuntimeError, ValueError) as exc:  # name too long, symlink loop, unknown ~user
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise InvalidVideoUrl(f"not a URL, and not a usable local path ({reason})") from None
        if not is_file:
            raise InvalidVideoUrl(f"not a URL, and no such local file: {raw}")
        uri = resolved.as_uri()
        return VideoRef(raw, uri, _hash_key(uri), "file")

    raise InvalidVideoUrl(f"unsupported scheme '{scheme}:' (use http, https, gs or a local path)")


def _split(raw: str):
    """`urlsplit` with its ValueErrors (bad IPv6 brackets, hosts that NFKC-normalise to `/`) as reasons."""
    try:
        return urlsplit(raw)
    except ValueError as exc:
        message = str(exc)
        if "NFKC" in message:
            message = "its host has characters that turn into URL delimiters under Unicode normalisation (NFKC)"
        elif "IPv6" in message:
            message = "an IPv6 address with unbalanced brackets"
        raise InvalidVideoUrl(f"not a valid URL: {message}") from None


def is_valid_key(key: str) -> bool:
    """True when `key` is safe as a partition key and a single path segment."""
    return bool(KEY_PATTERN.match(key)) and key not in (".", "..")
