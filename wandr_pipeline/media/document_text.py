"""One clean text per video: speech and on-screen captions merged in time order.

Downstream extraction (places, prices, addresses) reads one text instead of two tables. Captions spell
the names that speech recognition mishears, and speech carries the sentences around them, so both
go in, ordered by when they start. A caption whose words were all spoken anyway adds nothing and is
left out; a caption shown twice appears once.

OCR engines sometimes glue words together ("BESTPASTELDENATA") when the word gaps are tight, and
at that point the pixels do not separate words from letters either. The video's own words can:
`split_glued_words` splits a long token only when it is exactly a run of words that the video uses
elsewhere (its speech, title, description, hashtags, other captions), preferring the fewest words.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from wandr_pipeline.media.captions import fold, tidy_line

_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_TOKEN = re.compile(r"\S+")
_END = re.compile(r"[.!?…:;。！？]$")
_DANGLING = re.compile(r"[\s,，、\-–—]+$")  # a caption ending in a comma gets a full stop, not ",."


@dataclass(frozen=True)
class TimedText:
    start_s: float
    end_s: float
    text: str
    kind: str  # "speech" | "caption"


def vocabulary(texts: Iterable[str | None], *, min_len: int = 2) -> set[str]:
    """Folded words (accent- and case-free) of `texts`."""
    words: set[str] = set()
    for text in texts:
        for word in _WORD.findall(text or ""):
            key = fold(word)
            if len(key) >= min_len:
                words.add(key)
    return words


def _segment(key: str, vocab: set[str], max_word: int) -> list[str] | None:
    """Fewest-words split of `key` into vocabulary words (dynamic programming), or None."""
    best: list[list[str] | None] = [None] * (len(key) + 1)
    best[0] = []
    for end in range(1, len(key) + 1):
        for start in range(max(0, end - max_word), end):
            head = best[start]
            if head is None or key[start:end] not in vocab:
                continue
            if best[end] is None or len(head) + 1 < len(best[end]):
                best[end] = head + [key[start:end]]
    return best[len(key)]


def _no_spaces(char: str) -> bool:
    """A character of a script written without spaces between words (Chinese, Japanese) or of Hangul:
    splitting its runs at other words of the video would cut words, not restore breaks."""
    name = unicodedata.name(char, "")
    return name.startswith(("CJK", "HIRAGANA", "KATAKANA", "HANGUL", "THAI", "IDEOGRAPHIC"))


def split_glued_words(text: str, vocab: set[str], *, min_token: int = 8) -> str:
    """Insert spaces into long tokens that are exactly a run of known words ('BESTPASTELDENATA').

    Only tokens in capitals, where OCR glues words (tight letter spacing), or whose parts are all at
    least 3 letters long: a correct lower-case word must not be cut at a mis-heard word of the
    transcript ('del miércoles' -> 'del mi ércoles' when the speech came out as "mi ercoles")."""
    if not vocab:
        return text
    max_word = max(len(w) for w in vocab)

    def fix(match: re.Match) -> str:
        token = match.group(0)
        letters = "".join(c for c in token if c.isalnum())
        key = fold(letters)
        if len(key) < min_token or key in vocab or len(key) != len(letters) or not letters.isalpha():
            return token
        if any(_no_spaces(c) for c in letters):
            return token
        parts = _segment(key, vocab, max_word)
        if not parts or len(parts) < 2:
            return token
        if not letters.isupper() and min(len(p) for p in parts) < 3:
            return token
        # cut the original token (its case and accents) at the same letter counts
        out = []
        chars = [c for c in token]
        position = 0
        for part in parts:
            piece = []
            taken = 0
            while position < len(chars) and taken < len(part):
                piece.append(chars[position])
                if chars[position].isalnum():
                    taken += len(fold(chars[position])) or 1
                position += 1
            out.append("".join(piece))
        out[-1] += "".join(chars[position:])
        return " ".join(out)

    return _TOKEN.sub(fix, text)


def merge_speech_and_captions(segments: Sequence[TimedText], captions: Sequence[TimedText]) -> str:
    """Speech segments and caption lines in start-time order, one per line; redundant captions left out."""
    spoken_words = vocabulary(s.text for s in segments)
    events: list[TimedText] = list(segments)
    seen: set[str] = set()
    for caption in captions:
        text = tidy_line(caption.text)
        key = fold(text)
        if len(key) < 2 or key in seen:
            continue
        seen.add(key)
        words = [fold(w) for w in _WORD.findall(text) if len(fold(w)) > 1]
        if words and all(w in spoken_words for w in words):
            continue  # every word of it was said: nothing new
        events.append(TimedText(caption.start_s, caption.end_s, text, "caption"))
    events.sort(key=lambda e: (e.start_s, 0 if e.kind == "caption" else 1))
    lines = []
    for event in events:
        text = tidy_line(event.text)
        if not text:
            continue
        if event.kind == "caption" and not _END.search(text):
            text = _DANGLING.sub("", text)
            text += "。" if text and _no_spaces(text[-1]) else "."
        lines.append(unicodedata.normalize("NFC", text))
    return "\n".join(lines)
