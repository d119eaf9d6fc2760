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
