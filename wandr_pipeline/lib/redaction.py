"""Keeping credentials out of logs, tables and Dagster metadata.

A URL may carry a password (`https://user:pw@host/...`), a one-time code (`?otp=...`, `?passcode=...`)
or a signed query string (`?token=...`, `X-Goog-Signature=...`, an Azure SAS's `sig`/`se`/`sp`, an
Instagram CDN's `oh`/`oe`); a cookies file holds session cookies. `redact_url` rewrites a URL for
display, and a `Redactor` replaces the known secret strings wherever they show up in a message
(yt-dlp quotes URLs in its errors and debug lines).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import parse_qsl, quote, unquote, urlsplit, urlunsplit

REDACTED = "REDACTED"
# One rule for every query parameter, header-like `name=value` and metadata key: a name is a credential
# when, lower-cased with everything but letters and digits removed (`X-Amz-Signature` -> `xamzsignature`,
# `access-token` -> `accesstoken`), it contains one of these words...
SENSITIVE_WORDS = (
    "token",
    "secret",
    "key",
    "sig",  # sig, signature, x-signature, wmsAuthSign's "sign" below
    "sign",
    "auth",
    "password",
    "passwd",
    "jwt",
    "credential",
    "session",
    "cookie",
    "hdnts",  # Akamai token auth
    "hdnea",
    "gda",  # Akamai __gda__
    "policy",  # CloudFront signed URLs (Policy, Signature, Key-Pair-Id)
    "xamz",  # S3 pre-signed URLs (X-Amz-*)
    "xgoog",  # GCS signed URLs (X-Goog-*)
    "xms",  # Azure SAS headers
    "ossaccess",  # Alibaba OSS
    "bearer",
    "passcode",  # one-time and access codes: passcode, one_time_code, verification_code
    "passphrase",
    "onetime",
    "verificationcode",
    "expire",  # the expiry of a signed URL (expire, x-expires, X-Goog-Expires): part of what was signed
)
# ... or is one of these short names (too short to match inside other words).
SENSITIVE_NAMES = {
    "pass",
    "pw",
    "pwd",
    "code",
    "sid",
    "md5",
    "hmac",
    "e",
    "exp",
    "expires",
    # one-time codes
    "otp",
    "totp",
    "hotp",
    "otpcode",
    "mfa",
    "mfacode",
    "2fa",
    "2facode",
    "pin",
    # Azure SAS (`sas=` carrying a whole SAS; its parts: sv, st, se, sp, sr, ss, srt, spr, sip, si, the
    # user delegation key's sk*; `sig` is among the words)
    "sas",
    "sv",
    "st",
    "se",
    "sp",
    "sr",
    "ss",
    "srt",
    "spr",
    "sip",
    "si",
    "skoid",
    "sktid",
    "skt",
    "ske",
    "sks",
    "skv",
    # CDN signatures: Instagram/Facebook (oh = hash, oe = expiry, _nc_ohc), TikTok (tk), Vimeo and
    # Limelight (h, hash)
    "oh",
    "oe",
    "ncohc",
    "tk",
    "h",
    "hash",
}
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s@:]*(?::[^/\s@]*)?@")
_URL_IN_TEXT = re.compile(r"(?i)\b[a-z][a-z0-9+.-]*://[^\s'\"<>]+")
# `name=value`, `name: value` in free text (headers, yt-dlp debug lines); the value ends at a delimiter.
_PAIR_IN_TEXT = re.compile(r"(?i)(?<![\w%-])(_{0,2}[^\W\d_][\w.-]{0,63})(\s*[=:]\s*)(bearer\s+)?([^\s&;,'\"<>]{4,})")
_MIN_SECRET_LENGTH = 4  # shorter values would blank out ordinary words


def normalise_name(name: str) -> str:
    """`X-Amz-Signature` -> `xamzsignature`: NFKC, case-folded, only letters and digits."""
    return "".join(ch for ch in unicodedata.normalize("NFKC", str(name)).casefold() if ch.isalnum())


# Names that contain one of the words but are ours and hold no secret (`video_key`, Whisper's `tokens`).
NOT_SECRET_NAMES = {
    "videokey",
    "listkey",
    "partitionkey",
    "runkey",
    "keyframe",
    "keyframes",
    "keywords",
    "tokens",
    "tokencount",
    "author",
    "authors",
    "design",
    "signal",
    "assignment",
}


def is_sensitive_name(name: str) -> bool:
    """True when a parameter, header or metadata key of this name holds a credential."""
    normal = normalise_name(name)
    if not normal or normal in NOT_SECRET_NAMES:
        return False
    return normal in SENSITIVE_NAMES or any(word in normal for word in SENSITIVE_WORDS)


_sensitive = is_sensitive_name


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


def redact_text(text: str) -> str:
    """Free text (an error, a log line) with every URL in it redacted, `scheme://user:pw@` removed and
    the values of credential-named `name=value` / `name: value` pairs replaced."""
    if not text:
        return text
    text = _URL_IN_TEXT.sub(lambda m: redact_url(m.group(0)), text)
    text = _USERINFO.sub(r"\1", text)

    def pair(match: re.Match) -> str:
        name, sep, bearer, value = match.groups()
        normal = normalise_name(name)
        if value == REDACTED or normal in _SHORT_ONLY_IN_URLS or value.lower() == "bearer":
            return match.group(0)
        # `name: value` is prose as often as a header ("KeyError: x"): only header names count there.
        if not (is_sensitive_name(name) if "=" in sep else normal in _SECRET_HEADERS):
            return match.group(0)
        return f"{name}{sep}{bearer or ''}{REDACTED}"

    return _PAIR_IN_TEXT.sub(pair, text)


# Short names that are credentials in a query string but ordinary words in prose ("e=3", "st=ok").
_SHORT_ONLY_IN_URLS = {
    "e",
    "st",
    "se",
    "sp",
    "sv",
    "sr",
    "ss",
    "si",
    "sip",
    "exp",
    "expires",
    "code",
    "sid",
    "md5",
    "pin",
    "oh",
    "oe",
    "tk",
    "h",
    "hash",
}
_SECRET_HEADERS = {
    "authorization",
    "proxyauthorization",
    "cookie",
    "setcookie",
    "xapikey",
    "apikey",
    "xauthtoken",
    "xaccesstoken",
    "token",
    "secret",
    "password",
}


def redact_value(key: str, value):
    """One metadata/response value under `key`: a credential-named key hides its value; strings are
    redacted as free text; dicts and lists are walked."""
    if isinstance(value, dict):
        return {k: redact_value(str(k), v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(redact_value(key, v) for v in value)
    if key and is_sensitive_name(key) and value not in (None, "") and not isinstance(value, (bool, int, float)):
        return REDACTED
    if isinstance(value, str):
        return redact_text(value)
    return value


class Redactor:
    """Replaces known secrets (and any `scheme://user:password@`) in free text, then applies
    `redact_text` (the one rule for URLs and `name=value` pairs)."""

    def __init__(self, secrets: Iterable[str] = ()):
        self.secrets = sorted({s for s in secrets if s and len(s) >= _MIN_SECRET_LENGTH}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        return redact_text(text)
