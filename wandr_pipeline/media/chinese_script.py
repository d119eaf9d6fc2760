"""Chinese transcripts in one script: Whisper writes Mandarin in simplified or traditional characters as it
happens to (the multilingual `base` mostly picks traditional, even for mainland speech), so the
transcript follows `WHISPER_CHINESE_SCRIPT` instead, converted with OpenCC (its phrase dictionaries ship
in the `opencc` wheel; nothing is fetched).
"""

from __future__ import annotations

from functools import cache

SCRIPTS = ("simplified", "traditional", "as-is")
# Whisper's language codes written in Han characters (Mandarin and Cantonese)
HAN_LANGUAGES = frozenset({"zh", "yue"})
_OPENCC_CONFIG = {"simplified": "t2s", "traditional": "s2t"}


def check_script(script: str) -> str:
    """`script` normalised, or ValueError naming the choices."""
    script = (script or "as-is").strip().lower()
    if script not in SCRIPTS:
        raise ValueError(f"WHISPER_CHINESE_SCRIPT={script!r}: use one of {', '.join(SCRIPTS)}")
    return script


def in_script(text: str, language: str | None, script: str) -> str:
    """`text` in `script` when its language is written in Han characters; anything else unchanged."""
    if script == "as-is" or language not in HAN_LANGUAGES or not text:
        return text
    return _converter(_OPENCC_CONFIG[script]).convert(text)


@cache
def _converter(config: str):
    import opencc

    return opencc.OpenCC(config)
