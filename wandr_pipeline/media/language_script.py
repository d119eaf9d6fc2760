"""Which writing system a line is in, and which one a spoken language is written in.

Caption hints only help Whisper when the model can read them in the language it is speaking: Chinese
captions shown to a decoder of English speech (or English captions to one of Mandarin) are noise
that it may copy into the transcript. Whisper's language detection works on the audio alone, so the
detected language decides which caption lines stay hints. Script is what can be told offline and
reliably from a caption line; two languages of one script (English captions over Spanish speech)
are not told apart.
"""

from __future__ import annotations

import unicodedata

LATIN = "Latin"
# Whisper language code -> the script it is written in (languages not listed are written in Latin)
LANGUAGE_SCRIPTS: dict[str, str] = {
    **dict.fromkeys(("zh", "yue"), "Han"),
    "ja": "Japanese",
    "ko": "Hangul",
    **dict.fromkeys(("ru", "uk", "be", "bg", "mk", "sr", "kk", "tt", "ba", "mn", "tg"), "Cyrillic"),
    "el": "Greek",
    **dict.fromkeys(("ar", "fa", "ur", "ps", "sd"), "Arabic"),
    **dict.fromkeys(("he", "yi"), "Hebrew"),
    **dict.fromkeys(("hi", "mr", "ne", "sa"), "Devanagari"),
    "bn": "Bengali",
    "as": "Bengali",
    "ta": "Tamil",
    "te": "Telugu",
    "kn": "Kannada",
    "ml": "Malayalam",
    "gu": "Gujarati",
    "pa": "Gurmukhi",
    "si": "Sinhala",
    "th": "Thai",
    "lo": "Lao",
    "km": "Khmer",
    "my": "Myanmar",
    "ka": "Georgian",
    "hy": "Armenian",
    "am": "Ethiopic",
    "bo": "Tibetan",
}
# Unicode character-name prefixes -> script; Japanese is written in kana and Han together
_NAME_SCRIPTS = (
    ("CJK", "Han"),
    ("HIRAGANA", "Japanese"),
    ("KATAKANA", "Japanese"),
    ("HALFWIDTH KATAKANA", "Japanese"),
    ("HANGUL", "Hangul"),
    ("FULLWIDTH LATIN", LATIN),
    ("LATIN", LATIN),
    *((name.upper(), name) for name in set(LANGUAGE_SCRIPTS.values()) - {"Han", "Japanese", "Hangul"}),
)


def language_script(language: str | None) -> str:
    """The script a Whisper language code is written in (Latin for every language not listed)."""
    return LANGUAGE_SCRIPTS.get((language or "").lower(), LATIN)


def char_script(char: str) -> str | None:
    """The script of one letter, from its Unicode name; None for a letter of a script not listed."""
    name = unicodedata.name(char, "")
    return next((script for prefix, script in _NAME_SCRIPTS if name.startswith(prefix)), None)


def text_script(text: str) -> str | None:
    """The script most of the text's letters are in (None: no letters)."""
    counts: dict[str | None, int] = {}
    for char in text:
        if char.isalpha():
            script = char_script(char)
            counts[script] = counts.get(script, 0) + 1
    return max(counts, key=counts.get) if counts else None


def readable_in(text: str, language: str | None) -> bool:
    """True when the line is written in the script of `language` (Han lines count for Japanese too)."""
    script, wanted = text_script(text), language_script(language)
    return script == wanted or (wanted == "Japanese" and script == "Han")


def written_in(text: str, language: str | None) -> bool:
    """False only when `text` has letters and most are not in `language`'s script (a transcript decoded
    "in zh" that came out in English words was not Mandarin)."""
    return text_script(text) is None or readable_in(text, language)


def hints_for_language(hints: str, language: str | None, *, separator: str = ", ") -> str:
    """The hint lines (joined by `separator`) written in the script of `language`, in their order."""
    return separator.join(line for line in hints.split(separator) if line.strip() and readable_in(line, language))
