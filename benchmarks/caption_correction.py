"""Caption-informed correction after decoding: misheard names in the transcript take the captions' spelling.

The alternative to caption hints that issue 14 asked to measure (`benchmarks/real_media.py --hints`).
It lost (docs/BENCHMARKS.md, "Hints: hotwords vs none vs correction"): it fixed "centra" -> "Sintra"
but also "not so" -> "North", and did nothing on the synthetic set, where hotwords cut WER the most.
Kept here so the measurement can be repeated; the pipeline does not use it.

Showing Whisper the captions before decoding (`hotwords`) can make it write the hints instead of the
speech, and drop a sentence. Correcting afterwards cannot drop anything: the transcript is decoded
without hints, and only a run of 1-3 transcript words that sounds and looks like a caption term
("Coyodo" for KYOTO, "centra" for SINTRA, "Chapel Tepek" for CHAPULTEPEC) is replaced by it.

A caption term is a word of a caption line (or two or three adjacent words) that is not an everyday
word: at least `min_letters` letters and not in the transcript already. A run matches a term when
their folded letters are at least 0.5 alike and their letters or sound classes ("coyodo" and
"kyoto" both sound "kada") at least `min_similarity`, they start with the same sound class and
differ in length by at most a third; a term with a word the transcript already has is not used.
Everything else stays as decoded.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from rapidfuzz import fuzz

from wandr_pipeline.media.captions import fold, tidy_line

_WORD = re.compile(r"[^\W_]+(?:['’-][^\W_]+)*", re.UNICODE)
_SOUNDS = ("aeiouyh", "ckqgszx", "fv", "bp", "dt", "mn", "l", "r", "j", "w")


def _sound(char: str) -> str:
    return next((group[0] for group in _SOUNDS if char in group), char)


def _sounds(key: str) -> str:
    """Letters by sound class, repeats merged: 'coyodo' and 'kyoto' -> 'kada'."""
    out = []
    for char in key:
        sound = _sound(char)
        if not out or out[-1] != sound:
            out.append(sound)
    return "".join(out)


def caption_terms(lines: Iterable[str], *, min_letters: int = 5) -> list[str]:
    """Candidate names from caption lines: single words and runs of 2-3 words, longest first."""
    terms: dict[str, str] = {}
    for line in lines:
        words = _WORD.findall(tidy_line(line))
        for size in (3, 2, 1):
            for i in range(len(words) - size + 1):
                run = words[i : i + size]
                if any(any(c.isdigit() for c in w) for w in run):
                    continue
                key = fold("".join(run))
                if len(key) >= min_letters and key.isascii():
                    terms.setdefault(key, " ".join(run))
    return sorted(terms.values(), key=lambda t: -len(t))


def _display(term: str) -> str:
    """A caption term as prose: 'KYOTO' -> 'Kyoto' (captions shout; sentences do not)."""
    return term.title() if term.isupper() else term


def correct_transcript(
    text: str, caption_lines: Iterable[str], *, min_similarity: float = 0.75, min_letters: int = 5
) -> tuple[str, list[tuple[str, str]]]:
    """`text` with misheard caption terms respelled, and the (heard, written) replacements made."""
    terms = caption_terms(caption_lines, min_letters=min_letters)
    if not terms or not text:
        return text, []
    spoken = {fold(w) for w in _WORD.findall(text)}
    # a term with a word that was heard right is not misheard (and "TACOS AL PASTOR" must not eat "tacos")
    terms = [t for t in terms if not any(fold(w) in spoken for w in _WORD.findall(t))]
    tokens = re.split(r"(\s+)", text)
    words = [i for i, t in enumerate(tokens) if t and not t.isspace()]
    replacements: list[tuple[str, str]] = []
    used: set[int] = set()
    for size in (3, 2, 1):
        for start in range(len(words) - size + 1):
            span = words[start : start + size]
            if used & set(span):
                continue
            heard = " ".join(tokens[i] for i in span)
            core = re.sub(r"^[^\w]+|[^\w]+$", "", heard)
            key = fold(core)
            if len(key) < min_letters:
                continue
            best, score = None, 0.0
            for term in terms:
                target = fold(term)
                if abs(len(target) - len(key)) > len(target) / 3 or _sound(key[0]) != _sound(target[0]):
                    continue
                spelled = fuzz.ratio(key, target)
                if spelled < 50:
                    continue
                ratio = max(spelled, fuzz.ratio(_sounds(key), _sounds(target)) - 5) / 100
                if ratio > score:
                    best, score = term, ratio
            if best is None or score < min_similarity or fold(best) == key:
                continue
            lead = heard[: len(heard) - len(heard.lstrip(".,!?;:\"'()"))]
            trail = heard[len(heard.rstrip(".,!?;:\"'()")) :]
            tokens[span[0]] = lead + _display(best) + trail
            for i in span[1:]:
                tokens[i] = ""
                tokens[i - 1] = "" if tokens[i - 1].isspace() else tokens[i - 1]
            used |= set(span)
            replacements.append((core, _display(best)))
    return re.sub(r"\s{2,}", " ", "".join(tokens)).strip(), replacements
