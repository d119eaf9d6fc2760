"""Turning OCR lines into the distinct on-screen text of a video."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

from wandr_pipeline.media.captions import fold

_SPACES = re.compile(r"\s+")


def normalise_line(text: str) -> str:
    """Collapse whitespace, compose accents (NFC). Not NFKC: that writes "™" as "TM" and "²" as "2"."""
    return _SPACES.sub(" ", unicodedata.normalize("NFC", text)).strip()


def comparison_key(text: str) -> str:
    """Case-, accent- and punctuation-insensitive form for deduplication, in any script (`captions.fold`)."""
    return fold(text)


def distinct_lines(lines: Iterable[str], *, min_chars: int = 2) -> list[str]:
    """The distinct lines in first-seen order, keeping the first spelling of each."""
    seen: set[str] = set()
    result: list[str] = []
    for line in lines:
        clean = normalise_line(line)
        key = comparison_key(clean)
        if len(key) < min_chars or key in seen:
            continue
        seen.add(key)
        result.append(clean)
    return result
