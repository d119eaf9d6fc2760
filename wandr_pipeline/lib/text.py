"""Text from the internet (post titles, descriptions, tags) made safe to store: whatever a platform or
an undecodable byte sends, a Parquet string column and the readers after it get valid, printable UTF-8."""

from __future__ import annotations

import re
import unicodedata
from typing import Any

_SURROGATE = re.compile("[\ud800-\udfff]")


def sanitize_text(value: Any) -> str | None:
    """Valid UTF-8 (lone surrogates from undecodable bytes become U+FFFD), no NUL or other control
    characters except tab and newline, NFC-normalised, stripped; None when nothing is left."""
    if not isinstance(value, str):
        return None if value is None else sanitize_text(str(value))
    value = _SURROGATE.sub("\ufffd", value)
    value = "".join(ch for ch in value if ch in "\t\n" or unicodedata.category(ch) != "Cc")
    return unicodedata.normalize("NFC", value).strip() or None


# Characters that change how a line reads without being seen: C0/C1 controls, format characters
# (the bidirectional overrides and isolates U+202A-202E, U+2066-2069, zero-width joiners, the BOM),
# lone surrogates and the line/paragraph separators.
_HIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})


def hidden_character(text: str) -> tuple[int, str] | None:
    """The first control, format (bidirectional, zero-width) or surrogate character of `text` and its
    position, or None: what a log line or a URL must not carry unseen."""
    for position, ch in enumerate(text):
        if unicodedata.category(ch) in _HIDDEN_CATEGORIES:
            return position, ch
    return None


def describe_character(ch: str) -> str:
    """`U+202E RIGHT-TO-LEFT OVERRIDE`: how a refusal names a character it cannot show."""
    category = unicodedata.category(ch)
    name = unicodedata.name(ch, "") or {"Cc": "control character", "Cs": "lone surrogate"}.get(category, "")
    return f"U+{ord(ch):04X} {name}".rstrip()


def escape_hidden(text: str, keep_newlines: bool = False) -> str:
    """`text` with every hidden character written as an escape (`\\u202e`, `\\x1b`, `\\n`), so a
    log line shows what was sent instead of being reversed, recoloured or split by it."""
    if hidden_character(text) is None:
        return text
    out = []
    for ch in text:
        if keep_newlines and ch == "\n":
            out.append(ch)
        elif unicodedata.category(ch) in _HIDDEN_CATEGORIES:
            out.append(ch.encode("unicode_escape", errors="backslashreplace").decode("ascii"))
        else:
            out.append(ch)
    return "".join(out)
