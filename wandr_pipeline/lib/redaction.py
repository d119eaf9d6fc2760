"""Keeping credentials out of logs, tables and Dagster metadata.

A URL may carry a password (`https://user:pw@host/...`) or a signed query string (`?token=...`,
`X-Goog-Signature=...`); a cookies file holds session cookies. `redact_url` rewrites a URL for
display, and a `Redactor` replaces the known secret strings wherever they show up in a message
(yt-dlp quotes URLs in its errors and debug lines).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import parse_qsl, quote, unquote, urlsplit, urlunsplit

REDACTED = "REDACTED"
# Query parameters whose values are credentials (matched case-insensitively; prefixes end with "-").
SENSITIVE_PARAMS = {
    "access_token",
    "api_key",
    "apikey",
    "auth",
    "authorization",
    "code",
    "credential",
    "key",
    "password",
    "pass",
    "passwd",
    "secret",
    "session",
    "sessionid",
    "sig",
    "signature",
    "token",
}
SENSITIVE_PREFIXES = ("x-goog-", "x-amz-", "x-ms-")
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s@:]*(?::[^/\s@]*)?@")
_MIN_SECRET_LENGTH = 4  # shorter values would blank out ordinary words


def _sensitive(name: str) -> bool:
    name = name.lower()
    return name in SENSITIVE_PARAMS or name.startswith(SENSITIVE_PREFIXES)


def redact_url(url: str) -> str:
    """`url` without its user name and password and with credential-like query values replaced."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return _USERINFO.sub(r"\1", url)
    netloc = parts.netloc.rsplit("@", 1)[-1] if "@" in parts.netloc else parts.netloc
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        if any(_sensitive(k) for k, _ in pairs):
            query = "&".join(
                f"{quote(k, safe='')}={REDACTED if _sensitive(k) else quote(v, safe='')}" for k, v in pairs
            )
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def url_secrets(url: str) -> list[str]:
    """The secret strings a URL carries: its password and credential-like query values."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return []
    found = [parts.password, parts.username if parts.password else None]
    found += [value for key, value in parse_qsl(parts.query, keep_blank_values=True) if _sensitive(key)]
    secrets = set()
    for value in found:
        if value and len(value) >= _MIN_SECRET_LENGTH:
            secrets.update({value, quote(value, safe=""), unquote(value)})
    return sorted(secrets)


def cookie_secrets(path: str | Path | None) -> list[str]:
    """The cookie values of a Netscape cookies file (the 7th tab-separated field of each line)."""
    if not path:
        return []
    try:
        text = Path(path).read_text(errors="replace")
    except OSError:
        return []
    values = []
    for line in text.splitlines():
        if line.startswith("#") and not line.startswith("#HttpOnly_"):
            continue
        fields = line.split("\t")
        if len(fields) >= 7 and len(fields[6].strip()) >= _MIN_SECRET_LENGTH:
            values.append(fields[6].strip())
    return values


class Redactor:
    """Replaces known secrets (and any `scheme://user:password@`) in free text."""

    def __init__(self, secrets: Iterable[str] = ()):
        self.secrets = sorted({s for s in secrets if s and len(s) >= _MIN_SECRET_LENGTH}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        return _USERINFO.sub(r"\1", text)
